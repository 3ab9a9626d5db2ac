// OTLP/JSON-shaped requests (see otlp-decode.ts) → unified events. Metric points become
// drafts first: a cumulative sum's value only becomes a delta once the series' stored state
// is known (otlp.ts). Claude Code's metric and event names are in the brief, section 2.
import { canonicalJson, MAX_ATTR_SIZE } from './sanitize.js';
import { MAX_RECORD_BYTES } from './writer.js';
import { eventId, stableId } from './ingest.js';
import { inTimeWindow, timeWindowMessage, type IngestEvent, type Kind } from './schema.js';
import { OtlpBodyError } from './otlp-decode.js';

type Obj = Record<string, unknown>;
export type PointRejection = { field: string; message: string };

/** One metric data point, before temporality is resolved. */
export type PointDraft = {
  metric: string;
  /** The value as sent (cumulative: the running total since `startMs`). */
  value: number;
  startMs: number;
  timeMs: number;
  /** Cumulative sums are turned into deltas per series; everything else is stored as sent. */
  cumulative: boolean;
  monotonic: boolean;
  /** hash(user, metric name, scope, point attributes, resource attributes). */
  seriesKey: bigint;
  /** The event for this point carrying `value` (a delta for cumulative sums). */
  build(value: number): IngestEvent;
};

/** A structural problem: the whole body is refused (400 naming the field). */
const bad = (field: string, message: string): never => {
  throw new OtlpBodyError(`${field}: ${message}`, field);
};
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
function list(parent: Obj, key: string, path: string): Obj[] {
  const v = parent[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return bad(`${path}${key}`, 'expected an array');
  return v.map((item, i) => (isObj(item) ? item : bad(`${path}${key}[${i}]`, 'expected an object')));
}
const child = (parent: Obj, key: string): Obj => (isObj(parent[key]) ? (parent[key] as Obj) : {});

type Item = { resource: Obj; scope: Obj; item: Obj; path: string };

/** canonicalJson of a request's resources and scopes, each made once (every record shares its own). */
function canonicalPerRequest(): (value: Obj) => string {
  const made = new Map<Obj, string>();
  return (value) => {
    let text = made.get(value);
    if (text === undefined) made.set(value, (text = canonicalJson(value)));
    return text;
  };
}

/**
 * Counts what a request's events will store: each keeps its resource and scope (up to
 * MAX_ATTR_SIZE), so a few KB of gzip could expand a thousandfold. Past MAX_RECORD_BYTES: 413.
 */
function expansion(canonicalOnce: (value: Obj) => string): (resource: Obj, scope: Obj) => void {
  let total = 0;
  return (resource, scope) => {
    total += Math.min(MAX_ATTR_SIZE, canonicalOnce(resource).length + canonicalOnce(scope).length);
    if (total > MAX_RECORD_BYTES)
      throw new OtlpBodyError(
        `body: its records would store over ${MAX_RECORD_BYTES / 2 ** 20} MiB (each keeps its resource's attributes); send fewer records per request`,
        'body',
        413,
      );
  };
}

/** Visits every item of an OTLP request, e.g. resourceLogs → scopeLogs → logRecords, with its resource, scope and path. */
function eachItem(
  req: Obj,
  [outer, middle, inner]: readonly [string, string, string],
  visit: (item: Item) => void,
): void {
  list(req, outer, '').forEach((r, i) => {
    const resource = attributes(child(r, 'resource').attributes);
    list(r, middle, `${outer}[${i}].`).forEach((s, j) => {
      const scope = { name: child(s, 'scope').name, version: child(s, 'scope').version };
      list(s, inner, `${outer}[${i}].${middle}[${j}].`).forEach(
        (item, k) => void visit({ resource, scope, item, path: `${outer}[${i}].${middle}[${j}].${inner}[${k}].` }),
      );
    });
  });
}

/** A per-point problem: this point or record is rejected (partialSuccess), the rest is kept. */
class PointError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export function anyValue(v: unknown): unknown {
  if (!isObj(v)) return null;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) {
    const n = Number(v.intValue);
    return Number.isSafeInteger(n) ? n : String(v.intValue);
  }
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v)
    return Array.isArray(child(v, 'arrayValue').values)
      ? (child(v, 'arrayValue').values as unknown[]).map(anyValue)
      : [];
  if ('kvlistValue' in v) return attributes(child(v, 'kvlistValue').values);
  if ('bytesValue' in v) return v.bytesValue;
  return null;
}

export function attributes(kvs: unknown): Obj {
  const out: Obj = {};
  if (!Array.isArray(kvs)) return out;
  for (const kv of kvs) if (isObj(kv) && typeof kv.key === 'string') out[kv.key] = anyValue(kv.value);
  return out;
}

const NUMERIC = /^\s*-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
/** A number attribute; OTel clients send numbers as strings too ("123"). */
function num(attrs: Obj, key: string): number | undefined {
  const v = attrs[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && NUMERIC.test(v)) return Number(v);
  throw new PointError(`attributes.${key}`, `not a number: ${JSON.stringify(v).slice(0, 40)}`);
}
function str(attrs: Obj, key: string): string | undefined {
  const v = attrs[key];
  if (v === undefined || v === null || v === '') return undefined;
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}
function bool(attrs: Obj, key: string): boolean | undefined {
  const v = attrs[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (v === true || v === 'true' || v === 1) return true;
  if (v === false || v === 'false' || v === 0) return false;
  throw new PointError(`attributes.${key}`, `not a boolean: ${JSON.stringify(v).slice(0, 40)}`);
}

/** Unix nanoseconds (a decimal string or number in OTLP/JSON) → the digits; undefined if absent or zero. */
function nanos(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === '' || v === 0 || v === '0') return undefined;
  const s =
    typeof v === 'number' && Number.isInteger(v) && v >= 0
      ? BigInt(v).toString()
      : typeof v === 'string' && /^\d{1,20}$/.test(v)
        ? v.replace(/^0+(?=\d)/, '')
        : undefined;
  if (s === undefined)
    throw new PointError(field, `not a unix-nanosecond timestamp: ${JSON.stringify(v).slice(0, 40)}`);
  return s;
}
const ms = (nano: string | undefined) => (nano === undefined ? 0 : Number(BigInt(nano) / 1_000_000n));
/** An event's time (epoch ms) from `nano`, within the accepted window or a rejection naming `field`. */
function eventMs(nano: string, field: string, now: number): number {
  const t = ms(nano);
  if (!inTimeWindow(t, now)) throw new PointError(field, timeWindowMessage(now));
  return t;
}

function pointValue(p: Obj): number {
  const raw = p.asDouble ?? p.asInt;
  const v = typeof raw === 'string' ? Number(raw) : raw;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new PointError(
      'value',
      raw === undefined ? 'no asDouble or asInt' : `not a finite number: ${JSON.stringify(raw)}`,
    );
  return v;
}

const hex = (n: bigint) => n.toString(16).padStart(16, '0');

const TOKEN_FIELD: Record<string, 'input_tokens' | 'output_tokens' | 'cache_read_tokens' | 'cache_creation_tokens'> = {
  input: 'input_tokens',
  output: 'output_tokens',
  cacheRead: 'cache_read_tokens',
  cacheCreation: 'cache_creation_tokens',
};
const COUNTERS: Record<string, Kind> = {
  'claude_code.commit.count': 'commit',
  'claude_code.pull_request.count': 'pull_request',
  'claude_code.session.count': 'session_start',
  'claude_code.active_time.total': 'active_time',
};

/** The event of one Claude Code metric point carrying `value`. */
function metricEvent(metric: string, isSum: boolean, attrs: Obj, value: number): Partial<IngestEvent> & { kind: Kind } {
  const model = str(attrs, 'model');
  const type = str(attrs, 'type');
  if (isSum && metric === 'claude_code.token.usage') {
    const field = TOKEN_FIELD[type ?? ''];
    return field ? { kind: 'token_usage', model, [field]: value } : { kind: 'token_usage', model, value };
  }
  if (isSum && metric === 'claude_code.cost.usage') return { kind: 'cost_usage', model, cost_usd: value };
  if (isSum && metric === 'claude_code.lines_of_code.count') {
    if (type === 'added') return { kind: 'lines', lines_added: value };
    if (type === 'removed') return { kind: 'lines', lines_removed: value };
    return { kind: 'lines', value };
  }
  if (isSum && metric === 'claude_code.code_edit_tool.decision')
    return { kind: 'tool_decision', name: str(attrs, 'tool_name'), status: str(attrs, 'decision'), value };
  if (isSum && metric === 'claude_code.active_time.total') return { kind: 'active_time', name: type, value };
  if (isSum && COUNTERS[metric]) return { kind: COUNTERS[metric]!, value };
  return { kind: 'other', name: metric, value };
}

/** Every data point of an ExportMetricsServiceRequest, as drafts or rejections. */
export function metricDrafts(
  req: Obj,
  userId: string,
  now: number,
): { drafts: PointDraft[]; rejected: PointRejection[] } {
  const drafts: PointDraft[] = [];
  const rejected: PointRejection[] = [];
  const canonicalOnce = canonicalPerRequest();
  const charge = expansion(canonicalOnce);
  eachItem(req, ['resourceMetrics', 'scopeMetrics', 'metrics'], ({ resource, scope, item: m, path }) => {
    const name = typeof m.name === 'string' ? m.name : bad(`${path}name`, 'expected a string');
    const dataKey = ['sum', 'gauge', 'histogram', 'exponentialHistogram', 'summary'].find((key) => isObj(m[key]));
    if (!dataKey) return;
    const data = m[dataKey] as Obj;
    const temporality = data.aggregationTemporality;
    const cumulative = dataKey === 'sum' && (temporality === 2 || temporality === 'AGGREGATION_TEMPORALITY_CUMULATIVE');
    const monotonic = data.isMonotonic === true;
    list(data, 'dataPoints', `${path}${dataKey}.`).forEach((p, n) => {
      charge(resource, scope);
      try {
        const pointAttrs = attributes(p.attributes);
        const startNano = nanos(p.startTimeUnixNano, 'startTimeUnixNano');
        const timeNano = nanos(p.timeUnixNano, 'timeUnixNano');
        if (timeNano === undefined) throw new PointError('timeUnixNano', 'missing');
        const timeMs = eventMs(timeNano, 'timeUnixNano', now);
        let value: number;
        let extra: Obj = {};
        if (dataKey === 'sum' || dataKey === 'gauge') value = pointValue(p);
        else {
          const stat = (key: string) => (p[key] === undefined || p[key] === null ? undefined : Number(p[key]));
          extra = {
            [dataKey]: { count: stat('count'), sum: stat('sum'), min: stat('min'), max: stat('max'), temporality },
          };
          value = stat('sum') ?? 0;
          if (!Number.isFinite(value)) throw new PointError('sum', 'not a finite number');
        }
        const seriesKey = eventId(
          'otlp-series',
          userId,
          name,
          canonicalOnce(scope),
          canonicalJson(pointAttrs),
          canonicalOnce(resource),
        );
        const id = stableId(`otlp:m:${name}:${hex(seriesKey)}:${startNano ?? 0}:${timeNano}`);
        const base = {
          id,
          ts: timeMs,
          session_id: str(pointAttrs, 'session.id'),
          prompt_id: str(pointAttrs, 'prompt.id'),
        };
        // The point's own first: past the attributes budget, the shared resource is what is cut.
        const attrsOut = {
          attributes: pointAttrs,
          metric: { name, unit: m.unit || undefined },
          ...extra,
          resource,
          scope,
        };
        drafts.push({
          metric: name,
          value,
          startMs: ms(startNano),
          timeMs,
          cumulative,
          monotonic,
          seriesKey,
          build: (v) =>
            ({ ...base, ...metricEvent(name, dataKey === 'sum', pointAttrs, v), attributes: attrsOut }) as IngestEvent,
        });
      } catch (err) {
        if (!(err instanceof PointError)) throw err;
        rejected.push({ field: `${path}${dataKey}.dataPoints[${n}].${err.field}`, message: `${name}: ${err.message}` });
      }
    });
  });
  return { drafts, rejected };
}

const KIND_OF_EVENT: Record<string, Kind> = {
  user_prompt: 'prompt',
  tool_result: 'tool_call',
  api_request: 'api_request',
  api_error: 'api_error',
  tool_decision: 'tool_decision',
};

/** The fields of one Claude Code event record. */
function logFields(eventName: string, a: Obj): Partial<IngestEvent> & { kind: Kind } {
  const kind = KIND_OF_EVENT[eventName] ?? 'other';
  switch (kind) {
    case 'tool_call': {
      const success = bool(a, 'success');
      return {
        kind,
        name: str(a, 'tool_name'),
        tool_use_id: str(a, 'tool_use_id'),
        status: success === undefined ? undefined : success ? 'success' : 'failure',
        duration_ms: num(a, 'duration_ms'),
        error: str(a, 'error'),
      };
    }
    case 'api_request':
      return {
        kind,
        model: str(a, 'model'),
        request_id: str(a, 'request_id'),
        cost_usd: num(a, 'cost_usd'),
        duration_ms: num(a, 'duration_ms'),
        input_tokens: num(a, 'input_tokens'),
        output_tokens: num(a, 'output_tokens'),
        cache_read_tokens: num(a, 'cache_read_tokens'),
        cache_creation_tokens: num(a, 'cache_creation_tokens'),
      };
    case 'api_error':
      return {
        kind,
        model: str(a, 'model'),
        error: str(a, 'error'),
        status: str(a, 'status_code') ?? str(a, 'status'),
        duration_ms: num(a, 'duration_ms'),
        request_id: str(a, 'request_id'),
      };
    case 'tool_decision':
      return { kind, name: str(a, 'tool_name'), tool_use_id: str(a, 'tool_use_id'), status: str(a, 'decision') };
    case 'prompt':
      return { kind };
    default:
      return { kind, name: eventName };
  }
}

/** Every log record (Claude Code event) of an ExportLogsServiceRequest. */
export function logEvents(req: Obj, now: number): { events: IngestEvent[]; rejected: PointRejection[] } {
  const events: IngestEvent[] = [];
  const rejected: PointRejection[] = [];
  const canonicalOnce = canonicalPerRequest();
  const charge = expansion(canonicalOnce);
  eachItem(req, ['resourceLogs', 'scopeLogs', 'logRecords'], ({ resource, scope, item: r, path }) => {
    charge(resource, scope);
    try {
      const a = attributes(r.attributes);
      const body = anyValue(r.body);
      const fromBody =
        typeof body === 'string' && body.startsWith('claude_code.') ? body.slice('claude_code.'.length) : undefined;
      const eventName =
        str(a, 'event.name') ??
        (typeof r.eventName === 'string' && r.eventName ? r.eventName : undefined) ??
        fromBody ??
        'log';
      const timeField = nanos(r.timeUnixNano, 'timeUnixNano') !== undefined ? 'timeUnixNano' : 'observedTimeUnixNano';
      const timeNano = nanos(r[timeField], timeField);
      const session = str(a, 'session.id');
      // canonicalJson({ resource, scope, a, body }) (keys sorted), the resource's and scope's made once.
      const content = `{"a":${canonicalJson(a)},"body":${canonicalJson(body)},"resource":${canonicalOnce(resource)},"scope":${canonicalOnce(scope)}}`;
      const hash = eventId('otlp-log', content).toString(16);
      const record = {
        body: body ?? undefined,
        severity: r.severityText || r.severityNumber || undefined,
        traceId: r.traceId || undefined,
        spanId: r.spanId || undefined,
      };
      events.push({
        id: stableId(
          `otlp:l:${session ?? ''}:${eventName}:${str(a, 'event.sequence') ?? ''}:${timeNano ?? ''}:${hash}`,
        ),
        ts: timeNano === undefined ? undefined : eventMs(timeNano, timeField, now),
        session_id: session,
        prompt_id: str(a, 'prompt.id'),
        ...logFields(eventName, a),
        attributes: { attributes: a, ...record, resource, scope }, // its own first, as for points
      } as IngestEvent);
    } catch (err) {
      if (!(err instanceof PointError)) throw err;
      rejected.push({ field: `${path}${err.field}`, message: err.message });
    }
  });
  return { events, rejected };
}

/** How many spans an ExportTraceServiceRequest carries (we answer, but do not store them). */
export function countSpans(req: Obj): number {
  let n = 0;
  eachItem(req, ['resourceSpans', 'scopeSpans', 'spans'], () => n++);
  return n;
}
