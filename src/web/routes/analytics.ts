// Analytics (/api/v1/analytics): productivity scores, trends and anomalies of any metric,
// the team compared person by person (managers and above), and a person's own insights.
import { Hono } from 'hono';
import type { AppContext } from '../../context.js';
import { personalInsights, productivity, teamComparison, trendOf } from '../../query/analytics.js';
import type { Interval } from '../../query/model.js';
import type { Env } from '../env.js';
import { requirePermission, scopeFilters } from '../access.js';
import { httpError } from '../errors.js';
import { defaultInterval, filtersFrom, timeRange, toQuery } from '../query-params.js';
import { reader } from './query.js';

export function analyticsRoutes(ctx: AppContext) {
  const now = () => ctx.now().getTime();
  return new Hono<Env>()
    .get('/productivity', async (c) => {
      const { tenantId, view } = reader(c);
      const filters = scopeFilters(view, filtersFrom(c));
      if (!view.individuals) throw httpError(403, 'your role sees team figures only');
      return c.json(await productivity(ctx.tenantFiles, tenantId, timeRange(c, now(), undefined, 30), filters, now()));
    })
    .get('/trends', async (c) => {
      const { tenantId, view } = reader(c);
      const range = timeRange(c, now(), undefined, 30);
      const horizon = Number(c.req.query('horizon') ?? 7);
      if (!Number.isInteger(horizon) || horizon < 0 || horizon > 365) throw httpError(400, 'horizon: must be an integer from 0 to 365', 'horizon');
      const filters = scopeFilters(view, filtersFrom(c));
      const q = toQuery({ metrics: [c.req.query('metric') ?? ''], interval: (c.req.query('interval') ?? defaultInterval(range)) as Interval, filters, ...range, limit: 10_000 }, { metrics: 'metric' });
      return c.json(await trendOf(ctx.tenantFiles, tenantId, q, now(), horizon));
    })
    .get('/team', async (c) => {
      const { identity, tenantId } = reader(c);
      requirePermission(identity, 'metrics.view_team');
      const range = timeRange(c, now(), undefined, 30);
      const { user: _ignored, ...filters } = filtersFrom(c);
      return c.json({ from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString(), users: await teamComparison(ctx.tenantFiles, tenantId, range, filters, now()) });
    })
    .get('/insights', async (c) => {
      const { identity, tenantId } = reader(c);
      requirePermission(identity, 'dashboard.personal');
      return c.json(await personalInsights(ctx.tenantFiles, tenantId, identity.user.id, timeRange(c, now(), undefined, 14), now()));
    });
}
