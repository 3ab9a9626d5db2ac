// The one query language: a query is data (metrics, dimensions, filters, a time range and
// an optional interval), validated here, planned in plan.ts and written as SQL by sql/*.ts.
// The API, the seeds' endpoints, exports and the dashboards all speak it.
import { z } from 'zod';
import { KINDS, type Kind } from '../ingest/schema.js';
import { TIER_MS, TIERS } from '../aggregate/tiers.js';

/** What a dimension is called in a query → the rollup column it reads, and the kinds it applies to. */
export const DIMENSIONS = {
  user: { column: 'user_id', kinds: null },
  project: { column: 'project', kinds: null },
  session: { column: 'session_id', kinds: null },
  kind: { column: 'kind', kinds: null },
  model: { column: 'model', kinds: null },
  status: { column: 'status', kinds: null },
  tool: { column: 'name', kinds: ['tool_call'] },
  command: { column: 'name', kinds: ['command'] },
  agent: { column: 'name', kinds: ['agent_interaction', 'subagent_start', 'subagent_stop'] },
} as const satisfies Record<string, { column: string; kinds: readonly Kind[] | null }>;
export type Dimension = keyof typeof DIMENSIONS;
export const DIMENSION_NAMES = Object.keys(DIMENSIONS) as Dimension[];

/**
 * A metric: the kinds of rows it reads (null: all) and its aggregate over rollup rows.
 * `spend` metrics apply the counting-once rule (requests when the session has them,
 * metric points otherwise); `distinct` ones count users or sessions: both need user and
 * session keys. `columns` names the key columns besides kind a metric's SQL reads (the
 * cube must have them). `percentile` metrics read the duration sketch.
 */
export type MetricDef =
  | {
      kinds: readonly Kind[] | null;
      sql: string;
      spend?: true;
      distinct?: true;
      columns?: readonly string[];
      description: string;
    }
  | { kinds: readonly Kind[]; percentile: number | 'avg' | 'min' | 'max'; family: Family; description: string };

export const REQUEST_KINDS = ['api_request', 'agent_interaction'] as const satisfies readonly Kind[];
/**
 * SQL: a row of a request as the spend rule sees one (over events and tier rows alike): any
 * `api_request`, and an agent interaction that carries tokens or a cost. A bare agent
 * interaction (an invocation, as the legacy files and the batch endpoint report them) has no
 * spend to count in place of its session's metric points.
 */
export const SPEND_REQUEST_SQL = `(kind = 'api_request' OR (kind = 'agent_interaction' AND (coalesce(input_tokens, 0) + coalesce(output_tokens, 0) + coalesce(cache_read_tokens, 0) + coalesce(cache_creation_tokens, 0) > 0 OR coalesce(cost_usd, 0) > 0)))`;
/** Kinds that count only in sessions without requests (the spend rule). */
export const METRIC_POINT_KINDS = ['token_usage', 'cost_usage'] as const satisfies readonly Kind[];
const TOKEN_KINDS = [...REQUEST_KINDS, 'token_usage'] as const satisfies readonly Kind[];
const COST_KINDS = [...REQUEST_KINDS, 'cost_usage'] as const satisfies readonly Kind[];

const FAMILIES = {
  tool: ['tool_call'],
  command: ['command'],
  agent: ['agent_interaction', 'subagent_stop'],
  api: ['api_request'],
} as const satisfies Record<string, readonly Kind[]>;
type Family = keyof typeof FAMILIES;

/** SQL: the row's kind is one of `kinds` (our own names: safe to inline). */
export const inKinds = (kinds: readonly Kind[]) => `kind IN (${kinds.map((k) => `'${k}'`).join(', ')})`;
/**
 * `expr` where `cond` holds, else null: what an aggregate over some rows takes. DuckDB adds
 * up many of these faster than the same aggregates with FILTER clauses (the summary's
 * statement, 19 of them: 15 % faster, measured).
 */
export const when = (cond: string, expr: string) => `CASE WHEN ${cond} THEN ${expr} END`;
const sumOf = (col: string, kinds: readonly Kind[]) => `coalesce(sum(${when(inKinds(kinds), col)}), 0)`;
const ratio = (a: string, b: string) => `coalesce(${a} / nullif(${b}, 0), 0)`;
/** Spend rows: a session's requests if it has any, else its metric points (a request row's session has requests: itself). */
const spend = (col: string, requestKinds: readonly Kind[], metricKind: Kind) =>
  `coalesce(sum(${when(`${inKinds(requestKinds)} OR (kind = '${metricKind}' AND NOT has_requests)`, col)}), 0)`;
const PRICED_COST = `cost_usd + (unpriced_input * coalesce(p.input, 0) + unpriced_output * coalesce(p.output, 0) + unpriced_cache_read * coalesce(p.cache_read, 0) + unpriced_cache_creation * coalesce(p.cache_write, 0)) / 1e6`;

/** Distinct sessions of the rows: a session is a user's, so two people sending one session id have two. */
export const SESSIONS_SQL = `count(DISTINCT (user_id, session_id)) FILTER (session_id <> '')`;

const counted: Record<string, MetricDef> = {
  events: { kinds: null, sql: 'coalesce(sum(n), 0)', description: 'events stored (each request and tool call once)' },
  // A session is a user's: two people sending one session id have two sessions.
  sessions: {
    distinct: true,
    kinds: null,
    sql: SESSIONS_SQL,
    description: 'distinct sessions (per user) with any event',
  },
  active_users: {
    distinct: true,
    kinds: null,
    sql: 'count(DISTINCT user_id)',
    description: 'distinct users with any event',
  },
  prompts: { kinds: ['prompt'], sql: sumOf('n', ['prompt']), description: 'user prompts' },
  tool_calls: { kinds: FAMILIES.tool, sql: sumOf('n', FAMILIES.tool), description: 'tool calls (one per tool_use_id)' },
  tool_failures: { kinds: FAMILIES.tool, sql: sumOf('failures', FAMILIES.tool), description: 'tool calls that failed' },
  tool_failure_rate: {
    kinds: FAMILIES.tool,
    sql: ratio(sumOf('failures', FAMILIES.tool), sumOf('n', FAMILIES.tool)),
    description: 'failed / all tool calls',
  },
  commands: { kinds: FAMILIES.command, sql: sumOf('n', FAMILIES.command), description: 'command executions' },
  command_failures: {
    kinds: FAMILIES.command,
    sql: sumOf('failures', FAMILIES.command),
    description: 'commands that failed or timed out',
  },
  command_failure_rate: {
    kinds: FAMILIES.command,
    sql: ratio(sumOf('failures', FAMILIES.command), sumOf('n', FAMILIES.command)),
    description: 'failed / all commands',
  },
  agent_calls: {
    kinds: ['agent_interaction', 'subagent_start'],
    sql: sumOf('n', ['agent_interaction', 'subagent_start']),
    description: 'sub-agent runs and agent interactions',
  },
  agent_failures: {
    kinds: ['agent_interaction'],
    sql: sumOf('failures', ['agent_interaction']),
    description: 'agent interactions that failed',
  },
  agents_used: {
    kinds: ['agent_interaction', 'subagent_start'],
    columns: ['name'],
    sql: `count(DISTINCT name) FILTER (kind IN ('agent_interaction', 'subagent_start') AND name <> '')`,
    description: 'distinct agents (sub-agent types) used',
  },
  subagents: { kinds: ['subagent_start'], sql: sumOf('n', ['subagent_start']), description: 'sub-agents started' },
  api_requests: {
    kinds: ['api_request'],
    sql: sumOf('n', ['api_request']),
    description: 'model API requests (one per request_id)',
  },
  api_errors: { kinds: ['api_error'], sql: sumOf('n', ['api_error']), description: 'model API errors' },
  error_rate: {
    kinds: ['tool_call', 'command', 'agent_interaction', 'api_request', 'api_error'],
    sql: ratio(
      `(${sumOf('failures', ['tool_call', 'command', 'agent_interaction'])} + ${sumOf('n', ['api_error'])})`,
      sumOf('n', ['tool_call', 'command', 'agent_interaction', 'api_request', 'api_error']),
    ),
    description: 'failed tool calls, commands, agent interactions and API errors over all of them',
  },
  commits: { kinds: ['commit'], sql: sumOf('value', ['commit']), description: 'commits made' },
  pull_requests: {
    kinds: ['pull_request'],
    sql: sumOf('value', ['pull_request']),
    description: 'pull requests opened',
  },
  lines_added: {
    kinds: ['lines'],
    sql: sumOf('lines_added', ['lines']),
    description: 'lines of code added, as OpenTelemetry reports them (claude_code.lines_of_code.count)',
  },
  lines_removed: {
    kinds: ['lines'],
    sql: sumOf('lines_removed', ['lines']),
    description: 'lines of code removed, as OpenTelemetry reports them',
  },
  // The same change can be reported both ways (OpenTelemetry's lines and the hooks' edit
  // calls): two metrics, never summed. Productivity counts one or the other per session.
  edit_lines_added: {
    kinds: ['tool_call'],
    sql: sumOf('lines_added', ['tool_call']),
    description:
      'lines added by edit tool calls (Edit, Write, MultiEdit, NotebookEdit), counted from what the hooks carry',
  },
  edit_lines_removed: {
    kinds: ['tool_call'],
    sql: sumOf('lines_removed', ['tool_call']),
    description: 'lines removed by edit tool calls, counted from what the hooks carry',
  },
  active_time_s: { kinds: ['active_time'], sql: sumOf('value', ['active_time']), description: 'active time, seconds' },
  input_tokens: {
    spend: true,
    kinds: TOKEN_KINDS,
    sql: spend('input_tokens', REQUEST_KINDS, 'token_usage'),
    description: 'input tokens (counted once)',
  },
  output_tokens: {
    spend: true,
    kinds: TOKEN_KINDS,
    sql: spend('output_tokens', REQUEST_KINDS, 'token_usage'),
    description: 'output tokens (counted once)',
  },
  cache_read_tokens: {
    spend: true,
    kinds: TOKEN_KINDS,
    sql: spend('cache_read_tokens', REQUEST_KINDS, 'token_usage'),
    description: 'cache read tokens (counted once)',
  },
  cache_creation_tokens: {
    spend: true,
    kinds: TOKEN_KINDS,
    sql: spend('cache_creation_tokens', REQUEST_KINDS, 'token_usage'),
    description: 'cache creation tokens (counted once)',
  },
  tokens: {
    spend: true,
    kinds: TOKEN_KINDS,
    sql: spend(
      'input_tokens + output_tokens + cache_read_tokens + cache_creation_tokens',
      REQUEST_KINDS,
      'token_usage',
    ),
    description: 'all tokens (counted once)',
  },
  cost_usd: {
    spend: true,
    kinds: COST_KINDS,
    sql: spend(PRICED_COST, REQUEST_KINDS, 'cost_usage'),
    description: 'cost in USD: reported, else tokens × the model price (counted once)',
  },
};

const STATS = { avg: 'avg', min: 'min', max: 'max', p50: 0.5, p95: 0.95, p99: 0.99 } as const;
const durations: Record<string, MetricDef> = {};
for (const [family, kinds] of Object.entries(FAMILIES) as [Family, readonly Kind[]][]) {
  for (const [stat, percentile] of Object.entries(STATS)) {
    durations[`${family}_${stat}_ms`] = {
      kinds,
      percentile,
      family,
      description: `${family} duration ${stat}, ms${typeof percentile === 'number' ? ' (interpolated between closest ranks: exact, or within 1% where a bin holds more than two durations)' : ''}`,
    };
  }
}

export const METRICS: Record<string, MetricDef> = { ...counted, ...durations };
export const METRIC_NAMES = Object.keys(METRICS);

/** Kinds whose rows carry a model: requests, API errors, and the token and cost points. */
export const MODEL_KINDS = [...REQUEST_KINDS, 'api_error', ...METRIC_POINT_KINDS] as const satisfies readonly Kind[];

/**
 * The filters that narrow only some figures (on the dashboards, in the summary and the
 * real-time windows): a tool filter the figures of tool calls, a command filter those of
 * commands, an agent filter those of agents, a model filter the figures of rows that carry
 * a model (requests, API errors, tokens, cost). Figures of other rows (sessions, prompts,
 * lines…) are asked for every tool, command, agent or model instead of coming out as zero.
 */
export const PARTIAL_FILTERS = {
  tool: DIMENSIONS.tool.kinds,
  command: DIMENSIONS.command.kinds,
  agent: DIMENSIONS.agent.kinds,
  model: MODEL_KINDS,
} as const satisfies Partial<Record<Dimension, readonly Kind[]>>;
export type PartialFilter = keyof typeof PARTIAL_FILTERS;
export const PARTIAL_FILTER_NAMES = Object.keys(PARTIAL_FILTERS) as PartialFilter[];

/** Whether a `d` filter narrows `metric`: every row the metric reads carries `d`. */
export function narrows(d: PartialFilter, metric: string): boolean {
  const kinds = METRICS[metric]?.kinds;
  return !!kinds && kinds.every((k) => (PARTIAL_FILTERS[d] as readonly Kind[]).includes(k));
}

/** `filters` without the tool and model filters that do not narrow every one of `metrics`. */
export function filtersFor<F extends Partial<Record<Dimension, unknown>>>(metrics: readonly string[], filters: F): F {
  const out = { ...filters };
  for (const d of PARTIAL_FILTER_NAMES) if (out[d] !== undefined && !metrics.every((m) => narrows(d, m))) delete out[d];
  return out;
}

/**
 * The kinds of rows `metrics` read; null when one of them reads every kind. As a `kind`
 * filter it keeps a grouping to the groups the metrics are about: grouped by model, tool
 * calls (which have none) otherwise make a group of their own with nothing to show.
 */
export function kindsRead(metrics: readonly string[]): Kind[] | null {
  const each = metrics.map((m) => METRICS[m]!.kinds);
  return each.every((k) => k !== null) ? [...new Set(each.flat() as Kind[])] : null;
}

/** Time buckets: the tiers' sizes, and weeks (from Monday) and calendar months of the tenant's zone. */
export const INTERVALS = [...TIERS, '1w', '1mo'] as const;
export type Interval = (typeof INTERVALS)[number];
/** An interval's longest bucket: what bounds a range's points and the tiers that may feed it. */
export const INTERVAL_MS: Record<Interval, number> = { ...TIER_MS, '1w': 7 * TIER_MS['1d'], '1mo': 31 * TIER_MS['1d'] };

/** The longest a filter value may be. */
export const MAX_FILTER_VALUE = 512;
const value = z.string().min(1).max(MAX_FILTER_VALUE);

/** What a kind filter is told when a value is not an event kind (it would match nothing, silently). */
export const NOT_A_KIND = `not an event kind (${KINDS.join(', ')})`;

/** A filter value of dimension `d`: a kind's is one of the event kinds. */
export const filterValue = (d: Dimension) =>
  d === 'kind' ? value.refine((v) => (KINDS as readonly string[]).includes(v), NOT_A_KIND) : value;
/** The first and last times a request may name: the years 1 to 9999, what an ISO date says. */
export const FIRST_TIME_MS = Date.parse('0001-01-01T00:00:00Z');
export const LAST_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z');
/** The longest range a person may ask about (sessions' own figures are not bound by it: see sessionQuerySchema). */
export const MAX_RANGE_YEARS = 3;
export const MAX_RANGE_MS = MAX_RANGE_YEARS * 366 * 86_400_000;
/** What a client is told when its range is longer. */
export const RANGE_TOO_LONG = `the range is longer than ${MAX_RANGE_YEARS} years`;
export const MAX_POINTS = 5000;
export const MAX_ROWS = 10_000;
/** Metrics one query may ask. */
export const MAX_METRICS = 40;
/** Values one filter may list. */
export const MAX_FILTER_VALUES = 200;

/**
 * Filters by dimension (the query's, an alert rule's, the MCP tool's). An object, not a
 * record: a record drops a `__proto__` key, and its question would be answered unfiltered.
 */
export const filtersObject = z.strictObject(
  Object.fromEntries(
    DIMENSION_NAMES.map((d) => [d, z.array(filterValue(d)).min(1).max(MAX_FILTER_VALUES).optional()]),
  ) as {
    [D in Dimension]: z.ZodOptional<z.ZodArray<typeof value>>;
  },
);
const filtersSchema = filtersObject.default({});

const queryObject = z.strictObject({
  metrics: z.array(z.string()).min(1, 'name at least one metric').max(MAX_METRICS),
  group_by: z.array(z.enum(DIMENSION_NAMES)).max(3).default([]),
  filters: filtersSchema,
  from: z.number().int(),
  to: z.number().int(),
  interval: z.enum(INTERVALS).optional(),
  order_by: z.string().optional(),
  limit: z.number().int().min(1).max(MAX_ROWS).default(1000),
  /** Also answer for the period of equal length just before `from` (the result's `previous`). */
  compare: z.boolean().default(false),
  /** Also a row over all groups (the result's `totals`), per period. */
  totals: z.boolean().default(false),
  /**
   * A tool, command, agent or model filter narrows only the metrics it applies to, the others
   * count everything (as the dashboards' figures do); without it such a filter must apply to
   * every metric. Answered as one question per set of filters (runPartiallyFiltered).
   */
  partial_filters: z.boolean().optional(),
});

/** What makes a query answerable; `anySpan` lifts the range limit meant for people's questions. */
function checkQuery(q: z.output<typeof queryObject>, ctx: z.RefinementCtx, anySpan: boolean): void {
  q.metrics.forEach((m, i) => {
    if (!Object.hasOwn(METRICS, m))
      ctx.addIssue({ code: 'custom', path: ['metrics', i], message: `unknown metric "${m}"` });
  });
  if (q.from >= q.to) ctx.addIssue({ code: 'custom', path: ['from'], message: 'must be before to' });
  if (!anySpan && q.to - q.from > MAX_RANGE_MS)
    ctx.addIssue({ code: 'custom', path: ['from'], message: RANGE_TOO_LONG });
  if (q.interval && (q.to - q.from) / INTERVAL_MS[q.interval] > MAX_POINTS) {
    ctx.addIssue({
      code: 'custom',
      path: ['interval'],
      message: `more than ${MAX_POINTS} points for this range; choose a larger interval`,
    });
  }
  if (q.totals && !q.group_by.length && !q.interval)
    ctx.addIssue({
      code: 'custom',
      path: ['totals'],
      message: 'needs group_by or interval: without them the answer is the total',
    });
  if (q.order_by !== undefined && !q.metrics.includes(q.order_by) && !q.group_by.includes(q.order_by as Dimension)) {
    ctx.addIssue({ code: 'custom', path: ['order_by'], message: "must be one of the query's metrics or dimensions" });
  }
  // With partial_filters, a tool, command, agent or model filter narrows the metrics it applies to: one at least.
  if (q.partial_filters)
    for (const d of Object.keys(q.filters) as Dimension[])
      if (Object.hasOwn(PARTIAL_FILTERS, d) && !q.metrics.some((m) => narrows(d as PartialFilter, m)))
        ctx.addIssue({ code: 'custom', path: ['filters', d], message: `${d} applies to none of the metrics` });
  // A kind-specific dimension (tool, command, agent) narrows rows to its kinds; every metric must read only those.
  for (const [where, dims] of [
    ['group_by', q.group_by],
    ['filters', Object.keys(q.filters) as Dimension[]],
  ] as const) {
    for (const d of dims) {
      const dimKinds = DIMENSIONS[d].kinds as readonly Kind[] | null;
      if (!dimKinds) continue;
      const applies = (m: string) => {
        const kinds = METRICS[m]?.kinds;
        return !kinds || kinds.every((k) => dimKinds.includes(k));
      };
      if (where === 'filters' && q.partial_filters) continue; // below, as runPartiallyFiltered reads them
      for (const m of q.metrics)
        if (!applies(m))
          ctx.addIssue({ code: 'custom', path: [where, d], message: `${d} does not apply to metric ${m}` });
    }
  }
}

export const querySchema = queryObject.superRefine((q, ctx) => checkQuery(q, ctx, false));
/**
 * A question the appliance asks about whole sessions (their figures, from their first event
 * to their last): any span, however wrong a client's clock was. A session's figures never
 * depend on the range limit meant for people's questions.
 */
export const sessionQuerySchema = queryObject.superRefine((q, ctx) => checkQuery(q, ctx, true));
export type QueryInput = z.input<typeof querySchema>;
export type Query = z.output<typeof querySchema>;
