// The dashboard summary: the team's headline figures for a range, broken down by tool and
// by model, next to the same figures for the period of equal length just before it. Made
// of ordinary queries in the query model (the headline figures are the by-model query's
// totals, compared with the period before), all counting the same events (see
// runQueries); a tool filter narrows the tool figures only, a model filter the figures of
// requests, tokens and cost (see PARTIAL_FILTERS).
import type { TenantFiles } from '../storage/tenant-files.js';
import { filtersFor, narrows, PARTIAL_FILTER_NAMES, querySchema, type Dimension, type Query } from './model.js';
import { runQueries } from './run.js';
import type { QueryResult } from './result.js';

export type SummaryFilters = Partial<Record<Dimension, string[]>>;

const TOTALS = [
  'sessions',
  'active_users',
  'prompts',
  'tool_calls',
  'tool_failures',
  'api_requests',
  'api_errors',
  'subagents',
  'commands',
  'input_tokens',
  'output_tokens',
  'cache_read_tokens',
  'cache_creation_tokens',
  'cost_usd',
  'lines_added',
  'lines_removed',
  'commits',
  'pull_requests',
] as const;
type Totals = Record<(typeof TOTALS)[number], number>;

export type Figures = Omit<Totals, 'input_tokens' | 'output_tokens' | 'cache_read_tokens' | 'cache_creation_tokens'> & {
  tool_failure_rate: number;
  tokens: { input: number; output: number; cache_read: number; cache_creation: number; total: number };
};

export type Summary = Figures & {
  from: string;
  to: string;
  by_tool: { tool: string | null; calls: number; failures: number; p50_ms: number | null; p95_ms: number | null }[];
  by_model: { model: string | null; tokens: number; cost_usd: number }[];
  previous: Figures & { from: string; to: string };
};

export async function dashboardSummary(
  tf: TenantFiles,
  tenantId: string,
  range: { from: number; to: number },
  filters: SummaryFilters,
  now: number,
): Promise<Summary> {
  const { queries, summary } = summaryQueries(range, filters);
  return summary(await runQueries(tf, tenantId, queries, { now }));
}

/**
 * The summary's questions, and the summary made of their answers (the first of those given): a
 * page that asks other questions too asks them all in one runQueries (one read of the
 * watermark, the same events).
 */
export function summaryQueries(
  range: { from: number; to: number },
  filters: SummaryFilters,
): { queries: Query[]; summary: (answers: QueryResult[]) => Summary } {
  const headline = [...TOTALS, 'tokens'];
  // The headline figures of both periods are the totals over the models, in one statement,
  // for every tool and model; a tool or model filter narrows the figures it applies to,
  // which come from a statement of their own (the model's also give the rows by model).
  const byModel = querySchema.parse({
    metrics: headline,
    group_by: ['model'],
    filters: filtersFor(headline, filters),
    ...range,
    order_by: 'cost_usd',
    limit: 100,
    totals: true,
    compare: true,
  });
  const toolMetrics = ['tool_calls', 'tool_failures', 'tool_p50_ms', 'tool_p95_ms'];
  const byTool = querySchema.parse({
    metrics: toolMetrics,
    group_by: ['tool'],
    filters: filtersFor(toolMetrics, filters),
    ...range,
    limit: 100,
  });
  const partial = PARTIAL_FILTER_NAMES.filter((d) => filters[d]);
  const narrowed = partial.map((d) => {
    const metrics = headline.filter((m) => narrows(d, m));
    return querySchema.parse({
      metrics,
      group_by: [d],
      filters: filtersFor(metrics, filters),
      ...range,
      order_by: metrics.includes('cost_usd') ? 'cost_usd' : metrics[0],
      limit: 100,
      totals: true,
      compare: true,
    });
  });
  const queries = [byModel, byTool, ...narrowed];
  return { queries, summary: (answers) => summaryOf(answers.slice(0, queries.length), range, partial) };
}

function summaryOf(
  [models, tools, ...only]: QueryResult[],
  range: { from: number; to: number },
  partial: Dimension[],
): Summary {
  const byModelRows = partial.includes('model') ? only[partial.indexOf('model')]!.rows : models!.rows;

  const figures = (
    totals: QueryResult['rows'][number] | undefined,
    narrowedTotals: (QueryResult['rows'][number] | undefined)[],
  ): Figures => {
    const t = Object.assign({}, totals, ...narrowedTotals) as unknown as Totals & { tokens: number };
    const {
      input_tokens: input,
      output_tokens: output,
      cache_read_tokens: cache_read,
      cache_creation_tokens: cache_creation,
      tokens: _byModelOnly,
      ...others
    } = t;
    return {
      ...others,
      tool_failure_rate: t.tool_calls ? t.tool_failures / t.tool_calls : 0,
      tokens: { input, output, cache_read, cache_creation, total: input + output + cache_read + cache_creation },
    };
  };

  return {
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
    ...figures(
      models!.totals,
      only.map((o) => o.totals),
    ),
    by_tool: tools!.rows.map((r) => ({
      tool: r.tool as string | null,
      calls: Number(r.tool_calls),
      failures: Number(r.tool_failures),
      p50_ms: r.tool_p50_ms as number | null,
      p95_ms: r.tool_p95_ms as number | null,
    })),
    by_model: byModelRows
      .filter((r) => Number(r.tokens) > 0 || Number(r.cost_usd) > 0)
      .map((r) => ({ model: r.model as string | null, tokens: Number(r.tokens), cost_usd: Number(r.cost_usd) })),
    previous: {
      from: models!.previous!.from,
      to: models!.previous!.to,
      ...figures(
        models!.previous!.totals,
        only.map((o) => o.previous!.totals),
      ),
    },
  };
}
