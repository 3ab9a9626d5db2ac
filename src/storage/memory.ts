// The process's one memory budget (--memory-limit): one DuckDB instance for every file, the
// control database and each awake tenant file ATTACHed to it, so they share one buffer pool
// (DuckDB's part of the budget), one thread pool and one spill directory, <data dir>/tmp.
// Why one instance rather than a limit per file: README, *Memory*.
import { mkdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Logger } from '../log.js';
import { isAfterFatal, isFatal, isFileInvalidated, StorageUnavailableError } from './errors.js';

/** What the process keeps outside DuckDB (Node and its heap, the code, HTTP, rendering): ~270 MB measured. */
export const NODE_SHARE = 0.6;
/** DuckDB's threads for every file together: the small VM's two cores. */
export const DUCKDB_THREADS = 2;

/**
 * Events per rollup transaction for a budget: 250,000 (the worker's default) needs room a
 * small budget lacks, and a rollup holding the pool makes other files' commits wait.
 */
export const rollupChunkFor = (duckdbMb: number) => Math.max(10_000, Math.min(250_000, duckdbMb * 250));

/** The fewest rows per compaction transaction, also after failures halved them. */
export const FOLD_ROWS_MIN = 10_000;

/**
 * Rollup rows per compaction transaction for a budget: a 150 MiB pool folded 245,000 rows of
 * the widest table at once and failed at 1.7M (README, *Memory*); about half the first per MiB.
 */
export const foldRowsFor = (duckdbMb: number) => Math.max(FOLD_ROWS_MIN, duckdbMb * 800);

/**
 * A file attached to the shared instance: its connections see it as their default database.
 * After a fatal error invalidated the instance, `connect` attaches the file again to the new one.
 */
export type Attached = {
  connect(): Promise<DuckDBConnection>;
  detach(): Promise<void>;
  /** The instance's number: a connection made under an older one is dead. */
  epoch(): number;
  /**
   * What to throw for `err`, met on a connection made under `epoch`: a fatal error (the
   * instance invalidated) starts a new instance, once, and becomes a StorageUnavailableError.
   */
  failed(err: unknown, epoch: number): Promise<unknown>;
};

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

export type MemoryBudgetOptions = {
  totalMb: number;
  dataDir: string;
  log?: Logger;
  /** The clock (ms) of the wait before a file that made DuckDB fail is attached again. */
  now?: () => number;
};

/** The wait before a file whose statement made DuckDB fail is attached again: doubling with each failure, up to 30 s. */
const refailWaitMs = (failures: number) => Math.min(30_000, 1000 * 2 ** (failures - 1));

export async function createMemoryBudget({
  totalMb,
  dataDir,
  log,
  now = Date.now,
}: MemoryBudgetOptions): Promise<MemoryBudget> {
  const duckdbMb = Math.floor(totalMb * (1 - NODE_SHARE));
  const tmp = join(dataDir, 'tmp');
  rmSync(tmp, { recursive: true, force: true }); // what an earlier process spilled is of no use to this one
  const host = await restartable((no) => {
    // A new instance spills apart: the old one deletes its own spill files by name when it goes.
    const dir = no === 1 ? tmp : join(tmp, String(no));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return DuckDBInstance.create(':memory:', {
      memory_limit: `${duckdbMb}MiB`,
      threads: String(DUCKDB_THREADS),
      temp_directory: dir,
    });
  }, log);
  let count = 0;
  let attached = 0;
  // ATTACH and DETACH one at a time, on the instance's own connection.
  const attachNow = async (path: string): Promise<Attachment> => {
    // An alias of our own: a file attached again (after a sleep) may not yet be detached under the old one.
    const id = ++count;
    await host.current().admin.run(`ATTACH '${path.replaceAll("'", "''")}' AS f${id}`);
    return { id, no: host.current().no, invalid: false };
  };
  return {
    totalMb,
    duckdbMb,
    attach: (path) =>
      host.serial(async () => {
        let at = await attachNow(path);
        attached++;
        let detached = false;
        // A file whose own statement made DuckDB fail (a disk that fails its fsyncs) would fail
        // the new instance too, and every file with it: it waits before it is attached again.
        let failures = 0;
        let notBefore = 0;
        const current = () => at.no === host.current().no && !at.invalid;
        return {
          async connect() {
            const [instance, id] = await host.serial(async () => {
              if (!current()) {
                const wait = notBefore - now();
                if (wait > 0) throw new StorageUnavailableError(`${path} made DuckDB fail; tried again later`, wait);
                // DuckDB invalidated the file alone (a failed checkpoint): "detach and reattach it".
                if (at.no === host.current().no) await host.current().admin.run(`DETACH f${at.id}`);
                at = await attachNow(path);
              }
              return [host.current().instance, at.id] as const;
            });
            const c = await instance.connect();
            await c.run(`USE f${id}`).catch((err: unknown) => {
              c.closeSync();
              throw err;
            });
            return c;
          },
          epoch: () => (current() ? at.id : 0),
          async failed(err, epoch) {
            if (epoch === at.id && isFatal(err) && !isAfterFatal(err)) notBefore = now() + refailWaitMs(++failures);
            if (epoch !== at.id || !isFileInvalidated(err, `f${at.id}`))
              return host.failed(err, epoch === at.id ? at.no : 0);
            if (!at.invalid)
              log?.error('DuckDB invalidated a file; it is attached again', { file: path, error: String(err) });
            at.invalid = true;
            return restartError(err);
          },
          detach: () =>
            host.serial(async () => {
              if (detached) return;
              // Counted as detached only once it is: a failed DETACH leaves the file attached
              // under this alias, which the next statement then uses again. An instance
              // replaced since has nothing to detach.
              if (at.no === host.current().no) await host.current().admin.run(`DETACH f${at.id}`);
              detached = true;
              attached--;
            }),
        };
      }),
    openCount: () => attached,
    close: host.close,
  };
}

/** A file's attachment: its alias `f<id>`, on instance `no`; `invalid` once DuckDB invalidated it alone. */
type Attachment = { id: number; no: number; invalid: boolean };

/** The file on an instance of its own (tools, tests, a CLI without a budget), started again after a fatal error. */
export async function alone(path: string, log?: Logger): Promise<Attached> {
  // The file is the instance's own database (named after it): invalidating it invalidates the instance.
  const name = basename(path).replace(/\..*$/, ''); // as DuckDB names it: up to the first dot
  const host = await restartable(
    () => DuckDBInstance.create(path),
    log,
    (err) => isFileInvalidated(err, name),
  );
  return {
    connect: async () => (await host.serial(async () => host.current().instance)).connect(),
    detach: async () => host.close(),
    epoch: () => host.current().no,
    failed: host.failed,
  };
}

/** What a statement that met a fatal error throws: the next one runs on the instance (or attachment) that replaces it. */
const restartError = (cause: unknown) =>
  new StorageUnavailableError('storage is restarting after a DuckDB fatal error; retry shortly', 1000, { cause });

type Instance = { no: number; instance: DuckDBInstance; admin: DuckDBConnection };

/**
 * A DuckDB instance that is replaced when a fatal error invalidates it (DuckDB then refuses
 * every statement until "restarted"): the error is logged once, the new instance has the same
 * settings, and the files come back as their connections ask (each holder reconnects when
 * `epoch` moved). The old instance is invalidated: it writes nothing more to the files.
 */
async function restartable(
  create: (no: number) => Promise<DuckDBInstance>,
  log?: Logger,
  alsoFatal: (err: unknown) => boolean = () => false,
) {
  const start = async (no: number): Promise<Instance> => {
    const instance = await create(no);
    const admin = await instance.connect();
    // TIMESTAMP columns hold UTC: now() and every other TIMESTAMPTZ is cast in the session's
    // zone, which DuckDB takes from the host (it cannot be given to create(): ICU loads later).
    await admin.run(`SET GLOBAL TimeZone = 'UTC'`);
    return { no, instance, admin };
  };
  let current = await start(1);
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = tail.then(fn, fn);
    tail = next.catch(() => undefined);
    return next;
  };
  let restarting: Promise<void> | null = null;
  /** Whether the instance refuses statements: an INTERNAL error, for one, does not always invalidate it. */
  const invalidated = async ({ instance }: Instance) => {
    const probe = await instance.connect();
    try {
      await probe.run('SELECT 1');
      return false;
    } catch (err) {
      return isFatal(err);
    } finally {
      probe.closeSync();
    }
  };
  const failed = async (err: unknown, epoch: number): Promise<unknown> => {
    if (!isFatal(err) && !alsoFatal(err)) return err;
    if (epoch === current.no && !restarting) {
      if (!alsoFatal(err) && !(await invalidated(current))) return err; // an internal error that left it usable
    }
    if (epoch === current.no && !restarting) {
      log?.error('DuckDB failed and is started again', { error: (err as Error).message, instance: epoch + 1 });
      restarting = serial(async () => {
        const old = current;
        current = await start(old.no + 1);
        old.admin.closeSync();
        old.instance.closeSync(); // goes once the last connection made under it is closed
      })
        .catch((cause: unknown) => log?.error('DuckDB could not be started again', { error: String(cause) }))
        .finally(() => (restarting = null));
    }
    return restartError(err);
  };
  return {
    serial,
    current: () => current,
    failed,
    close() {
      current.admin.closeSync();
      current.instance.closeSync();
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
