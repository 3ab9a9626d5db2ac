// What the transcript reader does with files it cannot use: a truncated last line, a binary
// file, records of a newer Claude Code, symbolic link loops, an overlong line, a file of
// many megabytes (streamed: memory stays far below its size), and files read before
// (resumed from the earlier run's positions).
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { IngestEvent } from '../src/ingest/schema.js';
import { readLines } from '../src/import/lines.js';
import { LIVE_MS, readTranscripts, TOOL_WAIT_MS } from '../src/import/transcripts.js';
import { CHUNK_MAX_EVENTS, type FilePosition, type ImportChunk, type ReadOptions } from '../src/import/types.js';

const ROOT = new URL('..', import.meta.url).pathname;

type Ctx = { dir: string; root: string; project: string };
const bad = suite<Ctx>('transcripts: bad input');
bad.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'am-cc-bad-'));
  ctx.root = join(ctx.dir, '.claude');
  ctx.project = join(ctx.root, 'projects', '-home-dev-app');
  mkdirSync(ctx.project, { recursive: true });
});
bad.after.each((ctx) => rmSync(ctx.dir, { recursive: true, force: true }));

async function readAll(roots: string[], options?: ReadOptions): Promise<ImportChunk[]> {
  const chunks: ImportChunk[] = [];
  for await (const c of readTranscripts(roots, options)) chunks.push(c);
  return chunks;
}
const eventsOf = (chunks: ImportChunk[]) => chunks.flatMap((c) => c.events);
const skipsOf = (chunks: ImportChunk[]) => chunks.flatMap((c) => c.skipped);
const positionsOf = (chunks: ImportChunk[]) =>
  new Map(chunks.flatMap((c) => c.positions).map((p): [string, FilePosition] => [p.file, p]));

let n = 0;
/** One assistant record: an API request of `tokens` output tokens. */
const assistant = (extra: Record<string, unknown> = {}, tokens = 10) =>
  JSON.stringify({
    type: 'assistant',
    sessionId: 's1',
    cwd: '/home/dev/app',
    version: '2.0.1',
    uuid: `u${++n}`,
    timestamp: '2026-06-01T10:00:00.000Z',
    requestId: `req${n}`,
    message: {
      id: `msg${n}`,
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: 'x' }],
      usage: { input_tokens: 1, output_tokens: tokens },
    },
    ...extra,
  });

bad('a truncated last line is reported, and read once it is complete', async (ctx) => {
  const file = join(ctx.project, 's1.jsonl');
  const complete = assistant();
  const whole = assistant();
  writeFileSync(file, `${complete}\n${whole.slice(0, 80)}`);
  const first = await readAll([ctx.root]);
  assert.is(eventsOf(first).length, 1);
  assert.ok(
    skipsOf(first).some((s) => s.file === file && /truncated/.test(s.reason)),
    JSON.stringify(skipsOf(first)),
  );
  const pos = positionsOf(first).get(file)!;
  assert.is(pos.offset, readFileSync(file, 'utf8').indexOf('\n') + 1);
  appendFileSync(file, `${whole.slice(80)}\n`);
  const second = await readAll([ctx.root], { resume: positionsOf(first) });
  assert.equal(
    eventsOf(second).map((e) => e.id),
    [`cc:req:msg${n}:req${n}`],
  );
  assert.equal(skipsOf(second), []);
});

bad('a binary file is reported and passed over', async (ctx) => {
  const file = join(ctx.project, 'blob.jsonl');
  const bytes = Buffer.alloc(100_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 256;
  writeFileSync(file, bytes);
  writeFileSync(join(ctx.project, 's1.jsonl'), `${assistant()}\n`);
  const chunks = await readAll([ctx.root]);
  assert.is(eventsOf(chunks).length, 1);
  assert.equal(
    skipsOf(chunks).map((s) => [s.file, s.reason]),
    [[file, 'binary file, not JSON lines']],
  );
});

bad('a newer Claude Code: unknown record types are reported, unknown fields read past', async (ctx) => {
  const file = join(ctx.project, 's1.jsonl');
  const lines = [
    JSON.stringify({ type: 'hologram', timestamp: '2026-06-01T10:00:00.000Z', payload: { a: 1 } }),
    assistant({
      futureField: { nested: [1, 2] },
      message: {
        id: 'm-new',
        model: 'claude-sonnet-4-5',
        content: [{ type: 'thought_stream', data: 'x' }],
        usage: { input_tokens: 5, output_tokens: 6, brand_new_tokens: 7 },
      },
    }),
    JSON.stringify({ type: 'summary', summary: 'known, nothing to count' }),
    'not json at all',
    '[1,2,3]',
  ];
  writeFileSync(file, `${lines.join('\n')}\n`);
  const chunks = await readAll([ctx.root]);
  const reqs = eventsOf(chunks).filter((e) => e.kind === 'api_request');
  assert.equal(
    reqs.map((e) => [e.id, e.input_tokens, e.output_tokens]),
    [[`cc:req:m-new:req${n}`, 5, 6]],
  );
  assert.equal(skipsOf(chunks), [
    { file, line: 1, reason: 'unknown record type "hologram"' },
    { file, line: 4, reason: 'not JSON' },
    { file, line: 5, reason: 'not a JSON object' },
  ]);
  assert.ok(positionsOf(chunks).get(file)!.done);
});

bad(
  'thousands of unknown records: the skips go in chunks the import API takes, the events with the last',
  async (ctx) => {
    // 60 sessions of a newer Claude Code, each with 101 records nobody knows: 6,060 skips before the next chunk.
    const unknown = JSON.stringify({ type: 'hologram', timestamp: '2026-06-01T10:00:00.000Z' });
    for (let f = 0; f < 60; f++)
      writeFileSync(join(ctx.project, `s${f}.jsonl`), `${[...Array(101).fill(unknown), assistant()].join('\n')}\n`);
    const chunks = await readAll([ctx.root]);
    assert.ok(skipsOf(chunks).length > CHUNK_MAX_EVENTS, `${skipsOf(chunks).length} skips`);
    for (const c of chunks) assert.ok(c.skipped.length <= CHUNK_MAX_EVENTS, `${c.skipped.length} skips in one chunk`);
    assert.is(eventsOf(chunks).filter((e) => e.kind === 'api_request').length, 60);
    // A chunk of skips alone moves no file on: the files' positions come with their events.
    for (const c of chunks) if (c.events.length === 0) assert.equal(c.positions, []);
    assert.is([...positionsOf(chunks).values()].filter((p) => p.done).length, 60);
  },
);

bad('symbolic link loops are reported, never followed', async (ctx) => {
  writeFileSync(join(ctx.project, 's1.jsonl'), `${assistant()}\n`);
  symlinkSync(join(ctx.root, 'projects'), join(ctx.project, 'loop'));
  symlinkSync(join(ctx.project, 'b.jsonl'), join(ctx.project, 'a.jsonl'));
  symlinkSync(join(ctx.project, 'a.jsonl'), join(ctx.project, 'b.jsonl'));
  symlinkSync(join(ctx.dir, 'root-b'), join(ctx.dir, 'root-a'));
  symlinkSync(join(ctx.dir, 'root-a'), join(ctx.dir, 'root-b'));
  const chunks = await readAll([ctx.root, join(ctx.dir, 'root-a')]);
  assert.is(eventsOf(chunks).length, 1);
  const skips = skipsOf(chunks)
    .map((s) => `${s.file.slice(ctx.dir.length)}: ${s.reason}`)
    .sort();
  assert.equal(skips, [
    '/.claude/projects/-home-dev-app/a.jsonl: symbolic link, not followed',
    '/.claude/projects/-home-dev-app/b.jsonl: symbolic link, not followed',
    '/.claude/projects/-home-dev-app/loop: symbolic link, not followed',
    '/root-a: cannot read: ELOOP',
  ]);
});

bad('a line longer than the limit is passed over without being held', async (ctx) => {
  const file = join(ctx.project, 'long.jsonl');
  writeFileSync(file, `short\n${'x'.repeat(5000)}\nafter\nlast`);
  const lines = [];
  for await (const l of readLines(file, 0, 1000)) lines.push(l);
  assert.equal(lines, [
    { text: 'short', start: 0, end: 6, terminated: true },
    { text: null, start: 6, end: 5007, terminated: true },
    { text: 'after', start: 5007, end: 5013, terminated: true },
    { text: 'last', start: 5013, end: 5017, terminated: false },
  ]);
});

bad('a file of many megabytes is streamed: memory grows far less than the file', async (ctx) => {
  const file = join(ctx.project, 'big.jsonl');
  const COPIES = 60;
  const pad = 'p'.repeat(16_000);
  const block: string[] = [];
  for (let i = 0; i < 64; i++)
    block.push(
      assistant({
        message: {
          id: `big${i}`,
          model: 'claude-haiku-4-5',
          content: [{ type: 'text', text: pad }],
          usage: { input_tokens: 1, output_tokens: 2 },
        },
      }),
    );
  const text = `${block.join('\n')}\n`;
  writeFileSync(file, '');
  for (let i = 0; i < COPIES; i++) appendFileSync(file, text.replaceAll('"id":"big', `"id":"big${i}-`));
  const size = statSync(file).size;
  assert.ok(size > 60e6, `file of ${size} bytes`);
  // Live memory, after a full collection, in a process of its own: what the reader holds,
  // not garbage not yet collected nor what other suites in this process leave behind.
  const script = `
    import { readTranscripts } from ${JSON.stringify(join(ROOT, 'src/import/transcripts.ts'))};
    const live = () => { gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
    const before = live();
    let peak = before, requests = 0;
    for await (const c of readTranscripts([${JSON.stringify(ctx.root)}], { chunkEvents: 100 })) { requests += c.events.length; peak = Math.max(peak, live()); }
    console.log(JSON.stringify({ requests, growth: peak - before }));`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const { requests, growth } = JSON.parse(out.trim().split('\n').at(-1)!) as { requests: number; growth: number };
  assert.is(requests, COPIES * 64);
  // Reading the file whole would hold its size at least twice over (bytes, then a string).
  assert.ok(growth < size / 10, `live memory grew by ${growth} bytes for a file of ${size}`);
});

bad(
  'a second read with the first run’s positions yields nothing; an append yields just what was added',
  async (ctx) => {
    const file = join(ctx.project, 's1.jsonl');
    writeFileSync(file, `${assistant()}\n${assistant()}\n`);
    const first = await readAll([ctx.root]);
    assert.is(eventsOf(first).length, 2);
    const again = await readAll([ctx.root], { resume: positionsOf(first) });
    assert.equal(eventsOf(again), []);
    const added = assistant();
    appendFileSync(file, `${added}\n`);
    const third = await readAll([ctx.root], { resume: positionsOf(first) });
    assert.equal(
      eventsOf(third).map((e) => e.id),
      [`cc:req:msg${n}:req${n}`],
    );
    assert.equal(positionsOf(third).get(file), {
      file,
      size: statSync(file).size,
      mtimeMs: statSync(file).mtimeMs,
      offset: statSync(file).size,
      done: true,
    });
    // A file that shrank (rewritten) is read again from its start.
    writeFileSync(file, `${added}\n`);
    assert.is(eventsOf(await readAll([ctx.root], { resume: positionsOf(third) })).length, 1);
  },
);

bad('a session still under way: its last message waits for the next run, then counts whole', async (ctx) => {
  const file = join(ctx.project, 's1.jsonl');
  const now = Date.parse('2026-06-01T10:05:00.000Z');
  const at = (minute: number) => `2026-06-01T10:0${minute}:00.000Z`;
  const copy = (message: string, output: number, content: unknown[]) =>
    JSON.stringify({
      type: 'assistant',
      sessionId: 's1',
      cwd: '/home/dev/app',
      uuid: `${message}-${output}`,
      timestamp: at(1),
      requestId: `req-${message}`,
      message: { id: message, model: 'claude-sonnet-4-5', content, usage: { input_tokens: 1, output_tokens: output } },
    });
  const user = (uuid: string, content: unknown) =>
    JSON.stringify({ type: 'user', sessionId: 's1', uuid, timestamp: at(2), message: { role: 'user', content } });
  const use = { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'npm test' } };
  const text = [{ type: 'text', text: 'x' }];
  const result = user('r1', [{ type: 'tool_result', tool_use_id: 'toolu_1', is_error: true, content: 'boom' }]);
  const outputs = (events: IngestEvent[]) => events.filter((e) => e.kind === 'api_request').map((e) => e.output_tokens);
  // Written so far: an answered prompt, then the next request's first copy with a tool call and no result yet.
  const lastCopy = copy('m1', 5, [use]);
  writeFileSync(file, `${[user('p1', 'hi'), copy('m0', 30, text), user('p2', 'test it'), lastCopy].join('\n')}\n`);
  const first = await readAll([ctx.root], { now });
  assert.equal(outputs(eventsOf(first)), [30], 'the answered request goes out; the last one may still grow');
  assert.not.ok(
    eventsOf(first).some((e) => e.kind === 'tool_call'),
    'its tool call waits for its result',
  );
  const pos = positionsOf(first).get(file)!;
  assert.equal([pos.offset, pos.done], [readFileSync(file, 'utf8').indexOf(lastCopy), false]);

  // Claude Code adds the final copy and the result: settled, both go out as a one-pass read gives them.
  appendFileSync(file, `${copy('m1', 400, [use])}\n${result}\n`);
  const second = await readAll([ctx.root], { now: now + 60_000, resume: positionsOf(first) });
  assert.equal(outputs(eventsOf(second)), [400]);
  assert.equal(
    eventsOf(second)
      .filter((e) => e.kind === 'tool_call')
      .map((e) => e.status),
    ['failure'],
  );
  assert.ok(positionsOf(second).get(file)!.done, 'nothing kept back');
  assert.equal(eventsOf(await readAll([ctx.root], { now: now + 60_000, resume: positionsOf(second) })), []);
  assert.equal(outputs(eventsOf(await readAll([ctx.root], { now: now + 60_000 }))), [30, 400]);

  // A last message nothing follows goes out once the session is quiet for LIVE_MS.
  appendFileSync(file, `${copy('m2', 7, text)}\n`);
  const third = await readAll([ctx.root], { now: now + 60_000, resume: positionsOf(second) });
  assert.equal(eventsOf(third), []);
  const quiet = await readAll([ctx.root], { now: now + LIVE_MS + 120_000, resume: positionsOf(third) });
  assert.equal(outputs(eventsOf(quiet)), [7]);
  // An archive's files are a copy nothing writes to: read whole at once, whatever their time.
  assert.equal(outputs(eventsOf(await readAll([ctx.root], { now, snapshot: true }))), [30, 400, 7]);
});

/** Records of session s1 at minute `min` past 10:00 (the live-session tests). */
const liveRecords = () => {
  const at = (min: number) => new Date(Date.parse('2026-06-01T10:00:00.000Z') + min * 60_000).toISOString();
  let uuid = 0;
  const base = (min: number, extra: Record<string, unknown>) => ({
    sessionId: 's1',
    cwd: '/home/dev/app',
    uuid: `l${++uuid}`,
    timestamp: at(min),
    isSidechain: false,
    ...extra,
  });
  const asst = (min: number, id: string, requestId: string, content: unknown[], extra: Record<string, unknown> = {}) =>
    JSON.stringify(
      base(min, {
        type: 'assistant',
        requestId,
        message: { id, model: 'claude-sonnet-4-5', content, usage: { input_tokens: 3, output_tokens: 400 } },
        ...extra,
      }),
    );
  const user = (min: number, content: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify(base(min, { type: 'user', message: { role: 'user', content }, ...extra }));
  return { at: (min: number) => Date.parse(at(min)), asst, user };
};

bad('a sidechain replay of a message a live session keeps back is left out, as in one read', async (ctx) => {
  const { at, asst, user } = liveRecords();
  const text = [{ type: 'text', text: 'x' }];
  mkdirSync(join(ctx.project, 's1', 'subagents'), { recursive: true });
  writeFileSync(
    join(ctx.project, 's1.jsonl'),
    `${user(0, 'hi', { promptId: 'p1' })}\n${asst(1, 'msgM', 'reqM', text)}\n`,
  );
  // A sub-agent file replays M under another request id, then goes on.
  const replay = asst(1, 'msgM', 'reqM-side', text, { isSidechain: true, agentId: 'a1' });
  const next = user(1, 'next', { isSidechain: true, agentId: 'a1' });
  writeFileSync(join(ctx.project, 's1', 'subagents', 'agent-a1.jsonl'), `${replay}\n${next}\n`);
  const requests = (chunks: ImportChunk[]) =>
    eventsOf(chunks)
      .filter((e) => e.kind === 'api_request')
      .map((e) => e.request_id);
  const live = await readAll([ctx.root], { now: at(2) });
  assert.equal(requests(live), [], 'M is kept back, and so is not replayed');
  const quiet = await readAll([ctx.root], { now: at(30), resume: positionsOf(live) });
  assert.equal(requests(quiet), ['reqM']);
  assert.equal(requests(await readAll([ctx.root], { now: at(30) })), ['reqM'], 'as one read gives it');
});

bad('a live session keeps back every tool call without a result: parallel sub-agents count once', async (ctx) => {
  const { at, asst, user } = liveRecords();
  const file = join(ctx.project, 's1.jsonl');
  const agent = (id: string) => [{ type: 'tool_use', id, name: 'Agent', input: { subagent_type: 'Explore' } }];
  const result = (min: number, id: string, agentId: string) =>
    user(min, [{ type: 'tool_result', tool_use_id: id, content: 'ok' }], { toolUseResult: { agentId } });
  // One message starts two sub-agents; A answers, then (after a run) B does.
  writeFileSync(
    file,
    `${[user(0, 'hi', { promptId: 'p1' }), asst(1, 'msgM', 'reqM', agent('toolu_A')), asst(1, 'msgM', 'reqM', agent('toolu_B')), result(2, 'toolu_A', 'agentA')].join('\n')}\n`,
  );
  const first = await readAll([ctx.root], { now: at(3) });
  appendFileSync(file, `${result(9, 'toolu_B', 'agentB')}\n`);
  const second = await readAll([ctx.root], { now: at(10), resume: positionsOf(first) });
  const third = await readAll([ctx.root], { now: at(40), resume: positionsOf(second) });
  const of = (chunks: ImportChunk[][], kind: string, field: 'status' | 'agent_id') =>
    chunks
      .flatMap(eventsOf)
      .filter((e) => e.kind === kind)
      .map((e) => `${e.tool_use_id ?? ''}${e[field] ?? '-'}`);
  assert.equal(of([first, second, third], 'tool_call', 'status'), ['toolu_Asuccess', 'toolu_Bsuccess']);
  assert.equal(
    of([first, second, third], 'subagent_start', 'agent_id'),
    ['agentA', 'agentB'],
    'no start under a tool id',
  );
  const once = [await readAll([ctx.root], { now: at(40) })];
  assert.equal(of(once, 'subagent_start', 'agent_id'), ['agentA', 'agentB'], 'as one read gives them');
});

bad('a sidechain replay of a message an earlier run sent is left out', async (ctx) => {
  const { at, asst, user } = liveRecords();
  const text = [{ type: 'text', text: 'x' }];
  const file = join(ctx.project, 's1.jsonl');
  const requests = (chunks: ImportChunk[]) =>
    eventsOf(chunks)
      .filter((e) => e.kind === 'api_request')
      .map((e) => e.request_id);
  writeFileSync(
    file,
    `${[user(0, 'hi', { promptId: 'p1' }), asst(1, 'msgM', 'reqM', text), user(1, 'more')].join('\n')}\n`,
  );
  const first = await readAll([ctx.root], { now: at(30) });
  assert.equal(requests(first), ['reqM']);
  // A /btw side question replays M in the same file, under another request id; then a new message.
  const btw = [
    asst(40, 'msgM', 'reqM-btw', text, { isSidechain: true }),
    user(40, 'ok'),
    asst(41, 'msgN', 'reqN', text),
  ];
  appendFileSync(file, `${[...btw, user(41, 'next')].join('\n')}\n`);
  const second = await readAll([ctx.root], { now: at(70), resume: positionsOf(first) });
  assert.equal(requests(second), ['reqN'], 'the replay of M is left out');
  assert.equal(
    [...requests(first), ...requests(second)],
    requests(await readAll([ctx.root], { now: at(70) })),
    'as one read gives them',
  );
});

bad('a tool call waiting longer than a run apart keeps its result; one never answered pins nothing', async (ctx) => {
  const { at, asst, user } = liveRecords();
  const file = join(ctx.project, 's1.jsonl');
  const edit = (id: string) => [
    { type: 'tool_use', id, name: 'Edit', input: { file_path: 'a', old_string: 'x', new_string: 'y\nz' } },
  ];
  const result = (min: number, id: string) => user(min, [{ type: 'tool_result', tool_use_id: id, content: 'ok' }]);
  const statuses = (chunks: ImportChunk[][]) =>
    chunks
      .flatMap(eventsOf)
      .filter((e) => e.kind === 'tool_call')
      .map((e) => `${e.tool_use_id}:${e.status ?? '-'}`);
  // An edit waits 20 minutes for its person's permission, past a run 15 minutes on.
  writeFileSync(file, `${[user(0, 'hi', { promptId: 'p1' }), asst(1, 'm1', 'r1', edit('toolu_E'))].join('\n')}\n`);
  const first = await readAll([ctx.root], { now: at(16) });
  appendFileSync(file, `${result(21, 'toolu_E')}\n`);
  const second = await readAll([ctx.root], { now: at(31), resume: positionsOf(first) });
  assert.equal(statuses([first, second]), ['toolu_E:success'], 'its result counts');
  // A call never answered (the session went on past it): the next message closes it, so runs go on from there.
  appendFileSync(
    file,
    `${[asst(32, 'm2', 'r2', edit('toolu_X')), asst(33, 'm3', 'r3', [{ type: 'text', text: 'x' }])].join('\n')}\n`,
  );
  const third = await readAll([ctx.root], { now: at(34), resume: positionsOf(second) });
  assert.equal(statuses([third]), ['toolu_X:-']);
  assert.is(
    positionsOf(third).get(file)!.offset,
    readFileSync(file, 'utf8').lastIndexOf('{"sessionId"'),
    'only the last message waits',
  );
  // Past TOOL_WAIT_MS of quiet, a call still waiting goes out without a result.
  appendFileSync(file, `${asst(35, 'm4', 'r4', edit('toolu_Y'))}\n`);
  const fourth = await readAll([ctx.root], { now: at(35) + TOOL_WAIT_MS, resume: positionsOf(third) });
  assert.equal(statuses([fourth]), ['toolu_Y:-']);
  assert.ok(positionsOf(fourth).get(file)!.done);
});

bad(
  'inline sub-agents without an agent id (Claude Code 1.0) keep their results; replayed calls wait for nothing',
  async (ctx) => {
    const { at, asst, user } = liveRecords();
    const file = join(ctx.project, 's1.jsonl');
    const use = (id: string, name = 'Grep') => [{ type: 'tool_use', id, name, input: { pattern: 'x' } }];
    const result = (min: number, id: string, extra: Record<string, unknown> = {}, isError = false) =>
      user(min, [{ type: 'tool_result', tool_use_id: id, content: 'r', is_error: isError }], extra);
    const side = { isSidechain: true };
    const statuses = (chunks: ImportChunk[]) =>
      eventsOf(chunks)
        .filter((e) => e.kind === 'tool_call')
        .map((e) => `${e.tool_use_id}:${e.status ?? '-'}`)
        .sort();
    // Two sub-agents written inline, neither with an agent id: B goes on while A's call still runs.
    const records = [
      user(0, 'hi', { promptId: 'p1' }),
      asst(1, 'm1', 'r1', [...use('task1', 'Task'), ...use('task2', 'Task')]),
      asst(2, 'sa1', 'ra1', use('ga'), side),
      asst(2, 'sb1', 'rb1', use('gb'), side),
      result(3, 'gb', side),
      asst(4, 'sb2', 'rb2', [{ type: 'text', text: 'done' }], side),
      result(5, 'ga', side, true),
      result(6, 'task1'),
      result(6, 'task2'),
    ];
    writeFileSync(file, `${records.join('\n')}\n`);
    const once = await readAll([ctx.root], { now: at(6) + 60_000 });
    assert.equal(statuses(once), ['ga:failure', 'gb:success', 'task1:success', 'task2:success']);

    // A /btw replay of the first message repeats its answered tool calls: nothing waits for them.
    appendFileSync(file, `${asst(10, 'm1', 'r1-btw', use('task1', 'Task'), side)}\n${user(10, 'ok')}\n`);
    const live = await readAll([ctx.root], { now: at(11) });
    assert.ok(positionsOf(live).get(file)!.done, 'read whole in one run');
    const resumed = await readAll([ctx.root], { now: at(11), resume: positionsOf(once) });
    assert.equal(statuses(resumed), [], 'nothing new');
    assert.ok(positionsOf(resumed).get(file)!.done, 'and read whole when resumed');
  },
);

bad.run();
