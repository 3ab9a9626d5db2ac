// Run by ingest-journal.test.ts in a child process: journals events for a tenant, then kills
// itself (SIGKILL) as soon as they are acknowledged, before DuckDB could apply them (the
// apply starts on the event loop's next turn; this runs in the same turn as the answer).
import { createIngestor, type Ingestor } from '../src/ingest/ingest.js';
import { journalPath } from '../src/storage/datadir.js';
import { createTenantFiles } from '../src/storage/tenant-files.js';

const [dataDir, tenantId, count] = process.argv.slice(2) as [string, string, string];
let ingest: Ingestor | null = null;
const files = createTenantFiles(dataDir, { afterOpen: (id, db) => ingest!.recover(id, db) });
ingest = createIngestor(files, { maxRows: 20_000, journalDir: (id) => journalPath(dataDir, id) });
await files.open(tenantId, { settled: false });
// Concurrent requests: one group commit, one record each.
await Promise.all(
  Array.from({ length: Number(count) }, (_, i) =>
    ingest.accept({ tenantId, userId: 'u_1' }, 'rest', [{ kind: 'prompt', id: `k${i}`, session_id: 'killed' }]),
  ),
);
process.kill(process.pid, 'SIGKILL');
