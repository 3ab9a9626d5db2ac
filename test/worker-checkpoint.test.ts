// The aggregation worker's CHECKPOINT holds every commit to the file while it writes, so an
// apply of acknowledged events would wait behind it: it runs only while ingest has nothing to
// apply, and once ingest has kept it waiting `checkpointDeferMs`, anyway. Whether a checkpoint
// ran is read from the file's WAL (a checkpoint empties it). The worker's clock and the apply
// window's timer are the test's, so nothing here depends on the machine's speed.
import { existsSync, statSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createAggregator } from '../src/aggregate/worker.js';
import { createIngestor } from '../src/ingest/ingest.js';
import { createLogger } from '../src/log.js';
import { sessionSteps } from '../src/sessions/worker-steps.js';
import { journalPath, tenantPath } from '../src/storage/datadir.js';
import { createTenantFiles } from '../src/storage/tenant-files.js';
import { newId } from '../src/ids.js';
import { manualTimer, tempDir, turns, waitFor } from './helpers.js';

const WINDOW_MS = 25;
const EVERY_MS = 10_000;
const DEFER_MS = 60_000;

test('a checkpoint waits while an apply is pending, runs once ingest is idle, and after DEFER_MS anyway', async () => {
  const dir = tempDir('am-worker-checkpoint');
  const tenantId = newId('t');
  const window = manualTimer();
  let now = Date.UTC(2026, 11, 5, 12);
  let ingest: ReturnType<typeof createIngestor> | null = null;
  const files = createTenantFiles(dir.path, {
    afterOpen: (id, db) => ingest!.recover(id, db),
    beforeRead: (id) => ingest!.settled(id),
  });
  ingest = createIngestor(files, {
    maxRows: 20_000,
    applyWindowMs: WINDOW_MS,
    timer: window.timer,
    journalDir: (id) => journalPath(dir.path, id),
  });
  const who = { tenantId, userId: 'u_1' };
  let n = 0;
  const hook = () => ingest!.accept(who, 'hook', [{ kind: 'tool_call', id: `h${++n}`, name: 'Bash' }]);
  // A hook acknowledged while a pass runs, after its rollups: its apply waits for the window.
  let hookDuringPass = false;
  const errors: string[] = [];
  const aggregator = createAggregator({
    tenantFiles: files,
    sessions: {
      ...sessionSteps,
      async settle(file, db, at) {
        if (hookDuringPass) await hook();
        await sessionSteps.settle(file, db, at);
      },
    },
    tenants: async () => [tenantId],
    log: createLogger('error', (line) => errors.push(line)),
    now: () => now,
    checkpointEveryMs: EVERY_MS,
    checkpointDeferMs: DEFER_MS,
    ingestIdle: (id) => ingest!.idle(id),
  });
  const walBytes = () => {
    const wal = `${tenantPath(dir.path, tenantId)}.wal`;
    return existsSync(wal) ? statSync(wal).size : 0;
  };
  /** One pass; whether a hook arrives during it. */
  const pass = async (withHook: boolean) => {
    hookDuringPass = withHook;
    await aggregator.runOnce(tenantId);
    assert.equal(errors, [], 'the worker logged no failure');
  };
  /** Closes the apply window: the pending hook is applied. */
  const applyPending = async () => {
    window.advance(WINDOW_MS);
    await turns();
    await waitFor(async () => ingest!.idle(tenantId) || undefined, 'the apply');
  };
  try {
    await files.create(tenantId);
    await ingest.ingest(who, 'rest', [{ kind: 'prompt', id: 'p1' }]);
    assert.ok(ingest.idle(tenantId), 'nothing pending after a write that waited');

    await pass(true);
    assert.not.ok(ingest.idle(tenantId), 'the hook acknowledged during the pass waits for its window');
    assert.ok(walBytes() > 0, 'no checkpoint while an apply is pending: the rollup is still in the WAL');

    await applyPending();
    now += 1000;
    await pass(false);
    assert.is(walBytes(), 0, 'once ingest is idle, the next pass checkpoints');

    // Busy at every pass: deferred until DEFER_MS after it was due, then run anyway.
    now += EVERY_MS;
    await ingest.ingest(who, 'rest', [{ kind: 'prompt', id: 'p2' }]);
    await pass(true);
    assert.ok(walBytes() > 0, 'busy: deferred');
    await applyPending();
    now += DEFER_MS - 1;
    await pass(true);
    assert.ok(walBytes() > 0, 'busy, 1 ms short of the bound: still deferred');
    await applyPending();
    now += 1;
    await pass(true);
    assert.not.ok(ingest.idle(tenantId), 'an apply is pending');
    assert.is(walBytes(), 0, 'busy at the bound: checkpointed anyway');
    await applyPending();
  } finally {
    await ingest.close();
    await files.closeAll();
    dir.remove();
  }
});

test.run();
