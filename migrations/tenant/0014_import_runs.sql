-- Imports (src/import/runs.ts): each run of `agentmeter import`, `agentmeter sync` or an
-- upload on the Import page, with who ran it, for whom, from where and what it counted. The
-- counters move in the same transaction as the events they count. Each event an import
-- stored names its run, so rolling a run back removes exactly its events: an event already
-- stored (by an earlier run, or sent live) keeps its first run, or none.
CREATE TABLE import_runs (
  id            VARCHAR PRIMARY KEY,
  user_id       VARCHAR NOT NULL,     -- whose events they are
  created_by    VARCHAR NOT NULL,     -- who started the run (the user, or an admin uploading for them)
  source        VARCHAR NOT NULL,     -- claude, legacy, archive
  host          VARCHAR,              -- the machine the files were read on, as the client says
  label         VARCHAR,
  status        VARCHAR NOT NULL,     -- running, finished, failed, rolled_back
  started_at    TIMESTAMP NOT NULL,
  updated_at    TIMESTAMP NOT NULL,
  finished_at   TIMESTAMP,
  rolled_back_at TIMESTAMP,
  sent          BIGINT NOT NULL DEFAULT 0,   -- events received
  stored        BIGINT NOT NULL DEFAULT 0,   -- events new to the tenant
  duplicates    BIGINT NOT NULL DEFAULT 0,   -- events already stored (a re-run, or the same request sent live)
  rejected      BIGINT NOT NULL DEFAULT 0,   -- events the schema refused
  removed       BIGINT NOT NULL DEFAULT 0,   -- events a rollback removed
  skipped       BIGINT NOT NULL DEFAULT 0,   -- lines or files the reader left out
  skip_reasons  JSON NOT NULL DEFAULT '{}', -- reason → count
  skip_samples  JSON NOT NULL DEFAULT '[]', -- the first few {file, line, reason}
  unknown_models JSON NOT NULL DEFAULT '[]', -- models with no price: their requests carry tokens but no cost
  summary       JSON,                  -- what the client counted (files, sessions, requests, tokens…)
  error         VARCHAR
);

ALTER TABLE events ADD COLUMN import_run VARCHAR;
