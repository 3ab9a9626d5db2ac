// When the aggregation worker does its heavy work, so that ingest does not wait on it. Its
// CHECKPOINT holds every commit to the file while it writes: it runs only while ingest has
// nothing to apply, and once ingest has kept it waiting `checkpointDeferMs`, anyway (whether
// one ran is read from the file's WAL: a checkpoint empties it). A slow pass is followed by a
// longer pause (at most MAX_PAUSE_MS), and one tenant's backlog takes turns with the others.
// The clocks and timers are the test's: nothing depends on the machine's speed.
import { existsSync, statSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createAggregator, MAX_PAUSE_MS, PASS_SPACING, TURN_MS } from '../src/aggregate/worker.js';
import { createIngestor } from '../src/ingest/ingest.js';
import { createLogger } from '../src/log.js';
import { sessionSteps } from '../src/sessions/worker-steps.js';
import { tenantPath } from '../src/storage/datadir.js';
import { createTenantFiles } from '../src/storage/tenant-files.js';
import { newId } from '../src/ids.js';
import { journalingIngest, manualTimer, tempDir, turns, waitFor } from './helpers.js';

const WINDOW_MS = 25;
const EVERY_MS = 10_000;
const DEFER_MS = 60_000;

test('a checkpoint waits while an apply is pending, runs once ingest is idle, and after DEFER_MS anyway', async () => {
  const dir = tempDir('am-worker-checkpoint');
  const tenantId = newId('t');
  const window = manualTimer();
  let now = Date.UTC(2026, 11, 5, 12);
  const { files, ingest } = journalingIngest(dir.path, window.timer, WINDOW_MS);
  const who = { tenantId, userId: 'u_1' };
  let n = 0;
  const hook = () => ingest.accept(who, 'hook', [{ kind: 'tool_call', id: `h${++n}`, name: 'Bash' }]);
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
    ingestIdle: (id) => ingest.idle(id),
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
    await waitFor(async () => ingest.idle(tenantId) || undefined, 'the apply');
  };
  try {
    await files.create(tenantId);
    await ingest.ingest(who, 'rest', [{ kind: 'prompt', id: 'p1' }]);
    assert.not.ok(ingest.idle(tenantId), 'a write applied, but within the last apply window: not idle yet');
    window.advance(WINDOW_MS - 1);
    assert.not.ok(ingest.idle(tenantId), '1 ms short of a window since: not idle yet');
    window.advance(1);
    assert.ok(ingest.idle(tenantId), 'nothing pending or offered for a window: idle');

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

test('after a slow pass the worker pauses PASS_SPACING times its length (at most MAX_PAUSE_MS), after a quick one its interval', async () => {
  const dir = tempDir('am-worker-spacing');
  const tenantId = newId('t');
  const clock = manualTimer();
  const files = createTenantFiles(dir.path);
  // How long the next pass takes on the test's clock (it moves while the pass runs).
  let passMs = 0;
  let passes = 0;
  const errors: string[] = [];
  const aggregator = createAggregator({
    tenantFiles: files,
    sessions: sessionSteps,
    tenants: async () => {
      passes++;
      clock.advance(passMs);
      return [tenantId];
    },
    log: createLogger('error', (line) => errors.push(line)),
    intervalMs: 1000,
    timer: clock.timer,
  });
  const nextPause = async (pass: number) => {
    await waitFor(async () => (passes === pass && clock.armed().length === 1) || undefined, `pass ${pass} ended`);
    return clock.armed()[0]!.ms;
  };
  try {
    await files.create(tenantId);
    passMs = 1000;
    aggregator.start();
    assert.is(await nextPause(1), PASS_SPACING * 1000, 'a 1 s pass: a pause of PASS_SPACING times it');
    passMs = 10;
    clock.advance(PASS_SPACING * 1000);
    assert.is(await nextPause(2), 1000, 'a 10 ms pass: the interval');
    passMs = 60_000;
    clock.advance(1000);
    assert.is(await nextPause(3), MAX_PAUSE_MS, 'a minute-long pass: no more than MAX_PAUSE_MS');
    assert.equal(errors, [], 'the worker logged no failure');
  } finally {
    await aggregator.stop();
    await files.closeAll();
    dir.remove();
  }
});

test("one tenant's backlog takes turns of TURN_MS: the other tenant's events are rolled up in the first pass", async () => {
  const dir = tempDir('am-worker-turns');
  const [big, small] = [newId('t'), newId('t')];
  const clock = manualTimer();
  const files = createTenantFiles(dir.path);
  const ingestor = createIngestor(files);
  // Each chunk rolled up takes 2 s on the test's clock.
  const CHUNK_MS = 2000;
  const sessions = {
    ...sessionSteps,
    rolledUp: async (...args: Parameters<typeof sessionSteps.rolledUp>) => {
      clock.advance(CHUNK_MS);
      return sessionSteps.rolledUp(...args);
    },
  };
  let passes = 0;
  const errors: string[] = [];
  const aggregator = createAggregator({
    tenantFiles: files,
    sessions,
    tenants: async () => {
      passes++;
      return [big, small];
    },
    log: createLogger('error', (line) => errors.push(line)),
    intervalMs: 1000,
    chunk: 10,
    timer: clock.timer,
  });
  const rolledUp = async (tenantId: string) =>
    Number(
      (await (
        await files.connection(tenantId, 'reader')
      ).get<{ n: number }>('SELECT count(*) AS n FROM events WHERE seq <= (SELECT last_seq FROM rollup_state)'))!.n,
    );
  const afterPass = async (pass: number) => {
    await waitFor(async () => (passes === pass && clock.armed().length === 1) || undefined, `pass ${pass} ended`);
    return clock.armed()[0]!.ms;
  };
  const ts = Date.now() - 3_600_000;
  const events = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      kind: 'tool_call' as const,
      id: `${prefix}${i}`,
      name: 'Bash',
      ts: ts + i,
    }));
  try {
    for (const id of [big, small]) await files.create(id);
    await ingestor.ingest({ tenantId: big, userId: 'u_1' }, 'rest', events('b', 100));
    await ingestor.ingest({ tenantId: small, userId: 'u_2' }, 'rest', events('s', 3));
    aggregator.start();
    const turnChunks = Math.ceil(TURN_MS / CHUNK_MS);
    assert.is(await afterPass(1), 0, 'work left over: the next pass at once, not PASS_SPACING times the pass');
    assert.is(await rolledUp(big), turnChunks * 10, 'the big backlog stopped when its turn ended');
    assert.is(await rolledUp(small), 3, 'the other tenant was served in the same pass');
    for (let pass = 2; (await rolledUp(big)) < 100; pass++) {
      if (pass > 20) assert.unreachable('the backlog was never caught up');
      clock.advance(1000);
      await afterPass(pass);
    }
    assert.equal(errors, [], 'the worker logged no failure');
  } finally {
    await aggregator.stop();
    await ingestor.close?.();
    await files.closeAll();
    dir.remove();
  }
});

test.run();
