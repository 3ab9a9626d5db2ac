// The aggregation worker: in the process, off the request path. For each tenant it rolls
// every event above the watermark into all five tiers, in all three cubes (see tiers.ts), in
// one transaction that also moves the watermark, so a crash or a pause only delays it:
// the next pass starts where the last commit left off. Late events land in their own
// (old) buckets. It also keeps the sessions (a step its creator gives: SessionSteps), folds
// the rows of recent buckets (compaction), prices new models, and applies retention. Each of
// those steps fails alone and is retried with a backoff; one tenant failing is logged and
// retried, the others go on. A rollup that fails is retried on half as many events until the
// one event that fails alone is found; after SET_ASIDE_AFTER attempts that event is set aside
// (counted, logged, left out of every figure) and the worker moves on: no row can stop it.
// A timed pass gives each tenant a turn of about TURN_MS for its rollup and compaction
// (turn.ts), so one tenant's backlog (an import) is caught up over several passes, the others
// served in each.
import type { Logger } from '../log.js';
import type { Connection } from '../storage/duckdb.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { saveSetting, tenantSettings } from './settings.js';
import { applyRetention, checkpoint, readLag, type SessionSteps } from './steps.js';
import {
  compactionRound,
  newTenantState,
  restoreCompaction,
  rollUp,
  type Step,
  type TenantState,
  type TurnContext,
} from './turn.js';
import { REAL_TIMER, type Timer } from '../time/timer.js';

export type AggregatorOptions = {
  tenantFiles: TenantFiles;
  sessions: SessionSteps;
  tenants: () => Promise<string[]>;
  log: Logger;
  now?: () => number;
  /** Pause between passes; after a slow pass, PASS_SPACING times its length. */
  intervalMs?: number;
  /** The clock and timeouts that space the passes (a test drives them). */
  timer?: Timer;
  /** Events per transaction while catching up. */
  chunk?: number;
  /** Rollup rows per compaction transaction. */
  foldRows?: number;
  compactEveryMs?: number;
  retentionEveryMs?: number;
  /** How often to look for sessions gone quiet when no events came (after a pass that rolled some up, always). */
  figuresEveryMs?: number;
  /** At most this often a pass that wrote checkpoints the file (a full chunk while catching up: each time). */
  checkpointEveryMs?: number;
  /**
   * Whether ingest has nothing to apply to the tenant's file now. A checkpoint holds every
   * commit to the file while it writes (0.1-0.5 s), so it waits for ingest to be idle: until
   * `checkpointDeferMs` after it was due, then it runs anyway (DuckDB's own
   * `checkpoint_threshold` bounds the WAL meanwhile).
   */
  ingestIdle?: (tenantId: string) => boolean;
  checkpointDeferMs?: number;
};

export type TenantLag = {
  tenantId: string;
  lastSeq: number;
  pendingEvents: number;
  lagSeconds: number;
  setAside: number;
  lastError: string | null;
};

/** Over every tenant: events not rolled up yet, and the oldest one's age (a tenant that could not be read counts neither). */
export function totalLag(lags: TenantLag[]): { events: number; seconds: number } {
  return {
    events: lags.reduce((n, l) => n + Math.max(0, l.pendingEvents), 0),
    seconds: Math.max(0, ...lags.map((l) => l.lagSeconds)),
  };
}

export type Aggregator = {
  start(): void;
  stop(): Promise<void>;
  /** One full pass over every tenant (or one): rolls up, compacts and applies retention when due. */
  runOnce(tenantId?: string, force?: { compact?: boolean; retention?: boolean }): Promise<void>;
  /** Runs `fn` while no pass runs (a change the worker must not see half of, like new prices); the next pass looks at everything again. */
  whileIdle<T>(fn: () => Promise<T>): Promise<T>;
  /** How far behind each tenant's rollups are. */
  lag(): Promise<TenantLag[]>;
  /** Called after a tenant's rollups moved forward. */
  onAdvance(listener: (tenantId: string) => void): () => void;
  /** The session steps it was made with, for changes made while it is idle (removing events). */
  readonly sessions: SessionSteps;
};

/**
 * A pass is followed by a pause of this many times its length (at least the interval, at
 * most MAX_PAUSE_MS): under a steady stream, rolling up takes a fifth of the time. Under
 * sustained ingest on a loaded machine a pass took 0.6-0.8 s, most of it fixed cost whatever
 * the events, and the slowest hooks ran during one twice as often as the others; passes
 * further apart roll up more events each for the same cost.
 */
export const PASS_SPACING = 4;
/** The longest pause after a pass: after a long one (a backlog caught up) the others' rollups do not wait four times as long. */
export const MAX_PAUSE_MS = 5_000;
/**
 * A tenant's turn in a timed pass: its rollup and compaction stop after this long and go on
 * in the next pass, which follows at once (a backlog was caught up in one pass before, with
 * no pause either). So one tenant's backlog (an import of months) does not hold the others'
 * rollups back.
 */
export const TURN_MS = 5_000;
/** While a tenant stays behind, compaction waits at most this many times its interval. */
const STARVED_COMPACTIONS = 10;

const MAX_BACKOFF_MS = 60_000;

export function createAggregator(options: AggregatorOptions): Aggregator {
  const { tenantFiles, log } = options;
  const now = options.now ?? Date.now;
  const intervalMs = options.intervalMs ?? 1000;
  const chunk = options.chunk ?? 250_000;
  const foldRows = options.foldRows ?? 200_000;
  const compactEveryMs = options.compactEveryMs ?? 60_000;
  const retentionEveryMs = options.retentionEveryMs ?? 3_600_000;
  const figuresEveryMs = options.figuresEveryMs ?? 30_000;
  const checkpointEveryMs = options.checkpointEveryMs ?? 10_000;
  const checkpointDeferMs = options.checkpointDeferMs ?? 60_000;
  const ingestIdle = options.ingestIdle ?? (() => true);
  const states = new Map<string, TenantState>();
  const listeners = new Set<(tenantId: string) => void>();
  const timer = options.timer ?? REAL_TIMER;
  let cancelTick: (() => void) | null = null;
  let running: Promise<void> | null = null;
  let stopped = true;

  const turn: TurnContext = { log, timer, now, chunk, foldRows, sessions: options.sessions };
  const stateOf = (tenantId: string) => {
    let s = states.get(tenantId);
    if (!s) states.set(tenantId, (s = newTenantState(turn, now())));
    return s;
  };

  /** Runs one step unless it is backing off; a failure is logged and backs that step off. Returns fn's result, or undefined when it did not run to the end. */
  const step = async <T>(
    tenantId: string,
    state: TenantState,
    name: Step,
    forced: boolean,
    fn: () => Promise<T>,
  ): Promise<T | undefined> => {
    const b = state.backoff[name];
    if (b && b.retryAt > now() && !forced) return undefined;
    try {
      const result = await fn();
      delete state.backoff[name];
      return result;
    } catch (err) {
      const failures = (b?.failures ?? 0) + 1;
      state.backoff[name] = { failures, retryAt: now() + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** failures) };
      state.lastError = `${name}: ${(err as Error).message}`;
      log.error('aggregation failed for a tenant', {
        tenant_id: tenantId,
        step: name,
        error: (err as Error).message,
        attempt: failures,
      });
      return undefined;
    }
  };

  /**
   * Checkpoints the file once it is due (after a full chunk while catching up: at once) and
   * ingest is idle, or has been busy `checkpointDeferMs` since it was due.
   */
  const checkpointWhenIdle = async (tenantId: string, state: TenantState, conn: Connection, catchingUp = false) => {
    const t = now();
    state.uncheckpointed ??= t;
    const due = catchingUp
      ? state.uncheckpointed
      : Math.max(state.uncheckpointed, state.lastCheckpoint + checkpointEveryMs);
    if (t < due || (!ingestIdle(tenantId) && t - due < checkpointDeferMs)) return;
    await checkpoint(conn);
    state.lastCheckpoint = now();
    state.uncheckpointed = null;
  };

  // A file closed for being idle has had no events since: it is woken only when time-based work is due.
  const passTenant = async (
    tenantId: string,
    force: { compact?: boolean; retention?: boolean } = {},
    turnEnds = Infinity,
  ) => {
    const state = stateOf(tenantId);
    const due =
      force.compact ||
      force.retention ||
      !state.caughtUp ||
      now() - state.lastRetention >= retentionEveryMs ||
      now() - state.lastFigures >= figuresEveryMs;
    if (!due && tenantFiles.asleep(tenantId)) return;
    await tenantFiles.visit(tenantId, () => passFile(tenantId, state, force, turnEnds));
  };

  /** A tenant's part of a pass; a timed pass ends its rollup and compaction at `turnEnds` (the timer's clock). */
  const passFile = async (
    tenantId: string,
    state: TenantState,
    force: { compact?: boolean; retention?: boolean },
    turnEnds: number,
  ) => {
    state.backlog = false;
    const opened = await step(tenantId, state, 'open', false, async () => {
      const file = await tenantFiles.open(tenantId);
      const db = await tenantFiles.connection(tenantId, 'worker');
      await restoreCompaction(state, file, db);
      return { file, db };
    });
    if (!opened) return;
    const { file, db } = opened;
    const settings = () => tenantSettings(file, db);
    const advanced = await step(tenantId, state, 'rollup', false, () =>
      rollUp(turn, tenantId, state, db, settings, turnEnds, () => checkpointWhenIdle(tenantId, state, db, true)),
    );
    if (advanced) for (const l of listeners) l(tenantId);
    let wrote = !!advanced;
    // Events still to roll up: compaction and the session figures wait until they are.
    const behind = state.backlog;
    const compactionDue =
      state.folding !== null ||
      (state.dirtySince !== null && (force.compact || now() - state.lastCompaction >= compactEveryMs));
    // Under a steady backlog a compaction still gets its turn now and then.
    const starved = now() - state.lastCompaction >= STARVED_COMPACTIONS * compactEveryMs;
    if (compactionDue && (!behind || force.compact || starved)) {
      await step(tenantId, state, 'compaction', !!force.compact, () => {
        wrote = true;
        return compactionRound(turn, state, db, !!force.compact, turnEnds);
      });
    }
    if (force.retention || now() - state.lastRetention >= retentionEveryMs) {
      await step(tenantId, state, 'retention', !!force.retention, async () => {
        const s = await settings();
        wrote = true;
        const applied = await applyRetention(db, s.retention, now(), s.applied, options.sessions);
        await saveSetting(file, db, 'retention_applied', applied);
        state.lastRetention = now();
      });
    }
    // Last, what is stored of the sessions gone quiet.
    if (!behind && (advanced || now() - state.lastFigures >= figuresEveryMs)) {
      await step(tenantId, state, 'figures', false, async () => {
        wrote = true;
        await options.sessions.settle(file, db, now());
        state.lastFigures = now();
      });
    }
    if (wrote || state.uncheckpointed !== null) await checkpointWhenIdle(tenantId, state, db);
    if (Object.keys(state.backoff).length === 0) state.lastError = null;
    state.caughtUp =
      !advanced &&
      !state.backlog &&
      state.dirtySince === null &&
      state.folding === null &&
      Object.keys(state.backoff).length === 0;
  };

  const runOnce = async (tenantId?: string, force?: { compact?: boolean; retention?: boolean }) => {
    const ids = tenantId ? [tenantId] : await options.tenants();
    for (const id of ids) await passTenant(id, force);
  };
  /**
   * The timer's pass: each tenant in turn, for about TURN_MS of rollup and compaction (the
   * work under way finishes). Whether one was left with work to do; a tenant gone is forgotten.
   */
  const timedPass = async (): Promise<boolean> => {
    const ids = await options.tenants();
    for (const id of states.keys()) if (!ids.includes(id)) states.delete(id);
    for (const id of ids) await passTenant(id, {}, timer.now() + TURN_MS);
    return ids.some((id) => states.get(id)?.backlog);
  };

  /** Runs `fn` with no pass running (none starts until it ends). */
  const whileIdle = async <T>(fn: () => Promise<T>): Promise<T> => {
    while (running) await running;
    const done = fn();
    running = done.then(
      () => undefined,
      () => undefined,
    );
    try {
      return await done;
    } finally {
      running = null;
    }
  };

  const tick = () => {
    if (stopped) return;
    let took = 0;
    let backlog = false;
    void whileIdle(async () => {
      const started = timer.now();
      try {
        if (!stopped) backlog = await timedPass();
      } finally {
        took = timer.now() - started;
      }
    })
      .catch((err: unknown) => log.error('aggregation pass failed', { error: String(err) }))
      .finally(() => {
        // Work left over (a turn ended): the next pass at once, every tenant's turn in it.
        const pause = backlog ? 0 : Math.min(MAX_PAUSE_MS, Math.max(intervalMs, PASS_SPACING * took));
        if (!stopped) cancelTick = timer.set(tick, pause);
      });
  };

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      tick();
    },
    async stop() {
      stopped = true;
      cancelTick?.();
      cancelTick = null;
      while (running) await running;
    },
    // A caller's pass waits for the timer's pass: two passes never interleave.
    runOnce: (tenantId, force) => whileIdle(() => runOnce(tenantId, force)),
    async whileIdle(fn) {
      try {
        return await whileIdle(fn);
      } finally {
        for (const state of states.values()) state.lastFigures = -Infinity;
      }
    },
    async lag() {
      const out: TenantLag[] = [];
      for (const tenantId of await options.tenants()) {
        const state = stateOf(tenantId);
        try {
          // Health checks and scrapes never keep a file awake: a file asleep has had no
          // write since it was last read here; one not yet read is opened for the moment.
          const r =
            (tenantFiles.asleep(tenantId) && state.measured) ||
            (state.measured = await tenantFiles.visit(tenantId, async () =>
              readLag(await tenantFiles.connection(tenantId, 'reader')),
            ));
          out.push({
            tenantId,
            lastSeq: r.last_seq,
            pendingEvents: Math.max(0, r.pending),
            lagSeconds: r.oldest === null ? 0 : Math.max(0, (now() - r.oldest) / 1000),
            setAside: Number(r.set_aside),
            lastError: state.lastError,
          });
        } catch (err) {
          out.push({
            tenantId,
            lastSeq: -1,
            pendingEvents: -1,
            lagSeconds: -1,
            setAside: 0,
            lastError: (err as Error).message,
          });
        }
      }
      return out;
    },
    onAdvance(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    sessions: options.sessions,
  };
}
