// What runs before every handler: a request id, one log line and the metrics of each
// request, the caller's identity (session cookie or API key) and its tenant, and CSRF checks.
import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler, Next } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { matchedRoutes } from 'hono/route';
import type { AppContext } from '../context.js';
import { SCOPES } from '../auth/api-keys.js';
import { CSRF_FIELD, CSRF_HEADER, csrfToken, csrfValid, newPresessionId, PRESESSION_COOKIE } from '../auth/csrf.js';
import { SESSION_COOKIE } from '../auth/lucia.js';
import { tenantSettings } from '../aggregate/settings.js';
import { DEFAULT_TIME_ZONE } from '../time/zone.js';
import type { Env } from './env.js';
import { httpError } from './errors.js';
import { isIngestPath } from './ingest-paths.js';
import { STREAMED_UPLOADS } from './upload.js';

/** An invitation's or reset link's token in a path (src/web/routes/link-pages.ts). */
const LINK_TOKEN = /^\/(invite|reset)\/[^/]+/;

/** A request's path as logs show it: without a link's token. */
export const loggedPath = (path: string) => path.replace(LINK_TOKEN, '/$1/…');

export function requestLog(ctx: AppContext): MiddlewareHandler<Env> {
  return async (c, next) => {
    const started = performance.now();
    const requestId = randomUUID();
    c.set('requestId', requestId);
    c.set('identity', null);
    c.set('tenantId', null);
    c.header('x-request-id', requestId);
    await next();
    // The path only: query strings may carry tokens, and so do the paths of emailed links.
    ctx.log.info('request', {
      method: c.req.method,
      path: loggedPath(c.req.path),
      status: c.res.status,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
      tenant: c.var.tenantId,
      request_id: requestId,
    });
  };
}

/** Counts and times every request by its route pattern: a bounded set of labels, unlike paths (ids, tokens). */
export function requestMetrics(ctx: AppContext): MiddlewareHandler<Env> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    ctx.metrics.request(c.req.method, routeLabel(c), c.res.status, (performance.now() - started) / 1000);
  };
}

/**
 * The pattern of the route a request was for (`/api/v1/sessions/:id`), also when a
 * middleware answered first (a 401); `unmatched` when no route has its path (a 404).
 * Middleware is registered for every method ('ALL'); routes for theirs.
 */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  const answered = routes[c.req.routeIndex];
  const route = answered && answered.method !== 'ALL' ? answered : routes.find((r) => r.method !== 'ALL');
  return route?.path ?? 'unmatched';
}

/** Resolves the caller once. A presented but unknown or revoked API key is a 401 right here. */
export function identify(ctx: AppContext): MiddlewareHandler<Env> {
  return async (c, next) => {
    const authorization = c.req.header('authorization');
    if (authorization !== undefined) {
      const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
      // "Bearer " and nothing: the variable the key was to come from was not set (Claude Code's
      // hooks and OpenTelemetry headers read it from the environment).
      if (/^Bearer\s*$/i.test(authorization))
        throw httpError(
          401,
          'authorization: no API key after "Bearer" (is AGENTMETER_API_KEY set where the client runs?)',
          'authorization',
          { 'www-authenticate': 'Bearer' },
        );
      const resolved = presented ? await ctx.keys.resolve(presented) : null;
      if (!resolved)
        throw httpError(401, 'invalid or revoked API key', 'authorization', { 'www-authenticate': 'Bearer' });
      c.set('identity', { via: 'apikey', user: resolved.user, keyId: resolved.keyId, scopes: resolved.scopes });
      c.set('tenantId', resolved.user.tenantId);
      return next();
    }
    const sessionId = getCookie(c, SESSION_COOKIE);
    if (sessionId) {
      const { session, user } = await ctx.auth.validateSession(sessionId);
      if (!session) c.header('set-cookie', ctx.auth.createBlankSessionCookie().serialize(), { append: true });
      else {
        if (session.fresh)
          c.header('set-cookie', ctx.auth.createSessionCookie(session.id).serialize(), { append: true });
        c.set('identity', { via: 'session', user, session, scopes: SCOPES });
        c.set('tenantId', user.tenantId);
        c.set('zone', await timeZoneOr(ctx, user.tenantId, DEFAULT_TIME_ZONE));
      }
    }
    return next();
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Every state-changing request that a browser could be tricked into sending carries a
 * token bound to its session (or pre-session cookie). API-key requests carry no ambient
 * credential and are exempt; so are API and ingest requests without any identity (they get a 401).
 */
export function csrfProtection(ctx: AppContext): MiddlewareHandler<Env> {
  return async (c, next) => {
    const identity = c.var.identity;
    if (identity?.via === 'apikey') return next();
    let binding = identity?.via === 'session' ? identity.session.id : getCookie(c, PRESESSION_COOKIE);
    if (!binding) {
      binding = newPresessionId();
      setCookie(c, PRESESSION_COOKIE, binding, {
        httpOnly: true,
        sameSite: 'Lax',
        secure: ctx.publicUrl.protocol === 'https:',
        path: '/',
      });
    }
    c.set('csrfToken', csrfToken(ctx.secret, binding));
    // Without any identity an API or ingest request has no authority to abuse: it gets its 401.
    // A streamed upload's handler checks the token as the body arrives (src/web/upload.ts).
    const exempt =
      SAFE_METHODS.has(c.req.method) ||
      (!identity && (c.req.path.startsWith('/api/') || isIngestPath(c.req.path))) ||
      STREAMED_UPLOADS.has(c.req.path);
    if (!exempt) {
      const presented =
        c.req.header(CSRF_HEADER) ?? (await formField(c.req.raw.headers.get('content-type'), () => c.req.parseBody()));
      if (!csrfValid(ctx.secret, binding, presented))
        throw httpError(403, 'missing or invalid CSRF token; reload the page and try again', CSRF_FIELD);
    }
    return next();
  };
}

/**
 * A form that does not parse (a broken multipart body) is the client's error, named, before
 * any handler reads it: Hono keeps the parsed form (or its failure) for every later reader.
 * The body is read first, so a body over the limit still gets its 413.
 */
export async function readableForm(c: Context<Env>, next: Next): Promise<void> {
  if (!SAFE_METHODS.has(c.req.method) && FORM_TYPES.test(c.req.header('content-type') ?? '')) {
    await c.req.arrayBuffer();
    try {
      await c.req.parseBody();
    } catch {
      throw httpError(400, 'body: a form that cannot be read (malformed form data)', 'body');
    }
  }
  await next();
}

const FORM_TYPES = /application\/x-www-form-urlencoded|multipart\/form-data/i;

async function formField(
  contentType: string | null,
  parse: () => Promise<Record<string, unknown>>,
): Promise<string | undefined> {
  if (!contentType || !FORM_TYPES.test(contentType)) return undefined;
  const value = (await parse())[CSRF_FIELD];
  return typeof value === 'string' ? value : undefined;
}

/** The tenant's time zone, which a page's times read in; `fallback` when its file cannot be read now. */
async function timeZoneOr(ctx: AppContext, tenantId: string, fallback: string): Promise<string> {
  try {
    // Not settled: the zone does not wait for events being applied.
    const file = await ctx.tenantFiles.open(tenantId, { settled: false });
    return (await tenantSettings(file, file)).timeZone;
  } catch {
    return fallback; // the page that needs the file says why; its times read in UTC meanwhile
  }
}
