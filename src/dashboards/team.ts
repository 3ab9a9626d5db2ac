// The people pages: the team compared person by person with one metric's trend (its
// least-squares line, forecast and anomalies), and a person's own page (their figures
// against the previous period, their trends, insights and recent sessions with scores).
import type { TenantFiles } from '../storage/tenant-files.js';
import { personalInsights, TEAM_METRICS, teamComparison, trendOf, type TrendResult } from '../query/analytics.js';
import { averageScore, productivity } from '../sessions/productivity.js';
import { filtersFor, INTERVAL_MS, querySchema, type Dimension, type QueryInput } from '../query/model.js';
import { listSessions } from '../sessions/read.js';
import { dashboardSummary, type Summary } from '../query/summary.js';
import { chartInterval, partialFilterNotices, queryFilters, usedFilters, type Filters } from './filters.js';
import { fmt } from './format.js';
import { timeChart, type ChartSpec, type Series } from './charts.js';
import { keyOf } from '../sessions/figures.js';
import { scoresFor, type ListedSession } from './sessions.js';

/** The metrics the team page can chart, with how people read them. */
export const TREND_METRICS = {
  cost_usd: { label: 'Cost', unit: 'usd' },
  tool_calls: { label: 'Tool calls', unit: 'count' },
  sessions: { label: 'Sessions', unit: 'count' },
  tool_failure_rate: { label: 'Tool failure rate', unit: 'pct' },
} as const satisfies Record<string, { label: string; unit: ChartSpec['unit'] }>;
export type TrendMetric = keyof typeof TREND_METRICS;
export const DEFAULT_TREND_METRIC: TrendMetric = 'cost_usd';

/** The figures the team page compares person by person: the team comparison's. */
const COMPARED = TEAM_METRICS;

type QueryFilters = Partial<Record<Dimension, string[]>>;

export type Trend = TrendResult & {
  label: string;
  unit: ChartSpec['unit'];
  chart: ChartSpec;
  /** The trend in one sentence: direction, change per day, fit. */
  sentence: string;
  query: QueryInput;
};

/** `metric` over `f`'s range as a chart of the series, its fitted line and its forecast. */
export async function trend(
  tf: TenantFiles,
  tenantId: string,
  metric: TrendMetric,
  f: Filters,
  filters: QueryFilters,
  now: number,
): Promise<Trend> {
  const { label, unit } = TREND_METRICS[metric];
  const query: QueryInput = {
    metrics: [metric],
    interval: chartInterval(f),
    filters: filtersFor([metric], filters),
    from: f.from,
    to: f.to,
    limit: 10_000,
  };
  const q = querySchema.parse(query);
  const points = Math.ceil((q.to - q.from) / INTERVAL_MS[q.interval!]);
  // A fifth of the range ahead: enough to see where the line goes, not a prophecy.
  const result = await trendOf(tf, tenantId, q, now, Math.min(60, Math.max(3, Math.round(points / 5))));
  const at = (t: string) => Date.parse(t);
  const line = (t: number) => result.trend.intercept + result.trend.slope * t;
  const fitted: Series = {
    name: 'Trend',
    data: result.points.map((p) => [at(p.t), clampFor(unit, line(Date.parse(p.t)))]),
  };
  const lastFit = fitted.data.at(-1);
  const forecast: Series = {
    name: 'Forecast',
    data: [
      ...(lastFit ? [lastFit] : []),
      ...result.trend.forecast.map((p): [number, number] => [at(p.t), clampFor(unit, p.v)]),
    ],
  };
  const chart = timeChart(
    { type: 'line', unit, series: [{ name: label, data: result.points.map((p) => [at(p.t), p.v]) }, fitted, forecast] },
    q.interval!,
    f.zone,
  );
  return { ...result, label, unit, chart, sentence: trendSentence(label, unit, result), query };
}

/** Counts, costs and rates are never below zero; a falling line stops at the axis. */
const clampFor = (unit: ChartSpec['unit'], v: number) => Math.max(0, unit === 'pct' ? Math.min(1, v) : v);

/** A value of `unit` for a table: $1.20, 12, 4.5%. */
export function valueIn(unit: ChartSpec['unit'], v: number): string {
  if (unit === 'usd') return fmt.usd(v);
  if (unit === 'pct') return fmt.pct(v);
  if (unit === 'ms') return fmt.ms(v);
  return fmt.count(Math.abs(v) >= 10 ? Math.round(v) : Math.round(v * 100) / 100);
}

/** Two significant digits, never in exponent notation (String(6.9e-7) is "6.9e-7"). */
const significant = (v: number) => v.toLocaleString('en-US', { maximumSignificantDigits: 2, useGrouping: false });

/** A change per day of `unit`: rates move in percentage points. */
export function changeIn(unit: ChartSpec['unit'], v: number): string {
  if (unit === 'pct') return `${(v * 100).toFixed(Math.abs(v) >= 0.1 ? 1 : 2)} points`;
  // A slope of 0.04 sessions a day is worth saying; counts elsewhere round it away.
  if (unit === 'count' && Math.abs(v) < 10) return significant(v);
  if (unit === 'usd' && v !== 0 && Math.abs(v) < 0.01) return `$${significant(v)}`;
  return valueIn(unit, v);
}

function trendSentence(label: string, unit: ChartSpec['unit'], r: TrendResult): string {
  const { slopePerDay, r2, direction } = r.trend;
  const perDay = `${slopePerDay >= 0 ? '+' : '−'}${changeIn(unit, Math.abs(slopePerDay))} per day`;
  const fit = `R² ${r2.toFixed(2)}`;
  if (r.points.every((p) => p.v === 0)) return `No ${label.toLowerCase()} in this range, so no trend yet.`;
  if (direction === 'flat')
    return `${label} shows no clear trend (${perDay}, ${fit}: the line explains ${r2 < 0.1 ? 'little' : 'some'} of the ups and downs).`;
  return `${label} is trending ${direction}: ${perDay} on the least-squares line (${fit}).`;
}

export type TeamRow = { user_id: string; name: string } & Record<(typeof COMPARED)[number], number>;

export type Team = { rows: TeamRow[]; trend: Trend; notices: string[]; query: QueryInput };

export async function loadTeam(
  tf: TenantFiles,
  tenantId: string,
  f: Filters,
  metric: TrendMetric,
  people: Map<string, string>,
  now: number,
): Promise<Team> {
  // The comparison is everyone; a person filter would leave one row.
  const { user: _everyone, ...filters } = queryFilters(f);
  const notices = partialFilterNotices(f, [...COMPARED, metric]);
  const range = { from: f.from, to: f.to };
  const raw = await teamComparison(tf, tenantId, range, filters, now);
  const rows = raw.map((r) => ({
    user_id: String(r.user ?? ''),
    name: people.get(String(r.user ?? '')) ?? String(r.user ?? '(unknown)'),
    ...(Object.fromEntries(COMPARED.map((m) => [m, Number(r[m] ?? 0)])) as Record<(typeof COMPARED)[number], number>),
  }));
  return {
    rows,
    trend: await trend(tf, tenantId, metric, f, filters, now),
    notices,
    query: {
      metrics: [...COMPARED],
      group_by: ['user'],
      filters,
      partial_filters: true,
      ...range,
      order_by: 'cost_usd',
      limit: 1000,
    },
  };
}

export type Me = {
  summary: Summary;
  cost: Trend;
  toolCalls: Trend;
  insights: string[];
  recent: ListedSession[];
  averageScore: number | null;
  scored: number;
  queries: { kpis: QueryInput };
  notices: string[];
};

const ME_KPIS = [
  'sessions',
  'prompts',
  'tool_calls',
  'tool_failures',
  'tokens',
  'cost_usd',
  'lines_added',
  'lines_removed',
  'commits',
];

/** A person's own page; `f`'s person filter is ignored (it is always them). */
export async function loadMe(
  tf: TenantFiles,
  tenantId: string,
  userId: string,
  f: Filters,
  now: number,
  /** Whether they may see the team's figures (a manager): a developer's insights hold no team average. */
  team: boolean,
): Promise<Me> {
  const filters: QueryFilters = { ...queryFilters(f), user: [userId] };
  const range = { from: f.from, to: f.to };
  const project = filters.project;
  // Independent reads side by side (they take turns over the tenant's reader connections).
  const [summary, cost, toolCalls, { insights }, { sessions }, { sessions: scored }] = await Promise.all([
    dashboardSummary(tf, tenantId, range, filters, now),
    trend(tf, tenantId, 'cost_usd', f, filters, now),
    trend(tf, tenantId, 'tool_calls', f, filters, now),
    personalInsights(tf, tenantId, userId, range, now, { team, filters }),
    listSessions(tf, tenantId, { ...range, user: [userId], project, ...usedFilters(f), limit: 10, now }),
    // The average over the sessions that started in range; the recent ones, whenever they started, each with its own.
    productivity(tf, tenantId, range, { user: [userId], ...(project && { project }) }, now),
  ]);
  const scores = await scoresFor(tf, tenantId, sessions, now);
  return {
    summary,
    cost,
    toolCalls,
    insights,
    recent: sessions.map((s) => ({ ...s, score: scores.get(keyOf(s)) ?? null })),
    averageScore: averageScore(scored),
    scored: scored.length,
    queries: { kpis: { metrics: ME_KPIS, filters, partial_filters: true, ...range } },
    notices: partialFilterNotices(f, [...ME_KPIS, 'cost_usd', 'tool_calls']),
  };
}
