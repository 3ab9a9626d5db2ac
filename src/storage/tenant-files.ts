// One DuckDB file per tenant, opened on first use from an authenticated tenant id and
// kept open. A file is migrated when opened, and refuses to serve another tenant's id.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { openDatabase, type Connection, type Database } from './duckdb.js';
import { tenantPath } from './datadir.js';
import { loadMigrations, migrate, type Migration } from './migrate.js';

export type TenantFiles = {
  /** Creates the file for a new tenant (migrated, stamped with its id). */
  create(tenantId: string): Promise<Database>;
  /** Opens an existing tenant's file; throws if it does not exist. */
  open(tenantId: string): Promise<Database>;
  /**
   * Another connection to the tenant's file for `purpose` (the aggregation worker, or
   * dashboard reads), so neither waits behind ingestion's commits. The worker has one;
   * reads go to the least busy of READERS, so one page's questions (or two people's
   * pages) run side by side.
   */
  connection(tenantId: string, purpose: 'worker' | 'reader'): Promise<Connection>;
  /** Closes and deletes the tenant's file. */
  remove(tenantId: string): Promise<void>;
  closeAll(): Promise<void>;
};

/** Reader connections per tenant file. */
const READERS = 2;

export function createTenantFiles(dataDir: string, migrations: Migration[] = loadMigrations('tenant')): TenantFiles {
  const open = new Map<string, Promise<Database>>();

  const load = (tenantId: string, creating: boolean): Promise<Database> => {
    const cached = open.get(tenantId);
    if (cached) return cached;
    const opening = (async () => {
      const path = tenantPath(dataDir, tenantId);
      if (!creating && !existsSync(path)) throw new Error(`tenant file missing for ${tenantId}`);
      if (creating) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const db = await openDatabase(path);
      try {
        await migrate(db, migrations);
        await stamp(db, tenantId);
        return db;
      } catch (err) {
        await db.close();
        throw err;
      }
    })();
    open.set(tenantId, opening);
    opening.catch(() => open.delete(tenantId));
    return opening;
  };

  const extra = new WeakMap<Database, Map<string, Promise<Connection>>>();

  return {
    create: (tenantId) => load(tenantId, true),
    async connection(tenantId, purpose) {
      const db = await load(tenantId, false);
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
    open: (tenantId) => load(tenantId, false),
    async remove(tenantId) {
      const path = tenantPath(dataDir, tenantId);
      const db = open.get(tenantId);
      open.delete(tenantId);
      if (db) await (await db.catch(() => null))?.close();
      for (const suffix of ['', '.wal', '.tmp']) rmSync(`${path}${suffix}`, { force: true, recursive: true });
    },
    async closeAll() {
      const all = [...open.values()];
      open.clear();
      await Promise.all(all.map(async (p) => (await p.catch(() => null))?.close()));
    },
  };
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

async function stamp(db: Database, tenantId: string): Promise<void> {
  const row = await db.get<{ value: string }>(`SELECT value FROM tenant_meta WHERE key = 'tenant_id'`);
  if (!row) {
    await db.run(`INSERT INTO tenant_meta VALUES ('tenant_id', $id)`, { id: tenantId });
  } else if (row.value !== tenantId) {
    throw new Error(`${db.path} belongs to tenant ${row.value}, not ${tenantId}; refusing to open it`);
  }
}
