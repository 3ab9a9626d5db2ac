// Slows down password guessing: after a few failures in a window, further attempts for
// that email (or from that address) are refused until the window has passed.
export type ThrottleOptions = { maxPerEmail: number; maxPerIp: number; windowMs: number };

export const DEFAULT_THROTTLE: ThrottleOptions = { maxPerEmail: 5, maxPerIp: 20, windowMs: 15 * 60_000 };

export type LoginThrottle = {
  /** Milliseconds to wait before another attempt is allowed; 0 when allowed now. */
  retryAfter(email: string, ip: string, now?: Date): number;
  fail(email: string, ip: string, now?: Date): void;
  succeed(email: string): void;
};

export function createLoginThrottle(options: ThrottleOptions = DEFAULT_THROTTLE): LoginThrottle {
  const failures = new Map<string, number[]>();
  const recent = (key: string, now: number) => {
    const kept = (failures.get(key) ?? []).filter((t) => now - t < options.windowMs);
    if (kept.length) failures.set(key, kept);
    else failures.delete(key);
    return kept;
  };
  const waitFor = (key: string, max: number, now: number) => {
    const times = recent(key, now);
    return times.length < max ? 0 : times[times.length - max]! + options.windowMs - now;
  };
  return {
    retryAfter(email, ip, now = new Date()) {
      const t = now.getTime();
      return Math.max(waitFor(`e:${email.trim().toLowerCase()}`, options.maxPerEmail, t), waitFor(`i:${ip}`, options.maxPerIp, t));
    },
    fail(email, ip, now = new Date()) {
      const t = now.getTime();
      for (const key of [`e:${email.trim().toLowerCase()}`, `i:${ip}`]) failures.set(key, [...recent(key, t), t]);
    },
    succeed(email) {
      failures.delete(`e:${email.trim().toLowerCase()}`);
    },
  };
}
