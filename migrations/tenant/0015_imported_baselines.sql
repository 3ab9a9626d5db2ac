-- A person's productivity baseline imported from the older hooks' files
-- (historical-baseline.json): their sessions are scored against it until they have
-- OWN_BASELINE_SESSIONS finished sessions of their own (src/query/scores.ts). success_rate
-- is a share (0..1), null when the file had none; sessions: how many it was made of.
CREATE TABLE imported_baselines (
  user_id VARCHAR PRIMARY KEY,
  commands_per_hour DOUBLE NOT NULL,
  lines_per_hour DOUBLE NOT NULL,
  success_rate DOUBLE,
  sessions INTEGER NOT NULL
);

-- Whether a score was measured against the imported baseline (the session page says so).
ALTER TABLE session_scores ADD COLUMN baseline_imported BOOLEAN DEFAULT false;
