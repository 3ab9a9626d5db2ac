// The duration sketch: a logarithmic histogram (DDSketch's mapping). A duration d > 0
// falls in bin ceil(log_γ d) with γ = (1 + α) / (1 − α); every value in a bin is within α
// of the bin's representative 2γ^i / (γ + 1). Bins from several rows merge by adding
// counts, so p50/p95/p99 come out of any tier, over any range, with relative error ≤ α
// (1%) against the exact nearest-rank percentile (the value at rank ⌊q·(n−1)⌋).
export const ALPHA = 0.01;
export const GAMMA = (1 + ALPHA) / (1 - ALPHA);
/** Durations under a microsecond share one bin, reported as 0. */
export const ZERO_BIN = -1000;
const MIN_DURATION = 0.001;

/** The SQL expression of `duration`'s bin. */
export const binSql = (duration: string) =>
  `CASE WHEN ${duration} < ${MIN_DURATION} THEN ${ZERO_BIN} ELSE ceil(ln(${duration}) / ${Math.log(GAMMA)}) END::SMALLINT`;

/** The SQL expression of the value a bin stands for. */
export const binValueSql = (bin: string) => `CASE WHEN ${bin} = ${ZERO_BIN} THEN 0 ELSE 2 * pow(${GAMMA}, ${bin}) / ${GAMMA + 1} END`;

export function binOf(duration: number): number {
  return duration < MIN_DURATION ? ZERO_BIN : Math.ceil(Math.log(duration) / Math.log(GAMMA));
}
