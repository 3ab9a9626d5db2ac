// The import API and counting once across channels: a session's requests, tool calls and
// prompts sent as hooks and OpenTelemetry and also imported from its transcript count once
// whatever the order they arrive in, rolled up or not; a re-run stores nothing; rolling a
// run back removes exactly its events, and what arrived live then counts.
import * as assert from 'uvu/assert';
import { ADMIN, ingestSuite, signIn, type IngestCtx } from './helpers.js';

const test = ingestSuite('import API');

const SESSION = 'sess-import-1';
const T0 = Date.now() - 3 * 3_600_000;
const FROM = new Date(T0 - 3_600_000).toISOString();
const TO = new Date(Date.now() + 3_600_000).toISOString(); // hooks carry no time: they happened when they arrive

async function call(ctx: IngestCtx, method: string, path: string, body?: unknown) {
  const res = await fetch(`${ctx.server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** What a transcript reader sends for the session: two requests, two tool calls (one failed), a prompt. */
const IMPORTED = [
  {
    id: 'cc:req:m1:r1',
    kind: 'api_request',
    ts: T0 + 1000,
    session_id: SESSION,
    project: '/home/dev/src/acme',
    request_id: 'r1',
    model: 'claude-sonnet-4-5',
    input_tokens: 1000,
    output_tokens: 100,
    cache_read_tokens: 0,
    cache_creation_tokens: 2000,
    attributes: { cache_creation_1h_tokens: 1000 },
  },
  {
    id: 'cc:req:m2:r2',
    kind: 'api_request',
    ts: T0 + 2000,
    session_id: SESSION,
    project: '/home/dev/src/acme',
    request_id: 'r2',
    model: 'claude-sonnet-4-5',
    input_tokens: 10,
    output_tokens: 10,
    cost_usd: 0.5,
  },
  {
    id: 'cc:tool:t1',
    kind: 'tool_call',
    ts: T0 + 1500,
    session_id: SESSION,
    project: '/home/dev/src/acme',
    tool_use_id: 't1',
    name: 'Bash',
    status: 'success',
  },
  {
    id: 'cc:tool:t2',
    kind: 'tool_call',
    ts: T0 + 2500,
    session_id: SESSION,
    project: '/home/dev/src/acme',
    tool_use_id: 't2',
    name: 'Read',
    status: 'failure',
    error: 'no such file',
  },
  {
    id: 'cc:prompt:u1',
    kind: 'prompt',
    ts: T0 + 500,
    session_id: SESSION,
    project: '/home/dev/src/acme',
    prompt_id: 'p1',
  },
];
// 1000 input at $3/M, 100 output at $15/M, 1000 5-minute writes at $3.75/M, 1000 1-hour writes at $6/M.
const R1_IMPORTED_COST = (1000 * 3 + 100 * 15 + 1000 * 3.75 + 1000 * 6) / 1e6;
const R1_OTEL_COST = 0.0123;

/** The same session as it arrives live: the prompt and the first tool call as hooks, the first request as OpenTelemetry. */
async function sendLive(ctx: IngestCtx) {
  for (const body of [
    {
      hook_event_name: 'UserPromptSubmit',
      session_id: SESSION,
      cwd: '/home/dev/src/acme',
      prompt_id: 'p1',
      prompt: 'do it',
    },
    {
      hook_event_name: 'PostToolUse',
      session_id: SESSION,
      cwd: '/home/dev/src/acme',
      prompt_id: 'p1',
      tool_use_id: 't1',
      tool_name: 'Bash',
      tool_input: { command: 'ls' },
      tool_response: {},
    },
  ])
    assert.is((await call(ctx, 'POST', '/api/v1/hooks/claude-code', body)).status, 200);
  const attr = (key: string, value: string | number) => ({
    key,
    value: typeof value === 'string' ? { stringValue: value } : { doubleValue: value },
  });
  const log = {
    resourceLogs: [
      {
        resource: { attributes: [attr('service.name', 'claude-code')] },
        scopeLogs: [
          {
            logRecords: [
              {
                timeUnixNano: String(BigInt(T0 + 1000) * 1_000_000n),
                body: { stringValue: 'claude_code.api_request' },
                attributes: [
                  attr('session.id', SESSION),
                  attr('event.name', 'api_request'),
                  attr('event.timestamp', new Date(T0 + 1000).toISOString()),
                  attr('event.sequence', 1),
                  attr('model', 'claude-sonnet-4-5'),
                  attr('cost_usd', R1_OTEL_COST),
                  attr('input_tokens', 1000),
                  attr('output_tokens', 100),
                  attr('cache_read_tokens', 0),
                  attr('cache_creation_tokens', 2000),
                  attr('request_id', 'r1'),
                  attr('prompt.id', 'p1'),
                ],
              },
            ],
          },
        ],
      },
    ],
  };
  assert.is((await call(ctx, 'POST', '/v1/logs', log)).status, 200);
}

async function figures(ctx: IngestCtx, from = FROM, to = TO): Promise<Record<string, number>> {
  const res = await call(ctx, 'POST', '/api/v1/query', {
    metrics: ['api_requests', 'prompts', 'tool_calls', 'tool_failures', 'input_tokens', 'cost_usd', 'sessions'],
    from,
    to,
  });
  assert.is(res.status, 200, JSON.stringify(res.json));
  const row = res.json.rows[0] as Record<string, number>;
  return { ...row, cost_usd: Math.round(row.cost_usd! * 1e6) / 1e6 };
}

async function importRun(ctx: IngestCtx) {
  const started = await call(ctx, 'POST', '/api/v1/import/runs', { source: 'claude', host: 'laptop-1' });
  assert.is(started.status, 201, JSON.stringify(started.json));
  const id = started.json.run.id as string;
  const chunk = await call(ctx, 'POST', `/api/v1/import/runs/${id}/events`, {
    events: IMPORTED,
    skipped: [{ file: 'a.jsonl', line: 7, reason: 'not JSON' }],
  });
  assert.is(chunk.status, 200, JSON.stringify(chunk.json));
  return { id, chunk: chunk.json };
}

const round = (n: number) => Math.round(n * 1e6) / 1e6;

for (const rolledBetween of [false, true]) {
  test(`live first, then the import: each fact counts once, the live copy first (${rolledBetween ? 'rolled up in between' : 'nothing rolled up'})`, async (ctx) => {
    await sendLive(ctx);
    if (rolledBetween) await ctx.server.ctx.aggregator.runOnce();
    const { chunk } = await importRun(ctx);
    assert.equal(
      [chunk.accepted, chunk.stored, chunk.duplicates],
      [5, 5, 0],
      'the import stores its own events (ids differ from the live ones)',
    );
    const expected = {
      api_requests: 2,
      prompts: 1,
      tool_calls: 2,
      tool_failures: 1,
      input_tokens: 1010,
      cost_usd: round(R1_OTEL_COST + 0.5),
      sessions: 1,
    };
    assert.equal(await figures(ctx), expected, 'before the rollup');
    await ctx.server.ctx.aggregator.runOnce();
    assert.equal(await figures(ctx), expected, 'after it');
  });
}

test('import first, live later; a re-run stores nothing; rollback leaves exactly the live events counted', async (ctx) => {
  const first = await importRun(ctx);
  // The same chunk again (a client retrying after its answer was lost): the same answer, no counter moved.
  const counters = async () => {
    const { json } = await call(ctx, 'GET', `/api/v1/import/runs/${first.id}`);
    const { sent, stored, duplicates, skipped, skip_reasons } = json.run;
    return { sent, stored, duplicates, skipped, skip_reasons };
  };
  const once = { sent: 5, stored: 5, duplicates: 0, skipped: 1, skip_reasons: { 'not JSON': 1 } };
  assert.equal(await counters(), once);
  const retried = await call(ctx, 'POST', `/api/v1/import/runs/${first.id}/events`, {
    events: IMPORTED,
    skipped: [{ file: 'a.jsonl', line: 7, reason: 'not JSON' }],
  });
  assert.equal([retried.status, retried.json], [200, first.chunk], 'the first answer again');
  assert.equal(await counters(), once, 'counted once');
  assert.equal(
    await figures(ctx),
    {
      api_requests: 2,
      prompts: 1,
      tool_calls: 2,
      tool_failures: 1,
      input_tokens: 1010,
      cost_usd: round(R1_IMPORTED_COST + 0.5),
      sessions: 1,
    },
    'priced with the 1-hour writes at twice the input price',
  );
  await ctx.server.ctx.aggregator.runOnce();
  await sendLive(ctx);
  await ctx.server.ctx.aggregator.runOnce();
  assert.equal(
    await figures(ctx),
    {
      api_requests: 2,
      prompts: 1,
      tool_calls: 2,
      tool_failures: 1,
      input_tokens: 1010,
      cost_usd: round(R1_IMPORTED_COST + 0.5),
      sessions: 1,
    },
    'the live copies are repeats',
  );

  const again = await importRun(ctx);
  assert.equal(
    [again.chunk.accepted, again.chunk.stored, again.chunk.duplicates],
    [5, 0, 5],
    'a re-run stores nothing new',
  );
  const finished = await call(ctx, 'POST', `/api/v1/import/runs/${first.id}/finish`, {
    summary: { files: 1, requests: 2 },
  });
  assert.is(finished.status, 200);
  assert.equal(
    [finished.json.run.status, finished.json.run.stored, finished.json.run.skipped, finished.json.run.skip_reasons],
    ['finished', 5, 1, { 'not JSON': 1 }],
  );

  const admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
  await admin.get('/');
  const listed = (await (await admin.request('/api/v1/import/runs')).json()) as { runs: { id: string }[] };
  assert.equal(listed.runs.map((r) => r.id).sort(), [first.id, again.id].sort(), 'a tenant admin sees every run');
  const rollback = await admin.request(`/api/v1/import/runs/${first.id}/rollback`, {
    method: 'POST',
    headers: { 'x-csrf-token': admin.csrf! },
  });
  assert.is(rollback.status, 200, await rollback.clone().text());
  const run = ((await rollback.json()) as { run: { status: string; removed: number } }).run;
  assert.equal([run.status, run.removed], ['rolled_back', 5]);
  const live = {
    api_requests: 1,
    prompts: 1,
    tool_calls: 1,
    tool_failures: 0,
    input_tokens: 1000,
    cost_usd: R1_OTEL_COST,
    sessions: 1,
  };
  assert.equal(await figures(ctx), live, 'the live copies count now');
  await ctx.server.ctx.aggregator.runOnce(undefined, { compact: true });
  assert.equal(await figures(ctx), live, 'and the worker agrees');
  const stored = await ctx.server.ctx.tenantFiles
    .open(ctx.tenantId)
    .then((db) => db.get<{ n: number }>(`SELECT count(*) AS n FROM events WHERE import_run IS NOT NULL`));
  assert.is(Number(stored!.n), 0, 'no imported event left (the re-run stored none of its own)');
  assert.is(
    (await call(ctx, 'POST', `/api/v1/import/runs/${first.id}/events`, { events: IMPORTED })).status,
    409,
    'a rolled-back run takes nothing more',
  );
});

test('a chunk sent again with a rejected event: the same answer, counted once; nothing kept once finished', async (ctx) => {
  const started = await call(ctx, 'POST', '/api/v1/import/runs', { source: 'claude', host: 'laptop-1' });
  const id = started.json.run.id as string;
  const mixed = { events: [IMPORTED[0], { kind: 'nope' }] };
  const sent = await call(ctx, 'POST', `/api/v1/import/runs/${id}/events`, mixed);
  const resent = await call(ctx, 'POST', `/api/v1/import/runs/${id}/events`, mixed);
  assert.equal([sent.status, sent.json.stored, sent.json.rejected.length], [207, 1, 1]);
  assert.equal([resent.status, resent.json], [207, sent.json], 'its rejection named again, what it stored then');
  const run = (await call(ctx, 'GET', `/api/v1/import/runs/${id}`)).json.run;
  assert.equal([run.sent, run.stored, run.duplicates, run.rejected], [2, 1, 0, 1], 'counted once');
  // A digest and a count per chunk, while the run may still be sent to.
  const chunks = async () =>
    Number(
      (await (
        await ctx.server.ctx.tenantFiles.open(ctx.tenantId)
      ).get<{ n: number }>('SELECT count(*) AS n FROM import_chunks WHERE run_id = $id', { id }))!.n,
    );
  assert.is(await chunks(), 1);
  assert.is((await call(ctx, 'POST', `/api/v1/import/runs/${id}/finish`, {})).status, 200);
  assert.is(await chunks(), 0, 'none kept once the run is finished');
});

test('skip reasons are counted by name up to 100, the rest together; details stay with the samples', async (ctx) => {
  const { id } = await importRun(ctx);
  const odd = (
    await call(ctx, 'POST', `/api/v1/import/runs/${id}/events`, {
      events: [],
      skipped: ['constructor', '__proto__', 'toString'].map((reason) => ({ file: 'b.jsonl', reason })),
    })
  ).status;
  assert.is(odd, 200);
  for (let c = 0; c < 3; c++) {
    const skipped = Array.from({ length: 1000 }, (_, i) => ({
      file: 'b.jsonl',
      reason: `unknown record type "t${c * 1000 + i}"`,
      detail: `at byte ${i}`,
    }));
    assert.is((await call(ctx, 'POST', `/api/v1/import/runs/${id}/events`, { events: [], skipped })).status, 200);
  }
  const run = (await call(ctx, 'GET', `/api/v1/import/runs/${id}`)).json.run as {
    skipped: number;
    skip_reasons: Record<string, number>;
    skip_samples: { reason: string; detail?: string }[];
  };
  assert.is(run.skipped, 3004);
  assert.is(
    Object.keys(run.skip_reasons).length,
    100,
    'at most 100 names, "other reasons" (here from __proto__) among them',
  );
  assert.equal([run.skip_reasons.constructor, run.skip_reasons.toString], [1, 1], 'counted as any other name');
  assert.is(run.skip_reasons['other reasons'], 3004 - 99, '__proto__ is counted with them');
  assert.equal(run.skip_samples[4], { file: 'b.jsonl', reason: 'unknown record type "t0"', detail: 'at byte 0' });
});

test("bad input: 400 (or each event's rejection) naming the field; another person's run is not found", async (ctx) => {
  assert.is((await call(ctx, 'POST', '/api/v1/import/runs', { source: 'floppy' })).json.field, 'source');
  const { id } = await importRun(ctx);
  const bad = await call(ctx, 'POST', `/api/v1/import/runs/${id}/events`, {
    events: [{ kind: 'api_request', ts: 'yesterday' }],
  });
  assert.equal(
    [bad.status, bad.json.accepted, bad.json.rejected[0].index, bad.json.rejected[0].field],
    [207, 0, 0, 'ts'],
  );
  const tooMany = await call(ctx, 'POST', `/api/v1/import/runs/${id}/events`, {
    events: Array.from({ length: 5001 }, () => ({})),
  });
  assert.equal([tooMany.status, tooMany.json.field], [400, 'events']);
  const { runCommand } = await import('../src/admin/commands.js');
  const other = (await runCommand(ctx.server.ctx, 'apikey create', {
    tenant: ctx.tenantId,
    user: ADMIN.email,
    scopes: 'ingest,read',
  })) as { key: string };
  const res = await fetch(`${ctx.server.url}/api/v1/import/runs/${id}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${other.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events: IMPORTED }),
  });
  assert.is(res.status, 404);
  const unauthenticated = await fetch(`${ctx.server.url}/api/v1/import/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"source":"claude"}',
  });
  assert.is(unauthenticated.status, 401);
});

test('a chunk and a rollback of one run never interleave: what the chunk stored is rolled back too', async (ctx) => {
  const { importChunk, rollbackRun, startRun } = await import('../src/import/runs.js');
  const app = ctx.server.ctx;
  const who = { tenantId: ctx.tenantId, userId: ctx.userId };
  const run = await startRun(
    app.tenantFiles,
    ctx.tenantId,
    { userId: ctx.userId, createdBy: ctx.userId, source: 'claude' },
    new Date(),
  );
  const many = (prefix: string) =>
    Array.from({ length: 2000 }, (_, i) => ({
      id: `${prefix}${i}`,
      kind: 'tool_call',
      ts: T0 + i,
      session_id: SESSION,
      tool_use_id: `${prefix}${i}`,
      name: 'Bash',
      status: 'success',
    }));
  await importChunk(app, who, run.id, { events: many('a'), skipped: [] }, new Date());
  // Both asked for at once, the chunk first: the rollback waits for it, then removes all 4000.
  const [chunk, rolled] = await Promise.all([
    importChunk(app, who, run.id, { events: many('b'), skipped: [] }, new Date()),
    rollbackRun(app, ctx.tenantId, run.id, new Date()),
  ]);
  assert.is(chunk.stored, 2000);
  assert.is(rolled.removed, 4000);
  const left = await (await app.tenantFiles.open(ctx.tenantId)).get<{ n: number }>(
    `SELECT count(*) AS n FROM events WHERE import_run = $run`,
    { run: run.id },
  );
  assert.is(Number(left!.n), 0);
  const late = await importChunk(app, who, run.id, { events: many('c'), skipped: [] }, new Date()).then(
    () => null,
    (err: Error) => err.message,
  );
  assert.match(String(late), /rolled back/);
});

test('a run of history older than raw retention rolls back whole for 30 days; later the page says what stays', async (ctx) => {
  const DAY = 86_400_000;
  const ago = 100 * DAY; // past the default raw retention (90 days)
  const old = IMPORTED.map((e) => ({ ...e, ts: e.ts - ago }));
  const range = [new Date(T0 - ago - DAY).toISOString(), new Date(T0 - ago + DAY).toISOString()] as const;
  const none = {
    api_requests: 0,
    prompts: 0,
    tool_calls: 0,
    tool_failures: 0,
    input_tokens: 0,
    cost_usd: 0,
    sessions: 0,
  };
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const storedOf = async (run: string) =>
    Number((await db.get<{ n: number }>(`SELECT count(*) AS n FROM events WHERE import_run = $run`, { run }))!.n);
  const runOf = async (events: typeof old) => {
    const started = await call(ctx, 'POST', '/api/v1/import/runs', { source: 'claude' });
    const id = started.json.run.id as string;
    assert.is((await call(ctx, 'POST', `/api/v1/import/runs/${id}/events`, { events })).status, 200);
    return id;
  };
  const admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
  await admin.get('/');
  const rollBack = async (id: string) => {
    const res = await admin.request(`/api/v1/import/runs/${id}/rollback`, {
      method: 'POST',
      headers: { 'x-csrf-token': admin.csrf! },
    });
    assert.is(res.status, 200, await res.clone().text());
    return ((await res.json()) as { run: { removed: number } }).run.removed;
  };

  // Young: retention keeps the run's raw events, and the rollback removes them all.
  const young = await runOf(old);
  await ctx.server.ctx.aggregator.runOnce(undefined, { retention: true });
  assert.is(await storedOf(young), 5, 'raw retention keeps a young run whole');
  assert.is((await figures(ctx, ...range)).api_requests, 2);
  const page = await (await admin.get(`/import/runs/${young}/rollback`)).text();
  assert.not.match(page, /Raw retention has already deleted/);
  assert.is(await rollBack(young), 5);
  assert.equal(await figures(ctx, ...range), none, 'nothing of it is left');

  // A month after its last chunk: retention takes its raw events, the page says so.
  const aged = await runOf(old.map((e) => ({ ...e, id: `again:${e.id}` })));
  await db.run(`UPDATE import_runs SET updated_at = updated_at - INTERVAL 31 DAY WHERE id = $id`, { id: aged });
  await ctx.server.ctx.aggregator.runOnce(undefined, { retention: true });
  assert.is(await storedOf(aged), 0, 'raw retention deleted an old run');
  const warned = await (await admin.get(`/import/runs/${aged}/rollback`)).text();
  assert.match(warned, /Raw retention has already deleted <strong>5<\/strong> of the 5 events this run stored/);
  assert.match(warned, /kept whole for 30 days after its last activity/);
  assert.is(await rollBack(aged), 0);
  assert.is((await figures(ctx, ...range)).api_requests, 2, 'their share stays, as the page said');
});

test.run();
