// What is stored of sessions, and when it is true: the session index (each session's span,
// project and counted events, kept by the worker as it rolls events up), and each quiet
// session's figures as the query model answers them (so a page, the list and a score read one
// row instead of counting its events). One rule says when a stored row may be read
// (validFigures) and one function forgets rows that stopped being true (invalidate).
import { keptSince, type TenantSettings } from '../aggregate/settings.js';
import { ABOVE_WATERMARK, tsLiteral } from '../aggregate/rollup.js';
import { compile } from '../query/compile.js';
import { MAX_FILTER_VALUES, SPEND_REQUEST_SQL } from '../query/model.js';
import { resultOf } from '../query/result.js';
import type { Queryable } from '../storage/duckdb.js';
import { byKey, FIGURES_ROW_TYPE, figuresQuery, keyOf, NO_FIGURES, SESSION_FIGURES, type Spanned } from './figures.js';

/** How long a session goes without events before its figures are stored (an active one would be stored again every pass). */
export const QUIET_MS = 120_000;
/** Sessions per statement: as many as a filter may list. */
const BATCH = MAX_FILTER_VALUES;

/** SQL: the sessions with events the worker has not rolled up yet (above the watermark). */
export const UNROLLED_SESSIONS = `SELECT DISTINCT user_id, session_id FROM events WHERE ${ABOVE_WATERMARK} AND session_id IS NOT NULL`;

/**
 * SQL: the stored figures that are their session's figures now; every reader reads them so.
 * A row is stored once its session is quiet, counted up to the watermark; invalidate()
 * deletes it when an event of the session is rolled up or removed, or the prices change.
 * Events above the watermark are not in it yet: while its session has any, it is not read.
 * `unrolled`: UNROLLED_SESSIONS, or a relation the caller already made of it.
 */
export const validFigures = (unrolled = `(${UNROLLED_SESSIONS})`) =>
  `(SELECT * FROM session_figures WHERE (user_id, session_id) NOT IN (SELECT user_id, session_id FROM ${unrolled}))`;

/** What makes stored session rows untrue: events of `sessions` (SQL giving user_id, session_id) rolled up or removed, or new prices. */
export type Change = { sessions: string } | { prices: true };

/**
 * Forgets what is stored of sessions that `change` made untrue; the worker stores it again
 * once they are quiet. Events change a session's figures and its score (cleared, to be scored
 * again against the same baseline); prices change every session's cost, never a score.
 */
export async function invalidate(tx: Queryable, change: Change): Promise<void> {
  if ('prices' in change) {
    await tx.run('DELETE FROM session_figures');
    return;
  }
  await tx.run(`DELETE FROM session_figures WHERE (user_id, session_id) IN (${change.sessions})`);
  await tx.run(`UPDATE session_scores SET score = NULL, trend = NULL, velocity = NULL, code_output = NULL, success = NULL, focus = NULL, agent_efficiency = NULL, scored_at = NULL
    WHERE (user_id, session_id) IN (${change.sessions})`);
}

/** Deletes the scores matching `where` (over session_scores): the worker scores those sessions anew, baseline and all. */
export async function forgetScores(tx: Queryable, where: string, params: Record<string, unknown>): Promise<void> {
  await tx.run(`DELETE FROM session_scores WHERE ${where}`, params);
}

/** SQL: the sessions of the events matching `where`. */
export const sessionsOfEvents = (where: string) =>
  `SELECT user_id, session_id FROM events WHERE ${where} AND session_id IS NOT NULL`;

/**
 * Indexes the sessions of the events in `range` (SQL over `events`), of which `counted` (a
 * table of seq) are counted. A session is its user's (the key that sent its events): two
 * users' sessions with one id are two. Its span covers every event it stored, repeats
 * included (a timeline lists them, and reads only the span); its count, the counted events.
 */
export async function indexSessions(tx: Queryable, range: string, counted: string): Promise<void> {
  const isCounted = `seq IN (SELECT seq FROM ${counted})`;
  await tx.run(`INSERT INTO session_index (user_id, session_id, project, first_ts, last_ts, events, requests)
    SELECT user_id, session_id, arg_min(project, seq) FILTER (project IS NOT NULL), min(ts), max(ts), count(*) FILTER (${isCounted}),
           count(*) FILTER (${isCounted} AND ${SPEND_REQUEST_SQL})
      FROM events WHERE ${range} AND session_id IS NOT NULL GROUP BY user_id, session_id
    ON CONFLICT (user_id, session_id) DO UPDATE SET first_ts = least(first_ts, excluded.first_ts), last_ts = greatest(last_ts, excluded.last_ts),
      events = events + excluded.events, requests = requests + excluded.requests, project = coalesce(project, excluded.project)`);
}

/** Deletes the sessions whose last event is before `before` (their hourly figures are gone), with what is stored of them. */
export async function expireSessions(db: Queryable, before: number): Promise<void> {
  await db.run(`DELETE FROM session_index WHERE last_ts < ${tsLiteral(before)}`);
  for (const table of ['session_figures', 'session_scores'])
    await db.run(
      `DELETE FROM ${table} WHERE (user_id, session_id) NOT IN (SELECT user_id, session_id FROM session_index)`,
    );
}

/** What sessionsRemoved reads of the events removed and revived: their session, and whether each is a request (SPEND_REQUEST_SQL). */
const REMOVAL_COLUMNS =
  'user_id, session_id, ts, seq, kind, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd';

/**
 * After events were removed (aggregate/remove.ts; `removed` the events, `counted` those the
 * rollups counted, `revived` repeats counted from now on, all tables; events left up to
 * `lastSeq` in `events`): their sessions' counts and spans follow, a session with nothing
 * left goes (with its score), and what is stored of the others is invalidated.
 */
export async function sessionsRemoved(
  tx: Queryable,
  t: { removed: string; counted: string; revived: string },
  lastSeq: number,
): Promise<void> {
  await tx.run(`CREATE OR REPLACE TEMP TABLE removal_sessions AS
    SELECT user_id, session_id, epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi,
           count(*) FILTER (seq IN (SELECT seq FROM ${t.counted})) AS gone,
           count(*) FILTER (seq IN (SELECT seq FROM ${t.revived})) AS back,
           count(*) FILTER (seq IN (SELECT seq FROM ${t.counted}) AND ${SPEND_REQUEST_SQL}) AS gone_requests,
           count(*) FILTER (seq IN (SELECT seq FROM ${t.revived}) AND ${SPEND_REQUEST_SQL}) AS back_requests
      FROM (SELECT ${REMOVAL_COLUMNS} FROM ${t.removed} WHERE seq <= ${lastSeq} UNION ALL SELECT ${REMOVAL_COLUMNS} FROM ${t.revived})
     WHERE session_id IS NOT NULL GROUP BY user_id, session_id`);
  const sessions = `SELECT user_id, session_id FROM removal_sessions`;
  await tx.run(`CREATE OR REPLACE TEMP TABLE removal_left AS
    SELECT user_id, session_id, min(ts) AS first_ts, max(ts) AS last_ts FROM events
     WHERE seq <= ${lastSeq} AND (user_id, session_id) IN (${sessions}) GROUP BY user_id, session_id`);
  // A bound the removed events did not set stays (the raw events behind it may be past retention).
  await tx.run(`UPDATE session_index i SET events = i.events - r.gone + r.back, requests = i.requests - r.gone_requests + r.back_requests,
      first_ts = CASE WHEN epoch_ms(i.first_ts) < r.lo THEN i.first_ts ELSE coalesce(l.first_ts, i.first_ts) END,
      last_ts = CASE WHEN epoch_ms(i.last_ts) > r.hi THEN i.last_ts ELSE coalesce(l.last_ts, i.last_ts) END
    FROM removal_sessions r LEFT JOIN removal_left l ON l.user_id = r.user_id AND l.session_id = r.session_id
   WHERE i.user_id = r.user_id AND i.session_id = r.session_id`);
  const empty = `(SELECT i.user_id, i.session_id FROM session_index i JOIN removal_sessions r USING (user_id, session_id)
     WHERE i.events <= 0 AND (i.user_id, i.session_id) NOT IN (SELECT user_id, session_id FROM removal_left))`;
  await tx.run(`DELETE FROM session_scores WHERE (user_id, session_id) IN ${empty}`);
  await tx.run(`DELETE FROM session_index WHERE (user_id, session_id) IN ${empty}`);
  await invalidate(tx, { sessions });
  await tx.run(`DROP TABLE removal_sessions`);
  await tx.run(`DROP TABLE removal_left`);
}

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
    ...(figures.get(keyOf(s)) ?? NO_FIGURES),
    user_id: s.user_id,
    session_id: s.session_id,
  }));
  await tx.run(
    `INSERT INTO session_figures BY NAME SELECT unnest(from_json($rows, '${FIGURES_ROW_TYPE}'), recursive := true)`,
    { rows: JSON.stringify(rows) },
  );
  return missing.length;
}
