// SAML sign-in through the appliance itself: a tenant's SAML provider (stored as `sso set
// --type saml --metadata …` stores it), its button on /login, the start through the generic
// /auth/sso/:id/start, the IdP (a test IdP signing real assertions) and the ACS. The first
// sign-in creates the person with the mapped role, the second finds the same person; a wrong
// domain, a tampered, replayed, expired or wrong-audience answer is refused and nobody is
// signed in.
import { inflateRawSync } from 'node:zlib';
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { createProvider, providerInputSchema } from '../src/auth/sso/providers.js';
import { samlUrls } from '../src/auth/sso/saml.js';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, Client, setUp, signIn, startTestServer, type TestServer } from './helpers.js';
import { createTestIdp, tamper, type TestIdp } from './saml-idp.js';

type Ctx = { server: TestServer; idp: TestIdp; providerId: string };
const test = suite<Ctx>('SAML sign-in, wired');

test.before(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  await setUp(ctx.server);
  ctx.idp = await createTestIdp();
  ctx.providerId = await samlProvider(ctx, {
    name: 'Acme SAML',
    allowed_domains: 'example.com',
    role_map: 'ops=manager',
  });
});
test.after(async (ctx) => ctx.server.stop());

/** A SAML provider of the tenant, with the test IdP's metadata; its id. */
async function samlProvider(ctx: Ctx, form: Record<string, string>): Promise<string> {
  const tenant = (await ctx.server.ctx.control.get<{ id: string }>(`SELECT id FROM tenants LIMIT 1`))!.id;
  const input = providerInputSchema.parse({ type: 'saml', metadata: ctx.idp.metadataXml(), ...form });
  return (await createProvider(ctx.server.ctx.control, ctx.server.ctx.secret, tenant, input)).id;
}

/** A browser that clicks the provider's button: the AuthnRequest id the IdP is asked with. */
async function start(ctx: Ctx, browser: Client): Promise<string> {
  const login = await (await browser.get('/login')).text();
  assert.ok(login.includes(`/auth/sso/${ctx.providerId}/start`), 'the login page has the button');
  assert.ok(login.includes('Sign in with Acme SAML'));
  const generic = await browser.get(`/auth/sso/${ctx.providerId}/start?next=/sessions`);
  assert.is(generic.status, 303);
  const toIdp = await browser.get(generic.headers.get('location')!);
  assert.is(toIdp.status, 302);
  const location = new URL(toIdp.headers.get('location')!);
  assert.is(`${location.origin}${location.pathname}`, ctx.idp.ssoUrl);
  const xml = inflateRawSync(Buffer.from(location.searchParams.get('SAMLRequest')!, 'base64')).toString();
  return /\bID="([^"]+)"/.exec(xml)![1]!;
}

function answer(
  ctx: Ctx,
  requestId: string,
  over: { email?: string; audience?: string; notOnOrAfterMs?: number; notBeforeMs?: number; nameId?: string } = {},
) {
  const { entityId, acsUrl } = samlUrls(ctx.server.ctx.publicUrl, ctx.providerId);
  return ctx.idp.response({
    audience: over.audience ?? entityId,
    recipient: acsUrl,
    inResponseTo: requestId,
    now: new Date(),
    attributes: { email: over.email ?? 'grace@example.com', groups: 'ops' },
    nameId: over.nameId ?? 'grace',
    notOnOrAfterMs: over.notOnOrAfterMs,
    notBeforeMs: over.notBeforeMs,
  });
}

const acs = (browser: Client, samlResponse: string) =>
  browser.request('/auth/saml/acs', { method: 'POST', form: { SAMLResponse: samlResponse } });

async function me(browser: Client) {
  const res = await browser.request('/api/v1/me');
  return res.status === 200 ? ((await res.json()) as { user: { id: string; email: string; role: string } }).user : null;
}

test('first sign-in creates the person with the mapped role, the second finds the same one', async (ctx) => {
  const first = new Client(ctx.server.url);
  const signedIn = await acs(first, answer(ctx, await start(ctx, first)));
  assert.is(signedIn.status, 303, await signedIn.clone().text());
  assert.is(signedIn.headers.get('location'), '/sessions');
  const user = await me(first);
  assert.equal([user?.email, user?.role], ['grace@example.com', 'manager']);

  const second = new Client(ctx.server.url);
  assert.is((await acs(second, answer(ctx, await start(ctx, second)))).status, 303);
  assert.is((await me(second))?.id, user!.id, 'linked, not duplicated');
  const audited = await ctx.server.ctx.control.all<{ action: string }>(
    `SELECT action FROM audit_log WHERE action = 'login.sso'`,
  );
  assert.is(audited.length, 2);
});

test('refused: a domain not allowed, tampered, replayed, expired, wrong audience; nobody signed in', async (ctx) => {
  const cases: [string, (id: string) => string, RegExp][] = [
    [
      'wrong domain',
      (id) => answer(ctx, id, { email: 'mallory@elsewhere.test', nameId: 'mallory' }),
      /may not sign in with this provider/,
    ],
    ['tampered', (id) => tamper(answer(ctx, id), 'grace@example.com', 'admin@example.com'), /bad signature/],
    ['expired', (id) => answer(ctx, id, { notBeforeMs: -3_600_000, notOnOrAfterMs: -1_800_000 }), /expired/],
    ['wrong audience', (id) => answer(ctx, id, { audience: 'https://someone-else.example/sp' }), /wrong audience/],
  ];
  for (const [label, make, reason] of cases) {
    const browser = new Client(ctx.server.url);
    const res = await acs(browser, make(await start(ctx, browser)));
    assert.is(res.status, 403, label);
    assert.match(await res.text(), reason, label);
    assert.is(await me(browser), null, `${label}: no session`);
  }
  // Replayed: a valid answer used twice.
  const browser = new Client(ctx.server.url);
  const valid = answer(ctx, await start(ctx, browser));
  assert.is((await acs(browser, valid)).status, 303);
  const thief = new Client(ctx.server.url);
  assert.is((await acs(thief, valid)).status, 403, 'replayed');
  assert.is(await me(thief), null);
});

test('the settings page adds a SAML provider from its metadata, checked first: bad XML or a plain-http URL is a 400 naming the field', async (ctx) => {
  const admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
  await admin.get('/settings/sso');
  const add = (form: Record<string, string>) =>
    admin.post('/settings/sso/providers', { type: 'saml', name: 'Second SAML', ...form });
  const bad = await add({ metadata: '<md:EntityDescriptor' });
  assert.is(bad.status, 400);
  assert.match(await bad.text(), /metadata: /);
  const http = await add({ metadata_url: 'http://169.254.169.254/latest/meta-data' });
  assert.is(http.status, 400);
  assert.match(await http.text(), /metadata_url: must be an https:\/\/ URL/);
  const good = await add({ metadata: ctx.idp.metadataXml() });
  assert.is(good.status, 200, await good.clone().text());
  const stored = await ctx.server.ctx.control.all<{ name: string }>(
    `SELECT name FROM sso_providers WHERE type = 'saml' ORDER BY created_at`,
  );
  assert.equal(
    stored.map((p) => p.name),
    ['Acme SAML', 'Second SAML'],
  );
});

test('sso set checks SAML metadata as the page does; a metadata URL it cannot fetch is not named in the error', async (ctx) => {
  const tenant = (await ctx.server.ctx.control.get<{ id: string }>(
    'SELECT tenant_id AS id FROM users WHERE email = $e',
    {
      e: ADMIN.email,
    },
  ))!.id;
  const set = (args: Record<string, unknown>) =>
    runCommand(ctx.server.ctx, 'sso set', { tenant, type: 'saml', name: 'CLI SAML', ...args }).then(
      () => 'stored',
      (err: Error) => err.message,
    );
  assert.match(await set({ metadata: '<x/>' }), /^--metadata: .*IDPSSODescriptor/);
  const withPassword = await set({ metadata_url: 'http://idpuser:MetaPassw0rd@127.0.0.1:1/metadata' });
  assert.is(withPassword, '--metadata: the metadata URL must not hold a user name or password');
  const unreachable = await set({ metadata_url: 'http://127.0.0.1:2/metadata?token=QsToken123' });
  assert.is(unreachable, '--metadata: the metadata URL could not be fetched (ECONNREFUSED)');
  assert.is(await set({ metadata: ctx.idp.metadataXml() }), 'stored');
});

test("a tenant's provider never signs in a super admin, found by email or linked", async (ctx) => {
  // A provider a tenant's admin set up, for the admins' own domain: the IdP says it is the super admin.
  const provider = { id: await samlProvider(ctx, { name: 'Admins SAML', allowed_domains: 'acme.test' }) };
  const boss = (await ctx.server.ctx.control.get<{ id: string }>(`SELECT id FROM users WHERE email = $email`, {
    email: ADMIN.email,
  }))!.id;
  const saved = ctx.providerId;
  ctx.providerId = provider.id;
  try {
    const byEmail = new Client(ctx.server.url);
    const res = await acs(byEmail, answer(ctx, await start(ctx, byEmail), { email: ADMIN.email, nameId: 'boss' }));
    assert.is(res.status, 403);
    assert.match(await res.text(), /signs in with its password/);
    assert.is(await me(byEmail), null, 'no session');
    assert.is(
      (await ctx.server.ctx.control.get<{ n: number }>(
        `SELECT count(*) AS n FROM sso_identities WHERE user_id = $boss`,
        {
          boss,
        },
      ))!.n,
      0,
      'not linked',
    );
    // Linked before (by hand, or by an older build): refused all the same.
    await ctx.server.ctx.control.run(
      `INSERT INTO sso_identities (provider_id, subject, user_id) VALUES ($provider, 'boss-linked', $boss)`,
      { provider: provider.id, boss },
    );
    const linked = new Client(ctx.server.url);
    const again = await acs(
      linked,
      answer(ctx, await start(ctx, linked), { email: 'someone@acme.test', nameId: 'boss-linked' }),
    );
    assert.is(again.status, 403);
    assert.is(await me(linked), null, 'no session');
    const refused = await ctx.server.ctx.control.all<{ detail: string }>(
      `SELECT detail::VARCHAR AS detail FROM audit_log WHERE action = 'login.sso.refused' AND target = $provider`,
      { provider: provider.id },
    );
    assert.equal(
      refused.map((r) => (JSON.parse(r.detail) as { reason: string }).reason),
      ['super_admin', 'super_admin'],
    );
  } finally {
    ctx.providerId = saved;
  }
});

test.run();
