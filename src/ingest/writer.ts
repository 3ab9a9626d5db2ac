// Group commit: rows from concurrent requests for one tenant are gathered while the
// previous commit runs and written in one DuckDB statement. A retried event carries the
// same id: before the insert, the ids of the batch already stored among the events of its
// time span (DEDUPE_MARGIN_MS either side) are looked up and left out, so it is stored
// once (batch-store.ts: one commit). One writer per tenant file, so nothing can slip in between the lookup and the
// insert, and `seq` numbers the events in commit order (the aggregation worker's cursor).
// Rows come two ways: `accept` journals them (src/storage/journal.ts) and resolves once the
// journal is synced, then applies them within the apply window, in one batch with whatever
// else arrived, recording the journal's LSN in the same transaction; `write` resolves only
// after its batch committed, to the file that is still the one on disk (`checkFile`), with
// its own statements (`alongside`).
import type { Database } from '../storage/duckdb.js';
import { StorageUnavailableError } from '../storage/errors.js';
import type { Journal } from '../storage/journal.js';
import { REAL_TIMER, type Timer } from '../time/timer.js';
import { createBatchStore, type Alongside, type BatchWrite } from './batch-store.js';
import { encodeRows, type EventRow } from './event-rows.js';

export type { EventRow } from './event-rows.js';
export { type Alongside, APPLIED_KEY, DEDUPE_MARGIN_MS } from './batch-store.js';

export type EventWriter = {
  /**
   * Resolves once `rows` (and `alongside`) are committed, with how many of them were new;
   * rows already stored are skipped.
   */
  write(rows: EventRow[], alongside?: Alongside): Promise<number>;
  /**
   * Resolves once `rows` are in the journal, synced: durable, applied right after. Refused
   * (StorageUnavailableError, 503) while the journal holds JOURNAL_BOUND bytes not applied.
   */
  accept(rows: EventRow[], onApplied?: (inserted: number) => void): Promise<void>;
  /** Journal records found at open (their LSNs): resolves once applied, rejects if applying failed. */
  replay(records: { lsn: number; rows: EventRow[]; bytes: number }[]): Promise<void>;
  /** Resolves once what was acknowledged before the call is applied, or an apply failed. */
  settled(): Promise<void>;
  /** Commits what is pending, including rows whose journal sync is still running. */
  flush(): Promise<void>;
  /** Stops applying and closes the journal; what it holds unapplied stays on disk for the next open. */
  close(): Promise<void>;
  /**
   * Nothing being journaled, queued, applied or waiting for a retry, and nothing offered for
   * an apply window: a DuckDB checkpoint started now holds up no apply (it holds every commit
   * to the file while it writes), and under a steady stream of hooks it is never idle.
   */
  idle(): boolean;
  readonly db: Database;
};

/**
 * A commit a caller waits for (`write`) starts once the event loop has handled what is
 * already waiting (setImmediate), or at once when `maxRows` are queued; what arrives while
 * it runs goes in the next one. Journaled rows are acknowledged already: they wait until
 * `applyWindowMs` after the oldest of them was acknowledged, so that one DuckDB commit takes
 * a window's worth of them and does not compete with the next request for the CPU after every
 * hook. A read (`settled`), `flush` or a `write` takes them along at once.
 * `journalBound`: the unapplied journal bytes past which ingest is refused.
 * `timer`: the clock and timeouts of the window (a test drives them).
 */
export type WriterOptions = { maxRows: number; journalBound?: number; applyWindowMs?: number; timer?: Timer };
/**
 * 25 ms: dashboards and SSE must see an acknowledged event within 100 ms; the window plus one
 * commit of its rows (a few ms; some 50 ms at p99 on a loaded 2-core machine) stays within it.
 */
export const APPLY_WINDOW_MS = 25;
export const DEFAULT_WRITER: WriterOptions = { maxRows: 20_000 };

/** 32 MiB: about 100,000 events, a second or more of applying at full speed. */
export const JOURNAL_BOUND = 32 * 1024 * 1024;

/**
 * The most one request may journal, and about the most one apply takes (a batch holds
 * records up to this size, or one record): a statement DuckDB can apply within its share of
 * memory. A record it could not apply would be acknowledged and then stop its tenant.
 */
export const MAX_RECORD_BYTES = 32 * 1024 * 1024;

/** A request whose events, as stored, exceed MAX_RECORD_BYTES: refused before anything is acknowledged (413). */
export class RecordTooLargeError extends Error {
  readonly field = 'body';
  constructor(bytes: number | null) {
    const size = bytes === null ? 'more' : `${Math.ceil(bytes / 2 ** 20)} MiB`;
    super(
      `body: its events come to ${size} as stored, over the ${MAX_RECORD_BYTES / 2 ** 20} MiB one request may store; send them in smaller requests`,
    );
  }
}

/** A write waiting in the queue; journaled (`lsn`): acknowledged already, kept and tried again when an apply fails. */
type Pending = BatchWrite & {
  /** When a journaled row was acknowledged (the timer's clock): its apply is due a window later. */
  ackedAt?: number;
  /** The size of its journal record (`body`'s, or the record's it was replayed from). */
  bytes?: number;
  resolve(inserted: number): void;
  reject(err: unknown): void;
};

/**
 * What a committed batch held: rows offered, rows new, the last seq given, how long the
 * commit took, and the users the rows came from (worked out only if a listener asks:
 * ingest should not pay for it).
 */
/** What an apply that failed left waiting: the journal's unapplied bytes, and how long its oldest record has waited. */
export type Unapplied = { journalBytes: number; waitedSeconds: number };

export type Commit = {
  offered: number;
  inserted: number;
  lastSeq: number;
  seconds: number;
  /** Some caller waited for this commit (`write`); journaled rows were acknowledged by their sync. */
  awaited: boolean;
  /** Seconds from each journaled record's acknowledgement to this commit: how long it was not yet visible. */
  lags: number[];
  /** Journal bytes waiting unapplied as this commit ended, its own included: the backlog's peak. */
  journalBytes: number;
  userIds(): Set<string>;
};

const ignore = () => {};

/**
 * `onCommit` hears about every committed batch. `checkFile` says why `db` is no longer the
 * file on disk (deleted or replaced under the server), or null: a commit to a file that is
 * gone would be lost, so its callers get that error instead of an acknowledgement.
 * `journal`, if given, is where `accept` writes.
 */
export function createEventWriter(
  db: Database,
  options: WriterOptions = DEFAULT_WRITER,
  onCommit: (commit: Commit) => void = () => {},
  checkFile: () => Error | null = () => null,
  journal: Journal | null = null,
  onApplyError: (err: unknown, held: Unapplied) => void = () => {},
): EventWriter {
  let queue: Pending[] = [];
  let queued = 0;
  let scheduled: NodeJS.Immediate | null = null; // the pending start of a commit a caller waits for
  let windowEnd: (() => void) | null = null; // cancels the pending end of the apply window
  let hurried = 0; // journaled rows up to this LSN are applied at once (a reader waits for them)
  let retry: NodeJS.Timeout | null = null; // the next try after a failed apply of journaled rows
  let retryMs = 0;
  let committing: Promise<void> | null = null;
  const store = createBatchStore(db);
  let closed: Error | null = null;
  let lastError: unknown = null;
  let synced = 0; // the last LSN acknowledged
  let lastOffered = Number.NEGATIVE_INFINITY; // when rows last came (the timer's clock)
  let applied = 0;
  let waiters: { lsn: number; resolve(): void }[] = [];
  const appending = new Set<Promise<number>>(); // journal syncs not yet done: `flush` waits for them
  const bound = options.journalBound ?? JOURNAL_BOUND;
  const timer = options.timer ?? REAL_TIMER;
  const window = options.applyWindowMs ?? APPLY_WINDOW_MS;

  const wake = (all: boolean) => {
    const ready = waiters.filter((w) => all || w.lsn <= applied);
    waiters = waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  };

  const commit = async (batch: Pending[]) => {
    const offered = batch.reduce((n, p) => n + p.rows.length, 0); // duplicates within the batch count as dropped too
    const lsn = batch.reduce((n, p) => Math.max(n, p.lsn ?? 0), 0);
    let stored: EventRow[] = [];
    let failure: { error: unknown } | null = null;
    const started = performance.now();
    try {
      stored = await store.commit(batch);
    } catch (error) {
      failure = { error };
    }
    const backlog = journal?.unappliedBytes() ?? 0;
    if (!failure && lsn > 0) {
      // In the file, whatever happens to the file next: an operator who deletes it deletes them.
      applied = Math.max(applied, lsn);
      journal?.applied(lsn);
      retryMs = 0;
    }
    // Also after a failure: a file found gone explains it (and its tenant is then unavailable).
    const gone = checkFile();
    if (gone || failure) {
      const error = gone ?? failure!.error;
      for (const p of batch) if (p.lsn === undefined) p.reject(error);
      if (failure) keepJournaled(batch, error, gone !== null, backlog);
      wake(true); // a reader does not wait for an apply that failed
      return;
    }
    wake(false);
    const end = timer.now();
    const lastSeq = store.lastSeq();
    try {
      if (lastSeq !== null)
        onCommit({
          offered,
          inserted: stored.length,
          lastSeq,
          seconds: (performance.now() - started) / 1000,
          awaited: batch.some((p) => p.lsn === undefined),
          lags: batch.flatMap((p) => (p.ackedAt === undefined ? [] : [(end - p.ackedAt) / 1000])),
          journalBytes: backlog,
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

  /**
   * Journaled rows whose apply failed are acknowledged already: they go back in front and are
   * tried again after a backoff (100 ms, doubling to 5 s), or, if the file is gone, left in
   * the journal for the file's next open.
   */
  const keepJournaled = (batch: Pending[], error: unknown, gone: boolean, journalBytes: number) => {
    const kept = batch.filter((p) => p.lsn !== undefined);
    if (kept.length === 0) return;
    lastError = error;
    const oldest = Math.min(...kept.map((p) => p.ackedAt ?? Number.POSITIVE_INFINITY));
    onApplyError(error, { journalBytes, waitedSeconds: Number.isFinite(oldest) ? (timer.now() - oldest) / 1000 : 0 });
    if (gone) {
      closed ??= error as Error;
      return;
    }
    queue = [...kept, ...queue];
    queued += kept.reduce((n, p) => n + p.rows.length, 0);
    retryMs = Math.min(5000, retryMs ? retryMs * 2 : 100);
    retry ??= setTimeout(() => {
      retry = null;
      void pump();
    }, retryMs);
  };

  /** The queue's head, up to MAX_RECORD_BYTES of journal records (at least one write): a backlog goes in several commits. */
  const takeBatch = (): Pending[] => {
    let bytes = 0;
    let n = 0;
    const size = (p: Pending) => p.bytes ?? p.body?.length ?? 0;
    while (n < queue.length && (n === 0 || bytes + size(queue[n]!) <= MAX_RECORD_BYTES)) bytes += size(queue[n++]!);
    const batch = queue.slice(0, n);
    queue = queue.slice(n);
    queued -= batch.reduce((k, p) => k + p.rows.length, 0);
    return batch;
  };

  /** How long the queue may still wait (ms): 0 once a caller waits, it is full, or its oldest journaled row's window closed. */
  const wait = () => {
    if (queued >= options.maxRows) return 0;
    let oldest = Infinity;
    for (const p of queue) {
      if (p.lsn === undefined || p.lsn <= hurried) return 0;
      oldest = Math.min(oldest, p.ackedAt!);
    }
    return Math.max(0, oldest + window - timer.now());
  };

  /** Starts the next commit when it is due: on the next turn of the event loop, or when the window closes. */
  const schedule = () => {
    const ms = wait();
    if (ms > 0) windowEnd ??= timer.set(() => void pump(), ms);
    else if (queued >= options.maxRows) void pump();
    else scheduled ??= setImmediate(() => void pump());
  };

  // While a commit runs, new rows wait; when it ends, everything waiting goes in the next
  // one, once due. Under load the batch grows with the load instead of the commit count.
  const pump = (): Promise<void> => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = null;
    windowEnd?.();
    windowEnd = null;
    committing ??= (async () => {
      let first = true; // this call was scheduled because the queue was due, or asked for by `flush`
      while (queue.length && !retry && !closed) {
        if (!first && wait() > 0) {
          schedule();
          break;
        }
        first = false;
        await commit(takeBatch());
      }
      committing = null;
    })();
    return committing;
  };

  const enqueue = (p: Pending) => {
    lastOffered = timer.now();
    queue.push(p);
    queued += p.rows.length;
    if (committing || retry) return; // picked up when the running commit ends, or by the retry
    schedule(); // a caller that waits takes the window's rows along (`pump` cancels the window)
  };

  /** Journaled rows up to `lsn` are applied without waiting for their window. */
  const hurry = (lsn: number) => {
    hurried = Math.max(hurried, lsn);
    if (queue.length && !committing && !retry) schedule();
  };

  return {
    db,
    write(rows, alongside) {
      if (rows.length === 0 && !alongside) return Promise.resolve(0);
      if (closed) return Promise.reject(closed);
      return new Promise<number>((resolve, reject) => enqueue({ rows, alongside, resolve, reject }));
    },
    async accept(rows, onApplied = ignore) {
      if (!journal) return void onApplied(await this.write(rows));
      if (closed) throw closed;
      if (rows.length === 0) return;
      // A database handle closed under the writer (a storage fault) could not apply them.
      if (db.isClosed()) throw new StorageUnavailableError(`${db.path} is closed`);
      if (journal.unappliedBytes() >= bound)
        throw new StorageUnavailableError('ingest is behind: events are waiting to be stored; retry shortly', 1000);
      let body: Buffer;
      try {
        body = encodeRows(rows);
      } catch (err) {
        if (err instanceof RangeError) throw new RecordTooLargeError(null); // past what a string holds
        throw err;
      }
      if (body.length > MAX_RECORD_BYTES) throw new RecordTooLargeError(body.length);
      const appended = journal.append(body);
      appending.add(appended);
      let lsn: number;
      try {
        lsn = await appended;
      } finally {
        appending.delete(appended);
      }
      synced = Math.max(synced, lsn);
      if (!closed) enqueue({ rows, body, lsn, ackedAt: timer.now(), resolve: onApplied, reject: ignore });
    },
    async replay(records) {
      for (const r of records) {
        synced = Math.max(synced, r.lsn);
        enqueue({ rows: r.rows, lsn: r.lsn, bytes: r.bytes, ackedAt: timer.now(), resolve: ignore, reject: ignore });
      }
      await this.settled();
      if (applied < synced) throw lastError ?? new Error('the ingest journal could not be applied');
    },
    settled() {
      if (applied >= synced || closed) return Promise.resolve();
      hurry(synced); // a reader waits: its events need not wait for their window
      return new Promise<void>((resolve) => waiters.push({ lsn: synced, resolve }));
    },
    async flush() {
      // Rows still being journaled are on their way in: an erasure or a rollback after this must find them.
      await Promise.allSettled(appending);
      while ((queue.length && !closed) || committing) {
        if (retry) return this.settled(); // applying is failing: wait for one more try, not forever
        hurried = Math.max(hurried, synced);
        await pump();
      }
    },
    idle: () =>
      queue.length === 0 && !committing && !retry && appending.size === 0 && timer.now() - lastOffered >= window,
    async close() {
      closed ??= new StorageUnavailableError('the ingest writer was closed');
      if (retry) clearTimeout(retry);
      if (scheduled) clearImmediate(scheduled);
      windowEnd?.();
      windowEnd = null;
      await committing;
      for (const p of queue) if (p.lsn === undefined) p.reject(closed);
      queue = [];
      wake(true);
      await journal?.close();
    },
  };
}

function usersOf(batch: Pending[]): Set<string> {
  const users = new Set<string>();
  for (const p of batch) for (const row of p.rows) users.add(row.userId);
  return users;
}
