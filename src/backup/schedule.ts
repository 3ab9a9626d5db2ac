// Backups on demand and on a schedule (`--backup-dir`, `--backup-every`, `--backup-keep`): a backup into
// `<backup dir>/agentmeter-<UTC time>` once the newest there is `every` old, then the
// oldest beyond `keep` removed. Checked on a timer; the clock is a parameter.
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { takeBackup, type BackupDeps, type BackupResult } from './backup.js';
import { MANIFEST, notCopied, readManifest } from './manifest.js';
import { readBackupRecord, recordBackup, type BackupRecord } from './record.js';

export type BackupSettings = { dir: string; everyMs: number; keep: number };

export type Backups = {
  /** A backup into `dir` now (`agentmeter backup`), never at the same time as another. */
  backupNow(dir: string): Promise<BackupResult>;
  start(): void;
  stop(): Promise<void>;
  /** Takes a backup if one is due at `deps.now()` and prunes; null when none was due (or no schedule is set). */
  runDue(): Promise<BackupResult | null>;
  /** What `/metrics` shows: the newest backups recorded (record.ts), and the failures since the process started. */
  state(): Promise<BackupRecord & { failures: number }>;
};

const PREFIX = 'agentmeter-';
const CHECK_MS = 60_000;
/** How often the schedule looks whether a backup is due. */
const checkEvery = (everyMs: number) => Math.min(CHECK_MS, everyMs);
/** The names scheduledName gives, and only those. */
const SCHEDULED = /^agentmeter-\d{8}T\d{6}Z$/;

/** Whether `dir` holds a manifest that reads (a damaged one is logged by whoever restores it). */
function readable(dir: string): boolean {
  try {
    readManifest(dir);
    return true;
  } catch {
    return false;
  }
}

/** Whether `dir` has no manifest at all (an interrupted backup); one that cannot be read is not removed. */
function manifestMissing(dir: string): boolean {
  try {
    statSync(join(dir, MANIFEST));
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** `agentmeter-20261205T043000Z`: sorts by time. */
export const scheduledName = (at: Date) =>
  `${PREFIX}${at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;

export function createBackups(given: BackupDeps, settings: BackupSettings | null): Backups {
  // One connection for every copy of the control database, made on the first.
  let controlConnection: ReturnType<NonNullable<BackupDeps['controlConnection']>> | null = null;
  const connectControl = () => {
    if (!controlConnection) {
      const made = (controlConnection = given.control.connect());
      made.catch(() => controlConnection === made && (controlConnection = null)); // tried again next time
    }
    return controlConnection;
  };
  const deps: BackupDeps = { ...given, controlConnection: connectControl };
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> = Promise.resolve(null);
  let failures = 0;

  /** A backup into `dir`, recorded; one that left tenants out is logged as such (it is written, not failed). */
  const take = async (dir: string): Promise<BackupResult> => {
    const result = await takeBackup(deps, dir);
    const left = notCopied(result);
    if (left.length) deps.log?.error('backup incomplete: tenants not copied', { dir, tenants: left });
    await recordBackup(deps.control, result).catch((err: unknown) =>
      deps.log?.warn('backup written but not recorded (/metrics)', { dir, error: (err as Error).message }),
    );
    return result;
  };

  /**
   * The schedule's own backups whose manifest reads, oldest first. Anything else in the
   * directory (a backup named by hand, one whose manifest was damaged) is neither the newest
   * nor pruned: left alone.
   */
  const complete = () =>
    readdirSync(settings!.dir)
      .filter((name) => SCHEDULED.test(name) && readable(join(settings!.dir, name)))
      .sort();

  const remove = (path: string, why: string) => {
    try {
      rmSync(path, { recursive: true, force: true });
      deps.log?.info(`backup removed (${why})`, { dir: path });
    } catch (err) {
      deps.log?.warn(`could not remove a backup (${why})`, { dir: path, error: (err as Error).message });
    }
  };

  const due = async (): Promise<BackupResult | null> => {
    if (!settings) return null;
    const { dir, everyMs, keep } = settings;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const now = deps.now();
    const newest = complete().at(-1);
    // Half a check early is due: the check an interval after a backup comes a few ms before
    // the interval is up (the backup is dated after its check), and waiting for the next one
    // made every 1m every 2 minutes and a daily backup a minute later each day.
    const age = newest ? now.getTime() - Date.parse(readManifest(join(dir, newest)).created_at) : Infinity;
    if (age < everyMs - checkEvery(everyMs) / 2) return null;
    // What an interrupted scheduled backup left (no manifest) is not a backup. Removing it or
    // an old one is housekeeping: one that fails (EACCES) is logged, it stops no backup.
    for (const name of readdirSync(dir))
      if (SCHEDULED.test(name) && manifestMissing(join(dir, name))) remove(join(dir, name), 'interrupted');
    const result = await take(join(dir, scheduledName(now)));
    for (const old of complete().slice(0, -keep)) remove(join(dir, old), 'past --backup-keep');
    return result;
  };

  /**
   * One backup at a time: each waits for the one before. Any failure is counted, also one
   * before the copy (a backup directory that cannot be made, a volume not mounted).
   */
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = running
      .catch(() => null)
      .then(fn)
      .catch((err: unknown) => {
        failures++;
        throw err;
      });
    running = next;
    return next;
  };
  const runDue = () => serial(due);

  return {
    backupNow: (dir) => serial(() => take(dir)),
    start() {
      if (!settings || timer) return;
      timer = setInterval(() => {
        runDue().catch((err: unknown) => deps.log?.error('scheduled backup failed', { error: (err as Error).message }));
      }, checkEvery(settings.everyMs)).unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await running.catch(() => undefined);
    },
    runDue,
    state: async () => ({ ...(await readBackupRecord(deps.control)), failures }),
  };
}
