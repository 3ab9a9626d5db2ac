// A tenant's ingest journal: records appended to a file and synced before they are
// acknowledged, so a 2xx costs one small write and its sync instead of a DuckDB commit.
// Appends queued while a sync runs share the next one (group commit). The applier says which
// LSNs reached DuckDB, and a segment of applied records is removed. Segments are made ahead as
// written zeros and opened O_DSYNC, so a record's write is its sync (no second call) and
// changes no file size (no filesystem journal commit, which would also wait for DuckDB's dirty
// pages). How records are framed and read back at open: src/storage/journal-format.ts.
import { constants, promises as fsp, mkdirSync, rmSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { frame, type JournalRecord, MAX_BODY, readSegments, type Segment, segmentName } from './journal-format.js';

export { JournalDamagedError, type JournalRecord, MAX_BODY } from './journal-format.js';

/**
 * A segment is made of this many written zeros before its first record; a write that would
 * not fit goes to the next one (a larger write grows it, as an append to a file does).
 */
export const SEGMENT_BYTES = 1024 * 1024;
/** Writes up to this size are made on the event loop while the disk is quick (see `durableWrite`). */
const INLINE_WRITE_BYTES = 64 * 1024;
/**
 * A write on the event loop holds every request while the disk takes it: after one that took
 * SLOW_WRITE_MS or more, the next POOLED_AFTER_SLOW small writes go to libuv's pool, so a slow
 * disk (a network volume, a busy one) holds the event loop for one write in seventeen at most.
 */
const SLOW_WRITE_MS = 2;
const POOLED_AFTER_SLOW = 16;
/** Where the platform has it (Linux, macOS), a write returns once its data is on disk: no separate fdatasync. */
const O_DSYNC = (constants as { O_DSYNC?: number }).O_DSYNC ?? 0;

export type Journal = {
  /** Resolves with the record's LSN once it is on disk (written and fdatasync'd with whatever else was queued). */
  append(body: Buffer): Promise<number>;
  /** Records up to `lsn` are in the database: what holds only those is removed. */
  applied(lsn: number): void;
  /** Bytes appended (or queued) and not yet applied: what the backpressure bound counts. */
  unappliedBytes(): number;
  /** Syncs done: fewer than appends when requests shared them. */
  syncs(): number;
  /** Writes made on the event loop; the others went to libuv's pool. */
  writesOnLoop(): number;
  /** Waits for queued work (appends, trims), then closes the file. Unapplied records stay on disk. */
  close(): Promise<void>;
};

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
    /** Milliseconds, to time the writes made on the event loop (a test's clock). */
    clock?: () => number;
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
    options.clock ?? (() => performance.now()),
  );
  return { journal, records };
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
  clock: () => number,
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
  let writesOnLoop = 0;
  let pooledLeft = 0; // small writes still to go to the pool after a slow one on the event loop

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
   * records) is made on this thread while the disk is quick (SLOW_WRITE_MS): the sync of a
   * preallocated block takes about 0.1 ms, less than handing it to libuv's thread pool and
   * back; requests arriving meanwhile wait in the socket and share the next write.
   */
  const durableWrite = async (fh: fsp.FileHandle, parts: Buffer[], at: number) => {
    const bytes = parts.reduce((n, b) => n + b.length, 0);
    const small = O_DSYNC && bytes <= INLINE_WRITE_BYTES;
    let bytesWritten: number;
    if (small && pooledLeft === 0) {
      const started = clock();
      try {
        bytesWritten = writevSync(fh.fd, parts, at);
      } finally {
        // A write that failed slowly counts too: what follows it (the undo, the next append) goes to the pool.
        writesOnLoop++;
        if (clock() - started >= SLOW_WRITE_MS) pooledLeft = POOLED_AFTER_SLOW;
      }
    } else {
      if (small) pooledLeft--;
      ({ bytesWritten } = await fh.writev(parts, at));
    }
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
    writesOnLoop: () => writesOnLoop,
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
