// A seeded random generator for generated test and benchmark data: the same numbers on
// every machine, so a generated corpus is the same corpus everywhere.

/** mulberry32: small, fast, and the same sequence on every machine. */
export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    weighted<T extends { weight: number }>(items: readonly T[]): T {
      let x = next() * items.reduce((n, i) => n + i.weight, 0);
      for (const item of items) if ((x -= item.weight) < 0) return item;
      return items.at(-1)!;
    },
    /** Log-normal around `median`: most calls quick, a long tail. */
    logNormal: (median: number, sigma: number) =>
      median * Math.exp(sigma * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next())),
    hex: (n: number) => Array.from({ length: n }, () => Math.floor(next() * 16).toString(16)).join(''),
  };
}
export type Rng = ReturnType<typeof rng>;
