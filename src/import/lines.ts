// The lines of a developer's file, streamed for both import readers: read in fixed-size
// chunks with their byte offsets (so an import resumes mid-file) and, when reading starts
// at the file's beginning, their 1-based numbers. Memory holds one chunk and one line; a
// line longer than `maxLine` is passed over (reported, never buffered).
import { open } from 'node:fs/promises';
import type { Skip } from './types.js';

export type Line = {
  /** The line's text without its newline (nor a `\r` before it); null when it was longer than `maxLine`. */
  text: string | null;
  /** Byte offset of the line's first byte, and just past its newline (or where reading stopped). */
  start: number;
  end: number;
  /** False for a last line with no newline after it (it may still be being written). */
  terminated: boolean;
};

/** A line and its 1-based number: undefined when reading started past byte 0 (the lines before were not counted). */
export type NumberedLine = Line & { number: number | undefined };

const CHUNK = 1 << 20;
export const MAX_LINE = 64 * 1024 * 1024;
/**
 * Lines yielded between two turns of the event loop. Reading a chunk lets it turn, but a
 * chunk of short lines is a million of them: an uploaded file of 300 MiB of newlines held
 * every tenant's requests for seconds at a time, for two minutes.
 */
export const LINES_PER_TURN = 4096;

/**
 * A last line with no newline that cannot be read as a record: maybe still being written,
 * so it is reported and left for the next run (the file's position stays before it).
 */
export const TRUNCATED = 'truncated last line';

/**
 * The lines of `path` from byte `from` up to byte `until` (the size it had when opened, so
 * a file growing meanwhile ends where its position says; by default its current end).
 * Throws what opening or reading throws.
 */
export function numberedLines(
  path: string,
  from = 0,
  maxLine = MAX_LINE,
  until = Infinity,
): AsyncGenerator<NumberedLine> {
  let number = from === 0 ? 0 : undefined;
  return splitLines(path, from, maxLine, until, (text, start, end, terminated) => ({
    text,
    start,
    end,
    terminated,
    number: number === undefined ? undefined : ++number,
  }));
}

/** numberedLines without the numbers. */
export function readLines(path: string, from = 0, maxLine = MAX_LINE, until = Infinity): AsyncGenerator<Line> {
  return splitLines(path, from, maxLine, until, (text, start, end, terminated) => ({ text, start, end, terminated }));
}

// One generator for both: a second generator wrapped around it (to add numbers) would halve the lines read per second.
async function* splitLines<T>(
  path: string,
  from: number,
  maxLine: number,
  until: number,
  line: (text: string | null, start: number, end: number, terminated: boolean) => T,
): AsyncGenerator<T> {
  if (from >= until) return;
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let parts: Buffer[] = [];
    let partLength = 0;
    let tooLong = false;
    let lineStart = from;
    let pos = from;
    let sinceTurn = 0;
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    const text = (): string | null => {
      if (tooLong) return null;
      const s = Buffer.concat(parts, partLength).toString('utf8');
      return s.endsWith('\r') ? s.slice(0, -1) : s;
    };
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, Math.min(CHUNK, until - pos), pos);
      if (bytesRead === 0) break;
      let i = 0;
      while (i < bytesRead) {
        const nl = buf.indexOf(10, i);
        const stop = nl === -1 || nl >= bytesRead ? bytesRead : nl;
        const end = pos + stop + 1;
        if (stop < bytesRead && partLength === 0 && !tooLong && stop - i <= maxLine) {
          // The whole line is in this chunk (most are): decoded in place, not copied first.
          const last = stop > i && buf[stop - 1] === 13 ? stop - 1 : stop;
          yield line(buf.toString('utf8', i, last), lineStart, end, true);
          if (++sinceTurn === LINES_PER_TURN) {
            sinceTurn = 0;
            await turn();
          }
          lineStart = end;
          i = stop + 1;
          continue;
        }
        if (!tooLong) {
          if (partLength + (stop - i) > maxLine) {
            tooLong = true;
            parts = [];
            partLength = 0;
          } else {
            parts.push(Buffer.from(buf.subarray(i, stop)));
            partLength += stop - i;
          }
        }
        if (stop === bytesRead) break;
        yield line(text(), lineStart, end, true);
        parts = [];
        partLength = 0;
        tooLong = false;
        lineStart = end;
        i = stop + 1;
      }
      pos += bytesRead;
    }
    if (pos > lineStart) yield line(text(), lineStart, pos, false);
  } finally {
    await handle.close();
  }
}

/** What makes a line no record, if anything: too long to hold, or a NUL byte (never in JSON text). */
export const lineProblem = (text: string | null) =>
  text === null ? 'line too long' : text.includes('\0') ? 'binary data' : undefined;

/** A skipped line, where it is: its number when known, else its byte offset. */
export const lineSkip = (
  file: string,
  line: { number: number | undefined; start: number },
  reason: string,
  detail?: string,
): Skip =>
  line.number !== undefined
    ? { file, line: line.number, reason, ...(detail ? { detail } : {}) }
    : { file, reason, detail: [`at byte ${line.start}`, detail].filter(Boolean).join('; ') };
