// npm run bench:query — read latency at 10 million events. Fills one tenant through the
// ingest function every entry point calls (25 developers, 90 days of generated sessions),
// waits for the aggregation worker, then times each read endpoint on loopback with an API
// key, the query-model questions in-process on rollups and on raw events, and the CSV
// export. The server runs in this process, so its memory is this process's. Prints
// figures, ratios and PASS/MISS against the targets; asserts nothing.
//
// BENCH_EVENTS (default 10,000,000) sets the size. BENCH_DIR names a data directory to fill
// once and measure many times: filling is skipped when its tenant already has events.
// AGENTMETER_MEMORY_LIMIT sets the server's memory budget (default 1GB, as `serve`).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { availableParallelism, loadavg } from 'node:os';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { startServer, type RunningServer } from '../src/server.js';
import { runCommand } from '../src/admin/commands.js';
import { countUsers, listUsers } from '../src/auth/users.js';
import { findTenant } from '../src/tenants/tenants.js';
import type { IngestEvent, Kind } from '../src/ingest/schema.js';
import { CUBES, rollupTable, TIERS } from '../src/aggregate/tiers.js';
import { querySchema, type QueryInput } from '../src/query/model.js';
import { runQuery } from '../src/query/run.js';
import { percentile } from '../src/aggregate/sketch.js';
import { forgetKept } from '../src/storage/kept-reads.js';
import { tempDir } from '../test/helpers.js';
import { rng, type Rng } from '../test/rng.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000_000);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 60);
const RAW_ITERATIONS = Number(process.env.BENCH_RAW_ITERATIONS ?? 20);
/**
 * BENCH_KEPT=1 lets a request asked before be answered from what the tenant's file keeps in
 * memory while it is unchanged; by default each timed request finds nothing kept, as the first
 * after a write does, so the rows measure the query core.
 */
const KEPT = process.env.BENCH_KEPT === '1';
let forgetKeptAnswers = async () => {};
const USERS = 25;
const DAYS = 90;
const BATCH = 5000;
const IN_FLIGHT = 4;
const SEED = 20_250_905;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const TENANT = 'Bench';
const MANAGER = 'manager@bench.test';
const PASSWORD = 'bench password 123';

// ---- generated data ---------------------------------------------------------------------

const uuid = (r: Rng) => `${r.hex(8)}-${r.hex(4)}-4${r.hex(3)}-${r.hex(4)}-${r.hex(12)}`;

const TOOLS = [
  { name: 'Read', weight: 28, fails: 0.02, medianMs: 15, sigma: 0.8, error: 'File does not exist.' },
  { name: 'Bash', weight: 22, fails: 0.08, medianMs: 1200, sigma: 1.3, error: 'Command failed with exit code 1' },
  { name: 'Edit', weight: 20, fails: 0.04, medianMs: 40, sigma: 0.7, error: 'String to replace not found in file.' },
  { name: 'Grep', weight: 10, fails: 0.02, medianMs: 90, sigma: 0.9, error: 'Invalid regex' },
  { name: 'Glob', weight: 7, fails: 0.02, medianMs: 50, sigma: 0.8, error: 'Invalid pattern' },
  { name: 'Write', weight: 6, fails: 0.03, medianMs: 35, sigma: 0.7, error: 'Permission denied' },
  { name: 'WebFetch', weight: 4, fails: 0.07, medianMs: 1800, sigma: 0.9, error: 'Request timed out' },
  { name: 'Task', weight: 3, fails: 0.1, medianMs: 45_000, sigma: 0.8, error: 'Sub-agent was interrupted' },
] as const;
/** USD per million tokens: input, output, cache write, cache read. */
const MODELS = [
  { name: 'claude-sonnet-4-5', weight: 75, price: [3, 15, 3.75, 0.3] },
  { name: 'claude-opus-4-1', weight: 25, price: [15, 75, 18.75, 1.5] },
] as const;
const HAIKU = { name: 'claude-haiku-4-5', weight: 0, price: [1, 5, 1.25, 0.1] } as const;
const PROJECTS = [
  'acme/api-gateway',
  'acme/billing-service',
  'acme/web-app',
  'acme/mobile-app',
  'acme/data-pipeline',
  'acme/infra',
  'acme/design-system',
  'acme/search',
];
const AGENTS = ['general-purpose', 'Explore', 'code-reviewer', 'test-runner'];
const COMMANDS = ['/review', '/commit', '/test', '/plan-product', '/create-trd', '/compact'];
const BASH = ['npm test', 'git status', 'npm run build', 'git diff', 'ls -la', 'npx tsc --noEmit'];

type Session = { user: number; id: string; project: string; start: number; end: number; seed: number };

/** Who works when: 25 people, most weekdays, 1–4 sessions of 20–200 minutes in their working hours. */
function planSessions(now: number): Session[] {
  const r = rng(SEED);
  const from = now - DAYS * DAY;
  const people = Array.from({ length: USERS }, () => ({
    shift: r.int(-3, 3) * HOUR,
    projects: [r.pick(PROJECTS), r.pick(PROJECTS), r.pick(PROJECTS)],
    weekend: r.next() * 0.25,
  }));
  const sessions: Session[] = [];
  for (let day = Math.floor(from / DAY) * DAY; day < now; day += DAY) {
    const weekend = [0, 6].includes(new Date(day).getUTCDay());
    people.forEach((p, user) => {
      if (!r.chance(weekend ? p.weekend : 0.92)) return;
      const close = day + 18 * HOUR + p.shift;
      let start = day + 8 * HOUR + p.shift + r.int(0, 120) * MIN;
      for (let k = weekend ? 1 : r.int(1, 4); k > 0 && start < close; k--) {
        const end = start + r.int(20, 200) * MIN;
        if (start >= from && end <= now)
          sessions.push({ user, id: uuid(r), project: r.pick(p.projects), start, end, seed: r.int(0, 2 ** 31) });
        start = end + r.int(10, 90) * MIN;
      }
    });
  }
  return sessions.sort((a, b) => a.start - b.start);
}

/**
 * One session as Claude Code reports it: prompts, each followed by turns of a model request
 * and (mostly) a tool call with its start; sub-agents for Task, lines for edits, the odd
 * commit, pull request, slash command and API error. `turnsPerMinute` sets the density.
 */
function* sessionEvents(s: Session, turnsPerMinute: number): Generator<IngestEvent> {
  const r = rng(s.seed);
  const turns = Math.max(1, Math.round(((s.end - s.start) / MIN) * turnsPerMinute));
  const step = (s.end - s.start) / (turns + 1);
  const short = s.id.slice(0, 8);
  const main = r.weighted(MODELS);
  let n = 0;
  const ev = (kind: Kind, ts: number, fields: Partial<IngestEvent> = {}): IngestEvent => ({
    id: `${s.id}:${n++}`,
    kind,
    ts: Math.min(Math.floor(ts), s.end - 1),
    session_id: s.id,
    project: s.project,
    ...fields,
  });
  yield ev('session_start', s.start, { attributes: { source: 'startup' } });
  let prompt = '';
  for (let i = 0; i < turns; i++) {
    const t = s.start + step * (i + 1);
    if (i === 0 || r.chance(1 / 6)) {
      prompt = `${short}-p${i}`;
      if (r.chance(0.08))
        yield ev('command', t, {
          name: r.pick(COMMANDS),
          status: r.chance(0.05) ? 'failure' : 'success',
          duration_ms: Math.round(r.logNormal(2500, 1)),
        });
      yield ev('prompt', t, { prompt_id: prompt, attributes: { prompt_length: r.int(10, 2000) } });
    }
    const model = r.chance(0.2) ? HAIKU : main;
    if (r.chance(0.015))
      yield ev('api_error', t, {
        prompt_id: prompt,
        model: model.name,
        status: r.pick(['529', '500', '429']),
        error: 'Overloaded',
        duration_ms: Math.round(r.logNormal(800, 0.8)),
      });
    const apiMs = Math.round(r.logNormal(3500, 0.7));
    const tokens = [r.logNormal(40, 1.5), r.logNormal(350, 1), r.logNormal(1500, 1.2), r.logNormal(40_000, 0.6)].map(
      Math.round,
    ) as [number, number, number, number];
    const cost = tokens.reduce((sum, k, j) => sum + (k * model.price[j]!) / 1e6, 0);
    yield ev('api_request', t + apiMs, {
      request_id: `req_${short}_${i}`,
      prompt_id: prompt,
      model: model.name,
      duration_ms: apiMs,
      input_tokens: tokens[0],
      output_tokens: tokens[1],
      cache_creation_tokens: tokens[2],
      cache_read_tokens: tokens[3],
      ...(r.chance(0.92) ? { cost_usd: cost } : {}),
    });
    if (!r.chance(0.85)) continue;
    const tool = r.weighted(TOOLS);
    const start = t + apiMs + 50;
    const ms = Math.round(r.logNormal(tool.medianMs, tool.sigma));
    const failed = r.chance(tool.fails);
    const use = `toolu_${short}_${i}`;
    const input =
      tool.name === 'Bash'
        ? { command: r.pick(BASH) }
        : { file_path: `/home/dev/src/${s.project}/src/file${r.int(1, 200)}.ts` };
    yield ev('tool_start', start, { tool_use_id: use, name: tool.name, prompt_id: prompt });
    const agent = tool.name === 'Task' ? { agent_id: `agent_${short}_${i}`, agent_type: r.pick(AGENTS) } : null;
    if (agent) yield ev('subagent_start', start, { ...agent, name: agent.agent_type });
    if (agent)
      yield ev('subagent_stop', start + ms, {
        ...agent,
        name: agent.agent_type,
        duration_ms: ms,
        status: failed ? 'failure' : 'success',
      });
    yield ev('tool_call', start + ms, {
      tool_use_id: use,
      name: tool.name,
      prompt_id: prompt,
      status: failed ? 'failure' : 'success',
      duration_ms: ms,
      ...(failed ? { error: tool.error } : {}),
      attributes: input,
    });
    if (failed) continue;
    if (tool.name === 'Edit' || tool.name === 'Write') {
      yield ev('lines', start + ms, {
        name: tool.name,
        lines_added: Math.round(r.logNormal(12, 1)),
        lines_removed: tool.name === 'Edit' ? Math.round(r.logNormal(4, 1)) : 0,
      });
    }
    if (tool.name === 'Bash' && r.chance(0.04)) {
      yield ev('commit', start + ms, { value: 1 });
      if (r.chance(0.12)) yield ev('pull_request', start + ms + 1, { value: 1 });
    }
  }
  yield ev('session_end', s.end, { attributes: { reason: r.pick(['exit', 'clear', 'logout', 'prompt_input_exit']) } });
}

/** Events the sessions make at `turnsPerMinute`, and the most heap the generator used meanwhile (sampled). */
function countEvents(sessions: Session[], turnsPerMinute: number): { events: number; heapGrowth: number } {
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  let n = 0;
  for (const s of sessions) {
    for (const _ of sessionEvents(s, turnsPerMinute))
      if (++n % 50_000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
  }
  return { events: n, heapGrowth: peak - before };
}

// ---- measuring ----------------------------------------------------------------------------

const mb = (bytes: number) => bytes / 1024 / 1024;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** The process's peak resident set since the last `resetPeak()` (Linux), in bytes. */
const peakRss = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
function resetPeak() {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    /* not Linux, or not allowed: the peak then covers the whole run */
  }
}

type Timing = { n: number; p50: number; p95: number };

/** Warm-up, then sequential runs: `iterations` of them, or as many as `budgetMs` allows (at least 5). */
async function measure(
  once: () => Promise<unknown>,
  iterations = ITERATIONS,
  warmup = 3,
  budgetMs = 60_000,
): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await once();
  const times: number[] = [];
  const until = performance.now() + budgetMs;
  while (times.length < iterations && (times.length < 5 || performance.now() < until)) {
    await forgetKeptAnswers();
    const t = performance.now();
    await once();
    times.push(performance.now() - t);
  }
  const sorted = times.sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95) };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(`answered ${status}: ${body.slice(0, 160)}`);
  }
}

function client(url: string, key: string) {
  return async (path: string, body?: unknown): Promise<string> => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(
      `${url}${path}`,
      body === undefined ? { headers } : { method: 'POST', headers, body: JSON.stringify(body) },
    );
    const text = await res.text();
    if (!res.ok) throw new HttpError(res.status, text);
    return text;
  };
}
const qs = (params: Record<string, string | number | undefined>) =>
  new URLSearchParams(
    Object.entries(params)
      .filter((e): e is [string, string | number] => e[1] !== undefined)
      .map(([k, v]) => [k, String(v)]),
  ).toString();

// ---- the run ------------------------------------------------------------------------------

type Row = { name: string; timing?: Timing; target?: number; note?: string };

export async function prepare(server: RunningServer) {
  const { ctx } = server;
  if ((await countUsers(ctx.control)) === 0)
    await runCommand(ctx, 'setup', { name: TENANT, email: 'root@bench.test', password: PASSWORD });
  const tenant =
    (await findTenant(ctx.control, TENANT)) ??
    ((await runCommand(ctx, 'tenant create', { name: TENANT })) as { id: string });
  const existing = new Map((await listUsers(ctx.control, tenant.id)).map((u) => [u.email, u.id]));
  const ensure = async (email: string, role: 'manager' | 'developer') =>
    existing.get(email) ??
    ((await runCommand(ctx, 'user create', { tenant: tenant.id, email, role, password: PASSWORD })) as { id: string })
      .id;
  await ensure(MANAGER, 'manager');
  const developers: string[] = [];
  for (let u = 1; u <= USERS; u++)
    developers.push(await ensure(`dev${String(u).padStart(2, '0')}@bench.test`, 'developer'));
  const key = (
    (await runCommand(ctx, 'apikey create', {
      tenant: tenant.id,
      user: MANAGER,
      scopes: 'read,ingest',
      name: 'bench:query',
    })) as { key: string }
  ).key;
  return { tenantId: tenant.id, developers, key };
}

export async function fill(server: RunningServer, tenantId: string, developers: string[], events = EVENTS) {
  const now = Date.now();
  const sessions = planSessions(now);
  // The generator alone first, at one turn a minute: its memory, and the density that makes EVENTS.
  const t0 = performance.now();
  const atOne = countEvents(sessions, 1);
  const fixed = 2 * sessions.length;
  const density = Math.max(0.001, (events - fixed) / Math.max(1, atOne.events - fixed));
  const generatorRate = atOne.events / ((performance.now() - t0) / 1000);
  console.log(
    `generator alone: ${fmt(generatorRate)} events/s, heap in use grew by ${mb(atOne.heapGrowth).toFixed(0)} MB at most over ${fmt(atOne.events)} events; ${fmt(sessions.length)} sessions, ${density.toFixed(2)} turns/min`,
  );

  resetPeak();
  const buffers = developers.map((): IngestEvent[] => []);
  const inFlight = new Set<Promise<void>>();
  let generated = 0;
  let stored = 0;
  const send = async (user: number, events: IngestEvent[]) => {
    while (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    const p: Promise<void> = server.ctx.ingest
      .ingest({ tenantId, userId: developers[user]! }, 'rest', events)
      .then((r) => {
        if (r.rejected.length)
          throw new Error(`ingest rejected ${r.rejected.length} events, first: ${JSON.stringify(r.rejected[0])}`);
        stored += r.accepted;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  const started = performance.now();
  let nextReport = 1_000_000;
  let lastReport = started;
  for (const s of sessions) {
    for (const event of sessionEvents(s, density)) {
      const buffer = buffers[s.user]!;
      buffer.push(event);
      if (buffer.length >= BATCH) {
        buffers[s.user] = [];
        await send(s.user, buffer);
      }
      if (++generated === nextReport) {
        const t = performance.now();
        console.log(
          `  ${fmt(generated)} events, ${fmt(generated / ((t - started) / 1000))} events/s so far, ${fmt(1_000_000 / ((t - lastReport) / 1000))} events/s over the last million`,
        );
        lastReport = t;
        nextReport += 1_000_000;
      }
    }
  }
  for (const [user, buffer] of buffers.entries()) if (buffer.length) await send(user, buffer);
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  return { events: stored, seconds, rate: stored / seconds, peakRss: peakRss(), load: loadavg()[0]! };
}

export async function waitForWorker(server: RunningServer, tenantId: string) {
  const started = performance.now();
  const pendingAtStart = (await server.ctx.aggregator.lag()).find((l) => l.tenantId === tenantId)?.pendingEvents ?? -1;
  for (;;) {
    const lag = (await server.ctx.aggregator.lag()).find((l) => l.tenantId === tenantId);
    if (lag?.lastError) throw new Error(`aggregation failed: ${lag.lastError}`);
    if (lag && lag.pendingEvents === 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const catchUp = (performance.now() - started) / 1000;
  // The worker compacts once a minute; done here so no compaction runs while we measure.
  // The same pass stores the figures of every session gone quiet (all of them, filled).
  const t = performance.now();
  await server.ctx.aggregator.runOnce(tenantId, { compact: true });
  return { pendingAtStart, catchUp, compaction: (performance.now() - t) / 1000 };
}

async function main() {
  const dataDir = process.env.BENCH_DIR ?? tempDir('am-bench-query').path;
  mkdirSync(dataDir, { recursive: true });
  const logger = createLogger('warn', (line) => process.stderr.write(line));
  const server = await startServer(
    loadConfig(
      { 'data-dir': dataDir, port: '0', host: '127.0.0.1' },
      { AGENTMETER_MEMORY_LIMIT: process.env.AGENTMETER_MEMORY_LIMIT },
    ),
    logger,
  );
  const stop = () => void server.close().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await run(server, dataDir);
  } finally {
    await server.close();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  console.log(
    `\ndata directory kept for reuse: BENCH_DIR=${dataDir} npm run bench:query   (remove it with rm -rf ${dataDir})`,
  );
}

async function run(server: RunningServer, dataDir: string) {
  console.log(
    `\nquery benchmark (loopback, ${process.env.CI ? 'CI' : 'local'}, Node ${process.version}, ${new Date().toISOString()}), data directory ${dataDir}\n`,
  );
  const { tenantId, developers, key } = await prepare(server);
  if (!KEPT) forgetKeptAnswers = async () => forgetKept(await server.ctx.tenantFiles.open(tenantId));
  console.log(KEPT ? 'answers kept between requests (BENCH_KEPT=1)' : 'each timed request with no answer kept');
  const reader = await server.ctx.tenantFiles.connection(tenantId, 'reader');
  const count = async () => Number((await reader.get<{ n: number }>('SELECT count(*) AS n FROM events'))!.n);
  let filled: Awaited<ReturnType<typeof fill>> | null = null;
  if ((await count()) === 0) {
    console.log(
      `filling ${fmt(EVENTS)} events through ingest() (${BATCH} per call, ${IN_FLIGHT} in flight, ${USERS} users, ${DAYS} days)`,
    );
    filled = await fill(server, tenantId, developers);
    console.log(
      `filled ${fmt(filled.events)} events in ${filled.seconds.toFixed(1)} s: ${fmt(filled.rate)} events/s, peak RSS ${mb(filled.peakRss).toFixed(0)} MB (machine load ${filled.load.toFixed(1)} at the end)`,
    );
  } else console.log(`reusing the filled tenant (BENCH_DIR): not filling`);
  const worker = await waitForWorker(server, tenantId);
  console.log(
    `worker: ${fmt(worker.pendingAtStart)} events pending, caught up in ${worker.catchUp.toFixed(1)} s; compaction and session figures ${worker.compaction.toFixed(1)} s`,
  );
  const sizes = await reader.get<Record<string, number>>(
    `SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM session_index) AS sessions, (SELECT count(*) FROM session_figures) AS figured, ${CUBES.flatMap((c) => TIERS.map((t) => `(SELECT count(*) FROM ${rollupTable(t, c)}) AS "${c} ${t}"`)).join(', ')}`,
  );
  const cubeRows = CUBES.map(
    (c) => `${c} cube ${TIERS.map((t) => `${t} ${fmt(sizes![`${c} ${t}`]!)}`).join(', ')}`,
  ).join('; ');
  console.log(
    `tenant holds ${fmt(sizes!.events!)} events, ${fmt(sizes!.sessions!)} sessions (${fmt(sizes!.figured!)} with stored figures); rollup rows: ${cubeRows}\n`,
  );

  // Latencies mean little on a busy machine: say how busy it was.
  const loadAtStart = loadavg()[0]!;
  resetPeak();
  const api = client(server.url, key);
  const now = Date.now();
  const last = (days: number) => ({ from: now - days * DAY, to: now });
  const rows: Row[] = [];
  const time = async (name: string, once: () => Promise<unknown>, target?: number) => {
    try {
      const timing = await measure(once);
      rows.push({ name, timing, target });
      console.log(
        `  ${name.padEnd(62)} p50 ${timing.p50.toFixed(1).padStart(7)} ms  p95 ${timing.p95.toFixed(1).padStart(7)} ms`,
      );
    } catch (err) {
      rows.push({ name, target, note: `failed: ${(err as Error).message}` });
      console.log(`  ${name.padEnd(62)} failed: ${(err as Error).message}`);
    }
  };

  console.log('HTTP, sequential, after warm-up:');
  await time('summary, last 7 days', () => api(`/api/v1/dashboard/summary?${qs(last(7))}`), 100);
  await time('summary, last 30 days', () => api(`/api/v1/dashboard/summary?${qs(last(30))}`), 100);
  await time(
    'summary, last 7 days, one user',
    () => api(`/api/v1/dashboard/summary?${qs({ ...last(7), user: developers[3] })}`),
    100,
  );

  const questions: { name: string; via: 'timeseries' | 'query'; input: QueryInput }[] = [
    {
      name: 'cost_usd by 1d, 90 days',
      via: 'timeseries',
      input: { metrics: ['cost_usd'], interval: '1d', ...last(90) },
    },
    {
      name: 'tool_calls by 1h, 7 days',
      via: 'timeseries',
      input: { metrics: ['tool_calls'], interval: '1h', ...last(7) },
    },
    {
      name: 'tool_calls by tool by 1d, 30 days',
      via: 'timeseries',
      input: { metrics: ['tool_calls'], group_by: ['tool'], interval: '1d', ...last(30) },
    },
    {
      name: 'by user, 8 metrics, 30 days',
      via: 'query',
      input: {
        metrics: [
          'sessions',
          'prompts',
          'tool_calls',
          'tool_failure_rate',
          'api_requests',
          'tokens',
          'cost_usd',
          'lines_added',
        ],
        group_by: ['user'],
        ...last(30),
      },
    },
    {
      name: 'tool calls, p50, p95 by tool, 30 days',
      via: 'query',
      input: { metrics: ['tool_calls', 'tool_p50_ms', 'tool_p95_ms'], group_by: ['tool'], ...last(30) },
    },
    {
      name: 'requests, tokens, cost by model, 90 days',
      via: 'query',
      input: {
        metrics: ['api_requests', 'tokens', 'cost_usd'],
        group_by: ['model'],
        order_by: 'cost_usd',
        ...last(90),
      },
    },
  ];
  for (const q of questions) {
    if (q.via === 'timeseries') {
      const path = `/api/v1/metrics/timeseries?${qs({ metric: q.input.metrics.join(','), interval: q.input.interval, group_by: q.input.group_by?.join(','), from: q.input.from, to: q.input.to })}`;
      await time(`timeseries ${q.name}`, () => api(path), 50);
    } else await time(`POST query ${q.name}`, () => api('/api/v1/query', q.input), 50);
  }

  await time('sessions, first page (50, last 30 days)', () => api('/api/v1/sessions?limit=50'), 50);
  let cursor: string | null = null;
  for (let page = 0; page < 10; page++)
    cursor =
      (
        JSON.parse(await api(`/api/v1/sessions?${qs({ limit: 50, cursor: cursor ?? undefined })}`)) as {
          next_cursor: string | null;
        }
      ).next_cursor ?? cursor;
  await time(
    'sessions, 11th page via cursor',
    () => api(`/api/v1/sessions?${qs({ limit: 50, cursor: cursor ?? undefined })}`),
    50,
  );
  const typical = await reader.get<{ session_id: string; events: number }>(
    `SELECT session_id, events FROM session_index WHERE last_ts >= make_timestamp($from * 1000) ORDER BY events, session_id
      LIMIT 1 OFFSET (SELECT count(*) // 2 FROM session_index WHERE last_ts >= make_timestamp($from * 1000))`,
    { from: now - 30 * DAY },
  );
  if (typical)
    await time(
      `session timeline (median session, ${fmt(typical.events)} events)`,
      () => api(`/api/v1/sessions/${typical.session_id}`),
      50,
    );

  // The seeds' endpoints, if they exist yet (other work adds them).
  const range7 = { start_date: new Date(now - 7 * DAY).toISOString(), end_date: new Date(now).toISOString() };
  // The seed's dashboard endpoint answers with the summary (the same figures, the same
  // statements as /api/v1/dashboard/summary), so it is held to the summary's target.
  const seeds: { name: string; path: string; body?: unknown; target?: number }[] = [
    {
      name: 'GET /api/metrics/aggregated (1h, 7 days)',
      path: `/api/metrics/aggregated?${qs({ ...range7, aggregation_window: '1h', limit: 100 })}`,
    },
    { name: 'GET /api/metrics/dashboard (7d, the summary)', path: '/api/metrics/dashboard?time_range=7d', target: 100 },
    { name: 'GET /api/metrics/real-time/5m', path: '/api/metrics/real-time/5m' },
    { name: 'GET /api/metrics/commands (7 days)', path: `/api/metrics/commands?${qs(range7)}` },
    {
      name: 'POST /api/metrics/query (1h, 7 days)',
      path: '/api/metrics/query',
      body: { ...range7, aggregation_window: '1h', metric_types: ['productivity_score', 'error_rate'] },
    },
  ];
  for (const s of seeds) {
    const probe = await api(s.path, s.body).then(
      () => null,
      (err: Error) => err,
    );
    if (probe) {
      const note =
        probe instanceof HttpError && probe.status === 404
          ? 'skipped: 404, not there yet'
          : `skipped: ${probe.message}`;
      rows.push({ name: s.name, target: s.target ?? 50, note });
      console.log(`  ${s.name.padEnd(62)} ${note}`);
    } else await time(s.name, () => api(s.path, s.body), s.target ?? 50);
  }
  const queryPeak = peakRss();

  console.log('\nin-process runQuery, the same questions on rollups and on raw events:');
  const compare: { name: string; rollup: Timing; raw: Timing }[] = [];
  for (const q of questions) {
    const parsed = querySchema.parse(q.input);
    const rollup = await measure(() => runQuery(server.ctx.tenantFiles, tenantId, parsed, { now }));
    const raw = await measure(
      () => runQuery(server.ctx.tenantFiles, tenantId, parsed, { now, raw: true }),
      RAW_ITERATIONS,
      1,
      30_000,
    );
    compare.push({ name: q.name, rollup, raw });
    console.log(
      `  ${q.name.padEnd(46)} rollup p50 ${rollup.p50.toFixed(1).padStart(7)} ms  raw p50 ${raw.p50.toFixed(1).padStart(8)} ms  (${(raw.p50 / rollup.p50).toFixed(0)}×)`,
    );
  }

  console.log('\nexport:');
  const exported = await exportCsv(server.url, key, last(30));
  console.log(
    typeof exported === 'string'
      ? `  ${exported}`
      : `  ${fmt(exported.rows)} rows (${mb(exported.bytes).toFixed(0)} MB) in ${exported.seconds.toFixed(1)} s`,
  );

  report(rows, compare, filled, worker, queryPeak, exported);
  console.log(
    `  machine load (1-minute average) ${loadAtStart.toFixed(1)} when measuring began, ${loadavg()[0]!.toFixed(1)} at the end, on ${availableParallelism()} cores`,
  );
}

type Exported = { rows: number; bytes: number; seconds: number; rssBefore: number; peak: number; samples: number[] };

/** Downloads the CSV export, counting rows as they stream in, while sampling the process's RSS. */
async function exportCsv(url: string, key: string, range: { from: number; to: number }): Promise<Exported | string> {
  const params = qs(range);
  resetPeak();
  const rssBefore = process.memoryUsage().rss;
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(process.memoryUsage().rss), 50);
  try {
    const started = performance.now();
    const res = await fetch(`${url}/api/metrics/export/csv?${params}`, { headers: { authorization: `Bearer ${key}` } });
    if (res.status === 404)
      return `skipped: GET /api/metrics/export/csv answered 404, not there yet (${(await res.text()).slice(0, 80)})`;
    if (!res.ok || !res.body)
      return `skipped: GET /api/metrics/export/csv answered ${res.status}: ${(await res.text()).slice(0, 160)}`;
    let lines = 0;
    let bytes = 0;
    let lastByte = 10;
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) lines++;
      bytes += buf.length;
      if (buf.length) lastByte = buf[buf.length - 1]!;
    }
    const seconds = (performance.now() - started) / 1000;
    // Lines less the header (our generated strings hold no newlines).
    const rows = lines + (lastByte === 10 ? 0 : 1) - 1;
    const announced = res.headers.get('x-export-rows');
    if (announced !== null && Number(announced) !== rows)
      console.log(`  counted ${fmt(rows)} rows, the server announced ${announced} (x-export-rows)`);
    return { rows, bytes, seconds, rssBefore, peak: Math.max(peakRss(), ...samples), samples };
  } finally {
    clearInterval(sampler);
  }
}

function report(
  rows: Row[],
  compare: { name: string; rollup: Timing; raw: Timing }[],
  filled: Awaited<ReturnType<typeof fill>> | null,
  worker: { pendingAtStart: number; catchUp: number; compaction: number },
  queryPeak: number,
  exported: Exported | string,
) {
  const num = (v: number | undefined, d = 1) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(d));
  console.log(`\nresults (up to ${ITERATIONS} sequential requests per row, or 60 s, after 3 warm-ups)\n`);
  console.log(
    'measurement'.padEnd(64),
    'n'.padStart(4),
    'p50 ms'.padStart(8),
    'p95 ms'.padStart(8),
    'target'.padStart(7),
    'p95/target'.padStart(11),
    '',
  );
  for (const r of rows) {
    const t = r.timing;
    const ratio = t && r.target ? t.p95 / r.target : undefined;
    const verdict = r.note ?? (ratio === undefined ? '' : ratio <= 1 ? 'PASS' : 'MISS');
    console.log(
      r.name.padEnd(64),
      String(t?.n ?? '-').padStart(4),
      num(t?.p50).padStart(8),
      num(t?.p95).padStart(8),
      (r.target ? `${r.target}` : '-').padStart(7),
      num(ratio, 2).padStart(11),
      ` ${verdict}`,
    );
  }
  console.log(`\nthe same questions in-process: rollups vs raw events (raw: up to ${RAW_ITERATIONS} runs or 30 s)\n`);
  console.log(
    'question'.padEnd(46),
    'rollup p50'.padStart(11),
    'rollup p95'.padStart(11),
    'raw n'.padStart(6),
    'raw p50'.padStart(9),
    'raw p95'.padStart(9),
    'raw/rollup p50'.padStart(15),
  );
  for (const c of compare) {
    console.log(
      c.name.padEnd(46),
      num(c.rollup.p50).padStart(11),
      num(c.rollup.p95).padStart(11),
      String(c.raw.n).padStart(6),
      num(c.raw.p50).padStart(9),
      num(c.raw.p95).padStart(9),
      `${(c.raw.p50 / c.rollup.p50).toFixed(1)}×`.padStart(15),
    );
  }

  const measured = rows.filter((r) => r.timing && r.target);
  const passed = measured.filter((r) => r.timing!.p95 <= r.target!).length;
  console.log('\ntargets:');
  console.log(
    `  dashboard queries p95 ≤ 50 ms, summary ≤ 100 ms: ${passed} of ${measured.length} measured pass; worst ${Math.max(...measured.map((r) => r.timing!.p95 / r.target!)).toFixed(2)}× target (${rows.length - measured.length} skipped or failed)`,
  );
  if (typeof exported === 'string') console.log(`  export ≥ 200,000 rows/s with flat memory: ${exported}`);
  else {
    const rate = exported.rows / exported.seconds;
    const growth = exported.peak - exported.rssBefore;
    const q = (f: number) =>
      mb(exported.samples[Math.min(exported.samples.length - 1, Math.floor(f * exported.samples.length))] ?? 0).toFixed(
        0,
      );
    console.log(
      `  export ≥ 200,000 rows/s: ${fmt(rate)} rows/s (${(rate / 200_000).toFixed(2)}× target) ${rate >= 200_000 ? 'PASS' : 'MISS'}`,
    );
    console.log(
      `  export memory flat (peak RSS ≤ RSS before + 64 MB): ${mb(exported.rssBefore).toFixed(0)} MB before, peak ${mb(exported.peak).toFixed(0)} MB (+${mb(growth).toFixed(0)} MB); RSS at 25/50/75/100% of the download ${q(0.25)}/${q(0.5)}/${q(0.75)}/${q(1)} MB ${growth <= 64 * 1024 * 1024 ? 'PASS' : 'MISS'}`,
    );
  }
  console.log('\nfigures:');
  if (filled)
    console.log(
      `  fill through ingest(): ${fmt(filled.events)} events in ${filled.seconds.toFixed(1)} s, ${fmt(filled.rate)} events/s, peak RSS ${mb(filled.peakRss).toFixed(0)} MB`,
    );
  else console.log('  fill: reused the data directory (not measured this run)');
  console.log(
    `  worker catch-up${filled ? ' after the fill' : ''}: ${worker.catchUp.toFixed(1)} s for ${fmt(worker.pendingAtStart)} pending events; forced compaction ${worker.compaction.toFixed(1)} s`,
  );
  console.log(`  peak RSS while answering queries: ${mb(queryPeak).toFixed(0)} MB (server and bench in one process)`);
}

// Run as `npm run bench:query`; imported by other benchmarks for its generator and fill.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
