// Identity providers without a browser: the CLI (the client secret read from stdin, never
// printed, stored sealed), which buttons a sign-in page shows to whom, require-SSO with the
// super admin's break-glass, and a provider that is down failing alone.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { openDatabase } from '../src/storage/duckdb.js';
import { controlPath } from '../src/storage/datadir.js';
import { openSecret } from '../src/auth/secret-box.js';
import {
  ADMIN,
  Client,
  freePort,
  runCli,
  setUp,
  signIn,
  startTestServer,
  tempDir,
  type TestServer,
} from './helpers.js';

const SECRET = 'the-client-secret-9f8e7d';

const cli = suite('sso CLI');

cli('sso set reads the secret from stdin, prints the provider and its redirect URI, never the secret', async () => {
  const dir = tempDir('am-sso-cli');
  try {
    assert.is(
      (await runCli(['setup', '--name', 'Acme', '--email', ADMIN.email, '--json'], { dataDir: dir.path })).code,
      0,
    );
    const set = await runCli(
      [
        'sso',
        'set',
        '--tenant',
        'Acme',
        '--type',
        'oidc',
        '--issuer',
        'https://idp.acme.example',
        '--client-id',
        'cid',
        '--client-secret-stdin',
        '--name',
        'Acme Okta',
        '--default-role',
        'viewer',
        '--allowed-domains',
        'acme.test,acme.example',
        '--role-map',
        'leads=manager',
        '--json',
      ],
      { dataDir: dir.path, stdin: `${SECRET}\n` },
    );
    assert.is(set.code, 0, set.stderr);
    assert.not.match(set.stdout, SECRET);
    const provider = JSON.parse(set.stdout) as Record<string, unknown>;
    assert.match(String(provider.id), /^p_/);
    assert.is(provider.redirect_uri, 'http://127.0.0.1:8080/auth/oidc/callback');
    assert.equal(
      [provider.name, provider.defaultRole, provider.allowedDomains, provider.roleMap, provider.hasSecret],
      ['Acme Okta', 'viewer', ['acme.test', 'acme.example'], { leads: 'manager' }, true],
    );

    const list = await runCli(['sso', 'list', '--tenant', 'Acme', '--json'], { dataDir: dir.path });
    assert.is(list.code, 0, list.stderr);
    assert.not.match(list.stdout, SECRET);
    assert.equal(
      (JSON.parse(list.stdout) as { id: string }[]).map((p) => p.id),
      [provider.id],
    );

    // At rest: sealed under the data directory's secret, and it opens to what was given.
    const db = await openDatabase(controlPath(dir.path));
    try {
      const row = (await db.get<{ secret: string }>('SELECT secret FROM sso_providers'))!;
      const serverSecret = Buffer.from(
        (await db.get<{ value: string }>(`SELECT value FROM settings WHERE key = 'server_secret'`))!.value,
        'base64',
      );
      assert.not.match(row.secret, SECRET);
      assert.is(openSecret(serverSecret, 'agentmeter sso client secret', String(provider.id), row.secret), SECRET);
    } finally {
      await db.close();
    }

    const missing = await runCli(
      ['sso', 'set', '--tenant', 'Acme', '--type', 'oidc', '--client-id', 'x', '--client-secret-stdin', '--json'],
      { dataDir: dir.path, stdin: 's' },
    );
    assert.is(missing.code, 1);
    assert.match(missing.stderr, '--issuer: is required');
    const saml = await runCli(
      ['sso', 'set', '--tenant', 'Acme', '--type', 'saml', '--metadata', '/nonexistent/idp.xml', '--json'],
      { dataDir: dir.path },
    );
    assert.match(saml.stderr, '--metadata: cannot read /nonexistent/idp.xml');

    const removed = await runCli(['sso', 'remove', '--tenant', 'Acme', '--id', String(provider.id), '--json'], {
      dataDir: dir.path,
    });
    assert.is(removed.code, 0, removed.stderr);
    assert.equal(
      JSON.parse((await runCli(['sso', 'list', '--tenant', 'Acme', '--json'], { dataDir: dir.path })).stdout),
      [],
    );
  } finally {
    dir.remove();
  }
});

cli.run();

const login = suite<{ server: TestServer; admin: Client; acme: string; other: string; providerId: string }>(
  'sso sign-in pages',
);

login.before(async (ctx) => {
  ctx.server = await startTestServer();
  ctx.admin = await setUp(ctx.server);
  const s = ctx.server.ctx;
  ctx.acme = (await s.control.get<{ id: string }>('SELECT id FROM tenants'))!.id;
  await runCommand(s, 'user create', {
    tenant: 'Acme',
    email: 'dev@acme.test',
    role: 'developer',
    password: 'correct horse staple 9',
  });
  ctx.other = ((await runCommand(s, 'tenant create', { name: 'Globex' })) as { id: string }).id;
  await runCommand(s, 'user create', {
    tenant: 'Globex',
    email: 'ops@globex.test',
    role: 'tenant_admin',
    password: 'correct horse staple 9',
  });
  // Acme's provider is down: nothing listens on its port.
  const closed = await freePort();
  ctx.providerId = (
    (await runCommand(s, 'sso set', {
      tenant: 'Acme',
      type: 'oidc',
      name: 'Acme IdP',
      issuer: `http://127.0.0.1:${closed}`,
      client_id: 'cid',
      client_secret: SECRET,
      allowed_domains: 'acme.test',
    })) as { id: string }
  ).id;
});
login.after(async (ctx) => ctx.server.stop());

login(
  "with several tenants, /login shows no tenant's buttons; the email's domain finds them",
  async ({ server, providerId }) => {
    const client = new Client(server.url);
    const page = await (await client.get('/login')).text();
    assert.not.match(page, 'Acme');
    assert.match(page, 'Continue with single sign-on');
    const found = await client.post('/login/sso', { email: 'someone@acme.test', next: '/sessions' });
    assert.is(found.status, 303);
    assert.is(found.headers.get('location'), `/auth/sso/${providerId}/start?next=%2Fsessions`);
    const none = await client.post('/login/sso', { email: 'someone@nowhere.test' });
    assert.is(none.status, 404);
    assert.match(await none.text(), 'No single sign-on is set up for nowhere.test');
  },
);

login(
  "a person with an account is sent only to their own organisation's provider, whatever domains another lists",
  async ({ server, providerId }) => {
    const squatter = (await runCommand(server.ctx, 'sso set', {
      tenant: 'Globex',
      type: 'oidc',
      name: 'Globex IdP',
      issuer: 'http://127.0.0.1:9',
      client_id: 'cid',
      client_secret: SECRET,
      allowed_domains: 'acme.test',
    })) as { id: string };
    try {
      const client = new Client(server.url);
      await client.get('/login');
      const member = await client.post('/login/sso', { email: 'Dev@Acme.test' });
      assert.is(member.status, 303);
      assert.is(member.headers.get('location'), `/auth/sso/${providerId}/start?next=%2F`);
      // Someone new from that domain is offered both: the domain alone cannot say whose.
      const stranger = await (await client.post('/login/sso', { email: 'new@acme.test' })).text();
      assert.match(stranger, `/auth/sso/${squatter.id}/start`);
      assert.match(stranger, `/auth/sso/${providerId}/start`);
    } finally {
      await runCommand(server.ctx, 'sso remove', { tenant: 'Globex', id: squatter.id });
    }
  },
);

login("/login/<slug> shows that tenant's buttons", async ({ server, providerId }) => {
  await runCommand(server.ctx, 'sso tenant', { tenant: 'Acme', slug: 'acme' });
  const page = await (await new Client(server.url).get('/login/acme')).text();
  assert.match(page, `href="/auth/sso/${providerId}/start?next=%2F"`);
  assert.match(page, 'Sign in with Acme IdP');
  assert.is((await new Client(server.url).get('/login/nobody')).status, 404);
});

login(
  "a provider that is down gives an error page; another tenant's password sign-in works meanwhile",
  async ({ server, providerId }) => {
    const client = new Client(server.url);
    const res = await client.get(`/auth/sso/${providerId}/start`);
    assert.is(res.status, 502);
    assert.match(await res.text(), 'Acme IdP could not be reached');
    await signIn(server, 'ops@globex.test', 'correct horse staple 9');
  },
);

login("a tenant that requires SSO refuses its people's passwords, not its super admin's", async ({ server }) => {
  await runCommand(server.ctx, 'sso tenant', { tenant: 'Acme', require_sso: 'on' });
  const client = new Client(server.url);
  await client.get('/login');
  const refused = await client.post('/login', { email: 'dev@acme.test', password: 'correct horse staple 9' });
  assert.is(refused.status, 403);
  assert.match(await refused.text(), 'signs in through its identity provider');
  assert.not.ok(client.cookies.has('am_session'));
  const audited = await server.ctx.control.get<{ detail: string }>(
    `SELECT detail FROM audit_log WHERE action = 'login.password.refused'`,
  );
  assert.match(audited!.detail, 'sso_required');
  await signIn(server, ADMIN.email, ADMIN.password);
  await signIn(server, 'ops@globex.test', 'correct horse staple 9');
  await runCommand(server.ctx, 'sso tenant', { tenant: 'Acme', require_sso: 'off' });
  await signIn(server, 'dev@acme.test', 'correct horse staple 9');
});

login('a sign-in may only lead to a path on this appliance', async ({ server }) => {
  const client = new Client(server.url);
  await client.get('/login');
  const res = await client.post('/login/sso', { email: 'someone@acme.test', next: '//evil.example/x' });
  assert.match(res.headers.get('location')!, /\?next=%2F$/);
});

login(
  'the settings page adds and removes a provider; the secret is never shown; a developer may not',
  async ({ server, admin }) => {
    await admin.get('/settings/sso');
    const added = await admin.post('/settings/sso/providers', {
      type: 'github',
      name: 'GitHub',
      client_id: 'gh-id',
      client_secret: 'page-secret-77aa',
      allowed_domains: 'acme.test',
      default_role: 'viewer',
    });
    assert.is(added.status, 200);
    const page = await added.text();
    assert.match(page, `Register ${server.url}/auth/github/callback as its redirect URI`);
    assert.not.match(page, 'page-secret-77aa');
    // Listed in the order added: the new one is last.
    const id = [...page.matchAll(/providers\/(p_[a-z2-7]+)\/remove"/g)].at(-1)?.[1];
    assert.ok(id, 'the new provider is listed with a remove button');
    const bad = await admin.post('/settings/sso/providers', { type: 'oidc', client_id: 'x', client_secret: 'y' });
    assert.is(bad.status, 400);
    assert.match(await bad.text(), 'issuer: is required');
    const removed = await admin.post(`/settings/sso/providers/${id}/remove`, {});
    assert.match(await removed.text(), 'Provider removed');
    assert.is((await server.ctx.control.all('SELECT 1 FROM sso_providers WHERE id = $id', { id })).length, 0);
    const dev = await signIn(server, 'ops@globex.test', 'correct horse staple 9');
    assert.is((await dev.get('/settings/sso')).status, 200, 'a tenant admin of another tenant sees their own page');
    assert.not.match(await (await dev.get('/settings/sso')).text(), 'Acme IdP');
    await runCommand(server.ctx, 'user create', {
      tenant: 'Acme',
      email: 'viewer@acme.test',
      role: 'viewer',
      password: 'correct horse staple 9',
    });
    assert.is(
      (await (await signIn(server, 'viewer@acme.test', 'correct horse staple 9')).get('/settings/sso')).status,
      403,
    );
  },
);

login.run();
