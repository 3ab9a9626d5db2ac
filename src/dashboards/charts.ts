// What the page's script (public/app.js) turns into an ApexCharts chart over time: series
// of points at real instants, and the time axis in the tenant's time zone, one slot per
// bucket in time order, each with the label under it ('' for most) and its tooltip's
// title. New York's 25-hour day has 25 hourly slots (two read 01:00) and its 23-hour day
// 23, where an axis of wall-clock times would draw both 01:00s in one place. The labels
// fall on round local times, chosen here: the browser knows only its own zone and UTC.
import { DEFAULT_TIME_ZONE, offsetMs, wallOf, zoneAbbreviation } from '../time/zone.js';
import { fillGaps } from '../query/run.js';
import { INTERVAL_MS, querySchema, type Interval, type QueryInput } from '../query/model.js';

/** Points at instants (ms) of the axis' slots. */
export type Series = { name: string; data: [number, number | null][] };
/**
 * Slots at instants `t`, each with its label ('' for most) in `labels` (at most 8 shown, for
 * a wide chart) and `narrow` (at most 4, a phone's), and its tooltip's title.
 */
export type TimeAxis = { t: number[]; labels: string[]; narrow: string[]; titles: string[] };
export type ChartSpec = {
  type: 'area' | 'bar' | 'line';
  unit: 'count' | 'usd' | 'ms' | 'pct';
  series: Series[];
  stacked?: boolean;
  axis: TimeAxis;
};

/** A chart of `series`, its axis every instant they have points at. */
export const timeChart = (spec: Omit<ChartSpec, 'axis'>, interval: Interval, zone: string): ChartSpec => ({
  ...spec,
  axis: timeAxis(
    spec.series.flatMap((s) => s.data.map(([t]) => t)),
    interval,
    zone,
  ),
});

/** The series of a time-series result, one per metric, every bucket of the range in `zone` (gaps as zeros). */
export function seriesOf(
  rows: Record<string, string | number | null>[],
  q: QueryInput & { interval: string },
  names: Record<string, string>,
  zone: string,
): Series[] {
  const filled = fillGaps(rows, querySchema.parse(q), zone);
  return q.metrics.map((m) => ({
    name: names[m] ?? m,
    data: filled.map((r) => [Date.parse(String(r.t)), r[m] === null ? null : Number(r[m])]),
  }));
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** At most this many labels under a wide chart's axis and a narrow one's: each needs room for `08 Mar`. */
const MAX_LABELS = 8;
const MAX_NARROW_LABELS = 4;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Label steps, finest first: a slot is labelled when its local time is a whole step (`aligned`). */
const STEPS: { ms: number; aligned: (wall: Date) => boolean }[] = [
  ...[1, 5, 10, 15, 30].map((m) => m * MINUTE),
  ...[1, 2, 3, 6, 12].map((h) => h * HOUR),
  DAY,
].map((ms) => ({ ms, aligned: (wall: Date) => wall.getTime() % ms === 0 }));
STEPS.push(
  // Mondays, the 1st and the 16th, the 1st of a month, of a quarter, of a year.
  { ms: 7 * DAY, aligned: (w) => w.getTime() % DAY === 0 && w.getUTCDay() === 1 },
  { ms: 15 * DAY, aligned: (w) => w.getTime() % DAY === 0 && (w.getUTCDate() === 1 || w.getUTCDate() === 16) },
  { ms: 31 * DAY, aligned: (w) => w.getTime() % DAY === 0 && w.getUTCDate() === 1 },
  { ms: 92 * DAY, aligned: (w) => w.getTime() % DAY === 0 && w.getUTCDate() === 1 && w.getUTCMonth() % 3 === 0 },
  { ms: 366 * DAY, aligned: (w) => w.getTime() % DAY === 0 && w.getUTCDate() === 1 && w.getUTCMonth() === 0 },
);

const two = (n: number) => String(n).padStart(2, '0');
const dayMonth = (w: Date) => `${two(w.getUTCDate())} ${MONTHS[w.getUTCMonth()]}`;
const hourMinute = (w: Date) => `${two(w.getUTCHours())}:${two(w.getUTCMinutes())}`;

/**
 * The axis of buckets of `interval` starting at `times` (any order, repeats once), in
 * `zone`: labels (see labelsOf); titles to the minute, or the date for days, with the
 * zone's abbreviation when the axis crosses a change of offset (01:30 EDT, then 01:30 EST).
 */
export function timeAxis(times: number[], interval: Interval, zone: string): TimeAxis {
  const t = [...new Set(times)].sort((a, b) => a - b);
  const walls = t.map((at) => new Date(wallOf(zone, at)));
  const zoned = zone !== DEFAULT_TIME_ZONE && new Set(t.map((at) => offsetMs(zone, at))).size > 1;
  const titles = walls.map((w, i) =>
    INTERVAL_MS[interval] >= DAY
      ? `${dayMonth(w)} ${w.getUTCFullYear()}`
      : `${dayMonth(w)} ${hourMinute(w)}${zoned ? ` ${zoneAbbreviation(zone, t[i]!)}` : ''}`,
  );
  return {
    t,
    labels: labelsOf(walls, interval, MAX_LABELS),
    narrow: labelsOf(walls, interval, MAX_NARROW_LABELS),
    titles,
  };
}

/**
 * A label on each slot at a whole step (local times `walls`), the finest step no finer than
 * `interval` that gives at most `max`: a local midnight reads as its date, the 1st of a
 * month as the month on a monthly step, and of January as the year.
 */
function labelsOf(walls: Date[], interval: Interval, max: number): string[] {
  const step =
    STEPS.filter((s) => s.ms >= INTERVAL_MS[interval]).find((s) => walls.filter((w) => s.aligned(w)).length <= max) ??
    STEPS.at(-1)!;
  return walls.map((w) => {
    if (!step.aligned(w)) return '';
    if (w.getTime() % DAY) return hourMinute(w);
    if (step.ms < 31 * DAY) return dayMonth(w);
    return w.getUTCMonth() === 0 ? String(w.getUTCFullYear()) : MONTHS[w.getUTCMonth()]!;
  });
}
