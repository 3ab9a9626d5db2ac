// The CLI's people commands (`user disable|enable|delete|role|reset-link`), run as real
// processes: through a running server's admin socket, and on a data directory no server holds.
// Also the SMTP settings at start.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig, ConfigError } from '../src/config.js';
import { ADMIN, Client, runCli, setUp, signIn, startTestServer, tempDir } from './helpers.js';

const json = <T>(out: string) => JSON.parse(out) as T;

const s = suite('CLI: user disable, enable, delete, role, reset-link');

s('each command acts through the running server, with --json, and refuses what the rules refuse', async () => {
  const server = await startTestServer({ flags: { 'public-url': 'https://metrics.acme.test' } });
  try {
    await setUp(server);
    const opts = { dataDir: server.dataDir };
    const created = await runCli(
      [
        'user',
        'create',
        '--tenant',
        'Acme',
        '--email',
        'dev@acme.test',
        '--role',
        'developer',
        '--password-stdin',
        '--json',
      ],
      { ...opts, stdin: 'a long password 1\n' },
    );
    assert.is(created.code, 0, created.stderr);
    const dev = await signIn(server, 'dev@acme.test', 'a long password 1');

    const role = await runCli(
      ['user', 'role', '--tenant', 'Acme', '--email', 'dev@acme.test', '--role', 'manager', '--json'],
      opts,
    );
    assert.is(role.code, 0, role.stderr);
    assert.is(json<{ role: string }>(role.stdout).role, 'manager');
    assert.match(await (await dev.get('/')).text(), /dev@acme\.test · manager/);

    const off = await runCli(['user', 'disable', '--tenant', 'Acme', '--email', 'dev@acme.test', '--json'], opts);
    assert.is(off.code, 0, off.stderr);
    assert.is(json<{ disabled: boolean }>(off.stdout).disabled, true);
    assert.is((await dev.get('/settings')).status, 303, 'signed out');
    const login = new Client(server.url);
    await login.get('/login');
    assert.is((await login.post('/login', { email: 'dev@acme.test', password: 'a long password 1' })).status, 403);

    const on = await runCli(['user', 'enable', '--tenant', 'Acme', '--email', 'dev@acme.test'], opts);
    assert.is(on.code, 0, on.stderr);
    assert.match(on.stdout, /disabled: false/);
    await signIn(server, 'dev@acme.test', 'a long password 1');

    const reset = await runCli(['user', 'reset-link', '--tenant', 'Acme', '--email', 'dev@acme.test', '--json'], opts);
    assert.is(reset.code, 0, reset.stderr);
    const { link } = json<{ link: string }>(reset.stdout);
    assert.match(link, /^https:\/\/metrics\.acme\.test\/reset\/[\w-]{43}$/, 'at the public URL');
    const form = new Client(server.url);
    assert.is((await form.get(new URL(link).pathname)).status, 200);
    assert.is(
      (
        await form.post(new URL(link).pathname, {
          password: 'tulip lantern harbour',
          password_confirm: 'tulip lantern harbour',
        })
      ).status,
      303,
    );
    await signIn(server, 'dev@acme.test', 'tulip lantern harbour');

    const deleted = await runCli(['user', 'delete', '--tenant', 'Acme', '--email', 'dev@acme.test', '--json'], opts);
    assert.is(deleted.code, 0, deleted.stderr);
    assert.is(json<{ email: string }>(deleted.stdout).email, 'dev@acme.test');
    assert.is(await server.ctx.control.get(`SELECT 1 FROM users WHERE email = 'dev@acme.test'`), undefined);

    const gone = await runCli(['user', 'disable', '--tenant', 'Acme', '--email', 'dev@acme.test', '--json'], opts);
    assert.is(gone.code, 1);
    assert.match(json<{ error: string }>(gone.stderr).error, /no user "dev@acme\.test" in tenant Acme/);
    const last = await runCli(['user', 'role', '--tenant', 'Acme', '--email', ADMIN.email, '--role', 'viewer'], opts);
    assert.is(last.code, 1);
    assert.match(last.stderr, /last active admin/);
    const badRole = await runCli(['user', 'role', '--tenant', 'Acme', '--email', ADMIN.email, '--role', 'boss'], opts);
    assert.match(badRole.stderr, /--role: /);
    const actions = await server.ctx.control.all<{ action: string; actor: string }>(
      `SELECT action, actor FROM audit_log WHERE action IN ('user.role', 'user.disable', 'user.enable', 'user.reset_link', 'user.delete') ORDER BY occurred_at`,
    );
    assert.equal(
      actions,
      ['user.role', 'user.disable', 'user.enable', 'user.reset_link', 'user.delete'].map((action) => ({
        action,
        actor: 'cli',
      })),
    );
  } finally {
    await server.stop();
  }
});

s('on a data directory no server holds, the commands open it themselves', async () => {
  const dir = tempDir('am-people-cli');
  try {
    const opts = { dataDir: dir.path };
    assert.is((await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test', '--json'], opts)).code, 0);
    assert.is(
      (await runCli(['user', 'create', '--tenant', 'Acme', '--email', 'ops@acme.test', '--role', 'viewer'], opts)).code,
      0,
    );
    const off = await runCli(['user', 'disable', '--tenant', 'Acme', '--email', 'ops@acme.test', '--json'], opts);
    assert.is(off.code, 0, off.stderr);
    assert.is(json<{ disabled: boolean }>(off.stdout).disabled, true);
    const link = await runCli(
      ['user', 'reset-link', '--tenant', 'Acme', '--email', 'root@acme.test', '--public-url', 'http://box.lan:8080'],
      opts,
    );
    assert.is(link.code, 0, link.stderr);
    assert.match(link.stdout, /link: http:\/\/box\.lan:8080\/reset\/[\w-]{43}/);
  } finally {
    dir.remove();
  }
});

s('SMTP settings: --smtp-url needs --smtp-from, and a bad URL is refused without showing its password', () => {
  assert.equal(loadConfig({ 'smtp-url': 'smtp://u:p@mail.lan:25', 'smtp-from': 'agentmeter@acme.test' }, {}).smtp, {
    url: 'smtp://u:p@mail.lan:25',
    from: 'agentmeter@acme.test',
  });
  assert.equal(
    loadConfig({}, { AGENTMETER_SMTP_URL: 'smtps://mail.lan', AGENTMETER_SMTP_FROM: 'Metrics <m@acme.test>' }).smtp,
    { url: 'smtps://mail.lan', from: 'Metrics <m@acme.test>' },
  );
  assert.is(loadConfig({}, {}).smtp, null);
  assert.throws(
    () => loadConfig({ 'smtp-url': 'smtp://mail.lan' }, {}),
    (err: Error) => err instanceof ConfigError && /--smtp-from/.test(err.message),
  );
  assert.throws(
    () => loadConfig({ 'smtp-url': 'http://u:hunter2@mail.lan' }, {}),
    (err: Error) => err instanceof ConfigError && /--smtp-url/.test(err.message) && !err.message.includes('hunter2'),
  );
});

s.run();
