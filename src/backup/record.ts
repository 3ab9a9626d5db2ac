// What the appliance remembers of its backups, in the control database's `settings`: when
// the newest was taken, how many tenants it left out, and when the newest complete one was
// taken. A restart keeps them, so an alert on a backup's age (`/metrics`) does not fire
// because the server restarted, nor stay quiet because a backup was left incomplete.
import type { Database } from '../storage/duckdb.js';
import { notCopied, type Manifest } from './manifest.js';

export type BackupRecord = {
  /** The newest backup written (complete or not), as its manifest dates it, in ms. */
  lastAt: number | null;
  /** Tenants the newest backup holds no file of. */
  lastNotCopied: number | null;
  /** The newest backup that holds every tenant. */
  lastCompleteAt: number | null;
};

const KEYS = { last: 'backup_last', complete: 'backup_last_complete' } as const;

/** Records a backup just written (its manifest's date and tenants). */
export async function recordBackup(control: Database, backup: Pick<Manifest, 'created_at' | 'tenants'>) {
  const left = notCopied(backup).length;
  const rows: [string, string][] = [[KEYS.last, JSON.stringify({ at: backup.created_at, not_copied: left })]];
  if (left === 0) rows.push([KEYS.complete, JSON.stringify({ at: backup.created_at })]);
  await control.transaction(async (tx) => {
    for (const [key, value] of rows)
      await tx.run('INSERT OR REPLACE INTO settings VALUES ($key, $value)', { key, value });
  });
}

export async function readBackupRecord(control: Database): Promise<BackupRecord> {
  const rows = await control.all<{ key: string; value: string }>(
    'SELECT key, value FROM settings WHERE key IN ($last, $complete)',
    { last: KEYS.last, complete: KEYS.complete },
  );
  const read = (key: string) => {
    const row = rows.find((r) => r.key === key);
    return row ? (JSON.parse(row.value) as { at: string; not_copied?: number }) : null;
  };
  const last = read(KEYS.last);
  const complete = read(KEYS.complete);
  return {
    lastAt: last ? Date.parse(last.at) : null,
    lastNotCopied: last?.not_copied ?? null,
    lastCompleteAt: complete ? Date.parse(complete.at) : null,
  };
}
