-- How many counted model requests (api_request, agent_interaction with tokens or a cost) each session has, at any
-- time: the spend rule asks it of a session's whole life, not of the range asked, so a
-- metric point just across a range's edge from its requests is not counted as well. Kept by
-- the worker as it indexes and removes events; here counted from the events still kept, or
-- from the hour and day tiers for sessions whose raw events retention deleted.
ALTER TABLE session_index ADD COLUMN IF NOT EXISTS requests DOUBLE DEFAULT 0;
UPDATE session_index i SET requests = greatest(coalesce(e.n, 0), coalesce(h.n, 0), coalesce(d.n, 0))
  FROM session_index s
  LEFT JOIN (SELECT user_id, session_id, count(*)::DOUBLE AS n FROM events
              WHERE seq <= (SELECT last_seq FROM rollup_state) AND seq NOT IN (SELECT seq FROM uncounted_events)
                AND (kind = 'api_request' OR (kind = 'agent_interaction' AND (coalesce(input_tokens, 0) + coalesce(output_tokens, 0) + coalesce(cache_read_tokens, 0) + coalesce(cache_creation_tokens, 0) > 0 OR coalesce(cost_usd, 0) > 0))) AND session_id IS NOT NULL
              GROUP BY user_id, session_id) e ON e.user_id = s.user_id AND e.session_id = s.session_id
  LEFT JOIN (SELECT user_id, session_id, sum(n) AS n FROM session_1h WHERE (kind = 'api_request' OR (kind = 'agent_interaction' AND (coalesce(input_tokens, 0) + coalesce(output_tokens, 0) + coalesce(cache_read_tokens, 0) + coalesce(cache_creation_tokens, 0) > 0 OR coalesce(cost_usd, 0) > 0)))
              GROUP BY user_id, session_id) h ON h.user_id = s.user_id AND h.session_id = s.session_id
  LEFT JOIN (SELECT user_id, session_id, sum(n) AS n FROM session_1d WHERE (kind = 'api_request' OR (kind = 'agent_interaction' AND (coalesce(input_tokens, 0) + coalesce(output_tokens, 0) + coalesce(cache_read_tokens, 0) + coalesce(cache_creation_tokens, 0) > 0 OR coalesce(cost_usd, 0) > 0)))
              GROUP BY user_id, session_id) d ON d.user_id = s.user_id AND d.session_id = s.session_id
 WHERE i.user_id = s.user_id AND i.session_id = s.session_id;
