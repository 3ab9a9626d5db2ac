// A per-tenant request budget for ingestion (fixed one-minute windows). Generous by
// default: its job is to keep one runaway client from starving the others.
export type RateDecision = { allowed: boolean; limit: number; remaining: number; resetMs: number };

export type RateLimiter = { take(key: string, now?: number): RateDecision };

export const DEFAULT_INGEST_LIMIT = { perMinute: 120_000 };

export function createRateLimiter(perMinute = DEFAULT_INGEST_LIMIT.perMinute, windowMs = 60_000): RateLimiter {
  const windows = new Map<string, { start: number; used: number }>();
  return {
    take(key, now = Date.now()) {
      let w = windows.get(key);
      if (!w || now - w.start >= windowMs) {
        w = { start: now - (now % windowMs), used: 0 };
        windows.set(key, w);
      }
      const resetMs = w.start + windowMs - now;
      if (w.used >= perMinute) return { allowed: false, limit: perMinute, remaining: 0, resetMs };
      w.used++;
      return { allowed: true, limit: perMinute, remaining: perMinute - w.used, resetMs };
    },
  };
}
