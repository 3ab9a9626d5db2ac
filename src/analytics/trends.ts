// A straight-line trend through a time series: ordinary least squares of v on t, plus a
// short forecast along that line. Times are epoch ms, so they are centred on their mean
// before squaring; otherwise Σt² (~1e25) swallows the variation the slope comes from.
export type Point = { t: number; v: number };

export type Direction = 'up' | 'down' | 'flat';

export type LinearTrend = {
  slope: number; // change in v per ms
  slopePerDay: number;
  intercept: number; // v at t = 0 (the epoch), so v ≈ intercept + slope × t
  r2: number;
  direction: Direction;
  forecast: Point[];
};

const DAY_MS = 86_400_000;
// 'flat' when the fitted change over the whole span is under 5 % of the series' typical
// magnitude (mean |v|), or when the line explains under 10 % of the variance: a slope that
// small, or that noisy, is not worth an arrow on a dashboard.
const FLAT_CHANGE = 0.05;
const FLAT_R2 = 0.1;
const MAX_HORIZON = 1000;

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The typical spacing of the series; 0 when it has no two distinct times. */
function medianStep(sorted: Point[]): number {
  const steps: number[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const d = sorted[i]!.t - sorted[i - 1]!.t;
    if (d > 0) steps.push(d);
  }
  return steps.length ? median(steps) : 0;
}

/**
 * The least-squares line through `points` (non-finite points are ignored; order does not
 * matter). Degenerate input never yields NaN:
 *   - no points: slope 0, intercept 0;
 *   - one point, or all points at one time: slope 0, intercept = mean v;
 *   - r2 = 0 when there are fewer than 2 points or v never varies (SStot = 0), since there
 *     is no variance to explain; two distinct points give r2 = 1.
 * The forecast continues from the last point, each time `next` of the one before (the
 * series' buckets: a local day of 23 or 25 hours, a calendar month), by default in steps of the
 * median spacing; it is empty when there is no spacing to continue (fewer than two distinct
 * times). `horizon` defaults to 0 and is capped at 1000 points.
 */
export function linearTrend(
  points: Point[],
  options: { horizon?: number; next?: (t: number) => number } = {},
): LinearTrend {
  const pts = points.filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v)).sort((a, b) => a.t - b.t);
  const tMean = mean(pts.map((p) => p.t));
  const vMean = mean(pts.map((p) => p.v));
  let sxx = 0;
  let sxy = 0;
  let ssTot = 0;
  for (const p of pts) {
    const dt = p.t - tMean;
    sxx += dt * dt;
    sxy += dt * (p.v - vMean);
    ssTot += (p.v - vMean) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  const fit = (t: number) => vMean + slope * (t - tMean);
  let ssRes = 0;
  for (const p of pts) ssRes += (p.v - fit(p.t)) ** 2;
  // Variation no bigger than rounding error of the values counts as none (SStot = 0).
  const noise = pts.length * (8 * Number.EPSILON * pts.reduce((m, p) => Math.max(m, Math.abs(p.v)), 0)) ** 2;
  const r2 = pts.length >= 2 && ssTot > noise ? Math.max(0, 1 - ssRes / ssTot) : 0;

  const span = pts.length ? pts[pts.length - 1]!.t - pts[0]!.t : 0;
  const typical = mean(pts.map((p) => Math.abs(p.v)));
  const flat = pts.length < 2 || r2 < FLAT_R2 || Math.abs(slope) * span < FLAT_CHANGE * typical;
  const direction: Direction = flat || slope === 0 ? 'flat' : slope > 0 ? 'up' : 'down';

  const step = medianStep(pts);
  const horizon = step > 0 ? Math.min(MAX_HORIZON, Math.max(0, Math.floor(options.horizon ?? 0) || 0)) : 0;
  const next = options.next ?? ((t: number) => t + step);
  const forecast: Point[] = [];
  for (let t = pts.length ? pts[pts.length - 1]!.t : 0; forecast.length < horizon; ) {
    t = next(t);
    forecast.push({ t, v: fit(t) });
  }

  return { slope, slopePerDay: slope * DAY_MS, intercept: fit(0), r2, direction, forecast };
}
