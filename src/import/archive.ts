// Archives uploaded on the Import page (.zip, .tar.gz, .tar of a Claude `projects` folder or
// a whole `.claude` dir): what kind a file is, and its extraction into a fresh folder. Only
// regular `.jsonl` files are written; links, special files, absolute paths and paths that
// leave the folder are skipped and reported; the entry count and unpacked size are capped.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Header, Parser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
import type { Skip } from './types.js';

const GiB = 1024 ** 3;

export type ArchiveLimits = { uploadBytes: number; extractedBytes: number; entries: number };
/** An upload's size, what its entries may add up to unpacked (zip bombs), and how many it may hold. */
export const ARCHIVE_LIMITS: ArchiveLimits = { uploadBytes: 2 * GiB, extractedBytes: 8 * GiB, entries: 200_000 };

export type ArchiveKind = 'zip' | 'tar.gz' | 'tar';
/** The archive as a whole cannot be extracted (damaged, or past a limit). */
export class ArchiveError extends Error {}

export type Extracted = { files: number; bytes: number; otherFiles: number; skipped: Skip[] };

/** What the file is, from its first bytes (its name says nothing reliable); null: not an archive we read. */
export async function archiveKind(path: string): Promise<ArchiveKind | null> {
  const head = await firstBytes(path, 512);
  if (head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6))
    return 'zip';
  if (isTarHeader(head)) return 'tar';
  if (head[0] === 0x1f && head[1] === 0x8b && isTarHeader(await firstBytes(path, 512, true))) return 'tar.gz';
  return null;
}

function isTarHeader(block: Buffer): boolean {
  try {
    return block.length === 512 && new Header(block).cksumValid;
  } catch {
    return false; // numbers no tar header holds
  }
}

/** Up to `n` bytes from the start of the file (gunzipped first with `gunzip`); a damaged gzip reads as nothing. */
async function firstBytes(path: string, n: number, gunzip = false): Promise<Buffer> {
  if (!gunzip) {
    const file = await open(path, 'r');
    try {
      const { buffer, bytesRead } = await file.read(Buffer.alloc(n), 0, n, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  }
  const chunks: Buffer[] = [];
  let have = 0;
  const source = createReadStream(path).pipe(createGunzip());
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      have += chunk.length;
      if (have >= n) break;
    }
  } catch {
    return Buffer.alloc(0);
  } finally {
    source.destroy();
  }
  return Buffer.concat(chunks).subarray(0, n);
}

/** Extracts `path` into `dest` (an empty folder); throws ArchiveError when the archive is damaged or too large. */
export async function extractArchive(
  path: string,
  kind: ArchiveKind,
  dest: string,
  limits: ArchiveLimits = ARCHIVE_LIMITS,
  signal?: AbortSignal,
): Promise<Extracted> {
  const out: Extracted = { files: 0, bytes: 0, otherFiles: 0, skipped: [] };
  const budget = { entries: 0, bytes: 0 };
  /** Counts an entry against the limits; throws past them. */
  const admit = (size: number) => {
    signal?.throwIfAborted();
    if (++budget.entries > limits.entries)
      throw new ArchiveError(`the archive holds more than ${limits.entries} entries`);
    budget.bytes += size;
    if (budget.bytes > limits.extractedBytes)
      throw new ArchiveError(`the archive unpacks to more than ${formatBytes(limits.extractedBytes)}`);
  };
  const root = resolve(dest);
  if (kind === 'zip') await extractZip(path, root, admit, out, limits.entries);
  else await extractTar(path, root, admit, out);
  return out;
}

type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | string;

/** Where an entry goes, or why it is skipped; null: passed over unreported (folders, files the reader does not read). */
function placeOf(root: string, name: string, type: EntryType, out: Extracted): string | null {
  const skip = (reason: string) => (out.skipped.push({ file: name, reason }), null);
  if (type === 'directory') return null;
  if (type === 'symlink') return skip('symbolic link: not extracted');
  if (type === 'hardlink') return skip('hard link: not extracted');
  if (type !== 'file') return skip(`not a regular file (${type}): not extracted`);
  if (/^([a-zA-Z]:|[\\/])/.test(name)) return skip('absolute path: not extracted');
  if (name.split(/[\\/]/).includes('..') || name.includes('\0'))
    return skip("path leaves the archive's folder: not extracted");
  const target = resolve(root, name);
  if (!target.startsWith(root + sep)) return skip("path leaves the archive's folder: not extracted");
  if (!name.endsWith('.jsonl')) {
    out.otherFiles++;
    return null;
  }
  return target;
}

/** Writes one entry's bytes to a new file (never over another, never through a link: only this code writes here). */
async function writeFile(source: NodeJS.ReadableStream, target: string, name: string, out: Extracted): Promise<void> {
  try {
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    const file = createWriteStream(target, { flags: 'wx', mode: 0o600 });
    await pipeline(source, file);
    out.files++;
    out.bytes += file.bytesWritten;
  } catch (err) {
    source.resume(); // the archive reads on past it
    out.skipped.push({
      file: name,
      reason: `could not extract: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    });
  }
}

const TAR_TYPES: Record<string, EntryType> = {
  File: 'file',
  OldFile: 'file',
  ContiguousFile: 'file',
  Directory: 'directory',
  GNUDumpDir: 'directory',
  SymbolicLink: 'symlink',
  Link: 'hardlink',
};

async function extractTar(path: string, root: string, admit: (size: number) => void, out: Extracted): Promise<void> {
  const parser = new Parser({ strict: true });
  const source = createReadStream(path);
  const writes: Promise<void>[] = [];
  let failure: unknown = null;
  const done = new Promise<void>((resolvePromise, reject) => {
    const fail = (err: unknown) => {
      failure ??= err;
      source.destroy();
      reject(failure);
    };
    parser.on('entry', (entry: ReadEntry) => {
      if (failure) return entry.resume();
      try {
        admit(entry.size ?? 0);
      } catch (err) {
        entry.resume();
        return fail(err);
      }
      const target = placeOf(root, entry.path, TAR_TYPES[entry.type] ?? entry.type, out);
      if (target === null) return entry.resume();
      writes.push(writeFile(entry as unknown as NodeJS.ReadableStream, target, entry.path, out));
    });
    parser.on('error', (err: Error) => fail(new ArchiveError(`not a readable tar archive: ${err.message}`)));
    source.on('error', fail);
    parser.on('end', () => resolvePromise());
  });
  source.pipe(parser as unknown as NodeJS.WritableStream);
  await done;
  await Promise.all(writes);
}

const S_IFMT = 0o170000;
const UNIX_MODES: Record<number, EntryType> = {
  0o100000: 'file',
  0o040000: 'directory',
  0o120000: 'symlink',
  0o010000: 'fifo',
  0o020000: 'character device',
  0o060000: 'block device',
  0o140000: 'socket',
};

async function extractZip(
  path: string,
  root: string,
  admit: (size: number) => void,
  out: Extracted,
  maxEntries: number,
): Promise<void> {
  // Names are decoded and checked here, so one bad name skips its entry instead of refusing the archive.
  const zip = await yauzl
    .openPromise(path, { lazyEntries: true, decodeStrings: false, autoClose: true })
    .catch((err: Error) => {
      throw new ArchiveError(`not a readable zip archive: ${err.message}`);
    });
  try {
    if (zip.entryCount > maxEntries) throw new ArchiveError(`the archive holds more than ${maxEntries} entries`);
    await new Promise<void>((resolvePromise, reject) => {
      zip.on('entry', (entry: yauzl.Entry) => {
        handle(entry).then(() => zip.readEntry(), reject);
      });
      zip.on('end', () => resolvePromise());
      zip.on('error', (err: Error) =>
        reject(err instanceof ArchiveError ? err : new ArchiveError(`not a readable zip archive: ${err.message}`)),
      );
      zip.readEntry();
    });
  } finally {
    zip.close();
  }

  async function handle(entry: yauzl.Entry) {
    admit(entry.uncompressedSize);
    const name = yauzl.getFileNameLowLevel(
      entry.generalPurposeBitFlag,
      entry.fileNameRaw as Buffer,
      entry.extraFields,
      false,
    );
    const unixMode = entry.versionMadeBy >> 8 === 3 ? (entry.externalFileAttributes >>> 16) & S_IFMT : 0;
    const type = name.endsWith('/')
      ? 'directory'
      : unixMode
        ? (UNIX_MODES[unixMode] ?? `mode ${unixMode.toString(8)}`)
        : 'file';
    const target = placeOf(root, name, type, out);
    if (target === null) return;
    if (entry.isEncrypted()) return void out.skipped.push({ file: name, reason: 'encrypted: not extracted' });
    let stream: NodeJS.ReadableStream;
    try {
      stream = await zip.openReadStreamPromise(entry);
    } catch (err) {
      return void out.skipped.push({ file: name, reason: `could not extract: ${(err as Error).message}` });
    }
    await writeFile(stream, target, name, out);
  }
}

export function formatBytes(n: number): string {
  return n >= GiB ? `${Math.round((n / GiB) * 10) / 10} GiB` : `${Math.round(n / 1024 / 1024)} MiB`;
}
