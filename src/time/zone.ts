// IANA time zones: which names are valid, a zone's offset from UTC at an instant, how finely
// its offsets are aligned (which rollup tiers' buckets nest inside its local hours and days),
// and its calendar: where a local day, week (from Monday) or month starts. DuckDB's ICU
// extension does the bucketing in SQL; these answer the questions asked in TypeScript.
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const DEFAULT_TIME_ZONE = 'UTC';

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterOf(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** An IANA zone name both JavaScript and DuckDB (ICU) know: `America/New_York`, `Asia/Kolkata`, `UTC`. */
export function isTimeZone(name: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(name)) return false;
  try {
    formatterOf(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * A valid zone name with the case of the runtime's list (`america/new_york` is
 * `America/New_York`); a name the list lacks (a link such as `Asia/Kolkata`) as typed. Not
 * the runtime's canonical name: ICU's is `Asia/Calcutta`, not the name the team typed.
 */
export function canonicalTimeZone(name: string): string {
  const lower = name.toLowerCase();
  return [DEFAULT_TIME_ZONE, ...Intl.supportedValuesOf('timeZone')].find((n) => n.toLowerCase() === lower) ?? name;
}

/** The zone's offset from UTC at `at` (ms; New York in winter: -5 h). */
export function offsetMs(zone: string, at: number): number {
  if (zone === DEFAULT_TIME_ZONE) return 0;
  // Offsets change on 15-minute boundaries of UTC; a chart asks the same few slots again on every render.
  let known = offsets.get(zone);
  if (!known) offsets.set(zone, (known = new Map()));
  const slot = Math.floor(at / SLOT);
  let off = known.get(slot);
  if (off === undefined) {
    if (known.size >= MAX_SLOTS) known.clear();
    known.set(slot, (off = offsetAt(zone, slot * SLOT)));
  }
  return off;
}

const SLOT = 15 * MINUTE;
const MAX_SLOTS = 50_000;
const offsets = new Map<string, Map<number, number>>();

function offsetAt(zone: string, at: number): number {
  const parts = Object.fromEntries(
    formatterOf(zone)
      .formatToParts(new Date(at))
      .map((p) => [p.type, p.value]),
  );
  // The year as it is: Date.UTC reads 0 to 99 as 1900 to 1999, and a year BC comes with its era.
  const wall = new Date(0);
  wall.setUTCFullYear(parts.era === 'BC' ? 1 - +parts.year! : +parts.year!, +parts.month! - 1, +parts.day!);
  wall.setUTCHours(+parts.hour!, +parts.minute!, +parts.second!);
  return wall.getTime() - at;
}

const alignments = new Map<string, number>();
const SAMPLE_FROM = Date.UTC(1990, 0, 1);
const SAMPLE_TO = Date.UTC(2060, 0, 1);

/**
 * The largest of a day, an hour, 15 minutes and a minute that divides every offset the zone
 * has used since 1990 (sampled weekly, and cached): UTC a day, New York an hour, Kolkata
 * (+5:30) and Kathmandu (+5:45) 15 minutes. A rollup tier whose bucket size divides it
 * holds whole local hours and days in that zone.
 */
export function alignmentMs(zone: string): number {
  let a = alignments.get(zone);
  if (a === undefined) {
    a = DAY;
    for (let t = SAMPLE_FROM; t < SAMPLE_TO && a > MINUTE; t += 7 * DAY) {
      const off = Math.abs(offsetMs(zone, t));
      while (a > MINUTE && off % a !== 0) a = a === DAY ? HOUR : a === HOUR ? 15 * MINUTE : MINUTE;
    }
    alignments.set(zone, a);
  }
  return a;
}

/**
 * The instant the zone's clocks read `wall` (a local time written as if UTC): the first of
 * two in an overlap (`last`: the later, as DuckDB's ICU takes it), the end of a gap.
 */
export function fromWall(zone: string, wall: number, repeated: 'first' | 'last' = 'first'): number {
  // Offsets a day either side: a transition near `wall` lies between them.
  const candidates = [...new Set([wall - offsetMs(zone, wall - DAY), wall - offsetMs(zone, wall + DAY)])];
  const valid = candidates.filter((t) => t + offsetMs(zone, t) === wall);
  // In a gap (clocks jumped past `wall`), the later candidate is the instant of the jump.
  if (!valid.length) return Math.max(...candidates);
  return repeated === 'first' ? Math.min(...valid) : Math.max(...valid);
}

/** `at` as the zone's clocks read it, written as if UTC (its ISO string reads the local date and time). */
export const wallOf = (zone: string, at: number) => at + offsetMs(zone, at);
const wallDay = (zone: string, at: number) => Math.floor(wallOf(zone, at) / DAY) * DAY;

/** The zone's calendar date at `at`: 'YYYY-MM-DD'. */
export function localDate(zone: string, at: number): string {
  return new Date(wallOf(zone, at)).toISOString().slice(0, 10);
}

/**
 * Whether a text's leading 'YYYY-MM-DD' is a day of the calendar: `Date.parse` takes
 * '2026-02-31' (and '2026-02-31T10:00Z') as 3 March. A text without that start passes.
 */
export function isCalendarDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (!m) return true;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return days !== undefined && day >= 1 && day <= days;
}

/** When the local date 'YYYY-MM-DD' begins in the zone (its midnight, or the jump where midnight is skipped). */
export function startOfLocalDate(zone: string, date: string): number {
  return fromWall(zone, Date.parse(`${date}T00:00:00Z`));
}

/** The same local time `days` later (or earlier): 23 or 25 hours per day across a transition. */
export function addLocalDays(zone: string, at: number, days: number): number {
  return fromWall(zone, wallOf(zone, at) + days * DAY);
}

export type Calendar = 'day' | 'week' | 'month';

/**
 * The local day, week (Monday to Monday) or month holding `at`, as instants [start, end).
 * `repeated`: which of a midnight that happens twice starts it (DuckDB's time_bucket takes
 * the later; see fromWall).
 */
export function periodOf(
  zone: string,
  by: Calendar,
  at: number,
  repeated: 'first' | 'last' = 'first',
): { start: number; end: number } {
  const day = wallDay(zone, at);
  const instant = (wall: number) => fromWall(zone, wall, repeated);
  if (by === 'month') {
    const d = new Date(day);
    return {
      start: instant(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)),
      end: instant(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)),
    };
  }
  const first = by === 'day' ? day : day - ((new Date(day).getUTCDay() + 6) % 7) * DAY;
  return { start: instant(first), end: instant(first + (by === 'day' ? 1 : 7) * DAY) };
}

/** When the local day, week (Monday) or month holding `at` began. */
export const startOf = (zone: string, by: Calendar, at: number) => periodOf(zone, by, at).start;

/** The zone names the settings page offers, UTC first (ICU's canonical ones: any other valid name is taken too). */
export function timeZoneNames(): string[] {
  const names = Intl.supportedValuesOf('timeZone').filter((n) => n !== 'UTC' && isTimeZone(n));
  return [DEFAULT_TIME_ZONE, ...names];
}

/** The zone's offset at `at` as people read it: `UTC−05:00`, `UTC+05:30`, `UTC`. */
export function offsetLabel(zone: string, at: number): string {
  const off = offsetMs(zone, at);
  if (off === 0) return 'UTC';
  const m = Math.abs(off) / MINUTE;
  return `UTC${off < 0 ? '−' : '+'}${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

const abbreviations = new Map<string, Intl.DateTimeFormat>();

/** The zone's short name at `at`, as en-US writes it: `EST`, `EDT`, `GMT+5:30`. */
export function zoneAbbreviation(zone: string, at: number): string {
  let f = abbreviations.get(zone);
  if (!f) abbreviations.set(zone, (f = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'short' })));
  return f.formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? zone;
}
