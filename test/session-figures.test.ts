// The one rule for a session's stored figures (src/sessions/store.ts): a row is read exactly
// while its session has no newer event and the prices are what it was counted at; a newer
// event or a price change invalidates it (that session's alone, or every one), readers answer
// from the query model meanwhile, and the worker stores it again. Real tenant files, the real
// worker with its session steps, an injected clock; and the price change through the API.
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { newId } from '../src/ids.js';
import type { IngestEvent } from '../src/ingest/schema.js';
import { SESSION_FIGURES } from '../src/sessions/figures.js';
import { changePrices } from '../src/sessions/prices.js';
import { listSessions, sessionSpan, sessionTotals } from '../src/sessions/read.js';
import { QUIET_MS } from '../src/sessions/store.js';
import { createTenantFiles, type TenantFiles } from '../src/storage/tenant-files.js';
import { ADMIN, setUp, signIn, startTestServer, tempDir, tenantWorker, type TestServer } from './helpers.js';

const HOUR = 3_600_000;
const BASE = Date.UTC(2026, 2, 2, 9);
const MODEL = 'claude-sonnet-4-5-20250929';
/** A million input tokens: $3 at the shipped price of MODEL. */
const request = (id: string, session: string, ts: number): IngestEvent => ({
  kind: 'api_request',
  id,
  model: MODEL,
  request_id: id,
  input_tokens: 1_000_000,
  session_id: session,
  ts,
});
const toolCall = (id: string, session: string, ts: number): IngestEvent => ({
  kind: 'tool_call',
  id,
  name: 'Bash',
  status: 'success',
  duration_ms: 10,
  tool_use_id: id,
  session_id: session,
  ts,
});

/** A tenant's file in a temporary directory and its worker, its clock `now`, for `fn`; removed after it. */
async function withTenant(
  name: string,
  now: () => number,
  fn: (t: {
    files: TenantFiles;
    tenantId: string;
    aggregator: ReturnType<typeof tenantWorker>['aggregator'];
    /** Ingests `events` as u_ana's, every one valid. */
    ingest: (events: IngestEvent[]) => Promise<void>;
    /** One pass of the worker, which logs no failure. */
    pass: (options?: Parameters<ReturnType<typeof tenantWorker>['aggregator']['runOnce']>[1]) => Promise<void>;
  }) => Promise<void>,
): Promise<void> {
  const dir = tempDir(name);
  const files = createTenantFiles(dir.path);
  const tenantId = newId('t');
  await files.create(tenantId);
  const { aggregator, errors, ingestor } = tenantWorker(files, tenantId, { now });
  try {
    await fn({
      files,
      tenantId,
      aggregator,
      ingest: async (events) =>
        assert.equal(
          (await ingestor.ingest({ tenantId, userId: 'u_ana' }, 'rest', events)).rejected,
          [],
          'every event is valid',
        ),
      pass: async (options) => {
        await aggregator.runOnce(tenantId, options);
        assert.equal(errors, [], 'the worker logged no failure');
      },
    });
  } finally {
    await files.closeAll();
    dir.remove();
  }
}

test('a stored figure row is read exactly while its session has no newer event and the prices hold; then stored again', async () => {
  let clock = BASE;
  await withTenant(
    'am-figures',
    () => clock,
    async ({ files, tenantId, aggregator, ingest, pass }) => {
      const sql = async <T>(text: string) => (await files.connection(tenantId, 'reader')).all<T>(text);
      const rows = async () =>
        (
          await sql<{ session_id: string; tool_calls: number; cost_usd: number }>(
            'SELECT session_id, tool_calls, cost_usd FROM session_figures ORDER BY session_id',
          )
        ).map((r) => [r.session_id, r.tool_calls, r.cost_usd]);
      const scored = async () =>
        (
          await sql<{ session_id: string }>(
            'SELECT session_id FROM session_scores WHERE score IS NOT NULL ORDER BY session_id',
          )
        ).map((r) => r.session_id);
      // What readers use: the page's stored figures (null when not valid), and the list's.
      const read = async (id: string) =>
        (await sessionSpan(files, tenantId, { user_id: 'u_ana', session_id: id }))!.figures?.tool_calls ?? null;
      const listed = async () =>
        Object.fromEntries(
          (
            await listSessions(files, tenantId, { from: BASE - HOUR, to: clock + HOUR, limit: 10, now: clock })
          ).sessions.map((s) => [s.session_id, [s.tool_calls, s.cost_usd]]),
        );
      // The migrations wrote the table by hand: a column per figure of the one list, no other.
      const columns = await sql<{ column_name: string }>('SELECT column_name FROM (DESCRIBE session_figures)');
      assert.equal(columns.map((c) => c.column_name).sort(), ['user_id', 'session_id', ...SESSION_FIGURES].sort());
      await ingest([request('a1', 'a', BASE), toolCall('a2', 'a', BASE + 1000), request('b1', 'b', BASE)]);
      clock = BASE + 1000 + QUIET_MS + 1;
      await pass();
      assert.equal(await rows(), [
        ['a', 1, 3],
        ['b', 0, 3],
      ]);
      assert.equal([await read('a'), await read('b')], [1, 0], 'both stored rows are read');
      assert.equal(await scored(), ['a', 'b']);

      // A newer event of a: its row is kept but no longer read, until the worker rolls the event up.
      await ingest([toolCall('a3', 'a', clock)]);
      assert.equal(await rows(), [
        ['a', 1, 3],
        ['b', 0, 3],
      ]);
      assert.is(await read('a'), null, "a's row is not read while a has a newer event");
      assert.is(await read('b'), 0, "b's row is still read");
      assert.equal(await listed(), { a: [2, 3], b: [0, 3] }, 'the list answers a from the query model');
      await pass();
      assert.equal(await rows(), [['b', 0, 3]], "rolled up, a's row is gone, b's stays");
      assert.equal(await scored(), ['b'], "a's score is cleared, b's stays");
      assert.equal(await listed(), { a: [2, 3], b: [0, 3] });
      clock += QUIET_MS + 1;
      await pass();
      assert.equal(
        await rows(),
        [
          ['a', 2, 3],
          ['b', 0, 3],
        ],
        'a quiet again: stored again',
      );
      assert.is(await read('a'), 2);
      assert.equal(await scored(), ['a', 'b']);

      // New prices: every row goes (each holds a cost), no score does (none is made of costs).
      const file = await files.open(tenantId);
      await changePrices({ aggregator, file }, { [MODEL]: { input: 1, output: 1, cache_write: 0, cache_read: 0 } });
      assert.equal(await rows(), []);
      assert.equal([await read('a'), await read('b')], [null, null]);
      assert.equal(await listed(), { a: [2, 1], b: [0, 1] }, 'the list re-priced at once');
      assert.equal(await scored(), ['a', 'b']);
      await pass();
      assert.equal(
        await rows(),
        [
          ['a', 2, 1],
          ['b', 0, 1],
        ],
        'stored again at the new price',
      );
      assert.equal(await listed(), { a: [2, 1], b: [0, 1] });
    },
  );
});

test("a session's figures asked again after raw retention: its first and last minutes still count", async () => {
  let clock = BASE;
  await withTenant(
    'am-figures-edges',
    () => clock,
    async ({ files, tenantId, aggregator, ingest, pass }) => {
      const key = { user_id: 'u_ana', session_id: 'edges' };
      const stored = async () =>
        (
          await (
            await files.connection(tenantId, 'reader')
          ).all<{ tool_calls: number; api_requests: number; cost_usd: number }>(
            'SELECT tool_calls, api_requests, cost_usd FROM session_figures',
          )
        ).map((r) => [r.api_requests, r.tool_calls, r.cost_usd]);
      const asked = async () => {
        const span = (await sessionSpan(files, tenantId, key))!;
        const f = await sessionTotals(files, tenantId, key, { ...span, figures: null }, SESSION_FIGURES, clock);
        return [f.api_requests, f.tool_calls, f.cost_usd];
      };
      // Its first and last events in part-minutes and part-quarter-hours: the tiers' whole buckets miss them.
      const t0 = BASE + 7 * 60_000 + 30_000;
      await ingest([
        request('e1', 'edges', t0 + 1000),
        request('e2', 'edges', t0 + 20 * 60_000),
        request('e3', 'edges', t0 + 44 * 60_000 + 20_000),
        toolCall('e4', 'edges', t0 + 44 * 60_000 + 40_000),
      ]);
      clock = t0 + HOUR + QUIET_MS;
      await pass({ compact: true });
      await pass({ compact: true });
      assert.equal(await stored(), [[3, 1, 9]]);
      // 100 days on: raw retention (90 days) deleted the events; the tiers keep them.
      clock += 100 * 24 * HOUR;
      await pass({ compact: true, retention: true });
      await pass({ compact: true, retention: true });
      assert.equal(await (await files.connection(tenantId, 'reader')).all('SELECT seq FROM events'), []);
      assert.equal(await asked(), [3, 1, 9], 'asked of the tiers');
      // New prices: the stored row goes and is counted again from the tiers alone.
      const file = await files.open(tenantId);
      await changePrices({ aggregator, file }, { [MODEL]: { input: 6, output: 15, cache_write: 0, cache_read: 0 } });
      assert.equal(await asked(), [3, 1, 18]);
      await pass({ compact: true });
      assert.equal(await stored(), [[3, 1, 18]], 'stored again, every event counted');
    },
  );
});

test('the list counts a repeat once, before the worker has judged it as after', async () => {
  let clock = BASE;
  await withTenant(
    'am-figures-repeats',
    () => clock,
    async ({ files, tenantId, ingest, pass }) => {
      /** Each listed session's [events, tool calls]. */
      const listed = async () =>
        Object.fromEntries(
          (
            await listSessions(files, tenantId, { from: BASE - HOUR, to: clock + HOUR, limit: 10, now: clock })
          ).sessions.map((s) => [s.session_id, [s.events, s.tool_calls]]),
        );
      /** A tool call sent again under another event id (its hook and its OpenTelemetry event, say). */
      const again = (call: IngestEvent, id: string): IngestEvent => ({ ...call, id });
      const first = toolCall('t1', 'a', BASE);
      await ingest([first, again(first, 't1-otel'), request('r1', 'a', BASE + 1000)]);
      assert.equal(await listed(), { a: [2, 1] }, 'both copies unrolled: one counted');
      clock = BASE + 2000;
      await pass();
      assert.equal(await listed(), { a: [2, 1] });
      // A third copy after the first two were rolled up: still one. And a session of copies alone: none.
      await ingest([again(first, 't1-late'), { ...again(first, 't1-elsewhere'), session_id: 'b', ts: BASE + 3000 }]);
      assert.equal(await listed(), { a: [2, 1], b: [0, 0] }, 'copies of a rolled-up call');
      await pass();
      assert.equal(await listed(), { a: [2, 1], b: [0, 0] });
    },
  );
});

test('a page of more live sessions than a filter may list: each with its figures', async () => {
  let clock = BASE;
  await withTenant(
    'am-figures-many',
    () => clock,
    async ({ files, tenantId, ingest, pass }) => {
      const ids = Array.from({ length: 230 }, (_, i) => `s${String(i).padStart(3, '0')}`);
      await ingest(ids.flatMap((s, i) => [toolCall(`t-${s}`, s, BASE + i), request(`r-${s}`, s, BASE + i)]));
      const listed = async () => {
        const { sessions } = await listSessions(files, tenantId, {
          from: BASE - HOUR,
          to: BASE + HOUR,
          limit: 500,
          now: clock,
        });
        return sessions.map((s) => [s.session_id, s.events, s.tool_calls, s.api_requests]);
      };
      const expected = ids.map((s) => [s, 2, 1, 1]).reverse();
      assert.equal(await listed(), expected, 'none rolled up');
      clock = BASE + 2000;
      await pass();
      assert.equal(await listed(), expected, 'rolled up, none quiet: none stored');
    },
  );
});

test.run();

type Ctx = { server: TestServer };
const api = suite<Ctx>('price change through the API');
api.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop(); // each test rolls up when it says so
});
api.after.each(async (ctx) => ctx.server.stop());

api(
  'PUT /api/v1/settings/prices re-prices the sessions list at once, and what the worker stores again',
  async (ctx) => {
    await setUp(ctx.server);
    const admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
    await admin.get('/');
    const me = (await ctx.server.ctx.control.get<{ tenant_id: string; id: string }>(
      'SELECT tenant_id, id FROM users WHERE email = $e',
      { e: ADMIN.email },
    ))!;
    const now = Date.now();
    ctx.server.ctx.now = () => new Date(now);
    await ctx.server.ctx.ingest.ingest({ tenantId: me.tenant_id, userId: me.id }, 'rest', [
      request('r1', 'quiet', now - HOUR),
    ]);
    await ctx.server.ctx.aggregator.runOnce();
    const stored = async () =>
      (
        await (
          await ctx.server.ctx.tenantFiles.connection(me.tenant_id, 'reader')
        ).all<{ cost_usd: number }>(`SELECT cost_usd FROM session_figures WHERE session_id = 'quiet'`)
      ).map((r) => r.cost_usd);
    const listedCost = async () => {
      const res = await admin.request(`/api/v1/sessions?from=${new Date(now - 2 * HOUR).toISOString()}`);
      assert.is(res.status, 200);
      const body = (await res.json()) as { sessions: { session_id: string; cost_usd: number }[] };
      return body.sessions.map((s) => [s.session_id, s.cost_usd]);
    };
    assert.equal(await stored(), [3], 'stored at the shipped price');
    assert.equal(await listedCost(), [['quiet', 3]]);
    const put = await admin.request('/api/v1/settings/prices', {
      method: 'PUT',
      json: { 'claude-sonnet-4-5': { input: 2, output: 2, cache_write: 0, cache_read: 0 } },
      headers: { 'x-csrf-token': admin.csrf! },
    });
    assert.is(put.status, 200);
    assert.equal(await listedCost(), [['quiet', 2]], 're-priced at once');
    await ctx.server.ctx.aggregator.runOnce();
    assert.equal(await stored(), [2], 'stored again at the new price');
    assert.equal(await listedCost(), [['quiet', 2]]);
  },
);

api.run();
