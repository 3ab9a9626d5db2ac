// What the rollups promise: an answer read from the tiers (plus raw edges and the unrolled
// tail) equals the same question asked of raw events, and both equal a plain count of the
// events made in JS; late events, restarts, repeated passes, compaction and retention
// keep it so. Real tenant files in a temporary directory throughout.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_RETENTION, saveSetting, type Retention } from '../src/aggregate/settings.js';
import { ALPHA, binOf, GAMMA, percentile, ZERO_BIN } from '../src/aggregate/sketch.js';
import {
  cover,
  CUBES,
  rollupTable,
  sketchTable,
  TIER_MS,
  TIERS,
  floorTo,
  type Segment,
  type Tier,
} from '../src/aggregate/tiers.js';
import { foldSelect, foldSketchSelect, ROLLUP_TABLES } from '../src/aggregate/rollup.js';
import {
  applyRetention,
  compact,
  foldPacker,
  type FoldCursor,
  type FoldPiece,
  type TableBuckets,
} from '../src/aggregate/steps.js';
import { createAggregator, type Aggregator } from '../src/aggregate/worker.js';
import { priceOf } from '../src/cost/prices.js';
import { newId } from '../src/ids.js';
import { createIngestor, type Ingestor } from '../src/ingest/ingest.js';
import type { IngestEvent, Kind } from '../src/ingest/schema.js';
import { createLogger } from '../src/log.js';
import { INTERVAL_MS, MAX_POINTS, METRICS, querySchema, type Query, type QueryInput } from '../src/query/model.js';
import { cubeFor, keyCubeFor } from '../src/query/compile.js';
import { productivity } from '../src/sessions/productivity.js';
import { runQueries, runQuery } from '../src/query/run.js';
import type { QueryResult } from '../src/query/result.js';
import { SESSION_FIGURES, type SessionKey } from '../src/sessions/figures.js';
import { listSessions, sessionSpan, sessionTotals } from '../src/sessions/read.js';
import { QUIET_MS } from '../src/sessions/store.js';
import { sessionSteps } from '../src/sessions/worker-steps.js';
import { loadMigrations, migrate } from '../src/storage/migrate.js';
import { createTenantFiles, type TenantFiles } from '../src/storage/tenant-files.js';
import { tempDir } from './helpers.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** A Monday, 00:00 UTC: the generated events spread over this day and the two after it. */
const BASE = Date.UTC(2026, 2, 2);
/** The injected clock: a day after the last generated event, well inside default retention. */
const NOW = BASE + 4 * DAY;
const iso = (ms: number) => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------
// A tenant and its machinery

/** An event as generated: the unified event (always with ts and id) and who sent it. */
type Ev = IngestEvent & { ts: number; id: string; user: string };

type Tenant = {
  dir: string;
  files: TenantFiles;
  tenantId: string;
  ingestor: Ingestor;
  aggregator: Aggregator;
  /** Lines the worker logged at error level (a tenant's failure is logged, not thrown). */
  errors: string[];
};

/** A new tenant in `dir`, or (with `tenantId`) the existing one opened afresh, as after a restart. */
async function openTenant(
  dir: string,
  options: { tenantId?: string; now?: number; clock?: () => number; chunk?: number; foldRows?: number } = {},
): Promise<Tenant> {
  const files = createTenantFiles(dir);
  const tenantId = options.tenantId ?? newId('t');
  if (!options.tenantId) await files.create(tenantId);
  const errors: string[] = [];
  const now = options.now ?? NOW;
  const aggregator = createAggregator({
    tenantFiles: files,
    sessions: sessionSteps,
    tenants: async () => [tenantId],
    log: createLogger('error', (line) => errors.push(line)),
    now: options.clock ?? (() => now),
    chunk: options.chunk,
    foldRows: options.foldRows,
  });
  return { dir, files, tenantId, ingestor: createIngestor(files), aggregator, errors };
}

/** Ingests `events` in order, one request per run of one user's events, so seq follows list order. */
async function ingest(t: Tenant, events: Ev[]): Promise<void> {
  for (let i = 0; i < events.length; ) {
    let j = i;
    while (j < events.length && events[j]!.user === events[i]!.user) j++;
    const batch = events.slice(i, j).map(({ user: _user, ...event }) => event);
    const result = await t.ingestor.ingest({ tenantId: t.tenantId, userId: events[i]!.user }, 'rest', batch);
    assert.equal(result.rejected, [], 'every generated event is valid');
    i = j;
  }
}

async function rollUp(t: Tenant, force?: { compact?: boolean; retention?: boolean }): Promise<void> {
  await t.aggregator.runOnce(t.tenantId, force);
  assert.equal(t.errors, [], 'the worker logged no failure');
}

async function sql<T>(t: Tenant, text: string): Promise<T[]> {
  return (await t.files.connection(t.tenantId, 'reader')).all<T>(text);
}

async function lastSeq(t: Tenant): Promise<number> {
  return (await sql<{ last_seq: number }>(t, 'SELECT last_seq FROM rollup_state'))[0]!.last_seq;
}

async function rowCounts(t: Tenant): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const tier of TIERS) {
    for (const table of CUBES.flatMap((cube) => [rollupTable(tier, cube), sketchTable(tier, cube)]))
      out[table] = (await sql<{ n: number }>(t, `SELECT count(*) AS n FROM ${table}`))[0]!.n;
  }
  return out;
}

const parse = (input: QueryInput): Query => querySchema.parse(input);

// ---------------------------------------------------------------------------------------
// The reference: the same questions answered over the generated events in plain JS

const REQUEST_KINDS: Kind[] = ['api_request', 'agent_interaction'];
const FAMILY_KINDS: Record<string, Kind[]> = {
  tool: ['tool_call'],
  command: ['command'],
  agent: ['agent_interaction', 'subagent_stop'],
  api: ['api_request'],
};
const STATS = ['avg', 'min', 'max', 'p50', 'p95', 'p99'] as const;
const QUANTILE: Record<string, number> = { p50: 0.5, p95: 0.95, p99: 0.99 };

/**
 * What is stored and counted, in ingest order: a retry of an event id is stored once, and
 * of several api_request (tool_call) rows sharing a request_id (tool_use_id), the first
 * ingested counts.
 */
function countedEvents(ingested: Ev[], rolled = ingested.length): Ev[] {
  const stored = new Set<string>();
  const keys = new Set<string>();
  const out: Ev[] = [];
  // A session's project is the first one its stored events report; it applies to all of
  // them: to those the worker has rolled up (the first `rolled`), as far as they told it,
  // and to the later ones as all of them tell it (see src/aggregate/session-project.ts).
  const projects = [new Map<string, string>(), new Map<string, string>()];
  const sessionOf = (e: Ev) => `${e.user}\u0000${e.session_id}`;
  ingested.forEach((e, i) => {
    const id = `${e.user}\u0000${e.kind}\u0000${e.id}`;
    if (stored.has(id)) return;
    stored.add(id);
    for (const [k, known] of projects.entries())
      if ((k === 1 || i < rolled) && e.session_id && e.project && !known.has(sessionOf(e)))
        known.set(sessionOf(e), e.project);
  });
  stored.clear();
  for (const [i, raw] of ingested.entries()) {
    const known = projects[i < rolled ? 0 : 1]!;
    const e =
      raw.session_id && !raw.project && known.has(sessionOf(raw))
        ? { ...raw, project: known.get(sessionOf(raw)) }
        : raw;
    const id = `${e.user}\u0000${e.kind}\u0000${e.id}`;
    if (stored.has(id)) continue;
    stored.add(id);
    const key = e.kind === 'api_request' ? e.request_id : e.kind === 'tool_call' ? e.tool_use_id : undefined;
    if (key !== undefined) {
      if (keys.has(`${e.kind}\u0000${key}`)) continue;
      keys.add(`${e.kind}\u0000${key}`);
    }
    out.push(e);
  }
  return out;
}

const DIMENSION_OF: Record<string, (e: Ev) => string> = {
  user: (e) => e.user,
  project: (e) => e.project ?? '',
  session: (e) => e.session_id ?? '',
  model: (e) => e.model ?? '',
  tool: (e) => e.name ?? '',
  kind: (e) => e.kind,
  status: (e) => e.status ?? '',
};

const of = (g: Ev[], kinds: Kind[]) => g.filter((e) => kinds.includes(e.kind));
const failed = (g: Ev[], kinds: Kind[]) =>
  of(g, kinds).filter((e) => e.status === 'failure' || e.status === 'timeout').length;
const total = (g: Ev[], f: (e: Ev) => number | undefined) => g.reduce((sum, e) => sum + (f(e) ?? 0), 0);
const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
const tokensOf = (e: Ev) =>
  (e.input_tokens ?? 0) + (e.output_tokens ?? 0) + (e.cache_read_tokens ?? 0) + (e.cache_creation_tokens ?? 0);
/** Reported cost, else the tokens at the model's list price (cache writes at the cache-write price). */
function costOf(e: Ev): number {
  if (e.cost_usd !== undefined) return e.cost_usd;
  const p = priceOf(e.model ?? '');
  return (
    ((e.input_tokens ?? 0) * p.input +
      (e.output_tokens ?? 0) * p.output +
      (e.cache_read_tokens ?? 0) * p.cache_read +
      (e.cache_creation_tokens ?? 0) * p.cache_write) /
    1e6
  );
}

/** Spend rows: `spend(k)` is the group's requests in sessions with requests in range, else its `k` points. */
type Spend = (metricKind: Kind) => Ev[];
const EXPECTED: Record<string, (g: Ev[], spend: Spend) => number> = {
  events: (g) => g.length,
  sessions: (g) => new Set(g.filter((e) => e.session_id).map((e) => `${e.user}/${e.session_id}`)).size,
  active_users: (g) => new Set(g.map((e) => e.user)).size,
  prompts: (g) => of(g, ['prompt']).length,
  tool_calls: (g) => of(g, ['tool_call']).length,
  tool_failures: (g) => failed(g, ['tool_call']),
  tool_failure_rate: (g) => ratio(failed(g, ['tool_call']), of(g, ['tool_call']).length),
  commands: (g) => of(g, ['command']).length,
  command_failures: (g) => failed(g, ['command']),
  command_failure_rate: (g) => ratio(failed(g, ['command']), of(g, ['command']).length),
  agent_calls: (g) => of(g, ['agent_interaction', 'subagent_start']).length,
  agent_failures: (g) => failed(g, ['agent_interaction']),
  agents_used: (g) =>
    new Set(
      of(g, ['agent_interaction', 'subagent_start'])
        .map((e) => e.name ?? '')
        .filter(Boolean),
    ).size,
  subagents: (g) => of(g, ['subagent_start']).length,
  api_requests: (g) => of(g, ['api_request']).length,
  api_errors: (g) => of(g, ['api_error']).length,
  error_rate: (g) =>
    ratio(
      failed(g, ['tool_call', 'command', 'agent_interaction']) + of(g, ['api_error']).length,
      of(g, ['tool_call', 'command', 'agent_interaction', 'api_request', 'api_error']).length,
    ),
  commits: (g) => total(of(g, ['commit']), (e) => e.value),
  pull_requests: (g) => total(of(g, ['pull_request']), (e) => e.value),
  lines_added: (g) => total(of(g, ['lines']), (e) => e.lines_added),
  lines_removed: (g) => total(of(g, ['lines']), (e) => e.lines_removed),
  edit_lines_added: (g) => total(of(g, ['tool_call']), (e) => e.lines_added),
  edit_lines_removed: (g) => total(of(g, ['tool_call']), (e) => e.lines_removed),
  active_time_s: (g) => total(of(g, ['active_time']), (e) => e.value),
  input_tokens: (_, spend) => total(spend('token_usage'), (e) => e.input_tokens),
  output_tokens: (_, spend) => total(spend('token_usage'), (e) => e.output_tokens),
  cache_read_tokens: (_, spend) => total(spend('token_usage'), (e) => e.cache_read_tokens),
  cache_creation_tokens: (_, spend) => total(spend('token_usage'), (e) => e.cache_creation_tokens),
  tokens: (_, spend) => total(spend('token_usage'), tokensOf),
  cost_usd: (_, spend) => total(spend('cost_usage'), costOf),
};

/** Durations of a family in `g`, sorted; `null` for a statistic of no durations. */
function durationStat(name: string, g: Ev[]): number | null {
  const [, family, stat] = /^(\w+?)_(avg|min|max|p50|p95|p99)_ms$/.exec(name)!;
  const ds = of(g, FAMILY_KINDS[family!]!)
    .flatMap((e) => (e.duration_ms === undefined ? [] : [e.duration_ms]))
    .sort((a, b) => a - b);
  if (ds.length === 0) return null;
  if (stat === 'avg') return ds.reduce((a, b) => a + b, 0) / ds.length;
  if (stat === 'min') return ds[0]!;
  if (stat === 'max') return ds.at(-1)!;
  return percentile(ds, QUANTILE[stat!]!); // exact, interpolated between closest ranks
}

const isPercentile = (metric: string) => /_p\d\d_ms$/.test(metric);

type Answer = Map<string, Record<string, number | null>>;

/** The answer to `q` over `counted`, keyed like `keyed()` keys a query's rows; with `total`, its totals row alone. */
function reference(counted: Ev[], q: Query, total = false): Answer {
  const filtered = (events: Ev[], dims: string[]) =>
    dims.reduce(
      (kept, d) => kept.filter((e) => q.filters[d as keyof Query['filters']]!.includes(DIMENSION_OF[d]!(e))),
      events,
    );
  const inRange = counted.filter((e) => e.ts >= q.from && e.ts < q.to);
  let rows = filtered(inRange, Object.keys(q.filters));
  if (q.group_by.includes('tool') || q.filters.tool) rows = rows.filter((e) => e.kind === 'tool_call');
  // Whether a session has requests is decided over its whole life, whatever the range and the
  // filters: a session with requests of another model than the filter's, or only before the
  // range, has requests. Events without a session: over the whole range, not per group.
  const sessionRows = filtered(
    inRange,
    Object.keys(q.filters).filter((d) => !['kind', 'model', 'status'].includes(d)),
  );
  // A bare agent interaction (no tokens, no cost) is no request here: it has no spend to count instead.
  const requests = (g: Ev[]) =>
    of(g, REQUEST_KINDS).filter(
      (e) =>
        e.kind === 'api_request' ||
        (e.input_tokens ?? 0) + (e.output_tokens ?? 0) + (e.cache_read_tokens ?? 0) + (e.cache_creation_tokens ?? 0) >
          0 ||
        (e.cost_usd ?? 0) > 0,
    );
  const withRequests = new Set(
    [...requests(sessionRows), ...requests(counted).filter((e) => e.session_id)].map(
      (e) => `${e.user}/${e.session_id ?? ''}`,
    ),
  );
  const hasRequests = (e: Ev) => withRequests.has(`${e.user}/${e.session_id ?? ''}`);
  const groups = new Map<string, Ev[]>();
  if (total || (!q.interval && q.group_by.length === 0)) groups.set('[]', []); // a total is one row, even of nothing
  for (const e of rows) {
    const key = total
      ? '[]'
      : JSON.stringify([
          ...(q.interval ? [iso(floorTo(e.ts, INTERVAL_MS[q.interval]))] : []),
          ...q.group_by.map((d) => DIMENSION_OF[d]!(e) || null),
        ]);
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const answer: Answer = new Map();
  for (const [key, g] of groups) {
    const spend: Spend = (metricKind) =>
      g.filter((e) => (REQUEST_KINDS.includes(e.kind) && hasRequests(e)) || (e.kind === metricKind && !hasRequests(e)));
    answer.set(
      key,
      Object.fromEntries(q.metrics.map((m) => [m, EXPECTED[m] ? EXPECTED[m](g, spend) : durationStat(m, g)])),
    );
  }
  return answer;
}

function keyed(q: Query, rows: Record<string, string | number | null>[]): Answer {
  const answer: Answer = new Map();
  for (const row of rows) {
    const key = JSON.stringify([...(q.interval ? [row.t] : []), ...q.group_by.map((d) => row[d] ?? null)]);
    assert.not.ok(answer.has(key), `one row per group: ${key}`);
    answer.set(key, Object.fromEntries(q.metrics.map((m) => [m, row[m] as number | null])));
  }
  return answer;
}

const near = (a: number, b: number, relative: number) =>
  Math.abs(a - b) <= relative * Math.max(Math.abs(a), Math.abs(b)) + 1e-12;

/** Rollup answers against raw answers: sums within 1e-9 relative, percentiles identical (same bins). */
function assertSameAnswer(got: Answer, raw: Answer, what: string): void {
  assert.equal([...got.keys()].sort(), [...raw.keys()].sort(), `${what}: the same groups`);
  for (const [key, row] of got) {
    for (const [m, v] of Object.entries(row)) {
      const r = raw.get(key)![m]!;
      const same = v === null || r === null ? v === r : isPercentile(m) ? v === r : near(v, r, 1e-9);
      if (!same) assert.unreachable(`${what}: ${m} of ${key} is ${v}, raw events say ${r}`);
    }
  }
}

/**
 * An answer against the JS reference: sums within 1e-9 relative, percentiles within ALPHA
 * of the exact one (and a microsecond, the zero bin's width).
 */
function assertMatchesReference(got: Answer, expected: Answer, what: string): void {
  assert.equal([...got.keys()].sort(), [...expected.keys()].sort(), `${what}: the same groups as the reference`);
  for (const [key, row] of got) {
    for (const [m, v] of Object.entries(row)) {
      const e = expected.get(key)![m]!;
      let ok: boolean;
      if (v === null || e === null) ok = v === e;
      else if (isPercentile(m)) ok = Math.abs(v - e) <= ALPHA * (1 + 1e-9) * e + 0.001;
      else ok = near(v, e, 1e-9);
      if (!ok) assert.unreachable(`${what}: ${m} of ${key} is ${v}, expected ${e}`);
    }
  }
}

/** Asks `q` of the tiers and of raw events; both must agree with each other and with the reference. */
/** `rolled`: how many of `ingested` (the first) the worker has rolled up. */
async function check(t: Tenant, ingested: Ev[], q: Query, rolled = ingested.length): Promise<Answer> {
  const what = JSON.stringify({ ...q, from: iso(q.from), to: iso(q.to) });
  const [tiered, raw] = [
    await runQuery(t.files, t.tenantId, q, { now: NOW }),
    await runQuery(t.files, t.tenantId, q, { now: NOW, raw: true }),
  ];
  const counted = countedEvents(ingested, rolled);
  // Compared, the period before is checked as the query over that period.
  const span = q.to - q.from;
  const parts: [string, Omit<QueryResult, 'previous'> | undefined, Omit<QueryResult, 'previous'> | undefined, Query][] =
    [['', tiered, raw, q]];
  if (q.compare) parts.push([' (previous)', tiered.previous, raw.previous, { ...q, from: q.from - span, to: q.from }]);
  else assert.is(tiered.previous, undefined, `${what}: nothing compared unless asked`);
  let got: Answer = new Map();
  for (const [part, tieredPart, rawPart, pq] of parts) {
    assert.ok(tieredPart && rawPart, `${what}${part}: answered`);
    assert.not.ok(tieredPart.truncated || rawPart.truncated, `${what}${part}: not truncated`);
    const answer = keyed(pq, tieredPart.rows);
    assertSameAnswer(answer, keyed(pq, rawPart.rows), what + part);
    assertMatchesReference(answer, reference(counted, pq), what + part);
    if (!part) got = answer;
    if (!q.totals) {
      assert.is(tieredPart.totals, undefined, `${what}${part}: no totals unless asked`);
      continue;
    }
    const whole = { ...pq, group_by: [], interval: undefined };
    const totals = keyed(whole, [tieredPart.totals!]);
    assertSameAnswer(totals, keyed(whole, [rawPart.totals!]), `${what}${part} totals`);
    assertMatchesReference(totals, reference(counted, pq, true), `${what}${part} totals`);
  }
  return got;
}

// ---------------------------------------------------------------------------------------
// Generators

const USERS = ['u_ana', 'u_bo', 'u_cy'];
const SESSIONS = ['s1', 's2', 's3', 's4'];
const PROJECTS = ['acme/api', 'acme/web'];
const TOOLS = ['Bash', 'Edit', 'Read'];
/** A priced model, another, and one no price table knows (it costs nothing unless reported). */
const MODELS = ['claude-sonnet-4-5', 'claude-opus-4-5', 'mystery-model-7'];
const KINDS_USED = [
  'tool_call',
  'api_request',
  'prompt',
  'command',
  'commit',
  'lines',
  'token_usage',
  'cost_usage',
  'subagent_start',
  'session_start',
] as const;

/** Busy hours of the three days (sessions cluster), across midnight and at odd times. */
const BUSY_HOURS = [2, 9, 14, 23.9, 33, 50.5, 61, 71.95];
/** Anywhere in three days, or near a busy hour, with sub-minute offsets either way. */
const tsArb = fc.oneof(fc.integer({ min: BASE, max: BASE + 3 * DAY - 1 }), {
  arbitrary: fc
    .tuple(fc.constantFrom(...BUSY_HOURS), fc.integer({ min: -20 * MINUTE, max: 20 * MINUTE }))
    .map(([h, ms]) => BASE + Math.round(h * HOUR) + ms),
  weight: 2,
});
const durationArb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 0, max: 100_000 }),
  fc.double({ min: 0, max: 100_000, noNaN: true }).map(Math.abs),
  fc.double({ min: 0, max: 0.01, noNaN: true }).map(Math.abs),
);
const tokensArb = fc.record({
  input: fc.integer({ min: 0, max: 20_000 }),
  output: fc.integer({ min: 0, max: 4_000 }),
  cacheRead: fc.integer({ min: 0, max: 50_000 }),
  cacheCreation: fc.integer({ min: 0, max: 10_000 }),
});
const costArb = fc.option(fc.double({ min: 0, max: 3, noNaN: true }).map(Math.abs), { nil: undefined });

const specArb = fc.record({
  user: fc.nat(),
  kind: fc.constantFrom(...KINDS_USED),
  ts: tsArb,
  session: fc.option(fc.constantFrom(...SESSIONS), { nil: undefined, freq: 8 }),
  project: fc.option(fc.constantFrom(...PROJECTS), { nil: undefined, freq: 6 }),
  tool: fc.constantFrom(...TOOLS),
  model: fc.constantFrom(...MODELS),
  status: fc.constantFrom('success', 'failure'),
  duration: fc.option(durationArb, { nil: undefined, freq: 5 }),
  tokens: tokensArb,
  cost: costArb,
  keyed: fc.boolean(), // an api_request without a request_id is counted as it comes
  lines: fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 200 })),
  value: fc.integer({ min: 1, max: 3 }),
});
type Spec = typeof specArb extends fc.Arbitrary<infer T> ? T : never;

/** The event a spec stands for: fields by kind, as the entry points would fill them. */
function eventOf(s: Spec, i: number, users: string[]): Ev {
  const e: Ev = {
    id: `e${i}`,
    user: users[s.user % users.length]!,
    kind: s.kind,
    ts: s.ts,
    session_id: s.session,
    project: s.project,
  };
  const tokens = {
    input_tokens: s.tokens.input,
    output_tokens: s.tokens.output,
    cache_read_tokens: s.tokens.cacheRead,
    cache_creation_tokens: s.tokens.cacheCreation,
  };
  switch (s.kind) {
    case 'tool_call':
      // An edit carries the lines it changed (as a hook's Edit does), apart from OpenTelemetry's `lines`.
      return {
        ...e,
        name: s.tool,
        status: s.status,
        duration_ms: s.duration,
        tool_use_id: `tu${i}`,
        ...(s.tool === 'Edit' ? { lines_added: s.lines[0], lines_removed: s.lines[1] } : {}),
      };
    case 'api_request':
      return {
        ...e,
        model: s.model,
        ...tokens,
        cost_usd: s.cost,
        duration_ms: s.duration,
        request_id: s.keyed || i % 3 ? `req${i}` : undefined,
      };
    case 'command':
      return { ...e, name: s.tool === 'Bash' ? 'npm test' : '/review', status: s.status, duration_ms: s.duration };
    case 'commit':
      return { ...e, value: s.value };
    case 'lines':
      return { ...e, lines_added: s.lines[0], lines_removed: s.lines[1] };
    case 'token_usage':
      return { ...e, model: s.model, ...tokens };
    case 'cost_usage':
      return { ...e, model: s.model, cost_usd: s.cost ?? 0.25 };
    case 'subagent_start':
      return { ...e, name: { Bash: 'general-purpose', Edit: 'Explore', Read: 'Plan' }[s.tool] };
    default:
      return e;
  }
}

/** The same request or tool call arriving again (say from OpenTelemetry after a hook), with other content. */
const dupArb = fc.record({
  of: fc.nat(),
  at: fc.nat(),
  user: fc.nat(),
  shift: fc.integer({ min: -30 * MINUTE, max: 30 * MINUTE }),
  status: fc.constantFrom('success', 'failure'),
  duration: fc.option(durationArb, { nil: undefined }),
  tokens: tokensArb,
  cost: costArb,
});

const scenarioArb = fc.record({
  users: fc.constantFrom(USERS.slice(0, 2), USERS),
  specs: fc.array(specArb, { minLength: 25, maxLength: 90 }),
  priming: fc.array(tsArb, { minLength: MODELS.length, maxLength: MODELS.length }),
  dups: fc.array(dupArb, { maxLength: 10 }),
  retries: fc.array(fc.nat(), { maxLength: 4 }),
  split: fc.double({ min: 0.1, max: 0.95, noNaN: true }),
  chunk: fc.constantFrom(7, 40, 250_000),
  foldRows: fc.constantFrom(3, 50, 200_000),
  compactFirst: fc.boolean(),
  runAgain: fc.constantFrom('no', 'yes', 'and compact'),
});
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** The scenario's events in ingest order, split where the first worker pass runs. */
function eventsOf(s: Scenario): { first: Ev[]; second: Ev[] } {
  // Every model is seen by a pass before the tail can hold it: a model's price is stored
  // by the worker (see the test of a model first seen in the tail).
  const priming: Ev[] = MODELS.map((model, i) => ({
    id: `prime${i}`,
    user: s.users[i % s.users.length]!,
    kind: 'api_request',
    ts: s.priming[i]!,
    session_id: SESSIONS[i],
    model,
    input_tokens: 100,
    output_tokens: 10,
    request_id: `prime${i}`,
  }));
  const list = [...priming, ...s.specs.map((spec, i) => eventOf(spec, i, s.users))];
  const keyedEvents = list.filter((e) => (e.kind === 'api_request' && e.request_id) || e.kind === 'tool_call');
  s.dups.forEach((d, i) => {
    const orig = keyedEvents[d.of % keyedEvents.length]!;
    const dup: Ev = {
      ...orig,
      id: `dup${i}`,
      user: s.users[d.user % s.users.length]!,
      ts: orig.ts + d.shift,
      status: orig.kind === 'tool_call' ? d.status : orig.status,
      duration_ms: d.duration,
      ...(orig.kind === 'api_request'
        ? {
            input_tokens: d.tokens.input,
            output_tokens: d.tokens.output,
            cache_read_tokens: d.tokens.cacheRead,
            cost_usd: d.cost,
          }
        : {}),
    };
    list.splice(priming.length + (d.at % (list.length - priming.length + 1)), 0, dup);
  });
  for (const r of s.retries) list.push({ ...list[r % list.length]! }); // a client retrying: same id, stored once
  const at = priming.length + Math.floor((list.length - priming.length) * s.split);
  return { first: list.slice(0, at), second: list.slice(at) };
}

const DIMS = ['user', 'project', 'session', 'model', 'tool'] as const;
const METRIC_POOL = [
  ...Object.keys(EXPECTED),
  ...Object.keys(FAMILY_KINDS).flatMap((f) => STATS.map((s) => `${f}_${s}_ms`)),
];
/** Metrics the generated kinds give figures for; most queries ask some of these. */
const BUSY_METRICS = [
  'events',
  'sessions',
  'active_users',
  'prompts',
  'tool_calls',
  'tool_failures',
  'commands',
  'api_requests',
  'subagents',
  'agents_used',
  'commits',
  'lines_added',
  'edit_lines_added',
  'input_tokens',
  'cache_creation_tokens',
  'tokens',
  'cost_usd',
  'tool_avg_ms',
  'tool_min_ms',
  'tool_p50_ms',
  'tool_p95_ms',
  'api_min_ms',
  'api_p99_ms',
  'command_max_ms',
  'command_p95_ms',
];
const toolMetric = (m: string) => METRICS[m]!.kinds === null || METRICS[m]!.kinds!.every((k) => k === 'tool_call');

const queryArb = fc
  .record({
    from: fc.oneof(
      fc.integer({ min: -6 * HOUR, max: 3 * DAY }),
      fc.integer({ min: 0, max: 2 }).map((d) => d * DAY),
      fc
        .constantFrom(...BUSY_HOURS)
        .chain((h) => fc.integer({ min: Math.round(h * HOUR) - HOUR, max: Math.round(h * HOUR) })),
    ),
    length: fc.oneof(
      fc.integer({ min: 1, max: 6 * HOUR }),
      { arbitrary: fc.integer({ min: 1, max: 4 * DAY }), weight: 3 },
      fc.integer({ min: 1, max: 3 }).map((d) => d * DAY),
    ),
    metrics: fc
      .tuple(
        fc.shuffledSubarray(BUSY_METRICS, { minLength: 1, maxLength: 4 }),
        fc.shuffledSubarray(METRIC_POOL, { maxLength: 3 }),
      )
      .map(([a, b]) => [...new Set([...a, ...b])]),
    groupBy: fc.shuffledSubarray([...DIMS], { maxLength: 2 }),
    interval: fc.option(fc.constantFrom(...TIERS), { nil: undefined, freq: 3 }),
    filter: fc.option(
      fc.oneof(
        fc.record({ user: fc.subarray(USERS, { minLength: 1 }) }),
        fc.record({ project: fc.subarray(PROJECTS, { minLength: 1 }) }),
        fc.record({ model: fc.subarray(MODELS, { minLength: 1 }) }),
      ),
      { nil: undefined, freq: 4 },
    ),
    compare: fc.boolean(),
    totals: fc.boolean(),
  })
  .map(({ from, length, metrics, groupBy, interval, filter, compare, totals }): Query => {
    const wanted = groupBy.includes('tool') ? metrics.filter(toolMetric) : metrics;
    const points = interval ? length / TIER_MS[interval] : 0;
    return parse({
      metrics: wanted.length ? wanted : ['tool_calls', 'tool_p95_ms'],
      group_by: groupBy,
      filters: filter ?? {},
      from: BASE + from,
      to: BASE + from + length,
      interval: points > MAX_POINTS ? undefined : interval,
      limit: 10_000,
      compare,
      totals: totals && (groupBy.length > 0 || (interval !== undefined && points <= MAX_POINTS)),
    });
  });

// ---------------------------------------------------------------------------------------
// Properties

test('every counted metric has a reference here', () => {
  for (const [name, def] of Object.entries(METRICS)) {
    if ('sql' in def) assert.ok(EXPECTED[name], `no reference for ${name}`);
    else assert.ok(/^(tool|command|agent|api)_(avg|min|max|p50|p95|p99)_ms$/.test(name), `no reference for ${name}`);
  }
});

test('answers from rollups plus the unrolled tail equal raw events and a count made in JS', async () => {
  const dir = tempDir('am-agg');
  const started = Date.now();
  const seen = {
    runs: 0,
    queries: 0,
    withData: 0,
    fromTiers: 0,
    teamCube: 0,
    teamWithKeys: 0,
    keysFromSessionCube: 0,
    sessionCube: 0,
    compared: 0,
    totals: 0,
    duplicates: 0,
  };
  try {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.array(queryArb, { minLength: 3, maxLength: 6 }), async (scenario, queries) => {
        seen.runs++;
        const t = await openTenant(dir.path, { chunk: scenario.chunk, foldRows: scenario.foldRows });
        try {
          const { first, second } = eventsOf(scenario);
          await ingest(t, first);
          await rollUp(t, scenario.compactFirst ? { compact: true } : undefined);
          await ingest(t, second);
          if (scenario.runAgain !== 'no')
            await rollUp(t, scenario.runAgain === 'and compact' ? { compact: true } : undefined);
          seen.duplicates += first.length + second.length - countedEvents([...first, ...second]).length;
          for (const q of queries) {
            const answer = await check(
              t,
              [...first, ...second],
              q,
              scenario.runAgain === 'no' ? first.length : undefined,
            );
            seen.queries++;
            if ([...answer.values()].some((row) => Object.values(row).some((v) => v !== null && v !== 0)))
              seen.withData++;
            if (
              cover(
                q.from,
                q.to,
                TIERS.filter((tier) => !q.interval || TIER_MS[tier] <= INTERVAL_MS[q.interval]),
              ).some((s) => s.source !== 'raw')
            )
              seen.fromTiers++;
            if (cubeFor(q) === 'team') seen.teamCube++;
            if (q.compare) seen.compared++;
            if (q.totals) seen.totals++;
            if (cubeFor(q) === 'session') seen.sessionCube++;
            if (
              cubeFor(q) === 'team' &&
              q.metrics.some((m) =>
                ['sessions', 'active_users', 'tokens', 'cost_usd', 'input_tokens', 'cache_creation_tokens'].includes(m),
              )
            ) {
              seen.teamWithKeys++;
              if (keyCubeFor(q) === 'session') seen.keysFromSessionCube++;
            }
          }
        } finally {
          await t.files.remove(t.tenantId);
        }
      }),
      // A fixed seed (AGG_SEED to try others) and every run made: what the runs cover, asserted
      // below, must not depend on how many a busy machine gets through in some time.
      { numRuns: Number(process.env.AGG_RUNS ?? 30), seed: Number(process.env.AGG_SEED ?? 20261205) },
    );
  } finally {
    dir.remove();
  }
  // What the runs exercised, so a generator that drifts into trivia shows.
  console.log(`aggregate property: ${JSON.stringify(seen)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.ok(
    seen.withData > seen.queries * 0.4 &&
      seen.fromTiers > seen.queries / 2 &&
      seen.keysFromSessionCube > 0 &&
      seen.teamCube > seen.teamWithKeys &&
      seen.sessionCube > 0 &&
      seen.queries > seen.teamCube + seen.sessionCube &&
      seen.compared > 0 &&
      seen.totals > 0 &&
      seen.duplicates > 0,
    'the runs asked real questions',
  );
});

// A fixed, generated workload for the scenario tests below.
const WORKLOAD = eventsOf(fc.sample(scenarioArb, { numRuns: 1, seed: 20260302 })[0]!);
const FIXED_QUERIES = [
  // Distinct counts by tool: the team cube, with the keys folded from the full cube (the session cube has no tool).
  parse({
    metrics: ['sessions', 'active_users', 'tool_calls'],
    group_by: ['tool'],
    from: BASE,
    to: BASE + 3 * DAY,
    compare: true,
    totals: true,
  }),
  parse({
    metrics: ['events', 'tool_calls', 'api_requests', 'tokens', 'cost_usd', 'tool_p95_ms', 'api_p50_ms'],
    group_by: ['user'],
    from: BASE,
    to: BASE + 3 * DAY,
  }),
  parse({
    metrics: ['tool_calls', 'tool_min_ms', 'tool_max_ms', 'tool_avg_ms', 'tool_p99_ms'],
    group_by: ['tool'],
    interval: '1d',
    from: BASE,
    to: BASE + 3 * DAY,
  }),
  parse({
    metrics: ['api_min_ms', 'api_max_ms', 'command_min_ms', 'command_p50_ms', 'sessions'],
    group_by: ['project'],
    from: BASE - DAY + 1,
    to: BASE + 4 * DAY - 1,
  }),
  ...fc.sample(queryArb, { numRuns: 12, seed: 7 }),
];

test('the fixed queries read the team and session cubes, and fold keys from the session and the full cube', () => {
  const paths = new Set(
    FIXED_QUERIES.map((q) => (cubeFor(q) === 'team' ? `team, keys from ${keyCubeFor(q)}` : cubeFor(q))),
  );
  for (const path of ['team, keys from full', 'team, keys from session', 'session']) assert.ok(paths.has(path), path);
});

test('queries asked together count the same events, though more are committed, or rolled up, between their snapshots', async () => {
  const dir = tempDir('am-agg');
  const t = await openTenant(dir.path);
  try {
    await ingest(t, WORKLOAD.first);
    await rollUp(t);
    const byModel = parse({
      metrics: ['events', 'sessions', 'tool_calls', 'cost_usd'],
      group_by: ['model'],
      from: BASE - DAY,
      to: NOW + DAY,
      totals: true,
    });
    const byUser = parse({
      metrics: ['events', 'tool_calls', 'tool_p95_ms'],
      group_by: ['user'],
      from: BASE - DAY,
      to: NOW + DAY,
      totals: true,
    });
    const events = async () =>
      Number(
        (
          await runQuery(t.files, t.tenantId, parse({ metrics: ['events'], from: BASE - DAY, to: NOW + DAY }), {
            now: NOW,
          })
        ).rows[0]!.events,
      );
    const calls = (prefix: string): Ev[] =>
      Array.from({ length: 40 }, (_, i) => ({
        id: `${prefix}${i}`,
        user: 'u_bo',
        kind: 'tool_call',
        ts: BASE + i * MINUTE,
        session_id: `${prefix}s`,
        name: 'Read',
        status: 'success',
        tool_use_id: `${prefix}tu${i}`,
        duration_ms: 10 + i,
      }));
    const [unrolled, more, evenMore] = [calls('unrolled'), calls('more'), calls('evenmore')];
    await ingest(t, unrolled); // a tail above the watermark, which the later snapshot reads up to the first's newest seq

    // Committed after the first snapshot: the second query, in a later one, leaves them out.
    const before = await events();
    const [models, users] = await runQueries(t.files, t.tenantId, [byModel, byUser], {
      now: NOW,
      between: () => ingest(t, more),
    });
    assert.is(models!.totals!.events, before);
    assert.is(users!.totals!.events, before);
    assert.is(users!.totals!.tool_calls, models!.totals!.tool_calls);
    const withMore = await events();
    assert.ok(withMore > before, 'the events were committed');

    // Committed and rolled up in between: the later snapshot's rollups hold them, so both are asked again, together.
    const [models2, users2] = await runQueries(t.files, t.tenantId, [byModel, byUser], {
      now: NOW,
      between: async () => {
        await ingest(t, evenMore);
        await rollUp(t);
      },
    });
    const withEvenMore = await events();
    assert.ok(withEvenMore > withMore, 'the events were committed');
    assert.is(models2!.totals!.events, withEvenMore);
    assert.is(users2!.totals!.events, withEvenMore);
    assert.is(users2!.totals!.tool_calls, models2!.totals!.tool_calls);
  } finally {
    await t.files.closeAll();
    dir.remove();
  }
});

/** The migration that gave sketch bins their bounds (lo, hi): bins stored before have none. */
const BOUNDS_MIGRATION = 11;

for (const [version, cube] of [
  [5, 'team'],
  [7, 'session'],
] as const) {
  test(`migration ${version} fills the ${cube} cube from the full cube with the rows the worker writes (bins without bounds)`, async () => {
    const dir = tempDir('am-agg');
    const t = await openTenant(dir.path);
    try {
      await ingest(t, [...WORKLOAD.first, ...WORKLOAD.second]);
      await rollUp(t);
      const db = await t.files.open(t.tenantId);
      const tables = TIERS.flatMap(
        (tier) =>
          [
            [rollupTable(tier, cube), foldSelect],
            [sketchTable(tier, cube), foldSketchSelect],
          ] as const,
      );
      const folded = async () => {
        const out: Record<string, unknown[]> = {};
        for (const [table, fold] of tables) {
          const rows = await db.all<Record<string, unknown>>(`${fold(table, 'true', cube)} ORDER BY ALL`);
          out[table] = rows.map((r) =>
            Object.fromEntries(
              Object.entries(r)
                .filter(([k]) => k !== 'lo' && k !== 'hi')
                .map(([k, v]) => [k, typeof v === 'number' ? Number(v.toPrecision(12)) : String(v)]),
            ),
          );
        }
        return out;
      };
      const written = await folded();
      assert.ok(
        written[rollupTable('1d', cube)]!.length > 0 && written[sketchTable('1m', cube)]!.length > 0,
        `the worker wrote the ${cube} cube`,
      );
      for (const [table] of tables) await db.run(`DROP TABLE ${table}`);
      await db.run(`DELETE FROM schema_migrations WHERE version IN (${version}, ${BOUNDS_MIGRATION})`);
      assert.equal(await migrate(db, loadMigrations('tenant')), [version, BOUNDS_MIGRATION]);
      assert.equal(await folded(), written);
      const bounded = await db.all<{ n: number }>(
        `SELECT count(*) AS n FROM ${sketchTable('1m', cube)} WHERE lo IS NOT NULL OR hi IS NOT NULL`,
      );
      assert.is(Number(bounded[0]!.n), 0, 'bins filled before they had bounds have none');
    } finally {
      await t.files.closeAll();
      dir.remove();
    }
  });
}

test('the session index spans every stored event, repeats included, and counts the counted; migration 6 widens an older index', async () => {
  const dir = tempDir('am-agg');
  const t = await openTenant(dir.path);
  try {
    const call = (i: number, ts: number, key: string, session: string): Ev => ({
      id: `s${i}`,
      user: 'u_ana',
      kind: 'tool_call',
      ts,
      session_id: session,
      name: 'Bash',
      status: 'success',
      tool_use_id: key,
    });
    // s1: a repeat of tu1 three hours before its first arrival and one of tu2 five hours
    // after; s2: a session of its own, no repeats. The repeats come in a later batch.
    await ingest(t, [call(0, BASE, 'tu1', 's1'), call(1, BASE + HOUR, 'tu2', 's1'), call(2, BASE, 'tu3', 's2')]);
    await rollUp(t);
    await ingest(t, [call(3, BASE - 3 * HOUR, 'tu1', 's1'), call(4, BASE + 6 * HOUR, 'tu2', 's1')]);
    await rollUp(t);
    const index = async () =>
      (
        await sql<{ session_id: string; lo: number; hi: number; events: number }>(
          t,
          'SELECT session_id, epoch_ms(first_ts) AS lo, epoch_ms(last_ts) AS hi, events FROM session_index ORDER BY session_id',
        )
      ).map((r) => ({ ...r, lo: Number(r.lo), hi: Number(r.hi), events: Number(r.events) }));
    const want = [
      { session_id: 's1', lo: BASE - 3 * HOUR, hi: BASE + 6 * HOUR, events: 2 },
      { session_id: 's2', lo: BASE, hi: BASE, events: 1 },
    ];
    assert.equal(await index(), want);
    // The index as the worker kept it before: the counted events' span. Migration 6 widens it.
    const db = await t.files.open(t.tenantId);
    await db.run(
      `UPDATE session_index SET first_ts = make_timestamp(${BASE}::BIGINT * 1000), last_ts = make_timestamp(${BASE + HOUR}::BIGINT * 1000) WHERE session_id = 's1'`,
    );
    await db.run('DELETE FROM schema_migrations WHERE version = 6');
    assert.equal(await migrate(db, loadMigrations('tenant')), [6]);
    assert.equal(await index(), want);
  } finally {
    await t.files.closeAll();
    dir.remove();
  }
});

/** Numbers equal within 1e-9 relative (sums added up in another order), all else identical. */
function assertClose(got: unknown, want: unknown, what: string): void {
  if (typeof got === 'number' && typeof want === 'number') {
    if (!near(got, want, 1e-9)) assert.unreachable(`${what}: ${got}, expected ${want}`);
  } else if (got && want && typeof got === 'object' && typeof want === 'object') {
    assert.equal(Object.keys(got).sort(), Object.keys(want).sort(), `${what}: the same keys`);
    for (const k of Object.keys(got))
      assertClose((got as Record<string, unknown>)[k], (want as Record<string, unknown>)[k], `${what}.${k}`);
  } else assert.equal(got, want, what);
}

test("stored session figures are the query model's answer over the session's span; lists, pages and scores read the same with them as without", async () => {
  const dir = tempDir('am-agg');
  const seen = { runs: 0, stored: 0, asked: 0 };
  try {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        seen.runs++;
        const t = await openTenant(dir.path, { chunk: scenario.chunk });
        try {
          const { first, second } = eventsOf(scenario);
          await ingest(t, first);
          await rollUp(t);
          await ingest(t, second);
          if (scenario.runAgain !== 'no') await rollUp(t);
          const counted = countedEvents([...first, ...second]);
          // A session is a user's: the generated users share session ids, and each has their own session.
          const keysOf = async (where: string) =>
            (
              await sql<{ user_id: string; session_id: string }>(
                t,
                `SELECT DISTINCT user_id, session_id FROM ${where} ORDER BY user_id, session_id`,
              )
            ).map((r) => ({ user_id: r.user_id, session_id: r.session_id }));
          const name = (k: SessionKey) => `${k.user_id}/${k.session_id}`;
          const keys = await keysOf('events WHERE session_id IS NOT NULL');
          const indexed = new Set((await keysOf('session_index')).map(name));
          const tail = new Set(
            (await keysOf('events WHERE seq > (SELECT last_seq FROM rollup_state) AND session_id IS NOT NULL')).map(
              name,
            ),
          );
          const read = async () => {
            const spans = await Promise.all(keys.map(async (k) => (await sessionSpan(t.files, t.tenantId, k))!));
            return {
              spans,
              totals: await Promise.all(
                keys.map((k, i) => sessionTotals(t.files, t.tenantId, k, spans[i]!, SESSION_FIGURES, NOW)),
              ),
              list: await listSessions(t.files, t.tenantId, { from: BASE - 2 * DAY, to: NOW, limit: 50, now: NOW }),
              scores: await productivity(t.files, t.tenantId, { from: BASE + DAY, to: NOW }, {}, NOW),
            };
          };
          const withStored = await read();
          for (const [i, key] of keys.entries()) {
            const span = withStored.spans[i]!;
            const id = name(key);
            // Every indexed session is quiet at NOW: its figures are stored, and read unless events of it are in the tail.
            assert.is(
              span.figures !== null,
              indexed.has(id) && !tail.has(id),
              `${id}: stored figures read exactly when they are the whole story`,
            );
            seen[span.figures ? 'stored' : 'asked']++;
            const q = parse({
              metrics: [...SESSION_FIGURES],
              filters: { user: [key.user_id], session: [key.session_id] },
              from: span.first,
              to: span.last + 1,
            });
            const answer = keyed(q, [withStored.totals[i]! as Record<string, number | null>]);
            assertSameAnswer(
              answer,
              keyed(q, (await runQuery(t.files, t.tenantId, q, { now: NOW })).rows),
              `${id}: as the query model answers`,
            );
            assertMatchesReference(answer, reference(counted, q), `${id}: as a count made in JS`);
          }
          await (await t.files.connection(t.tenantId, 'worker')).run('DELETE FROM session_figures');
          const without = await read();
          assertClose(
            { ...withStored, spans: withStored.spans.map((s) => ({ ...s, figures: null })) },
            without,
            'with stored figures and without',
          );
        } finally {
          await t.files.remove(t.tenantId);
        }
      }),
      { numRuns: Math.ceil(Number(process.env.AGG_RUNS ?? 30) / 3), seed: Number(process.env.AGG_SEED ?? 20261205) },
    );
  } finally {
    dir.remove();
  }
  assert.ok(seen.stored > 0 && seen.asked > 0, `both paths were taken: ${JSON.stringify(seen)}`);
});

test("a session's figures are stored once it has been quiet, forgotten when an event of it is rolled up, and deleted with its index row", async () => {
  const dir = tempDir('am-agg');
  let clock = BASE;
  const t = await openTenant(dir.path, { clock: () => clock });
  try {
    const call = (i: number, ts: number, session: string): Ev => ({
      id: `q${i}`,
      user: 'u_ana',
      kind: 'tool_call',
      ts,
      session_id: session,
      name: 'Bash',
      status: 'success',
      duration_ms: 10 * (i + 1),
      tool_use_id: `tq${i}`,
    });
    const stored = async (ids = `'s1', 's2'`) =>
      (
        await sql<{ session_id: string; tool_calls: number }>(
          t,
          `SELECT session_id, tool_calls FROM session_figures WHERE session_id IN (${ids}) ORDER BY session_id`,
        )
      ).map((r) => [r.session_id, r.tool_calls]);
    const totals = async (id: string) => {
      const key = { user_id: 'u_ana', session_id: id };
      const span = (await sessionSpan(t.files, t.tenantId, key))!;
      return {
        stored: span.figures !== null,
        ...(await sessionTotals(t.files, t.tenantId, key, span, ['tool_calls'], clock)),
      };
    };
    // "old" is four years before the rest. "long" spans four years: longer than anyone may
    // ask a question about, and stored all the same (a session's figures never depend on that limit).
    const years = 4 * 366 * DAY;
    const file = await t.files.open(t.tenantId);
    await saveSetting(file, file, 'retention', {
      raw: null,
      '1m': null,
      '5m': null,
      '15m': null,
      '1h': null,
      '1d': null,
    });
    await ingest(t, [
      call(0, BASE, 's1'),
      call(1, BASE + MINUTE, 's1'),
      call(2, BASE, 's2'),
      call(5, BASE - years, 'old'),
      call(6, BASE - years, 'long'),
      call(7, BASE, 'long'),
    ]);
    clock = BASE + MINUTE + QUIET_MS - 1;
    await rollUp(t);
    assert.equal(await stored(), [['s2', 1]], 's1 had an event less than QUIET_MS ago');
    assert.equal(await stored(`'old', 'long'`), [
      ['long', 2],
      ['old', 1],
    ]);
    assert.equal(await totals('long'), { stored: true, tool_calls: 2 });
    assert.equal(await totals('s1'), { stored: false, tool_calls: 2 }, 'asked of the query model meanwhile');
    // With no new events the worker looks for quiet sessions every 30 s.
    clock += 29_999;
    await rollUp(t);
    assert.equal(await stored(), [['s2', 1]], 'not looked for yet');
    clock += 1;
    await rollUp(t);
    assert.equal(await stored(), [
      ['s1', 2],
      ['s2', 1],
    ]);
    assert.equal(await totals('s1'), { stored: true, tool_calls: 2 });

    // A late event of s1 (an import, say): not read from the stored figures while it is in
    // the tail; rolled up, it replaces them (s1 is still quiet: its last event is old).
    await ingest(t, [call(3, BASE + 30_000, 's1')]);
    assert.equal(await totals('s1'), { stored: false, tool_calls: 3 });
    await rollUp(t);
    assert.equal(await stored(), [
      ['s1', 3],
      ['s2', 1],
    ]);

    // A new event of s2: the pass that rolls it up forgets s2's figures, until s2 is quiet again.
    clock = BASE + 2 * HOUR;
    await ingest(t, [call(4, clock - 1000, 's2')]);
    await rollUp(t);
    assert.equal(await stored(), [['s1', 3]]);
    assert.equal(await totals('s2'), { stored: false, tool_calls: 2 });
    clock += QUIET_MS;
    await rollUp(t);
    assert.equal(await stored(), [
      ['s1', 3],
      ['s2', 2],
    ]);

    // A session retention takes off the list takes its figures and its score along.
    const scored = async () =>
      (
        await sql<{ session_id: string }>(
          t,
          `SELECT session_id FROM session_scores WHERE session_id IN ('s1', 's2') ORDER BY session_id`,
        )
      ).map((r) => r.session_id);
    assert.equal(await scored(), ['s1', 's2']);
    await applyRetention(
      await t.files.connection(t.tenantId, 'worker'),
      { ...DEFAULT_RETENTION, '1h': 1 },
      BASE + DAY + HOUR,
      {},
      sessionSteps,
    );
    assert.equal(await stored(), [['s2', 2]]);
    assert.equal(await scored(), ['s2']);
  } finally {
    await t.files.closeAll();
    dir.remove();
  }
});

test('late events land in their own old buckets on the next pass', async () => {
  const dir = tempDir('am-agg');
  const t = await openTenant(dir.path);
  try {
    const today = BASE + 3 * DAY;
    const tool = (i: number, ts: number, extra: Partial<Ev> = {}): Ev => ({
      id: `x${i}`,
      user: 'u_ana',
      kind: 'tool_call',
      ts,
      session_id: 's1',
      name: 'Bash',
      status: 'success',
      duration_ms: 10 + i,
      tool_use_id: `tu${i}`,
      ...extra,
    });
    const recent = [0, 1, 2, 3, 4, 5].map((i) => tool(i, today + 5 * HOUR + i * 7_000));
    await ingest(t, recent);
    await rollUp(t);
    // Three days late: four calls (one failed) at 13:00:17 on the first day, and a late
    // second report of today's first call, which must not count again.
    const late = [
      ...[10, 11, 12, 13].map((i) => tool(i, BASE + 13 * HOUR + 17_000 + i, i === 12 ? { status: 'failure' } : {})),
      tool(14, today + 5 * HOUR + 1_000, { tool_use_id: 'tu0', duration_ms: 99_999 }),
    ];
    await ingest(t, late);
    const all = [...recent, ...late];
    const daily = parse({
      metrics: ['tool_calls', 'tool_failures', 'tool_max_ms'],
      interval: '1d',
      from: BASE,
      to: BASE + 4 * DAY,
    });
    const hourly = parse({ metrics: ['tool_calls'], interval: '1h', from: BASE, to: BASE + DAY });
    await check(t, all, daily, recent.length); // before the pass: read from the tail
    await rollUp(t);
    assert.equal((await t.aggregator.lag())[0]!.pendingEvents, 0);
    const days = await check(t, all, daily);
    assert.equal(days.get(JSON.stringify([iso(BASE)])), { tool_calls: 4, tool_failures: 1, tool_max_ms: 23 });
    assert.equal(days.get(JSON.stringify([iso(today)])), { tool_calls: 6, tool_failures: 0, tool_max_ms: 15 });
    const hours = await check(t, all, hourly);
    assert.equal([...hours], [[JSON.stringify([iso(BASE + 13 * HOUR)]), { tool_calls: 4 }]]);
    const stored = await sql<{ n: number }>(
      t,
      `SELECT sum(n) AS n FROM rollup_1d WHERE bucket = TIMESTAMP '${iso(BASE).slice(0, 10)}'`,
    );
    assert.equal(stored[0]!.n, 4, 'the day tier holds the late events in their own day');
  } finally {
    await t.files.closeAll();
    dir.remove();
  }
});

test('after a restart a new worker catches up from the stored watermark', async () => {
  const dir = tempDir('am-agg');
  const { first, second } = WORKLOAD;
  const before = await openTenant(dir.path);
  await ingest(before, first);
  await rollUp(before);
  await ingest(before, second);
  const unrolled = `SELECT count(*) AS n FROM events WHERE seq > (SELECT last_seq FROM rollup_state)`;
  assert.is((await sql<{ n: number }>(before, unrolled))[0]!.n, second.length - retriesOf(first, second));
  await before.files.closeAll();

  const after = await openTenant(dir.path, { tenantId: before.tenantId });
  try {
    const pending = (await after.aggregator.lag())[0]!;
    assert.equal(pending.lastError, null);
    assert.is(
      pending.pendingEvents,
      (await sql<{ n: number }>(after, unrolled))[0]!.n,
      'the second batch waits for the new worker',
    );
    await rollUp(after);
    const lag = (await after.aggregator.lag())[0]!;
    assert.equal(
      { pending: lag.pendingEvents, lagSeconds: lag.lagSeconds, error: lag.lastError },
      { pending: 0, lagSeconds: 0, error: null },
    );
    const maxSeq = (await sql<{ s: number }>(after, 'SELECT max(seq) AS s FROM events'))[0]!.s;
    assert.is(lag.lastSeq, maxSeq);
    for (const q of FIXED_QUERIES) await check(after, [...first, ...second], q);
  } finally {
    await after.files.closeAll();
    dir.remove();
  }
});

/** How many of `second` are retries of events already stored (they get no seq). */
function retriesOf(first: Ev[], second: Ev[]): number {
  const seen = new Set(first.map((e) => `${e.user}/${e.kind}/${e.id}`));
  let n = 0;
  for (const e of second) {
    const id = `${e.user}/${e.kind}/${e.id}`;
    if (seen.has(id)) n++;
    seen.add(id);
  }
  return n;
}

/** Every transaction foldPacker makes of `tables`, as compact() folds them. */
function foldBatches(tables: TableBuckets[], maxRows: number): FoldPiece[][] {
  const packer = foldPacker(maxRows);
  return [...tables.flatMap((t) => packer.add(t)), ...packer.end()];
}

test('compaction cuts the buckets into transactions of at most so many rows, never a bucket in two', () => {
  const b = (...rows: number[]) => rows.map((n, i) => ({ at: 100 + i * 10, rows: n }));
  const cases: { name: string; tables: Parameters<typeof foldBatches>[0]; max: number; want: FoldPiece[][] }[] = [
    { name: 'nothing to fold', tables: [{ table: 'a', from: 0, buckets: [] }], max: 10, want: [] },
    {
      name: 'small tables share one transaction, each to no end',
      tables: [
        { table: 'a', from: 0, buckets: b(2, 3) },
        { table: 'b', from: 60, buckets: [] },
        { table: 'c', from: 50, buckets: b(4) },
      ],
      max: 10,
      want: [
        [
          { table: 'a', from: 0, to: null },
          { table: 'c', from: 50, to: null },
        ],
      ],
    },
    {
      name: 'a table cut between buckets',
      tables: [{ table: 'a', from: 0, buckets: b(4, 4, 4, 4, 4) }],
      max: 10,
      want: [
        [{ table: 'a', from: 0, to: 120 }],
        [{ table: 'a', from: 120, to: 140 }],
        [{ table: 'a', from: 140, to: null }],
      ],
    },
    {
      name: 'a bucket larger than the bound goes alone',
      tables: [{ table: 'a', from: 0, buckets: b(1, 25, 1) }],
      max: 10,
      want: [
        [{ table: 'a', from: 0, to: 110 }],
        [{ table: 'a', from: 110, to: 120 }],
        [{ table: 'a', from: 120, to: null }],
      ],
    },
    {
      name: 'the next table starts a new transaction when the first is full, with no empty piece',
      tables: [
        { table: 'a', from: 0, buckets: b(9) },
        { table: 'b', from: 0, buckets: b(5, 5) },
      ],
      max: 10,
      want: [[{ table: 'a', from: 0, to: null }], [{ table: 'b', from: 0, to: null }]],
    },
    {
      name: 'the next table fills what is left',
      tables: [
        { table: 'a', from: 0, buckets: b(4) },
        { table: 'b', from: 0, buckets: b(5, 5) },
      ],
      max: 10,
      want: [
        [
          { table: 'a', from: 0, to: null },
          { table: 'b', from: 0, to: 110 },
        ],
        [{ table: 'b', from: 110, to: null }],
      ],
    },
  ];
  for (const c of cases) assert.equal(foldBatches(c.tables, c.max), c.want, c.name);
});

test('a compaction stopped after each transaction goes on from its cursor and folds as the whole did', async () => {
  const dir = tempDir('am-agg');
  const t = await openTenant(dir.path);
  try {
    // The same events under new ids, in three passes: every key written several times.
    const { first } = WORKLOAD;
    const thirds = [0, 1, 2].map((i) =>
      first.slice((i * first.length) / 3, ((i + 1) * first.length) / 3).map((e) => ({ ...e, id: `x-${e.id}` })),
    );
    for (const part of [first, ...thirds]) {
      await ingest(t, part);
      await rollUp(t);
    }
    const ingested = [...first, ...thirds.flat()];
    const answers = [];
    for (const q of FIXED_QUERIES) answers.push(await check(t, ingested, q));
    const before = await rowCounts(t);
    const db = await t.files.connection(t.tenantId, 'worker');
    const since = Math.min(...ingested.map((e) => e.ts));
    const cursors: FoldCursor[] = [];
    let calls = 0;
    let cursor: FoldCursor | null = null;
    for (let done = false; !done; calls++) {
      done = await compact(db, since, 7, {
        from: cursor,
        folded: (next) => cursors.push((cursor = next)),
        stop: () => true,
      });
      if (calls > 10_000) assert.unreachable('compaction never ended');
    }
    assert.ok(calls > 10, `stopped and went on many times (${calls} calls)`);
    for (const [i, c] of cursors.entries())
      if (i > 0) {
        const p = cursors[i - 1]!;
        assert.ok(c.table > p.table || (c.table === p.table && c.from > p.from), 'the cursor only moves forward');
      }
    assert.ok(
      cursors.some((c) => Number.isFinite(c.from)),
      'some transactions ended inside a table: the cursor went on from a bucket',
    );
    const after = await rowCounts(t);
    assert.ok(after.rollup_1d! < before.rollup_1d!, 'repeated keys were folded');
    for (const table of ROLLUP_TABLES) {
      const [counted] = await sql<{ n: number; k: number }>(
        t,
        `SELECT count(*) AS n, count(DISTINCT (${table.keys.join(', ')})) AS k FROM ${table.name}`,
      );
      assert.is(counted!.n, counted!.k, `${table.name}: one row per key`);
    }
    for (const [i, q] of FIXED_QUERIES.entries())
      assertSameAnswer(await check(t, ingested, q), answers[i]!, 'compaction in steps changed no answer');
  } finally {
    await t.files.closeAll();
    dir.remove();
  }
});

test('each pass starts at the watermark; compaction folds repeated keys without changing answers', async () => {
  const dir = tempDir('am-agg');
  // Compaction in transactions of 7 rows: the pieces fold as the whole did.
  const t = await openTenant(dir.path, { foldRows: 7 });
  try {
    const { first, second } = WORKLOAD;
    await ingest(t, first);
    await rollUp(t);
    const seqAfterFirst = await lastSeq(t);
    assert.is(seqAfterFirst, (await sql<{ s: number }>(t, 'SELECT max(seq) AS s FROM events'))[0]!.s);
    const rows = await rowCounts(t);
    await rollUp(t);
    assert.equal(await rowCounts(t), rows, 'nothing new: no rows written');
    assert.is(await lastSeq(t), seqAfterFirst);

    // The same events once more under new ids (slower), in three passes: every key of the day tier is written again.
    const again = first.map((e) => ({
      ...e,
      id: `again-${e.id}`,
      request_id: undefined,
      tool_use_id: e.tool_use_id && `again-${e.tool_use_id}`,
      duration_ms: e.duration_ms && e.duration_ms * 3 + 1,
    }));
    const thirds = [
      again.slice(0, again.length / 3),
      again.slice(again.length / 3, (2 * again.length) / 3),
      again.slice((2 * again.length) / 3),
    ];
    for (const part of thirds) {
      await ingest(t, part);
      await rollUp(t);
    }
    await ingest(t, second);
    await rollUp(t);
    assert.ok((await lastSeq(t)) > seqAfterFirst, 'the watermark moved on');
    const ingested = [...first, ...again, ...second];
    const distinctKeys = `SELECT count(*) AS n FROM (SELECT DISTINCT bucket, user_id, project, session_id, kind, name, model, status FROM rollup_1d)`;
    const teamKeys = `SELECT count(*) AS n FROM (SELECT DISTINCT bucket, kind, name, model, status FROM team_1d)`;
    const [beforeRows, keys] = [(await rowCounts(t)).rollup_1d!, (await sql<{ n: number }>(t, distinctKeys))[0]!.n];
    const [beforeTeam, teamKeyCount] = [(await rowCounts(t)).team_1d!, (await sql<{ n: number }>(t, teamKeys))[0]!.n];
    assert.ok(beforeRows > keys, `several passes wrote the same keys (${beforeRows} rows, ${keys} keys)`);
    assert.ok(
      beforeTeam > teamKeyCount,
      `several passes wrote the same team keys (${beforeTeam} rows, ${teamKeyCount} keys)`,
    );
    const answers = [];
    for (const q of FIXED_QUERIES) answers.push(await check(t, ingested, q));

    await t.aggregator.runOnce(undefined, { compact: true });
    assert.equal(t.errors, []);
    assert.is((await rowCounts(t)).rollup_1d, keys, 'one row per key after compaction');
    assert.is((await rowCounts(t)).team_1d, teamKeyCount, 'one row per team key after compaction');
    assert.is((await sql<{ n: number }>(t, distinctKeys))[0]!.n, keys);
    for (const [i, q] of FIXED_QUERIES.entries())
      assertSameAnswer(await check(t, ingested, q), answers[i]!, 'compaction changed no answer');
  } finally {
    await t.files.closeAll();
    dir.remove();
  }
});

test('retention deletes rolled-up raw events and tier rows past their days; the day tier keeps all', async () => {
  const dir = tempDir('am-agg');
  const t = await openTenant(dir.path);
  try {
    const retention: Retention = { raw: 2, '1m': 3, '5m': 3, '15m': 6, '1h': 12, '1d': null };
    const file = await t.files.open(t.tenantId);
    await saveSetting(file, file, 'retention', retention);
    const ages = [0.2, 1.5, 2.5, 3.5, 5, 8, 15, 40, 400];
    const call = (id: string, user: string, ts: number): Ev => ({
      id,
      user,
      kind: 'tool_call',
      ts,
      session_id: 's1',
      name: 'Read',
      status: 'success',
      duration_ms: 42,
      tool_use_id: id,
    });
    const events = ages.map((d, i) => call(`old${i}`, 'u_ana', NOW - Math.round(d * DAY) + 1_234));
    await ingest(t, events);
    await rollUp(t, { retention: true });

    const rawLeft = await sql<{ ts: number }>(t, 'SELECT epoch_ms(ts) AS ts FROM events ORDER BY ts');
    assert.equal(
      rawLeft.map((r) => r.ts),
      events
        .map((e) => e.ts)
        .filter((ts) => ts >= NOW - 2 * DAY)
        .sort((a, b) => a - b),
      'raw keeps two days',
    );
    for (const tier of TIERS) {
      const days = retention[tier];
      const keptFrom = days === null ? -Infinity : floorTo(NOW - days * DAY, TIER_MS[tier]);
      const expected = events.filter((e) => floorTo(e.ts, TIER_MS[tier]) >= keptFrom).length;
      for (const cube of CUBES) {
        const [{ n }] = (await sql<{ n: number | null }>(t, `SELECT sum(n) AS n FROM ${rollupTable(tier, cube)}`)) as [
          { n: number | null },
        ];
        assert.is(n ?? 0, expected, `${rollupTable(tier, cube)} keeps ${days ?? 'all'} days`);
        const [{ n: binned }] = (await sql<{ n: number | null }>(
          t,
          `SELECT count(*) AS n FROM ${sketchTable(tier, cube)} WHERE bucket < epoch_ms(${keptFrom === -Infinity ? 0 : keptFrom})`,
        )) as [{ n: number | null }];
        assert.is(binned, 0, `${sketchTable(tier, cube)} is trimmed too`);
      }
    }
    assert.is((await rowCounts(t)).rollup_1d, ages.length, 'the day tier keeps every day');

    // Whole days answer from the day tier, though their raw events are gone.
    const today = floorTo(NOW, DAY);
    const history = parse({ metrics: ['tool_calls'], from: today - 500 * DAY, to: today });
    const fromTiers = await runQuery(t.files, t.tenantId, history, { now: NOW });
    assert.equal(fromTiers.rows, [{ tool_calls: events.filter((e) => e.ts < today).length }]);
    const fromRaw = await runQuery(t.files, t.tenantId, history, { now: NOW, raw: true });
    assert.equal(fromRaw.rows, [{ tool_calls: events.filter((e) => e.ts < today && e.ts >= NOW - 2 * DAY).length }]);
    // A session's figures with durations come from raw events only while retention keeps all of the range's.
    const session = (from: number) =>
      runQuery(
        t.files,
        t.tenantId,
        parse({ metrics: ['tool_calls', 'tool_p50_ms'], filters: { session: ['s1'] }, from, to: today }),
        { now: NOW },
      );
    assert.is(
      (await session(today - 500 * DAY)).rows[0]!.tool_calls,
      events.filter((e) => e.ts < today).length,
      'past raw retention: the tiers',
    );
    assert.is(
      (await session(NOW - 2 * DAY)).rows[0]!.tool_calls,
      events.filter((e) => e.ts < today && e.ts >= NOW - 2 * DAY).length,
      'within it: raw events',
    );

    // An old event the worker has not rolled up yet is not deleted...
    const straggler = call('late', 'u_bo', NOW - 30 * DAY);
    await ingest(t, [straggler]);
    await applyRetention(await t.files.connection(t.tenantId, 'worker'), retention, NOW, {}, sessionSteps);
    assert.equal(
      (await sql<{ id: number }>(t, `SELECT count(*) AS id FROM events WHERE user_id = 'u_bo'`))[0]!.id,
      1,
      'unrolled events are kept',
    );
    // ...until it is in the tiers.
    await rollUp(t, { retention: true });
    assert.equal(
      (await sql<{ id: number }>(t, `SELECT count(*) AS id FROM events WHERE user_id = 'u_bo'`))[0]!.id,
      0,
      'rolled up, then deleted',
    );
    assert.equal((await runQuery(t.files, t.tenantId, history, { now: NOW })).rows, [
      { tool_calls: events.filter((e) => e.ts < today).length + 1 },
    ]);
    const lag = (await t.aggregator.lag())[0]!;
    assert.equal(
      { pending: lag.pendingEvents, error: lag.lastError },
      { pending: 0, error: null },
      'lag reads after retention removed the newest event',
    );
  } finally {
    await t.files.closeAll();
    dir.remove();
  }
});

test('events ingested after a restart are rolled up even when retention removed the newest event', async () => {
  const dir = tempDir('am-agg');
  const t = await openTenant(dir.path);
  const file = await t.files.open(t.tenantId);
  await saveSetting(file, file, 'retention', { raw: 7 });
  // A backfill of old events is the newest thing ingested; retention then deletes it.
  await ingest(t, [
    { id: 'a', user: 'u_ana', kind: 'prompt', ts: NOW - DAY, session_id: 's1' },
    { id: 'b', user: 'u_ana', kind: 'prompt', ts: NOW - 30 * DAY, session_id: 's1' },
  ]);
  await rollUp(t, { retention: true });
  await t.files.closeAll();

  const again = await openTenant(dir.path, { tenantId: t.tenantId });
  try {
    await ingest(again, [{ id: 'c', user: 'u_ana', kind: 'prompt', ts: NOW - HOUR, session_id: 's1' }]);
    await rollUp(again);
    const q = parse({ metrics: ['prompts'], from: NOW - 3 * DAY, to: NOW });
    const raw = await runQuery(again.files, again.tenantId, q, { now: NOW, raw: true });
    assert.equal(raw.rows, [{ prompts: 2 }]);
    assert.equal(
      (await runQuery(again.files, again.tenantId, q, { now: NOW })).rows,
      raw.rows,
      'the new event is counted',
    );
  } finally {
    await again.files.closeAll();
    dir.remove();
  }
});

test("lengthening a tier's retention does not make queries read the buckets it already deleted", async () => {
  const dir = tempDir('am-agg');
  const t = await openTenant(dir.path);
  try {
    const file = await t.files.open(t.tenantId);
    await saveSetting(file, file, 'retention', { '1m': 3, '5m': 3 });
    const minute = NOW - 10 * DAY + 61 * MINUTE; // 01:01, ten days ago: an edge the 1m tier would serve
    await ingest(t, [{ id: 'p', user: 'u_ana', kind: 'prompt', ts: minute + 5_000, session_id: 's1' }]);
    await rollUp(t, { retention: true }); // the 1m and 5m rows of ten days ago are deleted; raw events stay 90 days
    await saveSetting(file, file, 'retention', { '1m': 30, '5m': 30 });
    const q = parse({ metrics: ['prompts'], from: minute, to: minute + MINUTE });
    const raw = await runQuery(t.files, t.tenantId, q, { now: NOW, raw: true });
    assert.equal(raw.rows, [{ prompts: 1 }]);
    assert.equal((await runQuery(t.files, t.tenantId, q, { now: NOW })).rows, raw.rows);
  } finally {
    await t.files.closeAll();
    dir.remove();
  }
});

test('a model first seen after the last pass is priced in current answers', async () => {
  const dir = tempDir('am-agg');
  const t = await openTenant(dir.path);
  try {
    await ingest(t, [
      {
        id: 'r1',
        user: 'u_ana',
        kind: 'api_request',
        ts: NOW - HOUR,
        session_id: 's1',
        request_id: 'r1',
        model: 'claude-sonnet-4-5',
        input_tokens: 1_000_000,
      },
    ]);
    const q = parse({ metrics: ['cost_usd'], from: NOW - DAY, to: NOW });
    const expected = priceOf('claude-sonnet-4-5').input; // a million input tokens
    assert.equal(
      (await runQuery(t.files, t.tenantId, q, { now: NOW })).rows,
      [{ cost_usd: expected }],
      'priced before the worker ran',
    );
    await rollUp(t);
    assert.equal(
      (await runQuery(t.files, t.tenantId, q, { now: NOW })).rows,
      [{ cost_usd: expected }],
      'priced after the worker ran',
    );
  } finally {
    await t.files.closeAll();
    dir.remove();
  }
});

test('a repeated request or tool call counts once inside a range read from raw events, before and after the worker ran', async () => {
  const dir = tempDir('am-agg');
  const t = await openTenant(dir.path);
  try {
    const at = floorTo(NOW - HOUR, MINUTE) + 10_000;
    const first: Ev[] = [
      {
        id: 'a1',
        user: 'u_ana',
        kind: 'api_request',
        ts: at,
        session_id: 's1',
        request_id: 'r1',
        model: 'claude-sonnet-4-5',
        input_tokens: 100,
        cost_usd: 1,
      },
      {
        id: 't1',
        user: 'u_ana',
        kind: 'tool_call',
        ts: at + 1000,
        session_id: 's1',
        tool_use_id: 'tu1',
        name: 'Bash',
        status: 'success',
        duration_ms: 5,
      },
    ];
    // The same request and tool call again (another source), and a second request.
    const again: Ev[] = [
      {
        id: 'a2',
        user: 'u_ana',
        kind: 'api_request',
        ts: at + 2000,
        session_id: 's1',
        request_id: 'r1',
        model: 'claude-sonnet-4-5',
        input_tokens: 100,
        cost_usd: 1,
      },
      {
        id: 't2',
        user: 'u_ana',
        kind: 'tool_call',
        ts: at + 3000,
        session_id: 's1',
        tool_use_id: 'tu1',
        name: 'Bash',
        status: 'success',
        duration_ms: 5,
      },
      {
        id: 'a3',
        user: 'u_ana',
        kind: 'api_request',
        ts: at + 4000,
        session_id: 's1',
        request_id: 'r2',
        model: 'claude-sonnet-4-5',
        input_tokens: 100,
        cost_usd: 1,
      },
    ];
    // Under a minute: every segment is read from raw events.
    const q = parse({
      metrics: ['api_requests', 'tool_calls', 'input_tokens', 'cost_usd', 'tool_p50_ms'],
      from: at - 5000,
      to: at + 40_000,
    });
    assert.ok(cover(q.from, q.to, TIERS).every((s) => s.source === 'raw'));
    const expected = [{ api_requests: 2, tool_calls: 1, input_tokens: 200, cost_usd: 2 }];
    const answer = async () =>
      (await runQuery(t.files, t.tenantId, q, { now: NOW })).rows.map(({ tool_p50_ms: _p, ...r }) => r);
    await ingest(t, first);
    await rollUp(t);
    await ingest(t, again);
    assert.equal(await answer(), expected, 'repeats in the unrolled tail of rolled-up events');
    await rollUp(t);
    assert.equal(await answer(), expected, 'everything rolled up');
    assert.equal(
      (await sql<{ n: number }>(t, 'SELECT count(*) AS n FROM uncounted_events'))[0]!.n,
      2,
      'the worker recorded both repeats',
    );
    assert.equal(
      (await runQuery(t.files, t.tenantId, q, { now: NOW, raw: true })).rows.map(({ tool_p50_ms: _p, ...r }) => r),
      expected,
      'asked raw',
    );
  } finally {
    await t.files.closeAll();
    dir.remove();
  }
});

test('answers carry 12 significant digits, not the last bits of a floating-point sum', async () => {
  const dir = tempDir('am-agg');
  const t = await openTenant(dir.path);
  try {
    await ingest(
      t,
      [0.1, 0.2].map((cost, i) => ({
        id: `c${i}`,
        user: 'u_ana',
        kind: 'api_request' as const,
        ts: NOW - HOUR + i,
        session_id: 's1',
        request_id: `c${i}`,
        model: 'claude-sonnet-4-5',
        cost_usd: cost,
      })),
    );
    const q = parse({ metrics: ['cost_usd'], from: NOW - DAY, to: NOW });
    assert.equal(
      (await runQuery(t.files, t.tenantId, q, { now: NOW })).rows,
      [{ cost_usd: 0.3 }],
      'not 0.30000000000000004',
    );
  } finally {
    await t.files.closeAll();
    dir.remove();
  }
});

// ---------------------------------------------------------------------------------------
// Validation

function issuesOf(input: unknown): { path: PropertyKey[]; message: string }[] {
  const result = querySchema.safeParse(input);
  assert.not.ok(result.success, 'refused');
  return result.error!.issues.map((i) => ({ path: i.path, message: i.message }));
}

test('queries are refused with the path of what is wrong', () => {
  const range = { from: BASE, to: BASE + DAY };
  assert.equal(
    issuesOf({ metrics: ['events', 'vibes'], ...range }).map((i) => i.path),
    [['metrics', 1]],
  );
  assert.equal(
    issuesOf({ metrics: ['events'], from: BASE, to: BASE }).map((i) => i.path),
    [['from']],
  );
  assert.equal(
    issuesOf({ metrics: ['events'], from: BASE + 1, to: BASE }).map((i) => i.path),
    [['from']],
  );
  assert.equal(
    issuesOf({ metrics: ['events'], from: BASE, to: BASE + (MAX_POINTS + 1) * MINUTE, interval: '1m' }).map(
      (i) => i.path,
    ),
    [['interval']],
  );
  assert.ok(
    querySchema.safeParse({ metrics: ['events'], from: BASE, to: BASE + MAX_POINTS * MINUTE, interval: '1m' }).success,
    'exactly the maximum of points',
  );
  const tool = issuesOf({ metrics: ['tool_calls', 'cost_usd'], group_by: ['tool'], ...range });
  assert.equal(
    tool.map((i) => i.path),
    [['group_by', 'tool']],
  );
  assert.match(tool[0]!.message, /cost_usd/);
  assert.equal(
    issuesOf({ metrics: ['tokens'], filters: { tool: ['Bash'] }, ...range }).map((i) => i.path),
    [['filters', 'tool']],
  );
  assert.ok(
    querySchema.safeParse({ metrics: ['tool_calls', 'tool_p95_ms', 'events'], group_by: ['tool'], ...range }).success,
    'tool metrics by tool',
  );
});

// ---------------------------------------------------------------------------------------
// cover()

const seg = (source: Tier | 'raw', from: number, to: number): Segment => ({ source, from, to });

test('cover: whole days are one day-tier segment', () => {
  assert.equal(cover(BASE, BASE + 2 * DAY, TIERS), [seg('1d', BASE, BASE + 2 * DAY)]);
  assert.equal(
    cover(BASE, BASE + 2 * DAY, ['1m', '5m', '15m', '1h']),
    [seg('1h', BASE, BASE + 2 * DAY)],
    'an hourly series may not use days',
  );
});

test('cover: unaligned edges go to finer tiers and, under a minute, to raw events', () => {
  const from = BASE + HOUR + 7 * MINUTE + 30_005;
  const to = BASE + 2 * DAY + 2 * HOUR + 16 * MINUTE + 10_000;
  const D2 = BASE + 2 * DAY;
  assert.equal(cover(from, to, TIERS), [
    seg('raw', from, BASE + HOUR + 8 * MINUTE),
    seg('1m', BASE + HOUR + 8 * MINUTE, BASE + HOUR + 10 * MINUTE),
    seg('5m', BASE + HOUR + 10 * MINUTE, BASE + HOUR + 15 * MINUTE),
    seg('15m', BASE + HOUR + 15 * MINUTE, BASE + 2 * HOUR),
    seg('1h', BASE + 2 * HOUR, BASE + DAY),
    seg('1d', BASE + DAY, D2),
    seg('1h', D2, D2 + 2 * HOUR),
    seg('15m', D2 + 2 * HOUR, D2 + 2 * HOUR + 15 * MINUTE),
    seg('1m', D2 + 2 * HOUR + 15 * MINUTE, D2 + 2 * HOUR + 16 * MINUTE),
    seg('raw', D2 + 2 * HOUR + 16 * MINUTE, to),
  ]);
  assert.equal(
    cover(BASE + 5, BASE + 59_000, TIERS),
    [seg('raw', BASE + 5, BASE + 59_000)],
    'under a minute: raw only',
  );
});

test('cover: what a tier no longer keeps is read from finer tiers or raw events', () => {
  assert.equal(cover(BASE, BASE + 2 * DAY, TIERS, { '1d': BASE + DAY }), [
    seg('1h', BASE, BASE + DAY),
    seg('1d', BASE + DAY, BASE + 2 * DAY),
  ]);
  assert.equal(
    cover(BASE, BASE + 2 * DAY, TIERS, { '1d': BASE + DAY, '1h': BASE + 12 * HOUR + 1 }),
    [
      seg('15m', BASE, BASE + 13 * HOUR),
      seg('1h', BASE + 13 * HOUR, BASE + DAY),
      seg('1d', BASE + DAY, BASE + 2 * DAY),
    ],
    'a cut-off inside a bucket skips that bucket',
  );
  const gone = Object.fromEntries(TIERS.map((tier) => [tier, BASE + 3 * DAY]));
  assert.equal(cover(BASE, BASE + 2 * DAY, TIERS, gone), [seg('raw', BASE, BASE + 2 * DAY)]);
});

test('cover: segments tile the range, aligned to their tier and inside what it keeps', () => {
  const tierArb = fc.constantFrom(...TIERS);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 10 * DAY }),
      fc.integer({ min: 1, max: 10 * DAY }),
      fc.subarray([...TIERS]),
      fc.dictionary(tierArb, fc.integer({ min: -DAY, max: 11 * DAY }), { maxKeys: 5 }),
      (start, length, tiers, kept) => {
        const [from, to] = [BASE + start, BASE + start + length];
        const keptSince = Object.fromEntries(Object.entries(kept).map(([k, v]) => [k, BASE + v])) as Partial<
          Record<Tier, number>
        >;
        const segments = cover(from, to, tiers, keptSince);
        let at = from;
        for (const s of segments) {
          if (s.from !== at || s.to <= s.from) return false;
          if (s.source !== 'raw') {
            if (!tiers.includes(s.source) || s.from % TIER_MS[s.source] !== 0 || s.to % TIER_MS[s.source] !== 0)
              return false;
            if (s.from < (keptSince[s.source] ?? -Infinity)) return false;
          }
          at = s.to;
        }
        return at === to;
      },
    ),
    { numRuns: 2000 },
  );
});

test('sketch: every duration is within ALPHA of its bin; under a microsecond is zero', () => {
  const value = (bin: number) => (bin === ZERO_BIN ? 0 : (2 * GAMMA ** bin) / (GAMMA + 1));
  fc.assert(
    fc.property(
      fc.double({ min: 0.001, max: 1e7, noNaN: true }),
      (d) => Math.abs(value(binOf(d)) - d) <= ALPHA * d * (1 + 1e-9),
    ),
    { numRuns: 5000 },
  );
  for (const d of [0, 0.0005, 0.000999]) assert.is(binOf(d), ZERO_BIN);
});

test.run();
