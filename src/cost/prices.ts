// What model tokens cost, for requests whose client reported no cost. USD per million
// tokens, by model family (Anthropic's published list prices; cache write is the 5-minute
// write). A tenant admin may override any entry or add models; a reported cost always
// wins over this table.
import { z } from 'zod';

export type Price = { input: number; output: number; cache_write: number; cache_read: number };

/** Longest matching prefix wins; dated and provider-prefixed names match their family. */
export const DEFAULT_PRICES: Record<string, Price> = {
  'claude-opus-4-5': { input: 5, output: 25, cache_write: 6.25, cache_read: 0.5 },
  'claude-opus-4-1': { input: 15, output: 75, cache_write: 18.75, cache_read: 1.5 },
  'claude-opus-4': { input: 15, output: 75, cache_write: 18.75, cache_read: 1.5 },
  'claude-sonnet-4-5': { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  'claude-sonnet-4': { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  'claude-3-7-sonnet': { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  'claude-3-5-sonnet': { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  'claude-haiku-4-5': { input: 1, output: 5, cache_write: 1.25, cache_read: 0.1 },
  'claude-3-5-haiku': { input: 0.8, output: 4, cache_write: 1, cache_read: 0.08 },
  'claude-3-haiku': { input: 0.25, output: 1.25, cache_write: 0.3, cache_read: 0.03 },
  'claude-3-opus': { input: 15, output: 75, cache_write: 18.75, cache_read: 1.5 },
};

const perMillion = z.number().finite().min(0).max(10_000);
export const priceSchema = z.strictObject({ input: perMillion, output: perMillion, cache_write: perMillion, cache_read: perMillion });
export const priceOverridesSchema = z.record(z.string().min(1).max(200), priceSchema);
export type PriceOverrides = z.infer<typeof priceOverridesSchema>;

const FREE: Price = { input: 0, output: 0, cache_write: 0, cache_read: 0 };

/** The price of `model`: the tenant's override, else the shipped family, else zero. */
export function priceOf(model: string, overrides: PriceOverrides = {}): Price & { known: boolean } {
  if (Object.hasOwn(overrides, model)) return { ...overrides[model]!, known: true };
  // Bedrock and Vertex spell the same models `us.anthropic.claude-…-v1:0` and `claude-…@2025…`.
  const name = model.toLowerCase().replace(/^([a-z]+\.)?anthropic\./, '');
  const table = { ...DEFAULT_PRICES, ...overrides };
  let best: string | null = null;
  for (const prefix of Object.keys(table)) {
    if (name.startsWith(prefix.toLowerCase()) && (best === null || prefix.length > best.length)) best = prefix;
  }
  return best === null ? { ...FREE, known: false } : { ...table[best]!, known: true };
}

/** Temporary (replaced by the transcript reader's pricing): tokens × the price, 1-hour writes at twice the input price; null when the model has no price. */
export function requestCost(model: string, t: { input: number; output: number; cacheRead: number; cacheWrite5m: number; cacheWrite1h: number }, overrides: PriceOverrides = {}): number | null {
  const p = priceOf(model, overrides);
  if (!p.known) return null;
  return (t.input * p.input + t.output * p.output + t.cacheRead * p.cache_read + t.cacheWrite5m * p.cache_write + t.cacheWrite1h * 2 * p.input) / 1e6;
}
