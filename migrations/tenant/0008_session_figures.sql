-- Each indexed session's figures over its whole life, as the query model answers them
-- (SESSION_FIGURES in src/query/session-figures.ts, a column each): stored by the
-- aggregation worker once the session has been quiet a while, deleted when an event of
-- the session is rolled up or prices change, and read by the session page, the sessions
-- list and the productivity scores while the session has no events above the watermark.
-- Empty here: the worker fills it.
CREATE TABLE session_figures (
  session_id VARCHAR PRIMARY KEY,
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
  pull_requests DOUBLE
);
