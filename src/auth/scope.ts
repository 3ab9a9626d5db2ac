// Data scope: how much of its tenant's metrics a person may see (a developer their own data,
// a viewer team figures only) and a question's filters narrowed to it. A refusal is a
// NotAllowedError, which the web layer answers with 403 and the MCP tools as an error result.
import { can, type Actor } from './permissions.js';

/** The caller of a scoped question: anything holding the person (an identity, a session). */
export type Caller = { user: Actor & { id: string } };

/** A refused question or action; `field` names the parameter at fault. */
export class NotAllowedError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'NotAllowedError';
  }
}

export const TEAM_ONLY = 'your role sees team figures only';

/** How much of its tenant's metrics a caller may see. */
export type MetricsView = {
  /** Only this user's own data (a developer). */
  ownUser: string | null;
  /** Whether individuals (users, sessions) may be named; a viewer sees team figures only. */
  individuals: boolean;
};

export function metricsView({ user }: Caller): MetricsView {
  if (can(user, 'metrics.view_all') || can(user, 'metrics.view_team')) return { ownUser: null, individuals: true };
  if (can(user, 'metrics.view_own')) return { ownUser: user.id, individuals: true };
  if (can(user, 'dashboard.view')) return { ownUser: null, individuals: false };
  throw new NotAllowedError(`your role (${user.role}) may not view metrics`);
}

/** Lists of sessions, commands and people name individuals: refused to a viewer. */
export function requireIndividuals(view: MetricsView, message = TEAM_ONLY, field?: string): void {
  if (!view.individuals) throw new NotAllowedError(message, field);
}

/**
 * Applies `view` to a query's filters and grouping: a developer's queries are narrowed to
 * their own user (asking for someone else is refused); a viewer may not break figures down
 * by user or session.
 */
export function scopeFilters<F extends { user?: string[]; session?: string[] }>(
  view: MetricsView,
  filters: F,
  groupBy: readonly string[] = [],
): F {
  if (!view.individuals) {
    for (const d of ['user', 'session'] as const) {
      if (filters[d] || groupBy.includes(d)) throw new NotAllowedError(`${d}: ${TEAM_ONLY}`, d);
    }
  }
  if (view.ownUser === null) return filters;
  if (filters.user?.some((u) => u !== view.ownUser))
    throw new NotAllowedError('user: you may only see your own data', 'user');
  return { ...filters, user: [view.ownUser] };
}
