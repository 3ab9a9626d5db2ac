// Who may read /metrics: a scraper on this machine that talks to the server directly, or,
// when --metrics-token is set, anyone who presents it. A request that came through a proxy
// is not taken for a local one, even if the proxy itself is on loopback.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

export type ScrapeRequest = {
  /** The TCP peer's address. */
  peer: string;
  /** Whether the request carries a proxy's Forwarded, X-Forwarded-For or X-Real-IP header. */
  forwarded: boolean;
  /** The Authorization header as sent. */
  authorization: string | undefined;
};

export type ScrapeAccess = 'allowed' | 'token required' | 'loopback only';

export function scrapeAccess(req: ScrapeRequest, token: string | null): ScrapeAccess {
  if (!req.forwarded && isLoopback(req.peer)) return 'allowed';
  if (token === null) return 'loopback only';
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(req.authorization ?? '')?.[1];
  return presented !== undefined && sameSecret(presented, token) ? 'allowed' : 'token required';
}

function isLoopback(address: string): boolean {
  const plain = address.replace(/^::ffff:(?=[\d.]+$)/i, '');
  return isIP(plain) === 4 ? plain.startsWith('127.') : plain === '::1';
}

/** Compared as digests: equal lengths for timingSafeEqual, and no early exit on a length mismatch. */
function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}
