// The seeds' REST ingestion API (/api/metrics/...) → unified events. Each payload is
// validated with zod (a bad field is named by its path) and becomes one IngestEvent.
//
// Identity is never taken from the body: a client-sent `user_id` (and any organisation /
// tenant id) is kept only inside `attributes` as `client_user_id` (`client_organization_id`,
// `client_tenant_id`); the route stores the event for the API key's user and tenant.
//
// Field mapping (wire → unified):
//   commands      kind command:           command_name → name, execution_time_ms → duration_ms,
//                                         status → status, context.session_id|session_id → session_id
//   agents        kind agent_interaction: agent_name → name, execution_time_ms → duration_ms,
//                                         input_tokens/output_tokens/model/cost_usd as such;
//                                         interaction_type → attributes.interaction_type
//   sessions      kind session_start / session_update / session_end: total_duration_ms → duration_ms,
//                                         productivity_score → value, tools_used → attributes
//   productivity  kind productivity:      metric_type → name, value → value
// Everything else the client sent (context, metadata, unknown fields) stays in `attributes`.
//
// Status: `success` | `failure` | `timeout` | `cancelled`, case-insensitive; the aliases
// `error`/`failed` → failure, `ok`/`succeeded` → success, `canceled` → cancelled, `timed_out`
// → timeout. The word the client used is kept as attributes.client_status when it differs.
//
// Timestamps: ISO 8601 date-times with `Z` or an offset (e.g. 2025-09-05T10:00:00Z) → ts in
// epoch ms. Absent → the batch's `timestamp` (batch items), else receipt time. An event
// without a client `id` is identified by its content (timestamp included), so a retried
// request is stored once; two identical events with neither `id` nor timestamp are one event.
import { z } from 'zod';
import { compileParser, REFUSED } from './fast-parse.js';
import { parseIsoTime } from './iso-time.js';
import type { IngestEvent, Kind } from './schema.js';

const MAX_STRING = 1024;
const text = (max = MAX_STRING) => z.string().max(max, `must be at most ${max} characters`);
const required = (max = MAX_STRING) =>
  z
    .string({ error: 'is required (a string)' })
    .trim()
    .min(1, 'is required')
    .max(max, `must be at most ${max} characters`);
const nonNegative = (what = 'a number') =>
  z
    .number({ error: `must be ${what}` })
    .finite()
    .min(0, 'must not be negative')
    .max(1e12, 'is too large');
const tokens = z
  .number({ error: 'must be a number' })
  .int('must be an integer')
  .min(0, 'must not be negative')
  .max(1e12, 'is too large');
const clientId = text(200).min(1, 'must not be empty');

export const STATUS_ALIASES: Record<string, 'success' | 'failure' | 'timeout' | 'cancelled'> = {
  success: 'success',
  succeeded: 'success',
  ok: 'success',
  failure: 'failure',
  failed: 'failure',
  error: 'failure',
  timeout: 'timeout',
  timed_out: 'timeout',
  cancelled: 'cancelled',
  canceled: 'cancelled',
};
const status = z
  .string({ error: 'is required (success, failure, error, timeout or cancelled)' })
  .max(64)
  .refine(
    (s) => Object.hasOwn(STATUS_ALIASES, s.trim().toLowerCase()),
    'must be one of success, failure, error, timeout, cancelled',
  );

const isoTime = z
  .string({ error: 'must be an ISO 8601 date-time string' })
  .max(64, 'must be an ISO 8601 date-time')
  .transform((s, ctx) => {
    const ms = parseIsoTime(s); // parsed once: this runs for every item of a batch
    if (ms === null) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be an ISO 8601 date-time with a time zone after 1970, e.g. 2025-09-05T10:00:00Z',
      });
      return z.NEVER;
    }
    return ms;
  });

const record = z.record(z.string(), z.unknown(), { error: 'must be an object' });
const context = z.looseObject(
  { session_id: text(200).optional(), project: text().optional() },
  { error: 'must be an object' },
);

/** Fields every item may carry. Unknown fields are kept (→ attributes). */
const common = {
  id: clientId.optional(),
  user_id: z.unknown().optional(),
  session_id: text(200).optional(),
  project: text().optional(),
  context: context.optional(),
  metadata: record.optional(),
  timestamp: isoTime.optional(),
};

export const commandSchema = z.looseObject({
  ...common,
  command_name: required(256),
  execution_time_ms: nonNegative('a number of milliseconds'),
  status,
  executed_at: isoTime.optional(),
  error_message: text(4096).optional(),
});

export const agentSchema = z.looseObject({
  ...common,
  agent_name: required(256),
  interaction_type: required(200),
  execution_time_ms: nonNegative('a number of milliseconds'),
  status,
  input_tokens: tokens.optional(),
  output_tokens: tokens.optional(),
  cache_read_tokens: tokens.optional(),
  cache_creation_tokens: tokens.optional(),
  cost_usd: nonNegative().optional(),
  model: text(200).optional(),
  occurred_at: isoTime.optional(),
  error_message: text(4096).optional(),
});

export const sessionStartSchema = z.looseObject({
  ...common,
  session_id: text(200).min(1, 'must not be empty').optional(),
  started_at: isoTime.optional(),
  session_start: isoTime.optional(),
});

export const sessionUpdateSchema = z.looseObject({
  ...common,
  ended_at: isoTime.optional(),
  session_end: isoTime.optional(),
  updated_at: isoTime.optional(),
  /** `ended: true` ends the session at receipt time when no end time is given. */
  ended: z.boolean({ error: 'must be true or false' }).optional(),
  total_duration_ms: nonNegative('a number of milliseconds').optional(),
  tools_used: z.unknown().optional(),
  productivity_score: z
    .number({ error: 'must be a number' })
    .finite()
    .min(0, 'must not be negative')
    .max(1e12)
    .optional(),
});

export const productivitySchema = z.looseObject({
  ...common,
  metric_type: required(256),
  /** Any finite number (a productivity value may be a signed delta). */
  value: z.number({ error: 'is required (a number)' }).finite().min(-1e12).max(1e12),
  unit: text(64).optional(),
  recorded_at: isoTime.optional(),
});

export const BATCH_MAX = 1000;
export const BATCH_ARRAYS = ['command_executions', 'agent_interactions', 'productivity_metrics'] as const;
export type BatchArray = (typeof BATCH_ARRAYS)[number];

const batchArray = z
  .array(z.unknown(), { error: 'must be an array' })
  .max(BATCH_MAX, `must hold at most ${BATCH_MAX} items`)
  .optional();
export const batchSchema = z.looseObject({
  command_executions: batchArray,
  agent_interactions: batchArray,
  productivity_metrics: batchArray,
  timestamp: isoTime.optional(),
});

export const sessionIdParam = text(200).min(1, 'is required');

/** The wire fields an event's time comes from, by kind, the first given winning (batch items then take the batch's `timestamp`). */
const TIME_FIELDS: Partial<Record<Kind, readonly string[]>> = {
  command: ['executed_at', 'timestamp'],
  agent_interaction: ['occurred_at', 'timestamp'],
  productivity: ['recorded_at', 'timestamp'],
  session_start: ['started_at', 'session_start', 'timestamp'],
  session_update: ['updated_at', 'timestamp'],
  session_end: ['ended_at', 'session_end', 'updated_at', 'timestamp'],
};

/** The event's time from the first of its kind's time fields the item gave (already epoch ms). */
function timeOf(item: Record<string, unknown>, kind: Kind): number | undefined {
  const field = TIME_FIELDS[kind]!.find((f) => item[f] !== undefined);
  return field === undefined ? undefined : (item[field] as number);
}

type Common = {
  id?: string;
  user_id?: unknown;
  session_id?: string;
  project?: string;
  context?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  timestamp?: number;
};

/** Keys that become columns (or are identity); everything else goes to attributes. */
const MAPPED = new Set(['id', 'user_id', 'session_id', 'project', 'timestamp']);
/** Ids a client may send that must never choose anything: kept, renamed, in attributes. */
export const CLIENT_IDS: Record<string, string> = {
  user_id: 'client_user_id',
  organization_id: 'client_organization_id',
  org_id: 'client_org_id',
  tenant_id: 'client_tenant_id',
};

/** The keys a translator maps to columns (with the identity keys): left out of attributes. */
const mappedKeys = (...keys: string[]) => new Set([...MAPPED, ...keys]);
const MAPPED_BY = {
  command: mappedKeys('command_name', 'status', 'execution_time_ms', 'executed_at', 'error_message'),
  agent: mappedKeys(
    'agent_name',
    'status',
    'execution_time_ms',
    'input_tokens',
    'output_tokens',
    'cache_read_tokens',
    'cache_creation_tokens',
    'cost_usd',
    'model',
    'occurred_at',
    'error_message',
  ),
  productivity: mappedKeys('metric_type', 'value', 'recorded_at'),
  sessionStart: mappedKeys('started_at', 'session_start'),
  sessionUpdate: mappedKeys('ended_at', 'session_end', 'updated_at', 'total_duration_ms', 'productivity_score'),
};

function attributesOf(
  item: Record<string, unknown>,
  skip: Set<string>,
  extra?: Record<string, unknown>,
): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  let any = false;
  for (const k in item) {
    const v = item[k];
    if (v === undefined) continue;
    if (Object.hasOwn(CLIENT_IDS, k)) (out[CLIENT_IDS[k]!] = v), (any = true);
    else if (!skip.has(k)) (out[k] = v), (any = true);
  }
  if (extra) for (const k in extra) if (extra[k] !== undefined) (out[k] = extra[k]), (any = true);
  return any ? out : undefined;
}

function normaliseStatus(raw: string): { status: string; client_status?: string } {
  const status = STATUS_ALIASES[raw.trim().toLowerCase()]!;
  return raw === status ? { status } : { status, client_status: raw };
}

const nonEmpty = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * The fields every kind has; a translator adds its own with Object.assign. (An event built as
 * `{...base(), more}` was read some 3 µs slower a row by every later step: measured.)
 */
function base(kind: Kind, item: Common, ts: number | undefined): IngestEvent {
  const ctx = item.context ?? {};
  return {
    kind,
    id: item.id,
    ts,
    session_id: item.session_id || nonEmpty(ctx.session_id),
    project: item.project || nonEmpty(ctx.project),
  };
}

export function commandToEvent(c: z.infer<typeof commandSchema>, defaultTs?: number): IngestEvent {
  const { status, client_status } = normaliseStatus(c.status);
  return Object.assign(base('command', c, timeOf(c, 'command') ?? defaultTs), {
    name: c.command_name,
    status,
    duration_ms: c.execution_time_ms,
    error: c.error_message,
    attributes: attributesOf(c, MAPPED_BY.command, client_status === undefined ? undefined : { client_status }),
  });
}

export function agentToEvent(a: z.infer<typeof agentSchema>, defaultTs?: number): IngestEvent {
  const { status, client_status } = normaliseStatus(a.status);
  return Object.assign(base('agent_interaction', a, timeOf(a, 'agent_interaction') ?? defaultTs), {
    name: a.agent_name,
    status,
    duration_ms: a.execution_time_ms,
    input_tokens: a.input_tokens,
    output_tokens: a.output_tokens,
    cache_read_tokens: a.cache_read_tokens,
    cache_creation_tokens: a.cache_creation_tokens,
    cost_usd: a.cost_usd,
    model: a.model,
    error: a.error_message,
    attributes: attributesOf(a, MAPPED_BY.agent, client_status === undefined ? undefined : { client_status }),
  });
}

export function productivityToEvent(p: z.infer<typeof productivitySchema>, defaultTs?: number): IngestEvent {
  return Object.assign(base('productivity', p, timeOf(p, 'productivity') ?? defaultTs), {
    name: p.metric_type,
    value: p.value,
    attributes: attributesOf(p, MAPPED_BY.productivity),
  });
}

/** `sessionId` is the client's or a generated one (the route decides). */
export function sessionStartToEvent(s: z.infer<typeof sessionStartSchema>, sessionId: string): IngestEvent {
  return Object.assign(base('session_start', s, timeOf(s, 'session_start')), {
    session_id: sessionId,
    attributes: attributesOf(s, MAPPED_BY.sessionStart),
  });
}

/** An end time (or `ended: true`) makes it `session_end`; otherwise `session_update`. */
export function sessionUpdateToEvent(s: z.infer<typeof sessionUpdateSchema>, sessionId: string): IngestEvent {
  const kind =
    s.ended_at !== undefined || s.session_end !== undefined || s.ended === true ? 'session_end' : 'session_update';
  return Object.assign(base(kind, s, timeOf(s, kind)), {
    session_id: sessionId,
    duration_ms: s.total_duration_ms,
    value: s.productivity_score,
    attributes: attributesOf(s, MAPPED_BY.sessionUpdate),
  });
}

export type BatchRejection = { array: BatchArray; index: number; field: string; message: string };

/** One batch array's item parser and translator. */
export const BATCH_ITEMS: Record<
  BatchArray,
  (raw: unknown, defaultTs?: number) => { ok: true; event: IngestEvent } | { ok: false; field: string; message: string }
> = {
  command_executions: itemParser(commandSchema, commandToEvent),
  agent_interactions: itemParser(agentSchema, agentToEvent),
  productivity_metrics: itemParser(productivitySchema, productivityToEvent),
};

/** The compiled parse takes the items it can; zod parses the rest (and names a bad one's field). */
function itemParser<S extends z.ZodType>(schema: S, translate: (item: z.infer<S>, defaultTs?: number) => IngestEvent) {
  const fast = compileParser(schema);
  return (raw: unknown, defaultTs?: number) => {
    const item = fast(raw);
    if (item !== REFUSED) return { ok: true as const, event: translate(item, defaultTs) };
    const parsed = schema.safeParse(raw);
    if (parsed.success) return { ok: true as const, event: translate(parsed.data, defaultTs) };
    const issue = parsed.error.issues[0]!;
    const field = issue.path.map(String).join('.') || '(item)';
    return { ok: false as const, field, message: issue.message };
  };
}

/** Unified field → the wire field it came from, to name a field the ingest step rejected. */
const WIRE_FIELD: Partial<Record<Kind, Record<string, string>>> = {
  command: { name: 'command_name', duration_ms: 'execution_time_ms', error: 'error_message' },
  agent_interaction: { name: 'agent_name', duration_ms: 'execution_time_ms', error: 'error_message' },
  productivity: { name: 'metric_type' },
  session_update: { duration_ms: 'total_duration_ms', value: 'productivity_score' },
  session_end: { duration_ms: 'total_duration_ms', value: 'productivity_score' },
};

/**
 * The wire field an ingest-step rejection of `event` (translated from `item`) is about:
 * its time names the field the time came from (`timestamp` when none of the item's did:
 * a batch's own).
 */
export function wireField(event: IngestEvent | undefined, field: string, item: unknown): string {
  if (!event) return field;
  if (field === 'ts') {
    const given =
      item && typeof item === 'object'
        ? (TIME_FIELDS[event.kind] ?? []).find((f) => (item as Record<string, unknown>)[f] !== undefined)
        : undefined;
    return given ?? 'timestamp';
  }
  return WIRE_FIELD[event.kind]?.[field] ?? field;
}
