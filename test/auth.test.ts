import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, Client, setUp, startTestServer, type TestServer } from './helpers.js';

const sessionCookie = (res: Response) => res.headers.getSetCookie().find((c) => c.startsWith('am_session='));

const firstRun = suite<{ server: TestServer }>('first run, login, logout');
firstRun.before.each(async (ctx) => {
  ctx.server = await startTestServer();
});
firstRun.after.each(async (ctx) => {
  await ctx.server.stop();
});

firstRun('with no user, every page leads to setup; setup signs the admin in', async ({ server }) => {
  const browser = new Client(server.url);
  for (const path of ['/', '/login', '/settings/api-keys']) {
    const res = await browser.get(path);
    assert.is(res.status, 303, path);
    assert.match(res.headers.get('location') ?? '', /\/(setup|login)/);
  }
  const page = await browser.get('/setup');
  assert.is(page.status, 200);
  assert.match(await page.text(), /Create organisation/);

  const done = await browser.post('/setup', { ...ADMIN, password_confirm: ADMIN.password });
  assert.is(done.status, 303);
  assert.is(done.headers.get('location'), '/');
  const home = await browser.get('/');
  assert.is(home.status, 200);
  const html = await home.text();
  assert.match(html, /Acme/);
  assert.match(html, /admin@acme\.test/);
  assert.match(html, /super admin/);

  // Setup happens once.
  assert.is((await new Client(server.url).get('/setup')).headers.get('location'), '/login');
  const again = await new Client(server.url).post(
    '/setup',
    { ...ADMIN, email: 'other@x.test', password_confirm: ADMIN.password },
    { csrf: false },
  );
  assert.ok(again.status === 403 || again.status === 303);
});

firstRun(
  "with every person gone but an organisation's data left, setup stays closed to strangers",
  async ({ server }) => {
    await setUp(server);
    const other = (await runCommand(server.ctx, 'tenant create', { name: 'Team B' })) as { id: string };
    await runCommand(server.ctx, 'tenant delete', { tenant: 'Acme' }); // the super admin's organisation, and them
    assert.is((await server.ctx.control.get<{ n: number }>('SELECT count(*)::INTEGER AS n FROM users'))!.n, 0);
    const stranger = new Client(server.url);
    assert.is((await stranger.get('/setup')).headers.get('location'), '/login');
    await stranger.get('/login');
    const taken = await stranger.post('/setup', {
      ...ADMIN,
      email: 'stranger@x.test',
      password_confirm: ADMIN.password,
    });
    assert.is(taken.headers.get('location'), '/login');
    assert.is((await server.ctx.control.get<{ n: number }>('SELECT count(*)::INTEGER AS n FROM users'))!.n, 0);
    const cli = await runCommand(server.ctx, 'setup', { name: 'Mine', email: 'op@x.test' }).catch((e: Error) => e);
    assert.match(String(cli), /setup has already been done/);
    // The operator adds a person to the organisation left.
    await runCommand(server.ctx, 'user create', { tenant: other.id, email: 'lead@b.test', role: 'tenant_admin' });
  },
);

firstRun('setup names the field that is wrong', async ({ server }) => {
  const browser = new Client(server.url);
  await browser.get('/setup');
  const res = await browser.post('/setup', {
    organisation: 'Acme',
    email: 'not-an-email',
    password: 'short',
    password_confirm: 'short',
  });
  assert.is(res.status, 400);
  assert.match(await res.text(), /email: must be an email address/);
  const mismatch = await browser.post('/setup', {
    organisation: 'Acme',
    email: 'a@b.test',
    password: 'long enough pw',
    password_confirm: 'different pw!',
  });
  assert.is(mismatch.status, 400);
  assert.match(await mismatch.text(), /password_confirm: passwords do not match/);
});

firstRun('login and logout with a secure-enough session cookie', async ({ server }) => {
  await setUp(server);
  const browser = new Client(server.url);
  await browser.get('/login');
  const res = await browser.post('/login', {
    email: 'ADMIN@acme.test',
    password: ADMIN.password,
    next: '/settings/api-keys',
  });
  assert.is(res.status, 303);
  assert.is(res.headers.get('location'), '/settings/api-keys');
  const cookie = sessionCookie(res)!;
  assert.ok(cookie, 'session cookie set');
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Lax/i);
  assert.not.match(cookie, /Secure/, 'plain http public URL: no Secure flag');
  assert.is((await browser.get('/')).status, 200);

  const out = await browser.post('/logout', {});
  assert.is(out.status, 303);
  assert.is(out.headers.get('location'), '/login');
  assert.is((await browser.get('/')).status, 303, 'signed out');
});

firstRun('an open redirect through next= is refused', async ({ server }) => {
  await setUp(server);
  const browser = new Client(server.url);
  await browser.get('/login');
  const res = await browser.post('/login', { email: ADMIN.email, password: ADMIN.password, next: '//evil.test/x' });
  assert.is(res.headers.get('location'), '/');
});

firstRun('a stolen session id stops working after logout', async ({ server }) => {
  const browser = await setUp(server);
  const copy = new Client(server.url);
  copy.cookies = new Map(browser.cookies);
  assert.is((await copy.get('/')).status, 200);
  await browser.get('/');
  await browser.post('/logout', {});
  assert.is((await copy.get('/')).status, 303);
  assert.is((await copy.request('/api/v1/me')).status, 401);
});

firstRun('wrong password and unknown email get the same 401', async ({ server }) => {
  await setUp(server);
  const browser = new Client(server.url);
  await browser.get('/login');
  const wrong = await browser.post('/login', { email: ADMIN.email, password: 'not the password' });
  const unknown = await browser.post('/login', { email: 'nobody@acme.test', password: 'not the password' });
  assert.is(wrong.status, 401);
  assert.is(unknown.status, 401);
  const message = (html: string) => /<p class="error" role="alert">([^<]*)<\/p>/.exec(html)?.[1];
  const [a, b] = [message(await wrong.text()), message(await unknown.text())];
  assert.is(a, 'Email or password is incorrect.');
  assert.is(a, b);
});

firstRun('CSRF: forms and cookie-authenticated API calls without a valid token are rejected', async ({ server }) => {
  const admin = await setUp(server);
  await admin.get('/settings/api-keys');
  const noToken = await admin.post('/settings/api-keys', { name: 'x', scopes: 'ingest' }, { csrf: false });
  assert.is(noToken.status, 403);
  assert.match(await noToken.text(), /CSRF/);
  const forged = await admin.post(
    '/settings/api-keys',
    { name: 'x', scopes: 'ingest', _csrf: 'forged' },
    { csrf: false },
  );
  assert.is(forged.status, 403);
  assert.is((await admin.post('/logout', {}, { csrf: false })).status, 403, 'logout too');
  assert.is((await admin.get('/')).status, 200, 'still signed in');

  const api = await admin.request('/api/v1/api-keys', { method: 'POST', json: { name: 'x', scopes: ['read'] } });
  assert.is(api.status, 403);
  assert.is(((await api.json()) as { field: string }).field, '_csrf');
  const withHeader = await admin.request('/api/v1/api-keys', {
    method: 'POST',
    json: { name: 'x', scopes: ['read'] },
    headers: { 'x-csrf-token': admin.csrf! },
  });
  assert.is(withHeader.status, 201);
  // A field the route does not take is named, not dropped: a key asked to expire would not.
  const expiring = await admin.request('/api/v1/api-keys', {
    method: 'POST',
    json: { name: 'x', scopes: ['read'], expires_at: '2027-01-01' },
    headers: { 'x-csrf-token': admin.csrf! },
  });
  assert.equal([expiring.status, ((await expiring.json()) as { field: string }).field], [400, 'expires_at']);

  // A token from another browser's session is worthless here.
  const other = new Client(server.url);
  await other.get('/login');
  const login = await other.post('/login', { email: ADMIN.email, password: ADMIN.password }, { csrf: false });
  assert.is(login.status, 403, 'login form without token');
  const foreign = await admin.post(
    '/settings/api-keys',
    { name: 'x', scopes: 'ingest', _csrf: other.csrf! },
    { csrf: false },
  );
  assert.is(foreign.status, 403);
});

firstRun('failed logins are throttled, even when the right password follows', async ({ server }) => {
  const admin = await setUp(server);
  const browser = new Client(server.url);
  await browser.get('/login');
  for (let i = 0; i < 5; i++)
    assert.is((await browser.post('/login', { email: ADMIN.email, password: `guess ${i}` })).status, 401);
  const blocked = await browser.post('/login', { email: ADMIN.email, password: ADMIN.password });
  assert.is(blocked.status, 429);
  assert.ok(Number(blocked.headers.get('retry-after')) > 0, 'Retry-After given');
  assert.match(await blocked.text(), /Too many failed attempts/);
  assert.is(sessionCookie(blocked), undefined);

  const audit = (await (await admin.request('/api/v1/audit')).json()) as {
    entries: { action: string; detail: string }[];
  };
  const failures = audit.entries.filter((e) => e.action === 'login.failure');
  assert.is(failures.length, 5, 'each failure audited');
  assert.not.ok(JSON.stringify(audit).includes('guess'), 'no password in the audit log');
});

firstRun.run();

const secure = suite('https public URL');
secure('cookies are Secure when the public URL is https', async () => {
  const server = await startTestServer({ flags: { 'public-url': 'https://metrics.example.test' } });
  try {
    const browser = new Client(server.url);
    const setup = await browser.get('/setup');
    assert.match(setup.headers.getSetCookie().join('\n'), /am_pre=.*Secure/);
    const res = await browser.post('/setup', { ...ADMIN, password_confirm: ADMIN.password });
    assert.match(sessionCookie(res)!, /Secure/);
    assert.match(res.headers.get('strict-transport-security') ?? '', /max-age/);
  } finally {
    await server.stop();
  }
});
secure.run();
