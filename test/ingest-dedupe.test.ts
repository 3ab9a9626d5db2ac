// Idempotency without a key over every id: a retried or re-imported event is found among
// the stored events of its own time span (widened by DEDUPE_MARGIN_MS), however long after
// its first copy it arrives, and a retry that took a new receipt time as its ts is caught
// within the margin. The clock is the server's injected one.
import * as assert from 'uvu/assert';
import { DEDUPE_MARGIN_MS } from '../src/ingest/writer.js';
import { ingestSuite, type IngestCtx } from './helpers.js';

const test = ingestSuite('ingest de-duplication');
const DAY = 86_400_000;

async function call(ctx: IngestCtx, path: string, body: unknown) {
  const res = await fetch(`${ctx.server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function count(ctx: IngestCtx, where = 'true'): Promise<number> {
  await ctx.server.ctx.ingest.settled(ctx.tenantId);
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  return Number((await db.get<{ n: bigint }>(`SELECT count(*) AS n FROM events WHERE ${where}`))!.n);
}

/** One import run of `events`; its chunk's counts. */
async function importRun(ctx: IngestCtx, events: unknown[]) {
  const started = await call(ctx, '/api/v1/import/runs', { source: 'claude', host: 'laptop-1' });
  assert.is(started.status, 201, JSON.stringify(started.json));
  const chunk = await call(ctx, `/api/v1/import/runs/${started.json.run.id}/events`, { events });
  assert.is(chunk.status, 200, JSON.stringify(chunk.json));
  return [chunk.json.accepted, chunk.json.stored, chunk.json.duplicates];
}

test('a re-import five months later, after months of other events, stores nothing again', async (ctx) => {
  const t0 = Date.UTC(2026, 0, 10, 9);
  const imported = Array.from({ length: 6 }, (_, i) => ({
    id: `cc:req:old-${i}`,
    kind: 'api_request',
    ts: t0 + i * 3_600_000, // spread over a few hours
    session_id: 'sess-old',
    request_id: `r-old-${i}`,
    model: 'claude-sonnet-4-5',
    input_tokens: 10,
    output_tokens: 1,
  }));
  let clock = t0 + DAY;
  ctx.server.ctx.now = () => new Date(clock);
  assert.equal(await importRun(ctx, imported), [6, 6, 0], 'the first import stores them');
  // Months of other events in between, a run a week, each received when it happened.
  for (let week = 1; week <= 21; week++) {
    clock = t0 + week * 7 * DAY;
    const events = Array.from({ length: 20 }, (_, i) => ({
      id: `live-${week}-${i}`,
      kind: 'api_request',
      ts: clock - i * 60_000,
      session_id: `sess-${week}`,
    }));
    assert.equal(await importRun(ctx, events), [20, 20, 0]);
  }
  assert.is(await count(ctx), 6 + 21 * 20);

  clock = t0 + 150 * DAY;
  assert.equal(await importRun(ctx, imported), [6, 0, 6], 'the re-import finds every event stored');
  assert.equal(await importRun(ctx, [...imported, ...imported].reverse()), [12, 0, 12], 'twice in one chunk too');
  assert.is(await count(ctx, `session_id = 'sess-old'`), 6);
});

test('a hook retried hours later, its receipt time its ts, is stored once; past the margin, again', async (ctx) => {
  const hook = {
    session_id: 'sess-retry',
    hook_event_name: 'PostToolUse',
    cwd: '/w',
    tool_name: 'Bash',
    tool_use_id: 'toolu_retry',
    tool_response: {},
  };
  const post = async () =>
    (
      await fetch(`${ctx.server.url}/api/v1/hooks/claude-code`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
        body: JSON.stringify(hook),
      })
    ).status;
  const t0 = Date.UTC(2026, 5, 1, 12);
  let clock = t0;
  ctx.server.ctx.now = () => new Date(clock);
  assert.is(await post(), 200);
  clock = t0 + 6 * 3_600_000;
  assert.is(await post(), 200);
  clock = t0 + DEDUPE_MARGIN_MS; // the edge of the margin is inside it
  assert.is(await post(), 200);
  assert.is(await count(ctx), 1, 'the retries carry new timestamps but are the same event');
  const stats = ctx.server.ctx.ingest.stats;
  assert.equal([stats.stored, stats.dropped.duplicate], [1, 2], 'counted as duplicates');
  assert.is(
    await count(ctx, `ts = epoch_ms(${t0}::BIGINT)`),
    1,
    'the first copy is the one kept, with its own receipt time',
  );

  clock = t0 + DEDUPE_MARGIN_MS + 60_000; // a minute past the margin: not looked for
  assert.is(await post(), 200);
  assert.is(await count(ctx), 2, 'a retry later than the margin is stored again (README: Idempotency)');
});

test('a REST batch giving one id to two different items has the later refused, naming it', async (ctx) => {
  const batch = await call(ctx, '/api/metrics/batch', {
    command_executions: [
      { id: 'dup1', command_name: 'first', execution_time_ms: 10, status: 'success' },
      { id: 'dup1', command_name: 'second', execution_time_ms: 99, status: 'failure' },
      { id: 'same', command_name: 'third', execution_time_ms: 5, status: 'success' },
      { id: 'same', command_name: 'third', execution_time_ms: 5, status: 'success' },
    ],
  });
  assert.is(batch.status, 207);
  assert.equal(batch.json.data, {
    accepted: 3,
    rejected: [
      {
        array: 'command_executions',
        index: 1,
        field: 'id',
        message: 'an earlier item of this request has this id, with other content',
      },
    ],
  });
  assert.is(await count(ctx), 2);
  assert.is(await count(ctx, `name = 'second'`), 0);
});

test.run();
