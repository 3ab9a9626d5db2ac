// A presented API key is looked up once and then served from memory (createKeyCache in
// src/auth/api-keys.ts). These prove the cache is in use, and that every change to what a
// cached key stands for holds from the very next request: a revocation, a rotation, its
// owner disabled or given another role. Real server, real HTTP; the app's clock is frozen,
// so no entry expires on its own in the middle of a test.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, type Client, ingestKey, signIn, startTestServer, type TestServer } from './helpers.js';

type Ctx = { server: TestServer; admin: Client; tenantId: string; userId: string; id: string; key: string; t: number };
const s = suite<Ctx>('cached API keys');

s.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  const frozen = new Date();
  ctx.t = frozen.getTime();
  ctx.server.ctx.now = () => frozen;
  Object.assign(ctx, await ingestKey(ctx.server));
  const made = (await runCommand(ctx.server.ctx, 'apikey create', {
    tenant: ctx.tenantId,
    user: 'agent@acme.test',
    scopes: 'ingest,read',
  })) as { id: string; key: string };
  ctx.id = made.id;
  ctx.key = made.key;
  ctx.admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
  await ctx.admin.get('/settings/api-keys'); // its CSRF token
});
s.after.each(async (ctx) => ctx.server.stop());

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const me = (ctx: Ctx, key = ctx.key) => fetch(`${ctx.server.url}/api/v1/me`, { headers: bearer(key) });
let n = 0;
const hook = (ctx: Ctx, key = ctx.key) =>
  fetch(`${ctx.server.url}/api/v1/hooks/claude-code`, {
    method: 'POST',
    headers: { ...bearer(key), 'content-type': 'application/json' },
    body: JSON.stringify({
      hook_event_name: 'PreToolUse',
      session_id: 's1',
      tool_name: 'Bash',
      tool_use_id: `t${n++}`,
    }),
  });
const asAdmin = (ctx: Ctx, path: string, method: string) =>
  ctx.admin.request(path, { method, headers: { 'x-csrf-token': ctx.admin.csrf! } });

/** The key works, and is served from the cache: a change made behind its back (in SQL, not through a function that clears the cache) is not seen. */
async function cachedKey(ctx: Ctx, key = ctx.key) {
  assert.is((await hook(ctx, key)).status, 200);
  await ctx.server.ctx.control.run(`UPDATE users SET name = 'behind its back' WHERE id = $id`, { id: ctx.userId });
  const res = await me(ctx, key);
  assert.is(res.status, 200);
  const { user } = (await res.json()) as { user: { name: string | null } };
  assert.is.not(user.name, 'behind its back', 'the key was served from the cache');
}

s('a cached key revoked over the API is refused on the very next request', async (ctx) => {
  await cachedKey(ctx);
  assert.is((await asAdmin(ctx, `/api/v1/api-keys/${ctx.id}`, 'DELETE')).status, 204);
  assert.is((await hook(ctx)).status, 401, 'the next hook');
  assert.is((await me(ctx)).status, 401);
});

s('a cached key revoked with the CLI is refused on the very next request', async (ctx) => {
  await cachedKey(ctx);
  await runCommand(ctx.server.ctx, 'apikey revoke', { tenant: ctx.tenantId, id: ctx.id });
  assert.is((await hook(ctx)).status, 401);
});

s(
  "a cached key whose owner is disabled is refused on the very next request, and works once they're enabled",
  async (ctx) => {
    await cachedKey(ctx);
    const path = `/api/v1/tenants/${ctx.tenantId}/users/${ctx.userId}`;
    assert.is((await asAdmin(ctx, `${path}/disable`, 'POST')).status, 200);
    assert.is((await hook(ctx)).status, 401, 'the next hook');
    assert.is((await me(ctx)).status, 401);
    assert.is((await asAdmin(ctx, `${path}/enable`, 'POST')).status, 200);
    assert.is((await hook(ctx)).status, 200);
  },
);

s('a rotated key: the old secret is refused on the very next request, the new one works', async (ctx) => {
  await cachedKey(ctx);
  const rotated = (await runCommand(ctx.server.ctx, 'apikey rotate', { tenant: ctx.tenantId, id: ctx.id })) as {
    id: string;
    key: string;
    prefix: string;
    scopes: string[];
  };
  assert.is(rotated.id, ctx.id, 'the same key');
  assert.equal(rotated.scopes, ['ingest', 'read']);
  assert.is.not(rotated.key, ctx.key);
  assert.ok(rotated.key.startsWith(rotated.prefix));
  assert.is((await hook(ctx)).status, 401, 'the old secret, next request');
  assert.is((await me(ctx)).status, 401);
  assert.is((await hook(ctx, rotated.key)).status, 200, 'the new secret');
  let refused = '';
  await runCommand(ctx.server.ctx, 'apikey revoke', { tenant: ctx.tenantId, id: ctx.id });
  await runCommand(ctx.server.ctx, 'apikey rotate', { tenant: ctx.tenantId, id: ctx.id }).catch(
    (err: Error) => (refused = err.message),
  );
  assert.match(refused, /no live API key/, 'a revoked key is not rotated back to life');
  assert.is((await hook(ctx, rotated.key)).status, 401);
});

s("a cached key carries its owner's new role from the very next request", async (ctx) => {
  await cachedKey(ctx);
  const res = await ctx.admin.request(`/api/v1/tenants/${ctx.tenantId}/users/${ctx.userId}/role`, {
    method: 'PUT',
    json: { role: 'manager' },
    headers: { 'x-csrf-token': ctx.admin.csrf! },
  });
  assert.is(res.status, 200);
  assert.is(((await (await me(ctx)).json()) as { user: { role: string } }).user.role, 'manager');
});

s("a cached key carries its owner's new name from the very next request", async (ctx) => {
  await cachedKey(ctx);
  const owner = await signIn(ctx.server, 'agent@acme.test', 'ingest password 1');
  await owner.get('/settings/account');
  assert.is((await owner.post('/settings/account', { name: 'Renamed' })).status, 303);
  assert.is(((await (await me(ctx)).json()) as { user: { name: string } }).user.name, 'Renamed');
});

s('a cached entry lasts a minute of the clock: after that, a change behind its back is seen too', async (ctx) => {
  await cachedKey(ctx);
  ctx.server.ctx.now = () => new Date(ctx.t + 61_000);
  const { user } = (await (await me(ctx)).json()) as { user: { name: string | null } };
  assert.is(user.name, 'behind its back');
});

s.run();
