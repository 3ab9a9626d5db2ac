// `agentmeter backup`: the control database and every tenant's file copied, while the
// server runs, into a directory laid out like a data directory, with a manifest. Each file
// is one consistent moment (src/backup/snapshot.ts); ingest does not wait for the copy.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Logger } from '../log.js';
import type { Connection, Database } from '../storage/duckdb.js';
import { TenantUnavailableError } from '../storage/errors.js';
import { isInDataDir } from '../storage/datadir.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import {
  BackupError,
  describeFile,
  writeManifest,
  type Manifest,
  type ManifestFile,
  type ManifestTenant,
} from './manifest.js';
import { snapshotDatabase } from './snapshot.js';

export type BackupDeps = {
  control: Database;
  /** A connection of the control database's own for copies, so sign-ins do not queue behind one; else its main one. */
  controlConnection?: () => Promise<Connection>;
  tenantFiles: TenantFiles;
  now: () => Date;
  log?: Logger;
};

export type BackupResult = {
  dir: string;
  created_at: string;
  files: number;
  bytes: number;
  tenants: ManifestTenant[];
  /** How long each copy held its connection (ms): the control database's, and the longest tenant's. */
  copy_ms: { control: number; tenant_max: number };
  took_ms: number;
};

/** The tenant's event count and newest event, read in the copy's transaction. */
export async function lastEvent(
  conn: DuckDBConnection,
  catalog: string,
): Promise<Pick<ManifestTenant, 'events' | 'last_seq' | 'last_received_at'>> {
  const reader = await conn.runAndReadAll(
    `SELECT count(*)::DOUBLE, max(seq)::DOUBLE, epoch_ms(max(received_at))::DOUBLE FROM ${catalog}.main.events`,
  );
  const [events, lastSeq, receivedMs] = reader.getRows()[0] as [number, number | null, number | null];
  return {
    events,
    last_seq: lastSeq,
    last_received_at: receivedMs === null ? null : new Date(receivedMs).toISOString(),
  };
}

/** Backs everything up into `dir` (absent or empty). On failure nothing is left in `dir`. */
export async function takeBackup(deps: BackupDeps, dir: string): Promise<BackupResult> {
  const started = performance.now();
  const created = deps.now();
  const cleanup = prepareTarget(dir, 'a backup', dirname(deps.control.path));
  try {
    mkdirSync(join(dir, 'tenants'), { mode: 0o700 });
    const files: ManifestFile[] = [];
    let t0 = performance.now();
    // The organisations as the copied control database holds them (read in its copy's
    // transaction): one deleted or created while the backup runs is in both, or in neither.
    const listed = await snapshotDatabase(
      deps.controlConnection ? await deps.controlConnection() : deps.control,
      deps.control.path,
      join(dir, 'control.duckdb'),
      async (conn, catalog) =>
        (await conn.runAndReadAll(`SELECT id, name FROM ${catalog}.main.tenants ORDER BY id`)).getRowObjects() as {
          id: string;
          name: string;
        }[],
    );
    const controlMs = performance.now() - t0;
    files.push(await describeFile(dir, 'control.duckdb'));

    const tenants: ManifestTenant[] = [];
    let tenantMax = 0;
    for (const { id, name } of listed) {
      const path = `tenants/${id}.duckdb`;
      try {
        t0 = performance.now();
        const facts = await copyTenant(deps.tenantFiles, id, join(dir, path));
        tenantMax = Math.max(tenantMax, performance.now() - t0);
        files.push(await describeFile(dir, path));
        tenants.push({ id, name, file: path, ...facts });
      } catch (err) {
        if (!(err instanceof TenantUnavailableError)) throw err;
        // A damaged tenant must not stop every backup: the others are kept, and it is named.
        rmSync(join(dir, path), { force: true });
        deps.log?.warn('backup: tenant file unavailable, not copied', { tenant_id: id, reason: err.reason });
        tenants.push({
          id,
          name,
          file: null,
          events: 0,
          last_seq: null,
          last_received_at: null,
          unavailable: err.reason,
        });
      }
    }
    const manifest: Manifest = {
      format: 'agentmeter-backup',
      version: 1,
      kind: 'full',
      created_at: created.toISOString(),
      files,
      tenants,
    };
    writeManifest(dir, manifest);
    const result = {
      dir,
      created_at: manifest.created_at,
      files: files.length,
      bytes: files.reduce((n, f) => n + f.bytes, 0),
      tenants,
      copy_ms: { control: round(controlMs), tenant_max: round(tenantMax) },
      took_ms: round(performance.now() - started),
    };
    deps.log?.info('backup written', { dir, files: result.files, bytes: result.bytes, took_ms: result.took_ms });
    return result;
  } catch (err) {
    cleanup();
    throw err instanceof BackupError ? err : new BackupError(`backup to ${dir} failed: ${why(err)}`);
  }
}

/**
 * One tenant's file copied on a reader connection of its own, so the copy never queues
 * before ingest's commits (which run on the file's main connection).
 */
export async function copyTenant(tenantFiles: TenantFiles, tenantId: string, target: string) {
  const { path } = await tenantFiles.open(tenantId);
  const conn = await tenantFiles.connection(tenantId, 'reader');
  return snapshotDatabase(conn, path, target, lastEvent);
}

/**
 * Makes `dir` (refusing one that holds anything) and returns what undoes it: the directory
 * removed if it was made here, else emptied again.
 */
export function prepareTarget(dir: string, what: string, dataDir?: string): () => void {
  if (dataDir !== undefined && isInDataDir(dataDir, dir))
    throw new BackupError(
      `${dir} is inside the data directory ${dataDir}: ${what} goes outside it (the next start may empty it, and a failed disk would take both)`,
    );
  let existed = true;
  try {
    if (readdirSync(dir).length > 0)
      throw new BackupError(`${dir} is not empty: ${what} goes into a new or empty directory`);
  } catch (err) {
    if (err instanceof BackupError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new BackupError(`cannot use ${dir}: ${why(err)}`);
    existed = false;
  }
  try {
    mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
    mkdirSync(dir, { mode: 0o700 }); // not recursive: that reports a read-only disk as ENOENT
  } catch (err) {
    throw new BackupError(`cannot create ${dir}: ${why(err)}`);
  }
  return () => {
    if (!existed) return rmSync(dir, { recursive: true, force: true });
    for (const entry of readdirSync(dir)) rmSync(join(dir, entry), { recursive: true, force: true });
  };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

const REASONS: Record<string, string> = {
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'no space left on device',
  ENOTDIR: 'not a directory',
};

/** DuckDB's IO errors carry the system's words, not a code: "… No space left on device". */
const IO_ERROR_CODES: [RegExp, string][] = [
  [/No space left on device/i, 'ENOSPC'],
  [/Read-only file system/i, 'EROFS'],
  [/Permission denied/i, 'EACCES'],
];

/** A file system error as an operator reads it: `read-only file system (EROFS)`, from Node or from DuckDB. */
export function why(err: unknown): string {
  const message = (err as Error).message ?? String(err);
  const code = (err as NodeJS.ErrnoException).code ?? IO_ERROR_CODES.find(([words]) => words.test(message))?.[1];
  return code ? `${REASONS[code] ?? 'failed'} (${code})` : message;
}
