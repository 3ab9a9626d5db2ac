// Productivity scores over a real server with an injected clock: a finished session's score
// and baseline are fixed (sessions arriving later, an older one imported late, a running one
// growing, the range read), each session is measured against its own baseline and the page
// says what each factor is made of, and hooks' edit tool calls count as code output.
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { FACTORS, productivityScore, type Factor } from '../src/analytics/productivity.js';
import { editLines, lineDiff } from '../src/ingest/edit-lines.js';
import { signIn, startTestServer, ingestKey, type TestServer } from './helpers.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

type Score = {
  session_id: string;
  score: number;
  final: boolean;
  hours: number;
  commands: number;
  lines: number;
  lines_source: string | null;
  success_rate: number;
  agents_used: number;
  baseline: { commandsPerHour: number; linesPerHour: number; sessions: number };
  codeOutput: number;
  velocity: number;
};
type Ctx = { server: TestServer; key: string; tenantId: string; userId: string; clock: number };

const scores = suite<Ctx>('productivity scores');

scores.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop(); // each test rolls up when it says so
  // Near the real time (sign-in cookies follow it), on a whole minute.
  ctx.clock = Math.floor(Date.now() / MINUTE) * MINUTE;
  ctx.server.ctx.now = () => new Date(ctx.clock);
  Object.assign(ctx, await ingestKey(ctx.server));
});
scores.after.each(async (ctx) => ctx.server.stop());

/** A finished session: a start, `calls` tool calls spread over `minutes` (the first `failures` failed), OpenTelemetry's lines, sub-agents. */
function session(
  id: string,
  start: number,
  o: { minutes: number; calls: number; failures?: number; lines?: number; agents?: string[] },
) {
  const events: Record<string, unknown>[] = [{ kind: 'session_start', session_id: id, ts: start }];
  for (let i = 0; i < o.calls; i++) {
    events.push({
      kind: 'tool_call',
      name: 'Bash',
      status: i < (o.failures ?? 0) ? 'failure' : 'success',
      tool_use_id: `${id}-${i}`,
      session_id: id,
      ts: start + Math.floor(((i + 1) * o.minutes * MINUTE) / (o.calls + 1)),
    });
  }
  if (o.lines)
    events.push({ kind: 'lines', lines_added: o.lines, lines_removed: 0, session_id: id, ts: start + MINUTE });
  for (const name of o.agents ?? [])
    events.push({ kind: 'subagent_start', name, session_id: id, ts: start + 2 * MINUTE });
  events.push({ kind: 'session_end', session_id: id, ts: start + o.minutes * MINUTE });
  return events;
}

async function send(ctx: Ctx, events: Record<string, unknown>[], userId = ctx.userId) {
  const r = await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId }, 'rest', events, new Date(ctx.clock));
  assert.equal(r.rejected, []);
}

async function api<T>(ctx: Ctx, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${ctx.server.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
  });
  const text = await res.text();
  assert.is(res.status, 200, `${path}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** The sessions scored in [from, to), by id. */
async function scored(ctx: Ctx, from: number, to: number): Promise<Map<string, Score>> {
  const p = await api<{ sessions: Score[] }>(
    ctx,
    `/api/v1/analytics/productivity?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`,
  );
  return new Map(p.sessions.map((s) => [s.session_id, s]));
}

const text = (html: string) =>
  html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&#39;/g, "'")
    .replace(/\s+/g, ' ')
    .trim();
/** The score section of a session page, as text. */
const scoreSection = (html: string) =>
  text(/<section class="widget wide" aria-labelledby="w-score">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? '');

scores(
  "a finished session's score stays as it was: other sessions arriving (an older one late), a running one growing, the range read",
  async (ctx) => {
    const t0 = ctx.clock;
    const bStart = t0 - DAY;
    // A long before (past a lookback of weeks; raw events are kept 90 days), R started just before B and is still running, B finished.
    await send(ctx, session('A', t0 - 80 * DAY, { minutes: 60, calls: 60, lines: 600 }));
    await send(ctx, [
      { kind: 'session_start', session_id: 'R', ts: bStart - 30 * MINUTE },
      { kind: 'prompt', session_id: 'R', ts: t0 - MINUTE },
    ]);
    await send(ctx, session('B', bStart, { minutes: 60, calls: 15, lines: 100 }));
    await ctx.server.ctx.aggregator.runOnce();

    const narrow = [bStart - HOUR, bStart + HOUR] as const;
    const wide = [t0 - 200 * DAY, t0 + HOUR] as const;
    const first = (await scored(ctx, ...narrow)).get('B')!;
    assert.ok(first.final, 'B finished: its score is fixed');
    assert.equal(
      first.baseline,
      { commandsPerHour: 60, linesPerHour: 600, sessions: 1 },
      'against A, the one session finished before it (R was running)',
    );
    assert.is(
      first.score,
      productivityScore(
        { sessionId: 'B', start: bStart, hours: 1, commands: 15, lines: 100, successRate: 1, distinctAgents: 0 },
        first.baseline,
      ).score,
    );
    assert.equal((await scored(ctx, ...wide)).get('B'), first, 'the same read over a wider range');
    const running = (await scored(ctx, ...wide)).get('R')!;
    assert.is(running.final, false, 'R is still running: scored live');

    const page = async () => {
      const admin = await signIn(ctx.server, 'agent@acme.test', 'ingest password 1');
      const html = await (await admin.get(`/sessions/B?user=${ctx.userId}`)).text();
      return /class="score-big score-\w+">(\d+\.\d)/.exec(html)?.[1];
    };
    assert.is(await page(), first.score.toFixed(1), 'the page shows the same score');

    // R grows (200 more calls) and finishes; a session older than B is imported; a newer one arrives.
    await send(
      ctx,
      Array.from({ length: 200 }, (_, i) => ({
        kind: 'tool_call',
        name: 'Edit',
        status: 'success',
        tool_use_id: `R-${i}`,
        session_id: 'R',
        ts: t0 + i * 100,
      })),
    );
    ctx.clock = t0 + 10 * MINUTE;
    await ctx.server.ctx.aggregator.runOnce();
    await send(
      ctx,
      session('Old', t0 - 2 * DAY, { minutes: 30, calls: 100, lines: 5000, agents: ['Explore', 'Plan'] }),
    );
    await send(ctx, session('N', t0 + 11 * MINUTE, { minutes: 5, calls: 3 }));
    ctx.clock = t0 + 20 * MINUTE;
    await ctx.server.ctx.aggregator.runOnce();

    const after = await scored(ctx, ...wide);
    assert.equal(after.get('B'), first, 'B is as it was');
    assert.equal((await scored(ctx, ...narrow)).get('B'), first, 'over the narrow range too');
    assert.is(await page(), first.score.toFixed(1), 'and on its page');
    assert.ok(after.get('R')!.final, 'R finished: fixed now');
    assert.is(after.get('R')!.baseline.sessions, 1, 'R against A');
    assert.is(
      after.get('Old')!.baseline.sessions,
      1,
      'the imported session against the one finished session that started before it',
    );
    assert.is(after.get('N')!.baseline.sessions, 4, 'the newest against all four before it');

    // The seeds' query reads the same score.
    const seeds = await api<{ data: { productivity_score?: number }[] }>(ctx, '/api/metrics/query', {
      method: 'POST',
      body: JSON.stringify({
        start_date: new Date(bStart).toISOString(),
        end_date: new Date(bStart + MINUTE).toISOString(),
        aggregation_window: '1m',
        metric_types: ['productivity_score'],
      }),
    });
    assert.is(seeds.data[0]?.productivity_score, first.score);
  },
);

scores(
  'a late event of a finished session scores it again on its new figures, against the baseline it had',
  async (ctx) => {
    const t0 = ctx.clock;
    await send(ctx, session('A', t0 - 3 * DAY, { minutes: 60, calls: 60, lines: 600 }));
    await send(ctx, session('B', t0 - DAY, { minutes: 60, calls: 15, lines: 100 }));
    await ctx.server.ctx.aggregator.runOnce();
    const before = (await scored(ctx, t0 - 4 * DAY, t0)).get('B')!;
    assert.equal(before.baseline, { commandsPerHour: 60, linesPerHour: 600, sessions: 1 });
    // An older session imported, then five more calls of B that had not arrived.
    await send(ctx, session('Old', t0 - 2 * DAY, { minutes: 60, calls: 6, lines: 0 }));
    await ctx.server.ctx.aggregator.runOnce();
    await send(
      ctx,
      Array.from({ length: 5 }, (_, i) => ({
        kind: 'tool_call',
        name: 'Bash',
        status: 'success',
        tool_use_id: `B-late-${i}`,
        session_id: 'B',
        ts: t0 - DAY + (10 + i) * MINUTE,
      })),
    );
    const pending = (await scored(ctx, t0 - 4 * DAY, t0)).get('B')!;
    assert.equal(
      [pending.final, pending.commands, pending.baseline],
      [false, 20, before.baseline],
      'live on its new figures until the worker has them',
    );
    await ctx.server.ctx.aggregator.runOnce();
    const after = (await scored(ctx, t0 - 4 * DAY, t0)).get('B')!;
    assert.equal(
      [after.final, after.commands, after.baseline],
      [true, 20, before.baseline],
      "fixed again, against the same baseline (not the imported session's)",
    );
    assert.is(
      after.score,
      productivityScore(
        { sessionId: 'B', start: 0, hours: 1, commands: 20, lines: 100, successRate: 1, distinctAgents: 0 },
        before.baseline,
      ).score,
    );
  },
);

scores(
  'two identical sessions are each measured against their own baseline, fixed, and the page says what each factor is made of',
  async (ctx) => {
    const t0 = ctx.clock;
    // The same work twice: 20 calls (one failed) and 160 lines in an hour, one sub-agent.
    const same = { minutes: 60, calls: 20, failures: 1, lines: 160, agents: ['Explore'] };
    await send(ctx, session('P1', t0 - 2 * DAY, same));
    await send(ctx, session('P2', t0 - DAY, same));
    await ctx.server.ctx.aggregator.runOnce();
    const s = await scored(ctx, t0 - 3 * DAY, t0);
    const [p1, p2] = [s.get('P1')!, s.get('P2')!];
    const facts = { hours: 1, commands: 20, lines: 160, successRate: 0.95, distinctAgents: 1 };
    assert.equal(p1.baseline, { commandsPerHour: 15, linesPerHour: 120, sessions: 0 }, 'the first: the defaults');
    assert.equal(
      p2.baseline,
      { commandsPerHour: 20, linesPerHour: 160, sessions: 1 },
      "the second: the first one's pace",
    );
    assert.is(p1.score, productivityScore({ sessionId: 'P1', start: 0, ...facts }, p1.baseline).score);
    assert.is(p2.score, productivityScore({ sessionId: 'P2', start: 0, ...facts }, p2.baseline).score);
    assert.equal(
      [p1.score, p2.score],
      [9.9, 8.6],
      '2 × (4/3 + 4/3 + 0.95 + 1 + 1/3) against 2 × (1 + 1 + 0.95 + 1 + 1/3)',
    );

    const me = await signIn(ctx.server, 'agent@acme.test', 'ingest password 1');
    const pages = await Promise.all(['P1', 'P2'].map(async (id) => (await me.get(`/sessions/${id}`)).text()));
    const [one, two] = pages.map(scoreSection);
    assert.match(one!, /Final: fixed when the session finished/);
    assert.match(
      one!,
      /Baseline of agent@acme\.test: the defaults, 15 actions\/h and 120 lines\/h: no session of theirs had finished before this one started/,
    );
    assert.match(
      two!,
      /Baseline of agent@acme\.test: 20 actions\/h and 160 lines\/h: the pace of their 1 previous finished session /,
    );
    // Each factor: what it measures, the session's value, what it is compared with, its points.
    const rows = (html: string) =>
      new Map(
        [...html.matchAll(/<tr data-factor="(\w+)">([\s\S]*?)<\/tr>/g)].map((m) => [
          m[1] as Factor,
          [...m[2]!.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((c) => text(c[1]!)),
        ]),
      );
    const want: Record<Factor, [string, string, string]> = {
      velocity: ['20 actions/h: 20 tool calls and commands in 1 h', '20 actions/h (this session +0%)', '2.0 of 4'],
      codeOutput: [
        '160 lines/h: 160 lines changed (reported by OpenTelemetry) in 1 h',
        '160 lines/h (this session +0%)',
        '2.0 of 4',
      ],
      success: ['95.0% of 20 tool calls and commands succeeded', 'full marks at 100%', '1.9 of 2'],
      focus: ['1 h from its first event to its last', 'full marks at 2 h', '2.0 of 4'],
      agentEfficiency: ['1 distinct sub-agent type', 'full marks at 6', '0.7 of 4'],
    };
    const second = rows(pages[1]!);
    assert.equal([...second.keys()], Object.keys(FACTORS), 'a row per factor');
    for (const [factor, [measured, compared, points]] of Object.entries(want) as [Factor, [string, string, string]][]) {
      const [head, ...cells] = second.get(factor)!;
      assert.is(
        head,
        `${FACTORS[factor].label} ${FACTORS[factor].explain}`,
        `${factor}: its name and what it measures`,
      );
      assert.equal(cells, [measured, compared, points], factor);
    }
    assert.is(
      rows(pages[0]!).get('velocity')![2],
      '15 actions/h (this session +33%)',
      'the first is compared with the defaults',
    );
  },
);

scores(
  "a hook-only session's Edit, Write and MultiEdit calls are its code output; OpenTelemetry's lines win where a session has them",
  async (ctx) => {
    const t0 = ctx.clock;
    const hook = async (body: Record<string, unknown>) => {
      const res = await fetch(`${ctx.server.url}/api/v1/hooks/claude-code`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.is(res.status, 200);
    };
    const edits = async (sessionId: string, start: number) => {
      const base = { session_id: sessionId, cwd: '/home/dev/acme', transcript_path: '/t.jsonl' };
      const at = async (minute: number, body: Record<string, unknown>) => {
        ctx.clock = start + minute * MINUTE;
        await hook({ ...base, ...body });
      };
      await at(0, { hook_event_name: 'SessionStart', source: 'startup' });
      await at(1, {
        hook_event_name: 'PreToolUse',
        tool_name: 'Edit',
        tool_use_id: `${sessionId}-e`,
        tool_input: { file_path: '/a.ts', old_string: 'a\nb\nc\n', new_string: 'a\nB\nc\nd\n' },
      });
      await at(2, {
        hook_event_name: 'PostToolUse',
        tool_name: 'Edit',
        tool_use_id: `${sessionId}-e`,
        tool_input: { file_path: '/a.ts', old_string: 'a\nb\nc\n', new_string: 'a\nB\nc\nd\n' },
        tool_response: { filePath: '/a.ts', success: true },
      });
      await at(10, {
        hook_event_name: 'PostToolUse',
        tool_name: 'Write',
        tool_use_id: `${sessionId}-w`,
        tool_input: { file_path: '/b.ts', content: 'x\ny\nz\n' },
        tool_response: {},
      });
      await at(20, {
        hook_event_name: 'PostToolUse',
        tool_name: 'MultiEdit',
        tool_use_id: `${sessionId}-m`,
        tool_input: {
          file_path: '/c.ts',
          edits: [
            { old_string: 'p', new_string: 'q' },
            { old_string: 'r\ns', new_string: 'r' },
          ],
        },
        tool_response: {},
      });
      await at(25, {
        hook_event_name: 'PostToolUseFailure',
        tool_name: 'Edit',
        tool_use_id: `${sessionId}-f`,
        tool_input: { file_path: '/d.ts', old_string: 'gone', new_string: 'many\nlines\nhere' },
        error: 'String not found',
      });
      await at(30, { hook_event_name: 'Stop' });
    };
    await edits('hooks-only', t0 - 2 * HOUR);
    await edits('both', t0 - HOUR);
    await send(ctx, [
      { kind: 'lines', lines_added: 40, lines_removed: 10, session_id: 'both', ts: t0 - HOUR + 5 * MINUTE },
    ]);
    ctx.clock = t0;
    await ctx.server.ctx.aggregator.runOnce();

    const s = await scored(ctx, t0 - 3 * HOUR, t0);
    const hooksOnly = s.get('hooks-only')!;
    // Edit +2 −1, Write +3, MultiEdit +1 −1 and −1; the failed Edit changed nothing.
    assert.equal([hooksOnly.lines, hooksOnly.lines_source], [9, 'edits']);
    assert.ok(hooksOnly.final);
    assert.is(hooksOnly.codeOutput, 9 / 0.5 / 120, '18 lines/h against the default 120');
    assert.ok(hooksOnly.codeOutput > 0);
    const both = s.get('both')!;
    assert.equal([both.lines, both.lines_source], [50, 'otel'], "OpenTelemetry's lines, not the edits' as well");

    // lines_added keeps meaning OpenTelemetry's; the edits' are their own metrics.
    const q = await api<{ rows: Record<string, number | string>[] }>(ctx, '/api/v1/query', {
      method: 'POST',
      body: JSON.stringify({
        metrics: ['lines_added', 'lines_removed', 'edit_lines_added', 'edit_lines_removed'],
        group_by: ['session'],
        from: t0 - 3 * HOUR,
        to: t0,
      }),
    });
    const bySession = Object.fromEntries(q.rows.map(({ session, ...m }) => [String(session), m]));
    assert.equal(bySession['hooks-only'], {
      lines_added: 0,
      lines_removed: 0,
      edit_lines_added: 6,
      edit_lines_removed: 3,
    });
    assert.equal(bySession.both, { lines_added: 40, lines_removed: 10, edit_lines_added: 6, edit_lines_removed: 3 });

    // The session's page says the same: its lines from the edits, the code output they made.
    const me = await signIn(ctx.server, 'agent@acme.test', 'ingest password 1');
    const html = await (await me.get('/sessions/hooks-only')).text();
    assert.match(html, /<div class="kpi-label">Lines \(edit tools\)<\/div>\s*<div class="kpi-value">\+6 −3<\/div>/);
    assert.match(
      scoreSection(html),
      /Code output .*? 18 lines\/h: 9 lines changed \(counted from its edit tool calls\) in 30 min 120 lines\/h \(this session −85%\) 0\.3 of 4/,
    );
    assert.match(
      await (await me.get('/sessions/both')).text(),
      /<div class="kpi-label">Lines<\/div>\s*<div class="kpi-value">\+40 −10<\/div>/,
    );
  },
);

scores.run();

test('edit lines: a line diff of old and new, a structuredPatch when the result has one, nothing for other tools', () => {
  assert.equal(lineDiff('a\nb\nc\n', 'a\nB\nc\nd\n'), { added: 2, removed: 1 });
  assert.equal(lineDiff('', 'one'), { added: 1, removed: 0 });
  assert.equal(
    lineDiff('x\ny\nx\ny', 'y\nx\ny\nx'),
    { added: 1, removed: 1 },
    'the longest common run of lines is unchanged',
  );
  assert.equal(
    editLines(
      'Edit',
      { old_string: 'a', new_string: 'b\nc' },
      { structuredPatch: [{ lines: [' ctx', '-a', '+b', '+c', '+d'] }] },
    ),
    { added: 3, removed: 1 },
    "Claude Code's own diff wins",
  );
  assert.equal(editLines('NotebookEdit', { new_source: 'import x\nx()', edit_mode: 'replace' }, {}), {
    added: 2,
    removed: 0,
  });
  assert.equal(editLines('Write', { content: 'only\n' }, null), { added: 1, removed: 0 });
  assert.equal(editLines('MultiEdit', { edits: 'not a list' }, {}), { added: 0, removed: 0 });
  assert.is(editLines('Bash', { command: 'rm -rf /' }, {}), null);
  assert.is(editLines(undefined, {}, {}), null);
});

test("edit lines: a MultiEdit's edits share one diff budget; past it an edit counts as every line replaced", () => {
  // 401 lines each way, one shared in the middle: 160,801 line pairs to diff, under the 200,000 a call may.
  const side = (p: string) =>
    [
      ...Array.from({ length: 200 }, (_, i) => `${p}${i}`),
      'same',
      ...Array.from({ length: 200 }, (_, i) => `${p}${i + 200}`),
    ].join('\n');
  const edit = { old_string: side('old'), new_string: side('new') };
  assert.equal(editLines('Edit', edit, {}), { added: 400, removed: 400 }, 'diffed: the shared line is unchanged');
  // A thousand such edits in one call would be 160 million pairs (seconds on the request path):
  // the first is diffed, the rest are counted as replaced.
  assert.equal(editLines('MultiEdit', { edits: [edit, edit, edit] }, {}), {
    added: 400 + 2 * 401,
    removed: 400 + 2 * 401,
  });
});

test.run();
