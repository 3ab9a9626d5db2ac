// A session's project applies to all its events, whichever channel told it and whichever
// arrived first: Claude Code's hooks carry the working directory, its OpenTelemetry events
// none, and the cost and tokens (which only OpenTelemetry reports) land on the project.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { FIXTURES } from './fixture-data.js';
import { ingestSuite, type IngestCtx } from './helpers.js';
import { querySchema } from '../src/query/model.js';
import { runQuery } from '../src/query/run.js';

const suite = ingestSuite("a session's project across channels");

const expected = JSON.parse(readFileSync(join(FIXTURES, 'otlp', 'expected-totals.json'), 'utf8')) as Record<
  string,
  { costUsd: number; apiRequests: number; toolCalls: number }
>;
const fixture = expected['fixture-session-json']!;

async function post(ctx: IngestCtx, path: string, body: string) {
  const res = await fetch(`${ctx.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
    body,
  });
  assert.is(res.status, 200, `${path}: ${await res.clone().text()}`);
}
const hook = (ctx: IngestCtx, session: string) =>
  post(
    ctx,
    '/api/v1/hooks/claude-code',
    JSON.stringify({
      hook_event_name: 'SessionStart',
      session_id: session,
      cwd: '/home/dev1/src/acme-web',
      source: 'startup',
      transcript_path: '/tmp/t.jsonl',
    }),
  );
const otlpLogs = (ctx: IngestCtx, session: string) =>
  post(
    ctx,
    '/v1/logs',
    readFileSync(join(FIXTURES, 'otlp', 'logs.json'), 'utf8').replaceAll('fixture-session-json', session),
  );

async function byProject(ctx: IngestCtx) {
  const now = Date.now();
  const q = {
    metrics: ['cost_usd', 'api_requests', 'tool_calls', 'tool_p50_ms', 'tool_max_ms'],
    group_by: ['project'],
    from: now - 400 * 86_400_000,
    to: now + 60_000,
  };
  const res = await fetch(`${ctx.server.url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
    body: JSON.stringify(q),
  });
  const answer = (await res.json()) as {
    rows: {
      project: string | null;
      cost_usd: number;
      api_requests: number;
      tool_calls: number;
      tool_p50_ms: number | null;
    }[];
  };
  // Raw events give the same answer (the duration bins moved exactly too).
  const raw = await runQuery(ctx.server.ctx.tenantFiles, ctx.tenantId, querySchema.parse(q), { now, raw: true });
  assert.equal(answer.rows, raw.rows, 'rollups and raw events agree');
  return answer.rows;
}

function assertOnProject(rows: Awaited<ReturnType<typeof byProject>>, label: string) {
  assert.equal(
    rows.map((r) => r.project),
    ['acme-web'],
    `${label}: every figure on the project, none on no project`,
  );
  const r = rows[0]!;
  assert.ok(Math.abs(r.cost_usd - fixture.costUsd) < 1e-9, `${label}: cost ${r.cost_usd}`);
  assert.equal([r.api_requests, r.tool_calls], [fixture.apiRequests, fixture.toolCalls], label);
}

suite("hooks first: the OpenTelemetry events that follow take the session's project, before and after the worker", async (ctx) => {
  await ctx.server.ctx.aggregator.stop();
  await hook(ctx, 'merge-test-1');
  await otlpLogs(ctx, 'merge-test-1');
  assertOnProject(await byProject(ctx), 'unrolled');
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
  assertOnProject(await byProject(ctx), 'rolled up');
  // The summary the overview shows, narrowed to the project: its cost and requests.
  const summary = (await (
    await fetch(
      `${ctx.server.url}/api/v1/dashboard/summary?project=acme-web&from=${new Date(Date.now() - 400 * 86_400_000).toISOString()}`,
      { headers: { authorization: `Bearer ${ctx.key}` } },
    )
  ).json()) as { cost_usd: number; api_requests: number };
  assert.ok(
    Math.abs(summary.cost_usd - fixture.costUsd) < 1e-9 && summary.api_requests === fixture.apiRequests,
    JSON.stringify(summary),
  );
});

suite("OpenTelemetry first, already rolled up: the session's project, told later by a hook, moves them", async (ctx) => {
  await ctx.server.ctx.aggregator.stop();
  await otlpLogs(ctx, 'merge-test-2');
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
  assert.equal(
    (await byProject(ctx)).map((r) => r.project),
    [null],
    'no project known yet',
  );
  await hook(ctx, 'merge-test-2');
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
  assertOnProject(await byProject(ctx), 'moved');
  await ctx.server.ctx.aggregator.runOnce(ctx.tenantId, { compact: true });
  assertOnProject(await byProject(ctx), 'compacted');
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  assert.equal(
    await db.all(`SELECT DISTINCT project FROM events`),
    [{ project: 'acme-web' }],
    'the events themselves carry it',
  );
  assert.equal(await db.all(`SELECT project FROM session_index`), [{ project: 'acme-web' }]);
});

suite.run();
