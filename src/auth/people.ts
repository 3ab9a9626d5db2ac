// Managing a tenant's people: change a role, deactivate, reactivate, delete, make a password
// reset link. One set of rules for the people page, the JSON API and the CLI: an admin acts
// only on their own tenant's people, never on a role above their own, never on themselves,
// and nobody removes the tenant's last admin. Every action is audited here.
import { audit } from '../audit/audit.js';
import type { Connection, Queryable } from '../storage/duckdb.js';
import { forgetMfa } from './mfa.js';
import { hashPassword } from './passwords.js';
import { createLink, linkUrl, openLink, revokeLinks, useLink, type Link } from './links.js';
import { canAccessTenant, canGrantRole, ROLES, type Actor, type Role } from './permissions.js';
import { endSessions, getUser, type User } from './users.js';

/** Who acts: a signed-in admin (from an address), or the operator at the command line. */
export type ByWhom = { actor: 'user'; user: Actor & { id: string }; ip: string } | { actor: 'cli' };

export class PeopleError extends Error {
  constructor(
    readonly kind: 'not_found' | 'forbidden' | 'conflict',
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export type PeopleDeps = { control: Connection; keys: { invalidate(): void }; now: () => Date };

type Action = 'role' | 'disable' | 'enable' | 'delete' | 'reset_link';

const ADMIN_ROLES: Role[] = ['super_admin', 'tenant_admin'];
const label = (role: Role) => role.replace('_', ' ');

/** The person `userId` of `tenantId`, if `by` may do `action` to them; PeopleError otherwise. */
export async function manageable(
  db: Queryable,
  by: ByWhom,
  tenantId: string,
  userId: string,
  action: Action,
  newRole?: Role,
): Promise<User> {
  const target = await getUser(db, userId);
  // Another tenant's people do not exist, as far as its admins can tell.
  if (!target || target.tenantId !== tenantId || (by.actor === 'user' && !canAccessTenant(by.user, tenantId))) {
    throw new PeopleError('not_found', 'no such person in this organisation');
  }
  if (by.actor === 'user') {
    if (target.id === by.user.id)
      throw new PeopleError(
        'forbidden',
        'you cannot change your own role or access, or delete yourself; ask another admin',
      );
    if (!canGrantRole(by.user, target.role))
      throw new PeopleError('forbidden', `your role (${label(by.user.role)}) cannot manage a ${label(target.role)}`);
    if (newRole && !canGrantRole(by.user, newRole))
      throw new PeopleError('forbidden', `role: your role (${label(by.user.role)}) may not grant ${newRole}`, 'role');
  }
  const leavesAdmins =
    action === 'disable' || action === 'delete' || (action === 'role' && newRole && !ADMIN_ROLES.includes(newRole));
  const last = leavesAdmins ? await lastAdmin(db, target) : null;
  if (last) throw new PeopleError('conflict', last);
  return target;
}

/**
 * Why `target` may not stop being an admin (disabled, deleted, demoted, erased): they are
 * their organisation's last active one. Null when someone else is left.
 */
export async function lastAdmin(db: Queryable, target: User): Promise<string | null> {
  if (!ADMIN_ROLES.includes(target.role) || target.disabled) return null;
  const others = await db.get<{ n: number }>(
    `SELECT count(*)::INTEGER AS n FROM users WHERE tenant_id = $tenantId AND id <> $id AND NOT disabled AND role IN ('super_admin', 'tenant_admin')`,
    { tenantId: target.tenantId, id: target.id },
  );
  return others!.n > 0
    ? null
    : `${target.email} is the last active admin of this organisation; make someone else tenant admin first`;
}

/** The audit entry's actor fields for `by`. */
export const auditBy = (by: ByWhom) =>
  by.actor === 'user' ? { actor: 'user' as const, actorUserId: by.user.id, ip: by.ip } : { actor: 'cli' as const };

export async function changeRole(
  deps: PeopleDeps,
  by: ByWhom,
  tenantId: string,
  userId: string,
  role: Role,
): Promise<User> {
  // Checked in the transaction that acts: the control file's transactions run one at a time,
  // so two admins demoted at once cannot each leave the other as the last one.
  const target = await deps.control.transaction(async (tx) => {
    const target = await manageable(tx, by, tenantId, userId, 'role', role);
    await tx.run('UPDATE users SET role = $role WHERE id = $id', { id: target.id, role });
    // Their links stop working with the power that made them (openLink checks it too).
    if (ROLES.indexOf(role) > ROLES.indexOf(target.role))
      await revokeLinks(tx, 'created_by = $id', { id: target.id }, deps.now());
    return target;
  });
  deps.keys.invalidate(); // a cached key carries its owner's role
  await audit(deps.control, {
    ...auditBy(by),
    tenantId,
    action: 'user.role',
    target: target.id,
    detail: { email: target.email, from: target.role, to: role },
  });
  return { ...target, role };
}

/**
 * A deactivated person can neither sign in nor use their keys (sessions and keys check it).
 * Their sessions end, so reactivating them does not bring back a browser left signed in.
 */
export async function setActive(
  deps: PeopleDeps,
  by: ByWhom,
  tenantId: string,
  userId: string,
  active: boolean,
): Promise<User> {
  const target = await deps.control.transaction(async (tx) => {
    const target = await manageable(tx, by, tenantId, userId, active ? 'enable' : 'disable'); // see changeRole
    await tx.run('UPDATE users SET disabled = $disabled WHERE id = $id', { id: target.id, disabled: !active });
    if (!active) {
      await endSessions(tx, target.id);
      await revokeLinks(tx, 'user_id = $id OR created_by = $id', { id: target.id }, deps.now());
    }
    return target;
  });
  deps.keys.invalidate();
  await audit(deps.control, {
    ...auditBy(by),
    tenantId,
    action: active ? 'user.enable' : 'user.disable',
    target: target.id,
    detail: { email: target.email },
  });
  return { ...target, disabled: !active };
}

/**
 * Removes the account: its sessions end, its keys are revoked, its links and those it made
 * withdrawn. Its events stay in the tenant's file under its id (erasing them is the privacy erasure's job).
 */
export async function deleteUser(deps: PeopleDeps, by: ByWhom, tenantId: string, userId: string): Promise<User> {
  const now = deps.now();
  const target = await deps.control.transaction(async (tx) => {
    const target = await manageable(tx, by, tenantId, userId, 'delete'); // see changeRole
    await endSessions(tx, target.id);
    await tx.run('UPDATE api_keys SET revoked_at = $now WHERE user_id = $id AND revoked_at IS NULL', {
      id: target.id,
      now,
    });
    await revokeLinks(tx, 'user_id = $id OR created_by = $id', { id: target.id }, now);
    await forgetMfa(tx, '$id', { id: target.id });
    await tx.run('DELETE FROM users WHERE id = $id', { id: target.id });
    return target;
  });
  deps.keys.invalidate();
  await audit(deps.control, {
    ...auditBy(by),
    tenantId,
    action: 'user.delete',
    target: target.id,
    detail: { email: target.email },
  });
  return target;
}

export type ResetLink = { userId: string; email: string; link: string; expiresAt: Date };

/** A link that lets `userId` set a new password (once, within an hour); earlier ones stop working. */
export async function createResetLink(
  deps: PeopleDeps & { publicUrl: URL },
  by: ByWhom,
  tenantId: string,
  userId: string,
): Promise<ResetLink> {
  const target = await manageable(deps.control, by, tenantId, userId, 'reset_link');
  if (target.disabled) throw new PeopleError('conflict', `${target.email} is deactivated; reactivate them first`);
  const now = deps.now();
  await revokeLinks(deps.control, `kind = 'reset' AND user_id = $id`, { id: target.id }, now);
  const createdBy = by.actor === 'user' ? by.user.id : null;
  const { link, token } = await createLink(
    deps.control,
    { kind: 'reset', tenantId, email: target.email, userId: target.id, createdBy },
    now,
  );
  await audit(deps.control, {
    ...auditBy(by),
    tenantId,
    action: 'user.reset_link',
    target: target.id,
    detail: { email: target.email, link: link.id },
  });
  return {
    userId: target.id,
    email: target.email,
    link: linkUrl(deps.publicUrl, 'reset', token),
    expiresAt: link.expiresAt,
  };
}

/** The person a reset link is for (LinkError when it does not work). */
export async function openResetLink(db: Queryable, token: string, now: Date): Promise<Link> {
  return openLink(db, 'reset', token, now);
}

/** Sets the new password (checked by the caller against the policy) and ends every session of that person. */
export async function redeemResetLink(deps: PeopleDeps, token: string, password: string, ip: string): Promise<User> {
  const hash = await hashPassword(password); // slow: outside the transaction
  const now = deps.now();
  const link = await deps.control.transaction(async (tx) => {
    const link = await openLink(tx, 'reset', token, now); // again, inside: a second use finds it used
    await useLink(tx, link.id, now);
    await tx.run('UPDATE users SET password_hash = $hash WHERE id = $id AND NOT disabled', { id: link.userId, hash });
    await endSessions(tx, link.userId!);
    return link;
  });
  await audit(deps.control, {
    actor: 'user',
    actorUserId: link.userId,
    tenantId: link.tenantId,
    action: 'user.password.reset',
    target: link.userId,
    ip,
    detail: { link: link.id },
  });
  return (await getUser(deps.control, link.userId!))!;
}
