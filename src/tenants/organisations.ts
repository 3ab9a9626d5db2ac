// What the super admin's organisations page shows of each tenant: its people, its file's
// size on disk, how many events the file holds and when the last one arrived. A tenant
// whose file is unavailable is listed with the reason, never breaks the list.
import { statSync } from 'node:fs';
import type { Database } from '../storage/duckdb.js';
import { TenantUnavailableError } from '../storage/errors.js';
import { tenantPath } from '../storage/datadir.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { listTenants, type TenantSummary } from './tenants.js';

export type Organisation = TenantSummary & {
  /** Bytes of the file and its write-ahead log; null when there is no file. */
  bytes: number | null;
  events: number | null;
  lastEventAt: Date | null;
  /** Why the file could not be read, or null. */
  unavailable: string | null;
};

export async function listOrganisations(deps: {
  control: Database;
  tenantFiles: TenantFiles;
  dataDir: string;
}): Promise<Organisation[]> {
  const tenants = await listTenants(deps.control);
  return Promise.all(
    tenants.map(async (t) => ({
      ...t,
      bytes: sizeOnDisk(tenantPath(deps.dataDir, t.id)),
      ...(await eventsOf(deps.tenantFiles, t.id)),
    })),
  );
}

function sizeOnDisk(path: string): number | null {
  const size = (p: string) => {
    try {
      const s = statSync(p);
      return s.isFile() ? s.size : null;
    } catch {
      return null;
    }
  };
  const file = size(path);
  return file === null ? null : file + (size(`${path}.wal`) ?? 0);
}

async function eventsOf(
  tenantFiles: TenantFiles,
  tenantId: string,
): Promise<Pick<Organisation, 'events' | 'lastEventAt' | 'unavailable'>> {
  try {
    const conn = await tenantFiles.connection(tenantId, 'reader');
    const row = await conn.get<{ events: number; last: Date | null }>(
      'SELECT count(*) AS events, max(received_at) AS last FROM events',
    );
    return { events: Number(row?.events ?? 0), lastEventAt: row?.last ?? null, unavailable: null };
  } catch (err) {
    return {
      events: null,
      lastEventAt: null,
      unavailable: err instanceof TenantUnavailableError ? err.reason : 'unreadable',
    };
  }
}
