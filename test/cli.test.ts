import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tenantPath } from '../src/storage/datadir.js';
import { loadConfig } from '../src/config.js';
import { expectedVersions, freePort, ROOT, runCli, setUp, signIn, smallDisk, tempDir, waitFor } from './helpers.js';

const json = <T>(out: string) => JSON.parse(out) as T;
type Tenant = { id: string; name: string };

const offline = suite<{ dir: ReturnType<typeof tempDir> }>('CLI on a data directory no server holds');
offline.before.each((ctx) => {
  ctx.dir = tempDir('am-cli');
});
offline.after.each((ctx) => ctx.dir.remove());

offline('setup on a full disk prints the password it made, and warns that closing failed', async () => {
  const disk = smallDisk(3);
  if (typeof disk === 'string') {
    console.log(`  SKIPPED full disk setup test: ${disk}`);
    return;
  }
  try {
    const data = join(disk.path, 'data');
    const setup = await runCli(['setup', '--name', 'Full', '--email', 'root@full.test', '--json'], { dataDir: data });
    assert.is(setup.code, 0, setup.stderr);
    assert.match(setup.stderr, /warning: setup was done, but closing the data directory failed \(.*No space left/s);
    const { password } = json<{ password: string }>(setup.stdout);
    assert.ok(password.length >= 20, 'the password, shown once');
    // With room again, what the command wrote is there: the person, and a backup of every file.
    spawnSync('mount', ['-o', 'remount,size=64m', disk.path]);
    const users = await runCli(['user', 'list', '--tenant', 'Full', '--json'], { dataDir: data });
    assert.equal(
      json<{ email: string }[]>(users.stdout).map((u) => u.email),
      ['root@full.test'],
      users.stderr,
    );
    assert.is((await runCli(['backup', '--to', join(disk.path, 'b')], { dataDir: data })).code, 0);
  } finally {
    disk.remove();
  }
});

offline('setup, tenants, users and keys with --json', async ({ dir }) => {
  const opts = { dataDir: dir.path };
  const setup = await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test', '--json'], opts);
  assert.is(setup.code, 0, setup.stderr);
  const done = json<{ tenant: Tenant; user: { role: string }; password: string }>(setup.stdout);
  assert.is(done.user.role, 'super_admin');
  assert.ok(done.password.length >= 20, 'generated password printed once');
  assert.is((await runCli(['setup', '--name', 'Again', '--email', 'x@acme.test'], opts)).code, 1, 'setup only once');

  const created = await runCli(['tenant', 'create', '--name', 'Beta', '--json'], opts);
  assert.is(created.code, 0, created.stderr);
  const beta = json<Tenant>(created.stdout);
  assert.match(beta.id, /^t_[a-z2-7]{20}$/);
  assert.ok(existsSync(tenantPath(dir.path, beta.id)), 'tenant file made');

  const listed = json<Tenant[]>((await runCli(['tenant', 'list', '--json'], opts)).stdout);
  assert.equal(listed.map((t) => t.name).sort(), ['Acme', 'Beta']);

  const user = await runCli(
    [
      'user',
      'create',
      '--tenant',
      'Beta',
      '--email',
      'Dev@Beta.test',
      '--role',
      'developer',
      '--password-stdin',
      '--json',
    ],
    { ...opts, stdin: 'a password from stdin\n' },
  );
  assert.is(user.code, 0, user.stderr);
  const dev = json<{ id: string; email: string; password?: string }>(user.stdout);
  assert.is(dev.email, 'dev@beta.test');
  assert.is(dev.password, undefined, 'a password given is not echoed');

  const key = await runCli(
    ['apikey', 'create', '--tenant', beta.id, '--user', 'dev@beta.test', '--scopes', 'ingest,read', '--json'],
    opts,
  );
  assert.is(key.code, 0, key.stderr);
  const k = json<{ key: string; scopes: string[] }>(key.stdout);
  assert.match(k.key, /^amk_/);
  assert.equal(k.scopes, ['ingest', 'read']);

  const human = await runCli(['tenant', 'list'], opts);
  assert.match(human.stdout, /name: Beta/);

  const deleted = await runCli(['tenant', 'delete', '--tenant', 'Beta', '--json'], opts);
  assert.is(deleted.code, 0, deleted.stderr);
  assert.not.ok(existsSync(tenantPath(dir.path, beta.id)), 'tenant file removed');
  assert.equal(
    json<Tenant[]>((await runCli(['tenant', 'list', '--json'], opts)).stdout).map((t) => t.name),
    ['Acme'],
  );
});

offline('a host clock in another zone: what the server stamps itself is still UTC', async ({ dir }) => {
  // DuckDB casts now() to a TIMESTAMP in the session's zone, which it takes from the host.
  const before = Date.now();
  const setup = await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test', '--json'], {
    dataDir: dir.path,
    env: { TZ: 'Asia/Kolkata' },
  });
  assert.is(setup.code, 0, setup.stderr);
  const after = Date.now();
  const instance = await DuckDBInstance.create(join(dir.path, 'control.duckdb'));
  try {
    const c = await instance.connect();
    const stamps = await (
      await c.run(`SELECT what, ms::DOUBLE AS ms FROM (SELECT 'tenant' AS what, epoch_ms(created_at) AS ms FROM tenants
        UNION ALL SELECT 'user', epoch_ms(created_at) FROM users
        UNION ALL SELECT 'audit: ' || action, epoch_ms(occurred_at) FROM audit_log
        UNION ALL SELECT 'migration ' || version, epoch_ms(applied_at) FROM schema_migrations)`)
    ).getRowObjectsJS();
    assert.ok(stamps.length >= 4, JSON.stringify(stamps));
    for (const { what, ms } of stamps) {
      // 5:30 off, or more, when read in the host's zone; a second's margin for the clocks' rounding.
      assert.ok(
        Number(ms) >= before - 1000 && Number(ms) <= after + 1000,
        `${what}: ${new Date(Number(ms)).toISOString()}`,
      );
    }
    c.closeSync();
  } finally {
    instance.closeSync();
  }
});

offline('version prints the app, Node and DuckDB versions without touching the data directory', async ({ dir }) => {
  const res = await runCli(['version', '--json'], { dataDir: dir.path });
  assert.is(res.code, 0, res.stderr);
  const { app, duckdb } = expectedVersions();
  assert.equal(json(res.stdout), { app, node: process.versions.node, duckdb });
  const line = await runCli(['version'], { dataDir: dir.path });
  assert.is(line.stdout, `agentmeter ${app} (Node ${process.versions.node}, DuckDB ${duckdb})\n`);
  assert.is((await runCli(['--version'], { dataDir: dir.path })).stdout, line.stdout, 'the flag too');
  assert.not.ok(existsSync(join(dir.path, 'control.duckdb')), 'version opened the data directory');
});

offline('errors exit non-zero with a clear message', async ({ dir }) => {
  const opts = { dataDir: dir.path };
  // A mistyped data directory is not made into a new, empty appliance (nor backed up as one).
  const typo = join(dir.path, 'dta');
  for (const args of [
    ['tenant', 'list'],
    ['backup', '--to', join(dir.path, 'backup')],
  ]) {
    const res = await runCli([...args, '--json'], { dataDir: typo });
    assert.is(res.code, 1, args.join(' '));
    assert.match(
      json<{ error: string }>(res.stderr).error,
      /^--data-dir: .*dta holds no appliance \(no control\.duckdb\)/,
    );
  }
  assert.not.ok(existsSync(typo), 'nothing made there');
  // A control database DuckDB cannot open (here a directory in its place): one line, no stack.
  const broken = join(dir.path, 'broken');
  mkdirSync(join(broken, 'control.duckdb'), { recursive: true, mode: 0o700 }); // 0755 would be narrowed, and logged
  const open = await runCli(['tenant', 'list'], { dataDir: broken });
  assert.is(open.code, 1);
  assert.match(open.stderr, /^agentmeter: IO Error: .*control\.duckdb.*\n$/);
  assert.not.ok(existsSync(join(dir.path, 'backup')), 'no backup of nothing');
  assert.is((await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test', '--json'], opts)).code, 0);
  const cases: [string[], RegExp][] = [
    [['tenant', 'create'], /--name: /],
    [['user', 'create', '--tenant', 'nope', '--email', 'a@b.test', '--role', 'developer'], /no tenant "nope"/],
    [['user', 'create', '--tenant', 'x', '--email', 'a@b.test', '--role', 'king'], /--role: /],
    [['apikey', 'create', '--tenant', 'x', '--user', 'a', '--scopes', 'write'], /--scopes/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['tenant', 'list', '--colour'], /Unknown option '--colour'/],
    [['tenant', 'list', '--port', 'eighty'], /--port/],
  ];
  for (const [args, message] of cases) {
    const res = await runCli([...args, '--json'], opts);
    assert.is(res.code, 1, args.join(' '));
    assert.is(res.stdout, '', 'nothing on stdout');
    assert.match(json<{ error: string }>(res.stderr).error, message, args.join(' '));
  }
  const plain = await runCli(['tenant', 'delete', '--tenant', 'ghost'], opts);
  assert.is(plain.code, 1);
  assert.match(plain.stderr, /^agentmeter: no tenant "ghost"\n$/);
});

offline('`npm start` stops the server on SIGTERM, as a service manager sends it', async ({ dir }) => {
  const port = await freePort();
  const npm = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: { ...process.env, AGENTMETER_DATA_DIR: dir.path, AGENTMETER_PORT: String(port), AGENTMETER_LOG_LEVEL: 'warn' },
    stdio: 'ignore',
    detached: true, // a group of its own, for the cleanup below
  });
  try {
    const exited = new Promise((r) => npm.once('exit', r));
    const url = `http://127.0.0.1:${port}/healthz`;
    await waitFor(async () => ((await fetch(url).catch(() => null))?.ok ? true : undefined), 'server start');
    npm.kill('SIGTERM'); // npm's own process, not the server's: a shell between them dropped the signal
    await exited;
    await waitFor(
      async () => (existsSync(join(dir.path, 'agentmeter.lock')) ? undefined : true),
      'the server stopping',
    );
    assert.is(await fetch(url).catch(() => 'refused'), 'refused');
  } finally {
    try {
      process.kill(-npm.pid!, 'SIGKILL'); // whatever a failure left running
    } catch {}
  }
});

offline("what the appliance writes is its user's alone, in a data directory made 0755 beforehand", async ({ dir }) => {
  const data = join(dir.path, 'data');
  mkdirSync(join(data, 'tenants'), { recursive: true });
  chmodSync(data, 0o755); // a Docker volume, or a directory made by hand; the shell's umask 022
  const umask = process.umask(0o022); // the child's, as a login shell's usually is
  const setup = await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test'], { dataDir: data }).finally(() =>
    process.umask(umask),
  );
  assert.is(setup.code, 0, setup.stderr);
  const written = readdirSync(data, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.duckdb'));
  assert.ok(written.length >= 2, `control and the tenant: ${written.join(', ')}`);
  for (const f of written) assert.is((statSync(join(data, f)).mode & 0o777).toString(8), '600', f);
});

offline('audit list: the log newest first, filtered as the API filters it', async ({ dir }) => {
  const cli = (...args: string[]) => runCli(args, { dataDir: dir.path });
  assert.is((await cli('setup', '--name', 'Acme', '--email', 'root@acme.test')).code, 0);
  assert.is((await cli('tenant', 'create', '--name', 'Beta')).code, 0);
  const all = await cli('audit', 'list', '--json');
  assert.is(all.code, 0, all.stderr);
  const entries = JSON.parse(all.stdout) as { action: string; tenant: string; detail: unknown }[];
  assert.equal(
    entries.map((e) => e.action),
    ['tenant.create', 'setup'],
  );
  assert.equal(entries[0]!.detail, { name: 'Beta' });
  const beta = await cli('audit', 'list', '--tenant', 'Beta', '--action', 'setup', '--json');
  assert.equal(JSON.parse(beta.stdout), []);
  const bad = await cli('audit', 'list', '--since', '2026-02-31');
  assert.equal([bad.code, bad.stderr.trim()], [1, 'agentmeter: --since: is not a real date']);
  const before = await cli('audit', 'list', '--until', '2020-01-01', '--since', '2021-01-01');
  assert.is(before.stderr.trim(), 'agentmeter: --until: must not be before --since');
  // A flag the command does not take is refused, not dropped (the log would come back unfiltered).
  const from = await cli('audit', 'list', '--from', '2030-01-01');
  assert.equal(
    [from.code, from.stderr.trim()],
    [1, 'agentmeter: --from: audit list does not take it (--since: the CLI reads --from as a path)'],
  );
  const email = await cli('tenant', 'list', '--email', 'x@acme.test');
  assert.equal([email.code, email.stderr.trim()], [1, 'agentmeter: --email: tenant list does not take it']);
  assert.equal(JSON.parse((await cli('audit', 'list', '--limit', '1', '--page', '2', '--json')).stdout).length, 1);
});

offline.run();

const online = suite<{ dir: ReturnType<typeof tempDir>; server: ChildProcess; url: string }>(
  'CLI and a running server',
);
online.before.each(async (ctx) => {
  ctx.dir = tempDir('am-srv');
  const port = await freePort();
  ctx.url = `http://127.0.0.1:${port}`;
  ctx.server = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/main.ts'),
      'serve',
      '--port',
      String(port),
      '--data-dir',
      ctx.dir.path,
      '--log-level',
      'warn',
    ],
    { cwd: ROOT, stdio: 'ignore' },
  );
  await waitFor(async () => ((await fetch(`${ctx.url}/healthz`)).ok ? true : undefined), 'server start');
});
online.after.each(async (ctx) => {
  const exited = new Promise((r) => ctx.server.once('exit', r));
  ctx.server.kill('SIGTERM');
  await exited;
  assert.not.ok(existsSync(join(ctx.dir.path, 'agentmeter.lock')), 'lock released on SIGTERM');
  ctx.dir.remove();
});

online('admin commands go through the running server, which sees their effect at once', async ({ dir, url }) => {
  const opts = { dataDir: dir.path };
  const setup = await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test', '--password-stdin', '--json'], {
    ...opts,
    stdin: 'setup password 123',
  });
  assert.is(setup.code, 0, setup.stderr);
  const tenant = json<Tenant>((await runCli(['tenant', 'create', '--name', 'Live', '--json'], opts)).stdout);
  const user = await runCli(
    ['user', 'create', '--tenant', tenant.id, '--email', 'dev@live.test', '--role', 'developer', '--json'],
    opts,
  );
  assert.is(user.code, 0, user.stderr);
  const password = json<{ password: string }>(user.stdout).password;
  const key = json<{ key: string }>(
    (
      await runCli(
        ['apikey', 'create', '--tenant', 'Live', '--user', 'dev@live.test', '--scopes', 'read', '--json'],
        opts,
      )
    ).stdout,
  ).key;

  const me = await fetch(`${url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
  assert.is(me.status, 200);
  assert.is(((await me.json()) as { tenant_file: { tenant_id: string } }).tenant_file.tenant_id, tenant.id);
  await signIn({ url }, 'dev@live.test', password); // the generated password works

  const error = await runCli(
    ['user', 'create', '--tenant', 'Live', '--email', 'dev@live.test', '--role', 'viewer', '--json'],
    opts,
  );
  assert.is(error.code, 1);
  assert.match(json<{ error: string }>(error.stderr).error, /already exists/);

  assert.is((await runCli(['tenant', 'delete', '--tenant', 'Live'], opts)).code, 0);
  assert.not.ok(existsSync(tenantPath(dir.path, tenant.id)));
  assert.is((await fetch(`${url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } })).status, 401);
});

online('a backup the server may not write says who writes it', async ({ dir }) => {
  const opts = { dataDir: dir.path };
  assert.is((await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test', '--json'], opts)).code, 0);
  // Another command given --to (which it does not take) is refused for that, not judged by a backup's manifest.
  const listed = await runCli(['tenant', 'list', '--to', join(dir.path, 'nowhere'), '--json'], opts);
  assert.equal([listed.code, JSON.parse(listed.stderr)], [1, { error: '--to: tenant list does not take it' }]);
  const res = await runCli(['backup', '--to', '/sys/agentmeter-backup', '--json'], opts); // EPERM, even for root
  assert.is(res.code, 1);
  assert.match(
    json<{ error: string }>(res.stderr).error,
    /^cannot create \/sys\/agentmeter-backup: permission denied \(EPERM\); the server writes it itself, as its user and with its own view of the file system/,
  );
});

online(
  '`serve` from source answers every script and style sheet a page links to (no copy step needed)',
  async ({ url }) => {
    const client = await setUp({ url });
    const page = await (await client.get('/')).text();
    const linked = [...page.matchAll(/(?:src|href)="(\/public\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(
      linked.filter((p) => p.startsWith('/public/vendor/')).length >= 4,
      `the page links the vendored libraries: ${linked.join(', ')}`,
    );
    for (const path of linked) {
      const res = await fetch(`${url}${path}`);
      assert.is(res.status, 200, path);
      assert.ok((await res.arrayBuffer()).byteLength > 100, `${path} has content`);
    }
  },
);

online('a second server on the same data directory stops with a clear message', async ({ dir }) => {
  const second = await runCli(['serve', '--port', String(await freePort())], { dataDir: dir.path });
  assert.is(second.code, 1);
  assert.match(second.stderr, /data directory .* is in use by another agentmeter process \(pid \d+/);
});

online.run();

const config = suite('configuration at start');
config('an invalid setting stops the start with one line naming it', async () => {
  const dir = tempDir('am-cfg');
  for (const [args, env, pattern] of [
    [['--port', '70000'], {}, /^agentmeter: invalid setting --port="70000": .*\n$/],
    [['--port='], {}, /^agentmeter: invalid setting --port="": must be a port number \(0: any free port\)\n$/],
    [[], { AGENTMETER_PORT: ' ' }, /^agentmeter: invalid setting AGENTMETER_PORT=" ": must be a port number/],
    [[], { AGENTMETER_PORT: '80 80' }, /^agentmeter: invalid setting AGENTMETER_PORT="80 80": must be a port number/],
    [[], { AGENTMETER_LOG_LEVEL: 'loud' }, /^agentmeter: invalid setting AGENTMETER_LOG_LEVEL="loud": .*\n$/],
    [
      ['--public-url', 'metrics.local'],
      {},
      /^agentmeter: invalid setting --public-url="metrics.local": not an absolute URL\n$/,
    ],
  ] as const) {
    const res = await runCli(['serve', ...args], { dataDir: dir.path, env });
    assert.is(res.code, 1);
    assert.match(res.stderr, pattern);
  }
  // Spaces around a port (an env file's) are no part of it.
  assert.is(loadConfig({ 'data-dir': dir.path }, { AGENTMETER_PORT: ' 8081 ' }).port, 8081);
  // A host that does not resolve, and a data directory the file system refuses: one line too.
  const host = await runCli(['serve', '--host', 'nothere.invalid', '--port', '0'], { dataDir: dir.path });
  assert.is(host.code, 1);
  assert.match(
    host.stderr,
    /^agentmeter: cannot listen on host nothere\.invalid: no such host name \(--host \/ AGENTMETER_HOST\)\n$/m,
  );
  const file = join(dir.path, 'a-file');
  writeFileSync(file, 'not a directory');
  for (const command of [
    ['serve', '--port', '0'],
    ['setup', '--name', 'A', '--email', 'a@a.test'],
  ]) {
    const res = await runCli(command, { dataDir: join(file, 'data') });
    assert.is(res.code, 1);
    assert.match(res.stderr, /^agentmeter: ENOTDIR: not a directory, mkdir '.*a-file\/data\/tenants'\n$/, command[0]);
  }
  dir.remove();
});
config.run();
