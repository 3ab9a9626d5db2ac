// One memory budget for the whole process: every DuckDB file attached to one instance whose
// memory limit is DuckDB's part of --memory-limit (spilling under the data directory), and
// idle tenant files closed and reopened on demand, safely against statements in flight.
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { openDatabase } from '../src/storage/duckdb.js';
import { tenantPath } from '../src/storage/datadir.js';
import { DUCKDB_THREADS } from '../src/storage/memory.js';
import { IDLE_MS } from '../src/storage/tenant-files.js';
import { ingestKey, startTestServer, tempDir, type TestServer } from './helpers.js';

const HOUR = 3_600_000;

const walBytes = (path: string) => (existsSync(path) ? statSync(path).size : 0);

/** Stops the clock and the background passes, so only the test touches the files. */
async function quiet(server: TestServer) {
  let now = Date.now();
  server.ctx.now = () => new Date(now);
  await Promise.all([
    server.ctx.aggregator.stop(),
    server.ctx.alerts.stop(),
    server.ctx.digests.stop(),
    server.ctx.delivery.stop(),
  ]);
  return { advance: (ms: number) => (now += ms), now: () => now };
}

const hook = (server: TestServer, key: string, prompt: string) =>
  fetch(`${server.url}/api/v1/hooks/claude-code`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ session_id: 's-idle', hook_event_name: 'UserPromptSubmit', prompt }),
  });

async function events(server: TestServer, key: string, now: number): Promise<number> {
  const res = await fetch(`${server.url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({
      metrics: ['events'],
      from: new Date(now - HOUR).toISOString(),
      to: new Date(now + HOUR).toISOString(),
    }),
  });
  assert.is(res.status, 200, 'query answered');
  return Number(((await res.json()) as { rows: { events: number }[] }).rows[0]!.events);
}

type Settings = { memory: string; threads: number; temp: string };
const settingsOf = async (server: TestServer, tenantId: string) =>
  (await (
    await server.ctx.tenantFiles.open(tenantId)
  ).get<Settings>(
    `SELECT current_setting('memory_limit') AS memory, current_setting('threads') AS threads, current_setting('temp_directory') AS temp`,
  ))!;

test('--memory-limit is read as a size and refused, naming the setting, when it is not one', () => {
  assert.is(loadConfig({}, {}).memoryLimitMb, 1024, 'default');
  assert.is(loadConfig({ 'memory-limit': '1GB' }, {}).memoryLimitMb, 1024);
  assert.is(loadConfig({}, { AGENTMETER_MEMORY_LIMIT: '300' }).memoryLimitMb, 300, 'a bare number is MB');
  assert.throws(
    () => loadConfig({ 'memory-limit': 'lots' }, {}),
    (err: Error) => err instanceof ConfigError && /--memory-limit="lots": a size such as 512MB/.test(err.message),
  );
  assert.throws(
    () => loadConfig({}, { AGENTMETER_MEMORY_LIMIT: '64MB' }),
    (err: Error) => err instanceof ConfigError && /AGENTMETER_MEMORY_LIMIT="64MB": at least 128MB/.test(err.message),
  );
});

test("every file shares one DuckDB instance: one memory limit (DuckDB's part of the budget), its threads, one spill directory", async () => {
  const server = await startTestServer({ flags: { 'memory-limit': '256MB' } });
  try {
    const { tenantId } = await ingestKey(server);
    const beta = (await runCommand(server.ctx, 'tenant create', { name: 'Beta' })) as { id: string };
    assert.is(server.ctx.memory.duckdbMb, 102, "DuckDB's part of 256MB");
    assert.is(server.ctx.memory.openCount(), 3, 'the control database and two tenant files, attached');
    for (const id of [tenantId, beta.id]) {
      const s = await settingsOf(server, id);
      assert.is(s.memory, '102.0 MiB', "the whole of DuckDB's part, shared");
      assert.is(Number(s.threads), DUCKDB_THREADS);
      assert.is(s.temp, join(server.dataDir, 'tmp'));
    }
    const db = await server.ctx.tenantFiles.open(beta.id);
    assert.is(
      (await db.get<{ n: number }>(
        `SELECT count(*)::INTEGER AS n FROM tenant_meta WHERE key = 'tenant_id' AND value = $id`,
        { id: beta.id },
      ))!.n,
      1,
      "unqualified names are the tenant's own file",
    );
  } finally {
    await server.stop();
  }
});

test('an idle tenant file is closed, gives its share back, and reopens on the next request with every event', async () => {
  const server = await startTestServer({ flags: { 'memory-limit': '256MB' } });
  try {
    const { key, tenantId } = await ingestKey(server);
    const clock = await quiet(server);
    const files = server.ctx.tenantFiles;
    for (const p of ['one', 'two', 'three']) assert.is((await hook(server, key, p)).status, 200);
    await server.ctx.ingest.settled(tenantId); // acknowledged from the journal: applied to the file now
    assert.is(await files.closeIdle(), 0, 'just used');
    clock.advance(IDLE_MS - 1);
    assert.is(await files.closeIdle(), 0, 'not idle long enough');
    clock.advance(1);
    assert.is(await files.closeIdle(), 1, 'idle for IDLE_MS');
    assert.is(files.openCount(), 0);
    assert.ok(files.asleep(tenantId));
    assert.is(server.ctx.memory.openCount(), 1, 'detached: only the control database is attached');

    assert.is(await events(server, key, clock.now()), 3, 'reopened for a query, with every event');
    assert.is(files.openCount(), 1);
    assert.is((await hook(server, key, 'four')).status, 200, 'ingest after a reopen');
    assert.is(await events(server, key, clock.now()), 4);
  } finally {
    await server.stop();
  }
});

/** A tenant with one hook, rolled up, whose file was then closed for idleness (the clock is the test's). */
async function asleepAfterOneHook(server: TestServer) {
  const { key, tenantId } = await ingestKey(server);
  const clock = await quiet(server);
  assert.is((await hook(server, key, 'hello')).status, 200);
  await server.ctx.aggregator.runOnce(tenantId, { compact: true, retention: true });
  await server.ctx.tenantFiles.closeIdle();
  clock.advance(IDLE_MS);
  assert.is(await server.ctx.tenantFiles.closeIdle(), 1);
  return { key, tenantId, clock };
}

test('background passes do not keep a file open: one closed for idleness goes back to sleep after them', async () => {
  const server = await startTestServer();
  try {
    const { key, tenantId, clock } = await asleepAfterOneHook(server);
    await server.ctx.aggregator.runOnce(tenantId, { compact: true, retention: true });
    await server.ctx.alerts.runOnce(tenantId);
    assert.ok(server.ctx.tenantFiles.asleep(tenantId), 'asleep again after the worker and the alerts');
    assert.is(await events(server, key, clock.now()), 1);
  } finally {
    await server.stop();
  }
});

test('health checks and /metrics scrapes read the aggregation lag without waking an idle file', async () => {
  const server = await startTestServer();
  try {
    const { tenantId, clock } = await asleepAfterOneHook(server);
    for (const path of ['/readyz', '/metrics']) assert.is((await fetch(`${server.url}${path}`)).status, 200, path);
    assert.ok(server.ctx.tenantFiles.asleep(tenantId), 'still asleep after a health check and a scrape');
    clock.advance(IDLE_MS);
    assert.is(await server.ctx.tenantFiles.closeIdle(), 0, 'nothing woke it');
    assert.equal(
      (await server.ctx.aggregator.lag()).map((l) => [l.pendingEvents, l.lastSeq > 0]),
      [[0, true]],
    );
  } finally {
    await server.stop();
  }
});

test('a request DuckDB refuses for want of the shared budget is a 503 with Retry-After, not a 500', async () => {
  const server = await startTestServer();
  try {
    const { key, tenantId } = await ingestKey(server);
    await quiet(server);
    for (let i = 0; i < 20; i++) assert.is((await hook(server, key, `prompt ${i}`)).status, 200);
    const db = await server.ctx.tenantFiles.open(tenantId);
    const ask = () => fetch(`${server.url}/api/v1/sessions?range=30d`, { headers: { authorization: `Bearer ${key}` } });
    assert.is((await ask()).status, 200);
    // The shared instance's limit (every file shares it) squeezed to what it holds now: the
    // query's own memory is refused.
    await db.run('CHECKPOINT');
    const held = Number((await db.get<{ b: number }>('SELECT sum(memory_usage_bytes) AS b FROM duckdb_memory()'))!.b);
    await db.run(`SET memory_limit = '${Math.ceil(held / 1024) + 1}KiB'`);
    const refused = await ask();
    await db.run(`SET memory_limit = '${server.ctx.memory.duckdbMb}MiB'`);
    assert.is(refused.status, 503, await refused.clone().text());
    assert.is(refused.headers.get('retry-after'), '2');
    assert.match(((await refused.json()) as { error: string }).error, /short of memory/);
    assert.is((await ask()).status, 200, 'served again once memory is back');
  } finally {
    await server.stop();
  }
});

test('a worker pass that wrote checkpoints the file: nothing of it is left in the write-ahead log', async () => {
  const server = await startTestServer();
  try {
    const { key, tenantId } = await ingestKey(server);
    const clock = await quiet(server);
    for (const p of ['one', 'two']) assert.is((await hook(server, key, p)).status, 200);
    await server.ctx.ingest.settled(tenantId); // acknowledged once journaled: applied right after
    const wal = `${tenantPath(server.dataDir, tenantId)}.wal`;
    assert.ok(walBytes(wal) > 0, 'the commits are in the log');
    clock.advance(10_000); // past a checkpoint the worker's timer may have made before `quiet` (checkpointEveryMs)
    await server.ctx.aggregator.runOnce(tenantId);
    assert.is(walBytes(wal), 0, 'checkpointed after the rollup');
  } finally {
    await server.stop();
  }
});

test('a file deleted while closed for idleness is not recreated: its tenant is unavailable', async () => {
  const server = await startTestServer();
  try {
    const { key, tenantId } = await ingestKey(server);
    const clock = await quiet(server);
    assert.is((await hook(server, key, 'hello')).status, 200);
    await server.ctx.ingest.settled(tenantId);
    await server.ctx.tenantFiles.closeIdle();
    clock.advance(IDLE_MS);
    assert.is(await server.ctx.tenantFiles.closeIdle(), 1);
    const path = tenantPath(server.dataDir, tenantId);
    rmSync(path);
    const res = await hook(server, key, 'lost?');
    assert.is(res.status, 503, 'refused, not stored in a new empty file');
    assert.not.ok(existsSync(path), 'no file made in its place');
  } finally {
    await server.stop();
  }
});

test('sleep refuses while a statement is queued, and a statement queued behind it wakes the file', async () => {
  const dir = tempDir('am-sleep');
  const db = await openDatabase(join(dir.path, 'x.duckdb'));
  try {
    await db.run('CREATE TABLE t AS SELECT range AS i FROM range(200000)');
    const reader = await db.connect();
    const slow = reader.all(`SELECT count(DISTINCT i % 99991) AS n FROM t`);
    assert.is(await db.sleep(), false, 'a read is running on another connection');
    await slow;
    const sleeping = db.sleep();
    const [slept, rows, other] = await Promise.all([
      sleeping,
      db.all<{ n: number }>('SELECT count(*) AS n FROM t'),
      reader.get<{ n: number }>('SELECT max(i) AS n FROM t'),
    ]);
    assert.ok(slept, 'idle: it slept');
    assert.is(rows[0]!.n, 200000, 'the statement queued behind the sleep ran on the reopened file');
    assert.is(other!.n, 199999, 'and so did one on the other connection');
    assert.not.ok(db.asleep());
    assert.ok(await db.sleep());
    assert.ok(db.asleep());
  } finally {
    await db.close();
    dir.remove();
  }
});

test.run();
