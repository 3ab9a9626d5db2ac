// The rollup SQL, shared by the worker (which stores it) and the query compiler (which
// runs the very same aggregation over raw events for what the tiers do not cover yet).
// One definition means a rollup and a raw answer cannot disagree. The columns, their
// aggregates and merges, and the tables all come from the catalogue (catalogue.ts).
//
// Counting once: a fact that can arrive through more than one channel counts on its first
// arrival (lowest seq) only, whatever the order: a model request (`api_request` by
// request_id: OpenTelemetry's `request_id`, a transcript's `requestId`), a tool call
// (`tool_call` by tool_use_id: hooks, OpenTelemetry's tool_result, transcripts), a prompt
// (`prompt` by prompt_id: hooks, OpenTelemetry's `prompt.id`, newer transcripts' `promptId`)
// and a sub-agent (`subagent_start` by agent_id: hooks, transcripts' sub-agent files).
// Duplicates are recognised within DEDUP_WINDOW_MS of each other's timestamps, which keeps
// the check to a narrow slice of the table. Rows without the key always count.
import {
  CATALOGUE,
  catalogueTables,
  FAILURE_SQL,
  sketchKeys,
  type Catalogue,
  type CatalogueTable,
  type Measure,
} from './catalogue.js';
import { CUBE_KEYS, floorTo, TIER_MS, TIER_SQL_INTERVAL, type Cube, type Tier } from './tiers.js';

export { FAILURE_SQL, sketchKeys };

export const DEDUP_WINDOW_MS = 86_400_000;

/** The span of JavaScript dates (epoch ms): a literal is clamped to it. */
const MAX_DATE_MS = 8.64e15;

/**
 * A timestamp literal (our own numbers only: safe to inline). A time outside the years
 * 0000-9999 (a bound widened past a stored time, say) becomes microseconds, which DuckDB
 * reads where an ISO literal like '+010000-01-01' would fail the statement.
 */
export function tsLiteral(ms: number): string {
  const t = Math.max(-MAX_DATE_MS, Math.min(MAX_DATE_MS, Math.trunc(ms)));
  const iso = new Date(t).toISOString();
  return /^\d{4}-/.test(iso)
    ? `TIMESTAMP '${iso.replace('T', ' ').replace('Z', '')}'`
    : `make_timestamp(${BigInt(t) * 1000n})`;
}

export const bucketSql = (tier: Tier, column = 'ts') => `time_bucket(INTERVAL '${TIER_SQL_INTERVAL[tier]}', ${column})`;

/**
 * The kinds that can arrive twice, and what says so: the id Claude Code gives a request or a
 * tool call (unique everywhere), and a prompt's or a sub-agent's id within its session (SQL;
 * null, and so always counted, when a part is missing).
 */
export const DEDUP_KEYS = {
  api_request: 'request_id',
  tool_call: 'tool_use_id',
  prompt: `session_id || ' ' || prompt_id`,
  subagent_start: `session_id || ' ' || agent_id`,
} as const;
export const KEYED_KINDS = `kind IN (${Object.keys(DEDUP_KEYS)
  .map((k) => `'${k}'`)
  .join(', ')})`;
export const DEDUP_KEY = `CASE kind ${Object.entries(DEDUP_KEYS)
  .map(([kind, column]) => `WHEN '${kind}' THEN ${column}`)
  .join(' ')} END`;

/**
 * A repeat key as `retired_events` keeps it: 64 bits of SHA-256 over the kind, NUL and the
 * key (SQL over `kind` and `dkey`; NULL without a key). Stable across DuckDB versions,
 * unlike its `hash()`.
 */
export const retiredKeySql = (dkey: string) => `('0x' || left(sha256(kind || chr(0) || ${dkey}), 16))::UBIGINT`;

/**
 * CTEs ending in one named `name`: the events matching `where` that count (first
 * arrivals), with the `events` columns, read from `source` (events, or a CTE of them).
 * `lo`/`hi` bound where earlier arrivals may be. `retiredUntil`: raw retention deleted the
 * events before it; where the span reaches back there, an arrival whose key a deleted
 * event had (retired_events) is a repeat of it (the keys are hashed only then).
 */
export function countedEventsCtes(
  name: string,
  where: string,
  lo: number,
  hi: number,
  source = 'events',
  retiredUntil: number | null = null,
): string {
  const from = tsLiteral(lo - DEDUP_WINDOW_MS);
  const to = tsLiteral(hi + DEDUP_WINDOW_MS);
  const retired =
    retiredUntil !== null && lo - DEDUP_WINDOW_MS < retiredUntil
      ? `
          UNION ALL
          SELECT kind, dkey, 0 AS seq FROM (SELECT DISTINCT kind, dkey FROM ${name}_src WHERE dkey IS NOT NULL)
           WHERE ${retiredKeySql('dkey')} IN (SELECT dedup FROM retired_events WHERE ts >= ${from} AND ts <= ${to})`
      : '';
  return `${name}_src AS (SELECT *, ${DEDUP_KEY} AS dkey FROM ${source} WHERE ${where}),
${name}_first AS (
  SELECT kind, dkey, min(seq) AS first_seq
    FROM (SELECT kind, ${DEDUP_KEY} AS dkey, seq FROM events
           WHERE ${KEYED_KINDS} AND ts >= ${from} AND ts <= ${to}${retired})
   WHERE dkey IN (SELECT dkey FROM ${name}_src WHERE dkey IS NOT NULL)
   GROUP BY kind, dkey),
${name} AS (
  SELECT s.* EXCLUDE (dkey) FROM ${name}_src s LEFT JOIN ${name}_first f ON f.kind = s.kind AND f.dkey = s.dkey
   WHERE s.dkey IS NULL OR s.seq = f.first_seq)`;
}

/**
 * The events above the watermark an answer counts: their timestamps' span and the newest
 * seq among them (a snapshot may hold newer ones, which it leaves out), or null when there
 * are none; `retiredUntil`: the time before which raw retention deleted events (null: none).
 */
export type TailSpan = { lo: number; hi: number; last: number; retiredUntil?: number | null } | null;

/** Events the worker has not rolled up yet, read against the stored watermark. */
export const ABOVE_WATERMARK = 'seq > (SELECT last_seq FROM rollup_state)';

/** The seqs of the tail: above the watermark, up to its newest. */
export const tailSeqs = (lastSeq: number, tail: NonNullable<TailSpan>) => `seq > ${lastSeq} AND seq <= ${tail.last}`;

/** CTEs ending in `name`: the counted events above the watermark (the tail) that match `where`. */
export const countedTailCtes = (
  name: string,
  where: string,
  lastSeq: number,
  tail: NonNullable<TailSpan>,
  source = 'events',
) => countedEventsCtes(name, `(${where}) AND ${tailSeqs(lastSeq, tail)}`, tail.lo, tail.hi, source, tail.retiredUntil);

/**
 * The same events as countedEventsCtes, cheaper: an event the worker has rolled up
 * (seq <= lastSeq) was judged then, and every duplicate it found is in
 * `uncounted_events`; only the events above the watermark (their timestamps within
 * `tail`) are compared with their neighbours here.
 */
export function countedSinceCtes(
  name: string,
  where: string,
  lastSeq: number,
  tail: TailSpan,
  tailSource = 'events',
): string {
  const rolled = rolledUpCte(`${name}_rolled`, [where], lastSeq);
  if (!tail)
    return `${rolled},
${name} AS (SELECT * FROM ${name}_rolled)`;
  return `${rolled},
${countedTailCtes(`${name}_tail`, where, lastSeq, tail, tailSource)},
${name} AS (SELECT * FROM ${name}_rolled UNION ALL SELECT * FROM ${name}_tail)`;
}

/** An event not recorded as a repeat (or set aside) in `uncounted_events`. */
const COUNTED = 'seq NOT IN (SELECT seq FROM uncounted_events)';

/** Events the rollups count now: rolled up (up to `lastSeq`) and counted. */
export const countedUpTo = (lastSeq: number) => `seq <= ${lastSeq} AND ${COUNTED}`;

/**
 * A CTE `name` of the rolled-up events (seq <= lastSeq) that count, matching any of
 * `wheres`: one scan each, so DuckDB prunes row groups by every piece's own bounds (an OR
 * of ranges would read them all).
 */
export function rolledUpCte(name: string, wheres: string[], lastSeq: number): string {
  const scans = wheres.map((w) => `SELECT * FROM events WHERE (${w}) AND seq <= ${lastSeq}`).join(' UNION ALL ');
  return `${name} AS (SELECT * FROM (${scans}) WHERE ${COUNTED})`;
}

/** Records the duplicates among the events of `range` (a seq range) that `counted` (a table of the counted ones) left out. */
export const recordUncountedSql = (range: string, counted: string) =>
  `INSERT INTO uncounted_events SELECT seq FROM events WHERE ${range} AND ${KEYED_KINDS} AND seq NOT IN (SELECT seq FROM ${counted})`;

/** Key columns as a select list, absent dimensions as '' (user_id is never absent). */
const keysSql = (keys: readonly string[]) =>
  keys.map((k) => (k === 'user_id' ? k : `coalesce(${k}, '') AS ${k}`)).join(', ');
const { measures: MEASURE_LIST, sketch: SKETCH } = CATALOGUE;

/** Rollup rows (the columns of `rollup_<tier>`) of the counted events in `source`. */
export function rollupSelect(source: string, bucket: string, cube: Cube = 'full'): string {
  return `SELECT ${bucket} AS bucket, ${keysSql(CUBE_KEYS[cube])},
    ${MEASURE_LIST.map((m) => `${m.sql} AS ${m.name}`).join(',\n    ')}
  FROM ${source} GROUP BY ALL`;
}

/**
 * Sketch rows (the columns of `<cube tier>_dur`) of the counted events in `source`; with
 * `session`, keyed by session too (only ever computed from raw events).
 */
export function sketchSelect(source: string, bucket: string, cube: Cube = 'full', session = false): string {
  const values = [SKETCH.bin, ...SKETCH.values].map((c) => `${c.sql} AS ${c.name}`).join(', ');
  return `SELECT ${bucket} AS bucket, ${keysSql(session ? CUBE_KEYS[cube] : sketchKeys(cube))}, ${values}
  FROM ${source} WHERE ${SKETCH.where} GROUP BY ALL`;
}

/** The summed columns of a rollup row (the others are a min or a max). */
export const MEASURES = MEASURE_LIST.filter((m) => m.merge === 'sum').map((m) => m.name);

const mergedSql = (measures: readonly Measure[]) =>
  measures.map((m) => `${m.merge}(${m.name}) AS ${m.name}`).join(', ');

/** A value taken back out (removal): a sum negated, a min or max unknown; `grouped`: over a group of rows. */
const negatedSql = (v: Measure, grouped: boolean) =>
  `${v.merge !== 'sum' ? `NULL::${v.type}` : grouped ? `-sum(${v.name})` : `-${v.name}`} AS ${v.name}`;
export const negatedMeasuresSql = (grouped = false) => MEASURE_LIST.map((m) => negatedSql(m, grouped)).join(', ');
export const negatedBinsSql = (grouped = false) => SKETCH.values.map((v) => negatedSql(v, grouped)).join(', ');

/** The measures merged as a min or a max: the bounds removal measures again. */
export const BOUND_MEASURES = MEASURE_LIST.filter((m) => m.merge !== 'sum').map((m) => m.name);

/**
 * The rows of `table` (a catalogue table) in `source` matching `where` merged into one per
 * key, its buckets re-cut by `bucket` (an expression over the source's bucket).
 */
export function mergeSelect(
  table: CatalogueTable,
  source: string,
  where = 'true',
  bucket = 'bucket',
  cat: Catalogue = CATALOGUE,
): string {
  const keys = table.keys.slice(1).join(', ');
  const merged = table.sketch ? cat.sketch.merge : mergedSql(cat.measures);
  return `SELECT ${bucket} AS bucket, ${keys}, ${merged} FROM ${source} WHERE ${where} GROUP BY ALL`;
}

/** Every rollup and sketch table, in the catalogue's order (by tier, smallest first). */
export const ROLLUP_TABLES = catalogueTables();
const tableOf = (name: string) => ROLLUP_TABLES.find((t) => t.name === name)!;

/** Folds the rows (or bins) of each key of `table` matching `where` into one (what compaction writes back). */
export const foldSelect = (table: string, where: string, _cube?: Cube) => mergeSelect(tableOf(table), table, where);
export const foldSketchSelect = foldSelect;

/** The statements adding the rollup and sketch rows of the counted events in `source` to every table. */
export const insertRollupsSql = (source: string): string[] =>
  ROLLUP_TABLES.map(
    (t) =>
      `INSERT INTO ${t.name} BY NAME ${(t.sketch ? sketchSelect : rollupSelect)(source, bucketSql(t.tier), t.cube)}`,
  );

/** The statements folding each key of `table`'s buckets in [from, to) (to null: no end) into one row (compaction). */
export function foldSql(table: CatalogueTable, from: number, to: number | null): string[] {
  const where = `bucket >= ${tsLiteral(from)}${to === null ? '' : ` AND bucket < ${tsLiteral(to)}`}`;
  return [
    `CREATE OR REPLACE TEMP TABLE rollup_fold AS ${mergeSelect(table, table.name, where)}`,
    `DELETE FROM ${table.name} WHERE ${where}`,
    `INSERT INTO ${table.name} BY NAME SELECT * FROM rollup_fold`,
    'DROP TABLE rollup_fold',
  ];
}

/** The statements deleting each tier's buckets before its cutoff (retention). */
export const retentionSql = (cutoff: Partial<Record<Tier, number>>): string[] =>
  ROLLUP_TABLES.flatMap((t) => {
    const since = cutoff[t.tier];
    return since === undefined
      ? []
      : [`DELETE FROM ${t.name} WHERE bucket < ${tsLiteral(floorTo(since, TIER_MS[t.tier]))}`];
  });
