// A raw export's body and the connections it runs on. Each slice of the export is one
// query, written by DuckDB with COPY to a file of the export's own (deleted once opened);
// the body reads it back in pieces of PIECE_BYTES as the client takes them, while DuckDB
// writes the next slice, and no further ahead. A lease is a connection of the export's own
// in a read-only transaction (the dashboard's reader is never held by a download), at most
// MAX_EXPORTS per tenant. The rows' SQL and formats are export.ts's.
import { randomUUID } from 'node:crypto';
import { mkdir, open, rm, statfs, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Connection, Database } from '../storage/duckdb.js';
import { StorageUnavailableError } from '../storage/errors.js';
import type { TenantFiles } from '../storage/tenant-files.js';

/** Concurrent raw exports per tenant: each holds a connection and a snapshot. */
export const MAX_EXPORTS = 2;
/**
 * Exports write their slices on the data disk (two at a time, of some SLICE_ROWS rows each,
 * export.ts):
 * no slice is written while it has less than this free, so they never take what ingestion needs.
 */
export const MIN_FREE_BYTES = 256 * 2 ** 20;
/** A client that takes nothing for this long loses its export (and its snapshot). */
export const STALL_MS = 120_000;

/** Bytes per piece of a raw export's body. */
export const PIECE_BYTES = 256 * 1024;

/**
 * What frames a body's slices: the bytes before the first, those after each slice's last
 * row that are held back (they go out only before the next slice's rows), and the end.
 */
export type SliceFrame = { head: string; heldBack: string; tail: string };

/** A slice's rows, written by DuckDB to a file of its own in `dir` and read back in pieces. */
type SliceFile = { read(): Promise<Uint8Array | null>; close(): Promise<void> };

async function writeSlice(
  lease: Lease,
  sql: string,
  params: Record<string, string>,
  heldBack: number,
): Promise<SliceFile> {
  await lease.roomFor();
  const path = join(lease.scratch, `slice-${randomUUID()}.part`);
  let file: FileHandle | undefined;
  let end: number;
  try {
    await lease.connection.run(
      `COPY (${sql}) TO '${path.replaceAll("'", "''")}' (FORMAT csv, HEADER false, QUOTE '', ESCAPE '')`,
      params,
    );
    file = await open(path, 'r');
    end = Math.max(0, (await file.stat()).size - heldBack);
  } catch (err) {
    await file?.close();
    throw err;
  } finally {
    // An open handle keeps the bytes until it is closed; a file that stays is gone at the next start.
    await rm(path, { force: true }).catch(() => {});
  }
  const opened = file;
  let at = 0;
  return {
    async read() {
      if (at >= end) return null;
      const piece = Buffer.allocUnsafe(Math.min(PIECE_BYTES, end - at));
      const { bytesRead } = await opened.read(piece, 0, piece.length, at);
      if (bytesRead === 0) throw new Error(`export slice ended at ${at} of ${end} bytes`);
      at += bytesRead;
      return piece.subarray(0, bytesRead);
    },
    close: () => opened.close(),
  };
}

/**
 * A body that runs `queries` one after the other on the lease, each written by DuckDB to
 * a file that is read back in pieces as the consumer pulls; the next slice is written
 * while one is read, and no further ahead. The lease is released when the body ends,
 * fails, is cancelled (the client went away) or stalls.
 */
export function pullBody(
  lease: Lease,
  frame: SliceFrame,
  queries: string[],
  params: Record<string, string>,
  onFailure: (err: unknown) => void,
): ReadableStream<Uint8Array> {
  const { heldBack } = frame;
  const encoder = new TextEncoder();
  let next = 0;
  let slice: SliceFile | null = null; // the one being read
  let ahead: Promise<SliceFile> | null = null; // the next one, being written
  let rowsBefore = false; // a slice before this one had rows: its held-back bytes go out first
  let done = false; // closed, failed, cancelled or stalled: nothing more is enqueued
  let pulling: Promise<void> = Promise.resolve();
  let stall: NodeJS.Timeout | undefined;

  const writeNext = () => {
    const sql = done ? undefined : queries[next++]; // a client gone, or a body failed: no more slices
    ahead = sql === undefined ? null : writeSlice(lease, sql, params, heldBack.length);
    ahead?.catch(() => {}); // its failure is the body's when it is its turn
  };
  const finish = async () => {
    done = true;
    clearTimeout(stall);
    const open = [slice, await ahead?.catch(() => null)];
    slice = null;
    ahead = null;
    for (const file of open) await file?.close().catch(() => {});
    return lease.release();
  };
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, err: unknown) => {
    onFailure(err);
    controller.error(err);
    return finish();
  };
  const watch = (controller: ReadableStreamDefaultController<Uint8Array>) => {
    stall = setTimeout(() => {
      if (!done) void fail(controller, new Error(`stalled: the client took nothing for ${STALL_MS / 1000} s`));
    }, STALL_MS).unref();
  };
  /** The next piece of the body, or null after the last slice. */
  const nextPiece = async (): Promise<Uint8Array | null> => {
    for (;;) {
      if (!slice) {
        if (!ahead) return null;
        slice = await ahead;
        writeNext(); // DuckDB writes the next slice while this one is read
        const piece = await slice.read();
        if (!piece) continue;
        const first = !rowsBefore;
        rowsBefore = true;
        return first || !heldBack ? piece : Buffer.concat([encoder.encode(heldBack), piece]);
      }
      const piece = await slice.read();
      if (piece) return piece;
      await slice.close();
      slice = null;
    }
  };

  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(frame.head));
      writeNext();
      watch(controller);
    },
    pull(controller) {
      clearTimeout(stall);
      pulling = nextPiece().then(
        async (piece) => {
          if (done) return;
          if (piece === null) {
            if (frame.tail) controller.enqueue(encoder.encode(frame.tail));
            await finish(); // before the end is seen: the client's next export finds the slot free
            controller.close();
          } else {
            controller.enqueue(piece);
            watch(controller);
          }
        },
        async (err: unknown) => {
          if (!done) await fail(controller, err);
        },
      );
      return pulling;
    },
    async cancel() {
      done = true;
      await pulling; // a read in flight ends before the connection is handed back
      await finish();
    },
  });
}

// ---- Connections for exports ----------------------------------------------------------

/**
 * A connection of the export's own, inside a read-only transaction, until `release`; a
 * private directory for the slices it writes, and `roomFor`, which throws a
 * StorageUnavailableError while that disk has less than MIN_FREE_BYTES free.
 */
export type Lease = {
  connection: DuckDBConnection;
  scratch: string;
  roomFor(): Promise<void>;
  release(): Promise<void>;
};
export type ExportPool = { lease(tenantId: string): Promise<Lease | null> };

/** Where raw exports write their slices (emptied when the server starts). */
export const exportsDir = (dataDir: string) => join(dataDir, 'export-slices');

/**
 * Export connections per tenant file, reused: at most `max` at once (null beyond), so a
 * tenant's downloads cannot take every DuckDB thread or pile up snapshots. Kept by the
 * Database they belong to, so a tenant's file reopened gets new ones. Slices are written
 * in `dir`.
 */
export function createExportPool(
  tenantFiles: TenantFiles,
  dir: string,
  options: { max?: number; minFreeBytes?: number } = {},
): ExportPool {
  const max = options.max ?? MAX_EXPORTS;
  const pools = new WeakMap<Database, { idle: Connection[]; busy: number }>();
  const roomFor = async () => {
    const minFreeBytes = options.minFreeBytes ?? MIN_FREE_BYTES; // read each time: a test moves it
    const { bavail, bsize } = await statfs(dir);
    if (bavail * bsize < minFreeBytes)
      throw new StorageUnavailableError(
        `exports wait until the data disk has ${Math.round(minFreeBytes / 2 ** 20)} MiB free (${Math.round((bavail * bsize) / 2 ** 20)} MiB now)`,
        60_000,
      );
  };
  return {
    async lease(tenantId) {
      const db = await tenantFiles.open(tenantId);
      const pool = pools.get(db) ?? { idle: [], busy: 0 };
      pools.set(db, pool);
      if (pool.busy >= max) return null;
      pool.busy++;
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await roomFor();
        const connection = pool.idle.pop() ?? (await db.connect());
        return await begin(connection, { scratch: dir, roomFor }, (reusable) => {
          pool.busy--;
          if (reusable) pool.idle.push(connection);
        });
      } catch (err) {
        pool.busy--;
        throw err;
      }
    },
  };
}

/** Takes `connection` alone and opens a read-only transaction; `released` hears when it is handed back. */
async function begin(
  connection: Connection,
  scratch: Pick<Lease, 'scratch' | 'roomFor'>,
  released: (reusable: boolean) => void,
): Promise<Lease> {
  const { raw, done } = await hold(connection);
  try {
    await raw.run('BEGIN TRANSACTION READ ONLY');
  } catch (err) {
    done();
    throw err;
  }
  let open = true;
  return {
    connection: raw,
    ...scratch,
    async release() {
      if (!open) return;
      open = false;
      // Ending the transaction lets go of the snapshot. A connection that cannot end it is
      // not reused.
      const clean = await raw.run('ROLLBACK').then(
        () => true,
        () => false,
      );
      done();
      released(clean);
    },
  };
}

/** Takes `connection` (its raw DuckDB connection, alone, through its queue) until `done` is called. */
function hold(connection: Connection): Promise<{ raw: DuckDBConnection; done(): void }> {
  return new Promise((resolve, reject) => {
    connection.withConnection((raw) => new Promise<void>((done) => resolve({ raw, done }))).catch(reject);
  });
}
