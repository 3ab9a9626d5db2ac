// A developer's files for both import readers: whether a file must be read again given where
// an earlier run got to, small JSON files read whole under a size cap, and why a file cannot
// be read (a symlink loop, no permission, a directory, binary data) as a reason, never a
// throw. Their lines are streamed by lines.ts.
import { open, readFile, stat } from 'node:fs/promises';
import type { FilePosition } from './types.js';

/** A file read whole (a session, a summary, a baseline) is at most this big. */
export const MAX_SMALL_FILE = 1024 * 1024;

/** A file's identity when it was opened: what a FilePosition records. */
export type FileStat = { size: number; mtimeMs: number };

/** A file listed, then gone when opened: most callers pass over it in silence. */
export const VANISHED = 'vanished while being read';

/** Why a path cannot be read, in words, from the error Node gave. */
export function unreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ELOOP') return 'symlink loop';
  if (code === 'EACCES' || code === 'EPERM') return 'not readable (permission denied)';
  if (code === 'EISDIR') return 'a directory, not a file';
  if (code === 'ENOENT') return VANISHED;
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
export const readToEnd = (file: string, s: FileStat): FilePosition => ({
  file,
  size: s.size,
  mtimeMs: s.mtimeMs,
  offset: s.size,
  done: true,
});

/** Whether the file's first bytes hold a NUL (a binary file, not JSON lines). */
export async function looksBinary(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(8192);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).includes(0);
  } finally {
    await handle.close();
  }
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
