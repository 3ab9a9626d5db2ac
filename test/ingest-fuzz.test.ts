// Thousands of random bodies at every ingest endpoint (with far-future and far-past times and
// nesting thousands deep among them): each gets a 2xx or a 4xx naming what is wrong, never a
// 5xx, and the server keeps answering. A fixed seed: each run is the same.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ingestKey, startTestServer } from './helpers.js';

const ENDPOINTS: [method: string, path: string][] = [
  ['POST', '/api/v1/hooks/claude-code'],
  ['POST', '/v1/metrics'],
  ['POST', '/v1/logs'],
  ['POST', '/v1/traces'],
  ['POST', '/api/metrics/commands'],
  ['POST', '/api/metrics/agents'],
  ['POST', '/api/metrics/sessions/start'],
  ['PUT', '/api/metrics/sessions/fuzz-session'],
  ['POST', '/api/metrics/productivity'],
  ['POST', '/api/metrics/batch'],
];

// Bodies shaped like the real ones, with random holes and wrong types, plus pure noise.
const hookLike = fc.record(
  {
    hook_event_name: fc.oneof(
      fc.constantFrom('PreToolUse', 'PostToolUse', 'SessionStart', 'Stop'),
      fc.string(),
      fc.integer(),
    ),
    session_id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    tool_name: fc.string(),
    tool_use_id: fc.string(),
    duration_ms: fc.oneof(fc.double(), fc.integer(), fc.string()),
    tool_input: fc.jsonValue(),
  },
  { requiredKeys: [] },
);
const restLike = fc.record(
  {
    command_name: fc.oneof(fc.string(), fc.integer()),
    agent_name: fc.string(),
    execution_time_ms: fc.oneof(fc.double(), fc.integer(), fc.string()),
    status: fc.oneof(fc.constantFrom('success', 'failure', 'error'), fc.string()),
    timestamp: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.string(),
    ),
    value: fc.oneof(fc.double(), fc.string()),
    metric_type: fc.string(),
    command_executions: fc.array(fc.jsonValue(), { maxLength: 5 }),
    agent_interactions: fc.array(fc.jsonValue(), { maxLength: 5 }),
    context: fc.jsonValue(),
  },
  { requiredKeys: [] },
);
const otlpLike = fc.record(
  { resourceMetrics: fc.jsonValue(), resourceLogs: fc.jsonValue(), resourceSpans: fc.jsonValue() },
  { requiredKeys: [] },
);
// Times far in the future and the past, as each entry point takes them.
const farTime = fc.constantFrom(
  '9999-12-31T23:59:59Z',
  '1999-12-31T23:59:59Z',
  '0001-01-01T00:00:00Z',
  '+275760-09-13T00:00:00Z',
  '2100-01-01T00:00:00Z',
);
const farNanos = fc.constantFrom(
  '253402300799000000000',
  '4102444800000000000',
  '1',
  '946684799000000000',
  '18446744073709551615',
);
const timed = fc.oneof(
  fc
    .tuple(farTime, fc.constantFrom('executed_at', 'timestamp', 'occurred_at', 'recorded_at', 'started_at', 'ended_at'))
    .map(([t, k]) =>
      JSON.stringify({
        command_name: 'x',
        agent_name: 'a',
        interaction_type: 'i',
        metric_type: 'm',
        value: 1,
        execution_time_ms: 1,
        status: 'success',
        [k]: t,
        command_executions: [{ command_name: 'x', execution_time_ms: 1, status: 'success', [k]: t }],
      }),
    ),
  farNanos.map((n) =>
    JSON.stringify({
      resourceLogs: [
        {
          scopeLogs: [
            { logRecords: [{ timeUnixNano: n, attributes: [{ key: 'session.id', value: { stringValue: 's' } }] }] },
          ],
        },
      ],
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'claude_code.cost.usage',
                  sum: { aggregationTemporality: 2, dataPoints: [{ timeUnixNano: n, asDouble: 1 }] },
                },
              ],
            },
          ],
        },
      ],
    }),
  ),
);
// Nesting thousands deep, inside each kind of body (a JS value that deep cannot be stringified: built as text).
const deep = (depth: number, open: string, inner: string, close: string) =>
  open.repeat(depth) + inner + close.repeat(depth);
const nested = fc
  .integer({ min: 60, max: 6000 })
  .chain((depth) =>
    fc.constantFrom(
      `{"hook_event_name":"PreToolUse","session_id":"s","tool_input":${deep(depth, '{"a":', '1', '}')}}`,
      `{"command_name":"x","execution_time_ms":1,"status":"success","metadata":${deep(depth, '[', '1', ']')}}`,
      `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"k","value":${deep(depth, '{"arrayValue":{"values":[', '{"intValue":"1"}', ']}}')}}]}]}]}]}`,
      `{"resourceMetrics":[{"resource":{"attributes":[{"key":"k","value":${deep(depth, '{"kvlistValue":{"values":[{"key":"k","value":', '{"intValue":"1"}', '}]}}')}}]}}]}`,
    ),
  );
const body = fc.oneof(
  fc.jsonValue().map((v) => ({ type: 'application/json', data: JSON.stringify(v) as string | Uint8Array })),
  fc
    .oneof(hookLike, restLike, otlpLike)
    .map((v) => ({ type: 'application/json', data: JSON.stringify(v) as string | Uint8Array })),
  fc.oneof(timed, nested).map((text) => ({ type: 'application/json', data: text as string | Uint8Array })),
  fc.string().map((s) => ({ type: 'application/json', data: s as string | Uint8Array })),
  fc.uint8Array({ maxLength: 512 }).map((b) => ({ type: 'application/x-protobuf', data: b as string | Uint8Array })),
);

test('random bodies at every ingest endpoint never get a 5xx', async () => {
  const server = await startTestServer();
  try {
    const { key } = await ingestKey(server);
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), body, async ([method, path], b) => {
        const res = await fetch(`${server.url}${path}`, {
          method,
          headers: { 'content-type': b.type, authorization: `Bearer ${key}` },
          body: typeof b.data === 'string' ? b.data : Buffer.from(b.data),
        });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 200)}`);
        if (res.status >= 400 && res.status !== 429 && res.headers.get('content-type')?.includes('json')) {
          const parsed = JSON.parse(text) as { error?: unknown };
          if (typeof parsed.error !== 'string')
            throw new Error(`${method} ${path} → ${res.status} without an error message: ${text.slice(0, 200)}`);
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 3000), seed: 20261204 },
    );
    console.log('fuzz answers by status:', Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])));
    assert.ok((statuses.get(200) ?? 0) + (statuses.get(201) ?? 0) > 0, 'some bodies were accepted');
    assert.ok(
      [...statuses.keys()].some((s) => s >= 400),
      'some bodies were refused',
    );
    assert.is((await fetch(`${server.url}/healthz`)).status, 200);
  } finally {
    await server.stop();
  }
});

test.run();
