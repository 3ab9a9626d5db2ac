-- Rollups: what the aggregation worker (src/aggregate/) keeps current so that every
-- dashboard question is answered without scanning raw events.
--
-- `seq` numbers events in commit order; the worker rolls up everything above its
-- watermark, in the same transaction that moves the watermark, so a rollup is always
-- exactly the events up to one seq.
ALTER TABLE events ADD COLUMN seq UBIGINT;
UPDATE events SET seq = rowid + 1;

CREATE TABLE rollup_state (
  id       INTEGER PRIMARY KEY,  -- always 1
  last_seq UBIGINT NOT NULL,     -- every event with seq <= last_seq is in every tier
  updated_at TIMESTAMP NOT NULL
);
INSERT INTO rollup_state VALUES (1, 0, now()::TIMESTAMP);

-- One row per session: who, where, when, for listing sessions without scanning events.
CREATE TABLE session_index (
  session_id VARCHAR PRIMARY KEY,
  user_id    VARCHAR NOT NULL,   -- who reported its first event
  project    VARCHAR,
  first_ts   TIMESTAMP NOT NULL,
  last_ts    TIMESTAMP NOT NULL,
  events     DOUBLE NOT NULL
);

-- Per-tenant settings as JSON documents (retention, price overrides).
CREATE TABLE tenant_settings (
  key   VARCHAR PRIMARY KEY,
  value JSON NOT NULL
);

-- The price of each model seen, resolved by the worker from the shipped table and the
-- tenant's overrides; USD per million tokens. Queries join it to price unpriced tokens.
CREATE TABLE model_prices (
  model          VARCHAR PRIMARY KEY,
  input          DOUBLE NOT NULL,
  output         DOUBLE NOT NULL,
  cache_write    DOUBLE NOT NULL,
  cache_read     DOUBLE NOT NULL
);

-- 1m buckets. Dimensions are '' when absent; a key may appear in several rows (each
-- worker pass appends), and every measure is a sum, min or max, so queries simply
-- aggregate again. Compaction folds them.
CREATE TABLE rollup_1m (
  bucket      TIMESTAMP NOT NULL,
  user_id     VARCHAR NOT NULL,
  project     VARCHAR NOT NULL,
  session_id  VARCHAR NOT NULL,
  kind        VARCHAR NOT NULL,
  name        VARCHAR NOT NULL,
  model       VARCHAR NOT NULL,
  status      VARCHAR NOT NULL,
  n           DOUBLE NOT NULL,  -- events counted (duplicates of one request or tool call count once)
  failures    DOUBLE NOT NULL,
  dur_n       DOUBLE NOT NULL,
  dur_sum     DOUBLE NOT NULL,
  dur_min     DOUBLE,
  dur_max     DOUBLE,
  input_tokens          DOUBLE NOT NULL,
  output_tokens         DOUBLE NOT NULL,
  cache_read_tokens     DOUBLE NOT NULL,
  cache_creation_tokens DOUBLE NOT NULL,
  cost_usd              DOUBLE NOT NULL,  -- as reported
  unpriced_input          DOUBLE NOT NULL,  -- tokens of rows that reported no cost
  unpriced_output         DOUBLE NOT NULL,
  unpriced_cache_read     DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL,
  lines_added   DOUBLE NOT NULL,
  lines_removed DOUBLE NOT NULL,
  value         DOUBLE NOT NULL
);
-- Duration sketch: counts per logarithmic bin (see src/aggregate/sketch.ts).
CREATE TABLE rollup_1m_dur (
  bucket   TIMESTAMP NOT NULL,
  user_id  VARCHAR NOT NULL,
  project  VARCHAR NOT NULL,
  kind     VARCHAR NOT NULL,
  name     VARCHAR NOT NULL,
  model    VARCHAR NOT NULL,
  status   VARCHAR NOT NULL,
  bin      SMALLINT NOT NULL,
  n        DOUBLE NOT NULL
);

-- 5m buckets. Dimensions are '' when absent; a key may appear in several rows (each
-- worker pass appends), and every measure is a sum, min or max, so queries simply
-- aggregate again. Compaction folds them.
CREATE TABLE rollup_5m (
  bucket      TIMESTAMP NOT NULL,
  user_id     VARCHAR NOT NULL,
  project     VARCHAR NOT NULL,
  session_id  VARCHAR NOT NULL,
  kind        VARCHAR NOT NULL,
  name        VARCHAR NOT NULL,
  model       VARCHAR NOT NULL,
  status      VARCHAR NOT NULL,
  n           DOUBLE NOT NULL,  -- events counted (duplicates of one request or tool call count once)
  failures    DOUBLE NOT NULL,
  dur_n       DOUBLE NOT NULL,
  dur_sum     DOUBLE NOT NULL,
  dur_min     DOUBLE,
  dur_max     DOUBLE,
  input_tokens          DOUBLE NOT NULL,
  output_tokens         DOUBLE NOT NULL,
  cache_read_tokens     DOUBLE NOT NULL,
  cache_creation_tokens DOUBLE NOT NULL,
  cost_usd              DOUBLE NOT NULL,  -- as reported
  unpriced_input          DOUBLE NOT NULL,  -- tokens of rows that reported no cost
  unpriced_output         DOUBLE NOT NULL,
  unpriced_cache_read     DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL,
  lines_added   DOUBLE NOT NULL,
  lines_removed DOUBLE NOT NULL,
  value         DOUBLE NOT NULL
);
-- Duration sketch: counts per logarithmic bin (see src/aggregate/sketch.ts).
CREATE TABLE rollup_5m_dur (
  bucket   TIMESTAMP NOT NULL,
  user_id  VARCHAR NOT NULL,
  project  VARCHAR NOT NULL,
  kind     VARCHAR NOT NULL,
  name     VARCHAR NOT NULL,
  model    VARCHAR NOT NULL,
  status   VARCHAR NOT NULL,
  bin      SMALLINT NOT NULL,
  n        DOUBLE NOT NULL
);

-- 15m buckets. Dimensions are '' when absent; a key may appear in several rows (each
-- worker pass appends), and every measure is a sum, min or max, so queries simply
-- aggregate again. Compaction folds them.
CREATE TABLE rollup_15m (
  bucket      TIMESTAMP NOT NULL,
  user_id     VARCHAR NOT NULL,
  project     VARCHAR NOT NULL,
  session_id  VARCHAR NOT NULL,
  kind        VARCHAR NOT NULL,
  name        VARCHAR NOT NULL,
  model       VARCHAR NOT NULL,
  status      VARCHAR NOT NULL,
  n           DOUBLE NOT NULL,  -- events counted (duplicates of one request or tool call count once)
  failures    DOUBLE NOT NULL,
  dur_n       DOUBLE NOT NULL,
  dur_sum     DOUBLE NOT NULL,
  dur_min     DOUBLE,
  dur_max     DOUBLE,
  input_tokens          DOUBLE NOT NULL,
  output_tokens         DOUBLE NOT NULL,
  cache_read_tokens     DOUBLE NOT NULL,
  cache_creation_tokens DOUBLE NOT NULL,
  cost_usd              DOUBLE NOT NULL,  -- as reported
  unpriced_input          DOUBLE NOT NULL,  -- tokens of rows that reported no cost
  unpriced_output         DOUBLE NOT NULL,
  unpriced_cache_read     DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL,
  lines_added   DOUBLE NOT NULL,
  lines_removed DOUBLE NOT NULL,
  value         DOUBLE NOT NULL
);
-- Duration sketch: counts per logarithmic bin (see src/aggregate/sketch.ts).
CREATE TABLE rollup_15m_dur (
  bucket   TIMESTAMP NOT NULL,
  user_id  VARCHAR NOT NULL,
  project  VARCHAR NOT NULL,
  kind     VARCHAR NOT NULL,
  name     VARCHAR NOT NULL,
  model    VARCHAR NOT NULL,
  status   VARCHAR NOT NULL,
  bin      SMALLINT NOT NULL,
  n        DOUBLE NOT NULL
);

-- 1h buckets. Dimensions are '' when absent; a key may appear in several rows (each
-- worker pass appends), and every measure is a sum, min or max, so queries simply
-- aggregate again. Compaction folds them.
CREATE TABLE rollup_1h (
  bucket      TIMESTAMP NOT NULL,
  user_id     VARCHAR NOT NULL,
  project     VARCHAR NOT NULL,
  session_id  VARCHAR NOT NULL,
  kind        VARCHAR NOT NULL,
  name        VARCHAR NOT NULL,
  model       VARCHAR NOT NULL,
  status      VARCHAR NOT NULL,
  n           DOUBLE NOT NULL,  -- events counted (duplicates of one request or tool call count once)
  failures    DOUBLE NOT NULL,
  dur_n       DOUBLE NOT NULL,
  dur_sum     DOUBLE NOT NULL,
  dur_min     DOUBLE,
  dur_max     DOUBLE,
  input_tokens          DOUBLE NOT NULL,
  output_tokens         DOUBLE NOT NULL,
  cache_read_tokens     DOUBLE NOT NULL,
  cache_creation_tokens DOUBLE NOT NULL,
  cost_usd              DOUBLE NOT NULL,  -- as reported
  unpriced_input          DOUBLE NOT NULL,  -- tokens of rows that reported no cost
  unpriced_output         DOUBLE NOT NULL,
  unpriced_cache_read     DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL,
  lines_added   DOUBLE NOT NULL,
  lines_removed DOUBLE NOT NULL,
  value         DOUBLE NOT NULL
);
-- Duration sketch: counts per logarithmic bin (see src/aggregate/sketch.ts).
CREATE TABLE rollup_1h_dur (
  bucket   TIMESTAMP NOT NULL,
  user_id  VARCHAR NOT NULL,
  project  VARCHAR NOT NULL,
  kind     VARCHAR NOT NULL,
  name     VARCHAR NOT NULL,
  model    VARCHAR NOT NULL,
  status   VARCHAR NOT NULL,
  bin      SMALLINT NOT NULL,
  n        DOUBLE NOT NULL
);

-- 1d buckets. Dimensions are '' when absent; a key may appear in several rows (each
-- worker pass appends), and every measure is a sum, min or max, so queries simply
-- aggregate again. Compaction folds them.
CREATE TABLE rollup_1d (
  bucket      TIMESTAMP NOT NULL,
  user_id     VARCHAR NOT NULL,
  project     VARCHAR NOT NULL,
  session_id  VARCHAR NOT NULL,
  kind        VARCHAR NOT NULL,
  name        VARCHAR NOT NULL,
  model       VARCHAR NOT NULL,
  status      VARCHAR NOT NULL,
  n           DOUBLE NOT NULL,  -- events counted (duplicates of one request or tool call count once)
  failures    DOUBLE NOT NULL,
  dur_n       DOUBLE NOT NULL,
  dur_sum     DOUBLE NOT NULL,
  dur_min     DOUBLE,
  dur_max     DOUBLE,
  input_tokens          DOUBLE NOT NULL,
  output_tokens         DOUBLE NOT NULL,
  cache_read_tokens     DOUBLE NOT NULL,
  cache_creation_tokens DOUBLE NOT NULL,
  cost_usd              DOUBLE NOT NULL,  -- as reported
  unpriced_input          DOUBLE NOT NULL,  -- tokens of rows that reported no cost
  unpriced_output         DOUBLE NOT NULL,
  unpriced_cache_read     DOUBLE NOT NULL,
  unpriced_cache_creation DOUBLE NOT NULL,
  lines_added   DOUBLE NOT NULL,
  lines_removed DOUBLE NOT NULL,
  value         DOUBLE NOT NULL
);
-- Duration sketch: counts per logarithmic bin (see src/aggregate/sketch.ts).
CREATE TABLE rollup_1d_dur (
  bucket   TIMESTAMP NOT NULL,
  user_id  VARCHAR NOT NULL,
  project  VARCHAR NOT NULL,
  kind     VARCHAR NOT NULL,
  name     VARCHAR NOT NULL,
  model    VARCHAR NOT NULL,
  status   VARCHAR NOT NULL,
  bin      SMALLINT NOT NULL,
  n        DOUBLE NOT NULL
);
