// The seeds' query endpoints (/api/metrics, seed 004 "Metrics Querying"), answered by the
// query model: aggregated windows, the dashboard, real-time windows, command executions
// and the advanced query. Their parameter names are the seed's (start_date, end_date,
// user_id, aggregation_window, time_range, metric_types); `team_id` is accepted and
// ignored: the team is the caller's tenant, never chosen by a parameter.
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { TIERS } from '../../aggregate/tiers.js';
import { commandExecutions } from '../../query/commands.js';
import {
  filtersFor,
  INTERVALS,
  MAX_RANGE_MS,
  MAX_ROWS,
  METRICS,
  type Interval,
  type QueryInput,
} from '../../query/model.js';
import { runPartiallyFiltered } from '../../query/run.js';
import { dashboardSummary } from '../../query/summary.js';
import { scoredWindows } from '../../sessions/windows.js';
import type { Env } from '../env.js';
import { requireIndividuals, scopeFilters } from '../../auth/scope.js';
import { reader } from '../access.js';
import { httpError, parseWith, readJson } from '../errors.js';
import { documented, queryOf } from '../api-doc.js';
import {
  FILTER_PARAMS,
  filterParam,
  filtersFrom,
  parseTime,
  rangeParam,
  timeParam,
  timeRange,
  toQuery,
} from '../query-params.js';

const SEED_NAMES = { from: 'start_date', to: 'end_date' };
const SEED_FILTERS = {
  user_id: 'user',
  command_name: 'command',
  tool_name: 'tool',
  agent_name: 'agent',
  project_id: 'project',
} as const;
const WINDOW_METRICS = [
  'sessions',
  'commands',
  'command_failures',
  'tool_calls',
  'tool_failures',
  'agent_calls',
  'api_requests',
  'tokens',
  'cost_usd',
  'lines_added',
  'lines_removed',
  'error_rate',
  'tool_avg_ms',
];
const SPAN = /^(\d{1,4})(m|h|d|w)$/;
const UNIT_MS = { m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 } as const;
const REAL_TIME = { '1m': 6e4, '5m': 3e5, '15m': 9e5, '1h': 3.6e6 } as const;

const intParam = (max: number) => {
  const error = `must be an integer from 0 to ${max}`;
  return z.coerce.number<string>().int({ error }).min(0, { error }).max(max, { error }).optional();
};
const windowParam = z.enum(INTERVALS, { error: `must be one of ${INTERVALS.join(', ')}` }).optional();
const SEED_RANGE = { start_date: timeParam.optional(), end_date: timeParam.optional(), range: rangeParam };
const SEED_FILTER_PARAMS = {
  ...FILTER_PARAMS,
  ...Object.fromEntries(Object.keys(SEED_FILTERS).map((k) => [k, filterParam.optional()])),
  team_id: z.string().optional().meta({ description: 'ignored: the team is your tenant' }),
};

const advancedSchema = z.strictObject({
  start_date: z.string(),
  end_date: z.string(),
  user_id: z.string().min(1).max(200).optional(),
  project: z.string().min(1).max(512).optional(),
  aggregation_window: z.enum(TIERS).default('1h'),
  metric_types: z.array(z.string()).min(1).max(40),
});

const OPS = {
  aggregated: documented({
    summary: 'Figures per window (per person unless a viewer)',
    auth: 'read',
    query: {
      ...SEED_RANGE,
      aggregation_window: windowParam,
      limit: intParam(10_000),
      offset: intParam(100_000),
      ...SEED_FILTER_PARAMS,
    },
  }),
  dashboard: documented({
    summary: 'The summary for the last time_range',
    auth: 'read',
    query: {
      time_range: z
        .string()
        .regex(SPAN, { error: 'expected a span like 1h, 1d, 7d, 30d' })
        .optional()
        .meta({ description: 'a span like 1h, 1d, 7d, 30d (1d)' }),
      ...SEED_FILTER_PARAMS,
    },
  }),
  realTime: documented({
    summary: 'A real-time window up to now, with a per-minute series',
    auth: 'read',
    query: SEED_FILTER_PARAMS,
  }),
  commands: documented({
    summary: 'Command executions, newest first',
    auth: 'read',
    who: 'developers see their own; viewers are refused',
    query: { ...SEED_RANGE, limit: intParam(1000), offset: intParam(100_000), ...SEED_FILTER_PARAMS },
  }),
  query: documented({ summary: 'Windows of metrics (and productivity_score)', auth: 'read', body: advancedSchema }),
};

export function seedQueryRoutes(ctx: AppContext) {
  const now = () => ctx.now().getTime();
  return new Hono<Env>()
    .get('/aggregated', OPS.aggregated, async (c) => {
      const { tenantId, view } = reader(c);
      const range = timeRange(c, now(), SEED_NAMES, 1);
      const params = queryOf(c, OPS.aggregated);
      const interval: Interval = params.aggregation_window ?? '1h';
      const limit = params.limit || 100;
      const offset = params.offset ?? 0;
      const filters = scopeFilters(view, filtersFrom(c, SEED_FILTERS));
      const groupBy: QueryInput['group_by'] = view.individuals ? ['user'] : [];
      const input = {
        metrics: WINDOW_METRICS,
        interval,
        group_by: groupBy,
        filters,
        ...range,
        limit: Math.min(MAX_ROWS, offset + limit),
      };
      // Checked as the query language reads it (errors name this endpoint's parameters); a tool,
      // command, agent or model filter then narrows the figures it applies to, as on /real-time.
      toQuery(
        { ...input, filters: filtersFor(WINDOW_METRICS, filters) },
        { from: 'start_date', to: 'end_date', interval: 'aggregation_window' },
      );
      const result = await runPartiallyFiltered(ctx.tenantFiles, tenantId, input, { now: now() });
      // A page past the rows one question gives is refused, not answered empty with has_more.
      if (result.truncated && offset + limit > MAX_ROWS)
        throw httpError(
          400,
          `offset: more than ${MAX_ROWS} windows match and pages stop there; narrow start_date and end_date, or choose a larger aggregation_window`,
          'offset',
        );
      const data = result.rows.slice(offset, offset + limit).map(({ t, user, ...m }) => ({
        window_start: t,
        aggregation_window: interval,
        ...(view.individuals ? { user_id: user } : {}),
        ...m,
      }));
      return c.json({
        data,
        pagination: {
          limit,
          offset,
          returned: data.length,
          has_more: result.truncated || result.rows.length > offset + limit,
        },
      });
    })

    .get('/dashboard', OPS.dashboard, async (c) => {
      const { tenantId, view } = reader(c);
      const raw = queryOf(c, OPS.dashboard).time_range ?? '1d';
      const m = SPAN.exec(raw);
      if (!m || Number(m[1]) === 0)
        throw httpError(400, 'time_range: expected a span like 1h, 1d, 7d, 30d', 'time_range');
      const span = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
      if (span > MAX_RANGE_MS) throw httpError(400, 'time_range: longer than 3 years', 'time_range');
      const to = now();
      const filters = scopeFilters(view, filtersFrom(c, SEED_FILTERS));
      return c.json({
        time_range: raw,
        ...(await dashboardSummary(ctx.tenantFiles, tenantId, { from: to - span, to }, filters, to)),
      });
    })

    .get('/real-time/:window', OPS.realTime, async (c) => {
      const { tenantId, view } = reader(c);
      const window = c.req.param('window') as keyof typeof REAL_TIME;
      if (!Object.hasOwn(REAL_TIME, window))
        throw httpError(400, `window: must be one of ${Object.keys(REAL_TIME).join(', ')}`, 'window');
      const to = now();
      const from = to - REAL_TIME[window];
      const filters = scopeFilters(view, filtersFrom(c, SEED_FILTERS));
      const metrics = [
        'events',
        'sessions',
        'active_users',
        'prompts',
        'tool_calls',
        'tool_failures',
        'commands',
        'api_requests',
        'api_errors',
        'tokens',
        'cost_usd',
        'tool_p95_ms',
      ];
      // One statement: the series and its totals, which it adds up to.
      // A tool, command or agent filter narrows the figures it applies to; the others count them all.
      const { rows, totals } = await runPartiallyFiltered(
        ctx.tenantFiles,
        tenantId,
        { metrics, interval: '1m', filters, from, to, totals: true },
        { now: to },
      );
      const series = rows.map((r) => ({
        t: r.t,
        events: r.events,
        tool_calls: r.tool_calls,
        tool_failures: r.tool_failures,
        cost_usd: r.cost_usd,
      }));
      return c.json({ window, from: new Date(from).toISOString(), to: new Date(to).toISOString(), totals, series });
    })

    .get('/commands', OPS.commands, async (c) => {
      const { tenantId, view } = reader(c);
      const range = timeRange(c, now(), SEED_NAMES, 7);
      const filters = scopeFilters(view, filtersFrom(c, SEED_FILTERS));
      requireIndividuals(view);
      const params = queryOf(c, OPS.commands);
      const limit = params.limit || 100;
      const offset = params.offset ?? 0;
      const { data, has_more } = await commandExecutions(ctx.tenantFiles, tenantId, {
        ...range,
        filters,
        limit,
        offset,
      });
      return c.json({ data, pagination: { limit, offset, returned: data.length, has_more } });
    })

    .post('/query', OPS.query, async (c) => {
      const { tenantId, view } = reader(c);
      const body = parseWith(OPS.query.operation.body, await readJson(c));
      const range = { from: parseTime(body.start_date, 'start_date'), to: parseTime(body.end_date, 'end_date') };
      if (range.from >= range.to) throw httpError(400, 'start_date: must be before end_date', 'start_date');
      const wantsScore = body.metric_types.includes('productivity_score');
      const metrics = body.metric_types.filter((m) => m !== 'productivity_score');
      body.metric_types.forEach((m, i) => {
        if (m !== 'productivity_score' && !Object.hasOwn(METRICS, m))
          throw httpError(400, `metric_types.${i}: unknown metric "${m}"`, `metric_types.${i}`);
      });
      const filters = scopeFilters(view, {
        ...(body.user_id ? { user: [body.user_id] } : {}),
        ...(body.project ? { project: [body.project] } : {}),
      });
      const q = toQuery(
        {
          metrics: metrics.length ? metrics : ['events'],
          interval: body.aggregation_window,
          filters,
          ...range,
          limit: 10_000,
        },
        { from: 'start_date', to: 'end_date', interval: 'aggregation_window', metrics: 'metric_types' },
      );
      if (wantsScore)
        requireIndividuals(
          view,
          'metric_types: productivity_score is per session; your role sees team figures only',
          'metric_types',
        );
      const windows = await scoredWindows(
        ctx.tenantFiles,
        tenantId,
        { ...q, interval: body.aggregation_window },
        { figures: metrics.length > 0, scores: wantsScore, now: now() },
      );
      const data = windows.map(({ t, ...m }) => ({
        window_start: t,
        aggregation_window: body.aggregation_window,
        ...m,
      }));
      return c.json({ query: { ...body, user_id: filters.user?.[0] }, data });
    });
}
