// A pass's questions asked as few queries. Rules' queries that differ only in their
// metrics (same filters, groups and range) are asked once with all those metrics, and all
// of a pass's queries go in one call, so 1,000 rules cost tens of queries, not thousands.
// The engine keeps answers about past windows (anomaly baselines) for a minute.
import { MAX_METRICS, type Query } from '../query/model.js';
import type { QueryResult } from '../query/result.js';
import { judge, observe, ruleQueries, type Ask, type Observation } from './evaluate.js';
import type { Rule } from './rules.js';

/** What a query asks apart from its metrics; filter names and values in a fixed order. */
const shapeOf = ({ metrics: _, filters, ...rest }: Query) =>
  JSON.stringify([
    rest,
    Object.entries(filters)
      .map(([d, vs]) => [d, [...(vs as unknown[])].map(String).sort()])
      .sort(([a], [b]) => String(a).localeCompare(String(b))),
  ]);

/** Answers about windows that ended before a pass's moment, kept between passes: (what was asked) → (answer, when asked). */
export type AnswerCache = Map<string, { result: QueryResult; at: number }>;

/**
 * How long an answer about a past window is reused. Events still arrive for the past (a
 * client's queue, an import), so an anomaly's baselines take them in within this time;
 * the window being judged is always asked afresh.
 */
export const BASELINE_TTL_MS = 60_000;

/**
 * The answers to `qs`, in order, asked as merged queries. A group-capped answer
 * (`truncated`) is asked again alone, since which groups it kept depends on its metrics.
 * With `cache`, a merged query about a window that ended before `cache.at` is answered from
 * it while fresh.
 */
export async function askMerged(
  ask: Ask,
  qs: Query[],
  cache?: { at: number; answers: AnswerCache },
): Promise<QueryResult[]> {
  const shared = new Map<string, { query: Query; metrics: string[]; members: number[] }>();
  qs.forEach((q, i) => {
    const key = shapeOf(q);
    let s = shared.get(key);
    if (!s) shared.set(key, (s = { query: q, metrics: [], members: [] }));
    for (const m of q.metrics) if (!s.metrics.includes(m)) s.metrics.push(m);
    s.members.push(i);
  });
  const merged = [...shared.values()].flatMap((s) =>
    chunks(s.metrics, MAX_METRICS).map((metrics) => ({ s, metrics, query: { ...s.query, metrics } })),
  );
  const answers = await cached(
    ask,
    merged.map((m) => m.query),
    cache,
  );
  const out: (QueryResult | undefined)[] = new Array(qs.length);
  merged.forEach((m, k) => {
    for (const i of m.s.members) {
      const fits = qs[i]!.metrics.every((x) => m.metrics.includes(x));
      if (fits && !(answers[k]!.truncated && m.metrics.length > qs[i]!.metrics.length)) out[i] = answers[k]!;
    }
  });
  // A query whose metrics fell in two chunks, or whose merged answer was capped.
  const alone = qs.flatMap((_, i) => (out[i] ? [] : [i]));
  if (alone.length)
    (await ask(alone.map((i) => qs[i]!))).forEach((r, k) => {
      out[alone[k]!] = r;
    });
  return out as QueryResult[];
}

/** `ask`, with the past windows' answers taken from and kept in `cache`. */
async function cached(ask: Ask, qs: Query[], cache?: { at: number; answers: AnswerCache }): Promise<QueryResult[]> {
  if (!cache) return ask(qs);
  const { at, answers } = cache;
  for (const [key, e] of answers) if (at - e.at >= BASELINE_TTL_MS || e.at > at) answers.delete(key);
  const keys = qs.map((q) => (q.to < at ? `${shapeOf(q)}${JSON.stringify(q.metrics)}` : null));
  const missing = qs.flatMap((_, i) => (keys[i] !== null && answers.has(keys[i]!) ? [] : [i]));
  const fresh = await ask(missing.map((i) => qs[i]!));
  const out = qs.map((_, i) => (keys[i] !== null ? answers.get(keys[i]!)?.result : undefined));
  missing.forEach((i, k) => {
    out[i] = fresh[k]!;
    if (keys[i] !== null) answers.set(keys[i]!, { result: fresh[k]!, at });
  });
  return out as QueryResult[];
}

/**
 * Every rule's answer at `at`, periods in the tenant's `zone` (an Error for a rule that could not be judged). When the
 * merged queries fail, each rule is asked alone, so one rule's failure is its own.
 */
export async function observeAll(
  rules: Rule[],
  at: number,
  zone: string,
  ask: Ask,
  cache?: AnswerCache,
): Promise<Map<string, Observation[] | Error>> {
  const out = new Map<string, Observation[] | Error>();
  // A rule whose stored query no longer parses (a filter a later version refuses) is its own failure.
  const plans = rules.map((rule) => {
    try {
      return ruleQueries(rule, at, zone);
    } catch (err) {
      out.set(rule.id, err as Error);
      return [];
    }
  });
  let results: QueryResult[];
  try {
    results = await askMerged(ask, plans.flat(), cache && { at, answers: cache });
  } catch {
    for (const rule of rules)
      out.set(rule.id, await observe(rule, at, zone, ask).catch((err: unknown) => err as Error));
    return out;
  }
  let next = 0;
  rules.forEach((rule, k) => {
    const mine = results.slice(next, (next += plans[k]!.length));
    if (out.has(rule.id)) return;
    try {
      out.set(rule.id, judge(rule, at, zone, mine));
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
