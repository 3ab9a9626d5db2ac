// What a query reads, decided before any SQL is written: a plain object a newcomer can print.
// The range is covered by rollup tiers (coarsest first, finer at the edges) of the smallest
// cube that holds the query's dimensions; what they cannot cover is read from raw events, and
// the events above the worker's watermark (the tail) are counted from raw events too, so an
// answer is exact and current to the last commit. The SQL emitters (sql/*.ts) follow the plan.
import type { TailSpan } from '../aggregate/rollup.js';
import {
  ceilTo,
  cover,
  floorTo,
  smallestCube,
  TIER_MS,
  TIERS,
  type Cube,
  type Segment,
  type Tier,
} from '../aggregate/tiers.js';
import type { Kind } from '../ingest/schema.js';
import { alignmentMs, DEFAULT_TIME_ZONE } from '../time/zone.js';
import { kindsOf } from './sql/filters.js';
import { DIMENSIONS, INTERVAL_MS, METRICS, type Dimension, type Interval, type Query } from './model.js';

export type Price = { model: string; input: number; output: number; cache_write: number; cache_read: number };

/** Where the worker stands and what the tenant keeps: what a plan depends on besides the query. */
export type PlanState = {
  /** The rollups hold every event up to this seq. */
  lastSeq: number;
  /** The oldest bucket each tier still keeps, and the oldest raw event. */
  keptSince?: Partial<Record<'raw' | Tier, number>>;
  /** Read every event from raw events, judging duplicates here (the property tests' reference). */
  raw?: boolean;
  /** The events above the watermark the answer counts (null: none). */
  tail: TailSpan;
  /** Prices of models `model_prices` does not hold yet (seen only in the unrolled tail). */
  extraPrices?: Price[];
  /** The IANA zone the tenant's buckets are counted in (UTC unless set). */
  timeZone?: string;
  /**
   * No event an answer may count is older than this (watermark.ts, oldestEvent): the part of a
   * range before it is not read, so a young tenant's long range costs a few pieces.
   */
  firstEvent?: number;
  /**
   * No rolled-up event is newer than this (watermark.ts, newestRolledUp): a tier or raw piece
   * starting after it reads nothing and is left out (the tail is read apart, over the span).
   */
  lastEvent?: number;
};

/** A period of the answer: the range asked, or (compared) the one of equal length before it. */
export type Period = { from: number; to: number; previous: boolean; segments: Segment[] };

/**
 * Where a percentile's duration sketch comes from: the tiers' sketches (and the raw pieces'),
 * raw events of the whole range, or (a question about sessions, whose sketches have no
 * session key) raw events as far back as retention keeps them, beside tier figures.
 */
export type SketchSource = 'none' | 'tiers' | 'raw' | 'raw since retention';

export type Plan = {
  /** The cube whose rows answer. */
  cube: Cube;
  /** Team-cube answers that count users or sessions or apply the spend rule take those rows from this cube. */
  keyCube: Cube | null;
  /** Every event read from raw events and every duplicate judged here (`raw: true`). */
  raw: boolean;
  /** The range (and, compared, the period before), each covered on its own: no piece straddles `from`. */
  periods: Period[];
  /** The counted events above the watermark; `projects`: their missing projects taken from their sessions. */
  tail: (NonNullable<TailSpan> & { projects: boolean }) | null;
  /** The rollups' watermark (raw pieces read what it covers with the worker's judgement of duplicates). */
  lastSeq: number;
  sketch: SketchSource;
  /**
   * Where raw retention has deleted up to (null: nothing): 'raw since retention' reads the
   * durations after it (before it only an import run's events are left, kept for a rollback).
   */
  rawSince: number | null;
  /** Time buckets: their interval, counted in `zone`. */
  bucket: { interval: Interval; zone: string } | null;
  /** The spend rule's prices: `model_prices` and these. */
  spend: { extraPrices: Price[] } | null;
  /** Values per dimension (bound as parameters), and the kinds the dimensions apply to (null: all). */
  filters: Partial<Record<Dimension, string[]>>;
  kinds: Kind[] | null;
  metrics: string[];
  /** The group keys: `t` (the bucket) and the dimensions; `totals` adds a row over them per period. */
  keys: string[];
  totals: boolean;
  order: string[];
  limit: number;
};

/** The dimensions a query groups or filters by. */
export const dimensionsOf = (q: Pick<Query, 'group_by' | 'filters'>) => [
  ...q.group_by,
  ...(Object.keys(q.filters) as Dimension[]),
];
const dimensionColumns = (q: Pick<Query, 'group_by' | 'filters'>) => dimensionsOf(q).map((d) => DIMENSIONS[d].column);

/** The cube a query reads: the smallest that holds every column its dimensions and metrics read (see tiers.ts). */
export const cubeFor = (q: Pick<Query, 'group_by' | 'filters' | 'metrics'>): Cube =>
  smallestCube([
    ...dimensionColumns(q),
    ...q.metrics.flatMap((m) => (METRICS[m] as { columns?: readonly string[] } | undefined)?.columns ?? []),
  ]);

/**
 * The cube a team-cube query's distinct counts and spend rule read: the smallest with its
 * dimensions' columns and user and session keys (its metrics' other columns come from the
 * team rows).
 */
export const keyCubeFor = (q: Pick<Query, 'group_by' | 'filters'>): Cube =>
  smallestCube([...dimensionColumns(q), 'user_id', 'session_id']);

/**
 * The tiers a range is covered with: those no coarser than the interval, less 5m unless
 * the interval is 5m. Every piece costs DuckDB a scan and some planning, and an edge reads
 * as cheaply from minutes as from five-minute buckets (a quarter hour of minutes is a few
 * hundred rows). 15m stays: it keeps a year, where minutes keep a month.
 */
export function tiersFor(interval: Interval | undefined): Tier[] {
  const usable = TIERS.filter((t) => !interval || TIER_MS[t] <= INTERVAL_MS[interval]);
  return usable.filter((t) => t !== '5m' || interval === '5m');
}

/**
 * Covers one period for buckets of `interval` in `zone`: only with tiers whose buckets nest
 * in the zone's local ones (New York's days from hours, Kolkata's from quarter hours). Before
 * the oldest bucket any of those still keeps, the coarser tiers take over, each
 * bucket counted in the local bucket its start falls in (the one approximation; README, Queries).
 */
export function coverPeriod(
  from: number,
  to: number,
  interval: Interval | undefined,
  zone: string,
  keptSince: Partial<Record<'raw' | Tier, number>> = {},
): Segment[] {
  const usable = tiersFor(interval);
  const aligned = interval ? usable.filter((t) => alignmentMs(zone) % TIER_MS[t] === 0) : usable;
  // Where the oldest bucket of any of them is (-Infinity: one keeps everything); after it `cover`
  // reads each stretch from the coarsest of them that still keeps it.
  const alignedFrom = Math.min(...aligned.map((t) => keptSince[t] ?? -Infinity));
  if (aligned.length === usable.length || alignedFrom <= from) return cover(from, to, aligned, keptSince);
  const at = Math.min(to, ceilTo(alignedFrom, TIER_MS[usable.at(-1)!]));
  return [...cover(from, at, usable, keptSince), ...cover(at, to, aligned, keptSince)];
}

/**
 * Where reading a period starts: at `from`, or later on a day boundary when no event is
 * older than `firstEvent` (from a day boundary the coarsest tiers cover the rest in a few
 * pieces; any zone's local buckets are whole tier buckets there).
 */
export function readFrom(from: number, to: number, firstEvent: number | undefined): number {
  if (firstEvent === undefined) return from;
  const day = floorTo(firstEvent, TIER_MS['1d']);
  return day > from ? Math.min(day, to) : from;
}

/** A piece can hold a counted rolled-up event: it does not start after the newest (read raw: every piece). */
const mayHold = (state: PlanState) => (s: Segment) =>
  state.raw || state.lastEvent === undefined || s.from <= state.lastEvent;

export function planQuery(q: Query, state: PlanState): Plan {
  const defs = q.metrics.map((name) => METRICS[name]!);
  const percentiles = defs.some((d) => 'percentile' in d && typeof d.percentile === 'number');
  // The sketch has no session column: a question about sessions reads durations from raw
  // events, and then every other figure too (the same scan, rather than it and the tiers)
  // while retention still keeps the raw events of the whole range.
  const sketchFromRaw = !!state.raw || q.group_by.includes('session') || q.filters.session !== undefined;
  const start = q.compare ? q.from - (q.to - q.from) : q.from;
  const allRaw = !!state.raw || (sketchFromRaw && percentiles && start >= (state.keptSince?.raw ?? -Infinity));
  const zone = state.timeZone ?? DEFAULT_TIME_ZONE;
  const ranges = q.compare
    ? [
        { from: start, to: q.from, previous: true },
        { from: q.from, to: q.to, previous: false },
      ]
    : [{ from: q.from, to: q.to, previous: false }];
  const periods = ranges.map((p) => {
    const from = readFrom(p.from, p.to, state.firstEvent);
    return {
      ...p,
      segments:
        from >= p.to
          ? []
          : allRaw
            ? [{ source: 'raw' as const, from, to: p.to }].filter(mayHold(state))
            : coverPeriod(from, p.to, q.interval, zone, state.keptSince).filter(mayHold(state)),
    };
  });

  const cube = cubeFor(q);
  const keyed = cube === 'team' && defs.some((d) => 'sql' in d && (d.spend || d.distinct));
  const keys = [...(q.interval ? ['t'] : []), ...q.group_by];
  const first = q.metrics[0]!;
  return {
    cube,
    keyCube: keyed ? keyCubeFor(q) : null,
    raw: !!state.raw,
    periods,
    lastSeq: state.lastSeq,
    tail: state.tail && { ...state.tail, projects: dimensionsOf(q).includes('project') },
    sketch: !percentiles ? 'none' : !sketchFromRaw ? 'tiers' : allRaw ? 'raw' : 'raw since retention',
    rawSince: state.keptSince?.raw ?? null,
    bucket: q.interval ? { interval: q.interval, zone } : null,
    spend: defs.some((d) => 'sql' in d && d.spend) ? { extraPrices: state.extraPrices ?? [] } : null,
    filters: q.filters,
    kinds: kindsOf(dimensionsOf(q)),
    metrics: q.metrics,
    keys,
    totals: q.totals,
    // A time series in time order; otherwise by the metric asked (or the first), largest first.
    order: q.interval
      ? keys
      : q.order_by && keys.includes(q.order_by)
        ? [q.order_by]
        : keys.length
          ? [`${q.order_by ?? first} DESC NULLS LAST`, ...keys]
          : [],
    limit: q.limit,
  };
}
