// Points that stand out from their recent past: each point's z-score against the mean and
// sample standard deviation of the `window` points before it (never itself, so a spike
// cannot hide by inflating its own yardstick). Only points with |z| ≥ threshold come back.
import type { Point } from './trends.js';

export type Severity = 'low' | 'medium' | 'high';

export type Anomaly = {
  t: number;
  v: number;
  mean: number;
  stddev: number;
  // null when the history never varied (stddev 0) and this value differs from it: the
  // z-score is ±Infinity, which JSON cannot carry. Such points are always 'high'.
  z: number | null;
  severity: Severity;
};

export type AnomalyOptions = { window?: number; threshold?: number; minPoints?: number };

export const ANOMALY_DEFAULTS = { window: 24, threshold: 3, minPoints: 8 } as const;

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

/** One point judged against `history` (at least two values); null when it is not unusual. */
function judge(p: Point, history: number[], threshold: number): Anomaly | null {
  const { mean, stddev } = meanAndStddev(history);
  const tolerance = RELATIVE_EPSILON * Math.max(1, Math.abs(mean));
  if (stddev <= tolerance) {
    if (Math.abs(p.v - mean) <= tolerance) return null;
    return { t: p.t, v: p.v, mean, stddev: 0, z: null, severity: 'high' };
  }
  const z = (p.v - mean) / stddev;
  if (Math.abs(z) < threshold) return null;
  return { t: p.t, v: p.v, mean, stddev, z, severity: severityOf(Math.abs(z), threshold) };
}

/**
 * The anomalous points of a series, in time order. The first `minPoints` points are only
 * history; non-finite points are dropped before anything is counted. A sample standard
 * deviation needs two values, so a point with fewer than two before it is never judged.
 */
export function anomalies(points: Point[], options: AnomalyOptions = {}): Anomaly[] {
  const window = Math.max(2, Math.floor(options.window ?? ANOMALY_DEFAULTS.window));
  const threshold = options.threshold ?? ANOMALY_DEFAULTS.threshold;
  const minPoints = Math.max(2, Math.floor(options.minPoints ?? ANOMALY_DEFAULTS.minPoints));
  const pts = points.filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v)).sort((a, b) => a.t - b.t);
  const found: Anomaly[] = [];
  for (let i = minPoints; i < pts.length; i++) {
    const history = pts.slice(Math.max(0, i - window), i).map((p) => p.v);
    const anomaly = judge(pts[i]!, history, threshold);
    if (anomaly) found.push(anomaly);
  }
  return found;
}
