// Two-factor sign-in over real HTTP: enrolment on the settings page, the second step of a
// password sign-in (TOTP codes once each, recovery codes once each), the tenant's
// requirement by role, and the CLI's reset. The server's clock is fixed (ctx.now), and the
// test computes codes for that time with otpauth, as an authenticator app would.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Secret, TOTP } from 'otpauth';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, Client, runCli, setUp, startTestServer, type TestServer } from './helpers.js';

type Ctx = { server: TestServer; admin: Client; clock: number };
const s = suite<Ctx>('two-factor sign-in');

const T0 = Date.parse('2030-03-04T05:06:00Z');

s.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  ctx.clock = T0;
  ctx.server.ctx.now = () => new Date(ctx.clock);
  ctx.admin = await setUp(ctx.server);
});
s.after.each(async (ctx) => ctx.server.stop());

const codeAt = (secret: string, at: number) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 }).generate({ timestamp: at });

/** The secret the settings page shows as text beside the QR code. */
async function shownSecret(client: Client, path = '/settings/mfa'): Promise<string> {
  const html = await (await client.get(path)).text();
  assert.match(html, /<img class="qr" src="data:image\/svg\+xml;base64,/, 'a QR code made on the server');
  return /id="totp-secret">([A-Z2-7]+)</.exec(html)![1]!;
}

const recoveryCodes = (html: string) => [...html.matchAll(/<li><code>([a-z2-7-]+)<\/code><\/li>/g)].map((m) => m[1]!);

/** Enrols `client` through the settings page; returns the secret and the recovery codes. */
async function enrol(ctx: Ctx, client: Client): Promise<{ secret: string; codes: string[] }> {
  const secret = await shownSecret(client);
  const res = await client.post('/settings/mfa/enable', { code: codeAt(secret, ctx.clock) });
  assert.is(res.status, 200);
  return { secret, codes: recoveryCodes(await res.text()) };
}

/** The password step; returns the client (holding only the pending sign-in) and its answer. */
async function password(ctx: Ctx, email = ADMIN.email, pw = ADMIN.password, next = '/settings/api-keys') {
  const client = new Client(ctx.server.url);
  await client.get('/login');
  const res = await client.post('/login', { email, password: pw, next });
  return { client, res };
}

async function audits(ctx: Ctx, action: string) {
  return ctx.server.ctx.control.all<{ target: string | null; detail: string | null }>(
    'SELECT target, detail FROM audit_log WHERE action = $action ORDER BY occurred_at',
    { action },
  );
}

const signedInPage = async (client: Client) => (await client.get('/settings/api-keys')).status;

s('enrolment: a wrong code leaves it off, the right one turns it on and shows 10 recovery codes once', async (ctx) => {
  const secret = await shownSecret(ctx.admin);
  assert.is(await shownSecret(ctx.admin), secret, 'a reload shows the same secret');
  assert.match(await (await ctx.admin.get('/settings/mfa')).text(), /otpauth|Turn on two-factor/);

  const wrong = await ctx.admin.post('/settings/mfa/enable', { code: codeAt(secret, ctx.clock + 5 * 60_000) });
  assert.is(wrong.status, 400);
  assert.match(await wrong.text(), /code: that code is not right/);
  assert.is((await audits(ctx, 'mfa.enrol')).length, 0);
  const still = await password(ctx);
  assert.is(still.res.headers.get('location'), '/settings/api-keys', 'still off: the password alone signs in');

  const right = await ctx.admin.post('/settings/mfa/enable', { code: codeAt(secret, ctx.clock) });
  assert.is(right.status, 200);
  assert.is(right.headers.get('cache-control'), 'no-store');
  const codes = recoveryCodes(await right.text());
  assert.is(codes.length, 10);
  assert.is(new Set(codes).size, 10);
  assert.is((await audits(ctx, 'mfa.enrol')).length, 1);

  const page = await (await ctx.admin.get('/settings/mfa')).text();
  assert.match(page, /Recovery codes left<\/dt><dd>10 of 10/);
  assert.not.match(page, /totp-secret/, 'the secret is not shown again');
  for (const code of codes) assert.not.match(page, new RegExp(code), 'nor the codes');

  // Stored sealed, and the codes only as hashes.
  const row = (await ctx.server.ctx.control.get<{ secret: string }>('SELECT secret FROM mfa_totp'))!;
  assert.not.match(row.secret, secret);
  const hashes = await ctx.server.ctx.control.all<{ h: string }>('SELECT code_hash AS h FROM mfa_recovery_codes');
  assert.is(hashes.length, 10);
  for (const { h } of hashes) assert.not.ok(codes.includes(h));
});

s('sign-in needs the code after the password; no session before it', async (ctx) => {
  const { secret } = await enrol(ctx, ctx.admin);
  ctx.clock += 60_000;

  const { client, res } = await password(ctx);
  assert.is(res.status, 303);
  assert.is(res.headers.get('location'), '/login/mfa?next=%2Fsettings%2Fapi-keys');
  assert.not.ok(client.cookies.has('am_session'), 'no session yet');
  assert.ok(client.cookies.has('am_mfa'));
  const step = await client.get('/login/mfa?next=%2Fsettings%2Fapi-keys');
  assert.is(step.status, 200);
  assert.match(await step.text(), /Two-factor sign-in/);
  assert.is(await signedInPage(client), 303, 'other pages still ask to sign in');

  // The pending sign-in is this browser's: the same code from another one goes back to the password.
  const other = new Client(ctx.server.url);
  await other.get('/login');
  const stolen = await other.post('/login/mfa', { code: codeAt(secret, ctx.clock), next: '/settings/api-keys' });
  assert.is(stolen.status, 303);
  assert.match(stolen.headers.get('location')!, /^\/login\?next=/);
  assert.not.ok(other.cookies.has('am_session'));

  const wrong = await client.post('/login/mfa', {
    code: codeAt(secret, ctx.clock + 10 * 60_000),
    next: '/settings/api-keys',
  });
  assert.is(wrong.status, 401);
  assert.is((await audits(ctx, 'login.mfa.failure')).length, 1);

  const ok = await client.post('/login/mfa', { code: codeAt(secret, ctx.clock), next: 'https://evil.example/' });
  assert.is(ok.status, 303);
  assert.is(ok.headers.get('location'), '/', 'next only ever leads to this appliance');
  assert.ok(client.cookies.has('am_session'));
  assert.is(await signedInPage(client), 200);
});

s('a code counts once; a code of one step either side is accepted, two steps is not', async (ctx) => {
  const { secret } = await enrol(ctx, ctx.admin);
  ctx.clock += 90_000;
  const code = codeAt(secret, ctx.clock);

  const first = await password(ctx);
  assert.is((await first.client.post('/login/mfa', { code, next: '/' })).status, 303);
  const second = await password(ctx);
  const replay = await second.client.post('/login/mfa', { code, next: '/' });
  assert.is(replay.status, 401, 'the same code again is refused');
  assert.match(await replay.text(), /already used/);
  assert.equal(
    (await audits(ctx, 'login.mfa.failure')).map((a) => JSON.parse(a.detail!).reason),
    ['reused'],
  );

  // The previous step's code is older than the one used: refused too.
  assert.is(
    (await second.client.post('/login/mfa', { code: codeAt(secret, ctx.clock - 30_000), next: '/' })).status,
    401,
  );
  // The next step's code (a phone a little ahead) is accepted.
  assert.is(
    (await second.client.post('/login/mfa', { code: codeAt(secret, ctx.clock + 30_000), next: '/' })).status,
    303,
  );

  ctx.clock += 10 * 60_000;
  const third = await password(ctx);
  assert.is(
    (await third.client.post('/login/mfa', { code: codeAt(secret, ctx.clock - 60_000), next: '/' })).status,
    401,
    'two steps old',
  );
  assert.is((await third.client.post('/login/mfa', { code: codeAt(secret, ctx.clock), next: '/' })).status, 303);
});

s('a recovery code signs in once', async (ctx) => {
  const { codes } = await enrol(ctx, ctx.admin);
  const first = await password(ctx);
  const used = await first.client.post('/login/mfa', { code: codes[3]!.toUpperCase(), next: '/' });
  assert.is(used.status, 303, 'case does not matter');
  assert.ok(first.client.cookies.has('am_session'));
  assert.is((await audits(ctx, 'mfa.recovery_used')).length, 1);
  assert.match(await (await first.client.get('/settings/mfa')).text(), /Recovery codes left<\/dt><dd>9 of 10/);

  const again = await password(ctx);
  assert.is((await again.client.post('/login/mfa', { code: codes[3]!, next: '/' })).status, 401);
  assert.not.ok(again.client.cookies.has('am_session'));
  assert.is((await again.client.post('/login/mfa', { code: codes[4]!, next: '/' })).status, 303);
});

s('wrong codes are throttled like passwords: the sixth in 15 minutes gets 429', async (ctx) => {
  const { secret } = await enrol(ctx, ctx.admin);
  const { client } = await password(ctx);
  for (let i = 0; i < 5; i++) assert.is((await client.post('/login/mfa', { code: '000000', next: '/' })).status, 401);
  const refused = await client.post('/login/mfa', { code: codeAt(secret, ctx.clock + 30_000), next: '/' });
  assert.is(refused.status, 429);
  assert.ok(Number(refused.headers.get('retry-after')) > 0);
  // A right password does not clear the count of codes.
  const again = await password(ctx);
  assert.is(
    (await again.client.post('/login/mfa', { code: codeAt(secret, ctx.clock + 30_000), next: '/' })).status,
    429,
  );
});

s('turning it off needs the password or a current code', async (ctx) => {
  const { secret } = await enrol(ctx, ctx.admin);
  const refused = await ctx.admin.post('/settings/mfa/disable', { proof: 'not my password' });
  assert.is(refused.status, 400);
  assert.match(await refused.text(), /proof: that is neither your password nor a current code/);
  ctx.clock += 30_000;
  const off = await ctx.admin.post('/settings/mfa/disable', { proof: codeAt(secret, ctx.clock) });
  assert.is(off.status, 303);
  assert.is((await audits(ctx, 'mfa.disable')).length, 1);
  assert.is((await password(ctx)).res.headers.get('location'), '/settings/api-keys');
});

s('required for managers: a manager without it enrols right after the password, before anything else', async (ctx) => {
  const tenant = (await ctx.server.ctx.control.get<{ id: string }>('SELECT id FROM tenants'))!.id;
  await runCommand(ctx.server.ctx, 'user create', {
    tenant,
    email: 'mona@acme.test',
    role: 'manager',
    password: 'manager password 7',
  });
  await runCommand(ctx.server.ctx, 'user create', {
    tenant,
    email: 'dev@acme.test',
    role: 'developer',
    password: 'bright lantern 77',
  });

  await ctx.admin.get('/settings/mfa');
  const policy = await ctx.admin.post('/settings/mfa/policy', { required_for: 'managers' });
  assert.is(policy.status, 303);
  assert.equal(
    (await audits(ctx, 'mfa.policy')).map((a) => JSON.parse(a.detail!)),
    [{ required_for: 'managers' }],
  );
  assert.is((await ctx.admin.post('/settings/mfa/policy', { required_for: 'some' })).status, 400);

  // A developer is not required to.
  assert.is(
    (await password(ctx, 'dev@acme.test', 'bright lantern 77')).res.headers.get('location'),
    '/settings/api-keys',
  );

  const { client, res } = await password(ctx, 'mona@acme.test', 'manager password 7');
  assert.is(res.headers.get('location'), '/login/mfa?next=%2Fsettings%2Fapi-keys');
  const html = await (await client.get('/login/mfa?next=%2Fsettings%2Fapi-keys')).text();
  assert.match(html, /Set up two-factor/);
  assert.is(await signedInPage(client), 303, 'no page before enrolment');
  const secret = /id="totp-secret">([A-Z2-7]+)</.exec(html)![1]!;

  assert.is((await client.post('/login/mfa/enrol', { code: '123456', next: '/settings/api-keys' })).status, 401);
  assert.not.ok(client.cookies.has('am_session'));
  const done = await client.post('/login/mfa/enrol', { code: codeAt(secret, ctx.clock), next: '/settings/api-keys' });
  assert.is(done.status, 200);
  assert.is(recoveryCodes(await done.text()).length, 10);
  assert.ok(client.cookies.has('am_session'), 'signed in once enrolled');
  assert.is(await signedInPage(client), 200);
  assert.is((await audits(ctx, 'mfa.enrol')).length, 1);

  // Next time the manager gives a code like anyone with two-factor on.
  ctx.clock += 30_000;
  const next = await password(ctx, 'mona@acme.test', 'manager password 7');
  assert.match(await (await next.client.get('/login/mfa')).text(), /Two-factor sign-in/);
  assert.is((await next.client.post('/login/mfa', { code: codeAt(secret, ctx.clock), next: '/' })).status, 303);

  // The admin (a super admin) is required to as well.
  const admin = await password(ctx);
  assert.match(await (await admin.client.get('/login/mfa')).text(), /Set up two-factor/);
});

s('the CLI resets a lost device: the password alone signs in again', async (ctx) => {
  await enrol(ctx, ctx.admin);
  assert.is((await password(ctx)).res.headers.get('location'), '/login/mfa?next=%2Fsettings%2Fapi-keys');

  const reset = await runCli(['user', 'mfa-reset', '--tenant', 'Acme', '--email', ADMIN.email, '--json'], {
    dataDir: ctx.server.dataDir,
  });
  assert.is(reset.code, 0, reset.stderr);
  assert.equal(JSON.parse(reset.stdout), { user: ADMIN.email, mfa: 'reset' });
  const audited = await ctx.server.ctx.control.all<{ actor: string }>(
    `SELECT actor FROM audit_log WHERE action = 'mfa.reset'`,
  );
  assert.equal(audited, [{ actor: 'cli' }]);
  assert.is((await password(ctx)).res.headers.get('location'), '/settings/api-keys');

  const unknown = await runCli(['user', 'mfa-reset', '--tenant', 'Acme', '--email', 'nobody@acme.test'], {
    dataDir: ctx.server.dataDir,
  });
  assert.is(unknown.code, 1);
  assert.match(unknown.stderr, /no user "nobody@acme.test"/);
});

s('a super admin resets a person on the people page; a tenant admin may not', async (ctx) => {
  const tenant = (await ctx.server.ctx.control.get<{ id: string }>('SELECT id FROM tenants'))!.id;
  await runCommand(ctx.server.ctx, 'user create', {
    tenant,
    email: 'ta@acme.test',
    role: 'tenant_admin',
    password: 'tenant admin pw 7',
  });
  const ta = (await password(ctx, 'ta@acme.test', 'tenant admin pw 7')).client;
  await enrol(ctx, ta);
  const id = (await ctx.server.ctx.control.get<{ id: string }>(`SELECT id FROM users WHERE email = 'ta@acme.test'`))!
    .id;

  const people = await (await ctx.admin.get('/settings/users')).text();
  assert.match(people, new RegExp(`/settings/users/${id}/mfa-reset`));
  await ta.get('/settings/users');
  const adminId = (await ctx.server.ctx.control.get<{ id: string }>('SELECT id FROM users WHERE email = $e', {
    e: ADMIN.email,
  }))!.id;
  assert.is((await ta.post(`/settings/users/${adminId}/mfa-reset`, {})).status, 403);

  await ctx.admin.get('/settings/users');
  assert.is((await ctx.admin.post(`/settings/users/${id}/mfa-reset`, {})).status, 303);
  assert.is((await audits(ctx, 'mfa.reset')).length, 1);
  assert.is(
    (await password(ctx, 'ta@acme.test', 'tenant admin pw 7')).res.headers.get('location'),
    '/settings/api-keys',
  );
});

s('a reset link sets the password but is no way around the second factor, nor around single sign-on', async (ctx) => {
  const tenant = (await ctx.server.ctx.control.get<{ id: string }>('SELECT id FROM tenants'))!.id;
  const dev = (await runCommand(ctx.server.ctx, 'user create', {
    tenant,
    email: 'dev@acme.test',
    role: 'developer',
    password: 'tulip lantern harbour 4',
  })) as { id: string };
  const { secret } = await enrol(ctx, (await password(ctx, 'dev@acme.test', 'tulip lantern harbour 4')).client);
  const follow = async (link: string, pw: string) => {
    const client = new Client(ctx.server.url);
    const path = new URL(link).pathname;
    await client.get(path);
    return { client, res: await client.post(path, { password: pw, password_confirm: pw }) };
  };
  await ctx.admin.get('/settings/users');
  const made = await (await ctx.admin.post(`/settings/users/${dev.id}/reset-link`, {})).text();
  const link = /(http:\/\/[^\s"<]+\/reset\/[\w-]{43})/.exec(made)![1]!;
  const reset = await follow(link, 'a brand new password 9');
  assert.is(reset.res.status, 303);
  assert.is(reset.res.headers.get('location'), '/login/mfa?next=%2F', 'the code comes next');
  assert.is(await signedInPage(reset.client), 303, 'no session before the code');
  ctx.clock += 30_000; // a code counts once: enrolment used this step's
  const step = await reset.client.post('/login/mfa', { code: codeAt(secret, ctx.clock), next: '/' });
  assert.is(step.status, 303);
  assert.is(await signedInPage(reset.client), 200);

  // The organisation signs in through its identity provider: the link sets the password, and says so.
  await ctx.admin.get('/settings/sso/tenant');
  assert.is((await ctx.admin.post('/settings/sso/tenant', { require_sso: 'on' })).status, 200);
  const again = await (await ctx.admin.post(`/settings/users/${dev.id}/reset-link`, {})).text();
  const refused = await follow(/(http:\/\/[^\s"<]+\/reset\/[\w-]{43})/.exec(again)![1]!, 'another new password 9');
  assert.is(refused.res.status, 403);
  assert.match(await refused.res.text(), /signs in through its identity provider/);
  assert.is(await signedInPage(refused.client), 303);
});

s('API keys are not asked for a second factor', async (ctx) => {
  await enrol(ctx, ctx.admin);
  const tenant = (await ctx.server.ctx.control.get<{ id: string }>('SELECT id FROM tenants'))!.id;
  const key = (await runCommand(ctx.server.ctx, 'apikey create', { tenant, user: ADMIN.email, scopes: 'read' })) as {
    key: string;
  };
  const me = await fetch(`${ctx.server.url}/api/v1/me`, { headers: { authorization: `Bearer ${key.key}` } });
  assert.is(me.status, 200);
});

s.run();
