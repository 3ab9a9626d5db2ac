// The seeds' query endpoints (/api/metrics, seed 004 "Metrics Querying"), answered by the
// query model: aggregated windows, the dashboard, real-time windows, command executions
// and the advanced query. Their parameter names are the seed's (start_date, end_date,
// user_id, aggregation_window, time_range, metric_types); `team_id` is accepted and
// ignored: the team is the caller's tenant, never chosen by a parameter.
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { TIER_MS, TIERS } from '../../aggregate/tiers.js';
import { productivity } from '../../sessions/productivity.js';
import { INTERVALS, MAX_RANGE_MS, METRICS, type Interval, type QueryInput } from '../../query/model.js';
import { runPartiallyFiltered, runQuery } from '../../query/run.js';
import { dashboardSummary } from '../../query/summary.js';
import type { Env } from '../env.js';
import { scopeFilters } from '../access.js';
import { httpError, parseWith, readJson } from '../errors.js';
import { documented, queryOf } from '../api-doc.js';
import { FILTER_PARAMS, filterParam, filtersFrom, parseTime, timeParam, timeRange, toQuery } from '../query-params.js';
import { reader } from './query.js';

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
const SEED_RANGE = { start_date: timeParam.optional(), end_date: timeParam.optional() };
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
      const q = toQuery(
        {
          metrics: WINDOW_METRICS,
          interval,
          group_by: groupBy,
          filters,
          ...range,
          limit: Math.min(10_000, offset + limit),
        },
        { from: 'start_date', to: 'end_date', interval: 'aggregation_window' },
      );
      const result = await runQuery(ctx.tenantFiles, tenantId, q, { now: now() });
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
      if (!view.individuals) throw httpError(403, 'your role sees team figures only');
      const params = queryOf(c, OPS.commands);
      const limit = params.limit || 100;
      const offset = params.offset ?? 0;
      const sql: Record<string, unknown> = { from: range.from, to: range.to, limit: limit + 1, offset };
      const where = [`kind = 'command'`, 'ts >= make_timestamp($from * 1000)', 'ts < make_timestamp($to * 1000)'];
      for (const [dim, col] of [
        ['user', 'user_id'],
        ['command', 'name'],
        ['status', 'status'],
        ['project', 'project'],
        ['session', 'session_id'],
      ] as const) {
        const values = filters[dim];
        if (values)
          where.push(`${col} IN (${values.map((v, i) => ((sql[`${dim}${i}`] = v), `$${dim}${i}`)).join(', ')})`);
      }
      const conn = await ctx.tenantFiles.connection(tenantId, 'reader');
      const rows = await conn.all<Record<string, unknown>>(
        `SELECT seq, epoch_ms(ts) AS ts_ms, user_id, session_id, project, name, status, duration_ms, error, attributes::VARCHAR AS attributes
           FROM events WHERE ${where.join(' AND ')} ORDER BY ts DESC, seq DESC LIMIT $limit OFFSET $offset`,
        sql,
      );
      const data = rows.slice(0, limit).map((r) => ({
        id: String(r.seq),
        executed_at: new Date(Number(r.ts_ms)).toISOString(),
        user_id: r.user_id,
        session_id: r.session_id,
        project: r.project,
        command_name: r.name,
        status: r.status,
        execution_time_ms: r.duration_ms,
        error_message: r.error,
        attributes: r.attributes ? (JSON.parse(String(r.attributes)) as unknown) : null,
      }));
      return c.json({ data, pagination: { limit, offset, returned: data.length, has_more: rows.length > limit } });
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
      if (wantsScore && !view.individuals)
        throw httpError(
          403,
          'metric_types: productivity_score is per session; your role sees team figures only',
          'metric_types',
        );
      // The windows' figures and the sessions' scores side by side, on the tenant's two readers.
      const [{ rows }, scored] = await Promise.all([
        runQuery(ctx.tenantFiles, tenantId, q, { now: now() }),
        wantsScore ? productivity(ctx.tenantFiles, tenantId, range, filters, now()) : null,
      ]);
      const byWindow = new Map(rows.map(({ t, ...m }) => [String(t), metrics.length ? m : {}]));
      if (scored) {
        const size = TIER_MS[body.aggregation_window];
        const scores = new Map<string, number[]>();
        for (const s of scored.sessions) {
          const w = new Date(Math.floor(Date.parse(s.started_at) / size) * size).toISOString();
          scores.set(w, [...(scores.get(w) ?? []), s.score]);
        }
        for (const [w, list] of scores)
          byWindow.set(w, {
            ...(byWindow.get(w) ?? {}),
            productivity_score: Math.round((list.reduce((a, b) => a + b, 0) / list.length) * 10) / 10,
            scored_sessions: list.length,
          });
      }
      const data = [...byWindow]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([t, m]) => ({ window_start: t, aggregation_window: body.aggregation_window, ...m }));
      return c.json({ query: { ...body, user_id: filters.user?.[0] }, data });
    });
}
