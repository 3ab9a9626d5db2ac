-- The weekly digest (src/alerts/digest.ts): the tenant's choice, each person's choice, and
-- one row per recipient and week, written before the send so a restart never sends twice.
CREATE TABLE digest_settings (
  id       INTEGER PRIMARY KEY,                -- always 1: one setting per tenant
  enabled  BOOLEAN NOT NULL,
  channel  VARCHAR NOT NULL,                   -- 'email' or 'slack'
  target   VARCHAR NOT NULL                    -- addresses (comma-separated) or the Slack URL
);
CREATE TABLE digest_people (
  user_id  VARCHAR PRIMARY KEY,
  email    VARCHAR NOT NULL
);
CREATE TABLE digest_sent (
  recipient VARCHAR NOT NULL,                  -- 'tenant' or a user id
  week      VARCHAR NOT NULL,                  -- the Monday the digest covers the week before, YYYY-MM-DD
  sent_at   TIMESTAMP NOT NULL,
  PRIMARY KEY (recipient, week)
);
