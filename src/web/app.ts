// The HTTP application: middleware in the order it runs, then the routes.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import type { AppContext } from '../context.js';
import { isOutOfMemory, StorageUnavailableError } from '../storage/errors.js';
import { resolveClientIp } from './client-ip.js';
import type { Env } from './env.js';
import { fromDomainError, httpError, unavailable } from './errors.js';
import { isIngestPath } from './ingest-paths.js';
import { csrfProtection, identify, loggedPath, readableForm, requestLog, requestMetrics } from './middleware.js';
import { createRenderer } from './render.js';
import { STREAMED_UPLOADS } from './upload.js';
import { alertRoutes } from './routes/alerts.js';
import { alertChannelRoutes } from './routes/alert-channels.js';
import { alertPageRoutes } from './routes/alert-pages.js';
import { analyticsRoutes } from './routes/analytics.js';
import { apiRoutes } from './routes/api.js';
import { apiDocRoutes } from './routes/api-docs.js';
import { auditPageRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { connectRoutes } from './routes/connect.js';
import { dashboardRoutes } from './routes/dashboards.js';
import { exportRoutes } from './routes/export.js';
import { healthRoutes } from './routes/health.js';
import { importRoutes } from './routes/import.js';
import { importPageRoutes } from './routes/import-pages.js';
import { hookRoutes } from './routes/hooks.js';
import { mcpRoutes } from './routes/mcp.js';
import { metricsRoutes } from './routes/metrics.js';
import { samlSignInRoutes } from './routes/saml.js';
import { organisationsPageRoutes } from './routes/organisations-pages.js';
import { mfaRoutes } from './routes/mfa.js';
import { otlpRoutes } from './routes/otlp.js';
import { pageRoutes } from './routes/pages.js';
import { peopleRoutes } from './routes/people-pages.js';
import { privacyRoutes } from './routes/privacy.js';
import { peopleAdminPageRoutes } from './routes/people-admin-pages.js';
import { peopleApiRoutes } from './routes/people-api.js';
import { linkPageRoutes } from './routes/link-pages.js';
import { queryRoutes } from './routes/query.js';
import { restMetricsRoutes } from './routes/rest-metrics.js';
import { seedQueryRoutes } from './routes/seed-queries.js';
import { settingsRoutes } from './routes/settings.js';
import { settingsPageRoutes } from './routes/settings-pages.js';
import { ssoRoutes } from './routes/sso.js';
import { ssoSettingsRoutes } from './routes/sso-settings.js';
import { staticRoutes } from './routes/static.js';
import { tenantSettingsPageRoutes } from './routes/tenant-settings-pages.js';
import { toolPageRoutes } from './routes/tool-pages.js';

export function createApp(ctx: AppContext): Hono<Env> {
  const render = createRenderer();
  const app = new Hono<Env>();

  app.use(requestMetrics(ctx));
  app.use(requestLog(ctx));
  app.use(resolveClientIp(ctx.config.trustedProxies));
  app.use(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        // Charts position their parts with style attributes; scripts and style sheets stay our own.
        styleSrcAttr: ["'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
      strictTransportSecurity: ctx.publicUrl.protocol === 'https:' ? 'max-age=31536000' : false,
    }),
  );
  app.route('/', healthRoutes(ctx));
  // Before the caller is identified: a scraper's bearer token is not an API key.
  app.route('/', metricsRoutes(ctx));
  app.route('/', staticRoutes());
  // Ingest endpoints set their own (larger) limit in ingestGuard, uploads theirs in receiveUpload.
  const formLimit = bodyLimit({
    maxSize: 1024 * 1024,
    onError: () => {
      throw httpError(413, 'body: larger than 1 MiB', 'body', { connection: 'close' });
    },
  });
  app.use((c, next) =>
    isIngestPath(c.req.path) || STREAMED_UPLOADS.has(c.req.path) ? next() : formLimit(c, () => readableForm(c, next)),
  );
  app.use(identify(ctx));
  // Before the CSRF check: /mcp takes API keys only, never a session cookie.
  app.route('/', mcpRoutes(ctx));
  // The IdP's answer is a cross-site POST with no CSRF token: its signature and single-use InResponseTo protect it.
  app.route('/', samlSignInRoutes(ctx, render));
  app.use(csrfProtection(ctx));

  app.route('/', authRoutes(ctx, render));
  app.route('/', mfaRoutes(ctx, render));
  app.route('/', ssoRoutes(ctx, render));
  app.route('/', ssoSettingsRoutes(ctx, render));
  app.route('/', dashboardRoutes(ctx, render));
  app.route('/', peopleRoutes(ctx, render));
  app.route('/', connectRoutes(ctx, render));
  app.route('/', importPageRoutes(ctx, render));
  app.route('/', settingsPageRoutes(ctx, render));
  app.route('/', peopleAdminPageRoutes(ctx, render));
  app.route('/', linkPageRoutes(ctx, render));
  app.route('/', toolPageRoutes(ctx, render));
  app.route('/', pageRoutes(ctx, render));
  app.route('/', tenantSettingsPageRoutes(ctx, render));
  app.route('/', organisationsPageRoutes(ctx, render));
  app.route('/', auditPageRoutes(ctx, render));
  app.route('/', alertChannelRoutes(ctx, render));
  app.route('/', alertPageRoutes(ctx, render));
  app.route(
    '/',
    apiDocRoutes(ctx, render, () => app.routes),
  );
  app.route('/api/v1', apiRoutes(ctx));
  app.route('/api/v1', privacyRoutes(ctx));
  app.route('/api/v1', peopleApiRoutes(ctx));
  app.route('/api/v1', queryRoutes(ctx));
  app.route('/api/v1', alertRoutes(ctx));
  app.route('/api/v1/analytics', analyticsRoutes(ctx));
  app.route('/api/v1/settings', settingsRoutes(ctx));
  app.route('/api/v1/hooks', hookRoutes(ctx));
  app.route('/api/v1/import', importRoutes(ctx));
  app.route('/v1', otlpRoutes(ctx));
  app.route('/api/metrics', seedQueryRoutes(ctx));
  app.route('/api/metrics/export', exportRoutes(ctx));
  app.route('/api/metrics', restMetricsRoutes(ctx));

  app.notFound((c) =>
    wantsHtml(c.req.raw)
      ? render(c, 'error', { status: 404, message: 'There is no page here.' }, 404)
      : c.json({ error: 'not found' }, 404),
  );
  app.onError((err, c) => {
    // Any route that touches storage: a tenant's missing file, a full disk.
    if (err instanceof StorageUnavailableError) {
      ctx.log.error('storage unavailable', {
        request_id: c.var.requestId,
        method: c.req.method,
        path: loggedPath(c.req.path),
        error: err.message,
      });
      err = unavailable(err);
    }
    // DuckDB refused a statement for want of the shared memory budget (--memory-limit) and
    // rolled it back: the process is busy, the request may be sent again.
    if (isOutOfMemory(err)) {
      ctx.log.warn('out of memory for a request', {
        request_id: c.var.requestId,
        method: c.req.method,
        path: loggedPath(c.req.path),
        error: err.message,
      });
      err = httpError(503, 'the appliance is short of memory for this request right now; retry shortly', undefined, {
        'retry-after': '2',
      });
    }
    err = fromDomainError(err) as Error;
    if (err instanceof HTTPException) {
      const res = err.getResponse();
      if (!wantsHtml(c.req.raw) || (res.status === 401 && c.req.path.startsWith('/api/'))) return res;
      const retryAfter = res.headers.get('retry-after');
      if (retryAfter) c.header('retry-after', retryAfter);
      return res
        .clone()
        .json()
        .then(
          (body: { error?: string }) => {
            const page = render(
              c,
              'error',
              { status: res.status, message: body.error ?? res.statusText },
              res.status as 400,
            );
            const retryAfter = res.headers.get('retry-after');
            if (retryAfter) page.headers.set('retry-after', retryAfter);
            return page;
          },
          () => res,
        );
    }
    ctx.log.error('unhandled error', {
      request_id: c.var.requestId,
      method: c.req.method,
      path: loggedPath(c.req.path),
      error: err.stack ?? String(err),
    });
    return c.json({ error: 'internal error', request_id: c.var.requestId }, 500);
  });
  return app;
}

/** Browsers navigating get pages; scripts and the API get JSON. */
function wantsHtml(req: Request): boolean {
  return !new URL(req.url).pathname.startsWith('/api/') && (req.headers.get('accept') ?? '').includes('text/html');
}
