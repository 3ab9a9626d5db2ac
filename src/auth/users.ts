// People, stored in the control database. Emails are unique across the appliance, so
// login needs only an email and a password.
import { z } from 'zod';
import type { Connection, Queryable } from '../storage/duckdb.js';
import { newId } from '../ids.js';
import { revokeLinks } from './links.js';
import { hashPassword } from './passwords.js';
import { passwordSchema, strongPassword } from './password-policy.js';
import { roleSchema, type Role } from './permissions.js';
import type { KeyCache } from './api-keys.js';

export type User = {
  id: string;
  tenantId: string;
  email: string;
  name: string | null;
  role: Role;
  disabled: boolean;
  createdAt: Date;
};

export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email({ error: 'must be an email address' }));

export const newUserSchema = z
  .object({
    email: emailSchema,
    name: z.string().trim().max(200).optional(),
    role: roleSchema,
    password: passwordSchema,
  })
  .superRefine(strongPassword);
export type NewUser = z.infer<typeof newUserSchema>;

export class DuplicateEmailError extends Error {
  constructor() {
    super('a user with this email already exists');
  }
}

const COLUMNS = `id, tenant_id AS "tenantId", email, name, role, disabled, created_at AS "createdAt"`;

export async function createUser(db: Queryable, tenantId: string, input: NewUser): Promise<User> {
  return insertUser(db, tenantId, input, await hashPassword(input.password));
}

/** Inserts a user whose password is already hashed (so callers can hash outside a transaction); null: SSO only. */
export async function insertUser(
  db: Queryable,
  tenantId: string,
  input: Omit<NewUser, 'password'>,
  passwordHash: string | null,
): Promise<User> {
  if (await db.get('SELECT 1 FROM users WHERE email = $email', { email: input.email })) throw new DuplicateEmailError();
  const id = newId('u');
  await db.run(
    `INSERT INTO users (id, tenant_id, email, name, role, password_hash) VALUES ($id, $tenantId, $email, $name, $role, $hash)`,
    { id, tenantId, email: input.email, name: input.name ?? null, role: input.role, hash: passwordHash },
  );
  return (await getUser(db, id))!;
}

export function getUser(db: Queryable, id: string): Promise<User | undefined> {
  return db.get<User>(`SELECT ${COLUMNS} FROM users WHERE id = $id`, { id });
}

export async function findLoginByEmail(
  db: Queryable,
  email: string,
): Promise<(User & { passwordHash: string | null }) | undefined> {
  return db.get(`SELECT ${COLUMNS}, password_hash AS "passwordHash" FROM users WHERE email = $email`, {
    email: email.trim().toLowerCase(),
  });
}

export function listUsers(db: Queryable, tenantId: string): Promise<User[]> {
  return db.all<User>(`SELECT ${COLUMNS} FROM users WHERE tenant_id = $tenantId ORDER BY created_at, email`, {
    tenantId,
  });
}

export async function countUsers(db: Queryable): Promise<number> {
  return (await db.get<{ n: number }>('SELECT count(*) AS n FROM users'))!.n;
}

export async function recordLogin(db: Queryable, userId: string, now: Date): Promise<void> {
  await db.run('UPDATE users SET last_login_at = $now WHERE id = $id', { id: userId, now });
}

export const profileSchema = z.object({ name: z.string().trim().max(200) });

/** A person's display name; their keys carry it, so the request path's cache forgets them. */
export async function updateName(
  { control, keys }: { control: Queryable; keys: Pick<KeyCache, 'invalidate'> },
  userId: string,
  name: string,
): Promise<void> {
  await control.run('UPDATE users SET name = $name WHERE id = $id', { id: userId, name: name || null });
  keys.invalidate();
}

export async function passwordHashOf(db: Queryable, userId: string): Promise<string | null> {
  return (
    (await db.get<{ hash: string | null }>('SELECT password_hash AS hash FROM users WHERE id = $id', { id: userId }))
      ?.hash ?? null
  );
}

/** A new password signs the person out everywhere: whoever knew the old one loses their sessions. */
export async function setPassword(db: Connection, userId: string, password: string, now: Date): Promise<void> {
  const hash = await hashPassword(password);
  await db.transaction(async (tx) => {
    await tx.run('UPDATE users SET password_hash = $hash WHERE id = $id', { id: userId, hash });
    await endSessions(tx, userId);
    // A reset link still out (shown to an admin, or mailed) is a credential too.
    await revokeLinks(tx, `kind = 'reset' AND user_id = $id`, { id: userId }, now);
  });
}

/**
 * What lucia's invalidateUserSessions does, inside the caller's transaction, and the sign-ins
 * still waiting for their second factor (half a session: the password was right).
 */
export async function endSessions(db: Queryable, userId: string): Promise<void> {
  await db.run('DELETE FROM auth_sessions WHERE user_id = $userId', { userId });
  await db.run('DELETE FROM mfa_pending_logins WHERE user_id = $userId', { userId });
}

/** Last sign-in per user of a tenant. */
export async function lastLogins(db: Queryable, tenantId: string): Promise<Map<string, Date | null>> {
  const rows = await db.all<{ id: string; at: Date | null }>(
    'SELECT id, last_login_at AS at FROM users WHERE tenant_id = $tenantId',
    { tenantId },
  );
  return new Map(rows.map((r) => [r.id, r.at]));
}
