// Signing in through a tenant's OpenID provider in a real Chromium, against a real
// oidc-provider on 127.0.0.1: just-in-time people with the default or mapped role, linking
// (never duplicating), refusals (domain, state, a tampered ID token), each audited.
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, Client } from './helpers.js';
import { browserSuite, DESKTOP, newPage, screenshot } from './browser.js';
import { startOidcPeer, type OidcPeer } from './sso-peers.js';

const s = browserSuite<{ peer: OidcPeer; providerId: string; devId: string; aliceId?: string }>(
  'browser: sign in with an OpenID provider',
);

const ACCOUNTS = {
  alice: { email: 'alice@acme.test', email_verified: true, name: 'Alice' },
  lead: { email: 'lead@acme.test', email_verified: true, name: 'Lead', groups: ['staff', 'leads'] },
  eve: { email: 'eve@elsewhere.test', email_verified: true, name: 'Eve' },
  dev: { email: 'dev@acme.test', email_verified: true, name: 'Dev' },
};

s.before(async (ctx) => {
  if (!ctx.server) return; // the suite's start failed; its first test reports why
  await runCommand(ctx.server.ctx, 'setup', { name: 'Acme', email: ADMIN.email, password: ADMIN.password });
  const dev = (await runCommand(ctx.server.ctx, 'user create', {
    tenant: 'Acme',
    email: 'dev@acme.test',
    role: 'developer',
    password: 'correct horse staple 9',
  })) as { id: string };
  ctx.devId = dev.id;
  ctx.peer = await startOidcPeer(`${ctx.server.url}/auth/oidc/callback`, ACCOUNTS);
  const provider = (await runCommand(ctx.server.ctx, 'sso set', {
    tenant: 'Acme',
    type: 'oidc',
    name: 'Acme IdP',
    issuer: ctx.peer.issuer,
    client_id: ctx.peer.clientId,
    client_secret: ctx.peer.clientSecret,
    allowed_domains: 'acme.test',
    role_map: 'leads=manager',
  })) as { id: string };
  ctx.providerId = provider.id;
});
s.after(async (ctx) => ctx.peer?.close());

/** From /login, through the provider's own login form, back to the appliance; the final page. */
async function signInThroughIdp(
  ctx: { server: { url: string }; browser: import('playwright-core').Browser },
  login: string,
): Promise<{ page: Page; status: number; errors: string[]; close(): Promise<void> }> {
  const { page, context, errors } = await newPage(ctx.browser, DESKTOP);
  await page.goto(`${ctx.server.url}/login`);
  await page.getByRole('link', { name: 'Sign in with Acme IdP' }).click();
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('anything');
  const back = page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/oidc/callback');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  const status = (await back).status();
  await page.waitForLoadState('load');
  return { page, status, errors, close: () => context.close() };
}

const users = (
  ctx: { server: { ctx: { control: { all: <T>(sql: string, p?: Record<string, unknown>) => Promise<T[]> } } } },
  email: string,
) =>
  ctx.server.ctx.control.all<{ id: string; role: string; tenantId: string }>(
    'SELECT id, role, tenant_id AS "tenantId" FROM users WHERE email = $email',
    { email },
  );
const audits = (
  ctx: { server: { ctx: { control: { all: <T>(sql: string, p?: Record<string, unknown>) => Promise<T[]> } } } },
  action: string,
) =>
  ctx.server.ctx.control.all<{ detail: string; target: string | null }>(
    'SELECT detail, target FROM audit_log WHERE action = $action ORDER BY occurred_at',
    { action },
  );

s('a first sign-in creates the person with the default role; the second finds the same person', async (ctx) => {
  const first = await signInThroughIdp(ctx, 'alice');
  assert.is(new URL(first.page.url()).pathname, '/');
  assert.is(await first.page.locator('header .who').innerText(), 'alice@acme.test · developer');
  await screenshot(first.page, 'sso-signed-in');
  // The provider's own login page asks for a web font it cannot reach here: not this appliance's page.
  assert.equal(
    first.errors.filter((e) => !e.includes('fonts.googleapis.com')),
    [],
  );
  await first.close();
  const [alice] = await users(ctx, 'alice@acme.test');
  assert.is(alice!.role, 'developer');
  const second = await signInThroughIdp(ctx, 'alice');
  assert.is(await second.page.locator('header .who').innerText(), 'alice@acme.test · developer');
  await second.close();
  const again = await users(ctx, 'alice@acme.test');
  assert.equal(
    again.map((u) => u.id),
    [alice!.id],
    'one person, the same id',
  );
  assert.is((await audits(ctx, 'login.sso')).length, 2);
});

s('a groups claim maps to its role', async (ctx) => {
  const { page, close } = await signInThroughIdp(ctx, 'lead');
  assert.is(await page.locator('header .who').innerText(), 'lead@acme.test · manager');
  await close();
  assert.is((await users(ctx, 'lead@acme.test'))[0]!.role, 'manager');
});

s('an email of a domain the provider does not allow is refused, and audited', async (ctx) => {
  const { page, status, close } = await signInThroughIdp(ctx, 'eve');
  assert.is(status, 403);
  assert.match(
    await page.getByRole('alert').innerText(),
    'Email addresses at elsewhere.test may not sign in with this provider',
  );
  await screenshot(page, 'sso-refused');
  await close();
  assert.equal(await users(ctx, 'eve@elsewhere.test'), []);
  assert.match((await audits(ctx, 'login.sso.refused')).at(-1)!.detail, '"reason":"domain"');
});

s('a person who exists with a password is linked by verified email, not duplicated', async (ctx) => {
  const { page, close } = await signInThroughIdp(ctx, 'dev');
  assert.is(await page.locator('header .who').innerText(), 'dev@acme.test · developer');
  await close();
  assert.equal(
    (await users(ctx, 'dev@acme.test')).map((u) => u.id),
    [ctx.devId],
  );
  assert.is((await audits(ctx, 'sso.identity.link')).at(-1)!.target, ctx.devId);
});

s('an answer whose state is not the one this browser started with is refused, and audited', async (ctx) => {
  const client = new Client(ctx.server.url);
  const start = await client.get(`/auth/sso/${ctx.providerId}/start`);
  assert.is(start.status, 303);
  assert.ok(start.headers.get('location')!.startsWith(ctx.peer.issuer), 'sent to the provider');
  const answer = await client.get('/auth/oidc/callback?code=anything&state=not-the-state');
  assert.is(answer.status, 403);
  assert.match(await answer.text(), 'does not belong to the sign-in started in this browser');
  assert.not.ok(client.cookies.has('am_session'));
  assert.match((await audits(ctx, 'login.sso.refused')).at(-1)!.detail, '"reason":"state_mismatch"');
});

const SPOILED = [
  ['changed on the way (its signature no longer matches)', 'payload'],
  ['signed by the provider for another client (wrong audience)', 'audience'],
  ['signed by the provider, its time up (expired)', 'expired'],
] as const;
for (const [label, tamper] of SPOILED) {
  s(`an ID token ${label} is refused, and audited`, async (ctx) => {
    const before = (await audits(ctx, 'login.sso.refused')).length;
    ctx.peer.tamper.idToken = tamper;
    try {
      const { page, status, close } = await signInThroughIdp(ctx, 'alice');
      assert.is(status, 403);
      assert.match(await page.getByRole('alert').innerText(), 'failed its checks');
      assert.is(await page.locator('header .who').count(), 0, 'nobody signed in');
      await close();
    } finally {
      ctx.peer.tamper.idToken = false;
    }
    assert.equal(await users(ctx, 'mallory@acme.test'), []);
    const refused = await audits(ctx, 'login.sso.refused');
    assert.is(refused.length, before + 1);
    assert.match(refused.at(-1)!.detail, '"reason":"invalid_id_token"');
  });
}

s.run();
