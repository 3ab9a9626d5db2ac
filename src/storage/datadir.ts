// The data directory: control database, one DuckDB file per tenant, and a lock that
// keeps a second process away (it names the running server so the CLI can ask it).
import type { Logger } from '../log.js';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { open, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { connect } from 'node:net';
import { isId } from '../ids.js';

/**
 * The lock's content. `host` and `pidNamespace` say where `pid` means something: a process
 * in another PID namespace (a container; it has another host name too) is not seen by
 * kill(pid, 0) here, so its lock is judged by its admin socket instead (readLiveLock). A
 * socket made by another machine's kernel never answers here: a data directory on a network
 * disk shared by two machines is guarded only by DuckDB's own file locks.
 */
export type Lock = {
  pid: number;
  startedAt: string;
  adminSocket: string | null;
  host?: string;
  pidNamespace?: string | null;
};

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: Lock,
  ) {
    super(
      holder.pid === 0
        ? `data directory ${dataDir}: its lock (${lockPath(dataDir)}) cannot be read by this user; run the command as the user the server runs as (sudo -u agentmeter …)`
        : `data directory ${dataDir} is in use by another agentmeter process (${whereHeld(holder)}, started ${holder.startedAt}); stop it first, or delete ${lockPath(dataDir)} if you are sure it is not running`,
    );
  }
}

/** Where the holder of a lock runs, as a message names it: `pid 7`, `pid 7 on c1`. */
export const whereHeld = (lock: Lock) =>
  lock.host !== undefined && lock.host !== hostname()
    ? `pid ${lock.pid} on ${lock.host}`
    : lock.pidNamespace && lock.pidNamespace !== PID_NAMESPACE
      ? `pid ${lock.pid} in another PID namespace, a container perhaps`
      : `pid ${lock.pid}`;

/** This process's PID namespace (Linux), as the lock records it; null where there is none to read. */
const PID_NAMESPACE = (() => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
})();

export const controlPath = (dataDir: string) => join(dataDir, 'control.duckdb');
export const tenantsDir = (dataDir: string) => join(dataDir, 'tenants');
export const lockPath = (dataDir: string) => join(dataDir, 'agentmeter.lock');

/** The tenant's file. Only generated tenant ids are accepted, so no input can pick a path. */
export function tenantPath(dataDir: string, tenantId: string): string {
  if (!isId('t', tenantId)) throw new Error(`not a tenant id: ${JSON.stringify(tenantId)}`);
  return join(tenantsDir(dataDir), `${tenantId}.duckdb`);
}

/** The tenant's ingest journal (a directory of segments beside its file: src/storage/journal.ts). */
export function journalPath(dataDir: string, tenantId: string): string {
  return tenantPath(dataDir, tenantId).replace(/\.duckdb$/, '.journal');
}

/**
 * Makes the data directory if missing, and keeps it this account's alone: one made beforehand
 * open to others (0755 by hand or for a Docker volume) is narrowed to 0700, so files written
 * there before (0644, under an earlier version or another umask) cannot be read through it.
 * Says what it narrowed, or why it could not (not the owner), for the log.
 */
/**
 * Whether `path` is `dataDir` or inside it, links followed (of what exists of either): no
 * place for a backup or an export, which the next start may empty (tmp/) and a failed disk
 * takes with the data.
 */
export function isInDataDir(dataDir: string, path: string): boolean {
  const real = (p: string): string => {
    const tail: string[] = [];
    for (let at = resolve(p); ; at = dirname(at)) {
      try {
        return join(realpathSync(at), ...tail.reverse());
      } catch {
        if (dirname(at) === at) return resolve(p);
        tail.push(basename(at));
      }
    }
  };
  const rel = relative(real(dataDir), real(path));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

export function ensureDataDir(dataDir: string): { narrowed: string } | { open: string; why: string } | null {
  mkdirSync(tenantsDir(dataDir), { recursive: true, mode: 0o700 });
  const mode = statSync(dataDir).mode & 0o777;
  if ((mode & 0o077) === 0) return null;
  const was = `0${mode.toString(8)}`;
  try {
    chmodSync(dataDir, mode & 0o700);
    return { narrowed: was };
  } catch (err) {
    return { open: was, why: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}

/**
 * Writes a small file in `dir`, flushes it to the disk, and removes it: what a commit
 * needs. Permissions alone (access W_OK) say nothing of a full disk. Throws the write's error.
 */
export async function probeWrite(dir: string): Promise<void> {
  const path = join(dir, `.write-probe-${process.pid}`);
  const file = await open(path, 'w', 0o600);
  try {
    await file.writeFile(PROBE);
    await file.sync();
  } finally {
    await file.close();
    await rm(path, { force: true });
  }
}

const PROBE = Buffer.alloc(4096, 0x2a); // a page: the smallest write that needs a free block

/**
 * Reads the lock unless it is shown to be stale: null when there is none, when it is not a
 * lock (a write cut short), or when its process is gone. A process this one cannot see (on
 * another host, in another PID namespace: a container) is gone when its admin socket in the
 * data directory, which both see, no longer answers; without one there is no telling, and
 * the lock is held. So is a lock this process may not read.
 */
export async function readLiveLock(dataDir: string): Promise<Lock | null> {
  return (await judgeLock(dataDir)).holder;
}

/** The lock file's text, or null when there is none. */
const lockText = (dataDir: string): string | null => {
  try {
    return readFileSync(lockPath(dataDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
};

/** The lock as read (`text`), and its holder unless it is shown to be stale (readLiveLock). */
async function judgeLock(dataDir: string): Promise<{ text: string | null; holder: Lock | null }> {
  let text: string | null;
  try {
    text = lockText(dataDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      text: null,
      holder: { pid: 0, startedAt: `unknown: the lock cannot be read (${code})`, adminSocket: null },
    };
  }
  if (text === null) return { text, holder: null };
  let lock: Lock;
  try {
    lock = JSON.parse(text) as Lock;
  } catch {
    return { text, holder: null };
  }
  if (typeof lock?.pid !== 'number') return { text, holder: null };
  const seen =
    (lock.host === undefined || lock.host === hostname()) &&
    (!lock.pidNamespace || lock.pidNamespace === PID_NAMESPACE);
  if (!seen) return { text, holder: (await socketAnswers(lock, dataDir)) ? lock : null };
  return { text, holder: lock.pid !== process.pid && isAlive(lock.pid) ? lock : null };
}

/**
 * The holder's admin socket as this process reaches it: the one in the data directory (a
 * container's path to it may differ from ours), else the path the lock names (a deep data
 * directory's, in the holder's /tmp).
 */
export function adminSocketOf(lock: Lock, dataDir: string): string | null {
  if (!lock.adminSocket) return null;
  return basename(lock.adminSocket) === ADMIN_SOCKET ? join(dataDir, ADMIN_SOCKET) : lock.adminSocket;
}

/** The admin socket's name in the data directory. */
export const ADMIN_SOCKET = 'admin.sock';
/** Unix socket paths are limited to 107 bytes; a longer one is not used (adminSocketPath). */
export const MAX_SOCKET_PATH = 100;

/** Whether an unseen holder may still run: its socket in the data directory answers, or there is no such socket to ask. */
function socketAnswers(lock: Lock, dataDir: string): Promise<boolean> {
  const socket = adminSocketOf(lock, dataDir);
  // A path past the limit of a socket's cannot be connected to (ENOENT though it listens): no telling.
  if (!socket || socket !== join(dataDir, ADMIN_SOCKET) || Buffer.byteLength(socket) >= MAX_SOCKET_PATH)
    return Promise.resolve(true);
  return new Promise((resolve) => {
    const probe = connect(socket);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    // Refused, or no socket file: nothing listens there any more (a crash leaves the file, not a listener).
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(!['ECONNREFUSED', 'ENOENT'].includes(err.code ?? '')));
  });
}

/** Takes the lock or throws DataDirLockedError. Returns a function that releases it. */
export async function acquireLock(dataDir: string, adminSocket: string | null, log?: Logger): Promise<() => void> {
  const path = lockPath(dataDir);
  const body: Lock = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    adminSocket,
    host: hostname(),
    pidNamespace: PID_NAMESPACE,
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify(body));
      closeSync(fd);
      chmodSync(path, 0o600);
      // Only our own: a process that judged it stale wrongly may have put its own there since.
      return () => {
        if (lockText(dataDir) === JSON.stringify(body)) rmSync(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const { text, holder } = await judgeLock(dataDir);
      if (holder) throw new DataDirLockedError(dataDir, holder);
      // Left by a process that no longer runs, unless another process took it while we looked.
      if (text === null || lockText(dataDir) === text) {
        rmSync(path, { force: true });
        if (text !== null) log?.warn('took over a lock left by a process that no longer runs', { path, lock: text });
      }
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
