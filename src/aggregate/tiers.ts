// Rollup tiers and how a time range is covered by them: the coarsest tier whose buckets
// fit inside the range takes the middle, finer tiers take the edges, and what no tier
// can cover exactly (under a minute, or outside a tier's retention) is read from raw
// events. Buckets are UTC-aligned (a day starts at 00:00 UTC). The tiers and cubes
// themselves are defined in catalogue.ts.
import { CATALOGUE, CUBES, TIERS, type Cube, type Tier } from './catalogue.js';

export { CUBES, rollupTable, sketchTable, TIERS, type Cube, type Tier } from './catalogue.js';

const byTier = <T>(f: (tier: Tier) => T) => Object.fromEntries(TIERS.map((t) => [t, f(t)])) as Record<Tier, T>;
export const TIER_MS: Record<Tier, number> = byTier((t) => CATALOGUE.tiers[t].ms);
export const TIER_SQL_INTERVAL: Record<Tier, string> = byTier((t) => CATALOGUE.tiers[t].interval);

/** The key columns of a cube's rollup rows (its sketch's are the same less session_id). */
export const CUBE_KEYS: Record<Cube, readonly string[]> = Object.fromEntries(
  CUBES.map((c) => [c, CATALOGUE.cubes[c].keys]),
) as Record<Cube, readonly string[]>;

/** The smallest cube whose keys hold every one of `columns`. */
export const smallestCube = (columns: Iterable<string>): Cube => {
  const wanted = [...columns];
  return CUBES.find((c) => wanted.every((col) => CUBE_KEYS[c].includes(col)))!;
};

/** A piece of a range: [from, to) read from one tier's table, or from raw events. */
export type Segment = { source: Tier | 'raw'; from: number; to: number };

export const floorTo = (t: number, size: number) => Math.floor(t / size) * size;
export const ceilTo = (t: number, size: number) => Math.ceil(t / size) * size;

/**
 * Covers [from, to) with as few rows as possible. `tiers` lists the tiers allowed (a
 * time series by hour may not use the day tier); `keptSince` gives, per tier, the oldest
 * bucket retention still keeps (a tier is not used for what it has deleted).
 */
export function cover(
  from: number,
  to: number,
  tiers: readonly Tier[],
  keptSince: Partial<Record<Tier, number>> = {},
): Segment[] {
  const usable = TIERS.filter((t) => tiers.includes(t)).reverse(); // coarsest first
  const segments: Segment[] = [];
  const fill = (a: number, b: number, i: number) => {
    if (a >= b) return;
    const tier = usable[i];
    if (!tier) {
      segments.push({ source: 'raw', from: a, to: b });
      return;
    }
    const size = TIER_MS[tier];
    const start = Math.max(ceilTo(a, size), ceilTo(keptSince[tier] ?? -Infinity, size));
    const end = floorTo(b, size);
    if (start >= end) return fill(a, b, i + 1);
    fill(a, start, i + 1);
    segments.push({ source: tier, from: start, to: end });
    fill(end, b, i + 1);
  };
  fill(from, to, 0);
  return segments.sort((x, y) => x.from - y.from);
}
