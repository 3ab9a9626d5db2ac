// What a question's answer is made of: its rows split by period with the totals
// (resultOf), times as ISO strings and figures as numbers, a time series' gaps filled in the
// tenant's zone (fillGaps), and answers to parts of one question merged into one in the order
// one answer would give (mergeAnswers, for runPartiallyFiltered).
import { bucketStart, nextBucket } from './buckets.js';
import { METRICS, type Query } from './model.js';

type Row = Record<string, string | number | null>;
export type QueryResult = {
  rows: Row[];
  /** More rows matched than `limit`. */
  truncated: boolean;
  /** With `totals`: the figures over all groups. */
  totals?: Row;
  /** With `compare`: the same answer for the period of equal length just before. */
  previous?: Omit<QueryResult, 'previous'> & { from: string; to: string };
};

/**
 * Rows in the order an answer to `q` gives them (plan.ts `order`): a time series by time,
 * else by its metric, largest first (no figure last), then by the group keys as DuckDB orders
 * them: strings by code point (UTF-8 bytes), a group without a value ('' in the rollups) first.
 */
function inOrder(rows: Record<string, string | number | null>[], q: Query) {
  const keys = [...(q.interval ? ['t'] : []), ...q.group_by];
  const byKey = q.order_by && keys.includes(q.order_by) && !q.interval;
  const by = q.interval || byKey ? null : (q.order_by ?? q.metrics[0]!);
  const order = byKey ? [q.order_by!] : keys;
  const asc = (a: unknown, b: unknown) =>
    typeof a === 'number' && typeof b === 'number' ? a - b : byCodePoint(String(a ?? ''), String(b ?? ''));
  return rows.sort((a, b) => {
    if (by !== null) {
      const [x, y] = [a[by], b[by]];
      const first = x === null ? (y === null ? 0 : 1) : y === null ? -1 : asc(y, x);
      if (first) return first;
    }
    for (const k of order) {
      const c = asc(a[k], b[k]);
      if (c) return c;
    }
    return 0;
  });
}

/** Strings in DuckDB's order, UTF-8 bytes, which is code point order (UTF-16 units differ past U+FFFF). */
function byCodePoint(a: string, b: string): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++; // the pair's second unit, the same in both
  }
  return a.length - b.length;
}

/**
 * Answers to the same question over different metrics (`qs`), as one: a group one of them
 * has no row for (a minute without the tool's calls) takes its metrics as nothing, as an
 * answer's empty group does (resultOf).
 */
export function mergeAnswers(answers: QueryResult[], qs: Query[], asked: Query): QueryResult {
  const keyOf = (row: Record<string, unknown>) =>
    JSON.stringify([row.t ?? null, ...asked.group_by.map((d) => row[d] ?? null)]);
  const nothing = nothingOf(qs.flatMap((part) => part.metrics));
  const rows = new Map<string, Record<string, string | number | null>>();
  for (const a of answers)
    for (const row of a.rows) rows.set(keyOf(row), { ...(rows.get(keyOf(row)) ?? nothing), ...row });
  const ordered = inOrder([...rows.values()], asked);
  const merged: QueryResult = {
    rows: ordered.slice(0, asked.limit),
    truncated: ordered.length > asked.limit || answers.some((a) => a.truncated),
  };
  if (answers[0]!.totals) merged.totals = Object.assign({}, ...answers.map((a) => a.totals));
  if (answers[0]!.previous)
    merged.previous = {
      ...mergeAnswers(
        answers.map((a) => a.previous!),
        qs,
        asked,
      ),
      from: answers[0]!.previous.from,
      to: answers[0]!.previous.to,
    };
  return merged;
}

/** `metrics` over no rows: counts 0, durations null. */
const nothingOf = (metrics: string[]) =>
  Object.fromEntries(metrics.map((m) => [m, 'sql' in METRICS[m]! ? 0 : null])) as Record<string, number | null>;

/** A compiled query's rows as an answer: split by period, and the totals from the groups. */
export function resultOf(rows: Record<string, unknown>[], q: Query): QueryResult {
  // An empty period or total still answers, as an ungrouped aggregate over nothing does.
  const nothing = () => nothingOf(q.metrics);
  const part = (previous: boolean): Omit<QueryResult, 'previous'> => {
    const mine = q.compare ? rows.filter((r) => r._previous === previous) : rows;
    const grouped = mine.filter((r) => !r._total);
    if (!grouped.length && !q.interval && !q.group_by.length) grouped.push(nothing());
    return {
      rows: grouped.slice(0, q.limit).map((r) => shape(r, q)),
      truncated: grouped.length > q.limit,
      ...(q.totals ? { totals: shape(mine.find((r) => r._total) ?? nothing(), q, false) } : {}),
    };
  };
  if (!q.compare) return part(false);
  const span = q.to - q.from;
  return {
    ...part(false),
    previous: { from: new Date(q.from - span).toISOString(), to: new Date(q.from).toISOString(), ...part(true) },
  };
}

/**
 * A sum of doubles differs in its last bits with the order DuckDB's threads add it up in:
 * 12 significant digits keep every real figure and make the same question give the same
 * answer twice. Whole numbers (most figures) are left as they are: toPrecision costs a
 * third of a microsecond, milliseconds over a page of sessions.
 */
const significant = (n: number) => (Number.isInteger(n) || !Number.isFinite(n) ? n : Number(n.toPrecision(12)));

/** Times as ISO strings, absent dimensions as null, numbers as numbers (see significant). */
function shape(row: Record<string, unknown>, q: Query, keyed = true): Row {
  const out: Row = {};
  if (q.interval && keyed) out.t = toIso(row.t);
  for (const d of keyed ? q.group_by : [])
    out[d] = row[d] === '' || row[d] === undefined || row[d] === null ? null : String(row[d]);
  for (const m of q.metrics) {
    const v = row[m];
    out[m] = v === null || v === undefined ? null : significant(Number(v));
  }
  return out;
}

function toIso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  const s = String(v);
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s.replace(' ', 'T')}Z`).toISOString();
}

/** Every bucket of a time series' range in `zone`, with zeros where nothing happened (charts need the gaps); durations stay null. */
export function fillGaps(
  rows: QueryResult['rows'],
  q: Pick<Query, 'from' | 'to' | 'interval' | 'metrics'>,
  /** The tenant's zone (timeZoneOf): the buckets' starts are its local ones. */
  zone: string,
): QueryResult['rows'] {
  if (!q.interval) return rows;
  const byTime = new Map(rows.map((r) => [Date.parse(String(r.t)), r]));
  const out: QueryResult['rows'] = [];
  for (let t = bucketStart(q.from, q.interval, zone); t < q.to; t = nextBucket(t, q.interval, zone)) {
    out.push(
      byTime.get(t) ?? {
        t: new Date(t).toISOString(),
        ...Object.fromEntries(q.metrics.map((m) => [m, m.endsWith('_ms') ? null : 0])),
      },
    );
    byTime.delete(t);
  }
  // Rows off the grid (buckets of another zone than `zone`) are kept rather than lost.
  if (byTime.size)
    return [...out, ...byTime.values()].sort((a, b) => Date.parse(String(a.t)) - Date.parse(String(b.t)));
  return out;
}
