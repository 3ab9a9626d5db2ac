// Time buckets in a zone, in TypeScript: where the bucket holding an instant starts and where
// the next one does (the same buckets sql/bucket.ts asks DuckDB for), so a time series can
// list every bucket of its range, the empty ones too.
import { tenantSettings } from '../aggregate/settings.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { alignmentMs, DEFAULT_TIME_ZONE, fromWall, periodOf, wallOf } from '../time/zone.js';
import { INTERVAL_MS, type Interval } from './model.js';

const DAY = 86_400_000;
const CALENDAR = { '1d': 'day', '1w': 'week', '1mo': 'month' } as const;

/**
 * The local day, week or month bucket holding `t`, as DuckDB's time_bucket makes it: a
 * skipped midnight (Santiago's 6 September) starts at the jump, a repeated one (Havana's
 * 1 November) at the later.
 */
const calendarBucket = (t: number, interval: Interval, zone: string) =>
  periodOf(zone, CALENDAR[interval as keyof typeof CALENDAR], t, 'last');

/** Whether the zone's buckets of `interval` are UTC's (an hour in New York, anything in UTC). */
export const nestsInUtc = (interval: Interval, zone: string) =>
  zone === DEFAULT_TIME_ZONE || (INTERVAL_MS[interval] < DAY && alignmentMs(zone) % INTERVAL_MS[interval] === 0);

const floorTo = (t: number, size: number) => t - (((t % size) + size) % size);

/**
 * The start (UTC epoch ms) of the bucket of `interval` in `zone` that holds `t`. A bucket
 * shorter than a day in a zone it does not nest in (an hour in Kolkata, or in Lord Howe,
 * whose clocks move half an hour) starts where the local clock read its start: the later
 * of two readings, the jump where the clock skipped it (as DuckDB's ICU takes a local time).
 */
export function bucketStart(t: number, interval: Interval, zone = DEFAULT_TIME_ZONE): number {
  const size = INTERVAL_MS[interval];
  if (size >= DAY) return calendarBucket(t, interval, zone).start;
  if (nestsInUtc(interval, zone)) return floorTo(t, size);
  return fromWall(zone, floorTo(wallOf(zone, t), size), 'last');
}

/** The start of the bucket after the one starting at `start`. */
export function nextBucket(start: number, interval: Interval, zone = DEFAULT_TIME_ZONE): number {
  const size = INTERVAL_MS[interval];
  if (size >= DAY) return calendarBucket(start, interval, zone).end;
  // `size` on, the local clock's bucket there: earlier when the clock moved on (Lord Howe's spring).
  for (let t = start + size; ; t += size) {
    const next = bucketStart(t, interval, zone);
    if (next > start) return next;
  }
}

/** The zone a tenant's buckets are counted in (its settings are cached per open file). */
export async function timeZoneOf(tf: TenantFiles, tenantId: string): Promise<string> {
  const file = await tf.open(tenantId);
  return (await tenantSettings(file, await tf.connection(tenantId, 'reader'))).timeZone;
}
