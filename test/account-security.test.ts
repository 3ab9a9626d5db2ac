// Accounts over real HTTP (and the real CLI): a new password or a disabled account ends the
// person's other sessions; weak passwords are refused wherever a password is set; a new
// API key is never cacheable; first-run setup counts as a sign-in.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, Client, runCli, setUp, signIn, startTestServer, tempDir, type TestServer } from './helpers.js';

type Ctx = { server: TestServer; admin: Client };
const s = suite<Ctx>('account security');
s.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  ctx.admin = await setUp(ctx.server);
  await ctx.admin.get('/settings'); // the CSRF token of the signed-in session
});
s.after.each(async (ctx) => ctx.server.stop());

const tenantId = async (server: TestServer) =>
  (await server.ctx.control.get<{ id: string }>('SELECT tenant_id AS id FROM users WHERE email = $e', {
    e: ADMIN.email,
  }))!.id;
const api = (client: Client, path: string, method = 'GET', json?: unknown) =>
  client.request(`/api/v1${path}`, { method, json, headers: { 'x-csrf-token': client.csrf! } });

s('a password change signs the person out everywhere else; this browser stays signed in', async ({ server, admin }) => {
  const laptop = await signIn(server, ADMIN.email, ADMIN.password);
  assert.is((await laptop.get('/settings')).status, 200);

  const changed = await admin.post('/settings/password', {
    current: ADMIN.password,
    password: 'a brand new secret 7',
    password_confirm: 'a brand new secret 7',
  });
  assert.is(changed.status, 303);
  assert.is(changed.headers.get('location'), '/settings?saved=password');
  const page = await admin.get('/settings?saved=password');
  assert.is(page.status, 200, 'the browser that changed it keeps going');
  assert.match(await page.text(), /your other sessions are signed out/);

  const elsewhere = await laptop.get('/settings');
  assert.is(elsewhere.status, 303);
  assert.is(elsewhere.headers.get('location'), '/login?next=%2Fsettings');
  assert.is((await laptop.request('/api/v1/me')).status, 401);
  await signIn(server, ADMIN.email, 'a brand new secret 7');
});

s(
  'disabling someone ends their sessions: enabling them again does not bring a browser back',
  async ({ server, admin }) => {
    await runCommand(server.ctx, 'user create', {
      tenant: await tenantId(server),
      email: 'dev@acme.test',
      role: 'developer',
      password: 'a long password 1',
    });
    const dev = await signIn(server, 'dev@acme.test', 'a long password 1');
    assert.is((await dev.get('/settings')).status, 200);
    const id = (await server.ctx.control.get<{ id: string }>(`SELECT id FROM users WHERE email = 'dev@acme.test'`))!.id;
    await admin.get('/settings/users');
    assert.is((await admin.post(`/settings/users/${id}/access`, { disabled: 'true' })).status, 200);
    assert.is((await admin.post(`/settings/users/${id}/access`, { disabled: 'false' })).status, 200);
    assert.is((await dev.get('/settings')).status, 303, 'the old session is gone');
    await signIn(server, 'dev@acme.test', 'a long password 1');
  },
);

const WEAK: [string, RegExp][] = [
  ['1234567890', /password: is too easy to guess/],
  ['          ', /password: must not be only spaces/],
  ['abcdefghij', /password: is too easy to guess: it is a common character sequence/],
  ['qwertyuiop', /password: is too easy to guess/],
  ['zzzzzzzzzzzz', /password: is too easy to guess: it is made of a repeated character/],
  ['password123', /password: is too easy to guess: it is a commonly used password/],
  ['iloveyou2024', /password: is too easy to guess/],
  ['newcomer garden 2024', /password: must not contain the name in the email address \(newcomer\)/],
];

s(
  'weak passwords are refused on the web: setup, password change, people page and API, naming the field',
  async ({ server, admin }) => {
    const fresh = await startTestServer();
    try {
      const browser = new Client(fresh.url);
      await browser.get('/setup');
      for (const [password, why] of WEAK) {
        const res = await browser.post('/setup', {
          organisation: 'Acme',
          email: 'newcomer@acme.test',
          password,
          password_confirm: password,
        });
        assert.is(res.status, 400, `setup with ${JSON.stringify(password)}`);
        assert.match(await res.text(), why);
      }
    } finally {
      await fresh.stop();
    }

    for (const [password, why] of WEAK.slice(0, -1)) {
      const res = await admin.post('/settings/password', {
        current: ADMIN.password,
        password,
        password_confirm: password,
      });
      assert.is(res.status, 400, `password change to ${JSON.stringify(password)}`);
      assert.match(await res.text(), why);
    }
    const own = await admin.post('/settings/password', {
      current: ADMIN.password,
      password: 'admin of everything',
      password_confirm: 'admin of everything',
    });
    assert.match(await own.text(), /password: must not contain the name in the email address \(admin\)/);

    await admin.get('/settings/users');
    for (const [password, why] of WEAK) {
      const form = await admin.post('/settings/users', { email: 'newcomer@acme.test', role: 'viewer', password });
      assert.is(form.status, 400, `people page with ${JSON.stringify(password)}`);
      assert.match(await form.text(), why);
      const json = await api(admin, `/tenants/${await tenantId(server)}/users`, 'POST', {
        email: 'newcomer@acme.test',
        role: 'viewer',
        password,
      });
      assert.is(json.status, 400, `API with ${JSON.stringify(password)}`);
      const body = (await json.json()) as { error: string; field: string };
      assert.is(body.field, 'password');
      assert.match(body.error, why);
    }
    assert.is(
      (
        await api(admin, `/tenants/${await tenantId(server)}/users`, 'POST', {
          email: 'newcomer@acme.test',
          role: 'viewer',
          password: 'tulip lantern harbour',
        })
      ).status,
      201,
    );
  },
);

s('weak passwords are refused by the CLI; generated ones still work', async ({ server }) => {
  const dir = tempDir('am-cli-weak');
  try {
    const setup = await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test', '--password-stdin'], {
      dataDir: dir.path,
      stdin: '1234567890\n',
    });
    assert.is(setup.code, 1);
    assert.match(setup.stderr, /--password-stdin: is too easy to guess/);
  } finally {
    dir.remove();
  }
  const tenant = await tenantId(server);
  // The same command the CLI sends to the running server over its socket.
  const weak = await runCommand(server.ctx, 'user create', {
    tenant,
    email: 'ops@acme.test',
    role: 'viewer',
    password: 'ops password',
  }).catch((err: Error) => err);
  assert.match(String(weak), /--password-stdin: must not contain the name in the email address \(ops\)/);
  const generated = (await runCommand(server.ctx, 'user create', {
    tenant,
    email: 'ops@acme.test',
    role: 'viewer',
  })) as { password: string };
  await signIn(server, 'ops@acme.test', generated.password);
});

s('every response that shows a new API key says cache-control: no-store', async ({ admin }) => {
  await admin.get('/settings/api-keys');
  const json = await api(admin, '/api-keys', 'POST', { name: 'script', scopes: ['read'] });
  assert.is(json.status, 201);
  assert.match(((await json.json()) as { key: string }).key, /^amk_/);
  assert.is(json.headers.get('cache-control'), 'no-store', 'POST /api/v1/api-keys');

  const page = await admin.post('/settings/api-keys', { name: 'laptop', scopes: 'ingest' });
  assert.is(page.status, 200);
  assert.match(await page.text(), /amk_/);
  assert.is(page.headers.get('cache-control'), 'no-store', 'POST /settings/api-keys');

  await admin.get('/connect');
  const created = await admin.post('/connect/key', {});
  assert.is(created.status, 303, 'POST /connect/key redirects to the page that shows the key once');
  const connect = await admin.get('/connect');
  assert.match(await connect.text(), /amk_/);
  assert.is(connect.headers.get('cache-control'), 'no-store', 'GET /connect showing the new key');
});

s.run();

const firstRun = suite('first-run setup signs in');
firstRun('the people page shows the admin\'s sign-in at setup, not "–"', async () => {
  const server = await startTestServer();
  try {
    server.ctx.now = () => new Date('2030-01-02T03:04:05Z');
    const admin = await setUp(server);
    const people = await (await admin.get('/settings/users')).text();
    const row = /<tr>\s*<td><strong>admin@acme\.test<\/strong>[\s\S]*?<\/tr>/.exec(people)?.[0] ?? '';
    assert.match(row, /<td>2030-01-02 03:04 UTC<\/td>/);
    const audited = await server.ctx.control.all<{ action: string }>(
      `SELECT action FROM audit_log ORDER BY occurred_at, action`,
    );
    assert.equal(audited.map((a) => a.action).sort(), ['login.success', 'setup']);
  } finally {
    await server.stop();
  }
});
firstRun.run();
