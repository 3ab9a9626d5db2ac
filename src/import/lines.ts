// The lines of a file, read in fixed-size chunks with their byte offsets, so a transcript
// of any size is streamed: memory holds one chunk and one line, and a line longer than
// `maxLine` is passed over (reported, not buffered). Offsets let an import resume mid-file.
import { open } from 'node:fs/promises';

export type Line = {
  /** The line's text without its newline; null when it was longer than `maxLine`. */
  text: string | null;
  /** Byte offset of the line's first byte, and just past its newline (or end of file). */
  start: number;
  end: number;
  /** False for a last line with no newline after it (it may still be being written). */
  terminated: boolean;
};

const CHUNK = 1 << 20;
export const MAX_LINE = 64 * 1024 * 1024;

/** The lines of `path` from byte `from` on. */
export async function* readLines(path: string, from = 0, maxLine = MAX_LINE): AsyncGenerator<Line> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let parts: Buffer[] = [];
    let partLength = 0;
    let tooLong = false;
    let lineStart = from;
    let pos = from;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, CHUNK, pos);
      if (bytesRead === 0) break;
      let i = 0;
      while (i < bytesRead) {
        const nl = buf.indexOf(10, i);
        const stop = nl === -1 || nl >= bytesRead ? bytesRead : nl;
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
        const end = pos + stop + 1;
        yield { text: tooLong ? null : Buffer.concat(parts, partLength).toString('utf8'), start: lineStart, end, terminated: true };
        parts = [];
        partLength = 0;
        tooLong = false;
        lineStart = end;
        i = stop + 1;
      }
      pos += bytesRead;
    }
    if (pos > lineStart) yield { text: tooLong ? null : Buffer.concat(parts, partLength).toString('utf8'), start: lineStart, end: pos, terminated: false };
  } finally {
    await handle.close();
  }
}

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
