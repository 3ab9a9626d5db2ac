// Access checks, called visibly at the top of each handler.
import type { Context } from 'hono';
import type { AlertReader } from '../alerts/store.js';
import type { Scope } from '../auth/api-keys.js';
import { can, canAccessTenant, type Permission } from '../auth/permissions.js';
import type { Env, Identity } from './env.js';
import { httpError, notFound } from './errors.js';

/** The caller, who must be signed in or hold an API key with `scope`. */
export function requireIdentity(c: Context<Env>, scope: Scope): Identity {
  const identity = c.var.identity;
  if (!identity)
    throw httpError(401, 'sign in or send Authorization: Bearer <API key>', 'authorization', {
      'www-authenticate': 'Bearer',
    });
  if (!identity.scopes.includes(scope))
    throw httpError(403, `this API key lacks the "${scope}" scope`, 'authorization');
  return identity;
}

/** A signed-in person: API keys (machine credentials) cannot manage people or keys. */
export function requireSession(c: Context<Env>): Extract<Identity, { via: 'session' }> {
  const identity = c.var.identity;
  if (!identity) throw httpError(401, 'sign in first', 'authorization');
  if (identity.via !== 'session') throw httpError(403, 'API keys cannot do this; sign in', 'authorization');
  return identity;
}

export function requirePermission(identity: Identity, permission: Permission): void {
  if (!can(identity.user, permission)) throw httpError(403, `your role (${identity.user.role}) may not ${permission}`);
}

/** Another tenant's things do not exist, as far as this caller can tell. */
export function requireTenantAccess(identity: Identity, tenantId: string): void {
  if (!canAccessTenant(identity.user, tenantId)) throw notFound('no such tenant');
}

/**
 * Whose records (the audit log) a caller reads: a super admin every tenant's (null) or the
 * one asked for; anyone else their own, and another tenant asked for does not exist.
 */
export function tenantScope(identity: Identity, requested: string | undefined): string | null {
  if (requested) {
    requireTenantAccess(identity, requested);
    return requested;
  }
  return can(identity.user, 'tenant.manage') ? null : identity.user.tenantId;
}

/** How much of its tenant's metrics a caller may see. */
export type MetricsView = {
  /** Only this user's own data (a developer). */
  ownUser: string | null;
  /** Whether individuals (users, sessions) may be named; a viewer sees team figures only. */
  individuals: boolean;
};

export function metricsView(identity: Identity): MetricsView {
  const { user } = identity;
  if (can(user, 'metrics.view_all') || can(user, 'metrics.view_team')) return { ownUser: null, individuals: true };
  if (can(user, 'metrics.view_own')) return { ownUser: user.id, individuals: true };
  if (can(user, 'dashboard.view')) return { ownUser: null, individuals: false };
  throw httpError(403, `your role (${user.role}) may not view metrics`);
}

/**
 * Applies `view` to a query's filters and grouping: a developer's queries are narrowed to
 * their own user (asking for someone else is a 403); a viewer may not break figures down
 * by user or session.
 */
export function scopeFilters<F extends { user?: string[]; session?: string[] }>(
  view: MetricsView,
  filters: F,
  groupBy: readonly string[] = [],
): F {
  if (!view.individuals) {
    for (const d of ['user', 'session'] as const) {
      if (filters[d] || groupBy.includes(d)) throw httpError(403, `${d}: your role sees team figures only`, d);
    }
  }
  if (view.ownUser === null) return filters;
  if (filters.user?.some((u) => u !== view.ownUser))
    throw httpError(403, 'user: you may only see your own data', 'user');
  return { ...filters, user: [view.ownUser] };
}

/**
 * Which alerts a caller reads: managers and up every rule's, a developer their own rules',
 * a viewer the firing alerts of every rule without naming people.
 */
export function alertReader(identity: Identity): AlertReader {
  const { user } = identity;
  const ruleAuthor = can(user, 'alerts.own');
  if (!ruleAuthor && !can(user, 'alerts.view')) throw httpError(403, `your role (${user.role}) may not see alerts`);
  return {
    userId: user.id,
    team: can(user, 'alerts.manage') || !ruleAuthor,
    individuals: metricsView(identity).individuals,
    firingOnly: !ruleAuthor,
  };
}
