// Changing a tenant's settings, the same way from the API and the settings pages: retention
// days per tier, and model prices (which re-price every model at once: costs are computed
// when asked, so past figures follow; the sessions' stored figures are forgotten and stored
// again). What the prices page shows: the shipped defaults, the overrides, the models seen.
import type { Database, Queryable } from '../storage/duckdb.js';
import { DEFAULT_PRICES, priceOf, type Price, type PriceOverrides } from '../cost/prices.js';
import { saveSetting, tenantSettings, type Retention } from './settings.js';
import { setPrices, type Aggregator } from './worker.js';

/** Merges `input` into the tenant's retention and stores it; the next retention pass applies it. */
export async function changeRetention(file: Database, input: Partial<Retention>): Promise<Retention> {
  const next = { ...(await tenantSettings(file, file)).retention, ...input };
  await saveSetting(file, file, 'retention', next);
  return next;
}

/** The tiers (and raw) `next` keeps for fewer days than `current`: their older data goes at the next pass. */
export function shortened(current: Retention, next: Partial<Retention>): (keyof Retention)[] {
  return (Object.keys(next) as (keyof Retention)[]).filter((t) => {
    const now = current[t],
      then = next[t];
    return then !== null && then !== undefined && (now === null || then < now);
  });
}

/** Replaces the tenant's price overrides and re-prices every model it has seen. */
export async function changePrices(
  deps: { aggregator: Pick<Aggregator, 'whileIdle'>; file: Database },
  overrides: PriceOverrides,
): Promise<void> {
  const { file } = deps;
  // Not while the worker stores figures at the old prices: stored figures priced so are forgotten here.
  await deps.aggregator.whileIdle(async () => {
    await saveSetting(file, file, 'prices', overrides);
    await file.transaction(async (tx) => {
      const models = (await tx.all<{ model: string }>('SELECT model FROM model_prices')).map((m) => m.model);
      await setPrices(tx, [...new Set([...models, ...Object.keys(overrides)])], overrides);
      await tx.run('DELETE FROM session_figures');
    });
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
