// One DuckDB file per tenant, opened on first use from an authenticated tenant id, kept
// open while used and closed when idle (reopened on demand). A file is migrated when
// opened, and refuses to serve another tenant's id.
// A file that is missing, damaged or no longer the one on disk makes its tenant alone
// unavailable; opening it is tried again after a backoff, so a file restored from a
// backup is picked up without a restart.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import { openDatabase, type Connection, type Database, type Queryable } from './duckdb.js';
import type { MemoryBudget } from './memory.js';
import { journalPath, tenantPath } from './datadir.js';
import { TenantUnavailableError } from './errors.js';
import { JournalDamagedError, removeJournal } from './journal.js';
import { forgetKept } from './kept-reads.js';
import { loadMigrations, migrate, MigrationError, type Migration } from './migrate.js';

export type TenantFiles = {
  /** Creates the file for a new tenant (migrated, stamped with its id). */
  create(tenantId: string): Promise<Database>;
  /**
   * The tenant's file: opened if need be, else checked to be still the file on disk (one
   * stat). Throws TenantUnavailableError when it is not usable, and, until the backoff
   * has passed, without trying again. Resolves after `beforeRead` (what ingest acknowledged
   * is applied) unless `settled` is false (ingest's own use).
   */
  open(tenantId: string, options?: { settled?: boolean }): Promise<Database>;
  /**
   * Another connection to the tenant's file for `purpose` (the aggregation worker, or
   * dashboard reads), so neither waits behind ingestion's commits. The worker has one;
   * reads go to the least busy of READERS, so one page's questions (or two people's
   * pages) run side by side.
   */
  connection(tenantId: string, purpose: 'worker' | 'reader'): Promise<Connection>;
  /**
   * Null while `db` is still the tenant's file on disk (one stat). Otherwise the tenant is
   * marked unavailable, `db` is closed, and the error says why: what was just written to
   * it must not be acknowledged.
   */
  check(tenantId: string, db: Database): TenantUnavailableError | null;
  /**
   * Closes the native handles of files untouched for `idleMs` with nothing queued: their
   * memory goes back to the budget. Each wakes on its next statement, behind the same
   * check that the file on disk is the one opened. Resolves how many were closed.
   */
  closeIdle(): Promise<number>;
  /**
   * Runs background work (the worker's, the alerts' passes) on the tenant's file without it
   * counting as use: a file asleep before goes back to sleep after, and an awake one's idle
   * time is not reset.
   */
  visit<T>(tenantId: string, fn: () => Promise<T>): Promise<T>;
  /** True while the tenant's file is closed for being idle. */
  asleep(tenantId: string): boolean;
  /** Tenant files open now (awake). */
  openCount(): number;
  /** Closes and deletes the tenant's file. */
  remove(tenantId: string): Promise<void>;
  closeAll(): Promise<void>;
};

export type TenantFilesOptions = {
  migrations?: Migration[];
  log?: Logger;
  /** The backoff's clock (ms). */
  now?: () => number;
  /** The wait before an unavailable tenant's file is opened again; it doubles with each failure, up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
  /** The process's memory budget, shared by every open file. */
  budget?: MemoryBudget;
  /** How long a file stays open untouched before `closeIdle` closes it. */
  idleMs?: number;
  /**
   * Runs after a file is opened, before anyone else gets it (ingest replays its journal);
   * its failure makes the tenant unavailable like a damaged file.
   */
  afterOpen?: (tenantId: string, db: Database) => Promise<void>;
  /** What a reader waits for before it gets the file (ingest applying what it acknowledged). */
  beforeRead?: (tenantId: string) => Promise<void>;
};

/** Files untouched this long are closed by `closeIdle` (reopened on their next use). */
export const IDLE_MS = 5 * 60_000;

/** Reader connections per tenant file. */
const READERS = 2;

type Opened = { db: Database; dev: number; ino: number; activity: number; since: number };
type Down = { reason: string; detail: string; failures: number; retryAt: number; closing: Promise<unknown> };

export function createTenantFiles(dataDir: string, options: TenantFilesOptions = {}): TenantFiles {
  const { log } = options;
  const migrations = options.migrations ?? loadMigrations('tenant');
  const now = options.now ?? Date.now;
  const retryMs = options.retryMs ?? 1000;
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  const idleMs = options.idleMs ?? IDLE_MS;
  const opening = new Map<string, Promise<Opened>>();
  const live = new Map<string, Opened>();
  const down = new Map<string, Down>();
  /** Removals under way: nothing may open the tenant's file meanwhile (DuckDB would create it again). */
  const removing = new Map<string, Promise<void>>();
  /** closeAll's closing of the files open when it began (a removal after it waits for it). */
  let closingAll: Promise<unknown> = Promise.resolve();

  /** Marks the tenant unavailable, closing `stale` (a handle on a file that is gone), and gives the error to throw. */
  const unavailable = (tenantId: string, reason: string, detail: string, stale?: Database): TenantUnavailableError => {
    const before = down.get(tenantId);
    const failures = (before?.failures ?? 0) + 1;
    const wait = Math.min(maxRetryMs, retryMs * 2 ** (failures - 1));
    let closing = before?.closing ?? Promise.resolve();
    if (stale && live.get(tenantId)?.db === stale) {
      live.delete(tenantId);
      opening.delete(tenantId);
      // Closed before the file is opened again: it removes its WAL, which lies beside the
      // path and must not be replayed into a file restored there.
      closing = Promise.all([
        closing,
        stale
          .close()
          .catch((err: unknown) =>
            log?.warn('could not close a stale tenant file', { tenant_id: tenantId, error: String(err) }),
          ),
      ]);
    }
    down.set(tenantId, { reason, detail, failures, retryAt: now() + wait, closing });
    log?.error('tenant file unavailable', { tenant_id: tenantId, reason, detail, retry_in_ms: wait });
    return new TenantUnavailableError(tenantId, reason, detail, wait);
  };

  const openFile = async (tenantId: string, creating: boolean): Promise<Opened> => {
    await down.get(tenantId)?.closing;
    const path = tenantPath(dataDir, tenantId);
    let db: Database | null = null;
    try {
      if (creating) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      else fileAt(path); // DuckDB would create a missing file: an empty tenant is not this tenant
      let opened: Opened | null = null;
      // A file woken after closeIdle must still be the one opened (DuckDB would create a deleted one).
      const beforeWake = () => {
        const problem = opened && check(tenantId, opened.db);
        if (problem) throw problem;
      };
      db = await openDatabase(path, { budget: options.budget, beforeWake });
      const migrated = await migrate(db, migrations);
      // An upgrade's migrations of an existing file (a new file gets them all: nothing to say).
      if (migrated.length && !creating) log?.info('migrated tenant file', { tenant_id: tenantId, versions: migrated });
      await stamp(db, tenantId);
      opened = { db, ...fileAt(path), activity: db.activity(), since: now() };
      live.set(tenantId, opened);
      await options.afterOpen?.(tenantId, db);
      if (down.delete(tenantId)) log?.info('tenant file available again', { tenant_id: tenantId });
      return opened;
    } catch (err) {
      if (db && live.get(tenantId)?.db === db) live.delete(tenantId);
      await db?.close().catch(() => undefined);
      if (creating) throw err;
      throw unavailable(
        tenantId,
        err instanceof FileProblem || err instanceof JournalDamagedError || err instanceof MigrationError
          ? err.reason
          : 'file cannot be opened',
        (err as Error).message,
      );
    }
  };

  const check = (tenantId: string, db: Database): TenantUnavailableError | null => {
    const opened = live.get(tenantId);
    if (opened?.db !== db) {
      // Found stale by another caller already (or closed by remove).
      const d = down.get(tenantId);
      return new TenantUnavailableError(
        tenantId,
        d?.reason ?? 'file closed',
        d?.detail ?? 'the file was closed',
        Math.max(0, (d?.retryAt ?? 0) - now()),
      );
    }
    try {
      const onDisk = fileAt(db.path);
      if (onDisk.dev === opened.dev && onDisk.ino === opened.ino) return null;
      return unavailable(tenantId, 'file replaced', `${db.path} is no longer the file that was opened`, db);
    } catch (err) {
      if (!(err instanceof FileProblem)) throw err;
      return unavailable(tenantId, err.reason, err.message, db);
    }
  };

  const load = async (tenantId: string, creating: boolean): Promise<Database> => {
    if (removing.has(tenantId))
      throw new TenantUnavailableError(tenantId, 'tenant removed', 'the tenant is being deleted', 0);
    const d = down.get(tenantId);
    if (d && now() < d.retryAt) throw new TenantUnavailableError(tenantId, d.reason, d.detail, d.retryAt - now());
    let entry = opening.get(tenantId);
    if (!entry) {
      const started = (entry = openFile(tenantId, creating));
      opening.set(tenantId, started);
      started.catch(() => opening.get(tenantId) === started && opening.delete(tenantId));
    }
    const { db } = await entry;
    const problem = check(tenantId, db);
    if (problem) throw problem;
    return db;
  };

  const extra = new WeakMap<Database, Map<string, Promise<Connection>>>();

  return {
    create: (tenantId) => load(tenantId, true),
    async connection(tenantId, purpose) {
      const db = await load(tenantId, false);
      await options.beforeRead?.(tenantId);
      let byPurpose = extra.get(db);
      if (!byPurpose) extra.set(db, (byPurpose = new Map()));
      let c = byPurpose.get(purpose);
      if (!c) {
        c = purpose === 'reader' ? readerPool(db) : db.connect();
        c.catch(() => byPurpose.delete(purpose));
        byPurpose.set(purpose, c);
      }
      return c;
    },
    async open(tenantId, { settled = true } = {}) {
      const db = await load(tenantId, false);
      if (settled) await options.beforeRead?.(tenantId);
      return db;
    },
    check,
    async closeIdle() {
      let closed = 0;
      for (const [tenantId, opened] of live) {
        const activity = opened.db.activity();
        if (activity !== opened.activity) Object.assign(opened, { activity, since: now() });
        else if (
          !opened.db.asleep() &&
          now() - opened.since >= idleMs &&
          (await opened.db
            .sleep()
            .catch(
              (err: unknown) => (
                log?.warn('could not close an idle tenant file', { tenant_id: tenantId, error: String(err) }), false
              ),
            ))
        ) {
          closed++;
          forgetKept(opened.db);
          log?.debug('idle tenant file closed', { tenant_id: tenantId });
        }
      }
      return closed;
    },
    async visit(tenantId, fn) {
      const before = live.get(tenantId);
      const wasAsleep = before?.db.asleep() ?? true;
      const activity = before?.db.activity();
      try {
        return await fn();
      } finally {
        const after = live.get(tenantId);
        if (after && (after === before || !before)) {
          if (after.activity === activity || !before) after.activity = after.db.activity();
          if (wasAsleep) await after.db.sleep().catch(() => false);
        }
      }
    },
    asleep: (tenantId) => live.get(tenantId)?.db.asleep() ?? false,
    openCount: () => [...live.values()].filter((o) => !o.db.asleep()).length,
    remove(tenantId) {
      const under = removing.get(tenantId);
      if (under) return under;
      const path = tenantPath(dataDir, tenantId);
      const entry = opening.get(tenantId);
      const closing = down.get(tenantId)?.closing;
      opening.delete(tenantId);
      live.delete(tenantId);
      down.delete(tenantId);
      const removal = (async () => {
        try {
          if (entry) await (await entry.catch(() => null))?.db.close();
          await closing;
          await closingAll; // an open it took out of `opening` may not have attached yet
          for (const suffix of ['', '.wal', '.tmp']) rmSync(`${path}${suffix}`, { force: true, recursive: true });
          removeJournal(journalPath(dataDir, tenantId));
        } finally {
          // An open under way when the removal began finished into these (and was closed above).
          live.delete(tenantId);
          down.delete(tenantId);
          removing.delete(tenantId);
        }
      })();
      removing.set(tenantId, removal);
      return removal;
    },
    async closeAll() {
      await Promise.allSettled(removing.values()); // each closes what it took out of `opening`
      const all = [...opening.values()];
      const closing = [...down.values()].map((d) => d.closing);
      opening.clear();
      live.clear();
      down.clear();
      const closes = [...all.map(async (p) => (await p.catch(() => null))?.db.close()), ...closing];
      // Every close settled, not the first failure: a removal must not pass an open still attaching.
      closingAll = Promise.allSettled([closingAll, ...closes]);
      await Promise.all(closes);
    },
  };
}

/** Why a tenant's file cannot be used: `reason` is short and names no path. */
class FileProblem extends Error {
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super(detail);
  }
}

/** The identity of the regular file at `path`; a FileProblem when there is none. */
function fileAt(path: string): { dev: number; ino: number } {
  let stats;
  try {
    stats = statSync(path);
  } catch (err) {
    throw new FileProblem(
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file missing' : 'file cannot be read',
      (err as Error).message,
    );
  }
  if (!stats.isFile()) throw new FileProblem('not a regular file', `${path} is not a regular file`);
  return { dev: stats.dev, ino: stats.ino };
}

/**
 * READERS connections behind one: each call goes to the least busy at the moment it is
 * made (a transaction stays on its connection), so concurrent reads run side by side.
 */
async function readerPool(db: Database): Promise<Connection> {
  const readers = await Promise.all(Array.from({ length: READERS }, () => db.connect()));
  const pick = () => readers.reduce((a, b) => (b.busy() < a.busy() ? b : a));
  return {
    all: (sql, params) => pick().all(sql, params),
    get: (sql, params) => pick().get(sql, params),
    run: (sql, params) => pick().run(sql, params),
    transaction: (fn) => pick().transaction(fn),
    withConnection: (fn) => pick().withConnection(fn),
    busy: () => readers.reduce((n, r) => n + r.busy(), 0),
  };
}

/** The tenant a file was stamped for when first opened (null before that). */
export async function stampedTenant(db: Queryable): Promise<string | null> {
  const row = await db.get<{ value: string }>(`SELECT value FROM tenant_meta WHERE key = 'tenant_id'`);
  return row?.value ?? null;
}

async function stamp(db: Database, tenantId: string): Promise<void> {
  const stamped = await stampedTenant(db);
  if (stamped === null) {
    await db.run(`INSERT INTO tenant_meta VALUES ('tenant_id', $id)`, { id: tenantId });
  } else if (stamped !== tenantId) {
    throw new Error(`${db.path} belongs to tenant ${stamped}, not ${tenantId}; refusing to open it`);
  }
}
