// The sessions pages: the list (newest activity first, a page at a time, each session with
// its productivity score) and one session (its figures, its timeline as a person reads it,
// its score against its owner's baseline and what each factor of it is made of).
import type { TenantFiles } from '../storage/tenant-files.js';
import type { MetricsView } from '../auth/scope.js';
import { sessionScores, type SessionScore } from '../sessions/scores.js';
import { MAX_ROWS, type QueryInput } from '../query/model.js';
import {
  BadCursorError,
  findSession,
  listSessions,
  sessionSpan,
  sessionTotals,
  type SessionRow,
} from '../sessions/read.js';
import { sessionTimeline, timelineCursor, type TimelineCursor, type TimelineEvent } from '../sessions/timeline.js';
import { keyOf, PAGE_FIGURES as TOTALS } from '../sessions/figures.js';
import { usedFilters, type Filters } from './filters.js';
import { explainScore, type ScoreExplained } from './score-explained.js';
import { ms } from './format.js';

/** Prompts and commands as a table shows them; the title attribute holds a longer cut. */
const SHORT = 240;
const LONG = 2000;

export type ListedSession = SessionRow & { score: SessionScore | null };

/** Productivity scores of listed sessions by session key. */
export async function scoresFor(
  tf: TenantFiles,
  tenantId: string,
  sessions: SessionRow[],
  now: number,
): Promise<Map<string, SessionScore>> {
  return sessionScores(
    tf,
    tenantId,
    sessions.map((s) => ({
      user_id: s.user_id,
      session_id: s.session_id,
      project: s.project,
      first_ms: Date.parse(s.first_at),
      last_ms: Date.parse(s.last_at),
    })),
    now,
  );
}

export type SessionList = {
  sessions: ListedSession[];
  nextCursor: string | null;
  /** This is a later page (a cursor was followed). */
  older: boolean;
  notices: string[];
  /** The list as the sessions API exports it (every page), for its export links. */
  exportPath: string;
};

export async function loadSessionList(
  tf: TenantFiles,
  tenantId: string,
  f: Filters,
  view: MetricsView,
  o: { cursor?: string; limit: number; now: number },
): Promise<SessionList> {
  const notices = usedNotices(f);
  const user = view.ownUser ? [view.ownUser] : f.values.user ? [f.values.user] : undefined;
  const project = f.values.project ? [f.values.project] : undefined;
  const ask = (cursor?: string) =>
    listSessions(tf, tenantId, {
      from: f.from,
      to: f.to,
      user,
      project,
      ...usedFilters(f),
      cursor,
      limit: o.limit,
      now: o.now,
    });
  let older = o.cursor !== undefined;
  const page = await ask(o.cursor).catch((err: unknown) => {
    if (!(err instanceof BadCursorError)) throw err;
    notices.push('That page link is not one this server gave out; showing the newest sessions.');
    older = false;
    return ask();
  });
  if (page.used_truncated)
    notices.push(
      `More than ${MAX_ROWS.toLocaleString('en')} sessions match the tool or model filter; the list holds the ${MAX_ROWS.toLocaleString('en')} that used it most.`,
    );
  const scores = await scoresFor(tf, tenantId, page.sessions, o.now);
  const exportSearch = new URLSearchParams({ from: new Date(f.from).toISOString(), to: new Date(f.to).toISOString() });
  for (const [name, values] of Object.entries({ user, project, ...usedFilters(f) }))
    for (const v of values ?? []) exportSearch.append(name, v);
  return {
    sessions: page.sessions.map((s) => ({ ...s, score: scores.get(keyOf(s)) ?? null })),
    nextCursor: page.next_cursor,
    older,
    notices,
    exportPath: `/api/v1/sessions?${exportSearch}`,
  };
}

/** What a list narrowed by usedFilters says of itself. */
function usedNotices(f: Filters): string[] {
  const used = [
    f.values.tool && `a tool call of “${f.values.tool}”`,
    f.values.model && `a request of model “${f.values.model}”`,
  ].filter(Boolean);
  return used.length
    ? [`Only the sessions with ${used.join(' and ')} in this range; their figures are the whole sessions’.`]
    : [];
}

/** One timeline event as the page shows it: every string still raw (the view escapes). */
export type TimelineItem = {
  seq: number;
  at: string;
  kind: string;
  /** What happened, in words ("Prompt", "Tool call", "Sub-agent started"). */
  label: string;
  /** The tool, agent type, model or event name. */
  name: string | null;
  /** The prompt, command or file, cut to a table's width; `full` is a longer cut for its title. */
  text: string | null;
  full: string | null;
  outcome: 'ok' | 'failed' | null;
  error: string | null;
  duration_ms: number | null;
  model: string | null;
  tokens: number | null;
  cost_usd: number | null;
};

export type SessionPage = {
  id: string;
  userId: string;
  project: string | null;
  firstAt: string;
  lastAt: string;
  durationMs: number;
  totals: Record<string, number>;
  items: TimelineItem[];
  /** Where this page of the timeline began (null: from the start) and where the next begins. */
  after: string | null;
  nextAfter: string | null;
  score: SessionScore | null;
  /** The score in words, factor by factor. */
  explained: ScoreExplained | null;
  notices: string[];
  query: QueryInput;
};

/**
 * One session as `view` may see it (`user` says whose, when several people sent the same
 * id), or null when there is no such session for this caller: a developer's colleague's
 * session does not exist, as far as they can tell. When several people have a session
 * with this id and no user was given, their ids, to choose from.
 */
export async function loadSession(
  tf: TenantFiles,
  tenantId: string,
  sessionId: string,
  view: MetricsView,
  o: { user?: string; after?: string; limit: number; now: number },
): Promise<SessionPage | { owners: string[] } | null> {
  if (!view.individuals || sessionId.length > 200 || (o.user?.length ?? 0) > 200) return null;
  const found = await findSession(tf, tenantId, sessionId, { ownUser: view.ownUser, user: o.user });
  if (!found || 'owners' in found) return found;
  const notices: string[] = [];
  let after = o.after ?? null;
  let cursor: TimelineCursor | null = null;
  try {
    cursor = timelineCursor(o.after);
  } catch (err) {
    if (!(err instanceof BadCursorError)) throw err;
    notices.push('That timeline link is not one this server gave out; showing the session from its start.');
    after = null;
  }
  const span = await sessionSpan(tf, tenantId, found);
  if (!span) return null;
  // The events, the figures (unless stored) and the score side by side, on the tenant's two readers.
  const [timeline, row, scores] = await Promise.all([
    sessionTimeline(tf, tenantId, found, span, { after: cursor, limit: o.limit, asRead: true }),
    sessionTotals(tf, tenantId, found, span, TOTALS, o.now),
    sessionScores(tf, tenantId, [{ ...found, project: span.project, first_ms: span.first, last_ms: span.last }], o.now),
  ]);
  const score = scores.get(keyOf(found)) ?? null;
  const query: QueryInput = {
    metrics: [...TOTALS],
    filters: { user: [found.user_id], session: [sessionId] },
    from: span.first,
    to: span.last + 1,
  };
  const first = span.first;
  const last = span.last;
  return {
    id: sessionId,
    userId: span.user_id,
    project: span.project,
    firstAt: new Date(first).toISOString(),
    lastAt: new Date(last).toISOString(),
    durationMs: last - first,
    totals: Object.fromEntries(TOTALS.map((m) => [m, Number(row?.[m] ?? 0)])),
    items: timelineItems(JSON.parse(timeline.eventsJson) as TimelineEvent[]),
    after,
    nextAfter: timeline.next_after,
    score,
    explained: score ? explainScore(score) : null,
    notices,
    query,
  };
}

/** Cuts `s` to `max` characters (whole code points), marking the cut. */
export function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join('')}…`;
}

/** An attribute as the entry point kept it: top level (hooks, REST) or under `attributes` (OTLP). */
function attribute(e: TimelineEvent, key: string): unknown {
  const a = e.attributes;
  if (!a || typeof a !== 'object') return undefined;
  const top = (a as Record<string, unknown>)[key];
  if (top !== undefined) return top;
  const nested = (a as Record<string, unknown>).attributes;
  return nested && typeof nested === 'object' ? (nested as Record<string, unknown>)[key] : undefined;
}

const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : null);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** What a tool call worked on: its command, file, pattern or description. */
function toolTarget(e: TimelineEvent): string | null {
  const input = attribute(e, 'tool_input');
  if (input && typeof input === 'object') {
    const i = input as Record<string, unknown>;
    for (const k of [
      'command',
      'file_path',
      'notebook_path',
      'pattern',
      'path',
      'url',
      'query',
      'description',
      'prompt',
    ]) {
      const v = text(i[k]);
      if (v) return v;
    }
  }
  return text(attribute(e, 'tool_parameters'));
}

const LABELS: Record<string, string> = {
  session_start: 'Session started',
  session_end: 'Session ended',
  session_update: 'Session updated',
  prompt: 'Prompt',
  tool_start: 'Tool started',
  tool_call: 'Tool call',
  tool_decision: 'Permission',
  subagent_start: 'Sub-agent started',
  subagent_stop: 'Sub-agent finished',
  api_request: 'API request',
  api_error: 'API error',
  token_usage: 'Tokens',
  cost_usage: 'Cost',
  lines: 'Lines changed',
  commit: 'Commit',
  pull_request: 'Pull request',
  active_time: 'Active time',
  command: 'Command',
  agent_interaction: 'Agent',
  productivity: 'Productivity',
  other: 'Event',
};

/**
 * The timeline's events as rows. A tool's start is left out when its result is on the
 * same page (the result says all the start did); a start without one stays, as a call
 * still running or one that never reported back.
 */
export function timelineItems(events: TimelineEvent[]): TimelineItem[] {
  const finished = new Set(
    events.filter((e) => e.kind === 'tool_call' && typeof e.tool_use_id === 'string').map((e) => String(e.tool_use_id)),
  );
  return events
    .filter((e) => !(e.kind === 'tool_start' && typeof e.tool_use_id === 'string' && finished.has(e.tool_use_id)))
    .map((e) => {
      const status = text(e.status);
      const failed = status === 'failure' || status === 'error' || status === 'timeout';
      const judged = ['tool_call', 'command', 'agent_interaction'].includes(e.kind);
      let body: string | null = null;
      if (e.kind === 'prompt') body = text(attribute(e, 'prompt'));
      else if (e.kind === 'tool_call' || e.kind === 'tool_start') body = toolTarget(e);
      else if (e.kind === 'session_start') body = text(attribute(e, 'source'));
      else if (e.kind === 'session_end') body = status;
      else if (e.kind === 'lines') body = `+${num(e.lines_added) ?? 0} −${num(e.lines_removed) ?? 0}`;
      else if (e.kind === 'tool_decision') body = status;
      else if (e.kind === 'active_time' && num(e.value) !== null) body = ms(num(e.value)! * 1000);
      const tokens = ['input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_creation_tokens'].reduce<
        number | null
      >((sum, k) => (num(e[k]) === null ? sum : (sum ?? 0) + num(e[k])!), null);
      const error = text(e.error);
      return {
        seq: e.seq,
        at: e.at,
        kind: e.kind,
        label: LABELS[e.kind] ?? e.kind,
        // Hooks name these by their event (SessionStart, UserPromptSubmit): the label says it.
        name: ['api_request', 'api_error', 'session_start', 'session_end', 'prompt'].includes(e.kind)
          ? null
          : text(e.name),
        text: body === null ? null : truncate(body, SHORT),
        full: body === null ? null : truncate(body, LONG),
        outcome:
          judged && status
            ? failed
              ? 'failed'
              : status === 'success'
                ? 'ok'
                : null
            : e.kind === 'api_error'
              ? 'failed'
              : null,
        error: error === null ? null : truncate(error, SHORT),
        duration_ms: num(e.duration_ms),
        model: text(e.model),
        tokens,
        cost_usd: num(e.cost_usd),
      };
    });
}
