// Sessions' productivity scores, fixed once a session is finished. The worker scores a
// session once it has been quiet for QUIET_MS (its figures stored), against its user's
// BASELINE_WINDOW previous finished sessions by start (or, while they are fewer than
// OWN_BASELINE_SESSIONS, against the baseline imported from their older hooks' files, when
// there is one), and stores the score, its factors,
// what they were measured on and the baseline (session_scores); every page and API reads
// that row. A session still running, or not scored yet, is scored live against what its
// baseline would be now, and says so (`final: false`).
import {
  baselineFrom,
  BASELINE_WINDOW,
  OWN_BASELINE_SESSIONS,
  productivityScore,
  type Baseline,
  type ProductivityScore,
  type SessionFacts,
} from '../analytics/productivity.js';
import { tsLiteral } from '../aggregate/rollup.js';
import { importedBaselines } from './imported-baseline.js';
import type { Queryable } from '../storage/duckdb.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { MAX_FILTER_VALUES } from '../query/model.js';
import {
  askFigures,
  figureColumns,
  keyOf,
  pickFigures,
  SCORE_FIGURES as SCORED,
  type Figures,
  type ScoreFigure,
  type Spanned,
} from './figures.js';
import { QUIET_MS, validFigures, UNROLLED_SESSIONS } from './store.js';

/** Sessions scored per transaction. */
const BATCH = MAX_FILTER_VALUES;

/** Where a session's lines came from: OpenTelemetry's lines of code, its edit tool calls (hooks), or neither. */
export type LinesSource = 'otel' | 'edits' | null;

export type SessionScore = ProductivityScore & {
  session_id: string;
  user_id: string;
  project: string | null;
  started_at: string;
  hours: number;
  commands: number;
  lines: number;
  lines_source: LinesSource;
  success_rate: number;
  agents_used: number;
  /** What the session was measured against: its user's previous finished sessions (`sessions` of them), or the defaults. */
  baseline: Baseline;
  /** Fixed: the session finished and its score was stored (`scored_at`). Otherwise scored now, and it may still change. */
  final: boolean;
  scored_at: string | null;
};

/** A session to score: its key, span (epoch ms) and project. */
export type ScoredSession = Spanned & { project: string | null };

/**
 * What a session is scored on. Its lines are OpenTelemetry's when it reported any, else those
 * its edit tool calls changed (the same change is often in both: never summed).
 */
export function factsOf(s: Spanned, f: Figures): { facts: SessionFacts; linesSource: LinesSource } {
  const n = (k: ScoreFigure) => Number(f[k] ?? 0);
  const runs = n('tool_calls') + n('commands');
  const otel = n('lines_added') + n('lines_removed');
  const edits = n('edit_lines_added') + n('edit_lines_removed');
  return {
    facts: {
      sessionId: s.session_id,
      start: Number(s.first_ms),
      hours: (Number(s.last_ms) - Number(s.first_ms)) / 3.6e6,
      commands: runs,
      lines: otel > 0 ? otel : edits,
      successRate: runs ? 1 - (n('tool_failures') + n('command_failures')) / runs : 1,
      distinctAgents: n('agents_used'),
    },
    linesSource: otel > 0 ? 'otel' : edits > 0 ? 'edits' : null,
  };
}

/** A stored score's row. */
type Stored = {
  user_id: string;
  session_id: string;
  start_ms: number;
  hours: number;
  actions: number;
  lines: number;
  lines_source: LinesSource;
  success_rate: number;
  agents: number;
  baseline_commands_per_hour: number;
  baseline_lines_per_hour: number;
  baseline_sessions: number;
  baseline_imported: boolean | null;
  score: number | null;
  trend: ProductivityScore['trend'] | null;
  velocity: number | null;
  code_output: number | null;
  success: number | null;
  focus: number | null;
  agent_efficiency: number | null;
  scored_ms: number | null;
};
/** SQL: the columns of Stored but its key, of the session_scores row `s`. */
const STORED_COLUMNS = `epoch_ms(s.started_at) AS start_ms, s.hours, s.actions, s.lines, s.lines_source, s.success_rate, s.agents,
  s.baseline_commands_per_hour, s.baseline_lines_per_hour, s.baseline_sessions, s.baseline_imported, s.score, s.trend, s.velocity, s.code_output, s.success, s.focus, s.agent_efficiency, epoch_ms(s.scored_at) AS scored_ms`;
const storedBaseline = (s: Stored): Baseline => ({
  commandsPerHour: s.baseline_commands_per_hour,
  linesPerHour: s.baseline_lines_per_hour,
  sessions: Number(s.baseline_sessions),
  ...(s.baseline_imported ? { imported: true as const } : {}),
});
const storedFacts = (s: Stored): SessionFacts => ({
  sessionId: s.session_id,
  start: Number(s.start_ms),
  hours: s.hours,
  commands: s.actions,
  lines: s.lines,
  successRate: s.success_rate,
  distinctAgents: s.agents,
});

/** A user's finished session as a baseline sees it. */
type Past = { key: string; facts: SessionFacts };

/**
 * Per user, their scored sessions that started before the latest of `wanted`'s starts: those
 * from the earliest on, and the BASELINE_WINDOW before it. In start order (ties by id).
 */
async function history(q: Queryable, wanted: { user_id: string; start: number }[]): Promise<Map<string, Past[]>> {
  const bounds = new Map<string, { user_id: string; lo: number; hi: number }>();
  for (const w of wanted) {
    const b = bounds.get(w.user_id);
    bounds.set(w.user_id, {
      user_id: w.user_id,
      lo: Math.min(b?.lo ?? Infinity, w.start),
      hi: Math.max(b?.hi ?? -Infinity, w.start),
    });
  }
  const out = new Map<string, Past[]>();
  if (!bounds.size) return out;
  const rows = await q.all<Stored>(
    `WITH b AS (SELECT unnest(from_json($bounds, '[{"user_id":"VARCHAR","lo":"BIGINT","hi":"BIGINT"}]'), recursive := true))
     SELECT s.user_id, s.session_id, ${STORED_COLUMNS} FROM session_scores s JOIN b USING (user_id)
      WHERE s.started_at < make_timestamp(b.hi * 1000)
    QUALIFY s.started_at >= make_timestamp(b.lo * 1000)
         OR row_number() OVER (PARTITION BY s.user_id, s.started_at >= make_timestamp(b.lo * 1000) ORDER BY s.started_at DESC, s.session_id DESC) <= ${BASELINE_WINDOW}
      ORDER BY s.started_at, s.session_id`,
    { bounds: JSON.stringify([...bounds.values()]) },
  );
  for (const r of rows) out.set(r.user_id, [...(out.get(r.user_id) ?? []), { key: keyOf(r), facts: storedFacts(r) }]);
  return out;
}

/**
 * The baseline of a session starting at `start`: of its user's finished sessions `past` (in
 * start order), those that started before it; their `imported` baseline instead while they
 * are fewer than OWN_BASELINE_SESSIONS (`past` holds every one of them then: history() gives
 * BASELINE_WINDOW before the earliest session asked, more than that).
 */
function baselineBefore(past: Past[], key: string, start: number, imported: Baseline | undefined): Baseline {
  let lo = 0;
  for (let hi = past.length; lo < hi; ) {
    const mid = (lo + hi) >> 1;
    if (past[mid]!.facts.start < start) lo = mid + 1;
    else hi = mid;
  }
  const before = past.slice(Math.max(0, lo - BASELINE_WINDOW - 1), lo).filter((p) => p.key !== key);
  if (imported && before.length < OWN_BASELINE_SESSIONS) return imported;
  return baselineFrom(before.map((p) => p.facts));
}

/** Whether a stored row is the session's fixed score: scored, and nothing of the session waits to be rolled up. */
const isFinal = (row: { score: number | null; settled: boolean } | undefined) =>
  !!row && row.score !== null && row.settled;

/** A stored row's type, for from_json. */
const ROW_TYPE = JSON.stringify([
  {
    user_id: 'VARCHAR',
    session_id: 'VARCHAR',
    start_ms: 'BIGINT',
    hours: 'DOUBLE',
    actions: 'DOUBLE',
    lines: 'DOUBLE',
    lines_source: 'VARCHAR',
    success_rate: 'DOUBLE',
    agents: 'DOUBLE',
    baseline_commands_per_hour: 'DOUBLE',
    baseline_lines_per_hour: 'DOUBLE',
    baseline_sessions: 'INTEGER',
    baseline_imported: 'BOOLEAN',
    score: 'DOUBLE',
    trend: 'VARCHAR',
    velocity: 'DOUBLE',
    code_output: 'DOUBLE',
    success: 'DOUBLE',
    focus: 'DOUBLE',
    agent_efficiency: 'DOUBLE',
    scored_ms: 'BIGINT',
  },
]);

/**
 * Scores up to BATCH finished sessions that have no score (new, or cleared by a late event
 * of their own), the earliest first, and stores them; returns how many. Runs in the worker's
 * transaction once every quiet session's figures are stored, so a user's sessions are scored
 * in start order and each one's baseline is the previous finished ones, fixed from then on. A
 * session scored again keeps the baseline it had. Sessions scored before an older one
 * arrives (an import) keep theirs: the newcomer is scored against the sessions before it.
 */
export async function storeSessionScores(tx: Queryable, now: number): Promise<number> {
  const due = await tx.all<Spanned & Figures & { rescore: boolean } & Partial<Stored>>(
    `SELECT i.user_id, i.session_id, epoch_ms(i.first_ts) AS first_ms, epoch_ms(i.last_ts) AS last_ms, ${figureColumns('f', SCORED)},
            s.user_id IS NOT NULL AS rescore, s.baseline_commands_per_hour, s.baseline_lines_per_hour, s.baseline_sessions, s.baseline_imported
       FROM session_index i JOIN ${validFigures()} f USING (user_id, session_id) LEFT JOIN session_scores s USING (user_id, session_id)
      WHERE i.last_ts < ${tsLiteral(now - QUIET_MS)} AND s.score IS NULL
      ORDER BY i.first_ts, i.session_id, i.user_id LIMIT ${BATCH}`,
  );
  if (!due.length) return 0;
  const past = await history(
    tx,
    due.map((d) => ({ user_id: d.user_id, start: Number(d.first_ms) })),
  );
  const imported = await importedBaselines(
    tx,
    due.map((d) => d.user_id),
  );
  const rows = due.map((d) => {
    const key = keyOf(d);
    const mine = past.get(d.user_id) ?? [];
    const { facts, linesSource } = factsOf(d, d);
    const baseline = d.rescore
      ? storedBaseline(d as Stored)
      : baselineBefore(mine, key, facts.start, imported.get(d.user_id));
    const s = productivityScore(facts, baseline);
    // Scored, it is one of the finished sessions the next ones in this batch are measured against.
    past.set(
      d.user_id,
      [...mine.filter((p) => p.key !== key), { key, facts }].sort(
        (a, b) => a.facts.start - b.facts.start || a.facts.sessionId.localeCompare(b.facts.sessionId),
      ),
    );
    return {
      user_id: d.user_id,
      session_id: d.session_id,
      start_ms: facts.start,
      hours: facts.hours,
      actions: facts.commands,
      lines: facts.lines,
      lines_source: linesSource,
      success_rate: facts.successRate,
      agents: facts.distinctAgents,
      baseline_commands_per_hour: baseline.commandsPerHour,
      baseline_lines_per_hour: baseline.linesPerHour,
      baseline_sessions: baseline.sessions,
      baseline_imported: baseline.imported === true,
      score: s.score,
      trend: s.trend,
      velocity: s.velocity,
      code_output: s.codeOutput,
      success: s.success,
      focus: s.focus,
      agent_efficiency: s.agentEfficiency,
      scored_ms: now,
    };
  });
  const params = { rows: JSON.stringify(rows) };
  const source = `(SELECT unnest(from_json($rows, '${ROW_TYPE}'), recursive := true))`;
  await tx.run(
    `DELETE FROM session_scores WHERE (user_id, session_id) IN (SELECT user_id, session_id FROM ${source})`,
    params,
  );
  await tx.run(
    `INSERT INTO session_scores BY NAME
     SELECT * EXCLUDE (start_ms, scored_ms), make_timestamp(start_ms * 1000) AS started_at, make_timestamp(scored_ms * 1000) AS scored_at FROM ${source}`,
    params,
  );
  return due.length;
}

/** A score as the API and pages give it. */
function shaped(
  s: ScoredSession,
  facts: SessionFacts,
  linesSource: LinesSource,
  baseline: Baseline,
  stored: Stored | null,
): SessionScore {
  const live = productivityScore(facts, baseline);
  const fixed =
    stored && stored.score !== null
      ? {
          score: stored.score,
          trend: stored.trend!,
          velocity: stored.velocity!,
          codeOutput: stored.code_output!,
          success: stored.success!,
          focus: stored.focus!,
          agentEfficiency: stored.agent_efficiency!,
        }
      : null;
  return {
    ...live,
    ...fixed,
    session_id: s.session_id,
    user_id: s.user_id,
    project: s.project,
    started_at: new Date(facts.start).toISOString(),
    hours: facts.hours,
    commands: facts.commands,
    lines: facts.lines,
    lines_source: linesSource,
    success_rate: facts.successRate,
    agents_used: facts.distinctAgents,
    baseline,
    final: fixed !== null,
    scored_at: fixed ? new Date(Number(stored!.scored_ms)).toISOString() : null,
  };
}

/**
 * The scores of `sessions`, by session key: the stored one of each finished session whose
 * score is fixed (and that has no events the worker has not rolled up); the others scored
 * now from their figures (stored, else the query model's), against their stored baseline
 * when they have one, else their user's finished sessions before them.
 */
export async function sessionScores(
  tf: TenantFiles,
  tenantId: string,
  sessions: ScoredSession[],
  now: number,
): Promise<Map<string, SessionScore>> {
  const out = new Map<string, SessionScore>();
  if (!sessions.length) return out;
  const reader = await tf.connection(tenantId, 'reader');
  const keys = JSON.stringify(sessions.map((s) => ({ user_id: s.user_id, session_id: s.session_id })));
  const { stored, past, imported } = await reader.transaction(async (tx) => {
    const rows = await tx.all<Stored & Figures & { scored_once: boolean; figured: boolean; settled: boolean }>(
      `WITH k AS (SELECT unnest(from_json($keys, '[{"user_id":"VARCHAR","session_id":"VARCHAR"}]'), recursive := true)),
            tail AS (${UNROLLED_SESSIONS})
       SELECT k.user_id, k.session_id, ${STORED_COLUMNS}, ${figureColumns('f', SCORED)},
              s.session_id IS NOT NULL AS scored_once, f.session_id IS NOT NULL AS figured, t.session_id IS NULL AS settled
         FROM k LEFT JOIN session_scores s USING (user_id, session_id) LEFT JOIN ${validFigures('tail')} f USING (user_id, session_id) LEFT JOIN tail t USING (user_id, session_id)`,
      { keys },
    );
    const rowsByKey = new Map(rows.map((r) => [keyOf(r), r]));
    const live = sessions.filter((s) => !isFinal(rowsByKey.get(keyOf(s))));
    return {
      stored: rowsByKey,
      past: await history(
        tx,
        live.map((s) => ({ user_id: s.user_id, start: Number(s.first_ms) })),
      ),
      imported: await importedBaselines(
        tx,
        live.map((s) => s.user_id),
      ),
    };
  });
  const figures = new Map<string, Figures>();
  const asked: ScoredSession[] = [];
  for (const s of sessions) {
    const row = stored.get(keyOf(s));
    if (isFinal(row)) out.set(keyOf(s), shaped(s, storedFacts(row!), row!.lines_source, storedBaseline(row!), row!));
    else if (row?.figured) figures.set(keyOf(s), pickFigures(row, SCORED));
    else asked.push(s);
  }
  for (const [key, f] of await askFigures(tf, tenantId, SCORED, asked, now)) figures.set(key, f);
  for (const s of sessions) {
    const key = keyOf(s);
    if (out.has(key)) continue;
    const row = stored.get(key);
    const { facts, linesSource } = factsOf(s, figures.get(key) ?? {});
    const baseline = row?.scored_once
      ? storedBaseline(row)
      : baselineBefore(past.get(s.user_id) ?? [], key, facts.start, imported.get(s.user_id));
    out.set(key, shaped(s, facts, linesSource, baseline, null));
  }
  return out;
}
