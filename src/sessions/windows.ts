// Windows of metrics with the sessions' productivity scores beside them (the seeds'
// POST /api/metrics/query): each window's figures from the query model, and the mean score
// of the sessions that started in it.
import type { TenantFiles } from '../storage/tenant-files.js';
import type { Interval, Query } from '../query/model.js';
import { bucketStart, timeZoneOf } from '../query/buckets.js';
import { runQuery } from '../query/run.js';
import { averageScore, productivity } from './productivity.js';

type Window = { t: string } & Record<string, unknown>;

/**
 * `q`'s windows in time order: its figures (none with `figures` false: `q` then asks only
 * for events, so that every window with any is there) and with `scores` the sessions' mean
 * productivity_score and how many were scored.
 */
export async function scoredWindows(
  tf: TenantFiles,
  tenantId: string,
  q: Query & { interval: Interval },
  o: { figures: boolean; scores: boolean; now: number },
): Promise<Window[]> {
  const range = { from: q.from, to: q.to };
  // The windows' figures and the sessions' scores side by side, on the tenant's two readers.
  const [{ rows }, scored, zone] = await Promise.all([
    runQuery(tf, tenantId, q, { now: o.now }),
    o.scores ? productivity(tf, tenantId, range, q.filters, o.now) : null,
    timeZoneOf(tf, tenantId),
  ]);
  const byWindow = new Map(rows.map(({ t, ...m }) => [String(t), o.figures ? m : {}]));
  if (scored) {
    // A session's window is the bucket its start falls in, as the figures' (the tenant's zone).
    const scores = new Map<string, { score: number }[]>();
    for (const s of scored.sessions) {
      const w = new Date(bucketStart(Date.parse(s.started_at), q.interval, zone)).toISOString();
      scores.set(w, [...(scores.get(w) ?? []), s]);
    }
    for (const [w, list] of scores)
      byWindow.set(w, { ...byWindow.get(w), productivity_score: averageScore(list), scored_sessions: list.length });
  }
  return [...byWindow].sort(([a], [b]) => a.localeCompare(b)).map(([t, m]) => ({ t, ...m }));
}
