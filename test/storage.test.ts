import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, type Queryable } from '../src/storage/duckdb.js';
import { loadMigrations, migrate, MigrationError, type Migration } from '../src/storage/migrate.js';
import { acquireLock, DataDirLockedError, lockPath, tenantPath } from '../src/storage/datadir.js';
import { adminSocketPath, listenAdminSocket } from '../src/admin/socket.js';
import { RemoteCommandError, runRemote } from '../src/cli/client.js';
import { Hono } from 'hono';
import { createMemoryBudget } from '../src/storage/memory.js';
import { createTenantFiles } from '../src/storage/tenant-files.js';
import { TenantUnavailableError } from '../src/storage/errors.js';
import { newId } from '../src/ids.js';
import { createEventWriter, DEFAULT_WRITER, type EventRow } from '../src/ingest/writer.js';
import { openJournal } from '../src/storage/journal.js';
import { smallDisk, startTestServer, tempDir } from './helpers.js';
import { openAppContext } from '../src/context.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';

const m = (version: number, sql: string): Migration => ({ version, name: `m${version}`, sql });

test('shipped migrations are numbered 1..n in both series', () => {
  for (const series of ['control', 'tenant'] as const) {
    const list = loadMigrations(series);
    assert.ok(list.length > 0, series);
    assert.equal(
      list.map((x) => x.version),
      list.map((_, i) => i + 1),
    );
  }
});

test('migrations apply once and are not applied again after a restart', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'x.duckdb');
  const migrations = [m(1, 'CREATE TABLE a (n INTEGER); INSERT INTO a VALUES (1);'), m(2, 'INSERT INTO a VALUES (2);')];
  let db = await openDatabase(path);
  assert.equal(await migrate(db, migrations), [1, 2]);
  assert.equal(await migrate(db, migrations), []);
  await db.close();

  db = await openDatabase(path);
  assert.equal(await migrate(db, migrations), [], 'nothing to do after reopening');
  assert.equal(await migrate(db, [...migrations, m(3, 'INSERT INTO a VALUES (3);')]), [3], 'only the new one');
  assert.equal(
    (await db.all<{ n: number }>('SELECT n FROM a ORDER BY n')).map((r) => r.n),
    [1, 2, 3],
    'each ran exactly once',
  );
  await db.close();
  dir.remove();
});

test('a failing migration leaves the file exactly as it was', async () => {
  const dir = tempDir();
  const db = await openDatabase(join(dir.path, 'x.duckdb'));
  await migrate(db, [m(1, 'CREATE TABLE a (n INTEGER);')]);
  try {
    await migrate(db, [
      m(1, 'CREATE TABLE a (n INTEGER);'),
      m(2, 'CREATE TABLE b (n INTEGER); INSERT INTO a VALUES (2);'),
      m(3, 'INSERT INTO missing VALUES (1);'),
    ]);
    assert.unreachable('should have failed');
  } catch (err) {
    assert.instance(err, MigrationError);
    assert.match((err as Error).message, /3_m3/);
  }
  assert.equal((await db.all('SELECT version FROM schema_migrations')).length, 1, 'only version 1 recorded');
  assert.equal(
    await db.all(`SELECT table_name FROM information_schema.tables WHERE table_name = 'b'`),
    [],
    'migration 2 rolled back',
  );
  assert.equal(await db.all('SELECT * FROM a'), []);
  await db.close();
  dir.remove();
});

test('migrations whose commit finds the disk full leave the file exactly as it was, as a MigrationError', async () => {
  const disk = smallDisk(24);
  if (typeof disk === 'string') {
    console.log(`  SKIPPED full disk migration test: ${disk}`);
    return;
  }
  const path = join(disk.path, 'x.duckdb');
  try {
    const db = await openDatabase(path);
    await migrate(db, [m(1, 'CREATE TABLE a (n INTEGER);')]);
    await db.run('CHECKPOINT');
    // Room for the small migrations, not for the last one's rows: its commit fails.
    const free = () => statfsSync(disk.path).bavail * statfsSync(disk.path).bsize;
    writeFileSync(join(disk.path, 'filler'), Buffer.alloc(Math.max(0, free() - 1_500_000)));
    let failed: unknown;
    try {
      await migrate(db, [
        m(1, ''),
        m(2, 'CREATE TABLE b (n INTEGER); INSERT INTO a VALUES (2);'),
        m(3, 'CREATE TABLE big AS SELECT i, md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS s FROM range(100000) t(i);'),
      ]);
    } catch (err) {
      failed = err;
    }
    assert.instance(failed, MigrationError);
    assert.match((failed as Error).message, /could not be committed.*No space left/s);
    await db.close().catch(() => undefined);
    rmSync(join(disk.path, 'filler'));
    const again = await openDatabase(path);
    assert.equal(await again.all('SELECT version FROM schema_migrations ORDER BY 1'), [{ version: 1 }], 'no part-way');
    assert.equal(await again.all('SELECT * FROM a'), []);
    await again.close();
  } finally {
    disk.remove();
  }
});

test('a tenant file with events at every older version upgrades to this build', async () => {
  const all = loadMigrations('tenant');
  const dir = tempDir('am-upgrade');
  try {
    for (let version = 2; version < all.length; version++) {
      const db = await openDatabase(join(dir.path, `v${version}.duckdb`));
      try {
        await migrate(db, all.slice(0, version));
        // A hook's tool call from a working directory (tenant migration 0012 renames it), in the columns the file has.
        const sample: Record<string, string> = {
          id: '1',
          seq: '1',
          ts: "TIMESTAMP '2026-03-02 09:00:00'",
          received_at: "TIMESTAMP '2026-03-02 09:00:01'",
          kind: "'tool_call'",
          source: "'hook'",
          user_id: "'u_ana'",
          session_id: "'s1'",
          project: "'/home/ana/src/app'",
          tool_use_id: "'toolu_1'",
          name: "'Bash'",
          status: "'success'",
          duration_ms: '12',
        };
        const columns = (
          await db.all<{ name: string }>(
            `SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'events' ORDER BY ordinal_position`,
          )
        ).filter((c) => c.name in sample);
        await db.run(
          `INSERT INTO events (${columns.map((c) => c.name).join(', ')}) VALUES (${columns.map((c) => sample[c.name]).join(', ')})`,
        );
        assert.equal(
          await migrate(db, all),
          all.slice(version).map((x) => x.version),
          `from version ${version}`,
        );
        assert.equal(
          await db.all('SELECT project, name, duration_ms FROM events'),
          [{ project: version < 12 ? 'app' : '/home/ana/src/app', name: 'Bash', duration_ms: 12 }],
          `from version ${version}`,
        );
      } finally {
        await db.close();
      }
    }
  } finally {
    dir.remove();
  }
});

test('a migration with a code step runs it after its SQL, in the same transaction', async () => {
  const dir = tempDir();
  const db = await openDatabase(join(dir.path, 'x.duckdb'));
  const fill = { ...m(2, 'CREATE TABLE b (n INTEGER);'), step: (tx: Queryable) => tx.run('INSERT INTO b VALUES (7)') };
  const broken = { ...m(3, 'CREATE TABLE c (n INTEGER);'), step: () => Promise.reject(new Error('step failed')) };
  assert.equal(await migrate(db, [m(1, 'CREATE TABLE a (n INTEGER);'), fill]), [1, 2]);
  assert.equal(await db.all('SELECT n FROM b'), [{ n: 7 }]);
  try {
    await migrate(db, [m(1, ''), fill, broken]);
    assert.unreachable('should have failed');
  } catch (err) {
    assert.match((err as Error).message, /3_m3 failed .*step failed/);
  }
  assert.equal(await db.all(`SELECT table_name FROM information_schema.tables WHERE table_name = 'c'`), []);
  const steps = loadMigrations('tenant').filter((x) => x.step);
  assert.ok(steps.length > 0 && steps.every((x) => x.name === 'rollup_catalogue'), 'the shipped steps are found');
  await db.close();
  dir.remove();
});

test('a file migrated by a newer build is refused', async () => {
  const dir = tempDir();
  const db = await openDatabase(join(dir.path, 'x.duckdb'));
  await migrate(db, [m(1, 'SELECT 1;'), m(2, 'SELECT 1;')]);
  try {
    await migrate(db, [m(1, 'SELECT 1;')]);
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /newer than this build/);
  }
  await db.close();
  dir.remove();
});

test("an upgrade's migrations of a tenant file are logged; a new file's are not", async () => {
  const dir = tempDir();
  const all = loadMigrations('tenant');
  const id = newId('t');
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('info', (l) => lines.push(JSON.parse(l)));
  const older = createTenantFiles(dir.path, { migrations: all.slice(0, -1), log });
  await older.create(id);
  await older.closeAll();
  assert.equal(lines, [], 'a new file');
  const newer = createTenantFiles(dir.path, { migrations: all, log });
  await newer.open(id);
  await newer.closeAll();
  assert.equal(
    lines.map((l) => [l.msg, l.tenant_id, l.versions]),
    [['migrated tenant file', id, [all.at(-1)!.version]]],
  );
  // Back to the older build: the tenant is unavailable, and /readyz's reason says why.
  const again = createTenantFiles(dir.path, { migrations: all.slice(0, -1), log });
  try {
    await again.open(id);
    assert.unreachable('refused');
  } catch (err) {
    assert.instance(err, TenantUnavailableError);
    assert.is((err as TenantUnavailableError).reason, 'made by a newer build: use a newer build');
  }
  await again.closeAll();
  dir.remove();
});

test('a command the admin socket ran is in the log, without its arguments', async () => {
  const server = await startTestServer();
  try {
    await runRemote(adminSocketPath(server.dataDir), 'setup', {
      name: 'Acme',
      email: 'root@acme.test',
      password: 'a long secret password',
    });
    const done = server.logs.filter((l) => l.msg === 'admin command done');
    assert.equal(done, [{ ...done[0], command: 'setup' }]);
    assert.not.match(JSON.stringify(server.logs), /a long secret password/);
  } finally {
    await server.stop();
  }
});

test("a deep data directory's admin socket is in a temp directory of this account's alone", async () => {
  const temp = tempDir('am-tmp');
  const before = process.env.TMPDIR;
  process.env.TMPDIR = temp.path; // os.tmpdir() reads it at each call
  const data = join(temp.path, 'd'.repeat(120));
  mkdirSync(data);
  try {
    const own = join(temp.path, `agentmeter-${process.getuid!()}`);
    const server = await startTestServer({ dataDir: data });
    try {
      const path = adminSocketPath(data);
      assert.is(dirname(path), own);
      assert.is(statSync(own).mode & 0o777, 0o700);
      await runRemote(path, 'setup', { name: 'Acme', email: 'root@acme.test', password: 'a long secret password' });
    } finally {
      await server.stop();
    }
    // Made writable by others (or by another account first): not used, and the server does not start.
    chmodSync(own, 0o777);
    assert.throws(() => adminSocketPath(data), /agentmeter-\d+ cannot be used: writable by other users/);
    try {
      await startTestServer({ dataDir: data });
      assert.unreachable('a server started');
    } catch (err) {
      assert.match(String(err), /cannot be used: writable by other users/);
    }
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    temp.remove();
  }
});

test('a data directory made beforehand open to others is narrowed to 0700 at start, and logged', async () => {
  const temp = tempDir('am-open');
  const data = join(temp.path, 'data');
  mkdirSync(data, { mode: 0o755 });
  chmodSync(data, 0o755); // whatever the umask
  try {
    const server = await startTestServer({ dataDir: data });
    await server.stop();
    assert.is(statSync(data).mode & 0o777, 0o700);
    const warned = server.logs.filter((l) => l.level === 'warn' && String(l.msg).startsWith('data directory'));
    assert.equal(
      warned.map((l) => [l.msg, l.path, l.was]),
      [['data directory was open to other users: now 0700', data, '0755']],
    );
    const again = await startTestServer({ dataDir: data });
    await again.stop();
    assert.equal(
      again.logs.filter((l) => String(l.msg).startsWith('data directory')),
      [],
      'nothing to say the next time',
    );
  } finally {
    temp.remove();
  }
});

test('tenant paths come only from generated ids', () => {
  const id = newId('t');
  assert.ok(tenantPath('/data', id).endsWith(`/tenants/${id}.duckdb`));
  for (const bad of ['../control', 't_../../etc', 'acme', `${id}/x`, '', 'T_AAAAAAAAAAAAAAAAAAAA']) {
    assert.throws(() => tenantPath('/data', bad), /not a tenant id/, bad);
  }
});

test('a tenant file refuses to open under another tenant id', async () => {
  const dir = tempDir();
  const files = createTenantFiles(dir.path);
  const [a, b] = [newId('t'), newId('t')];
  await files.create(a);
  await files.closeAll();
  copyFileSync(tenantPath(dir.path, a), tenantPath(dir.path, b));
  const again = createTenantFiles(dir.path);
  try {
    await again.open(b);
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, new RegExp(`belongs to tenant ${a}`));
  }
  await again.closeAll();
  dir.remove();
});

test('migration 4 records the duplicates among events rolled up before it', async () => {
  const dir = tempDir();
  const db = await openDatabase(join(dir.path, 't.duckdb'));
  const all = loadMigrations('tenant');
  await migrate(db, all.slice(0, 3));
  // seq, kind, key, hours after the first: a repeat within a day is a duplicate; one a
  // day and a half later, another kind, or above the watermark (the worker's) is not.
  const rows: [number, string, string | null, number][] = [
    [1, 'api_request', 'r1', 0],
    [2, 'api_request', 'r1', 2],
    [3, 'tool_call', 'r1', 2],
    [4, 'tool_call', 't1', 0],
    [5, 'tool_call', 't1', -3],
    [6, 'api_request', 'r2', 0],
    [7, 'api_request', 'r2', 36],
    [8, 'api_request', null, 0],
    [9, 'api_request', null, 0],
    [10, 'api_request', 'r1', 1],
  ];
  for (const [seq, kind, key, hours] of rows) {
    await db.run(
      `INSERT INTO events (id, ts, received_at, kind, source, user_id, request_id, tool_use_id, seq)
       VALUES ($seq, TIMESTAMP '2026-11-01 00:00:00' + to_hours($hours::BIGINT), now()::TIMESTAMP, $kind, 'rest', 'u', $req, $tool, $seq)`,
      { seq, hours, kind, req: kind === 'api_request' ? key : null, tool: kind === 'tool_call' ? key : null },
    );
  }
  await db.run('UPDATE rollup_state SET last_seq = 9');
  await migrate(db, all);
  const seqs = (await db.all<{ seq: number }>('SELECT seq FROM uncounted_events ORDER BY seq')).map((r) =>
    Number(r.seq),
  );
  assert.equal(seqs, [2, 5]);
  await db.close();
  dir.remove();
});

test('migration 20 drops the events key and keeps every row, column and NOT NULL, in seq order', async () => {
  const dir = tempDir();
  const db = await openDatabase(join(dir.path, 't.duckdb'));
  const all = loadMigrations('tenant');
  await migrate(db, all.slice(0, 19));
  // Stored out of seq order (a file's rows need not be): the copy puts them in seq order.
  for (const seq of [3, 1, 2]) {
    await db.run(
      `INSERT INTO events (id, ts, received_at, kind, source, user_id, session_id, cost_usd, attributes, seq, import_run)
       VALUES ($id, TIMESTAMP '2026-11-01 00:00:00' + to_hours($seq::BIGINT), TIMESTAMP '2026-11-02 00:00:00', 'api_request', 'rest', 'u',
               's', 0.25, '{"a":1}', $seq, $run)`,
      { id: 18_000_000_000_000_000_000n - BigInt(seq), seq, run: seq === 2 ? 'imp_x' : null },
    );
  }
  const columns = `SELECT column_name, data_type, is_nullable FROM information_schema.columns
                    WHERE table_name = 'events' ORDER BY ordinal_position`;
  const before = { rows: await db.all('SELECT * FROM events ORDER BY seq'), columns: await db.all(columns) };
  await migrate(db, all);
  assert.equal(await db.all('SELECT * FROM events'), before.rows, 'every row, in seq order');
  assert.equal(await db.all(columns), before.columns, 'the same columns, types and NOT NULLs');
  const constraints = await db.all<{ t: string }>(
    `SELECT constraint_type AS t FROM duckdb_constraints() WHERE table_name = 'events' ORDER BY 1`,
  );
  assert.equal(
    constraints.map((c) => c.t),
    Array(6).fill('NOT NULL'),
    'no key left; id stays NOT NULL with ts, received_at, kind, source and user_id',
  );
  await db.close();
  dir.remove();
});

test("a read does not wait behind another read's open transaction (two reader connections)", async () => {
  const dir = tempDir();
  const files = createTenantFiles(dir.path);
  const id = newId('t');
  await files.create(id);
  const reader = await files.connection(id, 'reader');
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const long = reader.transaction(async (tx) => {
    await tx.get('SELECT 1');
    await held;
  });
  assert.equal(reader.busy(), 1);
  // It answers while the transaction is still open (ended only below): the timeout only bounds a read that waits behind it.
  const other = await Promise.race([
    reader.get<{ n: number }>('SELECT 42 AS n'),
    new Promise((resolve) => setTimeout(() => resolve('waited'), 20_000).unref()),
  ]);
  assert.equal(Number((other as { n: number }).n), 42, 'answered while the transaction is open');
  release();
  await long;
  assert.equal(reader.busy(), 0);
  await files.closeAll();
  dir.remove();
});

/** Rows as awkward as a column allows: 64-bit ids, ms times, doubles, quotes, NUL, emoji, a lone surrogate. */
const full: EventRow = {
  id: 18446744073709551557n, // above 2^53: a JSON number would round it
  ts: 1767225600123,
  receivedAt: 1767225601999,
  kind: 'api_request',
  source: 'otlp',
  userId: 'u_1',
  sessionId: 'quote\'s "and" back\\slash',
  project: '/home/dév/项目',
  promptId: 'line\nbreak\ttab',
  toolUseId: 'nul\u0000inside',
  requestId: 'emoji 😀',
  agentId: 'a',
  agentType: 'Explore',
  name: 'Bash',
  model: 'claude-sonnet-4-5',
  status: 'success',
  durationMs: 0.1 + 0.2,
  inputTokens: 1e12,
  outputTokens: 0,
  cacheReadTokens: 123456789.5,
  cacheCreationTokens: 1,
  costUsd: 0.000123,
  linesAdded: 3,
  linesRemoved: 4,
  value: -2.5,
  error: 'lone \ud800 surrogate',
  attributes: JSON.stringify({ nested: { a: [1, 'two', null] }, s: 'x"y' }),
  importRun: 'imp_1',
};
const sparse: EventRow = {
  ...full,
  id: 1n,
  ts: 0,
  promptId: null,
  toolUseId: null,
  requestId: null,
  durationMs: null,
  inputTokens: null,
  value: null,
  error: null,
  attributes: null,
  importRun: null,
};

/** Every column of the stored events, in seq order, as the rows they should equal. */
const storedEvents = (db: Queryable) =>
  db.all<Record<string, unknown>>(
    `SELECT id::VARCHAR AS id, seq, epoch_ms(ts) AS ts, epoch_ms(received_at) AS received_at, kind, source, user_id, session_id, project, prompt_id, tool_use_id, request_id,
            agent_id, agent_type, name, model, status, duration_ms, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd, lines_added,
            lines_removed, value, error, attributes::VARCHAR AS attributes, import_run
       FROM events ORDER BY seq`,
  );
const expectStored = (r: EventRow, seq: number) => ({
  id: r.id.toString(),
  seq,
  ts: r.ts,
  received_at: r.receivedAt,
  kind: r.kind,
  source: r.source,
  user_id: r.userId,
  session_id: r.sessionId,
  project: r.project,
  prompt_id: r.promptId,
  tool_use_id: r.toolUseId,
  request_id: r.requestId,
  agent_id: r.agentId,
  agent_type: r.agentType,
  name: r.name,
  model: r.model,
  status: r.status,
  duration_ms: r.durationMs,
  input_tokens: r.inputTokens,
  output_tokens: r.outputTokens,
  cache_read_tokens: r.cacheReadTokens,
  cache_creation_tokens: r.cacheCreationTokens,
  cost_usd: r.costUsd,
  lines_added: r.linesAdded,
  lines_removed: r.linesRemoved,
  value: r.value,
  error: r.error?.toWellFormed() ?? null,
  attributes: r.attributes,
  import_run: r.importRun,
});

test('the writer stores every column as given (64-bit ids, ms times, doubles, awkward text)', async () => {
  const dir = tempDir();
  const files = createTenantFiles(dir.path);
  const db = await files.create(newId('t'));
  const writer = createEventWriter(db);
  await Promise.all([writer.write([full]), writer.write([sparse])]);
  assert.equal(await storedEvents(db), [expectStored(full, 1), expectStored(sparse, 2)]);
  await files.closeAll();
  dir.remove();
});

test('journaled rows are stored from their records as given, numbered in order, a repeat once', async () => {
  const dir = tempDir();
  const files = createTenantFiles(dir.path);
  const db = await files.create(newId('t'));
  const { journal } = openJournal(join(dir.path, 'journal'), 0);
  // A window that never closes by itself: each flush applies what was acknowledged before it, in one commit.
  const timer = { now: () => 0, set: () => () => {} };
  const commits: number[] = [];
  const writer = createEventWriter(
    db,
    { ...DEFAULT_WRITER, timer },
    (c) => commits.push(c.offered),
    () => null,
    journal,
  );
  // Three records applied in one commit (each inserted as journaled), then one holding a stored row and a repeat.
  await Promise.all([writer.accept([full]), writer.accept([sparse, { ...sparse, id: 2n }]), writer.accept([])]);
  await writer.flush();
  const third = { ...full, id: 3n, ts: full.ts + 1 };
  await writer.accept([full, third, third]);
  await writer.flush();
  assert.equal(await storedEvents(db), [
    expectStored(full, 1),
    expectStored(sparse, 2),
    expectStored({ ...sparse, id: 2n }, 3),
    expectStored(third, 4),
  ]);
  assert.equal(commits, [3, 3]);
  await writer.close();
  await files.closeAll();
  dir.remove();
});

test('remove deletes the tenant file', async () => {
  const dir = tempDir();
  const files = createTenantFiles(dir.path);
  const id = newId('t');
  await files.create(id);
  assert.ok(existsSync(tenantPath(dir.path, id)));
  await files.remove(id);
  assert.not.ok(existsSync(tenantPath(dir.path, id)));
  await files.closeAll();
  dir.remove();
});

test('nothing opens a tenant file while it is being removed, so it is not created again', async () => {
  const dir = tempDir();
  const files = createTenantFiles(dir.path);
  const id = newId('t');
  await files.create(id);
  const path = tenantPath(dir.path, id);
  // The worker's or the alerts' pass asking for the file while the removal closes it.
  const removed = files.remove(id);
  const during = await Promise.allSettled([
    files.open(id),
    files.open(id, { settled: false }),
    files.connection(id, 'worker'),
    files.connection(id, 'reader'),
  ]);
  await removed;
  for (const r of during) {
    assert.is(r.status, 'rejected');
    assert.instance((r as PromiseRejectedResult).reason, TenantUnavailableError);
    assert.is(((r as PromiseRejectedResult).reason as TenantUnavailableError).reason, 'tenant removed');
  }
  const after = await files.open(id).catch((err: unknown) => err);
  assert.instance(after, TenantUnavailableError);
  assert.is((after as TenantUnavailableError).reason, 'file missing');
  for (const suffix of ['', '.wal']) assert.not.ok(existsSync(`${path}${suffix}`), `no ${path}${suffix}`);
  await files.closeAll();
  dir.remove();
});

test('a removal waits for an open under way, closes it and leaves nothing open or on disk', async () => {
  const dir = tempDir();
  const files = createTenantFiles(dir.path);
  const id = newId('t');
  const path = tenantPath(dir.path, id);
  const created = files.create(id).catch((err: unknown) => err);
  const removed = files.remove(id);
  assert.is(files.remove(id), removed, 'a second removal is the one under way');
  await Promise.all([created, removed]);
  assert.is(files.asleep(id), false, 'no closed handle left behind');
  assert.is(files.openCount(), 0);
  for (const suffix of ['', '.wal']) assert.not.ok(existsSync(`${path}${suffix}`), `no ${path}${suffix}`);
  await files.closeAll();
  dir.remove();
});

test('a removal right after closeAll waits for the opens it closes, so the file is not created again', async () => {
  const dir = tempDir();
  const budget = await createMemoryBudget({ totalMb: 256, dataDir: dir.path });
  // The file is attached only when the gate opens: after the removal has begun.
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const files = createTenantFiles(dir.path, {
    budget: { ...budget, attach: async (path) => (await gate, budget.attach(path)) },
  });
  const id = newId('t');
  const path = tenantPath(dir.path, id);
  // At shutdown: a tenant's file still opening when everything is closed, then removed.
  const created = files.create(id).catch((err: unknown) => err);
  const closed = files.closeAll();
  await new Promise(setImmediate); // closeAll has taken the open out of the files it hands to a removal
  const removed = files.remove(id);
  open();
  await Promise.all([created, closed, removed]);
  for (const suffix of ['', '.wal']) assert.not.ok(existsSync(`${path}${suffix}`), `no ${path}${suffix}`);
  budget.close();
  dir.remove();
});

test('the data-directory lock admits one holder and takes over a dead one', async () => {
  const dir = tempDir();
  const release = await acquireLock(dir.path, null);
  // Another process's live lock: pretend to be someone else by writing our parent's pid.
  release();
  writeFileSync(lockPath(dir.path), JSON.stringify({ pid: process.ppid, startedAt: 'then', adminSocket: null }));
  await refused(dir.path, /in use by another agentmeter process/);
  // A lock left by a process that has exited is stale: taken over, and the log says whose it was.
  const dead = JSON.stringify({ pid: 2 ** 22 + 12345, startedAt: 'then', adminSocket: null });
  writeFileSync(lockPath(dir.path), dead);
  const lines: Record<string, unknown>[] = [];
  const again = await acquireLock(
    dir.path,
    null,
    createLogger('info', (l) => lines.push(JSON.parse(l))),
  );
  assert.equal(
    lines.map((l) => [l.level, l.msg, l.lock]),
    [['warn', 'took over a lock left by a process that no longer runs', dead]],
  );
  again();
  assert.not.ok(existsSync(lockPath(dir.path)));
  dir.remove();
});

/** acquireLock refuses, with a message matching `said`, and leaves the lock as it was. */
async function refused(dataDir: string, said: RegExp) {
  const before = readFileSync(lockPath(dataDir), 'utf8');
  try {
    await acquireLock(dataDir, null);
    assert.unreachable('the lock was taken');
  } catch (err) {
    assert.ok(err instanceof DataDirLockedError && said.test((err as Error).message), String(err));
  }
  assert.is(readFileSync(lockPath(dataDir), 'utf8'), before, 'left as it was');
}

test('a lock of a process this one cannot see (another host, a container): held while its socket answers', async () => {
  const dir = tempDir();
  const release = await acquireLock(dir.path, null);
  const mine = JSON.parse(readFileSync(lockPath(dir.path), 'utf8')) as { host: string; pidNamespace: string | null };
  release();
  assert.is(mine.host, hostname(), 'the lock says where its pid means something');
  const socket = join(dir.path, 'admin.sock');
  const gone = 2 ** 22 + 12345; // no process here has it
  const places = [
    [{ host: 'another-host' }, /pid 4206649 on another-host/],
    [{ host: mine.host, pidNamespace: 'pid:[1]' }, /pid 4206649 in another PID namespace/],
  ] as const;
  // The server, as a container sees it (its data directory at /data), its socket the one in ours.
  const listening = createServer().listen(socket);
  await once(listening, 'listening');
  for (const [elsewhere, said] of places) {
    const lock = { pid: gone, startedAt: 'then', adminSocket: '/data/admin.sock', ...elsewhere };
    writeFileSync(lockPath(dir.path), JSON.stringify(lock));
    await refused(dir.path, said);
    // Without a socket to ask (a CLI holds it), there is no telling either.
    writeFileSync(lockPath(dir.path), JSON.stringify({ ...lock, adminSocket: null }));
    await refused(dir.path, said);
  }
  await new Promise((r) => listening.close(r));

  // A container killed (its restart, its upgrade): the socket file is left, nothing listens.
  const child = spawn(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(socket)}, () => console.log('up'))`,
  ]);
  await once(child.stdout!, 'data');
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.ok(existsSync(socket), 'a killed server leaves its socket file');
  for (const [elsewhere] of places) {
    writeFileSync(
      lockPath(dir.path),
      JSON.stringify({ pid: gone, startedAt: 'then', adminSocket: '/data/admin.sock', ...elsewhere }),
    );
    (await acquireLock(dir.path, null))();
  }
  rmSync(socket);
  writeFileSync(
    lockPath(dir.path),
    JSON.stringify({ pid: gone, startedAt: 'then', adminSocket: '/data/admin.sock', host: 'x' }),
  );
  (await acquireLock(dir.path, null))(); // and no socket file at all
  assert.not.ok(existsSync(lockPath(dir.path)));
  dir.remove();
});

test("a lock is released only by its holder; a deep directory's socket cannot tell", async () => {
  const dir = tempDir();
  const release = await acquireLock(dir.path, null);
  const other = JSON.stringify({ pid: 2 ** 22 + 1, startedAt: 'since', adminSocket: null });
  writeFileSync(lockPath(dir.path), other); // taken by another process meanwhile (a wrong judgement)
  release();
  assert.is(readFileSync(lockPath(dir.path), 'utf8'), other, "another's lock is left");
  rmSync(lockPath(dir.path));
  // Past a socket path's length limit nothing can be connected to, listening or not: no telling.
  const deep = join(dir.path, 'd'.repeat(100 - dir.path.length), 'data');
  mkdirSync(deep, { recursive: true });
  writeFileSync(
    lockPath(deep),
    JSON.stringify({ pid: 7, startedAt: 'then', adminSocket: '/data/admin.sock', host: 'c1', pidNamespace: 'pid:[1]' }),
  );
  await refused(deep, /pid 7 on c1/);
  dir.remove();
});

test('the admin socket listens from the moment the lock is taken: a starting server is held too', async () => {
  const dir = tempDir();
  const socket = join(dir.path, 'admin.sock');
  const release = await acquireLock(dir.path, socket);
  const admin = await listenAdminSocket(socket); // what startServer does first, before migrations
  try {
    // As a container would write it: our pid, another namespace.
    const lock = JSON.parse(readFileSync(lockPath(dir.path), 'utf8')) as Record<string, unknown>;
    writeFileSync(
      lockPath(dir.path),
      JSON.stringify({ ...lock, pidNamespace: 'pid:[1]', adminSocket: '/data/admin.sock' }),
    );
    await refused(dir.path, /in another PID namespace/);
    try {
      await runRemote(socket, 'tenant list', {});
      assert.unreachable('answered before the server was ready');
    } catch (err) {
      assert.instance(err, RemoteCommandError);
      assert.match((err as Error).message, /the server is starting; try again in a moment/);
    }
    admin.serve(new Hono().post('/admin/run', (c) => c.json({ result: 'served' })));
    assert.is(await runRemote(socket, 'tenant list', {}), 'served');
  } finally {
    await new Promise((r) => admin.server.close(r));
    release();
    dir.remove();
  }
});

test('a failed start closes its admin socket before its lock goes', async () => {
  const dir = tempDir();
  mkdirSync(join(dir.path, 'control.duckdb')); // the control database cannot be opened: the start fails
  const socket = join(dir.path, 'admin.sock');
  const seen: string[] = [];
  try {
    await openAppContext(loadConfig({ 'data-dir': dir.path }, {}), createLogger('silent'), {
      adminSocket: socket,
      locked: async () => {
        const admin = await listenAdminSocket(socket);
        return async () => {
          // A contender that took the lock in between would have its own socket removed here.
          seen.push(existsSync(lockPath(dir.path)) ? 'socket closed, lock still ours' : 'lock already gone');
          await new Promise((r) => admin.server.close(r));
        };
      },
    });
    assert.unreachable('the start failed');
  } catch (err) {
    assert.not.instance(err, assert.Assertion);
  }
  assert.equal(seen, ['socket closed, lock still ours']);
  assert.not.ok(existsSync(lockPath(dir.path)), 'then the lock went');
  assert.not.ok(existsSync(socket));
  dir.remove();
});

test.run();
