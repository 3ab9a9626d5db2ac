-- The unified event table: hooks, OpenTelemetry, the REST API, the WebSocket gateway and
-- imports all describe a session in these rows (see src/ingest/schema.ts for the kinds).
CREATE TABLE events (
  id                    UBIGINT PRIMARY KEY,  -- 64 bits of SHA-256 over the event's identity: a retry lands on the same id
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
  attributes            JSON
);

-- Per-series state for OTLP cumulative sums, so each point becomes a delta.
CREATE TABLE otlp_series (
  series_key  UBIGINT PRIMARY KEY,
  start_ms    BIGINT NOT NULL,
  last_ms     BIGINT NOT NULL,
  last_value  DOUBLE NOT NULL
);
