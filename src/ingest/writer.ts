// Group commit: rows from concurrent requests for one tenant are gathered for a few
// milliseconds and written in one DuckDB transaction (appender into a staging table, then
// INSERT OR IGNORE, so a retried event is stored once). Every caller's promise settles
// only after that transaction has committed.
import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
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

const STAGING = `CREATE TEMP TABLE IF NOT EXISTS events_staging (
  id UBIGINT, ts_ms BIGINT, received_ms BIGINT,
  kind VARCHAR, source VARCHAR, user_id VARCHAR, session_id VARCHAR, project VARCHAR, prompt_id VARCHAR, tool_use_id VARCHAR,
  request_id VARCHAR, agent_id VARCHAR, agent_type VARCHAR, name VARCHAR, model VARCHAR, status VARCHAR,
  duration_ms DOUBLE, input_tokens DOUBLE, output_tokens DOUBLE, cache_read_tokens DOUBLE, cache_creation_tokens DOUBLE,
  cost_usd DOUBLE, lines_added DOUBLE, lines_removed DOUBLE, value DOUBLE, error VARCHAR, attributes VARCHAR)`;

const MOVE = `INSERT OR IGNORE INTO events
  SELECT id, epoch_ms(ts_ms), epoch_ms(received_ms), kind, source, user_id, session_id, project, prompt_id, tool_use_id,
         request_id, agent_id, agent_type, name, model, status, duration_ms, input_tokens, output_tokens, cache_read_tokens,
         cache_creation_tokens, cost_usd, lines_added, lines_removed, value, error, attributes::JSON
    FROM events_staging`;

export type EventWriter = {
  /** Resolves once `rows` are committed (or were already stored). */
  write(rows: EventRow[]): Promise<void>;
  /** Commits what is pending. */
  flush(): Promise<void>;
};

export type WriterOptions = { maxDelayMs: number; maxRows: number };
export const DEFAULT_WRITER: WriterOptions = { maxDelayMs: 2, maxRows: 20_000 };

type Pending = { rows: EventRow[]; resolve(): void; reject(err: unknown): void };

/** `onCommit` hears how many distinct rows a batch carried and how many were new. */
export function createEventWriter(db: Database, options: WriterOptions = DEFAULT_WRITER, onCommit: (offered: number, inserted: number) => void = () => {}): EventWriter {
  let queue: Pending[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> = Promise.resolve();

  const commit = async (batch: Pending[]) => {
    // One id per batch: a retry inside the same batch is stored once.
    const unique = new Map<bigint, EventRow>();
    for (const p of batch) for (const row of p.rows) if (!unique.has(row.id)) unique.set(row.id, row);
    try {
      const inserted = await db.withConnection(async (conn) => {
        await conn.run(STAGING);
        await conn.run('BEGIN TRANSACTION');
        try {
          await appendAll(conn, [...unique.values()]);
          const before = await countEvents(conn);
          await conn.run(MOVE);
          const after = await countEvents(conn);
          await conn.run('DELETE FROM events_staging');
          await conn.run('COMMIT');
          return after - before;
        } catch (err) {
          await conn.run('ROLLBACK').catch(() => undefined);
          await conn.run('DELETE FROM events_staging').catch(() => undefined);
          throw err;
        }
      });
      onCommit(unique.size, inserted);
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  };

  const flushNow = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    const batch = queue;
    queue = [];
    queued = 0;
    if (batch.length === 0) return inFlight;
    inFlight = inFlight.then(() => commit(batch));
    return inFlight;
  };

  return {
    write(rows) {
      if (rows.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queue.push({ rows, resolve, reject });
        queued += rows.length;
        if (queued >= options.maxRows) void flushNow();
        else timer ??= setTimeout(() => void flushNow(), options.maxDelayMs);
      });
    },
    flush: () => flushNow(),
  };
}

async function countEvents(conn: DuckDBConnection): Promise<number> {
  const reader = await conn.runAndReadAll('SELECT count(*) AS n FROM events');
  return Number(reader.getRowObjectsJS()[0]!.n);
}

async function appendAll(conn: DuckDBConnection, rows: EventRow[]): Promise<void> {
  const appender: DuckDBAppender = await conn.createAppender('events_staging', 'main', 'temp');
  try {
    for (const r of rows) {
      appender.appendUBigInt(r.id);
      appender.appendBigInt(BigInt(Math.trunc(r.ts)));
      appender.appendBigInt(BigInt(Math.trunc(r.receivedAt)));
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
      appender.endRow();
    }
  } finally {
    appender.closeSync();
  }
}
