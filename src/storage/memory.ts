// The process's one memory budget (--memory-limit): one DuckDB instance for every file, the
// control database and each awake tenant file ATTACHed to it, so they share one buffer pool
// (DuckDB's part of the budget), one thread pool and one spill directory, <data dir>/tmp.
// Why one instance rather than a limit per file: README, *Memory*.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** What the process keeps outside DuckDB (Node and its heap, the code, HTTP, rendering): ~270 MB measured. */
export const NODE_SHARE = 0.6;
/** DuckDB's threads for every file together: the small VM's two cores. */
export const DUCKDB_THREADS = 2;

/**
 * Events per rollup transaction for a budget: 250,000 (the worker's default) needs room a
 * small budget lacks, and a rollup holding the pool makes other files' commits wait.
 */
export const rollupChunkFor = (duckdbMb: number) => Math.max(10_000, Math.min(250_000, duckdbMb * 250));

/** A file attached to the shared instance: its connections see it as their default database. */
export type Attached = { connect(): Promise<DuckDBConnection>; detach(): Promise<void> };

export type MemoryBudget = {
  readonly totalMb: number;
  /** DuckDB's part of the budget: the shared instance's memory_limit. */
  readonly duckdbMb: number;
  /** Attaches the DuckDB file at `path` (DuckDB creates a missing one). */
  attach(path: string): Promise<Attached>;
  /** Files attached now. */
  openCount(): number;
  /** Closes the instance; every file must have been detached. */
  close(): void;
};

export type MemoryBudgetOptions = { totalMb: number; dataDir: string };

export async function createMemoryBudget({ totalMb, dataDir }: MemoryBudgetOptions): Promise<MemoryBudget> {
  const duckdbMb = Math.floor(totalMb * (1 - NODE_SHARE));
  const tmp = join(dataDir, 'tmp');
  rmSync(tmp, { recursive: true, force: true }); // what an earlier process spilled is of no use to this one
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  const instance = await DuckDBInstance.create(':memory:', {
    memory_limit: `${duckdbMb}MiB`,
    threads: String(DUCKDB_THREADS),
    temp_directory: tmp,
  });
  const admin = await instance.connect();
  let tail: Promise<unknown> = Promise.resolve();
  // ATTACH and DETACH one at a time, on a connection of their own.
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = tail.then(fn, fn);
    tail = next.catch(() => undefined);
    return next;
  };
  let count = 0;
  let attached = 0;
  return {
    totalMb,
    duckdbMb,
    attach: (path) =>
      serial(async () => {
        // An alias of our own: a file attached again (after a sleep) may not yet be detached under the old one.
        const alias = `f${++count}`;
        await admin.run(`ATTACH '${path.replaceAll("'", "''")}' AS ${alias}`);
        attached++;
        let detached = false;
        return {
          async connect() {
            const c = await instance.connect();
            await c.run(`USE ${alias}`);
            return c;
          },
          detach: () =>
            serial(async () => {
              if (detached) return;
              // Counted as detached only once it is: a failed DETACH leaves the file attached
              // under this alias, which the next statement then uses again.
              await admin.run(`DETACH ${alias}`);
              detached = true;
              attached--;
            }),
        };
      }),
    openCount: () => attached,
    close() {
      admin.closeSync();
      instance.closeSync();
    },
  };
}

/** `512MB`, `1GB`, `1.5GiB` or a bare number of MB, as MB. */
export function parseMemoryMb(raw: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(mb|mib|m|gb|gib|g)?\s*$/i.exec(raw);
  if (!m) return null;
  const gb = /^g/i.test(m[2] ?? '');
  return Math.floor(Number(m[1]) * (gb ? 1024 : 1));
}
