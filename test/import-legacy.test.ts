// The legacy local-metrics reader (src/import/legacy.ts) over the fixture home the older
// hooks left (test/fixtures/legacy-home, with its expected.json): the counts, no auth token
// anywhere (in the events, nor in the tenant's file once stored through ingest), the same
// records in two roots imported once, since/resume, and bad input (a binary file, a corrupt
// line in the middle, a symlink loop, an unreadable file) reported and passed over.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  appendFileSync,
  chmodSync,
  cpSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { readLegacy } from '../src/import/legacy.js';
import { readTranscripts } from '../src/import/transcripts.js';
import { transcriptToolIds } from '../src/import/legacy-tool-ids.js';
import type { FilePosition, ImportChunk, ReadOptions } from '../src/import/types.js';
import type { IngestEvent } from '../src/ingest/schema.js';
import { ROOT, startTestServer, ingestKey, tempDir } from './helpers.js';

const HOME = join(ROOT, 'test/fixtures/legacy-home');
const EXPECTED = JSON.parse(readFileSync(join(HOME, 'expected.json'), 'utf8')) as Record<string, number>;
const AGENT_OS = '.agent-os/metrics';
const NOW = Date.UTC(2026, 9, 13, 9); // the fixture's last_updated

/** Every chunk of a read, and its events, skips and last position per file together. */
async function read(roots: string[], options: ReadOptions = {}) {
  const chunks: ImportChunk[] = [];
  for await (const c of readLegacy(roots, options)) chunks.push(c);
  const positions = new Map<string, FilePosition>();
  for (const c of chunks) for (const p of c.positions) positions.set(p.file, p);
  return {
    chunks,
    events: chunks.flatMap((c) => c.events),
    skipped: chunks.flatMap((c) => c.skipped),
    positions,
    baseline: chunks.find((c) => c.baseline)?.baseline,
  };
}

const ofKind = (events: IngestEvent[], kind: string) => events.filter((e) => e.kind === kind);
const failures = (events: IngestEvent[], kind: string) =>
  ofKind(events, kind).filter((e) => e.status === 'failure').length;

/** Every auth_token value in the fixture's files. */
function tokensIn(dir: string): string[] {
  const out = new Set<string>();
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const file = join(dir, name);
    if (!statSync(file).isFile()) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/"auth_token"\s*:\s*"([^"]+)"/g)) out.add(m[1]!);
  }
  return [...out];
}

/** A writable copy of the fixture home. */
function copyHome() {
  const dir = tempDir('am-legacy');
  cpSync(HOME, dir.path, { recursive: true });
  for (const name of ['', ...readdirSync(dir.path, { recursive: true, encoding: 'utf8' })])
    chmodSync(join(dir.path, name), statSync(join(dir.path, name)).isDirectory() ? 0o755 : 0o644);
  return dir;
}

const reader = suite('legacy reader');

reader(
  'the fixture home: the counts expected.json gives, the malformed line named, the baseline, no auth token',
  async () => {
    const { events, skipped, baseline, chunks } = await read([HOME], { chunkEvents: 7 });
    assert.is(ofKind(events, 'session_start').length, EXPECTED.sessions);
    assert.is(ofKind(events, 'session_end').length, EXPECTED.sessions);
    assert.is(ofKind(events, 'tool_call').length, EXPECTED.tool_events);
    assert.is(ofKind(events, 'agent_interaction').length, EXPECTED.agent_invocations);
    assert.is(failures(events, 'tool_call'), EXPECTED.tool_failures);
    assert.ok(
      chunks.every((c) => c.events.length <= 7),
      'chunks hold at most chunkEvents',
    );
    assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'one id per event');
    assert.ok(events.every((e) => e.id!.startsWith('legacy:')));

    const malformed = skipped.filter((s) => s.reason === 'not JSON');
    assert.equal(
      malformed,
      [{ file: join(HOME, AGENT_OS, 'tool-metrics.jsonl'), line: 16, reason: 'not JSON' }].slice(
        0,
        EXPECTED.malformed_lines,
      ),
    );
    assert.equal(
      { ...baseline!, successRate: Math.round(baseline!.successRate! * 1000) / 1000 },
      { commandsPerHour: 17.2, linesPerHour: 133.5, successRate: 0.931, sessions: 4 },
      'historical-baseline.json, its 93.1 % as a share',
    );

    const tokens = tokensIn(HOME);
    assert.is(tokens.length, 1, 'the fixture carries its token');
    assert.is(
      (readFileSync(join(HOME, AGENT_OS, 'tool-metrics.jsonl'), 'utf8').match(/"auth_token"/g) ?? []).length,
      EXPECTED.auth_tokens_present,
    );
    const serialized = JSON.stringify(chunks);
    for (const t of tokens) assert.not.ok(serialized.includes(t), 'no auth token in any chunk');
    assert.not.ok(/auth_token/.test(serialized));

    // The mapping: a Bash failure with its duration, an edit's lines, an agent in its session, a session's project and summary.
    const bash = events.find((e) => e.kind === 'tool_call' && e.name === 'Bash' && e.status === 'failure')!;
    assert.is(bash.duration_ms, 1260);
    assert.is(bash.session_id, 'b5c317f8-1b70-40a8-85d5-689701c8a1cc');
    assert.is(bash.attributes!.command, 'npm test');
    assert.is(bash.attributes!.client_user_id, 'u-dev1');
    const edit = events.find((e) => e.kind === 'tool_call' && e.name === 'Edit')!;
    assert.equal([edit.lines_added, edit.lines_removed], [4, 1]);
    assert.ok(
      ofKind(events, 'agent_interaction').every(
        (e) => e.session_id && e.name === 'code-reviewer' && e.duration_ms === 4200,
      ),
      'agents attached to the session they fall in',
    );
    const end = events.find(
      (e) => e.kind === 'session_end' && e.session_id === 'bb476b9b-c0b9-4082-8a0b-d48bd01e5ae5',
    )!;
    assert.is(end.value, 5);
    assert.is(end.duration_ms, Date.parse('2026-10-06T11:50:11.748Z') - Date.parse('2026-10-06T09:00:00.000Z'));
    assert.is(ofKind(events, 'session_start')[0]!.project, '/home/dev1/src/acme-api');
  },
);

reader('the same records in .agent-os and .ai-mesh are imported once, the copies counted as duplicates', async () => {
  const home = copyHome();
  try {
    const agentOs = readFileSync(join(home.path, AGENT_OS, 'tool-metrics.jsonl'), 'utf8');
    const good = agentOs.split('\n').filter((l) => l.startsWith('{') && l.endsWith('}'));
    // .ai-mesh holds its own records and copies of .agent-os's (without the token: the newer scripts dropped it).
    appendFileSync(
      join(home.path, '.ai-mesh/metrics/tool-metrics.jsonl'),
      `${good.map((l) => l.replace(/,"auth_token":"[^"]+"/, '')).join('\n')}\n`,
    );
    const { events, skipped } = await read([home.path]);
    assert.is(ofKind(events, 'tool_call').length, EXPECTED.tool_events);
    assert.is(ofKind(events, 'agent_interaction').length, EXPECTED.agent_invocations);
    assert.is(failures(events, 'tool_call'), EXPECTED.tool_failures);
    const duplicates = skipped.filter((s) => s.reason === 'duplicate of a record read before');
    assert.is(duplicates.length, good.length);
    assert.ok(
      duplicates.every(
        (d) =>
          d.file.endsWith('.ai-mesh/metrics/tool-metrics.jsonl') &&
          d.line! > 10 &&
          d.detail?.startsWith('first at ') &&
          d.detail.includes(`${AGENT_OS}/tool-metrics.jsonl:`),
      ),
    );
  } finally {
    home.remove();
  }
});

reader(
  'since leaves earlier records out; resume reads only what was added; a last line being written waits',
  async () => {
    const since = Date.parse('2026-10-05T00:00:00Z');
    const later = await read([HOME], { since });
    assert.ok(later.events.length > 0 && later.events.every((e) => e.ts! >= since));
    assert.is(ofKind(later.events, 'session_start').length, 2);
    assert.is(ofKind(later.events, 'tool_call').length, 10);
    assert.equal(
      later.skipped.filter((s) => s.line !== undefined),
      [{ file: join(HOME, AGENT_OS, 'tool-metrics.jsonl'), line: 16, reason: 'not JSON' }],
      'records before since are left out, not reported',
    );

    const home = copyHome();
    try {
      const first = await read([home.path]);
      assert.ok([...first.positions.values()].every((p) => p.done && p.offset === p.size));
      const again = await read([home.path], { resume: first.positions });
      assert.equal(again.events, [], 'nothing new');
      assert.equal(again.skipped, [], 'nothing reported twice');

      const tools = join(home.path, '.ai-mesh/metrics/tool-metrics.jsonl');
      const size = statSync(tools).size;
      const added = `${[
        '{"event_type":"tool_execution","timestamp":"2026-10-06T10:00:00.000Z","tool_name":"Glob","success":true,"execution_time_ms":7,"session_id":"default-session"}',
        '{"event_type":"tool_execution","timestamp":"2026-10-07T09:00:00.000Z","tool_name":"Write","success":true,"execution_time_ms":5,"session_id":"default"}',
      ].join('\n')}\n`;
      appendFileSync(tools, `${added}{"event_type":"tool_exec`);
      const grown = await read([home.path], { resume: first.positions });
      assert.equal(
        grown.events.map((e) => [e.name, e.session_id, e.attributes!.client_session_id]),
        [
          ['Glob', 'bb476b9b-c0b9-4082-8a0b-d48bd01e5ae5', 'default-session'], // a lost session id: the one session whose span holds it
          ['Write', undefined, 'default'], // in no session's span: no session
        ],
      );
      const cut = size + Buffer.byteLength(added);
      assert.equal(
        grown.skipped,
        [{ file: tools, reason: 'truncated last line', detail: `at byte ${cut}` }],
        'read from where the last run ended: lines not counted, bytes named',
      );
      const p = grown.positions.get(tools)!;
      assert.equal([p.offset, p.done], [cut, false], 'the half-written line is left for the next run');
    } finally {
      home.remove();
    }
  },
);

reader(
  'bad input: a binary file, a corrupt line in the middle, a symlink loop, an unreadable file are reported and passed over',
  async () => {
    const home = copyHome();
    try {
      const metrics = join(home.path, AGENT_OS);
      // A corrupt line in the middle of .ai-mesh's tool records.
      const mesh = join(home.path, '.ai-mesh/metrics/tool-metrics.jsonl');
      const lines = readFileSync(mesh, 'utf8').split('\n');
      lines.splice(4, 0, '{"event_type":"tool_execution","timestamp":"2026-10-0');
      writeFileSync(mesh, lines.join('\n'));
      // A binary session history, and a binary session file.
      writeFileSync(
        join(metrics, 'session-history.jsonl'),
        Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x0a, 0x00, 0x01, 0x02, 0x0a]),
      );
      writeFileSync(
        join(metrics, 'sessions', '00000000-0000-0000-0000-000000000000.json'),
        Buffer.from([0x00, 0x01, 0x02, 0x03]),
      );
      // .ensemble's tool records: a symlink to itself.
      mkdirSync(join(home.path, '.ensemble/metrics'), { recursive: true });
      symlinkSync('tool-metrics.jsonl', join(home.path, '.ensemble/metrics/tool-metrics.jsonl'));
      // A session stream nobody may read.
      const locked = join(metrics, 'sessions', 'a82845a1-6788-4958-8c79-504a3ee644e1.jsonl');
      chmodSync(locked, 0o000);

      const { events, skipped } = await read([home.path, join(home.path, 'no-such-home')]);
      assert.ok(
        skipped.some((s) => s.file === mesh && s.line === 5 && s.reason === 'not JSON'),
        'the corrupt line, by number',
      );
      assert.ok(
        skipped.some(
          (s) => s.file === join(metrics, 'session-history.jsonl') && s.line === 1 && s.reason === 'binary data',
        ),
      );
      assert.ok(
        skipped.some((s) => s.file.endsWith('00000000-0000-0000-0000-000000000000.json') && s.reason === 'binary data'),
      );
      assert.ok(
        skipped.some(
          (s) => s.file === join(home.path, '.ensemble/metrics/tool-metrics.jsonl') && s.reason === 'symlink loop',
        ),
      );
      assert.ok(skipped.some((s) => s.file === join(home.path, 'no-such-home')));
      if (process.getuid?.() === 0)
        console.log('  (skipped: the unreadable-file check, running as root, who reads a file of mode 000)');
      else assert.ok(skipped.some((s) => s.file === locked && s.reason === 'not readable (permission denied)'));
      // Everything else still comes through: the records around the corrupt line, all sessions (from their other files).
      assert.is(ofKind(events, 'tool_call').length, EXPECTED.tool_events);
      assert.is(ofKind(events, 'agent_interaction').length, EXPECTED.agent_invocations);
      assert.is(ofKind(events, 'session_start').length, EXPECTED.sessions);
    } finally {
      home.remove();
    }
  },
);

reader(
  "stored through ingest: the figures over the fixture's days, and no auth token anywhere in the tenant's file",
  async () => {
    const server = await startTestServer();
    try {
      await server.ctx.aggregator.stop();
      server.ctx.now = () => new Date(NOW);
      const { key, tenantId, userId } = await ingestKey(server);
      const { events } = await read([HOME]);
      for (let i = 0; i < 2; i++) {
        // Twice: a second import stores nothing new.
        const r = await server.ctx.ingest.ingest({ tenantId, userId }, 'import', events, new Date(NOW));
        assert.equal(r.rejected, []);
      }
      await server.ctx.aggregator.runOnce();
      const res = await fetch(`${server.url}/api/v1/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          metrics: ['sessions', 'tool_calls', 'tool_failures', 'agent_calls', 'agent_failures', 'events'],
          from: '2026-10-01T00:00:00Z',
          to: '2026-10-08T00:00:00Z',
        }),
      });
      const body = (await res.json()) as { rows: Record<string, number>[] };
      assert.is(res.status, 200, JSON.stringify(body));
      assert.equal(body.rows[0], {
        sessions: 4,
        tool_calls: 20,
        tool_failures: 4,
        agent_calls: 5,
        agent_failures: 2,
        events: 33,
      });

      const db = await server.ctx.tenantFiles.connection(tenantId, 'reader');
      const tables = await db.all<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'main' AND table_catalog = current_database()`,
      );
      assert.ok(tables.length > 5);
      for (const token of tokensIn(HOME)) {
        for (const { name } of tables) {
          const hit = await db.get<{ n: number }>(
            `SELECT count(*) AS n FROM "${name}" t WHERE t::VARCHAR LIKE '%' || $token || '%'`,
            { token },
          );
          assert.is(Number(hit!.n), 0, `${name} holds the auth token`);
        }
      }
      const kept = await db.get<{ n: number }>(`SELECT count(*) AS n FROM events t WHERE t::VARCHAR LIKE '%npm test%'`);
      assert.is(Number(kept!.n), 2, 'the search does see the records around the token');
    } finally {
      await server.stop();
    }
  },
);

/** The fixture's first session (Read, a failed Bash, an Edit on 3 October), as its transcript tells it. */
const TOLD = 'b5c317f8-1b70-40a8-85d5-689701c8a1cc';
function writeTranscript(home: string) {
  const dir = join(home, '.claude/projects/-home-dev1-src-acme-api');
  mkdirSync(dir, { recursive: true });
  const at = (t: string) => `2026-10-03T${t}Z`;
  const line = (type: string, t: string, uuid: string, message: unknown) =>
    JSON.stringify({ type, sessionId: TOLD, cwd: '/home/dev1/src/acme-api', uuid, timestamp: at(t), message });
  const call = (n: number, t: string, id: string, name: string) =>
    line('assistant', t, `a${n}`, {
      id: `msg_${n}`,
      model: 'claude-sonnet-4-5',
      content: [{ type: 'tool_use', id, name, input: {} }],
      usage: { input_tokens: 1, output_tokens: 1 },
    });
  const result = (t: string, id: string, isError = false) =>
    line('user', t, `r-${id}`, {
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: id, is_error: isError }],
    });
  const lines = [
    line('user', '09:00:00.000', 'p1', { role: 'user', content: 'look at a.ts' }),
    call(1, '09:00:58.000', 'toolu_read', 'Read'),
    result('09:01:00.400', 'toolu_read'),
    call(2, '09:02:58.000', 'toolu_bash', 'Bash'),
    result('09:03:00.800', 'toolu_bash', true),
    call(3, '09:04:59.000', 'toolu_edit', 'Edit'),
    result('09:05:00.200', 'toolu_edit'),
    // A call the older hooks did not see, and one more Read 30 s from the hooks' Read: no match.
    call(4, '09:06:00.000', 'toolu_later', 'Read'),
    result('09:06:01.000', 'toolu_later'),
  ];
  writeFileSync(join(dir, `${TOLD}.jsonl`), `${lines.join('\n')}\n`);
}

reader(
  "a tool record takes the id of its call in the same home's transcript, so both imports count it once",
  async () => {
    const home = copyHome();
    try {
      writeTranscript(home.path);
      const { events } = await read([home.path]);
      const ids = (session: string) =>
        ofKind(events, 'tool_call')
          .filter((e) => e.session_id === session)
          .map((e) => [e.name, e.tool_use_id]);
      assert.equal(ids(TOLD), [
        ['Read', 'toolu_read'],
        ['Grep', undefined],
        ['Bash', 'toolu_bash'],
        ['Grep', undefined],
        ['Edit', 'toolu_edit'],
      ]);
      assert.ok(
        ofKind(events, 'tool_call')
          .filter((e) => e.session_id !== TOLD)
          .every((e) => e.tool_use_id === undefined),
        'no transcript, no id',
      );
      const told: IngestEvent[] = [];
      for await (const c of readTranscripts([join(home.path, '.claude')], { now: NOW }))
        told.push(...ofKind(c.events, 'tool_call'));
      assert.is(told.length, 4);
      // Imported in either order, each call counts once: the hooks' five (one failed; the Grep records had lost
      // their session id and were put in it by time) and the transcript's later Read.
      for (const order of [
        [events, told],
        [told, events],
      ]) {
        const server = await startTestServer();
        try {
          await server.ctx.aggregator.stop();
          const { key, tenantId, userId } = await ingestKey(server);
          for (const batch of order)
            await server.ctx.ingest.ingest({ tenantId, userId }, 'import', batch, new Date(NOW));
          await server.ctx.aggregator.runOnce();
          const res = await fetch(`${server.url}/api/v1/query`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              metrics: ['tool_calls', 'tool_failures'],
              filters: { session: [TOLD] },
              from: '2026-10-03T00:00:00Z',
              to: '2026-10-04T00:00:00Z',
            }),
          });
          const body = (await res.json()) as { rows: Record<string, number>[] };
          assert.equal(
            body.rows[0],
            { tool_calls: 6, tool_failures: 1 },
            order[0] === events ? 'legacy first' : 'transcript first',
          );
        } finally {
          await server.stop();
        }
      }
    } finally {
      home.remove();
    }
  },
);

reader(
  'matching records to transcript calls: as many as can be, sub-agent files of both layouts, Task as Agent',
  async () => {
    const home = tempDir('am-legacy-match');
    try {
      const project = join(home.path, '.claude/projects/-home-dev-app');
      const T = Date.UTC(2026, 9, 3, 9);
      const iso = (ms: number) => new Date(ms).toISOString();
      const records = (session: string, calls: [id: string, name: string, resultAt: number][]) =>
        calls.flatMap(([id, name, at], i) => [
          JSON.stringify({
            type: 'assistant',
            sessionId: session,
            uuid: `a-${id}`,
            timestamp: iso(at - 500),
            message: {
              id: `msg-${id}-${i}`,
              model: 'claude-sonnet-4-5',
              content: [{ type: 'tool_use', id, name, input: {} }],
            },
          }),
          JSON.stringify({
            type: 'user',
            sessionId: session,
            uuid: `r-${id}`,
            timestamp: iso(at),
            message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: id }] },
          }),
        ]);
      mkdirSync(join(project, 's1/subagents'), { recursive: true });
      writeFileSync(
        join(project, 's1.jsonl'),
        `${records('s1', [
          ['c1', 'Bash', T - 6000],
          ['c2', 'Bash', T + 4000],
          ['c3', 'Agent', T + 60_000],
        ]).join('\n')}\n`,
      );
      writeFileSync(
        join(project, 's1/subagents/agent-new.jsonl'),
        `${records('s1', [['c4', 'Grep', T + 120_000]]).join('\n')}\n`,
      );
      // An older release's sub-agent file beside the session's, named by no session.
      writeFileSync(join(project, 'agent-old.jsonl'), `${records('s1', [['c5', 'Grep', T + 180_000]]).join('\n')}\n`);
      const idOf = transcriptToolIds([home.path]);
      assert.equal(
        [
          await idOf('s1', 'Bash', T), // c1 (6 s before) and c2 (4 s after) are both near: the earlier, leaving c2 for the next
          await idOf('s1', 'Bash', T + 7000),
          await idOf('s1', 'Bash', T + 8000), // both taken
          await idOf('s1', 'Task', T + 60_500),
          await idOf('s1', 'Grep', T + 120_000),
          await idOf('s1', 'Grep', T + 180_000),
          await idOf('s1', 'Grep', T + 195_000), // 15 s from c5: too far
          await idOf('s2', 'Bash', T), // no transcript
        ],
        ['c1', 'c2', undefined, 'c3', 'c4', 'c5', undefined, undefined],
      );
    } finally {
      home.remove();
    }
  },
);

reader.run();
