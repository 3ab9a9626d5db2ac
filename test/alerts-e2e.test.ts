// An alert from the crossing event to the receiver, through the appliance as it runs: a rule
// made over the API, tool failures sent as hooks, the engine's pass at the app's clock, the
// delivery's outbox, and a real webhook receiver on 127.0.0.1 that checks the signature with
// the tenant's secret. Without --alert-allow-private such a rule is refused when it is made,
// naming the channel's field, as is a cloud metadata address.
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { ingestKey, setUp, startTestServer, type TestServer } from './helpers.js';

type Received = { headers: Record<string, string | string[] | undefined>; body: string };
type Ctx = { server: TestServer; receiver: Server; url: string; received: Received[] };
const test = suite<Ctx>('alerts end to end');

test.before.each(async (ctx) => {
  ctx.received = [];
  ctx.receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      ctx.received.push({ headers: req.headers, body });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => ctx.receiver.listen(0, '127.0.0.1', resolve));
  ctx.url = `http://127.0.0.1:${(ctx.receiver.address() as AddressInfo).port}/hook`;
});
test.after.each(async (ctx) => {
  await ctx.server?.stop();
  ctx.receiver.close();
});

const RULE = (url: string) => ({
  name: 'Tools failing',
  metric: 'tool_failures',
  window: '1h',
  condition: { type: 'threshold', op: 'above', value: 2 },
  severity: 'critical',
  channels: [{ type: 'webhook', url }, { type: 'dashboard' }],
});

test('three failed tool calls fire the rule; the receiver gets one POST whose signature checks', async (ctx) => {
  ctx.server = await startTestServer({ flags: { 'alert-allow-private': 'true' } });
  await ctx.server.ctx.alerts.stop(); // passes run when the test says
  const admin = await setUp(ctx.server);
  await admin.get('/settings');
  const headers = { 'x-csrf-token': admin.csrf!, accept: 'application/json' };
  const secret = (
    (await (await admin.request('/api/v1/alerts/webhook-secret', { method: 'POST', headers })).json()) as {
      secret: string;
    }
  ).secret;
  const made = await admin.request('/api/v1/alerts/rules', { method: 'POST', headers, json: RULE(ctx.url) });
  assert.is(made.status, 201, await made.clone().text());
  const rule = (await made.json()) as { id: string };

  const { key } = await ingestKey(ctx.server);
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${ctx.server.url}/api/v1/hooks/claude-code`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        hook_event_name: 'PostToolUseFailure',
        session_id: 's-alert',
        tool_name: 'Bash',
        tool_use_id: `t${i}`,
        error: 'exit 1',
      }),
    });
    assert.is(res.status, 200);
  }
  const sent = await ctx.server.ctx.alerts.runOnce();
  assert.equal(
    sent.map((n) => [n.ruleId, n.state, n.value]),
    [[rule.id, 'firing', 3]],
  );
  await ctx.server.ctx.delivery.flush();
  assert.is(ctx.received.length, 1, 'one POST');
  const [{ headers: h, body }] = ctx.received as [Received];
  const timestamp = String(h['x-agentmeter-timestamp']);
  const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
  assert.is(h['x-agentmeter-signature'], expected, 'signed with the tenant secret over "<timestamp>.<body>"');
  const payload = JSON.parse(body) as {
    rule: { id: string; severity: string };
    state: string;
    value: number;
    link: string;
  };
  assert.equal(
    [payload.rule.id, payload.rule.severity, payload.state, payload.value],
    [rule.id, 'critical', 'firing', 3],
  );
  assert.ok(payload.link.startsWith(ctx.server.ctx.publicUrl.origin));

  // The next pass, still firing and no re-notify: nothing more is sent.
  assert.equal(await ctx.server.ctx.alerts.runOnce(), []);
  await ctx.server.ctx.delivery.flush();
  assert.is(ctx.received.length, 1);
});

test('without --alert-allow-private a loopback receiver is refused when the rule is made; a metadata address always', async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.alerts.stop();
  const admin = await setUp(ctx.server);
  await admin.get('/settings');
  const headers = { 'x-csrf-token': admin.csrf!, accept: 'application/json' };
  for (const url of [ctx.url, 'http://169.254.169.254/latest/meta-data/', `${ctx.server.url}/api/v1/me`]) {
    const res = await admin.request('/api/v1/alerts/rules', { method: 'POST', headers, json: RULE(url) });
    assert.is(res.status, 400, url);
    assert.is(((await res.json()) as { field: string }).field, 'channels.0.url', url);
  }
});

test.run();
