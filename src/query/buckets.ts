// Time buckets in a zone, in TypeScript: where the bucket holding an instant starts and where
// the next one does (the same buckets sql/bucket.ts asks DuckDB for), so a time series can
// list every bucket of its range, the empty ones too.
import { tenantSettings } from '../aggregate/settings.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { DEFAULT_TIME_ZONE, fromWall, offsetMs } from '../time/zone.js';
import { INTERVAL_MS, type Interval } from './model.js';

const DAY = 86_400_000;

/**
 * The instant a local wall-clock time (as epoch ms of the same digits in UTC) happens in
 * `zone`, as DuckDB's time_bucket resolves it: a skipped midnight (Santiago's 6 September)
 * at the jump, a repeated one (Havana's 1 November) at the later.
 */
const instantOf = (wall: number, zone: string) => fromWall(zone, wall, 'last');

/** The local wall-clock start of the day, week (from Monday) or month holding `wall`. */
function wallStart(wall: number, interval: '1d' | '1w' | '1mo'): number {
  const day = Math.floor(wall / DAY) * DAY;
  if (interval === '1d') return day;
  if (interval === '1w') return day - ((new Date(day).getUTCDay() + 6) % 7) * DAY;
  const d = new Date(day);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** The start (UTC epoch ms) of the bucket of `interval` in `zone` that holds `t`. */
export function bucketStart(t: number, interval: Interval, zone = DEFAULT_TIME_ZONE): number {
  const size = INTERVAL_MS[interval];
  if (size < DAY) return t - ((((t + offsetMs(zone, t)) % size) + size) % size);
  return instantOf(wallStart(t + offsetMs(zone, t), interval as '1d' | '1w' | '1mo'), zone);
}

/** The start of the bucket after the one starting at `start`. */
export function nextBucket(start: number, interval: Interval, zone = DEFAULT_TIME_ZONE): number {
  const size = INTERVAL_MS[interval];
  if (size < DAY) return start + size;
  const wall = start + offsetMs(zone, start);
  // From the local start: a day that began after a skipped midnight began at 01:00.
  if (interval !== '1mo') return instantOf(wallStart(wall, interval as '1d' | '1w') + size, zone);
  const d = new Date(wall);
  return instantOf(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1), zone);
}

/** The zone a tenant's buckets are counted in (its settings are cached per open file). */
export async function timeZoneOf(tf: TenantFiles, tenantId: string): Promise<string> {
  const file = await tf.open(tenantId);
  return (await tenantSettings(file, await tf.connection(tenantId, 'reader'))).timeZone;
}
