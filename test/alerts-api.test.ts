// The alerts API over a real server: validation (a 400 naming the field), who may make
// which rule and see which alerts, the test endpoint's preview, no double send across a
// restart on the same data directory, and the scheduler reacting to a commit.
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, callTool, ingestKey, signIn, startTestServer, tempDir, waitFor, type TestServer } from './helpers.js';
import { HOUR, MIN, recorder, sendAgents } from './alerts-fixtures.js';
import { PREVIEW_QUERIES } from '../src/alerts/preview.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const T = Date.parse('2026-03-10T12:00:00Z');
const RULE = {
  name: 'spend',
  metric: 'cost_usd',
  window: '1h',
  condition: { type: 'threshold', op: 'above', value: 5 },
};

const call = (server: TestServer, key: string, method: string, path: string, body?: unknown) =>
  fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function keyFor(server: TestServer, email: string, role: string): Promise<string> {
  const tenant = (await server.ctx.control.get<{ id: string }>(
    'SELECT tenant_id AS id FROM users WHERE email = $email',
    { email: ADMIN.email },
  ))!;
  await runCommand(server.ctx, 'user create', { tenant: tenant.id, email, role, password: 'a long password 1' });
  return (
    (await runCommand(server.ctx, 'apikey create', {
      tenant: tenant.id,
      user: email,
      // A viewer reports no sessions: its key reads only.
      scopes: role === 'viewer' ? 'read' : 'ingest,read',
    })) as {
      key: string;
    }
  ).key;
}

/** Events at explicit times, the clock just past them, rolled up. */
async function send(server: TestServer, key: string, items: { at: number; cost?: number }[]) {
  const clock = Math.max(...items.map((i) => i.at)) + MIN;
  server.ctx.now = () => new Date(clock);
  await sendAgents(server.url, key, items);
  await server.ctx.aggregator.runOnce();
}

type Ctx = { server: TestServer; admin: string; dev: string; viewer: string; manager: string; devId: string };
const s = suite<Ctx>('alerts API');
s.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  await ctx.server.ctx.alerts.stop();
  const dev = await ingestKey(ctx.server, ['ingest', 'read'], 'dev@acme.test');
  ctx.dev = dev.key;
  ctx.devId = dev.userId;
  ctx.admin = (
    (await runCommand(ctx.server.ctx, 'apikey create', {
      tenant: dev.tenantId,
      user: ADMIN.email,
      scopes: 'ingest,read',
    })) as { key: string }
  ).key;
  ctx.manager = await keyFor(ctx.server, 'boss@acme.test', 'manager');
  ctx.viewer = await keyFor(ctx.server, 'view@acme.test', 'viewer');
});
s.after.each(async (ctx) => ctx.server.stop());

s('a bad rule is a 400 naming the field', async (ctx) => {
  const cases: [Json, string][] = [
    [{ ...RULE, metric: 'dollars' }, 'metric'],
    [{ ...RULE, window: '1m' }, 'window'],
    [{ ...RULE, window: '31d' }, 'window'],
    [{ ...RULE, channels: [{ type: 'webhook', url: 'ftp://example.test/x' }] }, 'channels.0.url'],
    [{ ...RULE, channels: [{ type: 'slack', url: 'http://169.254.169.254/latest' }] }, 'channels.0.url'],
    // The edit form lists URLs apart by white space: one holding a space could not be saved from it again.
    [{ ...RULE, channels: [{ type: 'webhook', url: 'https://hooks.example.test/a b' }] }, 'channels.0.url'],
    [{ ...RULE, channels: [{ type: 'webhook', url: 'https://hooks.example.test/a\nb' }] }, 'channels.0.url'],
    [{ ...RULE, channels: [{ type: 'email', to: ['not an address'] }] }, 'channels.0.to.0'],
    [{ ...RULE, filters: { tool: ['Bash'] } }, 'filters.tool'],
    [
      { ...RULE, condition: { type: 'forecast', op: 'above', value: 1, by: 'month' }, metric: 'tool_failure_rate' },
      'metric',
    ],
    [{ ...RULE, condition: { type: 'anomaly', z: 0 } }, 'condition.z'],
  ];
  for (const [body, field] of cases) {
    const res = await call(ctx.server, ctx.manager, 'POST', '/alerts/rules', body);
    assert.is(res.status, 400, `${field}: ${res.status}`);
    assert.is(((await res.json()) as Json).field, field);
  }
  const ok = await call(ctx.server, ctx.manager, 'POST', '/alerts/rules', {
    ...RULE,
    channels: [{ type: 'webhook', url: 'https://hooks.example.test/x' }],
  });
  assert.is(ok.status, 201);
});

s('a developer makes rules about their own data only; a viewer sees firing alerts only', async (ctx) => {
  let res = await call(ctx.server, ctx.dev, 'POST', '/alerts/rules', { ...RULE, scope: 'team' });
  assert.is(res.status, 403);
  assert.is(((await res.json()) as Json).field, 'scope');
  res = await call(ctx.server, ctx.dev, 'POST', '/alerts/rules', { ...RULE, filters: { user: ['u_someoneelse'] } });
  assert.is(res.status, 403);
  const mine = (await (await call(ctx.server, ctx.dev, 'POST', '/alerts/rules', RULE)).json()) as Json;
  assert.is(mine.scope, 'own');
  assert.equal(mine.filters.user, [ctx.devId]);
  const team = (await (await call(ctx.server, ctx.manager, 'POST', '/alerts/rules', RULE)).json()) as Json;
  assert.is(team.scope, 'team');
  // The admin spends $10, the developer $1: the team rule fires, the developer's does not.
  await send(ctx.server, ctx.admin, [{ at: T - 10 * MIN, cost: 10 }]);
  await send(ctx.server, ctx.dev, [{ at: T - 9 * MIN, cost: 1 }]);
  ctx.server.ctx.now = () => new Date(T);
  const sent = await ctx.server.ctx.alerts.runOnce();
  assert.equal(
    sent.map((n) => [n.ruleId, n.state, n.value]),
    [[team.id, 'firing', 11]],
  );
  // Who sees what.
  assert.equal(
    ((await (await call(ctx.server, ctx.dev, 'GET', '/alerts/rules')).json()) as Json).rules.map((r: Json) => r.id),
    [mine.id],
  );
  assert.is((await call(ctx.server, ctx.dev, 'GET', `/alerts/rules/${team.id}`)).status, 404);
  assert.equal(((await (await call(ctx.server, ctx.dev, 'GET', '/alerts')).json()) as Json).alerts, []);
  assert.is((await call(ctx.server, ctx.viewer, 'GET', '/alerts/rules')).status, 403);
  const seen = (await (await call(ctx.server, ctx.viewer, 'GET', '/alerts')).json()) as Json;
  assert.equal(
    seen.alerts.map((a: Json) => [a.rule_id, a.state, a.value]),
    [[team.id, 'firing', 11]],
  );
  assert.equal(seen.history, [], 'a viewer sees what fires now, not the history');
  // The MCP tool lists the same.
  const firing = async (key: string) =>
    (JSON.parse((await callTool(ctx.server.url, key, 'firing_alerts', {})).text) as Json).alerts.map(
      (a: Json) => a.rule_id,
    );
  assert.equal(await firing(ctx.viewer), [team.id]);
  assert.equal(await firing(ctx.dev), [], "a developer sees their own rules' alerts");
  const managers = (await (
    await call(ctx.server, ctx.manager, 'GET', `/alerts?state=firing&rule=${team.id}`)
  ).json()) as Json;
  assert.equal(
    managers.history.map((h: Json) => h.state),
    ['firing'],
  );
  assert.is((await call(ctx.server, ctx.manager, 'GET', '/alerts?state=weird')).status, 400);
});

s("no alert gives a viewer one person's figure; a demoted author keeps only rules about themselves", async (ctx) => {
  const over1 = { window: '1h', condition: { type: 'threshold', op: 'above', value: 1 } };
  await send(ctx.server, ctx.dev, [{ at: T - 9 * MIN, cost: 3.25 }]);
  const create = async (key: string, body: Json) =>
    (
      (await (
        await call(ctx.server, key, 'POST', '/alerts/rules', { metric: 'cost_usd', ...over1, ...body })
      ).json()) as Json
    ).id as string;
  const own = await create(ctx.dev, { name: 'my spend' });
  const oneUser = await create(ctx.manager, { name: 'dev spend', filters: { user: [ctx.devId] } });
  const perUser = await create(ctx.manager, { name: 'per person', group_by: ['user'] });
  const team = await create(ctx.manager, {
    name: 'team spend',
    channels: [{ type: 'webhook', url: 'https://hooks.example.test/secret-token' }],
  });
  ctx.server.ctx.now = () => new Date(T);
  const sent = await ctx.server.ctx.alerts.runOnce();
  assert.equal(sent.map((n) => n.ruleId).sort(), [own, oneUser, perUser, team].sort());

  // A viewer: the team's figure; of the rule per person that it fires, not whose or how much.
  const seen = (await (await call(ctx.server, ctx.viewer, 'GET', '/alerts')).json()) as Json;
  const expected = [
    [perUser, null, null],
    [team, null, 3.25],
  ];
  const rows = (alerts: Json[]) =>
    alerts.map((a: Json) => [a.rule_id, a.group, a.value]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  assert.equal(
    rows(seen.alerts),
    expected.sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
  assert.equal(await (await call(ctx.server, ctx.viewer, 'GET', '/alerts/count')).json(), { firing: 2 });
  const viaMcp = JSON.parse((await callTool(ctx.server.url, ctx.viewer, 'firing_alerts', {})).text) as Json;
  assert.equal(rows(viaMcp.alerts), rows(seen.alerts));
  const page = await signIn(ctx.server, 'view@acme.test', 'a long password 1');
  for (const id of [own, oneUser]) assert.is((await page.get(`/alerts/${id}`)).status, 404, id);
  const teamPage = await (await page.get(`/alerts/${team}`)).text();
  assert.match(teamPage, /3\.25/);
  assert.not.match(teamPage, /secret-token/, "a rule's channels are for its authors");
  assert.not.match(await (await page.get(`/alerts/${perUser}`)).text(), new RegExp(`${ctx.devId}|3\\.25`));

  // The manager made a developer: their team rules are the team's data, no longer theirs to read.
  const tenant = (await ctx.server.ctx.control.get<{ id: string }>(
    'SELECT tenant_id AS id FROM users WHERE email = $e',
    {
      e: 'boss@acme.test',
    },
  ))!.id;
  await runCommand(ctx.server.ctx, 'user role', { tenant, email: 'boss@acme.test', role: 'developer' });
  assert.equal(((await (await call(ctx.server, ctx.manager, 'GET', '/alerts/rules')).json()) as Json).rules, []);
  assert.equal(((await (await call(ctx.server, ctx.manager, 'GET', '/alerts')).json()) as Json).alerts, []);
  for (const id of [oneUser, perUser, team]) {
    assert.is((await call(ctx.server, ctx.manager, 'POST', `/alerts/rules/${id}/test`)).status, 404, id);
    assert.is((await call(ctx.server, ctx.manager, 'DELETE', `/alerts/rules/${id}`)).status, 404, id);
  }
  // The developer still reads their own rule.
  assert.equal(
    ((await (await call(ctx.server, ctx.dev, 'GET', '/alerts')).json()) as Json).alerts.map((a: Json) => [
      a.rule_id,
      a.value,
    ]),
    [[own, 3.25]],
  );
});

s('test: what it would send now, and when it would have fired over the last 7 days', async (ctx) => {
  const rule = (await (await call(ctx.server, ctx.manager, 'POST', '/alerts/rules', RULE)).json()) as Json;
  await send(ctx.server, ctx.admin, [
    { at: T - 2 * 86_400_000 + 10 * MIN, cost: 6 },
    { at: T - 10 * MIN, cost: 7 },
  ]);
  ctx.server.ctx.now = () => new Date(T);
  const res = await call(ctx.server, ctx.manager, 'POST', `/alerts/rules/${rule.id}/test`);
  assert.is(res.status, 200);
  const body = (await res.json()) as Json;
  assert.equal(
    body.would_send.map((n: Json) => [n.state, n.value]),
    [['firing', 7]],
  );
  assert.is(body.preview.evaluations, 7 * 24);
  assert.equal(body.preview.fired_at, [new Date(T - 2 * 86_400_000 + HOUR).toISOString(), new Date(T).toISOString()]);
  const stored = (await (await call(ctx.server, ctx.manager, 'GET', '/alerts')).json()) as Json;
  assert.equal([stored.alerts, stored.history], [[], []], 'the test stored nothing');
  assert.equal(
    (await ctx.server.ctx.alerts.runOnce()).map((n) => n.state),
    ['firing'],
    'so the first pass sends',
  );
});

s(
  'test: a rule that asks many questions per evaluation is previewed every few hours, within PREVIEW_QUERIES',
  async (ctx) => {
    const anomaly = {
      ...RULE,
      name: 'unusual',
      group_by: ['project'],
      window: '1d',
      condition: { type: 'anomaly', z: 3, baseline_windows: 24 },
    };
    const rule = (await (await call(ctx.server, ctx.manager, 'POST', '/alerts/rules', anomaly)).json()) as Json;
    await send(ctx.server, ctx.admin, [{ at: T - 10 * MIN, cost: 7 }]);
    ctx.server.ctx.now = () => new Date(T);
    const res = await call(ctx.server, ctx.manager, 'POST', `/alerts/rules/${rule.id}/test`);
    assert.is(res.status, 200);
    const { preview } = (await res.json()) as Json;
    // 25 questions an evaluation (the window and its 24 baselines): every 13 hours, 12 evaluations.
    assert.equal([preview.step, preview.evaluations], ['13h', 12]);
    assert.ok(preview.questions <= PREVIEW_QUERIES, `${preview.questions} questions`);
    const simple = (await (await call(ctx.server, ctx.manager, 'POST', '/alerts/rules', RULE)).json()) as Json;
    const hourly = (await (
      await call(ctx.server, ctx.manager, 'POST', `/alerts/rules/${simple.id}/test`)
    ).json()) as Json;
    assert.equal(
      [hourly.preview.step, hourly.preview.evaluations],
      ['1h', 7 * 24],
      'a threshold: every hour, as before',
    );
  },
);

s('a restart neither loses a firing state nor sends it again', async (_ctx) => {
  const dir = tempDir('am-alerts');
  let server: TestServer | null = null;
  try {
    server = await startTestServer({ dataDir: dir.path });
    await server.ctx.aggregator.stop();
    await server.ctx.alerts.stop();
    const { key } = await ingestKey(server);
    const rule = (await (
      await call(server, key, 'POST', '/alerts/rules', { ...RULE, window: '1d', renotify: '1h' })
    ).json()) as Json;
    assert.ok(rule.id, JSON.stringify(rule));
    await send(server, key, [{ at: T - 10 * MIN, cost: 6 }]);
    const first = recorder();
    server.ctx.alerts.delivery = first;
    server.ctx.now = () => new Date(T);
    assert.equal(
      (await server.ctx.alerts.runOnce()).map((n) => n.state),
      ['firing'],
    );
    await server.stop();
    server = null;

    server = await startTestServer({ dataDir: dir.path });
    await server.ctx.aggregator.stop();
    await server.ctx.alerts.stop();
    const again = recorder();
    server.ctx.alerts.delivery = again;
    server.ctx.now = () => new Date(T + 5 * MIN);
    assert.equal(await server.ctx.alerts.runOnce(), []);
    assert.equal(again.sent, []);
    const alerts = (await (await call(server, key, 'GET', '/alerts')).json()) as Json;
    assert.equal(
      alerts.alerts.map((a: Json) => a.state),
      ['firing'],
    );
    // Re-notify counts from the send before the restart.
    server.ctx.now = () => new Date(T + HOUR);
    assert.equal(
      (await server.ctx.alerts.runOnce()).map((n) => [n.state, n.renotify]),
      [['firing', true]],
    );
  } finally {
    await server?.stop();
    dir.remove();
  }
});

s('the scheduler evaluates after a commit, off the request path', async (ctx) => {
  const rule = (await (
    await call(ctx.server, ctx.manager, 'POST', '/alerts/rules', { ...RULE, window: '1d' })
  ).json()) as Json;
  const delivery = recorder();
  ctx.server.ctx.alerts.delivery = delivery;
  ctx.server.ctx.alerts.start();
  const now = Date.now();
  ctx.server.ctx.now = () => new Date(now);
  await sendAgents(ctx.server.url, ctx.admin, [{ at: now - MIN, cost: 9 }]);
  const n = await waitFor(async () => delivery.sent[0], 'a notification after the commit');
  assert.equal([n.ruleId, n.state, n.value], [rule.id, 'firing', 9]);
});

s.run();
