// Where a sign-in may lead afterwards: only ever a path on this site (password and SSO alike).

const SAME_SITE = 'http://same-site.invalid';

/**
 * A path on this site, as a browser would resolve it, or `/`. Browsers drop tabs and newlines
 * from URLs and read `\` as `/`, so `/\t/evil.example` would leave the site: any control
 * character or backslash is refused, and what is left must resolve to this origin.
 */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/') || /[\u0000-\u001f\u007f\\]/.test(next)) return '/';
  let url: URL;
  try {
    url = new URL(next, SAME_SITE);
  } catch {
    return '/';
  }
  // Re-serialised, so what goes into Location is percent-encoded ASCII.
  return url.origin === SAME_SITE ? url.pathname + url.search + url.hash : '/';
}
