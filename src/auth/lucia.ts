// Browser sessions with lucia v3, stored in the control database through a small adapter.
import { Lucia, TimeSpan, type Adapter, type DatabaseSession, type DatabaseUser } from 'lucia';
import type { Database } from '../storage/duckdb.js';
import { keptRead } from '../storage/kept-reads.js';
import type { User } from './users.js';

export const SESSION_COOKIE = 'am_session';

export function createLucia(db: Database, secureCookies: boolean) {
  return new Lucia(duckdbAdapter(db), {
    sessionExpiresIn: new TimeSpan(30, 'd'),
    sessionCookie: { name: SESSION_COOKIE, attributes: { secure: secureCookies, sameSite: 'lax', path: '/' } },
    getUserAttributes: (a): Omit<User, 'id'> => ({
      tenantId: a.tenantId,
      email: a.email,
      name: a.name,
      role: a.role,
      disabled: a.disabled,
      createdAt: a.createdAt,
    }),
  });
}

export type Auth = ReturnType<typeof createLucia>;

declare module 'lucia' {
  interface Register {
    Lucia: Auth;
    DatabaseUserAttributes: Omit<User, 'id'>;
  }
}

type SessionRow = { id: string; userId: string; expiresAt: Date };

export function duckdbAdapter(db: Database): Adapter {
  const toSession = (r: SessionRow): DatabaseSession => ({
    id: r.id,
    userId: r.userId,
    expiresAt: r.expiresAt,
    attributes: {},
  });
  return {
    async getSessionAndUser(sessionId) {
      // Every request asks: kept until the next write to the control database (sign-out, a
      // role changed, a person removed, a password reset …), so none outlives a revocation.
      const row = await keptRead(db, `session ${sessionId}`, () =>
        db.get<SessionRow & User & { sessionId: string }>(
          `SELECT s.id AS "sessionId", s.user_id AS "userId", s.expires_at AS "expiresAt",
                  u.id, u.tenant_id AS "tenantId", u.email, u.name, u.role, u.disabled, u.created_at AS "createdAt"
             FROM auth_sessions s JOIN users u ON u.id = s.user_id
            WHERE s.id = $sessionId AND NOT u.disabled`,
          { sessionId },
        ),
      );
      if (!row) return [null, null];
      const { sessionId: id, userId, expiresAt, ...user } = row;
      const dbUser: DatabaseUser = { id: user.id, attributes: user };
      return [toSession({ id, userId, expiresAt }), dbUser];
    },
    async getUserSessions(userId) {
      const rows = await db.all<SessionRow>(
        `SELECT id, user_id AS "userId", expires_at AS "expiresAt" FROM auth_sessions WHERE user_id = $userId`,
        { userId },
      );
      return rows.map(toSession);
    },
    async setSession(s) {
      await db.run('INSERT INTO auth_sessions (id, user_id, expires_at) VALUES ($id, $userId, $expiresAt)', {
        id: s.id,
        userId: s.userId,
        expiresAt: s.expiresAt,
      });
    },
    async updateSessionExpiration(sessionId, expiresAt) {
      await db.run('UPDATE auth_sessions SET expires_at = $expiresAt WHERE id = $sessionId', { sessionId, expiresAt });
    },
    async deleteSession(sessionId) {
      await db.run('DELETE FROM auth_sessions WHERE id = $sessionId', { sessionId });
    },
    async deleteUserSessions(userId) {
      await db.run('DELETE FROM auth_sessions WHERE user_id = $userId', { userId });
    },
    async deleteExpiredSessions() {
      await db.run('DELETE FROM auth_sessions WHERE expires_at <= now()');
    },
  };
}
