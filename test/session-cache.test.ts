// A browser session, the tenant's people and its name are read once and then served from
// memory while the control database is unchanged (keptRead, src/storage/kept-reads.ts).
// These prove a page asks the control database nothing once seen, and that every change
// that could make what is kept wrong holds from the very next request: sign-out, other
// sessions ended, a new password, a role or name changed, a person disabled, removed or
// erased, a tenant removed. Each warms the memory first, so a missed change would show.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, Client, ingestKey, signIn, startTestServer, type TestServer } from './helpers.js';

type Ctx = { server: TestServer; admin: Client; member: Client; tenantId: string; userId: string; key: string };
const s = suite<Ctx>('browser sessions kept in memory');

const MEMBER = { email: 'agent@acme.test', password: 'ingest password 1' };

s.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  Object.assign(ctx, await ingestKey(ctx.server));
  ctx.admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
  ctx.member = await signIn(ctx.server, MEMBER.email, MEMBER.password);
});
s.after.each(async (ctx) => ctx.server.stop());

/** The overview opens, and a second look asks the control database nothing: the session, people and tenant came from memory. */
async function kept(ctx: Ctx, client: Client) {
  assert.is((await client.get('/')).status, 200);
  const asked = ctx.server.ctx.control.activity();
  const res = await client.get('/');
  assert.is(res.status, 200);
  assert.is(ctx.server.ctx.control.activity(), asked, 'no statement on the control database');
  return res.text();
}

/** The session is refused: the page sends the browser to sign in. */
async function refused(client: Client, what: string) {
  const res = await client.get('/');
  assert.is(res.status, 303, what);
  assert.match(res.headers.get('location') ?? '', /^\/login/, what);
}

/** Another browser tab of the same session (the client forgets a cookie it is told to clear). */
const sameSession = (ctx: Ctx, client: Client) =>
  Object.assign(new Client(ctx.server.url), { cookies: new Map(client.cookies) });

s('a page seen once asks the control database nothing for its session, people and tenant', async (ctx) => {
  await kept(ctx, ctx.admin);
  await kept(ctx, ctx.member);
});

s('a signed-out session is refused on its very next request', async (ctx) => {
  const tab = sameSession(ctx, ctx.member);
  await kept(ctx, tab);
  await ctx.member.get('/'); // its CSRF token
  assert.is((await ctx.member.post('/logout', {})).status, 303);
  await refused(tab, 'the signed-out session');
});

s('sessions ended from the account page are refused on their very next request', async (ctx) => {
  const laptop = await signIn(ctx.server, MEMBER.email, MEMBER.password);
  await kept(ctx, laptop);
  await ctx.member.get('/settings');
  assert.is((await ctx.member.post('/settings/sessions/end-others', {})).status, 303);
  await refused(laptop, 'the other session');
  assert.is((await ctx.member.get('/')).status, 200, 'the browser that asked');
});

s('a new password ends every other session from the very next request', async (ctx) => {
  const laptop = await signIn(ctx.server, MEMBER.email, MEMBER.password);
  await kept(ctx, laptop);
  await ctx.member.get('/settings');
  const changed = await ctx.member.post('/settings/password', {
    current: MEMBER.password,
    password: 'a new password 456',
    password_confirm: 'a new password 456',
  });
  assert.is(changed.status, 303);
  await refused(laptop, 'the session of the old password');
  assert.is((await ctx.member.get('/')).status, 200, 'the browser that changed it has a new session');
});

s('a new password from a reset link ends every session from the very next request', async (ctx) => {
  await kept(ctx, ctx.member);
  const { link } = (await runCommand(ctx.server.ctx, 'user reset-link', {
    tenant: ctx.tenantId,
    email: MEMBER.email,
  })) as { link: string };
  const browser = new Client(ctx.server.url);
  const path = new URL(link).pathname;
  await browser.get(path);
  const reset = await browser.post(path, { password: 'a new password 456', password_confirm: 'a new password 456' });
  assert.is(reset.status, 303);
  await refused(ctx.member, 'the session from before the reset');
});

s("a person's new role shows and holds from the very next request", async (ctx) => {
  assert.match(await kept(ctx, ctx.member), /agent@acme\.test · developer/);
  await runCommand(ctx.server.ctx, 'user role', { tenant: ctx.tenantId, email: MEMBER.email, role: 'manager' });
  assert.match(await (await ctx.member.get('/')).text(), /agent@acme\.test · manager/);
});

s("a person's new name shows from the very next request, in their tenant's people too", async (ctx) => {
  const hook = await fetch(`${ctx.server.url}/api/v1/hooks/claude-code`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ hook_event_name: 'PreToolUse', session_id: 's1', tool_name: 'Bash', tool_use_id: 't1' }),
  });
  assert.is(hook.status, 200);
  assert.match(await kept(ctx, ctx.admin), /<td>agent@acme\.test<\/td>/, 'the recent session names its person');
  await kept(ctx, ctx.member);
  await ctx.member.get('/settings/account');
  assert.is((await ctx.member.post('/settings/account', { name: 'Renamed Agent' })).status, 303);
  const me = (await (await ctx.member.request('/api/v1/me')).json()) as { user: { name: string } };
  assert.is(me.user.name, 'Renamed Agent', "the session's person");
  assert.match(await (await ctx.admin.get('/')).text(), /<td>Renamed Agent<\/td>/, "the tenant's people");
});

for (const [change, command] of [
  ['disabled', 'user disable'],
  ['removed', 'user delete'],
] as const)
  s(`a person ${change} is refused on their very next request`, async (ctx) => {
    await kept(ctx, ctx.member);
    await runCommand(ctx.server.ctx, command, { tenant: ctx.tenantId, email: MEMBER.email });
    await refused(ctx.member, `the ${change} person's session`);
  });

s('a person erased is refused on their very next request', async (ctx) => {
  await kept(ctx, ctx.member);
  await runCommand(ctx.server.ctx, 'user erase', { tenant: ctx.tenantId, email: MEMBER.email });
  await refused(ctx.member, "the erased person's session");
});

s("a removed tenant's sessions are refused on their very next request", async (ctx) => {
  const beta = (await runCommand(ctx.server.ctx, 'tenant create', { name: 'Beta' })) as { id: string };
  await runCommand(ctx.server.ctx, 'user create', {
    tenant: beta.id,
    email: 'admin@beta.test',
    role: 'tenant_admin',
    password: 'beta password 123',
  });
  const client = await signIn(ctx.server, 'admin@beta.test', 'beta password 123');
  assert.match(await kept(ctx, client), /Beta/);
  await runCommand(ctx.server.ctx, 'tenant delete', { tenant: beta.id });
  await refused(client, "the removed tenant's session");
  assert.is((await ctx.member.get('/')).status, 200, 'another tenant is untouched');
});

s.run();
