// IANA time zones: which names are valid, a zone's offset from UTC at an instant, and how
// finely its offsets are aligned (which rollup tiers' buckets nest inside its local hours
// and days). DuckDB's ICU extension does the bucketing in SQL; these answer the questions
// asked in TypeScript before a statement is written.
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

/** The zone's offset from UTC at `at` (ms; New York in winter: -5 h). */
export function offsetMs(zone: string, at: number): number {
  const parts = Object.fromEntries(
    formatterOf(zone)
      .formatToParts(new Date(at))
      .map((p) => [p.type, p.value]),
  );
  const wall = Date.UTC(+parts.year!, +parts.month! - 1, +parts.day!, +parts.hour!, +parts.minute!, +parts.second!);
  return wall - Math.floor(at / 1000) * 1000;
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
