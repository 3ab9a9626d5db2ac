// The legacy hooks' sessions (see legacy.ts): one session is told by up to four files, the
// start record (sessions/<id>.json), its event stream (sessions/<id>.jsonl), its summary
// (sessions/<id>_summary.json) and a line of session-history.jsonl. They are merged per
// session id (the first root and file to give a field wins) into a `session_start` and a
// `session_end`, and the sessions' spans are kept to give tool records that lost their
// session id the one session they fall in. Held in memory: a few fields per session.
import { basename, join } from 'node:path';
import { readdir } from 'node:fs/promises';
import type { IngestEvent } from '../ingest/schema.js';
import { parseIsoTime } from '../ingest/iso-time.js';
import { parseObject, readSmallJson, readToEnd, resumeFrom, statFile, unreadable, VANISHED } from './files.js';
import { lineProblem, lineSkip, numberedLines, TRUNCATED } from './lines.js';
import { withoutSecrets } from './secrets.js';
import type { FilePosition, ReadOptions, Skip } from './types.js';

type Session = {
  id: string;
  start?: number;
  end?: number;
  project?: string;
  attributes: Record<string, unknown>;
  summary?: Record<string, unknown>;
  fresh: boolean;
};

/** A session's span, for attaching records by time. */
export type Span = { id: string; start: number; end: number };

export type SessionsRead = { events: IngestEvent[]; spans: Span[]; positions: FilePosition[] };

/** An ISO time (or epoch ms) → epoch ms, or undefined. */
export function timeOf(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.trunc(v);
  return typeof v === 'string' ? (parseIsoTime(v) ?? undefined) : undefined;
}

const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** The hooks' lines are short: a longer one is garbage, passed over (several files are read at once). */
export const MAX_LEGACY_LINE = 4 * 1024 * 1024;

/**
 * Reads every session file of the metrics directories `dirs`. Files (and history lines) an
 * earlier run read to the end are still read for the spans, but give no events or skips.
 */
export async function readSessions(
  dirs: readonly string[],
  options: ReadOptions,
  skip: (s: Skip) => void,
): Promise<SessionsRead> {
  const sessions = new Map<string, Session>();
  const positions: FilePosition[] = [];

  /** Merges what one record says of a session. */
  const tell = (
    id: unknown,
    fresh: boolean,
    facts: {
      start?: unknown;
      end?: unknown;
      project?: unknown;
      attributes?: Record<string, unknown>;
      summary?: Record<string, unknown>;
    },
  ) => {
    const sid = text(id);
    if (!sid) return false;
    let s = sessions.get(sid);
    if (!s) sessions.set(sid, (s = { id: sid, attributes: {}, fresh: false }));
    s.fresh ||= fresh;
    s.start ??= timeOf(facts.start);
    s.end ??= timeOf(facts.end);
    s.project ??= text(facts.project);
    for (const [k, v] of Object.entries(facts.attributes ?? {}))
      if (v !== undefined && !(k in s.attributes)) s.attributes[k] = v;
    s.summary ??= facts.summary;
    return true;
  };
  const startFacts = (r: Record<string, unknown>) => ({
    project: r.working_directory,
    attributes: { git_branch: r.git_branch, user: r.user },
  });
  const summaryFacts = (r: Record<string, unknown>) => {
    const { session_id: _id, start_time: start, end_time: end, ...summary } = r;
    return { start, end, summary };
  };

  for (const dir of dirs) {
    const sessionDir = join(dir, 'sessions');
    let names: string[] = [];
    try {
      names = (await readdir(sessionDir)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') skip({ file: sessionDir, reason: unreadable(err) });
    }
    for (const name of names) {
      const file = join(sessionDir, name);
      const kind = name.endsWith('_summary.json')
        ? 'summary'
        : name.endsWith('.jsonl')
          ? 'stream'
          : name.endsWith('.json')
            ? 'start'
            : null;
      if (!kind) continue; // not the hooks': left alone
      const st = await statFile(file);
      if (typeof st === 'string') {
        skip({ file, reason: st });
        continue;
      }
      const fresh = resumeFrom(st, options.resume?.get(file)) !== null;
      const report = (s: Skip) => fresh && skip(s);
      if (kind === 'stream') {
        const done = await readStream(file, st.size, fresh, tell, report);
        if (fresh) positions.push(done ? readToEnd(file, st) : { ...readToEnd(file, st), offset: 0, done: false });
        continue;
      }
      const got = await readSmallJson(file, st);
      const r = typeof got === 'string' ? null : (withoutSecrets(got.value) as Record<string, unknown> | null);
      if (typeof got === 'string') report({ file, reason: got });
      else if (!r || typeof r !== 'object' || Array.isArray(r)) report({ file, reason: 'not a JSON object' });
      else if (
        !tell(
          r.session_id ?? basename(name, kind === 'summary' ? '_summary.json' : '.json'),
          fresh,
          kind === 'start' ? { start: r.start_time, ...startFacts(r) } : summaryFacts(r),
        )
      )
        report({ file, reason: 'no session_id' });
      if (fresh) positions.push(readToEnd(file, st));
    }

    const history = join(dir, 'session-history.jsonl');
    const st = await statFile(history);
    if (typeof st === 'string') {
      if (st !== VANISHED) skip({ file: history, reason: st });
      continue;
    }
    const from = resumeFrom(st, options.resume?.get(history));
    let offset = 0;
    let done = true;
    try {
      for await (const line of numberedLines(history, 0, MAX_LEGACY_LINE, st.size)) {
        const fresh = from !== null && line.start >= from;
        const report = (reason: string) => fresh && skip(lineSkip(history, line, reason));
        const problem = lineProblem(line.text);
        if (problem) report(problem);
        else if (line.text!.trim() === '') {
          // blank: nothing to say
        } else {
          const r = parseObject(line.text!);
          if (!r && !line.terminated) {
            report(TRUNCATED);
            done = false;
            break;
          }
          if (!r) report('not JSON');
          else if (!tell(r.session_id, fresh, summaryFacts(withoutSecrets(r)))) report('no session_id');
        }
        offset = line.end;
      }
    } catch (err) {
      skip({ file: history, reason: unreadable(err) });
      done = false;
    }
    if (from !== null) positions.push({ file: history, size: st.size, mtimeMs: st.mtimeMs, offset, done });
  }
  return { events: eventsOf(sessions, options.since), spans: spansOf(sessions), positions };
}

/** A session's event stream: its start and end records. Whether it was read to the end. */
async function readStream(
  file: string,
  size: number,
  fresh: boolean,
  tell: (id: unknown, fresh: boolean, facts: Record<string, unknown>) => boolean,
  report: (s: Skip) => void,
): Promise<boolean> {
  const id = basename(file, '.jsonl');
  try {
    for await (const line of numberedLines(file, 0, MAX_LEGACY_LINE, size)) {
      const problem = lineProblem(line.text);
      if (problem) report(lineSkip(file, line, problem));
      if (problem || line.text!.trim() === '') continue;
      const r = parseObject(line.text!);
      if (!r) {
        report(lineSkip(file, line, line.terminated ? 'not JSON' : TRUNCATED));
        if (!line.terminated) return false;
        continue;
      }
      const clean = withoutSecrets(r);
      const sid = clean.session_id ?? id;
      if (clean.event === 'session_start')
        tell(sid, fresh, {
          start: clean.timestamp,
          project: clean.working_directory,
          attributes: { git_branch: clean.git_branch, user: clean.user },
        });
      else if (clean.event === 'session_end') tell(sid, fresh, { end: clean.timestamp });
      else report(lineSkip(file, line, `unknown event ${JSON.stringify(String(clean.event)).slice(0, 80)}`));
    }
    return true;
  } catch (err) {
    report({ file, reason: unreadable(err) });
    return false;
  }
}

/** A session_start and a session_end per session read anew, those at or after `since`. */
function eventsOf(sessions: Map<string, Session>, since = -Infinity): IngestEvent[] {
  const out: IngestEvent[] = [];
  for (const s of sessions.values()) {
    if (!s.fresh) continue;
    const attributes = Object.fromEntries(Object.entries(s.attributes).filter(([, v]) => v !== undefined));
    if (s.start !== undefined && s.start >= since) {
      out.push({
        id: `legacy:session_start:${s.id}`,
        kind: 'session_start',
        ts: s.start,
        session_id: s.id,
        project: s.project,
        ...(Object.keys(attributes).length ? { attributes } : {}),
      });
    }
    if (s.end !== undefined && s.end >= since) {
      // The summary's figures, as the REST API keeps a session's: its score as the value, the rest as attributes.
      const score = s.summary?.productivity_score;
      out.push({
        id: `legacy:session_end:${s.id}`,
        kind: 'session_end',
        ts: s.end,
        session_id: s.id,
        project: s.project,
        duration_ms: s.start !== undefined && s.end >= s.start ? s.end - s.start : undefined,
        value: typeof score === 'number' && Number.isFinite(score) ? score : undefined,
        ...(s.summary ? { attributes: s.summary } : {}),
      });
    }
  }
  return out;
}

function spansOf(sessions: Map<string, Session>): Span[] {
  const spans: Span[] = [];
  for (const s of sessions.values())
    if (s.start !== undefined && s.end !== undefined && s.end >= s.start)
      spans.push({ id: s.id, start: s.start, end: s.end });
  return spans.sort((a, b) => a.start - b.start || a.id.localeCompare(b.id));
}

/**
 * The one session whose span holds `ts`, or undefined when none or several do. `spans` in
 * start order; `reach[i]` the latest end among spans[0..i].
 */
export function sessionAt(spans: readonly Span[], reach: readonly number[], ts: number): string | undefined {
  let lo = 0;
  for (let hi = spans.length; lo < hi; ) {
    const mid = (lo + hi) >> 1;
    if (spans[mid]!.start <= ts) lo = mid + 1;
    else hi = mid;
  }
  let found: string | undefined;
  for (let i = lo - 1; i >= 0 && reach[i]! >= ts; i--) {
    if (spans[i]!.end < ts) continue;
    if (found !== undefined) return undefined;
    found = spans[i]!.id;
  }
  return found;
}

/** `reach` for sessionAt. */
export const reachOf = (spans: readonly Span[]) =>
  spans.reduce<number[]>((r, s, i) => (r.push(Math.max(s.end, i ? r[i - 1]! : -Infinity)), r), []);
