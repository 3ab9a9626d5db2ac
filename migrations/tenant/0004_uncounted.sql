-- The events the worker found to repeat an earlier arrival of the same request or tool
-- call (see src/aggregate/rollup.ts). Queries read rolled-up events raw (the edges of a
-- range) without judging them again: they leave these out.
CREATE TABLE uncounted_events (seq UBIGINT NOT NULL);

-- What the worker has rolled up so far: an event repeats one that arrived earlier (lower
-- seq) with the same key, its timestamp within a day of it.
INSERT INTO uncounted_events
SELECT DISTINCT later.seq
  FROM (SELECT seq, ts, kind, CASE kind WHEN 'api_request' THEN request_id ELSE tool_use_id END AS dkey
          FROM events WHERE kind IN ('api_request', 'tool_call') AND seq <= (SELECT last_seq FROM rollup_state)) later
  JOIN (SELECT seq, ts, kind, CASE kind WHEN 'api_request' THEN request_id ELSE tool_use_id END AS dkey
          FROM events WHERE kind IN ('api_request', 'tool_call')) earlier
    ON earlier.kind = later.kind AND earlier.dkey = later.dkey AND earlier.seq < later.seq
   AND earlier.ts BETWEEN later.ts - INTERVAL 1 DAY AND later.ts + INTERVAL 1 DAY;
