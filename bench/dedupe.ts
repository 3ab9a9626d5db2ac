// npm run bench:dedupe — what keeping events idempotent costs as the table grows, in-process:
// 5,000-row batches inserted the writer's way (one JSON document, one INSERT) at 0, 1M, 3M
// and 10M stored rows, for each way of catching an id stored before. Each way runs in a
// child process of its own, so its RSS is its own, and alternates its batches with plain
// INSERTs into a table of the same size without any key or check (the ceiling), so the
// ratio holds when a neighbour loads the machine. Prints rows/s, RSS, the ratio; asserts nothing.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import {
  encodeRows,
  INSERT_SQL,
  recordsDocument,
  storedIdsSql,
  type EventRow,
  type TsWindow,
} from '../src/ingest/event-rows.js';
import { loadMigrations } from '../src/storage/migrate.js';
import { tempDir } from '../test/helpers.js';
import { fillEvents } from './fill.js';

const LEVELS = (process.env.BENCH_LEVELS ?? '0,1000000,3000000,10000000').split(',').map(Number);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 10); // of each kind, at each level
const BATCH = 5000;
const DAY = 86_400_000;
/** 10M events over 90 days: a busy tenant's quarter (about 111,000 a day). */
const STEP_MS = (90 * DAY) / 10_000_000;
const T0 = Date.UTC(2026, 0, 1);
const tsOf = (i: number) => T0 + Math.floor(i * STEP_MS);

/** How a way stores a batch: the new rows inserted. */
type Store = (conn: DuckDBConnection, rows: EventRow[]) => Promise<number>;
type Variant = {
  name: string;
  what: string;
  /** The events table before 0020 (with the primary key) or after. */
  keyed: boolean;
  store: Store;
  /** How it stores a batch of rows stored before (a re-import), if it can. */
  restore?: Store;
};

const span = (rows: EventRow[], margin: number): TsWindow => ({
  from: Math.min(...rows.map((r) => r.ts)) - margin,
  to: Math.max(...rows.map((r) => r.ts)) + margin,
});

async function insert(conn: DuckDBConnection, sql: string, rows: EventRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const statement = await conn.prepare(sql);
  statement.bindVarchar(1, recordsDocument([{ seq: 1n, body: encodeRows(rows) }])); // seq is not what is measured
  const inserted = Number((await statement.run()).rowsChanged);
  statement.destroySync();
  return inserted;
}

/** The writer's way: which ids the window holds already, then a plain INSERT of the others. */
const lookThenInsert =
  (margin: number): Store =>
  async (conn, rows) => {
    const lookup = await conn.prepare(storedIdsSql(span(rows, margin)));
    lookup.bindVarchar(1, rows.map((r) => r.id).join(','));
    const stored = new Set((await lookup.runAndReadAll()).getRows().map(([id]) => id as bigint));
    lookup.destroySync();
    return insert(
      conn,
      INSERT_SQL,
      rows.filter((r) => !stored.has(r.id)),
    );
  };

/** The anti-join inside the one INSERT. */
const antiJoinInsert =
  (margin: number): Store =>
  (conn, rows) => {
    const { from, to } = span(rows, margin);
    const sql = INSERT_SQL.replace(
      /^(INSERT INTO events \([^)]*\)) (.*)$/,
      `$1 SELECT * FROM ($2) b WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = b.id AND e.ts BETWEEN epoch_ms(${from}::BIGINT) AND epoch_ms(${to}::BIGINT))`,
    );
    return insert(conn, sql, rows);
  };

const VARIANTS: Variant[] = [
  {
    name: 'key',
    what: 'events.id PRIMARY KEY (before 0020); a re-import: INSERT OR IGNORE',
    keyed: true,
    store: (conn, rows) => insert(conn, INSERT_SQL, rows),
    restore: (conn, rows) => insert(conn, INSERT_SQL.replace('INSERT INTO', 'INSERT OR IGNORE INTO'), rows),
  },
  {
    name: 'look',
    what: 'no key; ids looked up in ts [min, max], then a plain INSERT',
    keyed: false,
    store: lookThenInsert(0),
    restore: lookThenInsert(0),
  },
  {
    name: 'look+1d',
    what: 'no key; ids looked up in ts [min - 1 d, max + 1 d], then a plain INSERT (chosen)',
    keyed: false,
    store: lookThenInsert(DAY),
    restore: lookThenInsert(DAY),
  },
  {
    name: 'look+7d',
    what: 'no key; ids looked up in ts [min - 7 d, max + 7 d], then a plain INSERT',
    keyed: false,
    store: lookThenInsert(7 * DAY),
  },
  {
    name: 'look-all',
    what: 'no key; ids looked up among all events, then a plain INSERT',
    keyed: false,
    store: lookThenInsert(1e15),
  },
  {
    name: 'anti+1d',
    what: 'no key; the anti-join on ts [min - 1 d, max + 1 d] inside the one INSERT',
    keyed: false,
    store: antiJoinInsert(DAY),
    restore: antiJoinInsert(DAY),
  },
];

function row(i: number, id: bigint): EventRow {
  const ts = tsOf(i);
  return {
    id,
    ts,
    receivedAt: ts,
    kind: 'command',
    source: 'rest',
    userId: 'u_bench',
    sessionId: `bench-s${i % 500}`,
    project: null,
    promptId: null,
    toolUseId: null,
    requestId: null,
    agentId: null,
    agentType: null,
    name: ['plan-product', 'create-trd', 'implement', 'review'][i % 4]!,
    model: null,
    status: i % 17 ? 'success' : 'failure',
    durationMs: 100 + (i % 900),
    inputTokens: null,
    outputTokens: null,
    cacheReadTokens: null,
    cacheCreationTokens: null,
    costUsd: null,
    linesAdded: null,
    linesRemoved: null,
    value: null,
    error: null,
    attributes: `{"k":${i}}`,
    importRun: null,
  };
}

/** Every row's id is DuckDB's hash of its number, stored or new: a re-import can name them. */
async function hashes(conn: DuckDBConnection, numbers: string): Promise<bigint[]> {
  const reader = await conn.runAndReadAll(`SELECT hash(i) FROM ${numbers} t(i)`);
  return reader.getRows().map(([id]) => id as bigint);
}

const rssMb = () => process.memoryUsage().rss / 1024 / 1024;

/** Stores the even batches with `store` and the odd ones with `ceiling`, alternately. */
async function timeBatches(conn: DuckDBConnection, batches: EventRow[][], store: Store, ceiling?: Store) {
  const took = [0, 0];
  let inserted = 0;
  for (const [k, rows] of batches.entries()) {
    const started = performance.now();
    if (k % 2 === 0 || !ceiling) inserted += await store(conn, rows);
    else await ceiling(conn, rows);
    took[ceiling ? k % 2 : 0]! += performance.now() - started;
  }
  return { seconds: took[0]! / 1000, ceilingSeconds: took[1]! / 1000, inserted };
}

/** The child: one way, its own file, filled level by level. Prints one JSON line per figure. */
async function child(variant: Variant) {
  const dir = tempDir('am-dedupe');
  const instance = await DuckDBInstance.create(join(dir.path, 'tenant.duckdb'), { threads: '2' });
  const conn = await instance.connect();
  const migrations = loadMigrations('tenant').filter((m) => !variant.keyed || m.version <= 19);
  for (const m of migrations) await conn.run(m.sql);
  // The ceiling's table: the same rows, no key; for a way without a key, the events table itself.
  const plain = variant.keyed ? 'events_plain' : 'events';
  if (variant.keyed) await conn.run('CREATE TABLE events_plain AS SELECT * FROM events LIMIT 0');
  const ceiling: Store = (c, rows) =>
    insert(c, INSERT_SQL.replace('INSERT INTO events ', `INSERT INTO ${plain} `), rows);
  let stored = 0;
  for (const level of LEVELS) {
    const spacing = { t0: T0, stepMs: STEP_MS };
    await fillEvents(conn, stored, level, spacing);
    if (variant.keyed) await fillEvents(conn, stored, level, spacing, plain);
    stored = Math.max(stored, level);
    await conn.run('CHECKPOINT');
    // New events arriving in ts order after the stored ones; ids random as SHA-256's are.
    const fresh = await hashes(conn, `range(${stored}, ${stored + 2 * BATCHES * BATCH})`);
    const batches = Array.from({ length: 2 * BATCHES }, (_, b) =>
      Array.from({ length: BATCH }, (_, j) => row(stored + b * BATCH + j, fresh[b * BATCH + j]!)),
    );
    const live = await timeBatches(conn, batches, variant.store, ceiling);
    if (variant.keyed) {
      // Each table gets the batches the other took, untimed: both hold every row for the re-import.
      for (const [k, rows] of batches.entries()) await (k % 2 ? variant.store : ceiling)(conn, rows);
    }
    stored += 2 * BATCHES * BATCH;
    const out = { variant: variant.name, level, kind: 'live', rows: BATCHES * BATCH, ...live, rssMb: rssMb() };
    console.log(JSON.stringify(out));
    if (variant.restore && level > 0) {
      // The worst case: a re-import of rows stored before, spread over the whole table (90 days at 10M).
      const again = Array.from({ length: 4 }, (_, b) =>
        Array.from({ length: BATCH }, (_, j) => Math.floor(((j * 4 + b) / (4 * BATCH)) * level)),
      );
      const ids = await hashes(conn, `unnest([${again.flat()}]::BIGINT[])`);
      const rows = again.map((b, k) => b.map((i, j) => row(i, ids[k * BATCH + j]!)));
      const re = await timeBatches(conn, rows, variant.restore);
      const days = (rows[0]!.at(-1)!.ts - rows[0]![0]!.ts) / DAY;
      console.log(
        JSON.stringify({
          variant: variant.name,
          level,
          kind: `re-import, ${days.toFixed(0)} d/batch`,
          rows: 4 * BATCH,
          ...re,
          rssMb: rssMb(),
        }),
      );
    }
  }
  conn.closeSync();
  instance.closeSync();
  dir.remove();
}

type Figure = {
  variant: string;
  level: number;
  kind: string;
  rows: number;
  seconds: number;
  /** The same number of rows into the ceiling's table, alternating with these. */
  ceilingSeconds: number;
  inserted: number;
  rssMb: number;
};

function runChild(name: string): Promise<Figure[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), name], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { MALLOC_ARENA_MAX: '2', ...process.env },
    });
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
    });
    proc.on('error', reject);
    proc.on('exit', (code) => {
      const figures = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Figure);
      if (code !== 0) console.error(`${name}: exited with ${code}`);
      resolve(figures);
    });
  });
}

async function main() {
  const only = process.env.BENCH_VARIANTS?.split(',');
  const figures: Figure[] = [];
  for (const v of VARIANTS.filter((v) => !only || only.includes(v.name))) {
    const got = await runChild(v.name);
    figures.push(...got);
    for (const f of got)
      console.error(`  ${f.variant} ${f.level} ${f.kind}: ${(f.rows / f.seconds).toFixed(0)} rows/s`);
  }
  const rate = (f: Figure) => f.rows / f.seconds;
  const top = (f: Figure) => f.rows / f.ceilingSeconds;
  console.log(`\nde-duplication benchmark (in-process, ${BATCH}-row batches, ${new Date().toISOString()})`);
  console.log(
    'way'.padEnd(10),
    'stored'.padStart(11),
    'batch'.padEnd(22),
    'rows/s'.padStart(9),
    'ceiling'.padStart(9),
    'ratio'.padStart(6),
    'new rows'.padStart(9),
    'RSS MB'.padStart(7),
  );
  for (const f of figures) {
    const live = f.kind === 'live';
    console.log(
      f.variant.padEnd(10),
      f.level.toLocaleString('en').padStart(11),
      f.kind.padEnd(22),
      rate(f).toFixed(0).padStart(9),
      (live ? top(f).toFixed(0) : '-').padStart(9),
      (live ? `${((rate(f) / top(f)) * 100).toFixed(0)}%` : '-').padStart(6),
      String(f.inserted).padStart(9),
      f.rssMb.toFixed(0).padStart(7),
    );
  }
  console.log('\nways:');
  for (const v of VARIANTS) console.log(`  ${v.name.padEnd(12)} ${v.what}`);
}

const name = process.argv[2];
if (name) await child(VARIANTS.find((v) => v.name === name)!);
else await main();
