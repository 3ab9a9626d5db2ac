-- The chunks each import run took (src/import/runs.ts), by a digest of the chunk as parsed,
-- with the answer given. A chunk sent again to its run (its answer was lost on the way and
-- the client retried) gets the same answer and moves no counter twice.
CREATE TABLE IF NOT EXISTS import_chunks (
  run_id  VARCHAR NOT NULL,
  user_id VARCHAR NOT NULL,  -- the run's: erasing a person removes these with their runs
  digest  VARCHAR NOT NULL,  -- sha256, hex, of the chunk's JSON as parsed
  answer  JSON NOT NULL,     -- the chunk's answer (ChunkResult)
  PRIMARY KEY (run_id, digest)
);
