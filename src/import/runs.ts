// Import runs: each `agentmeter import`, `agentmeter sync` or archive upload is one run in
// the tenant's file (import_runs). A client starts a run, sends its readers' chunks to it
// (events, what it skipped, a baseline) and finishes it; a chunk's events go through the
// one ingest function as source `import`, each naming its run, so a re-run stores nothing
// twice and rolling a run back removes exactly the events it stored (and their share of
// every figure: src/aggregate/remove.ts).
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Aggregator } from '../aggregate/worker.js';
import { removeEvents } from '../aggregate/remove.js';
import { tenantSettings } from '../aggregate/settings.js';
import type { Ingestor, IngestResult, Who } from '../ingest/ingest.js';
import type { IngestEvent } from '../ingest/schema.js';
import type { Queryable } from '../storage/duckdb.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { priceImported } from './pricing.js';
import { CHUNK_MAX_EVENTS, countSkip, type Baseline, type Skip } from './types.js';
import { removeRunBaselines, saveBaseline } from '../sessions/imported-baseline.js';

export const IMPORT_SOURCES = ['claude', 'legacy', 'archive'] as const;
export type ImportSource = (typeof IMPORT_SOURCES)[number];
/** Events per chunk the API takes (more: a 400 naming `events`), and skips. */
export { CHUNK_MAX_EVENTS };
/** Skips kept whole per run (the rest are counted by reason). */
const SKIP_SAMPLES = 50;

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);
export const startRunSchema = z.strictObject({
  source: z.enum(['claude', 'legacy']),
  host: text(200).optional(),
  label: text(200).optional(),
});
const skipSchema = z.object({
  file: text(4096),
  line: z.number().int().min(0).optional(),
  reason: text(500),
  detail: text(4096).optional(),
});

const baselineSchema = z.object({
  commandsPerHour: z.number().finite().min(0).max(1e6),
  linesPerHour: z.number().finite().min(0).max(1e7),
  successRate: z.number().finite().min(0).max(100).nullable(),
  sessions: z.number().int().min(0).max(1e7),
});
export const chunkSchema = z.strictObject({
  events: z.array(z.unknown()).max(CHUNK_MAX_EVENTS, `at most ${CHUNK_MAX_EVENTS} events per request`),
  skipped: z.array(skipSchema).max(CHUNK_MAX_EVENTS, `at most ${CHUNK_MAX_EVENTS} per request`).default([]),
  baseline: baselineSchema.optional(),
});
export const finishSchema = z.strictObject({
  summary: z.record(z.string().max(100), z.union([z.number(), z.string().max(1000), z.boolean(), z.null()])).optional(),
  error: text(2000).optional(),
});

export type ImportRun = {
  id: string;
  user_id: string;
  created_by: string;
  source: ImportSource;
  host: string | null;
  label: string | null;
  status: 'running' | 'finished' | 'failed' | 'rolled_back';
  started_at: string;
  updated_at: string;
  finished_at: string | null;
  rolled_back_at: string | null;
  sent: number;
  stored: number;
  duplicates: number;
  rejected: number;
  removed: number;
  skipped: number;
  skip_reasons: Record<string, number>;
  skip_samples: Skip[];
  unknown_models: string[];
  summary: Record<string, unknown> | null;
  error: string | null;
};

export type ChunkResult = IngestResult & { duplicates: number; unknown_models: string[] };

export class RunNotFoundError extends Error {}
export class RunClosedError extends Error {}

const COLUMNS = `id, user_id, created_by, source, host, label, status, strftime(started_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS started_at,
  strftime(updated_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS updated_at, strftime(finished_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS finished_at,
  strftime(rolled_back_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS rolled_back_at, sent, stored, duplicates, rejected, removed, skipped,
  skip_reasons::VARCHAR AS skip_reasons, skip_samples::VARCHAR AS skip_samples, unknown_models::VARCHAR AS unknown_models, summary::VARCHAR AS summary, error`;

type StoredRun = Omit<ImportRun, 'skip_reasons' | 'skip_samples' | 'unknown_models' | 'summary'> &
  Record<'skip_reasons' | 'skip_samples' | 'unknown_models', string> & { summary: string | null };

function shaped(r: StoredRun): ImportRun {
  return {
    ...r,
    sent: Number(r.sent),
    stored: Number(r.stored),
    duplicates: Number(r.duplicates),
    rejected: Number(r.rejected),
    removed: Number(r.removed),
    skipped: Number(r.skipped),
    skip_reasons: JSON.parse(r.skip_reasons) as Record<string, number>,
    skip_samples: JSON.parse(r.skip_samples) as Skip[],
    unknown_models: JSON.parse(r.unknown_models) as string[],
    summary: r.summary === null ? null : (JSON.parse(r.summary) as Record<string, unknown>),
  };
}

const ts = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');

export async function startRun(
  tf: TenantFiles,
  tenantId: string,
  run: { userId: string; createdBy: string; source: ImportSource; host?: string; label?: string },
  now: Date,
): Promise<ImportRun> {
  const db = await tf.open(tenantId);
  const id = `imp_${randomBytes(10).toString('hex')}`;
  await db.run(
    `INSERT INTO import_runs (id, user_id, created_by, source, host, label, status, started_at, updated_at)
     VALUES ($id, $userId, $createdBy, $source, $host, $label, 'running', $now::TIMESTAMP, $now::TIMESTAMP)`,
    {
      id,
      userId: run.userId,
      createdBy: run.createdBy,
      source: run.source,
      host: run.host ?? null,
      label: run.label ?? null,
      now: ts(now),
    },
  );
  return (await getRun(tf, tenantId, id))!;
}

export async function getRun(tf: TenantFiles, tenantId: string, id: string): Promise<ImportRun | null> {
  const conn = await tf.connection(tenantId, 'reader');
  const r = await conn.get<StoredRun>(`SELECT ${COLUMNS} FROM import_runs WHERE id = $id`, { id });
  return r ? shaped(r) : null;
}

/** The newest runs: everyone's, or one person's (`userId`). */
export async function listRuns(
  tf: TenantFiles,
  tenantId: string,
  userId: string | null,
  limit = 100,
): Promise<ImportRun[]> {
  const conn = await tf.connection(tenantId, 'reader');
  const rows = await conn.all<StoredRun>(
    `SELECT ${COLUMNS} FROM import_runs WHERE $userId IS NULL OR user_id = $userId ORDER BY started_at DESC, id LIMIT $limit`,
    { userId, limit },
  );
  return rows.map(shaped);
}

/** What a run the server itself reads (an uploaded archive) has done so far, shown while it runs. */
export async function noteProgress(
  tf: TenantFiles,
  tenantId: string,
  runId: string,
  summary: Record<string, unknown>,
  now: Date,
): Promise<void> {
  const db = await tf.open(tenantId);
  await db.run(
    `UPDATE import_runs SET summary = $summary, updated_at = $now::TIMESTAMP WHERE id = $id AND status = 'running'`,
    { id: runId, summary: JSON.stringify(summary), now: ts(now) },
  );
}

/** The events a rollback of the run would remove now. */
export async function runEventCount(tf: TenantFiles, tenantId: string, runId: string): Promise<number> {
  const conn = await tf.connection(tenantId, 'reader');
  return Number(
    (await conn.get<{ n: bigint }>(`SELECT count(*) AS n FROM events WHERE import_run = $id`, { id: runId }))!.n,
  );
}

/** Archive runs the server was reading when it stopped: nobody will finish them. */
export async function failInterruptedRuns(db: Queryable, now: Date): Promise<void> {
  await db.run(
    `UPDATE import_runs SET status = 'failed', error = $error, finished_at = $now::TIMESTAMP, updated_at = $now::TIMESTAMP WHERE source = 'archive' AND status = 'running'`,
    {
      error: INTERRUPTED,
      now: ts(now),
    },
  );
}
export const INTERRUPTED = 'interrupted: the server stopped before the import finished';

/** A run `who` may send to: theirs, and not rolled back. */
async function openRun(tf: TenantFiles, who: Who, id: string): Promise<ImportRun> {
  const run = await getRun(tf, who.tenantId, id);
  if (!run || run.user_id !== who.userId) throw new RunNotFoundError('no such import run');
  if (run.status === 'rolled_back') throw new RunClosedError('this import run was rolled back; start a new one');
  return run;
}

/**
 * What is being done to each run, one thing at a time (in this process, which alone holds
 * the tenant files): a chunk, a finish and a rollback of one run never interleave, so a
 * rollback cannot miss a chunk whose events commit after it looked, and the counters are
 * read and written back whole.
 */
const runQueues = new Map<string, Promise<unknown>>();
function oneAtATime<T>(runId: string, fn: () => Promise<T>): Promise<T> {
  const before = runQueues.get(runId) ?? Promise.resolve();
  const mine = before.then(fn, fn);
  const settled = mine.catch(() => undefined);
  runQueues.set(runId, settled);
  void settled.then(() => runQueues.get(runId) === settled && runQueues.delete(runId));
  return mine;
}

/**
 * Stores one chunk of a run: its events through `ingest` (priced where they carry tokens and
 * no cost), its skips and baseline; the run's counters follow.
 */
export function importChunk(
  deps: { tenantFiles: TenantFiles; ingest: Ingestor },
  who: Who,
  runId: string,
  chunk: z.infer<typeof chunkSchema>,
  now: Date,
): Promise<ChunkResult> {
  return oneAtATime(runId, () => storeChunk(deps, who, runId, chunk, now));
}

async function storeChunk(
  deps: { tenantFiles: TenantFiles; ingest: Ingestor },
  who: Who,
  runId: string,
  chunk: z.infer<typeof chunkSchema>,
  now: Date,
): Promise<ChunkResult> {
  const run = await openRun(deps.tenantFiles, who, runId);
  const db = await deps.tenantFiles.open(who.tenantId);
  const digest = createHash('sha256').update(JSON.stringify(chunk)).digest('hex');
  const taken = await db.get<{ stored: number }>(
    'SELECT stored FROM import_chunks WHERE run_id = $id AND digest = $digest',
    { id: run.id, digest },
  );
  const settings = await tenantSettings(db, db);
  const { events, unknownModels } = priceImported(chunk.events, settings.prices);
  const result = await deps.ingest.ingest({ ...who, importRun: run.id }, 'import', events, now);
  if (taken) {
    // Taken before (sent again after its answer was lost): ingest stored nothing twice and named
    // the same rejections; answered as the first time, with what it stored then, no counter moved.
    const stored = Number(taken.stored);
    return { ...result, stored, duplicates: result.accepted - stored, unknown_models: unknownModels };
  }
  if (chunk.baseline) await saveBaseline(db, who.userId, chunk.baseline as Baseline, run.id);

  const reasons = { ...run.skip_reasons };
  for (const s of chunk.skipped) countSkip(reasons, s.reason); // a client names its reasons: a bounded count
  const samples = [...run.skip_samples, ...chunk.skipped].slice(0, SKIP_SAMPLES);
  const unknown = [...new Set([...run.unknown_models, ...unknownModels])].sort();
  const answer: ChunkResult = { ...result, duplicates: result.accepted - result.stored, unknown_models: unknownModels };
  await db.transaction(async (tx) => {
    await tx.run(
      `UPDATE import_runs SET sent = sent + $sent, stored = stored + $stored, duplicates = duplicates + $duplicates, rejected = rejected + $rejected,
          skipped = skipped + $skipped, skip_reasons = $reasons, skip_samples = $samples, unknown_models = $unknown, updated_at = $now::TIMESTAMP
        WHERE id = $id`,
      {
        id: run.id,
        sent: chunk.events.length,
        stored: result.stored,
        duplicates: answer.duplicates,
        rejected: result.rejected.length,
        skipped: chunk.skipped.length,
        reasons: JSON.stringify(reasons),
        samples: JSON.stringify(samples),
        unknown: JSON.stringify(unknown),
        now: ts(now),
      },
    );
    await tx.run('INSERT INTO import_chunks VALUES ($id, $user, $digest, $stored)', {
      id: run.id,
      user: run.user_id,
      digest,
      stored: result.stored,
    });
  });
  return answer;
}

/**
 * Marks a run finished (or failed, with the client's error), with what the client counted.
 * Finishing again updates it. `stored` is the counter, or the events of the run in the file
 * if more (a chunk stored whose counter a crash lost); never fewer, which retention makes.
 */
export function finishRun(
  tf: TenantFiles,
  who: Who,
  runId: string,
  input: z.infer<typeof finishSchema>,
  now: Date,
): Promise<ImportRun> {
  return oneAtATime(runId, async () => {
    const run = await openRun(tf, who, runId);
    const db = await tf.open(who.tenantId);
    await db.transaction(async (tx) => {
      await tx.run(
        `UPDATE import_runs SET status = $status, finished_at = $now::TIMESTAMP, updated_at = $now::TIMESTAMP, summary = $summary, error = $error,
            stored = greatest(stored, (SELECT count(*) FROM events WHERE import_run = $id))
          WHERE id = $id`,
        {
          id: run.id,
          status: input.error ? 'failed' : 'finished',
          now: ts(now),
          summary: input.summary ? JSON.stringify(input.summary) : null,
          error: input.error ?? null,
        },
      );
      // A client sends its chunks before it finishes: none will be sent again.
      await tx.run('DELETE FROM import_chunks WHERE run_id = $id', { id: run.id });
    });
    return (await getRun(tf, who.tenantId, run.id))!;
  });
}

/**
 * Removes every event the run stored, and their share of every figure, while the worker is
 * idle; the run stays listed as rolled back. Rolling back twice removes nothing more.
 */
export function rollbackRun(
  deps: { tenantFiles: TenantFiles; aggregator: Aggregator; ingest: Ingestor },
  tenantId: string,
  runId: string,
  now: Date,
): Promise<ImportRun> {
  return oneAtATime(runId, () => removeRun(deps, tenantId, runId, now));
}

async function removeRun(
  deps: { tenantFiles: TenantFiles; aggregator: Aggregator; ingest: Ingestor },
  tenantId: string,
  runId: string,
  now: Date,
): Promise<ImportRun> {
  const run = await getRun(deps.tenantFiles, tenantId, runId);
  if (!run) throw new RunNotFoundError('no such import run');
  if (run.status === 'rolled_back') return run;
  const db = await deps.tenantFiles.open(tenantId);
  await deps.ingest.flushAll(); // nothing of the run still on its way in
  await deps.aggregator.whileIdle(async () => {
    const settings = await tenantSettings(db, db);
    await db.transaction(async (tx) => {
      const removed = await removeEvents(
        tx,
        'import_run = $run',
        { run: run.id },
        settings.applied.raw,
        deps.aggregator.sessions,
      );
      await removeRunBaselines(tx, run.id);
      await tx.run('DELETE FROM import_chunks WHERE run_id = $run', { run: run.id });
      await tx.run(
        `UPDATE import_runs SET status = 'rolled_back', rolled_back_at = $now::TIMESTAMP, updated_at = $now::TIMESTAMP, removed = $removed WHERE id = $id`,
        {
          id: run.id,
          removed,
          now: ts(now),
        },
      );
    });
  });
  return (await getRun(deps.tenantFiles, tenantId, run.id))!;
}

export type { IngestEvent };
