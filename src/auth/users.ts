// People, stored in the control database. Emails are unique across the appliance, so
// login needs only an email and a password.
import { z } from 'zod';
import type { Queryable } from '../storage/duckdb.js';
import { newId } from '../ids.js';
import { hashPassword, MIN_PASSWORD_LENGTH } from './passwords.js';
import { roleSchema, type Role } from './permissions.js';

export type User = {
  id: string;
  tenantId: string;
  email: string;
  name: string | null;
  role: Role;
  disabled: boolean;
  createdAt: Date;
};

export const emailSchema = z.string().trim().toLowerCase().max(254).pipe(z.email({ error: 'must be an email address' }));
export const passwordSchema = z.string().min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`).max(512);

export const newUserSchema = z.object({
  email: emailSchema,
  name: z.string().trim().max(200).optional(),
  role: roleSchema,
  password: passwordSchema,
});
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

/** Inserts a user whose password is already hashed (so callers can hash outside a transaction). */
export async function insertUser(db: Queryable, tenantId: string, input: Omit<NewUser, 'password'>, passwordHash: string): Promise<User> {
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

export async function findLoginByEmail(db: Queryable, email: string): Promise<(User & { passwordHash: string | null }) | undefined> {
  return db.get(`SELECT ${COLUMNS}, password_hash AS "passwordHash" FROM users WHERE email = $email`, { email: email.trim().toLowerCase() });
}

export function listUsers(db: Queryable, tenantId: string): Promise<User[]> {
  return db.all<User>(`SELECT ${COLUMNS} FROM users WHERE tenant_id = $tenantId ORDER BY created_at, email`, { tenantId });
}

export async function countUsers(db: Queryable): Promise<number> {
  return (await db.get<{ n: number }>('SELECT count(*) AS n FROM users'))!.n;
}

export async function recordLogin(db: Queryable, userId: string, now: Date): Promise<void> {
  await db.run('UPDATE users SET last_login_at = $now WHERE id = $id', { id: userId, now });
}
