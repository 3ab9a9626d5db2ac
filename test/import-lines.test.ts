// The one line reader both import readers use (src/import/lines.ts): numbers from the
// file's start only, byte offsets, CRLF lines, a line across the 1 MiB read chunks, the
// end byte a reader gives, and a transcript's bad lines named as the legacy reader names them.
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LINES_PER_TURN, numberedLines, type NumberedLine } from '../src/import/lines.js';
import { readTranscripts } from '../src/import/transcripts.js';

const lines = suite<{ dir: string }>('import: lines');
lines.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'am-lines-'));
});
lines.after.each((ctx) => rmSync(ctx.dir, { recursive: true, force: true }));

async function all(gen: AsyncGenerator<NumberedLine>): Promise<NumberedLine[]> {
  const out: NumberedLine[] = [];
  for await (const l of gen) out.push(l);
  return out;
}

lines('a chunk of a hundred thousand short lines lets the event loop turn every LINES_PER_TURN lines', async (ctx) => {
  const file = join(ctx.dir, 'newlines.jsonl');
  writeFileSync(file, '\n'.repeat(100_000)); // one read chunk
  let read = 0;
  const turns: number[] = [];
  for await (const _ of numberedLines(file)) {
    if (read++ === 0) {
      // Set after the chunk was read: it runs at the reader's next turn, not at its next read.
      const again = () => setImmediate(() => (turns.push(read), turns.length < 3 && again()));
      again();
    }
  }
  assert.is(read, 100_000);
  assert.equal(turns, [LINES_PER_TURN, 2 * LINES_PER_TURN, 3 * LINES_PER_TURN]);
});

lines('numbered from the start, unnumbered when resumed; CRLF dropped; stops at the end byte given', async (ctx) => {
  const file = join(ctx.dir, 'a.jsonl');
  writeFileSync(file, 'one\r\ntwo\n\nlast');
  assert.equal(await all(numberedLines(file)), [
    { text: 'one', start: 0, end: 5, terminated: true, number: 1 },
    { text: 'two', start: 5, end: 9, terminated: true, number: 2 },
    { text: '', start: 9, end: 10, terminated: true, number: 3 },
    { text: 'last', start: 10, end: 14, terminated: false, number: 4 },
  ]);
  assert.equal(await all(numberedLines(file, 5)), [
    { text: 'two', start: 5, end: 9, terminated: true, number: undefined },
    { text: '', start: 9, end: 10, terminated: true, number: undefined },
    { text: 'last', start: 10, end: 14, terminated: false, number: undefined },
  ]);
  appendFileSync(file, '\nwritten after the size was taken\n');
  assert.equal(
    (await all(numberedLines(file, 0, 100, 14))).map((l) => [l.text, l.terminated]),
    [
      ['one', true],
      ['two', true],
      ['', true],
      ['last', false],
    ],
  );
  assert.equal(await all(numberedLines(file, 14, 100, 14)), []);
});

lines('a line across read chunks, and a CR and LF split between them, come out whole', async (ctx) => {
  const file = join(ctx.dir, 'b.jsonl');
  const long = 'y'.repeat((1 << 20) - 3);
  writeFileSync(file, `ab\n${long.slice(0, -1)}\r\n${'z'.repeat(3 << 20)}\nend\n`);
  const got = await all(numberedLines(file));
  assert.equal(
    got.map((l) => [l.number, l.text!.length, l.text!.at(-1)]),
    [
      [1, 2, 'b'],
      [2, long.length - 1, 'y'],
      [3, 3 << 20, 'z'],
      [4, 3, 'd'],
    ],
  );
  assert.is(got[1]!.end, 3 + long.length + 1);
  assert.equal(
    (await all(numberedLines(file, 0, 1 << 20))).map((l) => l.text?.length ?? null),
    [2, long.length - 1, null, 3],
    'past maxLine: null, the rest read on',
  );
});

lines('a transcript’s binary and overlong lines are named as the legacy reader names them', async (ctx) => {
  const project = join(ctx.dir, '.claude', 'projects', 'p');
  mkdirSync(project, { recursive: true });
  const file = join(project, 's.jsonl');
  // The NUL past the first 8 KB, where a whole file would be taken as binary.
  writeFileSync(
    file,
    `{"type":"summary","x":"${'x'.repeat(9000)}"}\n{"type":"summary","x":"a\u0000b"}\n{"type":"summary","x":"${'x'.repeat(65 * 1024 * 1024)}"}\n{"type":"assistant"`,
  );
  const skipped = [];
  for await (const c of readTranscripts([join(ctx.dir, '.claude')])) skipped.push(...c.skipped);
  assert.equal(skipped, [
    { file, line: 2, reason: 'binary data' },
    { file, line: 3, reason: 'line too long' },
    { file, line: 4, reason: 'truncated last line' },
  ]);
});

lines.run();
