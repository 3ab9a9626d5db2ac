import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { tenantPath } from '../src/storage/datadir.js';
import { ingestKey, ingestSuite, signIn, type IngestCtx } from './helpers.js';

const FIXTURES = join(new URL('./fixtures/claude-code-hooks', import.meta.url).pathname);
const sessionFiles = ['session-1.jsonl', 'session-2.jsonl', 'session-3.jsonl'];
type Expected = {
  session_id: string;
  tool_calls: number;
  tool_failures: number;
  by_tool: Record<string, number>;
  subagents: number;
  prompts: number;
  tool_duration_ms: number;
};
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Expected[];
const lines = (file: string) => readFileSync(join(FIXTURES, file), 'utf8').split('\n').filter(Boolean);

type Ctx = IngestCtx;
const hooks = ingestSuite('Claude Code hooks');

const post = (ctx: Ctx, body: string, key = ctx.key) =>
  fetch(`${ctx.server.url}/api/v1/hooks/claude-code`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body,
  });

async function totals(ctx: Ctx, sessionId: string) {
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const row = (await db.get<Record<string, number>>(
    `SELECT count(*) FILTER (kind = 'tool_call') AS tool_calls,
            count(*) FILTER (kind = 'tool_call' AND status = 'failure') AS tool_failures,
            count(*) FILTER (kind = 'subagent_start') AS subagents,
            count(*) FILTER (kind = 'prompt') AS prompts,
            coalesce(sum(duration_ms) FILTER (kind = 'tool_call'), 0) AS tool_duration_ms
       FROM events WHERE session_id = $sessionId`,
    { sessionId },
  ))!;
  const byTool = await db.all<{ name: string; n: number }>(
    `SELECT name, count(*) AS n FROM events WHERE kind = 'tool_call' AND session_id = $sessionId GROUP BY name`,
    { sessionId },
  );
  return { ...row, by_tool: Object.fromEntries(byTool.map((r) => [r.name, r.n])) };
}

hooks('the fixture sessions, replayed as Claude Code posts them, give the expected totals', async (ctx) => {
  for (const file of sessionFiles) {
    for (const line of lines(file)) {
      const res = await post(ctx, line);
      assert.is(res.status, 200, `${file}: ${line.slice(0, 80)}`);
      assert.equal(await res.text(), '{}');
    }
  }
  for (const exp of expected) {
    const got = await totals(ctx, exp.session_id);
    assert.equal(
      got,
      {
        tool_calls: exp.tool_calls,
        tool_failures: exp.tool_failures,
        subagents: exp.subagents,
        prompts: exp.prompts,
        tool_duration_ms: exp.tool_duration_ms,
        by_tool: exp.by_tool,
      },
      exp.session_id,
    );
  }
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const unknown = await db.all<{ attributes: string }>(
    `SELECT attributes::VARCHAR AS attributes FROM events WHERE name = 'SomeFutureHookEvent'`,
  );
  assert.is(unknown.length, 3, 'unknown hook events kept');
  assert.equal(JSON.parse(unknown[0]!.attributes).detail, { anything: true });
});

hooks('a retried hook is stored once', async (ctx) => {
  const line = lines('session-1.jsonl')[2]!;
  await Promise.all([post(ctx, line), post(ctx, line), post(ctx, line)]);
  await post(ctx, line);
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  assert.is((await db.get<{ n: number }>('SELECT count(*) AS n FROM events'))!.n, 1);
  const { received, stored, dropped } = ctx.server.ctx.ingest.stats;
  assert.equal(
    { received, stored, duplicate: dropped.duplicate },
    { received: 4, stored: 1, duplicate: 3 },
    'the drops are counted',
  );
});

hooks('duration comes from the Pre/Post pair when the Post carries none', async (ctx) => {
  const base = { session_id: 's-pair', cwd: '/w', tool_name: 'Bash', tool_use_id: 'toolu_pair' };
  let clock = Date.now();
  ctx.server.ctx.now = () => new Date(clock);
  await post(ctx, JSON.stringify({ ...base, hook_event_name: 'PreToolUse' }));
  clock += 1234;
  await post(ctx, JSON.stringify({ ...base, hook_event_name: 'PostToolUse', tool_response: {} }));
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const row = (await db.get<{ duration_ms: number }>(`SELECT duration_ms FROM events WHERE kind = 'tool_call'`))!;
  assert.is(row.duration_ms, 1234);
});

hooks('a PostToolUse retried after a failed store keeps the duration of its pair', async (ctx) => {
  const base = { session_id: 's-retry', cwd: '/w', tool_name: 'Bash', tool_use_id: 'toolu_retry' };
  let clock = Date.now();
  ctx.server.ctx.now = () => new Date(clock);
  assert.is((await post(ctx, JSON.stringify({ ...base, hook_event_name: 'PreToolUse' }))).status, 200);
  clock += 4321;
  const done = JSON.stringify({ ...base, hook_event_name: 'PostToolUse', tool_response: {} });
  // A real storage fault: the tenant's file is moved away under the running server.
  const file = tenantPath(ctx.server.ctx.config.dataDir, ctx.tenantId);
  renameSync(file, `${file}.away`);
  assert.is((await post(ctx, done)).status, 503, 'not stored');
  renameSync(`${file}.away`, file);
  clock += 60_000; // past the file's backoff
  assert.is((await post(ctx, done)).status, 200, 'stored once the file is back');
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const row = await db.get<{ duration_ms: number }>(
    `SELECT duration_ms FROM events WHERE kind = 'tool_call' AND tool_use_id = 'toolu_retry'`,
  );
  assert.is(row?.duration_ms, 4321, 'timed from the PreToolUse to the stored PostToolUse');
});

hooks('bad bodies get a 400 naming the field; keys need the ingest scope', async (ctx) => {
  for (const [body, field] of [
    ['{', 'body'],
    ['[]', 'body'],
    ['{}', 'hook_event_name'],
    ['{"hook_event_name":"Stop","session_id":5}', 'session_id'],
    // Claude Code sends a session with every event and a tool's name with every tool event:
    // without them a stray body counted as a session of its own, or a tool "(unnamed)".
    ['{"hook_event_name":"PostToolUse"}', 'session_id'],
    ['{"hook_event_name":"Stop","session_id":""}', 'session_id'],
    ['{"hook_event_name":"PostToolUse","session_id":"s1","tool_use_id":"t1"}', 'tool_name'],
    ['{"hook_event_name":"PreToolUse","session_id":"s1","tool_name":""}', 'tool_name'],
    ['{"hook_event_name":"PostToolUse","session_id":"s1","tool_name":"Bash","duration_ms":"abc"}', 'duration_ms'],
    ['{"hook_event_name":"PostToolUseFailure","session_id":"s1","tool_name":"Bash","duration_ms":-5}', 'duration_ms'],
  ] as const) {
    const res = await post(ctx, body);
    assert.is(res.status, 400, body);
    assert.is(((await res.json()) as { field: string }).field, field, body);
  }
  const readOnly = await ingestKey(ctx.server, ['read'], 'reader@acme.test');
  assert.is((await post(ctx, '{"hook_event_name":"Stop"}', readOnly.key)).status, 403);
  assert.is((await post(ctx, '{"hook_event_name":"Stop"}', 'amk_nope')).status, 401);
  for (const path of ['/api/v1/hooks/claude-code', '/v1/metrics', '/v1/logs', '/api/metrics/batch']) {
    const anonymous = await fetch(`${ctx.server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.is(anonymous.status, 401, `${path} without a key`);
  }
  const big = await post(ctx, JSON.stringify({ hook_event_name: 'Stop', pad: 'x'.repeat(5 * 1024 * 1024) }));
  assert.is(big.status, 413);
});

hooks('a lone surrogate in a field is stored as U+FFFD, not refused', async (ctx) => {
  // JSON.parse gives a string DuckDB cannot hold as UTF-8; the rest of the batch must not fail with it.
  const res = await post(
    ctx,
    '{"hook_event_name":"PostToolUse","session_id":"surrogate","tool_use_id":"toolu_s","tool_name":"Ba\\ud800sh","error":"x\\udfff"}',
  );
  assert.is(res.status, 200);
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const row = await db.get<{ name: string; attributes: string }>(
    `SELECT name, attributes::VARCHAR AS attributes FROM events WHERE session_id = 'surrogate'`,
  );
  assert.is(row?.name, 'Ba\ufffdsh');
  assert.is((JSON.parse(row!.attributes) as { tool_name: string }).tool_name.length, 5);
});

hooks(
  'a chunked body (no Content-Length) is counted as it arrives: over the limit 413, under it stored',
  async (ctx) => {
    const chunked = (text: string) => {
      const bytes = new TextEncoder().encode(text);
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.subarray(i, i + 64 * 1024));
          controller.close();
        },
      });
      return fetch(`${ctx.server.url}/api/v1/hooks/claude-code`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
        body,
        duplex: 'half',
      } as RequestInit);
    };
    const big = await chunked(
      JSON.stringify({ hook_event_name: 'Stop', session_id: 'chunked-big', pad: 'x'.repeat(5 * 1024 * 1024) }),
    );
    assert.is(big.status, 413);
    assert.is(((await big.json()) as { field: string }).field, 'body');
    const small = await chunked(JSON.stringify({ hook_event_name: 'Stop', session_id: 'chunked-small' }));
    assert.is(small.status, 200);
    const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
    const stored = await db.all<{ session_id: string }>(
      `SELECT session_id FROM events WHERE session_id LIKE 'chunked-%'`,
    );
    assert.equal(
      stored.map((r) => r.session_id),
      ['chunked-small'],
    );
  },
);

hooks('__proto__ and friends are dropped from stored JSON; long strings are capped', async (ctx) => {
  const res = await post(
    ctx,
    `{"hook_event_name":"Odd","session_id":"s","__proto__":{"polluted":1},"nested":{"constructor":{"x":1},"ok":1},"long":"${'y'.repeat(20000)}"}`,
  );
  assert.is(res.status, 200);
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const attrs = JSON.parse((await db.get<{ a: string }>(`SELECT attributes::VARCHAR AS a FROM events`))!.a) as Record<
    string,
    unknown
  >;
  assert.not.ok(Object.hasOwn(attrs, '__proto__'));
  assert.equal(attrs.nested, { ok: 1 });
  assert.ok(String(attrs.long).length < 9000);
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

hooks('a key stops sending when its owner becomes a viewer, and a viewer is given no ingest key', async (ctx) => {
  const { runCommand } = await import('../src/admin/commands.js');
  const hook = JSON.stringify({ session_id: 'v1', cwd: '/w', hook_event_name: 'SessionStart', source: 'startup' });
  assert.is((await post(ctx, hook)).status, 200, 'a developer sends');
  await runCommand(ctx.server.ctx, 'user role', { tenant: ctx.tenantId, email: 'agent@acme.test', role: 'viewer' });
  const refused = await post(ctx, hook);
  assert.is(refused.status, 403, 'a viewer does not');
  assert.equal(await refused.json(), {
    error: "authorization: a viewer sends no events (this key's owner, or you, may not hold an ingest key)",
    field: 'authorization',
  });
  try {
    await runCommand(ctx.server.ctx, 'apikey create', {
      tenant: ctx.tenantId,
      user: 'agent@acme.test',
      scopes: 'ingest',
    });
    assert.unreachable('an ingest key for a viewer');
  } catch (err) {
    assert.match(String(err), /--scopes: a viewer may not hold a key with the ingest scope/);
  }
  const read = (await runCommand(ctx.server.ctx, 'apikey create', {
    tenant: ctx.tenantId,
    user: 'agent@acme.test',
    scopes: 'read',
  })) as { id: string; scopes: string[] };
  assert.equal(read.scopes, ['read'], 'a read key is fine');

  // Listed as they now work: the old key still reads, but sends nothing.
  const why = 'its owner, a viewer, sends no events';
  const listed = await fetch(`${ctx.server.url}/api/v1/api-keys`, { headers: { authorization: `Bearer ${ctx.key}` } });
  const keys = ((await listed.json()) as { api_keys: { scopes: string[]; refused: unknown }[] }).api_keys;
  assert.equal(
    keys.map((k) => [k.scopes, k.refused]),
    [
      [['read'], null],
      [['ingest', 'read'], { scopes: ['ingest'], why }],
    ],
  );
  const client = await signIn(ctx.server, 'agent@acme.test', 'ingest password 1');
  const page = await (await client.get('/settings/api-keys')).text();
  assert.ok(page.includes(`<td>active; ingest refused: ${why}</td>`), 'the settings page says so');
  await runCommand(ctx.server.ctx, 'user disable', { tenant: ctx.tenantId, email: 'agent@acme.test' });
  const all = (await runCommand(ctx.server.ctx, 'apikey list', { tenant: ctx.tenantId })) as { refused: unknown }[];
  assert.equal(
    all.map((k) => k.refused),
    [
      { scopes: ['read'], why: 'its owner is deactivated' },
      { scopes: ['ingest', 'read'], why: 'its owner is deactivated' },
    ],
  );
  // A revoked key is listed as revoked, not also as refused for its owner's state.
  await runCommand(ctx.server.ctx, 'apikey revoke', { tenant: ctx.tenantId, id: read.id });
  const after = (await runCommand(ctx.server.ctx, 'apikey list', { tenant: ctx.tenantId })) as {
    refused: unknown;
    revokedAt: unknown;
  }[];
  assert.equal(
    after.map((k) => [k.refused, k.revokedAt !== null]),
    [
      [null, true],
      [{ scopes: ['ingest', 'read'], why: 'its owner is deactivated' }, false],
    ],
  );
});

hooks('a key variable left unset ("Bearer " alone) is a 401 that says so', async (ctx) => {
  const hook = JSON.stringify({ session_id: 'k1', cwd: '/w', hook_event_name: 'SessionStart', source: 'startup' });
  const res = await post(ctx, hook, '');
  assert.is(res.status, 401);
  const body = (await res.json()) as { error: string; field: string };
  assert.is(body.field, 'authorization');
  assert.match(body.error, /no API key after "Bearer" \(is AGENTMETER_API_KEY set/);
  assert.match((await (await post(ctx, hook, 'amk_not_a_key')).json()).error, /invalid or revoked API key/);
});

hooks.run();
