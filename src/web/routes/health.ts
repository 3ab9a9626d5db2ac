import { Hono } from 'hono';
import type { AppContext } from '../../context.js';
import { storageReadiness } from '../../storage/readiness.js';
import { totalLag } from '../../aggregate/worker.js';
import type { Env } from '../env.js';

const started = Date.now();

export function healthRoutes(ctx: AppContext) {
  return new Hono<Env>()
    .get('/healthz', (c) => c.json({ status: 'ok', uptime_s: Math.round((Date.now() - started) / 1000) }))
    .get('/readyz', async (c) => {
      const { ready, checks } = await storageReadiness({
        control: ctx.control,
        tenantFiles: ctx.tenantFiles,
        dataDir: ctx.config.dataDir,
      });
      // The rollups' lag is reported, not judged: a tenant catching up is still served (queries read the unrolled tail).
      // Totals over the tenants (the checks above name a tenant whose file is unavailable).
      const aggregation = await ctx.aggregator.lag().then(
        (lags) => ({
          tenants: lags.length,
          pending_events: totalLag(lags).events,
          max_lag_seconds: Math.round(totalLag(lags).seconds * 10) / 10,
          failing_tenants: lags.filter((l) => l.lastError !== null).length,
          // Events the worker could not roll up even alone: left out of every figure, kept in the tenant's file (see the logs).
          set_aside_events: lags.reduce((n, l) => n + l.setAside, 0),
        }),
        (err: Error) => `failed: ${err.message}`,
      );
      return c.json({ status: ready ? 'ready' : 'not ready', checks, aggregation }, ready ? 200 : 503);
    });
}
