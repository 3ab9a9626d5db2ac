// GET /metrics: the appliance's Prometheus metrics (src/metrics/), for a local scraper or
// one holding --metrics-token. Mounted before the caller is identified: its bearer token is
// not an API key.
import { Hono } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { AppContext } from '../../context.js';
import { scrapeAccess } from '../../metrics/access.js';
import type { Context } from 'hono';
import type { Env } from '../env.js';
import { httpError } from '../errors.js';

export function metricsRoutes(ctx: AppContext) {
  return new Hono<Env>().get('/metrics', async (c) => {
    const access = scrapeAccess(
      {
        peer: peerAddress(c),
        forwarded: ['forwarded', 'x-forwarded-for', 'x-real-ip'].some((h) => c.req.header(h) !== undefined),
        authorization: c.req.header('authorization'),
      },
      ctx.config.metricsToken,
    );
    if (access === 'loopback only')
      throw httpError(
        403,
        '/metrics answers only to this machine; start the appliance with --metrics-token to scrape it from elsewhere',
        'authorization',
      );
    if (access === 'token required')
      throw httpError(
        401,
        'missing or wrong metrics token (Authorization: Bearer <--metrics-token>)',
        'authorization',
        { 'www-authenticate': 'Bearer' },
      );
    return c.body(await ctx.metrics.scrape(), 200, {
      'content-type': ctx.metrics.contentType,
      'cache-control': 'no-store',
    });
  });
}

/** The TCP peer; none when the app is called without a socket. */
function peerAddress(c: Context<Env>): string {
  try {
    return getConnInfo(c).remote.address ?? '';
  } catch {
    return '';
  }
}
