// The ingest journal under failure: a kill between the journal's sync and DuckDB's apply,
// a damaged record that refuses its tenant until the journal is moved aside, the bound on
// what may wait unapplied, and a full disk (a small tmpfs, as root).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createIngestor, toRow, type Ingestor } from '../src/ingest/ingest.js';
import { decodeRows, encodeRows } from '../src/ingest/event-rows.js';
import { MAX_RECORD_BYTES } from '../src/ingest/writer.js';
import { createBatchStore } from '../src/ingest/batch-store.js';
import { createMemoryBudget } from '../src/storage/memory.js';
import { openJournal } from '../src/storage/journal.js';
import { openDatabase } from '../src/storage/duckdb.js';
import { journalPath, tenantPath } from '../src/storage/datadir.js';
import { StorageUnavailableError } from '../src/storage/errors.js';
import { createTenantFiles } from '../src/storage/tenant-files.js';
import { newId } from '../src/ids.js';
import { ingestKey, ROOT, smallDisk, startTestServer, tempDir, waitFor, type TestServer } from './helpers.js';

/** Journals `count` events for the tenant in a child process that is SIGKILLed right after the sync. */
async function killedAfterSync(dataDir: string, tenantId: string, count: number): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'test/journal-kill-child.ts'), dataDir, tenantId, String(count)],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const [, signal] = await new Promise<[number | null, string | null]>((r) =>
    child.once('exit', (code, sig) => r([code, sig])),
  );
  assert.is(signal, 'SIGKILL', 'the child killed itself after the acknowledgement');
}

async function storedCount(path: string): Promise<number> {
  const db = await openDatabase(path);
  try {
    return (await db.get<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM events WHERE session_id = 'killed'`))!.n;
  } finally {
    await db.close();
  }
}

async function newTenant(dataDir: string): Promise<string> {
  const tenantId = newId('t');
  const files = createTenantFiles(dataDir);
  await files.create(tenantId);
  await files.closeAll();
  return tenantId;
}

/** Tenant files and an ingestor wired as the server wires them (replay on open, reads settled). */
function journaled(dataDir: string, journalBound?: number) {
  let ingest: Ingestor | null = null;
  const files = createTenantFiles(dataDir, {
    afterOpen: (id, db) => ingest!.recover(id, db),
    beforeRead: (id) => ingest!.settled(id),
  });
  ingest = createIngestor(files, { maxRows: 20_000, journalBound, journalDir: (id) => journalPath(dataDir, id) });
  return { files, ingest };
}

test('killed between the journal sync and the apply: the next open stores every acknowledged event', async () => {
  const dir = tempDir('am-journal-kill');
  try {
    const tenantId = await newTenant(dir.path);
    await killedAfterSync(dir.path, tenantId, 5);
    assert.is(await storedCount(tenantPath(dir.path, tenantId)), 0, 'not in the file yet: killed before the apply');

    const { files, ingest } = journaled(dir.path);
    const db = await files.open(tenantId);
    assert.is(
      (await db.get<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM events WHERE session_id = 'killed'`))!.n,
      5,
      'replayed before the file was handed out',
    );
    // Applied once: the same records are not stored again by another open.
    await ingest.close();
    await files.closeAll();
    const again = journaled(dir.path);
    await again.files.open(tenantId);
    await again.ingest.close();
    await again.files.closeAll();
    assert.is(await storedCount(tenantPath(dir.path, tenantId)), 5);
  } finally {
    dir.remove();
  }
});

test('a backlog past what one apply takes is replayed in several commits, every row stored', async () => {
  const dir = tempDir('am-journal-backlog');
  try {
    const tenantId = await newTenant(dir.path);
    const who = { tenantId, userId: 'u_1' };
    const text = 'x'.repeat(8000);
    // Three records of some 20 MiB each (rows of 64 KiB of attributes, as sanitised): 60 MiB waiting.
    const { journal } = openJournal(journalPath(dir.path, tenantId), 0);
    let sent = 0;
    for (let r = 0; r < 3; r++) {
      const rows = Array.from({ length: 320 }, () =>
        toRow(
          {
            kind: 'command',
            id: `big-${sent++}`,
            session_id: 'backlog',
            attributes: { a: [text, text, text, text, text, text, text, text, text] },
          },
          who,
          'rest',
          Date.UTC(2026, 0, 2),
        ),
      );
      const body = encodeRows(rows);
      assert.ok(body.length > 16 * 2 ** 20 && body.length <= MAX_RECORD_BYTES, `record ${r}: ${body.length} bytes`);
      await journal.append(body);
    }
    await journal.close();

    const { files, ingest } = journaled(dir.path);
    const commits: number[] = [];
    ingest.onCommit((_, commit) => commits.push(commit.offered));
    const db = await files.open(tenantId);
    const stored = (await db.get<{ n: number }>(
      `SELECT count(*)::INTEGER AS n FROM events WHERE session_id = 'backlog'`,
    ))!;
    await ingest.close();
    await files.closeAll();
    assert.is(stored.n, 960);
    assert.ok(commits.length >= 2, `applied in ${commits.length} commit(s): ${commits.join(', ')} rows`);
  } finally {
    dir.remove();
  }
});

test('at a small memory limit a full REST batch is applied in parts, and its journal replays after a restart', async () => {
  const dir = tempDir('am-journal-small');
  const flags = { 'memory-limit': '256MB' };
  let server: TestServer | null = await startTestServer({ dataDir: dir.path, flags });
  try {
    await server.ctx.aggregator.stop();
    const { key, tenantId } = await ingestKey(server);
    // 1,000 commands of some 15 KB each: under the 16 MiB body limit, more than one INSERT of DuckDB's 102 MiB holds.
    const item = (i: number) => ({
      id: `big-${i}`,
      command_name: 'build',
      execution_time_ms: 5,
      status: 'success',
      session_id: 's-big',
      metadata: Object.fromEntries(Array.from({ length: 8 }, (_, k) => [`m${k}`, `${i}-${k}-${'y'.repeat(1850)}`])),
    });
    const batch = JSON.stringify({ command_executions: Array.from({ length: 1000 }, (_, i) => item(i)) });
    assert.ok(batch.length > 14 * 2 ** 20 && batch.length < 16 * 2 ** 20, `${batch.length} bytes`);
    const sent = await fetch(`${server.url}/api/metrics/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: batch,
    });
    assert.is(sent.status, 201);
    const db = await server.ctx.tenantFiles.open(tenantId);
    assert.is((await db.get<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM events`))!.n, 1000);
    assert.not.ok(
      server.logs.some((l) => /applying failed/.test(String(l.msg))),
      'no apply failed',
    );

    // The same batch journaled and not applied (the process killed first) replays at the next start.
    const mark = await db.get<{ value: string }>(`SELECT value FROM tenant_meta WHERE key = 'journal_applied'`);
    await server.close();
    server = null;
    const { journal } = openJournal(journalPath(dir.path, tenantId), Number(mark!.value));
    const who = { tenantId, userId: 'u_1' };
    const rows = Array.from({ length: 1000 }, (_, i) =>
      toRow(
        { kind: 'command', id: `again-${i}`, ts: Date.now(), session_id: 's-again', attributes: item(i).metadata },
        who,
        'rest',
        Date.now(),
      ),
    );
    await journal.append(encodeRows(rows));
    await journal.close();
    server = await startTestServer({ dataDir: dir.path, flags });
    assert.is((await fetch(`${server.url}/readyz`)).status, 200);
    const again = await server.ctx.tenantFiles.open(tenantId);
    assert.is(
      (await again.get<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM events WHERE session_id = 's-again'`))!.n,
      1000,
    );
  } finally {
    await server?.close();
    dir.remove();
  }
});

test('one commit of many small rows and then large ones is inserted in parts cut by size, not by count', async () => {
  const dir = tempDir('am-journal-parts');
  const budget = await createMemoryBudget({ totalMb: 256, dataDir: dir.path });
  const files = createTenantFiles(dir.path, { budget });
  try {
    const db = await files.create(newId('t'));
    const store = createBatchStore(db);
    const who = { tenantId: 't', userId: 'u_1' };
    const at = Date.UTC(2026, 0, 2);
    const row = (id: string, i: number, text: string) =>
      toRow(
        {
          kind: 'command',
          id,
          ts: at + i,
          session_id: 's',
          attributes: Object.fromEntries(Array.from({ length: 8 }, (_, k) => [`m${k}`, `${i}-${k}-${text}`])),
        },
        who,
        'rest',
        at,
      );
    const small = Array.from({ length: 20_000 }, (_, i) => row(`s${i}`, i, 'y'));
    const large = Array.from({ length: 1000 }, (_, i) => row(`b${i}`, i, 'y'.repeat(1850)));
    // Evenly counted parts would put the 15 MB of large rows in one INSERT, past DuckDB's 102 MiB.
    const fresh = await store.commit([
      { rows: small, body: encodeRows(small), lsn: 1 },
      { rows: large, body: encodeRows(large), lsn: 2 },
    ]);
    assert.is(fresh.length, 21_000);
    const stored = (await db.get<{ n: number; lo: number; hi: number }>(
      'SELECT count(*)::INTEGER AS n, min(seq)::INTEGER AS lo, max(seq)::INTEGER AS hi FROM events',
    ))!;
    assert.equal(stored, { n: 21_000, lo: 1, hi: 21_000 }, 'numbered as one document would have been');
  } finally {
    await files.closeAll();
    budget.close();
    dir.remove();
  }
});

test('records written in the earlier format (an array of rows) are replayed at upgrade, as the columns are', async () => {
  const dir = tempDir('am-journal-format');
  try {
    const tenantId = await newTenant(dir.path);
    const now = Date.UTC(2026, 0, 2);
    const who = { tenantId, userId: 'u_1' };
    const rows = (ids: string[]) =>
      ids.map((id, i) =>
        toRow({ kind: 'command', id, session_id: 'upgraded', duration_ms: i, attributes: { n: i } }, who, 'rest', now),
      );
    const earlier = rows(['old-1', 'old-2']);
    const current = rows(['new-1']);
    assert.equal(decodeRows(encodeRows(current)), current, 'the columns read back as the rows');
    // A journal left by the previous release (its record format, written out here), then one of today's.
    const { journal } = openJournal(journalPath(dir.path, tenantId), 0);
    await journal.append(Buffer.from(JSON.stringify(earlier.map((r) => ({ ...r, id: r.id.toString() })))));
    await journal.append(encodeRows(current));
    await journal.close();

    const { files, ingest } = journaled(dir.path);
    const db = await files.open(tenantId);
    const stored = await db.all<{ id: string; name: string; duration_ms: number; attributes: string }>(
      `SELECT id::VARCHAR AS id, name, duration_ms, attributes::VARCHAR AS attributes FROM events
        WHERE session_id = 'upgraded' ORDER BY duration_ms, id`,
    );
    await ingest.close();
    await files.closeAll();
    const expected = [...earlier, ...current].map((r) => ({
      id: r.id.toString(),
      name: null,
      duration_ms: r.durationMs!,
      attributes: r.attributes!,
    }));
    assert.equal(
      stored,
      expected.sort((a, b) => a.duration_ms - b.duration_ms || (a.id < b.id ? -1 : 1)),
    );
  } finally {
    dir.remove();
  }
});

test('a damaged record before intact ones refuses its tenant, logged; moving the journal aside brings it back', async () => {
  const dir = tempDir('am-journal-damaged');
  let server: TestServer | null = await startTestServer({ dataDir: dir.path });
  try {
    const { key, tenantId } = await ingestKey(server);
    await server.stop();
    server = null;
    await killedAfterSync(dir.path, tenantId, 3);
    const journal = journalPath(dir.path, tenantId);
    const segment = join(journal, readdirSync(journal).find((n) => n.endsWith('.log'))!);
    const data = readFileSync(segment);
    const second = 16 + data.readUInt32LE(0);
    data[second + 20] = data[second + 20]! ^ 0xff;
    writeFileSync(segment, data);

    server = await startTestServer({ dataDir: dir.path });
    let clock = Date.now();
    server.ctx.now = () => new Date(clock);
    const refused = server.logs.find((l) => l.msg === 'tenant file unavailable' && l.tenant_id === tenantId);
    assert.ok(refused, 'logged at start');
    assert.is(refused!.reason, 'journal damaged');
    assert.match(String(refused!.detail), /is not a valid record, and records follow it/);
    assert.match(String(refused!.detail), new RegExp(`move ${journal} aside`));
    const hook = () =>
      fetch(`${server!.url}/api/v1/hooks/claude-code`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ hook_event_name: 'Stop', session_id: 'after' }),
      });
    const res = await hook();
    assert.is(res.status, 503, 'not started silently without the damaged record');
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    const ready = await fetch(`${server.url}/readyz`);
    assert.is(ready.status, 503);
    assert.is(((await ready.json()) as any).checks.tenants[tenantId], 'failed: journal damaged'); // eslint-disable-line @typescript-eslint/no-explicit-any

    // The way out the message names: the journal moved aside, the tenant is back after the backoff.
    renameSync(journal, `${journal}.damaged`);
    clock += 60_000;
    assert.is((await hook()).status, 200, 'back without a restart');
  } finally {
    await server?.stop();
    dir.remove();
  }
});

test('past the bound of unapplied journal bytes, ingest is refused with a retry, then accepted again', async () => {
  const dir = tempDir('am-journal-bound');
  try {
    const tenantId = await newTenant(dir.path);
    const { files, ingest } = journaled(dir.path, 1);
    const who = { tenantId, userId: 'u_1' };
    await files.open(tenantId); // opened, so both requests below reach the writer in this order
    const first = ingest.accept(who, 'rest', [{ kind: 'prompt', id: 'b1' }]);
    const second = ingest.accept(who, 'rest', [{ kind: 'prompt', id: 'b2' }]).then(
      () => null,
      (err: unknown) => err,
    );
    assert.equal(await first, { accepted: 1, rejected: [] });
    const refused = await second;
    assert.instance(refused, StorageUnavailableError, 'the second waited behind one unapplied record');
    assert.is((refused as StorageUnavailableError).retryAfterMs, 1000);
    await ingest.settled(tenantId);
    assert.equal(await ingest.accept(who, 'rest', [{ kind: 'prompt', id: 'b2' }]), { accepted: 1, rejected: [] });
    const db = await files.open(tenantId);
    assert.is((await db.get<{ n: number }>('SELECT count(*)::INTEGER AS n FROM events'))!.n, 2);
    await ingest.close();
    await files.closeAll();
  } finally {
    dir.remove();
  }
});

test('flushAll waits for events still being journaled (an erasure deletes after it)', async () => {
  const dir = tempDir('am-journal-flush');
  try {
    const tenantId = await newTenant(dir.path);
    const { files, ingest } = journaled(dir.path);
    const who = { tenantId, userId: 'u_1' };
    const db = await files.open(tenantId, { settled: false });
    // On its way in when the erasure flushes: past authentication, its journal sync not done.
    const inFlight = ingest.accept(who, 'rest', [{ kind: 'prompt', id: 'f1' }]);
    await ingest.flushAll();
    const stored = (await db.get<{ n: number }>('SELECT count(*)::INTEGER AS n FROM events'))!.n;
    assert.equal(await inFlight, { accepted: 1, rejected: [] });
    assert.is(stored, 1, 'stored before flushAll resolved, so an erasure after it finds it');
    await ingest.close();
    await files.closeAll();
  } finally {
    dir.remove();
  }
});

test('a full disk: ingest answers 503, nothing acknowledged is lost, and it recovers without a restart', async () => {
  const disk = smallDisk(64);
  if (typeof disk === 'string') {
    console.log(`  SKIPPED full disk test: ${disk}`);
    return;
  }
  let server: TestServer | null = null;
  try {
    server = await startTestServer({ dataDir: disk.path });
    const { key, tenantId } = await ingestKey(server);
    const hook = (session: string) =>
      fetch(`${server!.url}/api/v1/hooks/claude-code`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ hook_event_name: 'Stop', session_id: session }),
      });
    const acked: string[] = [];
    for (let i = 0; i < 5; i++) if ((await hook(`before-${i}`)).status === 200) acked.push(`before-${i}`);
    assert.is(acked.length, 5);

    // Fill the disk: the journal may still take a record or two (room left in its pages)
    // that DuckDB then cannot apply; then nothing more fits.
    const filler = join(disk.path, 'filler');
    const chunk = Buffer.alloc(1024 * 1024, 1);
    for (let i = 0; ; i++) {
      try {
        writeFileSync(filler, chunk, { flag: 'a' });
      } catch (err) {
        assert.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
        break;
      }
      assert.ok(i < 100, 'the disk filled up');
    }
    // The journal's segment is preallocated: it takes records (durably) until its zeros are
    // used up, some thousands of these hooks, then nothing more fits.
    let refused: Response | null = null;
    for (let i = 0; i < 20_000 && !refused; i += 20) {
      const sessions = Array.from({ length: 20 }, (_, j) => `full-${i + j}`);
      for (const [j, res] of (await Promise.all(sessions.map(hook))).entries()) {
        if (res.status === 200) acked.push(sessions[j]!);
        else refused ??= res;
      }
    }
    assert.ok(refused, 'refused once the disk is full');
    assert.is(refused!.status, 503);
    assert.ok(Number(refused!.headers.get('retry-after')) >= 1, 'Retry-After');
    const unapplied = acked.length - 5;
    console.log(`  ${unapplied} hooks acknowledged into the journal while the disk filled`);
    // What an operator's scraper sees meanwhile: the journal holding them, and for how long.
    const peaks = async () => {
      const text = await (await fetch(`${server!.url}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      return {
        bytes: value('agentmeter_ingest_journal_peak_bytes'),
        lag: value('agentmeter_ingest_apply_lag_peak_seconds'),
      };
    };
    await peaks(); // a scrape starts the peaks again
    const seen = await waitFor(async () => {
      const p = await peaks();
      return p.bytes > 0 && p.lag > 0 ? p : undefined;
    }, 'the unapplied journal on /metrics');
    console.log(`  /metrics while full: ${seen.bytes} journal bytes unapplied, oldest waiting ${seen.lag} s`);

    rmSync(filler);
    // Space again: what waited in the journal is applied, and ingest is answered, same process.
    await waitFor(async () => ((await hook('after')).status === 200 ? true : undefined), 'ingest accepted again');
    acked.push('after');
    const db = await server.ctx.tenantFiles.open(tenantId);
    const stored = new Set(
      (await db.all<{ s: string }>('SELECT DISTINCT session_id AS s FROM events')).map((r) => r.s),
    );
    assert.equal(
      acked.filter((s) => !stored.has(s)),
      [],
      'every acknowledged hook stored',
    );
  } finally {
    await server?.stop().catch(() => undefined);
    disk.remove();
  }
});

test.run();
