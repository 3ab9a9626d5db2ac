// npm run bench:backup — how long ingest waits while a tenant's file is backed up. Fills a
// tenant (BENCH_BACKUP_EVENTS, 200,000 by default), then a hook client posts while the file is
// copied two ways: on a reader connection (what `agentmeter backup` does) and on the
// file's main connection, where ingest's commits queue. Prints figures; asserts nothing.
import { copyFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { percentile } from '../src/aggregate/sketch.js';
import { copyTenant } from '../src/backup/backup.js';
import { snapshotDatabase } from '../src/backup/snapshot.js';
import { lastEvent } from '../src/backup/backup.js';
import { ingestKey, startTestServer, tempDir } from '../test/helpers.js';

const EVENTS = Number(process.env.BENCH_BACKUP_EVENTS ?? 200_000);

const post = async (url: string, key: string, body: string) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body,
  });
  if (res.status >= 300) throw new Error(`${url} answered ${res.status}`);
  await res.arrayBuffer();
};

const hook = (prefix: string, i: number) =>
  JSON.stringify({
    hook_event_name: 'PostToolUse',
    session_id: `${prefix}-s${i % 200}`,
    cwd: '/home/dev/src/app',
    tool_name: 'Bash',
    tool_use_id: `toolu_${prefix}_${i}`,
    tool_input: { command: 'ls' },
    tool_response: { stdout: 'ok' },
    duration_ms: 5 + (i % 50),
  });

const server = await startTestServer({ flags: { 'log-level': 'warn' } });
const out = tempDir('am-bench-backup');
try {
  await server.ctx.aggregator.stop();
  const { key, tenantId } = await ingestKey(server);
  const t0 = Date.now() - 86_400_000;
  for (let b = 0; b < EVENTS / 1000; b++) {
    const items = Array.from({ length: 1000 }, (_, j) => {
      const i = b * 1000 + j;
      return {
        id: `fill-${i}`,
        command_name: 'implement',
        execution_time_ms: 100 + (i % 900),
        status: 'success',
        timestamp: new Date(t0 + i * 100).toISOString(),
        context: { session_id: `fill-s${i % 500}` },
      };
    });
    await post(`${server.url}/api/metrics/batch`, key, JSON.stringify({ command_executions: items }));
  }
  const file = (await server.ctx.tenantFiles.open(tenantId)).path;
  process.stdout.write(
    `filled ${EVENTS} events; the tenant's file is ${(statSync(file).size / 2 ** 20).toFixed(0)} MiB\n`,
  );

  const modes: [string, (target: string) => Promise<unknown>][] = [
    ['none (baseline)', () => new Promise((r) => setTimeout(r, 2000))],
    ['reader connection (chosen)', (target) => copyTenant(server.ctx.tenantFiles, tenantId, target)],
    [
      'main connection (ingest queues)',
      async (target) => {
        const db = await server.ctx.tenantFiles.open(tenantId);
        return snapshotDatabase(db, db.path, target, lastEvent);
      },
    ],
    // The alternative: writes held while the file is checkpointed and copied as bytes. Only the
    // main connection is held here (the worker is stopped); the server would hold every writer.
    [
      'checkpoint + file copy, held',
      async (target) =>
        (await server.ctx.tenantFiles.open(tenantId)).withConnection(async (conn) => {
          await conn.run('CHECKPOINT');
          copyFileSync((await server.ctx.tenantFiles.open(tenantId)).path, target);
        }),
    ],
  ];
  let n = 0;
  for (const [name, copy] of modes) {
    // One client posting one event at a time, 20 ms apart, while the copy runs: each
    // answer is one commit (a hook's whole path), so its latency is how long ingest waited.
    const latencies: number[] = [];
    let done = false;
    const t = performance.now();
    const copied = copy(join(out.path, `copy-${n++}.duckdb`)).then(() => {
      done = true;
      return performance.now() - t;
    });
    for (let i = 0; !done; i++) {
      const at = performance.now();
      await post(`${server.url}/api/v1/hooks/claude-code`, key, hook(`${n}`, i));
      latencies.push(performance.now() - at);
      await new Promise((r) => setTimeout(r, 20));
    }
    const copyMs = await copied;
    const sorted = latencies.sort((a, b) => a - b);
    process.stdout.write(
      `${name.padEnd(34)} copy ${copyMs.toFixed(0).padStart(6)} ms  hooks ${String(sorted.length).padStart(4)}  p50 ${percentile(sorted, 0.5).toFixed(1)} ms  p99 ${percentile(sorted, 0.99).toFixed(1)} ms  max ${sorted.at(-1)!.toFixed(1)} ms\n`,
    );
  }
} finally {
  await server.stop();
  out.remove();
}
