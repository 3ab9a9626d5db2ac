// The query API over a real server: the fixtures' expected totals through the dashboard
// summary (before and after the worker rolls them up), time series, sessions and their
// timelines, the seeds' query endpoints, bad parameters, roles and tenant isolation.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { saveSetting } from '../src/aggregate/settings.js';
import { scoreSessions, type SessionFacts } from '../src/analytics/productivity.js';
import { ADMIN, ingestKey, ingestSuite, setUp, signIn, type IngestCtx } from './helpers.js';
import { expectedHooks, hookLines, FIXTURES, type HookExpected } from './fixture-data.js';

const otlpFixture = (name: string) => readFileSync(join(FIXTURES, 'otlp', name));
type Totals = {
  sessions: number;
  tokens: { input: number; output: number; cacheRead: number; cacheCreation: number };
  costUsd: number;
  linesAdded: number;
  linesRemoved: number;
  commits: number;
  toolCalls: number;
  toolFailures: number;
  apiRequests: number;
  byTool: Record<string, number>;
};
const expectedOtlp = JSON.parse(otlpFixture('expected-totals.json').toString()) as Record<string, Totals>;

type Ctx = IngestCtx;
const api = ingestSuite('query API');

const get = (ctx: Ctx, path: string, key = ctx.key) =>
  fetch(`${ctx.server.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
const getJson = async <T = Record<string, unknown>>(ctx: Ctx, path: string, key = ctx.key): Promise<T> => {
  const res = await get(ctx, path, key);
  assert.is(res.status, 200, `${path}: ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as T;
};
/** A manager of the tenant (lead@acme.test) and their read key. */
async function managerKey(ctx: Ctx): Promise<string> {
  const { tenantId } = ctx;
  await runCommand(ctx.server.ctx, 'user create', {
    tenant: tenantId,
    email: 'lead@acme.test',
    role: 'manager',
    password: 'a long password 1',
  });
  const made = await runCommand(ctx.server.ctx, 'apikey create', {
    tenant: tenantId,
    user: 'lead@acme.test',
    scopes: 'read',
  });
  return (made as { key: string }).key;
}
const post = (ctx: Ctx, path: string, body: unknown, type = 'application/json', key = ctx.key) =>
  fetch(`${ctx.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': type, authorization: `Bearer ${key}` },
    body: body instanceof Uint8Array ? new Uint8Array(body) : typeof body === 'string' ? body : JSON.stringify(body),
  });

/** A range around everything the tenant holds. */
async function span(ctx: Ctx) {
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const r = (await db.get<{ lo: number; hi: number }>(
    'SELECT epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi FROM events',
  ))!;
  return `from=${new Date(r.lo - 3_600_000).toISOString()}&to=${new Date(r.hi + 3_600_000).toISOString()}`;
}

async function postOtlpFixtures(ctx: Ctx) {
  for (const [path, file, type] of [
    ['/v1/metrics', 'metrics.json', 'application/json'],
    ['/v1/logs', 'logs.json', 'application/json'],
    ['/v1/metrics', 'metrics.pb', 'application/x-protobuf'],
    ['/v1/logs', 'logs.pb', 'application/x-protobuf'],
  ] as const) {
    assert.is((await post(ctx, path, new Uint8Array(otlpFixture(file)), type)).status, 200, file);
  }
}

type Summary = Record<string, number> & {
  tokens: Record<string, number>;
  by_tool: { tool: string; calls: number; failures: number; p50_ms: number | null; p95_ms: number | null }[];
  by_model: { model: string | null; tokens: number; cost_usd: number }[];
  previous: Record<string, number>;
};

api(
  "the OTLP fixtures' expected totals come back through the summary, from raw events and from rollups alike",
  async (ctx) => {
    await postOtlpFixtures(ctx);
    const want = Object.values(expectedOtlp);
    const sum = (f: (t: Totals) => number) => want.reduce((a, t) => a + f(t), 0);
    const range = await span(ctx);
    for (const stage of ['before the worker ran', 'after it rolled everything up']) {
      if (stage.startsWith('after')) await ctx.server.ctx.aggregator.runOnce(undefined, { compact: true });
      const s = await getJson<Summary>(ctx, `/api/v1/dashboard/summary?${range}`);
      assert.is(
        s.sessions,
        sum((t) => t.sessions),
        stage,
      );
      assert.equal(
        s.tokens,
        {
          input: sum((t) => t.tokens.input),
          output: sum((t) => t.tokens.output),
          cache_read: sum((t) => t.tokens.cacheRead),
          cache_creation: sum((t) => t.tokens.cacheCreation),
          total: sum((t) => t.tokens.input + t.tokens.output + t.tokens.cacheRead + t.tokens.cacheCreation),
        },
        stage,
      );
      assert.ok(Math.abs(s.cost_usd! - sum((t) => t.costUsd)) < 1e-9, `${stage}: cost ${s.cost_usd}`);
      assert.is(
        s.lines_added,
        sum((t) => t.linesAdded),
        stage,
      );
      assert.is(
        s.lines_removed,
        sum((t) => t.linesRemoved),
        stage,
      );
      assert.is(
        s.commits,
        sum((t) => t.commits),
        stage,
      );
      assert.is(
        s.tool_calls,
        sum((t) => t.toolCalls),
        stage,
      );
      assert.is(
        s.tool_failures,
        sum((t) => t.toolFailures),
        stage,
      );
      assert.is(
        s.api_requests,
        sum((t) => t.apiRequests),
        stage,
      );
      const byTool = Object.fromEntries(s.by_tool.map((t) => [t.tool, t.calls]));
      for (const tool of Object.keys(want[0]!.byTool))
        assert.is(
          byTool[tool],
          sum((t) => t.byTool[tool] ?? 0),
          `${stage}: ${tool}`,
        );
      assert.ok(
        s.by_model.length > 0 && Math.abs(s.by_model.reduce((a, m) => a + m.cost_usd, 0) - s.cost_usd!) < 1e-9,
        'by_model adds up to the cost',
      );
      assert.is(s.previous.sessions, 0, 'nothing in the period before');
      // Per session, through the session endpoint.
      for (const [id, t] of Object.entries(expectedOtlp)) {
        const one = await getJson<{ totals: Record<string, number> }>(ctx, `/api/v1/sessions/${id}`);
        assert.is(one.totals.input_tokens, t.tokens.input, `${stage}: ${id}`);
        assert.ok(Math.abs(one.totals.cost_usd! - t.costUsd) < 1e-9, `${stage}: ${id} cost`);
        assert.is(one.totals.tool_calls, t.toolCalls, `${stage}: ${id}`);
      }
    }
  },
);

api(
  'the hook fixtures: tool calls by tool with percentiles, prompts, sub-agents; sessions list and timelines',
  async (ctx) => {
    for (const file of ['session-1.jsonl', 'session-2.jsonl', 'session-3.jsonl']) {
      for (const line of hookLines(file)) assert.is((await post(ctx, '/api/v1/hooks/claude-code', line)).status, 200);
    }
    await ctx.server.ctx.aggregator.runOnce();
    const range = await span(ctx);
    const s = await getJson<Summary>(ctx, `/api/v1/dashboard/summary?${range}`);
    const total = (f: (e: HookExpected) => number) => expectedHooks.reduce((a, e) => a + f(e), 0);
    assert.is(s.sessions, expectedHooks.length);
    assert.is(
      s.tool_calls,
      total((e) => e.tool_calls),
    );
    assert.is(
      s.tool_failures,
      total((e) => e.tool_failures),
    );
    assert.is(
      s.prompts,
      total((e) => e.prompts),
    );
    assert.is(
      s.subagents,
      total((e) => e.subagents),
    );
    for (const t of s.by_tool) {
      assert.is(
        t.calls,
        total((e) => e.by_tool[t.tool] ?? 0),
        t.tool,
      );
      assert.ok(t.p50_ms === null || (t.p95_ms !== null && t.p50_ms <= t.p95_ms), `${t.tool}: p50 ≤ p95`);
    }
    // The tool filter narrows the tool figures only.
    const bash = await getJson<Summary>(ctx, `/api/v1/dashboard/summary?${range}&tool=Bash`);
    assert.is(
      bash.tool_calls,
      total((e) => e.by_tool.Bash ?? 0),
    );
    assert.equal(
      bash.by_tool.map((t) => t.tool),
      ['Bash'],
    );
    assert.is(bash.prompts, s.prompts);

    const list = await getJson<{
      sessions: { session_id: string; tool_calls: number; prompts: number }[];
      next_cursor: string | null;
    }>(ctx, `/api/v1/sessions?${range}&limit=2`);
    assert.is(list.sessions.length, 2);
    assert.ok(list.next_cursor);
    const rest = await getJson<{ sessions: { session_id: string; tool_calls: number }[]; next_cursor: string | null }>(
      ctx,
      `/api/v1/sessions?${range}&limit=2&cursor=${list.next_cursor}`,
    );
    assert.is(rest.sessions.length, 1);
    assert.is(rest.next_cursor, null);
    const all = [...list.sessions, ...rest.sessions];
    assert.equal(all.map((x) => x.session_id).sort(), expectedHooks.map((e) => e.session_id).sort());
    for (const x of all) assert.is(x.tool_calls, expectedHooks.find((e) => e.session_id === x.session_id)!.tool_calls);

    const one = await getJson<{ events: { at: string; kind: string; seq: number }[]; totals: Record<string, number> }>(
      ctx,
      `/api/v1/sessions/${expectedHooks[0]!.session_id}`,
    );
    assert.is(one.events[0]!.kind, 'session_start');
    assert.ok(
      one.events.every((e, i) => i === 0 || e.at >= one.events[i - 1]!.at),
      'in time order',
    );
    assert.is(one.totals.tool_calls, expectedHooks[0]!.tool_calls);
    // Paged timeline: the pages join up to the whole.
    const page1 = await getJson<{ events: { seq: number }[]; next_after: string }>(
      ctx,
      `/api/v1/sessions/${expectedHooks[0]!.session_id}?limit=5`,
    );
    const page2 = await getJson<{ events: { seq: number }[] }>(
      ctx,
      `/api/v1/sessions/${expectedHooks[0]!.session_id}?limit=1000&after=${page1.next_after}`,
    );
    assert.equal(
      [...page1.events, ...page2.events].map((e) => e.seq),
      one.events.map((e) => e.seq),
    );
  },
);

api(
  'a timeline lists every stored event of its session: rolled up, a repeat outside the counted span, one above the watermark',
  async (ctx) => {
    const hour = 3_600_000;
    const base = Date.UTC(2026, 9, 10, 12, 0, 0);
    const ingest = (events: Record<string, unknown>[]) =>
      ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', events);
    await ingest([
      { kind: 'tool_call', name: 'Bash', status: 'success', ts: base, tool_use_id: 'tu1', session_id: 'tl' },
      { kind: 'prompt', ts: base + hour, session_id: 'tl' },
      // The same tool call again, stored but not counted: two hours before the counted span the index holds.
      { kind: 'tool_call', name: 'Bash', status: 'success', ts: base - 2 * hour, tool_use_id: 'tu1', session_id: 'tl' },
      // Awkward text, a number, attributes: the timeline gives them back as sent.
      {
        kind: 'tool_call',
        name: 'Bash "q"\n<b>',
        status: 'failure',
        error: 'line 1\nline 2 ü 😀',
        duration_ms: 1250,
        ts: base + hour / 2 + 7,
        tool_use_id: 'tu2',
        session_id: 'tl',
        attributes: { cmd: 'ls -la', n: 2, nested: { ok: true } },
      },
    ]);
    await ctx.server.ctx.aggregator.runOnce();
    // A late event, days earlier, not rolled up yet.
    await ingest([{ kind: 'prompt', ts: base - 72 * hour, session_id: 'tl' }]);
    const s = await getJson<{ sessions: { tool_calls: number }[] }>(
      ctx,
      `/api/v1/sessions?from=${new Date(base - 96 * hour).toISOString()}&to=${new Date(base + 2 * hour).toISOString()}`,
    );
    assert.is(s.sessions[0]!.tool_calls, 2, 'the repeat of tu1 counts once');
    const timeline = await getJson<{ events: Record<string, unknown>[]; first_at: string; last_at: string }>(
      ctx,
      '/api/v1/sessions/tl',
    );
    assert.equal(
      timeline.events.map((e) => [e.at, e.kind]),
      [
        [new Date(base - 72 * hour).toISOString(), 'prompt'],
        [new Date(base - 2 * hour).toISOString(), 'tool_call'],
        [new Date(base).toISOString(), 'tool_call'],
        [new Date(base + hour / 2 + 7).toISOString(), 'tool_call'],
        [new Date(base + hour).toISOString(), 'prompt'],
      ],
    );
    // counted=true: the events the totals count (the repeat of tu1 left out, as the worker judged it).
    const counted = await getJson<{ events: Record<string, unknown>[] }>(ctx, '/api/v1/sessions/tl?counted=true');
    assert.equal(
      counted.events.map((e) => [e.at, e.kind]),
      [
        [new Date(base - 72 * hour).toISOString(), 'prompt'],
        [new Date(base).toISOString(), 'tool_call'],
        [new Date(base + hour / 2 + 7).toISOString(), 'tool_call'],
        [new Date(base + hour).toISOString(), 'prompt'],
      ],
    );
    // Columns the event has, nothing null, the text and attributes exactly as sent.
    const { seq, ...awkward } = timeline.events[3]!;
    assert.type(seq, 'number');
    assert.equal(awkward, {
      kind: 'tool_call',
      source: 'rest',
      user_id: ctx.userId,
      tool_use_id: 'tu2',
      name: 'Bash "q"\n<b>',
      status: 'failure',
      duration_ms: 1250,
      error: 'line 1\nline 2 ü 😀',
      at: new Date(base + hour / 2 + 7).toISOString(),
      attributes: { cmd: 'ls -la', n: 2, nested: { ok: true } },
    });
    // The session's span: the index's, widened by the late event the worker has not reached.
    assert.equal(
      [timeline.first_at, timeline.last_at],
      [new Date(base - 72 * hour).toISOString(), new Date(base + hour).toISOString()],
    );
    const paged = await getJson<{ events: { at: string }[]; next_after: string }>(ctx, '/api/v1/sessions/tl?limit=3');
    const rest = await getJson<{ events: { at: string }[]; next_after: string | null }>(
      ctx,
      `/api/v1/sessions/tl?limit=3&after=${paged.next_after}`,
    );
    assert.equal(
      [...paged.events, ...rest.events].map((e) => e.at),
      timeline.events.map((e) => e.at),
    );
    assert.is((await get(ctx, '/api/v1/sessions/none-such')).status, 404);
  },
);

api('time series fill the gaps; POST /api/v1/query answers any question; the catalogue lists metrics', async (ctx) => {
  const hour = 3_600_000;
  const base = Date.UTC(2026, 9, 1, 0, 0, 0);
  const events = [0, 0, 2, 5].map((h, i) => ({
    kind: 'tool_call',
    name: i % 2 ? 'Edit' : 'Bash',
    status: 'success',
    ts: base + h * hour + 1000,
    tool_use_id: `tu${i}`,
    duration_ms: 100 * (i + 1),
    session_id: 's1',
  }));
  assert.is(
    (await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', events)).accepted,
    4,
  );
  const from = new Date(base).toISOString();
  const to = new Date(base + 6 * hour).toISOString();
  const ts = await getJson<{ points: { t: string; tool_calls: number }[] }>(
    ctx,
    `/api/v1/metrics/timeseries?metric=tool_calls&interval=1h&from=${from}&to=${to}`,
  );
  assert.equal(
    ts.points.map((p) => p.tool_calls),
    [2, 0, 1, 0, 0, 1],
  );
  assert.is(ts.points[1]!.t, new Date(base + hour).toISOString());
  const grouped = await getJson<{ points: { tool: string; tool_calls: number }[] }>(
    ctx,
    `/api/v1/metrics/timeseries?metric=tool_calls&interval=1d&group_by=tool&from=${from}&to=${to}`,
  );
  assert.equal(grouped.points.map((p) => [p.tool, p.tool_calls]).sort(), [
    ['Bash', 2],
    ['Edit', 2],
  ]);

  const res = await post(ctx, '/api/v1/query', {
    metrics: ['tool_calls', 'tool_max_ms', 'tool_p50_ms'],
    group_by: ['tool'],
    from,
    to,
    order_by: 'tool_max_ms',
  });
  assert.is(res.status, 200);
  const body = (await res.json()) as {
    rows: { tool: string; tool_calls: number; tool_max_ms: number; tool_p50_ms: number }[];
  };
  assert.equal(
    body.rows.map((r) => [r.tool, r.tool_calls, r.tool_max_ms]),
    [
      ['Edit', 2, 400],
      ['Bash', 2, 300],
    ],
  );
  assert.is(body.rows[1]!.tool_p50_ms, 200, 'the p50 of 100 and 300 ms, interpolated between them (exact: a bin each)');
  // The last three hours by tool, with totals, next to the three hours before.
  type Row = { tool?: string; tool_calls: number; tool_max_ms: number };
  type Part = { rows: Row[]; totals: Row };
  const compared = await post(ctx, '/api/v1/query', {
    metrics: ['tool_calls', 'tool_max_ms'],
    group_by: ['tool'],
    from: new Date(base + 3 * hour).toISOString(),
    to,
    compare: true,
    totals: true,
  });
  assert.is(compared.status, 200);
  const both = (await compared.json()) as Part & { previous: Part & { from: string; to: string } };
  assert.equal(
    both.rows.map((r) => [r.tool, r.tool_calls, r.tool_max_ms]),
    [['Edit', 1, 400]],
  );
  assert.equal(both.totals, { tool_calls: 1, tool_max_ms: 400 });
  assert.equal([both.previous.from, both.previous.to], [from, new Date(base + 3 * hour).toISOString()]);
  assert.equal(
    both.previous.rows.map((r) => [r.tool, r.tool_calls, r.tool_max_ms]),
    [
      ['Bash', 2, 300],
      ['Edit', 1, 200],
    ],
  );
  assert.equal(both.previous.totals, { tool_calls: 3, tool_max_ms: 300 });
  // A period with nothing in it still answers, with zeros.
  const quiet = (await (
    await post(ctx, '/api/v1/query', {
      metrics: ['tool_calls', 'tool_max_ms'],
      from: new Date(base + 6 * hour).toISOString(),
      to: new Date(base + 7 * hour).toISOString(),
      compare: true,
    })
  ).json()) as Part & { previous: Part };
  assert.equal(
    [quiet.rows, quiet.previous.rows],
    [[{ tool_calls: 0, tool_max_ms: null }], [{ tool_calls: 1, tool_max_ms: 400 }]],
  );
  const cat = await getJson<{ metrics: { name: string }[]; dimensions: { name: string }[]; intervals: string[] }>(
    ctx,
    '/api/v1/metrics/catalogue',
  );
  assert.ok(cat.metrics.some((m) => m.name === 'cost_usd') && cat.dimensions.some((d) => d.name === 'tool'));
  // Every interval a query takes, weeks and calendar months included.
  assert.equal(cat.intervals, ['1m', '5m', '15m', '1h', '1d', '1w', '1mo']);
});

api('bad parameters are 400s naming the parameter', async (ctx) => {
  const cases: [string, string][] = [
    ['/api/v1/dashboard/summary?from=2026-02-01&to=2026-01-01', 'from'],
    ['/api/v1/dashboard/summary?from=yesterday', 'from'],
    ['/api/v1/dashboard/summary?to=2026-13-45T00:00:00Z', 'to'],
    ['/api/v1/metrics/timeseries?metric=nope', 'metric'],
    ['/api/v1/metrics/timeseries', 'metric'],
    ['/api/v1/metrics/timeseries?metric=tool_calls&interval=2h', 'interval'],
    ['/api/v1/metrics/timeseries?metric=tool_calls&interval=1m&from=2025-01-01&to=2026-01-01', 'interval'],
    ['/api/v1/metrics/timeseries?metric=cost_usd&group_by=tool', 'group_by'],
    ['/api/v1/metrics/timeseries?metric=cost_usd&tool=Bash', 'tool'],
    ['/api/v1/metrics/timeseries?metric=tool_calls&group_by=colour', 'group_by'],
    ['/api/v1/dashboard/summary?from=2000-01-01', 'from'],
    ['/api/v1/sessions?cursor=garbage', 'cursor'],
    ['/api/v1/sessions/s1?after=garbage', 'after'],
    ['/api/v1/sessions/s1?after=9999999999999999.1', 'after'],
    ['/api/v1/sessions?limit=0', 'limit'],
    ['/api/metrics/aggregated?aggregation_window=7m', 'aggregation_window'],
    ['/api/metrics/dashboard?time_range=forever', 'time_range'],
    ['/api/metrics/real-time/2h', 'window'],
    ['/api/metrics/commands?start_date=soon', 'start_date'],
    ['/api/v1/analytics/trends?metric=nope', 'metric'],
    ['/api/v1/dashboard/summary?range=forever', 'range'],
    ['/api/v1/dashboard/summary?range=today', 'range'],
    ['/api/v1/dashboard/summary?range=24h&from=2026-01-01', 'range'],
    ['/api/metrics/commands?range=7d&start_date=2026-01-01', 'range'],
    [`/api/v1/query?q=${encodeURIComponent('{"metrics":["events"]}')}&range=24h`, 'range'],
    // A kind no event has would match nothing: refused, not answered with zeros.
    ['/api/v1/errors?kind=bogus', 'kind'],
    ['/api/v1/errors?kind=prompt', 'kind'], // an event kind, but none of its events is a failure
    ['/api/v1/dashboard/summary?kind=bogus', 'kind'],
    ['/api/v1/metrics/timeseries?metric=events&kind=tool_call,bogus', 'kind'],
    // The other route family's names would be ignored and the default range answered.
    ['/api/v1/dashboard/summary?start_date=2026-11-01&end_date=2026-11-02', 'start_date'],
    ['/api/v1/dashboard/summary?range=24h&end_date=2026-11-02', 'end_date'],
    ['/api/metrics/aggregated?from=2026-11-01&to=2026-11-02', 'from'],
    ['/api/metrics/commands?to=2026-11-02', 'to'],
    [`/api/v1/query?q=${encodeURIComponent('{"metrics":["events"]}')}&from=2020-01-01`, 'from'],
    // Given twice, the first would be answered as if it were the one meant.
    ['/api/v1/dashboard/summary?range=24h&range=7d', 'range'],
    ['/api/v1/metrics/timeseries?metric=events&from=2026-11-01&from=2026-10-01', 'from'],
    ['/api/metrics/aggregated?start_date=2026-11-01&end_date=2026-11-02&end_date=2026-11-03', 'end_date'],
  ];
  for (const [path, field] of cases) {
    const res = await get(ctx, path);
    assert.is(res.status, 400, `${path}: ${res.status}`);
    assert.is(((await res.json()) as { field: string }).field, field, path);
  }
  const posts: [string, unknown, string][] = [
    ['/api/v1/query', { metrics: ['nope'], from: 0, to: 1 }, 'metrics.0'],
    ['/api/v1/query', { metrics: ['events'], from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'from'],
    ['/api/v1/query', { metrics: ['events'], from: 0, to: 1, limit: 10_000_000 }, 'limit'],
    ['/api/v1/query', { metrics: ['events'], from: 0, to: 1, totals: true }, 'totals'],
    [
      '/api/v1/query',
      { metrics: ['events'], from: 0, to: 1, filters: { kind: ['tool_call', 'bogus'] } },
      'filters.kind.1',
    ],
    [
      '/api/metrics/query',
      { start_date: '2026-01-01T00:00:00Z', end_date: '2026-01-02T00:00:00Z', metric_types: ['happiness'] },
      'metric_types.0',
    ],
    ['/api/metrics/query', { start_date: '2026-01-01T00:00:00Z', metric_types: ['error_rate'] }, 'end_date'],
  ];
  for (const [path, body, field] of posts) {
    const res = await post(ctx, path, body);
    assert.is(res.status, 400, `${path} ${JSON.stringify(body)}: ${res.status}`);
    assert.is(((await res.json()) as { field: string }).field, field, JSON.stringify(body));
  }
  assert.is((await post(ctx, '/api/v1/query', '{not json')).status, 400);
});

api('range= names the rolling presets the dashboards use, up to now', async (ctx) => {
  const now = Date.parse('2026-06-10T12:00:00Z');
  ctx.server.ctx.now = () => new Date(now);
  const prompt = (id: string, hoursAgo: number) => ({
    id,
    kind: 'prompt',
    ts: now - hoursAgo * 3_600_000,
    session_id: id,
  });
  const events = [prompt('a', 2), prompt('b', 30), prompt('c', 24 * 8)];
  await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', events);
  for (const [range, prompts] of [
    ['1h', 0],
    ['24h', 1],
    ['7d', 2],
    ['30d', 3],
  ] as const) {
    const s = await getJson<Summary>(ctx, `/api/v1/dashboard/summary?range=${range}`);
    assert.is(s.prompts, prompts, range);
    const asked = `from=${new Date(now - { '1h': 1, '24h': 24, '7d': 168, '30d': 720 }[range] * 3_600_000).toISOString()}`;
    assert.equal(s, await getJson<Summary>(ctx, `/api/v1/dashboard/summary?${asked}`), `${range} is ${asked}`);
  }
  // The same words on every route, also where the documented parameters are checked first.
  for (const path of [
    '/api/v1/dashboard/summary',
    '/api/v1/sessions',
    '/api/v1/errors',
    '/api/v1/metrics/timeseries',
  ]) {
    const res = await get(ctx, `${path}?metric=prompts&range=today`);
    assert.is(res.status, 400, path);
    assert.match(
      ((await res.json()) as { error: string }).error,
      /^range: must be one of 1h, 24h, 7d, 30d, 90d; /,
      path,
    );
  }
  const { key } = (await runCommand(ctx.server.ctx, 'apikey create', {
    tenant: ctx.tenantId,
    user: ADMIN.email,
    scopes: 'read',
  })) as { key: string };
  const exported = await fetch(`${ctx.server.url}/api/metrics/export/csv?range=today`, {
    headers: { authorization: `Bearer ${key}` },
  });
  assert.is(exported.status, 400);
  assert.match(((await exported.json()) as { error: string }).error, /^range: must be one of 1h, 24h, 7d, 30d, 90d; /);
});

api('rows grouped by user name the person, in this period and the one before', async (ctx) => {
  const now = Date.parse('2026-06-10T12:00:00Z');
  const prompt = (id: string, hoursAgo: number) => ({
    id,
    kind: 'prompt',
    ts: now - hoursAgo * 3_600_000,
    session_id: id,
  });
  await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', [
    prompt('a', 2),
    prompt('b', 30),
  ]);
  const body = { metrics: ['prompts'], group_by: ['user'], from: now - 86_400_000, to: now, compare: true };
  const res = await post(ctx, '/api/v1/query', body);
  assert.is(res.status, 200, await res.clone().text());
  const answer = (await res.json()) as { rows: object[]; previous: { rows: object[] } };
  const person = { user: ctx.userId, user_email: 'agent@acme.test', user_name: null };
  assert.equal(answer.rows, [{ ...person, prompts: 1 }]);
  assert.equal(Object.keys(answer.rows[0]!), ['user', 'user_email', 'user_name', 'prompts'], 'beside the id');
  assert.equal(answer.previous.rows, [{ ...person, prompts: 1 }]);
  const got = await getJson<{ rows: object[] }>(ctx, `/api/v1/query?q=${encodeURIComponent(JSON.stringify(body))}`);
  assert.equal(got.rows, answer.rows, 'GET /api/v1/query alike');
  const plain = await post(ctx, '/api/v1/query', { ...body, group_by: [] });
  assert.equal(((await plain.json()) as { rows: object[] }).rows, [{ prompts: 1 }], 'no person where none is grouped');
});

api('a time past the year 9999 (or before the year 1) is a 400 naming the parameter', async (ctx) => {
  // Epoch ms of up to 16 digits, or JSON numbers, can name times no date holds (above 8.64e15).
  const far = 'from=8700000000000000';
  const cases: [string, string][] = [
    [`/api/v1/metrics/timeseries?metric=events&${far}`, 'from'],
    ['/api/v1/metrics/timeseries?metric=events&from=8700000000000000&to=8700000001000000', 'to'],
    [`/api/v1/dashboard/summary?${far}`, 'from'],
    ['/api/v1/dashboard/summary?from=9999999999999000&to=9999999999999999', 'to'],
    ['/api/v1/dashboard/summary?to=9999999999999999', 'to'],
    ['/api/v1/dashboard/summary?from=-100000-01-01T00:00:00Z', 'from'],
    [`/api/v1/errors?${far}`, 'from'],
    [`/api/v1/errors?${far}&format=csv`, 'from'],
    [`/api/v1/sessions?${far}&format=csv`, 'from'],
    [`/api/v1/analytics/insights?${far}`, 'from'],
    [`/api/v1/query?q=${encodeURIComponent(JSON.stringify({ metrics: ['events'], from: 8.7e15 }))}`, 'from'],
  ];
  for (const [path, field] of cases) {
    const res = await get(ctx, path);
    assert.is(res.status, 400, `${path}: ${res.status}`);
    assert.is(((await res.json()) as { field: string }).field, field, path);
  }
  for (const [body, field] of [
    [{ metrics: ['events'], from: 8.7e15 }, 'from'],
    [{ metrics: ['events'], from: -8.7e15 - 1e6, to: 1e6 }, 'from'],
    [{ metrics: ['events'], to: 9.1e15 }, 'to'],
  ] as const) {
    const res = await post(ctx, '/api/v1/query', body);
    assert.is(res.status, 400, `${JSON.stringify(body)}: ${res.status}`);
    assert.is(((await res.json()) as { field: string }).field, field, JSON.stringify(body));
  }
  // The years 1 and 9999 themselves are answered (with nothing in them).
  const edge = await get(ctx, '/api/v1/dashboard/summary?from=0001-01-01&to=0001-01-08');
  assert.is(edge.status, 200);
  assert.is(((await edge.json()) as { tool_calls: number }).tool_calls, 0);
  assert.is((await get(ctx, '/api/v1/dashboard/summary?from=9999-12-24&to=9999-12-31T23:59:59Z')).status, 200);
});

api("the seeds' query endpoints answer from the same model", async (ctx) => {
  const now = Date.now();
  const who = { tenantId: ctx.tenantId, userId: ctx.userId };
  await ctx.server.ctx.ingest.ingest(who, 'rest', [
    {
      kind: 'command',
      name: 'plan-product',
      status: 'success',
      duration_ms: 1200,
      ts: now - 120_000,
      session_id: 'c1',
    },
    {
      kind: 'command',
      name: 'plan-product',
      status: 'failure',
      duration_ms: 300,
      ts: now - 60_000,
      session_id: 'c1',
      error: 'boom',
    },
    { kind: 'command', name: 'build', status: 'success', duration_ms: 50, ts: now - 30_000, session_id: 'c1' },
    {
      kind: 'tool_call',
      name: 'Bash',
      status: 'success',
      duration_ms: 10,
      ts: now - 10_000,
      tool_use_id: 'x',
      session_id: 'c1',
    },
  ]);
  const rt = await getJson<{ totals: Record<string, number>; series: Record<string, number>[] }>(
    ctx,
    '/api/metrics/real-time/5m',
  );
  assert.is(rt.totals.commands, 3);
  assert.is(rt.totals.tool_calls, 1);
  assert.is(rt.totals.sessions, 1);
  assert.is(
    rt.series.reduce((n, p) => n + p.events!, 0),
    rt.totals.events,
    'the series adds up to the totals',
  );
  assert.equal(Object.keys(rt.series[0]!).sort(), ['cost_usd', 'events', 't', 'tool_calls', 'tool_failures']);
  // A tool filter narrows the tool figures alone: a minute of commands only still has them, at 0.
  const bash = await getJson<{ series: Record<string, number>[] }>(ctx, '/api/metrics/real-time/5m?tool_name=Bash');
  const quiet = bash.series.filter((p) => p.events! > 0 && p.tool_calls === 0);
  assert.ok(quiet.length > 0, 'a minute with events and no Bash call');
  for (const p of bash.series)
    assert.equal(Object.keys(p).sort(), ['cost_usd', 'events', 't', 'tool_calls', 'tool_failures'], JSON.stringify(p));
  assert.is(
    bash.series.reduce((n, p) => n + p.tool_calls!, 0),
    1,
  );
  const rt1 = await getJson<{ totals: Record<string, number> }>(ctx, '/api/metrics/real-time/1m');
  assert.is(rt1.totals.commands, 1, 'only the last minute');
  const cmds = await getJson<{ data: { command_name: string; status: string; error_message: string | null }[] }>(
    ctx,
    '/api/metrics/commands?command_name=plan-product&status=failure',
  );
  assert.equal(
    cmds.data.map((c) => [c.command_name, c.status, c.error_message]),
    [['plan-product', 'failure', 'boom']],
  );
  const agg = await getJson<{ data: Record<string, unknown>[] }>(
    ctx,
    `/api/metrics/aggregated?start_date=${new Date(now - 86_400_000).toISOString()}&end_date=${new Date(now + 60_000).toISOString()}&aggregation_window=1d`,
  );
  assert.is(
    agg.data.reduce((a, r) => a + Number(r.commands), 0),
    3,
  );
  assert.is(agg.data[0]!.user_id, ctx.userId);
  // A tool filter narrows the tool figures alone, as on /real-time: the commands still count.
  const aggBash = await getJson<{ data: Record<string, unknown>[] }>(
    ctx,
    `/api/metrics/aggregated?start_date=${new Date(now - 86_400_000).toISOString()}&end_date=${new Date(now + 60_000).toISOString()}&aggregation_window=1d&tool_name=Bash`,
  );
  assert.equal(
    aggBash.data.map((r) => [r.commands, r.tool_calls]),
    agg.data.map((r) => [r.commands, r.tool_calls]),
  );
  const aggRead = await getJson<{ data: Record<string, unknown>[] }>(
    ctx,
    `/api/metrics/aggregated?start_date=${new Date(now - 86_400_000).toISOString()}&end_date=${new Date(now + 60_000).toISOString()}&aggregation_window=1d&tool_name=Read`,
  );
  assert.equal(
    aggRead.data.map((r) => [r.commands, r.tool_calls]),
    agg.data.map((r) => [r.commands, 0]),
  );
  // The query language's partial_filters: a tool filter narrows the tool figures alone, as the pages' do.
  const asked = { metrics: ['commands', 'tool_calls'], from: now - 86_400_000, to: now + 60_000 };
  let res = await post(ctx, '/api/v1/query', { ...asked, filters: { tool: ['Read'] } });
  assert.equal([res.status, ((await res.json()) as { field: string }).field], [400, 'filters.tool']);
  res = await post(ctx, '/api/v1/query', { ...asked, filters: { tool: ['Read'] }, partial_filters: true });
  assert.is(res.status, 200);
  assert.equal(((await res.json()) as { rows: unknown[] }).rows, [{ commands: 3, tool_calls: 0 }]);
  res = await post(ctx, '/api/v1/query', {
    ...asked,
    metrics: ['commands'],
    filters: { tool: ['Read'] },
    partial_filters: true,
  });
  const refused = (await res.json()) as { field: string; error: string };
  assert.equal(
    [res.status, refused.field, refused.error],
    [400, 'filters.tool', 'filters.tool: tool applies to none of the metrics'],
  );
  const dash = await getJson<Record<string, number>>(ctx, '/api/metrics/dashboard?time_range=1h&team_id=anything');
  assert.is(dash.commands, 3);
  const q = await post(ctx, '/api/metrics/query', {
    start_date: new Date(now - 3_600_000).toISOString(),
    end_date: new Date(now + 60_000).toISOString(),
    aggregation_window: '1h',
    metric_types: ['error_rate', 'commands'],
  });
  assert.is(q.status, 200);
  const data = ((await q.json()) as { data: Record<string, number>[] }).data;
  assert.is(
    data.reduce((a, r) => a + r.commands!, 0),
    3,
  );
  assert.ok(data.some((r) => r.error_rate! > 0));
});

api(
  "roles: developers see their own data, viewers team figures only, managers the team; other tenants' sessions are 404",
  async (ctx) => {
    const admin = await setUp(ctx.server).catch(() => null); // setup already ran in ingestKey
    void admin;
    const mk = async (email: string, role: string) => {
      await runCommand(ctx.server.ctx, 'user create', {
        tenant: ctx.tenantId,
        email,
        role,
        password: 'a long password 1',
      });
      return signIn(ctx.server, email, 'a long password 1');
    };
    const other = await ingestKey(ctx.server, ['ingest', 'read'], 'other@acme.test');
    const now = Date.now();
    const ev = (session: string, i: number) => ({
      kind: 'tool_call',
      name: 'Bash',
      status: 'success',
      ts: now - 60_000 + i,
      tool_use_id: `${session}-${i}`,
      session_id: session,
    });
    await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', [
      ev('mine', 1),
      ev('mine', 2),
    ]);
    await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: other.userId }, 'rest', [
      ev('theirs', 1),
      ev('theirs', 2),
      ev('theirs', 3),
    ]);
    await ctx.server.ctx.aggregator.runOnce();

    // The agent@ developer, through its API key: its own two calls only.
    const mine = await getJson<Summary>(ctx, '/api/v1/dashboard/summary');
    assert.is(mine.tool_calls, 2);
    assert.is((await get(ctx, `/api/v1/dashboard/summary?user=${other.userId}`)).status, 403);
    assert.is(
      (await get(ctx, '/api/v1/sessions/theirs')).status,
      404,
      "a colleague's session does not exist for a developer",
    );
    assert.is((await get(ctx, '/api/v1/sessions/mine')).status, 200);
    assert.is((await get(ctx, '/api/v1/analytics/team')).status, 403);

    const manager = await mk('boss@acme.test', 'manager');
    const team = (await (await manager.request('/api/v1/dashboard/summary')).json()) as Summary;
    assert.is(team.tool_calls, 5);
    const byUser = (await (
      await manager.request('/api/v1/metrics/timeseries?metric=tool_calls&group_by=user&interval=1d')
    ).json()) as { points: { user: string; user_email: string; tool_calls: number }[] };
    assert.equal(byUser.points.map((p) => p.tool_calls).sort(), [2, 3]);
    // Each person named beside the id, as the query API names them.
    const emails = new Map([
      [ctx.userId, 'agent@acme.test'],
      [other.userId, 'other@acme.test'],
    ]);
    for (const p of byUser.points) assert.is(p.user_email, emails.get(p.user), p.user);
    assert.is((await manager.request('/api/v1/sessions/theirs')).status, 200);
    const compared = await manager.request('/api/v1/analytics/team');
    assert.is(compared.status, 200);
    const users = ((await compared.json()) as { users: { user: string; user_email: string }[] }).users;
    assert.ok(users.length >= 2);
    for (const u of users) assert.is(u.user_email, emails.get(u.user), u.user);

    const viewer = await mk('eyes@acme.test', 'viewer');
    assert.is(
      ((await (await viewer.request('/api/v1/dashboard/summary')).json()) as Summary).tool_calls,
      5,
      'team figures',
    );
    assert.is((await viewer.request('/api/v1/metrics/timeseries?metric=tool_calls&group_by=user')).status, 403);
    assert.is((await viewer.request('/api/v1/sessions')).status, 403);
    assert.is((await viewer.request(`/api/v1/dashboard/summary?user=${ctx.userId}`)).status, 403);

    // An ingest-only key may not read; no key at all is a 401.
    const writeOnly = await ingestKey(ctx.server, ['ingest'], 'writer@acme.test');
    assert.is((await get(ctx, '/api/v1/dashboard/summary', writeOnly.key)).status, 403);
    assert.is((await fetch(`${ctx.server.url}/api/v1/dashboard/summary`)).status, 401);

    // Another tenant's admin asks for this tenant's session by id: it is not there.
    await runCommand(ctx.server.ctx, 'tenant create', { name: 'Globex' });
    const globex = ((await runCommand(ctx.server.ctx, 'tenant list', {})) as { id: string; name: string }[]).find(
      (t) => t.name === 'Globex',
    )!;
    await runCommand(ctx.server.ctx, 'user create', {
      tenant: globex.id,
      email: 'g@globex.test',
      role: 'tenant_admin',
      password: 'a long password 1',
    });
    const g = await signIn(ctx.server, 'g@globex.test', 'a long password 1');
    assert.is((await g.request('/api/v1/sessions/mine')).status, 404);
    assert.is(((await (await g.request('/api/v1/dashboard/summary')).json()) as Summary).tool_calls, 0);
    void ADMIN;
  },
);

api(
  'GET /api/metrics/aggregated: a page past the 10,000 rows one question gives is a 400 naming offset',
  async (ctx) => {
    // Three people, each active in 3,400 minutes: 10,200 one-minute windows by person.
    const now = Date.now();
    const start = now - 3_500 * 60_000;
    for (const email of ['a@acme.test', 'b@acme.test', 'c@acme.test']) {
      const { userId } = await ingestKey(ctx.server, ['ingest', 'read'], email);
      const events = Array.from({ length: 3_400 }, (_, i) => ({
        id: `${email}-${i}`,
        kind: 'prompt' as const,
        ts: start + i * 60_000,
        session_id: `s-${email}`,
      }));
      await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId }, 'rest', events);
    }
    await runCommand(ctx.server.ctx, 'user create', {
      tenant: ctx.tenantId,
      email: 'boss@acme.test',
      role: 'manager',
      password: 'a long password 1',
    });
    const manager = await signIn(ctx.server, 'boss@acme.test', 'a long password 1');
    const page = (offset: number) =>
      manager.request(
        `/api/metrics/aggregated?start_date=${new Date(start).toISOString()}&end_date=${new Date(now).toISOString()}&aggregation_window=1m&limit=100&offset=${offset}`,
      );
    const last = (await (await page(9_900)).json()) as { pagination: { returned: number; has_more: boolean } };
    assert.equal([last.pagination.returned, last.pagination.has_more], [100, true]);
    for (const offset of [9_950, 10_000, 100_000]) {
      const res = await page(offset);
      assert.is(res.status, 400, `offset ${offset}`);
      const body = (await res.json()) as { field: string; error: string };
      assert.is(body.field, 'offset');
      assert.match(body.error, /more than 10000 windows match/);
    }
  },
);

api("/readyz reports the rollups' lag and the worker catches up", async (ctx) => {
  await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', [
    { kind: 'prompt', session_id: 'p' },
    { kind: 'prompt', session_id: 'p', ts: Date.now() - 5 },
  ]);
  const behind = (await (await fetch(`${ctx.server.url}/readyz`)).json()) as {
    aggregation: { pending_events: number };
  };
  assert.is(behind.aggregation.pending_events, 2);
  await ctx.server.ctx.aggregator.runOnce();
  const caught = (await (await fetch(`${ctx.server.url}/readyz`)).json()) as {
    aggregation: { pending_events: number; max_lag_seconds: number };
  };
  assert.equal([caught.aggregation.pending_events, caught.aggregation.max_lag_seconds], [0, 0]);
});

api('price overrides re-price past requests that reported no cost; retention is a tenant setting', async (ctx) => {
  const admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
  await admin.get('/');
  const adminTenant = (await ctx.server.ctx.control.get<{ tenant_id: string; id: string }>(
    'SELECT tenant_id, id FROM users WHERE email = $e',
    { e: ADMIN.email },
  ))!;
  const now = Date.now();
  await ctx.server.ctx.ingest.ingest({ tenantId: adminTenant.tenant_id, userId: adminTenant.id }, 'rest', [
    {
      kind: 'api_request',
      model: 'claude-sonnet-4-5-20250929',
      request_id: 'r1',
      input_tokens: 1_000_000,
      output_tokens: 100_000,
      session_id: 'priced',
      ts: now - 1000,
    },
    {
      kind: 'api_request',
      model: 'claude-sonnet-4-5-20250929',
      request_id: 'r2',
      input_tokens: 5,
      cost_usd: 0.5,
      session_id: 'priced',
      ts: now - 900,
    },
    {
      kind: 'api_request',
      model: 'claude-sonnet-4-5-20250929',
      request_id: 'r3',
      input_tokens: 1_000_000,
      session_id: 'an hour ago',
      ts: now - 3_600_000,
    },
  ]);
  await ctx.server.ctx.aggregator.runOnce();
  // A session quiet for an hour has its figures stored; a price change forgets them.
  const reader = await ctx.server.ctx.tenantFiles.connection(adminTenant.tenant_id, 'reader');
  const stored = async () =>
    (await reader.all(`SELECT session_id FROM session_figures WHERE session_id = 'an hour ago'`)).length;
  const sessionCost = async () =>
    ((await (await admin.request('/api/v1/sessions/an%20hour%20ago')).json()) as { totals: { cost_usd: number } })
      .totals.cost_usd;
  assert.is(await stored(), 1);
  assert.ok(Math.abs((await sessionCost()) - 3) < 1e-9, `stored at list price: ${await sessionCost()}`);
  const cost = async () =>
    (
      (await (
        await admin.request(`/api/v1/dashboard/summary?from=${new Date(now - 60_000).toISOString()}`)
      ).json()) as Summary
    ).cost_usd!;
  assert.ok(
    Math.abs((await cost()) - (3 + 1.5 + 0.5)) < 1e-9,
    `list price: 1M input × $3 + 100k output × $15, plus the reported $0.50: ${await cost()}`,
  );
  const put = (path: string, json: unknown) =>
    admin.request(`/api/v1/settings/${path}`, { method: 'PUT', json, headers: { 'x-csrf-token': admin.csrf! } });
  assert.is(
    (await put('prices', { 'claude-sonnet-4-5': { input: 1, output: 2, cache_write: 0, cache_read: 0 } })).status,
    200,
  );
  assert.ok(Math.abs((await cost()) - (1 + 0.2 + 0.5)) < 1e-9, `re-priced: ${await cost()}`);
  assert.is(await stored(), 0, 'figures at the old price are forgotten');
  assert.ok(Math.abs((await sessionCost()) - 1) < 1e-9, `the session re-priced at once: ${await sessionCost()}`);
  await ctx.server.ctx.aggregator.runOnce();
  assert.is(await stored(), 1, 'stored again');
  assert.ok(Math.abs((await sessionCost()) - 1) < 1e-9, `at the new price: ${await sessionCost()}`);
  const bad = await put('prices', { 'claude-sonnet-4-5': { input: -1, output: 2, cache_write: 0, cache_read: 0 } });
  assert.is(bad.status, 400);
  assert.is(((await bad.json()) as { field: string }).field, 'claude-sonnet-4-5.input');
  // Each priced model is stored and re-priced while the worker waits: 5,000 held every
  // tenant's rollups for half a minute, then failed short of memory with the setting saved.
  const rate = { input: 1, output: 1, cache_write: 0, cache_read: 0 };
  const models = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`model-${i}`, rate]));
  const tooMany = await put('prices', models(501));
  assert.is(tooMany.status, 400);
  assert.equal(await tooMany.json(), { error: 'body: at most 500 models', field: 'body' });
  const priced = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const rows = async () => (await priced.get<{ n: number }>('SELECT count(*) AS n FROM model_prices'))!.n;
  const seen = await rows();
  // Only the models seen are priced at a change (one seen later, as it is rolled up): the
  // work stays the same however many overrides come and go.
  for (const prefix of ['a', 'b']) {
    const named = Object.fromEntries(Object.entries(models(500)).map(([m, p]) => [`${prefix}-${m}`, p]));
    assert.is((await put('prices', named)).status, 200);
    assert.is(await rows(), seen);
  }
  // A list stored before the limit (an older version took any number) is still read whole.
  await saveSetting(priced, priced, 'prices', models(600));
  const listed = (await (await admin.request('/api/v1/settings')).json()) as { prices: { overrides: object } };
  assert.is(Object.keys(listed.prices.overrides).length, 600);
  // The page refuses a model more, as the API does.
  await admin.get('/settings/prices');
  const page = await admin.post('/settings/prices', {
    model: 'one-more',
    input: '1',
    output: '1',
    cache_write: '0',
    cache_read: '0',
  });
  assert.is(page.status, 400);
  assert.match(await page.text(), /model: at most 500 models/);
  assert.is((await put('retention', { raw: 30, '1m': 7 })).status, 200);
  const settings = (await (await admin.request('/api/v1/settings')).json()) as {
    retention_days: Record<string, number | null>;
  };
  assert.equal(settings.retention_days, { raw: 30, '1m': 7, '5m': 30, '15m': 365, '1h': 365, '1d': null });
  assert.is((await put('retention', { raw: 0 })).status, 400);
  // A developer may read them but not change them.
  assert.is((await get(ctx, '/api/v1/settings')).status, 200);
  const dev = await signIn(ctx.server, 'agent@acme.test', 'ingest password 1');
  await dev.get('/');
  assert.is(
    (
      await dev.request('/api/v1/settings/retention', {
        method: 'PUT',
        json: { raw: 10 },
        headers: { 'x-csrf-token': dev.csrf! },
      })
    ).status,
    403,
  );
});

api('analytics: productivity scores, trends with anomalies, insights', async (ctx) => {
  const day = 86_400_000;
  const today = Math.floor(Date.now() / day) * day;
  const events: Record<string, unknown>[] = [];
  for (let d = 20; d >= 1; d--) {
    const start = today - d * day + 9 * 3_600_000;
    const session = `day${d}`;
    const calls = d === 3 ? 200 : 20; // one unusual day
    events.push({ kind: 'session_start', session_id: session, ts: start });
    for (let i = 0; i < calls; i++)
      events.push({
        kind: 'tool_call',
        name: 'Bash',
        status: i % 10 ? 'success' : 'failure',
        tool_use_id: `${session}-${i}`,
        session_id: session,
        ts: start + 60_000 + i * 1000,
        duration_ms: 50,
      });
    events.push({ kind: 'lines', lines_added: 100, lines_removed: 20, session_id: session, ts: start + 3_600_000 });
    events.push({ kind: 'subagent_start', name: 'Explore', session_id: session, ts: start + 1_800_000 });
    events.push({ kind: 'session_end', session_id: session, ts: start + 2 * 3_600_000 });
  }
  await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', events);
  await ctx.server.ctx.aggregator.runOnce();
  const from = new Date(today - 21 * day).toISOString();
  const to = new Date(today).toISOString();
  const p = await getJson<{
    sessions: {
      session_id: string;
      score: number;
      hours: number;
      commands: number;
      lines: number;
      agents_used: number;
      trend: string;
    }[];
    average: number;
  }>(ctx, `/api/v1/analytics/productivity?from=${from}&to=${to}`);
  assert.is(p.sessions.length, 20);
  const s5 = p.sessions.find((s) => s.session_id === 'day5')!;
  assert.equal([s5.hours, s5.commands, s5.lines, s5.agents_used], [2, 20, 120, 1]);
  assert.ok(s5.score >= 0 && s5.score <= 10 && typeof s5.trend === 'string');
  const t = await getJson<{
    points: { t: string; v: number }[];
    trend: { direction: string; forecast: unknown[] };
    anomalies: { t: string; severity: string }[];
  }>(ctx, `/api/v1/analytics/trends?metric=tool_calls&interval=1d&from=${from}&to=${to}`);
  assert.is(t.points.length, 21);
  assert.is(t.trend.forecast.length, 7);
  assert.ok(
    t.anomalies.some((a) => a.t === new Date(today - 3 * day).toISOString()),
    'the unusual day stands out',
  );
  const i = await getJson<{ insights: string[]; mine: Record<string, number> }>(
    ctx,
    `/api/v1/analytics/insights?from=${from}&to=${to}`,
  );
  assert.is(i.mine.tool_calls, 19 * 20 + 200);
  assert.ok(
    i.insights.some((x) => x.includes('Bash')),
    i.insights.join(' | '),
  );
});

api(
  "insights: the team's per-person average for those who may see the team's figures, never a developer",
  async (ctx) => {
    const day = 86_400_000;
    const to = Math.floor(Date.now() / day) * day;
    const from = to - 7 * day;
    const spend = async (userId: string, cost: number) =>
      ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId }, 'rest', [
        { kind: 'api_request', session_id: `s-${userId}`, request_id: `r-${userId}`, ts: to - day, cost_usd: cost },
      ]);
    const manager = await managerKey(ctx);
    const insights = (key: string) =>
      getJson<{ mine: { cost_usd: number }; team_average: { cost_usd: number } | null }>(
        ctx,
        `/api/v1/analytics/insights?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`,
        key,
      );
    await spend(ctx.userId, 1);
    await spend('u_colleague', 5);
    await spend('u_third', 9);
    // Whatever the team's size: the average less their own figures would be their colleagues'.
    const developer = await insights(ctx.key);
    assert.is(developer.mine.cost_usd, 1);
    assert.is(developer.team_average, null);
    assert.is((await insights(manager)).team_average!.cost_usd, (1 + 5 + 9) / 3);
  },
);

api('partial_filters: the merged answer ordered and cut as one answer is, in time order as a series', async (ctx) => {
  const hour = 3_600_000;
  const day = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000;
  const events = (cost: number, bash: number, at: number) => [
    {
      kind: 'api_request',
      session_id: 's',
      request_id: `r${cost}`,
      model: 'claude-sonnet-4-5',
      ts: day + at * hour,
      cost_usd: cost,
    },
    ...Array.from({ length: bash }, (_, i) => ({
      kind: 'tool_call',
      name: 'Bash',
      status: 'success',
      session_id: 's',
      tool_use_id: `b${cost}-${i}`,
      ts: day + (at + 3) * hour,
    })),
  ];
  // Spend 9, 1 and 4; Bash calls 0, 5 and 1: the two orders disagree.
  for (const [user, cost, bash, at] of [
    ['u_one', 9, 0, 1],
    ['u_two', 1, 5, 2],
    ['u_three', 4, 1, 0],
  ] as const)
    await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: user }, 'rest', events(cost, bash, at));
  const manager = await managerKey(ctx);
  const ask = async (body: Record<string, unknown>) => {
    const res = await post(
      ctx,
      '/api/v1/query',
      { from: day, to: day + 86_400_000, partial_filters: true, ...body },
      'application/json',
      manager,
    );
    const answer = (await res.json()) as { rows: Record<string, unknown>[]; truncated: boolean; field?: string };
    return { status: res.status, ...answer };
  };
  const byUser = { metrics: ['tool_calls', 'cost_usd'], group_by: ['user'], filters: { tool: ['Bash'] } };
  let a = await ask({ ...byUser, order_by: 'cost_usd', limit: 2 });
  assert.equal(
    a.rows.map((r) => [r.user, r.cost_usd, r.tool_calls]),
    [
      ['u_one', 9, 0],
      ['u_three', 4, 1],
    ],
  );
  assert.is(a.truncated, true);
  a = await ask({ ...byUser, order_by: 'tool_calls', limit: 1 });
  assert.equal(
    a.rows.map((r) => [r.user, r.cost_usd, r.tool_calls]),
    [['u_two', 1, 5]],
  );
  a = await ask({ metrics: ['tool_calls', 'api_requests'], filters: { tool: ['Bash'] }, interval: '1h' });
  const times = a.rows.map((r) => String(r.t));
  assert.equal(times, [...times].sort(), 'in time order');
  assert.equal(
    a.rows.map((r) => [Number(r.api_requests), Number(r.tool_calls)]).reduce((x, y) => [x[0]! + y[0]!, x[1]! + y[1]!]),
    [3, 6],
  );
  // Group keys ordered as DuckDB orders them: no project ('') first, then by code point.
  await ctx.server.ctx.ingest.ingest(
    { tenantId: ctx.tenantId, userId: 'u_one' },
    'rest',
    ['a', 'Ａbc', '😀', 'B'].map((project, i) => ({
      kind: 'api_request',
      session_id: `p${i}`,
      request_id: `rp${i}`,
      project,
      ts: day + hour,
      cost_usd: 1,
    })),
  );
  const projects = async (body: Record<string, unknown>) =>
    (await ask({ group_by: ['project'], order_by: 'project', ...body })).rows.map((r) => r.project);
  const one = await projects({ metrics: ['cost_usd'] });
  assert.equal(one, [null, 'B', 'a', 'Ａbc', '😀']);
  assert.equal(await projects({ metrics: ['cost_usd', 'tool_calls'], filters: { tool: ['Bash'] } }), one);
  // A model filter that narrows none of the metrics is refused, as a tool filter is.
  a = await ask({ metrics: ['sessions', 'prompts'], filters: { model: ['claude-sonnet-4-5'] } });
  assert.equal([a.status, a.field], [400, 'filters.model']);
});

api(
  "productivity: each session in range is scored against its user's 30 sessions before it, however far back",
  async (ctx) => {
    const day = 86_400_000;
    const base = Math.floor(Date.now() / day) * day - 5 * day;
    const facts = new Map<string, SessionFacts[]>();
    // Two people: 45 sessions a day apart (the last 3 in range), and 4 sessions (the last in range).
    for (const [user, count] of [
      [ctx.userId, 45],
      ['u_sparse', 4],
    ] as const) {
      const events: Record<string, unknown>[] = [];
      for (let i = 0; i < count; i++) {
        const session = `${user}-${i}`;
        const start = base - (count - 1 - i) * day + (i % 5) * 3_600_000;
        const hours = 1 + (i % 3) * 0.5;
        // The oldest of user one's 30 (i = 12) and the one before it are outliers: a baseline
        // of 29 or 31 sessions would give other scores.
        const calls = i === 12 && count === 45 ? 300 : i === 11 && count === 45 ? 120 : 5 + ((i * 7) % 13);
        const failures = i % 4;
        events.push({ kind: 'session_start', session_id: session, ts: start });
        for (let k = 0; k < calls; k++)
          events.push({
            kind: 'tool_call',
            name: 'Bash',
            status: k < failures ? 'failure' : 'success',
            tool_use_id: `${session}-${k}`,
            session_id: session,
            ts: start + 60_000 + k * 1000,
          });
        events.push({ kind: 'lines', lines_added: 10 * i, lines_removed: i, session_id: session, ts: start + 120_000 });
        events.push({ kind: 'session_end', session_id: session, ts: start + hours * 3_600_000 });
        facts.set(user, [
          ...(facts.get(user) ?? []),
          {
            sessionId: session,
            start,
            hours,
            commands: calls,
            lines: 11 * i,
            successRate: 1 - failures / calls,
            distinctAgents: 0,
          },
        ]);
      }
      await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: user }, 'rest', events);
    }
    await ctx.server.ctx.aggregator.runOnce();
    const manager = await managerKey(ctx);
    const from = base - 2 * day - 1;
    const p = await getJson<{ sessions: { session_id: string; score: number }[] }>(
      ctx,
      `/api/v1/analytics/productivity?from=${new Date(from).toISOString()}&to=${new Date(base + day).toISOString()}`,
      manager,
    );
    const want = [...facts.values()]
      .flatMap((list) =>
        scoreSessions(list).map((score, i) => ({
          session_id: list[i]!.sessionId,
          start: list[i]!.start,
          score: score.score,
        })),
      )
      .filter((s) => s.start >= from);
    assert.equal(
      p.sessions.map((s) => [s.session_id, s.score]).sort(),
      want.map((s) => [s.session_id, s.score]).sort(),
    );
    assert.is(p.sessions.length, 6);
  },
);

api.run();
