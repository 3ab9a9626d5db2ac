// Event times: only those in the accepted window are stored (a 400 naming the client's field
// otherwise, on every entry point), and a time stored before the window existed breaks
// neither the worker nor a query.
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { ingestSuite, type IngestCtx } from './helpers.js';

const suite = ingestSuite('event times');

const FAR_FUTURE = '9999-12-31T23:59:59Z';
const FAR_PAST = '1999-12-31T23:59:59Z';
const command = (extra: Record<string, unknown> = {}) => ({
  command_name: 'npm test',
  execution_time_ms: 10,
  status: 'success',
  ...extra,
});

async function send(ctx: IngestCtx, method: string, path: string, body: unknown) {
  const res = await fetch(`${ctx.server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const get = async (ctx: IngestCtx, path: string) => {
  const res = await fetch(`${ctx.server.url}${path}`, { headers: { authorization: `Bearer ${ctx.key}` } });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
};

suite('a time outside the accepted window is a 400 naming the field it came in; the rest of a batch is stored', async (ctx) => {
  for (const [when, field] of [
    [{ executed_at: FAR_FUTURE }, 'executed_at'],
    [{ executed_at: FAR_PAST }, 'executed_at'],
    [{ timestamp: FAR_FUTURE }, 'timestamp'],
  ] as const) {
    const r = await send(ctx, 'POST', '/api/metrics/commands', command(when));
    assert.is(r.status, 400, JSON.stringify(when));
    assert.is(r.body.field, field);
    assert.match(r.body.error, /must be between 2000-01-01/);
  }
  assert.is(
    (await send(ctx, 'POST', '/api/metrics/sessions/start', { session_id: 's-far', started_at: FAR_FUTURE })).body
      .field,
    'started_at',
  );
  assert.is((await send(ctx, 'PUT', '/api/metrics/sessions/s-far', { ended_at: FAR_FUTURE })).body.field, 'ended_at');

  const batch = await send(ctx, 'POST', '/api/metrics/batch', {
    command_executions: [command(), command({ executed_at: FAR_FUTURE })],
  });
  assert.is(batch.status, 207);
  assert.equal(batch.body.data.rejected, [
    { array: 'command_executions', index: 1, field: 'executed_at', message: batch.body.data.rejected[0].message },
  ]);

  const record = (nanos: string) => ({
    timeUnixNano: nanos,
    attributes: [
      { key: 'event.name', value: { stringValue: 'user_prompt' } },
      { key: 'session.id', value: { stringValue: 's-otlp' } },
    ],
  });
  const logs = await send(ctx, 'POST', '/v1/logs', {
    resourceLogs: [
      { scopeLogs: [{ logRecords: [record(`${BigInt(Date.now()) * 1_000_000n}`), record('4102444800000000000')] }] },
    ],
  });
  assert.is(logs.status, 200);
  assert.is(logs.body.partialSuccess.rejectedLogRecords, 1);
  assert.match(logs.body.partialSuccess.errorMessage, /timeUnixNano: must be between/);

  const socket = new WebSocket(`${ctx.server.url.replace(/^http/, 'ws')}/api/v1/stream`, {
    headers: { authorization: `Bearer ${ctx.key}` },
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const reply = new Promise<Record<string, unknown>>((resolve) =>
    socket.once('message', (data) => resolve(JSON.parse(String(data)) as Record<string, unknown>)),
  );
  socket.send(JSON.stringify({ kind: 'prompt', session_id: 's-ws', ts: Date.parse(FAR_FUTURE) }));
  assert.equal([(await reply).type, (await reply).field], ['error', 'ts']);
  socket.terminate();

  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const stored = await db.all<{ kind: string }>(`SELECT kind FROM events ORDER BY seq`);
  assert.equal(
    stored.map((r) => r.kind),
    ['command', 'prompt'],
    'the valid batch item and the valid log record',
  );
});

suite('a time stored before the window existed (year 9999) stops neither the worker nor a query', async (ctx) => {
  const res = await send(ctx, 'POST', '/api/metrics/batch', {
    command_executions: [command({ session_id: 's-old' }), command({ session_id: 's-old', execution_time_ms: 20 })],
  });
  assert.is(res.status, 201);
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  await db.run(`UPDATE events SET ts = TIMESTAMP '9999-12-31 23:59:59' WHERE seq = (SELECT max(seq) FROM events)`);
  // Then any event: before the fix every query of the tenant answered 500 from here on.
  assert.is(
    (
      await send(ctx, 'POST', '/api/v1/hooks/claude-code', {
        hook_event_name: 'UserPromptSubmit',
        session_id: 's-new',
        prompt: 'hi',
      })
    ).status,
    200,
  );
  const checkQueries = async (label: string) => {
    for (const path of [
      '/api/v1/dashboard/summary',
      '/api/v1/sessions',
      '/api/v1/sessions/s-old',
      '/api/metrics/real-time/1h',
      `/api/v1/query?q=${encodeURIComponent(JSON.stringify({ metrics: ['commands'], from: Date.now() - 86_400_000, to: Date.now() + 60_000 }))}`,
    ]) {
      const r = await get(ctx, path);
      if (r.status !== 200)
        console.log(
          ctx.server.logs
            .filter((l) => l.level === 'error')
            .map((l) => l.error)
            .join('\n'),
        );
      assert.is(r.status, 200, `${label}: ${path}: ${JSON.stringify(r.body)}`);
    }
  };
  await checkQueries('unrolled');
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
  const lag = (await ctx.server.ctx.aggregator.lag())[0]!;
  assert.equal([lag.pendingEvents, lag.lastError], [0, null]);
  await checkQueries('rolled up');
  const sessions = (await get(ctx, '/api/v1/sessions')).body.sessions as { session_id: string }[];
  assert.ok(
    sessions.some((s) => s.session_id === 's-old'),
    'the session is listed',
  );
});

suite.run();
