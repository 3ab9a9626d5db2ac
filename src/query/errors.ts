// The most common failures: failed tool calls, commands and agent interactions, and model
// API errors, grouped by kind, name and the first line of their error text. Read from raw
// events (the rollups keep no error text), counting each tool call once as the metrics do.
import { countedSinceCtes, FAILURE_SQL } from '../aggregate/rollup.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { eventsWhere } from './export.js';
import { SESSIONS_SQL, type Query } from './model.js';
import { watermark } from './watermark.js';

export type ErrorFilters = Pick<Query['filters'], 'user' | 'project' | 'tool' | 'model' | 'kind'>;
/** What an export of the most common errors holds, in order. */
export const ERROR_COLUMNS = ['kind', 'name', 'error', 'count', 'sessions', 'last_seen'] as const;

export type CommonError = {
  kind: string;
  name: string | null;
  /** The error's first line, trimmed, at most ERROR_CHARS characters; null when none was sent. */
  error: string | null;
  count: number;
  sessions: number;
  last_seen: string;
};

export const ERROR_CHARS = 200;

/** The kinds whose events can be failures: the failures list's `kind` takes these (another lists nothing). */
export const FAILURE_KINDS = ['tool_call', 'command', 'agent_interaction', 'api_error'] as const;
/** A failure: a failed or timed-out tool call, command or agent interaction, or any API error. */
const FAILED = `((kind IN ('tool_call', 'command', 'agent_interaction') AND ${FAILURE_SQL}) OR kind = 'api_error')`;
/** Leading blank lines and spaces go, then everything from the first line break on. */
const FIRST_LINE = `nullif(left(trim(regexp_extract(error, '^\\s*([^\\r\\n]*)', 1)), ${ERROR_CHARS}), '')`;

export async function commonErrors(
  tf: TenantFiles,
  tenantId: string,
  range: { from: number; to: number },
  filters: ErrorFilters,
  limit: number,
): Promise<{ errors: CommonError[]; truncated: boolean }> {
  const reader = await tf.connection(tenantId, 'reader');
  const { where, params } = eventsWhere({ ...range, filters });
  const rows = await reader.transaction(async (tx) => {
    const w = await watermark(tx);
    return tx.all<{
      kind: string;
      name: string | null;
      error: string | null;
      count: number;
      sessions: number;
      last_ms: number;
    }>(
      `WITH ${countedSinceCtes('failed', `${where} AND ${FAILED}`, w.lastSeq, w.tail)}
       SELECT kind, name, ${FIRST_LINE} AS error, count(*) AS count,
              ${SESSIONS_SQL} AS sessions, epoch_ms(max(ts)) AS last_ms
         FROM failed GROUP BY ALL
        ORDER BY count DESC, last_ms DESC, kind, name NULLS FIRST, error NULLS FIRST
        LIMIT $limit`,
      { ...params, limit: limit + 1 },
    );
  });
  return {
    errors: rows.slice(0, limit).map((r) => ({
      kind: r.kind,
      name: r.name,
      error: r.error,
      count: Number(r.count),
      sessions: Number(r.sessions),
      last_seen: new Date(Number(r.last_ms)).toISOString(),
    })),
    truncated: rows.length > limit,
  };
}
