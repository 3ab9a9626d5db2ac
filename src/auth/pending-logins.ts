// A password sign-in waiting for its second factor. The browser holds a random token (in an
// HttpOnly cookie); the control database keeps its SHA-256, the person and an expiry. The
// token is spent when the second step succeeds, so it opens one session at most.
import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../storage/duckdb.js';
import { getUser, type User } from './users.js';

export const PENDING_LOGIN_MS = 10 * 60_000;

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export async function holdLogin(db: Queryable, userId: string, now: Date): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await db.run('DELETE FROM mfa_pending_logins WHERE expires_at <= $now', { now });
  await db.run('INSERT INTO mfa_pending_logins (token_hash, user_id, expires_at) VALUES ($hash, $userId, $expires)', {
    hash: hashToken(token),
    userId,
    expires: new Date(now.getTime() + PENDING_LOGIN_MS),
  });
  return token;
}

/** The person whose password was right, while the token is live and they are not disabled. */
export async function heldLogin(db: Queryable, token: string | undefined, now: Date): Promise<User | undefined> {
  if (!token) return undefined;
  const row = await db.get<{ userId: string }>(
    'SELECT user_id AS "userId" FROM mfa_pending_logins WHERE token_hash = $hash AND expires_at > $now',
    { hash: hashToken(token), now },
  );
  const user = row && (await getUser(db, row.userId));
  return user && !user.disabled ? user : undefined;
}

/** Spends the token; false when another request spent it first. */
export async function releaseLogin(db: Queryable, token: string): Promise<boolean> {
  return (
    (
      await db.all('DELETE FROM mfa_pending_logins WHERE token_hash = $hash RETURNING user_id', {
        hash: hashToken(token),
      })
    ).length > 0
  );
}
