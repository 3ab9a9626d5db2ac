// Claude Code transcripts → unified events (api_request, tool_call, prompt, subagent_start),
// counted as ccusage counts them: each API request once across all files of a run. Copies
// of one request (streamed copies grow; sidechain replays) are held while they are near,
// the best kept; once behind, only a hash of the request is remembered, so memory stays
// bounded by a window of lines, never by file size.
import { createHash } from 'node:crypto';
import { editLines } from '../ingest/edit-lines.js';
import type { IngestEvent } from '../ingest/schema.js';
import { looksBinary, readToEnd, resumeFrom, statFile, unreadable } from './files.js';
import { lineProblem, lineSkip, MAX_LINE, numberedLines, readLines, TRUNCATED, type NumberedLine } from './lines.js';
import { isSubagentFile, transcriptFiles } from './transcript-files.js';
import { parseRecord, type RequestCopy, type ToolResult, type ToolUse } from './transcript-records.js';
import { withBoundedSkips, type FilePosition, type ImportChunk, type Reader, type Skip } from './types.js';

export { defaultClaudeRoots } from './transcript-files.js';

/** Copies of a request further apart than this many lines are taken as behind (streamed copies are adjacent). */
const WINDOW_LINES = 2000;
/** Tool calls waiting for their result; past this the oldest goes out without one. */
const MAX_OPEN_TOOLS = 10_000;
/** Skips reported per file; beyond, one line says how many more. */
const MAX_SKIPS_PER_FILE = 100;
/**
 * A session whose newest record is this recent may still be written: Claude Code adds its
 * last message's later (larger) copies and its tool calls' results after it. At the end of
 * such a file that last message waits for a later run (`agentmeter sync`, every 15
 * minutes), which reads again from it: sent now, its first copy would be stored and the
 * later one refused as its duplicate.
 */
export const LIVE_MS = 15 * 60_000;
/**
 * How long after a session's last record its tool calls still wait for their results: a
 * permission prompt waits for its person, a sub-agent writes to its own file meanwhile.
 * Past it they go out without one.
 */
export const TOOL_WAIT_MS = 24 * 3_600_000;
/** Tools that start a sub-agent. */
const AGENT_TOOLS = new Set(['Task', 'Agent']);

const hash = (s: string) => createHash('sha1').update(s).digest().readUIntBE(0, 6);
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null);

/** What a run remembers of what it has handed out: hashes only. */
function createSeen() {
  const ids = new Set<number>();
  const messages = new Set<number>();
  const sidechainMessages = new Set<number>();
  return {
    /** Whether the event id was handed out before; marks it as handed out. */
    once(id: string): boolean {
      const h = hash(id);
      if (ids.has(h)) return false;
      ids.add(h);
      return true;
    },
    /**
     * Whether this request copy is one already handed out: the same message and request
     * id, or (ccusage's rule for sidechain replays, which get a new request id) the same
     * message where either copy is a sidechain's.
     */
    request(c: RequestCopy): boolean {
      if (!c.messageId) return this.once(c.event.id!);
      const m = hash(c.messageId);
      if (messages.has(m) && (c.sidechain || sidechainMessages.has(m))) return false;
      if (!this.once(c.event.id!)) return false;
      messages.add(m);
      if (c.sidechain) sidechainMessages.add(m);
      return true;
    },
    /**
     * A main copy of this message went out before this run or goes out after it (kept back
     * with a live session's last message): a sidechain replay of it is left out, as it would
     * be were the copy handed out in this run.
     */
    mainCopy(messageId: string): void {
      messages.add(hash(messageId));
    },
    /** Whether a copy of this message was handed out (or noted by mainCopy) in this run. */
    knows: (messageId: string) => messages.has(hash(messageId)),
  };
}

/** ccusage's choice between two copies of a request: the non-sidechain one, else the larger. */
const better = (a: RequestCopy, b: RequestCopy) => (a.sidechain !== b.sidechain ? !a.sidechain : a.total > b.total);

type Held = { copy: RequestCopy; start: number; line: number };
/** A tool call waiting for its result; `message`: the id of the message that made it. */
type OpenTool = { use: ToolUse; message: string | undefined; start: number; line: number };

export const readTranscripts: Reader = withBoundedSkips(async function* (roots, options = {}) {
  const chunkEvents = Math.max(1, options.chunkEvents ?? 1000);
  const since = options.since ?? -Infinity;
  const now = options.now ?? Date.now();
  const seen = createSeen();
  const mainMessages = mainMessagesOf();
  const buffer: IngestEvent[] = [];
  let skipped: Skip[] = [];
  // Positions in order, each tied to how many buffered events it covers.
  let marks: { at: number; pos: FilePosition }[] = [];
  const take = (n: number): ImportChunk => {
    const events = buffer.splice(0, n);
    const byFile = new Map<string, FilePosition>();
    for (const m of marks) if (m.at <= n) byFile.set(m.pos.file, m.pos);
    marks = marks.filter((m) => m.at > n).map((m) => ({ ...m, at: m.at - n }));
    const chunk = { events, skipped, positions: [...byFile.values()] };
    skipped = [];
    return chunk;
  };
  const mark = (pos: FilePosition) => {
    const last = marks.at(-1);
    if (last && last.at === buffer.length && last.pos.file === pos.file) last.pos = pos;
    else marks.push({ at: buffer.length, pos });
  };

  const found = await transcriptFiles(roots);
  skipped.push(...found.skipped);
  for (const file of found.files) {
    const info = await statFile(file);
    if (typeof info === 'string') {
      skipped.push({ file, reason: info });
      continue;
    }
    const from = resumeFrom(info, options.resume?.get(file));
    if (from === null) continue;

    let fileSkips = 0;
    const skip = (line: NumberedLine, reason: string) => {
      if (++fileSkips <= MAX_SKIPS_PER_FILE) skipped.push(lineSkip(file, line, reason));
    };
    try {
      if (await looksBinary(file)) {
        skipped.push({ file, reason: 'binary file, not JSON lines' });
        mark(readToEnd(file, info));
        continue;
      }
    } catch (err) {
      skipped.push({ file, reason: unreadable(err) });
      continue;
    }

    const held = new Map<string, Held>();
    const heldByMessage = new Map<string, string>();
    const open = new Map<string, OpenTool>();
    // The tool calls handed out from this file in this run: a replay of one (a /btw copy of
    // its message) does not open it again.
    const closed = new Set<number>();
    const subagentFile = isSubagentFile(file);
    const emit = (ev: IngestEvent) => {
      if ((ev.ts ?? 0) >= since && seen.once(ev.id!)) buffer.push(ev);
    };
    const release = (key: string) => {
      const h = held.get(key)!;
      held.delete(key);
      if (heldByMessage.get(h.copy.messageId ?? '') === key) heldByMessage.delete(h.copy.messageId!);
      if (h.copy.event.ts >= since) offer(h.copy);
    };
    // What earlier runs handed out of a resumed session file: the part before `from` (a
    // sub-agent's file holds sidechain copies only).
    const resumed = from > 0 && !subagentFile;
    // Sidechain replays of a message this run has not seen, checked against that part (async) before they go out.
    const replays: RequestCopy[] = [];
    const offer = (copy: RequestCopy) => {
      if (copy.sidechain && copy.messageId && resumed && !seen.knows(copy.messageId)) replays.push(copy);
      else if (seen.request(copy)) buffer.push(copy.event);
    };
    const settleReplays = async () => {
      for (const copy of replays.splice(0)) {
        if ((await mainMessages(file, from)).has(hash(copy.messageId!))) {
          seen.mainCopy(copy.messageId!);
          // Its tool calls are the main copy's, answered and handed out then: none waits.
          for (const t of [...open.values()])
            if (t.use.sidechain && t.message === copy.messageId) open.delete(t.use.id);
        } else if (seen.request(copy)) buffer.push(copy.event);
      }
    };
    const closeTool = (t: OpenTool, result: ToolResult | undefined, ts: number) => {
      open.delete(t.use.id);
      closed.add(hash(t.use.id));
      for (const ev of toolEvents(t.use, result, ts)) emit(ev);
    };
    const hold = (copy: RequestCopy, start: number, line: number) => {
      if (!copy.messageId) {
        if (copy.event.ts >= since && seen.request(copy)) buffer.push(copy.event);
        return;
      }
      const exact = copy.event.id!;
      const twin = heldByMessage.get(copy.messageId);
      const key = held.has(exact)
        ? exact
        : twin !== undefined && (copy.sidechain || held.get(twin)?.copy.sidechain)
          ? twin
          : undefined;
      const h = key === undefined ? undefined : held.get(key);
      if (!h) {
        held.set(exact, { copy, start, line });
        heldByMessage.set(copy.messageId, exact);
        return;
      }
      h.line = line;
      if (!better(copy, h.copy)) return;
      h.copy = copy;
      if (key !== exact) {
        held.delete(key!);
        held.set(exact, h);
        heldByMessage.set(copy.messageId, exact);
      }
    };
    // The first byte not yet accounted for: where a resumed run must start again.
    const safeOffset = (upTo: number) => {
      let offset = upTo;
      for (const h of held.values()) offset = Math.min(offset, h.start);
      for (const t of open.values()) offset = Math.min(offset, t.start);
      return offset;
    };

    let lineNo = 0;
    let accounted = from;
    let marked = -1;
    let newest = -Infinity;
    // Where the file's last message began: the run of copies of one assistant message at its
    // end (a record of anything else after a message settles it: its copies are all written).
    let lastMessage: string | undefined;
    let lastMessageFrom = 1;
    try {
      for await (const line of numberedLines(file, from)) {
        lineNo++;
        const problem = lineProblem(line.text);
        if (problem) {
          skip(line, problem);
        } else if (line.text!.trim() !== '') {
          const parsed = parseRecord(line.text!);
          if (parsed.kind === 'skip') {
            if (!line.terminated) {
              skipped.push(lineSkip(file, line, TRUNCATED));
              break;
            }
            skip(line, parsed.reason);
          } else if (parsed.kind === 'record') {
            newest = Math.max(newest, parsed.ts);
            const message = parsed.request?.messageId;
            if (message === undefined || message !== lastMessage)
              lastMessageFrom = message !== undefined || parsed.toolUses.length > 0 ? lineNo : lineNo + 1;
            lastMessage = message;
            if (parsed.request) {
              hold(parsed.request, line.start, lineNo);
              // Every tool call of an earlier message of this chain is answered before the
              // next one (the API refuses it otherwise): one still open never will be. A
              // sidechain without an agent id (sub-agents written inline by Claude Code 1.0)
              // may be several chains at once: its calls wait.
              const chain = !parsed.request.sidechain || parsed.agentId !== undefined;
              for (const t of chain ? [...open.values()] : [])
                if (
                  t.message !== undefined &&
                  t.message !== message &&
                  t.use.sidechain === parsed.request.sidechain &&
                  t.use.agentId === parsed.agentId
                )
                  closeTool(t, undefined, t.use.ts);
            }
            for (const use of parsed.toolUses) {
              if (!open.has(use.id) && !closed.has(hash(use.id)))
                open.set(use.id, { use, message, start: line.start, line: lineNo });
              if (open.size > MAX_OPEN_TOOLS) closeTool(open.values().next().value!, undefined, use.ts);
            }
            for (const result of parsed.toolResults) {
              const t = open.get(result.toolUseId);
              if (t) closeTool(t, result, parsed.ts);
            }
            if (parsed.prompt) emit(parsed.prompt);
            if (subagentFile && parsed.agentId) emit(subagentStart(parsed.agentId, undefined, parsed));
          }
        }
        if (lineNo % 256 === 0) for (const [key, h] of held) if (h.line < lineNo - WINDOW_LINES) release(key);
        if (replays.length) await settleReplays();
        accounted = line.end;
        // A mark per line that added events (bounded by the buffer), and now and then.
        if (buffer.length !== marked || lineNo % 256 === 0) {
          mark({ file, size: info.size, mtimeMs: info.mtimeMs, offset: safeOffset(accounted), done: false });
          marked = buffer.length;
        }
        while (buffer.length >= chunkEvents) yield take(chunkEvents);
      }
    } catch (err) {
      skipped.push({ file, reason: unreadable(err) });
    }
    const end = await statFile(file);
    const stat = typeof end === 'string' ? info : end;
    if (fileSkips > MAX_SKIPS_PER_FILE)
      skipped.push({ file, reason: `${fileSkips - MAX_SKIPS_PER_FILE} more lines skipped` });
    // A session under way keeps back its last message (copies still to come), and for a day
    // its tool calls without a result (parallel calls answer one by one; a sub-agent runs
    // for minutes; a permission waits for its person), and is read again from the first of
    // them next time; the rest is settled.
    const live = !options.snapshot && now - newest < LIVE_MS;
    const waiting = !options.snapshot && now - newest < TOOL_WAIT_MS;
    const settledBefore = live ? lastMessageFrom : Infinity;
    for (const [key, h] of [...held]) {
      if (h.line < settledBefore) release(key);
      else if (h.copy.messageId && !h.copy.sidechain) seen.mainCopy(h.copy.messageId);
    }
    if (!waiting) for (const t of [...open.values()]) closeTool(t, undefined, t.use.ts);
    await settleReplays();
    if (held.size > 0 || open.size > 0)
      mark({ file, size: stat.size, mtimeMs: stat.mtimeMs, offset: safeOffset(accounted), done: false });
    else mark({ ...readToEnd(file, stat), offset: accounted });
    while (buffer.length >= chunkEvents) yield take(chunkEvents);
  }
  if (buffer.length > 0 || marks.length > 0 || skipped.length > 0) yield take(buffer.length);
});

/**
 * The hashes of the messages with a main (not sidechain) copy in a file before a byte, read
 * once a run: what earlier runs handed out, for the sidechain replays a later part of the
 * file brings (Claude Code's /btw). Read only when such a replay
 * comes; a file that cannot be read has none.
 */
function mainMessagesOf(): (file: string, until: number) => Promise<Set<number>> {
  const read = new Map<string, Promise<Set<number>>>();
  return (file, until) => {
    const key = `${until} ${file}`;
    let found = read.get(key);
    if (!found) {
      found = (async () => {
        const out = new Set<number>();
        try {
          for await (const line of readLines(file, 0, MAX_LINE, until)) {
            if (!line.text?.includes('"assistant"')) continue;
            const parsed = parseRecord(line.text);
            const request = parsed.kind === 'record' ? parsed.request : undefined;
            if (request?.messageId && !request.sidechain) out.add(hash(request.messageId));
          }
        } catch {
          // Gone or unreadable: nothing handed out from it can be told.
        }
        return out;
      })();
      read.set(key, found);
    }
    return found;
  };
}

/** A finished tool call, and the sub-agent it started when it is an Agent/Task call. */
function toolEvents(use: ToolUse, result: ToolResult | undefined, ts: number): IngestEvent[] {
  const response = obj(result?.response);
  const failed = result?.isError === true;
  const durationOf = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
  const lines = result && !failed ? editLines(use.name, use.input, result.response) : null;
  const call: IngestEvent = {
    id: `cc:tool:${use.id}`.slice(0, 200),
    kind: 'tool_call',
    ts,
    session_id: use.sessionId?.slice(0, 200),
    project: use.project,
    prompt_id: use.promptId?.slice(0, 200),
    tool_use_id: use.id.slice(0, 200),
    agent_id: use.sidechain ? use.agentId?.slice(0, 200) : undefined,
    name: use.name.slice(0, 256),
    status: result ? (failed ? 'failure' : 'success') : undefined,
    error: failed ? result.error : undefined,
    duration_ms: durationOf(response?.durationMs) ?? durationOf(response?.totalDurationMs),
    lines_added: lines?.added,
    lines_removed: lines?.removed,
    attributes: result ? { is_sidechain: use.sidechain } : { is_sidechain: use.sidechain, no_result: true },
  };
  if (!AGENT_TOOLS.has(use.name)) return [call];
  const input = obj(use.input);
  const agentId = typeof response?.agentId === 'string' && response.agentId ? response.agentId : use.id;
  return [
    call,
    subagentStart(agentId, typeof input?.subagent_type === 'string' ? input.subagent_type : undefined, use),
  ];
}

function subagentStart(
  agentId: string,
  agentType: string | undefined,
  at: { ts: number; sessionId?: string; project?: string; promptId?: string },
): IngestEvent {
  return {
    id: `cc:agent:${agentId}`.slice(0, 200),
    kind: 'subagent_start',
    ts: at.ts,
    session_id: at.sessionId?.slice(0, 200),
    project: at.project,
    prompt_id: at.promptId?.slice(0, 200),
    agent_id: agentId.slice(0, 200),
    agent_type: agentType?.slice(0, 200),
    name: agentType?.slice(0, 256),
  };
}
