// npm run bench:ingest — ingestion throughput and latency on loopback against a started
// server (a child process, so its memory is measured alone), next to DuckDB's appender
// writing the same rows in-process: the ceiling. Prints figures and ratios; asserts nothing.
// BENCH_STORED=10000000 adds the REST batch figure on a tenant already holding that many
// events (filled in-process before its server starts; see storedTenant).
import { join } from 'node:path';
import { DuckDBInstance, DuckDBTimestampValue } from '@duckdb/node-api';
import { controlPath, tenantPath } from '../src/storage/datadir.js';
import { runCli, tempDir } from '../test/helpers.js';
import { loadMigrations } from '../src/storage/migrate.js';
import { percentile } from '../src/aggregate/sketch.js';
import { fillEvents } from './fill.js';
import { cpuSeconds, memoryMb, serverProcess } from './server.js';
import { commandItem } from './batch-body.js';
import { hookBody, hookLatency, printHookTargets, timed, type Latencies } from './hook-latency.js';
import { JOURNAL_BOUND } from '../src/ingest/writer.js';

const BATCHES = Number(process.env.BENCH_BATCHES ?? 200); // × 1000 events
const HOOK_EVENTS = Number(process.env.BENCH_HOOK_EVENTS ?? 20_000);
const HOOK_CLIENTS = Number(process.env.BENCH_HOOK_CLIENTS ?? 50);
const OTLP_RECORDS = Number(process.env.BENCH_OTLP_RECORDS ?? 50_000);
/**
 * Only these scenarios (`benchBatch,benchOtlp`; `hookLatency`: the single-client and paced hook rows;
 * `paced`: the paced ones alone): the ceiling always runs.
 */
const ONLY = process.env.BENCH_ONLY?.split(',');
const STORED = Number(process.env.BENCH_STORED ?? 0);

type Row = {
  scenario: string;
  events: number;
  seconds: number;
  p50?: number;
  p99?: number;
  rssMb: number;
  note?: string;
};

const peakRssMb = (pid: number) => memoryMb(pid).peak;

async function post(url: string, key: string, body: string, type = 'application/json') {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': type, authorization: `Bearer ${key}` },
    body,
  });
  if (res.status >= 300) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

async function benchBatch(url: string, key: string, pid: number): Promise<Row> {
  const t0 = Date.now() - 3_600_000;
  const bodies = Array.from({ length: BATCHES }, (_, b) =>
    JSON.stringify({ command_executions: Array.from({ length: 1000 }, (_, j) => commandItem(b * 1000 + j, t0)) }),
  );
  const { seconds, sorted } = await timed(BATCHES, 4, (b) => post(`${url}/api/metrics/batch`, key, bodies[b]!));
  return {
    scenario: 'REST batch, 1000 events/request, 4 clients',
    events: BATCHES * 1000,
    seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    rssMb: peakRssMb(pid),
  };
}

/** The journal's figures from the server's /metrics: the apply-lag histogram's buckets and the peaks since the last scrape. */
async function journalFigures(url: string) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  const buckets = [...text.matchAll(/^agentmeter_ingest_apply_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)].map(
    ([, le, n]) => ({ le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), n: Number(n) }),
  );
  return {
    buckets,
    peakBytes: value('agentmeter_ingest_journal_peak_bytes'),
    peakLagMs: value('agentmeter_ingest_apply_lag_peak_seconds') * 1000,
  };
}
type Journal = Awaited<ReturnType<typeof journalFigures>>;

/** A quantile (ms) of what was observed between two scrapes, interpolated within its bucket as Prometheus does. */
function lagQuantileMs(before: Journal, after: Journal, q: number): number {
  const cumulative = after.buckets.map((b, i) => ({ le: b.le, n: b.n - (before.buckets[i]?.n ?? 0) }));
  const total = cumulative.at(-1)?.n ?? 0;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of cumulative) {
    if (b.n >= rank) {
      const upper = Number.isFinite(b.le) ? b.le : lower;
      return (lower + ((upper - lower) * (rank - below)) / Math.max(1, b.n - below)) * 1000;
    }
    lower = b.le;
    below = b.n;
  }
  return Number.NaN;
}

type Visibility = { p50: number; p99: number; peakLagMs: number; peakBytes: number; records: number };
/** Apply figures of the paced and the flat-out hook loads, from /metrics (the server's own clock). */
const hookJournal: { paced?: Visibility; flatOut?: Visibility } = {};
/** The server's CPU time while the paced hooks ran (their requests, applies and the worker's passes). */
let pacedCpu: { cpu: number; seconds: number } | null = null;

/** `run`'s apply lags and journal peak, from /metrics scraped before and after it. */
async function visibility<T>(url: string, key: string, run: () => Promise<T>): Promise<[T, Visibility]> {
  // A read waits until everything acknowledged is stored: what ran before leaves nothing
  // unapplied to count here. Then the scrape starts the peaks afresh.
  const read = await fetch(`${url}/api/v1/sessions?limit=1`, { headers: { authorization: `Bearer ${key}` } });
  if (!read.ok) throw new Error(`GET /api/v1/sessions answered ${read.status}`);
  await read.arrayBuffer();
  const before = await journalFigures(url);
  const result = await run();
  await new Promise((r) => setTimeout(r, 200)); // the last window applied
  const after = await journalFigures(url);
  // Within a bucket the interpolation may pass the longest lag seen: not beyond it.
  const quantile = (q: number) => Math.min(lagQuantileMs(before, after, q), after.peakLagMs);
  return [
    result,
    {
      p50: quantile(0.5),
      p99: quantile(0.99),
      peakLagMs: after.peakLagMs,
      peakBytes: after.peakBytes,
      records: (after.buckets.at(-1)?.n ?? 0) - (before.buckets.at(-1)?.n ?? 0),
    },
  ];
}

async function benchHooks(url: string, key: string, pid: number): Promise<Row> {
  const [{ seconds, sorted }, flatOut] = await visibility(url, key, () =>
    timed(HOOK_EVENTS, HOOK_CLIENTS, (i) => post(`${url}/api/v1/hooks/claude-code`, key, hookBody('hook', i))),
  );
  hookJournal.flatOut = flatOut;
  return {
    scenario: `hook POST, ${HOOK_CLIENTS} clients flat out`,
    events: HOOK_EVENTS,
    seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    rssMb: peakRssMb(pid),
  };
}

/** The same clients flat out against GET /healthz (no key, no body, no disk): what HTTP alone costs here. */
async function httpFloor(url: string, _key: string, pid: number): Promise<Row> {
  const { seconds, sorted } = await timed(
    HOOK_EVENTS,
    HOOK_CLIENTS,
    async () => void (await (await fetch(`${url}/healthz`)).arrayBuffer()),
  );
  return {
    scenario: `floor: GET /healthz, ${HOOK_CLIENTS} clients flat out`,
    events: HOOK_EVENTS,
    seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    rssMb: peakRssMb(pid),
    note: 'requests, not events',
  };
}

async function benchOtlp(url: string, key: string, pid: number): Promise<Row> {
  // The official SDK and protobuf exporter, as Claude Code sends: batches of up to 512 log records.
  const { LoggerProvider, BatchLogRecordProcessor } = await import('@opentelemetry/sdk-logs');
  const { OTLPLogExporter } = await import('@opentelemetry/exporter-logs-otlp-proto');
  const exporter = new OTLPLogExporter({ url: `${url}/v1/logs`, headers: { Authorization: `Bearer ${key}` } });
  const latencies: number[] = [];
  const exportFn = exporter.export.bind(exporter);
  exporter.export = (records, done) => {
    const t = performance.now();
    exportFn(records, (result) => {
      latencies.push(performance.now() - t);
      done(result);
    });
  };
  const provider = new LoggerProvider({
    processors: [
      new BatchLogRecordProcessor({
        exporter,
        maxExportBatchSize: 512,
        maxQueueSize: 1_000_000,
        scheduledDelayMillis: 5,
      }),
    ],
  });
  const logger = provider.getLogger('com.anthropic.claude_code');
  const started = performance.now();
  for (let i = 0; i < OTLP_RECORDS; i++) {
    logger.emit({
      body: 'claude_code.api_request',
      attributes: {
        'event.name': 'api_request',
        'session.id': `otlp-s${i % 300}`,
        model: 'claude-sonnet-4-5',
        request_id: `req_bench_${i}`,
        input_tokens: 100 + (i % 50),
        output_tokens: 300,
        cache_read_tokens: 1000,
        cache_creation_tokens: 0,
        cost_usd: 0.0042,
        duration_ms: 900,
      },
    });
    if (i % 5000 === 4999) await provider.forceFlush();
  }
  await provider.forceFlush();
  const seconds = (performance.now() - started) / 1000;
  await provider.shutdown();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    scenario: 'OTLP/HTTP protobuf logs (SDK exporter, 512/request)',
    events: OTLP_RECORDS,
    seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    rssMb: peakRssMb(pid),
  };
}

/** The same number of rows straight into `events` with DuckDB's appender: what the disk and DuckDB allow. */
async function ceiling(rows: number): Promise<Row> {
  const dir = tempDir('am-ceiling');
  const instance = await DuckDBInstance.create(join(dir.path, 'ceiling.duckdb'));
  const conn = await instance.connect();
  for (const m of loadMigrations('tenant')) await conn.run(m.sql);
  const t0 = Date.now() - 3_600_000;
  const started = performance.now();
  const appender = await conn.createAppender('events');
  for (let i = 0; i < rows; i++) {
    const item = commandItem(i, t0);
    appender.appendUBigInt(BigInt(i) * 2654435761n);
    appender.appendTimestamp(new DuckDBTimestampValue(BigInt(t0 + i) * 1000n));
    appender.appendTimestamp(new DuckDBTimestampValue(BigInt(t0) * 1000n));
    const texts: (string | null)[] = [
      'command',
      'rest',
      'u_bench',
      item.context.session_id,
      null,
      null,
      null,
      null,
      null,
      null,
      item.command_name,
      null,
      item.status,
    ];
    for (const v of texts) {
      if (v === null) appender.appendNull();
      else appender.appendVarchar(v);
    }
    appender.appendDouble(item.execution_time_ms);
    for (let k = 0; k < 8; k++) appender.appendNull();
    appender.appendNull();
    appender.appendVarchar(JSON.stringify(item));
    appender.appendUBigInt(BigInt(i + 1)); // seq
    appender.appendNull(); // import_run
    appender.endRow();
  }
  appender.closeSync();
  const seconds = (performance.now() - started) / 1000;
  conn.closeSync();
  instance.closeSync();
  dir.remove();
  return {
    scenario: 'ceiling: DuckDB appender in-process, same rows',
    events: rows,
    seconds,
    rssMb: process.memoryUsage().rss / 1024 / 1024,
    note: 'no HTTP, no validation, no de-duplication',
  };
}

/** A data directory with the tenant Bench and a developer's ingest key. */
async function benchTenant() {
  const dir = tempDir('am-bench');
  const opts = { dataDir: dir.path };
  await runCli(['setup', '--name', 'Bench', '--email', 'root@bench.test', '--password-stdin'], {
    ...opts,
    stdin: 'bench password 123',
  });
  await runCli(['user', 'create', '--tenant', 'Bench', '--email', 'dev@bench.test', '--role', 'developer'], opts);
  const key = (
    JSON.parse(
      (
        await runCli(
          ['apikey', 'create', '--tenant', 'Bench', '--user', 'dev@bench.test', '--scopes', 'ingest,read', '--json'],
          opts,
        )
      ).stdout,
    ) as { key: string }
  ).key;
  return { dir, key };
}

/**
 * The REST batch figure on a tenant already holding `stored` events: written into its file
 * before the server starts (80 days of them, ending two hours before the batches' events,
 * inside the raw retention), with the rollup watermark above them, so the worker rolls up
 * only what the benchmark sends, as it would on a tenant that had kept up.
 */
async function storedTenant(stored: number): Promise<Row> {
  const { dir, key } = await benchTenant();
  const control = await DuckDBInstance.create(controlPath(dir.path));
  const cc = await control.connect();
  const tenantId = (await cc.runAndReadAll(`SELECT id FROM tenants WHERE name = 'Bench'`)).getRows()[0]![0] as string;
  cc.closeSync();
  control.closeSync();
  const instance = await DuckDBInstance.create(tenantPath(dir.path, tenantId));
  const conn = await instance.connect();
  const started = performance.now();
  const end = Date.now() - 3 * 3_600_000;
  const stepMs = (80 * 86_400_000) / stored;
  for (let i = 0; i < stored; i += 1_000_000)
    await fillEvents(conn, i, Math.min(stored, i + 1_000_000), { t0: end - stored * stepMs, stepMs });
  await conn.run(`UPDATE rollup_state SET last_seq = ${stored}`);
  await conn.run('CHECKPOINT');
  conn.closeSync();
  instance.closeSync();
  console.error(
    `filled ${stored.toLocaleString('en')} events in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  const server = await serverProcess(dir.path);
  try {
    const row = await benchBatch(server.url, key, server.pid);
    return { ...row, scenario: `REST batch on ${(stored / 1e6).toFixed(0)}M stored events, 4 clients` };
  } finally {
    await server.stop();
    dir.remove();
  }
}

async function main() {
  const { dir, key } = await benchTenant();
  const server = await serverProcess(dir.path);
  const rows: Row[] = [];
  let latencies: Latencies[] = [];
  try {
    if (!ONLY || ONLY.includes('paced') || ONLY.includes('hookLatency')) {
      const around = async <T>(run: () => Promise<T>) => {
        const cpu = cpuSeconds(server.pid);
        const started = performance.now();
        const [result, paced] = await visibility(server.url, key, run);
        hookJournal.paced = paced;
        pacedCpu = { cpu: cpuSeconds(server.pid) - cpu, seconds: (performance.now() - started) / 1000 };
        return result;
      };
      latencies = await hookLatency(server.url, key, around, !!ONLY && !ONLY.includes('hookLatency'));
      printHookTargets(latencies); // now, and again with the rest
    }
    const rssMb = peakRssMb(server.pid);
    for (const l of latencies)
      rows.push({
        ...l,
        events: l.requests,
        rssMb,
        note: l.scenario.startsWith('journal') ? 'in the bench: no HTTP' : 'requests, not events',
      });
    for (const run of [benchBatch, benchHooks, httpFloor, benchOtlp].filter((r) => !ONLY || ONLY.includes(r.name))) {
      try {
        rows.push(await run(server.url, key, server.pid));
      } catch (err) {
        rows.push({
          scenario: run.name,
          events: 0,
          seconds: 0,
          rssMb: peakRssMb(server.pid),
          note: `failed: ${(err as Error).message.slice(0, 120)}`,
        });
      }
    }
  } finally {
    await server.stop();
  }
  dir.remove();
  const onStored = STORED > 0 ? await storedTenant(STORED) : null;
  if (onStored) rows.push(onStored);
  const top = await ceiling(BATCHES * 1000);
  rows.push(top);

  const rate = (r: Row) => (r.seconds ? r.events / r.seconds : 0);
  console.log(
    `\ningestion benchmark (loopback, ${process.env.CI ? 'CI' : 'local'}, Node ${process.version}, ${new Date().toISOString()})\n`,
  );
  console.log(
    'scenario'.padEnd(56),
    'events'.padStart(9),
    'events/s'.padStart(10),
    'p50 ms'.padStart(8),
    'p99 ms'.padStart(8),
    'peak RSS MB'.padStart(12),
  );
  for (const r of rows) {
    console.log(
      r.scenario.padEnd(56),
      String(r.events).padStart(9),
      rate(r).toFixed(0).padStart(10),
      (r.p50?.toFixed(2) ?? '-').padStart(8),
      (r.p99?.toFixed(2) ?? '-').padStart(8),
      r.rssMb.toFixed(0).padStart(12),
      r.note ? ` ${r.note}` : '',
    );
  }
  const [batch, hooks, floor] = rows.slice(latencies.length);
  if (ONLY) {
    const rest = rows.find((r) => r.scenario.startsWith('REST batch'));
    if (rest) console.log(`\nREST batch / appender ceiling: ${((rate(rest) / rate(top)) * 100).toFixed(1)}%`);
    printVisibility();
    return;
  }
  console.log('\ntargets:');
  console.log(
    `  batch ≥ 100,000 events/s: ${rate(batch!).toFixed(0)} (${(rate(batch!) / 100_000).toFixed(2)}× target)`,
  );
  console.log(
    `  batch ≥ 50% of the appender ceiling: ${((rate(batch!) / rate(top)) * 100).toFixed(1)}% of ${rate(top).toFixed(0)} rows/s`,
  );
  if (onStored)
    console.log(
      `  the same on ${STORED.toLocaleString('en')} stored events: ${rate(onStored).toFixed(0)} events/s, ${((rate(onStored) / rate(top)) * 100).toFixed(1)}% (server peak RSS ${onStored.rssMb.toFixed(0)} MB)`,
    );
  console.log(
    `  hook p99 ≤ 5 ms at ${HOOK_CLIENTS} clients, flat out: ${hooks!.p99?.toFixed(2)} ms (${((hooks!.p99 ?? 0) / 5).toFixed(2)}× target; GET /healthz alone: ${floor!.p99?.toFixed(2)} ms)`,
  );
  printVisibility();
  // The server's DuckDB memory: --memory-limit (1GB unless given), what the process is budgeted.
  const peak = (r: Row[]) => Math.max(...r.map((x) => x.rssMb));
  const served = rows.filter((r) => r !== top && r !== onStored);
  console.log(
    `  server peak RSS within --memory-limit (1 GB by default): ${peak(served).toFixed(0)} MB${onStored ? `; on ${STORED.toLocaleString('en')} stored events ${onStored.rssMb.toFixed(0)} MB` : ''}`,
  );
  if (latencies.length) printHookTargets(latencies);
}

/** The journal's figures of the hook loads that ran: visibility (acknowledged → stored) and backlog. */
function printVisibility() {
  const of100 = (ms: number) => `${ms.toFixed(1)} ms (${(ms / 100).toFixed(2)}× the 100 ms target)`;
  for (const [load, j] of [
    ['paced (the paced hook POST row)', hookJournal.paced],
    [`${HOOK_CLIENTS} clients flat out`, hookJournal.flatOut],
  ] as const) {
    if (!j) continue;
    console.log(
      `  hook visible within 100 ms of its 2xx, ${load} (acknowledged → stored, ${j.records} journal records): p50 ${of100(j.p50)}, p99 ${of100(j.p99)}`,
    );
    console.log(`    apply lag, the longest an acknowledged hook waited: ${of100(j.peakLagMs)}`);
    console.log(
      `    journal size, peak unapplied: ${(j.peakBytes / 1024).toFixed(0)} KiB (${(j.peakBytes / JOURNAL_BOUND).toFixed(4)}× the 32 MiB bound)`,
    );
  }
  if (pacedCpu)
    console.log(
      `  server CPU while the paced hooks ran: ${pacedCpu.cpu.toFixed(2)} s in ${pacedCpu.seconds.toFixed(1)} s (${((100 * pacedCpu.cpu) / pacedCpu.seconds).toFixed(0)} % of one core)`,
    );
}

await main();
