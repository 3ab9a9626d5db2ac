// One Claude Code transcript line → what it says for metrics: the API request it records
// (tokens by type, for deduplication and cost), tool calls started and finished, a prompt,
// a sub-agent. The format is internal to Claude Code and changes between releases, so
// every field is checked and a record that is not understood is named, never guessed at.
import type { IngestEvent } from '../ingest/schema.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null);
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
const tokens = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined);
const clip = (s: string | undefined, max: number) => (s === undefined ? undefined : s.slice(0, max));

/** Record types Claude Code writes that carry nothing for metrics: read, not reported. */
const QUIET_TYPES = new Set([
  'summary',
  'system',
  'file-history-snapshot',
  'progress',
  'queue-operation',
  'custom-title',
  'tag',
  'agent-name',
  'last-prompt',
  'attachment',
  'pr-link',
  'ai-title',
  'mode',
]);

/** An API request as one copy of it in a transcript tells it. */
export type RequestCopy = {
  event: IngestEvent & { ts: number };
  messageId: string | undefined;
  requestId: string | undefined;
  sidechain: boolean;
  /** All tokens of the copy: streamed copies grow, the largest is kept. */
  total: number;
};

export type ToolUse = {
  id: string;
  name: string;
  input: unknown;
  ts: number;
  sessionId?: string;
  project?: string;
  promptId?: string;
  agentId?: string;
  sidechain: boolean;
};
export type ToolResult = { toolUseId: string; isError: boolean; error?: string; response: unknown };

export type Parsed =
  | { kind: 'skip'; reason: string }
  | { kind: 'quiet' }
  | {
      kind: 'record';
      ts: number;
      request?: RequestCopy;
      toolUses: ToolUse[];
      toolResults: ToolResult[];
      prompt?: IngestEvent;
      agentId?: string;
      sessionId?: string;
      project?: string;
    };

/**
 * Fields ccusage's schema refuses as null: a record with one of them null is not an API
 * request to it, so not to us either (its totals are the reference).
 */
const NULL_REFUSED = {
  top: ['cwd', 'costUSD', 'version', 'sessionId', 'requestId', 'isApiErrorMessage'],
  message: ['id', 'model'],
  usage: ['speed', 'cache_read_input_tokens', 'cache_creation_input_tokens'],
};
const hasNull = (o: Obj, keys: string[]) => keys.some((k) => o[k] === null);
/** Claude Code versions are semver; ccusage leaves out records whose version is not. */
const SEMVER_PREFIX = /^\d+\.\d+\.\d/;

export function parseRecord(text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'skip', reason: 'not JSON' };
  }
  const r = obj(value);
  if (!r) return { kind: 'skip', reason: 'not a JSON object' };
  const type = r.type;
  if (typeof type !== 'string') return { kind: 'skip', reason: 'record without a type' };
  if (type !== 'user' && type !== 'assistant')
    return QUIET_TYPES.has(type)
      ? { kind: 'quiet' }
      : { kind: 'skip', reason: `unknown record type ${JSON.stringify(type.slice(0, 60))}` };
  const ts = typeof r.timestamp === 'string' ? Date.parse(r.timestamp) : NaN;
  if (!Number.isFinite(ts)) return { kind: 'skip', reason: 'no valid timestamp' };
  const message = obj(r.message);
  if (!message) return { kind: 'skip', reason: `${type} record without a message` };
  const base = {
    ts,
    sessionId: str(r.sessionId),
    project: clip(str(r.cwd), 1024),
    promptId: str(r.promptId),
    agentId: str(r.agentId),
    sidechain: r.isSidechain === true,
  };
  const content = Array.isArray(message.content) ? message.content.map(obj).filter((b): b is Obj => b !== null) : [];
  const out: Parsed = {
    kind: 'record',
    ts,
    toolUses: [],
    toolResults: [],
    agentId: base.agentId,
    sessionId: base.sessionId,
    project: base.project,
  };
  if (type === 'assistant') {
    const request = requestOf(r, message, base);
    if (typeof request === 'string') return { kind: 'skip', reason: request };
    if (request) out.request = request;
    for (const b of content) {
      const id = str(b.id);
      const name = str(b.name);
      if (b.type === 'tool_use' && id && name) out.toolUses.push({ ...base, id, name, input: b.input });
    }
    return out;
  }
  for (const b of content) {
    const toolUseId = str(b.tool_use_id);
    if (b.type !== 'tool_result' || !toolUseId) continue;
    const isError = b.is_error === true;
    out.toolResults.push({
      toolUseId,
      isError,
      error: isError ? errorText(b.content) : undefined,
      response: r.toolUseResult,
    });
  }
  const prompt = out.toolResults.length === 0 ? promptText(r, message.content) : undefined;
  if (prompt !== undefined && typeof r.uuid === 'string') {
    out.prompt = {
      id: `cc:prompt:${r.uuid}`.slice(0, 200),
      kind: 'prompt',
      ts,
      session_id: clip(base.sessionId, 200),
      project: base.project,
      prompt_id: clip(base.promptId, 200),
      attributes: { length: prompt.length, version: str(r.version) },
    };
  }
  return out;
}

/** The API request an assistant record tells of; a string says why it is left out; undefined: none. */
function requestOf(
  r: Obj,
  message: Obj,
  base: { ts: number; sessionId?: string; project?: string; agentId?: string; sidechain: boolean },
): RequestCopy | string | undefined {
  const usage = obj(message.usage);
  if (!usage) return undefined;
  if (hasNull(r, NULL_REFUSED.top) || hasNull(message, NULL_REFUSED.message) || hasNull(usage, NULL_REFUSED.usage))
    return 'a usage field is null';
  const version = r.version;
  if (version !== undefined && (typeof version !== 'string' || !SEMVER_PREFIX.test(version)))
    return 'version is not semver';
  for (const [field, v] of [
    ['sessionId', r.sessionId],
    ['requestId', r.requestId],
    ['message.id', message.id],
    ['message.model', message.model],
  ] as const) {
    if (v !== undefined && (typeof v !== 'string' || v === '')) return `${field} is not a string`;
  }
  const input = tokens(usage.input_tokens);
  const output = tokens(usage.output_tokens);
  if (input === undefined || output === undefined) return 'usage without input_tokens and output_tokens';
  const cacheRead = tokens(usage.cache_read_input_tokens) ?? 0;
  const split = obj(usage.cache_creation);
  // As ccusage counts them: the 5m/1h split when there is one, else all of it as 5-minute writes.
  const write5m = split
    ? (tokens(split.ephemeral_5m_input_tokens) ?? 0)
    : (tokens(usage.cache_creation_input_tokens) ?? 0);
  const write1h = split ? (tokens(split.ephemeral_1h_input_tokens) ?? 0) : 0;
  const model = str(message.model);
  const total = input + output + cacheRead + write5m + write1h;
  // Claude Code's own notices (model `<synthetic>`) are no API call; ccusage counts their (zero) tokens, unpriced.
  if (model === '<synthetic>' && total === 0) return undefined;
  const messageId = str(message.id);
  const requestId = str(r.requestId);
  const cost = typeof r.costUSD === 'number' && Number.isFinite(r.costUSD) && r.costUSD >= 0 ? r.costUSD : undefined;
  const id = messageId
    ? `cc:req:${messageId}:${requestId ?? ''}`
    : `cc:req:uuid:${str(r.uuid) ?? `${base.sessionId}:${base.ts}`}`;
  const event: RequestCopy['event'] = {
    id: id.slice(0, 200),
    kind: 'api_request',
    ts: base.ts,
    session_id: clip(base.sessionId, 200),
    project: base.project,
    request_id: clip(requestId ?? (messageId ? `msg:${messageId}` : undefined), 200),
    agent_id: base.sidechain ? clip(base.agentId, 200) : undefined,
    model: clip(model, 200),
    input_tokens: input,
    output_tokens: output,
    cache_read_tokens: cacheRead,
    cache_creation_tokens: write5m + write1h,
    cost_usd: cost,
    attributes: {
      cache_creation_1h_tokens: write1h,
      cache_creation_5m_tokens: write5m,
      is_sidechain: base.sidechain,
      version: typeof version === 'string' ? version.slice(0, 64) : undefined,
      service_tier: str(usage.service_tier)?.slice(0, 64),
      speed: str(usage.speed)?.slice(0, 32),
    },
  };
  return { event, messageId, requestId, sidechain: base.sidechain, total };
}

/** Claude Code's own output written as a user record: not something the person typed. */
const NOT_TYPED =
  /^\s*(<local-command-std(out|err)>|<bash-std(out|err)>|<command-message>|<task-notification>|\[Request interrupted)/;

/** The text of a user record that is a prompt, or undefined (meta, sub-agent task, tool output). */
function promptText(r: Obj, content: unknown): string | undefined {
  if (
    r.isMeta === true ||
    r.isSidechain === true ||
    r.isCompactSummary === true ||
    r.isVisibleInTranscriptOnly === true
  )
    return undefined;
  let text: string | undefined;
  if (typeof content === 'string') text = content;
  else if (Array.isArray(content)) {
    const texts = content.map(obj).filter((b) => b?.type === 'text' && typeof b.text === 'string');
    if (texts.length > 0) text = texts.map((b) => b!.text as string).join('\n');
  }
  if (!text?.trim() || NOT_TYPED.test(text)) return undefined;
  return text;
}

function errorText(content: unknown): string | undefined {
  if (typeof content === 'string') return content.slice(0, 4096);
  if (Array.isArray(content)) {
    const text = content.map((b) => (typeof obj(b)?.text === 'string' ? (obj(b)!.text as string) : '')).join('\n');
    return text ? text.slice(0, 4096) : undefined;
  }
  return undefined;
}
