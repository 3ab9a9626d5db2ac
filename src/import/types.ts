// What an importer reads from files on a developer's machine (Claude Code transcripts, the
// older local-metrics hooks' files) and hands to the import API: unified events in chunks,
// with what it skipped and why, and how far into each file it got (so a run resumes, and
// `agentmeter sync` uploads only what is new).
import type { IngestEvent } from '../ingest/schema.js';
import type { Baseline } from '../sessions/imported-baseline.js';

export type { Baseline };

/**
 * A line or file left out, and why ("not JSON", "unknown record type", "symlink loop"…).
 * The reason is one of a few (a run counts them by reason); where exactly, when no line
 * number says it, is its `detail` ("at byte 4096", where the first copy was read).
 */
export type Skip = { file: string; line?: number; reason: string; detail?: string };

/** Reasons counted by name (a run's, the CLI's summary); any more are counted together as "other reasons". */
const MAX_SKIP_REASONS = 100;

/** Counts one skip of `reason` in `reasons`. */
export function countSkip(reasons: Record<string, number>, reason: string): void {
  const known = Object.hasOwn(reasons, reason);
  const named =
    reason !== '__proto__' && (known || Object.keys(reasons).length < MAX_SKIP_REASONS) ? reason : 'other reasons';
  reasons[named] = (Object.hasOwn(reasons, named) ? reasons[named]! : 0) + 1;
}

/**
 * How far a file has been read: its identity (size, mtime) when read, and the byte offset
 * up to which every record is in an acknowledged chunk. `done` once read to its end.
 */
export type FilePosition = { file: string; size: number; mtimeMs: number; offset: number; done: boolean };

export type ImportChunk = {
  /** Ready for the import API: each with a deterministic `id`, so a re-run stores nothing twice. */
  events: IngestEvent[];
  skipped: Skip[];
  /** The files this chunk takes further: once it is acknowledged, a resumed run starts there. */
  positions: FilePosition[];
  baseline?: Baseline;
};

export type ReadOptions = {
  /** Leave out records before this time (epoch ms). */
  since?: number;
  /** Where an earlier run got to, by file path: done files unchanged since are not read again. */
  resume?: ReadonlyMap<string, FilePosition>;
  /** Events per chunk (default 1000). */
  chunkEvents?: number;
  /** The clock (epoch ms) a transcript's newest record is compared with (LIVE_MS; default now). */
  now?: number;
  /** The files are a copy nothing writes to any more (an uploaded archive): every record is settled. */
  snapshot?: boolean;
};

export type Reader = (roots: readonly string[], options?: ReadOptions) => AsyncGenerator<ImportChunk>;

/** The import API takes at most this many events, and as many skips, per request. */
export const CHUNK_MAX_EVENTS = 5000;

/**
 * `reader`'s chunks with at most CHUNK_MAX_EVENTS skips each. A chunk with more goes as
 * chunks of skips alone first, and its events, positions and baseline with the last: a file
 * of a newer Claude Code can hold thousands of records nobody knows, and its position is
 * kept only once every piece is acknowledged.
 */
export function withBoundedSkips(reader: Reader): Reader {
  return async function* (roots, options) {
    for await (const chunk of reader(roots, options)) {
      let skipped = chunk.skipped;
      while (skipped.length > CHUNK_MAX_EVENTS) {
        yield { events: [], skipped: skipped.slice(0, CHUNK_MAX_EVENTS), positions: [] };
        skipped = skipped.slice(CHUNK_MAX_EVENTS);
      }
      yield { ...chunk, skipped };
    }
  };
}
