// A tenant's own settings (/api/v1/settings): retention per tier and model prices. Anyone
// who may read metrics sees them; a tenant admin changes them (signed in, audited). A
// price change re-prices every model at once: costs are computed when asked, so past
// figures follow (the sessions' stored figures are forgotten, and stored again).
import { Hono } from 'hono';
import type { AppContext } from '../../context.js';
import { audit } from '../../admin/audit.js';
import { retentionSchema, saveSetting, tenantSettings } from '../../aggregate/settings.js';
import { setPrices } from '../../aggregate/worker.js';
import { DEFAULT_PRICES, priceOverridesSchema } from '../../cost/prices.js';
import type { Env } from '../env.js';
import { requirePermission, requireSession } from '../access.js';
import { readInput } from '../errors.js';
import { clientIp } from '../client-ip.js';
import { reader } from './query.js';

export function settingsRoutes(ctx: AppContext) {
  return new Hono<Env>()
    .get('/', async (c) => {
      const { tenantId } = reader(c);
      const file = await ctx.tenantFiles.open(tenantId);
      const conn = await ctx.tenantFiles.connection(tenantId, 'reader');
      const settings = await tenantSettings(file, conn);
      const models = await conn.all('SELECT model, input, output, cache_write, cache_read FROM model_prices ORDER BY model');
      return c.json({ retention_days: settings.retention, prices: { per: 'USD per million tokens', defaults: DEFAULT_PRICES, overrides: settings.prices, models } });
    })
    .put('/retention', async (c) => {
      const identity = requireSession(c);
      requirePermission(identity, 'user.manage');
      const input = await readInput(c, retentionSchema.partial());
      const file = await ctx.tenantFiles.open(identity.user.tenantId);
      const next = { ...(await tenantSettings(file, file)).retention, ...input };
      await saveSetting(file, file, 'retention', next);
      await audit(ctx.control, { actor: 'user', actorUserId: identity.user.id, tenantId: identity.user.tenantId, action: 'settings.retention', ip: clientIp(c), detail: next });
      return c.json({ retention_days: next });
    })
    .put('/prices', async (c) => {
      const identity = requireSession(c);
      requirePermission(identity, 'user.manage');
      const overrides = await readInput(c, priceOverridesSchema);
      const file = await ctx.tenantFiles.open(identity.user.tenantId);
      // Not while the worker stores figures at the old prices: stored figures priced so are forgotten here.
      await ctx.aggregator.whileIdle(async () => {
        await saveSetting(file, file, 'prices', overrides);
        await file.transaction(async (tx) => {
          const models = (await tx.all<{ model: string }>('SELECT model FROM model_prices')).map((m) => m.model);
          await setPrices(tx, [...new Set([...models, ...Object.keys(overrides)])], overrides);
          await tx.run('DELETE FROM session_figures');
        });
      });
      await audit(ctx.control, { actor: 'user', actorUserId: identity.user.id, tenantId: identity.user.tenantId, action: 'settings.prices', ip: clientIp(c), detail: overrides });
      return c.json({ overrides });
    });
}
