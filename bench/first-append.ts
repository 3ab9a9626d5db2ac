// npm run bench:first-append — what the first rollup commit after a CHECKPOINT costs, on a
// tenant file with the real schema (every migration), at DuckDB's default block size (256 KiB,
// what tenant files use) and at 16 KiB, in the same run.
//
// After a checkpoint every column's data is on disk and read-only, so the next commit that
// appends to a table starts a new block in memory for each of its columns. The worker's pass
// appends to all thirty rollup tables: hundreds of columns, one block each. Each round: a
// few rows into every rollup table and CHECKPOINT, then the timed commit of a few rows more
// into every rollup table, while a 25-row insert into `events` (the size of an apply at
// 1,000 hooks/s) starts on another connection just after it. Prints the commit's time, what
// it leaves held in DuckDB's memory, how long the insert waited, and a second commit before
// any checkpoint for comparison. Asserts nothing.
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { openDatabase } from '../src/storage/duckdb.js';
import { loadMigrations, migrate } from '../src/storage/migrate.js';
import { tempDir } from '../test/helpers.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const SIZES = [262_144, 16_384];

/** A value of each column type the rollup tables use. */
const VALUE: Record<string, string> = {
  TIMESTAMP: `now()::TIMESTAMP - INTERVAL (r) MINUTE`,
  VARCHAR: `'k' || (r % 7)`,
  DOUBLE: 'r * 1.5',
  SMALLINT: '(r % 20)::SMALLINT',
  BIGINT: 'r',
  INTEGER: 'r::INTEGER',
  UBIGINT: 'r::UBIGINT',
};

async function tenantFile(dir: string, blockSize: number): Promise<string> {
  const path = join(dir, `t-${blockSize}.duckdb`);
  const made = await DuckDBInstance.create(path, { default_block_size: String(blockSize) });
  made.closeSync();
  const db = await openDatabase(path); // the file keeps the block size it was made with
  await migrate(db, loadMigrations('tenant'));
  await db.close();
  return path;
}

const ms = (t: number) => performance.now() - t;
const mib = (bytes: number) => (bytes / 1048576).toFixed(1);

async function held(conn: DuckDBConnection): Promise<number> {
  const rows = (await conn.runAndReadAll('SELECT sum(memory_usage_bytes)::DOUBLE FROM duckdb_memory()')).getRows();
  return Number(rows[0]![0]);
}

async function measure(path: string) {
  const instance = await DuckDBInstance.create(':memory:', { threads: '2', memory_limit: '2GB' });
  const admin = await instance.connect();
  await admin.run(`ATTACH '${path}' AS f`);
  await admin.run('USE f');
  const apply = await instance.connect();
  await apply.run('USE f');
  const tables = (
    await admin.runAndReadAll(
      `SELECT table_name, list(column_name ORDER BY column_index), list(data_type ORDER BY column_index)
         FROM duckdb_columns() WHERE database_name = 'f'
          AND table_name IN (SELECT table_name FROM duckdb_columns() WHERE database_name = 'f' AND column_name = 'bucket')
        GROUP BY table_name`,
    )
  ).getRowsJS() as [string, string[], string[]][];
  const columns = tables.reduce((n, [, names]) => n + names.length, 0);
  const inserts = tables.map(
    ([table, names, types]) =>
      `INSERT INTO ${table} (${names.join(', ')}) SELECT ${types.map((t) => VALUE[t] ?? 'NULL').join(', ')} FROM range(20) t(r)`,
  );
  const eventRows = `INSERT INTO events (id, seq, ts, received_at, kind, user_id, session_id, source) SELECT r::UBIGINT, r::UBIGINT, now()::TIMESTAMP, now()::TIMESTAMP, 'tool_call', 'u', 's', 'hook' FROM range($from, $from + 25) t(r)`;
  const passInto = async () => {
    await admin.run('BEGIN TRANSACTION');
    for (const sql of inserts) await admin.run(sql);
    const t = performance.now();
    let waited = 0;
    const applied = (async () => {
      await new Promise((resolve) => setImmediate(resolve)); // once the commit has started
      const a = performance.now();
      await apply.run(eventRows, { from: seq });
      waited = ms(a);
      seq += 25;
    })();
    await admin.run('COMMIT');
    const commit = ms(t);
    await applied;
    return { commit, waited };
  };
  let seq = 1;
  const rows: { first: number; held: number; waited: number; second: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const sql of inserts) await admin.run(sql);
    await admin.run('CHECKPOINT');
    const before = await held(admin);
    const first = await passInto();
    const after = await held(admin);
    const second = await passInto();
    rows.push({ first: first.commit, held: after - before, waited: first.waited, second: second.commit });
  }
  apply.closeSync();
  admin.closeSync();
  instance.closeSync();
  return { tables: tables.length, columns, rows };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const dir = tempDir('am-first-append');
try {
  console.log(
    `first append after a checkpoint (${ROUNDS} rounds, Node ${process.version}, ${new Date().toISOString()})\n`,
  );
  const results = [];
  for (const size of SIZES) results.push({ size, ...(await measure(await tenantFile(dir.path, size))) });
  console.log(
    'block size   tables  columns  first commit p50 (max) ms  held by it MiB  an apply behind it ms  next commit ms',
  );
  for (const r of results) {
    const p = (k: 'first' | 'waited' | 'second') => median(r.rows.map((x) => x[k]));
    const max = Math.max(...r.rows.map((x) => x.first));
    console.log(
      `${String(r.size / 1024).padStart(6)} KiB  ${String(r.tables).padStart(6)}  ${String(r.columns).padStart(7)}  ${p('first').toFixed(1).padStart(13)} (${max.toFixed(0)})  ${mib(median(r.rows.map((x) => x.held))).padStart(26)}  ${p('waited').toFixed(1).padStart(21)}  ${p('second').toFixed(1).padStart(14)}`,
    );
  }
  const [big, small] = results;
  console.log(
    `\nfirst commit, ${big!.size / 1024} KiB / ${small!.size / 1024} KiB: ${(median(big!.rows.map((x) => x.first)) / median(small!.rows.map((x) => x.first))).toFixed(1)}×`,
  );
} finally {
  dir.remove();
}
