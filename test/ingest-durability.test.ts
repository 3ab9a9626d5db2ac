// Nothing acknowledged is lost: a server is killed (SIGKILL) at seeded random moments in
// the middle of acknowledged writes from every entry point; after the next start (which
// replays the ingest journal) every acknowledged event is in the tenant's file.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { freePort, ingestKey, ROOT, runCli, startTestServer, tempDir, waitFor } from './helpers.js';
import { rng } from './rng.js';

const SEED = 25;
const TRIALS = 20;

/** A server in a child process on `dir`, killable with SIGKILL. */
async function serve(dir: string) {
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
      dir,
      '--log-level',
      'error',
    ],
    { cwd: ROOT, stdio: 'ignore' },
  );
  const exited = new Promise((r) => child.once('exit', r));
  await waitFor(async () => ((await fetch(`${url}/healthz`).catch(() => null))?.ok ? true : undefined), 'server start');
  return { url, child, exited };
}

/**
 * Clients of every entry point (hooks, REST batches, OTLP logs, the WebSocket stream), each
 * request under a session of its own; `acked` maps each acknowledged session to its events.
 */
function mixedClients(url: string, key: string, trial: number, acked: Map<string, number>) {
  let stop = false;
  let n = 0;
  const auth = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  const post = async (path: string, body: unknown, session: string, events: number) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
    if (res.ok) acked.set(session, events);
  };
  const hook = (s: string) =>
    post(
      '/api/v1/hooks/claude-code',
      { hook_event_name: 'PostToolUse', session_id: s, tool_name: 'Bash', tool_use_id: s, duration_ms: 1 },
      s,
      1,
    );
  const batch = (s: string) =>
    post(
      '/api/metrics/batch',
      {
        command_executions: Array.from({ length: 20 }, (_, i) => ({
          command_name: `c${i}`,
          execution_time_ms: i,
          status: 'success',
          context: { session_id: s },
        })),
      },
      s,
      20,
    );
  const at = (key: string, value: string) => ({ key, value: { stringValue: value } });
  const otlp = (s: string) =>
    post(
      '/v1/logs',
      {
        resourceLogs: [
          {
            scopeLogs: [
              {
                logRecords: [
                  {
                    timeUnixNano: `${Date.now()}000000`,
                    attributes: [
                      at('session.id', s),
                      at('event.name', 'tool_result'),
                      at('tool_name', 'Read'),
                      at('success', 'true'),
                    ],
                  },
                ],
              },
            ],
          },
        ],
      },
      s,
      1,
    );
  const http = async (send: (s: string) => Promise<void>) => {
    while (!stop) {
      try {
        await send(`t${trial}-${n++}`);
      } catch {
        return; // the server is gone
      }
    }
  };
  const stream = () =>
    new Promise<void>((resolve) => {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/stream`, {
        headers: { authorization: `Bearer ${key}` },
      });
      const sent = new Map<string, string>();
      const send = () => {
        if (stop) return ws.close();
        const s = `t${trial}-${n++}`;
        sent.set(s, s);
        ws.send(JSON.stringify({ ref: s, kind: 'prompt', session_id: s }));
      };
      ws.on('open', send);
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as { type: string; ref: string };
        if (m.type === 'ack') acked.set(m.ref, 1);
        send();
      });
      ws.on('error', () => resolve());
      ws.on('close', () => resolve());
    });
  const running = [
    ...Array.from({ length: 8 }, () => http(hook)),
    ...Array.from({ length: 3 }, () => http(batch)),
    ...Array.from({ length: 3 }, () => http(otlp)),
    ...Array.from({ length: 3 }, stream),
  ];
  return {
    async stop() {
      stop = true;
      await Promise.all(running);
    },
  };
}

test(`SIGKILL at ${TRIALS} seeded moments during mixed ingest loses no acknowledged event`, async () => {
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
  const random = rng(SEED);
  let replays = 0;
  try {
    for (let trial = 0; trial < TRIALS; trial++) {
      // The moment: after some acknowledged requests, and a few milliseconds more.
      const after = random.int(20, 200);
      const wait = random.int(0, 15);
      const { url, child, exited } = await serve(dir.path);
      const acked = new Map<string, number>();
      const clients = mixedClients(url, key, trial, acked);
      await waitFor(async () => (acked.size >= after ? true : undefined), `${after} acknowledged requests`);
      await new Promise((r) => setTimeout(r, wait));
      child.kill('SIGKILL');
      await clients.stop();
      await exited;

      // The next start replays the journal before it serves; then every acknowledged event is stored.
      const server = await startTestServer({ dataDir: dir.path });
      try {
        if (server.logs.some((l) => l.msg === 'ingest journal: replaying')) replays++;
        const file = readdirSync(join(dir.path, 'tenants')).find((f) => f.endsWith('.duckdb'))!;
        const db = await server.ctx.tenantFiles.open(file.replace(/\.duckdb$/, ''));
        const stored = new Map(
          (
            await db.all<{ s: string; n: number }>(
              `SELECT session_id AS s, count(*)::INTEGER AS n FROM events WHERE session_id LIKE 't${trial}-%' GROUP BY 1`,
            )
          ).map((r) => [r.s, r.n]),
        );
        const lost = [...acked].filter(([s, n]) => (stored.get(s) ?? 0) < n).map(([s]) => s);
        assert.ok(acked.size >= after);
        assert.equal(lost, [], `trial ${trial}: ${lost.length} of ${acked.size} acknowledged requests lost`);
      } finally {
        await server.stop();
      }
    }
    // How often the kill fell between a journal sync and its apply (the replay then stored them).
    console.log(`  ${TRIALS} trials (seed ${SEED}); ${replays} restarts replayed journaled events`);
  } finally {
    dir.remove();
  }
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
