// A DuckDB fatal error (an fsync that failed with EIO) invalidates the one instance every file
// is attached to. The appliance starts a new one in the same process: the other tenants, the
// control database and sign-in answer again, and no acknowledged event is lost. The failing
// disk is an ext4 file system on a loop device cut short under its files (root only).
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { openDatabase } from '../src/storage/duckdb.js';
import { tenantPath } from '../src/storage/datadir.js';
import { ADMIN, ingestKey, signIn, smallDisk, startTestServer, tempDir, type TestServer } from './helpers.js';

const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim() || r.error}`);
  return r.stdout.trim();
};

type FaultyDisk = { mnt: string; fail(): void; repair(): void; remove(): void };

/**
 * A 64 MiB ext4 file system on a loop device, or why there cannot be one. `fail` keeps a copy
 * of the image, then cuts the device to 8 MiB: the file system's journal lies past the cut, so
 * every later fsync on it fails with EIO (DuckDB: "FATAL Error: fsync failed!"). `repair`
 * puts the copy back, as a disk that lost its last writes.
 */
function faultyDisk(): FaultyDisk | string {
  if (process.getuid?.() !== 0) return 'needs root for a loop device';
  const dir = tempDir('am-faulty');
  const img = join(dir.path, 'img');
  const mnt = join(dir.path, 'mnt');
  mkdirSync(mnt);
  let loop = '';
  const attach = () => {
    loop = sh('losetup', ['-f', '--show', img]);
    sh('mount', [loop, mnt]);
  };
  const detach = () => {
    spawnSync('umount', [mnt]).status === 0 || spawnSync('umount', ['-l', mnt]);
    spawnSync('losetup', ['-d', loop]);
  };
  try {
    sh('truncate', ['-s', '64M', img]);
    sh('mkfs.ext4', ['-q', '-F', img]);
    attach();
  } catch (err) {
    dir.remove();
    return `no loop device: ${(err as Error).message}`;
  }
  return {
    mnt,
    fail() {
      sh('sync', []);
      copyFileSync(img, `${img}.saved`);
      sh('truncate', ['-s', '8M', img]);
      sh('losetup', ['-c', loop]);
    },
    repair() {
      detach();
      renameSync(`${img}.saved`, img);
      attach();
    },
    remove() {
      detach();
      dir.remove();
    },
  };
}

const hook = (server: TestServer, key: string, prompt: string) =>
  fetch(`${server.url}/api/v1/hooks/claude-code`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ session_id: 's-fatal', hook_event_name: 'UserPromptSubmit', prompt }),
  });

const readyz = async (server: TestServer) =>
  (await (await fetch(`${server.url}/readyz`)).json()) as {
    checks: { control_db: string; tenants: Record<string, string> };
  };

/** Events stored in a tenant's file, read with the server stopped. */
async function storedPrompts(dataDir: string, tenantId: string): Promise<number> {
  const db = await openDatabase(tenantPath(dataDir, tenantId));
  try {
    return (await db.get<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM events WHERE session_id = 's-fatal'`))!.n;
  } finally {
    await db.close();
  }
}

test('a DuckDB fatal error on one tenant: the others, sign-in and ingest answer again, nothing acknowledged lost', async () => {
  const disk = faultyDisk();
  if (typeof disk === 'string') {
    console.log(`  SKIPPED DuckDB fatal error test: ${disk}`);
    return;
  }
  const data = tempDir('am-fatal-data');
  let server: TestServer | null = null;
  try {
    // Two tenants; the failing one's file (and its WAL) on the faulty disk, its journal on the good one.
    server = await startTestServer({ dataDir: data.path });
    const failing = await ingestKey(server);
    const beta = (await runCommand(server.ctx, 'tenant create', { name: 'Beta' })) as { id: string };
    await runCommand(server.ctx, 'user create', {
      tenant: beta.id,
      email: 'dev@beta.test',
      role: 'developer',
      password: 'beta password 1',
    });
    const other = {
      tenantId: beta.id,
      ...((await runCommand(server.ctx, 'apikey create', {
        tenant: beta.id,
        user: 'dev@beta.test',
        scopes: 'ingest,read',
      })) as { key: string }),
    };
    await server.stop();
    const path = tenantPath(data.path, failing.tenantId);
    copyFileSync(path, join(disk.mnt, 'f.duckdb'));
    rmSync(path);
    symlinkSync(join(disk.mnt, 'f.duckdb'), path);
    symlinkSync(join(disk.mnt, 'f.duckdb.wal'), `${path}.wal`);

    server = await startTestServer({ dataDir: data.path });
    // No checkpoint by the worker (a failed one invalidates the file alone), and a clock that
    // stands still: the failing file waits before it is attached again, and so fails no other.
    await server.ctx.aggregator.stop();
    const t0 = Date.now();
    server.ctx.now = () => new Date(t0);
    const acked = { failing: 0, other: 0 };
    const send = async (who: 'failing' | 'other', prompt: string) => {
      const res = await hook(server!, (who === 'failing' ? failing : other).key, prompt);
      if (res.status === 200) acked[who]++;
      return res;
    };
    for (let i = 0; i < 3; i++) {
      assert.is((await send('failing', `before ${i}`)).status, 200);
      assert.is((await send('other', `before ${i}`)).status, 200);
    }
    await server.ctx.ingest.flushAll();

    disk.fail();
    // Journaled (acknowledged); applying it fails with DuckDB's fatal error.
    assert.is((await send('failing', 'the fatal one')).status, 200);
    await server.ctx.ingest.flushAll();

    // The failing tenant's reads: 503 with Retry-After while its file waits to be attached again.
    const refused = await fetch(`${server.url}/api/v1/sessions?range=30d`, {
      headers: { authorization: `Bearer ${failing.key}` },
    });
    assert.is(refused.status, 503, await refused.clone().text());
    assert.ok(Number(refused.headers.get('retry-after')) >= 1, 'Retry-After');
    // Meanwhile and after: the other tenant's ingest is acknowledged.
    assert.is((await send('other', 'during')).status, 200);
    let checks = await readyz(server);
    for (let i = 0; i < 50 && (checks.checks.control_db !== 'ok' || checks.checks.tenants[beta.id] !== 'ok'); i++)
      checks = await readyz(server);
    assert.is(checks.checks.control_db, 'ok', 'the control database answers again');
    assert.is(checks.checks.tenants[beta.id], 'ok', "the other tenant's file answers again");

    assert.is((await send('other', 'after')).status, 200, 'ingest');
    const res = await fetch(`${server.url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${other.key}` },
      body: JSON.stringify({
        metrics: ['events'],
        from: new Date(t0 - 3_600_000).toISOString(),
        to: new Date(t0 + 3_600_000).toISOString(),
      }),
    });
    assert.is(res.status, 200, 'a read');
    assert.is(Number(((await res.json()) as { rows: { events: number }[] }).rows[0]!.events), acked.other);
    await signIn(server, ADMIN.email, ADMIN.password);
    const fatal = server.logs.filter((l) => l.msg === 'DuckDB failed and is started again');
    assert.is(fatal.length, 1, 'logged once');
    assert.match(String(fatal[0]!.error), /fsync failed/, 'with the original cause');

    // The failing tenant's disk comes back as it was before the cut: its journal holds the rest.
    await server.stop();
    server = null;
    disk.repair();
    server = await startTestServer({ dataDir: data.path });
    await server.stop();
    server = null;
    assert.is(
      await storedPrompts(data.path, failing.tenantId),
      acked.failing,
      'every acknowledged event, failing tenant',
    );
    assert.is(await storedPrompts(data.path, beta.id), acked.other, 'every acknowledged event, other tenant');
  } finally {
    await server?.stop().catch(() => undefined);
    disk.remove();
    data.remove();
  }
});

test('a checkpoint that failed on a full disk: the file DuckDB invalidated is attached again once there is room', async () => {
  const disk = smallDisk(64);
  if (typeof disk === 'string') {
    console.log(`  SKIPPED invalidated file test: ${disk}`);
    return;
  }
  let server: TestServer | null = null;
  try {
    server = await startTestServer({ dataDir: disk.path });
    await server.ctx.aggregator.stop(); // the test checkpoints itself
    const { key, tenantId } = await ingestKey(server);
    let acked = 0;
    for (let i = 0; i < 3; i++) if ((await hook(server, key, `before ${i}`)).status === 200) acked++;
    await server.ctx.ingest.flushAll();

    const filler = join(disk.path, 'filler');
    for (const size of [1 << 20, 4096])
      try {
        for (;;) appendFileSync(filler, Buffer.alloc(size, 1));
      } catch (err) {
        assert.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
      }
    const db = await server.ctx.tenantFiles.open(tenantId);
    const failed = await db.run('CHECKPOINT').then(
      () => null,
      (err: Error) => err,
    );
    assert.ok(failed, 'the checkpoint failed for want of room');
    rmSync(filler);

    assert.is((await hook(server, key, 'after')).status, 200);
    acked++;
    const res = await fetch(`${server.url}/api/v1/sessions?range=30d`, { headers: { authorization: `Bearer ${key}` } });
    assert.is(res.status, 200, await res.clone().text());
    await server.ctx.ingest.flushAll();
    const stored = await db.get<{ n: number }>(
      `SELECT count(*)::INTEGER AS n FROM events WHERE session_id = 's-fatal'`,
    );
    assert.is(stored!.n, acked, 'every acknowledged event stored, same process');
    assert.ok(
      server.logs.some((l) => l.msg === 'DuckDB invalidated a file; it is attached again'),
      'logged with its cause',
    );
  } finally {
    await server?.stop().catch(() => undefined);
    disk.remove();
  }
});

test.run();
