// Privacy: a person downloads everything stored about them (a zip, unzipped here with
// yauzl), and a tenant admin erases a person: the team's figures drop by exactly that
// person's events, rolled up or not, and nothing in the tenant's file still names them.
import * as assert from 'uvu/assert';
import yauzl from 'yauzl';
import { ADMIN, Client, ingestKey, runCli, signIn, startTestServer, type TestServer } from './helpers.js';
import { suite } from 'uvu';

type Ctx = { server: TestServer; tenantId: string; a: Person; b: Person };
type Person = { email: string; key: string; userId: string };

const NOW = Date.UTC(2026, 10, 20, 12, 0, 0);
const HOUR = 3_600_000;
const PASSWORD = 'ingest password 1'; // what ingestKey gives the people it creates
const test = suite<Ctx>('privacy');

test.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop(); // the test runs the passes it needs
  let clock = NOW;
  ctx.server.ctx.now = () => new Date((clock += 1000)); // hooks are stamped a second apart
  const a = await ingestKey(ctx.server, ['ingest', 'read'], 'ann@acme.test');
  const b = await ingestKey(ctx.server, ['ingest', 'read'], 'bob@acme.test');
  ctx.tenantId = a.tenantId;
  ctx.a = { email: 'ann@acme.test', key: a.key, userId: a.userId };
  ctx.b = { email: 'bob@acme.test', key: b.key, userId: b.userId };
});
test.after.each(async (ctx) => ctx.server.stop());

const bearer = (key: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${key}` });

async function hook(ctx: Ctx, p: Person, body: Record<string, unknown>): Promise<number> {
  const res = await fetch(`${ctx.server.url}/api/v1/hooks/claude-code`, {
    method: 'POST',
    headers: bearer(p.key),
    body: JSON.stringify({ cwd: '/w/shop', ...body }),
  });
  await res.text();
  return res.status;
}

/** A live session through the hooks: a prompt, two tool calls (one with a formula-like command), a stop. */
async function liveSession(ctx: Ctx, p: Person, session: string, durations: [number, number]) {
  const base = { session_id: session };
  assert.is(await hook(ctx, p, { ...base, hook_event_name: 'UserPromptSubmit', prompt: 'fix it' }), 200);
  for (const [i, ms] of durations.entries()) {
    const call = {
      ...base,
      tool_name: 'Bash',
      tool_use_id: `${session}-t${i}`,
      tool_input: { command: '=HYPERLINK("x")' },
    };
    assert.is(await hook(ctx, p, { ...call, hook_event_name: 'PreToolUse' }), 200);
    assert.is(await hook(ctx, p, { ...call, hook_event_name: 'PostToolUse', tool_response: {}, duration_ms: ms }), 200);
  }
  assert.is(await hook(ctx, p, { ...base, hook_event_name: 'Stop' }), 200);
}

/** An imported session (model requests with tokens and cost, a tool call, a prompt), hours ago. */
async function importedSession(ctx: Ctx, p: Person, session: string, cost: number, tool: string, hoursAgo = 3) {
  const start = await fetch(`${ctx.server.url}/api/v1/import/runs`, {
    method: 'POST',
    headers: bearer(p.key),
    body: JSON.stringify({ source: 'claude', host: 'laptop' }),
  });
  const { run } = (await start.json()) as { run: { id: string } };
  const at = NOW - hoursAgo * HOUR;
  const id = (what: string) => `${p.email}-${what}`; // the same request or prompt from two people would count once
  const events = [
    { kind: 'prompt', ts: at, session_id: session, prompt_id: id('p1'), project: 'shop' },
    {
      kind: 'api_request',
      ts: at + 1000,
      session_id: session,
      request_id: id('r1'),
      model: 'claude-sonnet-4',
      input_tokens: 100,
      output_tokens: 50,
      cost_usd: cost,
      duration_ms: 900,
    },
    {
      kind: 'api_request',
      ts: at + 2000,
      session_id: session,
      request_id: id('r2'),
      model: 'claude-sonnet-4',
      input_tokens: 10,
      output_tokens: 5,
      cost_usd: cost / 2,
      duration_ms: 1500,
    },
    {
      kind: 'tool_call',
      ts: at + 3000,
      session_id: session,
      tool_use_id: id('t9'),
      name: tool,
      status: 'success',
      duration_ms: 40,
    },
  ];
  const chunk = await fetch(`${ctx.server.url}/api/v1/import/runs/${run.id}/events`, {
    method: 'POST',
    headers: bearer(p.key),
    body: JSON.stringify({ events }),
  });
  assert.is(chunk.status, 200, await chunk.clone().text());
  await fetch(`${ctx.server.url}/api/v1/import/runs/${run.id}/finish`, {
    method: 'POST',
    headers: bearer(p.key),
    body: '{}',
  });
}

/** Both people's data: imported sessions rolled up by the worker, live ones not yet. */
async function seed(ctx: Ctx) {
  await importedSession(ctx, ctx.a, 'shared-id', 0.3, '=HYPERLINK("x")'); // a spreadsheet would run it
  await importedSession(ctx, ctx.b, 'shared-id', 0.5, 'Edit'); // the same session id, another person's session
  await liveSession(ctx, ctx.a, 'a-live', [120, 480]);
  await ctx.server.ctx.aggregator.runOnce();
  await liveSession(ctx, ctx.b, 'b-live', [200, 300]);
  await liveSession(ctx, ctx.a, 'a-late', [700, 90]);
}

const METRICS = [
  'events',
  'sessions',
  'active_users',
  'prompts',
  'tool_calls',
  'api_requests',
  'cost_usd',
  'input_tokens',
  'tool_p95_ms',
  'api_p95_ms',
  'tool_max_ms',
];

async function figures(client: Client, filters: Record<string, string[]> = {}, metrics = METRICS, days = 1) {
  const res = await client.request('/api/v1/query', {
    method: 'POST',
    headers: { 'x-csrf-token': client.csrf! },
    json: {
      metrics,
      from: new Date(NOW - days * 24 * HOUR).toISOString(),
      to: new Date(NOW + HOUR).toISOString(),
      filters,
    },
  });
  assert.is(res.status, 200, await res.clone().text());
  return ((await res.json()) as { rows: Record<string, number>[] }).rows[0]!;
}

/** The entries of a zip, as text by name. */
function unzip(buffer: Buffer): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buffer, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const files = new Map<string, string>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const parts: Buffer[] = [];
          stream.on('data', (d: Buffer) => parts.push(d));
          stream.on('end', () => {
            files.set(entry.fileName, Buffer.concat(parts).toString('utf8'));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(files));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

/** Every table of the tenant's file with a user_id column, and how many rows name `userId`. */
async function rowsNaming(ctx: Ctx, userId: string): Promise<Record<string, number>> {
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const tables = await db.all<{ table_name: string }>(
    `SELECT DISTINCT table_name FROM duckdb_columns() WHERE column_name = 'user_id' AND NOT internal AND database_name = current_database() ORDER BY 1`,
  );
  const names = tables.map((t) => t.table_name);
  for (const t of [
    'events',
    'rollup_1m',
    'rollup_1d_dur',
    'session_1h',
    'session_index',
    'session_figures',
    'session_scores',
    'import_runs',
    'import_chunks',
    'imported_baselines',
    'retired_events',
  ])
    assert.ok(names.includes(t), t);
  const out: Record<string, number> = {};
  for (const { table_name } of tables)
    out[table_name] = Number(
      (await db.get<{ n: number }>(`SELECT count(*) AS n FROM "${table_name}" WHERE user_id = $u`, { u: userId }))!.n,
    );
  return out;
}

const signedIn = async (ctx: Ctx, email: string, password: string) => {
  const client = await signIn(ctx.server, email, password);
  await client.get('/settings'); // a page's CSRF token, for the JSON calls
  return client;
};

test('a person downloads a zip of everything about them, and nobody else', async (ctx) => {
  await seed(ctx);
  const ann = await signedIn(ctx, ctx.a.email, PASSWORD);
  const page = await (await ann.get('/settings')).text();
  assert.match(page, 'href="/api/v1/me/export"', 'the account page links the download');

  const res = await ann.request('/api/v1/me/export');
  assert.is(res.status, 200, await res.clone().text());
  assert.is(res.headers.get('content-type'), 'application/zip');
  assert.match(
    res.headers.get('content-disposition') ?? '',
    /attachment; filename="agentmeter-my-data-2026-11-20\.zip"/,
  );
  const files = await unzip(Buffer.from(await res.arrayBuffer()));
  assert.equal([...files.keys()].sort(), [
    'README.txt',
    'api_keys.json',
    'audit.json',
    'events.csv',
    'events.ndjson',
    'import_runs.json',
    'profile.json',
    'sessions.json',
  ]);
  const all = [...files.values()].join('\n');
  assert.not.match(all, ctx.b.userId, "no trace of the other person's id");
  assert.not.match(all, ctx.b.email);
  assert.not.match(all, 'b-live');

  const profile = JSON.parse(files.get('profile.json')!) as Record<string, unknown>;
  assert.equal(
    [profile.id, profile.email, profile.role, (profile.organisation as { id: string }).id],
    [ctx.a.userId, ctx.a.email, 'developer', ctx.tenantId],
  );
  assert.not.ok('password_hash' in profile);
  assert.is((profile.browser_sessions as unknown[]).length, 1);

  const events = files
    .get('events.ndjson')!
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const stored = Number(
    (await db.get<{ n: number }>(`SELECT count(*) AS n FROM events WHERE user_id = $u`, { u: ctx.a.userId }))!.n,
  );
  assert.is(events.length, stored, 'every one of their events, the rolled-up and the newest');
  assert.ok(stored >= 10);
  assert.ok(events.every((e) => e.user_id === ctx.a.userId && e.user_email === ctx.a.email));
  const csv = files.get('events.csv')!.trimEnd().split('\r\n');
  assert.is(csv.length, stored + 1, 'a header and a row per event');
  assert.match(csv[0]!, /^id,seq,ts,received_at,kind,/);
  assert.ok(
    csv.some((l) => l.includes(`"'=HYPERLINK(""x"")"`)),
    'a formula-like cell is defused in the CSV',
  );
  assert.ok(
    events.some((e) => e.name === '=HYPERLINK("x")'),
    'and exact in the NDJSON',
  );

  const sessions = JSON.parse(files.get('sessions.json')!) as { sessions: Record<string, unknown>[] };
  assert.equal(sessions.sessions.map((s) => s.session_id).sort(), ['a-late', 'a-live', 'shared-id']);
  assert.ok(sessions.sessions.every((s) => s.user_id === ctx.a.userId));
  assert.is(
    sessions.sessions.find((s) => s.session_id === 'shared-id')!.cost_usd,
    0.45,
    'their figures, not the other person’s session of the same id',
  );

  const keys = JSON.parse(files.get('api_keys.json')!) as Record<string, unknown>[];
  assert.is(keys.length, 1);
  assert.equal(Object.keys(keys[0]!).sort(), ['created_at', 'id', 'name', 'prefix', 'revoked_at', 'scopes']);
  assert.not.match(all, /key_hash|"hash"/);
  const hash = (await ctx.server.ctx.control.get<{ h: string }>(
    `SELECT key_hash AS h FROM api_keys WHERE user_id = $u`,
    { u: ctx.a.userId },
  ))!.h;
  assert.not.match(all, hash, 'not even the hash of their key');
  assert.not.match(all, ctx.a.key, 'nor the key');

  const runs = JSON.parse(files.get('import_runs.json')!) as { user_id: string; host: string }[];
  assert.equal(
    runs.map((r) => [r.user_id, r.host]),
    [[ctx.a.userId, 'laptop']],
  );
  const audit = JSON.parse(files.get('audit.json')!) as {
    action: string;
    actor_user_id: string | null;
    target: string | null;
  }[];
  assert.ok(
    audit.some((e) => e.action === 'login.success' && e.actor_user_id === ctx.a.userId),
    'their sign-in',
  );
  assert.ok(
    audit.some((e) => e.action === 'user.create' && e.target === ctx.a.userId),
    'their account being made',
  );
  assert.ok(
    audit.some((e) => e.action === 'import.start'),
    'their import',
  );
  assert.match(files.get('README.txt')!, 'events.ndjson');

  const logged = await ctx.server.ctx.control.get<{ n: number }>(
    `SELECT count(*) AS n FROM audit_log WHERE action = 'privacy.export' AND actor_user_id = $u`,
    { u: ctx.a.userId },
  );
  assert.is(Number(logged!.n), 1, 'the download is audited');
  const byKey = await fetch(`${ctx.server.url}/api/v1/me/export`, { headers: bearer(ctx.a.key) });
  assert.is(byKey.status, 403, 'an API key cannot download a person’s data');
});

test("personal exports share the raw exports' limit: two at once per tenant, then 429", async (ctx) => {
  const ann = await signedIn(ctx, ctx.a.email, PASSWORD);
  // Two raw exports running (each holds a lease until its body ends).
  const running = [await ctx.server.ctx.exports.lease(ctx.tenantId), await ctx.server.ctx.exports.lease(ctx.tenantId)];
  try {
    assert.ok(running.every(Boolean));
    const refused = await ann.request('/api/v1/me/export');
    await refused.body?.cancel();
    assert.is(refused.status, 429);
    assert.ok(refused.headers.get('retry-after'));
  } finally {
    for (const lease of running) await lease?.release();
  }
  const res = await ann.request('/api/v1/me/export');
  assert.is(res.status, 200);
  await res.arrayBuffer();
});

test('erasing a person takes exactly their share out of every figure, and every row naming them', async (ctx) => {
  await seed(ctx);
  const admin = await signedIn(ctx, ADMIN.email, ADMIN.password);
  const before = await figures(admin);
  const bobBefore = await figures(admin, { user: [ctx.b.userId] });
  const annBefore = await figures(admin, { user: [ctx.a.userId] });
  assert.is(before.events, bobBefore.events! + annBefore.events!);
  assert.is(before.active_users, 2);

  const dev = await signedIn(ctx, ctx.b.email, PASSWORD);
  const refused = await dev.request(`/api/v1/tenants/${ctx.tenantId}/users/${ctx.a.userId}/erase`, {
    method: 'POST',
    headers: { 'x-csrf-token': dev.csrf! },
  });
  assert.is(refused.status, 403, 'a developer cannot erase');

  const res = await admin.request(`/api/v1/tenants/${ctx.tenantId}/users/${ctx.a.userId}/erase`, {
    method: 'POST',
    headers: { 'x-csrf-token': admin.csrf! },
  });
  assert.is(res.status, 200, await res.clone().text());
  const { erased } = (await res.json()) as { erased: Record<string, number> };
  assert.equal(
    [erased.events, erased.sessions, erased.import_runs, erased.api_keys],
    [annBefore.events, 2, 1, 1],
    'a-late is not rolled up yet: two indexed sessions',
  );

  const after = await figures(admin);
  assert.equal(after, { ...bobBefore, active_users: 1 }, 'the team is exactly the other person now');
  assert.equal(await figures(admin, { user: [ctx.b.userId] }), bobBefore, "the other person's figures are unchanged");
  await ctx.server.ctx.aggregator.runOnce();
  assert.equal(
    await figures(admin),
    { ...bobBefore, active_users: 1 },
    'and after the worker has rolled up what was left',
  );

  const left = await rowsNaming(ctx, ctx.a.userId);
  assert.equal(
    Object.entries(left).filter(([, n]) => n > 0),
    [],
    'no row of the tenant file names them',
  );
  assert.ok(
    Object.values(await rowsNaming(ctx, ctx.b.userId)).some((n) => n > 0),
    'the other person keeps theirs',
  );

  assert.is(await hook(ctx, ctx.a, { session_id: 'after', hook_event_name: 'Stop' }), 401, 'their key is refused');

  const account = await ctx.server.ctx.control.get<Record<string, unknown>>(
    `SELECT email, name, password_hash, disabled FROM users WHERE id = $u`,
    { u: ctx.a.userId },
  );
  assert.equal(
    account,
    { email: `erased-${ctx.a.userId}@invalid`, name: null, password_hash: null, disabled: true },
    'anonymised, so audit entries still resolve',
  );
  const entries = await ctx.server.ctx.control.all<{ action: string; target: string | null; detail: string | null }>(
    `SELECT action, target, detail FROM audit_log`,
  );
  const erasure = entries.filter((e) => e.action === 'privacy.erase');
  assert.equal(
    erasure.map((e) => e.target),
    [ctx.a.userId],
  );
  assert.equal({ user_id: ctx.a.userId, ...JSON.parse(erasure[0]!.detail!) }, erased, 'counts only');
  assert.equal(
    entries.filter((e) => JSON.stringify(e).includes(ctx.a.email)),
    [],
    'their email is in no audit entry',
  );
  assert.ok(
    entries.some((e) => e.action === 'user.create' && e.target === ctx.a.userId && e.detail?.includes('[erased]')),
    'their creation is kept, scrubbed',
  );

  // (after the audit's check: a sign-in attempt with their address is logged, as any is)
  const login = new Client(ctx.server.url);
  await login.get('/login');
  assert.is(
    (await login.post('/login', { email: ctx.a.email, password: PASSWORD })).status,
    401,
    'they cannot sign in',
  );

  const again = await admin.request(`/api/v1/tenants/${ctx.tenantId}/users/${ctx.a.userId}/erase`, {
    method: 'POST',
    headers: { 'x-csrf-token': admin.csrf! },
  });
  assert.is(again.status, 409);
});

test('erasure past raw retention takes their rows out of the rollups that outlive their events', async (ctx) => {
  await importedSession(ctx, ctx.a, 'old-a', 0.3, 'Edit', 5 * 24);
  await importedSession(ctx, ctx.b, 'old-b', 0.5, 'Edit', 5 * 24 + 1);
  await ctx.server.ctx.aggregator.runOnce();
  const admin = await signedIn(ctx, ADMIN.email, ADMIN.password);
  const keep = await admin.request('/api/v1/settings/retention', {
    method: 'PUT',
    headers: { 'x-csrf-token': admin.csrf! },
    json: { raw: 1 },
  });
  assert.is(keep.status, 200);
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  // Runs are kept whole for their rollback for 30 days after their last activity: these are older.
  await db.run(`UPDATE import_runs SET updated_at = updated_at - INTERVAL 31 DAY`);
  await ctx.server.ctx.aggregator.runOnce(undefined, { retention: true });
  assert.is(
    Number((await db.get<{ n: number }>(`SELECT count(*) AS n FROM events`))!.n),
    0,
    'retention deleted the raw events',
  );

  // Percentiles and bounds past raw retention are the sketch's estimate: counted here are the sums.
  const metrics = [
    'events',
    'sessions',
    'active_users',
    'prompts',
    'tool_calls',
    'api_requests',
    'cost_usd',
    'input_tokens',
  ];
  const bobBefore = await figures(admin, { user: [ctx.b.userId] }, metrics, 7);
  assert.is((await figures(admin, {}, metrics, 7)).active_users, 2);
  const res = await admin.request(`/api/v1/tenants/${ctx.tenantId}/users/${ctx.a.userId}/erase`, {
    method: 'POST',
    headers: { 'x-csrf-token': admin.csrf! },
  });
  assert.is(res.status, 200, await res.clone().text());
  assert.equal(
    await figures(admin, {}, metrics, 7),
    { ...bobBefore, active_users: 1 },
    'the team cube lost exactly their share',
  );
  assert.equal(
    await figures(admin, { project: ['shop'] }, metrics, 7),
    { ...bobBefore, active_users: 1 },
    'and the full and session cubes',
  );
  assert.equal(
    Object.entries(await rowsNaming(ctx, ctx.a.userId)).filter(([, n]) => n > 0),
    [],
  );
});

test('who may erase whom: not oneself, not a higher role, not in another tenant', async (ctx) => {
  const admin = await signedIn(ctx, ADMIN.email, ADMIN.password);
  const self = await admin.request(
    `/api/v1/tenants/${ctx.tenantId}/users/${((await admin.request('/api/v1/me').then((r) => r.json())) as { user: { id: string } }).user.id}/erase`,
    { method: 'POST', headers: { 'x-csrf-token': admin.csrf! } },
  );
  assert.is(self.status, 403, 'not oneself');

  const other = (await admin
    .request('/api/v1/tenants', { method: 'POST', headers: { 'x-csrf-token': admin.csrf! }, json: { name: 'Other' } })
    .then((r) => r.json())) as { id: string };
  const created = await admin.request(`/api/v1/tenants/${other.id}/users`, {
    method: 'POST',
    headers: { 'x-csrf-token': admin.csrf! },
    json: { email: 'olga@other.test', role: 'tenant_admin', password: 'another long secret 7' },
  });
  assert.is(created.status, 201);
  const olga = await signedIn(ctx, 'olga@other.test', 'another long secret 7');
  const across = await olga.request(`/api/v1/tenants/${ctx.tenantId}/users/${ctx.a.userId}/erase`, {
    method: 'POST',
    headers: { 'x-csrf-token': olga.csrf! },
  });
  assert.is(across.status, 404, 'another tenant is not there');
  const wrongTenant = await olga.request(`/api/v1/tenants/${other.id}/users/${ctx.a.userId}/erase`, {
    method: 'POST',
    headers: { 'x-csrf-token': olga.csrf! },
  });
  assert.is(wrongTenant.status, 404, 'nor its people under one’s own tenant');
  const noCsrf = await admin.request(`/api/v1/tenants/${ctx.tenantId}/users/${ctx.a.userId}/erase`, { method: 'POST' });
  assert.is(noCsrf.status, 403, 'a cookie alone is not enough');
  const db = await ctx.server.ctx.control.get<{ email: string }>(`SELECT email FROM users WHERE id = $u`, {
    u: ctx.a.userId,
  });
  assert.is(db!.email, ctx.a.email, 'nobody was erased');
});

test('the people page erases a person once their email is typed', async (ctx) => {
  await seed(ctx);
  const admin = await signedIn(ctx, ADMIN.email, ADMIN.password);
  const page = await (await admin.get('/settings/users')).text();
  assert.match(page, `action="/settings/users/${ctx.a.userId}/erase"`);
  const wrong = await admin.post(`/settings/users/${ctx.a.userId}/erase`, { confirm: ctx.b.email });
  assert.is(wrong.status, 400);
  assert.match(await wrong.text(), 'confirm: type ann@acme.test');
  const done = await admin.post(`/settings/users/${ctx.a.userId}/erase`, { confirm: ' ANN@acme.test ' });
  assert.is(done.status, 200);
  assert.match(await done.text(), 'ann@acme.test is erased');
  assert.equal(
    Object.entries(await rowsNaming(ctx, ctx.a.userId)).filter(([, n]) => n > 0),
    [],
  );
});

test('agentmeter user erase, through the running server', async (ctx) => {
  await seed(ctx);
  const admin = await signedIn(ctx, ADMIN.email, ADMIN.password);
  const bobBefore = await figures(admin, { user: [ctx.b.userId] });
  const res = await runCli(['user', 'erase', '--tenant', 'Acme', '--email', ctx.a.email, '--json'], {
    dataDir: ctx.server.dataDir,
  });
  assert.is(res.code, 0, res.stderr);
  const out = JSON.parse(res.stdout) as Record<string, number | string>;
  assert.is(out.user_id, ctx.a.userId);
  assert.ok(Number(out.events) >= 10);
  assert.equal(await figures(admin), { ...bobBefore, active_users: 1 });
  const again = await runCli(['user', 'erase', '--tenant', 'Acme', '--email', ctx.a.userId, '--json'], {
    dataDir: ctx.server.dataDir,
  });
  assert.is(again.code, 1);
  assert.match(again.stderr, 'already been erased');
});

test.run();
