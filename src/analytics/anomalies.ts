// Points that stand out from their recent past: each point's z-score against the mean of
// the `window` points before it (never itself, so a spike cannot hide by inflating its own
// yardstick), in units of their spread. Only points with |z| ≥ threshold come back.
import type { Point } from './trends.js';

export type Severity = 'low' | 'medium' | 'high';

export type Anomaly = {
  t: number;
  v: number;
  mean: number;
  /** The history's sample standard deviation. */
  stddev: number;
  /** What z is measured in: the stddev, or the floor under it (see spreadOf). */
  spread: number;
  z: number;
  severity: Severity;
};

/** `minSpread`: the least spread a history is given, in the series' unit (a count: 1; dollars: 0.01). */
export type AnomalyOptions = { window?: number; threshold?: number; minPoints?: number; minSpread?: number };

export const ANOMALY_DEFAULTS = { window: 24, threshold: 3, minPoints: 8, minSpread: 0 } as const;

/** The least spread relative to the history's mean: a history that never varied is still not exact. */
export const RELATIVE_SPREAD = 0.05;

// Spreads this close to zero, relative to the values, are floating-point rounding of a
// constant history, not variation.
const RELATIVE_EPSILON = 1e-12;

/** low from `threshold`, medium from threshold + 1, high from threshold + 2. */
export function severityOf(absZ: number, threshold: number): Severity {
  if (absZ >= threshold + 2) return 'high';
  if (absZ >= threshold + 1) return 'medium';
  return 'low';
}

function meanAndStddev(values: number[]): { mean: number; stddev: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, stddev: Math.sqrt(ss / (values.length - 1)) };
}

/**
 * The yardstick of a history: its standard deviation, but at least RELATIVE_SPREAD of its
 * mean and `minSpread`, so a flat history judges a new value against a sensible floor
 * instead of an infinite score. Zero for a history of zeros without a `minSpread`.
 */
export function spreadOf(mean: number, stddev: number, minSpread: number): number {
  const tolerance = RELATIVE_EPSILON * Math.max(1, Math.abs(mean));
  return Math.max(stddev <= tolerance ? 0 : stddev, RELATIVE_SPREAD * Math.abs(mean), minSpread);
}

export type Score = { z: number; mean: number; stddev: number; spread: number };

/**
 * `v` against `history` (at least two values) in units of its spread (spreadOf): always
 * finite; null when there is nothing to judge it by (fewer than two values, all zeros, no
 * spread at all). The trends' anomalies and the alert rules' anomaly condition both ask this.
 */
export function zScore(v: number, history: number[], minSpread = 0): Score | null {
  if (history.length < 2) return null;
  // A history of zeros is no baseline: whatever follows a silence is not an anomaly of it.
  if (history.every((x) => x === 0)) return null;
  const { mean, stddev } = meanAndStddev(history);
  const spread = spreadOf(mean, stddev, minSpread);
  if (spread <= RELATIVE_EPSILON * Math.max(1, Math.abs(mean))) return null;
  return { z: (v - mean) / spread, mean, stddev, spread };
}

/** One point judged against `history`; null when it is not unusual or there is nothing to judge it by. */
function judge(p: Point, history: number[], threshold: number, minSpread: number): Anomaly | null {
  const score = zScore(p.v, history, minSpread);
  if (!score || Math.abs(score.z) < threshold) return null;
  return { t: p.t, v: p.v, ...score, severity: severityOf(Math.abs(score.z), threshold) };
}

/**
 * The anomalous points of a series, in time order. The first `minPoints` points are only
 * history; non-finite points are dropped before anything is counted. A sample standard
 * deviation needs two values, so a point with fewer than two before it is never judged;
 * nor is a point whose history is all zeros. z is always finite (see spreadOf).
 */
export function anomalies(points: Point[], options: AnomalyOptions = {}): Anomaly[] {
  const window = Math.max(2, Math.floor(options.window ?? ANOMALY_DEFAULTS.window));
  const threshold = options.threshold ?? ANOMALY_DEFAULTS.threshold;
  const minPoints = Math.max(2, Math.floor(options.minPoints ?? ANOMALY_DEFAULTS.minPoints));
  const minSpread = Math.max(0, options.minSpread ?? ANOMALY_DEFAULTS.minSpread);
  const pts = points.filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v)).sort((a, b) => a.t - b.t);
  const found: Anomaly[] = [];
  for (let i = minPoints; i < pts.length; i++) {
    const history = pts.slice(Math.max(0, i - window), i).map((p) => p.v);
    const anomaly = judge(pts[i]!, history, threshold, minSpread);
    if (anomaly) found.push(anomaly);
  }
  return found;
}
