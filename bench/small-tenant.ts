// Part 0 of bench:dashboards: what a small team pays on every page. A fresh data directory,
// one tenant holding about a hundred events (two people, two sessions of the last hours),
// then the summary API and the overview page timed on loopback like the 10M pages, with
// the server's CPU time per request (it runs in this process): on a shared machine the
// CPU time says more than the wall time.
import { availableParallelism, loadavg } from 'node:os';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { startServer } from '../src/server.js';
import { runCommand } from '../src/admin/commands.js';
import type { IngestEvent, Kind } from '../src/ingest/schema.js';
import { percentile } from '../src/aggregate/sketch.js';
import { signIn, tempDir } from '../test/helpers.js';
import { profileSmallSummary } from './small-profile.js';

const ITERATIONS = Number(process.env.BENCH_SMALL_ITERATIONS ?? 60);
const WARMUP = 3;
/** Pages open at once on the small tenant (the live refetch after a write). */
const PAGES = 8;
const MIN = 60_000;
const DAY = 1440 * MIN;
const PASSWORD = 'bench password 123';

export type SmallTiming = { name: string; n: number; p50: number; p95: number; max: number; cpu50: number };

/** About a hundred events: two sessions of prompts, requests and tool calls, in the last three hours. */
function smallTenantEvents(now: number): IngestEvent[] {
  const events: IngestEvent[] = [];
  for (const s of [0, 1]) {
    const session = `0000000${s}-5a11-4000-8000-000000000000`;
    const start = now - (3 - s) * 60 * MIN;
    let n = 0;
    const ev = (kind: Kind, ts: number, fields: Partial<IngestEvent> = {}) =>
      events.push({ id: `${session}:${n++}`, kind, ts, session_id: session, project: `acme/app-${s}`, ...fields });
    ev('session_start', start);
    for (let i = 0; i < 16; i++) {
      const t = start + i * 2 * MIN;
      if (i % 4 === 0) ev('prompt', t, { prompt_id: `p${i}` });
      ev('api_request', t + 1000, {
        prompt_id: `p${i - (i % 4)}`,
        request_id: `r${s}-${i}`,
        model: i % 3 ? 'claude-sonnet-4-5' : 'claude-opus-4-1',
        duration_ms: 2500 + 100 * i,
        input_tokens: 40,
        output_tokens: 300,
        cache_read_tokens: 20_000,
        cost_usd: 0.02,
      });
      ev('tool_call', t + 2000, {
        tool_use_id: `u${s}-${i}`,
        name: ['Read', 'Bash', 'Edit'][i % 3]!,
        status: i % 7 === 6 ? 'failure' : 'success',
        duration_ms: 40 + 30 * i,
      });
    }
    ev('session_end', start + 40 * MIN);
  }
  return events;
}

/** `before` runs ahead of each request, untimed (a write, so nothing kept from the last answers the next). */
async function timed(once: () => Promise<void>, before?: () => Promise<void>): Promise<Omit<SmallTiming, 'name'>> {
  for (let i = 0; i < WARMUP; i++) await once();
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    await before?.();
    const cpu = process.cpuUsage();
    const t = performance.now();
    await once();
    walls.push(performance.now() - t);
    const used = process.cpuUsage(cpu);
    cpus.push((used.user + used.system) / 1000);
  }
  walls.sort((a, b) => a - b);
  cpus.sort((a, b) => a - b);
  return {
    n: walls.length,
    p50: percentile(walls, 0.5),
    p95: percentile(walls, 0.95),
    max: walls.at(-1)!,
    cpu50: percentile(cpus, 0.5),
  };
}

/** A fresh data directory with one small tenant, served on loopback: a manager's cookie and read key. */
export async function startSmallTenant() {
  const dir = tempDir('am-bench-small');
  const server = await startServer(
    loadConfig({ 'data-dir': dir.path, port: '0', host: '127.0.0.1' }, {}),
    createLogger('warn', (l) => process.stderr.write(l)),
  );
  const close = async () => {
    await server.close();
    dir.remove();
  };
  try {
    const { ctx } = server;
    await runCommand(ctx, 'setup', { name: 'Small', email: 'root@small.bench.test', password: PASSWORD });
    const tenant = (await ctx.control.get<{ id: string }>('SELECT tenant_id AS id FROM users LIMIT 1'))!;
    const email = 'manager@small.bench.test';
    const { id: userId } = (await runCommand(ctx, 'user create', {
      tenant: tenant.id,
      email,
      role: 'manager',
      password: PASSWORD,
    })) as { id: string };
    const { key } = (await runCommand(ctx, 'apikey create', { tenant: tenant.id, user: email, scopes: 'read' })) as {
      key: string;
    };
    const now = Date.now();
    const stored = await ctx.ingest.ingest({ tenantId: tenant.id, userId }, 'rest', smallTenantEvents(now));
    await ctx.aggregator.runOnce(tenant.id, { compact: true });
    const client = await signIn(server, email, PASSWORD);
    const cookie = [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let written = 0;
    /** One more event in the tenant's file, applied: what is kept in memory for it no longer holds. */
    const write = async () => {
      const t = now - 30 * MIN + written;
      await ctx.ingest.ingest({ tenantId: tenant.id, userId }, 'rest', [
        { id: `write-${written++}`, kind: 'tool_call', ts: t, session_id: '00000000-5a11-4000-8000-000000000000' },
      ]);
      await ctx.tenantFiles.open(tenant.id); // waits until it is applied
    };
    return {
      url: server.url,
      key,
      cookie,
      now,
      write,
      events: stored.accepted,
      close,
      tenantFiles: ctx.tenantFiles,
      tenantId: tenant.id,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The requests timed: the summary API, the overview and its htmx fragment, and /healthz for the floor. */
export function smallTenantRequests(t: {
  url: string;
  key: string;
  cookie: string;
  now: number;
  write: () => Promise<void>;
}): { name: string; once: () => Promise<void>; before?: () => Promise<void> }[] {
  const get = (path: string, headers: Record<string, string>) => async () => {
    const res = await fetch(`${t.url}${path}`, { headers, redirect: 'manual' });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${body.slice(0, 160)}`);
  };
  const summary = `/api/v1/dashboard/summary?from=${t.now - 7 * DAY}&to=${t.now}`;
  const fragment = get('/', { cookie: t.cookie, 'hx-request': 'true' });
  return [
    { name: 'small: GET summary, last 7 days', once: get(summary, { authorization: `Bearer ${t.key}` }) },
    { name: 'small: GET / (last 7 days)', once: get('/', { cookie: t.cookie, accept: 'text/html' }) },
    { name: 'small: GET / htmx fragment', once: fragment },
    // An event just before each request: nothing kept for the file holds (what a busy tenant's page pays).
    {
      name: 'small: GET summary, after a write',
      once: get(summary, { authorization: `Bearer ${t.key}` }),
      before: t.write,
    },
    { name: 'small: GET /, after a write', once: get('/', { cookie: t.cookie, accept: 'text/html' }), before: t.write },
    // What each commit costs while pages are open: every page refetches its live part at once (live.ts).
    {
      name: `small: ${PAGES} fragments at once, after a write`,
      once: async () => void (await Promise.all(Array.from({ length: PAGES }, fragment))),
      before: t.write,
    },
    { name: 'small: GET /healthz (the floor)', once: get('/healthz', {}) },
  ];
}

export async function smallTenantPart(): Promise<SmallTiming[]> {
  console.log('\n0. a small tenant (about a hundred events), fresh data directory');
  const small = await startSmallTenant();
  try {
    const loadAtStart = loadavg()[0]!;
    console.log(`   ${small.events} events; ${WARMUP} warm-ups, then ${ITERATIONS} sequential requests each:`);
    const out: SmallTiming[] = [];
    for (const request of smallTenantRequests(small)) {
      const t = { name: request.name, ...(await timed(request.once, request.before)) };
      out.push(t);
      const f = (n: number) => n.toFixed(1).padStart(6);
      console.log(
        `   ${request.name.padEnd(48)} p50 ${f(t.p50)}  p95 ${f(t.p95)}  max ${f(t.max)} ms; CPU p50 ${f(t.cpu50)} ms`,
      );
    }
    console.log(
      `   machine load ${loadAtStart.toFixed(1)} → ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`,
    );
    if (process.env.BENCH_SMALL_PROFILE === '1')
      await profileSmallSummary(small.tenantFiles, small.tenantId, small.now);
    return out;
  } finally {
    await small.close();
  }
}
