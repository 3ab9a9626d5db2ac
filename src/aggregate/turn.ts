// A tenant's turn in a pass of the aggregation worker (worker.ts): its rollup, a chunk per
// transaction, and its compaction round, a bounded transaction at a time. Each stops once
// the turn ends (the timer's clock at `turnEnds`; the transaction under way finishes) and
// goes on from where it stood in the next pass. What the worker keeps of a tenant between
// passes is a TenantState.
import type { Logger } from '../log.js';
import type { Connection } from '../storage/duckdb.js';
import { isOutOfMemory, StorageUnavailableError } from '../storage/errors.js';
import { FOLD_ROWS_MIN } from '../storage/memory.js';
import type { Timer } from '../time/timer.js';
import type { TenantSettings } from './settings.js';
import {
  compact,
  compactionState,
  endRound,
  rollupChunk,
  setAside,
  startRound,
  type FoldRound,
  type Lag,
  type SessionSteps,
} from './steps.js';

/** The steps of a pass, each failing and retried on its own. */
export type Step = 'open' | 'rollup' | 'compaction' | 'retention' | 'figures';
type Backoff = { failures: number; retryAt: number };

export type TenantState = {
  /** The opened file `dirtySince` and `folding` were read from (they are kept there too). */
  restoredFrom: object | null;
  /** The oldest event time rolled up since the last compaction round began (null: none). */
  dirtySince: number | null;
  /** A compaction round under way. */
  folding: FoldRound | null;
  /** The last timed pass ended this tenant's turn with work left (events or a compaction). */
  backlog: boolean;
  lastCompaction: number;
  lastRetention: number;
  lastFigures: number;
  lastError: string | null;
  backoff: Partial<Record<Step, Backoff>>;
  /** Events per rollup transaction now: halved after a failure, doubled back after each success. */
  chunk: number;
  /** Rows per compaction transaction now: halved after a failure, doubled back after each success. */
  foldRows: number;
  /** Failed attempts in a row at one event: at SET_ASIDE_AFTER it is set aside. */
  aloneFailures: number;
  /** The last pass left nothing to roll up or compact and no step backing off. */
  caughtUp: boolean;
  /** When the pass last checkpointed the file (see `checkpoint`). */
  lastCheckpoint: number;
  /** Since when a pass's writes wait for a checkpoint (null: none do). */
  uncheckpointed: number | null;
  /** What `lag()` last read of the file: kept for when it is asleep. */
  measured: Lag | null;
};

/** What a turn works with: the worker's log, clocks, sizes (the most per transaction) and session steps. */
export type TurnContext = {
  log: Logger;
  /** The clock turns end on. */
  timer: Timer;
  /** The clock of the tenant's data (when a compaction was last done). */
  now: () => number;
  chunk: number;
  foldRows: number;
  sessions: SessionSteps;
};

/** Attempts at rolling up one event alone before it is set aside. */
export const SET_ASIDE_AFTER = 5;

export const newTenantState = (t: Pick<TurnContext, 'chunk' | 'foldRows'>, now: number): TenantState => ({
  restoredFrom: null,
  dirtySince: null,
  folding: null,
  backlog: false,
  lastCompaction: now,
  lastRetention: 0,
  lastFigures: -Infinity,
  lastError: null,
  backoff: {},
  chunk: t.chunk,
  foldRows: t.foldRows,
  aloneFailures: 0,
  caughtUp: false,
  lastCheckpoint: 0,
  uncheckpointed: null,
  measured: null,
});

/**
 * Rolls up what is above the watermark, a chunk per transaction. A failed chunk is tried
 * again at half the size at once; one event failing alone backs the step off (the error is
 * thrown), and after SET_ASIDE_AFTER such attempts is set aside. After a full chunk,
 * `afterFullChunk` runs (a checkpoint while catching up), and the rollup stops once the turn
 * ended, leaving `state.backlog`. Returns whether the watermark moved.
 */
export async function rollUp(
  t: TurnContext,
  tenantId: string,
  state: TenantState,
  conn: Connection,
  settings: () => Promise<TenantSettings>,
  turnEnds: number,
  afterFullChunk: () => Promise<void>,
): Promise<boolean> {
  let advanced = false;
  for (;;) {
    let r: Awaited<ReturnType<typeof rollupChunk>>;
    try {
      r = await rollupChunk(conn, state.chunk, await settings(), t.sessions);
    } catch (err) {
      if (state.chunk > 1 && !(err instanceof StorageUnavailableError)) {
        state.chunk = Math.max(1, Math.floor(state.chunk / 2));
        t.log.warn('rollup failed; trying fewer events', {
          tenant_id: tenantId,
          error: (err as Error).message,
          chunk: state.chunk,
        });
        continue;
      }
      // Short of memory, or storage that failed, is the process's state, not the event's:
      // never a reason to set it aside.
      const ours = isOutOfMemory(err) || err instanceof StorageUnavailableError;
      if (ours || ++state.aloneFailures < SET_ASIDE_AFTER) throw err;
      const seq = await setAside(conn, (err as Error).message);
      state.aloneFailures = 0;
      t.log.error('event set aside: it cannot be rolled up', {
        tenant_id: tenantId,
        seq,
        error: (err as Error).message,
        attempts: SET_ASIDE_AFTER,
      });
      continue;
    }
    state.aloneFailures = 0;
    if (!r) return advanced;
    advanced = true;
    state.dirtySince = r.dirtySince;
    const full = r.events >= state.chunk;
    state.chunk = Math.min(t.chunk, state.chunk * 2);
    if (!full) return advanced;
    await afterFullChunk();
    if (t.timer.now() >= turnEnds) {
      state.backlog = true;
      return advanced;
    }
  }
}

/**
 * Reads what the file keeps of compaction's progress into `state`, once per opened file:
 * after a restart, or a file replaced (a restore), the worker goes on from what it says.
 */
export async function restoreCompaction(state: TenantState, file: object, db: Connection): Promise<void> {
  if (state.restoredFrom === file) return;
  Object.assign(state, await compactionState(db), { restoredFrom: file });
}

/**
 * A compaction round: folds from where the rollups had written when it began
 * (`dirtySince`, handed over to the round), a bounded transaction at a time. One stopped
 * at the end of the turn (leaving `state.backlog`), or failed (halving the rows per
 * transaction, unless the storage failed; the error is thrown), goes on from its cursor in a
 * later call, or after a restart (the file keeps the round and its cursor). Forced, rounds
 * follow each other until nothing is left to fold; otherwise what was rolled up meanwhile
 * waits for the next round.
 */
export async function compactionRound(
  t: TurnContext,
  state: TenantState,
  db: Connection,
  force: boolean,
  turnEnds: number,
): Promise<void> {
  for (;;) {
    if (!state.folding) {
      if (state.dirtySince === null) return;
      state.folding = await startRound(db);
      state.dirtySince = null;
      if (!state.folding) return;
    }
    const folding = state.folding;
    const finished = await compact(db, folding.since, state.foldRows, {
      from: folding.cursor,
      folded: (next) => void (folding.cursor = next),
      stop: () => t.timer.now() >= turnEnds,
    }).catch((err) => {
      if (!(err instanceof StorageUnavailableError))
        state.foldRows = Math.max(Math.min(FOLD_ROWS_MIN, t.foldRows), Math.floor(state.foldRows / 2));
      throw err;
    });
    state.foldRows = Math.min(t.foldRows, state.foldRows * 2);
    if (!finished) {
      state.backlog = true;
      return;
    }
    await endRound(db);
    state.folding = null;
    state.lastCompaction = t.now();
    if (!force) return;
  }
}
