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

/**
 * `load()`, or what it gave last time for `key` if the database was not written since.
 * A value read while a write ended is not kept (it may be from before that write).
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
  const value = await load();
  if (db.writes() !== writes || !worth(value)) return value;
  mine = kept.get(db);
  if (!mine || mine.writes !== writes || mine.values.size >= max) kept.set(db, (mine = { writes, values: new Map() }));
  mine.values.set(key, copy ? structuredClone(value) : deepFreeze(value));
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
