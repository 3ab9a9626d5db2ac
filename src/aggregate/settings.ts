// A tenant's own settings, stored in its file (`tenant_settings`): retention per tier,
// model price overrides and the time zone its days are counted in. Read often (every query needs retention), so kept in memory
// per open file and replaced on write.
import { z } from 'zod';
import type { Queryable } from '../storage/duckdb.js';
import { storedPricesSchema, type PriceOverrides } from '../cost/prices.js';
import { canonicalTimeZone, DEFAULT_TIME_ZONE, isTimeZone } from '../time/zone.js';
import { TIERS, type Tier } from './tiers.js';

const days = z.number().int().min(1).max(36_500).nullable();
/** Days kept per tier; null keeps forever. */
export const retentionSchema = z.strictObject({
  raw: days,
  ...Object.fromEntries(TIERS.map((t) => [t, days])),
} as Record<'raw' | Tier, typeof days>);
export type Retention = Record<'raw' | Tier, number | null>;
/** An IANA zone name (`America/New_York`, `Asia/Kolkata`, `UTC`). */
/** An IANA zone name, saved as the runtime spells it (one name per zone on the settings page and in the kept answers' keys). */
export const timeZoneSchema = z
  .string()
  .refine(isTimeZone, 'must be an IANA time zone name, such as America/New_York')
  .transform(canonicalTimeZone);
export const DEFAULT_RETENTION: Retention = { raw: 90, '1m': 30, '5m': 30, '15m': 365, '1h': 365, '1d': null };

/** Per tier (and raw), the cutoff retention last deleted up to: a tier holds nothing before it, whatever the setting says now. */
export type Applied = Partial<Record<'raw' | Tier, number>>;
export type TenantSettings = {
  retention: Retention;
  prices: PriceOverrides;
  applied: Applied;
  /** The IANA zone the tenant's days, weeks and months are counted in ('UTC' unless set). */
  timeZone: string;
};

const DAY = 86_400_000;

const cache = new WeakMap<object, Promise<TenantSettings>>();

/** `file` is the tenant's Database (the cache key); `db` what to read through. */
export function tenantSettings(file: object, db: Queryable): Promise<TenantSettings> {
  let s = cache.get(file);
  if (!s) {
    s = load(db);
    s.catch(() => cache.delete(file));
    cache.set(file, s);
  }
  return s;
}

/** Forgets what was read of `file`'s settings: after a transaction that saved some commits (a reader may have read them meanwhile). */
export const forgetSettings = (file: object) => cache.delete(file);

async function load(db: Queryable): Promise<TenantSettings> {
  const rows = await db.all<{ key: string; value: string }>(`SELECT key, value::VARCHAR AS value FROM tenant_settings`);
  const stored = Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
  const retention = retentionSchema.partial().safeParse(stored.retention ?? {});
  const prices = storedPricesSchema.safeParse(stored.prices ?? {});
  const applied = z.record(z.string(), z.number()).safeParse(stored.retention_applied ?? {});
  return {
    applied: applied.success ? (applied.data as Applied) : {},
    retention: { ...DEFAULT_RETENTION, ...(retention.success ? retention.data : {}) },
    prices: prices.success ? prices.data : {},
    timeZone: typeof stored.timezone === 'string' && isTimeZone(stored.timezone) ? stored.timezone : DEFAULT_TIME_ZONE,
  };
}

export async function saveSetting(
  file: object,
  db: Queryable,
  key: 'retention' | 'prices' | 'retention_applied' | 'timezone',
  value: unknown,
): Promise<void> {
  await db.run(`INSERT OR REPLACE INTO tenant_settings VALUES ($key, $value)`, { key, value: JSON.stringify(value) });
  cache.delete(file);
}

/**
 * The oldest time each tier (and raw) still holds at `now`: the setting's, or where retention
 * already deleted up to if later. A tier finer than a day keeps from the start of a UTC day:
 * where it stops, the day tier takes over (planQuery's coverPeriod), and a day the finer tier
 * still held in part was read whole from the day tier, all of it in the local day its start
 * falls in (New York's 15 March counted in the 14th).
 */
export function keptSince(
  retention: Retention,
  now: number,
  applied: Applied = {},
): Partial<Record<'raw' | Tier, number>> {
  const out: Partial<Record<'raw' | Tier, number>> = { ...applied };
  for (const [tier, d] of Object.entries(retention) as ['raw' | Tier, number | null][]) {
    if (d === null) continue;
    const since = now - d * DAY;
    const whole = tier === 'raw' || tier === '1d' ? since : Math.floor(since / DAY) * DAY;
    out[tier] = Math.max(whole, applied[tier] ?? -Infinity);
  }
  return out;
}
