// Imported model requests are priced when they arrive: a transcript record carries tokens
// (and sometimes `costUSD`), split by cache-write duration, which the rollups' single
// cache-write column cannot price later. A request with a reported cost keeps it; one with
// tokens and no cost gets tokens × the tenant's prices (`requestCost`); a model with no
// price stays unpriced and is reported, never counted as $0 without a word.
import type { PriceOverrides } from '../cost/prices.js';
import { requestCost } from '../cost/prices.js';

type Draft = Record<string, unknown>;
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/** `events` with `cost_usd` filled where it can be; the models that have no price. */
export function priceImported(
  events: readonly unknown[],
  prices: PriceOverrides,
): { events: unknown[]; unknownModels: string[] } {
  const unknown = new Set<string>();
  const out = events.map((raw) => {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
    const e = raw as Draft;
    if (e.kind !== 'api_request' || e.cost_usd !== undefined || typeof e.model !== 'string') return raw;
    const attributes = e.attributes && typeof e.attributes === 'object' ? (e.attributes as Draft) : {};
    const total = num(e.cache_creation_tokens);
    const oneHour = Math.min(total, num(attributes.cache_creation_1h_tokens));
    const tokens = {
      input: num(e.input_tokens),
      output: num(e.output_tokens),
      cacheRead: num(e.cache_read_tokens),
      cacheWrite5m: total - oneHour,
      cacheWrite1h: oneHour,
    };
    const cost = requestCost(e.model, tokens, prices);
    if (cost === null) {
      if (tokens.input + tokens.output + tokens.cacheRead + total > 0) unknown.add(e.model);
      return raw;
    }
    return { ...e, cost_usd: cost };
  });
  return { events: out, unknownModels: [...unknown] };
}
