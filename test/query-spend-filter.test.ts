// The spend rule under a filter that narrows rows within a session (a model, a kind): a
// session that has requests takes its tokens and cost from them, whatever their model, so
// its metric points count for no model (README, Counting once). A model filter gives what
// that model's row gives grouped by model, and the filtered figures add up to the total.
// Real tenant file, the real worker; the events above the watermark, rolled up, and raw.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { newId } from '../src/ids.js';
import type { IngestEvent } from '../src/ingest/schema.js';
import { querySchema, type QueryInput } from '../src/query/model.js';
import { runQuery } from '../src/query/run.js';
import { dashboardSummary } from '../src/query/summary.js';
import { createTenantFiles, type TenantFiles } from '../src/storage/tenant-files.js';
import { tempDir, tenantWorker } from './helpers.js';

const HOUR = 3_600_000;
const BASE = Date.UTC(2026, 2, 2, 9);
const SONNET = 'claude-sonnet-4-5';
const HAIKU = 'claude-haiku-4-5';

const events: IngestEvent[] = [
  // s1 has a request (Sonnet), and Haiku's metric points: its spend is the request's.
  { kind: 'api_request', request_id: 'r1', model: SONNET, input_tokens: 100, cost_usd: 1, session_id: 's1', ts: BASE },
  { kind: 'token_usage', model: HAIKU, input_tokens: 50, session_id: 's1', ts: BASE + 60_000 },
  { kind: 'cost_usage', model: HAIKU, cost_usd: 0.5, session_id: 's1', ts: BASE + 60_000 },
  // s2 has metric points only: they are its spend.
  { kind: 'token_usage', model: HAIKU, input_tokens: 30, session_id: 's2', ts: BASE + 2 * 60_000 },
  { kind: 'cost_usage', model: HAIKU, cost_usd: 0.25, session_id: 's2', ts: BASE + 2 * 60_000 },
];

// Bob's request and points come with no session: his session is '' (as the rollups keep it), which has a request.
const bob: IngestEvent[] = [
  { kind: 'api_request', request_id: 'r2', model: SONNET, input_tokens: 10, cost_usd: 0.1, ts: BASE },
  { kind: 'token_usage', model: HAIKU, input_tokens: 20, ts: BASE + 60_000 },
  { kind: 'cost_usage', model: HAIKU, cost_usd: 0.2, ts: BASE + 60_000 },
];

const range = { from: BASE - HOUR, to: BASE + 2 * HOUR };
const spend = (extra: Partial<QueryInput>) =>
  querySchema.parse({ metrics: ['tokens', 'cost_usd'], ...range, limit: 100, ...extra });

/** A tenant file and the real worker, its clock `now`; all closed after `use`. */
async function withTenant(
  now: () => number,
  use: (t: { files: TenantFiles; tenantId: string } & ReturnType<typeof tenantWorker>) => Promise<void>,
) {
  const dir = tempDir('am-spend');
  const files = createTenantFiles(dir.path);
  const tenantId = newId('t');
  await files.create(tenantId);
  const worker = tenantWorker(files, tenantId, { now });
  try {
    await use({ files, tenantId, ...worker });
  } finally {
    await worker.aggregator.stop();
    await files.closeAll();
    dir.remove();
  }
}

/** `check` above the watermark, then rolled up: each time from the tiers and from raw events. */
async function everyState(
  t: { aggregator: ReturnType<typeof tenantWorker>['aggregator']; tenantId: string; errors: string[] },
  check: (at: string, raw?: boolean) => Promise<void>,
) {
  await check('above the watermark');
  await check('above the watermark', true);
  await t.aggregator.runOnce(t.tenantId, { compact: true });
  assert.equal(t.errors, []);
  await check('rolled up');
  await check('rolled up', true);
}

test('a model or kind filter leaves the spend rule per session: tail, rollups and raw agree', async () => {
  await withTenant(
    () => BASE + 3 * HOUR,
    async ({ files, tenantId, aggregator, errors, ingestor }) => {
      const ask = async (extra: Partial<QueryInput>, raw = false) =>
        runQuery(files, tenantId, spend(extra), { now: BASE + 3 * HOUR, raw });
      const figures = async (extra: Partial<QueryInput>, raw = false) =>
        (await ask(extra, raw)).rows.map((r) => [r.model ?? null, r.tokens, r.cost_usd]);
      const check = async (state: string, raw = false) => {
        const at = `${state}${raw ? ', raw' : ''}`;
        assert.equal(await figures({}, raw), [[null, 140, 1.35]], `${at}: unfiltered`);
        assert.equal(
          await figures({ group_by: ['model'] }, raw),
          [
            [SONNET, 110, 1.1],
            [HAIKU, 30, 0.25],
          ],
          `${at}: by model`,
        );
        assert.equal(await figures({ filters: { model: [HAIKU] } }, raw), [[null, 30, 0.25]], `${at}: Haiku alone`);
        assert.equal(await figures({ filters: { model: [SONNET] } }, raw), [[null, 110, 1.1]], `${at}: Sonnet alone`);
        assert.equal(
          await figures({ filters: { kind: ['token_usage', 'cost_usage'] } }, raw),
          [[null, 30, 0.25]],
          `${at}: metric points alone`,
        );
        const compared = await ask({ filters: { model: [HAIKU] }, compare: true }, raw);
        assert.equal([compared.rows[0]!.tokens, compared.previous!.rows[0]!.tokens], [30, 0], `${at}: compared`);
      };
      assert.equal((await ingestor.ingest({ tenantId, userId: 'u_ana' }, 'rest', events)).rejected, []);
      assert.equal((await ingestor.ingest({ tenantId, userId: 'u_bob' }, 'rest', bob)).rejected, []);
      await everyState({ aggregator, tenantId, errors }, check);
      // The summary with a model filter: the headline's spend and the model's row are Haiku's 30 tokens.
      const summary = await dashboardSummary(files, tenantId, range, { model: [HAIKU] }, BASE + 3 * HOUR);
      assert.equal([summary.tokens.total, summary.cost_usd], [30, 0.25]);
      assert.equal(summary.by_model, [{ model: HAIKU, tokens: 30, cost_usd: 0.25 }]);
    },
  );
});

test("a session's requests outside the range still leave its metric points out: adjacent days add up", async () => {
  const DAY = 24 * HOUR;
  const midnight = Date.UTC(2026, 2, 3);
  const now = midnight + 4 * DAY;
  await withTenant(
    () => now,
    async ({ files, tenantId, aggregator, errors, ingestor }) => {
      // A request at 23:59:30; Claude Code exports its spend as metric points a minute later, after midnight.
      const session: IngestEvent[] = [
        {
          kind: 'api_request',
          request_id: 'r1',
          model: SONNET,
          input_tokens: 1000,
          cost_usd: 1,
          session_id: 'm',
          ts: midnight - 30_000,
        },
        { kind: 'token_usage', model: SONNET, input_tokens: 1000, session_id: 'm', ts: midnight + 30_000 },
        { kind: 'cost_usage', model: SONNET, cost_usd: 1, session_id: 'm', ts: midnight + 30_000 },
      ];
      const cost = async (from: number, to: number, extra: Partial<QueryInput> = {}, raw = false) =>
        (
          await runQuery(files, tenantId, querySchema.parse({ metrics: ['cost_usd'], from, to, ...extra }), {
            now,
            raw,
          })
        ).rows.map((r) => r.cost_usd);
      const check = async (at: string, raw = false) => {
        assert.equal(await cost(midnight - DAY, midnight, {}, raw), [1], `${at}: the day of the request`);
        assert.equal(await cost(midnight, midnight + DAY, {}, raw), [0], `${at}: the day after, its points alone`);
        assert.equal(await cost(midnight - DAY, midnight + DAY, {}, raw), [1], `${at}: both days`);
        assert.equal(await cost(midnight - DAY, midnight + DAY, { interval: '1d' }, raw), [1, 0], `${at}: by day`);
        const compared = await runQuery(
          files,
          tenantId,
          querySchema.parse({ metrics: ['cost_usd'], from: midnight, to: midnight + DAY, compare: true }),
          { now, raw },
        );
        assert.equal([compared.rows[0]!.cost_usd, compared.previous!.rows[0]!.cost_usd], [0, 1], `${at}: compared`);
      };
      assert.equal((await ingestor.ingest({ tenantId, userId: 'u_ana' }, 'rest', session)).rejected, []);
      await everyState({ aggregator, tenantId, errors }, check);
      // The points alone (their request sent later): they count until the request comes, then not.
      await ingestor.ingest({ tenantId, userId: 'u_ana' }, 'rest', [
        { kind: 'cost_usage', model: SONNET, cost_usd: 2, session_id: 'late', ts: midnight + 60_000 },
      ]);
      await aggregator.runOnce(tenantId);
      assert.equal(await cost(midnight, midnight + DAY), [2]);
      await ingestor.ingest({ tenantId, userId: 'u_ana' }, 'rest', [
        {
          kind: 'api_request',
          request_id: 'r2',
          model: SONNET,
          cost_usd: 2,
          session_id: 'late',
          ts: midnight - 60_000,
        },
      ]);
      assert.equal(await cost(midnight, midnight + DAY), [0], 'the request in the tail');
      await aggregator.runOnce(tenantId);
      assert.equal(await cost(midnight, midnight + DAY), [0], 'the request indexed');
      assert.equal(await cost(midnight - DAY, midnight + DAY), [3]);
      // A point days after its session's last indexed event (a late delivery): judged alike above the watermark and after.
      await ingestor.ingest({ tenantId, userId: 'u_ana' }, 'rest', [
        { kind: 'cost_usage', model: SONNET, cost_usd: 4, session_id: 'm', ts: midnight + 3 * DAY + HOUR },
      ]);
      assert.equal(await cost(midnight + 3 * DAY, midnight + 4 * DAY), [0], 'late point, tail');
      await aggregator.runOnce(tenantId);
      assert.equal(await cost(midnight + 3 * DAY, midnight + 4 * DAY), [0], 'late point, rolled up');
      // A bare agent interaction (no tokens, no cost) is no request: the session's points stay its spend.
      await ingestor.ingest({ tenantId, userId: 'u_ana' }, 'rest', [
        { kind: 'cost_usage', model: SONNET, cost_usd: 0.5, session_id: 'points', ts: midnight + 2 * HOUR },
        {
          kind: 'agent_interaction',
          name: 'reviewer',
          status: 'success',
          session_id: 'points',
          ts: midnight + 2 * HOUR,
        },
      ]);
      const points = querySchema.parse({
        metrics: ['cost_usd'],
        filters: { session: ['points'] },
        from: midnight,
        to: midnight + DAY,
      });
      assert.equal((await runQuery(files, tenantId, points, { now })).rows[0]!.cost_usd, 0.5, 'bare interaction, tail');
      await aggregator.runOnce(tenantId, { compact: true });
      assert.equal(
        (await runQuery(files, tenantId, points, { now })).rows[0]!.cost_usd,
        0.5,
        'bare interaction, rolled up',
      );
      assert.equal(
        (await runQuery(files, tenantId, points, { now, raw: true })).rows[0]!.cost_usd,
        0.5,
        'bare interaction, raw',
      );
      // The three days: the two requests and the bare interaction's session's points.
      assert.equal(await cost(midnight - DAY, midnight + 2 * DAY), [3.5]);
    },
  );
});

test('past the session index, grouped by kind: an agent interaction with spend is still its request', async () => {
  const DAY = 24 * HOUR;
  let clock = BASE + 2 * DAY; // its day over: compacted into the day tier, which is kept for ever
  await withTenant(
    () => clock,
    async ({ files, tenantId, aggregator, errors, ingestor }) => {
      const spendOf = async (group_by: QueryInput['group_by']) => {
        // Whole UTC days: past a year, the day tier alone holds them.
        const day = Math.floor(BASE / DAY) * DAY;
        const q = querySchema.parse({ metrics: ['tokens', 'cost_usd'], group_by, from: day, to: day + DAY });
        const { rows } = await runQuery(files, tenantId, q, { now: clock });
        return [rows.reduce((n, r) => n + Number(r.tokens), 0), rows.reduce((n, r) => n + Number(r.cost_usd), 0)];
      };
      await ingestor.ingest({ tenantId, userId: 'u_ana' }, 'rest', [
        {
          kind: 'agent_interaction',
          name: 'reviewer',
          status: 'success',
          model: SONNET,
          input_tokens: 100,
          cost_usd: 0.25,
          session_id: 's',
          ts: BASE,
        },
        { kind: 'token_usage', model: SONNET, input_tokens: 1000, session_id: 's', ts: BASE + 1000 },
        { kind: 'cost_usage', model: SONNET, cost_usd: 0.5, session_id: 's', ts: BASE + 1000 },
      ]);
      for (const at of ['fresh', 'past the index']) {
        if (at !== 'fresh') clock = BASE + 400 * DAY; // the hour tier (and the index with it) keeps a year
        await aggregator.runOnce(tenantId, { compact: true, retention: true });
        await aggregator.runOnce(tenantId, { compact: true, retention: true });
        assert.equal(errors, []);
        const indexed = await (await files.connection(tenantId, 'reader')).all('SELECT session_id FROM session_index');
        assert.is(indexed.length, at === 'fresh' ? 1 : 0, at);
        for (const group_by of [[], ['kind'], ['kind', 'model'], ['session']] as QueryInput['group_by'][])
          assert.equal(await spendOf(group_by), [100, 0.25], `${at}, by ${JSON.stringify(group_by)}`);
      }
    },
  );
});

test.run();
