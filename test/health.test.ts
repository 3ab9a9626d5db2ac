import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADMIN, setUp, signIn, startTestServer, tempDir } from './helpers.js';
import { loadMigrations } from '../src/storage/migrate.js';

test('healthz and readyz answer JSON', async () => {
  const server = await startTestServer();
  try {
    const health = await fetch(`${server.url}/healthz`);
    assert.is(health.status, 200);
    assert.is(((await health.json()) as { status: string }).status, 'ok');
    const ready = await fetch(`${server.url}/readyz`);
    assert.is(ready.status, 200);
    assert.equal(await ready.json(), {
      status: 'ready',
      checks: { control_db: 'ok', data_dir: 'ok', tenants: {} },
      aggregation: { tenants: 0, pending_events: 0, max_lag_seconds: 0, failing_tenants: 0, set_aside_events: 0 },
    });
  } finally {
    await server.stop();
  }
});

/** Runs a command (mount, umount); the reason it failed, or null. */
function run(command: string, args: string[]): string | null {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) return result.error.message;
  return result.status === 0
    ? null
    : `${command} ${args.join(' ')}: ${(result.stderr || `exit ${result.status}`).trim()}`;
}

/** Prints why a test is skipped where it runs: it must not pass silently. */
const skip = (name: string, why: string) => console.log(`\n  SKIPPED "${name}": ${why}`);

const readOnlyName = 'readyz reports a data directory that cannot be written';
test(readOnlyName, async () => {
  const server = await startTestServer();
  // Root writes through permissions (CI runs as root): there, a read-only bind mount of the
  // directory over itself. The server's open files stay writable beneath it.
  const asRoot = process.getuid?.() === 0;
  const refused = asRoot ? run('mount', ['--bind', server.dataDir, server.dataDir]) : null;
  if (refused) {
    await server.stop();
    return skip(readOnlyName, `running as root, and a read-only bind mount is not permitted here (${refused})`);
  }
  try {
    if (asRoot) assert.is(run('mount', ['-o', 'remount,ro,bind', server.dataDir]), null, 'remounted read-only');
    else chmodSync(server.dataDir, 0o500);
    const ready = await fetch(`${server.url}/readyz`);
    assert.is(ready.status, 503);
    const body = (await ready.json()) as { checks: { data_dir: string; control_db: string } };
    assert.match(
      body.checks.data_dir,
      asRoot ? /^failed: cannot write \(EROFS\)$/ : /^failed: cannot write \(EACCES\)$/,
    );
    assert.is(body.checks.control_db, 'ok');
  } finally {
    if (asRoot) run('umount', [server.dataDir]);
    else chmodSync(server.dataDir, 0o700);
  }
  try {
    assert.is((await fetch(`${server.url}/readyz`)).status, 200, 'ready again once it can be written');
  } finally {
    await server.stop();
  }
});

const fullName = 'readyz reports a full disk, which permissions alone do not show';
test(fullName, async () => {
  if (process.getuid?.() !== 0) return skip(fullName, 'mounting a small tmpfs needs root');
  const dir = tempDir('am-full-disk');
  const refused = run('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'tmpfs', dir.path]);
  if (refused) {
    dir.remove();
    return skip(fullName, `mounting a tmpfs is not permitted here (${refused})`);
  }
  let server: Awaited<ReturnType<typeof startTestServer>> | null = null;
  const filler = join(dir.path, 'filler');
  try {
    server = await startTestServer({ dataDir: dir.path });
    assert.is((await fetch(`${server.url}/readyz`)).status, 200, 'ready with room to spare');
    fill(filler);
    const ready = await fetch(`${server.url}/readyz`);
    assert.is(ready.status, 503);
    const body = (await ready.json()) as { checks: { data_dir: string } };
    assert.is(body.checks.data_dir, 'failed: cannot write (ENOSPC)');
    rmSync(filler);
    assert.is((await fetch(`${server.url}/readyz`)).status, 200, 'ready again once there is room');
  } finally {
    rmSync(filler, { force: true });
    await server?.stop();
    run('umount', [dir.path]);
    dir.remove();
  }
});

/** Writes to `path` until the file system has not a byte left. */
function fill(path: string) {
  const fd = openSync(path, 'w');
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

test('one log line per request with method, path, status, duration and tenant; no secrets', async () => {
  const server = await startTestServer();
  try {
    const admin = await setUp(server);
    await admin.get('/settings/api-keys');
    const created = await admin.post('/settings/api-keys', { name: 'k', scopes: 'read' });
    const key = /<code class="secret">([^<]+)</.exec(await created.text())![1]!;
    await fetch(`${server.url}/api/v1/me?token=sekrit-in-query`, { headers: { authorization: `Bearer ${key}` } });

    const requests = server.logs.filter((l) => l.msg === 'request');
    const me = requests.find((l) => l.path === '/api/v1/me')!;
    assert.ok(me, 'request logged');
    assert.is(me.method, 'GET');
    assert.is(me.status, 200);
    assert.type(me.duration_ms, 'number');
    assert.match(String(me.tenant), /^t_/);
    assert.type(me.request_id, 'string');
    assert.is(requests.filter((l) => l.request_id === me.request_id).length, 1, 'exactly one line');
    const everything = JSON.stringify(server.logs);
    for (const secret of [key, ADMIN.password, 'sekrit-in-query', admin.cookies.get('am_session')!]) {
      assert.not.ok(everything.includes(secret), 'secret not in the logs');
    }
  } finally {
    await server.stop();
  }
});

test('an unexpected error is a 500 with a request id; details only in the log; the process goes on', async () => {
  const server = await startTestServer();
  try {
    const admin = await setUp(server);
    // A real fault: the control database goes away under the running server.
    await server.ctx.control.close();
    const res = await admin.request('/api/v1/me');
    assert.is(res.status, 500);
    const body = (await res.json()) as { error: string; request_id: string };
    assert.is(body.error, 'internal error');
    assert.match(body.request_id, /^[0-9a-f-]{36}$/);
    assert.is(res.headers.get('x-request-id'), body.request_id);
    assert.not.ok(JSON.stringify(body).includes('closed'), 'no internals in the answer');
    const logged = server.logs.find((l) => l.msg === 'unhandled error' && l.request_id === body.request_id);
    assert.match(String(logged?.error), /is closed/);

    assert.is((await fetch(`${server.url}/healthz`)).status, 200, 'still alive');
    assert.is((await fetch(`${server.url}/readyz`)).status, 503, 'but not ready');
  } finally {
    await server.ctx.tenantFiles.closeAll();
    await server.stop().catch(() => undefined);
  }
});

test('unknown paths: 404 JSON for the API, a page for browsers', async () => {
  const server = await startTestServer();
  try {
    const api = await fetch(`${server.url}/api/v1/nothing`);
    assert.is(api.status, 404);
    assert.equal(await api.json(), { error: 'not found' });
    const page = await fetch(`${server.url}/nothing`, { headers: { accept: 'text/html' } });
    assert.is(page.status, 404);
    assert.match(await page.text(), /There is no page here/);
    const asset = await fetch(`${server.url}/public/app.css`);
    assert.is(asset.status, 200);
    assert.match(asset.headers.get('content-type') ?? '', /text\/css/);
    assert.is((await fetch(`${server.url}/public/../package.json`)).status, 404);
  } finally {
    await server.stop();
  }
});

test('a restart keeps people and keys, and runs no migration twice', async () => {
  const dir = tempDir('am-restart');
  const first = await startTestServer({ dataDir: dir.path });
  const admin = await setUp(first);
  await admin.get('/settings/api-keys');
  const key = /<code class="secret">([^<]+)</.exec(
    await (await admin.post('/settings/api-keys', { name: 'k', scopes: 'read' })).text(),
  )![1]!;
  assert.ok(first.logs.some((l) => l.msg === 'migrated control database'));
  await first.stop();

  const second = await startTestServer({ dataDir: dir.path });
  try {
    assert.not.ok(
      second.logs.some((l) => l.msg === 'migrated control database'),
      'nothing to migrate the second time',
    );
    const versions = await second.ctx.control.all<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    assert.equal(
      versions.map((v) => v.version),
      loadMigrations('control').map((m) => m.version),
      'each recorded once',
    );
    const tenantId = (await second.ctx.control.get<{ id: string }>('SELECT id FROM tenants'))!.id;
    const tenantFile = await second.ctx.tenantFiles.open(tenantId);
    assert.equal(
      (await tenantFile.all<{ version: number }>('SELECT version FROM schema_migrations')).map((v) => v.version),
      loadMigrations('tenant').map((m) => m.version),
    );
    await signIn(second, ADMIN.email, ADMIN.password);
    assert.is(
      (await fetch(`${second.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } })).status,
      200,
      'key still valid',
    );
  } finally {
    await second.stop();
    dir.remove();
  }
});

test.run();
