// Analytics over the query model: trends and anomalies of any series, the team compared
// person by person, and a person's own insights (sessions' scores: src/sessions/productivity.ts).
import type { TenantFiles } from '../storage/tenant-files.js';
import { anomalies, type Anomaly } from '../analytics/anomalies.js';
import { linearTrend, type LinearTrend } from '../analytics/trends.js';
import { filtersFor, querySchema, type Dimension, type Interval, type Query, type QueryInput } from './model.js';
import { nextBucket, timeZoneOf } from './buckets.js';
import { runPartiallyFiltered, runQuery } from './run.js';
import { fillGaps } from './result.js';
import { DEFAULT_TIME_ZONE, localDate, wallOf, zoneAbbreviation } from '../time/zone.js';

type Filters = Partial<Record<Dimension, string[]>>;
type Range = { from: number; to: number };
const DAY = 86_400_000;

async function rows(tf: TenantFiles, tenantId: string, input: QueryInput, now: number) {
  return (await runQuery(tf, tenantId, querySchema.parse(input), { now })).rows;
}

export type TrendResult = {
  metric: string;
  interval: Interval;
  points: { t: string; v: number }[];
  trend: Omit<LinearTrend, 'forecast'> & { forecast: { t: string; v: number }[] };
  anomalies: (Omit<Anomaly, 't'> & { t: string })[];
  /** The tenant's time zone, whose local buckets the points are. */
  zone: string;
};

/** The least spread a metric's anomalies are judged against, in its unit: one event, one cent, one percentage point, one millisecond. */
const minSpreadOf = (metric: string) => (metric === 'cost_usd' || metric.endsWith('_rate') ? 0.01 : 1);

/** One metric of `q` as a series (gaps as zero), its least-squares trend with a forecast, and its anomalies. */
export async function trendOf(
  tf: TenantFiles,
  tenantId: string,
  q: Query,
  now: number,
  horizon = 7,
): Promise<TrendResult> {
  const metric = q.metrics[0]!;
  const [{ rows }, zone] = await Promise.all([runQuery(tf, tenantId, q, { now }), timeZoneOf(tf, tenantId)]);
  const series = fillGaps(rows, q, zone);
  const points = series.map((r) => ({ t: Date.parse(String(r.t)), v: Number(r[metric] ?? 0) }));
  const iso = (t: number) => new Date(t).toISOString();
  // The forecast's points are the next buckets of the zone, as the series' are.
  const trend = linearTrend(points, { horizon, next: (t) => nextBucket(t, q.interval!, zone) });
  return {
    metric,
    interval: q.interval!,
    points: points.map((p) => ({ t: iso(p.t), v: p.v })),
    trend: { ...trend, forecast: trend.forecast.map((p) => ({ t: iso(p.t), v: p.v })) },
    anomalies: anomalies(points, { minSpread: minSpreadOf(metric) }).map((a) => ({ ...a, t: iso(a.t) })),
    zone,
  };
}

/** A day of `zone` for a sentence: "22 Nov", with the year when it is not `now`'s. */
function dayOf(t: number, now: number, zone: string): string {
  const sameYear = localDate(zone, t).slice(0, 4) === localDate(zone, now).slice(0, 4);
  return new Intl.DateTimeFormat('en-GB', {
    day: 'numeric',
    month: 'short',
    ...(sameYear ? {} : { year: 'numeric' }),
    timeZone: zone,
  }).format(t);
}
/** An hour of `zone` for a sentence: "22 Nov 14:00 UTC", "22 Nov 09:00 EST". */
const hourOf = (t: number, now: number, zone: string) =>
  `${dayOf(t, now, zone)} ${new Date(wallOf(zone, t)).toISOString().slice(11, 16)} ${zone === DEFAULT_TIME_ZONE ? 'UTC' : zoneAbbreviation(zone, t)}`;

/** The figures the team is compared by, person by person (the team page and the API). */
export const TEAM_METRICS = [
  'sessions',
  'prompts',
  'tool_calls',
  'tool_failure_rate',
  'subagents',
  'api_requests',
  'tokens',
  'cost_usd',
  'lines_added',
  'lines_removed',
  'commits',
  'pull_requests',
] as const;

/**
 * Each person's figures for the range, side by side, most spent first (the first 1000). A
 * tool or model filter narrows the figures it applies to; the others count every tool and
 * model (runPartiallyFiltered: one question per set of filters, joined by person).
 */
export async function teamComparison(tf: TenantFiles, tenantId: string, range: Range, filters: Filters, now: number) {
  const asked = { metrics: [...TEAM_METRICS], group_by: ['user' as const], filters, ...range };
  return (await runPartiallyFiltered(tf, tenantId, { ...asked, order_by: 'cost_usd', limit: 1000 }, { now })).rows;
}

/**
 * A person's own figures against the previous period and, for those who may see the team's
 * figures (`team`), the team's per-person average, in sentences too. A developer sees their
 * own data only: any average of the team over a range they choose, less their own figures,
 * is their colleagues' (two ranges apart, one colleague's).
 */
export async function personalInsights(
  tf: TenantFiles,
  tenantId: string,
  userId: string,
  range: Range,
  now: number,
  /** `filters`: a page's; those that narrow every figure here (a project) narrow them all, the team's too. */
  o: { team: boolean; filters?: QueryInput['filters'] },
) {
  const span = range.to - range.from;
  const metrics = [...TEAM_METRICS];
  const { user: _user, ...scope } = filtersFor([...metrics, 'active_users'], o.filters ?? {});
  const own = { ...scope, user: [userId] };
  const [mine] = await rows(tf, tenantId, { metrics, filters: own, ...range }, now);
  const [before] = await rows(tf, tenantId, { metrics, filters: own, from: range.from - span, to: range.from }, now);
  const [team] = o.team
    ? await rows(tf, tenantId, { metrics: [...metrics, 'active_users'], filters: scope, ...range }, now)
    : [];
  const people = Math.max(1, Number(team?.active_users ?? 1));
  const teamAverage = team
    ? Object.fromEntries(
        metrics.map((m) => [m, m.endsWith('_rate') ? Number(team[m] ?? 0) : Number(team[m] ?? 0) / people]),
      )
    : null;
  const failing = await rows(
    tf,
    tenantId,
    {
      metrics: ['tool_failures', 'tool_calls', 'tool_failure_rate'],
      group_by: ['tool'],
      filters: own,
      ...range,
      order_by: 'tool_failures',
      limit: 5,
    },
    now,
  );
  const cost = await trendOf(
    tf,
    tenantId,
    querySchema.parse({
      metrics: ['cost_usd'],
      interval: span > 14 * DAY ? '1d' : '1h',
      filters: own,
      ...range,
      limit: 10_000,
    }),
    now,
  );
  const insights: string[] = [];
  const change = (m: string) => {
    const a = Number(mine?.[m] ?? 0);
    const b = Number(before?.[m] ?? 0);
    return b ? (a - b) / b : null;
  };
  const pct = (x: number) => `${Math.round(Math.abs(x) * 100)}%`;
  const nothingBefore = metrics.every((m) => !Number(before?.[m] ?? 0));
  if (nothingBefore && metrics.some((m) => Number(mine?.[m] ?? 0))) {
    insights.push(
      `Nothing from you in the previous period (${dayOf(range.from - span, range.to, cost.zone)} to ${dayOf(range.from - 1, range.to, cost.zone)}), so there is nothing to compare with yet.`,
    );
  }
  for (const [m, label] of [
    ['cost_usd', 'Your spend'],
    ['tool_calls', 'Your tool calls'],
    ['sessions', 'Your sessions'],
  ] as const) {
    const c = change(m);
    if (c !== null && Math.abs(c) >= 0.2)
      insights.push(`${label} ${c > 0 ? 'rose' : 'fell'} ${pct(c)} against the previous period.`);
  }
  const myRate = Number(mine?.tool_failure_rate ?? 0);
  if (
    teamAverage &&
    Number(mine?.tool_calls ?? 0) >= 20 &&
    myRate > teamAverage.tool_failure_rate! * 1.5 &&
    myRate > 0.05
  ) {
    insights.push(
      `${pct(myRate)} of your tool calls failed; the team's rate is ${pct(teamAverage.tool_failure_rate!)}.`,
    );
  }
  const worst = failing.find((f) => Number(f.tool_failures) > 0);
  if (worst)
    insights.push(
      `${String(worst.tool)} failed most often for you (${Number(worst.tool_failures)} of ${Number(worst.tool_calls)} calls).`,
    );
  if (cost.anomalies.length) {
    const n = cost.anomalies.length;
    const at = (t: string) =>
      cost.interval === '1d' ? dayOf(Date.parse(t), range.to, cost.zone) : hourOf(Date.parse(t), range.to, cost.zone);
    const unit = cost.interval === '1d' ? 'day' : 'hour';
    insights.push(
      n === 1
        ? `Your spend was unusual on one ${unit}: ${at(cost.anomalies[0]!.t)}.`
        : `Your spend was unusual on ${n} ${unit}s, the latest ${at(cost.anomalies.at(-1)!.t)}.`,
    );
  }
  if (cost.trend.direction !== 'flat')
    insights.push(
      `Your spend is trending ${cost.trend.direction} (${cost.trend.slopePerDay >= 0 ? '+' : ''}${cost.trend.slopePerDay.toFixed(2)} USD/day).`,
    );
  return {
    user_id: userId,
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
    mine: mine ?? {},
    previous: before ?? {},
    team_average: teamAverage,
    failing_tools: failing,
    cost_trend: cost,
    insights,
  };
}
