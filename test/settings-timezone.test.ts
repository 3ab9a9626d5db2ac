// The tenant's time zone over real HTTP: PUT /api/v1/settings/timezone (tenant admins,
// audited, 400 naming `timezone` for anything not an IANA zone), GET /api/v1/settings
// showing it, and the settings page's form (CSRF, the current zone selected, errors named).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, setUp, signIn, startTestServer, type Client, type TestServer } from './helpers.js';

type Ctx = { server: TestServer; admin: Client; tenantId: string };
const s = suite<Ctx>('settings: time zone');

s.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  ctx.admin = await setUp(ctx.server);
  ctx.tenantId = (await ctx.server.ctx.control.get<{ t: string }>('SELECT tenant_id AS t FROM users WHERE email = $e', {
    e: ADMIN.email,
  }))!.t;
  await ctx.admin.get('/settings/timezone');
});
s.after.each(async (ctx) => ctx.server.stop());

const put = (client: Client, json: unknown) =>
  client.request('/api/v1/settings/timezone', { method: 'PUT', json, headers: { 'x-csrf-token': client.csrf! } });
const zoneOf = async (client: Client) =>
  ((await (await client.request('/api/v1/settings')).json()) as { timezone: string }).timezone;
const shown = (html: string) => /<input id="tz-input" name="timezone" list="tz-names" value="([^"]+)"/.exec(html)?.[1];

s('PUT sets the zone, GET shows it, and the change is audited', async ({ server, admin, tenantId }) => {
  assert.is(await zoneOf(admin), 'UTC');
  const res = await put(admin, { timezone: 'America/New_York' });
  assert.is(res.status, 200);
  assert.equal(await res.json(), { timezone: 'America/New_York' });
  assert.is(await zoneOf(admin), 'America/New_York');
  const audited = await server.ctx.control.all<{ detail: string }>(
    `SELECT detail::VARCHAR AS detail FROM audit_log WHERE action = 'settings.timezone' AND tenant_id = $t`,
    { t: tenantId },
  );
  assert.equal(
    audited.map((a) => JSON.parse(a.detail)),
    [{ timezone: 'America/New_York' }],
  );
});

s("a name is saved in the case of the runtime's list; a link as typed", async ({ admin }) => {
  for (const [typed, saved] of [
    ['america/new_york', 'America/New_York'],
    ['EUROPE/berlin', 'Europe/Berlin'],
    ['Asia/Kolkata', 'Asia/Kolkata'],
    ['utc', 'UTC'],
  ] as const) {
    const res = await put(admin, { timezone: typed });
    assert.equal(await res.json(), { timezone: saved }, typed);
    assert.is(await zoneOf(admin), saved, typed);
    assert.is(shown(await (await admin.get('/settings/timezone')).text()), saved, typed);
  }
});

s('anything but an IANA zone name is a 400 naming timezone, and changes nothing', async ({ admin }) => {
  for (const body of [
    { timezone: 'Bogus/Zone' },
    { timezone: 'America/New York' },
    { timezone: "UTC'; DROP TABLE events; --" },
    { timezone: '' },
    { timezone: 42 },
    { timezone: null },
    {},
  ]) {
    const res = await put(admin, body);
    const answer = (await res.json()) as { error: string; field: string };
    assert.is(res.status, 400, JSON.stringify(body));
    assert.is(answer.field, 'timezone', JSON.stringify(body));
    assert.match(answer.error, /^timezone: /);
  }
  assert.is(await zoneOf(admin), 'UTC');
});

s('only tenant admins change it; a developer reads it', async ({ server, admin, tenantId }) => {
  await runCommand(server.ctx, 'user create', {
    tenant: tenantId,
    email: 'dev@acme.test',
    role: 'developer',
    password: 'a long password 1',
  });
  const dev = await signIn(server, 'dev@acme.test', 'a long password 1');
  await dev.get('/settings');
  assert.is((await put(dev, { timezone: 'Asia/Kolkata' })).status, 403);
  assert.is((await dev.get('/settings/timezone')).status, 403);
  assert.is(await zoneOf(dev), 'UTC');
  assert.is(await zoneOf(admin), 'UTC');
});

s('the page shows the current zone and saves a new one through the CSRF-protected form', async ({ admin }) => {
  let html = await (await admin.get('/settings/timezone')).text();
  assert.is(shown(html), 'UTC');
  assert.match(html, /<datalist id="tz-names">\s*<option value="UTC"><\/option><option value="Africa\/Abidjan">/);
  assert.match(html, /<option value="America\/New_York"><\/option>/);

  assert.is((await admin.post('/settings/timezone', { timezone: 'Asia/Kolkata' }, { csrf: false })).status, 403);
  const bad = await admin.post('/settings/timezone', { timezone: 'Mars/Olympus_Mons' });
  assert.is(bad.status, 400);
  assert.match(await bad.text(), /<p class="error" role="alert">timezone: must be an IANA time zone name/);
  assert.is(await zoneOf(admin), 'UTC');

  const saved = await admin.post('/settings/timezone', { timezone: 'Asia/Kolkata' });
  assert.equal([saved.status, saved.headers.get('location')], [303, '/settings/timezone?saved=1']);
  html = await (await admin.get('/settings/timezone?saved=1')).text();
  assert.is(shown(html), 'Asia/Kolkata');
  assert.match(html, /<strong id="tz-current">Asia\/Kolkata<\/strong> \(UTC\+05:30 now\)/);
  assert.is(await zoneOf(admin), 'Asia/Kolkata');
});

s.run();
