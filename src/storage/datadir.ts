// The data directory: control database, one DuckDB file per tenant, and a lock that
// keeps a second process away (it names the running server so the CLI can ask it).
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync, accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { isId } from '../ids.js';

export type Lock = { pid: number; startedAt: string; adminSocket: string | null };

export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string, readonly holder: Lock) {
    super(`data directory ${dataDir} is in use by another agentmeter process (pid ${holder.pid}, started ${holder.startedAt}); stop it first, or delete ${lockPath(dataDir)} if you are sure it is not running`);
  }
}

export const controlPath = (dataDir: string) => join(dataDir, 'control.duckdb');
export const tenantsDir = (dataDir: string) => join(dataDir, 'tenants');
export const lockPath = (dataDir: string) => join(dataDir, 'agentmeter.lock');

/** The tenant's file. Only generated tenant ids are accepted, so no input can pick a path. */
export function tenantPath(dataDir: string, tenantId: string): string {
  if (!isId('t', tenantId)) throw new Error(`not a tenant id: ${JSON.stringify(tenantId)}`);
  return join(tenantsDir(dataDir), `${tenantId}.duckdb`);
}

export function ensureDataDir(dataDir: string): void {
  mkdirSync(tenantsDir(dataDir), { recursive: true, mode: 0o700 });
}

export function isWritable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Reads the lock if a live process holds it; a lock left by a dead process reads as null. */
export function readLiveLock(dataDir: string): Lock | null {
  let lock: Lock;
  try {
    lock = JSON.parse(readFileSync(lockPath(dataDir), 'utf8')) as Lock;
  } catch {
    return null;
  }
  return lock.pid !== process.pid && isAlive(lock.pid) ? lock : null;
}

/** Takes the lock or throws DataDirLockedError. Returns a function that releases it. */
export function acquireLock(dataDir: string, adminSocket: string | null): () => void {
  const path = lockPath(dataDir);
  const body: Lock = { pid: process.pid, startedAt: new Date().toISOString(), adminSocket };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify(body));
      closeSync(fd);
      chmodSync(path, 0o600);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readLiveLock(dataDir);
      if (holder) throw new DataDirLockedError(dataDir, holder);
      rmSync(path, { force: true }); // left by a process that no longer runs
    }
  }
  throw new Error(`could not take the lock ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
