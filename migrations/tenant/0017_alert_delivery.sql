-- Alert delivery (src/alerts/deliver.ts): the outbox, one row per (notification, channel),
-- written before the rule engine goes on, so a restart neither loses nor repeats a send.
CREATE TABLE alert_outbox (
  notification_id VARCHAR NOT NULL,
  channel         VARCHAR NOT NULL,            -- 'webhook <url>', 'slack <url>', 'email <to,…>'
  target          VARCHAR NOT NULL,            -- what fails and is disabled: 'webhook <url>', 'slack <url>', 'email'
  notification    VARCHAR NOT NULL,            -- the Notification, as JSON
  status          VARCHAR NOT NULL,            -- 'pending', 'sent', 'failed'
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_at         TIMESTAMP NOT NULL,          -- when a pending row is due
  last_error      VARCHAR,
  created_at      TIMESTAMP NOT NULL,
  sent_at         TIMESTAMP,
  PRIMARY KEY (notification_id, channel)
);

-- Each target's health: the channels' status, and whether it was disabled after failing.
CREATE TABLE alert_targets (
  target           VARCHAR PRIMARY KEY,
  last_success_at  TIMESTAMP,
  last_error       VARCHAR,
  last_error_at    TIMESTAMP,
  failures_in_row  INTEGER NOT NULL DEFAULT 0,
  disabled_at      TIMESTAMP
);

-- The tenant's webhook signing secret and SMTP settings; secrets sealed under the server's key.
CREATE TABLE alert_settings (
  key        VARCHAR PRIMARY KEY,                -- 'webhook_secret', 'smtp'
  value      VARCHAR NOT NULL,
  updated_at TIMESTAMP NOT NULL
);
