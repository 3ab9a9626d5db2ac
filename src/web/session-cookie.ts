// The browser's session cookie, handed over whenever a session starts: sign-in, first-run
// setup, and a password change (which ends every other session).
import type { Context } from 'hono';
import type { Auth } from '../auth/lucia.js';

export function setSessionCookie(auth: Auth, c: Context, sessionId: string): void {
  c.header('set-cookie', auth.createSessionCookie(sessionId).serialize(), { append: true });
}
