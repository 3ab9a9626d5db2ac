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
      return c.json({ status: ready ? 'ready' : 'not ready', checks: { control_db: control, data_dir: dataDir } }, ready ? 200 : 503);
    });
}
