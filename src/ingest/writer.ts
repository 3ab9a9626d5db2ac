// Group commit: rows from concurrent requests for one tenant are gathered while the
// previous commit runs and written in one DuckDB statement. A retried event hits the
// primary key; the batch is then written again without the ids already stored, so it is
// stored once. Every caller's promise settles only after its statement committed, to the
// file that is still the one on disk (`checkFile`, one stat per commit). One writer per
// tenant file, so nothing can slip in between the lookup and the insert, and `seq`
// numbers the events in commit order (the aggregation worker's cursor). A caller's own
// statements (`alongside`) commit in the same transaction as the batch, or nothing does.
import type { DuckDBConnection, DuckDBPreparedStatement } from '@duckdb/node-api';
import type { Database } from '../storage/duckdb.js';
import { isOutOfMemory } from '../storage/errors.js';

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
  /** The import run that sent it (src/import/runs.ts), or null for live events. */
  importRun: string | null;
};

// Rows travel to DuckDB as one JSON document of columns ({"id": [...], "ts": [...], ...})
// bound to a prepared INSERT that unnests them. DuckDB parses it on its own thread, so a
// commit costs the event loop one JSON.stringify. (The appender's per-value calls and its
// synchronous flush held the event loop ~15 µs a row plus 2–4 ms a commit.)
const TEXT_COLUMNS = {
  kind: 'kind',
  source: 'source',
  user_id: 'userId',
  session_id: 'sessionId',
  project: 'project',
  prompt_id: 'promptId',
  tool_use_id: 'toolUseId',
  request_id: 'requestId',
  agent_id: 'agentId',
  agent_type: 'agentType',
  name: 'name',
  model: 'model',
  status: 'status',
  error: 'error',
  import_run: 'importRun',
} as const;
const NUMBER_COLUMNS = {
  duration_ms: 'durationMs',
  input_tokens: 'inputTokens',
  output_tokens: 'outputTokens',
  cache_read_tokens: 'cacheReadTokens',
  cache_creation_tokens: 'cacheCreationTokens',
  cost_usd: 'costUsd',
  lines_added: 'linesAdded',
  lines_removed: 'linesRemoved',
  value: 'value',
} as const;

const INSERT_SQL = (() => {
  const types: Record<string, string> = {
    id: 'VARCHAR[]',
    ts: 'BIGINT[]',
    received_at: 'BIGINT[]',
    seq: 'UBIGINT[]',
    attributes: 'VARCHAR[]',
  };
  const select: Record<string, string> = {
    id: 'unnest(d.id)::UBIGINT',
    ts: 'epoch_ms(unnest(d.ts))',
    received_at: 'epoch_ms(unnest(d.received_at))',
    seq: 'unnest(d.seq)',
    attributes: 'unnest(d.attributes)',
  };
  for (const column of Object.keys(TEXT_COLUMNS))
    (types[column] = 'VARCHAR[]'), (select[column] = `unnest(d.${column})`);
  for (const column of Object.keys(NUMBER_COLUMNS))
    (types[column] = 'DOUBLE[]'), (select[column] = `unnest(d.${column})`);
  const columns = Object.keys(select);
  return `INSERT INTO events (${columns.join(', ')}) SELECT ${columns.map((c) => select[c]).join(', ')} FROM (SELECT from_json($1::VARCHAR, '${JSON.stringify(types)}') AS d)`;
})();

/** The rows as the JSON document INSERT_SQL reads. */
function columnsJson(rows: EventRow[], firstSeq: bigint): string {
  const doc: Record<string, unknown[]> = {
    id: rows.map((r) => r.id.toString()), // 64 bits: a JSON number would lose the low ones
    ts: rows.map((r) => Math.trunc(r.ts)),
    received_at: rows.map((r) => Math.trunc(r.receivedAt)),
    seq: rows.map((_, i) => Number(firstSeq) + i),
    attributes: rows.map((r) => r.attributes), // JSON text: lone surrogates arrive escaped
  };
  // A lone surrogate would make the whole document malformed; the appender stored U+FFFD.
  for (const [column, key] of Object.entries(TEXT_COLUMNS))
    doc[column] = rows.map((r) => r[key]?.toWellFormed() ?? null);
  for (const [column, key] of Object.entries(NUMBER_COLUMNS)) doc[column] = rows.map((r) => r[key]);
  return JSON.stringify(doc);
}

/** Statements that must commit together with a write's rows (state derived from them). */
export type Alongside = (conn: DuckDBConnection) => Promise<void>;

export type EventWriter = {
  /**
   * Resolves once `rows` (and `alongside`) are committed, with how many of them were new;
   * rows already stored are skipped.
   */
  write(rows: EventRow[], alongside?: Alongside): Promise<number>;
  /** Commits what is pending. */
  flush(): Promise<void>;
};

/**
 * A commit starts once the event loop has handled what is already waiting (setImmediate),
 * or at once when `maxRows` are queued; what arrives while it runs goes in the next one.
 * Group commit needs no timer, and an idle server answers a lone hook without one.
 */
export type WriterOptions = { maxRows: number };
export const DEFAULT_WRITER: WriterOptions = { maxRows: 20_000 };

type Pending = { rows: EventRow[]; alongside?: Alongside; resolve(inserted: number): void; reject(err: unknown): void };

/**
 * What a committed batch held: rows offered, rows new, the last seq given, how long the
 * commit took, and the users the rows came from (worked out only if a listener asks:
 * ingest should not pay for it).
 */
export type Commit = { offered: number; inserted: number; lastSeq: number; seconds: number; userIds(): Set<string> };

/**
 * `onCommit` hears about every committed batch. `checkFile` says why `db` is no longer the
 * file on disk (deleted or replaced under the server), or null: a commit to a file that is
 * gone would be lost, so its callers get that error instead of an acknowledgement.
 */
export function createEventWriter(
  db: Database,
  options: WriterOptions = DEFAULT_WRITER,
  onCommit: (commit: Commit) => void = () => {},
  checkFile: () => Error | null = () => null,
): EventWriter {
  let queue: Pending[] = [];
  let queued = 0;
  let scheduled: NodeJS.Immediate | null = null; // the pending start of a commit
  let committing: Promise<void> | null = null;
  let nextSeq: bigint | null = null;

  /** Inserts `rows` in one statement (one transaction), numbering them from the next free seq. */
  const append = async (conn: DuckDBConnection, insert: DuckDBPreparedStatement, rows: EventRow[]) => {
    if (nextSeq === null) {
      // Past the rollups' watermark too: retention may have deleted the newest events, and a
      // reused number below the watermark would never be rolled up.
      const reader = await conn.runAndReadAll(
        'SELECT greatest(coalesce((SELECT max(seq) FROM events), 0), (SELECT last_seq FROM rollup_state))::UBIGINT',
      );
      nextSeq = (reader.getRows()[0]![0] as bigint) + 1n;
    }
    const first = nextSeq;
    nextSeq += BigInt(rows.length); // a failed batch leaves a gap, never a reuse
    if (rows.length === 0) return;
    insert.bindVarchar(1, columnsJson(rows, first));
    try {
      await insert.run();
    } finally {
      insert.clearBindings(); // the document need not live until the next commit
    }
  };

  const commit = async (batch: Pending[]) => {
    // One id per batch: a retry inside the same batch is stored once.
    const unique = new Map<bigint, EventRow>();
    for (const p of batch) for (const row of p.rows) if (!unique.has(row.id)) unique.set(row.id, row);
    const offered = batch.reduce((n, p) => n + p.rows.length, 0); // duplicates within the batch count as dropped too
    let stored: EventRow[] = [];
    let failure: { error: unknown } | null = null;
    const started = performance.now();
    try {
      stored = await whileShortOfMemory(() =>
        db.withConnection(async (conn, prepared) => {
          const insert = await prepared(INSERT_SQL);
          const alongside = batch.filter((p) => p.alongside);
          // One INSERT commits by itself; only statements alongside need a transaction around it
          // (BEGIN and COMMIT cost a lone hook some 0.4 ms: measured).
          const attempt = (rows: EventRow[]) =>
            alongside.length === 0
              ? append(conn, insert, rows)
              : inTransaction(conn, async () => {
                  await append(conn, insert, rows);
                  for (const p of alongside) await p.alongside!(conn);
                });
          // Retries are rare: insert everything and let the primary key object. Only then
          // redo the batch without the ids that are already stored.
          const rows = [...unique.values()];
          try {
            await attempt(rows);
            return rows;
          } catch (err) {
            if (!isDuplicateKey(err)) throw err;
          }
          const fresh = await withoutStored(conn, unique);
          await attempt(fresh);
          return fresh;
        }),
      );
    } catch (error) {
      failure = { error };
    }
    // Also after a failure: a file found gone explains it (and its tenant is then unavailable).
    const gone = checkFile();
    if (gone || failure) {
      for (const p of batch) p.reject(gone ?? failure!.error);
      return;
    }
    try {
      if (nextSeq !== null)
        onCommit({
          offered,
          inserted: stored.length,
          lastSeq: Number(nextSeq - 1n),
          seconds: (performance.now() - started) / 1000,
          userIds: () => usersOf(batch),
        });
      if (batch.length === 1) batch[0]!.resolve(stored.length);
      else {
        // Each caller hears how many of its own rows were new (a row offered twice is the first offer's).
        const fresh = new Set<EventRow>(stored);
        for (const p of batch) p.resolve(p.rows.reduce((n, row) => (fresh.delete(row) ? n + 1 : n), 0));
      }
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  };

  // While a commit runs, new rows wait; when it ends, everything waiting goes in the next
  // one. Under load the batch grows with the load instead of the commit count.
  const pump = (): Promise<void> => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = null;
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
    write(rows, alongside) {
      if (rows.length === 0 && !alongside) return Promise.resolve(0);
      return new Promise<number>((resolve, reject) => {
        queue.push({ rows, alongside, resolve, reject });
        queued += rows.length;
        if (committing) return; // picked up when the running commit ends
        if (queued >= options.maxRows) void pump();
        else scheduled ??= setImmediate(() => void pump());
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
    await conn.run('ROLLBACK').catch(() => undefined); // a failed statement or COMMIT already ended it
    throw err;
  }
}

const isDuplicateKey = (err: unknown) =>
  /Duplicate key .* violates primary key constraint/.test(String((err as Error)?.message));

/** The rows whose ids are not in `events` yet. Ids are our own bigints, safe to inline. */
async function withoutStored(conn: DuckDBConnection, rows: Map<bigint, EventRow>): Promise<EventRow[]> {
  const ids = [...rows.keys()];
  for (let i = 0; i < ids.length; i += 5000) {
    const reader = await conn.runAndReadAll(`SELECT id FROM events WHERE id IN (${ids.slice(i, i + 5000).join(',')})`);
    for (const [id] of reader.getRows()) rows.delete(id as bigint);
  }
  return [...rows.values()];
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
