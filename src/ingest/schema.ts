// The unified event: the one contract between every producer (hooks, OTLP, REST,
// WebSocket, import) and the tenant's `events` table. Entry points translate their wire
// format into a list of these and hand it to `ingest()`.
import { z } from 'zod';

export const KINDS = [
  'session_start', // a session began (hook SessionStart, REST sessions/start, OTel session.count)
  'session_end', // a session ended (hook SessionEnd, REST PUT sessions/:id with an end)
  'session_update', // REST PUT sessions/:id without an end
  'prompt', // a user prompt (hook UserPromptSubmit, OTel user_prompt)
  'tool_start', // a tool was about to run (hook PreToolUse)
  'tool_call', // a tool ran: name, status success|failure, duration (hook PostToolUse[Failure], OTel tool_result)
  'tool_decision', // permission decision (OTel tool_decision, code_edit_tool.decision)
  'subagent_start',
  'subagent_stop',
  'api_request', // one model API call: model, tokens by type, cost (OTel api_request, transcripts)
  'api_error',
  'token_usage', // OTel claude_code.token.usage point: tokens of one type
  'cost_usage', // OTel claude_code.cost.usage point
  'lines', // lines of code added/removed
  'commit',
  'pull_request',
  'active_time',
  'command', // a command execution (REST commands, slash commands)
  'agent_interaction', // REST agents
  'productivity', // REST productivity metric
  'other', // anything else, kept whole in `attributes` (unknown hook events, OTel events, metric points)
] as const;
export type Kind = (typeof KINDS)[number];

export const SOURCES = ['hook', 'otlp', 'rest', 'ws', 'import'] as const;
export type Source = (typeof SOURCES)[number];

/**
 * The event times the appliance accepts: from 2000-01-01 to a day past the server's clock
 * (a client clock a little ahead is fine; the year 9999 is not). Checked by `ingest()` for
 * every entry point, so no stored time can push a rollup or a query past what DuckDB and
 * JavaScript dates hold.
 */
export const TIME_WINDOW = { earliest: Date.UTC(2000, 0, 1), aheadMs: 86_400_000 } as const;
export const inTimeWindow = (ms: number, now: number) => ms >= TIME_WINDOW.earliest && ms <= now + TIME_WINDOW.aheadMs;
export const timeWindowMessage = (now: number) =>
  `must be between ${new Date(TIME_WINDOW.earliest).toISOString()} and ${new Date(now + TIME_WINDOW.aheadMs).toISOString()} (a day past the server's time)`;

const MAX_STRING = 1024;
const text = (max = MAX_STRING) => z.string().max(max, `must be at most ${max} characters`);
const count = z.number().finite().min(0).max(1e12);

export const eventSchema = z.object({
  /** Client-supplied id (idempotency); otherwise derived from the content by the entry point. */
  id: text(200).optional(),
  kind: z.enum(KINDS),
  /** When it happened, epoch milliseconds; defaults to receipt time. Within TIME_WINDOW (checked by ingest, which knows the time). */
  ts: z.number().int().min(0).max(8.64e15).optional(),
  session_id: text(200).optional(),
  /** Repository or working directory. */
  project: text().optional(),
  prompt_id: text(200).optional(),
  tool_use_id: text(200).optional(),
  request_id: text(200).optional(),
  agent_id: text(200).optional(),
  agent_type: text(200).optional(),
  /** Tool, command, agent or event name, by kind. */
  name: text(256).optional(),
  model: text(200).optional(),
  status: text(64).optional(),
  duration_ms: count.optional(),
  input_tokens: count.optional(),
  output_tokens: count.optional(),
  cache_read_tokens: count.optional(),
  cache_creation_tokens: count.optional(),
  cost_usd: count.optional(),
  lines_added: count.optional(),
  lines_removed: count.optional(),
  /** A counted quantity: commits, PRs, sessions, seconds of active time, a productivity value. */
  value: z.number().finite().min(-1e12).max(1e12).optional(),
  error: text(4096).optional(),
  /** Everything else the client sent, kept whole (strings capped, dangerous keys dropped). */
  attributes: z.record(z.string(), z.unknown()).optional(),
});
export type IngestEvent = z.infer<typeof eventSchema>;

type Check = (value: unknown) => boolean;
const plain = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * A predicate built from a field's zod schema that is true only of values the schema passes
 * unchanged: the cheap test every event takes (zod's own parse, with its copies, costs some
 * 4 µs an event). A check it does not know stops the start, so the schema stays the one
 * definition.
 */
function compile(schema: z.ZodType): Check {
  const def = schema._zod.def as { type: string; innerType?: z.ZodType; checks?: { _zod: { def: object } }[] };
  if (def.type === 'optional') {
    const inner = compile(def.innerType!);
    return (v) => v === undefined || inner(v);
  }
  const checks = (def.checks ?? []).map(({ _zod }): Check => {
    const c = _zod.def as { check: string; maximum?: number; value?: number; inclusive?: boolean; format?: string };
    if (c.check === 'max_length') return (v) => (v as string).length <= c.maximum!;
    if (c.check === 'greater_than') return (v) => (c.inclusive ? (v as number) >= c.value! : (v as number) > c.value!);
    if (c.check === 'less_than') return (v) => (c.inclusive ? (v as number) <= c.value! : (v as number) < c.value!);
    if (c.check === 'number_format' && c.format === 'safeint') return (v) => Number.isSafeInteger(v);
    throw new Error(`event schema: no fast check for ${JSON.stringify(c)}`);
  });
  const all = (v: unknown) => {
    for (const check of checks) if (!check(v)) return false; // a loop: no closure made per value
    return true;
  };
  if (def.type === 'string') return (v) => typeof v === 'string' && all(v);
  if (def.type === 'number') return (v) => typeof v === 'number' && Number.isFinite(v) && all(v);
  if (def.type === 'enum') {
    const values = new Set(Object.values((def as unknown as { entries: Record<string, string> }).entries));
    return (v) => values.has(v as string);
  }
  // z.record(z.string(), z.unknown()): a plain object with string keys; zod's copy leaves out `__proto__`.
  if (def.type === 'record')
    return (v) => plain(v) && !Object.hasOwn(v, '__proto__') && Object.getOwnPropertySymbols(v).length === 0;
  throw new Error(`event schema: no fast check for a ${def.type}`);
}

const checks = new Map(Object.entries(eventSchema.shape).map(([key, schema]) => [key, compile(schema)]));
/** The fields an event must have (`kind`); an absent optional one passes as it is. */
const required = [...checks].filter(([, check]) => !check(undefined)).map(([key, check]) => ({ key, check }));

/**
 * True when `event` passes `eventSchema` as it is (no unknown key, nothing to convert), so
 * it can be stored without zod's parse; false sends it to zod, which names what is wrong.
 */
export function isValidEvent(event: unknown): event is IngestEvent {
  if (!plain(event)) return false;
  // The event's own keys, not every field of the schema: reading a key an object lacks is the slow case of a property load.
  for (const key in event) {
    const check = checks.get(key);
    if (check === undefined || !check(event[key])) return false;
  }
  for (const { key, check } of required) if (!check(event[key])) return false;
  return true;
}
