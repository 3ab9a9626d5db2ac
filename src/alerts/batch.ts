// A pass's questions asked as few queries. Rules' queries that differ only in their
// metrics (same filters, groups and range) are asked once with all those metrics, and all
// of a pass's queries go in one call, so 1,000 rules cost tens of queries, not thousands,
// and every rule of a pass is judged on the same events.
import { MAX_METRICS, type Query } from '../query/model.js';
import type { QueryResult } from '../query/run.js';
import { judge, observe, ruleQueries, type Ask, type Observation } from './evaluate.js';
import type { Rule } from './rules.js';

/** What a query asks apart from its metrics; filter names and values in a fixed order. */
const shapeOf = ({ metrics: _, filters, ...rest }: Query) =>
  JSON.stringify([rest, Object.entries(filters).map(([d, vs]) => [d, [...(vs as unknown[])].map(String).sort()]).sort(([a], [b]) => String(a).localeCompare(String(b)))]);

/** The answers to `qs`, in order, asked as merged queries. A group-capped answer (`truncated`) is asked again alone, since which groups it kept depends on its metrics. */
export async function askMerged(ask: Ask, qs: Query[]): Promise<QueryResult[]> {
  const shared = new Map<string, { query: Query; metrics: string[]; members: number[] }>();
  qs.forEach((q, i) => {
    const key = shapeOf(q);
    let s = shared.get(key);
    if (!s) shared.set(key, (s = { query: q, metrics: [], members: [] }));
    for (const m of q.metrics) if (!s.metrics.includes(m)) s.metrics.push(m);
    s.members.push(i);
  });
  const merged = [...shared.values()].flatMap((s) => chunks(s.metrics, MAX_METRICS).map((metrics) => ({ s, metrics, query: { ...s.query, metrics } })));
  const answers = await ask(merged.map((m) => m.query));
  const out: (QueryResult | undefined)[] = new Array(qs.length);
  merged.forEach((m, k) => {
    for (const i of m.s.members) {
      const fits = qs[i]!.metrics.every((x) => m.metrics.includes(x));
      if (fits && !(answers[k]!.truncated && m.metrics.length > qs[i]!.metrics.length)) out[i] = answers[k]!;
    }
  });
  // A query whose metrics fell in two chunks, or whose merged answer was capped.
  const alone = qs.flatMap((_, i) => (out[i] ? [] : [i]));
  if (alone.length) (await ask(alone.map((i) => qs[i]!))).forEach((r, k) => (out[alone[k]!] = r));
  return out as QueryResult[];
}

/**
 * Every rule's answer at `at` (an Error for a rule that could not be judged). When the
 * merged queries fail, each rule is asked alone, so one rule's failure is its own.
 */
export async function observeAll(rules: Rule[], at: number, ask: Ask): Promise<Map<string, Observation[] | Error>> {
  const out = new Map<string, Observation[] | Error>();
  const plans = rules.map((rule) => ruleQueries(rule, at));
  let results: QueryResult[];
  try {
    results = await askMerged(ask, plans.flat());
  } catch {
    for (const rule of rules) out.set(rule.id, await observe(rule, at, ask).catch((err: unknown) => err as Error));
    return out;
  }
  let next = 0;
  rules.forEach((rule, k) => {
    const mine = results.slice(next, (next += plans[k]!.length));
    try {
      out.set(rule.id, judge(rule, at, mine));
    } catch (err) {
      out.set(rule.id, err as Error);
    }
  });
  return out;
}

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}
