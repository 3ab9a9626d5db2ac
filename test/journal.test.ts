// The ingest journal on its own: group commit, records read back after a reopen, trimming
// once applied, a torn last record dropped, and damage before intact records refused.
import { mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JournalDamagedError, MAX_BODY, openJournal } from '../src/storage/journal.js';
import { tempDir, waitFor } from './helpers.js';

const body = (i: number) => Buffer.from(JSON.stringify({ event: i, pad: 'x'.repeat(i % 50) }));
const texts = (records: { body: Buffer }[]) => records.map((r) => JSON.parse(r.body.toString()).event as number);
const segments = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.log'));
/** A test with a journal directory of its own, removed after it. */
const journalTest = (name: string, fn: (dir: { path: string }) => Promise<void>) =>
  test(name, async () => {
    const dir = tempDir('am-journal');
    try {
      await fn(dir);
    } finally {
      dir.remove();
    }
  });
/** A journal with records 0…n-1 appended and closed: its one segment's file and bytes. */
async function written(dir: { path: string }, n: number) {
  const { journal } = openJournal(dir.path, 0);
  for (let i = 0; i < n; i++) await journal.append(body(i));
  await journal.close();
  const file = join(dir.path, segments(dir.path)[0]!);
  return { file, data: readFileSync(file) };
}
/** Where a segment's intact records end (each is a 16-byte header and its body). */
function recordsEnd(data: Buffer): number {
  let at = 0;
  while (at + 16 <= data.length && data.readUInt32LE(at) > 0) at += 16 + data.readUInt32LE(at);
  return at;
}

journalTest('after a slow write on the event loop the next 16 go to the pool, and back once quick', async (dir) => {
  // The journal times each write on the event loop with this clock: 3 ms each while `slow`.
  let now = 0;
  let slow = true;
  const { journal } = openJournal(dir.path, 0, { clock: () => (now += slow ? 3 : 0) });
  for (let i = 0; i < 34; i++) await journal.append(body(i));
  assert.is(journal.writesOnLoop(), 2, 'the 1st and the 18th on the event loop, each followed by 16 in the pool');
  slow = false;
  for (let i = 34; i < 60; i++) await journal.append(body(i));
  assert.is(journal.writesOnLoop(), 28, 'quick again: every one of the last 26 on the event loop');
  await journal.close();
  assert.equal(
    texts(openJournal(dir.path, 0).records),
    Array.from({ length: 60 }, (_, i) => i),
    'written the same either way',
  );
});

journalTest('concurrent appends share one sync, and come back in order after a reopen', async (dir) => {
  const { journal, records } = openJournal(dir.path, 0);
  assert.equal(records, []);
  const lsns = await Promise.all(Array.from({ length: 50 }, (_, i) => journal.append(body(i))));
  assert.equal(
    lsns,
    Array.from({ length: 50 }, (_, i) => i + 1),
    'numbered in order from 1',
  );
  assert.is(journal.syncs(), 1, 'fifty appends, one fdatasync');
  await journal.append(body(50));
  assert.is(journal.syncs(), 2);
  await journal.close();

  const again = openJournal(dir.path, 0);
  assert.equal(
    texts(again.records),
    Array.from({ length: 51 }, (_, i) => i),
  );
  assert.equal(
    again.records.map((r) => r.lsn),
    Array.from({ length: 51 }, (_, i) => i + 1),
  );
  assert.is(await again.journal.append(body(99)), 52, 'numbering goes on');
  await again.journal.close();
});

journalTest(
  'applied records are trimmed: closed segments removed, an unpreallocated active one emptied',
  async (dir) => {
    const { journal } = openJournal(dir.path, 0, { segmentBytes: 200, preallocate: false });
    for (let i = 0; i < 10; i++) await journal.append(body(i));
    assert.ok(segments(dir.path).length >= 2, `several segments: ${segments(dir.path)}`);
    assert.ok(journal.unappliedBytes() > 0);
    journal.applied(4);
    const before = journal.unappliedBytes();
    journal.applied(10);
    assert.ok(before > 0 && journal.unappliedBytes() === 0, 'nothing unapplied');
    await journal.close();
    assert.is(segments(dir.path).length, 1, 'only the active segment is left');
    assert.is(statSync(join(dir.path, segments(dir.path)[0]!)).size, 0, 'emptied');
    // The database's mark says what is applied: numbering goes on above it.
    const again = openJournal(dir.path, 10);
    assert.equal(again.records, []);
    assert.is(await again.journal.append(body(1)), 11);
    await again.journal.close();
  },
);

journalTest(
  'a segment is preallocated with zeros: records are written into them, and a reopen stops there',
  async (dir) => {
    const { journal } = openJournal(dir.path, 0, { segmentBytes: 4096 });
    for (let i = 0; i < 5; i++) await journal.append(body(i));
    const file = join(dir.path, segments(dir.path)[0]!);
    assert.is(statSync(file).size, 4096, 'the records did not grow the file');
    await journal.close();
    const data = readFileSync(file);
    const end = recordsEnd(data);
    assert.ok(end > 0 && data.subarray(end).every((b) => b === 0), 'zeros after the records');
    const dropped: string[] = [];
    const again = openJournal(dir.path, 0, { onTornTail: (d) => dropped.push(d) });
    assert.equal(texts(again.records), [0, 1, 2, 3, 4]);
    assert.equal(dropped, [], 'the zeros are not a torn record');
    assert.is(statSync(file).size, 4096, 'nothing cut');
    await again.journal.close();
  },
);

journalTest('a full segment hands over to the next, made ahead; applied segments are removed', async (dir) => {
  const { journal } = openJournal(dir.path, 0, { segmentBytes: 1024 });
  let lsn = await journal.append(body(0));
  const made = async () => {
    const sizes = segments(dir.path).map((n) => statSync(join(dir.path, n)).size);
    return sizes.length === 2 && sizes.every((n) => n === 1024) ? true : undefined;
  };
  await waitFor(made, 'the next segment made ahead: both 1024 bytes of zeros and records');
  while (journal.unappliedBytes() < 1100) lsn = await journal.append(body(lsn)); // past the first
  const [first, second] = segments(dir.path).map((n) => readFileSync(join(dir.path, n)));
  assert.is(first!.length, 1024, 'the first did not grow');
  assert.is(second!.length, 1024, 'the second, made ahead, took the rest');
  assert.ok(second!.readDoubleLE(8) > 1, 'its first record follows the first segment’s');
  journal.applied(lsn - 1);
  await journal.append(body(lsn));
  await journal.close();
  assert.is(segments(dir.path)[0], '0000000002.log', 'the applied first segment is removed');
  const again = openJournal(dir.path, lsn - 1);
  assert.equal(
    again.records.filter((r) => r.lsn >= lsn).map((r) => r.lsn),
    [lsn, lsn + 1],
  );
  await again.journal.close();
});

journalTest('after a large write (a batch) the next segment is made without zeros', async (dir) => {
  const { journal } = openJournal(dir.path, 0, { segmentBytes: 1024 });
  await journal.append(body(0));
  await journal.append(Buffer.from(JSON.stringify({ event: 1, pad: 'x'.repeat(100 * 1024) })));
  const sizes = () => segments(dir.path).map((n) => statSync(join(dir.path, n)).size);
  await waitFor(async () => (sizes().length === 3 ? true : undefined), 'the next segment made ahead');
  const [first, second, third] = sizes();
  assert.is(first, 1024, 'made for a small write: zeros');
  assert.ok(second! > 100 * 1024, 'the large record grew the segment it went to');
  assert.is(third, 0, 'made after a large write: no zeros');
  // Small writes again: the segment made without zeros is made again with them.
  await journal.append(body(2));
  assert.is(sizes()[2], 1024, 'the small record went into zeros');
  await waitFor(async () => (sizes().length === 4 && sizes()[3] === 1024 ? true : undefined), 'the next one, zeros');
  await journal.close();
  assert.equal(texts(openJournal(dir.path, 0).records), [0, 1, 2]);
});

journalTest('small writes after a large first one move on to a segment with zeros', async (dir) => {
  const segmentBytes = 256 * 1024; // room left after the large record: only the kind moves them on
  const { journal } = openJournal(dir.path, 0, { segmentBytes });
  await journal.append(Buffer.from(JSON.stringify({ event: 0, pad: 'x'.repeat(100 * 1024) })));
  journal.applied(1);
  await journal.append(body(1));
  await journal.append(body(2));
  await journal.close();
  const sizes = segments(dir.path).map((n) => statSync(join(dir.path, n)).size);
  assert.equal(sizes.slice(-2), [segmentBytes, segmentBytes], 'the small records in zeros, the next one made ahead');
  const again = openJournal(dir.path, 1);
  assert.equal(texts(again.records.filter((r) => r.lsn > 1)), [1, 2]);
  await again.journal.close();
});

journalTest('records left when the applied mark is newer go with the first trim', async (dir) => {
  const first = openJournal(dir.path, 0);
  for (let i = 0; i < 3; i++) await first.journal.append(body(i));
  await first.journal.close();
  // A crash after the database applied them, before the journal was trimmed.
  const again = openJournal(dir.path, 3);
  assert.is(again.records.length, 3, 'read back: the caller skips those at or below its mark');
  assert.is(again.journal.unappliedBytes(), 0);
  await again.journal.close();
  assert.equal(segments(dir.path), [], 'the old segment is removed');
});

journalTest('a torn last record is dropped (it was never acknowledged) and cut from the file', async (dir) => {
  const { file, data } = await written(dir, 3);
  const intact = recordsEnd(data);
  // A record cut short by the crash, where the next one would have gone: a header that
  // promises more than the file holds, in the segment's preallocated zeros.
  data.set(data.subarray(0, 30), intact);
  writeFileSync(file, data);
  const dropped: string[] = [];
  const again = openJournal(dir.path, 0, { onTornTail: (d) => dropped.push(d) });
  assert.equal(texts(again.records), [0, 1, 2]);
  assert.is(dropped.length, 1);
  assert.match(dropped[0]!, /30 bytes dropped/);
  assert.is(statSync(file).size, intact, 'cut back to the last intact record');
  await again.journal.append(body(3));
  await again.journal.close();
  assert.equal(texts(openJournal(dir.path, 0).records), [0, 1, 2, 3], 'no damage reported on the next open');
});

journalTest('a record damaged in the middle refuses the journal, naming the file and the way out', async (dir) => {
  const { file, data } = await written(dir, 3);
  const second = 16 + data.readUInt32LE(0); // the second record's offset
  data[second + 20] = data[second + 20]! ^ 0xff; // one flipped bit pattern inside its body
  writeFileSync(file, data);
  try {
    openJournal(dir.path, 0);
    assert.unreachable('opened a damaged journal');
  } catch (err) {
    assert.instance(err, JournalDamagedError);
    assert.match((err as Error).message, new RegExp(`${file} at byte ${second}`));
    assert.match((err as Error).message, /move .* aside/);
  }
  assert.is(readFileSync(file).length, data.length, 'nothing was cut');
});

journalTest('damage in an earlier segment refuses the journal even when that segment ends there', async (dir) => {
  const { journal } = openJournal(dir.path, 0, { segmentBytes: 100 });
  for (let i = 0; i < 6; i++) await journal.append(body(i));
  await journal.close();
  const first = join(dir.path, segments(dir.path)[0]!);
  const data = readFileSync(first);
  data[data.length - 1] = data[data.length - 1]! ^ 0xff; // its last record
  writeFileSync(first, data);
  assert.throws(
    () => openJournal(dir.path, 0),
    (err: unknown) => err instanceof JournalDamagedError,
  );
});

journalTest('stale records after a torn write (left by emptying the segment) are not damage', async (dir) => {
  const { journal } = openJournal(dir.path, 0, { preallocate: false });
  for (let i = 0; i < 4; i++) await journal.append(body(i));
  const file = join(dir.path, segments(dir.path)[0]!);
  const old = readFileSync(file);
  journal.applied(4); // the segment is emptied…
  await journal.append(body(4)); // …and LSN 5 written at its start
  await journal.close();
  const fresh = readFileSync(file);
  assert.ok(fresh.length < old.length);
  // A crash that kept LSN 5 but not the emptying: the old records' bytes follow it.
  writeFileSync(file, Buffer.concat([fresh, old.subarray(fresh.length)]));
  const dropped: string[] = [];
  const again = openJournal(dir.path, 4, { onTornTail: (d) => dropped.push(d) });
  assert.equal(
    again.records.filter((r) => r.lsn > 4).map((r) => r.lsn),
    [5],
    'LSN 5 kept; what follows is older than it, so a tail to drop',
  );
  assert.is(dropped.length, 1);
  await again.journal.close();
});

journalTest('a torn write at the start of an emptied segment, before stale records, is not damage', async (dir) => {
  const { file, data: old } = await written(dir, 4);
  // Applied (mark 4) and emptied, then a crash that kept the old bytes but cut the write of
  // LSN 5 short at the segment's start: the records after it are older than the mark.
  const torn = Buffer.alloc(40, 0xab);
  writeFileSync(file, Buffer.concat([torn, old.subarray(torn.length)]));
  const dropped: string[] = [];
  const again = openJournal(dir.path, 4, { onTornTail: (d) => dropped.push(d) });
  assert.equal(
    again.records.filter((r) => r.lsn > 4),
    [],
  );
  assert.is(dropped.length, 1, 'a tail to drop, not damage');
  assert.is(await again.journal.append(body(5)), 5);
  await again.journal.close();
});

journalTest('a segment that could not be created is created by the next append', async (dir) => {
  const { journal } = openJournal(dir.path, 0);
  // Something in the way of the new segment's file (as a full disk or EMFILE would be).
  const blocker = join(dir.path, '0000000001.log');
  mkdirSync(blocker);
  await journal.append(body(0)).then(
    () => assert.unreachable('appended to a directory'),
    (err: unknown) => assert.ok(err instanceof Error),
  );
  rmdirSync(blocker);
  assert.is(await journal.append(body(1)), 2, 'the segment is created once it can be');
  await journal.close();
  assert.equal(texts(openJournal(dir.path, 0).records), [1]);
});

journalTest('a record longer than a reopen would read back is refused, not acknowledged', async (dir) => {
  const { journal } = openJournal(dir.path, 0);
  // One OTLP request (64 MiB of protobuf) can become more JSON than this.
  const huge = Buffer.alloc(MAX_BODY + 1);
  let acknowledged = false;
  await journal.append(huge).then(
    () => (acknowledged = true),
    (err: unknown) => assert.match(String(err), /too large/),
  );
  await journal.append(body(1));
  await journal.close();
  const again = openJournal(dir.path, 0);
  const lengths = again.records.map((r) => r.body.length);
  await again.journal.close();
  assert.ok(!acknowledged || lengths.includes(huge.length), 'an acknowledged record is read back');
  assert.ok(!acknowledged, 'refused');
});

test.run();
