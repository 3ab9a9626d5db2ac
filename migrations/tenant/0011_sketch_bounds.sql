-- Percentiles are interpolated between closest ranks now, and a sketch bin keeps the
-- smallest and largest duration it holds (`lo`, `hi`), so a rank that is its bin's first
-- or last is read exactly (src/aggregate/sketch.ts). Rows stored before have no bounds
-- (NULL): their bins answer with the representative value, as they did. Stored session
-- figures hold p50/p95 of the old definition: emptied, the worker stores them again.
ALTER TABLE rollup_1m_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE rollup_1m_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE rollup_5m_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE rollup_5m_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE rollup_15m_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE rollup_15m_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE rollup_1h_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE rollup_1h_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE rollup_1d_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE rollup_1d_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE session_1m_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE session_1m_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE session_5m_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE session_5m_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE session_15m_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE session_15m_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE session_1h_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE session_1h_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE session_1d_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE session_1d_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE team_1m_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE team_1m_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE team_5m_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE team_5m_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE team_15m_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE team_15m_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE team_1h_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE team_1h_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
ALTER TABLE team_1d_dur ADD COLUMN IF NOT EXISTS lo DOUBLE;
ALTER TABLE team_1d_dur ADD COLUMN IF NOT EXISTS hi DOUBLE;
DELETE FROM session_figures;
