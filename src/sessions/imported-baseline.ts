// A person's productivity baseline imported from the older hooks (historical-baseline.json):
// kept per person in the tenant's file, and read by the productivity score, which measures
// the person's sessions against it until they have enough finished sessions of their own.
import type { Baseline as ScoreBaseline } from '../analytics/productivity.js';
import type { Queryable } from '../storage/duckdb.js';
import { forgetScores } from './store.js';

/** The person's productivity baseline the older hooks computed (historical-baseline.json). */
export type Baseline = { commandsPerHour: number; linesPerHour: number; successRate: number | null; sessions: number };

/** Stores `b` as `userId`'s imported baseline, brought by import run `runId`, replacing one imported before. */
export async function saveBaseline(db: Queryable, userId: string, b: Baseline, runId: string): Promise<void> {
  await db.run(
    `INSERT OR REPLACE INTO imported_baselines (user_id, commands_per_hour, lines_per_hour, success_rate, sessions, import_run)
     VALUES ($user, $commands, $lines, $success, $sessions, $run)`,
    {
      run: runId,
      user: userId,
      commands: b.commandsPerHour,
      lines: b.linesPerHour,
      success: b.successRate,
      sessions: Math.max(0, Math.floor(b.sessions)),
    },
  );
}

/**
 * Removes the baselines import run `runId` brought (its rollback), and forgets the scores
 * measured against them: the worker scores those sessions again against what each person's
 * baseline is now (their own sessions, or the default). One it replaced is not brought back.
 */
export async function removeRunBaselines(tx: Queryable, runId: string): Promise<void> {
  const users = `SELECT user_id FROM imported_baselines WHERE import_run = $run`;
  await forgetScores(tx, `baseline_imported AND user_id IN (${users})`, { run: runId });
  await tx.run(`DELETE FROM imported_baselines WHERE import_run = $run`, { run: runId });
}

/** The imported baselines of `userIds` that have one, as the score uses them. */
export async function importedBaselines(
  db: Queryable,
  userIds: readonly string[],
): Promise<Map<string, ScoreBaseline>> {
  const out = new Map<string, ScoreBaseline>();
  if (!userIds.length) return out;
  const rows = await db.all<{ user_id: string; commands_per_hour: number; lines_per_hour: number; sessions: number }>(
    `SELECT user_id, commands_per_hour, lines_per_hour, sessions FROM imported_baselines
      WHERE user_id IN (SELECT unnest(from_json($users, '["VARCHAR"]')))`,
    { users: JSON.stringify([...new Set(userIds)]) },
  );
  for (const r of rows)
    out.set(r.user_id, {
      commandsPerHour: r.commands_per_hour,
      linesPerHour: r.lines_per_hour,
      sessions: Number(r.sessions),
      imported: true,
    });
  return out;
}
