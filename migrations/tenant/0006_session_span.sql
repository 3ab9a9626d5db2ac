-- A session's span in session_index covers every event it stored, repeats included
-- (src/aggregate/worker.ts), so that a timeline reads only the span. Before, it covered
-- the counted events only: widen it by the repeats the worker has rolled up.
UPDATE session_index
   SET first_ts = least(session_index.first_ts, r.lo), last_ts = greatest(session_index.last_ts, r.hi)
  FROM (SELECT session_id, min(ts) AS lo, max(ts) AS hi
          FROM events
         WHERE seq IN (SELECT seq FROM uncounted_events) AND session_id IS NOT NULL
         GROUP BY session_id) r
 WHERE session_index.session_id = r.session_id;
