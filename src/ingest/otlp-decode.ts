// OTLP/HTTP request bodies → the OTLP/JSON object shape (camelCase keys, 64-bit integers as
// decimal strings, trace/span ids as hex, enums as numbers), whatever the wire format:
// JSON or protobuf, gzip/deflate or not. Protobuf is decoded by protobufjs from the message
// definitions below (the subset of opentelemetry-proto v1 we read; protobufjs skips fields
// it does not know). The mapping (otlp-map.ts) only ever sees the JSON shape.
import { gunzipSync, inflateSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { MAX_JSON_DEPTH, nestedDeeperThan } from './sanitize.js';

export type Signal = 'metrics' | 'logs' | 'traces';
export type Format = 'json' | 'protobuf';

/** A body that cannot be read: 400 (or 413/415 by `status`) naming `field`. */
export class OtlpBodyError extends Error {
  constructor(
    message: string,
    readonly field = 'body',
    readonly status: 400 | 413 | 415 = 400,
  ) {
    super(message);
  }
}

/** Decompressed bodies larger than this are refused (413): a gzip bomb stops here. */
export const MAX_DECOMPRESSED = 64 * 1024 * 1024;

const PROTO = `
syntax = "proto3";
package otlp;
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
message Resource { repeated KeyValue attributes = 1; }

message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message Metric { string name = 1; string description = 2; string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; ExponentialHistogram exponential_histogram = 10; Summary summary = 11; } }
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message ExponentialHistogram { repeated ExponentialHistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message Summary { repeated SummaryDataPoint data_points = 1; }
message NumberDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; } uint32 flags = 8; }
message HistogramDataPoint { repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  fixed64 count = 4; optional double sum = 5; optional double min = 11; optional double max = 12; }
message ExponentialHistogramDataPoint { repeated KeyValue attributes = 1; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  fixed64 count = 4; optional double sum = 5; optional double min = 12; optional double max = 13; }
message SummaryDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3; fixed64 count = 4; double sum = 5; }

message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url = 3; }
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; string schema_url = 3; }
message LogRecord { fixed64 time_unix_nano = 1; fixed64 observed_time_unix_nano = 11; int32 severity_number = 2; string severity_text = 3;
  AnyValue body = 5; repeated KeyValue attributes = 6; fixed32 flags = 8; bytes trace_id = 9; bytes span_id = 10; string event_name = 12; }

message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message Span { bytes trace_id = 1; bytes span_id = 2; string name = 5; }

message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ExportMetricsPartialSuccess { int64 rejected_data_points = 1; string error_message = 2; }
message ExportLogsPartialSuccess { int64 rejected_log_records = 1; string error_message = 2; }
message ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
message ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1; }
message ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1; }
message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
`;

const root = protobuf.parse(PROTO).root;
const type = (name: string) => root.lookupType(`otlp.${name}`);
const REQUEST = {
  metrics: type('ExportMetricsServiceRequest'),
  logs: type('ExportLogsServiceRequest'),
  traces: type('ExportTraceServiceRequest'),
};
const RESPONSE = {
  metrics: type('ExportMetricsServiceResponse'),
  logs: type('ExportLogsServiceResponse'),
  traces: type('ExportTraceServiceResponse'),
};
/** The top-level array of each request, as named in OTLP/JSON. */
export const TOP_FIELD = { metrics: 'resourceMetrics', logs: 'resourceLogs', traces: 'resourceSpans' } as const;
/** The partial-success counter of each response. */
export const REJECTED_FIELD = {
  metrics: 'rejectedDataPoints',
  logs: 'rejectedLogRecords',
  traces: 'rejectedSpans',
} as const;

/** `Content-Type` → wire format; anything else is a 415. */
export function formatOf(contentType: string | undefined): Format {
  const mime = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mime === 'application/json') return 'json';
  if (mime === 'application/x-protobuf' || mime === 'application/protobuf') return 'protobuf';
  throw new OtlpBodyError(
    `content-type: expected application/json or application/x-protobuf, got ${mime || 'none'}`,
    'content-type',
    415,
  );
}

/** Undoes `Content-Encoding` (gzip, deflate, identity), refusing more than `max` bytes of output. */
export function decompress(body: Uint8Array, encoding: string | undefined, max = MAX_DECOMPRESSED): Buffer {
  const enc = (encoding ?? '').trim().toLowerCase();
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (enc === '' || enc === 'identity') return buf;
  if (enc !== 'gzip' && enc !== 'x-gzip' && enc !== 'deflate')
    throw new OtlpBodyError(
      `content-encoding: ${enc} is not supported (gzip, deflate or none)`,
      'content-encoding',
      415,
    );
  try {
    return enc === 'deflate' ? inflateSync(buf, { maxOutputLength: max }) : gunzipSync(buf, { maxOutputLength: max });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new OtlpBodyError(`body: larger than ${Math.round(max / 1024 / 1024)} MiB once decompressed`, 'body', 413);
    }
    throw new OtlpBodyError(`body: not valid ${enc} data (${(err as Error).message})`);
  }
}

/** The request as an OTLP/JSON-shaped object. */
export function decodeRequest(signal: Signal, format: Format, body: Buffer): Record<string, unknown> {
  let decoded: unknown;
  if (format === 'json') {
    try {
      decoded = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new OtlpBodyError(`body: malformed JSON (${(err as Error).message})`);
    }
  } else {
    try {
      const message = REQUEST[signal].decode(body);
      decoded = REQUEST[signal].toObject(message, {
        longs: String,
        enums: Number,
        bytes: String,
        defaults: false,
        json: true,
      });
    } catch (err) {
      throw new OtlpBodyError(
        `body: not a valid protobuf Export${signal === 'traces' ? 'Trace' : signal === 'logs' ? 'Logs' : 'Metrics'}ServiceRequest (${(err as Error).message})`,
      );
    }
    hexIds(decoded);
  }
  if (!decoded || typeof decoded !== 'object' || Array.isArray(decoded))
    throw new OtlpBodyError('body: expected an object');
  // Protobuf refuses deep nesting itself; JSON (arrayValue / kvlistValue in values) here.
  if (nestedDeeperThan(decoded)) throw new OtlpBodyError(`body: nested more than ${MAX_JSON_DEPTH} levels deep`);
  return decoded as Record<string, unknown>;
}

/** Protobuf bytes come out of protobufjs as base64; OTLP/JSON has trace and span ids in hex. */
function hexIds(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) hexIds(item);
    return;
  }
  if (!value || typeof value !== 'object') return;
  const obj = value as Record<string, unknown>;
  for (const [k, v] of Object.entries(obj)) {
    if ((k === 'traceId' || k === 'spanId') && typeof v === 'string') obj[k] = Buffer.from(v, 'base64').toString('hex');
    else if (v && typeof v === 'object') hexIds(v);
  }
}

/** The Export*ServiceResponse body for `rejected` items, in the request's format. */
export function encodeResponse(
  signal: Signal,
  format: Format,
  rejected: number,
  errorMessage: string,
): { body: Uint8Array<ArrayBuffer> | string; contentType: string } {
  const response = rejected > 0 ? { partialSuccess: { [REJECTED_FIELD[signal]]: rejected, errorMessage } } : {};
  if (format === 'json') return { body: JSON.stringify(response), contentType: 'application/json' };
  const type = RESPONSE[signal];
  return {
    body: new Uint8Array(type.encode(type.fromObject(response)).finish()),
    contentType: 'application/x-protobuf',
  };
}

/** Decodes a response body (tests, and anyone checking what we answered). */
export function decodeResponse(signal: Signal, body: Uint8Array): Record<string, unknown> {
  const type = RESPONSE[signal];
  return type.toObject(type.decode(body), { longs: Number, defaults: false, json: true });
}
