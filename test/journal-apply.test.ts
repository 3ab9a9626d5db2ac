// When journaled events reach DuckDB: a window after the first acknowledgement of an idle
// spell, in one commit with what was acknowledged meanwhile, at once for a reader, a flush or a
// caller that waits; the live stream (SSE) hears of them once applied. The window's timer is
// driven by the test, so nothing here depends on the machine's speed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLiveHub } from '../src/dashboards/live.js';
import type { Commit } from '../src/ingest/writer.js';
import { newId } from '../src/ids.js';
import { journalingIngest, manualTimer, tempDir, turns, waitFor } from './helpers.js';

const WINDOW_MS = 25;

/** A tenant, its files and a journaling ingestor wired as the server wires them, on the manual timer. */
async function setUp() {
  const dir = tempDir('am-journal-apply');
  const tenantId = newId('t');
  const clock = manualTimer();
  const { files, ingest } = journalingIngest(dir.path, clock.timer, WINDOW_MS);
  await files.create(tenantId);
  const db = await files.open(tenantId, { settled: false });
  const commits: Commit[] = [];
  ingest.onCommit((_, commit) => commits.push(commit));
  const stored = async () => (await db.get<{ n: number }>('SELECT count(*)::INTEGER AS n FROM events'))!.n;
  const who = { tenantId, userId: 'u_1' };
  const hook = (id: string) => ingest.accept(who, 'hook', [{ kind: 'tool_call', id, name: 'Bash' }]);
  return {
    ...clock,
    ingest,
    files,
    who,
    tenantId,
    commits,
    stored,
    hook,
    async end() {
      await ingest.close();
      await files.closeAll();
      dir.remove();
    },
  };
}

test('an acknowledged event is applied when the window closes, with those acknowledged during it', async () => {
  const t = await setUp();
  try {
    await t.hook('h1');
    assert.equal(
      t.armed().map((x) => x.ms),
      [WINDOW_MS],
      'the first acknowledgement of an idle spell opens the window',
    );
    await turns();
    assert.is(t.commits.length, 0, 'nothing is applied before the window closes');
    t.advance(10);
    await t.hook('h2');
    assert.is(t.armed().length, 1, 'an event acknowledged during the window shares it');
    t.advance(WINDOW_MS - 10 - 1);
    await turns();
    assert.is(t.commits.length, 0, 'still open 1 ms before it closes');
    t.advance(1);
    await waitFor(async () => t.commits[0], 'the apply');
    assert.equal(
      t.commits.map((c) => [c.offered, c.inserted, c.awaited]),
      [[2, 2, false]],
      'one commit for the window',
    );
    assert.is(await t.stored(), 2);

    // The next idle spell opens its own window, measured from its first acknowledgement.
    t.advance(1000);
    await t.hook('h3');
    assert.equal(
      t.armed().map((x) => x.ms),
      [WINDOW_MS],
    );
  } finally {
    await t.end();
  }
});

test('a read, a flush or a write that waits does not wait for the window', async () => {
  const t = await setUp();
  try {
    await t.hook('r1');
    assert.is(t.armed().length, 1);
    await t.files.open(t.tenantId); // a read: waits until what was acknowledged is applied
    assert.is(await t.stored(), 1, 'a read sees what was acknowledged before it');
    assert.is(t.armed().length, 0, 'the window was closed early');

    await t.hook('f1');
    await t.ingest.flushAll();
    assert.is(await t.stored(), 2, 'flushed without the window');

    await t.hook('w1');
    const stored = await t.ingest.ingest(t.who, 'import', [{ kind: 'prompt', id: 'w2' }]);
    assert.is(stored.stored, 1, 'the write resolved without the timer');
    assert.is(await t.stored(), 4, "the window's event went along with the write");
    assert.equal(
      t.commits.slice(2).map((c) => [c.offered, c.awaited]),
      [[2, true]],
      'one commit for both',
    );
  } finally {
    await t.end();
  }
});

test('the live stream (SSE) hears of an acknowledged event once it is applied', async () => {
  const t = await setUp();
  const hub = createLiveHub(t.ingest, { minGapMs: 0 });
  const sent: number[] = [];
  hub.subscribe(t.tenantId, { ownUser: null, send: (seq) => sent.push(seq), alerts() {}, end() {} });
  try {
    await t.hook('s1');
    await turns();
    assert.is(t.armed().length, 1, 'acknowledged, its apply waits for the window');
    assert.equal([sent, t.commits.length], [[], 0], 'no update before the apply');
    t.advance(WINDOW_MS);
    const seq = await waitFor(async () => sent[0], 'the update');
    assert.is(seq, t.commits[0]!.lastSeq, 'the update names the commit that applied it');
  } finally {
    hub.close();
    await t.end();
  }
});

test.run();
