// Each session's figures over its whole life, stored: the rollup of a session. The
// aggregation worker stores them once a session has been quiet for QUIET_MS, as the
// query model answers them (the same compile over the same tiers and raw events, the
// same shaping), at its watermark. Rolling up an event of the session deletes them, and
// so does a price change; a reader uses them only while the session has no events above
// the watermark, and asks the query model otherwise. So a session's page, the sessions
// list and the productivity scores read one row per session instead of planning and
// running a statement over its events each time (some 15 ms a session page).
import { keptSince, type TenantSettings } from '../aggregate/settings.js';
import { tsLiteral } from '../aggregate/rollup.js';
import type { Queryable } from '../storage/duckdb.js';
import { compile } from './compile.js';
import { MAX_FILTER_VALUES, MAX_ROWS, METRICS, sessionQuerySchema, type Query } from './model.js';
import { resultOf } from './run.js';

/**
 * What is stored of each session: every figure a session's page, the list or a score
 * shows. Changing the list takes a migration that empties session_figures.
 */
export const SESSION_FIGURES = [
  'prompts',
  'tool_calls',
  'tool_failures',
  'tool_p50_ms',
  'tool_p95_ms',
  'api_requests',
  'api_errors',
  'subagents',
  'agents_used',
  'commands',
  'command_failures',
  'input_tokens',
  'output_tokens',
  'cache_read_tokens',
  'cache_creation_tokens',
  'tokens',
  'cost_usd',
  'lines_added',
  'lines_removed',
  'edit_lines_added',
  'edit_lines_removed',
  'commits',
  'pull_requests',
] as const;
export type SessionFigure = (typeof SESSION_FIGURES)[number];
export type Figures = Partial<Record<SessionFigure, number | null>>;

/** How long a session goes without events before its figures are stored (an active one would be stored again every pass). */
export const QUIET_MS = 120_000;
/** Sessions per statement: as many as a filter may list. */
const BATCH = MAX_FILTER_VALUES;

/** The figures of a session with no events: what an ungrouped answer over nothing says. */
const NOTHING: Figures = Object.fromEntries(SESSION_FIGURES.map((m) => [m, 'sql' in METRICS[m]! ? 0 : null]));
/** A stored row's type, for from_json. */
const ROW_TYPE = JSON.stringify([
  { user_id: 'VARCHAR', session_id: 'VARCHAR', ...Object.fromEntries(SESSION_FIGURES.map((m) => [m, 'DOUBLE'])) },
]);

/** A session: its owner (the user whose key sent its events) and its id. Two users' sessions with one id are two sessions. */
export type SessionKey = { user_id: string; session_id: string };
/** A session's key as one string, for maps. */
export const keyOf = (s: SessionKey) => `${s.user_id}\u0000${s.session_id}`;

/**
 * Stores the figures of up to BATCH quiet indexed sessions that have none (the latest
 * first), counted up to the watermark; returns how many. Runs in the worker's transaction.
 */
export async function storeSessionFigures(tx: Queryable, settings: TenantSettings, now: number): Promise<number> {
  const { last_seq: lastSeq } = (await tx.get<{ last_seq: number }>(`SELECT last_seq FROM rollup_state`))!;
  const missing = await tx.all<Spanned>(
    `SELECT i.user_id, i.session_id, epoch_ms(first_ts) AS first_ms, epoch_ms(last_ts) AS last_ms FROM session_index i
      WHERE last_ts < ${tsLiteral(now - QUIET_MS)} AND (user_id, session_id) NOT IN (SELECT user_id, session_id FROM session_figures)
      ORDER BY last_ts DESC LIMIT ${BATCH}`,
  );
  if (!missing.length) return 0;
  const q = figuresQuery(SESSION_FIGURES, missing);
  const { sql, params } = compile(q, {
    lastSeq: Number(lastSeq),
    keptSince: keptSince(settings.retention, now, settings.applied),
    tail: null,
  });
  const figures = byKey(resultOf(await tx.all(sql, params), q).rows);
  const rows = missing.map((s) => ({
    ...(figures.get(keyOf(s)) ?? NOTHING),
    user_id: s.user_id,
    session_id: s.session_id,
  }));
  await tx.run(
    `INSERT INTO session_figures BY NAME SELECT unnest(from_json($rows, '${ROW_TYPE}'), recursive := true)`,
    { rows: JSON.stringify(rows) },
  );
  return missing.length;
}

/** A session and its span (epoch ms). */
export type Spanned = SessionKey & { first_ms: number; last_ms: number };

/**
 * The question for the figures of `sessions` (at most as many as a filter may list), a row
 * per user and session: over the hull of their spans, whatever its length. Their users and
 * ids are filtered apart, so the answer may hold other pairs too (see byKey).
 */
export function figuresQuery(metrics: readonly SessionFigure[], sessions: Spanned[]): Query {
  const from = Math.min(...sessions.map((s) => Number(s.first_ms)));
  const to = Math.max(...sessions.map((s) => Number(s.last_ms))) + 1;
  const filters = {
    user: [...new Set(sessions.map((s) => s.user_id))],
    session: [...new Set(sessions.map((s) => s.session_id))],
  };
  return sessionQuerySchema.parse({
    metrics: [...metrics],
    group_by: ['user', 'session'],
    filters,
    from,
    to,
    limit: MAX_ROWS,
  });
}

/** The rows of a figuresQuery answer by session key, without their key columns. */
export function byKey(rows: Record<string, string | number | null>[]): Map<string, Figures> {
  return new Map(
    rows.map(({ user, session, ...f }) => [
      keyOf({ user_id: String(user), session_id: String(session) }),
      f as Figures,
    ]),
  );
}

/** Deletes the stored figures of the sessions with events matching `where` (their figures are about to change). */
export const forgetFiguresSql = (where: string) =>
  `DELETE FROM session_figures WHERE (user_id, session_id) IN (SELECT user_id, session_id FROM events WHERE ${where} AND session_id IS NOT NULL)`;

/** SQL: the figures in `metrics` of the session_figures row `alias`, as columns (null when there is none). */
export const figureColumns = (alias: string, metrics: readonly SessionFigure[]) =>
  metrics.map((m) => `${alias}.${m}`).join(', ');

/** Of a row holding figureColumns, the figures in `metrics`. */
export const pickFigures = (row: Record<string, unknown>, metrics: readonly SessionFigure[]): Figures =>
  Object.fromEntries(metrics.map((m) => [m, row[m] ?? null])) as Figures;
