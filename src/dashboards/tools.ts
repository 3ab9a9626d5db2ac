// The tools page: calls, failures and durations per tool, calls and failures over time,
// one tool's durations over time when the tool filter picks one, and the failed calls'
// most common errors. Each table and chart is a question in the query language, so its
// export link asks the API exactly what it shows.
import type { TenantFiles } from '../storage/tenant-files.js';
import { scopeFilters, type MetricsView } from '../auth/scope.js';
import { filtersFor, querySchema, type QueryInput } from '../query/model.js';
import { runQueries } from '../query/run.js';
import { commonErrors, type CommonError, type ErrorFilters } from '../query/errors.js';
import { chartInterval, partialFilterNotices, queryFilters, type Filters } from './filters.js';
import { seriesOf, timeChart, type ChartSpec } from './charts.js';

export type ToolRow = {
  tool: string | null;
  calls: number;
  failures: number;
  failure_rate: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  avg_ms: number | null;
};

export type ToolsPage = {
  tools: ToolRow[];
  /** More tools than the table shows. */
  truncated: boolean;
  activity: ChartSpec;
  /** p50/p95 over time of the one tool the filter picked; null without a tool filter. */
  durations: ChartSpec | null;
  errors: CommonError[];
  queries: { tools: QueryInput; activity: QueryInput; durations: QueryInput | null };
  /** The errors table's question, asked of the errors API (its export links add the format). */
  errorsExport: string;
  notices: string[];
};

const MAX_TOOLS = 100;
const MAX_ERRORS = 20;

const num = (v: string | number | null | undefined) => (v === null || v === undefined ? null : Number(v));

export async function loadTools(
  tf: TenantFiles,
  tenantId: string,
  f: Filters,
  view: MetricsView,
  now: number,
): Promise<ToolsPage> {
  // Everything here is about tool calls, which carry no model: a model filter is ignored.
  const filters = filtersFor(['tool_calls'], scopeFilters(view, queryFilters(f)));
  const range = { from: f.from, to: f.to };
  const interval = chartInterval(f);
  const toolsQ: QueryInput = {
    metrics: [
      'tool_calls',
      'tool_failures',
      'tool_failure_rate',
      'tool_p50_ms',
      'tool_p95_ms',
      'tool_p99_ms',
      'tool_avg_ms',
    ],
    group_by: ['tool'],
    filters,
    ...range,
    order_by: 'tool_calls',
    limit: MAX_TOOLS,
  };
  const activityQ = { metrics: ['tool_calls', 'tool_failures'], filters, ...range, interval, limit: 10_000 };
  const durationsQ: (QueryInput & { interval: string }) | null = f.values.tool
    ? { metrics: ['tool_p50_ms', 'tool_p95_ms'], filters, ...range, interval, limit: 10_000 }
    : null;

  const { user, project, tool } = filters;
  // Failed tool calls only: the export link asks the same (the model filter is ignored on this page).
  const errorFilters: ErrorFilters = {
    ...(user && { user }),
    ...(project && { project }),
    ...(tool && { tool }),
    kind: ['tool_call'],
  };
  // The questions in one runQueries (one read of the watermark, the same events), beside the errors.
  const questions = [toolsQ, activityQ, ...(durationsQ ? [durationsQ] : [])].map((q) => querySchema.parse(q));
  const [[byTool, activityAnswer, durationsAnswer], { errors }] = await Promise.all([
    runQueries(tf, tenantId, questions, { now }),
    commonErrors(tf, tenantId, range, errorFilters, MAX_ERRORS),
  ]);
  const tools = byTool!.rows.map((r) => ({
    tool: r.tool === null ? null : String(r.tool),
    calls: Number(r.tool_calls),
    failures: Number(r.tool_failures),
    failure_rate: Number(r.tool_failure_rate),
    p50_ms: num(r.tool_p50_ms),
    p95_ms: num(r.tool_p95_ms),
    p99_ms: num(r.tool_p99_ms),
    avg_ms: num(r.tool_avg_ms),
  }));
  const activity = timeChart(
    {
      type: 'area',
      unit: 'count',
      series: seriesOf(
        activityAnswer!.rows,
        activityQ,
        { tool_calls: 'Tool calls', tool_failures: 'Failures' },
        f.zone,
      ),
    },
    interval,
    f.zone,
  );
  const durations: ChartSpec | null =
    durationsQ && durationsAnswer
      ? timeChart(
          {
            type: 'line',
            unit: 'ms',
            series: seriesOf(durationsAnswer.rows, durationsQ, { tool_p50_ms: 'p50', tool_p95_ms: 'p95' }, f.zone),
          },
          interval,
          f.zone,
        )
      : null;

  const search = new URLSearchParams({
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
  });
  for (const [d, values] of Object.entries(errorFilters)) for (const v of values ?? []) search.append(d, v);
  search.set('limit', String(MAX_ERRORS));

  return {
    tools,
    truncated: byTool!.truncated,
    activity,
    durations,
    errors,
    queries: { tools: toolsQ, activity: activityQ, durations: durationsQ },
    errorsExport: `/api/v1/errors?${search}`,
    notices: partialFilterNotices(f, toolsQ.metrics),
  };
}
