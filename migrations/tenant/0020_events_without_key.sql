-- `events` loses its PRIMARY KEY: an ART index over random 64-bit ids, held in memory, whose
-- insert cost grew with every event ever stored (200k rows/s at 1M rows, 60-85k from 3M on).
-- A retry or a re-import is now caught by the writer's anti-join against the stored events
-- of the batch's time span (src/ingest/event-rows.ts, insertNewSql). DuckDB cannot drop a
-- key in place: the table is copied in seq order (the rollup worker's cursor), every column
-- and NOT NULL kept, then swapped. Nothing else refers to the key.
CREATE TABLE events_unkeyed (
  id                    UBIGINT NOT NULL,     -- 64 bits of SHA-256 over the event's identity: a retry carries the same id
  ts                    TIMESTAMP NOT NULL,   -- when it happened (UTC); receipt time when the client gave none
  received_at           TIMESTAMP NOT NULL,
  kind                  VARCHAR NOT NULL,
  source                VARCHAR NOT NULL,     -- hook, otlp, rest, ws, import
  user_id               VARCHAR NOT NULL,     -- the authenticated user (API key owner)
  session_id            VARCHAR,
  project               VARCHAR,
  prompt_id             VARCHAR,
  tool_use_id           VARCHAR,
  request_id            VARCHAR,
  agent_id              VARCHAR,
  agent_type            VARCHAR,
  name                  VARCHAR,
  model                 VARCHAR,
  status                VARCHAR,
  duration_ms           DOUBLE,
  input_tokens          DOUBLE,
  output_tokens         DOUBLE,
  cache_read_tokens     DOUBLE,
  cache_creation_tokens DOUBLE,
  cost_usd              DOUBLE,
  lines_added           DOUBLE,
  lines_removed         DOUBLE,
  value                 DOUBLE,
  error                 VARCHAR,
  attributes            JSON,
  seq                   UBIGINT,              -- commit order (0003_rollups.sql)
  import_run            VARCHAR               -- the import run that stored it (0014_import_runs.sql)
);
INSERT INTO events_unkeyed SELECT * FROM events ORDER BY seq;
DROP TABLE events;
ALTER TABLE events_unkeyed RENAME TO events;
