// What every ingest endpoint checks first: an API key (or session) with the `ingest`
// scope, the tenant's rate limit (X-RateLimit-* headers, 429 + Retry-After), and a body
// size limit (413 naming the body).
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppContext } from '../context.js';
import { StorageUnavailableError } from '../storage/errors.js';
import { requireIdentity } from './access.js';
import { maySendEvents, SENDS_NO_EVENTS } from '../auth/permissions.js';
import type { Env } from './env.js';
import { httpError, unavailable } from './errors.js';

export const INGEST_BODY_LIMIT = 16 * 1024 * 1024;

export function ingestGuard(ctx: AppContext, maxBytes = INGEST_BODY_LIMIT): MiddlewareHandler<Env> {
  const tooLarge = () => {
    // The rest of the body will not be read, so the connection cannot be reused.
    throw httpError(413, `body: larger than ${Math.round(maxBytes / 1024 / 1024)} MiB`, 'body', {
      connection: 'close',
    });
  };
  const limit = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async (c, next) => {
    const identity = requireIdentity(c, 'ingest');
    // Sending events is what an ingest key is for: a role that may not hold one (a viewer) may
    // not send them, signed in or with a key made before the role changed (or by the CLI).
    if (!maySendEvents(identity.user))
      throw httpError(403, `authorization: ${SENDS_NO_EVENTS(identity.user.role)}`, 'authorization');
    const decision = ctx.ingestLimiter.take(identity.user.tenantId);
    const reset = Math.ceil(decision.resetMs / 1000);
    c.header('x-ratelimit-limit', String(decision.limit));
    c.header('x-ratelimit-remaining', String(decision.remaining));
    c.header('x-ratelimit-reset', String(reset));
    if (!decision.allowed)
      throw httpError(429, 'rate limit exceeded for this tenant', undefined, { 'retry-after': String(reset) });
    // A declared length is checked from the header alone: hono's bodyLimit reads `body`, which
    // turns @hono/node-server's lightweight request into a web stream (some 15% of a hook's
    // time here). Node's parser never reads past Content-Length. Chunked bodies are counted.
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined)
      return Number(length) > maxBytes ? tooLarge() : next();
    return limit(c, next);
  };
}

/** The caller's tenant and user, as the ingest function wants them. */
export const who = (c: Context<Env>) => ({ tenantId: c.var.identity!.user.tenantId, userId: c.var.identity!.user.id });

/** Storage trouble (disk full, read-only, the tenant's file gone) is the server's to fix: 503 and a retry, not a 500. */
export function storageUnavailable(err: unknown): never {
  if (err instanceof StorageUnavailableError) throw unavailable(err);
  throw err;
}
