// A validated query → one SQL statement over the tenant's file. The range is covered by
// rollup tiers (coarsest first, finer at the edges) of the smallest cube that holds the
// query's dimensions; what they cannot cover, and every event above the worker's
// watermark, is aggregated from raw events by the same SQL the worker uses, so answers
// are exact and current to the last commit. With `raw: true`
// the whole range is read from raw events (the benchmark's comparison, and the check
// the property tests make).
import { MERGE_BINS_SQL, percentileSql } from '../aggregate/sketch.js';
import {
  bucketSql,
  countedEventsCtes,
  countedSinceCtes,
  MEASURES,
  rolledUpCte,
  rollupSelect,
  sketchSelect,
  tailSeqs,
  tsLiteral,
  type TailSpan,
} from '../aggregate/rollup.js';
import { tailEventsCte } from '../aggregate/session-project.js';
import {
  cover,
  rollupTable,
  sketchTable,
  smallestCube,
  TIER_MS,
  TIER_SQL_INTERVAL,
  TIERS,
  type Cube,
  type Segment,
  type Tier,
} from '../aggregate/tiers.js';
import type { Kind } from '../ingest/schema.js';
import type { Params } from '../storage/duckdb.js';
import { DIMENSIONS, METRIC_POINT_KINDS, METRICS, REQUEST_KINDS, when, type Dimension, type Query } from './model.js';

export type CompileContext = {
  /** The rollups hold every event up to this seq. */
  lastSeq: number;
  /** The oldest bucket each tier still keeps, and the oldest raw event. */
  keptSince?: Partial<Record<'raw' | Tier, number>>;
  raw?: boolean;
  /** The events above the watermark the answer counts (null: none). */
  tail: TailSpan;
  /** Prices of models `model_prices` does not hold yet (seen only in the unrolled tail). */
  extraPrices?: { model: string; input: number; output: number; cache_write: number; cache_read: number }[];
};

export type Compiled = { sql: string; params: Params; segments: Segment[]; groups: string[] };

/** The dimensions a query groups or filters by. */
const dimensionsOf = (q: Pick<Query, 'group_by' | 'filters'>) => [
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
export function tiersFor(interval: Tier | undefined): Tier[] {
  const usable = TIERS.filter((t) => !interval || TIER_MS[t] <= TIER_MS[interval]);
  return usable.filter((t) => t !== '5m' || interval === '5m');
}

const kindList = (kinds: readonly Kind[]) => kinds.map((k) => `'${k}'`).join(', ');

export function compile(q: Query, ctx: CompileContext): Compiled {
  const params: Params = {};
  const filterParts: string[] = [];
  let kindsOnly: readonly Kind[] | null = null;
  for (const d of dimensionsOf(q)) {
    const kinds = DIMENSIONS[d].kinds as readonly Kind[] | null;
    if (kinds) kindsOnly = kindsOnly ? kindsOnly.filter((k) => kinds.includes(k)) : kinds;
  }
  for (const [d, values] of Object.entries(q.filters) as [Dimension, string[]][]) {
    const names = values.map((v, i) => {
      params[`${d}_${i}`] = v;
      return `$${d}_${i}`;
    });
    filterParts.push(`${DIMENSIONS[d].column} IN (${names.join(', ')})`);
  }
  if (kindsOnly) filterParts.push(kindsOnly.length ? `kind IN (${kindList(kindsOnly)})` : 'false');
  const filters = filterParts.length ? filterParts.join(' AND ') : 'true';

  const metrics = q.metrics.map((name) => ({ name, def: METRICS[name]! }));
  const percentiles = metrics.filter((m) => 'percentile' in m.def && typeof m.def.percentile === 'number');
  const needsSpend = metrics.some((m) => 'sql' in m.def && m.def.spend);
  // The sketch has no session column: a question about sessions reads durations from raw
  // events, and then every other figure too (the same scan, rather than it and the tiers)
  // while retention still keeps the raw events of the whole range.
  const sketchFromRaw = ctx.raw || q.group_by.includes('session') || q.filters.session !== undefined;
  const start = q.compare ? q.from - (q.to - q.from) : q.from;
  const allRaw = ctx.raw || (sketchFromRaw && percentiles.length > 0 && start >= (ctx.keptSince?.raw ?? -Infinity));

  const cube = cubeFor(q);
  const tiers = tiersFor(q.interval);
  // With `compare`, the period before is read in the same statement: each period covered
  // on its own, so no piece straddles `from`, and every row tells its period by its bucket.
  const periods = q.compare
    ? [
        [start, q.from],
        [q.from, q.to],
      ]
    : [[q.from, q.to]];
  const segments: Segment[] = allRaw
    ? [{ source: 'raw', from: start, to: q.to }]
    : periods.flatMap(([a, b]) => cover(a!, b!, tiers, ctx.keptSince));
  const from = tsLiteral(q.from);
  /** A bucket made coarser; compared, the bucket that holds `from` splits there (its later part starts at `from`). */
  const split = (bucket: string, column: string) =>
    q.compare ? `CASE WHEN ${column} >= ${from} THEN greatest(${bucket}, ${from}) ELSE ${bucket} END` : bucket;
  const rawBucket = split(bucketSql('1m'), 'ts');

  const ctes: string[] = [];
  const sketches: string[] = [];
  const inRange = (from: number, to: number, column: string) =>
    `${column} >= ${tsLiteral(from)} AND ${column} < ${tsLiteral(to)}`;
  // Raw events, counted once, in one CTE `raw` rolled up to minutes like a tier: asked
  // raw, every duplicate is found here; otherwise the worker's record covers the edges
  // the tiers cannot, and only the tail above the watermark is judged here. One chain for
  // all the pieces keeps the statement small: planning it costs more than running it.
  const rawPieces: string[] = [];
  const rawSpans = segments
    .filter((s) => s.source === 'raw')
    .reduce<{ from: number; to: number }[]>((spans, s) => {
      const last = spans.at(-1);
      if (last && last.to === s.from) last.to = s.to;
      else spans.push({ from: s.from, to: s.to });
      return spans;
    }, []);
  const rawWheres = rawSpans.map((s) => `${inRange(s.from, s.to, 'ts')} AND ${filters}`);
  const tail = ctx.tail;
  // By project, the events above the watermark take their session's project as the worker
  // will give it them (see session-project.ts); rolled-up events have it already.
  const tailSource = tail && dimensionsOf(q).includes('project') ? 'tail_events' : 'events';
  if (tail && tailSource === 'tail_events') ctes.push(tailEventsCte('tail_events', tailSeqs(ctx.lastSeq, tail)));
  if (ctx.raw) {
    const everything =
      tailSource === 'events'
        ? 'events'
        : `(SELECT * FROM events WHERE seq <= ${ctx.lastSeq} UNION ALL SELECT * FROM tail_events)`;
    ctes.push(countedEventsCtes('raw_all', rawWheres[0]!, start, q.to, everything));
    rawPieces.push('raw_all');
  } else if (rawWheres.length) {
    ctes.push(rolledUpCte('raw_rolled', rawWheres, ctx.lastSeq));
    rawPieces.push('raw_rolled');
  }
  if (!ctx.raw && tail) {
    ctes.push(
      countedEventsCtes(
        'tail',
        `${tailSeqs(ctx.lastSeq, tail)} AND ${inRange(start, q.to, 'ts')} AND ${filters}`,
        tail.lo,
        tail.hi,
        tailSource,
      ),
    );
    rawPieces.push('tail');
  }
  if (rawPieces.length) ctes.push(`raw AS (${rawPieces.map((p) => `SELECT * FROM ${p}`).join(' UNION ALL ')})`);
  /** The rows of one cube: the raw events rolled up to minutes, and the tiers' pieces. */
  const rowsOf = (c: Cube, where: string) =>
    [
      ...(rawPieces.length ? [`SELECT * FROM (${rollupSelect('raw', rawBucket, c)}) WHERE ${where}`] : []),
      ...segments
        .filter((s) => s.source !== 'raw')
        .map(
          (s) =>
            `SELECT * FROM ${rollupTable(s.source as Tier, c)} WHERE ${inRange(s.from, s.to, 'bucket')} AND ${where}`,
        ),
    ].join('\nUNION ALL BY NAME\n');
  if (rawPieces.length && !sketchFromRaw) sketches.push(sketchSelect('raw', rawBucket, cube));
  for (const s of segments) {
    if (s.source !== 'raw' && !sketchFromRaw)
      sketches.push(
        `SELECT * FROM ${sketchTable(s.source, cube)} WHERE ${inRange(s.from, s.to, 'bucket')} AND ${filters}`,
      );
  }
  // A team-cube answer that counts users or sessions, or applies the spend rule, takes
  // what it needs of the smallest cube with user and session keys, folded to one row per
  // user, session and group: the sessions with requests, and the metric points, which
  // count by their session (and leave the team rows). Every other measure there is zero,
  // so nothing counts twice.
  const keyed = cube === 'team' && metrics.some(({ def }) => 'sql' in def && (def.spend || def.distinct));
  if (!keyed) ctes.push(`r AS (${rowsOf(cube, filters)})`);
  else {
    const points = `kind IN (${kindList(METRIC_POINT_KINDS)})`;
    const requests = `kind IN (${kindList(REQUEST_KINDS)})`;
    const wanted = metrics.some(({ def }) => 'sql' in def && def.distinct) ? 'true' : `(${points} OR ${requests})`;
    const grouped = new Set<string>(q.group_by.map((d) => DIMENSIONS[d].column));
    const column = (name: string, otherwise: string) => (grouped.has(name) ? name : `${otherwise} AS ${name}`);
    const bucket = q.interval
      ? split(bucketSql(q.interval, 'bucket'), 'bucket')
      : q.compare
        ? split(tsLiteral(start), 'bucket')
        : 'min(bucket)';
    const keys = `SELECT ${bucket} AS bucket, user_id, session_id,
    ${column('kind', `CASE WHEN ${points} THEN kind WHEN ${requests} THEN 'api_request' ELSE '' END`)}, ${column('model', `CASE WHEN ${points} THEN model ELSE '' END`)},
    ${column('name', "''")}, ${column('status', "''")}, ${MEASURES.map((m) => `sum(CASE WHEN ${points} THEN ${m} ELSE 0 END) AS ${m}`).join(', ')}
    FROM (${rowsOf(keyCubeFor(q), `${filters} AND ${wanted}`)}) GROUP BY ALL`;
    ctes.push(`r AS (SELECT * FROM (${rowsOf('team', filters)}) WHERE NOT ${points}\nUNION ALL BY NAME\n${keys})`);
  }
  if (percentiles.length && sketchFromRaw) {
    // Past raw retention the figures come from the tiers, and the durations from what raw events are left.
    if (!allRaw)
      ctes.push(
        countedSinceCtes(
          'sketch_src',
          `${inRange(start, q.to, 'ts')} AND ${filters}`,
          ctx.lastSeq,
          ctx.tail,
          tailSource,
        ),
      );
    sketches.push(sketchSelect(allRaw ? 'raw' : 'sketch_src', rawBucket, cube, true));
  }

  if (needsSpend) {
    const extra = (ctx.extraPrices ?? []).map((p, i) => {
      params[`price_model_${i}`] = p.model;
      return `SELECT $price_model_${i} AS model, ${Number(p.input)} AS input, ${Number(p.output)} AS output, ${Number(p.cache_write)} AS cache_write, ${Number(p.cache_read)} AS cache_read`;
    });
    ctes.push(
      `prices AS (SELECT model, input, output, cache_write, cache_read FROM model_prices${extra.map((e) => `\nUNION ALL ${e}`).join('')})`,
    );
  }
  // Groups: the period (compared), then the time bucket and the dimensions (the keys). With
  // `totals` the keys are also rolled up, per period, into a row flagged _total.
  const period: [string, string][] = q.compare ? [['_previous', `bucket < ${from}`]] : [];
  const keyExprs: [string, string][] = [];
  if (q.interval) keyExprs.push(['t', `time_bucket(INTERVAL '${TIER_SQL_INTERVAL[q.interval]}', bucket)`]);
  for (const d of q.group_by) keyExprs.push([d, DIMENSIONS[d].column]);
  const groupExprs = [...period, ...keyExprs];
  const keys = keyExprs.map(([name]) => name);
  const groups = [...(q.totals ? ['_total'] : []), ...groupExprs.map(([name]) => name)];
  const totalFlag = q.totals ? [`grouping(${keyExprs.map(([, e]) => e).join(', ')}) > 0 AS _total`] : [];
  const select = (extra: string[]) =>
    [...groupExprs.map(([name, expr]) => `${expr} AS ${name}`), ...totalFlag, ...extra].join(', ');
  const groupByWith = (extra: string[]) => {
    const all = [...groupExprs.map(([, e]) => e), ...extra];
    if (!all.length) return '';
    if (!q.totals) return `GROUP BY ${all.join(', ')}`;
    return `GROUP BY GROUPING SETS ((${[...period.map(([, e]) => e), ...extra].join(', ')}), (${all.join(', ')}))`;
  };

  const aggregates = metrics
    .map(({ name, def }) => {
      if ('sql' in def) return `${def.sql} AS ${name}`;
      const mine = (column: string) => when(`kind IN (${kindList(def.kinds)})`, column);
      if (def.percentile === 'avg') return `sum(${mine('dur_sum')}) / nullif(sum(${mine('dur_n')}), 0) AS ${name}`;
      if (def.percentile === 'min') return `min(${mine('dur_min')}) AS ${name}`;
      if (def.percentile === 'max') return `max(${mine('dur_max')}) AS ${name}`;
      return `NULL AS ${name}_unused`;
    })
    .filter((a) => !a.endsWith('_unused'));
  // One percentile table per family of durations asked for; its figures are clamped to the
  // family's min and max here (bins stored without bounds only have their representative).
  const families = [...new Set(percentiles.map((p) => ('family' in p.def ? p.def.family : '')))];
  const kindsOf = (family: string) => {
    const def = percentiles.find((p) => 'family' in p.def && p.def.family === family)!.def;
    return 'kinds' in def ? def.kinds! : [];
  };
  for (const family of families) {
    const mine = (column: string) => when(`kind IN (${kindList(kindsOf(family))})`, column);
    aggregates.push(`min(${mine('dur_min')}) AS _min_${family}`, `max(${mine('dur_max')}) AS _max_${family}`);
  }
  // The spend rule asks whether a session (a user's) has requests in range: compared, in its period.
  const session = q.compare ? `session_id || CASE WHEN bucket >= ${from} THEN '+' ELSE '-' END` : 'session_id';
  const source = needsSpend
    ? `(SELECT *, (user_id, ${session}) IN (SELECT user_id, ${session} FROM r WHERE kind IN (${kindList(REQUEST_KINDS)}) AND session_id IS NOT NULL) AS has_requests FROM r) LEFT JOIN prices p USING (model)`
    : 'r';
  ctes.push(`m AS (SELECT ${select(aggregates)} FROM ${source} ${groupByWith([])})`);

  if (families.length) ctes.push(`d AS (${sketches.join('\nUNION ALL BY NAME\n')})`);
  const partition = groups.length ? `PARTITION BY ${groups.join(', ')}` : '';
  for (const family of families) {
    const wanted = percentiles.filter((p) => 'family' in p.def && p.def.family === family);
    const values = wanted.map((p) => `${percentileSql((p.def as { percentile: number }).percentile)} AS ${p.name}`);
    ctes.push(`pct_${family} AS (
  SELECT ${[...groups, ...values].join(', ')} FROM (
    SELECT *, sum(n) OVER (${partition} ORDER BY bin ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum, sum(n) OVER (${partition}) AS total
      FROM (SELECT ${select(['bin', MERGE_BINS_SQL])} FROM d WHERE kind IN (${kindList(kindsOf(family))}) ${groupByWith(['bin'])}))
  ${groups.length ? `GROUP BY ${groups.join(', ')}` : ''})`);
  }

  const clamped = (family: string, value: string) =>
    `CASE WHEN ${value} IS NOT NULL THEN least(greatest(${value}, m._min_${family}), m._max_${family}) END`;
  const columns = [
    ...groups.map((g) => `m.${g}`),
    ...metrics.map(({ name, def }) =>
      'percentile' in def && typeof def.percentile === 'number'
        ? `${clamped(def.family, `pct_${def.family}.${name}`)} AS ${name}`
        : `m.${name}`,
    ),
  ];
  // A total row's keys are null: matched as not distinct.
  const same = (f: string) =>
    groups.map((g) => `m.${g} ${q.totals ? 'IS NOT DISTINCT FROM' : '='} pct_${f}.${g}`).join(' AND ');
  const joins = families
    .map((f) => (groups.length ? `LEFT JOIN pct_${f} ON ${same(f)}` : `CROSS JOIN pct_${f}`))
    .join(' ');
  const order = q.interval
    ? keys
    : q.order_by && keys.includes(q.order_by)
      ? [q.order_by]
      : keys.length
        ? [`${q.order_by ?? metrics[0]!.name} DESC NULLS LAST`, ...keys]
        : [];
  const answer = `SELECT ${columns.join(', ')} FROM m ${joins}`;
  // Period and totals rows each take their own `limit` (one over it tells the caller there was more).
  const parts = groups.filter((g) => g === '_previous' || g === '_total');
  const last = parts.length
    ? `SELECT * FROM (${answer}) QUALIFY row_number() OVER (PARTITION BY ${parts.join(', ')}${order.length ? ` ORDER BY ${order.join(', ')}` : ''}) <= ${q.limit + 1} ORDER BY ${[...parts, ...order].join(', ')}`
    : `${answer} ${order.length ? `ORDER BY ${order.join(', ')}` : ''} LIMIT ${q.limit + 1}`;
  const sql = `WITH ${ctes.join(',\n')}\n${last}`;
  return { sql, params, segments, groups };
}
