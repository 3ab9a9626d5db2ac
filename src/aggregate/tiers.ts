// Rollup tiers and how a time range is covered by them: the coarsest tier whose buckets
// fit inside the range takes the middle, finer tiers take the edges, and what no tier
// can cover exactly (under a minute, or outside a tier's retention) is read from raw
// events. Buckets are UTC-aligned (a day starts at 00:00 UTC).
export const TIERS = ['1m', '5m', '15m', '1h', '1d'] as const;
export type Tier = (typeof TIERS)[number];

const MINUTE = 60_000;
export const TIER_MS: Record<Tier, number> = {
  '1m': MINUTE,
  '5m': 5 * MINUTE,
  '15m': 15 * MINUTE,
  '1h': 60 * MINUTE,
  '1d': 1440 * MINUTE,
};
export const TIER_SQL_INTERVAL: Record<Tier, string> = {
  '1m': '1 minute',
  '5m': '5 minutes',
  '15m': '15 minutes',
  '1h': '1 hour',
  '1d': '1 day',
};

/**
 * Each tier is kept in three cubes: `full`, by every dimension; `session`, by who and
 * where (user, project, session) and kind and model, without the tool or command name and
 * the status; and `team`, by what (kind, name, model, status), without user, project and
 * session. A question reads the smallest cube that holds its dimensions: a fraction of
 * the full cube's rows, and of its duration sketch's.
 */
export const CUBES = ['team', 'session', 'full'] as const; // smallest first
export type Cube = (typeof CUBES)[number];

/** The key columns of a cube's rollup rows (its sketch's are the same less session_id). */
export const CUBE_KEYS: Record<Cube, readonly string[]> = {
  team: ['kind', 'name', 'model', 'status'],
  session: ['user_id', 'project', 'session_id', 'kind', 'model'],
  full: ['user_id', 'project', 'session_id', 'kind', 'name', 'model', 'status'],
};

const TABLE_PREFIX: Record<Cube, string> = { full: 'rollup', session: 'session', team: 'team' };
export const rollupTable = (tier: Tier, cube: Cube = 'full') => `${TABLE_PREFIX[cube]}_${tier}`;
export const sketchTable = (tier: Tier, cube: Cube = 'full') => `${rollupTable(tier, cube)}_dur`;

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
