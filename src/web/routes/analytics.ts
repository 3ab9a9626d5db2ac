// Analytics (/api/v1/analytics): productivity scores, trends and anomalies of any metric,
// the team compared person by person (managers and above), and a person's own insights.
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { personalInsights, teamComparison, trendOf } from '../../query/analytics.js';
import { productivity } from '../../sessions/productivity.js';
import { tenantPeople, withPeople } from '../../query/people.js';
import { INTERVALS, type Interval } from '../../query/model.js';
import type { Env } from '../env.js';
import { requireIndividuals, scopeFilters } from '../../auth/scope.js';
import { reader, requirePermission } from '../access.js';
import { documented, queryOf } from '../api-doc.js';
import { defaultInterval, FILTER_PARAMS, filtersFrom, RANGE_PARAMS, timeRange, toQuery } from '../query-params.js';

const horizonError = 'must be an integer from 0 to 365';
const OPS = {
  productivity: documented({
    summary: 'Sessions that started in the range with their productivity scores',
    auth: 'read',
    who: 'developers see their own; viewers are refused',
    query: { ...RANGE_PARAMS, ...FILTER_PARAMS },
  }),
  trends: documented({
    summary: "A metric's series, its trend, forecast and anomalies",
    auth: 'read',
    query: {
      metric: z.string(),
      interval: z.enum(INTERVALS).optional(),
      horizon: z.coerce
        .number<string>()
        .int({ error: horizonError })
        .min(0, { error: horizonError })
        .max(365, { error: horizonError })
        .optional()
        .meta({ description: 'intervals to forecast (7)' }),
      ...RANGE_PARAMS,
      ...FILTER_PARAMS,
    },
  }),
  team: documented({
    summary: 'Per-person figures',
    auth: 'read',
    who: 'managers and up',
    query: { ...RANGE_PARAMS, project: FILTER_PARAMS.project, tool: FILTER_PARAMS.tool, model: FILTER_PARAMS.model },
  }),
  insights: documented({
    summary: 'Your figures against the previous period and the team',
    auth: 'read',
    who: 'developers and up',
    query: RANGE_PARAMS,
  }),
};

export function analyticsRoutes(ctx: AppContext) {
  const now = () => ctx.now().getTime();
  return new Hono<Env>()
    .get('/productivity', OPS.productivity, async (c) => {
      const { tenantId, view } = reader(c);
      const filters = scopeFilters(view, filtersFrom(c));
      requireIndividuals(view);
      return c.json(await productivity(ctx.tenantFiles, tenantId, timeRange(c, now(), undefined, 30), filters, now()));
    })
    .get('/trends', OPS.trends, async (c) => {
      const { tenantId, view } = reader(c);
      const range = timeRange(c, now(), undefined, 30);
      const horizon = queryOf(c, OPS.trends).horizon ?? 7;
      const filters = scopeFilters(view, filtersFrom(c));
      const q = toQuery(
        {
          metrics: [c.req.query('metric') ?? ''],
          interval: (c.req.query('interval') ?? defaultInterval(range)) as Interval,
          filters,
          ...range,
          limit: 10_000,
        },
        { metrics: 'metric' },
      );
      return c.json(await trendOf(ctx.tenantFiles, tenantId, q, now(), horizon));
    })
    .get('/team', OPS.team, async (c) => {
      const { identity, tenantId } = reader(c);
      requirePermission(identity, 'metrics.view_team');
      const range = timeRange(c, now(), undefined, 30);
      const { user: _ignored, ...filters } = filtersFrom(c);
      return c.json({
        from: new Date(range.from).toISOString(),
        to: new Date(range.to).toISOString(),
        users: withPeople(
          await teamComparison(ctx.tenantFiles, tenantId, range, filters, now()),
          await tenantPeople(ctx.control, tenantId),
        ),
      });
    })
    .get('/insights', OPS.insights, async (c) => {
      const { identity, tenantId, view } = reader(c);
      requirePermission(identity, 'dashboard.personal');
      const range = timeRange(c, now(), undefined, 14);
      const team = view.ownUser === null; // a developer sees their own data only
      return c.json(await personalInsights(ctx.tenantFiles, tenantId, identity.user.id, range, now(), { team }));
    });
}
