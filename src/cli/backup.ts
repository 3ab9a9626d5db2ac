// The backup commands the CLI runs itself, on files rather than on a data directory a server
// holds: `restore` (into a new data directory) and `backup verify`.
import { BackupError, verifyBackup } from '../backup/manifest.js';
import { restoreBackup } from '../backup/restore.js';
import { CommandError } from '../admin/commands.js';
import { readLiveLock } from '../storage/datadir.js';

export const LOCAL_BACKUP_COMMANDS = ['restore', 'backup verify'] as const;
export type LocalBackupCommand = (typeof LOCAL_BACKUP_COMMANDS)[number];

export const isLocalBackupCommand = (name: string): name is LocalBackupCommand =>
  (LOCAL_BACKUP_COMMANDS as readonly string[]).includes(name);

/** Runs the command; `ok: false` (a damaged backup found by verify) makes the exit status 1. */
export async function runLocalBackup(
  name: LocalBackupCommand,
  from: string | undefined,
  dataDir: string,
): Promise<{ ok: boolean; result: unknown }> {
  if (!from) throw new CommandError('--from: is required (the backup directory)');
  try {
    if (name === 'backup verify') {
      const v = await verifyBackup(from);
      return {
        ok: v.ok,
        result: {
          ok: v.ok,
          kind: v.manifest.kind,
          created_at: v.manifest.created_at,
          files: v.files,
          bytes: v.bytes,
          tenants: v.manifest.tenants.length,
          problems: v.problems,
        },
      };
    }
    const held = await readLiveLock(dataDir);
    if (held) throw new CommandError(`--data-dir: ${dataDir} is in use by a running server (pid ${held.pid})`);
    return { ok: true, result: await restoreBackup(from, dataDir) };
  } catch (err) {
    throw err instanceof BackupError ? new CommandError(err.message) : err;
  }
}
