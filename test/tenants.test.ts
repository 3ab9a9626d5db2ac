import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandError, runCommand } from '../src/admin/commands.js';
import { journalPath, tenantPath } from '../src/storage/datadir.js';
import { ADMIN, type Client, setUp, signIn, startTestServer, type TestServer } from './helpers.js';

type Ctx = { server: TestServer; admin: Client };
const tenants = suite<Ctx>('tenants, keys and isolation');
tenants.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  ctx.admin = await setUp(ctx.server);
  await ctx.admin.get('/settings/api-keys'); // picks up the CSRF token for API calls
});
tenants.after.each(async (ctx) => {
  await ctx.server.stop();
});

const api = (client: Client, path: string, method = 'GET', json?: unknown) =>
  client.request(`/api/v1${path}`, { method, json, headers: client.csrf ? { 'x-csrf-token': client.csrf } : {} });
const bearer = (server: TestServer, key: string, path: string) =>
  fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${key}` } });

async function tenantWithMember(admin: Client, name: string, role = 'developer') {
  const tenant = (await (await api(admin, '/tenants', 'POST', { name })).json()) as { id: string };
  const email = `${role}@${name.toLowerCase()}.test`;
  const created = await api(admin, `/tenants/${tenant.id}/users`, 'POST', {
    email,
    role,
    password: 'member password 1',
  });
  assert.is(created.status, 201);
  return { tenantId: tenant.id, email, password: 'member password 1' };
}

async function keyFor(server: TestServer, email: string, password: string, scopes: string[]) {
  const person = await signIn(server, email, password);
  await person.get('/settings/api-keys');
  const res = await api(person, '/api-keys', 'POST', { name: 'test', scopes });
  assert.is(res.status, 201);
  return (await res.json()) as { id: string; key: string; prefix: string };
}

tenants('two tenants get two files, and each key reaches only its own', async ({ server, admin }) => {
  const a = await tenantWithMember(admin, 'Alpha');
  const b = await tenantWithMember(admin, 'Beta');
  assert.ok(existsSync(tenantPath(server.dataDir, a.tenantId)));
  assert.ok(existsSync(tenantPath(server.dataDir, b.tenantId)));
  assert.is(
    readdirSync(join(server.dataDir, 'tenants')).filter((f) => f.endsWith('.duckdb')).length,
    3,
    'setup tenant + 2',
  );

  const keyA = await keyFor(server, a.email, a.password, ['read']);
  const keyB = await keyFor(server, b.email, b.password, ['read']);
  const meA = (await (await bearer(server, keyA.key, '/me')).json()) as {
    tenant: { id: string };
    tenant_file: { tenant_id: string };
  };
  const meB = (await (await bearer(server, keyB.key, '/me')).json()) as {
    tenant: { id: string };
    tenant_file: { tenant_id: string };
  };
  assert.is(meA.tenant_file.tenant_id, a.tenantId, "A's key reads A's file");
  assert.is(meB.tenant_file.tenant_id, b.tenantId, "B's key reads B's file");

  // Nothing in the request can steer a key to another tenant.
  for (const path of [`/tenants/${b.tenantId}`, `/tenants/${b.tenantId}/users`]) {
    assert.is((await bearer(server, keyA.key, path)).status, 404, path);
  }
  const withHint = await fetch(`${server.url}/api/v1/me?tenant=${b.tenantId}`, {
    headers: { authorization: `Bearer ${keyA.key}`, 'x-tenant-id': b.tenantId },
  });
  assert.is(((await withHint.json()) as { tenant_file: { tenant_id: string } }).tenant_file.tenant_id, a.tenantId);
  const listed = (await (await bearer(server, keyA.key, '/tenants')).json()) as { tenants: { id: string }[] };
  assert.equal(
    listed.tenants.map((t) => t.id),
    [a.tenantId],
  );
});

tenants('a person of one tenant gets 404 for another tenant', async ({ server, admin }) => {
  const a = await tenantWithMember(admin, 'Alpha', 'tenant_admin');
  const b = await tenantWithMember(admin, 'Beta');
  const aAdmin = await signIn(server, a.email, a.password);
  await aAdmin.get('/');
  assert.is((await api(aAdmin, `/tenants/${b.tenantId}`)).status, 404);
  assert.is((await api(aAdmin, `/tenants/${b.tenantId}/users`)).status, 404);
  assert.is(
    (
      await api(aAdmin, `/tenants/${b.tenantId}/users`, 'POST', {
        email: 'x@y.test',
        role: 'viewer',
        password: 'whatever long enough',
      })
    ).status,
    404,
  );
  assert.is((await api(aAdmin, `/tenants/${a.tenantId}/users`)).status, 200, 'own tenant is fine');
});

tenants('roles: who may create tenants and users, and which roles they may grant', async ({ server, admin }) => {
  const a = await tenantWithMember(admin, 'Alpha', 'tenant_admin');
  const dev = await tenantWithMember(admin, 'Gamma', 'developer');
  const tenantAdmin = await signIn(server, a.email, a.password);
  await tenantAdmin.get('/');
  assert.is(
    (await api(tenantAdmin, '/tenants', 'POST', { name: 'Mine' })).status,
    403,
    'only super_admin creates tenants',
  );
  const grant = await api(tenantAdmin, `/tenants/${a.tenantId}/users`, 'POST', {
    email: 'boss@x.test',
    role: 'super_admin',
    password: 'long enough 1',
  });
  assert.is(grant.status, 403);
  assert.is(((await grant.json()) as { field: string }).field, 'role');
  assert.is(
    (
      await api(tenantAdmin, `/tenants/${a.tenantId}/users`, 'POST', {
        email: 'm@x.test',
        role: 'manager',
        password: 'long enough 1',
      })
    ).status,
    201,
  );

  const developer = await signIn(server, dev.email, dev.password);
  await developer.get('/');
  assert.is((await api(developer, `/tenants/${dev.tenantId}/users`)).status, 403);
  assert.is((await api(developer, '/audit')).status, 403);
});

tenants('API keys: shown once, stored hashed, listed by prefix, scoped, revocable', async ({ server, admin }) => {
  const a = await tenantWithMember(admin, 'Alpha');
  const readKey = await keyFor(server, a.email, a.password, ['read']);
  const ingestKey = await keyFor(server, a.email, a.password, ['ingest']);
  assert.match(readKey.key, /^amk_[\w-]{43}$/);
  assert.ok(readKey.key.startsWith(readKey.prefix));

  const person = await signIn(server, a.email, a.password);
  const listed = (await (await api(person, '/api-keys')).json()) as { api_keys: Record<string, unknown>[] };
  assert.is(listed.api_keys.length, 2);
  assert.ok(
    listed.api_keys.every((k) => !('key' in k) && typeof k.prefix === 'string' && k.createdAt),
    'no secret in the list',
  );
  assert.not.ok(JSON.stringify(listed).includes(readKey.key));
  const stored = await server.ctx.control.all<{ key_hash: string }>('SELECT key_hash FROM api_keys');
  assert.ok(
    stored.every((r) => /^[0-9a-f]{64}$/.test(r.key_hash) && r.key_hash !== readKey.key),
    'only hashes stored',
  );

  assert.is((await bearer(server, readKey.key, '/me')).status, 200, 'read scope reads');
  const noScope = await bearer(server, ingestKey.key, '/me');
  assert.is(noScope.status, 403, 'ingest-only key cannot read');
  assert.match(((await noScope.json()) as { error: string }).error, /"read" scope/);

  // Keys cannot mint keys or manage people.
  const mint = await fetch(`${server.url}/api/v1/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${readKey.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'x', scopes: ['ingest'] }),
  });
  assert.is(mint.status, 403);

  await person.get('/settings/api-keys');
  assert.is((await api(person, `/api-keys/${readKey.id}`, 'DELETE')).status, 204);
  const revoked = await bearer(server, readKey.key, '/me');
  assert.is(revoked.status, 401, 'revoked key');
  assert.is((await bearer(server, 'amk_doesnotexist', '/me')).status, 401, 'unknown key');
  assert.is(
    (await fetch(`${server.url}/api/v1/me`, { headers: { authorization: 'Basic abc' } })).status,
    401,
    'not a bearer key',
  );
  assert.is((await api(person, `/api-keys/${readKey.id}`, 'DELETE')).status, 404, 'already revoked');
});

tenants(
  'the keys page shows a new key once and lists it by prefix afterwards; agent text is escaped',
  async ({ server, admin }) => {
    await admin.get('/settings/api-keys');
    const created = await admin.post('/settings/api-keys', {
      name: '<img src=x onerror=alert(1)>',
      scopes: ['ingest', 'read'],
    });
    assert.is(created.status, 200);
    const html = await created.text();
    const key = /<code class="secret">([^<]+)<\/code>/.exec(html)?.[1];
    assert.ok(key?.startsWith('amk_'));
    assert.not.ok(html.includes('<img src=x'), 'name escaped');
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
    const later = await (await admin.get('/settings/api-keys')).text();
    assert.not.ok(later.includes(key!), 'not shown again');
    assert.ok(later.includes(key!.slice(0, 12)), 'prefix listed');
    assert.is((await bearer(server, key!, '/me')).status, 200);
  },
);

/** Paths under `dir` this process holds open (Linux: /proc/self/fd). */
const openUnder = (dir: string) =>
  readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return ''; // closed since the listing (readdir's own)
      }
    })
    .filter((target) => target.startsWith(dir));

tenants('deleting a tenant removes its people, keys, file and journal, and closes them', async ({ server, admin }) => {
  const a = await tenantWithMember(admin, 'Alpha');
  const key = await keyFor(server, a.email, a.password, ['read']);
  const ingest = await keyFor(server, a.email, a.password, ['ingest']);
  const hook = await fetch(`${server.url}/api/v1/hooks/claude-code`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ingest.key}` },
    body: JSON.stringify({ hook_event_name: 'UserPromptSubmit', session_id: 's1', prompt: 'hello' }),
  });
  assert.is(hook.status, 200);
  const journal = journalPath(server.dataDir, a.tenantId);
  assert.ok(openUnder(journal).length > 0, 'the journal is open before');
  assert.is((await api(admin, `/tenants/${a.tenantId}`, 'DELETE')).status, 204);
  assert.not.ok(existsSync(tenantPath(server.dataDir, a.tenantId)));
  assert.not.ok(existsSync(journal));
  assert.equal(openUnder(journal), [], 'no file of its journal left open');
  assert.equal(openUnder(tenantPath(server.dataDir, a.tenantId)), [], 'nor of its DuckDB file');
  assert.is((await bearer(server, key.key, '/me')).status, 401);
  assert.is((await api(admin, `/tenants/${a.tenantId}`)).status, 404);
  const me = (await (await api(admin, '/me')).json()) as { tenant: { id: string } };
  assert.is((await api(admin, `/tenants/${me.tenant.id}`, 'DELETE')).status, 409, 'not your own tenant');
});

tenants('bad input: 400 naming the field, malformed JSON, wrong content type', async ({ admin }) => {
  const missing = await api(admin, '/tenants', 'POST', {});
  assert.is(missing.status, 400);
  assert.equal(await missing.json(), {
    error: 'name: Invalid input: expected string, received undefined',
    field: 'name',
  });
  const malformed = await admin.request('/api/v1/tenants', {
    method: 'POST',
    body: '{"name":',
    headers: { 'content-type': 'application/json', 'x-csrf-token': admin.csrf! },
  });
  assert.is(malformed.status, 400);
  assert.is(((await malformed.json()) as { field: string }).field, 'body');
  const scopes = await api(admin, '/api-keys', 'POST', { name: 'k', scopes: ['write'] });
  assert.is(scopes.status, 400);
  assert.is(((await scopes.json()) as { field: string }).field, 'scopes.0');
  const email = await api(
    admin,
    `/tenants/${((await (await api(admin, '/me')).json()) as { tenant: { id: string } }).tenant.id}/users`,
    'POST',
    { email: ADMIN.email, role: 'viewer', password: 'long enough 12' },
  );
  assert.is(email.status, 409);
  assert.is(((await email.json()) as { field: string }).field, 'email');
});

tenants('an organisation name is taken once: the API, the page and the CLI refuse it, naming it', async (ctx) => {
  assert.is((await api(ctx.admin, '/tenants', 'POST', { name: 'Team' })).status, 201);
  const again = await api(ctx.admin, '/tenants', 'POST', { name: 'Team' });
  assert.is(again.status, 409);
  assert.equal(await again.json(), { error: 'name: an organisation named "Team" exists already', field: 'name' });
  await ctx.admin.get('/admin/organisations');
  const page = await ctx.admin.post('/admin/organisations', { name: 'Team' });
  assert.is(page.status, 400);
  assert.match(await page.text(), /an organisation named &quot;Team&quot; exists already/);
  const cli = await runCommand(ctx.server.ctx, 'tenant create', { name: 'Team' }).catch((e: Error) => e);
  assert.ok(cli instanceof CommandError);
  assert.is(cli.message, '--name: an organisation named "Team" exists already');
  // Two named alike by an older version: a command naming them says to use the id, plainly.
  await ctx.server.ctx.control.run(`INSERT INTO tenants (id, name) VALUES ('t_aaaaaaaaaaaaaaaaaaaa', 'Team')`);
  const ambiguous = await runCommand(ctx.server.ctx, 'tenant delete', { tenant: 'Team' }).catch((e: Error) => e);
  assert.ok(ambiguous instanceof CommandError);
  assert.is(ambiguous.message, '--tenant: 2 tenants are named "Team"; use the tenant id');
  // Two asked at once: one is made, the other refused.
  const both = await Promise.allSettled([
    runCommand(ctx.server.ctx, 'tenant create', { name: 'Twin' }),
    runCommand(ctx.server.ctx, 'tenant create', { name: 'Twin' }),
  ]);
  assert.equal(both.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  // A refused flag is named as it is typed.
  const flag = await runCommand(ctx.server.ctx, 'sso tenant', { tenant: 'Acme', require_sso: 'maybe' }).catch(
    (e: Error) => e,
  );
  assert.match(String(flag), /--require-sso: /);
});

tenants.run();
