// The cookie that binds a sign-in waiting for its second factor to this browser. It lives
// only as long as the pending sign-in and is sent only to /login paths.
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { PENDING_LOGIN_MS } from '../auth/pending-logins.js';

const PENDING_COOKIE = 'am_mfa';
const PATH = '/login';

export function setPendingLoginCookie(c: Context, token: string, secure: boolean): void {
  setCookie(c, PENDING_COOKIE, token, {
    httpOnly: true,
    sameSite: 'Lax',
    secure,
    path: PATH,
    maxAge: PENDING_LOGIN_MS / 1000,
  });
}

export function pendingLoginToken(c: Context): string | undefined {
  return getCookie(c, PENDING_COOKIE);
}

export function clearPendingLoginCookie(c: Context, secure: boolean): void {
  deleteCookie(c, PENDING_COOKIE, { path: PATH, secure });
}
