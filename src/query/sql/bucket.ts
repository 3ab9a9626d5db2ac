// A time bucket in SQL: rollup and raw rows carry `bucket` (a UTC timestamp); an answer's
// bucket `t` is the UTC instant its local bucket starts at in the tenant's zone (DuckDB's
// ICU time_bucket, which knows daylight saving: New York's 2026-03-08 holds 23 hours).
import { TIER_SQL_INTERVAL } from '../../aggregate/tiers.js';
import type { Params } from '../../storage/duckdb.js';
import { alignmentMs, DEFAULT_TIME_ZONE } from '../../time/zone.js';
import { INTERVAL_MS, type Interval } from '../model.js';

const INTERVAL_SQL: Record<Interval, string> = { ...TIER_SQL_INTERVAL, '1w': '7 days', '1mo': '1 month' };

/**
 * The bucket of `interval` in `zone` that `column` falls in, the zone bound in `params`.
 * Buckets that nest in UTC's (an hour in New York) need no zone; weeks start on Monday (time_bucket's
 * origin, 2000-01-03, is one).
 */
export function bucketSql(b: { interval: Interval; zone: string }, column: string, params: Params): string {
  const width = `INTERVAL '${INTERVAL_SQL[b.interval]}'`;
  const subDay = INTERVAL_MS[b.interval] < INTERVAL_MS['1d'];
  if (b.zone === DEFAULT_TIME_ZONE || (subDay && alignmentMs(b.zone) % INTERVAL_MS[b.interval] === 0))
    return `time_bucket(${width}, ${column})`;
  params.zone = b.zone;
  return `timezone('UTC', time_bucket(${width}, timezone('UTC', ${column}), $zone))`;
}
