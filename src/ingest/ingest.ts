// The one ingest function. Every entry point (hooks, OTLP, REST, WebSocket, import)
// translates its wire format into unified events and calls `ingest`, which runs each
// event through the same steps: validate → sanitise → identify → write (group commit).
// An event is kept or dropped with a named reason; drops are counted.
import { hash } from 'node:crypto';
import type { Database } from '../storage/duckdb.js';
import { StorageUnavailableError, TenantUnavailableError } from '../storage/errors.js';
import { openJournal } from '../storage/journal.js';
import type { Logger } from '../log.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { eventSchema, inTimeWindow, isValidEvent, timeWindowMessage, type IngestEvent, type Source } from './schema.js';
import { canonicalJson, sanitizeJson } from './sanitize.js';
import { decodeRows } from './event-rows.js';
import {
  APPLIED_KEY,
  createEventWriter,
  DEFAULT_WRITER,
  RecordTooLargeError,
  type Alongside,
  type Commit,
  type EventRow,
  type EventWriter,
  type Unapplied,
  type WriterOptions,
} from './writer.js';

/** Whose events they are; an import's events also name their run (rollback removes exactly those). */
export type Who = { tenantId: string; userId: string; importRun?: string };
export type Rejection = { index: number; field: string; message: string };
/** `accepted` passed validation; `stored` of those were new (the rest were stored before). */
export type IngestResult = { accepted: number; stored: number; rejected: Rejection[] };
export type DropReason = 'invalid' | 'duplicate';

/** What became of an event offered to ingest: stored, already stored, refused, or lost to a failed commit (not acknowledged). */
export const INGEST_OUTCOMES = ['stored', 'duplicate', 'invalid', 'failed'] as const;
export type IngestOutcome = (typeof INGEST_OUTCOMES)[number];
/** Where ingest counts what became of events and times commits (the Prometheus metrics). */
export type IngestCounters = {
  ingested(source: Source, outcome: IngestOutcome, n: number): void;
  committed(seconds: number): void;
  /** A commit applied journaled records: each one's seconds from acknowledgement to visible, and the backlog it ended. */
  applied?(lags: number[], journalBytes: number): void;
  /** An apply failed (it is tried again): what waits in the journal, and for how long its oldest record has. */
  unapplied?(held: Unapplied): void;
};

export type IngestStats = { received: number; stored: number; dropped: Record<DropReason, number>; batches: number };

export type Ingestor = {
  /**
   * Validates and stores `events` for the authenticated tenant and user. Valid events are
   * committed before this resolves, with `alongside` in the same transaction; invalid ones
   * come back in `rejected` by index.
   */
  ingest(
    who: Who,
    source: Source,
    events: readonly unknown[],
    now?: Date,
    alongside?: Alongside,
  ): Promise<IngestResult>;
  /**
   * The same steps, but resolves once the valid events are in the tenant's ingest journal,
   * synced (durable: a crash replays them), before DuckDB stores them, right after. What the
   * network entry points answer on: without a journal (no `journalDir`) it is `ingest`.
   */
  accept(who: Who, source: Source, events: readonly unknown[], now?: Date): Promise<Omit<IngestResult, 'stored'>>;
  /**
   * Replays the tenant's journal into its file `db`, just opened (what was acknowledged and
   * not yet stored), and keeps the journal open for `accept`. Throws JournalDamagedError.
   */
  recover(tenantId: string, db: Database): Promise<void>;
  /** Resolves once what the tenant was acknowledged is stored (or storing it failed): before a read. */
  settled(tenantId: string): Promise<void>;
  /** The tenant's writer has nothing to journal or apply now (true without a writer; false while one is made). */
  idle(tenantId: string): boolean;
  /** Each tenant's events, flushed (before an erasure or a rollback). */
  flushAll(): Promise<void>;
  /** Closes the tenant's writer and its journal, storing nothing more: the tenant is being deleted. */
  forget(tenantId: string): Promise<void>;
  /** Flushes, then closes every writer and its journal (at shutdown). */
  close(): Promise<void>;
  /** Hears every commit that stored new events (live dashboards); returns the unsubscribe. */
  onCommit(listener: CommitListener): () => void;
  stats: IngestStats;
};

export type CommitListener = (tenantId: string, commit: Commit) => void;

/** A tenant's writer on its file `db`, `ready` once made (its journal replayed). */
type WriterEntry = { db: Database; writer: Promise<EventWriter>; ready?: EventWriter };

/** `journalDir`, when given, journals `accept`'s events there; `log` hears of torn tails and failed applies. */
export type IngestorOptions = WriterOptions & { journalDir?: (tenantId: string) => string; log?: Logger };

/** `metrics` counts each event's outcome by entry point and times each commit. */
export function createIngestor(
  tenantFiles: TenantFiles,
  options: IngestorOptions = DEFAULT_WRITER,
  metrics?: IngestCounters,
): Ingestor {
  // One writer per open tenant file, made when the file is opened (after its journal's replay).
  const writers = new Map<string, WriterEntry>();
  const listeners = new Set<CommitListener>();
  const stats: IngestStats = { received: 0, stored: 0, dropped: { invalid: 0, duplicate: 0 }, batches: 0 };
  const { log } = options;

  const makeWriter = async (tenantId: string, db: Database): Promise<EventWriter> => {
    const onCommit = (commit: Commit) => {
      stats.batches++;
      stats.stored += commit.inserted;
      stats.dropped.duplicate += commit.offered - commit.inserted;
      if (commit.awaited) metrics?.committed(commit.seconds); // journaled rows: their sync was the commit
      if (commit.lags.length) metrics?.applied?.(commit.lags, commit.journalBytes);
      if (commit.inserted > 0) for (const listener of listeners) listener(tenantId, commit);
    };
    const check = () => tenantFiles.check(tenantId, db);
    if (!options.journalDir) return createEventWriter(db, options, onCommit, check);
    const mark = await db.get<{ value: string }>(`SELECT value FROM tenant_meta WHERE key = '${APPLIED_KEY}'`);
    const appliedLsn = Number(mark?.value ?? 0);
    const dir = options.journalDir(tenantId);
    const { journal, records } = openJournal(dir, appliedLsn, {
      onTornTail: (detail) => log?.warn('ingest journal: torn last record dropped', { tenant_id: tenantId, detail }),
      onSync: (seconds) => metrics?.committed(seconds),
    });
    const writer = createEventWriter(db, options, onCommit, check, journal, (err, held) => {
      log?.error('ingest journal: applying failed; retrying', { tenant_id: tenantId, error: String(err) });
      metrics?.unapplied?.(held);
    });
    const pending = records.filter((r) => r.lsn > appliedLsn);
    if (pending.length) {
      log?.info('ingest journal: replaying', { tenant_id: tenantId, records: pending.length });
      try {
        await writer.replay(pending.map((r) => ({ lsn: r.lsn, rows: decodeRows(r.body), bytes: r.body.length })));
      } catch (err) {
        await writer.close(); // the records stay in the journal for the next open
        throw err;
      }
    }
    return writer;
  };

  /**
   * Writers let go of (their file was found gone), per tenant, until closed: the journal is
   * not opened again while one of them may still write and sync an acknowledged append.
   */
  const closing = new Map<string, Promise<void>>();
  const retire = (tenantId: string, writer: EventWriter) => {
    const closed = writer.close().catch(() => undefined);
    closing.set(tenantId, closed);
    void closed.then(() => closing.get(tenantId) === closed && closing.delete(tenantId));
  };
  /** Closes `entry`'s writer, once the tenant's writers let go of before it are closed. */
  const closeAfterRetired = async (tenantId: string, entry: WriterEntry | undefined) => {
    await closing.get(tenantId);
    await (await entry?.writer.catch(() => null))?.close();
  };

  /** The writer on `db`, the tenant's file as just opened; one on an older handle is closed. */
  const writerOn = (tenantId: string, db: Database): Promise<EventWriter> => {
    const entry = writers.get(tenantId);
    if (entry?.db === db) return entry.writer;
    // The old writer's journal is closed (its queued appends written) before it is read again.
    const writer = (async () => {
      await closeAfterRetired(tenantId, entry);
      return makeWriter(tenantId, db);
    })();
    const next: WriterEntry = { db, writer };
    writers.set(tenantId, next);
    writer.then(
      (w) => (next.ready = w),
      () => writers.get(tenantId)?.writer === writer && writers.delete(tenantId),
    );
    return writer;
  };

  // Kept until a write finds its file gone: a hook costs no open, only the writer's one stat.
  const writerFor = (tenantId: string) =>
    writers.get(tenantId)?.writer ??
    tenantFiles.open(tenantId, { settled: false }).then((db) => writerOn(tenantId, db));

  /**
   * Validation, sanitising and identity: the rows to store and the events refused. One
   * request that gives an id twice, to different content, has the later item refused
   * (naming `id`): only one could be stored, and the client would not know which. The same
   * content twice is one event. Only ids the client gives (REST, the WebSocket): a
   * transcript's copies of one request share its id by design (the importer's rules pick
   * among them), and OpenTelemetry's ids are derived here.
   */
  const prepare = (who: Who, source: Source, events: readonly unknown[], now: Date) => {
    stats.received += events.length;
    const rows: EventRow[] = [];
    const rejected: Rejection[] = [];
    const given = (source === 'rest' || source === 'ws') && events.length > 1 ? new Map<bigint, unknown>() : null;
    events.forEach((raw, index) => {
      const parsed = isValidEvent(raw) ? { success: true as const, data: raw } : eventSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        rejected.push({ index, field: issue.path.map(String).join('.') || '(event)', message: issue.message });
        return;
      }
      if (parsed.data.ts !== undefined && !inTimeWindow(parsed.data.ts, now.getTime())) {
        rejected.push({ index, field: 'ts', message: timeWindowMessage(now.getTime()) });
        return;
      }
      const row = toRow(parsed.data, who, source, now.getTime());
      const first = parsed.data.id === undefined ? undefined : given?.get(row.id);
      if (first !== undefined && canonicalJson(first) !== canonicalJson(parsed.data)) {
        rejected.push({
          index,
          field: 'id',
          message: 'an earlier item of this request has this id, with other content',
        });
        return;
      }
      if (parsed.data.id !== undefined && first === undefined) given?.set(row.id, parsed.data);
      rows.push(row);
    });
    stats.dropped.invalid += rejected.length;
    metrics?.ingested(source, 'invalid', rejected.length);
    return { rows, rejected };
  };

  /** Runs `store` with the tenant's writer; a storage failure becomes a 503's error. */
  const storing = async <T>(who: Who, source: Source, count: number, store: (w: EventWriter) => Promise<T>) => {
    const made = writerFor(who.tenantId);
    const writer = await made;
    try {
      return await store(writer);
    } catch (err) {
      if (err instanceof RecordTooLargeError) throw err; // the client's to split; nothing was acknowledged
      metrics?.ingested(source, 'failed', count);
      if (!(err instanceof StorageUnavailableError))
        throw new StorageUnavailableError(`could not commit events: ${(err as Error).message}`);
      if (err instanceof TenantUnavailableError && writers.get(who.tenantId)?.writer === made) {
        // Its file is closed: the next write, once the file is back, needs a writer on the new one.
        writers.delete(who.tenantId);
        retire(who.tenantId, writer);
      }
      throw err;
    }
  };

  const ingest: Ingestor['ingest'] = async (who, source, events, now = new Date(), alongside) => {
    const { rows, rejected } = prepare(who, source, events, now);
    let stored = 0;
    if (rows.length || alongside) stored = await storing(who, source, rows.length, (w) => w.write(rows, alongside));
    metrics?.ingested(source, 'stored', stored);
    metrics?.ingested(source, 'duplicate', rows.length - stored);
    return { accepted: rows.length, stored, rejected };
  };

  return {
    stats,
    ingest,
    async accept(who, source, events, now = new Date()) {
      if (!options.journalDir) {
        const { accepted, rejected } = await ingest(who, source, events, now);
        return { accepted, rejected };
      }
      const { rows, rejected } = prepare(who, source, events, now);
      if (rows.length)
        await storing(who, source, rows.length, async (w) => {
          // Nothing is acknowledged for a file deleted or replaced under the server (one stat).
          const gone = tenantFiles.check(who.tenantId, w.db);
          if (gone) throw gone;
          await w.accept(rows, (stored) => {
            metrics?.ingested(source, 'stored', stored);
            metrics?.ingested(source, 'duplicate', rows.length - stored);
          });
        });
      return { accepted: rows.length, rejected };
    },
    async recover(tenantId, db) {
      await writerOn(tenantId, db);
    },
    async settled(tenantId) {
      const entry = writers.get(tenantId);
      await (await entry?.writer.catch(() => null))?.settled();
    },
    idle(tenantId) {
      const entry = writers.get(tenantId);
      return !entry || (entry.ready?.idle() ?? false);
    },
    onCommit(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async flushAll() {
      await Promise.all([...writers.values()].map(async (e) => (await e.writer.catch(() => null))?.flush()));
    },
    async forget(tenantId) {
      const entry = writers.get(tenantId);
      writers.delete(tenantId);
      await closeAfterRetired(tenantId, entry);
    },
    async close() {
      await this.flushAll();
      const all = [...writers.values()];
      writers.clear();
      await Promise.all(all.map(async (e) => (await e.writer.catch(() => null))?.close()));
    },
  };
}

/**
 * A project as the appliance keeps it: a working directory (an absolute path, as hooks send
 * `cwd`) becomes its last folder's name, the repository's, so one repository is one project
 * whoever's home it sits in and no home path is shown; any other name is kept as sent.
 * Migration 0012 renames what was stored before the same way.
 */
export function projectName(project: string): string {
  if (!/^(\/|~|[A-Za-z]:[\\/]|\\\\)/.test(project)) return project;
  return /([^/\\]+)[/\\]*$/.exec(project)?.[1] ?? project;
}

/** The longest client id an event may carry (the schema's limit). */
const MAX_ID = 200;

/**
 * An entry point's id for an event it derives from the content: readable when it fits
 * MAX_ID, else its first seven characters (the entry point's prefix, `otlp:m:`, `hook:s1`)
 * and a hash of the whole, so any valid input has an id the schema accepts, and the same
 * content the same id (stored OTLP ids were made so: keep it).
 */
export function stableId(id: string): string {
  return id.length <= MAX_ID ? id : `${id.slice(0, 7)}#${eventId(id).toString(16)}`;
}

/** 64 bits of SHA-256: ample for one tenant's events, and a small primary-key index. */
export function eventId(...parts: string[]): bigint {
  return hash('sha256', parts.join('\u0000'), 'buffer').readBigUInt64BE(0);
}

// Module-level, not per row: a closure made per call costs its allocation (and, under tsx, a defineProperty for its name).
const str = (v: string | undefined) => (v === undefined || v === '' ? null : v);
const num = (v: number | undefined) => (v === undefined ? null : v);

export function toRow(e: IngestEvent, who: Who, source: Source, receivedAt: number): EventRow {
  const attributes = e.attributes ? (sanitizeJson(e.attributes) as Record<string, unknown>) : null;
  // A client id is scoped by user and kind; without one the content is the identity.
  const id =
    e.id !== undefined
      ? eventId('id', who.userId, e.kind, e.id)
      : eventId('content', who.userId, canonicalJson({ ...e, attributes }));
  return {
    id,
    ts: e.ts ?? receivedAt,
    receivedAt,
    kind: e.kind,
    source,
    userId: who.userId,
    sessionId: str(e.session_id),
    project: e.project === undefined ? null : str(projectName(e.project)),
    promptId: str(e.prompt_id),
    toolUseId: str(e.tool_use_id),
    requestId: str(e.request_id),
    agentId: str(e.agent_id),
    agentType: str(e.agent_type),
    name: str(e.name),
    model: str(e.model),
    status: str(e.status),
    durationMs: num(e.duration_ms),
    inputTokens: num(e.input_tokens),
    outputTokens: num(e.output_tokens),
    cacheReadTokens: num(e.cache_read_tokens),
    cacheCreationTokens: num(e.cache_creation_tokens),
    costUsd: num(e.cost_usd),
    linesAdded: num(e.lines_added),
    linesRemoved: num(e.lines_removed),
    value: num(e.value),
    error: str(e.error),
    attributes: attributes ? JSON.stringify(attributes) : null,
    importRun: who.importRun ?? null,
  };
}
