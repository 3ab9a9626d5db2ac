// An event sent again after raw retention deleted it (an import run again with --rescan, an
// archive uploaded twice, a client retrying after months) is still a repeat: the same id is
// dropped by the writer, the same request, tool call, prompt or sub-agent under another id
// does not count, and the figures the tiers keep for years stay as they were. An event that
// old never seen before still counts. Real tenant file, the real worker and writer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_RETENTION } from '../src/aggregate/settings.js';
import { applyRetention } from '../src/aggregate/steps.js';
import { newId } from '../src/ids.js';
import {
  chunkSchema,
  finishRun,
  type ImportRun,
  importChunk,
  rollbackRun,
  runEventCount,
  startRun,
} from '../src/import/runs.js';
import type { IngestEvent } from '../src/ingest/schema.js';
import { querySchema } from '../src/query/model.js';
import { runQueries, runQuery } from '../src/query/run.js';
import { sessionSteps } from '../src/sessions/worker-steps.js';
import { createTenantFiles } from '../src/storage/tenant-files.js';
import { tempDir, tenantWorker } from './helpers.js';

const DAY = 86_400_000;
const BASE = Date.UTC(2026, 2, 2, 9);
/** 100 days on: past the default raw retention (90 days), inside every tier's. */
const NOW = BASE + 100 * DAY;
const MODEL = 'claude-sonnet-4-5';

const original: IngestEvent[] = [
  {
    id: 'e1',
    kind: 'api_request',
    request_id: 'req_1',
    model: MODEL,
    input_tokens: 100,
    cost_usd: 2,
    session_id: 's1',
    ts: BASE,
  },
  {
    id: 'e2',
    kind: 'tool_call',
    tool_use_id: 'toolu_1',
    name: 'Bash',
    status: 'failure',
    session_id: 's1',
    ts: BASE + 1000,
  },
  { id: 'e3', kind: 'prompt', prompt_id: 'p1', session_id: 's1', ts: BASE + 2000 },
  { id: 'e4', kind: 'subagent_start', agent_id: 'a1', session_id: 's1', ts: BASE + 3000 },
  { id: 'e5', kind: 'commit', value: 1, session_id: 's1', ts: BASE + 4000 },
];

/** The same facts as another channel reports them: other ids, the same keys. */
const sameFactsOtherIds = original
  .filter((e) => e.kind !== 'commit')
  .map((e) => ({ ...e, id: `other-${e.id}`, ts: e.ts! + 500 }));

const METRICS = [
  'events',
  'api_requests',
  'cost_usd',
  'tokens',
  'tool_calls',
  'tool_failures',
  'prompts',
  'subagents',
  'commits',
];
const BEFORE = {
  events: 5,
  api_requests: 1,
  cost_usd: 2,
  tokens: 100,
  tool_calls: 1,
  tool_failures: 1,
  prompts: 1,
  subagents: 1,
  commits: 1,
};

test('events sent again after raw retention deleted them count once', async () => {
  const dir = tempDir('am-retired');
  const files = createTenantFiles(dir.path);
  const tenantId = newId('t');
  await files.create(tenantId);
  const { aggregator, errors, ingestor } = tenantWorker(files, tenantId, { now: () => NOW });
  const who = { tenantId, userId: 'u_ana' };
  const figures = async () => {
    const q = querySchema.parse({ metrics: METRICS, from: BASE - DAY, to: BASE + DAY });
    return (await runQuery(files, tenantId, q, { now: NOW })).rows[0];
  };
  const sql = async <T>(text: string) => (await files.connection(tenantId, 'reader')).all<T>(text);
  try {
    assert.equal((await ingestor.ingest(who, 'rest', original)).stored, 5);
    await aggregator.runOnce(tenantId, { retention: true });
    assert.equal(errors, []);
    assert.equal(await sql('SELECT count(*)::INT AS n FROM events'), [{ n: 0 }], 'raw retention deleted them');
    assert.equal(
      await sql('SELECT count(*)::INT AS n, count(dedup)::INT AS keyed FROM retired_events'),
      [{ n: 5, keyed: 4 }],
      'their ids and repeat keys are kept',
    );
    assert.equal(await figures(), BEFORE, 'the tiers count them');

    // The same events again: the writer knows their ids.
    assert.equal((await ingestor.ingest(who, 'rest', original)).stored, 0, 'the same ids are duplicates');

    // The same facts under other ids: stored, and not counted, above the watermark and rolled up.
    assert.equal((await ingestor.ingest(who, 'rest', sameFactsOtherIds)).stored, 4);
    assert.equal(await figures(), BEFORE, 'above the watermark: repeats of the retired events');
    await aggregator.runOnce(tenantId, { compact: true });
    assert.equal(errors, []);
    assert.equal(await figures(), BEFORE, 'rolled up: repeats of the retired events');
    assert.equal(await sql('SELECT count(*)::INT AS n FROM uncounted_events'), [{ n: 4 }], 'recorded as repeats');

    // An event as old, never seen before, counts.
    const fresh = {
      id: 'e9',
      kind: 'api_request',
      request_id: 'req_9',
      model: MODEL,
      input_tokens: 7,
      cost_usd: 1,
      ts: BASE + 9000,
    } as const;
    assert.equal((await ingestor.ingest(who, 'rest', [fresh])).stored, 1);
    const after = { ...BEFORE, events: 6, api_requests: 2, cost_usd: 3, tokens: 107 };
    assert.equal(await figures(), after, 'a new old event, above the watermark');
    await aggregator.runOnce(tenantId, { retention: true });
    assert.equal(errors, []);
    assert.equal(await figures(), after, 'a new old event, rolled up and retired');
    assert.equal(await sql('SELECT count(*)::INT AS n FROM events'), [{ n: 0 }], 'retention deleted the repeats too');
    assert.equal((await ingestor.ingest(who, 'rest', [...original, ...sameFactsOtherIds, fresh])).stored, 0);
  } finally {
    await files.closeAll();
    dir.remove();
  }
});

test("a page's widgets agree when retention moves a repeat's first arrival between them", async () => {
  const dir = tempDir('am-retired');
  const files = createTenantFiles(dir.path);
  const tenantId = newId('t');
  await files.create(tenantId);
  let clock = BASE + 10 * DAY;
  const { aggregator, errors, ingestor } = tenantWorker(files, tenantId, { now: () => clock });
  const who = { tenantId, userId: 'u_ana' };
  const request = { kind: 'api_request', request_id: 'req_1', model: MODEL, cost_usd: 2, session_id: 's1' } as const;
  try {
    await ingestor.ingest(who, 'rest', [{ ...request, id: 'e1', ts: BASE }]);
    await aggregator.runOnce(tenantId); // rolled up; not yet old enough for retention
    await ingestor.ingest(who, 'rest', [{ ...request, id: 'other-e1', ts: BASE + 500 }]); // its repeat, not rolled up
    const q = querySchema.parse({ metrics: ['api_requests', 'cost_usd'], from: BASE - DAY, to: BASE + DAY });
    const worker = await files.connection(tenantId, 'worker');
    const answers = await runQueries(files, tenantId, [q, q], {
      now: NOW,
      // Between the first widget's snapshot and the others': raw retention moves e1.
      between: () => applyRetention(worker, DEFAULT_RETENTION, NOW, {}, sessionSteps).then(() => undefined),
    });
    const once = { api_requests: 1, cost_usd: 2 };
    assert.equal(
      answers.map((a) => a.rows[0]),
      [once, once],
    );
    clock = NOW;
    await aggregator.runOnce(tenantId);
    assert.equal(errors, []);
    assert.equal((await runQueries(files, tenantId, [q], { now: NOW }))[0]!.rows[0], once, 'rolled up');
  } finally {
    await files.closeAll();
    dir.remove();
  }
});

/** A tenant with the worker at NOW, and an import run of its own. */
async function withRun(
  fn: (t: {
    files: ReturnType<typeof createTenantFiles>;
    tenantId: string;
    deps: Parameters<typeof rollbackRun>[0];
    who: { tenantId: string; userId: string };
    run: ImportRun;
    errors: string[];
    sql: <T>(text: string) => Promise<T[]>;
  }) => Promise<void>,
) {
  const dir = tempDir('am-retired');
  const files = createTenantFiles(dir.path);
  const tenantId = newId('t');
  await files.create(tenantId);
  const { aggregator, errors, ingestor } = tenantWorker(files, tenantId, { now: () => NOW });
  const deps = { tenantFiles: files, ingest: ingestor, aggregator };
  const who = { tenantId, userId: 'u_ana' };
  try {
    const run = await startRun(
      files,
      tenantId,
      { userId: 'u_ana', createdBy: 'u_ana', source: 'claude' },
      new Date(NOW),
    );
    const sql = async <T>(text: string) => (await files.connection(tenantId, 'reader')).all<T>(text);
    await fn({ files, tenantId, deps, who, run, errors, sql });
  } finally {
    await files.closeAll();
    dir.remove();
  }
}

test('an import run kept for its rollback keeps the repeats it hid: rolled back, they count', async () => {
  await withRun(async ({ files, tenantId, deps, who, run, errors }) => {
    const request = { kind: 'api_request', request_id: 'req_1', model: MODEL, cost_usd: 2, session_id: 's1' } as const;
    await importChunk(
      deps,
      who,
      run.id,
      chunkSchema.parse({ events: [{ ...request, id: 'imported', ts: BASE }] }),
      new Date(NOW),
    );
    await deps.aggregator.runOnce(tenantId);
    await deps.ingest.ingest(who, 'rest', [{ ...request, id: 'live', ts: BASE + 500 }]); // the same request, sent live
    await deps.aggregator.runOnce(tenantId, { retention: true });
    const q = querySchema.parse({ metrics: ['api_requests', 'cost_usd'], from: BASE - DAY, to: BASE + DAY });
    const figures = async () => (await runQuery(files, tenantId, q, { now: NOW })).rows[0];
    assert.equal(await figures(), { api_requests: 1, cost_usd: 2 });
    assert.is((await rollbackRun(deps, tenantId, run.id, new Date(NOW))).removed, 1);
    assert.equal(await figures(), { api_requests: 1, cost_usd: 2 }, 'the live copy counts in its place');
    await deps.aggregator.runOnce(tenantId, { compact: true });
    assert.equal(await figures(), { api_requests: 1, cost_usd: 2 }, 'and the worker agrees');
    assert.equal(errors, []);
  });
});

test("rolled back, an import's requests no longer take the session's metric points out", async () => {
  await withRun(async ({ files, tenantId, deps, who, run, errors, sql }) => {
    const day = Math.floor(NOW / DAY) * DAY - 2 * DAY;
    // An imported request just before midnight; its session's cost point, sent live, just after.
    const imported = { id: 'imp', kind: 'api_request', request_id: 'rq', model: MODEL, cost_usd: 1, session_id: 's9' };
    await importChunk(
      deps,
      who,
      run.id,
      chunkSchema.parse({ events: [{ ...imported, ts: day - 30_000 }] }),
      new Date(NOW),
    );
    await deps.ingest.ingest(who, 'rest', [
      { id: 'pt', kind: 'cost_usage', model: MODEL, cost_usd: 1, session_id: 's9', ts: day + 30_000 },
    ]);
    await deps.aggregator.runOnce(tenantId);
    const q = querySchema.parse({ metrics: ['cost_usd'], from: day, to: day + DAY });
    const cost = async () => (await runQuery(files, tenantId, q, { now: NOW })).rows[0]!.cost_usd;
    const requests = () => sql<{ requests: number }>(`SELECT requests FROM session_index WHERE session_id = 's9'`);
    assert.is(await cost(), 0, "the imported request is the session's spend");
    assert.equal(await requests(), [{ requests: 1 }]);
    assert.is((await rollbackRun(deps, tenantId, run.id, new Date(NOW))).removed, 1);
    assert.equal(await requests(), [{ requests: 0 }]);
    assert.is(await cost(), 1, 'the point is the spend again');
    await deps.aggregator.runOnce(tenantId);
    assert.is(await cost(), 1);
    assert.equal(errors, []);
  });
});

test("past raw retention, a session's percentiles read no import event kept for its rollback", async () => {
  await withRun(async ({ files, tenantId, deps, who, run, errors }) => {
    const call = (id: string, ms: number, at: number) =>
      ({
        id,
        kind: 'tool_call',
        tool_use_id: id,
        name: 'Bash',
        duration_ms: ms,
        session_id: 's1',
        ts: BASE + at,
      }) as const;
    await deps.ingest.ingest(who, 'hook', [call('t1', 100, 1000), call('t2', 100, 2000), call('t3', 100, 3000)]);
    await importChunk(deps, who, run.id, chunkSchema.parse({ events: [call('t9', 9000, 9000)] }), new Date(NOW));
    await deps.aggregator.runOnce(tenantId, { retention: true });
    assert.equal(errors, []);
    const q = querySchema.parse({
      metrics: ['tool_calls', 'tool_p50_ms'],
      group_by: ['session'],
      from: BASE - DAY,
      to: BASE + DAY,
    });
    // The count from the tiers; the durations from raw events retention kept: none of the range's.
    assert.equal((await runQuery(files, tenantId, q, { now: NOW })).rows, [
      { session: 's1', tool_calls: 4, tool_p50_ms: null },
    ]);
  });
});

test('finishing a run after retention took some of its events keeps what it stored', async () => {
  await withRun(async ({ files, tenantId, deps, who, run, errors }) => {
    const request = (id: string, at: number) =>
      ({
        id,
        kind: 'api_request',
        request_id: id,
        model: MODEL,
        cost_usd: 1,
        session_id: 's2',
        ts: BASE + at,
      }) as const;
    await importChunk(deps, who, run.id, chunkSchema.parse({ events: [request('r1', 0)] }), new Date(NOW));
    await deps.aggregator.runOnce(tenantId);
    const db = await files.open(tenantId);
    await db.run(`UPDATE import_runs SET updated_at = updated_at - INTERVAL 31 DAY WHERE id = $id`, { id: run.id });
    await deps.aggregator.runOnce(tenantId, { retention: true }); // paused a month: its event is retired
    await importChunk(deps, who, run.id, chunkSchema.parse({ events: [request('r2', 1000)] }), new Date(NOW));
    const finished = await finishRun(files, who, run.id, {}, new Date(NOW));
    assert.equal([finished.stored, await runEventCount(files, tenantId, run.id)], [2, 1]);
    assert.equal(errors, []);
  });
});

test.run();
