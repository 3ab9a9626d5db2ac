// OpenTelemetry (OTLP/HTTP) ingestion: Claude Code's metrics and events → unified events.
// Decoding is in otlp-decode.ts, the mapping in otlp-map.ts; this file resolves cumulative
// sums into deltas and hands the events to `ingest()`.
//
// COUNTING ONCE. Spend (tokens and cost) reaches us twice for a session that exports both
// signals: as `claude_code.token.usage` / `claude_code.cost.usage` metric points (kinds
// `token_usage`, `cost_usage`) and as `api_request` events (one per model call). Both are
// stored as sent; the rule is applied when reading (src/ingest/totals.ts):
//   for a session that has any `api_request` events, tokens and cost come from those events
//   (deduplicated by `request_id`); otherwise they come from the metric points.
// Tool calls are likewise counted once per `tool_use_id` (hooks and OTel both report them).
//
// RETRIES. Every event gets a deterministic id (metric points: metric, series, start and
// time; log records: session, event name, sequence, time and a hash of the content), so a
// retried export is stored once. Cumulative sums become deltas against the series' state in
// the tenant's `otlp_series` table (start_ms, last_ms, last_value):
//   - first point of a series: delta = its value;
//   - a point no newer than last_ms (a retry, or a stale point): skipped, state unchanged;
//   - a new start time, or (monotonic sums) a value below the last one: a restart, delta = value;
//   - otherwise delta = value - last_value. Zero deltas are not stored.
//   - a delta the unified event refuses (a non-monotonic sum that went down: a negative
//     count) is reported rejected and leaves the state where it was, so the next rise
//     counts from the value already stored, not from the dip (which would count it twice).
// The new state commits in the same transaction as the deltas it produced, so a failure
// leaves both as they were (and the retry recomputes the same deltas under the same ids).
// One tenant's metric exports with cumulative points are processed one at a time
// (in-process lock): each reads the state the previous one committed, so concurrent
// exports cannot both claim a delta, whatever order they arrive in.
// Gauges are stored as `other` with their value; histograms and summaries as `other` with
// value = sum and {count, sum, min, max} in attributes (not converted to deltas).
import type { Database } from '../storage/duckdb.js';
import { throughStorage as storage } from '../storage/errors.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import type { Ingestor, Who } from './ingest.js';
import { countSpans, logEvents, metricDrafts, type PointDraft, type PointRejection } from './otlp-map.js';
import type { Signal } from './otlp-decode.js';
import { eventSchema, isValidEvent, type IngestEvent } from './schema.js';
import type { Alongside } from './writer.js';

export { decodeRequest, decompress, encodeResponse, formatOf, OtlpBodyError } from './otlp-decode.js';

export type SeriesState = { startMs: number; lastMs: number; lastValue: number };
export type ExportOutcome = { accepted: number; rejected: number; errorMessage: string };

/** Applies the temporality rules above; `states` is updated in place, `changed` is what to save. */
export function resolveDeltas(
  drafts: readonly PointDraft[],
  states: Map<bigint, SeriesState>,
  storable: (event: IngestEvent) => boolean = () => true,
): { events: IngestEvent[]; changed: Map<bigint, SeriesState> } {
  const events: IngestEvent[] = [];
  const changed = new Map<bigint, SeriesState>();
  for (const d of drafts) {
    if (!d.cumulative) {
      events.push(d.build(d.value));
      continue;
    }
    const s = states.get(d.seriesKey);
    let delta: number;
    if (!s) delta = d.value;
    else if (d.timeMs <= s.lastMs) continue;
    else if (d.startMs !== s.startMs || (d.monotonic && d.value < s.lastValue)) delta = d.value;
    else delta = d.value - s.lastValue;
    const event = delta === 0 ? null : d.build(delta);
    if (event) events.push(event); // a refused one too: ingest reports it
    if (event && !storable(event)) continue;
    const next = { startMs: d.startMs, lastMs: d.timeMs, lastValue: d.value };
    states.set(d.seriesKey, next);
    changed.set(d.seriesKey, next);
  }
  return { events, changed };
}

async function loadStates(db: Database, keys: bigint[]): Promise<Map<bigint, SeriesState>> {
  const states = new Map<bigint, SeriesState>();
  for (let i = 0; i < keys.length; i += 500) {
    // The keys are our own 64-bit hashes (bigint), safe to write into the statement.
    const inList = keys
      .slice(i, i + 500)
      .map((k) => `${k}::UBIGINT`)
      .join(', ');
    const rows = await db.all<{ k: string; start_ms: number; last_ms: number; last_value: number }>(
      `SELECT series_key::VARCHAR AS k, start_ms, last_ms, last_value FROM otlp_series WHERE series_key IN (${inList})`,
    );
    for (const r of rows) states.set(BigInt(r.k), { startMs: r.start_ms, lastMs: r.last_ms, lastValue: r.last_value });
  }
  return states;
}

const SAVE_STATES_SQL = `INSERT OR REPLACE INTO otlp_series
  SELECT unnest(d.key)::UBIGINT, unnest(d.start_ms), unnest(d.last_ms), unnest(d.last_value)
    FROM (SELECT from_json($1::VARCHAR, '{"key": "VARCHAR[]", "start_ms": "BIGINT[]", "last_ms": "BIGINT[]", "last_value": "DOUBLE[]"}') AS d)`;

/** Writes `changed` in one statement, run by the event writer inside the events' commit. */
function saveStates(changed: Map<bigint, SeriesState>): Alongside | undefined {
  if (!changed.size) return undefined;
  const states = [...changed.values()];
  const doc = JSON.stringify({
    key: [...changed.keys()].map(String), // 64 bits: a JSON number would lose the low ones
    start_ms: states.map((s) => s.startMs),
    last_ms: states.map((s) => s.lastMs),
    last_value: states.map((s) => s.lastValue),
  });
  return async (conn) => {
    await conn.run(SAVE_STATES_SQL, [doc]);
  };
}

const tenantQueues = new Map<string, Promise<unknown>>();
/** Runs `fn` after every earlier call for the same tenant has settled. */
function serialised<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
  const prev = tenantQueues.get(tenantId) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => undefined);
  tenantQueues.set(tenantId, tail);
  void tail.then(() => tenantQueues.get(tenantId) === tail && tenantQueues.delete(tenantId));
  return next;
}

function outcome(
  events: IngestEvent[],
  accepted: number,
  mapRejected: PointRejection[],
  ingestRejected: { index: number; field: string; message: string }[],
): ExportOutcome {
  const messages = [
    ...mapRejected.map((r) => `${r.field}: ${r.message}`),
    ...ingestRejected.map((r) => `${events[r.index]?.id ?? `event ${r.index}`}: ${r.field}: ${r.message}`),
  ];
  const rejected = messages.length;
  const shown = messages.slice(0, 5).join('; ');
  return {
    accepted,
    rejected,
    errorMessage: rejected ? `${rejected} rejected: ${shown}${rejected > 5 ? '; …' : ''}` : '',
  };
}

type Deps = { ingest: Pick<Ingestor, 'ingest' | 'accept'>; tenantFiles: Pick<TenantFiles, 'open'> };

/** Stores an ExportMetricsServiceRequest (OTLP/JSON shape) for `who`. */
export async function ingestMetrics(
  { ingest, tenantFiles }: Deps,
  who: Who,
  req: Record<string, unknown>,
  now: Date,
): Promise<ExportOutcome> {
  const { drafts, rejected } = metricDrafts(req, who.userId, now.getTime());
  if (!drafts.some((d) => d.cumulative)) {
    const events = drafts.map((d) => d.build(d.value));
    const result = await ingest.accept(who, 'otlp', events, now);
    return outcome(events, result.accepted, rejected, result.rejected);
  }
  return serialised(who.tenantId, async () => {
    const keys = [...new Set(drafts.filter((d) => d.cumulative).map((d) => d.seriesKey))];
    const db = await storage('open tenant file', () => tenantFiles.open(who.tenantId));
    const states = await storage('read otlp_series', () => loadStates(db, keys));
    const { events, changed } = resolveDeltas(
      drafts,
      states,
      (e) => isValidEvent(e) || eventSchema.safeParse(e).success,
    );
    const result = await ingest.ingest(who, 'otlp', events, now, saveStates(changed));
    return outcome(events, result.accepted, rejected, result.rejected);
  });
}

/** Stores an ExportLogsServiceRequest (OTLP/JSON shape) for `who`. */
export async function ingestLogs(
  { ingest }: Pick<Deps, 'ingest'>,
  who: Who,
  req: Record<string, unknown>,
  now: Date,
): Promise<ExportOutcome> {
  const { events, rejected } = logEvents(req, now.getTime());
  const result = await ingest.accept(who, 'otlp', events, now);
  return outcome(events, result.accepted, rejected, result.rejected);
}

/** Spans are answered, not stored: all of them come back as rejected. */
export function refuseTraces(req: Record<string, unknown>): ExportOutcome {
  const spans = countSpans(req);
  return {
    accepted: 0,
    rejected: spans,
    errorMessage: spans ? 'traces are not stored by agentmeter; send metrics and logs' : '',
  };
}

export const INGESTERS: Record<Exclude<Signal, 'traces'>, typeof ingestMetrics> = {
  metrics: ingestMetrics,
  logs: ingestLogs,
};
