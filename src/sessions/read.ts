// Reading sessions: the list (from the index, newest activity first, cursor-paginated, with
// each session's figures, stored or from the query model; narrowed to those that used a tool
// or model), one session's owner, span and figures (its timeline: timeline.ts), and a user's
// last event (is their agent connected?).
import type { TenantFiles } from '../storage/tenant-files.js';
import { ABOVE_WATERMARK } from '../aggregate/rollup.js';
import { inList } from '../storage/sql.js';
import { keptRows } from '../storage/kept-reads.js';
import {
  MAX_ROWS,
  PARTIAL_FILTER_NAMES,
  PARTIAL_FILTERS,
  querySchema,
  sessionQuerySchema,
  type PartialFilter,
} from '../query/model.js';
import { runQueries, runQuery } from '../query/run.js';
import {
  askFigures,
  figureColumns,
  keyOf,
  LIST_FIGURES,
  pickFigures,
  SESSION_FIGURES,
  sessionRange,
  type Figures,
  type ListFigure,
  type SessionFigure,
  type SessionKey,
} from './figures.js';
import { UNROLLED_SESSIONS, validFigures } from './store.js';

/** `tool` and `model` keep the sessions that used one of them in range (see sessionsUsing). */
export type SessionListOptions = { from: number; to: number; user?: string[]; project?: string[] } & Partial<
  Record<PartialFilter, string[]>
> & { cursor?: string; limit: number; now: number };

export type SessionRow = {
  session_id: string;
  user_id: string;
  project: string | null;
  first_at: string;
  last_at: string;
  duration_s: number;
  events: number;
} & Record<ListFigure, number>;

export class BadCursorError extends Error {}

/** The latest time a JavaScript Date holds (epoch ms). */
export const MAX_DATE_MS = 8.64e15;

const encodeCursor = (lastMs: number, id: string, user: string) =>
  Buffer.from(JSON.stringify([lastMs, id, user])).toString('base64url');
function decodeCursor(cursor: string): [number, string, string] {
  try {
    const [ms, id, user] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [unknown, unknown, unknown];
    // What this server gives out: a time a Date holds, and ids no longer than a session's.
    if (
      Number.isSafeInteger(ms) &&
      Math.abs(ms as number) <= MAX_DATE_MS &&
      typeof id === 'string' &&
      typeof user === 'string' &&
      id.length <= 200 &&
      user.length <= 200
    )
      return [ms as number, id, user];
  } catch {
    /* falls through */
  }
  throw new BadCursorError('cursor: not one this server gave out');
}

/**
 * The sessions that used `o`'s tools and models in its range, from the query model: those
 * with a tool call of one of the tools and with a row of one of the models (a request, an
 * API error, a token or cost point). Null when neither is asked. At most MAX_ROWS of them
 * (the busiest): `truncated` says there were more.
 */
async function sessionsUsing(
  tf: TenantFiles,
  tenantId: string,
  o: SessionListOptions,
): Promise<{ keys: SessionKey[]; truncated: boolean } | null> {
  const asked = PARTIAL_FILTER_NAMES.filter((d) => o[d]);
  if (!asked.length) return null;
  const scope = { ...(o.user && { user: o.user }), ...(o.project && { project: o.project }) };
  const qs = asked.map((d) =>
    querySchema.parse({
      metrics: ['events'],
      group_by: ['user', 'session'],
      filters: { ...scope, [d]: o[d], kind: [...PARTIAL_FILTERS[d]] },
      from: o.from,
      to: o.to,
      limit: MAX_ROWS,
    }),
  );
  const results = await runQueries(tf, tenantId, qs, { now: o.now });
  const keysOf = (r: (typeof results)[number]) =>
    new Map(
      r.rows
        .filter((row) => typeof row.session === 'string')
        .map((row) => [
          keyOf({ user_id: String(row.user), session_id: String(row.session) }),
          { user_id: String(row.user), session_id: String(row.session) },
        ]),
    );
  const [first, ...others] = results.map(keysOf);
  return {
    keys: [...first!].filter(([key]) => others.every((keys) => keys.has(key))).map(([, k]) => k),
    truncated: results.some((r) => r.truncated),
  };
}

export async function listSessions(
  tf: TenantFiles,
  tenantId: string,
  o: SessionListOptions,
): Promise<{ sessions: SessionRow[]; next_cursor: string | null; used_truncated?: true }> {
  const file = await tf.open(tenantId);
  const reader = await tf.connection(tenantId, 'reader');
  const where = ['last_ts >= make_timestamp($from * 1000)', 'first_ts < make_timestamp($to * 1000)'];
  const params: Record<string, unknown> = { from: o.from, to: o.to, limit: o.limit + 1 };
  for (const [col, values] of [
    ['user_id', o.user],
    ['project', o.project],
  ] as const) {
    if (!values) continue;
    where.push(inList(col, values, params, col));
  }
  const using = await sessionsUsing(tf, tenantId, o);
  if (using) {
    params.using = JSON.stringify(using.keys);
    where.push(
      `(user_id, session_id) IN (SELECT user_id, session_id FROM (SELECT unnest(from_json($using, '[{"user_id":"VARCHAR","session_id":"VARCHAR"}]'), recursive := true)))`,
    );
  }
  if (o.cursor) {
    const [ms, id, user] = decodeCursor(o.cursor);
    Object.assign(params, { cms: ms, cid: id, cuser: user });
    where.push(
      '(epoch_ms(last_ts) < $cms OR (epoch_ms(last_ts) = $cms AND (session_id < $cid OR (session_id = $cid AND user_id < $cuser))))',
    );
  }
  const rows = await keptRows<
    {
      session_id: string;
      user_id: string;
      project: string | null;
      first_ms: number;
      last_ms: number;
      events: number;
      stored: boolean;
    } & Figures
  >(
    file,
    reader,
    // The index holds what the worker rolled up; sessions begun or continued since come from
    // the unrolled tail, so a session shows the moment its first event is committed.
    `WITH tail AS (
       SELECT user_id, session_id, arg_min(project, seq) FILTER (project IS NOT NULL) AS project, min(ts) AS first_ts, max(ts) AS last_ts
         FROM events WHERE ${ABOVE_WATERMARK} AND session_id IS NOT NULL GROUP BY user_id, session_id
     ), sessions AS (
       -- The index's count holds for a stored session (it has no newer event); the others are counted below.
       SELECT user_id, session_id, coalesce(i.project, t.project) AS project,
              least(i.first_ts, t.first_ts) AS first_ts, greatest(i.last_ts, t.last_ts) AS last_ts, coalesce(i.events, 0) AS events
         FROM session_index i FULL OUTER JOIN tail t USING (user_id, session_id)
     ), page AS (
       SELECT * FROM sessions WHERE ${where.join(' AND ')} ORDER BY last_ts DESC, session_id DESC, user_id DESC LIMIT $limit
     )
     SELECT user_id, session_id, project, epoch_ms(first_ts) AS first_ms, epoch_ms(last_ts) AS last_ms, events, f.session_id IS NOT NULL AS stored, ${figureColumns('f', LIST_FIGURES)}
       FROM page LEFT JOIN ${validFigures('tail')} f USING (user_id, session_id) ORDER BY last_ts DESC, session_id DESC, user_id DESC`,
    params,
  );
  const page = rows.slice(0, o.limit);
  const figures = new Map<string, Figures & { events?: number | null }>(
    page.filter((r) => r.stored).map((r) => [keyOf(r), r]),
  );
  const unsettled = page.filter((r) => !r.stored);
  // Their events too: the tail above counts every row, a repeat the worker will not count included.
  for (const [key, f] of await askFigures(tf, tenantId, [...LIST_FIGURES, 'events'], unsettled, o.now))
    figures.set(key, f);
  const last = page.at(-1);
  return {
    sessions: page.map((r) => {
      const f = figures.get(keyOf(r)) ?? {};
      return {
        session_id: r.session_id,
        user_id: r.user_id,
        project: r.project,
        first_at: new Date(r.first_ms).toISOString(),
        last_at: new Date(r.last_ms).toISOString(),
        duration_s: (r.last_ms - r.first_ms) / 1000,
        // An unsettled session the query model has no row for holds only repeats: none counted.
        events: r.stored ? r.events : Number(f.events ?? 0),
        ...(Object.fromEntries(LIST_FIGURES.map((m) => [m, Number(f[m] ?? 0)])) as Record<ListFigure, number>),
      };
    }),
    next_cursor: rows.length > o.limit && last ? encodeCursor(last.last_ms, last.session_id, last.user_id) : null,
    ...(using?.truncated ? { used_truncated: true as const } : {}),
  };
}

/**
 * A session's figures over its whole life, from its span: the stored ones while they are
 * the whole story, else the query model's answer now.
 */
export async function sessionTotals(
  tf: TenantFiles,
  tenantId: string,
  session: SessionKey,
  span: SessionSpan,
  metrics: readonly SessionFigure[],
  now: number,
): Promise<Figures> {
  if (span.figures) return pickFigures(span.figures, metrics);
  const q = sessionQuerySchema.parse({
    metrics: [...metrics],
    filters: { user: [session.user_id], session: [session.session_id] },
    ...sessionRange(span.first, span.last),
  });
  return (await runQuery(tf, tenantId, q, { now })).rows[0] as Figures;
}

/**
 * When a session's first and last events happened (epoch ms), whose it is and its project;
 * its stored figures while they are valid (see validFigures), else null.
 */
export type SessionSpan = {
  first: number;
  last: number;
  user_id: string;
  project: string | null;
  figures: Figures | null;
};

/**
 * The users who have a session with this id (almost always one: ids are random, but a
 * client chooses them, so two people may send the same one and have two sessions).
 */
export async function sessionOwners(tf: TenantFiles, tenantId: string, sessionId: string): Promise<string[]> {
  const reader = await tf.connection(tenantId, 'reader');
  const rows = await reader.all<{ user_id: string }>(
    `SELECT user_id FROM session_index WHERE session_id = $id
     UNION SELECT user_id FROM events WHERE ${ABOVE_WATERMARK} AND session_id = $id ORDER BY user_id`,
    { id: sessionId },
  );
  return rows.map((r) => r.user_id);
}

/**
 * The session a caller means by an id: `ownUser`'s (a developer sees only their own), else
 * the one of `user` when asked, else the id's only owner. Null when there is none; the
 * owners when several people have a session with this id and no user was asked for.
 */
export async function findSession(
  tf: TenantFiles,
  tenantId: string,
  sessionId: string,
  o: { ownUser: string | null; user?: string },
): Promise<SessionKey | { owners: string[] } | null> {
  if (o.ownUser !== null)
    return o.user === undefined || o.user === o.ownUser ? { user_id: o.ownUser, session_id: sessionId } : null;
  if (o.user !== undefined) return { user_id: o.user, session_id: sessionId };
  const owners = await sessionOwners(tf, tenantId, sessionId);
  if (owners.length === 0) return null;
  return owners.length === 1 ? { user_id: owners[0]!, session_id: sessionId } : { owners };
}

/**
 * A session as its page needs it first: when its first and last events happened (the
 * index's span, widened by the events the worker has not indexed yet), its project, and
 * its stored figures. Null when there is no such session.
 */
export async function sessionSpan(tf: TenantFiles, tenantId: string, session: SessionKey): Promise<SessionSpan | null> {
  const reader = await tf.connection(tenantId, 'reader');
  type Recent = { recent_lo: number | null; recent_hi: number | null; recent_project: string | null };
  const recentOf = (where: string) =>
    `SELECT epoch_ms(min(ts)) AS recent_lo, epoch_ms(max(ts)) AS recent_hi, arg_min(project, seq) FILTER (project IS NOT NULL) AS recent_project
       FROM events WHERE user_id = $user AND session_id = $id AND ${where}`;
  type Indexed = {
    indexed: boolean;
    project: string | null;
    lo: number | null;
    hi: number | null;
    stored: boolean;
  };
  const params = { user: session.user_id, id: session.session_id };
  return reader.transaction(async (tx) => {
    // One statement for a session the index knows: its span there, its events above the watermark, its stored figures.
    const row = (await tx.get<Indexed & Recent & Figures>(
      `SELECT i.session_id IS NOT NULL AS indexed, i.project, epoch_ms(i.first_ts) AS lo, epoch_ms(i.last_ts) AS hi, f.session_id IS NOT NULL AS stored, ${figureColumns('f', SESSION_FIGURES)}, r.*
         FROM (${recentOf(ABOVE_WATERMARK)}) r
         LEFT JOIN session_index i ON i.user_id = $user AND i.session_id = $id
         LEFT JOIN ${validFigures(`(SELECT * FROM (${UNROLLED_SESSIONS}) WHERE user_id = $user AND session_id = $id)`)} f ON f.user_id = $user AND f.session_id = $id`,
      params,
    ))!;
    // A session the index does not know yet: all of its events are above the watermark.
    const recent = row.indexed ? row : (await tx.get<Recent>(recentOf('true'), params))!;
    const bounds = [row.lo, row.hi, recent.recent_lo, recent.recent_hi].filter((v) => v !== null).map(Number);
    if (!bounds.length) return null;
    return {
      first: Math.min(...bounds),
      last: Math.max(...bounds),
      user_id: session.user_id,
      project: row.indexed ? row.project : recent.recent_project,
      figures: row.stored ? pickFigures(row, SESSION_FIGURES) : null,
    };
  });
}

export type LastEvent = {
  kind: string;
  name: string | null;
  source: string;
  session_id: string | null;
  ts: string;
  received_at: string;
};

/** The newest event `userId` sent (the highest seq: the last committed), or null when they sent none. */
export async function lastEvent(tf: TenantFiles, tenantId: string, userId: string): Promise<LastEvent | null> {
  const reader = await tf.connection(tenantId, 'reader');
  const row = await reader.get<{
    kind: string;
    name: string | null;
    source: string;
    session_id: string | null;
    ts_ms: number;
    received_ms: number;
  }>(
    `SELECT kind, name, source, session_id, epoch_ms(ts) AS ts_ms, epoch_ms(received_at) AS received_ms
       FROM events WHERE user_id = $user ORDER BY seq DESC LIMIT 1`,
    { user: userId },
  );
  if (!row) return null;
  return {
    kind: row.kind,
    name: row.name,
    source: row.source,
    session_id: row.session_id,
    ts: new Date(Number(row.ts_ms)).toISOString(),
    received_at: new Date(Number(row.received_ms)).toISOString(),
  };
}
