// The duration sketch, and the one definition of a percentile (`percentile`). A duration d
// falls in bin ceil(log_γ d), γ = (1 + α) / (1 − α) (DDSketch's mapping); a bin keeps its
// count and its smallest and largest duration (lo, hi). A rank's value is exact when it is
// its bin's first or last, or the bin holds one value repeated, else within α (1%); so is a
// percentile interpolated between two ranks (README, Queries: Percentiles).
export const ALPHA = 0.01;
export const GAMMA = (1 + ALPHA) / (1 - ALPHA);
/** Durations under a microsecond share one bin, whose representative is 0. */
export const ZERO_BIN = -1000;
const MIN_DURATION = 0.001;

/**
 * The percentile q (0…1) of `sorted` (ascending), interpolated between closest ranks
 * (R-7, numpy's default, Excel's PERCENTILE.INC): h = (n − 1)·q, x[⌊h⌋] + (h − ⌊h⌋)·(x[⌈h⌉] − x[⌊h⌋]).
 */
export function percentile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return NaN;
  const h = q * (sorted.length - 1);
  const a = sorted[Math.floor(h)]!;
  return a + (h - Math.floor(h)) * (sorted[Math.ceil(h)]! - a);
}

/** The SQL expression of `duration`'s bin. */
export const binSql = (duration: string) =>
  `CASE WHEN ${duration} < ${MIN_DURATION} THEN ${ZERO_BIN} ELSE ceil(ln(${duration}) / ${Math.log(GAMMA)}) END::SMALLINT`;

/** The SQL expression of the value a bin stands for: within α of every duration in it. */
export const binValueSql = (bin: string) =>
  `CASE WHEN ${bin} = ${ZERO_BIN} THEN 0 ELSE 2 * pow(${GAMMA}, ${bin}) / ${GAMMA + 1} END`;

export function binOf(duration: number): number {
  return duration < MIN_DURATION ? ZERO_BIN : Math.ceil(Math.log(duration) / Math.log(GAMMA));
}

/**
 * SQL aggregates merging bins' counts and bounds. A bin stored before bins kept bounds has
 * none (NULL), and a merge with one has none either: its lo might not be the smallest.
 */
export const MERGE_BINS_SQL =
  'sum(n) AS n, CASE WHEN count(lo) = count(*) THEN min(lo) END AS lo, CASE WHEN count(hi) = count(*) THEN max(hi) END AS hi';

/**
 * SQL: the value at 0-based `rank` of a row of bins (bin, n, lo, hi, and cum: the count
 * up to and with this bin in bin order), null unless the rank is in this bin. The bin's
 * first rank is its lo, its last its hi, any other the representative clamped to [lo, hi]
 * (which only moves it toward the true value). Bins stored without bounds: the representative
 * (least and greatest skip a NULL).
 */
const valueAtSql = (rank: string) =>
  `CASE WHEN cum > ${rank} AND cum - n <= ${rank} THEN
    CASE WHEN ${rank} = cum - n AND lo IS NOT NULL THEN lo WHEN ${rank} = cum - 1 AND hi IS NOT NULL THEN hi
      ELSE least(greatest(${binValueSql('bin')}, lo), hi) END END`;

/**
 * The percentile q of one group's bin rows (those of valueAtSql, and `total`, the group's
 * count) as `percentile` defines it, in three steps that each name their columns `_<name>_…`
 * (one expression written once costs DuckDB less to plan than the same written out nested):
 * the two closest ranks and how far between them, the value at each (null but in its bin),
 * then the aggregate interpolating them. Each rank's value is exact or within α, so their
 * interpolation is within α of the exact percentile too.
 */
export const percentileSql = (q: number, name: string) => {
  const [lo, hi, between] = [`_${name}_lo`, `_${name}_hi`, `_${name}_between`];
  const h = `(${q}::DOUBLE * (total - 1))`;
  return {
    ranks: `floor(${h}) AS ${lo}, ceil(${h}) AS ${hi}, ${h} - floor(${h}) AS ${between}`,
    values: `${valueAtSql(lo)} AS ${lo}, ${valueAtSql(hi)} AS ${hi}, ${between}`, // one bin holds each rank
    aggregate: `max(${lo}) + max(${between}) * (max(${hi}) - max(${lo}))`,
  };
};
