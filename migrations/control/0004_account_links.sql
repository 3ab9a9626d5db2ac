-- Single-use links sent to people: an invitation to join a tenant (kind 'invite': email and
-- role, no user yet) and an admin-made password reset (kind 'reset': user_id). Only a SHA-256
-- of the link's token is kept. A link works once, before expires_at, unless revoked.
CREATE TABLE account_links (
  id          VARCHAR PRIMARY KEY,
  kind        VARCHAR NOT NULL CHECK (kind IN ('invite', 'reset')),
  token_hash  VARCHAR NOT NULL UNIQUE,
  tenant_id   VARCHAR NOT NULL,
  email       VARCHAR NOT NULL,            -- lower-case; the invitee's, or the reset user's
  role        VARCHAR,                     -- invites only
  user_id     VARCHAR,                     -- resets only
  created_by  VARCHAR,                     -- the admin's user id; NULL when made by the CLI
  created_at  TIMESTAMP NOT NULL,
  expires_at  TIMESTAMP NOT NULL,
  used_at     TIMESTAMP,
  revoked_at  TIMESTAMP
);
CREATE INDEX account_links_tenant ON account_links (tenant_id, kind);
