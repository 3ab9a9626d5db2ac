// A tenant's own settings (/api/v1/settings): retention per tier, model prices and the time
// zone its days are counted in. Anyone
// who may read metrics sees them; a tenant admin changes them (signed in, audited), as on
// the settings pages (aggregate/settings-change.ts, sessions/prices.ts).
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import { retentionSchema, tenantSettings, timeZoneSchema } from '../../aggregate/settings.js';
import { changeRetention, changeTimeZone, modelPrices } from '../../aggregate/settings-change.js';
import { changePricesBy } from '../../sessions/prices.js';
import { DEFAULT_PRICES, priceOverridesSchema } from '../../cost/prices.js';
import type { Env } from '../env.js';
import { reader, requirePermission, requireSession } from '../access.js';
import { readInput } from '../errors.js';
import { clientIp } from '../client-ip.js';
import { documented } from '../api-doc.js';

const OPS = {
  read: documented({ summary: 'Retention days per tier, model prices and the time zone', auth: 'read' }),
  retention: documented({
    summary: 'Change retention days (any tiers given)',
    auth: 'session',
    who: 'tenant admins',
    body: retentionSchema.partial(),
  }),
  timezone: documented({
    summary: 'Set the time zone days, weeks and months are counted in (an IANA name)',
    auth: 'session',
    who: 'tenant admins',
    body: z.strictObject({ timezone: timeZoneSchema }),
  }),
  prices: documented({
    summary: 'Replace the model price overrides (USD per million tokens)',
    auth: 'session',
    who: 'tenant admins',
    body: priceOverridesSchema,
  }),
};

export function settingsRoutes(ctx: AppContext) {
  return new Hono<Env>()
    .get('/', OPS.read, async (c) => {
      const { tenantId } = reader(c);
      const file = await ctx.tenantFiles.open(tenantId);
      const conn = await ctx.tenantFiles.connection(tenantId, 'reader');
      const settings = await tenantSettings(file, conn);
      const models = await modelPrices(conn);
      return c.json({
        retention_days: settings.retention,
        timezone: settings.timeZone,
        prices: { per: 'USD per million tokens', defaults: DEFAULT_PRICES, overrides: settings.prices, models },
      });
    })
    .put('/retention', OPS.retention, async (c) => {
      const identity = requireSession(c);
      requirePermission(identity, 'user.manage');
      const input = await readInput(c, OPS.retention.operation.body);
      const file = await ctx.tenantFiles.open(identity.user.tenantId);
      const next = await changeRetention(file, input);
      await audit(ctx.control, {
        actor: 'user',
        actorUserId: identity.user.id,
        tenantId: identity.user.tenantId,
        action: 'settings.retention',
        ip: clientIp(c),
        detail: next,
      });
      return c.json({ retention_days: next });
    })
    .put('/timezone', OPS.timezone, async (c) => {
      const identity = requireSession(c);
      requirePermission(identity, 'user.manage');
      const { timezone } = await readInput(c, OPS.timezone.operation.body);
      const file = await ctx.tenantFiles.open(identity.user.tenantId);
      const saved = await changeTimeZone(file, timezone);
      await audit(ctx.control, {
        actor: 'user',
        actorUserId: identity.user.id,
        tenantId: identity.user.tenantId,
        action: 'settings.timezone',
        ip: clientIp(c),
        detail: { timezone: saved },
      });
      return c.json({ timezone: saved });
    })
    .put('/prices', OPS.prices, async (c) => {
      const identity = requireSession(c);
      requirePermission(identity, 'user.manage');
      const overrides = await readInput(c, OPS.prices.operation.body);
      const by = { tenantId: identity.user.tenantId, userId: identity.user.id, ip: clientIp(c) };
      await changePricesBy(ctx, by, overrides);
      return c.json({ overrides });
    });
}
