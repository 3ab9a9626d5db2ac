// The newest-event bound runQueries hands the planner (to skip the pieces after a quiet
// tenant's last rolled-up event) is never earlier than a rolled-up event an answer may
// count: as the worker rolls up more, after a backfill of older events, and after retention
// deleted the raw rows of newer ones. Answers past the bound still count the tail.
import * as assert from 'uvu/assert';
import { keptSince, tenantSettings } from '../src/aggregate/settings.js';
import type { IngestEvent } from '../src/ingest/schema.js';
import { querySchema } from '../src/query/model.js';
import { runQuery } from '../src/query/run.js';
import { newestRolledUp, watermark } from '../src/query/watermark.js';
import { ingestSuite, type IngestCtx } from './helpers.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
const newest = ingestSuite('the newest-event bound');

async function boundAt(ctx: IngestCtx, now: number): Promise<number> {
  const tf = ctx.server.ctx.tenantFiles;
  const file = await tf.open(ctx.tenantId);
  const reader = await tf.connection(ctx.tenantId, 'reader');
  const settings = await tenantSettings(file, reader);
  const rawKept = keptSince(settings.retention, now, settings.applied).raw;
  return reader.transaction(async (tx) => newestRolledUp(file, tx, (await watermark(tx)).lastSeq, rawKept));
}

async function send(ctx: IngestCtx, ts: number, id: string) {
  const event: IngestEvent = { id, kind: 'prompt', ts, session_id: `s-${id}`, prompt_id: id };
  const r = await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', [event]);
  assert.is(r.accepted, 1);
}

newest('none before a rollup; the newest rolled-up event, read on as the worker rolls up more', async (ctx) => {
  const now = Date.now();
  const rawKept = now - 90 * DAY; // the default retention of raw events
  assert.is(await boundAt(ctx, now), rawKept, 'nothing rolled up: only what retention could have deleted');
  await send(ctx, now - 3 * 3_600_000, 'first');
  assert.is(await boundAt(ctx, now), rawKept, 'the tail is not the rollups');
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
  assert.is(await boundAt(ctx, now), now - 3 * 3_600_000);
  await send(ctx, now - 3_600_000, 'second');
  await send(ctx, now - 5 * DAY, 'older');
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
  assert.is(await boundAt(ctx, now), now - 3_600_000, 'an older backfill leaves it');
});

newest('raw rows deleted by retention: never earlier than where raw events are kept since', async (ctx) => {
  const now = Date.now();
  await send(ctx, now - 95 * DAY, 'expired');
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId, { retention: true });
  const raw = await (await ctx.server.ctx.tenantFiles.connection(ctx.tenantId, 'reader')).get<{ n: number }>(
    `SELECT count(*) AS n FROM events`,
  );
  assert.is(Number(raw!.n), 0, 'retention deleted the raw event');
  // A backfill older still, rolled up after: the newest raw row left is older than the deleted one.
  await send(ctx, now - 200 * DAY, 'backfilled');
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
  assert.ok((await boundAt(ctx, now)) >= now - 95 * DAY);
  const q = querySchema.parse({ metrics: ['prompts'], from: now - 100 * DAY, to: now - 30 * DAY });
  const answer = await runQuery(ctx.server.ctx.tenantFiles, ctx.tenantId, q, { now });
  assert.equal(answer.rows, [{ prompts: 1 }], 'the deleted raw event still counts from the tiers');
});

newest('a quiet tenant asked past its newest rolled-up event: the tail and the edges count', async (ctx) => {
  const now = Math.floor(Date.now() / MINUTE) * MINUTE - 20_000;
  await send(ctx, now - 2 * 3_600_000, 'rolled');
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
  await send(ctx, now - 10_000, 'tail');
  await send(ctx, now - 3 * DAY, 'late');
  const tf = ctx.server.ctx.tenantFiles;
  for (const range of [
    { from: now - 7 * DAY, to: now },
    { from: now - 7 * DAY + 1234, to: now - 5_000 },
    { from: now - 3 * 3_600_000, to: now - 3_600_000 },
  ]) {
    const q = querySchema.parse({ metrics: ['prompts', 'sessions'], ...range, compare: true });
    const planned = await runQuery(tf, ctx.tenantId, q, { now });
    assert.equal(planned, await runQuery(tf, ctx.tenantId, q, { now, raw: true }), JSON.stringify(range));
  }
  const all = querySchema.parse({ metrics: ['prompts'], from: now - 7 * DAY, to: now });
  assert.equal((await runQuery(tf, ctx.tenantId, all, { now })).rows, [{ prompts: 3 }]);
});

newest.run();
