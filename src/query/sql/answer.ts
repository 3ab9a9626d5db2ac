// The figures of a plan's rows (`m`: every metric's aggregate per group, the spend rule's
// prices joined), and the final select: percentiles joined by group, each period's and the
// totals' rows limited on their own.
import type { Kind } from '../../ingest/schema.js';
import type { Params } from '../../storage/duckdb.js';
import { answeredFrom, type Grouping } from './groups.js';
import { inKinds, METRICS, SPEND_REQUEST_SQL, when, type Dimension } from '../model.js';
import type { Plan } from '../plan.js';
import { tsLiteral } from '../../aggregate/rollup.js';
import { percentilesOf } from './sketches.js';

/** The CTE `prices`: the tenant's model prices, and those of models only the tail has seen. */
function pricesCte(plan: Plan, params: Params): string {
  const extra = (plan.spend?.extraPrices ?? []).map((p, i) => {
    params[`price_model_${i}`] = p.model;
    return `SELECT $price_model_${i} AS model, ${Number(p.input)} AS input, ${Number(p.output)} AS output, ${Number(p.cache_write)} AS cache_write, ${Number(p.cache_read)} AS cache_read`;
  });
  return `prices AS (SELECT model, input, output, cache_write, cache_read FROM model_prices${extra.map((e) => `\nUNION ALL ${e}`).join('')})`;
}

/** The aggregates of `m`: each metric's, and each percentile family's min and max (its figures are clamped to them). */
function aggregates(plan: Plan): string[] {
  const out: string[] = [];
  for (const name of plan.metrics) {
    const def = METRICS[name]!;
    if ('sql' in def) {
      out.push(`${def.sql} AS ${name}`);
      continue;
    }
    const mine = (column: string) => when(inKinds(def.kinds), column);
    if (def.percentile === 'avg') out.push(`sum(${mine('dur_sum')}) / nullif(sum(${mine('dur_n')}), 0) AS ${name}`);
    if (def.percentile === 'min') out.push(`min(${mine('dur_min')}) AS ${name}`);
    if (def.percentile === 'max') out.push(`max(${mine('dur_max')}) AS ${name}`);
  }
  const families = new Map<string, readonly Kind[]>(percentilesOf(plan).map((p) => [p.family, p.kinds]));
  for (const [family, kinds] of families) {
    const mine = (column: string) => when(inKinds(kinds), column);
    out.push(`min(${mine('dur_min')}) AS _min_${family}`, `max(${mine('dur_max')}) AS _max_${family}`);
  }
  return out;
}

/**
 * The dimensions whose filters narrow rows within a session: the spend rule then asks
 * whether a session has requests of the rows without them (`requested`, sources.ts).
 */
export const SESSION_NARROWING = ['kind', 'model', 'status'] as const satisfies readonly Dimension[];

/**
 * The CTEs `prices` (spend) and `m`: the figures per group of the rows in `r`. `requested`:
 * the spend rule reads the sessions with requests from the CTE `requested` (else from `r`).
 */
export function figuresCtes(plan: Plan, g: Grouping, params: Params, requested = false): string[] {
  if (!plan.spend) return [`m AS (SELECT ${g.select(aggregates(plan))} FROM r ${g.groupBy([])})`];
  // The spend rule asks whether a session (a user's) has requests in range: compared, in its period.
  const from = tsLiteral(answeredFrom(plan));
  const session =
    plan.periods.length > 1 ? `session_id || CASE WHEN bucket >= ${from} THEN '+' ELSE '-' END` : 'session_id';
  const requests = requested
    ? `SELECT user_id, ${session} FROM requested`
    : `SELECT user_id, ${session} FROM r WHERE ${SPEND_REQUEST_SQL} AND session_id IS NOT NULL`;
  // Requests in the range (its period), or at any other time (the CTE `requested_ever`).
  const hasRequests = `(user_id, ${session}) IN (${requests}) OR (user_id, session_id) IN (SELECT user_id, session_id FROM requested_ever)`;
  const source = `(SELECT *, ${hasRequests} AS has_requests FROM r) LEFT JOIN prices p USING (model)`;
  return [pricesCte(plan, params), `m AS (SELECT ${g.select(aggregates(plan))} FROM ${source} ${g.groupBy([])})`];
}

/** The statement's last select: figures and percentiles by group, in order, `limit` (and one more) per period and totals. */
export function finalSelect(plan: Plan, g: Grouping): string {
  const percentiles = new Map(percentilesOf(plan).map((p) => [p.name, p.family]));
  const clamped = (family: string, value: string) =>
    `CASE WHEN ${value} IS NOT NULL THEN least(greatest(${value}, m._min_${family}), m._max_${family}) END`;
  const columns = [
    ...g.groups.map((c) => `m.${c}`),
    ...plan.metrics.map((name) => {
      const family = percentiles.get(name);
      return family ? `${clamped(family, `pct_${family}.${name}`)} AS ${name}` : `m.${name}`;
    }),
  ];
  // A total row's keys are null: matched as not distinct.
  const same = (f: string) =>
    g.groups.map((c) => `m.${c} ${plan.totals ? 'IS NOT DISTINCT FROM' : '='} pct_${f}.${c}`).join(' AND ');
  const joins = [...new Set(percentiles.values())]
    .map((f) => (g.groups.length ? `LEFT JOIN pct_${f} ON ${same(f)}` : `CROSS JOIN pct_${f}`))
    .join(' ');
  const answer = `SELECT ${columns.join(', ')} FROM m ${joins}`;
  const order = plan.order;
  // Period and totals rows each take their own `limit` (one over it tells the caller there was more).
  const parts = g.groups.filter((c) => c === '_previous' || c === '_total');
  return parts.length
    ? `SELECT * FROM (${answer}) QUALIFY row_number() OVER (PARTITION BY ${parts.join(', ')}${order.length ? ` ORDER BY ${order.join(', ')}` : ''}) <= ${plan.limit + 1} ORDER BY ${[...parts, ...order].join(', ')}`
    : `${answer} ${order.length ? `ORDER BY ${order.join(', ')}` : ''} LIMIT ${plan.limit + 1}`;
}
