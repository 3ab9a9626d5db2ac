// npm run bench:export — a large raw export (CSV, JSON, NDJSON) from a server process on
// loopback: rows/s, and how far the server's RSS grows while it streams, against the bound
// the export test used to assert (150 MiB) and against the body's own size (a body built
// whole would grow the RSS by at least that). Prints figures and ratios; asserts nothing.
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { runCli, tempDir, waitFor } from '../test/helpers.js';
import { memoryMb, serverProcess, type ServerProcess } from './server.js';

const EVENTS = Number(process.env.BENCH_EXPORT_EVENTS ?? 200_000);
const RSS_BOUND_MB = 150;
const DAY = 86_400_000;

type Row = {
  format: string;
  rows: number;
  bodyMb: number;
  chunks: number;
  seconds: number;
  baseMb: number;
  peakMb: number;
};

/** One batch of the REST API's command executions, spread over four days, a little out of order. */
function batch(start: number, n: number, base: number) {
  return {
    command_executions: Array.from({ length: n }, (_, k) => {
      const i = start + k;
      return {
        id: `export-bench-${i}`,
        command_name: ['Bash', 'Read', 'Edit', 'Grep'][i % 4],
        execution_time_ms: (i * 7919) % 20_000,
        status: i % 17 ? 'success' : 'failure',
        timestamp: new Date(base + Math.floor((i * 4 * DAY) / EVENTS) + (i % 3) * 1000).toISOString(),
        session_id: `session-${Math.floor(i / 400)}`,
        project: `/home/dev/src/project-${i % 13}`,
        metadata: { command: `npm test -- --grep "case ${i}"`, cwd: '/home/dev/src', n: i },
      };
    }),
  };
}

async function pendingEvents(url: string): Promise<number> {
  const body = (await (await fetch(`${url}/readyz`)).json()) as { aggregation?: { pending_events?: number } };
  return body.aggregation?.pending_events ?? -1;
}

/** Reads one export to the end, sampling the server's RSS at every chunk. */
async function exportOnce(server: ServerProcess, key: string, format: 'csv' | 'json' | 'ndjson'): Promise<Row> {
  const from = new Date(Date.now() - 6 * DAY).toISOString();
  const path =
    format === 'csv'
      ? `/api/metrics/export/csv?from=${from}`
      : `/api/metrics/export/json?format=${format}&from=${from}`;
  const baseMb = memoryMb(server.pid).rss;
  let peakMb = baseMb;
  const started = performance.now();
  const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
  const reader = res.body!.getReader();
  let bytes = 0;
  let chunks = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.length;
    chunks++;
    peakMb = Math.max(peakMb, memoryMb(server.pid).rss);
  }
  return {
    format,
    rows: Number(res.headers.get('x-export-rows')),
    bodyMb: bytes / 2 ** 20,
    chunks,
    seconds: (performance.now() - started) / 1000,
    baseMb,
    peakMb,
  };
}

async function main() {
  const dir = tempDir('am-bench-export');
  const opts = { dataDir: dir.path };
  await runCli(['setup', '--name', 'Bench', '--email', 'root@bench.test', '--password-stdin'], {
    ...opts,
    stdin: 'bench password 123',
  });
  const keyOf = async (email: string, role: string, scopes: string) => {
    await runCli(['user', 'create', '--tenant', 'Bench', '--email', email, '--role', role], opts);
    return (
      JSON.parse(
        (await runCli(['apikey', 'create', '--tenant', 'Bench', '--user', email, '--scopes', scopes, '--json'], opts))
          .stdout,
      ) as { key: string }
    ).key;
  };
  const ingestKey = await keyOf('dev@bench.test', 'developer', 'ingest');
  const readKey = await keyOf('lead@bench.test', 'manager', 'read');

  // Fill the tenant and let the worker roll everything up, then start afresh: the export is
  // measured in a process that has done nothing else.
  let server = await serverProcess(dir.path);
  const base = Date.now() - 5 * DAY;
  for (let i = 0; i < EVENTS; i += 1000) {
    const res = await fetch(`${server.url}/api/metrics/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ingestKey}` },
      body: JSON.stringify(batch(i, Math.min(1000, EVENTS - i), base)),
    });
    if (res.status !== 201) throw new Error(`batch answered ${res.status}: ${await res.text()}`);
  }
  await waitFor(async () => ((await pendingEvents(server.url)) === 0 ? true : undefined), 'the rollups', 600_000);
  await server.stop();
  const tenants = join(dir.path, 'tenants');
  const fileMb = readdirSync(tenants).reduce((n, f) => n + statSync(join(tenants, f)).size, 0) / 2 ** 20;
  server = await serverProcess(dir.path);
  await waitFor(
    async () => ((await pendingEvents(server.url)) === 0 ? true : undefined),
    "the worker's first pass",
    60_000,
  );

  const rows: Row[] = [];
  try {
    for (const format of ['csv', 'json', 'ndjson'] as const) rows.push(await exportOnce(server, readKey, format));
  } finally {
    await server.stop();
    dir.remove();
  }

  console.log(
    `\nexport benchmark (loopback, Node ${process.version}, ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(2)}, ${new Date().toISOString()})\n`,
  );
  console.log(
    'format'.padEnd(8),
    'rows'.padStart(8),
    'body MiB'.padStart(9),
    'chunks'.padStart(7),
    'rows/s'.padStart(8),
    'RSS MiB'.padStart(8),
    'peak'.padStart(6),
    'growth'.padStart(7),
    'of bound'.padStart(9),
    'of body'.padStart(8),
  );
  for (const r of rows) {
    const growth = r.peakMb - r.baseMb;
    console.log(
      r.format.padEnd(8),
      String(r.rows).padStart(8),
      r.bodyMb.toFixed(1).padStart(9),
      String(r.chunks).padStart(7),
      (r.rows / r.seconds).toFixed(0).padStart(8),
      r.baseMb.toFixed(0).padStart(8),
      r.peakMb.toFixed(0).padStart(6),
      `+${growth.toFixed(0)}`.padStart(7),
      `${(growth / RSS_BOUND_MB).toFixed(2)}×`.padStart(9),
      `${(growth / r.bodyMb).toFixed(2)}×`.padStart(8),
    );
  }
  console.log(
    `\nbound: the server's RSS grows less than ${RSS_BOUND_MB} MiB while streaming an export. The first export also reads the`,
  );
  console.log(
    `tenant's file (${fileMb.toFixed(0)} MiB) cold into DuckDB's buffer pool, which stays: the later ones start from a higher RSS.`,
  );
}

await main();
