// npm run bench:first-append — the first commit into the rollup tables after a CHECKPOINT, on a
// tenant file with the real schema, at DuckDB's default 256 KiB blocks and at 16 KiB: its time,
// the memory it leaves held, and an apply-sized insert into `events` started just after it
// (against the same insert behind a later commit). Prints medians; asserts nothing. Why it
// matters: README, *The first rollup commit after a checkpoint*.
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { catalogueTables } from '../src/aggregate/catalogue.js';
import { openDatabase } from '../src/storage/duckdb.js';
import { NODE_SHARE } from '../src/storage/memory.js';
import { loadMigrations, migrate } from '../src/storage/migrate.js';
import { tempDir } from '../test/helpers.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const SIZES = [262_144, 16_384];
/** DuckDB's part of the default 1GB budget, as the server sets it. */
const POOL = `${Math.floor(1024 * (1 - NODE_SHARE))}MiB`;

/** A value of each column type the rollup tables use, from the row number `r`. */
const VALUE: Record<string, string> = {
  TIMESTAMP: 'now()::TIMESTAMP - INTERVAL (r) MINUTE',
  VARCHAR: `'k' || (r % 7)`,
  DOUBLE: 'r * 1.5',
  SMALLINT: '(r % 20)::SMALLINT',
  BIGINT: 'r',
  INTEGER: 'r::INTEGER',
  UBIGINT: 'r::UBIGINT',
};
const TABLES = catalogueTables();
const INSERTS = TABLES.map(
  (t) =>
    `INSERT INTO ${t.name} (${t.columns.map((c) => c.name).join(', ')}) SELECT ${t.columns.map((c) => VALUE[c.type] ?? 'NULL').join(', ')} FROM range(20) t(r)`,
);
/** 25 rows, an apply's size at 1,000 hooks/s. */
const EVENTS = `INSERT INTO events (id, seq, ts, received_at, kind, user_id, session_id, source)
  SELECT r::UBIGINT, r::UBIGINT, now()::TIMESTAMP, now()::TIMESTAMP, 'tool_call', 'u', 's', 'hook' FROM range($from, $from + 25) t(r)`;

async function tenantFile(dir: string, blockSize: number): Promise<string> {
  const path = join(dir, `t-${blockSize}.duckdb`);
  (await DuckDBInstance.create(path, { default_block_size: String(blockSize) })).closeSync();
  const db = await openDatabase(path); // the file keeps the block size it was made with
  await migrate(db, loadMigrations('tenant'));
  await db.close();
  return path;
}

const since = (t: number) => performance.now() - t;
const one = async (conn: DuckDBConnection, sql: string) => Number((await conn.runAndReadAll(sql)).getRows()[0]![0]);
const held = (conn: DuckDBConnection) => one(conn, 'SELECT sum(memory_usage_bytes)::DOUBLE FROM duckdb_memory()');

type Round = { first: number; held: number; behindFirst: number; next: number; behindNext: number };

async function measure(path: string) {
  const instance = await DuckDBInstance.create(':memory:', { threads: '2', memory_limit: POOL });
  const rollups = await instance.connect();
  const apply = await instance.connect();
  await rollups.run(`ATTACH '${path}' AS f`);
  for (const conn of [rollups, apply]) await conn.run('USE f');
  const blockSize = await one(rollups, `SELECT block_size FROM pragma_database_size() WHERE database_name = 'f'`);
  let seq = 1;
  const insertEvents = async () => {
    const t = performance.now();
    await apply.run(EVENTS, { from: seq });
    seq += 25;
    return since(t);
  };
  /** Rows into every rollup table, committed; the events insert starts once the COMMIT is under way. */
  const rollupCommit = async () => {
    await rollups.run('BEGIN TRANSACTION');
    for (const sql of INSERTS) await rollups.run(sql);
    const t = performance.now();
    const committing = rollups.run('COMMIT');
    await new Promise((resolve) => setImmediate(resolve)); // the COMMIT is on a libuv thread by now
    const behind = insertEvents();
    await committing;
    return { commit: since(t), behind: await behind };
  };
  const rounds: Round[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const sql of INSERTS) await rollups.run(sql);
    await rollups.run('CHECKPOINT');
    await insertEvents(); // `events` gets its own new blocks here, so the ones below measure the rollups'
    const before = await held(rollups);
    const first = await rollupCommit();
    const after = await held(rollups);
    const next = await rollupCommit();
    rounds.push({
      first: first.commit,
      held: after - before,
      behindFirst: first.behind,
      next: next.commit,
      behindNext: next.behind,
    });
  }
  apply.closeSync();
  rollups.closeSync();
  instance.closeSync();
  return { blockSize, rounds };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2;
};
const cell = (value: string, width: number) => value.padStart(width);

const dir = tempDir('am-first-append');
try {
  const columns = TABLES.reduce((n, t) => n + t.columns.length, 0);
  console.log(
    `first commit into the ${TABLES.length} rollup tables (${columns} columns) after a CHECKPOINT; medians of ${ROUNDS} rounds, DuckDB pool ${POOL}, Node ${process.version}, ${new Date().toISOString()}\n`,
  );
  const header = [
    'block size',
    'first commit ms',
    'held by it MiB',
    'events insert behind it ms',
    'next commit ms',
    'insert behind it ms',
  ];
  console.log(header.join('  '));
  const firsts: number[] = [];
  for (const size of SIZES) {
    const { blockSize, rounds } = await measure(await tenantFile(dir.path, size));
    const m = (k: keyof Round) => median(rounds.map((r) => r[k]));
    firsts.push(m('first'));
    const values = [
      `${blockSize / 1024} KiB`,
      `${m('first').toFixed(1)} (max ${Math.max(...rounds.map((r) => r.first)).toFixed(0)})`,
      (m('held') / 1048576).toFixed(1),
      m('behindFirst').toFixed(1),
      m('next').toFixed(1),
      m('behindNext').toFixed(1),
    ];
    console.log(values.map((v, i) => cell(v, header[i]!.length)).join('  '));
  }
  console.log(
    `\nfirst commit, ${SIZES[0]! / 1024} KiB / ${SIZES[1]! / 1024} KiB: ${(firsts[0]! / firsts[1]!).toFixed(1)}×`,
  );
} finally {
  dir.remove();
}
