// What the suites share: temporary data directories, a started server, a browser-like
// HTTP client with a cookie jar, and the CLI run as a real process.
import { spawn, spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { startServer, type RunningServer } from '../src/server.js';
import type { Timer } from '../src/time/timer.js';
import { createIngestor } from '../src/ingest/ingest.js';
import { createAggregator, type AggregatorOptions } from '../src/aggregate/worker.js';
import { sessionSteps } from '../src/sessions/worker-steps.js';
import type { TenantFiles } from '../src/storage/tenant-files.js';
import { journalPath } from '../src/storage/datadir.js';
import { createTenantFiles } from '../src/storage/tenant-files.js';

export const ROOT = new URL('..', import.meta.url).pathname;

export function tempDir(label = 'am'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `${label}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export type TestServer = RunningServer & { dataDir: string; logs: Record<string, unknown>[]; stop(): Promise<void> };

/** A real server on 127.0.0.1 and a free port, over a fresh (or the given) data directory. */
export async function startTestServer(
  options: { dataDir?: string; flags?: Record<string, string> } = {},
): Promise<TestServer> {
  const dir = options.dataDir ? null : tempDir('am-data');
  const dataDir = options.dataDir ?? dir!.path;
  const logs: Record<string, unknown>[] = [];
  const config = loadConfig({ 'data-dir': dataDir, port: '0', host: '127.0.0.1', ...options.flags }, {});
  const server = await startServer(
    config,
    createLogger('debug', (line) => logs.push(JSON.parse(line) as Record<string, unknown>)),
  );
  return {
    ...server,
    dataDir,
    logs,
    async stop() {
      await server.close();
      dir?.remove();
    },
  };
}

/** Like a browser: keeps cookies, does not follow redirects, remembers the last CSRF token. */
export class Client {
  cookies = new Map<string, string>();
  csrf: string | null = null;

  constructor(readonly base: string) {}

  async request(
    path: string,
    init: RequestInit & { form?: Record<string, string | string[]>; json?: unknown } = {},
  ): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    let body = init.body;
    if (init.form) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(init.form))
        for (const one of ([] as string[]).concat(v)) params.append(k, one);
      body = params;
    } else if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    const res = await fetch(new URL(path, this.base), { ...init, headers, body, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const [name, value] = [pair!.slice(0, pair!.indexOf('=')), pair!.slice(pair!.indexOf('=') + 1)];
      if (value === '' || /max-age=0/i.test(cookie)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    if ((res.headers.get('content-type') ?? '').includes('text/html')) {
      const html = await res.clone().text();
      this.csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? this.csrf;
    }
    return res;
  }

  get(path: string, headers: Record<string, string> = {}) {
    return this.request(path, { headers: { accept: 'text/html', ...headers } });
  }

  /** Posts a form the way the page would, with its CSRF token unless told otherwise. */
  post(path: string, form: Record<string, string | string[]>, { csrf = true } = {}) {
    return this.request(path, {
      method: 'POST',
      form: csrf && this.csrf ? { _csrf: this.csrf, ...form } : form,
      headers: { accept: 'text/html' },
    });
  }
}

export const ADMIN = { organisation: 'Acme', email: 'admin@acme.test', password: 'correct horse battery' };

/** Runs first-run setup through the web page; returns the signed-in client. */
export async function setUp(server: { url: string }, admin = ADMIN): Promise<Client> {
  const client = new Client(server.url);
  await client.get('/setup');
  const res = await client.post('/setup', { ...admin, password_confirm: admin.password });
  if (res.status !== 303) throw new Error(`setup answered ${res.status}: ${await res.text()}`);
  return client;
}

export async function signIn(server: { url: string }, email: string, password: string): Promise<Client> {
  const client = new Client(server.url);
  await client.get('/login');
  const res = await client.post('/login', { email, password });
  if (res.status !== 303) throw new Error(`login answered ${res.status}`);
  return client;
}

export type CliResult = { code: number; stdout: string; stderr: string };

/** The real CLI (`src/main.ts` under tsx), as an operator would run it. */
export function runCli(
  args: string[],
  options: { dataDir: string; stdin?: string; env?: Record<string, string> },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/main.ts'), ...args, '--data-dir', options.dataDir],
      {
        cwd: ROOT,
        env: { ...process.env, AGENTMETER_LOG_LEVEL: 'warn', ...options.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * First-run setup on `server`, then a user of the admin's tenant with an API key of the given
 * scopes (made through the same admin commands the CLI uses).
 */
export async function ingestKey(
  server: TestServer,
  scopes = ['ingest', 'read'],
  email = 'agent@acme.test',
): Promise<{ key: string; tenantId: string; userId: string }> {
  const { runCommand } = await import('../src/admin/commands.js');
  const { countUsers } = await import('../src/auth/users.js');
  if ((await countUsers(server.ctx.control)) === 0)
    await runCommand(server.ctx, 'setup', { name: 'Acme', email: ADMIN.email, password: ADMIN.password });
  const tenant = (await server.ctx.control.get<{ id: string }>(
    'SELECT tenant_id AS id FROM users WHERE email = $email',
    { email: ADMIN.email },
  ))!;
  const existing = await server.ctx.control.get<{ id: string }>('SELECT id FROM users WHERE email = $email', { email });
  if (!existing)
    await runCommand(server.ctx, 'user create', {
      tenant: tenant.id,
      email,
      role: 'developer',
      password: 'ingest password 1',
    });
  const key = (await runCommand(server.ctx, 'apikey create', {
    tenant: tenant.id,
    user: email,
    scopes: scopes.join(','),
  })) as { key: string; userId: string };
  return { key: key.key, tenantId: tenant.id, userId: key.userId };
}

export type IngestCtx = { server: TestServer; key: string; tenantId: string; userId: string };

/**
 * A uvu suite whose every test gets a fresh server and an ingest+read key in `ctx`. The
 * worker's timer is stopped: a test runs the passes it needs (`aggregator.runOnce`), so none
 * lands between its steps (or applies retention to its old events) on a slow machine.
 */
export function ingestSuite(name: string) {
  const s = suite<IngestCtx>(name);
  s.before.each(async (ctx) => {
    ctx.server = await startTestServer();
    await ctx.server.ctx.aggregator.stop();
    Object.assign(ctx, await ingestKey(ctx.server));
  });
  s.after.each(async (ctx) => ctx.server.stop());
  return s;
}

/** The `version` field of a package.json under the project root. */
export function packageVersion(path: string): string {
  return (JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as { version: string }).version;
}

/**
 * What `agentmeter version` must report for this checkout besides Node: package.json's
 * version, and the DuckDB release of the pinned bindings (1.5.5-r.5 carries DuckDB v1.5.5).
 */
export function expectedVersions(): { app: string; duckdb: string } {
  const bindings = packageVersion('node_modules/@duckdb/node-bindings/package.json');
  return { app: packageVersion('package.json'), duckdb: `v${bindings.split('-')[0]}` };
}

/** A tmpfs of `mb` at a new directory (a disk to fill), or why there cannot be one (not root, no mount). */
export function smallDisk(mb: number): { path: string; remove(): void } | string {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const dir = tempDir('am-full-disk');
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', dir.path], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    dir.remove();
    return `mount failed: ${mounted.stderr.trim()}`;
  }
  return {
    path: dir.path,
    remove: () => {
      spawnSync('umount', ['-l', dir.path]); // lazy: a file a test left open does not keep it mounted
      dir.remove();
    },
  };
}

/** A clock and timeouts that move only when the test says so. */
export function manualTimer() {
  let now = 1000;
  const timeouts: { at: number; ms: number; fn: () => void; live: boolean }[] = [];
  const timer: Timer = {
    now: () => now,
    set(fn, ms) {
      const t = { at: now + ms, ms, fn, live: true };
      timeouts.push(t);
      return () => void (t.live = false);
    },
  };
  return {
    timer,
    armed: () => timeouts.filter((t) => t.live),
    advance(ms: number) {
      now += ms;
      for (const t of timeouts.filter((t) => t.live && t.at <= now)) {
        t.live = false;
        t.fn();
      }
    },
  };
}

/** The event loop's waiting work, run: whatever the writer would start without the timer has started. */
export const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** Tenant files and a journaling ingestor wired as the server wires them, its apply window on `timer`. */
export function journalingIngest(dataDir: string, timer: Timer, applyWindowMs: number) {
  let ingest: ReturnType<typeof createIngestor> | null = null;
  const files = createTenantFiles(dataDir, {
    afterOpen: (id, db) => ingest!.recover(id, db),
    beforeRead: (id) => ingest!.settled(id),
  });
  ingest = createIngestor(files, {
    maxRows: 20_000,
    applyWindowMs,
    timer,
    journalDir: (id) => journalPath(dataDir, id),
  });
  return { files, ingest };
}

/** The aggregation worker over one tenant's file, its failures gathered in `errors`, and an ingestor beside it. */
export function tenantWorker(files: TenantFiles, tenantId: string, options: Partial<AggregatorOptions> = {}) {
  const errors: string[] = [];
  const aggregator = createAggregator({
    tenantFiles: files,
    sessions: sessionSteps,
    tenants: async () => [tenantId],
    log: createLogger('error', (line) => errors.push(line)),
    ...options,
  });
  return { aggregator, errors, ingestor: createIngestor(files) };
}

/**
 * One MCP tool call as raw JSON-RPC over HTTP (`args` as JSON text sends what a JS object
 * cannot hold, such as a `__proto__` key): the result's first text and whether it is an error.
 */
export async function callTool(
  url: string,
  key: string,
  name: string,
  args: Record<string, unknown> | string,
): Promise<{ isError: boolean; text: string }> {
  const json = typeof args === 'string' ? args : JSON.stringify(args);
  const res = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${key}`,
    },
    body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":${JSON.stringify(name)},"arguments":${json}}}`,
  });
  const { result } = (await res.json()) as { result: { isError?: boolean; content: { text: string }[] } };
  return { isError: result.isError === true, text: result.content[0]!.text };
}
