// A tenant's turn in the worker (turn.ts): a compaction round takes over where the rollups
// wrote (`dirtySince`), stops when the turn ends and goes on from its cursor with the same
// start while newer rollups wait for the next round; one that fails goes on from its
// cursor once the cause is gone, and after a restart the file says where it stood. The file
// is real; the turn's clock is the test's, a millisecond further at each look, so where a
// turn ends does not depend on the machine.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROLLUP_TABLES } from '../src/aggregate/rollup.js';
import { tenantSettings } from '../src/aggregate/settings.js';
import { compactionState, type FoldCursor } from '../src/aggregate/steps.js';
import { compactionRound, newTenantState, restoreCompaction, rollUp, type TurnContext } from '../src/aggregate/turn.js';
import { newId } from '../src/ids.js';
import { createIngestor } from '../src/ingest/ingest.js';
import type { IngestEvent } from '../src/ingest/schema.js';
import { createLogger } from '../src/log.js';
import { sessionSteps } from '../src/sessions/worker-steps.js';
import type { Connection } from '../src/storage/duckdb.js';
import { createTenantFiles } from '../src/storage/tenant-files.js';
import type { Timer } from '../src/time/timer.js';
import { tempDir, tenantWorker } from './helpers.js';

const BASE = Date.UTC(2026, 10, 2, 9);
const DAY = 86_400_000;

/** `n` tool calls `step` ms apart from `from`, ids prefixed: the same keys each time the prefix changes. */
const calls = (prefix: string, from: number, n: number, step: number): IngestEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    kind: 'tool_call',
    ts: from + i * step,
    session_id: `s${i % 2}`,
    name: ['Bash', 'Read', 'Edit'][i % 3]!,
    status: i % 5 === 4 ? 'failure' : 'success',
    duration_ms: 40 + i,
  }));

async function setUp() {
  const dir = tempDir('am-worker-turn');
  const tenantId = newId('t');
  let ticks = 0;
  const timer: Timer = { now: () => ++ticks, set: () => () => undefined };
  const errors: string[] = [];
  const turn: TurnContext = {
    log: createLogger('error', (line) => errors.push(line)),
    timer,
    now: () => BASE + 30 * 86_400_000,
    chunk: 10_000,
    foldRows: 40, // many transactions
    sessions: sessionSteps,
  };
  /** The tenant's file opened, and the worker's state for it as after a start (read from the file). */
  const open = async (create = false) => {
    const files = createTenantFiles(dir.path);
    if (create) await files.create(tenantId);
    const db = await files.connection(tenantId, 'worker');
    const file = await files.open(tenantId);
    const state = newTenantState(turn, turn.now());
    await restoreCompaction(state, file, db);
    return { files, ingestor: createIngestor(files), db, file, state };
  };
  const close = async (o: Awaited<ReturnType<typeof open>>) => {
    await o.ingestor.close?.();
    await o.files.closeAll();
  };
  const t = {
    ...(await open(true)),
    errors,
    /** Events ingested and rolled up to the end (the rollup's turn never ends). */
    async add(events: IngestEvent[]) {
      await t.ingestor.ingest({ tenantId, userId: 'u_1' }, 'rest', events);
      await rollUp(
        turn,
        tenantId,
        t.state,
        t.db,
        () => tenantSettings(t.file, t.db),
        Infinity,
        async () => undefined,
      );
    },
    /** A round given a turn of `looks` looks at the clock. */
    round: (looks: number) => compactionRound(turn, t.state, t.db, false, ticks + looks),
    /** The process stops and starts again: the file closed and opened, the worker's state new. */
    async restart() {
      await close(t);
      Object.assign(t, await open());
    },
    async close() {
      await close(t);
      dir.remove();
    },
  };
  return t;
}

/** Per rollup table: its rows, its keys, and the sum of `n` (what folding must keep). */
async function tables(db: Connection, of = ROLLUP_TABLES) {
  const out: Record<string, { rows: number; keys: number; n: number }> = {};
  for (const t of of)
    out[t.name] = (await db.get<{ rows: number; keys: number; n: number }>(
      `SELECT count(*) AS rows, count(DISTINCT (${t.keys.join(', ')})) AS keys, coalesce(sum(n), 0) AS n
         FROM ${t.name}`,
    ))!;
  return out;
}

const folded = (counted: Awaited<ReturnType<typeof tables>>) =>
  Object.entries(counted).filter(([, c]) => c.rows === c.keys);

const forward = (a: FoldCursor | null, b: FoldCursor | null) =>
  a === null || (b !== null && (b.table > a.table || (b.table === a.table && b.from > a.from)));

type Tenant = Awaited<ReturnType<typeof setUp>>;

/** Turns of `looks` looks at the clock until the round under way ends, each going on forward from the last; how many. */
async function finishRound(t: Tenant, looks = 2): Promise<number> {
  let cursor = t.state.folding?.cursor ?? null;
  let turns = 0;
  while (t.state.folding) {
    if (++turns > 10_000) assert.unreachable('the round never ended');
    const { since } = t.state.folding;
    t.state.backlog = false;
    await t.round(looks);
    if (!t.state.folding) break;
    assert.is(t.state.folding.since, since, 'the same round goes on');
    assert.ok(forward(cursor, t.state.folding.cursor), 'it goes on forward from its cursor');
    assert.ok(t.state.backlog, 'work is left for the next turn');
    cursor = t.state.folding.cursor;
  }
  return turns;
}

/** Every rollup table holds one row per key, and the counts it held before. */
async function assertFolded(db: Connection, before: Awaited<ReturnType<typeof tables>>) {
  for (const [table, c] of Object.entries(await tables(db))) {
    assert.is(c.rows, c.keys, `${table}: one row per key`);
    assert.is(c.n, before[table]!.n, `${table}: nothing counted twice or lost`);
  }
}

test('a compaction round takes over dirtySince, stops when its turn ends and goes on from its cursor', async () => {
  const t = await setUp();
  try {
    // The same three days of calls under two sets of ids: every key written twice.
    await t.add(calls('a', BASE, 200, 23 * 60_000));
    await t.add(calls('b', BASE, 200, 23 * 60_000));
    assert.is(t.state.dirtySince, BASE, 'the rollups wrote from the first call on');
    const before = await tables(t.db);
    assert.is(folded(before).length, 0, 'every table holds repeated keys');

    await t.round(3);
    const started = t.state.folding;
    assert.ok(started !== null && started.cursor !== null, 'the round stopped after a transaction, with a cursor');
    assert.is(started.since, BASE, 'it folds from where the rollups wrote');
    assert.is(t.state.dirtySince, null, 'dirtySince was handed over to the round');
    assert.ok(t.state.backlog, 'work is left for the next turn');

    // Newer events rolled up meanwhile wait for the next round.
    const later = BASE + 5 * 86_400_000;
    await t.add(calls('c', later, 30, 60_000));
    assert.is(t.state.dirtySince, later);
    const withLater = await tables(t.db);
    const turns = await finishRound(t);
    assert.ok(turns > 5, `the round took many turns (${turns})`);
    assert.is(t.state.dirtySince, later, 'what was rolled up meanwhile waits for the next round');
    const between = await tables(t.db);
    for (const [name, c] of Object.entries(between)) {
      assert.is(c.rows, c.keys, `${name}: one row per key (the newer rows' keys were new)`);
      assert.ok(c.rows < withLater[name]!.rows, `${name}: folded`);
      assert.is(c.n, withLater[name]!.n, `${name}: nothing counted twice or lost`);
    }

    await t.round(1_000_000);
    assert.equal([t.state.folding, t.state.dirtySince], [null, null], 'the next round took what waited');
    assert.equal(t.errors, []);
  } finally {
    await t.close();
  }
});

test('a round that fails throws, keeps its cursor, and goes on from it once the cause is gone', async () => {
  const t = await setUp();
  try {
    await t.add(calls('a', BASE, 200, 23 * 60_000));
    await t.add(calls('b', BASE, 200, 23 * 60_000));
    const before = await tables(t.db);
    // A table the round reaches late is gone for a while: folding it fails in DuckDB.
    const missing = ROLLUP_TABLES.length - 3;
    const name = ROLLUP_TABLES[missing]!.name;
    await t.db.run(`ALTER TABLE ${name} RENAME TO ${name}_away`);
    let failed: unknown = null;
    await t.round(1_000_000).catch((err: unknown) => void (failed = err));
    assert.match(String(failed), name, 'the failure names the table');
    const kept = t.state.folding;
    assert.ok(kept !== null && kept.cursor !== null, 'the round is kept, with its cursor');
    assert.ok(kept.cursor.table > 0 && kept.cursor.table <= missing, 'the cursor stands before the table that failed');
    assert.equal(await compactionState(t.db), { dirtySince: null, folding: kept }, 'the file says the same');
    const partly = await tables(t.db, ROLLUP_TABLES.slice(0, kept.cursor.table));
    for (const [table, c] of Object.entries(partly)) assert.is(c.rows, c.keys, `${table}: folded before the failure`);

    await t.db.run(`ALTER TABLE ${name}_away RENAME TO ${name}`);
    await finishRound(t);
    await assertFolded(t.db, before);
    assert.equal(t.errors, []);
  } finally {
    await t.close();
  }
});

test('after a restart the worker goes on from what the file keeps: what was rolled up, a round, its cursor', async () => {
  const t = await setUp();
  try {
    await t.add(calls('a', BASE, 200, 23 * 60_000));
    await t.add(calls('b', BASE, 200, 23 * 60_000));
    assert.is(t.state.dirtySince, BASE);
    await t.add(calls('early', BASE - DAY, 5, 60_000));
    assert.is(t.state.dirtySince, BASE - DAY, 'earlier events move it back');
    await t.add(calls('late', BASE + 2 * DAY, 5, 60_000));
    assert.is(t.state.dirtySince, BASE - DAY, 'later ones leave it');
    const before = await tables(t.db);
    await t.restart();
    assert.is(t.state.dirtySince, BASE - DAY, 'what was rolled up before the restart is still to be folded');
    assert.is(t.state.folding, null);

    await t.round(3);
    const stopped = t.state.folding;
    assert.ok(stopped?.cursor, 'the round stopped with a cursor');
    await t.restart();
    assert.equal(t.state.folding, stopped, 'the round and its cursor, as the last commit left them');
    assert.is(t.state.dirtySince, null);

    await finishRound(t);
    await assertFolded(t.db, before);
    assert.equal(await compactionState(t.db), { dirtySince: null, folding: null }, 'the file says nothing is left');
    assert.equal(t.errors, []);
  } finally {
    await t.close();
  }
});

test('a worker started again folds what the one before it rolled up and did not fold', async () => {
  const dir = tempDir('am-worker-restart');
  const tenantId = newId('t');
  const start = () => {
    const files = createTenantFiles(dir.path);
    const { aggregator, errors, ingestor } = tenantWorker(files, tenantId, {
      now: () => BASE + 30 * DAY, // compaction, due a minute after a start, never is
      foldRows: 40,
    });
    const stop = async () => {
      await aggregator.stop();
      await ingestor.close?.();
      await files.closeAll();
    };
    return { files, ingestor, aggregator, errors, stop };
  };
  let w = start();
  try {
    await w.files.create(tenantId);
    for (const prefix of ['a', 'b']) {
      await w.ingestor.ingest({ tenantId, userId: 'u_1' }, 'rest', calls(prefix, BASE, 200, 23 * 60_000));
      await w.aggregator.runOnce(tenantId);
    }
    const before = await tables(await w.files.connection(tenantId, 'worker'));
    assert.is(folded(before).length, 0, 'rolled up twice, not folded');
    assert.equal(w.errors, []);
    await w.stop();

    w = start();
    await w.aggregator.runOnce(tenantId, { compact: true });
    await assertFolded(await w.files.connection(tenantId, 'worker'), before); // by the worker started again
    assert.equal(w.errors, []);
  } finally {
    await w.stop();
    dir.remove();
  }
});

test.run();
