import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { csvField, csvTextSql, exportEvents } from '../src/query/export.js';
import { createExportPool, exportsDir, PIECE_BYTES } from '../src/query/export-slices.js';
import { tenantPeople } from '../src/query/people.js';
import {
  ADMIN,
  ingestKey,
  signIn,
  startTestServer,
  tempDir,
  waitFor,
  type Client,
  type TestServer,
} from './helpers.js';
import { parseCsv } from './csv.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const COLUMNS = [
  'id',
  'seq',
  'ts',
  'received_at',
  'kind',
  'source',
  'user_id',
  'session_id',
  'project',
  'prompt_id',
  'tool_use_id',
  'request_id',
  'agent_id',
  'agent_type',
  'name',
  'model',
  'status',
  'duration_ms',
  'input_tokens',
  'output_tokens',
  'cache_read_tokens',
  'cache_creation_tokens',
  'cost_usd',
  'lines_added',
  'lines_removed',
  'value',
  'error',
  'attributes',
];
/** The columns of an export: the stored ones, and the person's email and name beside their id. */
const EXPORTED = COLUMNS.flatMap((c) => (c === 'user_id' ? [c, 'user_email', 'user_name'] : [c]));
const TEXT = new Set([
  'id',
  'kind',
  'source',
  'user_id',
  'session_id',
  'project',
  'prompt_id',
  'tool_use_id',
  'request_id',
  'agent_id',
  'agent_type',
  'name',
  'model',
  'status',
  'error',
]);
const FORMULA = /^[=+\-@\t\r]/;

/** Strings a spreadsheet or a naive CSV writer gets wrong. */
const NASTY = [
  'plain',
  'with,comma',
  'with "quotes" inside',
  'multi\nline',
  'crlf\r\ninside',
  'ünïcødé ✓ 日本語 🚀',
  "=cmd|' /C calc'!A0",
  '+1+1',
  '-2-2',
  '@SUM(A1)',
  "'=already apostrophed",
  '"',
  ',,',
  'a\r',
];

// ---- Reading exports back ---------------------------------------------------------------

/** CSV records → objects by the header, undoing the formula apostrophe when `escaped`. */
function csvObjects(text: string, escaped = false): Json[] {
  const [header, ...rows] = parseCsv(text);
  return rows.map((r) =>
    Object.fromEntries(
      header!.map((h, i) => {
        const v = r[i] ?? null;
        return [h, escaped && v?.startsWith("'") ? v.slice(1) : v];
      }),
    ),
  );
}

/** An exported row (CSV text or JSON) and a stored row, in one comparable shape. */
function fromExport(row: Json): Json {
  const out: Json = {};
  for (const c of COLUMNS) {
    const v = row[c];
    if (v === null || v === undefined) out[c] = null;
    else if (c === 'ts' || c === 'received_at') out[c] = Date.parse(v);
    else if (c === 'attributes') out[c] = typeof v === 'string' ? JSON.parse(v) : v;
    else if (TEXT.has(c)) out[c] = v;
    else out[c] = Number(v);
  }
  return out;
}
const fromStore = (row: Json): Json => ({
  ...row,
  attributes: row.attributes === null ? null : JSON.parse(row.attributes as string),
});

function assertSame(got: Json[], want: Json[], what: string) {
  assert.is(got.length, want.length, `${what}: row count`);
  for (let i = 0; i < got.length; i++) assert.equal(fromExport(got[i]!), fromStore(want[i]!), `${what}: row ${i}`);
}

// ---- A tenant with people of every role -----------------------------------------------------

type Ctx = {
  server: TestServer;
  tenantId: string;
  dev1: { key: string; userId: string };
  dev2: { key: string; userId: string };
  manager: string;
  viewer: string;
  admin: Client;
  from: number;
  to: number;
};

async function keyFor(
  server: TestServer,
  tenantId: string,
  email: string,
  role: string,
  scopes = 'read',
): Promise<string> {
  await runCommand(server.ctx, 'user create', { tenant: tenantId, email, role, password: 'a long password 1' });
  return ((await runCommand(server.ctx, 'apikey create', { tenant: tenantId, user: email, scopes })) as { key: string })
    .key;
}

const get = (ctx: { server: TestServer }, path: string, key?: string) =>
  fetch(`${ctx.server.url}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

async function stored(
  ctx: { server: TestServer; tenantId: string },
  where = 'true',
  params: Record<string, unknown> = {},
): Promise<Json[]> {
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  return db.all<Json>(
    `SELECT id::VARCHAR AS id, seq, epoch_ms(ts) AS ts, epoch_ms(received_at) AS received_at, kind, source, user_id, session_id, project, prompt_id, tool_use_id,
            request_id, agent_id, agent_type, name, model, status, duration_ms, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd,
            lines_added, lines_removed, value, error, attributes::VARCHAR AS attributes
       FROM events WHERE ${where} ORDER BY events.ts, events.seq`,
    params,
  );
}

/** One batch per developer through POST /api/metrics/batch: 3000 events each, every nasty string in every text column. */
function batch(dev: number, base: number) {
  const at = (i: number) => new Date(base + i * 60_000 + dev * 7_000).toISOString();
  const nasty = (i: number) => NASTY[i % NASTY.length]!;
  return {
    command_executions: Array.from({ length: 1000 }, (_, i) => ({
      command_name: nasty(i),
      execution_time_ms: (i * 37) % 5000,
      status: i % 9 === 0 ? 'failure' : 'success',
      timestamp: at(i),
      session_id: `s-${dev}-${i % 5}`,
      project: i % 4 === 0 ? `\t${nasty(i + 1)}` : nasty(i + 2),
      error_message: i % 9 === 0 ? `${nasty(i + 3)} failed` : undefined,
      metadata: { note: nasty(i + 4), nested: { list: [nasty(i + 5), i, null] } },
    })),
    agent_interactions: Array.from({ length: 1000 }, (_, i) => ({
      agent_name: nasty(i + 6),
      interaction_type: 'code_generation',
      execution_time_ms: 1000 + i,
      status: 'success',
      input_tokens: 100 * i,
      output_tokens: 7 * i,
      cost_usd: i / 1000,
      model: 'claude-sonnet-4-5',
      timestamp: at(i), // the same time as command i: ties are ordered by seq
    })),
    productivity_metrics: Array.from({ length: 1000 }, (_, i) => ({
      metric_type: nasty(i + 7),
      value: (i % 7) - 3.5,
      unit: nasty(i + 8),
      timestamp: at(i),
    })),
  };
}

const exp = suite<Ctx>('exports');

exp.before(async (ctx) => {
  ctx.server = await startTestServer();
  const one = await ingestKey(ctx.server, ['ingest', 'read'], 'dev1@acme.test');
  const two = await ingestKey(ctx.server, ['ingest', 'read'], 'dev2@acme.test');
  ctx.tenantId = one.tenantId;
  ctx.dev1 = one;
  ctx.dev2 = two;
  ctx.manager = await keyFor(ctx.server, ctx.tenantId, 'manager@acme.test', 'manager');
  ctx.viewer = await keyFor(ctx.server, ctx.tenantId, 'viewer@acme.test', 'viewer');
  ctx.admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
  const base = Date.now() - 3 * 86_400_000;
  for (const [n, dev] of [
    [1, one],
    [2, two],
  ] as const) {
    const res = await fetch(`${ctx.server.url}/api/metrics/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${dev.key}` },
      body: JSON.stringify(batch(n, base)),
    });
    assert.is(res.status, 201, await res.clone().text());
  }
  // Tool calls, prompts and sub-agents as Claude Code posts them.
  const fixtures = join(new URL('./fixtures/claude-code-hooks', import.meta.url).pathname);
  for (const line of readFileSync(join(fixtures, 'session-1.jsonl'), 'utf8').split('\n').filter(Boolean)) {
    const res = await fetch(`${ctx.server.url}/api/v1/hooks/claude-code`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${one.key}` },
      body: line,
    });
    assert.is(res.status, 200);
  }
  ctx.from = base - 3_600_000;
  ctx.to = Date.now() + 3_600_000;
});
exp.after(async (ctx) => ctx.server.stop());

const range = (ctx: Ctx) => `from=${new Date(ctx.from).toISOString()}&to=${new Date(ctx.to).toISOString()}`;

exp('CSV: RFC 4180, exactly the stored rows in ts, seq order', async (ctx) => {
  const res = await get(ctx, `/api/metrics/export/csv?${range(ctx)}&escape_formulas=false`, ctx.manager);
  assert.is(res.status, 200);
  assert.is(res.headers.get('content-type'), 'text/csv; charset=utf-8');
  const from = new Date(ctx.from)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');
  assert.match(
    res.headers.get('content-disposition')!,
    new RegExp(`^attachment; filename="agentmeter-events-${from}-\\d{8}T\\d{6}Z\\.csv"$`),
  );
  const text = await res.text();
  assert.is(text.slice(0, text.indexOf('\r\n')), EXPORTED.join(','));
  const want = await stored(ctx);
  assert.ok(want.length > 6000, `${want.length} events stored`);
  assert.is(res.headers.get('x-export-rows'), String(want.length));
  assertSame(csvObjects(text), want, 'csv');
  // The nasty strings came through the real ingest path and back out.
  const names = new Set(want.map((r) => r.name));
  for (const s of NASTY.filter((s) => s.trim() === s)) assert.ok(names.has(s), `stored name ${JSON.stringify(s)}`);
});

exp('CSV: the SQL rule for a text cell is the JavaScript one, for every awkward start', async (ctx) => {
  const reader = await ctx.server.ctx.tenantFiles.connection(ctx.tenantId, 'reader');
  const starts = ['=', '+', '-', '@', '\t', '\r', "'", '"', '\\1', '$1', '^', '', ' ', 'ü', '日'];
  const values = [...NASTY, ...starts.flatMap((s) => [s, `${s}x`, `${s}${s}"x"`])];
  for (const escapeFormulas of [true, false]) {
    const rows = await reader.all<{ v: string; cell: string }>(
      `SELECT v, ${csvTextSql('v', escapeFormulas)} AS cell FROM (SELECT unnest(from_json($values, '["VARCHAR"]')) AS v)`,
      { values: JSON.stringify(values) },
    );
    assert.is(rows.length, values.length);
    for (const { v, cell } of rows) assert.is(cell, csvField(v, escapeFormulas), JSON.stringify(v));
  }
});

exp('CSV: formula cells get an apostrophe by default, reversibly; numbers are never touched', async (ctx) => {
  const text = await (await get(ctx, `/api/metrics/export/csv?${range(ctx)}`, ctx.manager)).text();
  const raw = csvObjects(text);
  const cells = raw.flatMap((r) =>
    Object.entries(r)
      .filter(([c, v]) => typeof v === 'string' && c !== 'attributes' && TEXT.has(c))
      .map(([, v]) => v as string),
  );
  assert.ok(cells.includes("'=cmd|' /C calc'!A0"));
  assert.ok(cells.includes("''=already apostrophed"), 'an apostrophe is doubled, so the rule can be undone');
  assert.ok(
    cells.some((v) => v.startsWith("'\t")),
    'a leading tab is defused',
  );
  assert.not.ok(
    cells.some((v) => FORMULA.test(v)),
    'no text cell starts a formula',
  );
  assert.ok(
    raw.some((r) => r.value !== null && (r.value as string).startsWith('-')),
    'negative numbers stay numbers',
  );
  assertSame(csvObjects(text, true), await stored(ctx), 'csv, formulas defused');
});

exp('JSON array and NDJSON: exactly the stored rows, attributes nested', async (ctx) => {
  const want = await stored(ctx);
  const res = await get(ctx, `/api/metrics/export/json?${range(ctx)}`, ctx.manager);
  assert.is(res.status, 200);
  assert.is(res.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.match(res.headers.get('content-disposition')!, /filename="agentmeter-events-\d{8}T\d{6}Z-\d{8}T\d{6}Z\.json"/);
  const rows = (await res.json()) as Json[];
  assert.equal(Object.keys(rows[0]!), EXPORTED);
  assert.type(rows[0]!.id, 'string');
  assert.type(rows[0]!.seq, 'number');
  assert.equal(rows.find((r) => r.attributes?.metadata?.nested)?.attributes.metadata.nested.list.length, 3);
  assertSame(rows, want, 'json');
  for (const r of rows) assert.is(r.ts, new Date(Date.parse(r.ts)).toISOString());

  const nd = await get(ctx, `/api/metrics/export/json?${range(ctx)}&format=ndjson`, ctx.manager);
  assert.is(nd.headers.get('content-type'), 'application/x-ndjson; charset=utf-8');
  const text = await nd.text();
  assert.ok(text.endsWith('}\n'));
  assertSame(
    text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Json),
    want,
    'ndjson',
  );
});

exp('an empty range is a header alone, an empty array, an empty body', async (ctx) => {
  const q = 'from=2001-01-01&to=2001-01-02';
  assert.is(await (await get(ctx, `/api/metrics/export/csv?${q}`, ctx.manager)).text(), `${EXPORTED.join(',')}\r\n`);
  assert.equal(await (await get(ctx, `/api/metrics/export/json?${q}`, ctx.manager)).json(), []);
  assert.is(await (await get(ctx, `/api/metrics/export/json?${q}&format=ndjson`, ctx.manager)).text(), '');
});

exp('filters narrow: dimensions, their seed names, kind-specific names and time', async (ctx) => {
  const csv = async (q: string) =>
    csvObjects(
      await (await get(ctx, `/api/metrics/export/csv?${range(ctx)}&escape_formulas=false&${q}`, ctx.manager)).text(),
    );
  assertSame(await csv(`user=${ctx.dev2.userId}`), await stored(ctx, 'user_id = $u', { u: ctx.dev2.userId }), 'user');
  assertSame(
    await csv(`user_id=${ctx.dev2.userId}`),
    await stored(ctx, 'user_id = $u', { u: ctx.dev2.userId }),
    'user_id',
  );
  assertSame(
    await csv('kind=command,productivity'),
    await stored(ctx, "kind IN ('command', 'productivity')"),
    'kind list',
  );
  assertSame(
    await csv(`command=${encodeURIComponent('with "quotes" inside')}`),
    await stored(ctx, `kind = 'command' AND name = 'with "quotes" inside'`),
    'command',
  );
  assertSame(
    await csv('command_name=plain&command_name=%2B1%2B1'),
    await stored(ctx, "kind = 'command' AND name IN ('plain', '+1+1')"),
    'command_name',
  );
  const bash = await csv('tool=Bash');
  assert.ok(bash.length > 0);
  assertSame(bash, await stored(ctx, "kind = 'tool_call' AND name = 'Bash'"), 'tool');
  assertSame(await csv(`tool_name=Bash&user=${ctx.dev2.userId}`), [], 'tool of someone without tool calls');

  const mid = ctx.from + 4 * 3_600_000;
  const window = `from=${new Date(mid).toISOString()}&to=${new Date(mid + 6 * 3_600_000).toISOString()}`;
  const byTime = await stored(ctx, 'epoch_ms(events.ts) >= $a AND epoch_ms(events.ts) < $b', {
    a: mid,
    b: mid + 6 * 3_600_000,
  });
  assert.ok(byTime.length > 0 && byTime.length < 3000);
  const json = (q: string) =>
    get(ctx, `/api/metrics/export/json?${q}`, ctx.manager).then((r) => r.json() as Promise<Json[]>);
  assertSame(await json(window), byTime, 'from/to');
  assertSame(
    await json(window.replace('from=', 'start_date=').replace('to=', 'end_date=')),
    byTime,
    'start_date/end_date',
  );
});

exp(
  'who may export: managers and admins see the team; developers and viewers may not; no one without signing in',
  async (ctx) => {
    const all = (await stored(ctx)).length;
    const rows = async (res: Response) => (await res.json()) as Json[];
    const asManager = await rows(await get(ctx, `/api/metrics/export/json?${range(ctx)}`, ctx.manager));
    assert.is(asManager.length, all);
    assert.equal(
      new Set(asManager.map((r) => r.user_id)),
      new Set([ctx.dev1.userId, ctx.dev2.userId]),
      'the whole team',
    );
    const asAdmin = await ctx.admin.request(`/api/metrics/export/csv?${range(ctx)}`);
    assert.is(asAdmin.status, 200, 'a signed-in admin (session cookie)');
    assert.is(csvObjects(await asAdmin.text()).length, all);

    for (const path of [
      '/api/metrics/export/csv',
      '/api/metrics/export/json',
      '/api/metrics/export/csv?metric=events',
    ]) {
      const dev = await get(ctx, path, ctx.dev1.key);
      assert.is(dev.status, 403, `developer ${path}`);
      assert.match(((await dev.json()) as Json).error, /reports\.export/);
      assert.is((await get(ctx, path, ctx.viewer)).status, 403, `viewer ${path}`);
      assert.is((await get(ctx, path)).status, 401, `nobody ${path}`);
    }
    const ingestOnly = await keyFor(ctx.server, ctx.tenantId, 'manager2@acme.test', 'manager', 'ingest');
    assert.is((await get(ctx, '/api/metrics/export/csv', ingestOnly)).status, 403, 'a key without read');
  },
);

exp('metric= exports the query model rows, the same as POST /api/v1/query', async (ctx) => {
  const from = new Date(ctx.from).toISOString();
  const to = new Date(ctx.to).toISOString();
  const q = await fetch(`${ctx.server.url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.manager}` },
    body: JSON.stringify({ metrics: ['commands', 'events', 'cost_usd'], interval: '1h', from, to, limit: 10_000 }),
  });
  const want = ((await q.json()) as { rows: Json[] }).rows;
  assert.ok(want.length > 10);
  const json = await get(
    ctx,
    `/api/metrics/export/json?metric=commands,events,cost_usd&interval=1h&from=${from}&to=${to}`,
    ctx.manager,
  );
  assert.is(json.status, 200);
  assert.match(json.headers.get('content-disposition')!, /filename="agentmeter-metrics-/);
  assert.equal(await json.json(), want);

  const csv = await get(
    ctx,
    `/api/metrics/export/csv?metric=commands&metric=events&metric=cost_usd&interval=1h&from=${from}&to=${to}`,
    ctx.manager,
  );
  const records = parseCsv(await csv.text());
  assert.equal(records[0], ['t', 'commands', 'events', 'cost_usd']);
  assert.equal(
    records.slice(1).map(([t, ...m]) => ({ t, commands: Number(m[0]), events: Number(m[1]), cost_usd: Number(m[2]) })),
    want,
  );

  const grouped = csvObjects(
    await (
      await get(ctx, `/api/metrics/export/csv?metric=commands&group_by=command&${range(ctx)}`, ctx.manager)
    ).text(),
  );
  assert.ok(
    grouped.some((r) => r.command === "'=cmd|' /C calc'!A0"),
    'group values are defused too',
  );
  assert.is(
    grouped.reduce((n, r) => n + Number(r.commands), 0),
    2000,
  );
});

exp('bad input: 400 naming the parameter', async (ctx) => {
  const field = async (q: string, endpoint = 'csv') => {
    const res = await get(ctx, `/api/metrics/export/${endpoint}?${q}`, ctx.manager);
    assert.is(res.status, 400, q);
    return ((await res.json()) as Json).field as string;
  };
  assert.is(await field('from=yesterday'), 'from');
  assert.is(await field('to=2025-13-45'), 'to');
  assert.is(await field('from=2025-02-01&to=2025-01-01'), 'from');
  assert.is(await field('start_date=nope'), 'start_date');
  assert.is(await field('start_date=2025-01-01&end_date=2025-01-01'), 'start_date');
  assert.is(await field('from=2025-01-01&end_date=2025-01-02'), 'from');
  assert.is(await field('from=2019-01-01&to=2025-01-01'), 'from', 'longer than the query model allows');
  assert.is(await field('metric=nonsense&interval=1h'), 'metric');
  assert.is(await field('metric=events&interval=2h'), 'interval');
  assert.is(await field('metric=events&group_by=colour'), 'group_by');
  assert.is(await field('interval=1h'), 'metric');
  assert.is(await field(`user=${'x'.repeat(600)}`), 'user');
  assert.is(await field('format=xml', 'json'), 'format');
  assert.is(await field('format=json'), 'format');
  assert.is(await field('escape_formulas=maybe'), 'escape_formulas');
});

exp.run();

// ---- A large export: streamed, memory flat ---------------------------------------------------

type Big = {
  server: TestServer;
  dir: { path: string; remove(): void };
  tenantId: string;
  userId: string;
  manager: string;
  count: number;
};
const big = suite<Big>('a large export');
const BIG = 200_000;
const DAY = 86_400_000;
/** Rows in one DuckDB data chunk: what one read of an export's body holds at most. */

const events = (start: number, n: number, base: number) =>
  Array.from({ length: n }, (_, k) => {
    const i = start + k;
    return {
      kind: 'tool_call',
      ts: base + Math.floor((i * 4 * DAY) / BIG) + (i % 3) * 1000, // a little out of order
      session_id: `session-${Math.floor(i / 400)}`,
      project: `/home/dev/src/project-${i % 13}`,
      tool_use_id: `toolu_${i.toString(36).padStart(8, '0')}`,
      name: ['Bash', 'Read', 'Edit', 'Grep'][i % 4],
      status: i % 17 ? 'success' : 'failure',
      duration_ms: (i * 7919) % 20_000,
      attributes: { command: `npm test -- --grep "case ${i}"`, cwd: '/home/dev/src', n: i },
    };
  });

big.before(async (ctx) => {
  ctx.dir = tempDir('am-export');
  ctx.server = await startTestServer({ dataDir: ctx.dir.path });
  const dev = await ingestKey(ctx.server, ['ingest', 'read'], 'dev@acme.test');
  Object.assign(ctx, { tenantId: dev.tenantId, userId: dev.userId });
  ctx.manager = await keyFor(ctx.server, ctx.tenantId, 'manager@acme.test', 'manager');
  const base = Date.now() - 5 * DAY;
  const started = performance.now();
  for (let i = 0; i < BIG; i += 5000) {
    const r = await ctx.server.ctx.ingest.ingest(
      { tenantId: ctx.tenantId, userId: ctx.userId },
      'rest',
      events(i, 5000, base),
    );
    assert.is(r.accepted, 5000);
  }
  ctx.count = BIG;
  console.log(`  ingested ${BIG} events in ${Math.round(performance.now() - started)} ms`);
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
  // The file read cold, as after a restart; no worker pass runs between a test's steps.
  await ctx.server.stop();
  ctx.server = await startTestServer({ dataDir: ctx.dir.path });
  await ctx.server.ctx.aggregator.stop();
});
big.after(async (ctx) => {
  await ctx.server.stop();
  ctx.dir.remove();
});

/**
 * Reads a body chunk by chunk without keeping it: bytes, lines, chunks, its last bytes, the
 * lines ending in a comma (JSON rows but the last) and in CR (CSV rows), and each line's
 * (ts, seq) that is not after the line before it (NDJSON rows out of order).
 */
async function drain(
  res: Response | ReadableStream<Uint8Array>,
  onChunk: (n: number, lines: number) => Promise<void> | void = () => {},
) {
  const reader = ('getReader' in res ? res : res.body!).getReader();
  const decoder = new TextDecoder();
  let bytes = 0;
  let lines = 0;
  let chunks = 0;
  let last: Uint8Array = new Uint8Array();
  const ending = { comma: 0, cr: 0 };
  let before = 0; // the byte before the chunk's first
  let partial = '';
  let previous: [string, number] | null = null;
  let unordered = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks++;
    bytes += value.length;
    let inChunk = 0;
    for (let at = value.indexOf(10); at >= 0; at = value.indexOf(10, at + 1)) {
      inChunk++;
      const end = at > 0 ? value[at - 1] : before;
      if (end === 44) ending.comma++;
      if (end === 13) ending.cr++;
    }
    before = value[value.length - 1]!;
    lines += inChunk;
    const text = partial + decoder.decode(value, { stream: true });
    const rows = text.split('\n');
    partial = rows.pop()!;
    for (const row of rows) {
      const key = /"seq":(\d+),"ts":"([^"]+)"/.exec(row);
      if (!key) continue;
      const at: [string, number] = [key[2]!, Number(key[1])];
      if (previous && (at[0] < previous[0] || (at[0] === previous[0] && at[1] <= previous[1]))) unordered++;
      previous = at;
    }
    last = value;
    await onChunk(chunks, inChunk);
  }
  return { bytes, lines, chunks, tail: new TextDecoder().decode(last.slice(-3)), ending, unordered };
}

/** Files of the raw exports' slices this process holds open (read, or written by DuckDB). */
const openSlices = (ctx: { server: { ctx: { config: { dataDir: string } } } }) =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(exportsDir(ctx.server.ctx.config.dataDir));
    } catch {
      return false; // closed since the listing
    }
  }).length;

// How much memory an export takes is measured by `npm run bench:export`, not asserted here.
big('200k events in every format: each row once, in order, the body in pieces', async (ctx) => {
  const path = (format: string) =>
    `/api/metrics/export/${format === 'csv' ? 'csv' : `json?format=${format}`}${format === 'csv' ? '?' : '&'}from=${new Date(Date.now() - 6 * DAY).toISOString()}`;
  for (const format of ['csv', 'json', 'ndjson']) {
    const res = await get(ctx, path(format), ctx.manager);
    assert.is(res.status, 200);
    assert.is(res.headers.get('x-export-rows'), String(ctx.count));
    const r = await drain(res);
    assert.is(r.lines, ctx.count + { csv: 1, json: 2, ndjson: 0 }[format]!, 'newlines');
    assert.ok(r.chunks > 50, 'the body came in pieces');
    // Slices of 50,000 rows: the rows meet across them as within one.
    if (format === 'json') assert.is(r.tail, '\n]\n');
    if (format === 'json') assert.is(r.ending.comma, ctx.count - 1, 'a comma after every row but the last');
    if (format === 'csv') assert.is(r.ending.cr, ctx.count + 1, 'CRLF after the header and every row');
    if (format === 'ndjson') assert.is(r.unordered, 0, 'rows in ts, seq order');
  }
  assert.is(openSlices(ctx), 0, 'no slice left open');
  assert.equal(readdirSync(exportsDir(ctx.server.ctx.config.dataDir)), [], 'no slice left on disk');
});

big(
  'an export is made as it is read: a slice ahead at most, in pieces, its connection held until the last',
  async (ctx) => {
    const pool = createExportPool(ctx.server.ctx.tenantFiles, exportsDir(ctx.server.ctx.config.dataDir), { max: 1 });
    const people = await tenantPeople(ctx.server.ctx.control, ctx.tenantId);
    const e = {
      from: Date.now() - 6 * DAY,
      to: Date.now(),
      filters: {},
      format: 'ndjson' as const,
      escapeFormulas: false,
      people,
    };
    const out = (await exportEvents(pool, ctx.tenantId, e))!;
    assert.is(out.rows, ctx.count);
    let largest = 0;
    let slices = 0;
    const r = await drain(out.body, async (n, lines) => {
      largest = Math.max(largest, lines);
      slices = Math.max(slices, openSlices(ctx));
      // Were the rows made ahead of the reader, the export would be over and its connection free.
      if (n === 2) assert.is(await pool.lease(ctx.tenantId), null, 'the export is still running after its first rows');
    });
    assert.is(r.lines, ctx.count);
    assert.ok(largest <= PIECE_BYTES / 100, `a read held ${largest} rows`);
    assert.ok(r.bytes / r.chunks > PIECE_BYTES / 2, `${r.chunks} reads of ${r.bytes} bytes`);
    assert.ok(slices >= 1 && slices <= 2, `${slices} slices open at once: the one read and the next`);
    assert.is(openSlices(ctx), 0, 'every slice closed at the end');
    const after = await pool.lease(ctx.tenantId);
    assert.ok(after, 'the last read handed the connection back');
    await after.release();
  },
);

big(
  'no export writes its slices on a data disk short of free space: 503 before the body, or a failed body',
  async (ctx) => {
    const url = `/api/metrics/export/csv?from=${new Date(Date.now() - 6 * DAY).toISOString()}`;
    const dir = exportsDir(ctx.server.ctx.config.dataDir);
    const shared = ctx.server.ctx.exports;
    try {
      // A floor above what any disk has free: the export is refused before it starts.
      ctx.server.ctx.exports = createExportPool(ctx.server.ctx.tenantFiles, dir, {
        minFreeBytes: Number.MAX_SAFE_INTEGER,
      });
      const refused = await get(ctx, url, ctx.manager);
      assert.is(refused.status, 503, await refused.clone().text());
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      // The disk fills while the export runs: the next slice is not written, the body fails.
      let floor = 0;
      ctx.server.ctx.exports = createExportPool(ctx.server.ctx.tenantFiles, dir, {
        get minFreeBytes() {
          return floor;
        },
      });
      const res = await get(ctx, url, ctx.manager);
      assert.is(res.status, 200);
      // Once the client has its first bytes; the export has four slices, so two at least are still to come.
      const read = await drain(res, (n) => {
        if (n === 1) floor = Number.MAX_SAFE_INTEGER;
      }).then(
        () => 'ended',
        (err: unknown) => `failed: ${String(err)}`,
      );
      assert.match(read, /^failed/, 'the body ends in an error, not as if complete');
      assert.is(openSlices(ctx), 0, 'its slices are closed');
    } finally {
      ctx.server.ctx.exports = shared;
    }
  },
);

big('an export reads one snapshot while ingestion goes on', async (ctx) => {
  const res = await get(
    ctx,
    `/api/metrics/export/csv?from=${new Date(Date.now() - 6 * DAY).toISOString()}`,
    ctx.manager,
  );
  const promised = Number(res.headers.get('x-export-rows'));
  const r = await drain(res, async (n) => {
    if (n === 2) {
      await ctx.server.ctx.ingest.ingest(
        { tenantId: ctx.tenantId, userId: ctx.userId },
        'rest',
        events(BIG, 1000, Date.now() - 5 * DAY),
      );
      ctx.count += 1000;
    }
  });
  assert.is(r.lines - 1, promised, 'the rows counted before streaming are the rows streamed');
  const after = await get(
    ctx,
    `/api/metrics/export/csv?from=${new Date(Date.now() - 6 * DAY).toISOString()}`,
    ctx.manager,
  );
  assert.is(after.headers.get('x-export-rows'), String(ctx.count));
  assert.is((await drain(after)).lines - 1, ctx.count);
});

big(
  'exports do not hold up dashboard queries; a tenant runs two at once; a client that leaves frees its export',
  async (ctx) => {
    const url = `/api/metrics/export/csv?from=${new Date(Date.now() - 6 * DAY).toISOString()}`;
    const held = [await get(ctx, url, ctx.manager), await get(ctx, url, ctx.manager)];
    for (const res of held) assert.is(res.status, 200);
    // Neither body is read: both exports sit in the middle of their snapshot.
    const third = await get(ctx, url, ctx.manager);
    assert.is(third.status, 429);
    assert.ok(third.headers.get('retry-after'));
    const summary = await get(ctx, `/api/v1/dashboard/summary`, ctx.manager);
    assert.is(summary.status, 200, 'the reader connection is free');
    for (const res of held) await res.body!.cancel();
    const again = await waitFor(async () => {
      const res = await get(ctx, url, ctx.manager);
      if (res.status === 200) return res;
      await res.body?.cancel();
      return undefined;
    }, 'an export slot after the clients left');
    const r = await drain(again);
    assert.is(r.lines - 1, ctx.count, 'a released connection serves a whole export again');
    assert.is(openSlices(ctx), 0, 'the slices of the exports the clients left are closed');
    assert.equal(readdirSync(exportsDir(ctx.server.ctx.config.dataDir)), [], 'and gone from the disk');
  },
);

big.run();
