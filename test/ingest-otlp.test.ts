import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import {
  AggregationTemporalityPreference,
  OTLPMetricExporter as JsonMetricExporter,
} from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import * as assert from 'uvu/assert';
import { decodeResponse } from '../src/ingest/otlp-decode.js';
import { sessionTotals, type Totals } from '../src/ingest/totals.js';
import { ingestKey, ingestSuite, startTestServer, type IngestCtx } from './helpers.js';

const FIXTURES = new URL('./fixtures/otlp/', import.meta.url).pathname;
const fixture = (name: string) => readFileSync(join(FIXTURES, name));
const expected = JSON.parse(fixture('expected-totals.json').toString('utf8')) as Record<string, Totals>;

type Ctx = IngestCtx;
const otlp = ingestSuite('OTLP/HTTP receiver');

const JSON_TYPE = 'application/json';
const PROTO_TYPE = 'application/x-protobuf';
function post(
  ctx: Ctx,
  path: string,
  body: string | Uint8Array | ReadableStream<Uint8Array>,
  type: string,
  extra: Record<string, string> = {},
  key = ctx.key,
) {
  const init: RequestInit & { duplex?: 'half' } = {
    method: 'POST',
    headers: { 'content-type': type, authorization: `Bearer ${key}`, ...extra },
    body: body instanceof Uint8Array ? new Uint8Array(body) : body,
  };
  if (body instanceof ReadableStream) init.duplex = 'half';
  return fetch(`${ctx.server.url}${path}`, init);
}
async function totals(ctx: Ctx, sessionId: string) {
  return sessionTotals(await ctx.server.ctx.tenantFiles.open(ctx.tenantId), sessionId);
}
async function count(ctx: Ctx, where = 'true') {
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  return (await db.get<{ n: number }>(`SELECT count(*) AS n FROM events WHERE ${where}`))!.n;
}
function assertTotals(got: Totals, want: Totals, label: string) {
  assert.ok(Math.abs(got.costUsd - want.costUsd) < 1e-9, `${label}: cost ${got.costUsd} != ${want.costUsd}`);
  assert.equal({ ...got, costUsd: 0 }, { ...want, costUsd: 0 }, label);
}

otlp('the JSON and protobuf fixtures give the expected totals; a retried export changes nothing', async (ctx) => {
  const bodies: [string, Buffer, string][] = [
    ['/v1/metrics', fixture('metrics.json'), JSON_TYPE],
    ['/v1/logs', fixture('logs.json'), JSON_TYPE],
    ['/v1/metrics', fixture('metrics.pb'), PROTO_TYPE],
    ['/v1/logs', fixture('logs.pb'), PROTO_TYPE],
  ];
  for (const [path, body, type] of bodies) {
    const res = await post(ctx, path, body, type);
    assert.is(res.status, 200, `${path} ${type}: ${res.status}`);
    assert.is(res.headers.get('content-type'), type, path);
    if (type === JSON_TYPE) assert.equal(await res.json(), {}, path);
    else assert.is((await res.arrayBuffer()).byteLength, 0, `${path}: empty protobuf response`);
  }
  for (const session of Object.keys(expected)) assertTotals(await totals(ctx, session), expected[session]!, session);
  const stored = await count(ctx);
  // Again, identical and gzipped: nothing new.
  for (const [path, body, type] of bodies) {
    assert.is((await post(ctx, path, body, type)).status, 200);
    assert.is((await post(ctx, path, gzipSync(body), type, { 'content-encoding': 'gzip' })).status, 200);
  }
  assert.is(await count(ctx), stored);
  for (const session of Object.keys(expected))
    assertTotals(await totals(ctx, session), expected[session]!, `${session} after retries`);
  // Mapping: attributes kept, the user is the key's, event time from the record.
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const row = (await db.get<{ a: string; ts: string; user_id: string; source: string; status: string; name: string }>(
    `SELECT attributes::VARCHAR AS a, ts::VARCHAR AS ts, user_id, source, status, name FROM events WHERE kind = 'tool_call' AND tool_use_id = 'toolu_fixture-session-json_4'`,
  ))!;
  const a = JSON.parse(row.a) as { resource: Record<string, unknown>; attributes: Record<string, unknown> };
  assert.is(a.resource['service.name'], 'claude-code');
  assert.is(a.attributes['user.email'], 'dev@example.com');
  assert.is(row.status, 'failure');
  assert.is(row.name, 'Edit');
  assert.is(row.source, 'otlp');
  assert.is(row.ts, '2026-11-22 03:44:30.419');
  assert.is(await count(ctx, `kind = 'other' AND name = 'claude_code.active_time.total'`), 0);
  assert.is(await count(ctx, `kind = 'active_time'`), 4);
  assert.is(await count(ctx, `kind = 'api_error' AND status = '529'`), 2);
});

otlp('gzip and chunked bodies; decompressed size is capped', async (ctx) => {
  const json = fixture('metrics.json');
  const chunks = [gzipSync(json)].flatMap((b) => [b.subarray(0, 100), b.subarray(100)]);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
  assert.is((await post(ctx, '/v1/metrics', stream, JSON_TYPE, { 'content-encoding': 'gzip' })).status, 200);
  assert.is(
    (await post(ctx, '/v1/logs', gzipSync(fixture('logs.pb')), PROTO_TYPE, { 'content-encoding': 'gzip' })).status,
    200,
  );
  assert.is((await totals(ctx, 'fixture-session-json')).commits, 1);
  assert.is((await totals(ctx, 'fixture-session-proto')).toolCalls, 6);
  const bomb = await post(ctx, '/v1/metrics', gzipSync(Buffer.alloc(65 * 1024 * 1024)), JSON_TYPE, {
    'content-encoding': 'gzip',
  });
  assert.is(bomb.status, 413);
  assert.is(((await bomb.json()) as { field: string }).field, 'body');
  const notGzip = await post(ctx, '/v1/metrics', json, JSON_TYPE, { 'content-encoding': 'gzip' });
  assert.is(notGzip.status, 400);
  assert.is((await post(ctx, '/v1/metrics', json, JSON_TYPE, { 'content-encoding': 'br' })).status, 415);
});

otlp('bad bodies: 400 naming the field, 415, 403; traces are answered, not stored', async (ctx) => {
  for (const [path, body, type] of [
    ['/v1/metrics', '{"resourceMetrics": [', JSON_TYPE],
    ['/v1/logs', '[]', JSON_TYPE],
    ['/v1/metrics', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), PROTO_TYPE],
    ['/v1/logs', Buffer.from('this is not protobuf at all'), PROTO_TYPE],
  ] as const) {
    const res = await post(ctx, path, body, type);
    assert.is(res.status, 400, `${path} ${String(body).slice(0, 20)}`);
    const err = (await res.json()) as { error: string; field: string };
    assert.is(err.field, 'body');
    assert.match(err.error, /^body: /);
  }
  const shape = await post(ctx, '/v1/metrics', JSON.stringify({ resourceMetrics: [{ scopeMetrics: {} }] }), JSON_TYPE);
  assert.is(shape.status, 400);
  assert.is(((await shape.json()) as { field: string }).field, 'resourceMetrics[0].scopeMetrics');
  const wrongType = await post(ctx, '/v1/metrics', '{}', 'text/plain');
  assert.is(wrongType.status, 415);
  assert.is(((await wrongType.json()) as { field: string }).field, 'content-type');
  const readOnly = await ingestKey(ctx.server, ['read'], 'reader@acme.test');
  assert.is((await post(ctx, '/v1/metrics', fixture('metrics.json'), JSON_TYPE, {}, readOnly.key)).status, 403);
  assert.is((await post(ctx, '/v1/logs', fixture('logs.json'), JSON_TYPE, {}, 'amk_nope')).status, 401);

  const spans = {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: [
              { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'a' },
              { name: 'b' },
            ],
          },
        ],
      },
    ],
  };
  const traces = await post(ctx, '/v1/traces', JSON.stringify(spans), JSON_TYPE);
  assert.is(traces.status, 200);
  const answer = (await traces.json()) as { partialSuccess: { rejectedSpans: number; errorMessage: string } };
  assert.is(Number(answer.partialSuccess.rejectedSpans), 2);
  assert.match(answer.partialSuccess.errorMessage, /not stored/);
  assert.equal(await (await post(ctx, '/v1/traces', '{}', JSON_TYPE)).json(), {});
  assert.is(await count(ctx), 0);
});

otlp(
  'invalid values reject that point (partialSuccess), not the export; numbers as strings are coerced',
  async (ctx) => {
    const at = (key: string, value: unknown) => ({
      key,
      value: typeof value === 'string' ? { stringValue: value } : { intValue: value },
    });
    const record = (attrs: [string, unknown][]) => ({
      timeUnixNano: '1795319069719000000',
      attributes: [at('session.id', 's-coerce'), ...attrs.map(([k, v]) => at(k, v))],
    });
    const logs = {
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                record([
                  ['event.name', 'api_request'],
                  ['request_id', 'r1'],
                  ['input_tokens', '120'],
                  ['cost_usd', '0.5'],
                ]),
                record([
                  ['event.name', 'api_request'],
                  ['request_id', 'r2'],
                  ['input_tokens', '12x'],
                ]),
                record([
                  ['event.name', 'tool_result'],
                  ['tool_name', 'Bash'],
                  ['success', 'false'],
                  ['duration_ms', 7],
                ]),
                record([
                  ['event.name', 'api_request'],
                  ['request_id', 'r3'],
                  ['output_tokens', '-5'],
                ]),
              ],
            },
          ],
        },
      ],
    };
    const res = await post(ctx, '/v1/logs', JSON.stringify(logs), JSON_TYPE);
    assert.is(res.status, 200);
    const body = (await res.json()) as { partialSuccess: { rejectedLogRecords: number; errorMessage: string } };
    assert.is(body.partialSuccess.rejectedLogRecords, 2);
    assert.match(body.partialSuccess.errorMessage, /input_tokens/);
    const got = await totals(ctx, 's-coerce');
    assert.equal(
      [got.tokens.input, got.costUsd, got.toolCalls, got.toolFailures, got.apiRequests],
      [120, 0.5, 1, 1, 1],
    );

    const metrics = sumBody('claude_code.cost.usage', 1, [
      { session: 's-m', start: 1000, time: 2000, value: 'abc' },
      { session: 's-m', start: 1000, time: 2000, value: 0.25, model: 'm' },
    ]);
    const proto = await post(ctx, '/v1/metrics', JSON.stringify(metrics), JSON_TYPE);
    assert.is(
      ((await proto.json()) as { partialSuccess: { rejectedDataPoints: number } }).partialSuccess.rejectedDataPoints,
      1,
    );
    assert.is((await totals(ctx, 's-m')).costUsd, 0.25);
  },
);

type RawPoint = { session: string; start: number; time: number; value: unknown; type?: string; model?: string };
/** Point times are given in ms after T0 (inside the accepted window of event times). */
const T0 = Date.UTC(2026, 0, 1);
const nano = (ms: number) => (BigInt(T0 + ms) * 1_000_000n).toString();
function sumBody(name: string, temporality: 1 | 2, points: RawPoint[]) {
  const dataPoints = points.map((p) => ({
    attributes: [
      { key: 'session.id', value: { stringValue: p.session } },
      ...(p.type ? [{ key: 'type', value: { stringValue: p.type } }] : []),
      ...(p.model ? [{ key: 'model', value: { stringValue: p.model } }] : []),
    ],
    startTimeUnixNano: nano(p.start),
    timeUnixNano: nano(p.time),
    asDouble: p.value,
  }));
  return {
    resourceMetrics: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'claude-code' } }] },
        scopeMetrics: [
          {
            scope: { name: 'com.anthropic.claude_code' },
            metrics: [{ name, sum: { aggregationTemporality: temporality, isMonotonic: true, dataPoints } }],
          },
        ],
      },
    ],
  };
}

otlp('cumulative sums become deltas: retries and stale points count nothing, restarts count again', async (ctx) => {
  const send = async (start: number, time: number, value: number) => {
    const res = await post(
      ctx,
      '/v1/metrics',
      JSON.stringify(sumBody('claude_code.token.usage', 2, [{ session: 's-cum', start, time, value, type: 'input' }])),
      JSON_TYPE,
    );
    assert.is(res.status, 200);
    return (await totals(ctx, 's-cum')).tokens.input;
  };
  assert.is(await send(1000, 2000, 5), 5);
  assert.is(await send(1000, 3000, 8), 8);
  assert.is(await send(1000, 3000, 8), 8, 'retry');
  assert.is(await send(1000, 2000, 5), 8, 'stale retry');
  assert.is(await send(1000, 4000, 9), 9, 'state did not move back');
  assert.is(await send(1000, 5000, 9), 9, 'unchanged value');
  assert.is(await send(1000, 6000, 2), 11, 'value dropped: restart');
  assert.is(await send(7000, 8000, 4), 15, 'new start time: restart');
  assert.is(await send(7000, 8000, 4), 15, 'retry after restart');
  // Concurrent exports of successive points still count each delta once.
  await Promise.all([send(7000, 9000, 6), send(7000, 10000, 10)]);
  assert.is((await totals(ctx, 's-cum')).tokens.input, 21);
});

otlp('a non-monotonic sum that dips: the refused negative delta leaves the series where it was', async (ctx) => {
  const send = async (time: number, value: number) => {
    const body = sumBody('claude_code.token.usage', 2, [{ session: 's-dip', start: 1000, time, value, type: 'input' }]);
    body.resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!.sum.isMonotonic = false;
    const res = await post(ctx, '/v1/metrics', JSON.stringify(body), JSON_TYPE);
    assert.is(res.status, 200);
    return {
      partial: ((await res.json()) as { partialSuccess?: { rejectedDataPoints?: number } }).partialSuccess,
      total: (await totals(ctx, 's-dip')).tokens.input,
    };
  };
  assert.is((await send(2000, 10)).total, 10);
  const dip = await send(3000, 7);
  assert.is(dip.total, 10);
  assert.ok(Number(dip.partial?.rejectedDataPoints) >= 1, 'the dip is reported rejected');
  assert.is((await send(4000, 12)).total, 12, 'counted from 10, not from the dip to 7 (which made 15)');
});

otlp(
  'concurrent exports of one series, arriving in any order, count each delta once and never an older point',
  async (ctx) => {
    // 40 successive points of one cumulative series (3, 6, 9, …), all sent at once in a fixed
    // shuffled order: whichever is handled first, the total is the last value, and in commit
    // order the counted points only ever get newer.
    const points = Array.from({ length: 40 }, (_, i) => ({ time: 2000 + i * 1000, value: 3 * (i + 1) }));
    const order = points
      .map((p, i) => ({ p, key: (i * 17) % points.length }))
      .sort((a, b) => a.key - b.key)
      .map((x) => x.p);
    const statuses = await Promise.all(
      order.map(
        async ({ time, value }) =>
          (
            await post(
              ctx,
              '/v1/metrics',
              JSON.stringify(
                sumBody('claude_code.token.usage', 2, [{ session: 's-race', start: 1000, time, value, type: 'input' }]),
              ),
              JSON_TYPE,
            )
          ).status,
      ),
    );
    assert.equal(
      statuses,
      order.map(() => 200),
    );
    assert.is((await totals(ctx, 's-race')).tokens.input, 120);
    const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
    const times = (
      await db.all<{ t: number }>(`SELECT epoch_ms(ts) AS t FROM events WHERE session_id = 's-race' ORDER BY seq`)
    ).map((r) => r.t);
    assert.equal(
      times,
      [...times].sort((a, b) => a - b),
      'a point older than one already counted was counted',
    );
    assert.is(new Set(times).size, times.length);
  },
);

otlp(
  'an export whose series state cannot be saved stores nothing, so no later point counts its delta again',
  async (ctx) => {
    const send = async (time: number, value: number) =>
      (
        await post(
          ctx,
          '/v1/metrics',
          JSON.stringify(
            sumBody('claude_code.token.usage', 2, [{ session: 's-fail', start: 1000, time, value, type: 'input' }]),
          ),
          JSON_TYPE,
        )
      ).status;
    assert.is(await send(2000, 5), 200);
    // The state stays readable but can no longer be written: a view stands in for the table.
    const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
    await db.run('ALTER TABLE otlp_series RENAME TO otlp_series_kept');
    await db.run('CREATE VIEW otlp_series AS SELECT * FROM otlp_series_kept');
    assert.is(await send(3000, 8), 503);
    assert.is((await totals(ctx, 's-fail')).tokens.input, 5, 'the failed export stored its delta');
    await db.run('DROP VIEW otlp_series');
    await db.run('ALTER TABLE otlp_series_kept RENAME TO otlp_series');
    assert.is(await send(4000, 9), 200);
    assert.is((await totals(ctx, 's-fail')).tokens.input, 9);
    assert.is(await send(3000, 8), 200, 'the failed export, retried late');
    assert.is((await totals(ctx, 's-fail')).tokens.input, 9);
  },
);

otlp(
  'a few KB of gzip whose resource every record keeps: stored within bounds, or refused with a 413 before it is acknowledged',
  async (ctx) => {
    // 200 resource attributes of 8,000 characters: 1.6 MB that each record would carry.
    const resource: { attributes: unknown[] } = {
      attributes: Array.from({ length: 200 }, (_, i) => ({
        key: `k${i}`,
        value: { stringValue: `${'x'.repeat(8000)}${i}` },
      })),
    };
    const logs = (n: number, session: string) =>
      gzipSync(
        JSON.stringify({
          resourceLogs: [
            {
              resource,
              scopeLogs: [
                {
                  scope: { name: 'com.anthropic.claude_code' },
                  logRecords: Array.from({ length: n }, (_, i) => ({
                    timeUnixNano: String(BigInt(Date.now() - i) * 1_000_000n),
                    body: { stringValue: 'claude_code.user_prompt' },
                    attributes: [
                      { key: 'session.id', value: { stringValue: session } },
                      { key: 'event.sequence', value: { intValue: String(i) } },
                    ],
                  })),
                },
              ],
            },
          ],
        }),
      );
    const small = logs(300, 's-wide');
    assert.ok(small.length < 10_000, `${small.length} bytes of gzip`);
    assert.is((await post(ctx, '/v1/logs', small, JSON_TYPE, { 'content-encoding': 'gzip' })).status, 200);
    const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
    const sizes = (await db.get<{ n: number; widest: number }>(
      `SELECT count(*)::INTEGER AS n, max(length(attributes::VARCHAR))::INTEGER AS widest FROM events WHERE session_id = 's-wide'`,
    ))!;
    assert.is(sizes.n, 300);
    const own = await db.get<{ seq: string }>(
      `SELECT json_extract_string(attributes, '$.attributes."event.sequence"') AS seq FROM events WHERE session_id = 's-wide' ORDER BY ts DESC LIMIT 1`,
    );
    assert.is(own!.seq, '0', "a record's own attributes come first and are kept; the shared resource is what is cut");
    assert.ok(
      sizes.widest < 80_000,
      `each record keeps at most some 64 KiB of attributes, not 1.6 MB: ${sizes.widest}`,
    );

    // Values that are not text count too: 4 attributes of 256 × 256 nulls (a few KB of gzip).
    const nulls = Array.from({ length: 256 }, () => ({
      arrayValue: { values: Array.from({ length: 256 }, () => ({})) },
    }));
    resource.attributes = Array.from({ length: 4 }, (_, i) => ({
      key: `n${i}`,
      value: { arrayValue: { values: nulls } },
    }));
    assert.is(
      (await post(ctx, '/v1/logs', logs(450, 's-nulls'), JSON_TYPE, { 'content-encoding': 'gzip' })).status,
      200,
    );
    const widest = (await db.get<{ w: number }>(
      `SELECT max(length(attributes::VARCHAR))::INTEGER AS w FROM events WHERE session_id = 's-nulls'`,
    ))!.w;
    assert.ok(widest < 80_000, `each record keeps some 64 KiB of attributes at most: ${widest}`);
    resource.attributes = Array.from({ length: 200 }, (_, i) => ({
      key: `k${i}`,
      value: { stringValue: `${'x'.repeat(8000)}${i}` },
    }));

    const wide = await post(ctx, '/v1/logs', logs(3000, 's-wider'), JSON_TYPE, { 'content-encoding': 'gzip' });
    assert.is(wide.status, 413);
    assert.is(((await wide.json()) as { field: string }).field, 'body');
    assert.is(await count(ctx, `session_id = 's-wider'`), 0);

    // The tenant still ingests, and its file and journal open again after a restart.
    const hook = { hook_event_name: 'SessionStart', session_id: 's-after' };
    const sent = await post(ctx, '/api/v1/hooks/claude-code', JSON.stringify(hook), JSON_TYPE);
    assert.is(sent.status, 200);
    const first = ctx.server;
    await first.close();
    const again = await startTestServer({ dataDir: first.dataDir });
    ctx.server = {
      ...again,
      stop: async () => (await again.stop(), rmSync(first.dataDir, { recursive: true, force: true })),
    };
    assert.is((await fetch(`${again.url}/readyz`)).status, 200);
    assert.is(await count(ctx, `session_id IN ('s-wide', 's-after')`), 301);
  },
);

otlp('gauges, histograms and unknown metrics are kept as `other`', async (ctx) => {
  const point = { attributes: [{ key: 'session.id', value: { stringValue: 's-other' } }], timeUnixNano: nano(5000) };
  const body = {
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: [
              { name: 'claude_code.token.usage', gauge: { dataPoints: [{ ...point, asInt: '42' }] } },
              {
                name: 'process.latency',
                histogram: {
                  aggregationTemporality: 2,
                  dataPoints: [{ ...point, count: '3', sum: 1.5, bucketCounts: ['1', '2'], explicitBounds: [1] }],
                },
              },
              {
                name: 'some.future.metric',
                sum: { aggregationTemporality: 1, dataPoints: [{ ...point, asDouble: 2.5 }] },
              },
            ],
          },
        ],
      },
    ],
  };
  const res = await post(ctx, '/v1/metrics', JSON.stringify(body), JSON_TYPE);
  assert.equal(await res.json(), {});
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const rows = await db.all<{ name: string; value: number; h: string | null }>(
    `SELECT name, value, json_extract(attributes, '$.histogram.count')::VARCHAR AS h FROM events WHERE kind = 'other' ORDER BY name`,
  );
  assert.equal(rows, [
    { name: 'claude_code.token.usage', value: 42, h: null },
    { name: 'process.latency', value: 1.5, h: '3' },
    { name: 'some.future.metric', value: 2.5, h: null },
  ]);
  assert.equal((await totals(ctx, 's-other')).tokens.input, 0, 'a gauge is not spend');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sdkExport(
  ctx: Ctx,
  protocol: 'json' | 'proto',
  session: string,
  record: (p: { meter: MeterProvider; logs: LoggerProvider }) => void,
  temporality = AggregationTemporalityPreference.DELTA,
) {
  // http/protobuf goes gzipped (OTEL_EXPORTER_OTLP_COMPRESSION=gzip), http/json plain.
  const compression = (protocol === 'proto' ? 'gzip' : 'none') as NonNullable<
    ConstructorParameters<typeof JsonMetricExporter>[0]
  >['compression'];
  const options = {
    url: `${ctx.server.url}/v1/metrics`,
    headers: { Authorization: `Bearer ${ctx.key}` },
    temporalityPreference: temporality,
    compression,
  };
  const resource = resourceFromAttributes({
    'service.name': 'claude-code',
    'service.version': '2.1.300',
    'os.type': 'linux',
    department: 'platform',
  });
  const exporter = protocol === 'json' ? new JsonMetricExporter(options) : new ProtoMetricExporter(options);
  const meter = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })],
  });
  const logOptions = {
    url: `${ctx.server.url}/v1/logs`,
    headers: { Authorization: `Bearer ${ctx.key}` },
    compression: options.compression,
  };
  const logExporter = protocol === 'json' ? new JsonLogExporter(logOptions) : new ProtoLogExporter(logOptions);
  const logs = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: logExporter })] });
  record({ meter, logs });
  await meter.forceFlush();
  await logs.forceFlush();
  return { meter, logs, session };
}

for (const protocol of ['json', 'proto'] as const) {
  otlp(
    `the OpenTelemetry JS SDK exporters (http/${protocol === 'json' ? 'json' : 'protobuf'}), configured like Claude Code`,
    async (ctx) => {
      const metricsOnly = `sdk-${protocol}-metrics`;
      const withEvents = `sdk-${protocol}-events`;
      const { meter, logs } = await sdkExport(ctx, protocol, metricsOnly, ({ meter, logs }) => {
        const m = meter.getMeter('com.anthropic.claude_code', '2.1.300');
        const tokens = m.createCounter('claude_code.token.usage', { unit: 'tokens' });
        const cost = m.createCounter('claude_code.cost.usage', { unit: 'USD' });
        const lines = m.createCounter('claude_code.lines_of_code.count');
        for (const session of [metricsOnly, withEvents]) {
          tokens.add(100, { 'session.id': session, type: 'input', model: 'claude-sonnet-4-5' });
          tokens.add(20, { 'session.id': session, type: 'input', model: 'claude-sonnet-4-5' });
          tokens.add(50, { 'session.id': session, type: 'output', model: 'claude-sonnet-4-5' });
          tokens.add(7, { 'session.id': session, type: 'cacheRead', model: 'claude-sonnet-4-5' });
          cost.add(0.01, { 'session.id': session, model: 'claude-sonnet-4-5' });
          cost.add(0.02, { 'session.id': session, model: 'claude-haiku-4-5' });
        }
        lines.add(12, { 'session.id': metricsOnly, type: 'added' });
        const logger = logs.getLogger('com.anthropic.claude_code', '2.1.300');
        const event = (name: string, seq: number, attrs: Record<string, string | number | boolean>) =>
          logger.emit({
            body: `claude_code.${name}`,
            severityText: 'INFO',
            attributes: {
              'session.id': withEvents,
              'event.name': name,
              'event.sequence': seq,
              'event.timestamp': new Date().toISOString(),
              ...attrs,
            },
          });
        event('api_request', 1, {
          model: 'claude-sonnet-4-5',
          request_id: 'req_1',
          input_tokens: 10,
          output_tokens: 5,
          cache_read_tokens: 3,
          cache_creation_tokens: 1,
          cost_usd: 0.001,
          duration_ms: 900,
        });
        event('api_request', 2, {
          model: 'claude-sonnet-4-5',
          request_id: 'req_2',
          input_tokens: '20',
          output_tokens: '6',
          cost_usd: '0.002',
          duration_ms: 800,
        });
        event('api_request', 3, {
          model: 'claude-sonnet-4-5',
          request_id: 'req_2',
          input_tokens: '20',
          output_tokens: '6',
          cost_usd: '0.002',
          duration_ms: 800,
        }); // same request, reported twice
        event('tool_result', 4, { tool_name: 'Bash', tool_use_id: 'toolu_1', success: 'true', duration_ms: 12 });
        event('tool_result', 5, {
          tool_name: 'Edit',
          tool_use_id: 'toolu_2',
          success: false,
          duration_ms: 3,
          error: 'no match',
        });
      });
      await Promise.all([meter.shutdown(), logs.shutdown()]);

      const m = await totals(ctx, metricsOnly);
      assert.equal(m.tokens, { input: 120, output: 50, cacheRead: 7, cacheCreation: 0 });
      assert.ok(Math.abs(m.costUsd - 0.03) < 1e-9, String(m.costUsd));
      assert.is(m.linesAdded, 12);
      assert.is(m.apiRequests, 0);

      const e = await totals(ctx, withEvents);
      assert.equal(
        e.tokens,
        { input: 30, output: 11, cacheRead: 3, cacheCreation: 1 },
        'spend from api_request events, not the metric points',
      );
      assert.ok(Math.abs(e.costUsd - 0.003) < 1e-9, String(e.costUsd));
      assert.equal([e.apiRequests, e.toolCalls, e.toolFailures, e.byTool], [2, 2, 1, { Bash: 1, Edit: 1 }]);
      const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
      const res = (await db.get<{ a: string }>(
        `SELECT attributes::VARCHAR AS a FROM events WHERE kind = 'token_usage' LIMIT 1`,
      ))!;
      assert.is((JSON.parse(res.a) as { resource: Record<string, string> }).resource.department, 'platform');
    },
  );

  otlp(
    `cumulative temporality from the SDK (http/${protocol}): 5 then 8 is 8; a restarted process counts again`,
    async (ctx) => {
      const session = `sdk-${protocol}-cumulative`;
      const first = await sdkExport(ctx, protocol, session, () => {}, AggregationTemporalityPreference.CUMULATIVE);
      const counter = first.meter.getMeter('com.anthropic.claude_code').createCounter('claude_code.token.usage');
      const attrs = { 'session.id': session, type: 'output', model: 'claude-opus-4-5' };
      counter.add(5, attrs);
      await first.meter.forceFlush();
      assert.is((await totals(ctx, session)).tokens.output, 5);
      await sleep(5);
      counter.add(3, attrs);
      await first.meter.forceFlush();
      assert.is((await totals(ctx, session)).tokens.output, 8);
      await sleep(5);
      await first.meter.forceFlush(); // nothing new: still 8
      assert.is((await totals(ctx, session)).tokens.output, 8);
      await Promise.all([first.meter.shutdown(), first.logs.shutdown()]);

      await sleep(5);
      const second = await sdkExport(ctx, protocol, session, () => {}, AggregationTemporalityPreference.CUMULATIVE);
      second.meter.getMeter('com.anthropic.claude_code').createCounter('claude_code.token.usage').add(2, attrs);
      await second.meter.forceFlush();
      assert.is((await totals(ctx, session)).tokens.output, 10);
      await Promise.all([second.meter.shutdown(), second.logs.shutdown()]);
    },
  );
}

otlp('protobuf answers are Export*ServiceResponse messages', async (ctx) => {
  const spans = Buffer.from([0x0a, 0x08, 0x12, 0x06, 0x12, 0x04, 0x2a, 0x02, 0x68, 0x69]); // resource_spans { scope_spans { spans { name: "hi" } } }
  const res = await post(ctx, '/v1/traces', spans, PROTO_TYPE);
  assert.is(res.status, 200);
  assert.is(res.headers.get('content-type'), PROTO_TYPE);
  const answer = decodeResponse('traces', new Uint8Array(await res.arrayBuffer())) as {
    partialSuccess: { rejectedSpans: number; errorMessage: string };
  };
  assert.is(answer.partialSuccess.rejectedSpans, 1);
  assert.match(answer.partialSuccess.errorMessage, /not stored/);
});

otlp.run();
