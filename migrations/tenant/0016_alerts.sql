-- Alerts (src/alerts/): rules, each alert's current state (one per rule and group value),
-- the history of notifications, and silences. State and history move in one transaction,
-- so a restart neither loses a firing state nor sends its notification twice.
CREATE TABLE alert_rules (
  id          VARCHAR PRIMARY KEY,
  created_by  VARCHAR NOT NULL,   -- the person who made it (a developer's rule is about their own data)
  own_user    VARCHAR,            -- set: the rule's queries are narrowed to this user
  body        JSON NOT NULL,      -- the rule as validated (src/alerts/rules.ts)
  created_at  TIMESTAMP NOT NULL,
  updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE alert_states (
  rule_id     VARCHAR NOT NULL,
  group_key   VARCHAR NOT NULL,   -- the group value as JSON, '' when the rule is not grouped
  state       VARCHAR NOT NULL,   -- ok, pending, firing, no_data
  since       TIMESTAMP NOT NULL, -- when this state began
  value       DOUBLE,
  last_sent   TIMESTAMP           -- the last firing notification handed over in this state
);

CREATE TABLE alert_history (
  id          VARCHAR NOT NULL,   -- the notification's id (deterministic: rule, group, state change time)
  rule_id     VARCHAR NOT NULL,
  group_key   VARCHAR NOT NULL,
  state       VARCHAR NOT NULL,   -- firing, resolved, no_data
  sent_at     TIMESTAMP NOT NULL,
  value       DOUBLE,
  silenced    BOOLEAN NOT NULL,   -- recorded, not sent
  handed_over BOOLEAN NOT NULL,   -- given to delivery (its outbox sends each id once)
  notification JSON NOT NULL
);

CREATE TABLE alert_silences (
  id          VARCHAR NOT NULL,
  rule_id     VARCHAR NOT NULL,
  group_key   VARCHAR,            -- null: every group of the rule
  until       TIMESTAMP NOT NULL,
  reason      VARCHAR NOT NULL,
  created_by  VARCHAR NOT NULL,
  created_at  TIMESTAMP NOT NULL
);
