// npm run bench:memory — 20 tenants on one server process (its own, so its memory is measured
// alone) under --memory-limit: paced hooks into every tenant, a 3-year backfill into one,
// dashboards and CSV exports of every tenant, all at once. Prints the peak RSS against the
// budget, with the throughput and query figures beside it. Asserts nothing.
import { availableParallelism, loadavg } from 'node:os';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { startServer } from '../src/server.js';
import { runCommand } from '../src/admin/commands.js';
import { percentile } from '../src/aggregate/sketch.js';
import { signIn, tempDir } from '../test/helpers.js';
import { memoryMb, serverProcess } from './server.js';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 20);
const LIMIT = process.env.BENCH_MEMORY_LIMIT ?? '1GB';
const SECONDS = Number(process.env.BENCH_MEMORY_SECONDS ?? 60);
const HOOKS_PER_SECOND = Number(process.env.BENCH_HOOKS_PER_SECOND ?? 5); // per tenant
const BACKFILL = Number(process.env.BENCH_BACKFILL ?? 180_000);
const SEED = Number(process.env.BENCH_SEED ?? 20_000); // events per tenant before the run, for the dashboards and exports
const PASSWORD = 'bench password 123';
const DAY = 86_400_000;

type Tenant = { index: number; email: string; key: string; cookie?: string };
type Timings = { name: string; n: number; seconds: number; sorted: number[]; unit: string; items: number };

async function prepare(dataDir: string): Promise<Tenant[]> {
  const server = await startServer(
    loadConfig({ 'data-dir': dataDir, port: '0', host: '127.0.0.1' }, {}),
    createLogger('warn', (l) => process.stderr.write(l)),
  );
  try {
    const { ctx } = server;
    await runCommand(ctx, 'setup', { name: 'Memory 1', email: 'mem1@bench.test', password: PASSWORD });
    const tenants: Tenant[] = [];
    for (let index = 1; index <= TENANTS; index++) {
      const email = `mem${index}@bench.test`;
      const tenant =
        index === 1
          ? (await ctx.control.get<{ id: string }>(`SELECT id FROM tenants`))!
          : ((await runCommand(ctx, 'tenant create', { name: `Memory ${index}` })) as { id: string });
      if (index > 1)
        await runCommand(ctx, 'user create', { tenant: tenant.id, email, role: 'tenant_admin', password: PASSWORD });
      const { key } = (await runCommand(ctx, 'apikey create', {
        tenant: tenant.id,
        user: email,
        scopes: 'ingest,read',
        name: 'bench:memory',
      })) as { key: string };
      tenants.push({ index, email, key });
    }
    return tenants;
  } finally {
    await server.close();
  }
}

/** Requests answered 503 or cut off (DuckDB short of the shared budget), by path: counted and printed, not fatal. */
const refused = new Map<string, number>();
const refuse = (url: string, how: '503' | 'cut off' = '503') => {
  const key = `${new URL(url).pathname} ${how}`;
  refused.set(key, (refused.get(key) ?? 0) + 1);
};

/** Posts `body`; a 503 is counted and sent again after its Retry-After, as a client does. */
async function post(url: string, key: string, body: unknown): Promise<void> {
  for (;;) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });
    if (res.status === 503) {
      refuse(url);
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
      continue;
    }
    if (res.status >= 300) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
    return;
  }
}

/** REST command executions spread evenly from `from` to now. */
function batch(prefix: string, start: number, n: number, total: number, from: number) {
  const span = Date.now() - from;
  return {
    command_executions: Array.from({ length: n }, (_, k) => {
      const i = start + k;
      return {
        id: `${prefix}-${i}`,
        command_name: ['Bash', 'Read', 'Edit', 'Grep'][i % 4],
        execution_time_ms: (i * 7919) % 20_000,
        status: i % 17 ? 'success' : 'failure',
        timestamp: new Date(from + Math.floor((i * span) / total)).toISOString(),
        session_id: `${prefix}-s${Math.floor(i / 300)}`,
        project: `/home/dev/src/project-${i % 13}`,
      };
    }),
  };
}

async function fill(url: string, key: string, prefix: string, total: number, from: number): Promise<void> {
  for (let i = 0; i < total; i += 1000)
    await post(`${url}/api/metrics/batch`, key, batch(prefix, i, Math.min(1000, total - i), total, from));
}

/** Runs `one` back to back until `until`, timing each. */
async function loop(name: string, unit: string, until: number, one: (i: number) => Promise<number>): Promise<Timings> {
  const sorted: number[] = [];
  let items = 0;
  const started = performance.now();
  for (let i = 0; performance.now() < until; i++) {
    const t = performance.now();
    items += await one(i);
    sorted.push(performance.now() - t);
  }
  return {
    name,
    n: sorted.length,
    seconds: (performance.now() - started) / 1000,
    sorted: sorted.sort((a, b) => a - b),
    unit,
    items,
  };
}

/** Every tenant sends HOOKS_PER_SECOND hooks a second, each due at its time (latency counted from then). */
async function hooks(url: string, tenants: Tenant[], until: number): Promise<Timings> {
  const sorted: number[] = [];
  const started = performance.now();
  const every = 1000 / HOOKS_PER_SECOND;
  await Promise.all(
    tenants.map(async (t, c) => {
      for (let k = 0; ; k++) {
        const due = started + (c * every) / tenants.length + k * every;
        if (due >= until) break;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const body = {
          hook_event_name: 'PostToolUse',
          session_id: `mem-${t.index}-s${k % 50}`,
          cwd: '/home/dev/src/app',
          tool_name: ['Bash', 'Read', 'Edit'][k % 3],
          tool_use_id: `toolu_mem_${t.index}_${k}`,
          tool_input: { command: 'ls' },
          tool_response: { stdout: 'ok' },
        };
        await post(`${url}/api/v1/hooks/claude-code`, t.key, body);
        sorted.push(performance.now() - due);
      }
    }),
  );
  return {
    name: `hooks: ${tenants.length} tenants × ${HOOKS_PER_SECOND}/s`,
    n: sorted.length,
    seconds: (performance.now() - started) / 1000,
    sorted: sorted.sort((a, b) => a - b),
    unit: 'events',
    items: sorted.length,
  };
}

async function main() {
  const dir = tempDir('am-bench-memory');
  const tenants = await prepare(dir.path);
  const budgetMb = loadConfig({ 'memory-limit': LIMIT }, {}).memoryLimitMb;
  const server = await serverProcess(dir.path, ['--memory-limit', LIMIT]);
  let sampled = 0;
  const sampler = setInterval(() => (sampled = Math.max(sampled, memoryMb(server.pid).rss)), 100);
  try {
    const seedStarted = performance.now();
    for (const t of tenants) await fill(server.url, t.key, `seed${t.index}`, SEED, Date.now() - 90 * DAY);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    for (const t of tenants)
      t.cookie = [...(await signIn(server, t.email, PASSWORD)).cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const before = memoryMb(server.pid);
    console.log(
      `seeded ${TENANTS} × ${SEED} events in ${seedSeconds.toFixed(1)} s; RSS ${before.rss.toFixed(0)} MiB, peak so far ${before.peak.toFixed(0)} MiB`,
    );

    const until = performance.now() + SECONDS * 1000;
    const pages = ['/?range=30d', '/tools?range=30d', '/?range=90d', '/sessions?range=30d'];
    const reader = (
      name: string,
      offset: number,
      path: (t: Tenant, i: number) => string,
      headers: (t: Tenant) => Record<string, string>,
    ) =>
      loop(name, name.startsWith('export') ? 'rows' : 'pages', until, async (i) => {
        const t = tenants[(i + offset) % tenants.length]!;
        const res = await fetch(`${server.url}${path(t, i)}`, { headers: headers(t), redirect: 'manual' });
        if (res.status === 503) {
          refuse(`${server.url}${path(t, i)}`);
          await res.arrayBuffer();
          return 0;
        }
        if (res.status !== 200) throw new Error(`${path(t, i)} answered ${res.status}`);
        // A download the server ends early (it ran short of memory after its headers) is cut off, as its client sees it.
        const body = await res.text().catch(() => (refuse(`${server.url}${path(t, i)}`, 'cut off'), null));
        if (body === null) return 0;
        return name.startsWith('export') ? body.split('\n').length - 2 : 1;
      });
    const backfillStarted = performance.now();
    const results = await Promise.all([
      hooks(server.url, tenants, until),
      fill(server.url, tenants[0]!.key, 'backfill', BACKFILL, Date.now() - 3 * 365 * DAY).then((): Timings => {
        const seconds = (performance.now() - backfillStarted) / 1000;
        return {
          name: `backfill: ${BACKFILL} events over 3 years, 1000/request`,
          n: BACKFILL / 1000,
          seconds,
          sorted: [],
          unit: 'events',
          items: BACKFILL,
        };
      }),
      reader(
        'dashboards: 2 readers, every tenant',
        0,
        (_t, i) => pages[i % pages.length]!,
        (t) => ({ cookie: t.cookie!, accept: 'text/html' }),
      ),
      reader(
        'dashboards (2nd reader)',
        7,
        (_t, i) => pages[(i + 1) % pages.length]!,
        (t) => ({ cookie: t.cookie!, accept: 'text/html' }),
      ),
      reader(
        'exports: CSV of 90 days, every tenant',
        3,
        () => `/api/metrics/export/csv?from=${new Date(Date.now() - 90 * DAY).toISOString()}`,
        (t) => ({ authorization: `Bearer ${t.key}` }),
      ),
    ]);
    const after = memoryMb(server.pid);

    console.log(
      `\nmemory benchmark (${TENANTS} tenants, --memory-limit ${LIMIT}, ${SECONDS} s, Node ${process.version}, ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(2)}, ${new Date().toISOString()})\n`,
    );
    console.log(
      'workload'.padEnd(48),
      'n'.padStart(6),
      'per s'.padStart(9),
      'p50 ms'.padStart(8),
      'p95 ms'.padStart(8),
      'p99 ms'.padStart(8),
    );
    for (const r of results) {
      const q = (p: number) => (r.sorted.length ? percentile(r.sorted, p).toFixed(0) : '-');
      console.log(
        r.name.padEnd(48),
        String(r.n).padStart(6),
        `${(r.items / r.seconds).toFixed(r.items / r.seconds < 10 ? 1 : 0)} ${r.unit}`.padStart(9 + r.unit.length + 1),
        q(0.5).padStart(8),
        q(0.95).padStart(8),
        q(0.99).padStart(8),
      );
    }
    console.log(
      `\nanswered 503 or cut off (short of memory; retried or skipped): ${refused.size ? [...refused].map(([p, n]) => `${p} ${n}`).join(', ') : 'none'}`,
    );
    console.log(
      `peak RSS ${after.peak.toFixed(0)} MiB (VmHWM; sampled ${sampled.toFixed(0)}) against a budget of ${budgetMb} MiB: ${(after.peak / budgetMb).toFixed(2)}×; RSS at the end ${after.rss.toFixed(0)} MiB`,
    );
  } finally {
    clearInterval(sampler);
    await server.stop();
    dir.remove();
  }
}

await main();
