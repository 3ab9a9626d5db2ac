// Where a plan's rows come from, as CTEs: the raw events of its raw pieces and its tail
// rolled up to minutes like a tier (one CTE `raw`), the tiers' rows of its cube, and for a
// keyed team-cube answer the user and session keys folded in from its key cube (`r`).
import {
  countedEventsCtes,
  countedTailCtes,
  countedUpTo,
  MEASURES,
  rolledUpCte,
  rollupSelect,
  bucketSql as tierBucketSql,
  tailSeqs,
  tsLiteral,
} from '../../aggregate/rollup.js';
import { tailEventsCte } from '../../aggregate/session-project.js';
import { rollupTable, type Cube, type Segment, type Tier } from '../../aggregate/tiers.js';
import type { Params } from '../../storage/duckdb.js';
import { DIMENSIONS, inKinds, METRIC_POINT_KINDS, METRICS, SPEND_REQUEST_SQL, type Dimension } from '../model.js';
import type { Plan } from '../plan.js';
import { bucketSql } from './bucket.js';
import { inRange } from './filters.js';
import { splitAtFrom } from './groups.js';

export type Sources = {
  ctes: string[];
  /** The raw rows' bucket: minutes (compared, split at `from`). */
  rawBucket: string;
  /** Whether the CTE `raw` exists. */
  hasRaw: boolean;
  /** Where the events above the watermark are read from (events, or with their sessions' projects). */
  tailSource: string;
  /** The span of the whole answer, both periods. */
  span: { from: number; to: number };
};

/** The plan's segments read from raw events, adjacent ones joined. */
const rawSpans = (segments: Segment[]) =>
  segments
    .filter((s) => s.source === 'raw')
    .reduce<{ from: number; to: number }[]>((spans, s) => {
      const last = spans.at(-1);
      if (last && last.to === s.from) last.to = s.to;
      else spans.push({ from: s.from, to: s.to });
      return spans;
    }, []);

export const segmentsOf = (plan: Plan) => plan.periods.flatMap((p) => p.segments);
export const tierSegments = (plan: Plan) =>
  segmentsOf(plan).filter((s): s is Segment & { source: Tier } => s.source !== 'raw');

/**
 * Raw events, counted once, in one CTE `raw` rolled up to minutes like a tier: asked raw,
 * every duplicate is found here; otherwise the worker's record covers the edges the tiers
 * cannot, and only the tail above the watermark is judged here. One chain for all the
 * pieces keeps the statement small: planning it costs more than running it.
 */
export function rawSources(plan: Plan, filters: string): Sources {
  const span = { from: plan.periods[0]!.from, to: plan.periods.at(-1)!.to };
  const ctes: string[] = [];
  const pieces: string[] = [];
  const wheres = rawSpans(segmentsOf(plan)).map((s) => `${inRange(s.from, s.to, 'ts')} AND ${filters}`);
  const tail = plan.tail;
  // By project, the events above the watermark take their session's project as the worker
  // will give it them (see session-project.ts); rolled-up events have it already.
  const tailSource = tail?.projects ? 'tail_events' : 'events';
  if (tail?.projects) ctes.push(tailEventsCte('tail_events', tailSeqs(plan.lastSeq, tail)));
  if (plan.raw) {
    ctes.push(
      countedEventsCtes(
        'raw_all',
        wheres[0]!,
        span.from,
        span.to,
        everyEvent(plan, tailSource),
        tail?.retiredUntil ?? null,
      ),
    );
    pieces.push('raw_all');
  } else if (wheres.length) {
    ctes.push(rolledUpCte('raw_rolled', wheres, plan.lastSeq));
    pieces.push('raw_rolled');
  }
  if (!plan.raw && tail) {
    ctes.push(
      countedTailCtes('tail', `${inRange(span.from, span.to, 'ts')} AND ${filters}`, plan.lastSeq, tail, tailSource),
    );
    pieces.push('tail');
  }
  if (pieces.length) ctes.push(`raw AS (${pieces.map((p) => `SELECT * FROM ${p}`).join(' UNION ALL ')})`);
  return { ctes, rawBucket: splitAtFrom(plan, tierBucketSql('1m'), 'ts'), hasRaw: pieces.length > 0, tailSource, span };
}

/** Every event an answer read raw (`plan.raw`) counts: its tail with its sessions' projects when asked by project. */
const everyEvent = (plan: Plan, tailSource: string) =>
  tailSource === 'events'
    ? 'events'
    : `(SELECT * FROM events WHERE seq <= ${plan.lastSeq} UNION ALL SELECT * FROM ${tailSource})`;

/** The rows of one cube matching `where`: the raw events rolled up to minutes, and the tiers' pieces. */
export function rowsOf(plan: Plan, s: Sources, cube: Cube, where: string): string {
  const pieces = [
    ...(s.hasRaw ? [`SELECT * FROM (${rollupSelect('raw', s.rawBucket, cube)}) WHERE ${where}`] : []),
    ...tierSegments(plan).map(
      (seg) =>
        `SELECT * FROM ${rollupTable(seg.source, cube)} WHERE ${inRange(seg.from, seg.to, 'bucket')} AND ${where}`,
    ),
  ];
  // A plan with nothing to read (every period before the first event) still has the columns,
  // and names the filters' parameters (DuckDB refuses a parameter the statement lacks).
  return pieces.length
    ? pieces.join('\nUNION ALL BY NAME\n')
    : `SELECT * FROM ${rollupTable('1d', cube)} WHERE false AND ${where}`;
}

/**
 * The CTE `requested_ever`: the sessions (user, session) of `r` with a counted request at any
 * time, for the spend rule: the worker's index of the rolled-up events, and the tail as it
 * is. A metric point just past a range's edge from its requests then counts in neither range
 * (README, *Counting once*).
 */
export function requestedEverCte(plan: Plan): string {
  const asked = 'SELECT user_id, session_id FROM r';
  const indexed = `SELECT user_id, session_id FROM session_index WHERE requests > 0 AND (user_id, session_id) IN (${asked})`;
  const tail = plan.tail
    ? `\nUNION ALL SELECT user_id, session_id FROM events WHERE ${tailSeqs(plan.lastSeq, plan.tail)} AND ${SPEND_REQUEST_SQL} AND session_id IS NOT NULL`
    : '';
  return `requested_ever AS (${indexed}${tail})`;
}

/**
 * The CTE `requested`: the rows of requests (user, session, bucket) matching `where`, for
 * the spend rule when the question's filters narrow rows within a session (a model, kind
 * or status: SESSION_NARROWING). A session whose requests are another model's still has
 * requests, so its metric points of this model do not count. Whether a session has any is
 * all that is asked: the raw pieces' events as the worker counted them, and the tail's as
 * they are (a repeat of a request is in the same session as the request).
 */
export function requestedCte(plan: Plan, s: Sources, where: string): string {
  const requests = `${where} AND ${SPEND_REQUEST_SQL}`;
  const cube = plan.keyCube ?? plan.cube;
  // No session is the session '' (as rollupSelect makes it in `r` and the tiers).
  const events = (from: string, at: { from: number; to: number }, seqs: string) =>
    `SELECT user_id, coalesce(session_id, '') AS session_id, ts AS bucket FROM ${from} WHERE ${inRange(at.from, at.to, 'ts')} AND ${seqs} AND ${requests}`;
  const pieces = [
    ...rawSpans(segmentsOf(plan)).map((r) =>
      plan.raw ? events(everyEvent(plan, s.tailSource), r, 'true') : events('events', r, countedUpTo(plan.lastSeq)),
    ),
    ...(!plan.raw && plan.tail ? [events(s.tailSource, s.span, tailSeqs(plan.lastSeq, plan.tail))] : []),
    ...tierSegments(plan).map(
      (seg) =>
        `SELECT user_id, session_id, bucket FROM ${rollupTable(seg.source, cube)} WHERE ${inRange(seg.from, seg.to, 'bucket')} AND ${requests}`,
    ),
  ];
  return `requested AS (${pieces.length ? pieces.join(' UNION ALL ') : `SELECT user_id, session_id, bucket FROM ${rollupTable('1d', cube)} WHERE false AND ${requests}`})`;
}

/**
 * The CTE `r`: the rows the figures are aggregated from. A team-cube answer that counts
 * users or sessions, or applies the spend rule, takes what it needs of its key cube, folded
 * to one row per user, session and group: the sessions with requests, and the metric
 * points, which count by their session (and leave the team rows). Every other measure there
 * is zero, so nothing counts twice.
 */
export function answerRowsCte(plan: Plan, s: Sources, filters: string, params: Params): string {
  // The spend rule reads `r` twice (figuresCtes): asked once, not once per read, which DuckDB
  // does not always decide by itself (a 30-day by-user answer at 10M events: 42 → 26 ms).
  const r = plan.spend ? 'r AS MATERIALIZED' : 'r AS';
  if (!plan.keyCube) return `${r} (${rowsOf(plan, s, plan.cube, filters)})`;
  const points = inKinds(METRIC_POINT_KINDS);
  const requests = SPEND_REQUEST_SQL;
  const distinct = plan.metrics.some((m) => {
    const def = METRICS[m]!;
    return 'sql' in def && def.distinct;
  });
  const wanted = distinct ? 'true' : `(${points} OR ${requests})`;
  const grouped = new Set<string>(plan.keys.filter((k) => k !== 't').map((d) => DIMENSIONS[d as Dimension].column));
  const column = (name: string, otherwise: string) => (grouped.has(name) ? name : `${otherwise} AS ${name}`);
  const bucket = plan.bucket
    ? splitAtFrom(plan, bucketSql(plan.bucket, 'bucket', params), 'bucket')
    : plan.periods.length > 1
      ? splitAtFrom(plan, tsLiteral(s.span.from), 'bucket')
      : 'min(bucket)';
  const keys = `SELECT ${bucket} AS bucket, user_id, session_id,
    ${column('kind', `CASE WHEN ${points} THEN kind WHEN ${requests} THEN 'api_request' ELSE '' END`)}, ${column('model', `CASE WHEN ${points} THEN model ELSE '' END`)},
    ${column('name', "''")}, ${column('status', "''")}, ${MEASURES.map((m) => `sum(CASE WHEN ${points} THEN ${m} ELSE 0 END) AS ${m}`).join(', ')}
    FROM (${rowsOf(plan, s, plan.keyCube, `${filters} AND ${wanted}`)}) GROUP BY ALL`;
  return `${r} (SELECT * FROM (${rowsOf(plan, s, 'team', filters)}) WHERE NOT ${points}\nUNION ALL BY NAME\n${keys})`;
}
