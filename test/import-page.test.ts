// The Import page over real HTTP: a tenant admin uploads a .tar.gz and a .zip of a Claude
// folder for a person and the run ends finished with the fixture's counts; a tar with
// entries outside the folder, an absolute path and links has those skipped and reported
// (escaped) and nothing written outside; a non-archive is a 400 naming `file`; a developer
// sees their own runs and cannot upload; a viewer gets 403; a rollback from the page removes
// the run's events from every figure.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { create as tarCreate, Header } from 'tar';
import * as assert from 'uvu/assert';
import yazl from 'yazl';
import { runCommand } from '../src/admin/commands.js';
import { suite } from 'uvu';
import { finishRun, getRun, startRun } from '../src/import/runs.js';
import { ArchiveError, extractArchive } from '../src/import/archive.js';
import { uploadsDir } from '../src/import/archive-run.js';
import { tenantPath } from '../src/storage/datadir.js';
import {
  ADMIN,
  type Client,
  ROOT,
  setUp,
  signIn,
  startTestServer,
  tempDir,
  waitFor,
  type TestServer,
} from './helpers.js';

const FIXTURE = join(ROOT, 'test/fixtures/claude-home');
const EXPECTED = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as {
  sessions: number;
  assistant_messages_unique: number;
  tokens: { input: number; output: number };
};
const DEV = { email: 'dev@acme.test', password: 'plum orchard seventy' };
const VIEWER = { email: 'viewer@acme.test', password: 'granite lantern ninety' };

type Ctx = { server: TestServer; admin: Client; devId: string };
const test = suite<Ctx>('import page');

test.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  ctx.admin = await setUp(ctx.server);
  await ctx.admin.get('/settings/users');
  for (const [who, role] of [
    [DEV, 'developer'],
    [VIEWER, 'viewer'],
  ] as const) {
    const res = await ctx.admin.post('/settings/users', { email: who.email, role, password: who.password });
    assert.is(res.status, 200);
  }
  ctx.devId = (await ctx.server.ctx.control.get<{ id: string }>('SELECT id FROM users WHERE email = $e', {
    e: DEV.email,
  }))!.id;
});
test.after.each(async (ctx) => ctx.server.stop());

async function fixtureTarGz(): Promise<Buffer> {
  const dir = tempDir('am-tar');
  try {
    const file = join(dir.path, 'history.tar.gz');
    await tarCreate({ gzip: true, file, cwd: FIXTURE, portable: true }, ['.claude', 'expected.json']);
    return readFileSync(file);
  } finally {
    dir.remove();
  }
}

async function fixtureZip(): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const base = join(FIXTURE, '.claude/projects');
  for (const project of readdirSync(base)) {
    for (const file of readdirSync(join(base, project)))
      zip.addFile(join(base, project, file), `projects/${project}/${file}`);
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

type TarEntry = {
  path: string;
  type?: 'File' | 'SymbolicLink' | 'Link' | 'Directory';
  body?: string;
  linkpath?: string;
};
/** A tar.gz written header by header, so it can hold what no well-behaved tool writes. */
function handMadeTarGz(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const block = Buffer.alloc(512);
    new Header({
      path: e.path,
      type: e.type ?? 'File',
      size: body.length,
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: new Date(0),
      linkpath: e.linkpath,
    }).encode(block, 0);
    blocks.push(block, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/** Posts the upload form as the page does: the CSRF token and the person first, then the file. */
function upload(
  client: Client,
  file: Buffer,
  name: string,
  userId: string,
  { csrf = client.csrf, accept = 'text/html' } = {},
) {
  const form = new FormData();
  if (csrf) form.append('_csrf', csrf);
  form.append('user', userId);
  form.append('file', new Blob([new Uint8Array(file)]), name);
  return client.request('/import/upload', { method: 'POST', body: form, headers: { accept } });
}

async function finished(ctx: Ctx, location: string | null) {
  const id = /^\/import\/runs\/(imp_\w+)$/.exec(location ?? '')?.[1];
  assert.ok(id, `redirected to the run: ${location}`);
  const tenantId =
    ctx.admin &&
    (await ctx.server.ctx.control.get<{ t: string }>('SELECT tenant_id AS t FROM users WHERE email = $e', {
      e: ADMIN.email,
    }))!.t;
  return waitFor(async () => {
    const run = await getRun(ctx.server.ctx.tenantFiles, tenantId, id!);
    return run && run.status !== 'running' ? run : undefined;
  }, `run ${id} to end`);
}

async function figures(client: Client) {
  const res = await client.request('/api/v1/query', {
    method: 'POST',
    json: {
      metrics: ['api_requests', 'sessions', 'input_tokens', 'output_tokens'],
      from: '2026-10-01T00:00:00Z',
      to: '2026-11-01T00:00:00Z',
    },
    headers: { 'x-csrf-token': client.csrf! },
  });
  assert.is(res.status, 200, await res.clone().text());
  return ((await res.json()) as { rows: Record<string, number>[] }).rows[0]!;
}

const leftovers = (ctx: Ctx) =>
  existsSync(uploadsDir(ctx.server.dataDir)) ? readdirSync(uploadsDir(ctx.server.dataDir)) : [];

test("an admin uploads a .tar.gz and a .zip for a developer: finished, the fixture's requests stored once, temp files gone", async (ctx) => {
  await ctx.admin.get('/import');
  const tgz = await upload(ctx.admin, await fixtureTarGz(), 'claude-history.tar.gz', ctx.devId);
  assert.is(tgz.status, 303, await tgz.text());
  const first = await finished(ctx, tgz.headers.get('location'));
  assert.is(first.status, 'finished', first.error ?? '');
  assert.equal([first.user_id, first.source, first.label], [ctx.devId, 'archive', 'claude-history.tar.gz']);
  assert.ok(
    first.stored > EXPECTED.assistant_messages_unique,
    `requests, tool calls and prompts stored: ${first.stored}`,
  );
  assert.equal([first.rejected, first.duplicates], [0, 0]);
  assert.equal(await figures(ctx.admin), {
    api_requests: EXPECTED.assistant_messages_unique,
    sessions: EXPECTED.sessions,
    input_tokens: EXPECTED.tokens.input,
    output_tokens: EXPECTED.tokens.output,
  });
  assert.equal(leftovers(ctx), [], 'the upload and its extraction are removed');

  const page = await (await ctx.admin.get(`/import/runs/${first.id}`)).text();
  assert.match(page, /class="badge good run-status">finished</);
  assert.match(page, new RegExp(`class="num run-stored">${first.stored}<`));
  assert.match(page, /dev@acme\.test/);
  const row = await ctx.admin.get(`/import/runs/${first.id}/row`, { 'hx-request': 'true' });
  assert.is(row.status, 200);
  assert.match(
    await row.text(),
    new RegExp(`^\\s*<tbody id="run-${first.id}" class="import-run" data-status="finished">`),
    'the polled fragment: no longer polling',
  );

  await ctx.admin.get('/import');
  const zip = await upload(ctx.admin, await fixtureZip(), 'projects.zip', ctx.devId);
  assert.is(zip.status, 303, await zip.text());
  const second = await finished(ctx, zip.headers.get('location'));
  assert.is(second.status, 'finished', second.error ?? '');
  assert.equal(
    [second.sent, second.stored, second.duplicates],
    [first.sent, 0, first.sent],
    'the same history again stores nothing',
  );
  assert.equal(leftovers(ctx), []);
});

test('a tar with ../, an absolute path and links: those skipped and shown escaped, nothing written outside', async (ctx) => {
  const outside = join(ctx.server.dataDir, 'evil.jsonl');
  const absolute = join(tempDir('am-abs').path, 'abs.jsonl');
  rmSync(join(absolute, '..'), { recursive: true });
  const archive = handMadeTarGz([
    { path: '../evil.jsonl', body: '{}\n' },
    { path: `../../../../../../../../..${outside}`, body: '{}\n' },
    { path: absolute, body: '{}\n' },
    { path: 'projects/p/link.jsonl', type: 'SymbolicLink', linkpath: '/etc/passwd' },
    { path: 'projects/p/hard.jsonl', type: 'Link', linkpath: 'projects/p/ok.jsonl' },
    { path: 'projects/p/<script>alert(1)</script>.jsonl', type: 'SymbolicLink', linkpath: '/etc/passwd' },
    { path: 'projects/p', type: 'Directory' },
    { path: 'projects/p/ok.jsonl', body: '{"type":"summary","summary":"x"}\n' },
  ]);
  await ctx.admin.get('/import');
  const res = await upload(ctx.admin, archive, '<img src=x onerror=alert(2)>.tar.gz', ctx.devId);
  assert.is(res.status, 303, await res.text());
  const run = await finished(ctx, res.headers.get('location'));
  assert.is(run.status, 'finished', run.error ?? '');
  const skipped = Object.fromEntries(run.skip_samples.map((s) => [s.file, s.reason]));
  assert.match(skipped['../evil.jsonl']!, /leaves the archive's folder/);
  assert.match(skipped[absolute]!, /absolute path/);
  assert.match(skipped['projects/p/link.jsonl']!, /symbolic link/);
  assert.match(skipped['projects/p/hard.jsonl']!, /hard link/);
  assert.match(skipped['projects/p/<script>alert(1)</script>.jsonl']!, /symbolic link/);
  assert.not.ok(existsSync(outside), 'nothing written beside the data');
  assert.not.ok(existsSync(absolute), 'nor at the absolute path');
  assert.equal(leftovers(ctx), []);

  const page = await (await ctx.admin.get('/import')).text();
  assert.not.match(page, /<script>alert|<img src=x/, 'no name from the archive is markup');
  assert.match(page, /&lt;script&gt;alert\(1\)&lt;\/script&gt;\.jsonl/, 'the skipped entry is shown, escaped');
  assert.match(page, /&lt;img src=x onerror=alert\(2\)&gt;\.tar\.gz/, 'the file name too');
});

test('a non-archive is a 400 naming file; no CSRF token is a 403; a declared size past the limit is a 413 naming file', async (ctx) => {
  await ctx.admin.get('/import');
  const text = await upload(
    ctx.admin,
    Buffer.from('just some text, not an archive\n'.repeat(40)),
    'notes.tar.gz',
    ctx.devId,
    { accept: 'application/json' },
  );
  assert.is(text.status, 400, await text.clone().text());
  assert.is(((await text.json()) as { field: string }).field, 'file');
  const empty = await upload(ctx.admin, Buffer.alloc(0), 'empty.zip', ctx.devId, { accept: 'application/json' });
  assert.equal([empty.status, ((await empty.json()) as { field: string }).field], [400, 'file']);
  const forged = await upload(ctx.admin, await fixtureTarGz(), 'a.tar.gz', ctx.devId, {
    csrf: 'forged',
    accept: 'application/json',
  });
  assert.equal([forged.status, ((await forged.json()) as { field: string }).field], [403, '_csrf']);
  const nobody = await upload(ctx.admin, await fixtureTarGz(), 'a.tar.gz', 'u_nobody', { accept: 'application/json' });
  assert.equal([nobody.status, ((await nobody.json()) as { field: string }).field], [400, 'user']);
  // A viewer sends no events, a deactivated person none any more: not offered, and refused.
  const tenant = (await ctx.server.ctx.control.get<{ t: string }>('SELECT tenant_id AS t FROM users WHERE id = $id', {
    id: ctx.devId,
  }))!.t;
  const made = (email: string, role: string) =>
    runCommand(ctx.server.ctx, 'user create', { tenant, email, role, password: 'a long password 123' }) as Promise<{
      id: string;
    }>;
  const viewer = await made('upload-viewer@acme.test', 'viewer');
  const gone = await made('upload-gone@acme.test', 'developer');
  await runCommand(ctx.server.ctx, 'user disable', { tenant, email: 'upload-gone@acme.test' });
  const form = await (await ctx.admin.get('/import')).text();
  assert.match(form, new RegExp(`<option value="${ctx.devId}"`));
  for (const id of [viewer.id, gone.id]) {
    assert.not.match(form, new RegExp(`<option value="${id}"`), `${id} is not offered`);
    const refused = await upload(ctx.admin, await fixtureTarGz(), 'a.tar.gz', id, { accept: 'application/json' });
    assert.equal([refused.status, ((await refused.json()) as { field: string }).field], [400, 'user']);
  }
  assert.equal(leftovers(ctx), []);
  const runs = (await (await ctx.admin.request('/api/v1/import/runs')).json()) as { runs: unknown[] };
  assert.is(runs.runs.length, 0, 'none of them started a run');

  const huge = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const url = new URL('/import/upload', ctx.server.url);
    const req = httpRequest(
      url,
      {
        method: 'POST',
        headers: {
          cookie: [...ctx.admin.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
          'content-type': 'multipart/form-data; boundary=x',
          'content-length': String(3 * 1024 ** 3),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.write('--x\r\n');
  });
  assert.is(huge.status, 413);
  assert.is((JSON.parse(huge.body) as { field: string }).field, 'file');
});

test('a developer sees their own runs and the commands, and cannot upload; a viewer gets 403', async (ctx) => {
  await ctx.admin.get('/import');
  const forDev = await finished(
    ctx,
    (await upload(ctx.admin, await fixtureTarGz(), 'dev.tar.gz', ctx.devId)).headers.get('location'),
  );
  const adminId = (await ctx.server.ctx.control.get<{ id: string }>('SELECT id FROM users WHERE email = $e', {
    e: ADMIN.email,
  }))!.id;
  await ctx.admin.get('/import');
  const forAdmin = await finished(
    ctx,
    (await upload(ctx.admin, await fixtureZip(), 'admin.zip', adminId)).headers.get('location'),
  );

  const dev = await signIn(ctx.server, DEV.email, DEV.password);
  const page = await dev.get('/import');
  assert.is(page.status, 200);
  const html = await page.text();
  assert.match(html, new RegExp(`id="run-${forDev.id}"`), 'their own run');
  assert.not.match(html, new RegExp(forAdmin.id), "not someone else's");
  assert.match(html, new RegExp(`agentmeter import claude --url ${ctx.server.url.replace(/\./g, '\\.')} --key`));
  assert.match(html, /agentmeter sync --url/);
  assert.not.match(html, /action="\/import\/upload"/, 'no upload form');
  assert.match(html, /<a href="\/import"[^>]*>Import<\/a>/, 'in the navigation');
  assert.is((await dev.get(`/import/runs/${forAdmin.id}`)).status, 404);
  assert.is((await upload(dev, await fixtureTarGz(), 'x.tar.gz', ctx.devId)).status, 403);

  const viewer = await signIn(ctx.server, VIEWER.email, VIEWER.password);
  assert.is((await viewer.get('/import')).status, 403);
  assert.not.match(await (await viewer.get('/settings')).text(), /href="\/import"/, "not in a viewer's navigation");
});

test('a run from the command line shows what it read, as an upload does', async (ctx) => {
  const tenantId = (await ctx.server.ctx.control.get<{ t: string }>('SELECT tenant_id AS t FROM users WHERE id = $id', {
    id: ctx.devId,
  }))!.t;
  const who = { tenantId, userId: ctx.devId };
  const now = new Date();
  const run = await startRun(
    ctx.server.ctx.tenantFiles,
    tenantId,
    { userId: ctx.devId, createdBy: ctx.devId, source: 'claude' },
    now,
  );
  // What `agentmeter import` sends when it ends (an upload's progress adds files_done).
  await finishRun(ctx.server.ctx.tenantFiles, who, run.id, { summary: { files: 3, sessions: 1, events: 7 } }, now);
  const page = await (await ctx.admin.get(`/import/runs/${run.id}`)).text();
  assert.match(page, /<p class="run-progress">Read\s+3 of 3 files, 7 events<\/p>/);
  assert.not.match(page, /undefined/);
});

test('rollback from the page: the confirm step names the events; afterwards the figures are as before the import', async (ctx) => {
  await ctx.admin.get('/import');
  const before = await figures(ctx.admin);
  const run = await finished(
    ctx,
    (await upload(ctx.admin, await fixtureTarGz(), 'h.tar.gz', ctx.devId)).headers.get('location'),
  );
  await ctx.server.ctx.aggregator.runOnce();
  assert.is((await figures(ctx.admin)).api_requests, EXPECTED.assistant_messages_unique);

  const confirm = await (await ctx.admin.get(`/import/runs/${run.id}/rollback`)).text();
  assert.match(
    confirm,
    new RegExp(`removes <strong>${run.stored}</strong> events stored by this run, and their share of every figure`),
  );
  const res = await ctx.admin.post(`/import/runs/${run.id}/rollback`, {});
  assert.equal([res.status, res.headers.get('location')], [303, `/import?rolled_back=${run.stored}`]);
  assert.equal(await figures(ctx.admin), before);
  const after = await (await ctx.admin.get('/import')).text();
  assert.match(after, /rolled back/);
  const audit = (await (await ctx.admin.request('/api/v1/audit')).json()) as {
    entries?: { action: string }[];
    events?: { action: string }[];
  };
  assert.ok(JSON.stringify(audit).includes('import.rollback'), 'audited');
  assert.is(
    (await ctx.admin.post(`/import/runs/${run.id}/rollback`, {}, { csrf: false })).status,
    403,
    'not without the CSRF token',
  );
});

/** The tenant and a run of `source` started for the developer in it, as a running server leaves one. */
async function devRun(ctx: Ctx, source: 'archive' | 'claude') {
  const tenantId = (await ctx.server.ctx.control.get<{ t: string }>(
    'SELECT tenant_id AS t FROM users WHERE email = $e',
    { e: ADMIN.email },
  ))!.t;
  const run = await startRun(
    ctx.server.ctx.tenantFiles,
    tenantId,
    { userId: ctx.devId, createdBy: ctx.devId, source },
    new Date(),
  );
  return { tenantId, run };
}

test('a restart marks the archive runs it was reading failed and removes what they left', async (ctx) => {
  const { tenantId, run: archive } = await devRun(ctx, 'archive');
  const { run: cli } = await devRun(ctx, 'claude');
  const left = await ctx.server.ctx.archives.workDir();
  const dataDir = ctx.server.dataDir;
  await ctx.server.close(); // as a crash would leave them: the folder, and runs marked running
  const again = await startTestServer({ dataDir });
  ctx.server = { ...again, stop: async () => (await again.close(), rmSync(dataDir, { recursive: true, force: true })) };
  const runs = await Promise.all([archive.id, cli.id].map((id) => getRun(again.ctx.tenantFiles, tenantId, id)));
  assert.equal(
    runs.map((r) => [r!.status, r!.error]),
    [
      ['failed', 'interrupted: the server stopped before the import finished'],
      ['running', null],
    ],
    'a CLI run may still be continued by its client',
  );
  assert.not.ok(existsSync(left), 'the upload folder is gone');
});

test('an archive run whose tenant was unavailable at the restart is marked failed once its file is back', async (ctx) => {
  const { tenantId, run: archive } = await devRun(ctx, 'archive');
  const dataDir = ctx.server.dataDir;
  await ctx.server.close();
  const file = tenantPath(dataDir, tenantId);
  renameSync(file, `${file}.away`);
  const again = await startTestServer({ dataDir });
  ctx.server = { ...again, stop: async () => (await again.close(), rmSync(dataDir, { recursive: true, force: true })) };
  renameSync(`${file}.away`, file);
  const later = new Date(Date.now() + 60_000); // past the unavailable file's backoff
  again.ctx.now = () => later;
  const run = await getRun(again.ctx.tenantFiles, tenantId, archive.id);
  assert.equal([run!.status, run!.error], ['failed', 'interrupted: the server stopped before the import finished']);
});

test.run();

const limits = suite('archive limits');

limits('past the entry count or the unpacked size, extraction stops with the reason (zip bombs)', async () => {
  const dir = tempDir('am-limits');
  try {
    const files = { tgz: join(dir.path, 'a.tar.gz'), zip: join(dir.path, 'a.zip') };
    writeFileSync(files.tgz, await fixtureTarGz());
    writeFileSync(files.zip, await fixtureZip());
    for (const [kind, file] of [
      ['tar.gz', files.tgz],
      ['zip', files.zip],
    ] as const) {
      const whole = await extractArchive(file, kind, join(dir.path, `${kind}-whole`));
      assert.equal([whole.files, whole.skipped], [3, []], kind);
      for (const [cap, reason] of [
        [{ uploadBytes: 1e9, extractedBytes: 1e9, entries: 2 }, /more than 2 entries/],
        [{ uploadBytes: 1e9, extractedBytes: 10_000, entries: 1000 }, /unpacks to more than/],
      ] as const) {
        try {
          await extractArchive(file, kind, join(dir.path, `${kind}-${cap.entries}`), cap);
          assert.unreachable(`${kind}: past ${JSON.stringify(cap)}`);
        } catch (err) {
          assert.instance(err, ArchiveError, String(err));
          assert.match((err as Error).message, reason);
        }
      }
    }
  } finally {
    dir.remove();
  }
});

limits.run();
