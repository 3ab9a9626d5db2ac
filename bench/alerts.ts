// npm run bench:alerts — alert evaluation at scale. Fills one tenant with the query bench's
// generator (10M events over 90 days by default), stores 1,000 rules (threshold, anomaly and
// forecast; ungrouped and grouped by person, project, model or tool), then prints the time
// of an evaluation pass (p50/p95: every question asked, and with this minute's baselines)
// and the delivery latency from a crossing event to a webhook receiver on 127.0.0.1
// (p50/p99) against the issue's 30 s target. Asserts nothing.
//
// BENCH_ALERTS_EVENTS (default 10,000,000), BENCH_ALERTS_RULES (1,000), BENCH_ALERTS_PASSES
// (5), BENCH_ALERTS_PROBES (20). BENCH_DIR names a data directory to fill once and reuse.
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { startServer, type RunningServer } from '../src/server.js';
import { evaluateTenant } from '../src/alerts/engine.js';
import { createRule, listRules, ruleSchema } from '../src/alerts/rules.js';
import { percentile } from '../src/aggregate/sketch.js';
import { tempDir } from '../test/helpers.js';
import { fill, prepare, waitForWorker } from './query.js';

const EVENTS = Number(process.env.BENCH_ALERTS_EVENTS ?? 10_000_000);
const RULES = Number(process.env.BENCH_ALERTS_RULES ?? 1000);
const PASSES = Number(process.env.BENCH_ALERTS_PASSES ?? 5);
const PROBES = Number(process.env.BENCH_ALERTS_PROBES ?? 20);
const TARGET_MS = 30_000;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const METRICS = [
  'cost_usd',
  'tool_failures',
  'tool_failure_rate',
  'tokens',
  'sessions',
  'api_errors',
  'prompts',
  'active_users',
  'error_rate',
  'commits',
];
const ADDITIVE = ['cost_usd', 'tool_failures', 'tokens', 'api_errors', 'prompts', 'commits'];
const GROUPS = [[], ['user'], [], ['project'], ['model'], ['tool']];
const WINDOWS = ['15m', '1h', '1d', '7d'];

/** The i-th rule of the mix: a third each of threshold, anomaly and forecast; half grouped. High thresholds, so few fire. */
function ruleBody(i: number) {
  const kind = i % 3;
  const metric = kind === 2 ? ADDITIVE[i % ADDITIVE.length]! : METRICS[i % METRICS.length]!;
  const group_by = GROUPS[i % GROUPS.length]!.filter((g) => g !== 'tool' || metric.startsWith('tool'));
  const condition =
    kind === 0
      ? { type: 'threshold', op: 'above', value: 1e9 }
      : kind === 1
        ? { type: 'anomaly', z: 6 }
        : { type: 'forecast', op: 'above', value: 1e12, by: ['day', 'week', 'month'][i % 3] };
  return ruleSchema.parse({
    name: `bench rule ${i}`,
    metric,
    group_by,
    window: WINDOWS[i % WINDOWS.length],
    condition,
    channels: [{ type: 'dashboard' }],
  });
}

/** This run's probe projects: a reused BENCH_DIR holds the last run's probe events. */
const RUN = Date.now().toString(36);
const probeProject = (i: number) => `bench/probe-${RUN}-${i}`;

/** A rule that fires on the first event of its own project: what the latency probe crosses. */
const probeBody = (i: number, url: string) =>
  ruleSchema.parse({
    name: `probe ${i}`,
    metric: 'events',
    filters: { project: [probeProject(i)] },
    window: '5m',
    condition: { type: 'threshold', op: 'above', value: 0 },
    channels: [{ type: 'webhook', url }],
  });

async function main() {
  const dataDir = process.env.BENCH_DIR ?? tempDir('am-bench-alerts').path;
  mkdirSync(dataDir, { recursive: true });
  const logger = createLogger('warn', (line) => process.stderr.write(line));
  const server = await startServer(
    loadConfig({ 'data-dir': dataDir, port: '0', host: '127.0.0.1', 'alert-allow-private': 'true' }, {}),
    logger,
  );
  try {
    await run(server, dataDir);
  } finally {
    await server.close();
  }
  console.log(
    `\ndata directory kept for reuse: BENCH_DIR=${dataDir} npm run bench:alerts   (remove it with rm -rf ${dataDir})`,
  );
}

async function run(server: RunningServer, dataDir: string) {
  const { ctx } = server;
  console.log(`\nalerts benchmark (Node ${process.version}, ${new Date().toISOString()}), data directory ${dataDir}\n`);
  const { tenantId, developers } = await prepare(server);
  const db = await ctx.tenantFiles.open(tenantId);
  const count = Number((await db.get<{ n: number }>('SELECT count(*) AS n FROM events'))!.n);
  if (count === 0) {
    console.log(`filling ${fmt(EVENTS)} events through ingest()`);
    const filled = await fill(server, tenantId, developers, EVENTS);
    console.log(`filled ${fmt(filled.events)} events in ${filled.seconds.toFixed(1)} s`);
  } else console.log(`reusing the filled tenant (${fmt(count)} events)`);
  await waitForWorker(server, tenantId);

  // The webhook receiver: when each probe rule's POST arrives.
  const received = new Map<string, number>();
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const at = performance.now();
      const id = (JSON.parse(body) as { rule?: { id?: string } }).rule?.id;
      if (id && !received.has(id)) received.set(id, at);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  const probes = Math.min(PROBES, RULES);
  {
    // Tops up the mix (a reused BENCH_DIR keeps its rules).
    const by = developers[0]!;
    const have = (await listRules(db)).filter((r) => !r.name.startsWith('probe ')).length;
    for (let i = have; i < RULES - probes; i++)
      await createRule(db, { body: ruleBody(i), createdBy: by, ownUser: null }, Date.now());
  }
  // The probe rules are made each run: the receiver's port is new.
  await db.run(
    `DELETE FROM alert_states WHERE rule_id IN (SELECT id FROM alert_rules WHERE body->>'name' LIKE 'probe %')`,
  );
  await db.run(`DELETE FROM alert_rules WHERE body->>'name' LIKE 'probe %'`);
  const probeIds: string[] = [];
  for (let i = 0; i < probes; i++)
    probeIds.push(
      (await createRule(db, { body: probeBody(i, hook), createdBy: developers[0]!, ownUser: null }, Date.now())).id,
    );
  const rules = await listRules(db);
  const mix = (pred: (r: (typeof rules)[number]) => boolean) => rules.filter(pred).length;
  console.log(
    `${rules.length} rules: ${mix((r) => r.condition.type === 'threshold')} threshold, ${mix((r) => r.condition.type === 'anomaly')} anomaly, ${mix((r) => r.condition.type === 'forecast')} forecast; ${mix((r) => r.group_by.length > 0)} grouped`,
  );

  // Evaluation passes, with the scheduler stopped so none overlaps. A cold pass asks every
  // question (the first pass of each minute); the scheduler's others reuse the anomaly
  // baselines it read (src/alerts/batch.ts).
  await ctx.alerts.stop();
  const timed = async (pass: () => Promise<unknown>) => {
    const out: number[] = [];
    for (let i = 0; i < PASSES + 1; i++) {
      const t = performance.now();
      await pass();
      if (i > 0) out.push(performance.now() - t); // the first pass warms the readers
    }
    return out.sort((a, b) => a - b);
  };
  const deps = { tenantFiles: ctx.tenantFiles, delivery: ctx.alerts.delivery, publicUrl: ctx.publicUrl, log: ctx.log };
  const cold = await timed(() => evaluateTenant(deps, tenantId, Date.now()));
  const warm = await timed(() => ctx.alerts.runOnce(tenantId));
  const p50 = percentile(cold, 0.5);
  console.log(
    `evaluation pass, every question asked (${cold.length} after one warm-up): p50 ${secs(p50)}, p95 ${secs(percentile(cold, 0.95))}; ${(p50 / rules.length).toFixed(1)} ms a rule`,
  );
  console.log(
    `evaluation pass, baselines read this minute (${warm.length}): p50 ${secs(percentile(warm, 0.5))}, p95 ${secs(percentile(warm, 0.95))}`,
  );

  // Delivery latency: the scheduler as it runs in production; each probe is one event
  // through ingest() (what every entry point calls) that makes its own rule fire.
  ctx.alerts.start();
  const latencies: number[] = [];
  for (const [i, id] of probeIds.entries()) {
    const t = performance.now();
    const now = Date.now();
    const r = await ctx.ingest.ingest({ tenantId, userId: developers[i % developers.length]! }, 'rest', [
      {
        id: `probe-${now}-${i}`,
        kind: 'prompt',
        ts: now,
        session_id: `probe-session-${now}-${i}`,
        project: probeProject(i),
      },
    ]);
    if (r.accepted !== 1) throw new Error(`probe event not accepted: ${JSON.stringify(r.rejected)}`);
    const until = t + 5 * TARGET_MS;
    while (!received.has(id) && performance.now() < until) await new Promise((res) => setTimeout(res, 20));
    latencies.push(received.has(id) ? received.get(id)! - t : Infinity);
  }
  receiver.close();
  latencies.sort((a, b) => a - b);
  const missed = latencies.filter((l) => l === Infinity).length;
  const l50 = percentile(latencies, 0.5);
  const l99 = percentile(latencies, 0.99);
  console.log(
    `delivery latency, crossing event to webhook POST (${latencies.length} probes${missed ? `, ${missed} never arrived within ${secs(5 * TARGET_MS)}` : ''}): p50 ${secs(l50)}, p99 ${secs(l99)}`,
  );
  console.log(
    `  against the 30 s target: p99 is ${(l99 / TARGET_MS).toFixed(2)}× the target (${l99 <= TARGET_MS ? 'PASS' : 'MISS'}); a pass is ${(p50 / TARGET_MS).toFixed(2)}× it`,
  );
}

await main();
