import { Hono } from 'hono';
import type { AppContext } from '../../context.js';
import { isWritable } from '../../storage/datadir.js';
import type { Env } from '../env.js';

const started = Date.now();

export function healthRoutes(ctx: AppContext) {
  return new Hono<Env>()
    .get('/healthz', (c) => c.json({ status: 'ok', uptime_s: Math.round((Date.now() - started) / 1000) }))
    .get('/readyz', async (c) => {
      const control = await ctx.control.get('SELECT 1 AS ok').then(() => 'ok', (err: Error) => `failed: ${err.message}`);
      const dataDir = isWritable(ctx.config.dataDir) ? 'ok' : 'failed: not writable';
      const ready = control === 'ok' && dataDir === 'ok';
      // The rollups' lag is reported, not judged: a tenant catching up is still served (queries read the unrolled tail).
      // Unauthenticated, so totals only: no tenant is named.
      const aggregation = await ctx.aggregator.lag().then(
        (lags) => ({
          tenants: lags.length,
          pending_events: lags.reduce((n, l) => n + Math.max(0, l.pendingEvents), 0),
          max_lag_seconds: Math.round(Math.max(0, ...lags.map((l) => l.lagSeconds)) * 10) / 10,
          failing_tenants: lags.filter((l) => l.lastError !== null).length,
          // Events the worker could not roll up even alone: left out of every figure, kept in the tenant's file (see the logs).
          set_aside_events: lags.reduce((n, l) => n + l.setAside, 0),
        }),
        (err: Error) => `failed: ${err.message}`,
      );
      return c.json({ status: ready ? 'ready' : 'not ready', checks: { control_db: control, data_dir: dataDir }, aggregation }, ready ? 200 : 503);
    });
}
