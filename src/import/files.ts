// Reading a developer's files safely for an import: lines streamed with their numbers and
// byte offsets (memory bounded by MAX_LINE, never by the file's size), small JSON files
// read whole under a size cap, and whether a file must be read again given where an earlier
// run got to. A file that cannot be read (a symlink loop, no permission, a directory, binary
// data) becomes a reason, never a throw.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { FilePosition } from './types.js';

/** Longer lines are reported and passed over (their bytes are not kept). */
export const MAX_LINE = 4 * 1024 * 1024;
/** A file read whole (a session, a summary, a baseline) is at most this big. */
export const MAX_SMALL_FILE = 1024 * 1024;

/**
 * One line: its text (without the newline), its 1-based number (undefined when reading
 * started past the file's beginning: the lines before were not counted), the byte offsets
 * it spans (`end` past its newline), whether a newline ended it, and what is wrong with it.
 */
export type Line = { text: string; number: number | undefined; start: number; end: number; complete: boolean; problem?: 'binary data' | 'line too long' };

/** A file's identity when it was opened: what a FilePosition records. */
export type FileStat = { size: number; mtimeMs: number };

/** Why a path cannot be read, in words, from the error Node gave. */
export function unreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ELOOP') return 'symlink loop';
  if (code === 'EACCES' || code === 'EPERM') return 'not readable (permission denied)';
  if (code === 'EISDIR') return 'a directory, not a file';
  if (code === 'ENOENT') return 'vanished while being read';
  return `not readable (${code ?? (err as Error)?.message ?? 'unknown error'})`;
}

/** The file's size and mtime, or why it cannot be read as a file. */
export async function statFile(path: string): Promise<FileStat | string> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return s.isDirectory() ? 'a directory, not a file' : 'not a regular file';
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch (err) {
    return unreadable(err);
  }
}

/**
 * Where to start reading a file given an earlier run's position: null when it was read to
 * its end and has not changed since; its offset when it only grew; else its beginning.
 */
export function resumeFrom(now: FileStat, before: FilePosition | undefined): number | null {
  if (!before) return 0;
  if (before.done && before.size === now.size && before.mtimeMs === now.mtimeMs) return null;
  if (now.size >= before.offset && now.mtimeMs >= before.mtimeMs) return before.offset;
  return 0;
}

/** The position of a file read to its end. */
export const readToEnd = (file: string, s: FileStat): FilePosition => ({ file, size: s.size, mtimeMs: s.mtimeMs, offset: s.size, done: true });

/**
 * The lines of `path` from byte `from` up to `size` (the size it had when opened, so a file
 * growing meanwhile ends where its position says). Throws what opening or reading throws.
 */
export async function* readLines(path: string, from: number, size: number): AsyncGenerator<Line> {
  if (from >= size) return;
  let number = from === 0 ? 1 : undefined;
  let parts: Buffer[] = [];
  let kept = 0;
  let start = from;
  let pos = from;
  let problem: Line['problem'];
  const line = (end: number, complete: boolean): Line => {
    const text = problem === 'line too long' ? '' : Buffer.concat(parts, kept).toString('utf8').replace(/\r$/, '');
    const out: Line = { text, number, start, end, complete, ...(problem ? { problem } : {}) };
    if (number !== undefined) number++;
    parts = [];
    kept = 0;
    start = end;
    problem = undefined;
    return out;
  };
  const take = (piece: Buffer) => {
    if (problem !== 'line too long' && piece.includes(0)) problem = 'binary data';
    if (kept + piece.length > MAX_LINE) {
      problem = 'line too long';
      parts = [];
      kept = 0;
    } else if (problem !== 'line too long') {
      parts.push(piece);
      kept += piece.length;
    }
  };
  for await (const chunk of createReadStream(path, { start: from, end: size - 1, highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
    let at = 0;
    for (let nl = chunk.indexOf(10, at); nl !== -1; nl = chunk.indexOf(10, at)) {
      take(chunk.subarray(at, nl));
      at = nl + 1;
      yield line(pos + at, true);
    }
    take(chunk.subarray(at));
    pos += chunk.length;
  }
  if (pos > start) yield line(pos, false);
}

/** A small JSON file's content, or why it cannot be had. */
export async function readSmallJson(path: string, s: FileStat): Promise<{ value: unknown } | string> {
  if (s.size > MAX_SMALL_FILE) return `larger than ${MAX_SMALL_FILE} bytes`;
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    return unreadable(err);
  }
  if (bytes.includes(0)) return 'binary data';
  try {
    return { value: JSON.parse(bytes.toString('utf8')) };
  } catch {
    return 'not JSON';
  }
}

/** JSON text → a plain object, or null (not JSON, or not an object). */
export function parseObject(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
