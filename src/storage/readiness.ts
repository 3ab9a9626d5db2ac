// What /readyz asks of storage: the control database answers, the data directory takes a
// write that reaches the disk, and each tenant's file is usable. Each check is 'ok' or
// 'failed: why'; a tenant whose file fails is named alone (by id: the answer is public).
import type { Database } from './duckdb.js';
import { probeWrite } from './datadir.js';
import { TenantUnavailableError } from './errors.js';
import type { TenantFiles } from './tenant-files.js';

export type StorageChecks = { control_db: string; data_dir: string; tenants: Record<string, string> };

export async function storageReadiness({
  control,
  tenantFiles,
  dataDir,
}: {
  control: Database;
  tenantFiles: TenantFiles;
  dataDir: string;
}): Promise<{ ready: boolean; checks: StorageChecks }> {
  const [controlDb, dataDirCheck, tenants] = await Promise.all([
    control.get('SELECT 1 AS ok').then(ok, (err: Error) => `failed: ${err.message}`),
    // The error's code only: its message names the path.
    probeWrite(dataDir).then(ok, (err: NodeJS.ErrnoException) => `failed: cannot write (${err.code ?? err.message})`),
    // Opening an open tenant's file is one stat; an unavailable one is tried again only after its backoff.
    control.all<{ id: string }>('SELECT id FROM tenants ORDER BY id').then(
      (rows) =>
        Promise.all(
          rows.map(
            async ({ id }) =>
              [
                id,
                await tenantFiles
                  .open(id)
                  .then(
                    ok,
                    (err: Error) => `failed: ${err instanceof TenantUnavailableError ? err.reason : err.message}`,
                  ),
              ] as const,
          ),
        ),
      () => [],
    ),
  ]);
  const checks = { control_db: controlDb, data_dir: dataDirCheck, tenants: Object.fromEntries(tenants) };
  return {
    ready: controlDb === 'ok' && dataDirCheck === 'ok' && tenants.every(([, status]) => status === 'ok'),
    checks,
  };
}

const ok = () => 'ok';
