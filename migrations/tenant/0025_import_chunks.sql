-- The chunks each unfinished import run took (src/import/runs.ts), by a digest of the chunk
-- as parsed, with how many events it stored. A chunk sent again to its run (its answer was
-- lost on the way and the client retried) is answered as the first time and moves no
-- counter twice. A run's rows go when it finishes.
CREATE TABLE IF NOT EXISTS import_chunks (
  run_id  VARCHAR NOT NULL,
  user_id VARCHAR NOT NULL,  -- the run's: erasing a person removes these with their runs
  digest  VARCHAR NOT NULL,  -- sha256, hex, of the chunk's JSON as parsed
  stored  BIGINT NOT NULL,   -- the events the chunk stored when first taken
  PRIMARY KEY (run_id, digest)
);
