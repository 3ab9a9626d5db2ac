// Changing a tenant's settings, the same way from the API and the settings pages: retention
// days per tier and the time zone its days are counted in (a price change:
// src/sessions/prices.ts). What the prices page shows: the shipped defaults, the
// overrides, the models seen.
import type { Database, Queryable } from '../storage/duckdb.js';
import { DEFAULT_PRICES, priceOf, type Price, type PriceOverrides } from '../cost/prices.js';
import { saveSetting, tenantSettings, type Retention } from './settings.js';

/** Merges `input` into the tenant's retention and stores it; the next retention pass applies it. */
export async function changeRetention(file: Database, input: Partial<Retention>): Promise<Retention> {
  const next = { ...(await tenantSettings(file, file)).retention, ...input };
  await saveSetting(file, file, 'retention', next);
  return next;
}

/** Stores the tenant's time zone (a valid IANA name): its days, weeks and months follow it from the next question on. */
export async function changeTimeZone(file: Database, zone: string): Promise<string> {
  await saveSetting(file, file, 'timezone', zone);
  return zone;
}

/** The tiers (and raw) `next` keeps for fewer days than `current`: their older data goes at the next pass. */
export function shortened(current: Retention, next: Partial<Retention>): (keyof Retention)[] {
  return (Object.keys(next) as (keyof Retention)[]).filter((t) => {
    const now = current[t],
      then = next[t];
    return then !== null && then !== undefined && (now === null || then < now);
  });
}

export type SeenModel = { model: string; price: Price; known: boolean; overridden: boolean };

/** The prices a tenant's figures use: shipped defaults, its overrides, and each model it has seen with the price it gets. */
export async function pricesView(
  file: Database,
  db: Queryable,
): Promise<{ defaults: Record<string, Price>; overrides: PriceOverrides; seen: SeenModel[] }> {
  const { prices } = await tenantSettings(file, db);
  const models = await db.all<{ model: string }>('SELECT model FROM model_prices ORDER BY model');
  const seen = models.map(({ model }) => {
    const { known, ...price } = priceOf(model, prices);
    // An override may name a family ("claude-sonnet-4-5") that a dated model falls under.
    return { model, price, known, overridden: JSON.stringify(priceOf(model)) !== JSON.stringify({ ...price, known }) };
  });
  return { defaults: DEFAULT_PRICES, overrides: prices, seen };
}

/** The price each model the tenant has seen gets (USD per million tokens), by model name. */
export function modelPrices(db: Queryable) {
  return db.all<{ model: string } & Record<'input' | 'output' | 'cache_write' | 'cache_read', number>>(
    'SELECT model, input, output, cache_write, cache_read FROM model_prices ORDER BY model',
  );
}
