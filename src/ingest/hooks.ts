// Claude Code `http` hooks → unified events. Every hook event is kept (unknown names as
// kind `other`); tool events become tool_start / tool_call, paired by tool_use_id. A
// successful edit tool's call carries the lines it changed (edit-lines.ts).
import type { IngestEvent, Kind } from './schema.js';
import { editLines } from './edit-lines.js';
import { eventId, stableId } from './ingest.js';
import { canonicalJson } from './sanitize.js';

const KIND_OF: Record<string, Kind> = {
  SessionStart: 'session_start',
  SessionEnd: 'session_end',
  UserPromptSubmit: 'prompt',
  PreToolUse: 'tool_start',
  PostToolUse: 'tool_call',
  PostToolUseFailure: 'tool_call',
  SubagentStart: 'subagent_start',
  SubagentStop: 'subagent_stop',
};

export class HookBodyError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

/**
 * One hook body → one event. The id comes from the body itself (session, event name,
 * tool_use_id and a digest of the content), so a retried POST is stored once.
 * `timed` gives the time from the matching PreToolUse to this PostToolUse (createToolStarts),
 * for a duration when the PostToolUse carries none.
 */
export function hookToEvent(body: unknown, timed: (toolUseId: string) => number | undefined): IngestEvent {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new HookBodyError('body', 'must be a JSON object');
  const b = body as Record<string, unknown>;
  const eventName = str(b.hook_event_name);
  if (!eventName) throw new HookBodyError('hook_event_name', 'is required');
  // Claude Code sends a session with every event, and a tool's name with every tool event:
  // without them an event would count as a session of its own, or a tool "(unnamed)".
  if (typeof b.session_id !== 'string') throw new HookBodyError('session_id', 'must be a string');
  if (!str(b.session_id)) throw new HookBodyError('session_id', 'is required');
  const kind = KIND_OF[eventName] ?? 'other';
  if ((kind === 'tool_start' || kind === 'tool_call') && !str(b.tool_name))
    throw new HookBodyError('tool_name', `is required for ${eventName}`);
  if (b.duration_ms !== undefined && b.duration_ms !== null && num(b.duration_ms) === undefined)
    throw new HookBodyError('duration_ms', 'must be a number of milliseconds, 0 or more');
  const toolUseId = str(b.tool_use_id);
  const failed = eventName === 'PostToolUseFailure';

  let duration = num(b.duration_ms);
  if (duration === undefined && kind === 'tool_call' && toolUseId) duration = timed(toolUseId);
  const digest = eventId('hook-body', canonicalJson(b)).toString(36);
  const lines = kind === 'tool_call' && !failed ? editLines(str(b.tool_name), b.tool_input, b.tool_response) : null;
  return {
    id: stableId(['hook', b.session_id ?? '', eventName, toolUseId ?? '', digest].join(':')),
    kind,
    session_id: str(b.session_id),
    project: str(b.cwd),
    prompt_id: str(b.prompt_id),
    tool_use_id: toolUseId,
    agent_id: str(b.agent_id),
    agent_type: str(b.agent_type),
    name:
      kind === 'tool_start' || kind === 'tool_call'
        ? str(b.tool_name)
        : kind === 'subagent_start' || kind === 'subagent_stop'
          ? str(b.agent_type)
          : eventName,
    model: str(b.model),
    status:
      kind === 'tool_call' ? (failed ? 'failure' : 'success') : eventName === 'SessionEnd' ? str(b.reason) : undefined,
    duration_ms: duration,
    lines_added: lines?.added,
    lines_removed: lines?.removed,
    error: failed ? errorText(b.error) : eventName === 'StopFailure' ? errorText(b.error) : undefined,
    attributes: b,
  };
}

/** The hook body's field an ingest-step rejection of its `event` is about (the unified name otherwise). */
export function hookField(event: IngestEvent, field: string): string {
  if (field === 'project') return 'cwd';
  if (field === 'name')
    return event.kind === 'tool_start' || event.kind === 'tool_call'
      ? 'tool_name'
      : event.kind === 'subagent_start' || event.kind === 'subagent_stop'
        ? 'agent_type'
        : 'hook_event_name';
  if (field === 'status') return event.kind === 'session_end' ? 'reason' : 'hook_event_name';
  if (field === 'attributes') return 'body';
  return field;
}

function errorText(v: unknown): string | undefined {
  if (typeof v === 'string') return v.slice(0, 4096);
  if (v && typeof v === 'object') return JSON.stringify(v).slice(0, 4096);
  return undefined;
}

/**
 * Receipt times of recent PreToolUse events per tenant, to time the matching PostToolUse: from
 * the PreToolUse to the first receipt of its PostToolUse. The pair is forgotten only once that
 * is stored, so a PostToolUse retried after a failed store gets the same duration.
 */
export function createToolStarts(maxPerTenant = 10_000) {
  const byTenant = new Map<string, Map<string, { start: number; end?: number }>>();
  return {
    remember(tenantId: string, toolUseId: string, at: number) {
      let m = byTenant.get(tenantId);
      if (!m) byTenant.set(tenantId, (m = new Map()));
      m.set(toolUseId, { start: at });
      if (m.size > maxPerTenant) m.delete(m.keys().next().value!);
    },
    /** The tool's duration if its PreToolUse was seen, its PostToolUse received `at` (or earlier). */
    duration(tenantId: string, toolUseId: string, at: number): number | undefined {
      const pair = byTenant.get(tenantId)?.get(toolUseId);
      if (!pair) return undefined;
      pair.end ??= at;
      return Math.max(0, pair.end - pair.start);
    },
    forget(tenantId: string, toolUseId: string) {
      byTenant.get(tenantId)?.delete(toolUseId);
    },
  };
}
