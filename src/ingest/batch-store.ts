// One commit of the event writer (writer.ts decides when and with what): the batch's rows
// whose ids the file holds already, stored or retired by retention, are left out; the new
// ones are numbered from the next free seq and inserted in one statement, with the
// statements that must commit with them and the journal's mark in the same transaction. A
// commit refused for want of memory is tried again.
import type { DuckDBConnection, DuckDBPreparedStatement } from '@duckdb/node-api';
import type { Database } from '../storage/duckdb.js';
import { isOutOfMemory } from '../storage/errors.js';
import { encodeRows, INSERT_SQL, numberedRecords, recordsDocument, storedIdsSql, type EventRow } from './event-rows.js';

/** Statements that must commit together with a write's rows (state derived from them). */
export type Alongside = (conn: DuckDBConnection) => Promise<void>;

/** One caller's part of a batch. */
export type BatchWrite = {
  rows: EventRow[];
  /** The rows' journal record (`encodeRows`), when they were journaled: inserted as it is. */
  body?: Buffer;
  alongside?: Alongside;
  /** The journal LSN of a journaled write: the batch records the highest as applied. */
  lsn?: number;
};

/** The tenant_meta key holding the last journal LSN applied to the file. */
export const APPLIED_KEY = 'journal_applied';

/**
 * How far, either side of a batch's time span, stored events are checked for its ids. A
 * retry keeps its id but, when the client sent no timestamp, takes its own receipt time as
 * `ts`: one within a day of the first copy is caught; a later one is stored again. Wider
 * costs more per batch (bench/dedupe.ts).
 */
export const DEDUPE_MARGIN_MS = 24 * 3600 * 1000;

/** Commits batches to `db` (its only writer of events), numbering their rows in commit order. */
export function createBatchStore(db: Database) {
  let nextSeq: bigint | null = null;

  /**
   * The batch's new rows (`fresh`, of `offered`) as the INSERT's documents, numbered from the
   * next free seq: the journal records themselves when every row is new, else a record of
   * the new ones; in parts when large (applyParts).
   */
  const numbered = async (
    conn: DuckDBConnection,
    batch: readonly BatchWrite[],
    fresh: EventRow[],
    offered: number,
  ): Promise<{ seq: bigint; body: Buffer }[][]> => {
    if (nextSeq === null) {
      // Past the rollups' watermark too: retention may have deleted the newest events, and a
      // reused number below the watermark would never be rolled up.
      const reader = await conn.runAndReadAll(
        'SELECT greatest(coalesce((SELECT max(seq) FROM events), 0), (SELECT last_seq FROM rollup_state))::UBIGINT',
      );
      nextSeq = (reader.getRows()[0]![0] as bigint) + 1n;
    }
    const first = nextSeq;
    nextSeq += BigInt(fresh.length); // a failed batch leaves a gap, never a reuse
    if (fresh.length === 0) return [];
    const records =
      fresh.length === offered ? numberedRecords(batch, first) : [{ seq: first, body: encodeRows(fresh) }];
    return applyParts(records, fresh, first);
  };

  const insertAll = async (insert: DuckDBPreparedStatement, parts: { seq: bigint; body: Buffer }[][]) => {
    for (const part of parts) {
      insert.bindVarchar(1, recordsDocument(part));
      try {
        await insert.run();
      } finally {
        insert.clearBindings(); // the document need not live until the next commit
      }
    }
  };

  return {
    /** Commits `batch`; resolves with its rows that were new (a row offered twice: its first offer). */
    commit(batch: readonly BatchWrite[]): Promise<EventRow[]> {
      // One id per batch: a retry inside the same batch is stored once.
      const unique = new Map<bigint, EventRow>();
      for (const p of batch) for (const row of p.rows) if (!unique.has(row.id)) unique.set(row.id, row);
      const offered = batch.reduce((n, p) => n + p.rows.length, 0);
      const lsn = batch.reduce((n, p) => Math.max(n, p.lsn ?? 0), 0);
      return whileShortOfMemory(() =>
        db.withConnection(async (conn, prepared) => {
          const fresh = await withoutStored(conn, [...unique.values()]);
          const insert = await prepared(INSERT_SQL);
          const alongside = batch.filter((p) => p.alongside);
          const parts = await numbered(conn, batch, fresh, offered);
          // One INSERT commits by itself; only several, statements alongside, or the journal's
          // mark need a transaction around it (BEGIN and COMMIT cost some 0.4 ms: measured).
          if (alongside.length === 0 && lsn === 0 && parts.length <= 1) await insertAll(insert, parts);
          else
            await inTransaction(conn, async () => {
              await insertAll(insert, parts);
              for (const p of alongside) await p.alongside!(conn);
              if (lsn > 0) await conn.run(`INSERT OR REPLACE INTO tenant_meta VALUES ('${APPLIED_KEY}', '${lsn}')`);
            });
          return fresh;
        }),
      );
    },
    /** The last seq given so far (null before the first commit). */
    lastSeq: (): number | null => (nextSeq === null ? null : Number(nextSeq - 1n)),
  };
}

/**
 * What one INSERT takes: DuckDB reading a document of records asked for some ten times its
 * size (a 10 MB batch ran out of a 102 MiB share), so past APPLY_PART_BYTES the new rows go
 * in parts of about that size, numbered as they would have been, in the commit's transaction.
 */
export const APPLY_PART_BYTES = 1024 * 1024;

function applyParts(
  records: { seq: bigint; body: Buffer }[],
  fresh: EventRow[],
  first: bigint,
): { seq: bigint; body: Buffer }[][] {
  const bytes = records.reduce((n, r) => n + r.body.length, 0);
  if (bytes <= APPLY_PART_BYTES) return [records];
  const parts: { seq: bigint; body: Buffer }[][] = [];
  // Rows [from, to) made again as one record, halved until it fits: rows differ in size.
  const remade = (from: number, to: number) => {
    const body = encodeRows(fresh.slice(from, to));
    if (body.length > APPLY_PART_BYTES && to - from > 1) {
      const middle = (from + to) >> 1;
      remade(from, middle);
      remade(middle, to);
    } else parts.push([{ seq: first + BigInt(from), body }]);
  };
  // Whole records go as they are, several to a part; only one larger than a part is made again.
  let part: { seq: bigint; body: Buffer }[] = [];
  let size = 0;
  records.forEach((r, k) => {
    if (part.length && size + r.body.length > APPLY_PART_BYTES) {
      parts.push(part);
      part = [];
      size = 0;
    }
    if (r.body.length <= APPLY_PART_BYTES) {
      part.push(r);
      size += r.body.length;
    } else remade(Number(r.seq - first), k + 1 < records.length ? Number(records[k + 1]!.seq - first) : fresh.length);
  });
  if (part.length) parts.push(part);
  return parts;
}

async function inTransaction(conn: DuckDBConnection, fn: () => Promise<void>): Promise<void> {
  await conn.run('BEGIN TRANSACTION');
  try {
    await fn();
    await conn.run('COMMIT');
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined); // a failed statement or COMMIT already ended it
    throw err;
  }
}

/**
 * The rows whose ids are not stored among the events of their time span, widened by
 * DEDUPE_MARGIN_MS, nor retired from there by retention: a lookup that reads only the row
 * groups of that span, so its cost follows the batch, not the table (no index over every id
 * ever stored).
 */
async function withoutStored(conn: DuckDBConnection, rows: EventRow[]): Promise<EventRow[]> {
  if (rows.length === 0) return rows;
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const row of rows) (from = Math.min(from, row.ts)), (to = Math.max(to, row.ts));
  // The window's bounds are literals (zonemaps), so the statement is prepared for this batch.
  const lookup = await conn.prepare(storedIdsSql({ from: from - DEDUPE_MARGIN_MS, to: to + DEDUPE_MARGIN_MS }));
  let stored: Set<bigint>;
  try {
    lookup.bindVarchar(1, rows.map((r) => r.id).join(','));
    stored = new Set((await lookup.runAndReadAll()).getRows().map(([id]) => id as bigint));
  } finally {
    lookup.destroySync();
  }
  return stored.size ? rows.filter((r) => !stored.has(r.id)) : rows;
}

/**
 * Runs `fn` again (up to 3 times, 100 ms apart) while DuckDB answers Out of Memory: the
 * memory budget is shared, so another file's query or rollup may hold it for a moment, and a
 * rolled-back commit is better retried than answered with 503.
 */
async function whileShortOfMemory<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt > 3 || !isOutOfMemory(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
