// The older hooks kept no tool_use_id, so a legacy tool record could not be told from the same
// call in Claude Code's transcript of its session, which the same home often still holds (it
// keeps 30 days, the last of the older hooks' time): imported both ways, the call counted
// twice. A record now takes the id of the call of the same tool in that session whose result
// came nearest its time (the hooks wrote it as the tool returned), within MATCH_MS; the
// worker then counts the call once, whichever copy arrives first, as it does hooks and
// OpenTelemetry. A call is matched once; a record with none near stays without an id.
import { basename, dirname, join } from 'node:path';
import { lineProblem, readLines } from './lines.js';
import { parseRecord } from './transcript-records.js';
import { isSubagentFile, transcriptFiles } from './transcript-files.js';

/** How far a legacy record's time may be from its call's result (or, without one, its start). */
export const MATCH_MS = 10_000;

type Call = { id: string; name: string; at: number; taken: boolean };

/** The older hooks and the transcripts named the sub-agent tool alike in each release; either name matches either. */
const AGENT_TOOLS = new Set(['Task', 'Agent']);
const sameTool = (a: string, b: string) => a === b || (AGENT_TOOLS.has(a) && AGENT_TOOLS.has(b));

/**
 * The tool_use_id for a legacy record of `name` at `ts` in session `sessionId`, from the
 * transcripts under `homes` (`.claude` and `.config/claude` of each), or undefined. The
 * transcripts are listed on the first call and a session's read on its first record.
 */
export function transcriptToolIds(
  homes: readonly string[],
): (sessionId: string, name: string, ts: number) => Promise<string | undefined> {
  let files: Promise<Map<string, string[]>> | undefined;
  const sessions = new Map<string, Promise<Call[]>>();
  return async (sessionId, name, ts) => {
    files ??= sessionFiles(homes);
    let calls = sessions.get(sessionId);
    if (!calls) sessions.set(sessionId, (calls = callsOf((await files).get(sessionId) ?? [])));
    let best: Call | undefined;
    for (const c of await calls)
      if (!c.taken && sameTool(c.name, name) && Math.abs(c.at - ts) <= MATCH_MS)
        if (!best || Math.abs(c.at - ts) < Math.abs(best.at - ts)) best = c;
    if (!best) return undefined;
    best.taken = true;
    return best.id;
  };
}

/** Each session's transcript files: `<id>.jsonl`, and its sub-agents' `<id>/subagents/*.jsonl`. */
async function sessionFiles(homes: readonly string[]): Promise<Map<string, string[]>> {
  const roots = homes.flatMap((h) => [join(h, '.claude'), join(h, '.config', 'claude')]);
  const out = new Map<string, string[]>();
  for (const file of (await transcriptFiles(roots)).files) {
    const id = isSubagentFile(file) ? basename(dirname(dirname(file))) : basename(file, '.jsonl');
    out.set(id, [...(out.get(id) ?? []), file]);
  }
  return out;
}

/** The tool calls of a session's files, each at its result's time (else its start); what cannot be read names none. */
async function callsOf(files: readonly string[]): Promise<Call[]> {
  const calls = new Map<string, Call>();
  const results = new Map<string, number>();
  for (const file of files) {
    try {
      for await (const line of readLines(file)) {
        if (lineProblem(line.text) || !line.text?.trim()) continue;
        const r = parseRecord(line.text);
        if (r.kind !== 'record') continue;
        for (const u of r.toolUses)
          if (!calls.has(u.id)) calls.set(u.id, { id: u.id, name: u.name, at: u.ts, taken: false });
        for (const t of r.toolResults) if (!results.has(t.toolUseId)) results.set(t.toolUseId, r.ts);
      }
    } catch {
      // An unreadable transcript matches nothing: the record is imported without an id, as before.
    }
  }
  return [...calls.values()].map((c) => ({ ...c, at: results.get(c.id) ?? c.at }));
}
