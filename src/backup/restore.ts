// `agentmeter restore`: a verified backup copied into an empty data directory, which a
// server then starts on as on any other. Nothing runs against the backup's files in place.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { prepareTarget, why } from './backup.js';
import { BackupError, describeFile, fsyncPath, verifyBackup, type Manifest, type ManifestTenant } from './manifest.js';
import { recordBackup } from './record.js';
import { openDatabase } from '../storage/duckdb.js';
import { controlPath } from '../storage/datadir.js';

export type Restored = {
  data_dir: string;
  from: string;
  created_at: string;
  files: number;
  bytes: number;
  tenants: ManifestTenant[];
};

/** Checks the backup's checksums, then copies it into `dataDir` (absent or empty) and checks the copies. */
export async function restoreBackup(from: string, dataDir: string): Promise<Restored> {
  const checked = await verifyBackup(from);
  if (!checked.ok)
    throw new BackupError(`${from} is damaged; nothing was restored:\n  ${checked.problems.join('\n  ')}`);
  const { manifest } = checked;
  if (manifest.kind !== 'full')
    throw new BackupError(
      `${from} is one tenant's export; use "agentmeter tenant import --from ${from}" on a running appliance`,
    );
  const undo = prepareTarget(dataDir, 'a restore');
  try {
    mkdirSync(join(dataDir, 'tenants'), { mode: 0o700 });
    for (const f of manifest.files) {
      const target = join(dataDir, f.path);
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      copyFileSync(join(from, f.path), target);
      fsyncPath(target);
      const copied = await describeFile(dataDir, f.path);
      if (copied.sha256 !== f.sha256)
        throw new BackupError(`${f.path} changed while it was copied to ${dataDir}; nothing was restored`);
    }
    fsyncPath(join(dataDir, 'tenants'));
    fsyncPath(dataDir);
    await recordRestored(dataDir, manifest);
  } catch (err) {
    undo();
    throw err instanceof BackupError ? err : new BackupError(`restore into ${dataDir} failed: ${why(err)}`);
  }
  return {
    data_dir: dataDir,
    from,
    created_at: manifest.created_at,
    files: checked.files,
    bytes: checked.bytes,
    tenants: manifest.tenants,
  };
}

/**
 * The restored appliance's newest backup is this one (its control file recorded the one
 * before). A control file this build cannot open (written by a newer one) is left as it is:
 * the server's start says why, and the record is not worth failing the restore for.
 */
async function recordRestored(dataDir: string, manifest: Manifest): Promise<void> {
  let control;
  try {
    control = await openDatabase(controlPath(dataDir));
  } catch {
    return;
  }
  try {
    await recordBackup(control, manifest);
  } finally {
    await control.close();
  }
}
