// The older hooks kept no tool_use_id, so a legacy tool record could not be told from the same
// call in Claude Code's transcript of its session, which the same home often still holds (it
// keeps 30 days, the last of the older hooks' time): imported both ways, the call counted
// twice. A record now takes the id of a call of the same tool in that session whose result
// (the hooks wrote the record as the tool returned) is within MATCH_MS of its time; the worker
// then counts the call once, whichever copy arrives first, as it does hooks and OpenTelemetry.
// Records come in time order, and each takes the earliest such call not taken yet: that
// matches as many records as can be matched (a later record's call is never taken early).
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { realpath } from 'node:fs/promises';
import { looksBinary } from './files.js';
import { lineProblem, readLines } from './lines.js';
import { parseRecord } from './transcript-records.js';
import { defaultClaudeRoots, isSubagentFile, transcriptFiles } from './transcript-files.js';

/** How far a legacy record's time may be from its call's result (or, without one, its start). */
export const MATCH_MS = 10_000;
/** Lines read from a transcript named by no session (an older sub-agent file) to find its session. */
const PEEK_LINES = 50;

type Call = { id: string; name: string; at: number; taken: boolean };

/** The older hooks and the transcripts named the sub-agent tool alike in each release; either name matches either. */
const AGENT_TOOLS = new Set(['Task', 'Agent']);
const sameTool = (a: string, b: string) => a === b || (AGENT_TOOLS.has(a) && AGENT_TOOLS.has(b));

/**
 * The tool_use_id for a legacy record of `name` at `ts` in session `sessionId`, from the
 * transcripts of `homes` (`.claude` and `.config/claude` of each; `CLAUDE_CONFIG_DIR` too for
 * the running user's home), or undefined. The transcripts are listed on the first call and a
 * session's read on its first record.
 */
export function transcriptToolIds(
  homes: readonly string[],
): (sessionId: string, name: string, ts: number) => Promise<string | undefined> {
  let files: Promise<Map<string, string[]>> | undefined;
  const sessions = new Map<string, Promise<Call[]>>();
  return async (sessionId, name, ts) => {
    files ??= sessionFiles(homes);
    let calls = sessions.get(sessionId);
    if (!calls) sessions.set(sessionId, (calls = callsOf(sessionId, (await files).get(sessionId) ?? [])));
    const call = (await calls).find((c) => !c.taken && sameTool(c.name, name) && Math.abs(c.at - ts) <= MATCH_MS);
    if (!call) return undefined;
    call.taken = true;
    return call.id;
  };
}

/**
 * Each session's transcript files: `<id>.jsonl`, its sub-agents' `<id>/subagents/*.jsonl`, and
 * an older release's sub-agent files beside it (`agent-*.jsonl`), by the session their records name.
 */
async function sessionFiles(homes: readonly string[]): Promise<Map<string, string[]>> {
  const own = resolve(homedir());
  const roots = homes.flatMap((h) => [
    join(h, '.claude'),
    join(h, '.config', 'claude'),
    ...(resolve(h) === own ? defaultClaudeRoots(process.env, own) : []),
  ]);
  const out = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const file of (await transcriptFiles(roots)).files) {
    const real = await realpath(file).catch(() => file);
    if (seen.has(real)) continue; // a root linked to another
    seen.add(real);
    const name = basename(file, '.jsonl');
    const id = isSubagentFile(file)
      ? basename(dirname(dirname(file)))
      : name.startsWith('agent-')
        ? await sessionNamed(file)
        : name;
    if (id) out.set(id, [...(out.get(id) ?? []), file]);
  }
  return out;
}

/** The session the first records of `file` name, if any. */
async function sessionNamed(file: string): Promise<string | undefined> {
  let n = 0;
  try {
    for await (const line of readLines(file)) {
      if (++n > PEEK_LINES) break;
      const r = line.text && !lineProblem(line.text) ? parseRecord(line.text) : null;
      if (r?.kind === 'record' && r.sessionId) return r.sessionId;
    }
  } catch {
    // Unreadable: no session.
  }
  return undefined;
}

/**
 * The session's tool calls in `files`, in time order, each at its result's time (else its
 * start); what cannot be read names none.
 */
async function callsOf(sessionId: string, files: readonly string[]): Promise<Call[]> {
  const calls = new Map<string, Call>();
  const results = new Map<string, number>();
  for (const file of files) {
    try {
      if (await looksBinary(file)) continue;
      for await (const line of readLines(file)) {
        if (lineProblem(line.text) || !line.text?.trim()) continue;
        const r = parseRecord(line.text);
        if (r.kind !== 'record' || (r.sessionId !== undefined && r.sessionId !== sessionId)) continue;
        for (const u of r.toolUses)
          if (!calls.has(u.id)) calls.set(u.id, { id: u.id, name: u.name, at: u.ts, taken: false });
        for (const t of r.toolResults) if (!results.has(t.toolUseId)) results.set(t.toolUseId, r.ts);
      }
    } catch {
      // An unreadable transcript matches nothing: its records are imported without an id, as before.
    }
  }
  return [...calls.values()].map((c) => ({ ...c, at: results.get(c.id) ?? c.at })).sort((a, b) => a.at - b.at);
}
