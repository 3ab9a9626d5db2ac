// Slows down password guessing. An attempt is counted before its password is checked, so
// guesses sent in parallel cannot overtake the count. Per email, attempts past the limit
// are refused until the window has passed. Per address they are only answered more and more
// slowly: behind a proxy one address is everyone's, and one person's guesses must not lock
// the others out.
export type ThrottleOptions = {
  maxPerEmail: number;
  /** Attempts from one address in a window that are answered without delay. */
  freePerIp: number;
  windowMs: number;
  /** The delay after the free attempts; it doubles with each further one, up to maxDelayMs. */
  firstDelayMs: number;
  maxDelayMs: number;
};

export const DEFAULT_THROTTLE: ThrottleOptions = {
  maxPerEmail: 5,
  freePerIp: 20,
  windowMs: 15 * 60_000,
  firstDelayMs: 250,
  maxDelayMs: 4000,
};

export type Admission =
  | { refused: true; retryAfterMs: number }
  /** `succeeded()` when the password was right: the email's record goes, and this attempt no longer counts for the address. */
  | { refused: false; succeeded(): void };

export type LoginThrottle = {
  /** Takes this attempt's place in the counts, waits out the address's delay, or refuses. */
  admit(email: string, ip: string, now: Date): Promise<Admission>;
};

export type Sleep = (ms: number) => Promise<void>;

const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long to hold an attempt from an address that has made `made` attempts in the window. */
export function addressDelay(made: number, options: ThrottleOptions = DEFAULT_THROTTLE): number {
  return made < options.freePerIp
    ? 0
    : Math.min(options.maxDelayMs, options.firstDelayMs * 2 ** (made - options.freePerIp));
}

export function createLoginThrottle(
  options: ThrottleOptions = DEFAULT_THROTTLE,
  sleep: Sleep = realSleep,
): LoginThrottle {
  const attempts = new Map<string, number[]>();
  const recent = (key: string, now: number) => (attempts.get(key) ?? []).filter((t) => now - t < options.windowMs);
  const keep = (key: string, times: number[]) => (times.length ? attempts.set(key, times) : attempts.delete(key));

  return {
    async admit(email, ip, now) {
      const t = now.getTime();
      const emailKey = `e:${email.trim().toLowerCase()}`;
      const ipKey = `i:${ip}`;
      const forEmail = recent(emailKey, t);
      const fromIp = recent(ipKey, t);
      keep(ipKey, fromIp);
      if (forEmail.length >= options.maxPerEmail) {
        keep(emailKey, forEmail);
        return { refused: true, retryAfterMs: forEmail[forEmail.length - options.maxPerEmail]! + options.windowMs - t };
      }
      // Counted here, synchronously, before anything is awaited.
      const delay = addressDelay(fromIp.length, options);
      keep(emailKey, [...forEmail, t]);
      keep(ipKey, [...fromIp, t]);
      if (delay > 0) await sleep(delay);
      return {
        refused: false,
        succeeded() {
          attempts.delete(emailKey);
          const times = attempts.get(ipKey) ?? [];
          const mine = times.indexOf(t);
          if (mine >= 0)
            keep(
              ipKey,
              times.filter((_, i) => i !== mine),
            );
        },
      };
    },
  };
}
