// What was read from a database, kept in memory while nothing was written to it since
// (`Database.writes`, moved by every statement that may change the file, on any of its
// connections). A request that follows a change never gets what was read before it.
import type { Database, Params, Queryable } from './duckdb.js';

type Kept = { writes: number; values: Map<string, unknown> };

export type KeepOptions<T> = {
  /** Keys kept for the database at most: past it they are all dropped. */
  max?: number;
  /** Whether this value is worth its memory (a large answer is not kept). */
  worth?: (value: T) => boolean;
  /** Each caller gets its own copy (callers that change what they get); else all share one, frozen. */
  copy?: boolean;
};

const kept = new WeakMap<Pick<Database, 'writes'>, Kept>();
/** A load under way: the count of writes it started at, and the callers waiting for it. */
type Loading = { writes: number; waiting: number; value: Promise<unknown> };
const loading = new WeakMap<Pick<Database, 'writes'>, Map<string, Loading>>();

/**
 * `load()`, or what it gave last time for `key` if the database was not written since.
 * A value read while a write ended is not kept (it may be from before that write). A
 * caller that asks while the same load is under way, with nothing written since it began,
 * waits for it instead of loading again: every open page of a tenant asks the same as soon
 * as a commit is announced (live.ts), and one of them pays for it. So `load` must never ask
 * for its own key on the same database: it would wait for itself.
 */
export async function keptRead<T>(
  db: Pick<Database, 'writes'>,
  key: string,
  load: () => Promise<T>,
  { max = 10_000, worth = () => true, copy = false }: KeepOptions<T> = {},
): Promise<T> {
  let mine = kept.get(db);
  const writes = db.writes();
  if (mine?.writes === writes && mine.values.has(key)) {
    const value = mine.values.get(key) as T;
    return copy ? structuredClone(value) : value;
  }
  let under = loading.get(db);
  const ongoing = under?.get(key);
  if (ongoing?.writes === writes) {
    ongoing.waiting++;
    const value = (await ongoing.value) as T;
    return copy ? structuredClone(value) : value;
  }
  if (!under) loading.set(db, (under = new Map()));
  let settle!: { resolve: (v: unknown) => void; reject: (err: unknown) => void };
  const started: Loading = {
    writes,
    waiting: 0,
    value: new Promise((resolve, reject) => (settle = { resolve, reject })),
  };
  started.value.catch(() => undefined); // a failed load fails its own caller; none may be waiting
  under.set(key, started);
  let value: T;
  try {
    value = await load();
  } catch (err) {
    settle.reject(err);
    throw err;
  } finally {
    if (under.get(key) === started) under.delete(key);
  }
  let keep: boolean;
  let shared: T;
  try {
    keep = db.writes() === writes && worth(value);
    // What others copy is taken now, before this caller can change its own; shared as it is, frozen.
    const others = keep || started.waiting > 0;
    shared = !others ? value : copy ? structuredClone(value) : deepFreeze(value);
  } catch (err) {
    settle.reject(err);
    throw err;
  }
  settle.resolve(shared);
  if (!keep) return value;
  mine = kept.get(db);
  if (!mine || mine.writes !== writes || mine.values.size >= max) kept.set(db, (mine = { writes, values: new Map() }));
  mine.values.set(key, shared);
  return value;
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** A tenant file keeps at most this many answers, each of this many rows at most: a few MB at worst. */
export const KEPT_PER_FILE = 64;
export const KEPT_ROWS = 500;

/** Drops what is kept for `db` (a file closed for being idle gives its memory back). */
export function forgetKept(db: Pick<Database, 'writes'>): void {
  kept.delete(db);
}

/**
 * The rows of a statement over `db`'s file, read through `via` (one of its connections),
 * kept while the file is unchanged: for statements whose answer depends on nothing else
 * than the file and `params` (no now(), random() or the like).
 */
export function keptRows<T>(db: Pick<Database, 'writes'>, via: Queryable, sql: string, params: Params): Promise<T[]> {
  return keptRead(db, JSON.stringify([sql, params]), () => via.all<T>(sql, params), {
    max: KEPT_PER_FILE,
    worth: (rows) => rows.length <= KEPT_ROWS,
    copy: true,
  });
}
