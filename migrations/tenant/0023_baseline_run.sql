-- The import run an imported baseline came with: rolling the run back removes it, and the
-- scores measured against it are measured again.
ALTER TABLE imported_baselines ADD COLUMN IF NOT EXISTS import_run VARCHAR;
