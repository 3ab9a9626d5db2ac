// A monotonic clock and timeouts as one parameter, so that what waits on time (the ingest
// writer's apply window, the aggregation worker's spacing of its passes) can be driven by a test.

/** `now` in ms (monotonic); `set` calls `fn` after `ms` and returns its cancel. */
export type Timer = { now(): number; set(fn: () => void, ms: number): () => void };

export const REAL_TIMER: Timer = {
  now: () => performance.now(),
  set(fn, ms) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};
