// A person's own browser sessions: the list on their account page and "sign out my other
// sessions". A session's id is its cookie's secret, so it never leaves this module: the list
// says which one is the caller's instead.
import { audit } from '../audit/audit.js';
import type { Queryable } from '../storage/duckdb.js';
import type { Role } from './permissions.js';

export type SessionSummary = { createdAt: Date; expiresAt: Date; current: boolean };

export async function listSessions(db: Queryable, userId: string, currentId: string): Promise<SessionSummary[]> {
  const rows = await db.all<{ id: string; createdAt: Date; expiresAt: Date }>(
    `SELECT id, created_at AS "createdAt", expires_at AS "expiresAt" FROM auth_sessions WHERE user_id = $userId ORDER BY created_at DESC`,
    { userId },
  );
  return rows.map(({ id, ...s }) => ({ ...s, current: id === currentId }));
}

/**
 * The role of session `id`'s person while the session has not been ended (signed out, the
 * person deactivated or given a new password), read without extending it as a request
 * would; null once it has. Expiry is lucia's to judge, on its own clock, at the next request.
 */
export async function sessionRole(db: Queryable, id: string): Promise<Role | null> {
  const row = await db.get<{ role: Role }>(
    'SELECT u.role FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $id',
    { id },
  );
  return row?.role ?? null;
}

/** Ends every session of the person but `keepId` (the browser asking); returns how many ended. */
export async function endOtherSessions(
  db: Queryable,
  user: { id: string; tenantId: string },
  keepId: string,
  ip: string,
): Promise<number> {
  const { n } = (await db.get<{ n: number }>(
    'SELECT count(*)::INTEGER AS n FROM auth_sessions WHERE user_id = $userId AND id <> $keepId',
    { userId: user.id, keepId },
  ))!;
  await db.run('DELETE FROM auth_sessions WHERE user_id = $userId AND id <> $keepId', { userId: user.id, keepId });
  await audit(db, {
    actor: 'user',
    actorUserId: user.id,
    tenantId: user.tenantId,
    action: 'user.sessions.end',
    target: user.id,
    ip,
    detail: { ended: n },
  });
  return n;
}
