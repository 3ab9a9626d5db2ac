-- Each finished session's productivity score, fixed once the worker computes it: what it
-- was measured on (hours, actions: tool calls and commands, lines and where they came
-- from, success rate, distinct agents), the baseline it was measured against (its user's previous finished
-- sessions then: commands and lines per hour, and how many sessions), each factor and the
-- score. A late event of the session clears the score (NULL), which the worker computes
-- again from the session's new figures against the same baseline; later sessions keep
-- theirs. See src/query/scores.ts.
CREATE TABLE session_scores (
  user_id VARCHAR NOT NULL,
  session_id VARCHAR NOT NULL,
  started_at TIMESTAMP NOT NULL,
  hours DOUBLE NOT NULL,
  actions DOUBLE NOT NULL,
  lines DOUBLE NOT NULL,
  lines_source VARCHAR,
  success_rate DOUBLE NOT NULL,
  agents DOUBLE NOT NULL,
  baseline_commands_per_hour DOUBLE NOT NULL,
  baseline_lines_per_hour DOUBLE NOT NULL,
  baseline_sessions INTEGER NOT NULL,
  score DOUBLE,
  trend VARCHAR,
  velocity DOUBLE,
  code_output DOUBLE,
  success DOUBLE,
  focus DOUBLE,
  agent_efficiency DOUBLE,
  scored_at TIMESTAMP,
  PRIMARY KEY (user_id, session_id)
);

-- Lines changed by edit tool calls (hooks), stored with the other figures: emptied, the
-- worker stores every quiet session's figures again.
ALTER TABLE session_figures ADD COLUMN edit_lines_added DOUBLE;
ALTER TABLE session_figures ADD COLUMN edit_lines_removed DOUBLE;
DELETE FROM session_figures;
