// The alerts pages over a real server with an injected clock: the list shows a firing alert
// and its history (every string escaped), the forms create, edit, silence and delete rules
// with CSRF and name a bad field, and roles: a viewer sees firing alerts but no forms, a
// developer only their own rules.
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, ingestKey, signIn, startTestServer, type Client, type TestServer } from './helpers.js';
import { MIN, sendAgents } from './alerts-fixtures.js';
import { createRule, ruleSchema } from '../src/alerts/rules.js';
import { bodyFromForm, formFromRule } from '../src/alerts/rule-form.js';

const T = Date.parse('2026-03-10T12:00:00Z');
const PASSWORD = 'a long password 1';
const EVIL = '<script>alert(1)</script> spend';
const FORM = {
  name: EVIL,
  metric: 'cost_usd',
  filters: '{}',
  group_by: '',
  window: '1h',
  condition_type: 'threshold',
  op: 'above',
  value: '5',
  pending: '0m',
  renotify: '',
  severity: 'warning',
  no_data: 'ok',
  dashboard: 'on',
};

type Ctx = { server: TestServer; key: string; tenantId: string; admin: Client; dev: Client; viewer: Client };
const s = suite<Ctx>('alerts pages');
s.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  await ctx.server.ctx.alerts.stop();
  const k = await ingestKey(ctx.server, ['ingest', 'read'], ADMIN.email);
  ctx.key = k.key;
  ctx.tenantId = k.tenantId;
  for (const [email, role] of [
    ['dev@acme.test', 'developer'],
    ['view@acme.test', 'viewer'],
  ])
    await runCommand(ctx.server.ctx, 'user create', { tenant: k.tenantId, email, role, password: PASSWORD });
  ctx.admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
  ctx.dev = await signIn(ctx.server, 'dev@acme.test', PASSWORD);
  ctx.viewer = await signIn(ctx.server, 'view@acme.test', PASSWORD);
  ctx.server.ctx.now = () => new Date(T);
});
s.after.each(async (ctx) => ctx.server.stop());

/** Creates a rule through the form; returns its id. */
async function create(client: Client, form: Record<string, string>): Promise<string> {
  await client.get('/alerts/new');
  const res = await client.post('/alerts/new', form);
  assert.is(res.status, 303, await res.text());
  return res.headers.get('location')!.replace('/alerts/', '');
}

async function fire(ctx: Ctx) {
  await sendAgents(ctx.server.url, ctx.key, [{ at: T - 10 * MIN, cost: 10 }]);
  await ctx.server.ctx.aggregator.runOnce();
  await ctx.server.ctx.alerts.runOnce();
}

s('the pages list a firing alert and its history, every string escaped', async (ctx) => {
  const id = await create(ctx.admin, FORM);
  await fire(ctx);
  const list = await (await ctx.admin.get('/alerts')).text();
  assert.not.ok(list.includes('<script>alert(1)'), 'the rule name is escaped');
  assert.ok(list.includes('&lt;script&gt;alert(1)&lt;/script&gt; spend'));
  assert.match(list, /<table id="current-alerts">[\s\S]*data-state="firing"[\s\S]*<\/table>/);
  assert.match(list, /<table id="alert-history">[\s\S]*firing[\s\S]*<\/table>/);
  // The value in its metric's unit, as the rule's threshold was given: dollars.
  assert.match(list, /<table id="current-alerts">[\s\S]*<td>\$10<\/td><td>warning<\/td>/);
  assert.match(list, /<table id="alert-history">[\s\S]*<td>firing<\/td><td>\$10<\/td>/);
  assert.match(list, /<a href="\/alerts">Alerts<\/a>|href="\/alerts" aria-current="page">Alerts/);
  const page = await ctx.admin.get(`/alerts/${id}`);
  assert.is(page.status, 200);
  const html = await page.text();
  assert.not.ok(html.includes('<script>alert(1)'));
  assert.match(html, /<table id="rule-states">[\s\S]*firing/);
  assert.match(html, /id="rule-history-list"/);
  assert.match(html, /<div id="preview">[\s\S]*would send: nothing\.[\s\S]*would have fired at 2026-03-10 12:00 UTC/);
  assert.match(html, /Over the last 7 days \(hourly\)/);
  // An anomaly against 24 baselines asks 25 questions an evaluation: previewed every 13 hours.
  const anomaly = await create(ctx.admin, {
    ...FORM,
    name: 'unusual',
    window: '1d',
    condition_type: 'anomaly',
    z: '3',
    baseline_windows: '24',
  });
  assert.match(await (await ctx.admin.get(`/alerts/${anomaly}`)).text(), /Over the last 7 days \(every 13 hours\)/);
});

s('in New York, a silence is asked and shown in New York time, as the preview is', async (ctx) => {
  await ctx.admin.get('/settings/timezone');
  const put = await ctx.admin.request('/api/v1/settings/timezone', {
    method: 'PUT',
    json: { timezone: 'America/New_York' },
    headers: { 'x-csrf-token': ctx.admin.csrf! },
  });
  assert.is(put.status, 200);
  const id = await create(ctx.admin, { ...FORM, name: 'zoned' });
  await fire(ctx);
  const page = await (await ctx.admin.get(`/alerts/${id}`)).text();
  assert.match(page, /would have fired at 2026-03-10 08:00 EDT/);
  assert.match(page, /<label>Until \(America\/New_York\)/);
  const res = await ctx.admin.post(`/alerts/${id}/silence`, { group: '', until: '2026-03-11T10:00', reason: 'deploy' });
  assert.is(res.status, 303, await res.text());
  const stored = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const until = (await stored.get<{ u: string }>("SELECT strftime(until, '%Y-%m-%dT%H:%M') AS u FROM alert_silences"))!;
  assert.is(until.u, '2026-03-11T14:00', '10:00 EDT');
  assert.match(await (await ctx.admin.get('/alerts')).text(), /<table id="alert-silences">[\s\S]*2026-03-11 10:00 EDT/);
});

s(
  "a silence whose group is not JSON, or not one of the rule's groups, is refused naming it, and silences nothing",
  async (ctx) => {
    const id = await create(ctx.admin, { ...FORM, name: 'grouped', group_by: 'user' });
    await ctx.admin.get(`/alerts/${id}`);
    // Taken as "no group" it would have silenced every group of the rule; a stray key, or none, matches no group.
    for (const [group, field] of [
      ['{bad', 'group'],
      ['[1,2]', 'group'],
      ['5', 'group'],
      ['{"usr":"u_1"}', 'group.usr'],
      ['{"user":"u_1","project":"web"}', 'group.project'],
      ['{}', 'group.user'],
    ] as const) {
      const res = await ctx.admin.post(`/alerts/${id}/silence`, { group, until: '2026-03-11T10:00', reason: 'deploy' });
      assert.is(res.status, 400, group);
      assert.match(await res.text(), new RegExp(`role="alert">${field.replace('.', '\\.')}: `), group);
    }
    const ungrouped = await create(ctx.admin, { ...FORM, name: 'ungrouped' });
    await ctx.admin.get(`/alerts/${ungrouped}`);
    const stray = await ctx.admin.post(`/alerts/${ungrouped}/silence`, {
      group: '{"project":"web"}',
      until: '2026-03-11T10:00',
      reason: 'only web',
    });
    assert.is(stray.status, 400, 'a group on an ungrouped rule would have silenced all of it');
    assert.match(await stray.text(), /role="alert">group: this rule has no groups/);
    assert.not.match(await (await ctx.admin.get('/alerts')).text(), /id="alert-silences"/);
    const res = await ctx.admin.post(`/alerts/${id}/silence`, {
      group: '{"user":"u_1"}',
      until: '2026-03-11T10:00',
      reason: 'deploy',
    });
    assert.is(res.status, 303);
    assert.match(await (await ctx.admin.get('/alerts')).text(), /id="alert-silences"/);
  },
);

s("the silences API refuses a group that is not one of the rule's groups, naming the key", async (ctx) => {
  const grouped = await create(ctx.admin, { ...FORM, name: 'per person', group_by: 'user' });
  const ungrouped = await create(ctx.admin, { ...FORM, name: 'all' });
  const post = async (body: object) => {
    const res = await fetch(`${ctx.server.url}/api/v1/alerts/silences`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ until: '2026-03-11T10:00:00Z', reason: 'deploy', ...body }),
    });
    return { status: res.status, json: (await res.json()) as { field?: string; group?: unknown } };
  };
  for (const [body, field] of [
    [{ rule_id: ungrouped, group: { project: 'web' } }, 'group'],
    [{ rule_id: grouped, group: { usr: 'u_1' } }, 'group.usr'],
    [{ rule_id: grouped, group: {} }, 'group.user'],
  ] as const) {
    const res = await post(body);
    assert.equal([res.status, res.json.field], [400, field], JSON.stringify(body));
  }
  const fine = await post({ rule_id: grouped, group: { user: 'u_1' } });
  assert.equal([fine.status, fine.json.group], [201, { user: 'u_1' }]);
  assert.is((await post({ rule_id: ungrouped })).status, 201, 'no group: the whole rule');
});

s('forms: a bad field re-renders naming it; create, edit, silence, lift and delete need CSRF', async (ctx) => {
  await ctx.admin.get('/alerts/new');
  let res = await ctx.admin.post('/alerts/new', { ...FORM, window: '1m' });
  assert.is(res.status, 400);
  let html = await res.text();
  assert.match(html, /role="alert">window: /);
  assert.match(html, /name="window" required value="1m" aria-invalid="true"/);
  res = await ctx.admin.post('/alerts/new', { ...FORM, webhook: 'ftp://example.test/x' });
  assert.match(await res.text(), /role="alert">channels\.[0-9]\.url/);
  res = await ctx.admin.post('/alerts/new', FORM, { csrf: false });
  assert.is(res.status, 403);

  const id = await create(ctx.admin, { ...FORM, name: 'spend' });
  res = await ctx.admin.get(`/alerts/${id}/edit`);
  assert.match(await res.text(), /name="value" inputmode="decimal" value="5"/);
  res = await ctx.admin.post(`/alerts/${id}/edit`, { ...FORM, name: 'spend', value: 'lots' });
  assert.is(res.status, 400);
  assert.match(await res.text(), /role="alert">condition\.value/);
  res = await ctx.admin.post(`/alerts/${id}/edit`, { ...FORM, name: 'renamed', value: '7' });
  assert.is(res.status, 303);
  const rule = (await (await ctx.admin.request(`/api/v1/alerts/rules/${id}`)).json()) as {
    name: string;
    condition: { value: number };
  };
  assert.is(rule.name, 'renamed');
  assert.is(rule.condition.value, 7);

  await ctx.admin.get(`/alerts/${id}`);
  res = await ctx.admin.post(`/alerts/${id}/silence`, { until: '2026-03-09T10:00', reason: 'deploy' });
  assert.is(res.status, 400);
  assert.match(await res.text(), /role="alert">until: must be in the future/);
  // A date the calendar has not is refused as the API refuses it, not stored as 3 March.
  res = await ctx.admin.post(`/alerts/${id}/silence`, { until: '2027-02-31T10:00', reason: 'deploy' });
  assert.is(res.status, 400);
  assert.match(await res.text(), /role="alert">until: /);
  assert.not.ok(
    await (await ctx.server.ctx.tenantFiles.open(ctx.tenantId)).get('SELECT 1 FROM alert_silences'),
    'nothing stored',
  );
  res = await ctx.admin.post(`/alerts/${id}/silence`, { until: '2026-03-11T10:00', reason: 'a <b>deploy</b>' });
  assert.is(res.status, 303);
  await fire(ctx); // while silenced: recorded, marked, not sent
  html = await (await ctx.admin.get('/alerts')).text();
  assert.match(html, /<table id="alert-history">[\s\S]*<td>firing<\/td><td>[^<]*<\/td><td>silenced<\/td>/);
  assert.match(html, /<table id="alert-silences">[\s\S]*2026-03-11 10:00 UTC[\s\S]*a &lt;b&gt;deploy&lt;\/b&gt;/);
  const sid = /action="\/alerts\/silences\/([^/]+)\/delete"/.exec(html)![1]!;
  res = await ctx.admin.post(`/alerts/silences/${sid}/delete`, {});
  assert.is(res.status, 303);
  assert.not.match(await (await ctx.admin.get('/alerts')).text(), /id="alert-silences"/);

  res = await ctx.admin.get(`/alerts/${id}/delete`);
  assert.match(await res.text(), /Delete “renamed”\?/);
  res = await ctx.admin.post(`/alerts/${id}/delete`, {}, { csrf: false });
  assert.is(res.status, 403);
  res = await ctx.admin.post(`/alerts/${id}/delete`, {});
  assert.is(res.status, 303);
  assert.is((await ctx.admin.get(`/alerts/${id}`)).status, 404);
});

s('the edit form carries every setting the API takes: a rule saved from it unchanged is the same rule', async (ctx) => {
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const rule = await createRule(
    db,
    {
      body: ruleSchema.parse({
        name: 'anomalous spend',
        metric: 'cost_usd',
        window: '1h',
        condition: { type: 'anomaly', z: 3, baseline_windows: 24 },
        channels: [
          { type: 'dashboard' },
          { type: 'webhook', url: 'https://hooks.acme.test/a?x=1,2' },
          { type: 'webhook', url: 'https://hooks.acme.test/b' },
          { type: 'slack', url: 'https://hooks.slack.com/services/T0/B0/x' },
          { type: 'email', to: ['a@acme.test', 'b@acme.test'] },
        ],
      }),
      createdBy: 'u_admin',
      ownUser: null,
    },
    T,
  );
  const again = bodyFromForm(formFromRule(rule));
  assert.ok('body' in again);
  const { scope: _scope, ...body } = ruleSchema.parse(again.body);
  const { id: _id, scope: _s, created_by: _c, own_user: _o, created_at: _ca, updated_at: _u, ...stored } = rule;
  assert.equal(body, stored);
  const page = await (await ctx.admin.get(`/alerts/${rule.id}/edit`)).text();
  assert.match(page, /name="baseline_windows" inputmode="numeric" value="24"/);
  assert.match(page, /name="webhook" value="https:\/\/hooks.acme.test\/a\?x=1,2 https:\/\/hooks.acme.test\/b"/);
});

s('a viewer sees firing alerts but no forms; a developer only their own rules', async (ctx) => {
  const team = await create(ctx.admin, FORM);
  const own = await create(ctx.dev, { ...FORM, name: 'my spend', value: '100' });
  const ownRule = (await (await ctx.dev.request(`/api/v1/alerts/rules/${own}`)).json()) as { scope: string };
  assert.is(ownRule.scope, 'own');
  // A developer may not make a team rule through the form either.
  await ctx.dev.get('/alerts/new');
  const refused = await ctx.dev.post('/alerts/new', { ...FORM, scope: 'team' });
  assert.is(refused.status, 400);
  assert.match(await refused.text(), /role="alert">scope: /);
  assert.is((await ctx.dev.get(`/alerts/${team}`)).status, 404);
  assert.is((await ctx.dev.get(`/alerts/${team}/edit`)).status, 404);
  assert.is((await ctx.dev.post(`/alerts/${team}/delete`, {})).status, 404);
  const devList = await (await ctx.dev.get('/alerts')).text();
  assert.ok(devList.includes('my spend'));
  assert.not.ok(devList.includes('&lt;script&gt;'), 'the team rule is not listed for a developer');

  // Before it fires, the viewer sees nothing of the rule.
  assert.is((await ctx.viewer.get(`/alerts/${team}`)).status, 404);
  await fire(ctx);
  const res = await ctx.viewer.get('/alerts');
  assert.is(res.status, 200);
  const html = await res.text();
  assert.match(html, /<table id="current-alerts">[\s\S]*data-state="firing"/);
  assert.not.match(html, /<form method="post" action="\/alerts|href="\/alerts\/new"|id="alert-history"/);
  const page = await (await ctx.viewer.get(`/alerts/${team}`)).text();
  assert.not.match(page, /\/edit"|\/silence"|id="preview"/);
  assert.is((await ctx.viewer.get('/alerts/new')).status, 403);
  // The bell's number: the viewer sees the team rule firing; the developer's own rule is quiet.
  const count = async (client: Client) =>
    ((await (await client.request('/api/v1/alerts/count')).json()) as { firing: number }).firing;
  assert.is(await count(ctx.viewer), 1);
  assert.is(await count(ctx.dev), 0);
  assert.is(await count(ctx.admin), 1);
  assert.is((await ctx.viewer.post(`/alerts/${team}/delete`, {})).status, 403);
});

s('a rule stored before a later version refused its filter: its page says why, its test is a 409', async (ctx) => {
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const body = ruleSchema.parse({
    name: 'old rule',
    metric: 'events',
    window: '1h',
    condition: { type: 'threshold', op: 'above', value: 5 },
  });
  // As an earlier version stored it: it took any string as a kind.
  const rule = await createRule(
    db,
    { body: { ...body, filters: { kind: ['tool'] } } as typeof body, createdBy: 'u_x', ownUser: null },
    T,
  );
  const page = await ctx.admin.get(`/alerts/${rule.id}`);
  assert.is(page.status, 200);
  assert.match(
    await page.text(),
    /role="alert">This rule cannot be judged as stored: filters\.kind\.0: not an event kind/,
  );
  const test = await fetch(`${ctx.server.url}/api/v1/alerts/rules/${rule.id}/test`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.key}` },
  });
  assert.is(test.status, 409);
  assert.is(((await test.json()) as { field: string }).field, 'filters.kind.0');
  // The pass judges the other rules; this one is logged, not a crash.
  await ctx.server.ctx.alerts.runOnce();
  assert.is((await ctx.admin.get('/alerts')).status, 200);
});

s.run();
