// CSRF tokens for cookie-authenticated requests that change state. The token is an HMAC
// of the browser's session id (or, before login, of a random pre-session cookie) under
// the server's secret, so it cannot be forged nor carried over from another browser.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const PRESESSION_COOKIE = 'am_pre';
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

export function csrfToken(secret: Buffer, binding: string): string {
  return createHmac('sha256', secret).update(`csrf:${binding}`).digest('base64url');
}

export function csrfValid(secret: Buffer, binding: string, presented: string | undefined | null): boolean {
  if (!presented) return false;
  const expected = Buffer.from(csrfToken(secret, binding));
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function newPresessionId(): string {
  return randomBytes(24).toString('base64url');
}
