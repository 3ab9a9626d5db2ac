// A rule's answer at a moment: per group value, the figure the condition looks at and
// whether it holds (null: no data). Every figure comes from the query layer: the metric
// over [at - window, at), the same over earlier windows (anomaly), or over the current
// day, week (from Monday) or month so far in the tenant's time zone (forecast).
import { valueText } from '../query/value-text.js';
import { zScore } from '../analytics/anomalies.js';
import { kindsRead, MAX_ROWS, querySchema, type Query } from '../query/model.js';
import type { QueryResult } from '../query/result.js';
import { periodOf } from '../time/zone.js';
import { durationMs, type Condition, type Rule } from './rules.js';

export type Observation = {
  /** The group value as JSON ('' when the rule is not grouped): the alert's key. */
  key: string;
  group: Record<string, string> | null;
  /** The figure compared: the window's value, or the projection of a forecast. */
  value: number | null;
  /** Whether the condition holds; null when there is no data to judge. */
  breach: boolean | null;
};

/** Answers queries (one snapshot, or a cache over many moments for the preview). */
export type Ask = (qs: Query[]) => Promise<QueryResult[]>;

const MINUTE = 60_000;

/**
 * A stored rule the query language no longer takes as it is (a filter value a later version
 * refuses): it cannot be judged until it is edited. `field` names the rule's field.
 */
export class StaleRuleError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}; edit the rule`);
  }
}

/** The rule's query over [from, to). Grouped, it asks only the rows its metric reads, so a group is one the metric is about. */
export function ruleQuery(rule: Rule, from: number, to: number): Query {
  const kinds = rule.group_by.length && !rule.filters.kind ? kindsRead([rule.metric]) : null;
  const parsed = querySchema.safeParse({
    metrics: [rule.metric],
    filters: { ...rule.filters, ...(kinds && { kind: kinds }) },
    group_by: rule.group_by,
    from,
    to: Math.max(to, from + 1),
    limit: MAX_ROWS,
  });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const path = issue.path.map(String);
  throw new StaleRuleError((path[0] === 'metrics' ? ['metric'] : path).join('.'), issue.message);
}

const keyOf = (rule: Rule, row: Record<string, unknown>) => {
  if (!rule.group_by.length) return { key: '', group: null };
  const group = Object.fromEntries(
    rule.group_by.map((d) => [d, row[d] === null || row[d] === undefined ? '' : String(row[d])]),
  );
  return { key: JSON.stringify(group), group };
};

const byKey = (rule: Rule, result: QueryResult) => {
  const out = new Map<string, { group: Record<string, string> | null; value: number | null }>();
  for (const row of result.rows) {
    const { key, group } = keyOf(rule, row);
    const v = row[rule.metric];
    out.set(key, { group, value: v === null || v === undefined ? null : Number(v) });
  }
  return out;
};

const compare = (op: 'above' | 'below', v: number, limit: number) => (op === 'above' ? v > limit : v < limit);

/**
 * The queries a rule asks at `at`: its window; or the period so far in the tenant's `zone`
 * (forecast); or its window and the baseline windows before it (anomaly).
 */
export function ruleQueries(rule: Rule, at: number, zone: string): Query[] {
  const c: Condition = rule.condition;
  const w = durationMs(rule.window);
  if (c.type === 'threshold') return [ruleQuery(rule, at - w, at)];
  if (c.type === 'forecast') return [ruleQuery(rule, periodOf(zone, c.by, at).start, at)];
  // The baselines end on the minute before `at`: passes in the same minute ask the same
  // past windows, which the engine then reads once a minute (BASELINE_TTL_MS).
  const base = Math.floor(at / MINUTE) * MINUTE;
  return [
    ruleQuery(rule, at - w, at),
    ...Array.from({ length: c.baseline_windows }, (_, k) => ruleQuery(rule, base - (k + 2) * w, base - (k + 1) * w)),
  ];
}

/** The rule's answer at `at` from the results of `ruleQueries(rule, at, zone)`, in order. */
export function judge(rule: Rule, at: number, zone: string, results: QueryResult[]): Observation[] {
  const c: Condition = rule.condition;
  if (c.type === 'threshold') {
    return [...byKey(rule, results[0]!)].map(([key, { group, value }]) => ({
      key,
      group,
      value,
      breach: value === null ? null : compare(c.op, value, c.value),
    }));
  }
  if (c.type === 'forecast') {
    const { start, end } = periodOf(zone, c.by, at);
    // The rate so far, carried to the period's end; nothing projected at its very start.
    const scale = at > start ? (end - start) / (at - start) : 0;
    return [...byKey(rule, results[0]!)].map(([key, { group, value }]) => {
      const projected = value === null ? null : value * scale;
      return { key, group, value: projected, breach: projected === null ? null : compare(c.op, projected, c.value) };
    });
  }
  const [now, ...before] = results.map((r) => byKey(rule, r));
  return [...now!].map(([key, { group, value }]) => {
    if (value === null) return { key, group, value, breach: null };
    // A window without a row for this group counted nothing of it.
    const history = before.map((b) => b.get(key)?.value ?? 0);
    const score = zScore(value, history);
    return { key, group, value, breach: !!score && (c.z > 0 ? score.z >= c.z : score.z <= c.z) };
  });
}

export async function observe(rule: Rule, at: number, zone: string, ask: Ask): Promise<Observation[]> {
  return judge(rule, at, zone, await ask(ruleQueries(rule, at, zone)));
}

/** The condition in words, for people reading a notification. */
export function conditionWords(c: Condition, metric: string): string {
  // The threshold in the unit its value is given in (a rate in percent, dollars).
  if (c.type === 'threshold') return `${c.op} ${valueText(metric, c.value)}`;
  if (c.type === 'anomaly') return `z-score ${c.z > 0 ? 'above' : 'below'} ${c.z}`;
  return `projected ${c.op} ${valueText(metric, c.value)} by ${c.by} end`;
}
