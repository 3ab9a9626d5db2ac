// A tenant's ingest journal: records appended to a file and synced (fdatasync) before they
// are acknowledged, so a 2xx costs one small write and one sync instead of a DuckDB commit.
// Appends queued while a sync runs share the next one (group commit). Each record is framed
// with its length, a CRC32 and a sequence number (LSN); the applier says which LSNs reached
// DuckDB, and the journal trims itself: a segment of applied records is removed. Segments are
// made ahead as written zeros and opened O_DSYNC, so a record's write is its sync (no second
// call) and changes no file size (no filesystem journal commit, which would also wait for
// DuckDB's dirty pages). Opening reads back what is
// left: a torn last record is dropped, damage before an intact later record refuses the
// journal (JournalDamagedError).
import {
  closeSync,
  constants,
  fsyncSync,
  ftruncateSync,
  promises as fsp,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writevSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/** length (u32) + CRC32 of the rest (u32) + LSN (f64, an integer below 2^53); the body follows. */
const HEADER = 16;
/** A length above this is damage, not a record; `append` refuses a longer one (a huge OTLP request's JSON). */
export const MAX_BODY = 256 * 1024 * 1024;
/**
 * A segment is made of this many written zeros before its first record; a write that would
 * not fit goes to the next one (a larger write grows it, as an append to a file does).
 */
export const SEGMENT_BYTES = 1024 * 1024;
/** Writes up to this size are made synchronously (see `durableWrite`). */
const INLINE_WRITE_BYTES = 64 * 1024;
/** Where the platform has it (Linux, macOS), a write returns once its data is on disk: no separate fdatasync. */
const O_DSYNC = (constants as { O_DSYNC?: number }).O_DSYNC ?? 0;

export type JournalRecord = { lsn: number; body: Buffer };

export type Journal = {
  /** Resolves with the record's LSN once it is on disk (written and fdatasync'd with whatever else was queued). */
  append(body: Buffer): Promise<number>;
  /** Records up to `lsn` are in the database: what holds only those is removed. */
  applied(lsn: number): void;
  /** Bytes appended (or queued) and not yet applied: what the backpressure bound counts. */
  unappliedBytes(): number;
  /** Syncs done: fewer than appends when requests shared them. */
  syncs(): number;
  /** Waits for queued work (appends, trims), then closes the file. Unapplied records stay on disk. */
  close(): Promise<void>;
};

/** A record damaged before the end of the journal: starting without it would lose acknowledged events. */
export class JournalDamagedError extends Error {
  readonly reason = 'journal damaged';
}

type Segment = { no: number; path: string; lastLsn: number };

const segmentName = (no: number) => `${String(no).padStart(10, '0')}.log`;

/**
 * Opens the journal in `dir` (created if need be): the records left in it (their LSNs above
 * nothing in particular: the caller skips those it applied), and a journal that appends to a
 * new segment, numbering from above both the records found and `appliedLsn`.
 */
export function openJournal(
  dir: string,
  appliedLsn: number,
  options: {
    segmentBytes?: number;
    /** Segments begin as `segmentBytes` of written zeros (default); false: empty files, appended to. */
    preallocate?: boolean;
    onTornTail?: (detail: string) => void;
    onSync?: (seconds: number) => void;
  } = {},
): { journal: Journal; records: JournalRecord[] } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { records, segments } = readSegments(dir, appliedLsn, options.onTornTail);
  const lastLsn = Math.max(appliedLsn, records.at(-1)?.lsn ?? 0);
  const no = (segments.at(-1)?.no ?? 0) + 1;
  const journal = appendTo(
    dir,
    no,
    lastLsn + 1,
    appliedLsn,
    segments,
    options.segmentBytes ?? SEGMENT_BYTES,
    options.preallocate ?? true,
    options.onSync ?? (() => {}),
  );
  return { journal, records };
}

function readSegments(dir: string, appliedLsn: number, onTornTail?: (detail: string) => void) {
  const names = readdirSync(dir)
    .filter((n) => /^\d{10}\.log$/.test(n))
    .sort();
  const records: JournalRecord[] = [];
  const segments: Segment[] = [];
  const files = names.map((name) => ({ no: Number(name.slice(0, 10)), path: join(dir, name) }));
  for (const [i, file] of files.entries()) {
    const data = readFileSync(file.path);
    let at = 0;
    while (at < data.length) {
      const record = frameAt(data, at);
      // LSNs only grow: an older one is a stale record left by reusing the segment.
      if (!record || record.lsn <= (records.at(-1)?.lsn ?? 0)) break;
      records.push(record);
      at += HEADER + record.body.length;
    }
    // Zeros are the preallocated rest of the segment: where its records end, not damage.
    if (at < data.length && !zeroFrom(data, at)) {
      // Damage, or a write a crash cut short. Only the end of the last write can be torn, and
      // it was never acknowledged: but an intact record written after it means damage. One
      // at or below the applied mark proves nothing (left by an emptying that did not reach the disk).
      const before = Math.max(appliedLsn, records.at(-1)?.lsn ?? 0);
      const later = files
        .slice(i)
        .some((f, j) => laterRecord(j === 0 ? data : readFileSync(f.path), j === 0 ? at + 1 : 0, before));
      const where = `${file.path} at byte ${at}`;
      if (later)
        throw new JournalDamagedError(
          `the ingest journal is damaged: ${where} is not a valid record, and records follow it. ` +
            `Acknowledged events may be in it; move ${dir} aside to start this tenant without them`,
        );
      let end = data.length;
      while (end > at && data[end - 1] === 0) end--;
      onTornTail?.(`${where}: ${end - at} bytes dropped`);
      // Cut, so that a later start does not find it before newer records.
      const fd = openSync(file.path, 'r+');
      try {
        ftruncateSync(fd, at);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    segments.push({ ...file, lastLsn: records.at(-1)?.lsn ?? 0 });
  }
  return { records, segments };
}

/** The intact record at `at`, or null (short, or its length or CRC wrong). */
function frameAt(data: Buffer, at: number): JournalRecord | null {
  if (data.length - at < HEADER) return null;
  const length = data.readUInt32LE(at);
  if (length > MAX_BODY || at + HEADER + length > data.length) return null;
  if (crc32(data.subarray(at + 8, at + HEADER + length)) !== data.readUInt32LE(at + 4)) return null;
  return { lsn: data.readDoubleLE(at + 8), body: data.subarray(at + HEADER, at + HEADER + length) };
}

/** True if an intact record newer than `lsn` starts anywhere from `from` (a stale one left by a trim is not). */
function laterRecord(data: Buffer, from: number, lsn: number): boolean {
  for (let at = from; at + HEADER <= data.length; at++) {
    if (!(data.readDoubleLE(at + 8) > lsn)) continue; // cheap, before the CRC: zeros and older LSNs
    const record = frameAt(data, at);
    if (record && record.lsn > lsn) return true;
  }
  return false;
}

const ZEROS = Buffer.alloc(64 * 1024);

/** True if every byte from `from` on is zero. */
function zeroFrom(data: Buffer, from: number): boolean {
  for (let at = from; at < data.length; at += ZEROS.length) {
    const end = Math.min(data.length, at + ZEROS.length);
    if (!data.subarray(at, end).equals(ZEROS.subarray(0, end - at))) return false;
  }
  return true;
}

function frame(lsn: number, body: Buffer): Buffer {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt32LE(body.length, 0);
  header.writeDoubleLE(lsn, 8);
  header.writeUInt32LE(crc32(body, crc32(header.subarray(8, HEADER))), 4);
  return header;
}

type Waiting = { lsn: number; parts: Buffer[]; bytes: number; resolve(lsn: number): void; reject(err: unknown): void };

function appendTo(
  dir: string,
  firstNo: number,
  firstLsn: number,
  appliedLsn: number,
  closed: Segment[],
  segmentBytes: number,
  preallocate: boolean,
  onSync: (seconds: number) => void,
): Journal {
  let nextLsn = firstLsn;
  let applied = appliedLsn;
  // `size`: where the next record goes; `zeroed`: the file's bytes from there are zeros up to this;
  // `made`: what its file was made for, once open (zeros wanted; whether they fitted is `preallocated`).
  type Active = Segment & {
    size: number;
    zeroed: number;
    preallocated: boolean;
    made: { zeros: boolean } | null;
    handle: Promise<fsp.FileHandle> | null;
  };
  const fresh = (no: number): Active => ({
    no,
    path: join(dir, segmentName(no)),
    lastLsn: 0,
    size: 0,
    zeroed: 0,
    preallocated: false,
    made: null,
    handle: null,
  });
  let active = fresh(firstNo);
  /** The next segment, made ahead so that moving on to it costs a request nothing. */
  let spare: { no: number; opening: Promise<Opened> } | null = null;
  let queue: Waiting[] = [];
  let chain: Promise<void> = Promise.resolve();
  let flushScheduled = false;
  let trimScheduled = false;
  const sizes: { lsn: number; bytes: number }[] = []; // unapplied records, oldest first
  let unapplied = 0;
  let syncs = 0;

  // Every file operation runs after the one before: a trim never overlaps a write.
  const then = (op: () => Promise<void>) => (chain = chain.then(op, op));

  // Zeros pay off for small writes (a hook waits for its sync); for large ones (a batch, an
  // import) they would double what is written, so a segment is made for the writes of late.
  let smallWrites = true;
  const wantZeros = () => preallocate && smallWrites;
  const create = (no: number) => createSegment(join(dir, segmentName(no)), dir, wantZeros() ? segmentBytes : 0);

  const prepareSpare = (no: number) => {
    if (!preallocate || spare) return;
    const opening = create(no);
    spare = { no, opening };
    opening.catch(() => {
      if (spare?.opening === opening) spare = null; // made again on the next move
    });
  };

  /** The active segment's file: its spare, or made now; the next one's spare is begun. */
  const handle = (): Promise<fsp.FileHandle> => {
    if (active.handle) return active.handle;
    const segment = active;
    const taken = spare?.no === segment.no ? spare.opening : null;
    spare = null;
    // A spare that could not be made, or was made without zeros for small writes, is made
    // again now (the append that needs it waits for it).
    const again = async (o: Opened) => (o.wantedZeros || !wantZeros() ? o : (await o.fh.close(), create(segment.no)));
    const opening = (taken ? taken.then(again, () => create(segment.no)) : create(segment.no)).then((o) => {
      segment.zeroed = o.zeroed;
      segment.preallocated = o.zeroed > 0;
      segment.made = { zeros: o.wantedZeros };
      return o.fh;
    });
    segment.handle = opening;
    opening.then(
      () => prepareSpare(segment.no + 1),
      // A failure (a full disk, EMFILE) is tried again by the next append, not kept forever.
      () => {
        if (segment.handle === opening) segment.handle = null;
      },
    );
    return opening;
  };

  /**
   * Writes at `at`, durably: with O_DSYNC the write is the sync. A small write (a few hooks'
   * records) is made on this thread: the sync of a preallocated block takes about 0.1 ms, less
   * than handing it to libuv's thread pool and back; requests arriving meanwhile wait in the
   * socket and share the next write.
   */
  const durableWrite = async (fh: fsp.FileHandle, parts: Buffer[], at: number) => {
    const bytes = parts.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } =
      O_DSYNC && bytes <= INLINE_WRITE_BYTES
        ? { bytesWritten: writevSync(fh.fd, parts, at) }
        : await fh.writev(parts, at);
    if (bytesWritten !== bytes) throw Object.assign(new Error('short write to the ingest journal'), { code: 'EIO' });
    if (!O_DSYNC) await fh.datasync();
  };

  const flush = async () => {
    flushScheduled = false;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    const started = performance.now();
    const bytes = batch.reduce((n, w) => n + w.bytes, 0);
    smallWrites = bytes <= INLINE_WRITE_BYTES;
    try {
      // On to the next segment when this write does not fit, or when small writes follow large
      // ones in a segment made without zeros for them.
      const fits = active.size === 0 || active.size + bytes <= segmentBytes;
      if (!fits || (wantZeros() && active.made && !active.made.zeros)) {
        const fh = await active.handle?.catch(() => null);
        await fh?.close();
        closed.push({ no: active.no, path: active.path, lastLsn: active.lastLsn });
        active = fresh(active.no + 1);
      }
      const fh = await handle();
      await durableWrite(
        fh,
        batch.flatMap((w) => w.parts),
        active.size,
      );
      syncs++;
      active.size += bytes;
      active.zeroed = Math.max(active.zeroed, active.size);
      active.lastLsn = batch.at(-1)!.lsn;
    } catch (err) {
      // Nothing of this batch is acknowledged; what of it may have reached the file is zeroed
      // (cut, past the preallocated part) so that a reopen does not read it as records.
      await undo(active, bytes);
      for (const w of batch) forget(w.lsn);
      for (const w of batch) w.reject(err);
      return;
    }
    onSync((performance.now() - started) / 1000);
    for (const w of batch) w.resolve(w.lsn);
  };

  const undo = async (segment: Active, bytes: number) => {
    const fh = await segment.handle?.catch(() => null);
    if (!fh) return;
    const zeros = Math.min(bytes, segment.zeroed - segment.size);
    await fh.truncate(Math.max(segment.size, segment.zeroed)).catch(() => undefined);
    if (zeros > 0) await durableWrite(fh, [Buffer.alloc(zeros)], segment.size).catch(() => undefined);
  };

  const forget = (lsn: number) => {
    const i = sizes.findIndex((s) => s.lsn === lsn);
    if (i >= 0) unapplied -= sizes.splice(i, 1)[0]!.bytes;
  };

  const trim = async () => {
    trimScheduled = false;
    for (const segment of closed.filter((s) => s.lastLsn <= applied)) {
      rmSync(segment.path, { force: true });
      closed.splice(closed.indexOf(segment), 1);
    }
    // A preallocated segment is filled, then left for the next; one without zeros (a full
    // disk) is emptied whenever everything in it is applied. A crash before this reaches the
    // disk only leaves records the database already holds (skipped by LSN).
    if (active.preallocated || active.size === 0 || active.lastLsn > applied) return;
    const fh = await handle();
    await fh.truncate(0);
    active.size = 0;
    active.zeroed = 0;
  };

  // Segments found at open that hold only applied records go at once.
  if (closed.length) void then(() => trim().catch(() => undefined));

  return {
    append(body) {
      // A reopen would take it for damage: refused before it could be acknowledged.
      if (body.length > MAX_BODY)
        return Promise.reject(new Error(`${body.length} bytes is too large for one ingest journal record`));
      const lsn = nextLsn++;
      return new Promise<number>((resolve, reject) => {
        const header = frame(lsn, body);
        const bytes = header.length + body.length;
        queue.push({ lsn, parts: [header, body], bytes, resolve, reject });
        sizes.push({ lsn, bytes });
        unapplied += bytes;
        if (!flushScheduled) {
          flushScheduled = true;
          void then(flush);
        }
      });
    },
    applied(lsn) {
      if (lsn <= applied) return;
      applied = lsn;
      while (sizes.length && sizes[0]!.lsn <= lsn) unapplied -= sizes.shift()!.bytes;
      if (!trimScheduled) {
        trimScheduled = true;
        void then(() => trim().catch(() => undefined)); // trimmed next time if this failed
      }
    },
    unappliedBytes: () => unapplied,
    syncs: () => syncs,
    async close() {
      await then(async () => {
        await (await active.handle?.catch(() => null))?.close();
        active.handle = null;
        // Left on disk, zeros only: an empty segment to the next open, removed by its first trim.
        const left = spare;
        spare = null;
        await (await left?.opening.catch(() => null))?.fh.close();
      });
    },
  };
}

/**
 * Creates a segment's file with `bytes` of written zeros (not fallocate's unwritten extents,
 * whose first write is a metadata change again), synced, and syncs the directory: its name
 * must survive a power cut like its records. A disk too full for the zeros gets a file
 * without them: records still fit as long as their own bytes do.
 */
type Opened = { fh: fsp.FileHandle; zeroed: number; wantedZeros: boolean };

async function createSegment(path: string, dir: string, bytes: number): Promise<Opened> {
  const fh = await fsp.open(path, constants.O_RDWR | constants.O_CREAT | O_DSYNC, 0o600);
  try {
    let zeroed = 0;
    if (bytes > 0) {
      try {
        const { bytesWritten } = await fh.write(Buffer.alloc(bytes), 0, bytes, 0);
        zeroed = bytesWritten === bytes ? bytes : 0;
      } catch {}
      if (zeroed === 0) await fh.truncate(0);
    }
    if (!O_DSYNC) await fh.sync();
    await syncDir(dir);
    return { fh, zeroed, wantedZeros: bytes > 0 };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Removes a tenant's journal (with its tenant). */
export function removeJournal(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
