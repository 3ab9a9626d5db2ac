// Answers kept while a tenant's file is unchanged (runQueries, and the overview's layout and
// recent sessions, through keptRead): the same question asked again reads nothing from the
// file, and every change that could alter an answer holds from the very next request: an
// event ingested, a price, the time zone, a person's events erased, a layout saved. Each asks twice first, so a missed change would show. Real server
// and HTTP; the app's clock is frozen, so every request asks the very same question.
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import type { IngestEvent } from '../src/ingest/schema.js';
import { ADMIN, type Client, ingestSuite, signIn } from './helpers.js';

const s = ingestSuite('answers kept while the file is unchanged');
type Ctx = Parameters<Parameters<typeof s>[1]>[0];

const HOUR = 3_600_000;
/** 10:30 UTC: 16:00 in Kolkata, so an event at 20:00 UTC is on the next day there; a page's minute ends 40 s later. */
const NOW = Date.parse('2026-03-10T10:30:20Z');

s.before.each((ctx) => {
  ctx.server.ctx.now = () => new Date(NOW);
});

let n = 0;
const request = (ts: number, fields: Partial<IngestEvent> = {}): IngestEvent => ({
  id: `e${n++}`,
  kind: 'api_request',
  ts,
  session_id: 's1',
  model: 'claude-sonnet-4-5',
  input_tokens: 1_000_000,
  ...fields,
});
const ingest = (ctx: Ctx, events: IngestEvent[]) =>
  ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', events);

type Row = { t: string; api_requests: number; cost_usd: number };
/** Requests and cost per day over the last three days. */
async function ask(ctx: Ctx): Promise<Row[]> {
  const res = await fetch(`${ctx.server.url}/api/v1/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ metrics: ['api_requests', 'cost_usd'], interval: '1d', from: NOW - 72 * HOUR, to: NOW }),
  });
  assert.is(res.status, 200, await res.clone().text());
  return ((await res.json()) as { rows: Row[] }).rows.filter((r) => r.api_requests > 0);
}

/**
 * Asked twice, the second time a second later (retention's cutoffs move with the clock) and
 * from memory: the file saw no statement.
 */
async function kept(ctx: Ctx): Promise<Row[]> {
  const first = await ask(ctx);
  const file = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const asked = file.activity();
  const now = ctx.server.ctx.now().getTime();
  ctx.server.ctx.now = () => new Date(now + 1000);
  const again = await ask(ctx);
  assert.equal(again, first);
  assert.is(file.activity(), asked, 'no statement on the tenant file');
  return again;
}

async function admin(ctx: Ctx): Promise<Client> {
  const client = await signIn(ctx.server, ADMIN.email, ADMIN.password);
  await client.get('/'); // its CSRF token
  return client;
}
const put = (client: Client, path: string, json: unknown) =>
  client.request(`/api/v1/settings/${path}`, { method: 'PUT', json, headers: { 'x-csrf-token': client.csrf! } });

s('the same question asked again is answered without a statement on the file', async (ctx) => {
  await ingest(ctx, [request(NOW - HOUR)]);
  assert.equal(
    (await kept(ctx)).map((r) => r.api_requests),
    [1],
  );
});

s('an event ingested is in the very next answer, before and after the worker rolls it up', async (ctx) => {
  await ingest(ctx, [request(NOW - HOUR)]);
  await kept(ctx);
  await ingest(ctx, [request(NOW - 2 * HOUR)]);
  assert.equal(
    (await ask(ctx)).map((r) => r.api_requests),
    [2],
    'the new event',
  );
  await ctx.server.ctx.aggregator.runOnce();
  await ingest(ctx, [request(NOW - 3 * HOUR)]);
  assert.equal(
    (await kept(ctx)).map((r) => r.api_requests),
    [3],
    'rolled up, and one more',
  );
});

s('a new price re-prices the very next answer', async (ctx) => {
  await ingest(ctx, [request(NOW - HOUR)]);
  await ctx.server.ctx.aggregator.runOnce();
  assert.equal(
    (await kept(ctx)).map((r) => r.cost_usd),
    [3],
    'list price: 1M input tokens × $3',
  );
  const res = await put(await admin(ctx), 'prices', {
    'claude-sonnet-4-5': { input: 1, output: 2, cache_write: 0, cache_read: 0 },
  });
  assert.is(res.status, 200);
  assert.equal(
    (await ask(ctx)).map((r) => r.cost_usd),
    [1],
  );
});

s("a new time zone moves the very next answer's days", async (ctx) => {
  await ingest(ctx, [request(NOW - 30 * HOUR), request(NOW - 14.5 * HOUR)]); // 04:30 and 20:00 UTC, 9 March
  await ctx.server.ctx.aggregator.runOnce();
  assert.equal(
    (await kept(ctx)).map((r) => [r.t, r.api_requests]),
    [['2026-03-09T00:00:00.000Z', 2]],
  );
  assert.is((await put(await admin(ctx), 'timezone', { timezone: 'Asia/Kolkata' })).status, 200);
  assert.equal(
    (await ask(ctx)).map((r) => [r.t, r.api_requests]),
    [
      ['2026-03-08T18:30:00.000Z', 1],
      ['2026-03-09T18:30:00.000Z', 1],
    ],
    "Kolkata's days",
  );
});

s('a person erased: their events leave the very next answer', async (ctx) => {
  await ingest(ctx, [request(NOW - HOUR)]);
  await ctx.server.ctx.aggregator.runOnce();
  const admins = await ingestKeyOfAdmin(ctx);
  assert.equal(
    (await kept({ ...ctx, key: admins })).map((r) => r.api_requests),
    [1],
  );
  await runCommand(ctx.server.ctx, 'user erase', { tenant: ctx.tenantId, email: 'agent@acme.test' });
  assert.equal(await ask({ ...ctx, key: admins }), [], 'nothing left');
});

s(
  'the overview seen once reads nothing from the file; a new session and a saved layout show on the next page',
  async (ctx) => {
    await ingest(ctx, [request(NOW - HOUR, { session_id: 'first' })]);
    const client = await admin(ctx);
    const file = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
    const page = async () => (await client.get('/')).text();
    const widgets = (html: string) =>
      [...html.matchAll(/<section class="widget[^"]*" aria-labelledby="w-([a-z_]+)"/g)].map((m) => m[1]);
    assert.match(await page(), /href="\/sessions\/first\?/);
    const asked = file.activity();
    ctx.server.ctx.now = () => new Date(NOW + 1000);
    assert.match(await page(), /href="\/sessions\/first\?/);
    assert.is(file.activity(), asked, 'no statement on the tenant file');

    await ingest(ctx, [request(NOW - HOUR, { session_id: 'second' })]);
    assert.match(await page(), /href="\/sessions\/second\?/, 'the new session in the recent sessions');
    const saved = await client.request('/api/v1/dashboard/layout', {
      method: 'PUT',
      json: { order: ['cost', 'kpis'], hidden: ['activity'] },
      headers: { 'x-csrf-token': client.csrf! },
    });
    assert.is(saved.status, 200);
    assert.equal(
      widgets(await page()),
      ['cost', 'kpis', 'top_tools', 'by_model', 'recent_sessions'],
      'the saved layout',
    );
  },
);

/** A read key of the admin's: the erased person's own key goes with them. */
async function ingestKeyOfAdmin(ctx: Ctx): Promise<string> {
  const made = (await runCommand(ctx.server.ctx, 'apikey create', {
    tenant: ctx.tenantId,
    user: ADMIN.email,
    scopes: 'read',
  })) as { key: string };
  return made.key;
}

s.run();
