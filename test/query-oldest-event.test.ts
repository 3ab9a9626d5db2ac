// The oldest-event bound runQueries hands the planner (to skip what lies before a young
// tenant's first event) is never later than an event or rollup row an answer may read:
// through the tail, the worker's rollups, a backfilled older event and retention deleting
// its raw row.
import * as assert from 'uvu/assert';
import type { IngestEvent } from '../src/ingest/schema.js';
import { oldestEvent, watermark } from '../src/query/watermark.js';
import { ingestSuite, type IngestCtx } from './helpers.js';

const DAY = 86_400_000;
const oldest = ingestSuite('the oldest-event bound');

const dayOf = (t: number) => Math.floor(t / DAY) * DAY;

async function boundFrom(ctx: IngestCtx, start: number): Promise<number | undefined> {
  const tf = ctx.server.ctx.tenantFiles;
  const file = await tf.open(ctx.tenantId);
  const reader = await tf.connection(ctx.tenantId, 'reader');
  return reader.transaction(async (tx) => oldestEvent(file, tx, await watermark(tx), start));
}

async function send(ctx: IngestCtx, ts: number, id: string) {
  const event: IngestEvent = { id, kind: 'prompt', ts, session_id: `s-${id}`, prompt_id: id };
  const r = await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', [event]);
  assert.is(r.accepted, 1);
}

oldest(
  'none for an empty tenant; the tail, then the rollups, once events come; an older backfill lowers it',
  async (ctx) => {
    const now = Date.now();
    const longAgo = now - 10 * 365 * DAY;
    assert.is(await boundFrom(ctx, longAgo), undefined);

    const young = now - 3 * 3_600_000;
    await send(ctx, young, 'young');
    assert.is(await boundFrom(ctx, longAgo), young, 'above the watermark: the tail');
    await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
    assert.is(await boundFrom(ctx, longAgo), dayOf(young), 'rolled up: its day bucket');

    // Sent after the bound was kept, rolled up, and its raw row deleted by retention (90 days).
    const backfilled = now - 200 * DAY;
    await send(ctx, backfilled, 'backfilled');
    assert.is(await boundFrom(ctx, longAgo), backfilled, 'above the watermark: the tail');
    await ctx.server.ctx.aggregator.runOnce(ctx.tenantId, { retention: true });
    const raw = await (await ctx.server.ctx.tenantFiles.connection(ctx.tenantId, 'reader')).get<{ n: number }>(
      `SELECT count(*) AS n FROM events WHERE session_id = 's-backfilled'`,
    );
    assert.is(Number(raw!.n), 0, 'retention deleted the raw event');
    assert.is(await boundFrom(ctx, longAgo), dayOf(backfilled), 'kept by the day tier');
  },
);

oldest('a question starting after the kept bound gets none rather than a stale one', async (ctx) => {
  const now = Date.now();
  await send(ctx, now - 3 * 3_600_000, 'first');
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
  const kept = await boundFrom(ctx, now - 7 * DAY);
  assert.is(kept, dayOf(now - 3 * 3_600_000));
  // Rolled up further: the kept bound is stale; a question starting after it cannot use a bound.
  await send(ctx, now - 3_600_000, 'second');
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
  assert.is(await boundFrom(ctx, now - 3_600_000 / 2), undefined);
  // One starting before it has the bound read again.
  assert.is(await boundFrom(ctx, now - 7 * DAY), kept);
});

oldest.run();
