// The figures of a session over its whole life, named once: which are stored of each session
// (a column of session_figures each), and which the list, the session's page, the API and the
// score show. Every list of figures, their columns, SQL and types derive from FIGURES; the
// question that counts them is the query model's (figuresQuery).
import { MAX_FILTER_VALUES, MAX_ROWS, METRICS, sessionQuerySchema, type Query } from '../query/model.js';
import { runQuery } from '../query/run.js';
import type { TenantFiles } from '../storage/tenant-files.js';

/** Who shows a figure: the sessions list (and its export), a session's page, the session API, the productivity score. */
type Use = 'list' | 'page' | 'api' | 'score';

/**
 * Every figure stored of a session (a metric of the query model each), in the order they are
 * shown, with who shows it. Adding one takes a migration that adds its column to
 * session_figures and empties the table (the worker stores every session again).
 */
const FIGURES = {
  prompts: ['list', 'page', 'api'],
  tool_calls: ['list', 'page', 'api', 'score'],
  tool_failures: ['list', 'page', 'api', 'score'],
  tool_p50_ms: ['api'],
  tool_p95_ms: ['api'],
  api_requests: ['list', 'page', 'api'],
  api_errors: ['page', 'api'],
  subagents: ['list', 'page', 'api'],
  agents_used: ['score'],
  commands: ['api', 'score'],
  command_failures: ['score'],
  input_tokens: ['api'],
  output_tokens: ['api'],
  cache_read_tokens: ['api'],
  cache_creation_tokens: ['api'],
  tokens: ['list', 'page'],
  cost_usd: ['list', 'page', 'api'],
  lines_added: ['list', 'page', 'api', 'score'],
  lines_removed: ['list', 'page', 'api', 'score'],
  edit_lines_added: ['page', 'score'],
  edit_lines_removed: ['page', 'score'],
  commits: ['api'],
  pull_requests: ['api'],
} as const satisfies Record<string, readonly Use[]>;

export type SessionFigure = keyof typeof FIGURES;
export type Figures = Partial<Record<SessionFigure, number | null>>;
/** The figures `use` shows, as a type. */
type FigureOf<U extends Use> = {
  [F in SessionFigure]: U extends (typeof FIGURES)[F][number] ? F : never;
}[SessionFigure];

const figuresFor = <U extends Use>(use: U) =>
  (Object.keys(FIGURES) as SessionFigure[]).filter((f) =>
    (FIGURES[f] as readonly Use[]).includes(use),
  ) as FigureOf<U>[];

/** Every stored figure: a column of session_figures each. */
export const SESSION_FIGURES = Object.keys(FIGURES) as SessionFigure[];
/** The figures the sessions list gives each session (and its export, in this order). */
export const LIST_FIGURES = figuresFor('list');
export type ListFigure = FigureOf<'list'>;
/** The figures a session's page shows. */
export const PAGE_FIGURES = figuresFor('page');
/** The figures the session API (`GET /api/v1/sessions/:id`) gives. */
export const API_FIGURES = figuresFor('api');
/** The figures a productivity score is made of. */
export const SCORE_FIGURES = figuresFor('score');
export type ScoreFigure = FigureOf<'score'>;

/** The figures of a session with no events: what an ungrouped answer over nothing says. */
export const NO_FIGURES: Figures = Object.fromEntries(SESSION_FIGURES.map((m) => [m, 'sql' in METRICS[m]! ? 0 : null]));
/** A stored row's type, for from_json. */
export const FIGURES_ROW_TYPE = JSON.stringify([
  { user_id: 'VARCHAR', session_id: 'VARCHAR', ...Object.fromEntries(SESSION_FIGURES.map((m) => [m, 'DOUBLE'])) },
]);

/** A session: its owner (the user whose key sent its events) and its id. Two users' sessions with one id are two sessions. */
export type SessionKey = { user_id: string; session_id: string };
/** A session's key as one string, for maps. */
export const keyOf = (s: SessionKey) => `${s.user_id}\u0000${s.session_id}`;

/** A session and its span (epoch ms). */
export type Spanned = SessionKey & { first_ms: number; last_ms: number };

const DAY = 86_400_000;

/**
 * The range a question about whole sessions is asked over: their span (first to last event)
 * widened to whole UTC days. Filtered to those sessions, which hold no event outside their
 * spans, the answer is the same; but the planner then reads whole buckets of the tiers and
 * no raw edges, which retention deletes long before the tiers (a session's figures asked
 * again 90 days on, after a price change, lost the events of its first and last minutes).
 */
export const sessionRange = (first: number, last: number) => ({
  from: Math.floor(first / DAY) * DAY,
  to: Math.floor(last / DAY) * DAY + DAY,
});

/**
 * The question for the figures of `sessions` (at most as many as a filter may list), a row
 * per user and session: over the hull of their spans (sessionRange), whatever its length.
 * Their users and ids are filtered apart, so the answer may hold other pairs too (see byKey).
 */
export function figuresQuery(metrics: readonly string[], sessions: Spanned[]): Query {
  const { from, to } = sessionRange(
    Math.min(...sessions.map((s) => Number(s.first_ms))),
    Math.max(...sessions.map((s) => Number(s.last_ms))),
  );
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

/**
 * The query model's figures of `sessions` by session key, asked MAX_FILTER_VALUES sessions at a
 * time (as many as a filter may list: a page or a batch may hold more). Only the asked sessions'
 * rows are kept: another pair an answer holds was counted over that question's span only.
 */
export async function askFigures(
  tf: TenantFiles,
  tenantId: string,
  metrics: readonly string[],
  sessions: Spanned[],
  now: number,
): Promise<Map<string, Figures & { events?: number | null }>> {
  const out = new Map<string, Figures>();
  for (let i = 0; i < sessions.length; i += MAX_FILTER_VALUES) {
    const some = sessions.slice(i, i + MAX_FILTER_VALUES);
    const answered = byKey((await runQuery(tf, tenantId, figuresQuery(metrics, some), { now })).rows);
    for (const s of some) {
      const f = answered.get(keyOf(s));
      if (f) out.set(keyOf(s), f);
    }
  }
  return out;
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

/** SQL: the figures in `metrics` of the session_figures row `alias`, as columns (null when there is none). */
export const figureColumns = (alias: string, metrics: readonly SessionFigure[]) =>
  metrics.map((m) => `${alias}.${m}`).join(', ');

/** Of a row holding figureColumns, the figures in `metrics`. */
export const pickFigures = (row: Record<string, unknown>, metrics: readonly SessionFigure[]): Figures =>
  Object.fromEntries(metrics.map((m) => [m, row[m] ?? null])) as Figures;
