// A change of a tenant's model prices, from the API and the prices page alike: every model
// is re-priced at once (costs are computed when asked, so past figures follow), and the
// sessions' stored figures, which hold costs, are invalidated: the worker stores them again.
import { audit } from '../audit/audit.js';
import { forgetSettings, saveSetting } from '../aggregate/settings.js';
import { setPrices } from '../aggregate/steps.js';
import type { Aggregator } from '../aggregate/worker.js';
import type { PriceOverrides } from '../cost/prices.js';
import type { Database } from '../storage/duckdb.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { invalidate } from './store.js';

/** Replaces the tenant's price overrides and re-prices every model it has seen. */
export async function changePrices(
  deps: { aggregator: Pick<Aggregator, 'whileIdle'>; file: Database },
  overrides: PriceOverrides,
): Promise<void> {
  const { file } = deps;
  // Not while the worker stores figures at the old prices: what it stored so is invalidated
  // here. The setting and the prices change together, or neither does.
  await deps.aggregator.whileIdle(async () => {
    await file.transaction(async (tx) => {
      await saveSetting(file, tx, 'prices', overrides);
      // The models seen so far; one seen later is priced as the worker rolls it up.
      const models = (await tx.all<{ model: string }>('SELECT model FROM model_prices')).map((m) => m.model);
      await setPrices(tx, models, overrides);
      await invalidate(tx, { prices: true });
    });
    forgetSettings(file);
  });
}

/** A tenant admin's price change through the API (PUT /api/v1/settings/prices): made, then audited. */
export async function changePricesBy(
  deps: { tenantFiles: TenantFiles; aggregator: Pick<Aggregator, 'whileIdle'>; control: Database },
  by: { tenantId: string; userId: string; ip: string },
  overrides: PriceOverrides,
): Promise<void> {
  await changePrices({ aggregator: deps.aggregator, file: await deps.tenantFiles.open(by.tenantId) }, overrides);
  await audit(deps.control, {
    actor: 'user',
    actorUserId: by.userId,
    tenantId: by.tenantId,
    action: 'settings.prices',
    ip: by.ip,
    detail: overrides,
  });
}
