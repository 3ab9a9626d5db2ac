// Inviting people: an admin names an email and a role (at most their own); the person gets a
// single-use link, valid 7 days, by email when SMTP is configured, else the admin copies it.
// Following it, they choose their name and password and are signed in with that role.
import { z } from 'zod';
import { audit } from '../audit/audit.js';
import type { Mailer } from '../mail/mailer.js';
import type { Connection, Queryable } from '../storage/duckdb.js';
import { hashPassword } from './passwords.js';
import { passwordSchema, strongPassword } from './password-policy.js';
import { COLUMNS, createLink, linkUrl, openLink, revokeLinks, useLink, type Link } from './links.js';
import { canAccessTenant, canGrantRole, roleSchema } from './permissions.js';
import { auditBy, PeopleError, type ByWhom } from './people.js';
import { emailSchema, insertUser, type User } from './users.js';

export const inviteSchema = z.object({ email: emailSchema, role: roleSchema });

export type Invite = Link & { expired: boolean };

/** What became of a link: emailed, or (no SMTP, or sending failed) to be shown to the admin once. */
export type Delivery = { invite: Invite; emailed: boolean; link: string | null; mailError?: string };

export type InviteDeps = { control: Connection; mailer: Mailer | null; publicUrl: URL; now: () => Date };

function allowed(by: ByWhom, tenantId: string, role: z.infer<typeof roleSchema>): void {
  if (by.actor !== 'user') return;
  if (!canAccessTenant(by.user, tenantId)) throw new PeopleError('not_found', 'no such organisation');
  if (!canGrantRole(by.user, role))
    throw new PeopleError('forbidden', `role: your role (${by.user.role}) may not grant ${role}`, 'role');
}

/** Invites `email` to `tenantId` as `role`; an earlier pending invitation of that email there stops working. */
export async function invitePerson(
  deps: InviteDeps,
  by: ByWhom,
  tenantId: string,
  input: z.infer<typeof inviteSchema>,
  tenantName: string,
): Promise<Delivery> {
  allowed(by, tenantId, input.role);
  if (await deps.control.get('SELECT 1 FROM users WHERE email = $email', { email: input.email })) {
    throw new PeopleError('conflict', 'email: a person with this email already has an account', 'email');
  }
  const now = deps.now();
  await revokeLinks(
    deps.control,
    `kind = 'invite' AND tenant_id = $tenantId AND email = $email`,
    { tenantId, email: input.email },
    now,
  );
  const createdBy = by.actor === 'user' ? by.user.id : null;
  const { link, token } = await createLink(
    deps.control,
    { kind: 'invite', tenantId, email: input.email, role: input.role, createdBy },
    now,
  );
  await audit(deps.control, {
    ...auditBy(by),
    tenantId,
    action: 'user.invite',
    target: link.id,
    detail: { email: input.email, role: input.role },
  });
  return deliver(deps, { ...link, expired: false }, token, tenantName);
}

/** Sends a pending invitation again, with a new link (the old one stops working) and a new expiry. */
export async function resendInvite(
  deps: InviteDeps,
  by: ByWhom,
  tenantId: string,
  inviteId: string,
  tenantName: string,
): Promise<Delivery> {
  const invite = (await listInvites(deps.control, tenantId, deps.now())).find((i) => i.id === inviteId);
  if (!invite || (by.actor === 'user' && !canAccessTenant(by.user, tenantId)))
    throw new PeopleError('not_found', 'no such pending invitation');
  return invitePerson(deps, by, tenantId, { email: invite.email, role: invite.role! }, tenantName);
}

export async function revokeInvite(deps: InviteDeps, by: ByWhom, tenantId: string, inviteId: string): Promise<void> {
  const invite = (await listInvites(deps.control, tenantId, deps.now())).find((i) => i.id === inviteId);
  if (!invite || (by.actor === 'user' && !canAccessTenant(by.user, tenantId)))
    throw new PeopleError('not_found', 'no such pending invitation');
  allowed(by, tenantId, invite.role!);
  await revokeLinks(deps.control, 'id = $id', { id: invite.id }, deps.now());
  await audit(deps.control, {
    ...auditBy(by),
    tenantId,
    action: 'user.invite.revoke',
    target: invite.id,
    detail: { email: invite.email },
  });
}

/** Invitations not yet accepted nor withdrawn, newest first; expired ones too, to be sent again. */
export async function listInvites(db: Queryable, tenantId: string, now: Date): Promise<Invite[]> {
  const rows = await db.all<Link>(
    `SELECT ${COLUMNS} FROM account_links WHERE kind = 'invite' AND tenant_id = $tenantId AND used_at IS NULL AND revoked_at IS NULL ORDER BY created_at DESC, id`,
    { tenantId },
  );
  return rows.map((r) => ({ ...r, expired: r.expiresAt.getTime() <= now.getTime() }));
}

export function openInvite(db: Queryable, token: string, now: Date): Promise<Link> {
  return openLink(db, 'invite', token, now);
}

/** What the invited person fills in; the password is checked against their email. */
export const acceptSchema = (email: string) =>
  z
    .object({
      name: z.string().trim().max(200).optional(),
      password: passwordSchema,
      password_confirm: z.string().max(512),
    })
    .refine((f) => f.password === f.password_confirm, {
      path: ['password_confirm'],
      message: 'the two passwords differ',
    })
    .superRefine((f, check) => strongPassword({ ...f, email }, check));

/** Creates the invited person's account and uses the link up, at once; LinkError when the link does not work. */
export async function acceptInvite(
  deps: { control: Connection; now: () => Date },
  token: string,
  input: { name?: string; password: string },
  ip: string,
): Promise<User> {
  const hash = await hashPassword(input.password); // slow: outside the transaction
  const now = deps.now();
  const user = await deps.control.transaction(async (tx) => {
    const link = await openLink(tx, 'invite', token, now); // again, inside: a second use finds it used
    await useLink(tx, link.id, now);
    return insertUser(tx, link.tenantId, { email: link.email, name: input.name || undefined, role: link.role! }, hash);
  });
  await audit(deps.control, {
    actor: 'user',
    actorUserId: user.id,
    tenantId: user.tenantId,
    action: 'user.invite.accept',
    target: user.id,
    ip,
    detail: { email: user.email, role: user.role },
  });
  return user;
}

async function deliver(deps: InviteDeps, invite: Invite, token: string, tenantName: string): Promise<Delivery> {
  const link = linkUrl(deps.publicUrl, 'invite', token);
  if (!deps.mailer) return { invite, emailed: false, link };
  try {
    await deps.mailer.send({
      to: invite.email,
      subject: `You are invited to ${tenantName} on agentmeter`,
      text:
        `You are invited to join ${tenantName} on agentmeter as ${invite.role!.replace('_', ' ')}.\n\n` +
        `Choose your password here (the link works once, until ${invite.expiresAt.toISOString().slice(0, 16).replace('T', ' ')} UTC):\n\n${link}\n`,
    });
    return { invite, emailed: true, link: null };
  } catch (err) {
    // The invitation stands; the admin passes the link on another way.
    return {
      invite,
      emailed: false,
      link,
      mailError: `the email could not be sent (${(err as Error).message.slice(0, 200)})`,
    };
  }
}
