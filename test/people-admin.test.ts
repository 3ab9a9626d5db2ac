// Managing people over real HTTP: invitations (copied link, or emailed to a real SMTP sink on
// 127.0.0.1), role changes, deactivation and reactivation, deletion, admin reset links, one's
// own sessions, and the rules (not yourself, not the last admin, not above your role, another
// tenant's person is not there). The clock is the app's (`ctx.now`), moved to test expiry.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { join } from 'node:path';
import { openDatabase } from '../src/storage/duckdb.js';
import { loadMigrations, migrate } from '../src/storage/migrate.js';
import { ADMIN, Client, setUp, signIn, startTestServer, tempDir, type TestServer } from './helpers.js';
import { startSmtpSink } from './smtp-sink.js';

type Ctx = { server: TestServer; admin: Client; tenantId: string };
const s = suite<Ctx>('people: invite, role, access, delete, reset, sessions');

s.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  ctx.admin = await setUp(ctx.server);
  await ctx.admin.get('/settings'); // the CSRF token of the signed-in session
  ctx.tenantId = (await idOf(ctx.server, ADMIN.email, 'tenant_id'))!;
});
s.after.each(async (ctx) => ctx.server.stop());

const api = (client: Client, path: string, method = 'GET', json?: unknown) =>
  client.request(`/api/v1${path}`, { method, json, headers: { 'x-csrf-token': client.csrf ?? '' } });

async function idOf(server: TestServer, email: string, column = 'id'): Promise<string | undefined> {
  return (
    await server.ctx.control.get<{ v: string }>(`SELECT ${column} AS v FROM users WHERE email = $email`, { email })
  )?.v;
}

async function person(
  ctx: Ctx,
  email: string,
  role: string,
  tenant = ctx.tenantId,
): Promise<{ id: string; password: string }> {
  const password = 'a long password 1';
  const user = (await runCommand(ctx.server.ctx, 'user create', { tenant, email, role, password })) as { id: string };
  return { id: user.id, password };
}

/** Follows an invitation or reset link the way a browser would: opens the form, then sends it. */
async function follow(
  server: TestServer,
  link: string,
  form: Record<string, string>,
): Promise<{ client: Client; res: Response }> {
  const client = new Client(server.url);
  const path = new URL(link).pathname;
  const page = await client.get(path);
  assert.is(page.status, 200, `the form behind ${path}`);
  return { client, res: await client.post(path, form) };
}

const PASSWORD = 'tulip lantern harbour';

s(
  'an invitation link lets the person choose a password and signs them in with the role; it works once',
  async (ctx) => {
    const res = await api(ctx.admin, `/tenants/${ctx.tenantId}/invites`, 'POST', {
      email: 'New@Acme.test',
      role: 'manager',
    });
    assert.is(res.status, 201);
    assert.is(res.headers.get('cache-control'), 'no-store');
    const sent = (await res.json()) as { emailed: boolean; link: string; invite: { id: string; email: string } };
    assert.is(sent.emailed, false, 'no SMTP configured: the link is for the admin to pass on');
    assert.match(sent.link, new RegExp(`^${ctx.server.url}/invite/[\\w-]{43}$`));
    const listed = (await (await api(ctx.admin, `/tenants/${ctx.tenantId}/invites`)).json()) as {
      invites: { email: string; role: string }[];
    };
    assert.equal(
      listed.invites.map((i) => [i.email, i.role]),
      [['new@acme.test', 'manager']],
    );

    const { client, res: accepted } = await follow(ctx.server, sent.link, {
      name: 'Nia',
      password: PASSWORD,
      password_confirm: PASSWORD,
    });
    assert.is(accepted.status, 303);
    const me = (await (await client.request('/api/v1/me')).json()) as {
      user: { email: string; role: string; name: string; tenantId: string };
    };
    assert.equal(
      [me.user.email, me.user.role, me.user.name, me.user.tenantId],
      ['new@acme.test', 'manager', 'Nia', ctx.tenantId],
    );
    await signIn(ctx.server, 'new@acme.test', PASSWORD);

    const again = await new Client(ctx.server.url).get(new URL(sent.link).pathname);
    assert.is(again.status, 404);
    assert.match(await again.text(), /already been used/);
    const twice = await follow(ctx.server, sent.link, { password: PASSWORD, password_confirm: PASSWORD }).catch(
      (err: Error) => err,
    );
    assert.instance(twice, Error, 'the form is not even shown again');
    assert.equal(
      ((await (await api(ctx.admin, `/tenants/${ctx.tenantId}/invites`)).json()) as { invites: unknown[] }).invites,
      [],
    );
    const audited = await ctx.server.ctx.control.all<{ action: string }>(
      `SELECT action FROM audit_log WHERE action LIKE 'user.invite%' ORDER BY occurred_at`,
    );
    assert.equal(
      audited.map((a) => a.action),
      ['user.invite', 'user.invite.accept'],
    );
    assert.not.ok(
      ctx.server.logs.some((l) => String(l.path).includes(new URL(sent.link).pathname.slice(8))),
      'the token is not in the request log',
    );
  },
);

s('an expired invitation is refused; sending it again makes a new link and the old one stops working', async (ctx) => {
  const first = (await (
    await api(ctx.admin, `/tenants/${ctx.tenantId}/invites`, 'POST', { email: 'late@acme.test', role: 'developer' })
  ).json()) as { link: string; invite: { id: string } };
  const start = Date.now();
  ctx.server.ctx.now = () => new Date(start + 7 * 24 * 3600_000 + 60_000);
  const expired = await new Client(ctx.server.url).get(new URL(first.link).pathname);
  assert.is(expired.status, 404);
  assert.match(await expired.text(), /This link has expired/);
  const listed = (await (await api(ctx.admin, `/tenants/${ctx.tenantId}/invites`)).json()) as {
    invites: { expired: boolean }[];
  };
  assert.equal(
    listed.invites.map((i) => i.expired),
    [true],
  );

  const again = (await (
    await api(ctx.admin, `/tenants/${ctx.tenantId}/invites/${first.invite.id}/resend`, 'POST')
  ).json()) as { link: string };
  assert.is.not(again.link, first.link);
  assert.match(await (await new Client(ctx.server.url).get(new URL(first.link).pathname)).text(), /not valid/);
  const { res } = await follow(ctx.server, again.link, { password: PASSWORD, password_confirm: PASSWORD });
  assert.is(res.status, 303);

  const withdrawn = (await (
    await api(ctx.admin, `/tenants/${ctx.tenantId}/invites`, 'POST', { email: 'gone@acme.test', role: 'viewer' })
  ).json()) as { link: string; invite: { id: string } };
  assert.is((await api(ctx.admin, `/tenants/${ctx.tenantId}/invites/${withdrawn.invite.id}`, 'DELETE')).status, 204);
  assert.is((await new Client(ctx.server.url).get(new URL(withdrawn.link).pathname)).status, 404);
});

s('invitations: bad input names its field; a weak password is refused; no role above your own', async (ctx) => {
  const bad = await api(ctx.admin, `/tenants/${ctx.tenantId}/invites`, 'POST', {
    email: 'not an email',
    role: 'viewer',
  });
  assert.is(bad.status, 400);
  assert.is(((await bad.json()) as { field: string }).field, 'email');
  const taken = await api(ctx.admin, `/tenants/${ctx.tenantId}/invites`, 'POST', {
    email: ADMIN.email,
    role: 'viewer',
  });
  assert.is(taken.status, 409);

  const ta = await person(ctx, 'ta@acme.test', 'tenant_admin');
  const taClient = await signIn(ctx.server, 'ta@acme.test', ta.password);
  await taClient.get('/settings');
  const above = await api(taClient, `/tenants/${ctx.tenantId}/invites`, 'POST', {
    email: 'boss@acme.test',
    role: 'super_admin',
  });
  assert.is(above.status, 403);
  assert.is(((await above.json()) as { field: string }).field, 'role');

  const sent = (await (
    await api(ctx.admin, `/tenants/${ctx.tenantId}/invites`, 'POST', { email: 'weak@acme.test', role: 'viewer' })
  ).json()) as { link: string };
  const { res } = await follow(ctx.server, sent.link, { password: '1234567890', password_confirm: '1234567890' });
  assert.is(res.status, 400);
  assert.match(await res.text(), /password: is too easy to guess/);
});

s('with SMTP configured the invitation arrives by email at a real SMTP server, with a link that works', async () => {
  const sink = await startSmtpSink();
  const server = await startTestServer({ flags: { 'smtp-url': sink.url, 'smtp-from': 'agentmeter@acme.test' } });
  try {
    const admin = await setUp(server);
    await admin.get('/settings/users');
    const page = await admin.post('/settings/invites', { email: 'mailed@acme.test', role: 'viewer' });
    assert.is(page.status, 200);
    const html = await page.text();
    assert.match(html, /An invitation is on its way to mailed@acme\.test/);
    assert.not.match(html, /\/invite\//, 'an emailed link is not shown to the admin');
    assert.is(sink.mails.length, 1);
    const mail = sink.mails[0]!;
    assert.equal([mail.from, mail.to, mail.user], ['agentmeter@acme.test', ['mailed@acme.test'], 'mailer']);
    assert.match(mail.raw, /^Subject: You are invited to Acme on agentmeter/m);
    const link = new RegExp(`${server.url}/invite/[\\w-]{43}`).exec(mail.text)?.[0];
    assert.ok(link, `a link in ${JSON.stringify(mail.text)}`);
    const { client, res } = await follow(server, link, { password: PASSWORD, password_confirm: PASSWORD });
    assert.is(res.status, 303);
    assert.match(await (await client.get('/')).text(), /mailed@acme\.test · viewer/);
  } finally {
    await server.stop();
    await sink.stop();
  }
});

s('role change from the API and the page, within the rules', async (ctx) => {
  const dev = await person(ctx, 'dev@acme.test', 'developer');
  const changed = await api(ctx.admin, `/tenants/${ctx.tenantId}/users/${dev.id}/role`, 'PUT', { role: 'manager' });
  assert.is(changed.status, 200);
  assert.is(((await changed.json()) as { role: string }).role, 'manager');
  const devClient = await signIn(ctx.server, 'dev@acme.test', dev.password);
  assert.match(await (await devClient.get('/')).text(), /dev@acme\.test · manager/);
  const bad = await api(ctx.admin, `/tenants/${ctx.tenantId}/users/${dev.id}/role`, 'PUT', { role: 'boss' });
  assert.is(bad.status, 400);
  assert.is(((await bad.json()) as { field: string }).field, 'role');

  await ctx.admin.get('/settings/users');
  const page = await ctx.admin.post(`/settings/users/${dev.id}/role`, { role: 'viewer' });
  assert.is(page.status, 200);
  assert.match(await page.text(), /dev@acme\.test is now viewer/);
  const audited = await ctx.server.ctx.control.all<{ detail: string }>(
    `SELECT detail FROM audit_log WHERE action = 'user.role' ORDER BY occurred_at`,
  );
  assert.equal(
    audited.map((a) => JSON.parse(a.detail)),
    [
      { email: 'dev@acme.test', from: 'developer', to: 'manager' },
      { email: 'dev@acme.test', from: 'manager', to: 'viewer' },
    ],
  );
});

s(
  'deactivating ends their sessions, refuses their key and their sign-in with a clear message; reactivating lets them back',
  async (ctx) => {
    const dev = await person(ctx, 'dev@acme.test', 'developer');
    const { key } = (await runCommand(ctx.server.ctx, 'apikey create', {
      tenant: ctx.tenantId,
      user: 'dev@acme.test',
      scopes: 'read',
    })) as { key: string };
    const devClient = await signIn(ctx.server, 'dev@acme.test', dev.password);
    const bearer = { authorization: `Bearer ${key}` };
    assert.is((await fetch(`${ctx.server.url}/api/v1/me`, { headers: bearer })).status, 200);

    const off = await api(ctx.admin, `/tenants/${ctx.tenantId}/users/${dev.id}/disable`, 'POST');
    assert.is(off.status, 200);
    assert.is(((await off.json()) as { disabled: boolean }).disabled, true);
    assert.is((await devClient.get('/settings')).status, 303, 'their session ended');
    assert.is((await fetch(`${ctx.server.url}/api/v1/me`, { headers: bearer })).status, 401, 'their key is refused');
    const login = new Client(ctx.server.url);
    await login.get('/login');
    const refused = await login.post('/login', { email: 'dev@acme.test', password: dev.password });
    assert.is(refused.status, 403);
    assert.match(await refused.text(), /This account is deactivated/);
    const wrong = await login.post('/login', { email: 'dev@acme.test', password: 'not their password' });
    assert.is(wrong.status, 401, 'without the password nothing is said about the account');
    assert.match(await wrong.text(), /Email or password is incorrect/);

    assert.is((await api(ctx.admin, `/tenants/${ctx.tenantId}/users/${dev.id}/enable`, 'POST')).status, 200);
    await signIn(ctx.server, 'dev@acme.test', dev.password);
    assert.is((await fetch(`${ctx.server.url}/api/v1/me`, { headers: bearer })).status, 200, 'their key works again');
    const actions = await ctx.server.ctx.control.all<{ action: string }>(
      `SELECT action FROM audit_log WHERE action IN ('user.disable', 'user.enable', 'login.refused') ORDER BY occurred_at`,
    );
    assert.equal(
      actions.map((a) => a.action),
      ['user.disable', 'login.refused', 'user.enable'],
    );
  },
);

s('deleting removes the account and revokes its keys; its email can be invited again', async (ctx) => {
  const dev = await person(ctx, 'dev@acme.test', 'developer');
  const { key } = (await runCommand(ctx.server.ctx, 'apikey create', {
    tenant: ctx.tenantId,
    user: 'dev@acme.test',
    scopes: 'ingest,read',
  })) as { key: string };
  const devClient = await signIn(ctx.server, 'dev@acme.test', dev.password);
  const mfaRows = async () =>
    Number(
      (await ctx.server.ctx.control.get<{ n: number }>(
        `SELECT (SELECT count(*) FROM mfa_totp WHERE user_id = $id) + (SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $id) AS n`,
        { id: dev.id },
      ))!.n,
    );
  await ctx.server.ctx.control.run(`INSERT INTO mfa_totp (user_id, secret, created_at) VALUES ($id, 'sealed', now())`, {
    id: dev.id,
  });
  await ctx.server.ctx.control.run(`INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($id, 'h')`, {
    id: dev.id,
  });
  assert.is(await mfaRows(), 2);
  assert.is((await api(ctx.admin, `/tenants/${ctx.tenantId}/users/${dev.id}`, 'DELETE')).status, 204);
  assert.is(await idOf(ctx.server, 'dev@acme.test'), undefined);
  assert.is(await mfaRows(), 0, 'its authenticator and recovery codes are gone with it');
  assert.is((await devClient.get('/settings')).status, 303);
  assert.is((await fetch(`${ctx.server.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } })).status, 401);
  const keys = await ctx.server.ctx.control.all<{ revoked: boolean }>(
    `SELECT revoked_at IS NOT NULL AS revoked FROM api_keys WHERE user_id = $id`,
    { id: dev.id },
  );
  assert.equal(keys, [{ revoked: true }]);
  assert.is((await api(ctx.admin, `/tenants/${ctx.tenantId}/users/${dev.id}`, 'DELETE')).status, 404, 'gone');
  assert.is(
    (await api(ctx.admin, `/tenants/${ctx.tenantId}/invites`, 'POST', { email: 'dev@acme.test', role: 'viewer' }))
      .status,
    201,
  );
});

s('deleting an organisation withdraws its invitations and reset links: none makes an account after', async (ctx) => {
  const beta = (await runCommand(ctx.server.ctx, 'tenant create', { name: 'Beta' })) as { id: string };
  await person(ctx, 'lead@beta.test', 'tenant_admin', beta.id);
  const dev = await person(ctx, 'dev@beta.test', 'developer', beta.id);
  const lead = await signIn(ctx.server, 'lead@beta.test', 'a long password 1');
  await lead.get('/settings');
  const invite = await api(lead, `/tenants/${beta.id}/invites`, 'POST', {
    email: 'new@beta.test',
    role: 'tenant_admin',
  });
  assert.is(invite.status, 201);
  const reset = await api(lead, `/tenants/${beta.id}/users/${dev.id}/reset-link`, 'POST');
  assert.is(reset.status, 201);
  const links = [((await invite.json()) as { link: string }).link, ((await reset.json()) as { link: string }).link];

  await runCommand(ctx.server.ctx, 'tenant delete', { tenant: beta.id });
  for (const link of links) {
    const client = new Client(ctx.server.url);
    const path = new URL(link).pathname;
    await client.get('/login'); // a page's CSRF token, as the link's own page gives none now
    const page = await client.get(path);
    assert.is(page.status, 404, path);
    const sent = await client.post(path, { password: PASSWORD, password_confirm: PASSWORD });
    assert.is(sent.status, 404, `${path}: sent`);
  }
  assert.is(await idOf(ctx.server, 'new@beta.test'), undefined, 'no account in the deleted organisation');
  const left = await ctx.server.ctx.control.get<{ n: number }>(
    'SELECT count(*) AS n FROM account_links WHERE tenant_id = $id',
    { id: beta.id },
  );
  assert.is(Number(left!.n), 0);
});

s('a control file from before: the links and two-factor rows of organisations deleted then are removed', async () => {
  const dir = tempDir('am-control-0006');
  const db = await openDatabase(join(dir.path, 'control.duckdb'));
  try {
    const all = loadMigrations('control');
    const at = all.findIndex((x) => x.name === 'deleted_tenants');
    await migrate(db, all.slice(0, at));
    await db.run(`INSERT INTO tenants (id, name) VALUES ('t_kept', 'Kept')`);
    await db.run(
      `INSERT INTO users (id, tenant_id, email, role, created_at) VALUES ('u_kept', 't_kept', 'k@x.test', 'developer', now())`,
    );
    for (const [id, tenant] of [
      ['l_kept', 't_kept'],
      ['l_gone', 't_gone'],
    ])
      await db.run(
        `INSERT INTO account_links (id, kind, token_hash, tenant_id, email, role, created_at, expires_at)
         VALUES ($id, 'invite', $id, $tenant, 'n@x.test', 'developer', now(), now() + INTERVAL 1 DAY)`,
        { id, tenant },
      );
    await db.run(`INSERT INTO mfa_policies VALUES ('t_kept', 'everyone'), ('t_gone', 'everyone')`);
    await db.run(
      `INSERT INTO mfa_totp (user_id, secret, created_at) VALUES ('u_kept', 's', now()), ('u_gone', 's', now())`,
    );
    await migrate(db, all);
    const ids = async (sql: string) => (await db.all<{ id: string }>(sql)).map((r) => r.id);
    assert.equal(await ids('SELECT id FROM account_links'), ['l_kept']);
    assert.equal(await ids('SELECT tenant_id AS id FROM mfa_policies'), ['t_kept']);
    assert.equal(await ids('SELECT user_id AS id FROM mfa_totp'), ['u_kept']);
  } finally {
    await db.close();
    dir.remove();
  }
});

s('an admin reset link sets a new password once, within the hour, and ends every other session', async (ctx) => {
  const dev = await person(ctx, 'dev@acme.test', 'developer');
  const laptop = await signIn(ctx.server, 'dev@acme.test', dev.password);
  const made = await api(ctx.admin, `/tenants/${ctx.tenantId}/users/${dev.id}/reset-link`, 'POST');
  assert.is(made.status, 201);
  assert.is(made.headers.get('cache-control'), 'no-store');
  const { link } = (await made.json()) as { link: string };
  assert.match(link, new RegExp(`^${ctx.server.url}/reset/[\\w-]{43}$`));

  const { client, res } = await follow(ctx.server, link, { password: PASSWORD, password_confirm: PASSWORD });
  assert.is(res.status, 303);
  assert.match(await (await client.get('/')).text(), /dev@acme\.test · developer/, 'signed in with the new password');
  assert.is((await laptop.get('/settings')).status, 303, 'the other session ended');
  await signIn(ctx.server, 'dev@acme.test', PASSWORD);
  assert.match(await (await new Client(ctx.server.url).get(new URL(link).pathname)).text(), /already been used/);

  const late = (await (await api(ctx.admin, `/tenants/${ctx.tenantId}/users/${dev.id}/reset-link`, 'POST')).json()) as {
    link: string;
  };
  const start = Date.now();
  ctx.server.ctx.now = () => new Date(start + 3600_000 + 60_000);
  assert.match(
    await (await new Client(ctx.server.url).get(new URL(late.link).pathname)).text(),
    /This link has expired/,
  );
  const audited = await ctx.server.ctx.control.all<{ action: string }>(
    `SELECT action FROM audit_log WHERE action LIKE 'user.%reset%' ORDER BY occurred_at`,
  );
  assert.equal(
    audited.map((a) => a.action),
    ['user.reset_link', 'user.password.reset', 'user.reset_link'],
  );
});

s(
  'a link stops working with the power that made it, and a reset link with the password it would replace',
  async (ctx) => {
    const invite = async (by: Client) => {
      const res = await api(by, `/tenants/${ctx.tenantId}/invites`, 'POST', {
        email: 'alt@else.test',
        role: 'tenant_admin',
      });
      assert.is(res.status, 201);
      return ((await res.json()) as { link: string }).link;
    };
    const dead = async (link: string) => {
      const page = await new Client(ctx.server.url).get(new URL(link).pathname);
      assert.match(await page.text(), /This link is not valid/, link);
    };
    // Three tenant admins each invite a second address of theirs as tenant admin, then lose the power.
    const links: Record<string, string> = {};
    for (const who of ['off', 'down', 'gone']) {
      const admin = await person(ctx, `${who}@acme.test`, 'tenant_admin');
      const client = await signIn(ctx.server, `${who}@acme.test`, admin.password);
      await client.get('/settings');
      links[who] = await invite(client);
      links[`${who} (checked when used)`] = await invite(client);
    }
    // Withdrawn at once through the API, and refused when used even if a row was left live.
    const revive = () => ctx.server.ctx.control.run(`UPDATE account_links SET revoked_at = NULL WHERE kind = 'invite'`);
    const users = `/tenants/${ctx.tenantId}/users`;
    assert.is(
      (await api(ctx.admin, `${users}/${await idOf(ctx.server, 'off@acme.test')}/disable`, 'POST')).status,
      200,
    );
    const down = await idOf(ctx.server, 'down@acme.test');
    assert.is((await api(ctx.admin, `${users}/${down}/role`, 'PUT', { role: 'developer' })).status, 200);
    assert.is((await api(ctx.admin, `${users}/${await idOf(ctx.server, 'gone@acme.test')}`, 'DELETE')).status, 204);
    const listed = (await (await api(ctx.admin, `/tenants/${ctx.tenantId}/invites`)).json()) as { invites: unknown[] };
    assert.equal(listed.invites, [], 'their invitations are withdrawn');
    await revive();
    for (const link of Object.values(links)) await dead(link);
    assert.is(await idOf(ctx.server, 'alt@else.test'), undefined, 'no account was made');

    // A reset link made for someone stops when they change their password themselves.
    const dev = await person(ctx, 'dev@acme.test', 'developer');
    const made = await api(ctx.admin, `${users}/${dev.id}/reset-link`, 'POST');
    const { link } = (await made.json()) as { link: string };
    const laptop = await signIn(ctx.server, 'dev@acme.test', dev.password);
    await laptop.get('/settings');
    const changed = await laptop.post('/settings/password', {
      current: dev.password,
      password: PASSWORD,
      password_confirm: PASSWORD,
    });
    assert.is(changed.status, 303);
    await dead(link);
  },
);

s('your active sessions: listed with this one marked; "sign out my other sessions" ends the rest', async (ctx) => {
  const phone = await signIn(ctx.server, ADMIN.email, ADMIN.password);
  const listed = (await (await api(ctx.admin, '/me/sessions')).json()) as {
    sessions: { current: boolean; createdAt: string }[];
  };
  assert.equal(listed.sessions.map((x) => x.current).sort(), [false, true]);
  assert.not.match(
    JSON.stringify(listed),
    new RegExp(ctx.admin.cookies.get('am_session')!),
    'session ids (cookie secrets) are not shown',
  );
  const page = await (await ctx.admin.get('/settings')).text();
  assert.match(page, /Your active sessions/);
  assert.is(page.match(/this browser/g)?.length, 1);

  const ended = await ctx.admin.post('/settings/sessions/end-others', {});
  assert.is(ended.status, 303);
  assert.match(await (await ctx.admin.get('/settings?saved=sessions')).text(), /Your other sessions are signed out/);
  assert.is((await phone.get('/settings')).status, 303, 'the other browser is signed out');
  assert.is(((await (await api(ctx.admin, '/me/sessions')).json()) as { sessions: unknown[] }).sessions.length, 1);
});

s("the rules: not yourself, not above your role, not the last admin, not another tenant's person", async (ctx) => {
  const self = (await idOf(ctx.server, ADMIN.email))!;
  for (const [path, method] of [
    ['disable', 'POST'],
    ['', 'DELETE'],
  ] as const) {
    const res = await api(ctx.admin, `/tenants/${ctx.tenantId}/users/${self}${path && `/${path}`}`, method);
    assert.is(res.status, 403, `${method} ${path} on yourself`);
    assert.match(((await res.json()) as { error: string }).error, /your own/);
  }

  const ta = await person(ctx, 'ta@acme.test', 'tenant_admin');
  const taClient = await signIn(ctx.server, 'ta@acme.test', ta.password);
  await taClient.get('/settings');
  const above = await api(taClient, `/tenants/${ctx.tenantId}/users/${self}/disable`, 'POST');
  assert.is(above.status, 403, 'a tenant admin cannot deactivate a super admin');
  const promote = await api(taClient, `/tenants/${ctx.tenantId}/users/${ta.id}/role`, 'PUT', { role: 'super_admin' });
  assert.is(promote.status, 403);

  // Another organisation, with one admin.
  const beta = (await runCommand(ctx.server.ctx, 'tenant create', { name: 'Beta' })) as { id: string };
  const betaAdmin = await person(ctx, 'boss@beta.test', 'tenant_admin', beta.id);
  const betaDev = await person(ctx, 'dev@beta.test', 'developer', beta.id);
  for (const path of [
    `/tenants/${ctx.tenantId}/users/${betaDev.id}/disable`,
    `/tenants/${beta.id}/users/${betaDev.id}/disable`,
  ]) {
    assert.is((await api(taClient, path, 'POST')).status, 404, `${path} from Acme's tenant admin`);
  }
  await taClient.get('/settings/users');
  assert.is((await taClient.post(`/settings/users/${betaDev.id}/access`, { disabled: 'true' })).status, 404);
  assert.is(await idOf(ctx.server, 'dev@beta.test', 'disabled::VARCHAR'), 'false');

  // The super admin reaches Beta, but not to leave it without an admin.
  for (const [path, method, json] of [
    ['/disable', 'POST', undefined],
    ['', 'DELETE', undefined],
    ['/role', 'PUT', { role: 'manager' }],
  ] as const) {
    const res = await api(ctx.admin, `/tenants/${beta.id}/users/${betaAdmin.id}${path}`, method, json);
    assert.is(res.status, 409, `${method} ${path} on the last admin`);
    assert.match(((await res.json()) as { error: string }).error, /last active admin/);
  }
  const erase = await api(ctx.admin, `/tenants/${beta.id}/users/${betaAdmin.id}/erase`, 'POST');
  assert.is(erase.status, 409, 'erasing the last admin is refused like deleting them');
  assert.match(((await erase.json()) as { error: string }).error, /last active admin/);
  for (const command of ['user delete', 'user erase'] as const) {
    const cli = await runCommand(ctx.server.ctx, command, { tenant: 'Beta', email: 'boss@beta.test' }).catch(
      (err: Error) => err,
    );
    assert.match(String(cli), /last active admin/, command);
  }
  assert.is(await idOf(ctx.server, 'boss@beta.test', 'disabled::VARCHAR'), 'false');
  // With a second admin, the first may go.
  assert.is(
    (await api(ctx.admin, `/tenants/${beta.id}/users/${betaDev.id}/role`, 'PUT', { role: 'tenant_admin' })).status,
    200,
  );
  assert.is((await api(ctx.admin, `/tenants/${beta.id}/users/${betaAdmin.id}/disable`, 'POST')).status, 200);

  // API keys never manage people, and people without user.manage get a 403.
  const { key } = (await runCommand(ctx.server.ctx, 'apikey create', {
    tenant: ctx.tenantId,
    user: ADMIN.email,
    scopes: 'read',
  })) as { key: string };
  assert.is(
    (
      await fetch(`${ctx.server.url}/api/v1/tenants/${ctx.tenantId}/users/${ta.id}/disable`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
      })
    ).status,
    403,
  );
  // A key of a role above yours is not yours to revoke (it does not exist, as far as you can tell).
  const keyId = (await ctx.server.ctx.control.get<{ id: string }>('SELECT id FROM api_keys'))!.id;
  assert.is((await api(taClient, `/api-keys/${keyId}`, 'DELETE')).status, 404);
  const still = await fetch(`${ctx.server.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
  assert.is(still.status, 200, "the super admin's key still works");
  assert.is((await api(ctx.admin, `/api-keys/${keyId}`, 'DELETE')).status, 204, 'its owner revokes it');
  const mgr = await person(ctx, 'mgr@acme.test', 'manager');
  const mgrClient = await signIn(ctx.server, 'mgr@acme.test', mgr.password);
  await mgrClient.get('/settings');
  assert.is((await api(mgrClient, `/tenants/${ctx.tenantId}/users/${ta.id}/disable`, 'POST')).status, 403);
  assert.is(
    (await api(mgrClient, `/tenants/${ctx.tenantId}/invites`, 'POST', { email: 'x@acme.test', role: 'viewer' })).status,
    403,
  );
});

s('two admins removed at the same moment: one goes, the other stays as the last admin', async (ctx) => {
  const beta = (await runCommand(ctx.server.ctx, 'tenant create', { name: 'Beta' })) as { id: string };
  const activeAdmins = async () =>
    (await ctx.server.ctx.control.get<{ n: number }>(
      `SELECT count(*)::INTEGER AS n FROM users WHERE tenant_id = $t AND NOT disabled AND role IN ('super_admin', 'tenant_admin')`,
      { t: beta.id },
    ))!.n;
  // Each way of removing an admin, raced against each other way and against itself.
  const ways = [
    (id: string) => api(ctx.admin, `/tenants/${beta.id}/users/${id}/disable`, 'POST'),
    (id: string) => api(ctx.admin, `/tenants/${beta.id}/users/${id}`, 'DELETE'),
    (id: string) => api(ctx.admin, `/tenants/${beta.id}/users/${id}/role`, 'PUT', { role: 'manager' }),
    (id: string) => api(ctx.admin, `/tenants/${beta.id}/users/${id}/erase`, 'POST'),
  ];
  const pairs = ways.flatMap((first, i) => ways.slice(i).map((second) => [first, second] as const));
  assert.is(pairs.length, 10, 'every pairing, each way against itself too');
  for (const [i, [first, second]] of pairs.entries()) {
    const one = await person(ctx, `one-${i}@beta.test`, 'tenant_admin', beta.id);
    const two = await person(ctx, `two-${i}@beta.test`, 'tenant_admin', beta.id);
    assert.is(await activeAdmins(), 2);
    const answers = await Promise.all([first(one.id), second(two.id)]);
    assert.equal(
      answers.map((r) => (r.ok ? 'done' : r.status)).sort(),
      [409, 'done'],
      `case ${i}: one of the two is refused`,
    );
    assert.is(await activeAdmins(), 1, `case ${i}: the organisation keeps an admin`);
    // The one left goes last in the next case, with a new pair beside it.
    const left = await ctx.server.ctx.control.get<{ id: string }>(
      `SELECT id FROM users WHERE tenant_id = $t AND NOT disabled AND role = 'tenant_admin'`,
      { t: beta.id },
    );
    await ctx.server.ctx.control.run(`UPDATE users SET role = 'developer' WHERE id = $id`, { id: left!.id });
  }
});

s('the people page: invite with a copyable link, deactivate, reset link and delete', async (ctx) => {
  const dev = await person(ctx, 'dev@acme.test', 'developer');
  await ctx.admin.get('/settings/users');
  const invited = await ctx.admin.post('/settings/invites', { email: 'pal@acme.test', role: 'viewer' });
  assert.is(invited.status, 200);
  assert.is(invited.headers.get('cache-control'), 'no-store');
  const html = await invited.text();
  assert.match(html, /Send them this link \(shown only now/);
  const link = new RegExp(`value="(${ctx.server.url}/invite/[\\w-]{43})"`).exec(html)?.[1];
  assert.ok(link);
  assert.not.match(await (await ctx.admin.get('/settings/users')).text(), /\/invite\/[\w-]{43}/, 'shown once');

  assert.match(
    await (await ctx.admin.post(`/settings/users/${dev.id}/access`, { disabled: 'true' })).text(),
    /dev@acme\.test is deactivated/,
  );
  assert.match(
    await (await ctx.admin.post(`/settings/users/${dev.id}/access`, { disabled: 'false' })).text(),
    /dev@acme\.test is active again/,
  );
  const reset = await (await ctx.admin.post(`/settings/users/${dev.id}/reset-link`, {})).text();
  assert.match(reset, new RegExp(`value="${ctx.server.url}/reset/[\\w-]{43}"`));
  const deleted = await ctx.admin.post(`/settings/users/${dev.id}/delete`, {});
  assert.is(deleted.status, 200);
  assert.match(await deleted.text(), /dev@acme\.test&#39;s account is deleted/);
  const self = (await idOf(ctx.server, ADMIN.email))!;
  const refused = await ctx.admin.post(`/settings/users/${self}/delete`, {});
  assert.is(refused.status, 400);
  assert.match(await refused.text(), /cannot change your own role or access, or delete yourself/);
});

s.run();
