// Productivity over a range: every session that started in it with its score (the legacy
// formula, each against its user's fixed baseline: scores.ts), and their average.
import type { Dimension } from '../query/model.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { keyOf } from './figures.js';
import { sessionScores, type ScoredSession, type SessionScore } from './scores.js';

type Filters = Partial<Record<Dimension, string[]>>;
type Range = { from: number; to: number };
const MAX_SESSIONS = 10_000;

/**
 * Every session that started in range, with its score (see scores.ts: fixed once the session
 * finished, against its user's previous finished sessions; live before). Neither the range
 * nor the project filter changes a session's baseline: a score is the session's own.
 */
export async function productivity(
  tf: TenantFiles,
  tenantId: string,
  range: Range,
  filters: Filters,
  now: number,
): Promise<{ sessions: SessionScore[]; average: number | null; truncated: boolean }> {
  const reader = await tf.connection(tenantId, 'reader');
  const params: Record<string, unknown> = { from: range.from, to: range.to, limit: MAX_SESSIONS + 1 };
  const where = ['i.first_ts >= make_timestamp($from * 1000)', 'i.first_ts < make_timestamp($to * 1000)'];
  for (const [col, values] of [
    ['user_id', filters.user],
    ['project', filters.project],
  ] as const) {
    if (values)
      where.push(`i.${col} IN (${values.map((v, i) => ((params[`${col}${i}`] = v), `$${col}${i}`)).join(', ')})`);
  }
  // A session's span is widened by its events the worker has not rolled up yet (a late one may be older than the indexed span).
  const index = await reader.all<ScoredSession>(
    `WITH tail AS (
       SELECT user_id, session_id, min(ts) AS first_ts, max(ts) AS last_ts FROM events
        WHERE seq > (SELECT last_seq FROM rollup_state) AND session_id IS NOT NULL GROUP BY user_id, session_id)
     SELECT session_id, user_id, i.project, epoch_ms(least(i.first_ts, t.first_ts)) AS first_ms, epoch_ms(greatest(i.last_ts, t.last_ts)) AS last_ms
       FROM session_index i LEFT JOIN tail t USING (user_id, session_id)
      WHERE ${where.join(' AND ')}
      ORDER BY i.first_ts DESC, session_id, user_id LIMIT $limit`,
    params,
  );
  const truncated = index.length > MAX_SESSIONS;
  const sessions = index.slice(0, MAX_SESSIONS);
  const scores = await sessionScores(tf, tenantId, sessions, now);
  const out = sessions.map((s) => scores.get(keyOf(s))!).sort((a, b) => b.started_at.localeCompare(a.started_at));
  return { sessions: out, average: averageScore(out), truncated };
}

/** The mean of `scores`, one decimal; null for none. */
export const averageScore = (scores: { score: number }[]) =>
  scores.length ? Math.round((scores.reduce((a, s) => a + s.score, 0) / scores.length) * 10) / 10 : null;
