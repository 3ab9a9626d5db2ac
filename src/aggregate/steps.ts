// The SQL of each step of the aggregation worker's pass (worker.ts and turn.ts decide when each runs):
// a chunk of events rolled up into every tier with the watermark moved in the same
// transaction, an event set aside, compaction, retention, new models' prices, a checkpoint,
// and how far behind the rollups are; and what the worker asks of the sessions module
// (SessionSteps).
import type { Connection, Database, Params, Queryable } from '../storage/duckdb.js';
import { priceOf, type PriceOverrides } from '../cost/prices.js';
import {
  countedEventsCtes,
  DEDUP_KEY,
  DEDUP_WINDOW_MS,
  foldSql,
  KEYED_KINDS,
  insertRollupsSql,
  recordUncountedSql,
  retentionSql,
  retiredKeySql,
  ROLLUP_TABLES,
  tsLiteral,
} from './rollup.js';
import { keptSince, type Applied, type Retention, type TenantSettings } from './settings.js';
import { floorTo, TIER_MS } from './tiers.js';
import { attributeProjects } from './session-project.js';

/**
 * What the worker does for sessions, given by its creator (src/sessions/worker-steps.ts): the
 * worker knows events and rollups, the sessions module what is stored of a session and when.
 */
export type SessionSteps = {
  /** In the rollup's transaction: the sessions of the events in `range` (SQL over events), `counted` (a table of seq) counting. */
  rolledUp(tx: Queryable, range: string, counted: string): Promise<void>;
  /** Stores what is due of the sessions gone quiet, in transactions of its own. */
  settle(file: Database, db: Connection, now: number): Promise<void>;
  /** Retention: the sessions whose last event is before `before` go. */
  expire(db: Queryable, before: number): Promise<void>;
  /** In removeEvents' transaction (remove.ts): the sessions of the removed and revived events (tables). */
  removed(tx: Queryable, tables: { removed: string; counted: string; revived: string }, lastSeq: number): Promise<void>;
};

/** The watermark, the events above it (how many, the oldest's arrival) and those set aside. */
export type Lag = { last_seq: number; pending: number; oldest: number | null; set_aside: number };

/** The watermark and what lies above it, in one snapshot. */
export function readLag(conn: Connection): Promise<Lag> {
  return conn.transaction(async (tx) => {
    const { last_seq } = (await tx.get<{ last_seq: number }>(`SELECT last_seq FROM rollup_state`))!;
    const tail = (await tx.get<{ pending: number; oldest: number | null; set_aside: number }>(
      `SELECT count(*) AS pending, epoch_ms(min(received_at)) AS oldest, (SELECT count(*) FROM set_aside_events) AS set_aside FROM events WHERE seq > ${last_seq}`,
    ))!;
    return { last_seq, ...tail };
  });
}

/**
 * Rolls up to `chunk` events above the watermark; null when there were none. Also returns
 * what compaction has to fold since its last round began (`dirtySince`, as the file keeps it).
 */
export async function rollupChunk(
  conn: Connection,
  chunk: number,
  settings: TenantSettings,
  sessions: SessionSteps,
): Promise<{ events: number; dirtySince: number | null } | null> {
  return conn.transaction(async (tx) => {
    // A literal bound lets DuckDB skip every row group below the watermark (seq grows with the file).
    const { last_seq: from, retired } = (await tx.get<{ last_seq: number; retired: number | null }>(
      `SELECT last_seq, epoch_ms(retired_until) AS retired FROM rollup_state`,
    ))!;
    const top = (await tx.get<{ top: number | null }>(`SELECT max(seq) AS top FROM events WHERE seq > ${from}`))!.top;
    if (top === null || top <= from) return null;
    const to = Math.min(top, from + chunk);
    const range = `seq > ${from} AND seq <= ${to}`;
    const span = (await tx.get<{ lo: number; hi: number; n: number }>(
      `SELECT epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi, count(*) AS n FROM events WHERE ${range}`,
    ))!;
    if (span.n > 0) {
      await attributeProjects(tx, range, from, settings.applied.raw);
      await tx.run(
        `CREATE OR REPLACE TEMP TABLE rollup_batch AS
          WITH ${countedEventsCtes('batch', range, span.lo, span.hi, 'events', retired === null ? null : Number(retired))}
          SELECT * FROM batch`,
      );
      await tx.run(recordUncountedSql(range, 'rollup_batch'));
      for (const insert of insertRollupsSql('rollup_batch')) await tx.run(insert);
      await sessions.rolledUp(tx, range, 'rollup_batch');
      const models = await tx.all<{ model: string }>(
        `SELECT DISTINCT model FROM rollup_batch WHERE model IS NOT NULL AND model NOT IN (SELECT model FROM model_prices)`,
      );
      await setPrices(
        tx,
        models.map((m) => m.model),
        settings.prices,
      );
      await tx.run(`DROP TABLE rollup_batch`);
    }
    const lo = span.n > 0 ? tsLiteral(span.lo) : 'NULL';
    const { dirty } = (await tx.get<{ dirty: number | null }>(
      `UPDATE rollup_state SET last_seq = ${to}, updated_at = now()::TIMESTAMP, dirty_since = least(dirty_since, ${lo})
        RETURNING epoch_ms(dirty_since) AS dirty`,
    ))!;
    return { events: to - from, dirtySince: dirty === null ? null : Number(dirty) };
  });
}

/** Sets aside the event just above the watermark (SET_ASIDE_AFTER in turn.ts); returns its seq. */
export async function setAside(conn: Connection, error: string): Promise<number | null> {
  return conn.transaction(async (tx) => {
    const { seq } = (await tx.get<{ seq: number | null }>(
      `SELECT min(seq) AS seq FROM events WHERE seq > (SELECT last_seq FROM rollup_state)`,
    ))!;
    if (seq === null) return null;
    await tx.run(`INSERT INTO set_aside_events VALUES (${seq}, $error, now()::TIMESTAMP)`, {
      error: error.slice(0, 2000),
    });
    await tx.run(`INSERT INTO uncounted_events VALUES (${seq})`);
    await tx.run(`UPDATE rollup_state SET last_seq = ${seq}, updated_at = now()::TIMESTAMP`);
    return Number(seq);
  });
}

/** Buckets of one table's range folded in one transaction: [from, to), to null for no end. */
export type FoldPiece = { table: string; from: number; to: number | null };

/** A table's buckets from `from` on, in time order, with their rows. */
export type TableBuckets = { table: string; from: number; buckets: { at: number; rows: number }[] };

/**
 * Packs tables' pieces into transactions of at most `maxRows` rows, a table at a time: a
 * table is cut between two buckets (never inside one, so one holding more goes alone), and
 * its last piece has no end. `add` gives the transactions a table filled, `end` the last.
 */
export function foldPacker(maxRows: number) {
  let batch: FoldPiece[] = [];
  let rows = 0;
  return {
    add({ table, from, buckets }: TableBuckets): FoldPiece[][] {
      const full: FoldPiece[][] = [];
      if (buckets.length === 0) return full;
      let start = from;
      let ours = 0; // this table's rows in `batch`
      for (const b of buckets) {
        if (rows > 0 && rows + b.rows > maxRows) {
          if (ours > 0) {
            batch.push({ table, from: start, to: b.at });
            [start, ours] = [b.at, 0];
          }
          full.push(batch);
          [batch, rows] = [[], 0];
        }
        rows += b.rows;
        ours += b.rows;
      }
      batch.push({ table, from: start, to: null });
      return full;
    },
    end: (): FoldPiece[][] => (batch.length > 0 ? [batch] : []),
  };
}

/** Where a compaction goes on: the table (its index in ROLLUP_TABLES) and the bucket it folds from. */
export type FoldCursor = { table: number; from: number };

/** A compaction round under way: from when it folds, and where it goes on (null: at the start). */
export type FoldRound = { since: number; cursor: FoldCursor | null };

/** Compaction's progress as the file keeps it (migration 0021): what to fold next, and a round under way. */
export async function compactionState(
  conn: Queryable,
): Promise<{ dirtySince: number | null; folding: FoldRound | null }> {
  type Stored = { dirty: number | null; since: number | null; table: string | null; from: number | null };
  const r = (await conn.get<Stored>(
    `SELECT epoch_ms(dirty_since) AS dirty, epoch_ms(folding_since) AS since, folding_table AS "table",
            epoch_ms(folding_from) AS "from" FROM rollup_state`,
  ))!;
  const table = ROLLUP_TABLES.findIndex((t) => t.name === r.table);
  // A table the catalogue no longer has: the round starts over (folding twice changes nothing).
  const cursor = r.table === null || table < 0 ? null : { table, from: r.from === null ? -Infinity : Number(r.from) };
  return {
    dirtySince: r.dirty === null ? null : Number(r.dirty),
    folding: r.since === null ? null : { since: Number(r.since), cursor },
  };
}

/** Starts a compaction round over what was rolled up since the last began (null: nothing to fold). */
export async function startRound(conn: Connection): Promise<FoldRound | null> {
  const r = await conn.get<{ since: number | null }>(
    `UPDATE rollup_state SET folding_since = dirty_since, dirty_since = NULL, folding_table = NULL, folding_from = NULL
      WHERE dirty_since IS NOT NULL RETURNING epoch_ms(folding_since) AS since`,
  );
  const since = r?.since ?? null;
  return since === null ? null : { since: Number(since), cursor: null };
}

const END_ROUND = 'UPDATE rollup_state SET folding_since = NULL, folding_table = NULL, folding_from = NULL';

/** Ends the round under way: it folded everything from its start. */
export const endRound = (conn: Connection) => conn.run(END_ROUND);

/**
 * Folds every key of the buckets from `since` on into one row per key, at most `maxRows`
 * rows a transaction (README, *Memory*), counting one table's buckets at a time. Answers are
 * the same before and after each transaction, so readers between two see the right figures.
 * `from` goes on where an earlier call stopped; `folded` hears where to go on after each
 * transaction, and `stop`, asked after each, ends the call early. True when it got to the end.
 */
export async function compact(
  conn: Connection,
  since: number,
  maxRows: number,
  o: { from?: FoldCursor | null; folded?: (next: FoldCursor) => void; stop?: () => boolean } = {},
): Promise<boolean> {
  const packer = foldPacker(maxRows);
  const index = new Map(ROLLUP_TABLES.map((t, i) => [t.name, i]));
  /** Folds `batch`; true when the call is to stop here. */
  const fold = async (batch: FoldPiece[]) => {
    const last = batch.at(-1)!;
    const table = index.get(last.table)!;
    const next = last.to === null ? { table: table + 1, from: -Infinity } : { table, from: last.to };
    await conn.transaction(async (tx) => {
      for (const p of batch)
        for (const statement of foldSql(ROLLUP_TABLES[index.get(p.table)!]!, p.from, p.to)) await tx.run(statement);
      // Where the round goes on, in the same commit (a restart resumes from it: compactionState);
      // after the last table, the round is over (when empty tables end the list, endRound ends it).
      const nextTable = ROLLUP_TABLES[next.table]?.name;
      const from = Number.isFinite(next.from) ? tsLiteral(next.from) : 'NULL';
      if (nextTable === undefined) await tx.run(END_ROUND);
      else
        await tx.run(
          `UPDATE rollup_state SET folding_table = $table, folding_from = ${from} WHERE folding_since IS NOT NULL`,
          { table: nextTable },
        );
    });
    o.folded?.(next);
    return o.stop?.() ?? false;
  };
  for (const [i, t] of ROLLUP_TABLES.entries()) {
    if (o.from && i < o.from.table) continue;
    const from = Math.max(floorTo(since, TIER_MS[t.tier]), o.from?.table === i ? o.from.from : -Infinity);
    const buckets = await conn.all<{ at: number; n: number }>(
      `SELECT epoch_ms(bucket) AS at, count(*) AS n FROM ${t.name}
        WHERE bucket >= ${tsLiteral(from)} GROUP BY bucket ORDER BY bucket`,
    );
    const rows = buckets.map((b) => ({ at: Number(b.at), rows: Number(b.n) }));
    for (const batch of packer.add({ table: t.name, from, buckets: rows })) if (await fold(batch)) return false;
  }
  for (const batch of packer.end()) await fold(batch);
  return true;
}

/**
 * Deletes what each tier keeps no longer; raw events only once they are rolled up, keeping
 * their ids and repeat keys (retired_events) so that a copy sent again is still a repeat.
 */
export async function applyRetention(
  db: Connection,
  retention: Retention,
  now: number,
  applied: Applied,
  sessions: Pick<SessionSteps, 'expire'>,
): Promise<Applied> {
  const cutoff = keptSince(retention, now, applied);
  for (const statement of retentionSql(cutoff)) await db.run(statement);
  // A session is listed for the hourly figures' retention (the tier itself keeps whole days).
  const hours = retention['1h'];
  if (hours !== null) await sessions.expire(db, Math.max(now - hours * 86_400_000, cutoff['1h']!));
  if (cutoff.raw !== undefined) await retireEvents(db, cutoff.raw, now);
  return cutoff;
}

/**
 * How long after its last activity (a chunk, progress, its end: `updated_at`) an import
 * run's raw events outlive raw retention, so that rolling it back removes every event it
 * stored and their share of every figure (imported history is mostly older than raw
 * retention keeps).
 */
export const RUN_KEPT_MS = 30 * 86_400_000;

/**
 * Moves the rolled-up events before `before` to retired_events, in one transaction with the
 * watermark's `retired_until` (a reader sees them in one table or the other). Kept for
 * good, as the day tier's figures are by default: 18 bytes an event. Not moved: the events
 * of an import run younger than RUN_KEPT_MS, and the repeats of their keys (rolling the run
 * back makes the first of those count in its place, remove.ts: it must still be there).
 */
async function retireEvents(db: Connection, before: number, now: number): Promise<void> {
  const old = `ts < ${tsLiteral(before)}`;
  await db.transaction(async (tx) => {
    await tx.run(`CREATE OR REPLACE TEMP TABLE retiring AS
      WITH kept_runs AS (
        SELECT id FROM import_runs WHERE status <> 'rolled_back' AND updated_at >= ${tsLiteral(now - RUN_KEPT_MS)}),
      kept_keys AS (
        SELECT DISTINCT kind, ${DEDUP_KEY} AS dkey FROM events
         WHERE ts < ${tsLiteral(before + DEDUP_WINDOW_MS)} AND import_run IN (SELECT id FROM kept_runs) AND ${KEYED_KINDS})
      SELECT seq, ts, id, kind, ${DEDUP_KEY} AS dkey, user_id FROM events e
       WHERE ${old} AND seq <= (SELECT last_seq FROM rollup_state)
         AND (import_run IS NULL OR import_run NOT IN (SELECT id FROM kept_runs))
         AND NOT EXISTS (SELECT 1 FROM kept_keys k WHERE k.kind = e.kind AND k.dkey = ${DEDUP_KEY})`);
    await tx.run(`INSERT INTO retired_events
      SELECT ts, id, CASE WHEN dkey IS NOT NULL THEN ${retiredKeySql('dkey')} END, user_id FROM retiring ORDER BY ts`);
    await tx.run(`DELETE FROM uncounted_events WHERE seq IN (SELECT seq FROM retiring)`);
    await tx.run(`DELETE FROM events WHERE ${old} AND seq IN (SELECT seq FROM retiring)`);
    await tx.run(`UPDATE rollup_state SET retired_until = greatest(retired_until, ${tsLiteral(before)})`);
    await tx.run(`DROP TABLE retiring`);
  });
}

/** Stores the price of each of `models` (the tenant's override, else the shipped table), in one statement. */
export async function setPrices(db: Queryable, models: string[], overrides: PriceOverrides): Promise<void> {
  if (!models.length) return;
  const params: Params = {};
  const rows = models.map((model, i) => {
    const p = priceOf(model, overrides);
    Object.assign(params, {
      [`m${i}`]: model,
      [`i${i}`]: p.input,
      [`o${i}`]: p.output,
      [`w${i}`]: p.cache_write,
      [`r${i}`]: p.cache_read,
    });
    return `($m${i}, $i${i}::DOUBLE, $o${i}::DOUBLE, $w${i}::DOUBLE, $r${i}::DOUBLE)`;
  });
  await db.run(`INSERT OR REPLACE INTO model_prices VALUES ${rows.join(', ')}`, params);
}

/**
 * Writes what the pass changed into the file. Until a checkpoint, DuckDB keeps every table's
 * new rows in memory it cannot evict: some 100 MB a tenant after one pass over a few thousand
 * events (the rollups touch thirty tables), so twenty tenants would outgrow any budget. A
 * checkpoint refused (another transaction writing) is simply the next pass's to do.
 */
export async function checkpoint(conn: Connection): Promise<void> {
  await conn.run('CHECKPOINT').catch(() => undefined);
}
