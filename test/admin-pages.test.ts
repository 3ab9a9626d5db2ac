// The admin pages over real HTTP: the audit log (page, filters, CSV, what is recorded), the
// model prices and retention pages (through the same changes as the settings API), the
// super admin's organisations page, and who may open each.
import { existsSync, rmSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { tenantPath } from '../src/storage/datadir.js';
import { ADMIN, Client, setUp, signIn, startTestServer, type TestServer } from './helpers.js';
import { parseCsv } from './csv.js';

type Ctx = { server: TestServer; admin: Client; tenantId: string; adminId: string };
const s = suite<Ctx>('admin pages');

s.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  ctx.admin = await setUp(ctx.server);
  const row = (await ctx.server.ctx.control.get<{ tenant_id: string; id: string }>(
    'SELECT tenant_id, id FROM users WHERE email = $e',
    { e: ADMIN.email },
  ))!;
  ctx.tenantId = row.tenant_id;
  ctx.adminId = row.id;
});
s.after.each(async (ctx) => ctx.server.stop());

const DEV = { email: 'dev@acme.test', password: 'a long password 1' };
const addPerson = (ctx: Ctx, email: string, role: string, tenant = ctx.tenantId) =>
  runCommand(ctx.server.ctx, 'user create', { tenant, email, role, password: DEV.password });

async function page(client: Client, path: string): Promise<{ status: number; html: string }> {
  const res = await client.get(path);
  return { status: res.status, html: await res.text() };
}
/** The audit table's actions, top to bottom. */
const actionsOf = (html: string) => [...html.matchAll(/<td><code>([^<]+)<\/code><\/td>/g)].map((m) => m[1]!);
const kpi = (html: string, label: string) =>
  new RegExp(`<div class="kpi-label">${label}</div>\\s*<div class="kpi-value">([^<]*)</div>`).exec(html)?.[1];
const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

s(
  'the audit page lists sign-ins with their address, filters by person, action and date, and downloads CSV',
  async (ctx) => {
    await addPerson(ctx, DEV.email, 'developer');
    const stranger = new Client(ctx.server.url);
    await stranger.get('/login');
    assert.is((await stranger.post('/login', { email: ADMIN.email, password: 'not the password' })).status, 401);
    assert.is(
      (await stranger.post('/login', { email: '<script>alert(1)</script>@x.test', password: 'not the password' }))
        .status,
      401,
    );
    assert.is(
      (await stranger.post('/login', { email: '=HYPERLINK("http://evil")', password: 'not the password' })).status,
      401,
    );
    await signIn(ctx.server, DEV.email, DEV.password);

    const all = await page(ctx.admin, '/settings/audit');
    assert.is(all.status, 200);
    const actions = actionsOf(all.html);
    assert.ok(actions.includes('login.failure') && actions.includes('login.success'), actions.join());
    assert.match(all.html, /<td>127\.0\.0\.1<\/td>/, 'the address each came from');
    assert.ok(all.html.includes(DEV.email), 'people shown by email');
    assert.not.ok(all.html.includes('<script>alert(1)'), 'a detail is escaped');
    assert.ok(all.html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));

    const dev = await page(ctx.admin, `/settings/audit?person=${encodeURIComponent(DEV.email.toUpperCase())}`);
    assert.equal(actionsOf(dev.html), ['login.success'], "only the developer's own sign-in");
    const failures = actionsOf((await page(ctx.admin, '/settings/audit?action=login.failure')).html);
    assert.equal(failures, ['login.failure', 'login.failure', 'login.failure']);
    const logins = new Set(actionsOf((await page(ctx.admin, '/settings/audit?action=login')).html));
    assert.equal([...logins].sort(), ['login.failure', 'login.success'], 'an area finds its actions');
    assert.equal(
      actionsOf((await page(ctx.admin, `/settings/audit?from=${day(-1)}&to=${day(1)}`)).html).length,
      actions.length,
    );
    const past = await page(ctx.admin, '/settings/audit?from=2020-01-01&to=2020-01-31');
    assert.equal(actionsOf(past.html), []);
    assert.match(past.html, /Nothing recorded matches/);
    const bad = await page(ctx.admin, '/settings/audit?from=yesterday');
    assert.is(bad.status, 400);
    assert.match(bad.html, /from: must be a date/);
    const badApi = await ctx.admin.request('/api/v1/audit?to=2020-01-01&from=2021-01-01');
    assert.equal([badApi.status, ((await badApi.json()) as { field: string }).field], [400, 'to']);

    const csvRes = await ctx.admin.request('/api/v1/audit?format=csv&action=login.failure');
    assert.is(csvRes.status, 200);
    assert.match(csvRes.headers.get('content-type')!, /^text\/csv/);
    assert.match(csvRes.headers.get('content-disposition')!, /attachment; filename="agentmeter-audit-/);
    const [header, ...rows] = parseCsv(await csvRes.text());
    assert.equal(header, ['at', 'tenant_id', 'person', 'actor', 'actor_user_id', 'action', 'target', 'ip', 'detail']);
    assert.is(rows.length, 3);
    const people = rows.map((r) => r[2]);
    assert.ok(people.includes(`'=HYPERLINK("http://evil")`), `a formula cell is defused: ${people.join(' | ')}`);
    assert.ok(rows.every((r) => r[5] === 'login.failure' && r[7] === '127.0.0.1'));
    // Paged: one entry a page, the next page older.
    const first = (await (await ctx.admin.request('/api/v1/audit?limit=1')).json()) as {
      entries: { action: string }[];
      next_page: number;
    };
    assert.equal([first.entries.length, first.next_page], [1, 2]);
  },
);

s('exports and settings changes are audited', async (ctx) => {
  await ctx.admin.get('/');
  const now = Date.now();
  await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.adminId }, 'rest', [
    { kind: 'prompt', session_id: 's1', ts: now - 1000 },
  ]);
  for (const path of [
    '/api/metrics/export/csv',
    '/api/v1/sessions?format=csv',
    `/api/v1/query?format=json&q=${encodeURIComponent(JSON.stringify({ metrics: ['prompts'] }))}`,
    '/api/v1/errors?format=csv',
  ]) {
    const res = await ctx.admin.request(path);
    assert.is(res.status, 200, path);
    await res.arrayBuffer();
  }
  await ctx.admin.get('/settings/retention');
  assert.is(
    (
      await ctx.admin.post('/settings/retention', {
        raw: '120',
        '1m': '30',
        '5m': '30',
        '15m': '365',
        '1h': '365',
        '1d': '',
      })
    ).status,
    303,
  );
  await ctx.admin.get('/settings/prices');
  assert.is(
    (
      await ctx.admin.post('/settings/prices', {
        model: 'my-model',
        input: '1',
        output: '2',
        cache_write: '0',
        cache_read: '0',
      })
    ).status,
    200,
  );

  type Entries = { entries: { action: string; person: string; detail: string }[] };
  const exports = (await (await ctx.admin.request('/api/v1/audit?action=export')).json()) as Entries;
  assert.equal(exports.entries.map((e) => e.action).sort(), [
    'export.errors',
    'export.events',
    'export.query',
    'export.sessions',
  ]);
  assert.ok(exports.entries.every((e) => e.person === ADMIN.email));
  const settings = (await (await ctx.admin.request('/api/v1/audit?action=settings')).json()) as Entries;
  assert.equal(
    settings.entries.map((e) => e.action),
    ['settings.prices', 'settings.retention'],
  );
  assert.is(JSON.parse(settings.entries[1]!.detail).raw, 120);
  // Downloading the log is an export too.
  await (await ctx.admin.request('/api/v1/audit?format=csv')).arrayBuffer();
  assert.equal(
    ((await (await ctx.admin.request('/api/v1/audit?action=export.audit')).json()) as Entries).entries.length,
    1,
  );
});

s("the prices page adds, changes and removes an override, and the overview's cost follows", async (ctx) => {
  await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.adminId }, 'rest', [
    {
      kind: 'api_request',
      model: 'claude-sonnet-4-5-20250929',
      request_id: 'r1',
      input_tokens: 1_000_000,
      session_id: 'priced',
      ts: Date.now() - 1000,
    },
  ]);
  await ctx.server.ctx.aggregator.runOnce();
  assert.is(kpi((await page(ctx.admin, '/')).html, 'Cost'), '$3.00', 'shipped price: 1M input tokens × $3');
  const before = await page(ctx.admin, '/settings/prices');
  assert.is(before.status, 200);
  assert.match(
    before.html,
    /<code>claude-sonnet-4-5-20250929<\/code><\/td><td>\$3 \/ \$15 \/ \$3\.75 \/ \$0\.3<\/td><td>shipped/,
    'the model seen, with its price',
  );
  assert.match(before.html, /past ones included/);

  const bad = await ctx.admin.post('/settings/prices', {
    model: 'claude-sonnet-4-5',
    input: '-1',
    output: '2',
    cache_write: '0',
    cache_read: '0',
  });
  assert.is(bad.status, 400);
  assert.match(await bad.text(), /<p class="error" role="alert">input: /);
  const missing = await ctx.admin.post('/settings/prices', {
    model: 'claude-sonnet-4-5',
    input: '1',
    output: '',
    cache_write: '0',
    cache_read: '0',
  });
  assert.equal([missing.status, /role="alert">(\w+):/.exec(await missing.text())?.[1]], [400, 'output']);
  const badLong = await ctx.admin.post('/settings/prices', {
    model: 'claude-sonnet-4-5',
    input: '1',
    output: '1',
    cache_write: '0',
    cache_read: '0',
    'above_200k.input': 'lots',
  });
  assert.equal([badLong.status, /role="alert">([\w.]+):/.exec(await badLong.text())?.[1]], [400, 'above_200k.input']);
  assert.is(kpi((await page(ctx.admin, '/')).html, 'Cost'), '$3.00', 'nothing changed');

  const saved = await ctx.admin.post('/settings/prices', {
    model: 'claude-sonnet-4-5',
    input: '1',
    output: '2',
    cache_write: '0',
    cache_read: '0',
  });
  assert.is(saved.status, 200);
  assert.match(await saved.text(), /your override/);
  assert.is(kpi((await page(ctx.admin, '/')).html, 'Cost'), '$1.00', 'the overview re-priced');
  const api = (await (await ctx.admin.request('/api/v1/settings')).json()) as {
    prices: { overrides: Record<string, unknown> };
  };
  assert.equal(api.prices.overrides, { 'claude-sonnet-4-5': { input: 1, output: 2, cache_write: 0, cache_read: 0 } });

  assert.is((await ctx.admin.post('/settings/prices/remove', { model: 'claude-sonnet-4-5' })).status, 200);
  assert.is(kpi((await page(ctx.admin, '/')).html, 'Cost'), '$3.00', 'back at the shipped price');
  assert.is(
    (
      await ctx.admin.post(
        '/settings/prices',
        { model: 'claude-sonnet-4-5', input: '1', output: '2', cache_write: '0', cache_read: '0' },
        { csrf: false },
      )
    ).status,
    403,
    'CSRF',
  );
});

s('the retention page asks before shortening, then stores the setting', async (ctx) => {
  const get = async () =>
    ((await (await ctx.admin.request('/api/v1/settings')).json()) as { retention_days: Record<string, number | null> })
      .retention_days;
  const shown = await page(ctx.admin, '/settings/retention');
  assert.is(shown.status, 200);
  assert.match(shown.html, /irreversibly/);
  const form = { raw: '30', '1m': '30', '5m': '30', '15m': '365', '1h': '365', '1d': '' };
  const asked = await ctx.admin.post('/settings/retention', form);
  assert.is(asked.status, 200);
  const html = await asked.text();
  assert.match(html, /Shorten retention\?/);
  assert.match(html, /<strong>Raw events<\/strong>: from 90 days to 30 days/);
  assert.is((await get()).raw, 90, 'not stored before confirming');
  const confirmed = await ctx.admin.post('/settings/retention', { ...form, confirm: 'yes' });
  assert.equal([confirmed.status, confirmed.headers.get('location')], [303, '/settings/retention?saved=1']);
  assert.equal(await get(), { raw: 30, '1m': 30, '5m': 30, '15m': 365, '1h': 365, '1d': null });
  // Lengthening deletes nothing: no question.
  assert.is((await ctx.admin.post('/settings/retention', { ...form, raw: '200' })).status, 303);
  assert.is((await get()).raw, 200);
  const bad = await ctx.admin.post('/settings/retention', { ...form, '1h': '0' });
  assert.equal([bad.status, /role="alert">(\w+):/.exec(await bad.text())?.[1]], [400, '1h']);
});

s('the organisations page creates, lists with size and last event, and deletes by name', async (ctx) => {
  const name = '<script>alert(1)</script> Globex';
  await ctx.admin.get('/admin/organisations');
  const created = await ctx.admin.post('/admin/organisations', { name });
  assert.is(created.status, 200);
  const html = await created.text();
  assert.not.ok(html.includes('<script>alert(1)'), 'the name is escaped');
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt; Globex'));
  const globex = (await ctx.server.ctx.control.get<{ id: string }>('SELECT id FROM tenants WHERE name = $name', {
    name,
  }))!;
  await addPerson(ctx, 'g@globex.test', 'developer', globex.id);
  const gUser = (await ctx.server.ctx.control.get<{ id: string }>(
    `SELECT id FROM users WHERE email = 'g@globex.test'`,
  ))!;
  await ctx.server.ctx.ingest.ingest({ tenantId: globex.id, userId: gUser.id }, 'rest', [
    { kind: 'prompt', session_id: 'g', ts: Date.now() - 2000 },
    { kind: 'prompt', session_id: 'g', ts: Date.now() - 1000 },
  ]);
  const arrived = (await (
    await ctx.server.ctx.tenantFiles.connection(globex.id, 'reader')
  ).get<{ t: Date }>('SELECT max(received_at) AS t FROM events'))!.t;

  const listed = await page(ctx.admin, '/admin/organisations');
  assert.is(listed.status, 200);
  const row = new RegExp(
    `<code>${globex.id}</code></td>\\s*<td>(\\d+)</td>\\s*<td>([^<]+)</td>\\s*<td>(\\d+)</td>\\s*<td>([^<]+)</td>`,
  ).exec(listed.html);
  assert.ok(row, "the organisation's row");
  assert.equal(
    [row![1], row![3], row![4]],
    ['1', '2', `${new Date(arrived).toISOString().slice(0, 16).replace('T', ' ')} UTC`],
  );
  assert.match(row![2]!, /^[\d.]+ (KiB|MiB)$/, `size: ${row![2]}`);

  // A tenant whose file is gone is listed as such; the page still answers.
  const broken =
    (await (await ctx.admin.post('/admin/organisations', { name: 'Broken' })).text(),
    (await ctx.server.ctx.control.get<{ id: string }>(`SELECT id FROM tenants WHERE name = 'Broken'`))!);
  rmSync(tenantPath(ctx.server.dataDir, broken.id));
  const withBroken = await page(ctx.admin, '/admin/organisations');
  assert.is(withBroken.status, 200);
  assert.match(withBroken.html, /file unavailable: /);
  assert.ok(withBroken.html.includes(`<code>${globex.id}</code>`));

  const wrong = await ctx.admin.post(`/admin/organisations/${globex.id}/delete`, { confirm_name: 'Globex' });
  assert.is(wrong.status, 400);
  assert.match(await wrong.text(), /confirm_name: type the organisation/);
  assert.ok(existsSync(tenantPath(ctx.server.dataDir, globex.id)));
  const deleted = await ctx.admin.post(`/admin/organisations/${globex.id}/delete`, { confirm_name: name });
  assert.is(deleted.status, 200);
  assert.not.ok((await deleted.text()).includes(`<code>${globex.id}</code>`), 'no longer listed');
  assert.not.ok(existsSync(tenantPath(ctx.server.dataDir, globex.id)), 'its file is deleted');
  assert.is(await ctx.server.ctx.control.get(`SELECT 1 FROM users WHERE email = 'g@globex.test'`), undefined);
  const own = await ctx.admin.post(`/admin/organisations/${ctx.tenantId}/delete`, { confirm_name: ADMIN.organisation });
  assert.is(own.status, 400, 'not your own');
  const audited = (await (await ctx.admin.request('/api/v1/audit?action=tenant')).json()) as {
    entries: { action: string; target: string }[];
  };
  assert.equal(
    audited.entries.filter((e) => e.target === globex.id).map((e) => e.action),
    ['tenant.delete', 'tenant.create'],
  );
});

s('a developer gets 403 on every admin page; a tenant admin on the organisations page', async (ctx) => {
  await addPerson(ctx, DEV.email, 'developer');
  await addPerson(ctx, 'ta@acme.test', 'tenant_admin');
  await runCommand(ctx.server.ctx, 'tenant create', { name: 'Other' });
  const other = (await ctx.server.ctx.control.get<{ id: string }>(`SELECT id FROM tenants WHERE name = 'Other'`))!;
  await addPerson(ctx, 'o@other.test', 'tenant_admin', other.id);
  const dev = await signIn(ctx.server, DEV.email, DEV.password);
  await dev.get('/settings');
  for (const path of ['/settings/audit', '/settings/prices', '/settings/retention', '/admin/organisations']) {
    const res = await dev.get(path);
    assert.is(res.status, 403, path);
  }
  for (const [path, form] of [
    ['/settings/prices', { model: 'x', input: '1', output: '1', cache_write: '1', cache_read: '1' }],
    ['/settings/retention', { raw: '1' }],
    ['/admin/organisations', { name: 'Mine' }],
  ] as const) {
    assert.is((await dev.post(path, form)).status, 403, `POST ${path}`);
  }
  assert.is((await dev.request('/api/v1/audit')).status, 403);
  assert.is((await dev.request('/api/v1/audit?format=csv')).status, 403);
  assert.not.ok((await page(dev, '/settings')).html.includes('/settings/audit'), 'no link to what they may not open');

  const ta = await signIn(ctx.server, 'ta@acme.test', DEV.password);
  assert.is((await ta.get('/admin/organisations')).status, 403);
  assert.is((await ta.post('/admin/organisations', { name: 'Mine' }, { csrf: false })).status, 403);
  const taAudit = await page(ta, '/settings/audit');
  assert.is(taAudit.status, 200);
  assert.not.ok(taAudit.html.includes('/admin/organisations'), 'no link to the organisations page');
  assert.ok(taAudit.html.includes('/settings/prices') && taAudit.html.includes('/settings/retention'));
  // A tenant admin reads their own tenant's log only; another tenant does not exist for them.
  await signIn(ctx.server, 'o@other.test', DEV.password);
  const taEntries = (await (await ta.request('/api/v1/audit')).json()) as { entries: { tenantId: string }[] };
  assert.ok(taEntries.entries.length > 0 && taEntries.entries.every((e) => e.tenantId === ctx.tenantId));
  assert.is((await ta.request(`/api/v1/audit?tenant=${other.id}`)).status, 404);
  // The super admin sees every tenant's, or one's.
  const everyone = (await (await ctx.admin.request('/api/v1/audit')).json()) as { entries: { tenantId: string }[] };
  assert.ok(
    everyone.entries.some((e) => e.tenantId === other.id) && everyone.entries.some((e) => e.tenantId === ctx.tenantId),
  );
  const one = (await (await ctx.admin.request(`/api/v1/audit?tenant=${other.id}`)).json()) as {
    entries: { tenantId: string }[];
  };
  assert.ok(one.entries.length > 0 && one.entries.every((e) => e.tenantId === other.id));
  assert.match(
    (await page(ctx.admin, `/settings/audit?tenant=${other.id}`)).html,
    /<option value="t_[a-z2-7]+" selected>Other<\/option>/,
  );
});

s.run();
