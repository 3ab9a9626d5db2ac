// Time buckets in a zone, in TypeScript: where the bucket holding an instant starts and where
// the next one does (the same buckets sql/bucket.ts asks DuckDB for), so a time series can
// list every bucket of its range, the empty ones too.
import { tenantSettings } from '../aggregate/settings.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { DEFAULT_TIME_ZONE, offsetMs, periodOf } from '../time/zone.js';
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

/** The start (UTC epoch ms) of the bucket of `interval` in `zone` that holds `t`. */
export function bucketStart(t: number, interval: Interval, zone = DEFAULT_TIME_ZONE): number {
  const size = INTERVAL_MS[interval];
  if (size < DAY) return t - ((((t + offsetMs(zone, t)) % size) + size) % size);
  return calendarBucket(t, interval, zone).start;
}

/** The start of the bucket after the one starting at `start`. */
export function nextBucket(start: number, interval: Interval, zone = DEFAULT_TIME_ZONE): number {
  const size = INTERVAL_MS[interval];
  if (size < DAY) return start + size;
  return calendarBucket(start, interval, zone).end;
}

/** The zone a tenant's buckets are counted in (its settings are cached per open file). */
export async function timeZoneOf(tf: TenantFiles, tenantId: string): Promise<string> {
  const file = await tf.open(tenantId);
  return (await tenantSettings(file, await tf.connection(tenantId, 'reader'))).timeZone;
}
