// The overview: headline figures against the previous period, activity and cost over time,
// top tools, cost by model and the latest sessions. Each widget is a question in the query
// language, so its export link asks the API exactly what the widget shows.
import type { TenantFiles } from '../storage/tenant-files.js';
import type { MetricsView } from '../auth/scope.js';
import type { QueryInput } from '../query/model.js';
import { filtersFor, kindsRead, querySchema } from '../query/model.js';
import { runQueries } from '../query/run.js';
import { listSessions, type SessionRow } from '../sessions/read.js';
import { summaryQueries, type Summary } from '../query/summary.js';
import { chartInterval, partialFilterNotices, queryFilters, usedFilters, type Filters } from './filters.js';
import type { Layout, WidgetId } from './layout.js';
import { seriesOf, timeChart, type ChartSpec, type Series } from './charts.js';

export type Overview = {
  summary: Summary | null;
  activity: ChartSpec | null;
  cost: ChartSpec | null;
  recentSessions: SessionRow[] | null;
  /** Each widget's question, for its export links. */
  queries: Partial<Record<WidgetId, QueryInput>>;
  /** What the tool and model filters narrow here. */
  notices: string[];
};

const KPI_METRICS = [
  'sessions',
  'active_users',
  'prompts',
  'tool_calls',
  'tool_failures',
  'tokens',
  'cost_usd',
  'lines_added',
  'lines_removed',
  'commits',
  'pull_requests',
];
const TOP_TOOLS_METRICS = ['tool_calls', 'tool_failures', 'tool_failure_rate', 'tool_p50_ms', 'tool_p95_ms'];
const BY_MODEL_METRICS = ['tokens', 'cost_usd'];

/** Every figure the overview shows, for its notices about the tool and model filters. */
const OVERVIEW_METRICS = [...KPI_METRICS, ...TOP_TOOLS_METRICS, ...BY_MODEL_METRICS, 'api_requests'];

export async function loadOverview(
  tf: TenantFiles,
  tenantId: string,
  f: Filters,
  view: MetricsView,
  layout: Layout,
  now: number,
): Promise<Overview> {
  const shown = (w: WidgetId) => !layout.hidden.includes(w) && (w !== 'recent_sessions' || view.individuals);
  const filters = { ...queryFilters(f), ...(view.ownUser ? { user: [view.ownUser] } : {}) };
  const { tool, model } = filters;
  const range = { from: f.from, to: f.to };
  const interval = chartInterval(f);
  const queries: Overview['queries'] = {};
  const out: Overview = {
    summary: null,
    activity: null,
    cost: null,
    recentSessions: null,
    queries,
    notices: partialFilterNotices(f, OVERVIEW_METRICS),
  };

  // Each question takes the tool and model filters that narrow its figures (filtersFor).
  const summaryShown = shown('kpis') || shown('top_tools') || shown('by_model');
  if (summaryShown) {
    // The cards' figures as they show them: a tool or model filter narrows those it applies to.
    queries.kpis = { metrics: KPI_METRICS, filters, partial_filters: true, ...range };
    queries.top_tools = {
      metrics: TOP_TOOLS_METRICS,
      group_by: ['tool'],
      filters: filtersFor(TOP_TOOLS_METRICS, filters),
      ...range,
      order_by: 'tool_calls',
      limit: 100,
    };
    queries.by_model = {
      metrics: BY_MODEL_METRICS,
      group_by: ['model'],
      filters: { ...filtersFor(BY_MODEL_METRICS, filters), kind: kindsRead(BY_MODEL_METRICS)! },
      ...range,
      order_by: 'cost_usd',
      limit: 100,
    };
  }
  const charts: {
    id: 'activity' | 'cost';
    q: QueryInput & { interval: string };
    spec: (series: Series[]) => Omit<ChartSpec, 'axis'>;
    names: Record<string, string>;
  }[] = [];
  if (shown('activity')) {
    // A tool filter narrows to tool calls, a model filter to requests: prompts have neither.
    const metrics = tool
      ? ['tool_calls', 'tool_failures']
      : model
        ? ['api_requests', 'api_errors']
        : ['prompts', 'tool_calls', 'api_requests'];
    const names = {
      prompts: 'Prompts',
      tool_calls: 'Tool calls',
      api_requests: 'API requests',
      tool_failures: 'Failures',
      api_errors: 'API errors',
    };
    charts.push({
      id: 'activity',
      q: { metrics, filters: filtersFor(metrics, filters), ...range, interval, limit: 10_000 },
      names,
      spec: (series) => ({ type: 'area', unit: 'count', series }),
    });
  }
  if (shown('cost')) {
    charts.push({
      id: 'cost',
      q: { metrics: ['cost_usd'], filters: filtersFor(['cost_usd'], filters), ...range, interval, limit: 10_000 },
      names: { cost_usd: 'Cost' },
      spec: (series) => ({ type: 'bar', unit: 'usd', series }),
    });
  }
  for (const c of charts) queries[c.id] = c.q;

  // Charts asked with the same filters share a statement.
  const filtersOf = charts.map((c) => JSON.stringify(c.q.filters));
  const asked = [...new Set(filtersOf)];
  const shared = asked.map((filters) => {
    const same = charts.filter((_, i) => filtersOf[i] === filters);
    return querySchema.parse({ ...same[0]!.q, metrics: [...new Set(same.flatMap((c) => c.q.metrics))] });
  });

  // The summary's and the charts' questions in one runQueries (one read of the watermark;
  // they count the same events), beside the recent sessions; reads take turns over the
  // tenant's reader connections.
  const summary = summaryShown ? summaryQueries(range, filters) : null;
  const questions = [...(summary?.queries ?? []), ...shared];
  await Promise.all([
    questions.length &&
      runQueries(tf, tenantId, questions, { now }).then((answers) => {
        const results = answers.slice(summary?.queries.length ?? 0);
        if (summary) out.summary = summary.summary(answers);
        charts.forEach(
          (c, i) =>
            void (out[c.id] = timeChart(
              c.spec(seriesOf(results[asked.indexOf(filtersOf[i]!)]!.rows, c.q, c.names, f.zone)),
              interval,
              f.zone,
            )),
        );
      }),
    shown('recent_sessions') &&
      listSessions(tf, tenantId, {
        ...range,
        user: filters.user,
        project: filters.project,
        ...usedFilters(f),
        limit: 8,
        now,
      }).then((r) => void (out.recentSessions = r.sessions)),
  ]);
  return out;
}
