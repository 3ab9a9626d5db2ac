// Access checks, called visibly at the top of each handler.
import type { Context } from 'hono';
import type { Scope } from '../auth/api-keys.js';
import { can, canAccessTenant, type Permission } from '../auth/permissions.js';
import type { Env, Identity } from './env.js';
import { httpError, notFound } from './errors.js';

/** The caller, who must be signed in or hold an API key with `scope`. */
export function requireIdentity(c: Context<Env>, scope: Scope): Identity {
  const identity = c.var.identity;
  if (!identity) throw httpError(401, 'sign in or send Authorization: Bearer <API key>', 'authorization', { 'www-authenticate': 'Bearer' });
  if (!identity.scopes.includes(scope)) throw httpError(403, `this API key lacks the "${scope}" scope`, 'authorization');
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
