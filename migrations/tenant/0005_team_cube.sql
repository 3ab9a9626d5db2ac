-- The team cube: every tier again without user, project and session (see
-- src/aggregate/tiers.ts). Team-wide questions (by tool, model, kind or status) read it:
-- a small fraction of the full cube's rows and sketch bins. Same columns and rules as
-- the full cube's tables (0003_rollups.sql), filled here from them: they hold exactly the
-- events up to rollup_state.last_seq, and the worker keeps both from now on.

CREATE TABLE team_1m (
  bucket TIMESTAMP NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
  n DOUBLE NOT NULL, failures DOUBLE NOT NULL, dur_n DOUBLE NOT NULL, dur_sum DOUBLE NOT NULL, dur_min DOUBLE, dur_max DOUBLE,
  input_tokens DOUBLE NOT NULL, output_tokens DOUBLE NOT NULL, cache_read_tokens DOUBLE NOT NULL, cache_creation_tokens DOUBLE NOT NULL,
  cost_usd DOUBLE NOT NULL, unpriced_input DOUBLE NOT NULL, unpriced_output DOUBLE NOT NULL, unpriced_cache_read DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL, lines_added DOUBLE NOT NULL, lines_removed DOUBLE NOT NULL, value DOUBLE NOT NULL
);
INSERT INTO team_1m BY NAME
SELECT bucket, kind, name, model, status, sum(n) AS n, sum(failures) AS failures, sum(dur_n) AS dur_n, sum(dur_sum) AS dur_sum, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd, sum(unpriced_input) AS unpriced_input, sum(unpriced_output) AS unpriced_output, sum(unpriced_cache_read) AS unpriced_cache_read, sum(unpriced_cache_creation) AS unpriced_cache_creation, sum(lines_added) AS lines_added, sum(lines_removed) AS lines_removed, sum(value) AS value, min(dur_min) AS dur_min, max(dur_max) AS dur_max
  FROM rollup_1m GROUP BY bucket, kind, name, model, status ORDER BY bucket;
CREATE TABLE team_1m_dur (
  bucket TIMESTAMP NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
  bin SMALLINT NOT NULL, n DOUBLE NOT NULL
);
INSERT INTO team_1m_dur
SELECT bucket, kind, name, model, status, bin, sum(n) AS n
  FROM rollup_1m_dur GROUP BY bucket, kind, name, model, status, bin ORDER BY bucket;

CREATE TABLE team_5m (
  bucket TIMESTAMP NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
  n DOUBLE NOT NULL, failures DOUBLE NOT NULL, dur_n DOUBLE NOT NULL, dur_sum DOUBLE NOT NULL, dur_min DOUBLE, dur_max DOUBLE,
  input_tokens DOUBLE NOT NULL, output_tokens DOUBLE NOT NULL, cache_read_tokens DOUBLE NOT NULL, cache_creation_tokens DOUBLE NOT NULL,
  cost_usd DOUBLE NOT NULL, unpriced_input DOUBLE NOT NULL, unpriced_output DOUBLE NOT NULL, unpriced_cache_read DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL, lines_added DOUBLE NOT NULL, lines_removed DOUBLE NOT NULL, value DOUBLE NOT NULL
);
INSERT INTO team_5m BY NAME
SELECT bucket, kind, name, model, status, sum(n) AS n, sum(failures) AS failures, sum(dur_n) AS dur_n, sum(dur_sum) AS dur_sum, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd, sum(unpriced_input) AS unpriced_input, sum(unpriced_output) AS unpriced_output, sum(unpriced_cache_read) AS unpriced_cache_read, sum(unpriced_cache_creation) AS unpriced_cache_creation, sum(lines_added) AS lines_added, sum(lines_removed) AS lines_removed, sum(value) AS value, min(dur_min) AS dur_min, max(dur_max) AS dur_max
  FROM rollup_5m GROUP BY bucket, kind, name, model, status ORDER BY bucket;
CREATE TABLE team_5m_dur (
  bucket TIMESTAMP NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
  bin SMALLINT NOT NULL, n DOUBLE NOT NULL
);
INSERT INTO team_5m_dur
SELECT bucket, kind, name, model, status, bin, sum(n) AS n
  FROM rollup_5m_dur GROUP BY bucket, kind, name, model, status, bin ORDER BY bucket;

CREATE TABLE team_15m (
  bucket TIMESTAMP NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
  n DOUBLE NOT NULL, failures DOUBLE NOT NULL, dur_n DOUBLE NOT NULL, dur_sum DOUBLE NOT NULL, dur_min DOUBLE, dur_max DOUBLE,
  input_tokens DOUBLE NOT NULL, output_tokens DOUBLE NOT NULL, cache_read_tokens DOUBLE NOT NULL, cache_creation_tokens DOUBLE NOT NULL,
  cost_usd DOUBLE NOT NULL, unpriced_input DOUBLE NOT NULL, unpriced_output DOUBLE NOT NULL, unpriced_cache_read DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL, lines_added DOUBLE NOT NULL, lines_removed DOUBLE NOT NULL, value DOUBLE NOT NULL
);
INSERT INTO team_15m BY NAME
SELECT bucket, kind, name, model, status, sum(n) AS n, sum(failures) AS failures, sum(dur_n) AS dur_n, sum(dur_sum) AS dur_sum, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd, sum(unpriced_input) AS unpriced_input, sum(unpriced_output) AS unpriced_output, sum(unpriced_cache_read) AS unpriced_cache_read, sum(unpriced_cache_creation) AS unpriced_cache_creation, sum(lines_added) AS lines_added, sum(lines_removed) AS lines_removed, sum(value) AS value, min(dur_min) AS dur_min, max(dur_max) AS dur_max
  FROM rollup_15m GROUP BY bucket, kind, name, model, status ORDER BY bucket;
CREATE TABLE team_15m_dur (
  bucket TIMESTAMP NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
  bin SMALLINT NOT NULL, n DOUBLE NOT NULL
);
INSERT INTO team_15m_dur
SELECT bucket, kind, name, model, status, bin, sum(n) AS n
  FROM rollup_15m_dur GROUP BY bucket, kind, name, model, status, bin ORDER BY bucket;

CREATE TABLE team_1h (
  bucket TIMESTAMP NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
  n DOUBLE NOT NULL, failures DOUBLE NOT NULL, dur_n DOUBLE NOT NULL, dur_sum DOUBLE NOT NULL, dur_min DOUBLE, dur_max DOUBLE,
  input_tokens DOUBLE NOT NULL, output_tokens DOUBLE NOT NULL, cache_read_tokens DOUBLE NOT NULL, cache_creation_tokens DOUBLE NOT NULL,
  cost_usd DOUBLE NOT NULL, unpriced_input DOUBLE NOT NULL, unpriced_output DOUBLE NOT NULL, unpriced_cache_read DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL, lines_added DOUBLE NOT NULL, lines_removed DOUBLE NOT NULL, value DOUBLE NOT NULL
);
INSERT INTO team_1h BY NAME
SELECT bucket, kind, name, model, status, sum(n) AS n, sum(failures) AS failures, sum(dur_n) AS dur_n, sum(dur_sum) AS dur_sum, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd, sum(unpriced_input) AS unpriced_input, sum(unpriced_output) AS unpriced_output, sum(unpriced_cache_read) AS unpriced_cache_read, sum(unpriced_cache_creation) AS unpriced_cache_creation, sum(lines_added) AS lines_added, sum(lines_removed) AS lines_removed, sum(value) AS value, min(dur_min) AS dur_min, max(dur_max) AS dur_max
  FROM rollup_1h GROUP BY bucket, kind, name, model, status ORDER BY bucket;
CREATE TABLE team_1h_dur (
  bucket TIMESTAMP NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
  bin SMALLINT NOT NULL, n DOUBLE NOT NULL
);
INSERT INTO team_1h_dur
SELECT bucket, kind, name, model, status, bin, sum(n) AS n
  FROM rollup_1h_dur GROUP BY bucket, kind, name, model, status, bin ORDER BY bucket;

CREATE TABLE team_1d (
  bucket TIMESTAMP NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
  n DOUBLE NOT NULL, failures DOUBLE NOT NULL, dur_n DOUBLE NOT NULL, dur_sum DOUBLE NOT NULL, dur_min DOUBLE, dur_max DOUBLE,
  input_tokens DOUBLE NOT NULL, output_tokens DOUBLE NOT NULL, cache_read_tokens DOUBLE NOT NULL, cache_creation_tokens DOUBLE NOT NULL,
  cost_usd DOUBLE NOT NULL, unpriced_input DOUBLE NOT NULL, unpriced_output DOUBLE NOT NULL, unpriced_cache_read DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL, lines_added DOUBLE NOT NULL, lines_removed DOUBLE NOT NULL, value DOUBLE NOT NULL
);
INSERT INTO team_1d BY NAME
SELECT bucket, kind, name, model, status, sum(n) AS n, sum(failures) AS failures, sum(dur_n) AS dur_n, sum(dur_sum) AS dur_sum, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens, sum(cost_usd) AS cost_usd, sum(unpriced_input) AS unpriced_input, sum(unpriced_output) AS unpriced_output, sum(unpriced_cache_read) AS unpriced_cache_read, sum(unpriced_cache_creation) AS unpriced_cache_creation, sum(lines_added) AS lines_added, sum(lines_removed) AS lines_removed, sum(value) AS value, min(dur_min) AS dur_min, max(dur_max) AS dur_max
  FROM rollup_1d GROUP BY bucket, kind, name, model, status ORDER BY bucket;
CREATE TABLE team_1d_dur (
  bucket TIMESTAMP NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
  bin SMALLINT NOT NULL, n DOUBLE NOT NULL
);
INSERT INTO team_1d_dur
SELECT bucket, kind, name, model, status, bin, sum(n) AS n
  FROM rollup_1d_dur GROUP BY bucket, kind, name, model, status, bin ORDER BY bucket;
