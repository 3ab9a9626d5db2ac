// Group commit: rows from concurrent requests for one tenant are gathered while the
// previous commit runs and written in one DuckDB transaction through the appender. A
// retried event hits the primary key; the batch is then rolled back and written again
// without the ids already stored, so it is stored once. Every caller's promise settles
// only after its transaction committed. One writer per tenant file, so nothing can slip
// in between the lookup and the append, and `seq` numbers the events in commit order
// (the aggregation worker's cursor).
import { DuckDBTimestampValue, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import type { Database } from '../storage/duckdb.js';

export type EventRow = {
  id: bigint;
  ts: number;
  receivedAt: number;
  kind: string;
  source: string;
  userId: string;
  sessionId: string | null;
  project: string | null;
  promptId: string | null;
  toolUseId: string | null;
  requestId: string | null;
  agentId: string | null;
  agentType: string | null;
  name: string | null;
  model: string | null;
  status: string | null;
  durationMs: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  cacheReadTokens: number | null;
  cacheCreationTokens: number | null;
  costUsd: number | null;
  linesAdded: number | null;
  linesRemoved: number | null;
  value: number | null;
  error: string | null;
  attributes: string | null;
};

const TEXT_COLUMNS = ['kind', 'source', 'userId', 'sessionId', 'project', 'promptId', 'toolUseId', 'requestId', 'agentId', 'agentType', 'name', 'model', 'status'] as const;
const NUMBER_COLUMNS = ['durationMs', 'inputTokens', 'outputTokens', 'cacheReadTokens', 'cacheCreationTokens', 'costUsd', 'linesAdded', 'linesRemoved', 'value'] as const;

export type EventWriter = {
  /** Resolves once `rows` are committed (or were already stored). */
  write(rows: EventRow[]): Promise<void>;
  /** Commits what is pending. */
  flush(): Promise<void>;
};

export type WriterOptions = { maxDelayMs: number; maxRows: number };
export const DEFAULT_WRITER: WriterOptions = { maxDelayMs: 2, maxRows: 20_000 };

type Pending = { rows: EventRow[]; resolve(): void; reject(err: unknown): void };

/**
 * What a committed batch held: rows offered, rows new, the last seq given, and the users the
 * rows came from (worked out only if a listener asks: ingest should not pay for it).
 */
export type Commit = { offered: number; inserted: number; lastSeq: number; userIds(): Set<string> };

/** `onCommit` hears about every committed batch. */
export function createEventWriter(db: Database, options: WriterOptions = DEFAULT_WRITER, onCommit: (commit: Commit) => void = () => {}): EventWriter {
  let queue: Pending[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | null = null;
  let committing: Promise<void> | null = null;
  let nextSeq: bigint | null = null;

  /** Appends `rows` in one transaction, numbering them from the next free seq. */
  const append = async (conn: DuckDBConnection, rows: EventRow[]) => {
    if (nextSeq === null) {
      // Past the rollups' watermark too: retention may have deleted the newest events, and a
      // reused number below the watermark would never be rolled up.
      const reader = await conn.runAndReadAll('SELECT greatest(coalesce((SELECT max(seq) FROM events), 0), (SELECT last_seq FROM rollup_state))::UBIGINT');
      nextSeq = (reader.getRows()[0]![0] as bigint) + 1n;
    }
    const first = nextSeq;
    nextSeq += BigInt(rows.length); // a failed batch leaves a gap, never a reuse
    await inTransaction(conn, () => appendAll(conn, rows, first));
  };

  const commit = async (batch: Pending[]) => {
    // One id per batch: a retry inside the same batch is stored once.
    const unique = new Map<bigint, EventRow>();
    for (const p of batch) for (const row of p.rows) if (!unique.has(row.id)) unique.set(row.id, row);
    const offered = batch.reduce((n, p) => n + p.rows.length, 0); // duplicates within the batch count as dropped too
    try {
      const inserted = await db.withConnection(async (conn) => {
        // Retries are rare: append everything and let the primary key object. Only then
        // redo the batch without the ids that are already stored.
        const rows = [...unique.values()];
        try {
          await append(conn, rows);
          return rows.length;
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
        }
        const fresh = await withoutStored(conn, unique);
        await append(conn, fresh);
        return fresh.length;
      });
      if (nextSeq !== null) onCommit({ offered, inserted, lastSeq: Number(nextSeq - 1n), userIds: () => usersOf(batch) });
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  };

  // While a commit runs, new rows wait; when it ends, everything waiting goes in the next
  // one. Under load the batch grows with the load instead of the commit count.
  const pump = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = null;
    committing ??= (async () => {
      while (queue.length) {
        const batch = queue;
        queue = [];
        queued = 0;
        await commit(batch);
      }
      committing = null;
    })();
    return committing;
  };

  return {
    write(rows) {
      if (rows.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queue.push({ rows, resolve, reject });
        queued += rows.length;
        if (committing) return; // picked up when the running commit ends
        if (queued >= options.maxRows) void pump();
        else timer ??= setTimeout(() => void pump(), options.maxDelayMs);
      });
    },
    async flush() {
      while (queue.length || committing) await pump();
    },
  };
}

function usersOf(batch: Pending[]): Set<string> {
  const users = new Set<string>();
  for (const p of batch) for (const row of p.rows) users.add(row.userId);
  return users;
}

async function inTransaction(conn: DuckDBConnection, fn: () => Promise<void>): Promise<void> {
  await conn.run('BEGIN TRANSACTION');
  try {
    await fn();
    await conn.run('COMMIT');
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

const isDuplicateKey = (err: unknown) => /Duplicate key .* violates primary key constraint/.test(String((err as Error)?.message));

/** The rows whose ids are not in `events` yet. Ids are our own bigints, safe to inline. */
async function withoutStored(conn: DuckDBConnection, rows: Map<bigint, EventRow>): Promise<EventRow[]> {
  const ids = [...rows.keys()];
  for (let i = 0; i < ids.length; i += 5000) {
    const reader = await conn.runAndReadAll(`SELECT id FROM events WHERE id IN (${ids.slice(i, i + 5000).join(',')})`);
    for (const [id] of reader.getRows()) rows.delete(id as bigint);
  }
  return [...rows.values()];
}

async function appendAll(conn: DuckDBConnection, rows: EventRow[], firstSeq: bigint): Promise<void> {
  if (rows.length === 0) return;
  const appender: DuckDBAppender = await conn.createAppender('events');
  let seq = firstSeq;
  try {
    for (const r of rows) {
      appender.appendUBigInt(r.id);
      appender.appendTimestamp(new DuckDBTimestampValue(BigInt(Math.trunc(r.ts)) * 1000n));
      appender.appendTimestamp(new DuckDBTimestampValue(BigInt(Math.trunc(r.receivedAt)) * 1000n));
      for (const col of TEXT_COLUMNS) {
        const v = r[col];
        if (v === null) appender.appendNull();
        else appender.appendVarchar(v);
      }
      for (const col of NUMBER_COLUMNS) {
        const v = r[col];
        if (v === null) appender.appendNull();
        else appender.appendDouble(v);
      }
      if (r.error === null) appender.appendNull();
      else appender.appendVarchar(r.error);
      if (r.attributes === null) appender.appendNull();
      else appender.appendVarchar(r.attributes);
      appender.appendUBigInt(seq++);
      appender.endRow();
    }
    appender.closeSync(); // flushes: a duplicate id fails here
  } catch (err) {
    // Drop what the appender still holds: left to the garbage collector, its finalizer would
    // flush those rows into whatever transaction the connection runs then, and abort it.
    try {
      appender.clear();
      appender.closeSync();
    } catch {
      /* already closed */
    }
    throw err;
  }
}
