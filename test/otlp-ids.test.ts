// OTLP events keep the ids earlier releases gave them: a retried or re-sent export after an
// upgrade must hit the same ids to be stored once. The expected ids were made by the code as
// it stood before the mapping cached its canonical JSON (release of December 2026).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { logEvents, metricDrafts } from '../src/ingest/otlp-map.js';

const kv = (key: string, v: string | number) => ({
  key,
  value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v },
});
const T = '1767312000000000000';
const now = Date.UTC(2026, 0, 2, 12);

test('log records: two resources, a record with a body, one without, a key-value body', () => {
  const logs = {
    resourceLogs: [
      {
        resource: { attributes: [kv('service.name', 'claude-code'), kv('host.arch', 'x64')] },
        scopeLogs: [
          {
            scope: { name: 'com.anthropic.claude_code', version: '2.0.1' },
            logRecords: [
              {
                timeUnixNano: T,
                body: { stringValue: 'claude_code.api_request' },
                attributes: [
                  kv('event.name', 'api_request'),
                  kv('session.id', 's1'),
                  kv('request_id', 'r1'),
                  kv('input_tokens', 10),
                ],
              },
              {
                timeUnixNano: T,
                attributes: [kv('event.name', 'user_prompt'), kv('session.id', 's1'), kv('prompt', 'x')],
              },
            ],
          },
        ],
      },
      {
        resource: {},
        scopeLogs: [
          { logRecords: [{ observedTimeUnixNano: T, body: { kvlistValue: { values: [kv('b', 1), kv('a', 'z')] } } }] },
        ],
      },
    ],
  };
  assert.equal(
    logEvents(logs, now).events.map((e) => e.id),
    [
      'otlp:l:s1:api_request::1767312000000000000:da59db8f8c3a8a8a',
      'otlp:l:s1:user_prompt::1767312000000000000:4eb07ddd2c0d6e38',
      'otlp:l::log::1767312000000000000:af25cdb31d7a93db',
    ],
  );
});

test('a metric point: its series key and id', () => {
  const metrics = {
    resourceMetrics: [
      {
        resource: { attributes: [kv('service.name', 'claude-code')] },
        scopeMetrics: [
          {
            scope: { name: 's' },
            metrics: [
              {
                name: 'claude_code.cost.usage',
                sum: {
                  aggregationTemporality: 2,
                  isMonotonic: true,
                  dataPoints: [
                    {
                      attributes: [kv('model', 'm'), kv('session.id', 's1')],
                      startTimeUnixNano: '1767311000000000000',
                      timeUnixNano: T,
                      asDouble: 0.5,
                    },
                  ],
                },
              },
            ],
          },
        ],
      },
    ],
  };
  assert.equal(
    metricDrafts(metrics, 'u_1', now).drafts.map((d) => [String(d.seriesKey), d.build(d.value).id]),
    [
      [
        '17072514796320037992',
        'otlp:m:claude_code.cost.usage:ecedc1c0d1419c68:1767311000000000000:1767312000000000000',
      ],
    ],
  );
});

test.run();
