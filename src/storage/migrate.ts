// Numbered SQL migrations (`migrations/<series>/0001_name.sql`), applied in order and
// recorded in the file they changed. A file whose name has a step in MIGRATION_STEPS runs
// that code after its SQL (the rollup tables, generated from their catalogue). All pending
// migrations of a file run in one transaction: a failure leaves the file exactly as it was,
// so the build before still opens it. When DuckDB cannot commit them together (one updates a
// table's rows and a later one alters that table, as 0012 and 0014 do to `events`), they run
// again one transaction each: a failure then leaves the file as the migration before it left it.
import { listAssets, readAssetText } from '../assets.js';
import { MIGRATION_STEPS, type MigrationStep } from '../migration-steps.js';
import type { Database } from './duckdb.js';
import { StorageUnavailableError } from './errors.js';

export type Series = 'control' | 'tenant';

export type Migration = { version: number; name: string; sql: string; step?: MigrationStep };

export class MigrationError extends Error {
  /** What /readyz says of a tenant whose file this leaves closed. */
  constructor(
    message: string,
    readonly reason = 'a migration failed',
  ) {
    super(message);
  }
}

export function loadMigrations(series: Series, steps = MIGRATION_STEPS[series]): Migration[] {
  const migrations = listAssets(`migrations/${series}`)
    .filter((p) => p.endsWith('.sql'))
    .map((path) => {
      const file = path.slice(path.lastIndexOf('/') + 1);
      const match = /^(\d+)_([\w-]+)\.sql$/.exec(file);
      if (!match) throw new MigrationError(`migration file name must look like 0001_name.sql: ${path}`);
      const name = match[2]!;
      return { version: Number(match[1]), name, sql: readAssetText(path), step: steps[name] };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new MigrationError(`migrations/${series}: expected version ${i + 1}, found ${m.version} (${m.name})`);
  });
  return migrations;
}

/** Applies what `db` has not seen yet; returns the versions applied. */
export async function migrate(db: Database, migrations: Migration[]): Promise<number[]> {
  await db.run(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT now())`);
  const done = new Set(
    (await db.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version),
  );
  const newest = Math.max(0, ...done);
  const latest = migrations.at(-1)?.version ?? 0;
  if (newest > latest) {
    throw new MigrationError(
      `${db.path} is at schema version ${newest}, newer than this build knows (${latest}); use a newer build`,
      'made by a newer build: use a newer build',
    );
  }
  const pending = migrations.filter((m) => !done.has(m.version));
  if (pending.length === 0) return [];
  try {
    await applied(db, pending);
  } catch (err) {
    if (!COMMIT_CONFLICT.test((err as Error).message)) throw err;
    for (const m of pending) await applied(db, [m]);
  }
  return pending.map((m) => m.version);
}

/**
 * DuckDB's refusal to commit an update of a table's rows and an ALTER of it together (not a
 * failed write: a full disk at the commit stays a failure).
 */
const COMMIT_CONFLICT = /Failed to commit: .*another transaction has altered this table/;

/** Runs `migrations` and records them in one transaction; any failure (its commit's too) is a MigrationError. */
async function applied(db: Database, migrations: Migration[]): Promise<void> {
  const names = migrations.map((m) => `${m.version}_${m.name}`).join(', ');
  await db
    .transaction(async (tx) => {
      for (const m of migrations) {
        try {
          await tx.run(m.sql);
          await m.step?.(tx);
        } catch (err) {
          throw new MigrationError(`migration ${m.version}_${m.name} failed on ${db.path}: ${(err as Error).message}`);
        }
        await tx.run('INSERT INTO schema_migrations (version, name) VALUES ($version, $name)', {
          version: m.version,
          name: m.name,
        });
      }
    })
    .catch((err: unknown) => {
      // A MigrationError names its migration; storage that failed under it (DuckDB restarting) stays what it is.
      if (err instanceof MigrationError || err instanceof StorageUnavailableError) throw err;
      throw new MigrationError(`migrations ${names} could not be committed on ${db.path}: ${(err as Error).message}`);
    });
}
