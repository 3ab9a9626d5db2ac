-- A session belongs to the user whose key sent its events: two people sending the same
-- session id have two sessions (before, a session was whoever sent its earliest event, so
-- one event stamped an hour earlier took a colleague's session over). The index and the
-- stored figures are keyed by user and session. A session only one user sent keeps its
-- row; one several users sent is split, per user, from its rolled-up events.
CREATE OR REPLACE TEMP TABLE session_index_before AS SELECT * FROM session_index;
DROP TABLE session_index;
CREATE TABLE session_index (
  user_id    VARCHAR NOT NULL,
  session_id VARCHAR NOT NULL,
  project    VARCHAR,
  first_ts   TIMESTAMP NOT NULL,
  last_ts    TIMESTAMP NOT NULL,
  events     DOUBLE NOT NULL,
  PRIMARY KEY (user_id, session_id)
);
INSERT INTO session_index
WITH rolled AS (SELECT * FROM events WHERE seq <= (SELECT last_seq FROM rollup_state) AND session_id IS NOT NULL),
shared AS (SELECT session_id FROM rolled GROUP BY session_id HAVING count(DISTINCT user_id) > 1)
SELECT user_id, session_id, project, first_ts, last_ts, events FROM session_index_before WHERE session_id NOT IN (SELECT session_id FROM shared)
UNION ALL
SELECT user_id, session_id, arg_min(project, seq) FILTER (project IS NOT NULL), min(ts), max(ts), count(*) FILTER (seq NOT IN (SELECT seq FROM uncounted_events))
  FROM rolled WHERE session_id IN (SELECT session_id FROM shared) GROUP BY user_id, session_id;
DROP TABLE session_index_before;

-- Stored again by the worker, per user and session.
DROP TABLE session_figures;
CREATE TABLE session_figures (
  user_id VARCHAR NOT NULL,
  session_id VARCHAR NOT NULL,
  prompts DOUBLE,
  tool_calls DOUBLE,
  tool_failures DOUBLE,
  tool_p50_ms DOUBLE,
  tool_p95_ms DOUBLE,
  api_requests DOUBLE,
  api_errors DOUBLE,
  subagents DOUBLE,
  agents_used DOUBLE,
  commands DOUBLE,
  command_failures DOUBLE,
  input_tokens DOUBLE,
  output_tokens DOUBLE,
  cache_read_tokens DOUBLE,
  cache_creation_tokens DOUBLE,
  tokens DOUBLE,
  cost_usd DOUBLE,
  lines_added DOUBLE,
  lines_removed DOUBLE,
  commits DOUBLE,
  pull_requests DOUBLE,
  PRIMARY KEY (user_id, session_id)
);
