// What model tokens cost, for requests whose client reported no cost. USD per million
// tokens, by model family (Anthropic's published list prices, as ccusage prices them
// offline; cache write is the 5-minute write, a 1-hour write costs twice the input price).
// A tenant admin may override any entry or add models; a reported cost always wins.
import { z } from 'zod';

type Rates = { input: number; output: number; cache_write: number; cache_read: number };
/**
 * `above_200k`: the long-context tier, priced as ccusage (LiteLLM's `…_above_200k_tokens`)
 * does: per token type, the tokens of that type past the first 200k of one request.
 */
export type Price = Rates & { above_200k?: Rates };

const SONNET_4_LONG: Rates = { input: 6, output: 22.5, cache_write: 7.5, cache_read: 0.6 };

/** Longest matching prefix wins; dated and provider-prefixed names match their family. */
export const DEFAULT_PRICES: Record<string, Price> = {
  'claude-opus-4-6': { input: 5, output: 25, cache_write: 6.25, cache_read: 0.5 },
  'claude-opus-4-5': { input: 5, output: 25, cache_write: 6.25, cache_read: 0.5 },
  'claude-opus-4-1': { input: 15, output: 75, cache_write: 18.75, cache_read: 1.5 },
  'claude-opus-4': { input: 15, output: 75, cache_write: 18.75, cache_read: 1.5 },
  'claude-sonnet-4-6': { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  'claude-sonnet-4-5': { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3, above_200k: SONNET_4_LONG },
  'claude-sonnet-4': { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3, above_200k: SONNET_4_LONG },
  'claude-3-7-sonnet': { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  'claude-3-5-sonnet': { input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 },
  'claude-haiku-4-5': { input: 1, output: 5, cache_write: 1.25, cache_read: 0.1 },
  'claude-3-5-haiku': { input: 0.8, output: 4, cache_write: 1, cache_read: 0.08 },
  'claude-3-haiku': { input: 0.25, output: 1.25, cache_write: 0.3, cache_read: 0.03 },
  'claude-3-opus': { input: 15, output: 75, cache_write: 18.75, cache_read: 1.5 },
};

const perMillion = z.number().finite().min(0).max(10_000);
const ratesSchema = z.strictObject({
  input: perMillion,
  output: perMillion,
  cache_write: perMillion,
  cache_read: perMillion,
});
export const priceSchema = ratesSchema.extend({ above_200k: ratesSchema.optional() });
/** Overrides as stored: read back whatever their number (a list saved before MAX_PRICED_MODELS stays). */
export const storedPricesSchema = z.record(z.string().min(1).max(200), priceSchema);
/** The models a tenant may price: the overrides are checked for each price change, while the worker waits. */
export const MAX_PRICED_MODELS = 500;
export const priceOverridesSchema = storedPricesSchema.refine(
  (o) => Object.keys(o).length <= MAX_PRICED_MODELS,
  `at most ${MAX_PRICED_MODELS} models`,
);
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

/** One request's tokens by type; cache writes split by how long they are kept. */
export type RequestTokens = {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
};

const LONG_CONTEXT = 200_000;

/** `tokens` at `base`, those past the first 200k at `above` when the model has that tier (per million). */
function tiered(tokens: number, base: number, above: number | undefined): number {
  if (above === undefined || tokens <= LONG_CONTEXT) return tokens * base;
  return LONG_CONTEXT * base + (tokens - LONG_CONTEXT) * above;
}

/**
 * What one API request cost in USD, or null when the model has no price (an unknown model
 * is reported, never counted as free). A 1-hour cache write costs twice the input price.
 */
export function requestCost(model: string, tokens: RequestTokens, overrides: PriceOverrides = {}): number | null {
  const p = priceOf(model, overrides);
  if (!p.known) return null;
  const long = p.above_200k;
  const perMillion =
    tiered(tokens.input, p.input, long?.input) +
    tiered(tokens.output, p.output, long?.output) +
    tiered(tokens.cacheWrite5m, p.cache_write, long?.cache_write) +
    tiered(tokens.cacheWrite1h, 2 * p.input, long && 2 * long.input) +
    tiered(tokens.cacheRead, p.cache_read, long?.cache_read);
  return perMillion / 1e6;
}
