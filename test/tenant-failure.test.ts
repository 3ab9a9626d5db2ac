// One tenant's file missing, replaced or damaged makes that tenant alone unavailable: its
// routes answer 503 with Retry-After, /readyz names it, the appliance starts and serves the
// others, and a file restored from a backup is picked up without a restart.
import { copyFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { runCommand } from '../src/admin/commands.js';
import { createIngestor } from '../src/ingest/ingest.js';
import { createLogger } from '../src/log.js';
import { tenantPath } from '../src/storage/datadir.js';
import { TenantUnavailableError } from '../src/storage/errors.js';
import { createTenantFiles } from '../src/storage/tenant-files.js';
import { newId } from '../src/ids.js';
import { ADMIN, ingestKey, signIn, startTestServer, tempDir, type TestServer } from './helpers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Tenant = { tenantId: string; key: string };

const HOUR = 3_600_000;

/** Stops the server's clock (the tenant files' backoff follows it); `advance` moves it. */
function freezeClock(server: TestServer) {
  let now = Date.now();
  server.ctx.now = () => new Date(now);
  return {
    advance: (ms: number) => (now += ms),
    get now() {
      return now;
    },
  };
}

async function secondTenant(server: TestServer): Promise<Tenant> {
  const b = (await runCommand(server.ctx, 'tenant create', { name: 'Beta' })) as { id: string };
  await runCommand(server.ctx, 'user create', {
    tenant: b.id,
    email: 'bob@beta.test',
    role: 'tenant_admin',
    password: 'beta password 12',
  });
  const { key } = (await runCommand(server.ctx, 'apikey create', {
    tenant: b.id,
    user: 'bob@beta.test',
    scopes: 'ingest,read',
  })) as { key: string };
  return { tenantId: b.id, key };
}

const hook = (server: TestServer, t: Tenant, prompt: string) =>
  fetch(`${server.url}/api/v1/hooks/claude-code`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${t.key}` },
    body: JSON.stringify({ session_id: `s-${t.tenantId}`, hook_event_name: 'UserPromptSubmit', prompt }),
  });

/** The tenant's events in the hour around `now`, through the query API. */
const query = (server: TestServer, t: Tenant, now: number) =>
  fetch(`${server.url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${t.key}` },
    body: JSON.stringify({
      metrics: ['events'],
      from: new Date(now - HOUR).toISOString(),
      to: new Date(now + HOUR).toISOString(),
    }),
  });

async function events(server: TestServer, t: Tenant, now: number): Promise<number> {
  const res = await query(server, t, now);
  assert.is(res.status, 200, 'query answered');
  return Number(((await res.json()) as Json).rows[0].events);
}

async function assertUnavailable(res: Response, what: string): Promise<string> {
  assert.is(res.status, 503, what);
  assert.ok(Number(res.headers.get('retry-after')) >= 1, `${what}: Retry-After`);
  const text = await res.text();
  assert.match(text, /data is unavailable right now/, `${what}: says why`);
  return text;
}

async function readyz(server: TestServer): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${server.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Json };
}

/** A WebSocket upgrade that is expected to be refused: its status and Retry-After. */
function refusedUpgrade(server: TestServer, key: string): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/v1/stream`, {
      headers: { authorization: `Bearer ${key}` },
    });
    socket.once('open', () => {
      socket.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    socket.once('unexpected-response', (_req, res: IncomingMessage) => {
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] });
      res.resume();
      socket.terminate();
    });
    socket.once('error', () => undefined);
  });
}

test('a tenant file deleted, damaged or restored: that tenant alone is unavailable, and back without a restart', async () => {
  const dir = tempDir('am-tenant-failure');
  const backup = join(dir.path, 'backup-a.duckdb');
  let server = await startTestServer({ dataDir: dir.path });
  try {
    const a: Tenant = await ingestKey(server);
    const b = await secondTenant(server);
    assert.is((await hook(server, a, 'a1')).status, 200);
    assert.is((await hook(server, b, 'b1')).status, 200);
    // A backup as the README says: stop, copy.
    await server.stop();
    copyFileSync(tenantPath(dir.path, a.tenantId), backup);

    server = await startTestServer({ dataDir: dir.path });
    let clock = freezeClock(server);
    let admin = await signIn(server, ADMIN.email, ADMIN.password); // A's administrator
    assert.is((await readyz(server)).status, 200);
    assert.is((await hook(server, a, 'lost with the file')).status, 200, 'A has a writer on its file');
    // Applied to the file before it goes (acknowledged once journaled, applied within 25 ms),
    // so that the deleted file's writer has nothing left to apply.
    await server.ctx.ingest.settled(a.tenantId);

    rmSync(tenantPath(dir.path, a.tenantId));
    // Committed to the open handle of a file that is gone: refused, not acknowledged.
    await assertUnavailable(await hook(server, a, 'a2'), "A's hook after its file was deleted");
    await assertUnavailable(await hook(server, a, 'a3'), "A's next hook");
    await assertUnavailable(await query(server, a, clock.now), "A's query");
    const page = await assertUnavailable(await admin.get('/'), "A's overview page");
    assert.match(page, /<h1>503<\/h1>/, 'an error page for a browser');
    await assertUnavailable(
      await admin.request('/live', { headers: { accept: 'text/event-stream' } }),
      "A's live stream",
    );
    const upgrade = await refusedUpgrade(server, a.key);
    assert.is(upgrade.status, 503, "A's WebSocket upgrade");
    assert.ok(Number(upgrade.retryAfter) >= 1, "the upgrade's Retry-After");

    assert.is((await hook(server, b, 'b2')).status, 200, 'B is not affected');
    assert.is(await events(server, b, clock.now), 2, "B's events are all there");
    let ready = await readyz(server);
    assert.is(ready.status, 503);
    assert.equal(ready.body.checks.tenants, { [a.tenantId]: 'failed: file missing', [b.tenantId]: 'ok' });
    assert.is(ready.body.checks.control_db, 'ok');
    assert.is(ready.body.checks.data_dir, 'ok');
    // The worker goes past A and rolls B up.
    await server.ctx.aggregator.runOnce();
    const lag = await server.ctx.aggregator.lag();
    assert.is(lag.find((l) => l.tenantId === b.tenantId)?.pendingEvents, 0, 'B rolled up');
    assert.ok(lag.find((l) => l.tenantId === a.tenantId)?.lastError, 'A reported');
    assert.is(await events(server, b, clock.now), 2, "B's events, from its rollups");

    // A start with A's file missing serves everyone else.
    await server.stop();
    server = await startTestServer({ dataDir: dir.path });
    clock = freezeClock(server);
    assert.ok(
      server.logs.some(
        (l) => l.msg === 'tenant file unavailable' && l.tenant_id === a.tenantId && l.reason === 'file missing',
      ),
      'logged at start',
    );
    admin = await signIn(server, ADMIN.email, ADMIN.password);
    await assertUnavailable(await admin.get('/'), "A's overview page after a restart");
    assert.is((await hook(server, b, 'b3')).status, 200);
    assert.is(await events(server, b, clock.now), 3);
    await assertUnavailable(await hook(server, a, 'a4'), 'A after a restart');

    // Garbage, then a directory, where A's file should be.
    writeFileSync(tenantPath(dir.path, a.tenantId), Buffer.alloc(64 * 1024, 0x5a));
    clock.advance(60_000);
    await assertUnavailable(await hook(server, a, 'a5'), 'A with a garbage file');
    ready = await readyz(server);
    assert.is(ready.status, 503);
    assert.equal(ready.body.checks.tenants, { [a.tenantId]: 'failed: file cannot be opened', [b.tenantId]: 'ok' });
    rmSync(tenantPath(dir.path, a.tenantId));
    mkdirSync(tenantPath(dir.path, a.tenantId));
    clock.advance(60_000);
    await assertUnavailable(await hook(server, a, 'a6'), 'A with a directory in place of its file');
    assert.is((await readyz(server)).body.checks.tenants[a.tenantId], 'failed: not a regular file');
    assert.is((await hook(server, b, 'b4')).status, 200, 'B still served');

    // Restored from the backup: tried again once the backoff has passed, not before.
    rmSync(tenantPath(dir.path, a.tenantId), { recursive: true });
    copyFileSync(backup, tenantPath(dir.path, a.tenantId));
    await assertUnavailable(await hook(server, a, 'a7'), 'A within the backoff');
    clock.advance(60_000);
    assert.is((await hook(server, a, 'a8')).status, 200, 'A is back');
    // The journal's current segment still holds 'lost with the file', above the copy's mark.
    assert.is(await events(server, a, clock.now), 3, 'what the backup held, what the journal held, and the new event');
    assert.is((await admin.get('/')).status, 200, "A's pages are back");
    ready = await readyz(server);
    assert.is(ready.status, 200);
    assert.equal(ready.body.checks.tenants, { [a.tenantId]: 'ok', [b.tenantId]: 'ok' });
    assert.ok(server.logs.some((l) => l.msg === 'tenant file available again' && l.tenant_id === a.tenantId));
    assert.is(await events(server, b, clock.now), 4, 'every event B was told was stored');
  } finally {
    await server.stop();
    dir.remove();
  }
});

test("an open WebSocket stream is told to retry while its tenant's file is gone", async () => {
  const server = await startTestServer();
  const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/v1/stream`, {
    headers: { authorization: `Bearer ${(await ingestKey(server)).key}` },
  });
  try {
    const { tenantId } = (await server.ctx.control.get<{ tenantId: string }>('SELECT id AS tenantId FROM tenants'))!;
    freezeClock(server);
    const replies: Json[] = [];
    const waiting: ((m: Json) => void)[] = [];
    socket.on('message', (data) => {
      const m = JSON.parse(String(data)) as Json;
      const w = waiting.shift();
      if (w) w(m);
      else replies.push(m);
    });
    const next = () => (replies.length ? Promise.resolve(replies.shift()!) : new Promise<Json>((r) => waiting.push(r)));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));

    socket.send(JSON.stringify({ ref: 1, kind: 'prompt', session_id: 's1' }));
    assert.equal(await next(), { type: 'ack', ref: 1, accepted: 1, rejected: [] });
    rmSync(tenantPath(server.dataDir, tenantId));
    socket.send(JSON.stringify({ ref: 2, kind: 'prompt', session_id: 's2' }));
    const refused = await next();
    assert.is(refused.type, 'error');
    assert.is(refused.ref, 2);
    assert.is(refused.retry, true);
    assert.ok(refused.retry_after >= 1);
    assert.match(refused.error, /data is unavailable right now/);
  } finally {
    socket.terminate();
    await server.stop();
  }
});

test('a commit to a file replaced under the writer is refused, its handle closed, and reopening waits for the backoff', async () => {
  const dir = tempDir('am-replaced');
  let clock = 1_000_000;
  const logs: Json[] = [];
  const log = createLogger('debug', (line) => logs.push(JSON.parse(line) as Json));
  const files = createTenantFiles(dir.path, { log, now: () => clock, retryMs: 1000 });
  const ingest = createIngestor(files);
  const tenantId = newId('t');
  const who = { tenantId, userId: 'u_1' };
  try {
    await files.create(tenantId);
    assert.equal(await ingest.ingest(who, 'rest', [{ kind: 'prompt', id: 'e1' }]), {
      accepted: 1,
      stored: 1,
      rejected: [],
    });
    const stale = await files.open(tenantId);
    const path = tenantPath(dir.path, tenantId);
    writeFileSync(`${path}.new`, Buffer.alloc(8192, 1));
    renameSync(`${path}.new`, path);

    const refused = await ingest.ingest(who, 'rest', [{ kind: 'prompt', id: 'e2' }]).then(
      () => null,
      (err: unknown) => err,
    );
    assert.instance(refused, TenantUnavailableError, 'the commit is not acknowledged');
    assert.is((refused as TenantUnavailableError).reason, 'file replaced');
    assert.is((refused as TenantUnavailableError).retryAfterMs, 1000);
    const attempts = () => logs.filter((l) => l.msg === 'tenant file unavailable').length;
    assert.is(attempts(), 1);

    const tryOpen = () =>
      files.open(tenantId).then(
        () => null,
        (err: unknown) => err as TenantUnavailableError,
      );
    clock += 999;
    assert.is((await tryOpen())?.reason, 'file replaced', 'within the backoff: refused without trying');
    assert.is(attempts(), 1);
    clock += 1;
    assert.is((await tryOpen())?.reason, 'file cannot be opened', 'tried again: the garbage does not open');
    assert.is(attempts(), 2);
    const closed = await stale.get('SELECT 1').then(
      () => null,
      (err: Error) => err.message,
    );
    assert.match(String(closed), /is closed/, 'the stale handle was closed before the file was opened again');
    clock += 1999;
    assert.is((await tryOpen())?.retryAfterMs, 1, 'the second wait is twice the first');

    // A good file of this tenant (as a backup would be) in place of the garbage.
    const elsewhere = createTenantFiles(join(dir.path, 'elsewhere'));
    await elsewhere.create(tenantId);
    await elsewhere.closeAll();
    renameSync(tenantPath(join(dir.path, 'elsewhere'), tenantId), path);
    clock += 1;
    assert.equal(
      await ingest.ingest(who, 'rest', [{ kind: 'prompt', id: 'e3' }]),
      { accepted: 1, stored: 1, rejected: [] },
      'a new writer on the new file',
    );
    assert.is((await (await files.open(tenantId)).get<{ n: number }>('SELECT count(*) AS n FROM events'))!.n, 1);
  } finally {
    await files.closeAll();
    dir.remove();
  }
});

test.run();
