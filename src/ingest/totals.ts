// A session's totals from the `events` table, counting every fact once (see the rule at the
// top of src/ingest/otlp.ts):
//   - tokens and cost: from the session's `api_request` events, one per `request_id`, when it
//     has any; otherwise from its `token_usage` / `cost_usage` metric points;
//   - tool calls: one per `tool_use_id` (hooks and OTel events both report them);
//   - lines, commits: from their metric points.
import { FAILURE_SQL } from '../aggregate/rollup.js';
import type { Queryable } from '../storage/duckdb.js';

export type Totals = {
  sessions: number;
  tokens: { input: number; output: number; cacheRead: number; cacheCreation: number };
  costUsd: number;
  linesAdded: number;
  linesRemoved: number;
  commits: number;
  toolCalls: number;
  toolFailures: number;
  apiRequests: number;
  byTool: Record<string, number>;
};

const TOTALS_SQL = `
WITH s AS (SELECT * FROM events WHERE session_id = $sessionId),
requests AS (
  SELECT * FROM s WHERE kind = 'api_request'
  QUALIFY row_number() OVER (PARTITION BY coalesce(request_id, id::VARCHAR) ORDER BY seq) = 1
),
calls AS (
  SELECT * FROM s WHERE kind = 'tool_call'
  QUALIFY row_number() OVER (PARTITION BY coalesce(tool_use_id, id::VARCHAR) ORDER BY seq) = 1
),
from_events AS (
  SELECT count(*) AS n, count(DISTINCT request_id) AS api_requests,
         sum(input_tokens) AS input, sum(output_tokens) AS output, sum(cache_read_tokens) AS cache_read,
         sum(cache_creation_tokens) AS cache_creation, sum(cost_usd) AS cost
    FROM requests
),
from_metrics AS (
  SELECT sum(input_tokens) FILTER (kind = 'token_usage') AS input, sum(output_tokens) FILTER (kind = 'token_usage') AS output,
         sum(cache_read_tokens) FILTER (kind = 'token_usage') AS cache_read, sum(cache_creation_tokens) FILTER (kind = 'token_usage') AS cache_creation,
         sum(cost_usd) FILTER (kind = 'cost_usage') AS cost,
         sum(lines_added) FILTER (kind = 'lines') AS lines_added, sum(lines_removed) FILTER (kind = 'lines') AS lines_removed,
         sum(value) FILTER (kind = 'commit') AS commits, count(DISTINCT session_id) AS sessions
    FROM s
)
SELECT m.sessions,
       CASE WHEN e.n > 0 THEN e.input ELSE m.input END AS input,
       CASE WHEN e.n > 0 THEN e.output ELSE m.output END AS output,
       CASE WHEN e.n > 0 THEN e.cache_read ELSE m.cache_read END AS cache_read,
       CASE WHEN e.n > 0 THEN e.cache_creation ELSE m.cache_creation END AS cache_creation,
       CASE WHEN e.n > 0 THEN e.cost ELSE m.cost END AS cost,
       m.lines_added, m.lines_removed, m.commits, e.api_requests,
       (SELECT count(*) FROM calls) AS tool_calls,
       (SELECT count(*) FILTER (${FAILURE_SQL}) FROM calls) AS tool_failures,
       (SELECT coalesce(json_group_object(coalesce(name, '(unknown)'), n), '{}')::VARCHAR
          FROM (SELECT name, count(*) AS n FROM calls GROUP BY name)) AS by_tool
  FROM from_events AS e, from_metrics AS m`;

type Row = Record<
  | 'sessions'
  | 'input'
  | 'output'
  | 'cache_read'
  | 'cache_creation'
  | 'cost'
  | 'lines_added'
  | 'lines_removed'
  | 'commits'
  | 'api_requests'
  | 'tool_calls'
  | 'tool_failures',
  number | null
> & { by_tool: string };

/** One session's totals, in one query over `events`. */
export async function sessionTotals(db: Queryable, sessionId: string): Promise<Totals> {
  const r = (await db.get<Row>(TOTALS_SQL, { sessionId }))!;
  const n = (v: number | null) => Number(v ?? 0);
  return {
    sessions: n(r.sessions),
    tokens: { input: n(r.input), output: n(r.output), cacheRead: n(r.cache_read), cacheCreation: n(r.cache_creation) },
    costUsd: n(r.cost),
    linesAdded: n(r.lines_added),
    linesRemoved: n(r.lines_removed),
    commits: n(r.commits),
    toolCalls: n(r.tool_calls),
    toolFailures: n(r.tool_failures),
    apiRequests: n(r.api_requests),
    byTool: JSON.parse(r.by_tool || '{}') as Record<string, number>,
  };
}
