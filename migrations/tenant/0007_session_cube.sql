-- The session cube: every tier again by user, project, session, kind and model, without
-- the tool or command name and the status (see src/aggregate/tiers.ts). Questions about
-- people, projects and sessions that do not name a tool, command, agent or status read
-- it, and so do the distinct counts and the spend rule of team-wide questions: a third
-- to half of the full cube's rows. Same columns and rules as the full cube's tables
-- (0003_rollups.sql), filled here from them: they hold exactly the events up to
-- rollup_state.last_seq, and the worker keeps all three cubes from now on.

CREATE TABLE session_1m (
  bucket TIMESTAMP NOT NULL, user_id VARCHAR NOT NULL, project VARCHAR NOT NULL, session_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, model VARCHAR NOT NULL,
  n DOUBLE NOT NULL, failures DOUBLE NOT NULL, dur_n DOUBLE NOT NULL, dur_sum DOUBLE NOT NULL, dur_min DOUBLE, dur_max DOUBLE,
  input_tokens DOUBLE NOT NULL, output_tokens DOUBLE NOT NULL, cache_read_tokens DOUBLE NOT NULL, cache_creation_tokens DOUBLE NOT NULL,
  cost_usd DOUBLE NOT NULL, unpriced_input DOUBLE NOT NULL, unpriced_output DOUBLE NOT NULL, unpriced_cache_read DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL, lines_added DOUBLE NOT NULL, lines_removed DOUBLE NOT NULL, value DOUBLE NOT NULL
);
INSERT INTO session_1m BY NAME
SELECT bucket, user_id, project, session_id, kind, model, sum(n) AS n, sum(failures) AS failures, sum(dur_n) AS dur_n, sum(dur_sum) AS dur_sum, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd, sum(unpriced_input) AS unpriced_input, sum(unpriced_output) AS unpriced_output, sum(unpriced_cache_read) AS unpriced_cache_read, sum(unpriced_cache_creation) AS unpriced_cache_creation, sum(lines_added) AS lines_added, sum(lines_removed) AS lines_removed, sum(value) AS value, min(dur_min) AS dur_min, max(dur_max) AS dur_max
  FROM rollup_1m GROUP BY bucket, user_id, project, session_id, kind, model ORDER BY bucket;
CREATE TABLE session_1m_dur (
  bucket TIMESTAMP NOT NULL, user_id VARCHAR NOT NULL, project VARCHAR NOT NULL, kind VARCHAR NOT NULL, model VARCHAR NOT NULL,
  bin SMALLINT NOT NULL, n DOUBLE NOT NULL
);
INSERT INTO session_1m_dur
SELECT bucket, user_id, project, kind, model, bin, sum(n) AS n
  FROM rollup_1m_dur GROUP BY bucket, user_id, project, kind, model, bin ORDER BY bucket;

CREATE TABLE session_5m (
  bucket TIMESTAMP NOT NULL, user_id VARCHAR NOT NULL, project VARCHAR NOT NULL, session_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, model VARCHAR NOT NULL,
  n DOUBLE NOT NULL, failures DOUBLE NOT NULL, dur_n DOUBLE NOT NULL, dur_sum DOUBLE NOT NULL, dur_min DOUBLE, dur_max DOUBLE,
  input_tokens DOUBLE NOT NULL, output_tokens DOUBLE NOT NULL, cache_read_tokens DOUBLE NOT NULL, cache_creation_tokens DOUBLE NOT NULL,
  cost_usd DOUBLE NOT NULL, unpriced_input DOUBLE NOT NULL, unpriced_output DOUBLE NOT NULL, unpriced_cache_read DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL, lines_added DOUBLE NOT NULL, lines_removed DOUBLE NOT NULL, value DOUBLE NOT NULL
);
INSERT INTO session_5m BY NAME
SELECT bucket, user_id, project, session_id, kind, model, sum(n) AS n, sum(failures) AS failures, sum(dur_n) AS dur_n, sum(dur_sum) AS dur_sum, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd, sum(unpriced_input) AS unpriced_input, sum(unpriced_output) AS unpriced_output, sum(unpriced_cache_read) AS unpriced_cache_read, sum(unpriced_cache_creation) AS unpriced_cache_creation, sum(lines_added) AS lines_added, sum(lines_removed) AS lines_removed, sum(value) AS value, min(dur_min) AS dur_min, max(dur_max) AS dur_max
  FROM rollup_5m GROUP BY bucket, user_id, project, session_id, kind, model ORDER BY bucket;
CREATE TABLE session_5m_dur (
  bucket TIMESTAMP NOT NULL, user_id VARCHAR NOT NULL, project VARCHAR NOT NULL, kind VARCHAR NOT NULL, model VARCHAR NOT NULL,
  bin SMALLINT NOT NULL, n DOUBLE NOT NULL
);
INSERT INTO session_5m_dur
SELECT bucket, user_id, project, kind, model, bin, sum(n) AS n
  FROM rollup_5m_dur GROUP BY bucket, user_id, project, kind, model, bin ORDER BY bucket;

CREATE TABLE session_15m (
  bucket TIMESTAMP NOT NULL, user_id VARCHAR NOT NULL, project VARCHAR NOT NULL, session_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, model VARCHAR NOT NULL,
  n DOUBLE NOT NULL, failures DOUBLE NOT NULL, dur_n DOUBLE NOT NULL, dur_sum DOUBLE NOT NULL, dur_min DOUBLE, dur_max DOUBLE,
  input_tokens DOUBLE NOT NULL, output_tokens DOUBLE NOT NULL, cache_read_tokens DOUBLE NOT NULL, cache_creation_tokens DOUBLE NOT NULL,
  cost_usd DOUBLE NOT NULL, unpriced_input DOUBLE NOT NULL, unpriced_output DOUBLE NOT NULL, unpriced_cache_read DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL, lines_added DOUBLE NOT NULL, lines_removed DOUBLE NOT NULL, value DOUBLE NOT NULL
);
INSERT INTO session_15m BY NAME
SELECT bucket, user_id, project, session_id, kind, model, sum(n) AS n, sum(failures) AS failures, sum(dur_n) AS dur_n, sum(dur_sum) AS dur_sum, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd, sum(unpriced_input) AS unpriced_input, sum(unpriced_output) AS unpriced_output, sum(unpriced_cache_read) AS unpriced_cache_read, sum(unpriced_cache_creation) AS unpriced_cache_creation, sum(lines_added) AS lines_added, sum(lines_removed) AS lines_removed, sum(value) AS value, min(dur_min) AS dur_min, max(dur_max) AS dur_max
  FROM rollup_15m GROUP BY bucket, user_id, project, session_id, kind, model ORDER BY bucket;
CREATE TABLE session_15m_dur (
  bucket TIMESTAMP NOT NULL, user_id VARCHAR NOT NULL, project VARCHAR NOT NULL, kind VARCHAR NOT NULL, model VARCHAR NOT NULL,
  bin SMALLINT NOT NULL, n DOUBLE NOT NULL
);
INSERT INTO session_15m_dur
SELECT bucket, user_id, project, kind, model, bin, sum(n) AS n
  FROM rollup_15m_dur GROUP BY bucket, user_id, project, kind, model, bin ORDER BY bucket;

CREATE TABLE session_1h (
  bucket TIMESTAMP NOT NULL, user_id VARCHAR NOT NULL, project VARCHAR NOT NULL, session_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, model VARCHAR NOT NULL,
  n DOUBLE NOT NULL, failures DOUBLE NOT NULL, dur_n DOUBLE NOT NULL, dur_sum DOUBLE NOT NULL, dur_min DOUBLE, dur_max DOUBLE,
  input_tokens DOUBLE NOT NULL, output_tokens DOUBLE NOT NULL, cache_read_tokens DOUBLE NOT NULL, cache_creation_tokens DOUBLE NOT NULL,
  cost_usd DOUBLE NOT NULL, unpriced_input DOUBLE NOT NULL, unpriced_output DOUBLE NOT NULL, unpriced_cache_read DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL, lines_added DOUBLE NOT NULL, lines_removed DOUBLE NOT NULL, value DOUBLE NOT NULL
);
INSERT INTO session_1h BY NAME
SELECT bucket, user_id, project, session_id, kind, model, sum(n) AS n, sum(failures) AS failures, sum(dur_n) AS dur_n, sum(dur_sum) AS dur_sum, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd, sum(unpriced_input) AS unpriced_input, sum(unpriced_output) AS unpriced_output, sum(unpriced_cache_read) AS unpriced_cache_read, sum(unpriced_cache_creation) AS unpriced_cache_creation, sum(lines_added) AS lines_added, sum(lines_removed) AS lines_removed, sum(value) AS value, min(dur_min) AS dur_min, max(dur_max) AS dur_max
  FROM rollup_1h GROUP BY bucket, user_id, project, session_id, kind, model ORDER BY bucket;
CREATE TABLE session_1h_dur (
  bucket TIMESTAMP NOT NULL, user_id VARCHAR NOT NULL, project VARCHAR NOT NULL, kind VARCHAR NOT NULL, model VARCHAR NOT NULL,
  bin SMALLINT NOT NULL, n DOUBLE NOT NULL
);
INSERT INTO session_1h_dur
SELECT bucket, user_id, project, kind, model, bin, sum(n) AS n
  FROM rollup_1h_dur GROUP BY bucket, user_id, project, kind, model, bin ORDER BY bucket;

CREATE TABLE session_1d (
  bucket TIMESTAMP NOT NULL, user_id VARCHAR NOT NULL, project VARCHAR NOT NULL, session_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, model VARCHAR NOT NULL,
  n DOUBLE NOT NULL, failures DOUBLE NOT NULL, dur_n DOUBLE NOT NULL, dur_sum DOUBLE NOT NULL, dur_min DOUBLE, dur_max DOUBLE,
  input_tokens DOUBLE NOT NULL, output_tokens DOUBLE NOT NULL, cache_read_tokens DOUBLE NOT NULL, cache_creation_tokens DOUBLE NOT NULL,
  cost_usd DOUBLE NOT NULL, unpriced_input DOUBLE NOT NULL, unpriced_output DOUBLE NOT NULL, unpriced_cache_read DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL, lines_added DOUBLE NOT NULL, lines_removed DOUBLE NOT NULL, value DOUBLE NOT NULL
);
INSERT INTO session_1d BY NAME
SELECT bucket, user_id, project, session_id, kind, model, sum(n) AS n, sum(failures) AS failures, sum(dur_n) AS dur_n, sum(dur_sum) AS dur_sum, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd, sum(unpriced_input) AS unpriced_input, sum(unpriced_output) AS unpriced_output, sum(unpriced_cache_read) AS unpriced_cache_read, sum(unpriced_cache_creation) AS unpriced_cache_creation, sum(lines_added) AS lines_added, sum(lines_removed) AS lines_removed, sum(value) AS value, min(dur_min) AS dur_min, max(dur_max) AS dur_max
  FROM rollup_1d GROUP BY bucket, user_id, project, session_id, kind, model ORDER BY bucket;
CREATE TABLE session_1d_dur (
  bucket TIMESTAMP NOT NULL, user_id VARCHAR NOT NULL, project VARCHAR NOT NULL, kind VARCHAR NOT NULL, model VARCHAR NOT NULL,
  bin SMALLINT NOT NULL, n DOUBLE NOT NULL
);
INSERT INTO session_1d_dur
SELECT bucket, user_id, project, kind, model, bin, sum(n) AS n
  FROM rollup_1d_dur GROUP BY bucket, user_id, project, kind, model, bin ORDER BY bucket;
