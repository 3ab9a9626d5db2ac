// Online backups: taken while clients ingest, restored into a new data directory with every
// acknowledged event and the same figures; a tenant moved between appliances; bad targets,
// damaged backups and non-empty directories refused; the schedule and its pruning.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { takeBackup } from '../src/backup/backup.js';
import { loadConfig } from '../src/config.js';
import { restoreBackup } from '../src/backup/restore.js';
import type { Database } from '../src/storage/duckdb.js';
import { ADMIN, ingestKey, runCli, startTestServer, tempDir, type TestServer } from './helpers.js';

type Manifest = {
  tenants: { id: string; file: string | null; events: number; last_seq: number | null }[];
  files: { path: string }[];
};

const hook = (toolUseId: string) =>
  JSON.stringify({
    hook_event_name: 'PostToolUse',
    session_id: 'backup-s1',
    cwd: '/home/dev/src/app',
    tool_name: 'Bash',
    tool_use_id: toolUseId,
    tool_input: { command: 'ls' },
    tool_response: { stdout: 'ok' },
    duration_ms: 7,
  });

async function postHook(server: { url: string }, key: string, toolUseId: string): Promise<number> {
  const res = await fetch(`${server.url}/api/v1/hooks/claude-code`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: hook(toolUseId),
  });
  await res.arrayBuffer();
  return res.status;
}

/** The dashboard summary at one fixed moment, after the rollups caught up. */
async function figures(server: TestServer, key: string, at: Date): Promise<unknown> {
  server.ctx.now = () => at;
  await server.ctx.aggregator.runOnce();
  const res = await fetch(`${server.url}/api/v1/dashboard/summary?range=7d`, {
    headers: { authorization: `Bearer ${key}` },
  });
  assert.is(res.status, 200);
  return res.json();
}

/** Tables, indexes and constraints of a file: what a copy must carry besides the rows. */
async function catalogue(db: Database): Promise<unknown[]> {
  return [
    ...(await db.all(
      `SELECT table_name, sql FROM duckdb_tables() WHERE database_name = current_database() ORDER BY table_name`,
    )),
    ...(await db.all(
      `SELECT index_name, sql FROM duckdb_indexes() WHERE database_name = current_database() ORDER BY index_name`,
    )),
    ...(await db.all(
      `SELECT table_name, constraint_type, constraint_text FROM duckdb_constraints() WHERE database_name = current_database() ORDER BY ALL`,
    )),
  ];
}

const online = suite('backup of a running server');

online(
  'a backup taken while clients ingest restores every acknowledged event, the same figures and schema',
  async () => {
    const src = await startTestServer();
    const out = tempDir('am-backup');
    const servers: TestServer[] = [];
    try {
      await src.ctx.aggregator.stop();
      const { key, tenantId } = await ingestKey(src);
      const acked: string[] = [];
      const failed: number[] = [];
      let stop = false;
      const clients = Array.from({ length: 4 }, async (_, c) => {
        for (let i = 0; !stop; i++) {
          const status = await postHook(src, key, `toolu_c${c}_${i}`);
          if (status === 200) acked.push(`toolu_c${c}_${i}`);
          else failed.push(status);
        }
      });
      while (acked.length < 100) await new Promise((r) => setTimeout(r, 20));
      const ackedBefore = [...acked];
      const backup = await runCli(['backup', '--to', join(out.path, 'live'), '--json'], { dataDir: src.dataDir });
      const ackedDuring = acked.length - ackedBefore.length;
      stop = true;
      await Promise.all(clients);
      assert.is(backup.code, 0, backup.stderr);
      assert.equal(failed, [], 'ingest kept answering 2xx during the backup');
      assert.ok(ackedDuring > 0, 'clients were ingesting while the backup ran');
      const manifest = JSON.parse(readFileSync(join(out.path, 'live', 'manifest.json'), 'utf8')) as Manifest;
      const taken = manifest.tenants.find((t) => t.id === tenantId)!;

      const restore = await runCli(['restore', '--from', join(out.path, 'live'), '--json'], {
        dataDir: join(out.path, 'restored'),
      });
      assert.is(restore.code, 0, restore.stderr);
      const restored = await startTestServer({ dataDir: join(out.path, 'restored') });
      servers.push(restored);
      await restored.ctx.aggregator.stop();
      const rows = await (await restored.ctx.tenantFiles.open(tenantId)).all<{ tool_use_id: string }>(
        `SELECT tool_use_id FROM events WHERE tool_use_id LIKE 'toolu_c%'`,
      );
      const ids = new Set(rows.map((r) => r.tool_use_id));
      assert.ok(
        ackedBefore.every((id) => ids.has(id)),
        'every event acknowledged before the backup is in it',
      );
      assert.ok(
        [...ids].every((id) => acked.includes(id)),
        'nothing but acknowledged events',
      );
      assert.is(rows.length, taken.events, "the manifest's event count is the file's");
      const lastSeq = await (await restored.ctx.tenantFiles.open(tenantId)).get<{ s: number }>(
        'SELECT max(seq)::DOUBLE AS s FROM events',
      );
      assert.is(lastSeq!.s, taken.last_seq);

      // Quiet now: a second backup must give the very figures and schema of the source.
      const quiet = join(out.path, 'quiet');
      await runCommand(src.ctx, 'backup', { to: quiet });
      await restoreBackup(quiet, join(out.path, 'restored-2'));
      const again = await startTestServer({ dataDir: join(out.path, 'restored-2') });
      servers.push(again);
      await again.ctx.aggregator.stop();
      const at = new Date(Date.now() + 60_000);
      assert.equal(await figures(again, key, at), await figures(src, key, at), 'same figures, and the API key works');
      assert.equal(
        await catalogue(await again.ctx.tenantFiles.open(tenantId)),
        await catalogue(await src.ctx.tenantFiles.open(tenantId)),
      );
      assert.equal(await catalogue(again.ctx.control), await catalogue(src.ctx.control));
      assert.is(await postHook(again, key, 'toolu_c0_0'), 200, 'a retried event is accepted');
      const count = await (await again.ctx.tenantFiles.open(tenantId)).get<{ n: number }>(
        `SELECT count(*)::DOUBLE AS n FROM events WHERE tool_use_id = 'toolu_c0_0'`,
      );
      assert.is(count!.n, 1, 'and stored once: the stored copy came with the backup');
    } finally {
      for (const s of servers) await s.stop();
      await src.stop();
      out.remove();
    }
  },
);

online('tenant export and import move a team, its people and keys to another appliance', async () => {
  const a = await startTestServer();
  const b = await startTestServer();
  let c: TestServer | undefined;
  const out = tempDir('am-move');
  try {
    await a.ctx.aggregator.stop();
    await b.ctx.aggregator.stop();
    const { key, tenantId } = await ingestKey(a);
    for (let i = 0; i < 20; i++) assert.is(await postHook(a, key, `toolu_move_${i}`), 200);
    const exported = await runCli(['tenant', 'export', '--tenant', 'Acme', '--to', join(out.path, 'acme'), '--json'], {
      dataDir: a.dataDir,
    });
    assert.is(exported.code, 0, exported.stderr);
    assert.equal(JSON.parse(exported.stdout), {
      dir: join(out.path, 'acme'),
      tenant: tenantId,
      name: 'Acme',
      events: 20,
      people: 2,
      api_keys: 1,
      bytes: JSON.parse(exported.stdout).bytes,
    });

    await runCommand(b.ctx, 'setup', { name: 'Other', email: 'root@other.test', password: ADMIN.password });
    const imported = await runCli(['tenant', 'import', '--from', join(out.path, 'acme'), '--json'], {
      dataDir: b.dataDir,
    });
    assert.is(imported.code, 0, imported.stderr);
    assert.is(JSON.parse(imported.stdout).tenant, tenantId);

    const me = await fetch(`${b.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    assert.is(me.status, 200, 'the API key works on the new appliance');
    const at = new Date(Date.now() + 60_000);
    assert.equal(await figures(b, key, at), await figures(a, key, at), 'the same figures there');
    const admin = await b.ctx.control.get<{ role: string }>('SELECT role FROM users WHERE email = $e', {
      e: ADMIN.email,
    });
    assert.is(admin!.role, 'tenant_admin', 'a super admin elsewhere is a tenant admin here');

    const twice = await runCli(['tenant', 'import', '--from', join(out.path, 'acme')], { dataDir: b.dataDir });
    assert.is(twice.code, 1);
    assert.match(twice.stderr, /already exists here/);

    // Imported twice at once, beside a new organisation of the same name: one of the three is made.
    c = await startTestServer();
    await c.ctx.aggregator.stop();
    const from = join(out.path, 'acme');
    const raced = await Promise.allSettled([
      runCommand(c.ctx, 'tenant import', { from }),
      runCommand(c.ctx, 'tenant import', { from }),
      runCommand(c.ctx, 'tenant create', { name: 'Acme' }),
    ]);
    assert.is(raced.filter((r) => r.status === 'fulfilled').length, 1, 'one is made');
    for (const r of raced)
      if (r.status === 'rejected') assert.match(String(r.reason), /already exists|exists already/, String(r.reason));
    const acme = await c.ctx.control.all<{ id: string }>(`SELECT id FROM tenants WHERE name = 'Acme'`);
    assert.is(acme.length, 1, 'one organisation named Acme');
    if (raced[0]!.status === 'fulfilled' || raced[1]!.status === 'fulfilled')
      assert.equal(await figures(c, key, at), await figures(a, key, at), 'the imported file is whole');
  } finally {
    await a.stop();
    await b.stop();
    await c?.stop();
    out.remove();
  }
});

/** A tmpfs mounted at `dir` (root only); null when it cannot be, so the caller skips visibly. */
function mountTmpfs(dir: string, options: string): (() => void) | null {
  if (process.getuid?.() !== 0) return null;
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return null;
  }
  return () => execFileSync('umount', [dir], { stdio: 'ignore' });
}

/** The data directory's files, without WALs and DuckDB's spill directory (`tmp/`), which come and go with any query. */
const listing = (dir: string) =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => !p.endsWith('.wal') && p !== 'tmp' && !p.startsWith('tmp/'))
    .sort();

online('a full or read-only target: a clear error, the data directory untouched, ingest unaffected', async () => {
  const src = await startTestServer();
  const out = tempDir('am-full');
  const unmounts: (() => void)[] = [];
  try {
    const { key } = await ingestKey(src);
    for (let i = 0; i < 5; i++) assert.is(await postHook(src, key, `toolu_before_${i}`), 200);
    const full = mountTmpfs(join(out.path, 'full'), 'size=600k');
    const readOnly = mountTmpfs(join(out.path, 'ro'), 'ro,size=1m');
    if (!full || !readOnly) {
      console.log('  SKIPPED: a full or read-only target needs root to mount a tmpfs; not run here');
      return;
    }
    unmounts.push(full, readOnly);
    const before = listing(src.dataDir);
    const cases: [string, RegExp][] = [
      [
        join(out.path, 'full', 'backup'),
        /^agentmeter: backup to .*full\/backup failed: no space left on device \(ENOSPC\)\n$/,
      ],
      [join(out.path, 'ro', 'backup'), /cannot create .*: read-only file system \(EROFS\)/],
    ];
    for (const [n, [target, message]] of cases.entries()) {
      const res = await runCli(['backup', '--to', target], { dataDir: src.dataDir });
      assert.is(res.code, 1, target);
      assert.match(res.stderr, message, res.stderr);
      assert.not.ok(existsSync(target), 'nothing left where the backup was going');
      assert.is(await postHook(src, key, `toolu_after_${n}`), 200, 'ingest still answers');
    }
    assert.equal(
      src.logs.filter((l) => l.msg === 'admin command refused').map((l) => String(l.error).replace(/ .*: /, ': ')),
      ['backup: no space left on device (ENOSPC)', 'cannot: read-only file system (EROFS)'],
      "each failure in the server's log, as the operator was told",
    );
    assert.equal(listing(src.dataDir), before, 'no file added to the data directory');
    const attached = await src.ctx.control.all(
      `SELECT database_name FROM duckdb_databases() WHERE database_name LIKE 'backup_%'`,
    );
    assert.equal(attached, [], 'the failed copy was detached');
    const good = await runCli(['backup', '--to', join(out.path, 'good'), '--json'], { dataDir: src.dataDir });
    assert.is(good.code, 0, `a backup after a failed one works: ${good.stderr}`);
  } finally {
    for (const u of unmounts) u();
    await src.stop();
    out.remove();
  }
});

online('the organisations in a backup are those of its control copy, whatever changes while it runs', async () => {
  const src = await startTestServer();
  const out = tempDir('am-backup-moment');
  try {
    await runCommand(src.ctx, 'setup', { name: 'Acme', email: ADMIN.email, password: ADMIN.password });
    await runCommand(src.ctx, 'tenant create', { name: 'Doomed' });
    // Right after the control database is copied, one organisation goes and another comes.
    const copied = await src.ctx.control.connect();
    const result = await takeBackup(
      {
        control: src.ctx.control,
        tenantFiles: src.ctx.tenantFiles,
        now: () => src.ctx.now(),
        controlConnection: async () => ({
          ...copied,
          withConnection: async (fn) => {
            const done = await copied.withConnection(fn);
            await runCommand(src.ctx, 'tenant delete', { tenant: 'Doomed' });
            await runCommand(src.ctx, 'tenant create', { name: 'Late' });
            return done;
          },
        }),
      },
      join(out.path, 'b'),
    );
    const names = result.tenants.map((t) => `${t.name}${t.unavailable ? ` (${t.unavailable})` : ''}`).sort();
    assert.equal(names, ['Acme', 'Doomed (file missing)'], 'Late is not in the copy, Doomed is, without its file');
    const restored = await restoreBackup(join(out.path, 'b'), join(out.path, 'data'));
    assert.equal(restored.tenants.map((t) => t.name).sort(), ['Acme', 'Doomed']);
  } finally {
    await src.stop();
    out.remove();
  }
});

/** The one sample of an unlabelled metric in a scrape of /metrics. */
async function gauges(server: { url: string }, names: string[]): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Object.fromEntries(
    names.map((name) => [name, Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 'NaN')]),
  );
}

online('a restore into the data directory of a running server is refused, naming it', async () => {
  const server = await startTestServer();
  try {
    const refused = await runCli(['restore', '--from', join(server.dataDir, 'nowhere')], { dataDir: server.dataDir });
    assert.is(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(
        `^agentmeter: --data-dir: .* is a running server's data directory \\(pid ${process.pid}, started [^)]+\\); a restore goes into a new or empty directory`,
      ),
    );
  } finally {
    await server.stop();
  }
});

online('a scheduled backup that fails before its copy is counted too', async () => {
  const dir = tempDir('am-backup-fail');
  writeFileSync(join(dir.path, 'plainfile'), ''); // a volume not mounted, a path mistyped: no directory there
  const server = await startTestServer({
    flags: { 'backup-dir': join(dir.path, 'plainfile', 'backups'), 'backup-every': '1h' },
  });
  try {
    await server.ctx.backups.stop(); // the test runs the check itself
    const failed = await server.ctx.backups.runDue().catch((err: Error) => err);
    assert.match(String(failed), /ENOTDIR/);
    assert.is((await server.ctx.backups.state()).failures, 1);
  } finally {
    await server.stop();
    dir.remove();
  }
});

online('the newest backups are in /metrics, an incomplete one and a failure too, and kept over a restart', async () => {
  const dir = tempDir('am-backup-metrics');
  const names = [
    'agentmeter_backup_last_timestamp_seconds',
    'agentmeter_backup_last_complete_timestamp_seconds',
    'agentmeter_backup_last_tenants_not_copied',
    'agentmeter_backup_failures_total',
  ];
  const figures = (last: number, complete: number, notCopied: number, failures: number) =>
    Object.fromEntries(names.map((n, i) => [n, [last, complete, notCopied, failures][i]!]));
  let server = await startTestServer({ dataDir: join(dir.path, 'data') });
  try {
    await ingestKey(server);
    const beta = (await runCommand(server.ctx, 'tenant create', { name: 'Beta' })) as { id: string };
    assert.equal(await gauges(server, names), figures(0, 0, 0, 0), 'none recorded: 0, as old as can be');

    const first = new Date('2026-03-01T10:00:00.000Z');
    server.ctx.now = () => first;
    await server.ctx.backups.backupNow(join(dir.path, 'b1'));
    assert.equal(await gauges(server, names), figures(first.getTime() / 1000, first.getTime() / 1000, 0, 0));

    // Beta's file gone: the next backup is written without it.
    rmSync(join(server.dataDir, 'tenants', `${beta.id}.duckdb`));
    const second = new Date('2026-03-02T10:00:00.000Z');
    server.ctx.now = () => second;
    const partial = await server.ctx.backups.backupNow(join(dir.path, 'b2'));
    assert.equal(
      partial.tenants.filter((t) => t.file === null).map((t) => t.name),
      ['Beta'],
    );
    assert.ok(server.logs.some((l) => l.msg === 'backup incomplete: tenants not copied'));
    const refused = await server.ctx.backups.backupNow(join(dir.path, 'b2')).catch((err: Error) => err);
    assert.match(String(refused), /is not empty/);
    const after = figures(second.getTime() / 1000, first.getTime() / 1000, 1, 1);
    assert.equal(await gauges(server, names), after);

    await server.stop();
    server = await startTestServer({ dataDir: join(dir.path, 'data') });
    assert.equal(await gauges(server, names), { ...after, agentmeter_backup_failures_total: 0 }, 'kept over a restart');

    // Restored from the first: its control file recorded none before it, the restored appliance has it as its newest.
    await server.stop();
    await restoreBackup(join(dir.path, 'b1'), join(dir.path, 'restored'));
    server = await startTestServer({ dataDir: join(dir.path, 'restored') });
    assert.equal(await gauges(server, names), figures(first.getTime() / 1000, first.getTime() / 1000, 0, 0));
  } finally {
    await server.stop();
    dir.remove();
  }
});

online.run();

const offline = suite<{ dir: ReturnType<typeof tempDir> }>('backup, verify and restore without a server');
offline.before.each((ctx) => {
  ctx.dir = tempDir('am-offline');
});
offline.after.each((ctx) => ctx.dir.remove());

offline(
  "a restore whose control file this build cannot open is still restored; the server's start says why",
  async ({ dir }) => {
    const data = join(dir.path, 'data');
    assert.is((await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test'], { dataDir: data })).code, 0);
    const b = join(dir.path, 'b');
    assert.is((await runCli(['backup', '--to', b], { dataDir: data })).code, 0);
    // As a newer build's file would be to this one: not a file DuckDB here opens (its checksum made to match).
    const control = join(b, 'control.duckdb');
    writeFileSync(control, Buffer.alloc(64 * 1024, 7));
    const manifest = JSON.parse(readFileSync(join(b, 'manifest.json'), 'utf8')) as {
      files: { path: string; bytes: number; sha256: string }[];
    };
    const entry = manifest.files.find((f) => f.path === 'control.duckdb')!;
    entry.bytes = 64 * 1024;
    entry.sha256 = createHash('sha256').update(readFileSync(control)).digest('hex');
    writeFileSync(join(b, 'manifest.json'), JSON.stringify(manifest));
    const restored = await runCli(['restore', '--from', b], { dataDir: join(dir.path, 'new') });
    assert.is(restored.code, 0, restored.stderr);
    assert.ok(readFileSync(join(dir.path, 'new', 'control.duckdb')).equals(readFileSync(control)), 'copied as it was');
  },
);

offline(
  'a backup, an export or the backup schedule inside the data directory is refused, naming it',
  async ({ dir }) => {
    const data = join(dir.path, 'data');
    assert.is((await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test'], { dataDir: data })).code, 0);
    for (const to of [join(data, 'tmp', 'nightly'), data, join(data, 'backups')]) {
      const refused = await runCli(['backup', '--to', to], { dataDir: data });
      assert.is(refused.code, 1, to);
      assert.match(refused.stderr, /is inside the data directory .*: a backup goes outside it/, to);
    }
    // Through a link to it too.
    symlinkSync(data, join(dir.path, 'link'));
    const linked = await runCli(['backup', '--to', join(dir.path, 'link', 'b')], { dataDir: data });
    assert.is(linked.code, 1);
    const exported = await runCli(['tenant', 'export', '--tenant', 'Acme', '--to', join(data, 'acme')], {
      dataDir: data,
    });
    assert.is(exported.code, 1);
    assert.match(exported.stderr, /is inside the data directory .*: an export goes outside it/);
    assert.throws(
      () => loadConfig({ 'data-dir': data, 'backup-dir': join(data, 'tmp', 'b') }, {}),
      /--backup-dir .* inside the data directory/,
    );
    assert.is(loadConfig({ 'data-dir': data, 'backup-dir': join(dir.path, 'data-backups') }, {}).backup?.keep, 7);
    assert.is((await runCli(['backup', '--to', join(dir.path, 'b')], { dataDir: data })).code, 0, 'beside it is fine');
  },
);

offline(
  'a damaged backup is found by its checksums and not restored; a non-empty directory is refused',
  async ({ dir }) => {
    const data = join(dir.path, 'data');
    assert.is((await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test'], { dataDir: data })).code, 0);
    const taken = await runCli(['backup', '--to', join(dir.path, 'b'), '--json'], { dataDir: data });
    assert.is(taken.code, 0, taken.stderr);
    const verified = await runCli(['backup', 'verify', '--from', join(dir.path, 'b'), '--json'], { dataDir: data });
    assert.is(verified.code, 0, verified.stderr);
    assert.is(JSON.parse(verified.stdout).ok, true);

    const nonEmpty = join(dir.path, 'occupied');
    mkdirSync(nonEmpty);
    writeFileSync(join(nonEmpty, 'keep.txt'), 'mine');
    const refused = await runCli(['restore', '--from', join(dir.path, 'b')], { dataDir: nonEmpty });
    assert.is(refused.code, 1);
    assert.match(refused.stderr, /is not empty/);
    assert.equal(readdirSync(nonEmpty), ['keep.txt']);

    const manifest = JSON.parse(readFileSync(join(dir.path, 'b', 'manifest.json'), 'utf8')) as Manifest;
    const tenantFile = join(dir.path, 'b', manifest.files.find((f) => f.path.startsWith('tenants/'))!.path);
    const bytes = readFileSync(tenantFile);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = bytes[middle]! ^ 0xff;
    writeFileSync(tenantFile, bytes);
    assert.is(statSync(tenantFile).size, bytes.length);
    const damaged = await runCli(['backup', 'verify', '--from', join(dir.path, 'b'), '--json'], { dataDir: data });
    assert.is(damaged.code, 1);
    assert.match(JSON.parse(damaged.stdout).problems.join(), /tenants\/t_\w+\.duckdb: checksum mismatch/);
    const notRestored = await runCli(['restore', '--from', join(dir.path, 'b')], { dataDir: join(dir.path, 'new') });
    assert.is(notRestored.code, 1);
    assert.match(notRestored.stderr, /damaged; nothing was restored/);
    assert.not.ok(existsSync(join(dir.path, 'new')));

    const noManifest = await runCli(['backup', 'verify', '--from', dir.path], { dataDir: data });
    assert.is(noManifest.code, 1);
    assert.match(noManifest.stderr, /is not a backup/);
    // A manifest that is there but cannot be read (here a link to itself; for a non-root
    // user, a directory it may not enter) is not "no manifest": the reason is named.
    const looped = join(dir.path, 'looped');
    mkdirSync(looped);
    symlinkSync('manifest.json', join(looped, 'manifest.json'));
    const unreadable = await runCli(['tenant', 'import', '--from', looped], { dataDir: data });
    assert.is(unreadable.code, 1);
    assert.match(unreadable.stderr, /cannot read .*looped\/manifest\.json: ELOOP/);
  },
);

offline(
  'an unavailable tenant is named in the backup and the rest kept; a backup and an export are not each other',
  async ({ dir }) => {
    const data = join(dir.path, 'data');
    assert.is((await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test'], { dataDir: data })).code, 0);
    const beta = JSON.parse(
      (await runCli(['tenant', 'create', '--name', 'Beta', '--json'], { dataDir: data })).stdout,
    ) as { id: string };
    rmSync(join(data, 'tenants', `${beta.id}.duckdb`));
    const taken = await runCli(['backup', '--to', join(dir.path, 'b'), '--json'], { dataDir: data });
    // Written, but not everything: a cron job must see it (exit 2; 1 is a failed backup).
    assert.is(taken.code, 2, taken.stderr);
    assert.equal(JSON.parse(taken.stderr.trim().split('\n').at(-1)!), {
      warning: `the backup written to ${join(dir.path, 'b')} is incomplete: 1 tenant not copied: Beta (${beta.id}: file missing)`,
    });
    const tenants = (
      JSON.parse(taken.stdout) as { tenants: { name: string; file: string | null; unavailable?: string }[] }
    ).tenants;
    assert.equal(tenants.map((t) => [t.name, t.file === null, t.unavailable ?? null]).sort(), [
      ['Acme', false, null],
      ['Beta', true, 'file missing'],
    ]);
    const verified = await runCli(['backup', 'verify', '--from', join(dir.path, 'b'), '--json'], { dataDir: data });
    assert.is(verified.code, 2, 'its files are intact, but it is incomplete');
    assert.equal(JSON.parse(verified.stdout).not_copied, [{ id: beta.id, name: 'Beta', why: 'file missing' }]);
    assert.match(verified.stderr, /is incomplete: 1 tenant not copied: Beta/);

    const exported = await runCli(['tenant', 'export', '--tenant', 'Acme', '--to', join(dir.path, 'e')], {
      dataDir: data,
    });
    assert.is(exported.code, 0, exported.stderr);
    const restoreExport = await runCli(['restore', '--from', join(dir.path, 'e')], { dataDir: join(dir.path, 'new') });
    assert.is(restoreExport.code, 1);
    assert.match(restoreExport.stderr, /one tenant's export; use "agentmeter tenant import/);
    const importBackup = await runCli(['tenant', 'import', '--from', join(dir.path, 'b')], { dataDir: data });
    assert.is(importBackup.code, 1);
    assert.match(importBackup.stderr, /is a full backup, not a tenant export/);
    const restored = await runCli(['restore', '--from', join(dir.path, 'b'), '--json'], {
      dataDir: join(dir.path, 'new'),
    });
    assert.is(restored.code, 0, restored.stderr);
    assert.match(restored.stderr, /is incomplete: 1 tenant not copied: Beta/);
    assert.equal(readdirSync(join(dir.path, 'new', 'tenants')), [
      `${(JSON.parse(restored.stdout) as { tenants: { id: string; file: string | null }[] }).tenants.find((t) => t.file)!.id}.duckdb`,
    ]);
  },
);

offline(
  'scheduled backups: taken when due by the injected clock, the oldest beyond --backup-keep removed',
  async ({ dir }) => {
    const backups = join(dir.path, 'scheduled');
    const server = await startTestServer({
      flags: { 'backup-dir': backups, 'backup-every': '1h', 'backup-keep': '2' },
    });
    try {
      await server.ctx.backups.stop(); // the test moves the clock and runs the checks itself
      let now = new Date('2026-03-01T10:00:00Z');
      server.ctx.now = () => now;
      assert.ok(await server.ctx.backups.runDue(), 'none yet: one is due');
      now = new Date('2026-03-01T10:59:00Z');
      assert.is(await server.ctx.backups.runDue(), null, 'not due within the hour');
      now = new Date('2026-03-01T11:00:00Z');
      assert.ok(await server.ctx.backups.runDue());
      now = new Date('2026-03-01T12:30:00Z');
      assert.ok(await server.ctx.backups.runDue());
      assert.equal(readdirSync(backups), ['agentmeter-20260301T110000Z', 'agentmeter-20260301T123000Z']);
      const v = await runCli(['backup', 'verify', '--from', join(backups, 'agentmeter-20260301T123000Z')], {
        dataDir: join(dir.path, 'unused'),
      });
      assert.is(v.code, 0, v.stderr);

      // A backup named by hand beside them is neither the newest nor pruned, even unfinished.
      await server.ctx.backups.backupNow(join(backups, 'agentmeter-pre-upgrade'));
      mkdirSync(join(backups, 'agentmeter-mine-unfinished'));
      now = new Date('2026-03-01T12:31:00Z');
      assert.is(await server.ctx.backups.runDue(), null, 'the newest scheduled one is a minute old');
      // The newest's manifest damaged: it no longer counts, and the schedule goes on.
      writeFileSync(join(backups, 'agentmeter-20260301T123000Z', 'manifest.json'), '{"format": ');
      assert.ok(await server.ctx.backups.runDue(), 'a damaged newest backup does not stop the schedule');
      now = new Date('2026-03-01T13:31:00Z');
      assert.ok(await server.ctx.backups.runDue());
      assert.equal(readdirSync(backups).sort(), [
        'agentmeter-20260301T123000Z',
        'agentmeter-20260301T123100Z',
        'agentmeter-20260301T133100Z',
        'agentmeter-mine-unfinished',
        'agentmeter-pre-upgrade',
      ]);
      // The check an interval after a backup comes a little early (the backup was dated as it
      // started): due, not put off by a whole check (with --backup-every 1m: every 2 minutes).
      now = new Date('2026-03-01T14:30:59.990Z');
      assert.ok(await server.ctx.backups.runDue(), 'due a few ms early');
    } finally {
      await server.stop();
    }
  },
);

offline('a backup whose file is a directory is a problem verify lists, not a crash', async ({ dir }) => {
  const data = join(dir.path, 'data');
  assert.is((await runCli(['setup', '--name', 'Acme', '--email', 'root@acme.test'], { dataDir: data })).code, 0);
  assert.is((await runCli(['backup', '--to', join(dir.path, 'b')], { dataDir: data })).code, 0);
  const manifest = JSON.parse(readFileSync(join(dir.path, 'b', 'manifest.json'), 'utf8')) as Manifest;
  const tenantFile = join(dir.path, 'b', manifest.files.find((f) => f.path.startsWith('tenants/'))!.path);
  rmSync(tenantFile);
  mkdirSync(tenantFile);
  const verified = await runCli(['backup', 'verify', '--from', join(dir.path, 'b'), '--json'], { dataDir: data });
  assert.is(verified.code, 1);
  assert.match(JSON.parse(verified.stdout).problems.join(), /tenants\/t_\w+\.duckdb: not a regular file/);
  const restored = await runCli(['restore', '--from', join(dir.path, 'b')], { dataDir: join(dir.path, 'new') });
  assert.is(restored.code, 1);
  assert.match(restored.stderr, /damaged; nothing was restored/);
  assert.not.match(restored.stderr, /unexpected error/);

  // A manifest that sends a tenant to a file its checksums do not cover, or names no tenant id.
  const unlisted = { ...manifest, tenants: manifest.tenants.map((t) => ({ ...t, file: 'tenants/other.duckdb' })) };
  writeFileSync(join(dir.path, 'b', 'manifest.json'), JSON.stringify(unlisted));
  const refused = await runCli(['backup', 'verify', '--from', join(dir.path, 'b')], { dataDir: data });
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /gives tenant t_\w+ the file "tenants\/other\.duckdb", which it does not list/);
  const badId = { ...manifest, tenants: manifest.tenants.map((t) => ({ ...t, id: '../../x' })) };
  writeFileSync(join(dir.path, 'b', 'manifest.json'), JSON.stringify(badId));
  const notId = await runCli(['backup', 'verify', '--from', join(dir.path, 'b')], { dataDir: data });
  assert.is(notId.code, 1);
  assert.match(notId.stderr, /tenants\.0\.id: not a tenant id/);
});

offline.run();
