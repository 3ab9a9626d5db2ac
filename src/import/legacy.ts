// The older Claude Code hooks' local metrics (~/.agent-os/metrics, ~/.ai-mesh/metrics,
// ~/.ensemble/metrics; /work/shared/brief/legacy-local-metrics.md) → unified events, for
// the import API. Roots are HOME directories. What becomes what:
//   sessions (legacy-sessions.ts)          session_start, session_end (the summary's score as value, its figures as attributes)
//   tool-metrics.jsonl tool_execution      tool_call: tool_name, success → status, execution_time_ms → duration_ms, lines_added/removed
//   tool-metrics.jsonl agent_invocation    agent_interaction: agent_name → name, as the REST API's agents
//   historical-baseline.json               the chunk's baseline (current-baseline.json when there is no historical one)
//   realtime/activity.log, productivity-indicators.json, dashboard-data.json: not imported, they repeat the above
// A record whose session_id is `default-session`/`default` (or none: agent invocations) gets
// the one session whose span holds its time, else no session; the id it had stays in
// attributes.client_session_id. Secrets (`auth_token`…) are dropped before anything else.
// The tool files of all roots are read together in time order, so the same record in two
// roots meets its copy and is imported once (the later one a Skip "duplicate of a record read before");
// ids come from the record's content, so the server keeps one copy across runs as well.
import { realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { eventSchema, type IngestEvent } from '../ingest/schema.js';
import { stableId } from '../ingest/ingest.js';
import { CLIENT_IDS } from '../ingest/rest.js';
import { parseObject, readSmallJson, readToEnd, resumeFrom, statFile, unreadable, VANISHED } from './files.js';
import { MAX_LEGACY_LINE, reachOf, readSessions, sessionAt, timeOf, type Span } from './legacy-sessions.js';
import { lineProblem, lineSkip, numberedLines, TRUNCATED, type NumberedLine } from './lines.js';
import { transcriptToolIds } from './legacy-tool-ids.js';
import { withoutSecrets } from './secrets.js';
import {
  withBoundedSkips,
  type Baseline,
  type FilePosition,
  type ImportChunk,
  type Reader,
  type ReadOptions,
  type Skip,
} from './types.js';

export const LEGACY_DIRS = ['.agent-os', '.ai-mesh', '.ensemble'] as const;
/** Session ids the hooks wrote when they had lost the real one. */
const LOST_SESSION = new Set(['default-session', 'default']);
/** Copies of one record are found within this much of each other in time order (files slightly out of order). */
const DEDUPE_WINDOW_MS = 10 * 60_000;
/** Files the hooks derived from the others: nothing in them to import. */
const DERIVED = ['realtime/activity.log', 'productivity-indicators.json', 'dashboard-data.json'];

/** What is waiting to go out in the next chunk. */
type Pending = { events: IngestEvent[]; skipped: Skip[]; positions: Map<string, FilePosition>; baseline?: Baseline };

export const readLegacy: Reader = withBoundedSkips(async function* (roots, options = {}) {
  const size = Math.max(1, options.chunkEvents ?? 1000);
  const pending: Pending = { events: [], skipped: [], positions: new Map() };
  const skip = (s: Skip) => void pending.skipped.push(s);
  const flush = (): ImportChunk => {
    const chunk: ImportChunk = {
      events: pending.events,
      skipped: pending.skipped,
      positions: [...pending.positions.values()],
      ...(pending.baseline ? { baseline: pending.baseline } : {}),
    };
    Object.assign(pending, { events: [], skipped: [], positions: new Map(), baseline: undefined });
    return chunk;
  };

  const dirs = await metricDirs(roots, skip);
  for (const dir of dirs) await noteDerived(dir, options, pending);
  pending.baseline = await readBaseline(dirs, options, pending);

  const sessions = await readSessions(dirs, options, skip);
  for (const e of sessions.events) {
    const bad = invalid(e);
    if (bad) skip({ file: `session ${e.session_id}`, reason: bad });
    else pending.events.push(e);
    if (pending.events.length >= size) yield flush();
  }
  for (const p of sessions.positions) pending.positions.set(p.file, p);

  yield* readTools(
    dirs.map((d) => join(d, 'tool-metrics.jsonl')),
    sessions.spans,
    transcriptToolIds(roots),
    options,
    pending,
    size,
    flush,
  );
  yield flush();
});

/** Each root's metrics directories that exist, each real directory once. */
async function metricDirs(roots: readonly string[], skip: (s: Skip) => void): Promise<string[]> {
  const out: string[] = [];
  const seen = new Map<string, string>();
  for (const root of roots) {
    let found = 0;
    for (const d of LEGACY_DIRS) {
      const dir = join(root, d, 'metrics');
      try {
        if (!(await stat(dir)).isDirectory()) {
          skip({ file: dir, reason: 'not a directory' });
          continue;
        }
        const real = await realpath(dir);
        found++;
        if (seen.has(real)) skip({ file: dir, reason: `the same directory as ${seen.get(real)}` });
        else seen.set(real, dir), out.push(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') skip({ file: dir, reason: unreadable(err) });
      }
    }
    if (!found)
      skip({ file: root, reason: `no legacy metrics here (${LEGACY_DIRS.map((d) => `${d}/metrics`).join(', ')})` });
  }
  return out;
}

/** The derived files, once each: said to be left out, and marked read. */
async function noteDerived(dir: string, options: ReadOptions, pending: Pending) {
  for (const name of DERIVED) {
    const file = join(dir, name);
    const st = await statFile(file);
    if (typeof st === 'string' || resumeFrom(st, options.resume?.get(file)) === null) continue;
    pending.skipped.push({ file, reason: 'not imported: it repeats what the tool records and sessions hold' });
    pending.positions.set(file, readToEnd(file, st));
  }
}

/** The first root's historical baseline (else its current one), read anew; others are marked read. */
async function readBaseline(
  dirs: readonly string[],
  options: ReadOptions,
  pending: Pending,
): Promise<Baseline | undefined> {
  let baseline: Baseline | undefined;
  for (const name of ['historical-baseline.json', 'current-baseline.json']) {
    for (const dir of dirs) {
      const file = join(dir, name);
      const st = await statFile(file);
      if (st === VANISHED) continue;
      if (typeof st === 'string') {
        pending.skipped.push({ file, reason: st });
        continue;
      }
      if (resumeFrom(st, options.resume?.get(file)) === null) continue;
      pending.positions.set(file, readToEnd(file, st));
      if (baseline) continue;
      const got = await readSmallJson(file, st);
      const b = typeof got === 'string' ? got : baselineOf(got.value);
      if (typeof b === 'string') pending.skipped.push({ file, reason: b });
      else baseline = b;
    }
  }
  return baseline;
}

/** historical-baseline.json → Baseline (its success rate, a percentage there, as a share). */
export function baselineOf(v: unknown): Baseline | string {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const r = v as Record<string, unknown>;
  const rate = (k: string) => (typeof r[k] === 'number' && Number.isFinite(r[k]) && r[k] >= 0 ? r[k] : undefined);
  const commandsPerHour = rate('average_commands_per_hour');
  const linesPerHour = rate('average_lines_per_hour');
  if (commandsPerHour === undefined || linesPerHour === undefined)
    return 'not a baseline: average_commands_per_hour and average_lines_per_hour must be numbers';
  const success = rate('average_success_rate');
  const sessions = rate('sessions_count');
  return {
    commandsPerHour,
    linesPerHour,
    successRate: success === undefined ? null : success > 1 ? Math.min(1, success / 100) : success,
    sessions: sessions === undefined ? 0 : Math.floor(sessions),
  };
}

/** A tool file being read: its next record (not yet accounted for) and how far it is accounted for. */
type Source = {
  file: string;
  lines: AsyncGenerator<NumberedLine> | null;
  head?: { line: NumberedLine; record: Record<string, unknown>; ts: number };
  position: FilePosition;
};

/**
 * The tool files, merged in time order (each file is in time order as the hooks appended
 * it), chunked. A record's copy in another root comes out next to it and is left out.
 */
async function* readTools(
  files: string[],
  spans: Span[],
  toolIds: ReturnType<typeof transcriptToolIds>,
  options: ReadOptions,
  pending: Pending,
  size: number,
  flush: () => ImportChunk,
): AsyncGenerator<ImportChunk> {
  const sources: Source[] = [];
  for (const file of files) {
    const st = await statFile(file);
    if (st === VANISHED) continue;
    if (typeof st === 'string') {
      pending.skipped.push({ file, reason: st });
      continue;
    }
    const from = resumeFrom(st, options.resume?.get(file));
    if (from === null) continue;
    const source: Source = {
      file,
      lines: numberedLines(file, from, MAX_LEGACY_LINE, st.size),
      position: { file, size: st.size, mtimeMs: st.mtimeMs, offset: from, done: false },
    };
    await advance(source, pending);
    sources.push(source);
  }
  const reach = reachOf(spans);
  const seen = new Map<string, { where: string; ts: number }>();
  for (;;) {
    let next: Source | undefined;
    for (const s of sources) if (s.head && (!next || s.head.ts < next.head!.ts)) next = s;
    if (!next) break;
    const { line, record, ts } = next.head!;
    next.position.offset = line.end;
    pending.positions.set(next.file, next.position);
    await advance(next, pending);

    if (options.since !== undefined && ts < options.since) continue;
    const event = toolEvent(record, ts, spans, reach);
    const bad = typeof event === 'string' ? event : invalid(event);
    if (bad) {
      pending.skipped.push(lineSkip(next.file, line, bad));
      continue;
    }
    const e = event as IngestEvent;
    const where = line.number !== undefined ? `${next.file}:${line.number}` : `${next.file} at byte ${line.start}`;
    const copy = seen.get(e.id!);
    if (copy) {
      pending.skipped.push(lineSkip(next.file, line, 'duplicate of a record read before', `first at ${copy.where}`));
      continue;
    }
    seen.set(e.id!, { where, ts });
    // The same call in the session's transcript: its id, so the worker counts the two once.
    const toolUseId = e.kind === 'tool_call' && e.session_id ? await toolIds(e.session_id, e.name!, ts) : undefined;
    if (toolUseId) e.tool_use_id = toolUseId;
    if (seen.size > 10_000)
      for (const [id, s] of seen)
        if (s.ts < ts - DEDUPE_WINDOW_MS) seen.delete(id);
        else break;
    pending.events.push(e);
    if (pending.events.length >= size) yield flush();
  }
}

/** Reads the source's next record into `head`, reporting the bad lines before it; ends its position at the file's end. */
async function advance(s: Source, pending: Pending) {
  s.head = undefined;
  if (!s.lines) return;
  try {
    for (let r = await s.lines.next(); !r.done; r = await s.lines.next()) {
      const line = r.value;
      const problem = lineProblem(line.text);
      const text = line.text ?? '';
      const record = problem || text.trim() === '' ? null : parseRecord(text);
      const ts = record ? timeOf(record.timestamp) : undefined;
      if (record && ts !== undefined) {
        s.head = { line, record, ts };
        return;
      }
      if (!line.terminated && !problem && text.trim() !== '') {
        pending.skipped.push(lineSkip(s.file, line, TRUNCATED));
        await s.lines.return(undefined);
        s.lines = null;
        return;
      }
      if (problem) pending.skipped.push(lineSkip(s.file, line, problem));
      else if (text.trim() !== '')
        pending.skipped.push(lineSkip(s.file, line, record ? 'no valid timestamp' : 'not JSON'));
      s.position.offset = line.end;
      pending.positions.set(s.file, s.position);
    }
    s.position.done = true;
    s.position.offset = s.position.size;
  } catch (err) {
    pending.skipped.push({ file: s.file, reason: unreadable(err) });
  }
  pending.positions.set(s.file, s.position);
  s.lines = null;
}

const parseRecord = (text: string) => {
  const r = parseObject(text);
  return r && withoutSecrets(r);
};

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

/** Fields that become columns (or the kind): the rest of a record goes to attributes. */
const MAPPED = new Set([
  'event_type',
  'timestamp',
  'tool_name',
  'agent_name',
  'success',
  'execution_time_ms',
  'session_id',
  'lines_added',
  'lines_removed',
]);

/** One tool record → its event, or why not. */
export function toolEvent(
  r: Record<string, unknown>,
  ts: number,
  spans: readonly Span[],
  reach: readonly number[],
): IngestEvent | string {
  const type = r.event_type;
  if (type !== 'tool_execution' && type !== 'agent_invocation')
    return `unknown event_type ${JSON.stringify(String(type)).slice(0, 80)}`;
  const name = str(type === 'tool_execution' ? r.tool_name : r.agent_name);
  if (!name) return `no ${type === 'tool_execution' ? 'tool_name' : 'agent_name'}`;
  const given = str(r.session_id);
  const sessionId = given && !LOST_SESSION.has(given) ? given : sessionAt(spans, reach, ts);
  const attributes: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r))
    if (!MAPPED.has(k) && v !== undefined) attributes[Object.hasOwn(CLIENT_IDS, k) ? CLIENT_IDS[k]! : k] = v;
  if (given && given !== sessionId) attributes.client_session_id = given;
  // The same record in two roots gives the same id: built from what the hooks wrote, not from where.
  const id = stableId(
    [
      'legacy',
      type === 'tool_execution' ? 'tool' : 'agent',
      given ?? '',
      ts,
      name,
      String(r.execution_time_ms ?? ''),
      String(r.success ?? ''),
    ].join(':'),
  );
  return {
    id,
    kind: type === 'tool_execution' ? 'tool_call' : 'agent_interaction',
    ts,
    session_id: sessionId,
    name,
    status: r.success === true ? 'success' : r.success === false ? 'failure' : undefined,
    duration_ms: count(r.execution_time_ms),
    lines_added: type === 'tool_execution' ? count(r.lines_added) : undefined,
    lines_removed: type === 'tool_execution' ? count(r.lines_removed) : undefined,
    ...(Object.keys(attributes).length ? { attributes } : {}),
  };
}

/** Why the import API would refuse `e` (a field too long…), or null. */
function invalid(e: IngestEvent): string | null {
  const parsed = eventSchema.safeParse(e);
  if (parsed.success) return null;
  const issue = parsed.error.issues[0]!;
  return `${issue.path.map(String).join('.') || 'event'} ${issue.message}`;
}
