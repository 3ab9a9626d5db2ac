// The backup commands the CLI runs itself, on files rather than on a data directory a server
// holds: `restore` (into a new data directory) and `backup verify`.
import { BackupError, notCopied, verifyBackup } from '../backup/manifest.js';
import { restoreBackup } from '../backup/restore.js';
import { CommandError } from '../admin/commands.js';
import { DataDirLockedError, readLiveLock, whereHeld } from '../storage/datadir.js';

export const LOCAL_BACKUP_COMMANDS = ['restore', 'backup verify'] as const;
export type LocalBackupCommand = (typeof LOCAL_BACKUP_COMMANDS)[number];

export const isLocalBackupCommand = (name: string): name is LocalBackupCommand =>
  (LOCAL_BACKUP_COMMANDS as readonly string[]).includes(name);

/**
 * Runs the command; `ok: false` (a damaged backup found by verify) makes the exit status 1.
 * `notCopied`: the tenants the backup holds no file of (incomplete, see `incompleteBackup`).
 */
export async function runLocalBackup(
  name: LocalBackupCommand,
  from: string | undefined,
  dataDir: string,
): Promise<{ ok: boolean; result: unknown; notCopied: ReturnType<typeof notCopied> }> {
  if (!from) throw new CommandError('--from: is required (the backup directory)');
  try {
    if (name === 'backup verify') {
      const v = await verifyBackup(from);
      return {
        ok: v.ok,
        notCopied: notCopied(v.manifest),
        result: {
          ok: v.ok,
          kind: v.manifest.kind,
          created_at: v.manifest.created_at,
          files: v.files,
          bytes: v.bytes,
          tenants: v.manifest.tenants.length,
          problems: v.problems,
          not_copied: notCopied(v.manifest),
        },
      };
    }
    const held = await readLiveLock(dataDir);
    // A running server's directory is never empty: what to do is choose another, not stop it.
    if (held)
      throw new CommandError(
        held.pid === 0
          ? new DataDirLockedError(dataDir, held).message
          : `--data-dir: ${dataDir} is a running server's data directory (${whereHeld(held)}, started ${held.startedAt}); a restore goes into a new or empty directory, then start a server on it`,
      );
    const restored = await restoreBackup(from, dataDir);
    return { ok: true, result: restored, notCopied: notCopied(restored) };
  } catch (err) {
    throw err instanceof BackupError ? new CommandError(err.message) : err;
  }
}

/**
 * What the operator is told of a backup that left tenants out (their file could not be
 * copied): the files it holds are good, but it is not everything. Exit status 2, so a cron
 * job sees it, where 1 is a backup that failed or is damaged.
 */
export function incompleteBackup(what: string, left: ReturnType<typeof notCopied>, json: boolean): number {
  if (!left.length) return 0;
  const names = left.map((t) => `${t.name} (${t.id}${t.why ? `: ${t.why}` : ''})`).join(', ');
  const message = `${what} is incomplete: ${left.length} tenant${left.length > 1 ? 's' : ''} not copied: ${names}`;
  process.stderr.write(json ? `${JSON.stringify({ warning: message })}\n` : `agentmeter: ${message}\n`);
  return 2;
}
