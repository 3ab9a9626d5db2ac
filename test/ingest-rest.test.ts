import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { ingestKey, ingestSuite, type IngestCtx } from './helpers.js';

type Ctx = IngestCtx;
const rest = ingestSuite('REST metrics API');

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const send = (ctx: Ctx, method: string, path: string, body: unknown, key = ctx.key) =>
  fetch(`${ctx.server.url}/api/metrics${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const post = (ctx: Ctx, path: string, body: unknown, key?: string) => send(ctx, 'POST', path, body, key);

async function rows(ctx: Ctx, where = 'true', tenantId = ctx.tenantId): Promise<Json[]> {
  const db = await ctx.server.ctx.tenantFiles.open(tenantId);
  return db.all<Json>(
    `SELECT kind, source, user_id, session_id, project, name, status, duration_ms, input_tokens, output_tokens, model, value, error,
            epoch_ms(ts) AS ts, attributes::VARCHAR AS attributes
       FROM events WHERE ${where} ORDER BY ts, name`,
  );
}
const count = async (ctx: Ctx, tenantId = ctx.tenantId) => (await rows(ctx, 'true', tenantId)).length;
const attrs = (row: Json) => JSON.parse(row.attributes as string) as Json;

async function expect400(res: Response, field: string, what = field) {
  assert.is(res.status, 400, `${what}: status`);
  const body = (await res.json()) as Json;
  assert.is(body.field, field, `${what}: field (${body.error})`);
  return body;
}

const command = (over: Json = {}) => ({
  command_name: 'plan-product',
  execution_time_ms: 1500,
  status: 'success',
  context: { session_id: 'session-123' },
  ...over,
});
const agent = (over: Json = {}) => ({
  agent_name: 'frontend-developer',
  interaction_type: 'code_generation',
  execution_time_ms: 3000,
  status: 'success',
  input_tokens: 500,
  output_tokens: 1200,
  ...over,
});
const metric = (over: Json = {}) => ({ metric_type: 'productivity_score', value: 87.5, ...over });

rest('POST /commands stores a command event after commit', async (ctx) => {
  const res = await post(
    ctx,
    '/commands',
    command({ timestamp: '2025-09-05T10:00:00Z', id: 'cmd-1', extra: { a: 1 } }),
  );
  assert.is(res.status, 201);
  const body = (await res.json()) as Json;
  assert.equal(body.success, true);
  assert.equal(body.data, { id: 'cmd-1', accepted: 1 });
  assert.type(body.meta.timestamp, 'string');
  const [row, ...more] = await rows(ctx);
  assert.is(more.length, 0);
  assert.is(row!.kind, 'command');
  assert.is(row!.source, 'rest');
  assert.is(row!.name, 'plan-product');
  assert.is(row!.status, 'success');
  assert.is(row!.duration_ms, 1500);
  assert.is(row!.session_id, 'session-123');
  assert.is(row!.user_id, ctx.userId);
  assert.is(Number(row!.ts), Date.parse('2025-09-05T10:00:00Z'));
  assert.equal(attrs(row!).extra, { a: 1 });
});

rest('status aliases are normalised; the client word is kept', async (ctx) => {
  assert.is((await post(ctx, '/commands', command({ status: 'error', command_name: 'a' }))).status, 201);
  assert.is((await post(ctx, '/commands', command({ status: 'Timeout', command_name: 'b' }))).status, 201);
  assert.is((await post(ctx, '/commands', command({ status: 'canceled', command_name: 'c' }))).status, 201);
  const got = Object.fromEntries((await rows(ctx)).map((r) => [r.name, [r.status, attrs(r).client_status]]));
  assert.equal(got, { a: ['failure', 'error'], b: ['timeout', 'Timeout'], c: ['cancelled', 'canceled'] });
});

rest('POST /commands: invalid bodies get a 400 naming the field', async (ctx) => {
  await expect400(await post(ctx, '/commands', '{'), 'body', 'malformed');
  await expect400(await post(ctx, '/commands', '[]'), 'body', 'array');
  await expect400(await post(ctx, '/commands', { execution_time_ms: 1, status: 'success' }), 'command_name');
  await expect400(await post(ctx, '/commands', command({ command_name: '' })), 'command_name', 'empty name');
  await expect400(
    await post(ctx, '/commands', command({ command_name: 'x'.repeat(300) })),
    'command_name',
    'long name',
  );
  await expect400(await post(ctx, '/commands', command({ execution_time_ms: -1 })), 'execution_time_ms');
  await expect400(await post(ctx, '/commands', command({ execution_time_ms: '12' })), 'execution_time_ms', 'string ms');
  await expect400(await post(ctx, '/commands', command({ status: 'exploded' })), 'status');
  await expect400(await post(ctx, '/commands', command({ status: undefined })), 'status', 'no status');
  await expect400(await post(ctx, '/commands', command({ timestamp: 'yesterday' })), 'timestamp');
  await expect400(await post(ctx, '/commands', command({ executed_at: '2025-02-30T10:00:00Z' })), 'executed_at');
  await expect400(
    await post(ctx, '/commands', command({ executed_at: '2025-09-05T10:00:00' })),
    'executed_at',
    'no zone',
  );
  await expect400(await post(ctx, '/commands', command({ context: { session_id: 5 } })), 'context.session_id');
  await expect400(await post(ctx, '/commands', command({ id: 'i'.repeat(201) })), 'id');
  assert.is(await count(ctx), 0);
});

rest('POST /agents stores tokens and timing', async (ctx) => {
  const res = await post(ctx, '/agents', agent({ model: 'claude-sonnet-4', session_id: 's-a' }));
  assert.is(res.status, 201);
  const [row] = await rows(ctx);
  assert.is(row!.kind, 'agent_interaction');
  assert.is(row!.name, 'frontend-developer');
  assert.is(row!.status, 'success');
  assert.is(row!.duration_ms, 3000);
  assert.is(row!.input_tokens, 500);
  assert.is(row!.output_tokens, 1200);
  assert.is(row!.model, 'claude-sonnet-4');
  assert.is(row!.session_id, 's-a');
  assert.is(attrs(row!).interaction_type, 'code_generation');
  await expect400(await post(ctx, '/agents', agent({ agent_name: undefined })), 'agent_name');
  await expect400(await post(ctx, '/agents', agent({ interaction_type: 7 })), 'interaction_type');
  await expect400(await post(ctx, '/agents', agent({ input_tokens: -5 })), 'input_tokens');
  await expect400(await post(ctx, '/agents', agent({ output_tokens: 1.5 })), 'output_tokens');
  await expect400(await post(ctx, '/agents', agent({ status: 'meh' })), 'status');
});

rest('sessions: start (with or without an id), update, end', async (ctx) => {
  let res = await post(ctx, '/sessions/start', {
    session_id: 'sess-1',
    started_at: '2025-09-05T09:00:00Z',
    metadata: { ide: 'vscode' },
  });
  assert.is(res.status, 201);
  assert.equal(((await res.json()) as Json).data, { session_id: 'sess-1', accepted: 1 });
  res = await post(ctx, '/sessions/start', {});
  assert.is(res.status, 201);
  const generated = ((await res.json()) as Json).data.session_id as string;
  assert.match(generated, /^[0-9a-f-]{36}$/);

  res = await send(ctx, 'PUT', '/sessions/sess-1', {
    tools_used: ['Bash', 'Edit'],
    updated_at: '2025-09-05T09:30:00Z',
  });
  assert.is(res.status, 201);
  assert.is(((await res.json()) as Json).data.ended, false);
  res = await send(ctx, 'PUT', '/sessions/sess-1', {
    session_end: '2025-09-05T10:00:00Z',
    total_duration_ms: 3_600_000,
    productivity_score: 82,
  });
  assert.is(res.status, 201);
  assert.is(((await res.json()) as Json).data.ended, true);

  const got = await rows(ctx, `session_id = 'sess-1'`);
  assert.equal(
    got.map((r) => r.kind),
    ['session_start', 'session_update', 'session_end'],
  );
  assert.equal(attrs(got[0]!).metadata, { ide: 'vscode' });
  assert.equal(attrs(got[1]!).tools_used, ['Bash', 'Edit']);
  assert.is(got[2]!.duration_ms, 3_600_000);
  assert.is(got[2]!.value, 82);
  assert.is(Number(got[2]!.ts), Date.parse('2025-09-05T10:00:00Z'));
  assert.is((await rows(ctx, `session_id = '${generated}'`))[0]!.kind, 'session_start');

  await expect400(await post(ctx, '/sessions/start', { started_at: 'soon' }), 'started_at');
  await expect400(await send(ctx, 'PUT', '/sessions/sess-1', { ended_at: 12 }), 'ended_at');
  await expect400(await send(ctx, 'PUT', '/sessions/sess-1', { total_duration_ms: -3 }), 'total_duration_ms');
  await expect400(await send(ctx, 'PUT', `/sessions/${'s'.repeat(201)}`, {}), 'sessionId');
});

rest('POST /productivity stores the value', async (ctx) => {
  assert.is((await post(ctx, '/productivity', metric({ unit: 'points' }))).status, 201);
  const [row] = await rows(ctx);
  assert.is(row!.kind, 'productivity');
  assert.is(row!.name, 'productivity_score');
  assert.is(row!.value, 87.5);
  await expect400(await post(ctx, '/productivity', { value: 1 }), 'metric_type');
  await expect400(await post(ctx, '/productivity', metric({ value: 'high' })), 'value');
});

rest('user_id and organisation ids in the body never change who is stored', async (ctx) => {
  const res = await post(
    ctx,
    '/commands',
    command({ user_id: 'someone-else', organization_id: 'other-org', tenant_id: 'other-tenant' }),
  );
  assert.is(res.status, 201);
  const [row] = await rows(ctx);
  assert.is(row!.user_id, ctx.userId);
  const a = attrs(row!);
  assert.is(a.client_user_id, 'someone-else');
  assert.is(a.client_organization_id, 'other-org');
  assert.is(a.client_tenant_id, 'other-tenant');
  assert.not.ok('user_id' in a);
});

rest('a key of tenant A never writes to tenant B', async (ctx) => {
  const b = (await runCommand(ctx.server.ctx, 'tenant create', { name: 'Beta' })) as { id: string };
  await runCommand(ctx.server.ctx, 'user create', {
    tenant: b.id,
    email: 'bob@beta.test',
    role: 'developer',
    password: 'beta password 12',
  });
  const bKey = (
    (await runCommand(ctx.server.ctx, 'apikey create', { tenant: b.id, user: 'bob@beta.test', scopes: 'ingest' })) as {
      key: string;
    }
  ).key;

  assert.is((await post(ctx, '/commands', command({ tenant_id: b.id, organization_id: b.id }))).status, 201);
  assert.is(
    (await post(ctx, '/batch', { command_executions: [command({ tenant_id: b.id })], organization_id: b.id })).status,
    201,
  );
  assert.is(await count(ctx, b.id), 0);
  assert.is(await count(ctx), 2);
  assert.is((await post(ctx, '/commands', command({ command_name: 'b-cmd' }), bKey)).status, 201);
  assert.is(await count(ctx, b.id), 1);
  assert.is((await rows(ctx, `name = 'b-cmd'`)).length, 0);
});

rest('keys need the ingest scope; no key is 401', async (ctx) => {
  const reader = await ingestKey(ctx.server, ['read'], 'reader@acme.test');
  assert.is((await post(ctx, '/commands', command(), reader.key)).status, 403);
  assert.is((await post(ctx, '/batch', { command_executions: [command()] }, reader.key)).status, 403);
  assert.is((await post(ctx, '/commands', command(), 'amk_nope')).status, 401);
  const anon = await fetch(`${ctx.server.url}/api/metrics/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(command()),
  });
  assert.is(anon.status, 401);
  assert.is(await count(ctx), 0);
});

rest('batch: 1000 items per array are stored; 1001 is a 400 naming the array and stores nothing', async (ctx) => {
  const items = (n: number) =>
    Array.from({ length: n }, (_, i) => command({ command_name: `cmd-${i}`, execution_time_ms: i }));
  let res = await post(ctx, '/batch', {
    command_executions: items(1000),
    agent_interactions: [agent()],
    productivity_metrics: [metric()],
    timestamp: '2025-09-05T10:00:00Z',
  });
  assert.is(res.status, 201);
  const body = (await res.json()) as Json;
  assert.equal(body.success, true);
  assert.equal(body.data, { accepted: 1002, rejected: [] });
  assert.is(await count(ctx), 1002);
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const kinds = await db.all<{ kind: string; n: number; ts: number }>(
    `SELECT kind, count(*)::INT AS n, max(epoch_ms(ts)) AS ts FROM events GROUP BY kind ORDER BY kind`,
  );
  assert.equal(
    kinds.map((k) => [k.kind, k.n, Number(k.ts)]),
    [
      ['agent_interaction', 1, Date.parse('2025-09-05T10:00:00Z')],
      ['command', 1000, Date.parse('2025-09-05T10:00:00Z')],
      ['productivity', 1, Date.parse('2025-09-05T10:00:00Z')],
    ],
  );

  res = await post(ctx, '/batch', {
    command_executions: items(1001).map((c) => ({ ...c, command_name: `other-${c.command_name}` })),
  });
  await expect400(res, 'command_executions', '1001 items');
  await expect400(
    await post(ctx, '/batch', { agent_interactions: [agent()], productivity_metrics: Array(1001).fill(metric()) }),
    'productivity_metrics',
  );
  await expect400(await post(ctx, '/batch', { command_executions: 'nope' }), 'command_executions', 'not an array');
  await expect400(await post(ctx, '/batch', {}), 'body', 'empty batch');
  await expect400(
    await post(ctx, '/batch', { command_executions: [command()], timestamp: 'noon' }),
    'timestamp',
    'bad batch timestamp',
  );
  assert.is(await count(ctx), 1002);
});

rest('batch: valid items are kept, invalid ones reported (207); all invalid is a 400', async (ctx) => {
  const res = await post(ctx, '/batch', {
    command_executions: [
      command({ command_name: 'ok-0' }),
      command({ command_name: 'ok-1' }),
      command({ command_name: 'ok-2' }),
      command({ status: 'nope' }),
      'not an object',
    ],
    agent_interactions: [agent({ input_tokens: -1 }), agent()],
    productivity_metrics: [metric({ timestamp: '2025-09-05T11:00:00Z' })],
  });
  assert.is(res.status, 207);
  const body = (await res.json()) as Json;
  assert.is(body.success, false);
  assert.is(body.data.accepted, 5);
  assert.equal(
    body.data.rejected.map((r: Json) => [r.array, r.index, r.field]),
    [
      ['command_executions', 3, 'status'],
      ['command_executions', 4, '(item)'],
      ['agent_interactions', 0, 'input_tokens'],
    ],
  );
  assert.type(body.data.rejected[0].message, 'string');
  assert.is(await count(ctx), 5);

  const bad = await expect400(
    await post(ctx, '/batch', {
      command_executions: [command({ status: 'nope' })],
      agent_interactions: [agent({ agent_name: '' })],
    }),
    'command_executions.0.status',
  );
  assert.equal(
    bad.data.rejected.map((r: Json) => [r.array, r.index, r.field]),
    [
      ['command_executions', 0, 'status'],
      ['agent_interactions', 0, 'agent_name'],
    ],
  );
  await expect400(
    await post(ctx, '/batch', { productivity_metrics: [metric({ value: 'x' })] }),
    'productivity_metrics.0.value',
  );
  assert.is(await count(ctx), 5);
});

rest('a retried batch (no ids) and a retried single item (with id) are stored once', async (ctx) => {
  const batch = {
    command_executions: [
      command({ command_name: 'a' }),
      command({ command_name: 'b', executed_at: '2025-09-05T10:00:01Z' }),
    ],
    agent_interactions: [agent()],
    productivity_metrics: [metric()],
  };
  for (let i = 0; i < 3; i++) assert.is((await post(ctx, '/batch', batch)).status, 201);
  await Promise.all([post(ctx, '/batch', batch), post(ctx, '/batch', batch)]);
  assert.is(await count(ctx), 4);

  // Same client id, different content: still one event of that kind for this user.
  assert.is((await post(ctx, '/commands', command({ id: 'evt-9', execution_time_ms: 1 }))).status, 201);
  assert.is((await post(ctx, '/commands', command({ id: 'evt-9', execution_time_ms: 2 }))).status, 201);
  assert.is(await count(ctx), 5);
  // With a batch-level timestamp the content differs from the first batch: new events.
  assert.is((await post(ctx, '/batch', { ...batch, timestamp: '2025-09-06T00:00:00Z' })).status, 201);
  assert.is(await count(ctx), 5 + 3); // `b` has its own executed_at, so it is the same event again
});

rest.run();
