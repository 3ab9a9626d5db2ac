// The sessions list as a download: every session the list shows for a range and filters,
// newest activity first as in the table, with when it started, how long it ran, who ran it
// (see query/people.ts), its figures and its productivity score.
import type { TenantFiles } from '../storage/tenant-files.js';
import { MAX_FILTER_VALUES, MAX_ROWS } from '../query/model.js';
import { namePeople, type People } from '../query/people.js';
import { keyOf, LIST_FIGURES } from '../sessions/figures.js';
import { listSessions, type SessionListOptions, type SessionRow } from '../sessions/read.js';
import { scoresFor } from './sessions.js';

type Row = Record<string, string | number | null>;

/** The sessions of `o` as rows; `truncated` when there are more than MAX_ROWS of them. */
export async function sessionsExport(
  tf: TenantFiles,
  tenantId: string,
  o: Omit<SessionListOptions, 'cursor' | 'limit'>,
  people: People,
): Promise<{ rows: Row[]; columns: string[]; truncated: boolean }> {
  const sessions: SessionRow[] = [];
  let cursor: string | undefined;
  // A page at a time, as many as the list's figures query names at once.
  do {
    const page = await listSessions(tf, tenantId, { ...o, cursor, limit: MAX_FILTER_VALUES });
    sessions.push(...page.sessions);
    cursor = page.next_cursor ?? undefined;
  } while (cursor && sessions.length <= MAX_ROWS);
  const kept = sessions.slice(0, MAX_ROWS);
  const scores = await scoresFor(tf, tenantId, kept, o.now);
  const rows = kept.map((s): Row => {
    const score = scores.get(keyOf(s));
    return {
      session_id: s.session_id,
      started_at: s.first_at,
      last_activity_at: s.last_at,
      duration_s: s.duration_s,
      user: s.user_id,
      project: s.project,
      ...Object.fromEntries(LIST_FIGURES.map((f) => [f, s[f]])),
      score: score?.score ?? null,
      score_rating: score?.trend ?? null,
    };
  });
  const columns = [
    'session_id',
    'started_at',
    'last_activity_at',
    'duration_s',
    'user',
    'project',
    ...LIST_FIGURES,
    'score',
    'score_rating',
  ];
  return { ...namePeople(rows, columns, people), truncated: sessions.length > MAX_ROWS };
}
