// A time bucket in SQL: rollup and raw rows carry `bucket` (a UTC timestamp); an answer's
// bucket `t` is the UTC instant its local bucket starts at in the tenant's zone (bucketed on
// the zone's wall clock, which knows daylight saving: New York's 2026-03-08 holds 23 hours).
import { TIER_SQL_INTERVAL } from '../../aggregate/tiers.js';
import type { Params } from '../../storage/duckdb.js';
import { nestsInUtc } from '../buckets.js';
import type { Interval } from '../model.js';

const INTERVAL_SQL: Record<Interval, string> = { ...TIER_SQL_INTERVAL, '1w': '7 days', '1mo': '1 month' };

/**
 * The bucket of `interval` in `zone` that `column` falls in, the zone bound in `params`.
 * Buckets that nest in UTC's (an hour in New York) need no zone. Others bucket the local
 * wall clock and take the instant it read that bucket's start (the later of two, as
 * buckets.ts does). DuckDB's zoned time_bucket does not: it put the first of Havana's two
 * midnights on 1 November in 31 October, and a +10:30 zone's hours (Lord Howe in winter)
 * at :00 UTC, with the offset of its origin. Weeks start on Monday (time_bucket's origin,
 * 2000-01-03, is one).
 */
export function bucketSql(b: { interval: Interval; zone: string }, column: string, params: Params): string {
  const width = `INTERVAL '${INTERVAL_SQL[b.interval]}'`;
  if (nestsInUtc(b.interval, b.zone)) return `time_bucket(${width}, ${column})`;
  params.zone = b.zone;
  const wall = `timezone($zone, timezone('UTC', ${column}))`;
  return `timezone('UTC', timezone($zone, time_bucket(${width}, ${wall})))`;
}
