-- Compaction's progress, kept beside the watermark so that a restart goes on where the
-- worker stood (src/aggregate/turn.ts): the buckets rolled up into since the last round
-- began, and a round under way with its cursor. Held only in memory before, both were lost
-- at a restart, and what they covered stayed unfolded (more rows, the same figures).
ALTER TABLE rollup_state ADD COLUMN IF NOT EXISTS dirty_since TIMESTAMP;   -- the oldest event time rolled up since the last round began (NULL: none)
ALTER TABLE rollup_state ADD COLUMN IF NOT EXISTS folding_since TIMESTAMP; -- a round under way folds from here (NULL: none under way)
ALTER TABLE rollup_state ADD COLUMN IF NOT EXISTS folding_table VARCHAR;   -- its cursor: the table it goes on in (NULL: the first)
ALTER TABLE rollup_state ADD COLUMN IF NOT EXISTS folding_from TIMESTAMP;  -- and the bucket it goes on from there (NULL: the table's start)
