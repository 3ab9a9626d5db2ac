// Access checks, called visibly at the top of each handler. What of a tenant's data a caller
// may see is the domain's (auth/scope.ts); these say who the caller is.
import type { Context } from 'hono';
import type { Scope } from '../auth/api-keys.js';
import { can, canAccessTenant, type Permission } from '../auth/permissions.js';
import { metricsView } from '../auth/scope.js';
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

/** The caller of the query API: their tenant and what of it they may see. */
export function reader(c: Context<Env>) {
  const identity = requireIdentity(c, 'read');
  return { identity, tenantId: identity.user.tenantId, view: metricsView(identity) };
}
