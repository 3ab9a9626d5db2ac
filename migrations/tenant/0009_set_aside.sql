-- Events the aggregation worker could not roll up, even alone, after several attempts
-- (src/aggregate/worker.ts): set aside so one row can never stop a tenant's rollups. They
-- stay in `events`, are left out of every figure (their seq is in uncounted_events too) and
-- are counted on /readyz.
CREATE TABLE set_aside_events (
  seq           UBIGINT PRIMARY KEY,
  error         VARCHAR NOT NULL,
  set_aside_at  TIMESTAMP NOT NULL
);
