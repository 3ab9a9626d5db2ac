// Nothing acknowledged is lost: a server is killed (SIGKILL) in the middle of a stream of
// acknowledged writes; every acknowledged event is in the tenant's file afterwards.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase } from '../src/storage/duckdb.js';
import { freePort, ingestKey, ROOT, runCli, startTestServer, tempDir, waitFor } from './helpers.js';

test('SIGKILL during a stream of acknowledged hook posts loses none of them', async () => {
  const dir = tempDir('am-crash');
  const opts = { dataDir: dir.path };
  await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test', '--password-stdin'], {
    ...opts,
    stdin: 'setup password 123',
  });
  await runCli(['user', 'create', '--tenant', 'Acme', '--email', 'dev@acme.test', '--role', 'developer'], opts);
  const key = (
    JSON.parse(
      (
        await runCli(
          ['apikey', 'create', '--tenant', 'Acme', '--user', 'dev@acme.test', '--scopes', 'ingest', '--json'],
          opts,
        )
      ).stdout,
    ) as { key: string }
  ).key;

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/main.ts'),
      'serve',
      '--port',
      String(port),
      '--data-dir',
      dir.path,
      '--log-level',
      'error',
    ],
    { cwd: ROOT, stdio: 'ignore' },
  );
  const exited = new Promise((r) => child.once('exit', r));
  await waitFor(async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined), 'server start');

  const acked: string[] = [];
  let stop = false;
  let n = 0;
  const client = async () => {
    while (!stop) {
      const id = `toolu_${n++}`;
      const body = JSON.stringify({
        hook_event_name: 'PostToolUse',
        session_id: 'crash',
        tool_name: 'Bash',
        tool_use_id: id,
        duration_ms: 1,
      });
      try {
        const res = await fetch(`${url}/api/v1/hooks/claude-code`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body,
        });
        if (res.status === 200) acked.push(id);
      } catch {
        return; // the server is gone
      }
    }
  };
  const clients = Array.from({ length: 20 }, client);
  await waitFor(async () => (acked.length >= 300 ? true : undefined), '300 acknowledged posts');
  child.kill('SIGKILL');
  stop = true;
  await Promise.all(clients);
  await exited;

  const file = readdirSync(join(dir.path, 'tenants')).find((f) => f.endsWith('.duckdb'))!;
  const db = await openDatabase(join(dir.path, 'tenants', file));
  const stored = new Set(
    (await db.all<{ id: string }>(`SELECT tool_use_id AS id FROM events WHERE session_id = 'crash'`)).map((r) => r.id),
  );
  await db.close();
  const lost = acked.filter((id) => !stored.has(id));
  assert.ok(acked.length >= 300);
  assert.equal(lost, [], `${lost.length} of ${acked.length} acknowledged events lost`);
  dir.remove();
});

test('a storage fault under a running server answers 503 with Retry-After; the process stays up', async () => {
  const server = await startTestServer();
  try {
    const { key, tenantId } = await ingestKey(server);
    const post = () =>
      fetch(`${server.url}/api/v1/hooks/claude-code`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ hook_event_name: 'Stop', session_id: `s${Math.random()}` }),
      });
    assert.is((await post()).status, 200);
    // A real storage fault under the running server: its tenant database is closed.
    await (await server.ctx.tenantFiles.open(tenantId)).close();
    const res = await post();
    assert.is(res.status, 503);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    assert.is((await fetch(`${server.url}/healthz`)).status, 200, 'still alive');
  } finally {
    await server.stop().catch(() => undefined);
  }
});

test.run();
