// The rollup SQL, shared by the worker (which stores it) and the query compiler (which
// runs the very same aggregation over raw events for what the tiers do not cover yet).
// One definition means a rollup and a raw answer cannot disagree.
//
// Counting once: a fact that can arrive through more than one channel counts on its first
// arrival (lowest seq) only, whatever the order: a model request (`api_request` by
// request_id: OpenTelemetry's `request_id`, a transcript's `requestId`), a tool call
// (`tool_call` by tool_use_id: hooks, OpenTelemetry's tool_result, transcripts), a prompt
// (`prompt` by prompt_id: hooks, OpenTelemetry's `prompt.id`, newer transcripts' `promptId`)
// and a sub-agent (`subagent_start` by agent_id: hooks, transcripts' sub-agent files).
// Duplicates are recognised within DEDUP_WINDOW_MS of each other's timestamps, which keeps
// the check to a narrow slice of the table. Rows without the key always count.
import { binSql, MERGE_BINS_SQL } from './sketch.js';
import { CUBE_KEYS, TIER_SQL_INTERVAL, type Cube, type Tier } from './tiers.js';

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

/** Statuses that count as failures. */
export const FAILURE_SQL = `status IN ('failure', 'timeout')`;

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
 * CTEs ending in one named `name`: the events matching `where` that count (first
 * arrivals), with the `events` columns, read from `source` (events, or a CTE of them).
 * `lo`/`hi` bound where earlier arrivals may be.
 */
export function countedEventsCtes(name: string, where: string, lo: number, hi: number, source = 'events'): string {
  return `${name}_src AS (SELECT *, ${DEDUP_KEY} AS dkey FROM ${source} WHERE ${where}),
${name}_first AS (
  SELECT kind, dkey, min(seq) AS first_seq
    FROM (SELECT kind, ${DEDUP_KEY} AS dkey, seq FROM events
           WHERE ${KEYED_KINDS} AND ts >= ${tsLiteral(lo - DEDUP_WINDOW_MS)} AND ts <= ${tsLiteral(hi + DEDUP_WINDOW_MS)})
   WHERE dkey IN (SELECT dkey FROM ${name}_src WHERE dkey IS NOT NULL)
   GROUP BY kind, dkey),
${name} AS (
  SELECT s.* EXCLUDE (dkey) FROM ${name}_src s LEFT JOIN ${name}_first f ON f.kind = s.kind AND f.dkey = s.dkey
   WHERE s.dkey IS NULL OR s.seq = f.first_seq)`;
}

/**
 * The events above the watermark an answer counts: their timestamps' span and the newest
 * seq among them (a snapshot may hold newer ones, which it leaves out), or null when there
 * are none.
 */
export type TailSpan = { lo: number; hi: number; last: number } | null;

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
) => countedEventsCtes(name, `(${where}) AND ${tailSeqs(lastSeq, tail)}`, tail.lo, tail.hi, source);

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

/**
 * A CTE `name` of the rolled-up events (seq <= lastSeq) that count, matching any of
 * `wheres`: one scan each, so DuckDB prunes row groups by every piece's own bounds (an OR
 * of ranges would read them all).
 */
export function rolledUpCte(name: string, wheres: string[], lastSeq: number): string {
  const scans = wheres.map((w) => `SELECT * FROM events WHERE (${w}) AND seq <= ${lastSeq}`).join(' UNION ALL ');
  return `${name} AS (SELECT * FROM (${scans}) WHERE seq NOT IN (SELECT seq FROM uncounted_events))`;
}

/** Records the duplicates among the events of `range` (a seq range) that `counted` (a table of the counted ones) left out. */
export const recordUncountedSql = (range: string, counted: string) =>
  `INSERT INTO uncounted_events SELECT seq FROM events WHERE ${range} AND ${KEYED_KINDS} AND seq NOT IN (SELECT seq FROM ${counted})`;

/** Key columns as a select list, absent dimensions as '' (user_id is never absent). */
const keysSql = (keys: readonly string[]) =>
  keys.map((k) => (k === 'user_id' ? k : `coalesce(${k}, '') AS ${k}`)).join(', ');
/** A cube's sketch keys: its rollup keys less session_id (sketchSelect's `session` puts it back). */
export const sketchKeys = (cube: Cube) => CUBE_KEYS[cube].filter((k) => k !== 'session_id');
const zero = (expr: string) => `coalesce(${expr}, 0)`;

/** Rollup rows (the columns of `rollup_<tier>`) of the counted events in `source`. */
export function rollupSelect(source: string, bucket: string, cube: Cube = 'full'): string {
  return `SELECT ${bucket} AS bucket, ${keysSql(CUBE_KEYS[cube])},
    count(*)::DOUBLE AS n,
    (count(*) FILTER (${FAILURE_SQL}))::DOUBLE AS failures,
    count(duration_ms)::DOUBLE AS dur_n, ${zero('sum(duration_ms)')} AS dur_sum, min(duration_ms) AS dur_min, max(duration_ms) AS dur_max,
    ${zero('sum(input_tokens)')} AS input_tokens, ${zero('sum(output_tokens)')} AS output_tokens,
    ${zero('sum(cache_read_tokens)')} AS cache_read_tokens, ${zero('sum(cache_creation_tokens)')} AS cache_creation_tokens,
    ${zero('sum(cost_usd)')} AS cost_usd,
    ${zero('sum(input_tokens) FILTER (cost_usd IS NULL)')} AS unpriced_input, ${zero('sum(output_tokens) FILTER (cost_usd IS NULL)')} AS unpriced_output,
    ${zero('sum(cache_read_tokens) FILTER (cost_usd IS NULL)')} AS unpriced_cache_read, ${zero('sum(cache_creation_tokens) FILTER (cost_usd IS NULL)')} AS unpriced_cache_creation,
    ${zero('sum(lines_added)')} AS lines_added, ${zero('sum(lines_removed)')} AS lines_removed, ${zero('sum(value)')} AS value
  FROM ${source} GROUP BY ALL`;
}

/**
 * Sketch rows (the columns of `<cube tier>_dur`) of the counted events in `source`; with
 * `session`, keyed by session too (only ever computed from raw events).
 */
export function sketchSelect(source: string, bucket: string, cube: Cube = 'full', session = false): string {
  return `SELECT ${bucket} AS bucket, ${keysSql(session ? CUBE_KEYS[cube] : sketchKeys(cube))}, ${binSql('duration_ms')} AS bin, count(*)::DOUBLE AS n,
    min(duration_ms) AS lo, max(duration_ms) AS hi
  FROM ${source} WHERE duration_ms IS NOT NULL GROUP BY ALL`;
}

/** The summed columns of a rollup row (dur_min and dur_max are a min and a max). */
export const MEASURES = [
  'n',
  'failures',
  'dur_n',
  'dur_sum',
  'input_tokens',
  'output_tokens',
  'cache_read_tokens',
  'cache_creation_tokens',
  'cost_usd',
  'unpriced_input',
  'unpriced_output',
  'unpriced_cache_read',
  'unpriced_cache_creation',
  'lines_added',
  'lines_removed',
  'value',
];

/** Folds the rows of one key of `cube` into one (what compaction writes back). */
export function foldSelect(table: string, where: string, cube: Cube): string {
  const keys = ['bucket', ...CUBE_KEYS[cube]].join(', ');
  return `SELECT ${keys}, ${MEASURES.map((m) => `sum(${m}) AS ${m}`).join(', ')}, min(dur_min) AS dur_min, max(dur_max) AS dur_max
  FROM ${table} WHERE ${where} GROUP BY ${keys}`;
}

/** Folds the bins of one key of `cube` into one. */
export function foldSketchSelect(table: string, where: string, cube: Cube): string {
  const keys = ['bucket', ...sketchKeys(cube), 'bin'].join(', ');
  return `SELECT ${keys}, ${MERGE_BINS_SQL} FROM ${table} WHERE ${where} GROUP BY ${keys}`;
}
