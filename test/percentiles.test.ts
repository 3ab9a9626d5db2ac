// Percentiles of durations follow one definition, interpolation between closest ranks
// (`percentile` in src/aggregate/sketch.ts): exact where the sketch's bins hold the ranks'
// values, within ALPHA otherwise, always between min and max. Asked of raw events and of
// the tiers before the worker ran, after it rolled the events up and after compaction, on
// a real server's tenant; and of bins stored before they had bounds.
import fc from 'fast-check';
import * as assert from 'uvu/assert';
import { ALPHA, binOf, percentile } from '../src/aggregate/sketch.js';
import { CUBES, sketchTable, TIERS } from '../src/aggregate/tiers.js';
import type { IngestEvent } from '../src/ingest/schema.js';
import { querySchema, type QueryInput } from '../src/query/model.js';
import { runQuery } from '../src/query/run.js';
import { ingestSuite, type IngestCtx } from './helpers.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Yesterday 00:00 UTC: the server's worker keeps its real clock, and its retention keeps a day-old event in every tier. */
const BASE = Math.floor(Date.now() / DAY) * DAY - DAY;
/** Around every event: edges inside a minute (read from raw events), whole hours between (from the tiers). */
const RANGE = { from: BASE - HOUR - 17_000, to: BASE + 8 * HOUR + 23_000 };
const QUANTILES = { p50: 0.5, p95: 0.95, p99: 0.99 } as const;

type Row = Record<string, string | number | null>;
type Family = 'tool' | 'agent';

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-11 * Math.abs(b); // answers carry 12 significant digits

/** Whether the sketch knows every rank of `sample` exactly: no bin holds more than two values, or only copies of one. */
function exactlyKnown(sample: number[]): boolean {
  const bins = new Map<number, number[]>();
  for (const d of sample) bins.set(binOf(d), [...(bins.get(binOf(d)) ?? []), d]);
  return [...bins.values()].every((ds) => ds.length <= 2 || Math.min(...ds) === Math.max(...ds));
}

/** A row's p50/p95/p99 of `family` against the exact ones of `sample` (exact where the sketch's bounds say, unless `bounded` is false). */
function assertPercentiles(row: Row, family: Family, sample: number[], what: string, bounded = true): void {
  const sorted = [...sample].sort((a, b) => a - b);
  const [min, max] = [sorted[0]!, sorted.at(-1)!];
  const exact = bounded && exactlyKnown(sorted);
  const got = Object.keys(QUANTILES).map((stat) => row[`${family}_${stat}_ms`] as number);
  for (const [i, [stat, q]] of Object.entries(QUANTILES).entries()) {
    const [v, e] = [got[i]!, percentile(sorted, q)];
    const where = `${what}: ${stat} of [${sorted.join(', ')}] is ${v}, exactly ${e}`;
    assert.ok(typeof v === 'number' && v >= min && v <= max, `${where}: between min and max`);
    if (exact) assert.ok(close(v, e), `${where}: exact`);
    else assert.ok(Math.abs(v - e) <= ALPHA * e * (1 + 1e-9), `${where}: within ${ALPHA}`);
  }
  assert.ok(got[0]! <= got[1]! && got[1]! <= got[2]!, `${what}: p50 ≤ p95 ≤ p99 (${got.join(', ')})`);
}

/** Tool calls named `name`, a duration each, at `at` (ms after BASE). */
const toolCalls = (name: string, calls: { duration: number; at: number }[]): IngestEvent[] =>
  calls.map(
    (c, i) =>
      ({
        kind: 'tool_call',
        name,
        status: 'success',
        ts: BASE + c.at,
        tool_use_id: `${name}-${i}`,
        duration_ms: c.duration,
        session_id: 'pct',
      }) as IngestEvent,
  );

async function ingest(ctx: IngestCtx, events: IngestEvent[]): Promise<void> {
  const result = await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', events);
  assert.is(result.accepted, events.length);
}

const ask = async (ctx: IngestCtx, input: QueryInput, raw = false) =>
  runQuery(ctx.server.ctx.tenantFiles, ctx.tenantId, querySchema.parse(input), { now: Date.now(), raw });

/** Through the query API, as the dashboards ask. */
async function askApi(ctx: IngestCtx, input: QueryInput): Promise<{ rows: Row[]; totals?: Row }> {
  const res = await fetch(`${ctx.server.url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
    body: JSON.stringify(input),
  });
  assert.is(res.status, 200, await res.clone().text());
  return (await res.json()) as { rows: Row[]; totals?: Row };
}

/**
 * `check` on the answer to `input` from raw events, then from the tiers before the worker
 * ran (the events above its watermark), after it rolled them up and after compaction.
 */
async function atEveryStage(
  ctx: IngestCtx,
  input: QueryInput,
  check: (answer: { rows: Row[]; totals?: Row }, stage: string) => void,
  api = false,
): Promise<void> {
  check(await ask(ctx, input, true), 'raw events');
  for (const stage of ['before the worker', 'rolled up', 'compacted']) {
    if (stage === 'rolled up') await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
    if (stage === 'compacted') await ctx.server.ctx.aggregator.runOnce(ctx.tenantId, { compact: true });
    check(api ? await askApi(ctx, input) : await ask(ctx, input), stage);
  }
}

const durationsOf = (family: Family) => [
  `${family}_min_ms`,
  `${family}_max_ms`,
  ...Object.keys(QUANTILES).map((s) => `${family}_${s}_ms`),
];
function rowOf(rows: Row[], key: string, value: string): Row {
  const row = rows.find((r) => r[key] === value);
  assert.ok(row, `a row for ${value}`);
  return row;
}

const pct = ingestSuite('percentiles');

pct(
  'two Write calls of 645 and 1486 ms: p50 1065.5, p95 1443.95, p99 1477.59; one call is every percentile',
  async (ctx) => {
    const samples: Record<string, number[]> = { Write: [645, 1486], Glob: [777], Read: [640, 645, 650, 1464] };
    await ingest(ctx, [
      ...toolCalls('Write', [
        { duration: 645, at: 10 * MINUTE + 5_000 },
        { duration: 1486, at: 3 * HOUR + 40_000 },
      ]),
      ...toolCalls('Glob', [{ duration: 777, at: 2 * HOUR }]),
      ...toolCalls(
        'Read',
        [640, 645, 650, 1464].map((duration, i) => ({ duration, at: i * HOUR + 30_000 })),
      ),
    ]);
    const q: QueryInput = {
      metrics: ['tool_calls', ...durationsOf('tool')],
      group_by: ['tool'],
      filters: { tool: Object.keys(samples) },
      ...RANGE,
      totals: true,
    };
    await atEveryStage(
      ctx,
      q,
      ({ rows, totals }, stage) => {
        const write = rowOf(rows, 'tool', 'Write');
        assert.equal([write.tool_p50_ms, write.tool_p95_ms, write.tool_p99_ms], [1065.5, 1443.95, 1477.59], stage);
        const glob = rowOf(rows, 'tool', 'Glob');
        assert.equal([glob.tool_p50_ms, glob.tool_p95_ms, glob.tool_p99_ms], [777, 777, 777], stage);
        // Three of Read's four share a bin: its p95 and p99 read that bin's largest and the 1464 alone, exactly.
        const read = rowOf(rows, 'tool', 'Read');
        assert.ok(
          close(read.tool_p95_ms as number, 1341.9) && close(read.tool_p99_ms as number, 1439.58),
          `${stage}: Read ${read.tool_p95_ms}, ${read.tool_p99_ms}`,
        );
        for (const [tool, sample] of Object.entries(samples))
          assertPercentiles(rowOf(rows, 'tool', tool), 'tool', sample, `${stage}, ${tool}`);
        assertPercentiles(totals!, 'tool', Object.values(samples).flat(), `${stage}, totals`);
      },
      true,
    );
  },
);

pct("an agent of 9120 and 9130 ms: p50 9125, not its bin's 9049 below the minimum", async (ctx) => {
  const runs = [9120, 9130].map((ms, i) => ({
    agent_name: 'reviewer',
    interaction_type: 'review',
    execution_time_ms: ms,
    status: 'success',
    occurred_at: new Date(BASE + i * 90 * MINUTE + 1_000).toISOString(),
  }));
  const res = await fetch(`${ctx.server.url}/api/metrics/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
    body: JSON.stringify({ agent_interactions: runs }),
  });
  assert.is(res.status, 201, await res.clone().text());
  const q: QueryInput = {
    metrics: ['agent_calls', ...durationsOf('agent')],
    group_by: ['agent'],
    filters: { agent: ['reviewer'] },
    ...RANGE,
  };
  await atEveryStage(
    ctx,
    q,
    ({ rows }, stage) => {
      const row = rowOf(rows, 'agent', 'reviewer');
      assert.equal(
        [row.agent_min_ms, row.agent_p50_ms, row.agent_p95_ms, row.agent_p99_ms, row.agent_max_ms],
        [9120, 9125, 9129.5, 9129.9, 9130],
        stage,
      );
    },
    true,
  );
});

pct(
  'random samples: exact when the bins hold their ranks, else within ALPHA; between min and max; p50 ≤ p95 ≤ p99',
  async (ctx) => {
    // Mostly bins of their own, some crowded into a few bins, repeats and zeros.
    const duration = fc.oneof(
      fc.integer({ min: 1, max: 120_000 }),
      fc.integer({ min: 1000, max: 1030 }),
      fc.double({ min: 0.5, max: 5000, noNaN: true }),
      fc.constant(0),
    );
    const sample = fc.array(fc.record({ duration, at: fc.integer({ min: 0, max: 8 * HOUR - 1 }) }), {
      minLength: 1,
      maxLength: 40,
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(sample, { minLength: 1, maxLength: 8 }), async (samples) => {
        // Each run its own tools, a sample each, grouped and totalled: one worker pass for them all.
        const tools = samples.map((_, i) => `R${run}T${i}`);
        run++;
        await ingest(
          ctx,
          samples.flatMap((calls, i) => toolCalls(tools[i]!, calls)),
        );
        const q: QueryInput = {
          metrics: ['tool_calls', ...durationsOf('tool')],
          group_by: ['tool'],
          filters: { tool: tools },
          ...RANGE,
          totals: true,
        };
        const durations = samples.map((calls) => calls.map((c) => c.duration));
        await atEveryStage(ctx, q, ({ rows, totals }, stage) => {
          tools.forEach(
            (tool, i) => void assertPercentiles(rowOf(rows, 'tool', tool), 'tool', durations[i]!, `${stage}, ${tool}`),
          );
          assertPercentiles(totals!, 'tool', durations.flat(), `${stage}, totals`);
        });
      }),
      { seed: 20261204, numRuns: 5 },
    );
  },
);

pct('bins stored before they had bounds answer with their representative, clamped to min and max', async (ctx) => {
  await ingest(ctx, [
    { kind: 'agent_interaction', name: 'reviewer', status: 'success', ts: BASE + 1_000, duration_ms: 9120 },
    { kind: 'agent_interaction', name: 'reviewer', status: 'success', ts: BASE + HOUR, duration_ms: 9130 },
    ...toolCalls('Write', [
      { duration: 645, at: 0 },
      { duration: 1486, at: 2 * HOUR },
    ]),
  ] as IngestEvent[]);
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId, { compact: true });
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  for (const tier of TIERS)
    for (const cube of CUBES) await db.run(`UPDATE ${sketchTable(tier, cube)} SET lo = NULL, hi = NULL`);
  // Whole hours: every bin comes from the tiers.
  const range = { from: BASE - HOUR, to: BASE + 3 * HOUR };
  const agent = rowOf(
    (await askApi(ctx, { metrics: durationsOf('agent'), group_by: ['agent'], ...range })).rows,
    'agent',
    'reviewer',
  );
  assert.equal(
    [agent.agent_p50_ms, agent.agent_p95_ms, agent.agent_p99_ms],
    [9120, 9120, 9120],
    'the bin of both stands for 9049: the minimum instead',
  );
  const write = rowOf(
    (await askApi(ctx, { metrics: durationsOf('tool'), group_by: ['tool'], ...range })).rows,
    'tool',
    'Write',
  );
  assertPercentiles(write, 'tool', [645, 1486], 'Write', false);
});

pct.run();
