// `agentmeter import claude|legacy` and `agentmeter sync`: read the files on this machine
// (Claude Code transcripts, the older hooks' metrics) and upload them to an appliance's
// import API in chunks. A state file remembers, per appliance and key, how far each file was
// read and acknowledged and which run is unfinished, so an interrupted import resumes where
// it stopped and a sync uploads only what is new. `--dry-run` reads and counts, uploads
// nothing. Progress goes to a terminal's stderr; the summary to stdout (JSON with --json).
import { existsSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { requestCost } from '../cost/prices.js';
import type { IngestEvent } from '../ingest/schema.js';
import { readLegacy } from '../import/legacy.js';
import { defaultClaudeRoots, readTranscripts } from '../import/transcripts.js';
import { countSkip, type FilePosition, type ImportChunk, type Reader, type Skip } from '../import/types.js';
import { ApplianceClient, ImportClientError, RunGoneError } from './import-client.js';
import { loadState, saveState, stateKey, type ImportState } from './import-state.js';
import { createProgress, plannedBytes } from './progress.js';

export { ImportClientError };

const OPTIONS = {
  url: { type: 'string' },
  key: { type: 'string' },
  'dry-run': { type: 'boolean' },
  since: { type: 'string' },
  state: { type: 'string' },
  rescan: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const IMPORT_USAGE = `usage:
  agentmeter import claude [DIR…] --url <appliance URL> --key <ingest key> [--since <date>] [--dry-run] [--json]
  agentmeter import legacy [HOME…] --url <appliance URL> --key <ingest key> [--since <date>] [--dry-run] [--json]
  agentmeter sync --url <appliance URL> --key <ingest key> [--json]

  claude: DIR is a Claude config directory (default: each of CLAUDE_CONFIG_DIR, else
          ~/.config/claude and ~/.claude) or a projects folder
  legacy: HOME holds .agent-os/metrics, .ai-mesh/metrics or .ensemble/metrics (default: ~)
  sync:   the new transcript records since the last run (for cron, a timer or a SessionEnd hook)
  --rescan         read every file again, whatever the state file says (the appliance stores nothing twice)
  --state <file>   where progress is kept (default: $XDG_STATE_HOME or ~/.local/state, agentmeter/import-state.json)`;

type Source = 'claude' | 'legacy';
const READERS: Record<Source, Reader> = { claude: readTranscripts, legacy: readLegacy };
/** The files each reader reads (for the progress bar's total). */
const WANTED: Record<Source, (name: string) => boolean> = {
  claude: (name) => name.endsWith('.jsonl'),
  legacy: (name) => /\.(jsonl?|log)$/.test(name),
};

/** What a run read and sent, for the summary. */
export type ImportSummary = {
  source: Source;
  dry_run: boolean;
  run_id: string | null;
  files: number;
  sessions: number;
  events: number;
  by_kind: Record<string, number>;
  requests: number;
  tokens: { input: number; output: number; cache_read: number; cache_creation: number };
  /** What the requests cost at the prices this executable ships; the appliance prices them with the tenant's. */
  cost_usd_at_shipped_prices: number;
  unknown_models: string[];
  tool_calls: number;
  tool_failures: number;
  stored: number | null;
  duplicates: number | null;
  rejected: number;
  skipped: number;
  skip_reasons: Record<string, number>;
  seconds: number;
};

/** Runs `import …` or `sync` (argv without the program); resolves with the exit code. */
export async function importMain(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WriteStream = process.stderr,
): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  if (values.help) {
    out.write(`${IMPORT_USAGE}\n`);
    return 0;
  }
  const [command, kind, ...dirs] = positionals;
  const sync = command === 'sync';
  const source: Source | undefined = sync ? 'claude' : kind === 'claude' || kind === 'legacy' ? kind : undefined;
  if (!source) throw new ImportClientError(`say what to import: "import claude [DIR…]" or "import legacy [HOME…]"`);
  if (sync && kind !== undefined)
    throw new ImportClientError('sync takes no directories: it reads the default Claude directories');
  // A folder named that is not there is a typo, not a machine without history: said, not counted as a skip.
  const missing = dirs.find((d) => !existsSync(d));
  if (missing) throw new ImportClientError(`${missing}: no such file or folder`);
  const roots = dirs.length ? dirs : source === 'claude' ? defaultClaudeRoots(process.env, homedir()) : [homedir()];
  const since = values.since === undefined ? undefined : parseSince(values.since);
  const dryRun = values['dry-run'] === true;
  if (!dryRun && (!values.url || !values.key))
    throw new ImportClientError('--url and --key (an API key with the ingest scope) are required, or --dry-run');

  const started = Date.now();
  const summary = emptySummary(source, dryRun);
  const progress = createProgress(
    err,
    values.json !== true && err.isTTY === true,
    err.isTTY ? plannedBytes(roots, WANTED[source], new Map()) : 0,
  );
  if (dryRun) {
    // Nothing is sent, so nothing of a session under way needs to wait: everything is counted.
    for await (const chunk of READERS[source](roots, { since, snapshot: true })) {
      count(summary, chunk);
      progress.update(summary, bytesRead(summary, chunk.positions));
    }
  } else {
    await upload({
      url: values.url!,
      key: values.key!,
      source,
      roots,
      since,
      statePath: values.state,
      rescan: values.rescan === true,
      summary,
      progress,
      sync,
    });
  }
  progress.done();
  summary.seconds = Math.round((Date.now() - started) / 100) / 10;
  out.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : describe(summary));
  return 0;
}

type UploadOptions = {
  url: string;
  key: string;
  source: Source;
  roots: string[];
  since?: number;
  statePath?: string;
  rescan: boolean;
  summary: ImportSummary;
  progress: ReturnType<typeof createProgress>;
  sync: boolean;
};

/** Reads and uploads, one chunk in flight while the next is read; the state file moves after each acknowledgement. */
async function upload(o: UploadOptions): Promise<void> {
  const client = new ApplianceClient(o.url, o.key);
  const path = o.statePath;
  const state = loadState(path);
  const key = stateKey(o.url, o.key, o.source);
  const mine = (state.appliances[key] ??= { files: {}, run: null });
  const newRun = async () => {
    mine.run = await client.startRun(o.source, hostname(), o.sync ? 'sync' : undefined);
    saveState(path, state);
    return mine.run;
  };
  // An unfinished run is continued (its events are its own to roll back); else a new one, once
  // there is something to send: a sync that finds nothing new leaves no empty run behind.
  let run = mine.run;
  let acknowledged = 0;
  const send = async (chunk: ImportChunk) => {
    run ??= await newRun();
    try {
      return await client.sendChunk(run, chunk);
    } catch (err) {
      if (!(err instanceof RunGoneError)) throw err;
      // The unfinished run this command set out to continue was rolled back since: a new one.
      // Rolled back while this command sends to it: someone wants it gone, so stop.
      if (acknowledged > 0)
        throw new ImportClientError(
          `run ${run} was rolled back on the appliance while importing (${err.message}); stopped`,
        );
      run = await newRun();
      return client.sendChunk(run, chunk);
    }
  };
  // A file read with --since left out what came before it: a run asking for earlier records reads it again.
  const covers = (p: Kept) => p.since === undefined || (o.since !== undefined && p.since <= o.since);
  const resume = new Map(o.rescan ? [] : Object.entries(mine.files).filter(([, p]) => covers(p)));
  /** The files `chunk` took further count as read that far. */
  const advance = (chunk: ImportChunk) => {
    keepPositions(mine.files, chunk.positions, (file) => (resume.has(file) ? resume.get(file)!.since : o.since));
    saveState(path, state);
    o.progress.update(o.summary, bytesRead(o.summary, chunk.positions));
  };
  let inflight: Promise<void> = Promise.resolve();
  // Nothing is sent until a chunk holds events (or a baseline): the chunks read before it go
  // first then, in order. A sync that finds nothing new leaves no run, even with its skips (a
  // link, a folder without projects: found again on every run; the summary counts them).
  const held: ImportChunk[] = [];
  let sending = false;
  for await (const chunk of READERS[o.source](o.roots, { since: o.since, resume })) {
    count(o.summary, chunk);
    if (!sending && !chunk.events.length && !chunk.baseline) {
      held.push(chunk);
      continue;
    }
    sending = true;
    for (const next of [...held.splice(0), chunk]) {
      await inflight;
      inflight = send(next).then((answer) => {
        acknowledged++;
        o.summary.run_id = run;
        o.summary.stored = (o.summary.stored ?? 0) + answer.stored;
        o.summary.duplicates = (o.summary.duplicates ?? 0) + answer.duplicates;
        o.summary.rejected += answer.rejected.length;
        for (const m of answer.unknown_models)
          if (!o.summary.unknown_models.includes(m)) o.summary.unknown_models.push(m);
        advance(next); // once the appliance has it
      });
      inflight.catch(() => undefined); // awaited (and thrown) before the next send: not unhandled meanwhile
    }
  }
  await inflight;
  for (const chunk of held) advance(chunk); // nothing was sent: no run needs what they hold
  if (run === null) return;
  o.summary.run_id = run;
  try {
    await client.finishRun(run, summaryFields(o.summary));
  } catch (err) {
    // The unfinished run this command set out to finish was rolled back since, and nothing came to send to it.
    if (!(err instanceof RunGoneError) || acknowledged > 0) throw err;
    o.summary.run_id = null;
  }
  mine.run = null;
  saveState(path, state);
}

const readSoFar = new WeakMap<ImportSummary, Map<string, number>>();
/** Bytes read this run, from the chunks' positions (each file's offset past where it started). */
function bytesRead(s: ImportSummary, positions: FilePosition[]): number {
  const files = readSoFar.get(s) ?? new Map<string, number>();
  readSoFar.set(s, files);
  for (const p of positions) files.set(p.file, p.offset);
  let n = 0;
  for (const offset of files.values()) n += offset;
  return n;
}

type Kept = ImportState['appliances'][string]['files'][string];

/**
 * Each file's position, with the --since it was read with (absent: from its first record): a
 * file resumed keeps the one it was first read with.
 */
function keepPositions(
  files: Record<string, Kept>,
  positions: FilePosition[],
  sinceOf: (file: string) => number | undefined,
): void {
  for (const p of positions) {
    const since = sinceOf(p.file);
    files[p.file] = since === undefined ? p : { ...p, since };
  }
}

function emptySummary(source: Source, dryRun: boolean): ImportSummary {
  return {
    source,
    dry_run: dryRun,
    run_id: null,
    files: 0,
    sessions: 0,
    events: 0,
    by_kind: {},
    requests: 0,
    tokens: { input: 0, output: 0, cache_read: 0, cache_creation: 0 },
    cost_usd_at_shipped_prices: 0,
    unknown_models: [],
    tool_calls: 0,
    tool_failures: 0,
    stored: null,
    duplicates: null,
    rejected: 0,
    skipped: 0,
    skip_reasons: {},
    seconds: 0,
  };
}

const sessionsSeen = new WeakMap<ImportSummary, Set<string>>();
const filesSeen = new WeakMap<ImportSummary, Set<string>>();

/** Adds a chunk to the summary (the cost at the shipped prices: the appliance prices with the tenant's). */
function count(s: ImportSummary, chunk: ImportChunk): void {
  const sessions = sessionsSeen.get(s) ?? new Set<string>();
  sessionsSeen.set(s, sessions);
  const files = filesSeen.get(s) ?? new Set<string>();
  filesSeen.set(s, files);
  for (const e of chunk.events as IngestEvent[]) {
    s.events++;
    s.by_kind[e.kind] = (s.by_kind[e.kind] ?? 0) + 1;
    if (e.session_id) sessions.add(e.session_id);
    if (e.kind === 'tool_call') {
      s.tool_calls++;
      if (e.status === 'failure') s.tool_failures++;
    }
    if (e.kind !== 'api_request') continue;
    s.requests++;
    const t = {
      input: e.input_tokens ?? 0,
      output: e.output_tokens ?? 0,
      cacheRead: e.cache_read_tokens ?? 0,
      cacheCreation: e.cache_creation_tokens ?? 0,
    };
    s.tokens.input += t.input;
    s.tokens.output += t.output;
    s.tokens.cache_read += t.cacheRead;
    s.tokens.cache_creation += t.cacheCreation;
    const oneHour = Math.min(
      t.cacheCreation,
      Number((e.attributes as { cache_creation_1h_tokens?: number } | undefined)?.cache_creation_1h_tokens ?? 0) || 0,
    );
    const cost =
      e.cost_usd ??
      (e.model
        ? requestCost(e.model, {
            input: t.input,
            output: t.output,
            cacheRead: t.cacheRead,
            cacheWrite5m: t.cacheCreation - oneHour,
            cacheWrite1h: oneHour,
          })
        : null);
    if (cost !== null) s.cost_usd_at_shipped_prices += cost;
    else if (e.model && !s.unknown_models.includes(e.model)) s.unknown_models.push(e.model);
  }
  for (const skip of chunk.skipped as Skip[]) {
    s.skipped++;
    countSkip(s.skip_reasons, skip.reason);
  }
  for (const p of chunk.positions) files.add(p.file);
  s.sessions = sessions.size;
  s.files = files.size;
}

function summaryFields(s: ImportSummary): Record<string, number | string> {
  return {
    files: s.files,
    sessions: s.sessions,
    events: s.events,
    requests: s.requests,
    tool_calls: s.tool_calls,
    skipped: s.skipped,
    cost_usd_at_shipped_prices: Math.round(s.cost_usd_at_shipped_prices * 1e6) / 1e6,
  };
}

function parseSince(value: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new ImportClientError(`--since: "${value}" is not a date (e.g. 2026-10-01 or 2026-10-01T12:00:00Z)`);
  return ms;
}

function describe(s: ImportSummary): string {
  const n = (v: number) => v.toLocaleString('en-US');
  const lines = [
    `${s.dry_run ? 'would import' : 'imported'} ${s.source}: ${n(s.files)} files, ${n(s.sessions)} sessions, ${n(s.events)} events in ${s.seconds} s`,
    `  requests ${n(s.requests)}, tokens in ${n(s.tokens.input)} out ${n(s.tokens.output)} cache read ${n(s.tokens.cache_read)} cache write ${n(s.tokens.cache_creation)}, cost $${s.cost_usd_at_shipped_prices.toFixed(2)} at the shipped prices${s.dry_run ? '' : " (the dashboards use your organisation's)"}`,
    `  tool calls ${n(s.tool_calls)} (${n(s.tool_failures)} failed)`,
  ];
  if (!s.dry_run && s.run_id === null) lines.push('  nothing new to send: no import run was started');
  if (s.stored !== null)
    lines.push(
      `  stored ${n(s.stored)} new, ${n(s.duplicates ?? 0)} already there, ${n(s.rejected)} rejected (run ${s.run_id})`,
    );
  if (s.unknown_models.length)
    lines.push(
      `  no price for ${s.unknown_models.join(', ')}: their requests have tokens but no cost until a price is set (Settings → Prices)`,
    );
  if (s.skipped)
    lines.push(
      `  skipped ${n(s.skipped)}: ${Object.entries(s.skip_reasons)
        .map(([r, c]) => `${r} ×${c}`)
        .join(', ')}`,
    );
  return `${lines.join('\n')}\n`;
}
