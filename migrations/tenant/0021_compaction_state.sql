-- Compaction's progress, kept beside the watermark so that a restart goes on where the
-- worker stood (src/aggregate/turn.ts): the buckets rolled up into since the last round
-- began, and a round under way with its cursor. Held only in memory before, both were lost
-- at a restart, and what they covered stayed unfolded (more rows, the same figures).
-- dirty_since: the oldest event time rolled up since the last round began (NULL: none).
-- folding_since: where the round under way folds from (NULL: none under way); folding_table
-- and folding_from: its cursor, the table and the bucket it goes on from (NULL: the first
-- table; that table's start).
ALTER TABLE rollup_state ADD COLUMN IF NOT EXISTS dirty_since TIMESTAMP;
ALTER TABLE rollup_state ADD COLUMN IF NOT EXISTS folding_since TIMESTAMP;
ALTER TABLE rollup_state ADD COLUMN IF NOT EXISTS folding_table VARCHAR;
ALTER TABLE rollup_state ADD COLUMN IF NOT EXISTS folding_from TIMESTAMP;
