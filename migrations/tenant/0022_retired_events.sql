-- What raw retention deleted, kept so that the same event sent again later is still known:
-- an import run again with --rescan, an archive uploaded twice, a client's retry after a
-- lost state file. Without it the writer's duplicate check and the worker's first-arrival
-- rule, which look only in `events`, stored and counted such an event a second time in
-- tiers that keep it for years (src/aggregate/steps.ts applyRetention; src/ingest/writer.ts;
-- src/aggregate/rollup.ts countedEventsCtes). One row per deleted event, in ts order:
-- ts          the event's time (lookups read only the row groups of a batch's span)
-- id          its id (the writer drops a row with the same id, as it does for `events`)
-- dedup       64 bits of SHA-256 over kind, NUL and its repeat key (DEDUP_KEYS); NULL for
--             an event without one. A later arrival with the same key does not count.
-- user_id     whose it was (erasing a person deletes their rows)
CREATE TABLE IF NOT EXISTS retired_events (
  ts      TIMESTAMP NOT NULL,
  id      UBIGINT NOT NULL,
  dedup   UBIGINT,
  user_id VARCHAR NOT NULL
);
-- Raw events before this time were moved to retired_events (NULL: none yet). Read with the
-- watermark, in the same snapshot, so a statement knows when a repeat may be retired.
ALTER TABLE rollup_state ADD COLUMN IF NOT EXISTS retired_until TIMESTAMP;
