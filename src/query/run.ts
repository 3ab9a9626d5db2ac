// Runs queries against one tenant's file, on its reader connections: each answer reads
// the watermark and the rows it splits in one transaction, so each is exact.
import { keptSince, tenantSettings, type TenantSettings } from '../aggregate/settings.js';
import type { TailSpan } from '../aggregate/rollup.js';
import type { Connection, Database, Queryable } from '../storage/duckdb.js';
import { KEPT_PER_FILE, KEPT_ROWS, keptRead, type KeepOptions } from '../storage/kept-reads.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { compile, type CompileContext } from './compile.js';
import { priceOf } from '../cost/prices.js';
import { bucketStart, nextBucket } from './buckets.js';
import { rollupTable, TIERS } from '../aggregate/tiers.js';
import { filtersFor, MAX_ROWS, METRICS, querySchema, type Query, type QueryInput } from './model.js';

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

export async function runQuery(
  tenantFiles: TenantFiles,
  tenantId: string,
  q: Query,
  options: { now: number; raw?: boolean },
): Promise<QueryResult> {
  if (q.partial_filters) return runPartiallyFiltered(tenantFiles, tenantId, q, options);
  return (await runQueries(tenantFiles, tenantId, [q], options))[0]!;
}

/**
 * Several queries answered for the same events (a page's widgets agree with each other).
 * The first query's transaction reads the watermark and fixes those events: every one up
 * to the newest seq its snapshot holds (seqs are given in commit order). The others run
 * side by side on the tenant's other reader, each in a later snapshot of its own, reading
 * its tail only up to that seq. A later snapshot's rollups hold newer events only if the
 * worker rolled them up in between; then all are asked again in one transaction.
 */
export async function runQueries(
  tenantFiles: TenantFiles,
  tenantId: string,
  qs: Query[],
  /** `between` runs once the first snapshot is taken, before the others (tests commit events there). */
  options: { now: number; raw?: boolean; between?: () => Promise<void> },
): Promise<QueryResult[]> {
  // Each set of its filters is a question of its own: runQuery splits it (runPartiallyFiltered).
  if (qs.some((q) => q.partial_filters)) throw new Error('a question with partial_filters is asked with runQuery');
  const file = await tenantFiles.open(tenantId);
  const reader = await tenantFiles.connection(tenantId, 'reader');
  const settings = await tenantSettings(file, reader);
  const kept = keptSince(settings.retention, options.now, settings.applied);
  if (options.between) return answer(file, reader, settings, kept, qs, options);
  // The same questions while the file is unchanged get the same answers: the clock counts
  // only through what retention keeps, and the settings are in the key as they were read
  // (a change to them is a write, but this request may have read them just before it).
  const starts = Math.min(...qs.map(startOf));
  return keptRead(
    file,
    JSON.stringify([qs, options.raw === true, keptWithin(kept, starts), settings]),
    () => answer(file, reader, settings, kept, qs, options),
    KEPT_ANSWERS,
  );
}

/** Where a question's first period starts (with `compare`, the period before). */
const startOf = (q: Query) => (q.compare ? 2 * q.from - q.to : q.from);

/**
 * What of `kept` the answers to questions starting at `start` depend on: a tier (or raw)
 * that keeps everything from `start` on is planned as one that deleted nothing (`cover`,
 * `coverPeriod` and `planQuery` only compare a cutoff with where a piece starts; the raw
 * cutoff as `newestRolledUp`'s floor only adds pieces after every rolled-up event, which
 * hold none). So a page asked again a second later, its cutoffs a second later too, gets
 * the same answer.
 */
export function keptWithin(kept: ReturnType<typeof keptSince>, start: number): ReturnType<typeof keptSince> {
  return Object.fromEntries(Object.entries(kept).filter(([, at]) => at !== undefined && at > start));
}

const KEPT_ANSWERS: KeepOptions<QueryResult[]> = {
  max: KEPT_PER_FILE,
  worth: (answers) => answers.reduce((n, a) => n + a.rows.length + (a.previous?.rows.length ?? 0), 0) <= KEPT_ROWS,
  copy: true,
};

async function answer(
  file: Database,
  reader: Connection,
  settings: TenantSettings,
  kept: ReturnType<typeof keptSince>,
  qs: Query[],
  options: { now: number; raw?: boolean; between?: () => Promise<void> },
): Promise<QueryResult[]> {
  const ask = async (tx: Queryable, q: Query, w: Watermark, span: EventSpan) => {
    const extraPrices = w.unpricedModels.map((model) => ({ model, ...priceOf(model, settings.prices) }));
    const context: CompileContext = {
      lastSeq: w.lastSeq,
      keptSince: kept,
      raw: options.raw,
      tail: w.tail,
      extraPrices,
      timeZone: settings.timeZone,
      ...span,
    };
    const { sql, params } = compile(q, context);
    return resultOf(await tx.all<Record<string, unknown>>(sql, params), q);
  };
  const starts = Math.min(...qs.map(startOf));
  /** What lies outside the events an answer may count: the planner leaves those pieces out. */
  const eventSpan = async (tx: Queryable, w: Watermark): Promise<EventSpan> => ({
    firstEvent: await oldestEvent(file, tx, w, starts),
    lastEvent: await newestRolledUp(file, tx, w.lastSeq, kept.raw),
  });
  const together = () =>
    reader.transaction(async (tx) => {
      const w = await watermark(tx, { all: options.raw });
      const span = options.raw ? {} : await eventSpan(tx, w);
      const out: QueryResult[] = [];
      for (const q of qs) out.push(await ask(tx, q, w, span));
      return out;
    });
  if (qs.length < 2 || options.raw) return together();

  let others: Promise<PromiseSettledResult<QueryResult | null>[]> | undefined;
  const first = await reader.transaction(async (tx) => {
    const w = await watermark(tx);
    const span = await eventSpan(tx, w);
    const upTo = w.tail?.last ?? w.lastSeq;
    await options.between?.();
    // Not awaited here: one of them may wait for this very connection.
    others = Promise.allSettled(
      qs.slice(1).map((q) =>
        reader.transaction(async (later) => {
          // Rollups and retention unchanged: the same tail (its seqs were all committed when `w` was read).
          const now = await rolledUpTo(later);
          if (now.lastSeq === w.lastSeq && now.retiredUntil === w.retiredUntil) return ask(later, q, w, span);
          const mine = await watermark(later, { upTo });
          return mine.lastSeq > upTo ? null : ask(later, q, mine, {});
        }),
      ),
    );
    return ask(tx, qs[0]!, w, span);
  });
  const rest = await others!;
  const failed = rest.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const answers = rest.map((r) => (r as PromiseFulfilledResult<QueryResult | null>).value);
  return answers.every((a) => a !== null) ? [first, ...(answers as QueryResult[])] : together();
}

/**
 * A question whose tool, command, agent or model filters (PARTIAL_FILTERS) narrow only the
 * metrics they apply to: asked as one query per set of filters that applies (together, so
 * they count the same events) and merged row by row. The other metrics count every tool,
 * command, agent or model instead of refusing the question.
 */
export async function runPartiallyFiltered(
  tf: TenantFiles,
  tenantId: string,
  input: QueryInput,
  options: { now: number; raw?: boolean },
): Promise<QueryResult> {
  const parts = new Map<string, { filters: QueryInput['filters']; metrics: string[] }>();
  for (const m of input.metrics) {
    const filters = filtersFor([m], input.filters ?? {});
    const key = JSON.stringify(Object.keys(filters).sort());
    const part = parts.get(key) ?? { filters, metrics: [] };
    part.metrics.push(m);
    parts.set(key, part);
  }
  // Every group of each part (up to MAX_ROWS), merged, then ordered and cut as one answer
  // would be: a part's own order and limit would keep other groups than another's.
  const qs = [...parts.values()].map((p) =>
    querySchema.parse({
      ...input,
      metrics: p.metrics,
      filters: p.filters,
      order_by: undefined,
      limit: MAX_ROWS,
      partial_filters: false,
    }),
  );
  const asked = { ...qs[0]!, metrics: input.metrics, order_by: input.order_by, limit: input.limit ?? 1000 };
  return mergeAnswers(await runQueries(tf, tenantId, qs, options), qs, asked);
}

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
function mergeAnswers(answers: QueryResult[], qs: Query[], asked: Query): QueryResult {
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

/** `retiredUntil`: raw retention moved the events before it to retired_events (null: none). */
type Watermark = { lastSeq: number; retiredUntil: number | null; tail: TailSpan; unpricedModels: string[] };
type EventSpan = Pick<CompileContext, 'firstEvent' | 'lastEvent'>;

const rolledUpTo = async (tx: Queryable): Promise<Pick<Watermark, 'lastSeq' | 'retiredUntil'>> => {
  const r = (await tx.get<{ s: number; r: number | null }>(
    'SELECT last_seq AS s, epoch_ms(retired_until) AS r FROM rollup_state',
  ))!;
  return { lastSeq: Number(r.s), retiredUntil: r.r === null ? null : Number(r.r) };
};

/** Per tenant file: the oldest event or rollup bucket, read while the rollups stood at `lastSeq` (null: none). */
const oldest = new WeakMap<object, { lastSeq: number; at: number | null }>();

/**
 * A time no event an answer may count is older than: the oldest event or rollup bucket
 * (`undefined` when unknown). Read again only once the worker has rolled up more, and
 * only when it could matter (what was kept is later than the start of some question):
 * retention and removals only make it later, and newer events are in `w`'s tail. For the
 * planner to skip the pieces of a range before a young tenant's first event.
 */
export async function oldestEvent(
  file: object,
  tx: Queryable,
  w: Watermark,
  start: number,
): Promise<number | undefined> {
  let kept = oldest.get(file);
  if (kept?.lastSeq !== w.lastSeq) {
    if (kept && (kept.at ?? Infinity) <= start) return undefined;
    // Every cube of a tier holds the same buckets; the team cube's tables are the smallest.
    const t = (await tx.get<{ at: number | null }>(
      `SELECT epoch_ms(least((SELECT min(ts) FROM events), ${TIERS.map((tier) => `(SELECT min(bucket) FROM ${rollupTable(tier, 'team')})`).join(', ')})) AS at`,
    ))!;
    kept = { lastSeq: w.lastSeq, at: t.at === null ? null : Number(t.at) };
    oldest.set(file, kept);
  }
  const at = Math.min(kept.at ?? Infinity, w.tail?.lo ?? Infinity);
  return at === Infinity ? undefined : at;
}

/** Per tenant file: the newest timestamp of the events up to `lastSeq` (null: none). */
const newest = new WeakMap<object, { lastSeq: number; at: number | null }>();

/**
 * A time no rolled-up event an answer may count is newer than (`-Infinity`: none). The
 * events up to the watermark only grow with it, so the kept figure is read on from the seq
 * it was read at (a few rows); removals only make it earlier. Retention may have deleted
 * raw events newer than the newest left, never newer than where raw events are kept since
 * (`rawKeptSince`). For the planner to skip the pieces after a quiet tenant's last event.
 */
export async function newestRolledUp(
  file: object,
  tx: Queryable,
  lastSeq: number,
  rawKeptSince: number | undefined,
): Promise<number> {
  let kept = newest.get(file);
  if (!kept || kept.lastSeq < lastSeq) {
    const after = kept ? `seq > ${kept.lastSeq} AND ` : '';
    const t = (await tx.get<{ at: number | null }>(
      `SELECT epoch_ms(max(ts)) AS at FROM events WHERE ${after}seq <= ${Number(lastSeq)}`,
    ))!;
    const at = t.at === null ? (kept?.at ?? null) : Math.max(Number(t.at), kept?.at ?? -Infinity);
    // A concurrent reader may have read further meanwhile: keep whichever read more.
    const latest = newest.get(file);
    kept = { lastSeq, at };
    if (!latest || latest.lastSeq < lastSeq) newest.set(file, kept);
  }
  return Math.max(kept.at ?? -Infinity, rawKeptSince ?? -Infinity);
}

/**
 * Where the worker stands, read inside the caller's transaction: the watermark, the events
 * above it (up to `upTo` when given), and the models among them the worker has not priced
 * yet (with `all`, of every event: what a raw answer prices).
 */
export async function watermark(tx: Queryable, o: { all?: boolean; upTo?: number } = {}): Promise<Watermark> {
  // One statement: DuckDB still skips the row groups below the watermark (seq grows with the file).
  const above = o.all
    ? 'true'
    : `seq > (SELECT last_seq FROM rollup_state)${o.upTo === undefined ? '' : ` AND seq <= ${Number(o.upTo)}`}`;
  const t = (await tx.get<{
    last_seq: number;
    retired: number | null;
    lo: number | null;
    hi: number | null;
    last: number | null;
    models: string[] | null;
  }>(
    `SELECT (SELECT last_seq FROM rollup_state) AS last_seq, (SELECT epoch_ms(retired_until) FROM rollup_state) AS retired,
            epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi, max(seq) AS last,
            list(DISTINCT model) FILTER (model IS NOT NULL AND model NOT IN (SELECT model FROM model_prices)) AS models
       FROM events WHERE ${above}`,
  ))!;
  const retiredUntil = t.retired === null ? null : Number(t.retired);
  const tail =
    t.lo === null || t.hi === null || t.last === null
      ? null
      : { lo: Number(t.lo), hi: Number(t.hi), last: Number(t.last), retiredUntil };
  return { lastSeq: Number(t.last_seq), retiredUntil, tail, unpricedModels: t.models ?? [] };
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
