// Random and hostile parameters at every query endpoint and page, and hostile bodies at every
// ingest endpoint: deep nesting, over-long and many filter values, far-future and far-past
// times, numbers out of range. Each answer is a 2xx, a redirect or a 4xx naming what is wrong,
// never a 5xx, and the tenant keeps answering. Bounded by a fixed number of runs and a fixed
// seed, so a run is the same every time.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADMIN, ingestKey, signIn, startTestServer } from './helpers.js';
import { postFixtures } from './fixture-data.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1200);

const deep = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const hostile = [
  '',
  ' ',
  'x'.repeat(513),
  'x'.repeat(5000),
  '9999-12-31T23:59:59Z',
  '9999-12-31',
  '1999-12-31',
  '0000-01-01',
  '1970-01-01T00:00:00Z',
  '0',
  '-1',
  '1e400',
  '8640000000000001',
  '99999999999999999999',
  'NaN',
  'Infinity',
  'null',
  'true',
  '[]',
  '{}',
  deep(3000),
  '../../etc/passwd',
  '%00',
  '\u0000',
  '\n/x',
  '<script>alert(1)</script>',
  "x' OR '1'='1",
  '项目',
  '\ud800',
  'a,b,c',
  Array.from({ length: 300 }, (_, i) => `v${i}`).join(','),
  'Bash',
  'claude-sonnet-4-5',
  'acme-web',
  'tool_calls',
  'cost_usd',
  'user',
  'session',
  '1h',
  '7d',
  '30d',
  '1m',
  '5m',
  '15m',
  '1d',
  'csv',
  'json',
  'ndjson',
  'fixture-session-json',
];
const value = fc.oneof(
  fc.constantFrom(...hostile),
  fc.string({ maxLength: 30 }),
  fc.integer().map(String),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
);
const PARAMS = [
  'from',
  'to',
  'start_date',
  'end_date',
  'range',
  'user',
  'project',
  'session',
  'kind',
  'model',
  'status',
  'tool',
  'command',
  'agent',
  'user_id',
  'tool_name',
  'agent_name',
  'command_name',
  'project_id',
  'metric',
  'metrics',
  'group_by',
  'interval',
  'limit',
  'offset',
  'cursor',
  'after',
  'format',
  'q',
  'time_range',
  'aggregation_window',
  'horizon',
  'escape_formulas',
  'next',
];
const query = fc.array(fc.tuple(fc.constantFrom(...PARAMS), value), { maxLength: 6 }).map((pairs) => {
  const p = new URLSearchParams();
  for (const [k, v] of pairs) p.append(k, v);
  return p.toString();
});

const GETS = [
  '/api/v1/dashboard/summary',
  '/api/v1/metrics/timeseries',
  '/api/v1/query',
  '/api/v1/errors',
  '/api/v1/sessions',
  '/api/v1/sessions/fixture-session-json',
  '/api/v1/sessions/%F0%9F%98%80',
  '/api/v1/me/last-event',
  '/api/v1/metrics/catalogue',
  '/api/v1/analytics/productivity',
  '/api/v1/analytics/trends',
  '/api/v1/analytics/team',
  '/api/v1/analytics/insights',
  '/api/metrics/aggregated',
  '/api/metrics/dashboard',
  '/api/metrics/real-time/1h',
  '/api/metrics/real-time/5m',
  '/api/metrics/real-time/2h',
  '/api/metrics/commands',
  '/api/metrics/export/csv',
  '/api/metrics/export/json',
  '/api/v1/settings',
  '/',
  '/tools',
  '/agents',
  '/sessions',
  '/sessions/fixture-session-json',
  '/team',
  '/me',
  '/connect',
  '/login',
  '/settings',
];

/** A query in the query language, well-formed or not: random members, hostile values, deep nesting. */
const queryBody = fc.oneof(
  fc
    .record(
      {
        metrics: fc.oneof(
          fc.array(fc.constantFrom('events', 'tool_calls', 'cost_usd', 'prompts', 'tool_p95_ms', 'sessions', 'nope'), {
            maxLength: 4,
          }),
          value,
        ),
        group_by: fc.oneof(
          fc.array(fc.constantFrom('user', 'project', 'session', 'tool', 'model', 'command', 'agent', 'kind'), {
            maxLength: 3,
          }),
          value,
        ),
        filters: fc.oneof(
          fc.dictionary(
            fc.constantFrom('user', 'project', 'tool', 'model', 'session', 'command'),
            fc.array(value, { maxLength: 3 }),
          ),
          value,
        ),
        from: fc.oneof(fc.integer(), fc.double(), value, fc.constant(-8.64e15), fc.constant(8.64e15 + 1)),
        to: fc.oneof(fc.integer(), value, fc.constant(Date.now())),
        interval: fc.oneof(fc.constantFrom('1m', '1h', '1d'), value),
        limit: fc.oneof(fc.integer(), value),
        compare: fc.boolean(),
        totals: fc.boolean(),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc.constantFrom(deep(5000), '[]', 'null', '"x"', '{', `{"metrics":["events"],"filters":${deep(200)}}`),
);
const seedQueryBody = fc
  .record(
    {
      start_date: value,
      end_date: value,
      user_id: value,
      project: value,
      aggregation_window: value,
      metric_types: fc.oneof(fc.array(fc.constantFrom('commands', 'productivity_score', 'x'), { maxLength: 3 }), value),
    },
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o));

test('hostile parameters and bodies at every query endpoint and page never get a 5xx', async () => {
  const server = await startTestServer();
  try {
    const { key } = await ingestKey(server);
    await postFixtures(server, key);
    const admin = await signIn(server, ADMIN.email, ADMIN.password);
    const statuses = new Map<number, number>();
    // fast-check reports the shrunk input; the answer that failed is printed here.
    const fail = (message: string) => {
      console.error(`\n  ${message}`);
      return new Error(message);
    };
    const judge = async (what: string, res: Response) => {
      const text = await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 500) throw fail(`${what} → ${res.status}: ${text.slice(0, 300)}`);
      if (
        res.status >= 400 &&
        res.status !== 404 &&
        res.status !== 429 &&
        (res.headers.get('content-type') ?? '').includes('json')
      ) {
        const body = JSON.parse(text) as { error?: unknown };
        if (typeof body.error !== 'string')
          throw fail(`${what} → ${res.status} without an error message: ${text.slice(0, 200)}`);
      }
    };
    const byKey = (path: string, init: RequestInit = {}) =>
      fetch(`${server.url}${path}`, {
        redirect: 'manual',
        ...init,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers },
      });
    const asAdmin = (path: string) =>
      admin.request(path, { headers: { accept: path.startsWith('/api/') ? 'application/json' : 'text/html' } });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc
            .tuple(fc.constantFrom(...GETS), query, fc.boolean())
            .map(([path, q, viaKey]) => ({ kind: 'get' as const, path: `${path}?${q}`, viaKey })),
          queryBody.map((body) => ({ kind: 'post' as const, path: '/api/v1/query', body })),
          seedQueryBody.map((body) => ({ kind: 'post' as const, path: '/api/metrics/query', body })),
        ),
        async (r) => {
          if (r.kind === 'post')
            return judge(
              `POST ${r.path} ${r.body.slice(0, 200)}`,
              await byKey(r.path, { method: 'POST', body: r.body }),
            );
          return judge(`GET ${r.path.slice(0, 300)}`, r.viaKey ? await byKey(r.path) : await asAdmin(r.path));
        },
      ),
      { numRuns: RUNS, seed: 20261204 },
    );
    console.log('query fuzz answers by status:', Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])));
    assert.ok(
      (statuses.get(200) ?? 0) > 0 && [...statuses.keys()].some((s) => s >= 400 && s < 500),
      'both answered and refused',
    );
    assert.is((await byKey('/api/v1/dashboard/summary')).status, 200, 'the tenant still answers');
  } finally {
    await server.stop();
  }
});

test.run();
