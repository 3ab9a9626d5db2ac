// What the page's script (public/app.js) turns into an ApexCharts chart over time: series
// of points at real instants, and the time axis in the tenant's time zone, one slot per
// bucket in time order, each with the label under it ('' for most) and its tooltip's
// title. New York's 25-hour day has 25 hourly slots (two read 01:00) and its 23-hour day
// 23, where an axis of wall-clock times would draw both 01:00s in one place. The labels
// fall on round local times, chosen here: the browser knows only its own zone and UTC.
import { DEFAULT_TIME_ZONE, fromWall, offsetMs, wallOf, zoneAbbreviation } from '../time/zone.js';
import { fillGaps } from '../query/result.js';
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

/**
 * Label steps, finest first. A step under a day labels the slots whose local time is a whole
 * step, and the first slot of each local date; a step of days labels first slots of dates:
 * every one, every second or third (counted from 1970), Mondays, the 1st and the 16th, the
 * 1st of every month, of every second, third or sixth, of January.
 */
const STEPS: { ms: number; date?: (wall: Date) => boolean }[] = [
  ...[1, 5, 10, 15, 30].map((m) => ({ ms: m * MINUTE })),
  ...[1, 2, 3, 6, 12].map((h) => ({ ms: h * HOUR })),
  ...[1, 2, 3].map((d) => ({ ms: d * DAY, date: (w: Date) => Math.floor(w.getTime() / DAY) % d === 0 })),
  { ms: 7 * DAY, date: (w) => w.getUTCDay() === 1 },
  { ms: 15 * DAY, date: (w) => w.getUTCDate() === 1 || w.getUTCDate() === 16 },
  ...[1, 2, 3, 6, 12].map((n) => ({
    ms: n * 31 * DAY,
    date: (w: Date) => w.getUTCDate() === 1 && w.getUTCMonth() % n === 0,
  })),
];

const two = (n: number) => String(n).padStart(2, '0');
const dayMonth = (w: Date) => `${two(w.getUTCDate())} ${MONTHS[w.getUTCMonth()]}`;
const hourMinute = (w: Date) => `${two(w.getUTCHours())}:${two(w.getUTCMinutes())}`;
const dateOf = (w: Date) => Math.floor(w.getTime() / DAY);

/**
 * The axis of buckets of `interval` starting at `times` (any order, repeats once), in
 * `zone`: labels (see labelsOf); titles to the minute, or the date for days, with the
 * zone's abbreviation when the axis crosses a change of offset or a local time on it occurs
 * twice (01:30 EDT, then 01:30 EST).
 */
export function timeAxis(times: number[], interval: Interval, zone: string): TimeAxis {
  const t = [...new Set(times)].sort((a, b) => a - b);
  const walls = t.map((at) => new Date(wallOf(zone, at)));
  // The first slot of each local date (of the axis' first, only if the date starts there):
  // not always a midnight (Havana skips it, and reads it twice).
  const dayStarts = walls.map((w, i) =>
    i ? dateOf(w) !== dateOf(walls[i - 1]!) : fromWall(zone, dateOf(w) * DAY) === t[0],
  );
  // A time can read twice only within a day of a change of offset (fromWall looks that far).
  const changes = (from: number, to: number) => offsetMs(zone, from) !== offsetMs(zone, to);
  const zoned =
    zone !== DEFAULT_TIME_ZONE &&
    t.length > 0 &&
    (t.some((at) => changes(t[0]!, at)) ||
      (changes(t[0]! - DAY, t.at(-1)! + DAY) &&
        walls.some((w) => fromWall(zone, w.getTime(), 'first') !== fromWall(zone, w.getTime(), 'last'))));
  const titles = walls.map((w, i) =>
    INTERVAL_MS[interval] >= DAY
      ? `${dayMonth(w)} ${w.getUTCFullYear()}`
      : `${dayMonth(w)} ${hourMinute(w)}${zoned ? ` ${zoneAbbreviation(zone, t[i]!)}` : ''}`,
  );
  return {
    t,
    labels: labelsOf(walls, dayStarts, interval, MAX_LABELS),
    narrow: labelsOf(walls, dayStarts, interval, MAX_NARROW_LABELS),
    titles,
  };
}

/**
 * A label on each slot a step marks (local times `walls`, first slots of dates `dayStarts`):
 * the finest step no finer than `interval` that marks at most `max` slots and at least two
 * (one on an axis too short for two); a date's first slot reads as its date (as its month on
 * a monthly step, as its year in January), any other as its time.
 */
function labelsOf(walls: Date[], dayStarts: boolean[], interval: Interval, max: number): string[] {
  const marks = (s: (typeof STEPS)[number]) =>
    walls.map((w, i) => (s.date ? dayStarts[i]! && s.date(w) : dayStarts[i]! || w.getTime() % s.ms === 0));
  const least = Math.min(2, walls.length);
  let chosen: { step: (typeof STEPS)[number]; marked: boolean[] } | undefined;
  let one: typeof chosen;
  // Finest first, until one marks as many as fit and two at least (else the first that marks one).
  for (const step of STEPS.filter((s) => s.ms >= INTERVAL_MS[interval])) {
    const marked = marks(step);
    const n = marked.filter(Boolean).length;
    chosen = { step, marked };
    if (n > max) continue;
    if (n >= least) break;
    if (n > 0) one ??= chosen;
  }
  const { step, marked } = chosen!.marked.filter(Boolean).length >= least ? chosen! : (one ?? chosen!);
  return walls.map((w, i) => {
    if (!marked[i]) return '';
    if (!dayStarts[i]) return hourMinute(w);
    if (step.ms < 31 * DAY) return dayMonth(w);
    return w.getUTCMonth() === 0 ? String(w.getUTCFullYear()) : MONTHS[w.getUTCMonth()]!;
  });
}
