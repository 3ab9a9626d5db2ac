// The MCP server's tools: what an agent may ask about usage, sessions, cost and failures.
// Each tool answers through the functions the query API's routes call (the query
// language, the sessions list and page, the common errors), narrowed to what the caller may
// see exactly as the API narrows it (metricsView, scopeFilters): a developer their own data.
// A server is made per request (the transport is stateless); answers are JSON text.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { listRules } from '../../alerts/rules.js';
import { listAlerts, type AlertReader } from '../../alerts/store.js';
import { loadSession } from '../../dashboards/sessions.js';
import { commonErrors, FAILURE_KINDS } from '../../query/errors.js';
import {
  DIMENSION_NAMES,
  filtersObject,
  INTERVALS,
  kindsRead,
  MAX_FILTER_VALUE,
  MAX_FILTER_VALUES,
  MAX_ROWS,
  METRIC_NAMES,
  narrows,
  PARTIAL_FILTER_NAMES,
  type Dimension,
  type QueryInput,
} from '../../query/model.js';
import { namePeople, tenantPeople } from '../../query/people.js';
import { timeZoneOf } from '../../query/buckets.js';
import { runQueries, runQuery } from '../../query/run.js';
import { fillGaps } from '../../query/result.js';
import { BadCursorError, listSessions } from '../../sessions/read.js';
import { timelineCursor } from '../../sessions/timeline.js';
import { StorageUnavailableError } from '../../storage/errors.js';
import { requireIndividuals, scopeFilters, type MetricsView } from '../../auth/scope.js';
import { fromDomainError, httpError, unavailable } from '../errors.js';
import { needsPeople, queryAnswer, rangeOf, scopedQuery, toQuery } from '../query-params.js';

/** Who asks: their tenant (from their key) and what of it they may see. */
export type McpCaller = { tenantId: string; view: MetricsView; alerts: AlertReader; requestId: string };

/** The tools' names: a contract the README and agents' prompts rely on. */
export const TOOL_NAMES = [
  'usage',
  'list_sessions',
  'get_session',
  'cost_breakdown',
  'tool_failures',
  'query',
  'firing_alerts',
] as const;

const TIME = 'ISO 8601 with a zone (2026-05-01T09:00:00Z), a date (UTC midnight) or epoch milliseconds';
const values = (what: string) =>
  z.array(z.string().min(1).max(MAX_FILTER_VALUE)).min(1).max(MAX_FILTER_VALUES).optional().describe(what);
const range = (days: number) => ({
  from: z.string().max(40).optional().describe(`Start of the period (${TIME}); default: ${days} days before \`to\``),
  to: z.string().max(40).optional().describe(`End of the period, exclusive (${TIME}); default: now`),
});
const people = {
  user: values('Only these user ids (a developer may only name themselves; their data is all they see anyway)'),
  project: values("Only these projects (the working directory's name)"),
};

const USAGE_GROUPS = ['day', 'model', 'project', 'tool'] as const;
type UsageGroup = (typeof USAGE_GROUPS)[number];
/** What `usage` reports per group unless asked for other metrics: the figures that mean something per group. */
const USAGE_METRICS: Record<UsageGroup, string[]> = {
  day: ['sessions', 'active_users', 'prompts', 'tool_calls', 'tool_failures', 'api_requests', 'tokens', 'cost_usd'],
  project: ['sessions', 'active_users', 'prompts', 'tool_calls', 'tool_failures', 'api_requests', 'tokens', 'cost_usd'],
  model: [
    'api_requests',
    'api_errors',
    'input_tokens',
    'output_tokens',
    'cache_read_tokens',
    'cache_creation_tokens',
    'tokens',
    'cost_usd',
  ],
  tool: ['tool_calls', 'tool_failures', 'tool_failure_rate', 'tool_p50_ms', 'tool_p95_ms'],
};
const COST_METRICS = ['cost_usd', 'tokens', 'api_requests'];
/**
 * A row of the cost breakdown with something to say: an agent interaction without tokens or
 * cost (the kinds the cost figures read) makes a row of zeros, as the summary's by_model leaves out.
 */
const spent = (row: Record<string, unknown>) => COST_METRICS.some((m) => Number(row[m]) > 0);

export function mcpServer(ctx: AppContext, caller: McpCaller): McpServer {
  const server = new McpServer(
    { name: 'agentmeter', version: '0.1.0' },
    {
      instructions:
        "Usage, cost and failures of AI coding agents (Claude Code) as this agentmeter appliance recorded them. Answers cover what the API key's owner may see: a developer their own data, a manager or admin their team's. Times are UTC instants; days follow the team's time zone (a day's row starts at its local midnight).",
    },
  );
  const { tenantId, view } = caller;
  const now = () => ctx.now().getTime();
  const tool = <S extends z.ZodRawShape>(
    name: (typeof TOOL_NAMES)[number],
    description: string,
    inputSchema: S,
    run: (args: z.output<z.ZodObject<S>>) => Promise<unknown>,
  ) =>
    server.registerTool(
      name,
      {
        description,
        inputSchema: z.strictObject(inputSchema),
        annotations: { readOnlyHint: true, openWorldHint: false },
      },
      (args: unknown) => answer(ctx, caller, name, () => run(args as z.output<z.ZodObject<S>>)),
    );

  tool(
    'usage',
    'Usage over a period grouped by day, model, project or tool: sessions, active users, prompts, tool calls and failures, API requests, tokens and cost in USD (by model: requests, errors and each kind of token; by tool: calls, failures, failure rate and p50/p95 duration). Default period: the last 7 days. Answers { query, rows, truncated }.',
    {
      group_by: z
        .enum(USAGE_GROUPS)
        .default('day')
        .describe(
          "day (one row per day of the team's time zone, days without activity as zeros), model, project or tool",
        ),
      ...range(7),
      metrics: z
        .array(z.string())
        .min(1)
        .max(40)
        .optional()
        .describe(`Other metrics instead of the group's usual ones; see the query tool for the names`),
      ...people,
      model: values('Only these models; narrows the figures that have a model (requests, tokens, cost)'),
      tool: values('Only these tools (Bash, Edit, …); narrows tool-call figures'),
    },
    async (a) => {
      const day = a.group_by === 'day';
      const dims = day ? [] : [a.group_by];
      const asked: Partial<Record<Dimension, string[]>> = {
        ...(a.user && { user: a.user }),
        ...(a.project && { project: a.project }),
        ...(a.model && { model: a.model }),
        ...(a.tool && { tool: a.tool }),
      };
      const filters = scopeFilters(view, asked, dims);
      // Without metrics asked for, the usual ones that a tool or model filter narrows (the others would count every tool or model).
      const metrics =
        a.metrics ??
        USAGE_METRICS[a.group_by].filter((m) => PARTIAL_FILTER_NAMES.every((d) => !filters[d] || narrows(d, m)));
      if (!metrics.length)
        throw httpError(
          400,
          'metrics: none of the usual metrics for this grouping apply to these filters; name some',
          'metrics',
        );
      // By model, only the rows that carry one: tool calls would otherwise make a model-less row of zeros.
      const kinds = a.group_by === 'model' && !a.metrics ? kindsRead(metrics) : null;
      const input: QueryInput = {
        metrics,
        group_by: dims as QueryInput['group_by'],
        filters: { ...filters, ...(kinds && { kind: kinds }) },
        ...rangeOf(a.from, a.to, now()),
        ...(day ? { interval: '1d' as const } : { order_by: metrics.includes('cost_usd') ? 'cost_usd' : metrics[0] }),
        limit: day ? MAX_ROWS : 1000,
      };
      const q = toQuery(input, {}, true);
      const result = await runQuery(ctx.tenantFiles, tenantId, q, { now: now() });
      const zone = day ? await timeZoneOf(ctx.tenantFiles, tenantId) : '';
      return queryAnswer(q, day ? { ...result, rows: fillGaps(result.rows, q, zone) } : result);
    },
  );

  tool(
    'list_sessions',
    "Sessions with activity in a period, newest activity first, each with its owner, project, first and last event, duration and figures (prompts, tool calls and failures, API requests, sub-agents, tokens, cost in USD, lines added and removed). Default period: the last 30 days. Page with `cursor` (the answer's next_cursor). Answers { sessions, next_cursor }.",
    {
      ...range(30),
      ...people,
      tool: values('Only sessions that called one of these tools in the period'),
      model: values('Only sessions that used one of these models in the period'),
      limit: z.number().int().min(1).max(100).default(20).describe('Sessions per page (1-100)'),
      cursor: z.string().max(1000).optional().describe('next_cursor of the previous page'),
    },
    async (a) => {
      requireIndividuals(view);
      const filters = scopeFilters(view, {
        ...(a.user && { user: a.user }),
        ...(a.project && { project: a.project }),
        ...(a.tool && { tool: a.tool }),
        ...(a.model && { model: a.model }),
      });
      return listSessions(ctx.tenantFiles, tenantId, {
        ...rangeOf(a.from, a.to, now(), undefined, 30),
        ...filters,
        cursor: a.cursor,
        limit: a.limit,
        now: now(),
      });
    },
  );

  tool(
    'get_session',
    "One session: its owner, project, first and last event, duration, totals (prompts, tool calls and failures, API requests and errors, sub-agents, tokens, cost in USD, lines changed), productivity score, and a summary of its timeline (each event: time, kind, tool or agent, the prompt, command or file cut short, outcome, error, duration, model, tokens, cost), at most timeline_limit events; page with `after` (the answer's timeline.next_after).",
    {
      session_id: z.string().min(1).max(200).describe('The session id (from list_sessions)'),
      user: z.string().min(1).max(200).optional().describe('Whose session, when several people sent one with this id'),
      timeline_limit: z.number().int().min(1).max(500).default(100).describe('Timeline events to return (1-500)'),
      after: z.string().max(100).optional().describe('timeline.next_after of the previous answer'),
    },
    async (a) => {
      requireIndividuals(view);
      timelineCursor(a.after); // one not given out: an error naming `after`, as in the REST API
      const page = await loadSession(ctx.tenantFiles, tenantId, a.session_id, view, {
        user: a.user,
        after: a.after,
        limit: a.timeline_limit,
        now: now(),
      });
      // A developer's colleague's session does not exist, as far as the developer can tell.
      if (!page) throw httpError(404, 'session_id: no such session', 'session_id');
      if ('owners' in page)
        throw httpError(
          409,
          `user: several people sent a session with this id (${page.owners.join(', ')}); say whose with user`,
          'user',
        );
      return {
        session_id: page.id,
        user_id: page.userId,
        project: page.project,
        first_at: page.firstAt,
        last_at: page.lastAt,
        duration_s: page.durationMs / 1000,
        totals: page.totals,
        score: page.score,
        timeline: { events: page.items.map(({ full: _longer, ...item }) => item), next_after: page.nextAfter },
        notices: page.notices,
      };
    },
  );

  tool(
    'cost_breakdown',
    'Cost in USD (with tokens and API requests) over a period: the total, and broken down by model, by project and, for those who may see individuals, by person (email, name and user id). Default period: the last 7 days. Answers { from, to, total, by_model, by_project, by_person? }.',
    { ...range(7), ...people, model: values('Only these models') },
    async (a) => {
      const dims: Dimension[] = ['model', 'project', ...(view.individuals ? (['user'] as const) : [])];
      const filters = scopeFilters(
        view,
        {
          ...(a.user && { user: a.user }),
          ...(a.project && { project: a.project }),
          ...(a.model && { model: a.model }),
        },
        dims,
      );
      const span = rangeOf(a.from, a.to, now());
      const qs = dims.map((d) =>
        toQuery(
          {
            metrics: COST_METRICS,
            group_by: [d],
            filters: { ...filters, kind: kindsRead(COST_METRICS)! },
            ...span,
            order_by: 'cost_usd',
            limit: 1000,
            totals: true,
          },
          {},
          true,
        ),
      );
      const [byModel, byProject, byUser] = await runQueries(ctx.tenantFiles, tenantId, qs, { now: now() });
      return {
        from: new Date(span.from).toISOString(),
        to: new Date(span.to).toISOString(),
        total: byModel!.totals,
        by_model: byModel!.rows.filter(spent),
        by_project: byProject!.rows.filter(spent),
        ...(byUser && {
          by_person: namePeople(
            byUser.rows.filter(spent),
            ['user', ...COST_METRICS],
            await tenantPeople(ctx.control, tenantId),
          ).rows,
        }),
        truncated: [byModel, byProject, byUser].some((r) => r?.truncated),
      };
    },
  );

  tool(
    'tool_failures',
    'The most common failures in a period, most frequent first: failed tool calls by default (also commands, agent interactions and model API errors with `kind`), grouped by kind, name (the tool) and the first line of the error, with how often, in how many sessions and when last seen. Default period: the last 7 days. Answers { from, to, errors, truncated }.',
    {
      ...range(7),
      ...people,
      tool: values('Only these tools'),
      model: values('Only these models (API errors)'),
      kind: z
        .array(z.enum(FAILURE_KINDS))
        .min(1)
        .default(['tool_call'])
        .describe('Which failures: tool_call (default), command, agent_interaction, api_error'),
      limit: z.number().int().min(1).max(100).default(20).describe('How many (1-100)'),
    },
    async (a) => {
      const span = rangeOf(a.from, a.to, now());
      const filters = scopeFilters(view, {
        ...(a.user && { user: a.user }),
        ...(a.project && { project: a.project }),
        ...(a.tool && { tool: a.tool }),
        ...(a.model && { model: a.model }),
        kind: a.kind,
      });
      return {
        from: new Date(span.from).toISOString(),
        to: new Date(span.to).toISOString(),
        ...(await commonErrors(ctx.tenantFiles, tenantId, span, filters, a.limit)),
      };
    },
  );

  tool(
    'query',
    `Any question in agentmeter's query language: metrics over a period, optionally grouped by up to 3 dimensions and/or bucketed by an interval, filtered by dimension values. Example: {"metrics":["cost_usd","tokens"],"group_by":["model"],"from":"2026-05-01","to":"2026-05-08","order_by":"cost_usd","limit":10}. Default period: the last 7 days. Answers { query, rows, truncated, totals?, previous? }. Metrics: ${METRIC_NAMES.join(', ')}.`,
    {
      metrics: z.array(z.string()).describe('Metric names (1-40), listed in the tool description'),
      group_by: z
        .array(z.string())
        .optional()
        .describe(
          `Up to 3 of: ${DIMENSION_NAMES.join(', ')} (tool, command and agent apply only to their own metrics)`,
        ),
      filters: filtersObject
        .optional()
        .describe(
          `Dimension → values to keep, e.g. {"project":["web"],"tool":["Bash"]}; dimensions: ${DIMENSION_NAMES.join(', ')}`,
        ),
      from: z.union([z.string(), z.number()]).optional().describe(`Start (${TIME})`),
      to: z.union([z.string(), z.number()]).optional().describe(`End, exclusive (${TIME}); default now`),
      interval: z
        .string()
        .optional()
        .describe(`Time buckets: ${INTERVALS.join(', ')}`),
      order_by: z.string().optional().describe('One of the metrics or dimensions asked (descending for metrics)'),
      limit: z.number().optional().describe(`Rows (1-${MAX_ROWS}, default 1000)`),
      compare: z.boolean().optional().describe('Also the period of equal length just before (previous)'),
      totals: z.boolean().optional().describe('Also a row over all groups (totals); needs group_by or interval'),
      partial_filters: z
        .boolean()
        .optional()
        .describe('A tool, command, agent or model filter narrows only the metrics it applies to'),
    },
    async (a) => {
      const q = scopedQuery(a, view, 'body', now());
      const result = await runQuery(ctx.tenantFiles, tenantId, q, { now: now() });
      return queryAnswer(q, result, await needsPeople(q, ctx.control, tenantId));
    },
  );

  tool(
    'firing_alerts',
    "The alerts firing now that the API key's owner may see (a developer: their own rules'; a viewer: the team's, without naming people or giving one person's figure), newest first: rule, severity, metric, group value, since when and the last value. Answers { alerts }.",
    {},
    async () => {
      const db = await ctx.tenantFiles.open(tenantId);
      const { alerts } = await listAlerts(db, await listRules(db, caller.alerts), caller.alerts, {
        state: 'firing',
        limit: 1,
      });
      return { alerts: alerts.filter((a) => a.state === 'firing') };
    },
  );

  return server;
}

/**
 * A tool's answer as JSON text, or an error result: the API's error (its message and the
 * argument it names) for bad input or what the caller may not see, never a crash.
 */
async function answer(
  ctx: AppContext,
  caller: McpCaller,
  tool: string,
  run: () => Promise<unknown>,
): Promise<CallToolResult> {
  try {
    return { content: [{ type: 'text', text: JSON.stringify(await run()) }] };
  } catch (err) {
    let failed = fromDomainError(err);
    if (err instanceof BadCursorError) failed = httpError(400, err.message, err.message.split(':')[0]);
    if (err instanceof StorageUnavailableError) {
      ctx.log.error('storage unavailable', { request_id: caller.requestId, tool, error: err.message });
      failed = unavailable(err);
    }
    if (failed instanceof HTTPException)
      return { isError: true, content: [{ type: 'text', text: await failed.getResponse().text() }] };
    ctx.log.error('unhandled error', {
      request_id: caller.requestId,
      tool,
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
    return {
      isError: true,
      content: [{ type: 'text', text: JSON.stringify({ error: 'internal error', request_id: caller.requestId }) }],
    };
  }
}
