-- Two-factor sign-in (TOTP) for password logins.

-- One authenticator per person. The secret is sealed (AES-256-GCM under a key derived from
-- the server's secret); `enabled_at` is NULL until the person has confirmed it with a code.
-- `last_step` is the 30-second step of the last code accepted, so no code counts twice.
CREATE TABLE mfa_totp (
  user_id    VARCHAR PRIMARY KEY,
  secret     VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL,
  enabled_at TIMESTAMP,
  last_step  BIGINT
);

-- Single-use recovery codes: only a SHA-256 of each (80 random bits) is kept.
CREATE TABLE mfa_recovery_codes (
  user_id   VARCHAR NOT NULL,
  code_hash VARCHAR NOT NULL,
  used_at   TIMESTAMP,
  PRIMARY KEY (user_id, code_hash)
);

-- A password that was right, waiting for its second factor: the browser holds the token,
-- only its SHA-256 is kept here. No session exists until the second step is done.
CREATE TABLE mfa_pending_logins (
  token_hash VARCHAR PRIMARY KEY,
  user_id    VARCHAR NOT NULL,
  expires_at TIMESTAMP NOT NULL
);

-- Who in a tenant must use two-factor: 'none', 'managers' (managers and every role above)
-- or 'everyone'. No row: nobody is required to.
CREATE TABLE mfa_policies (
  tenant_id    VARCHAR PRIMARY KEY,
  required_for VARCHAR NOT NULL CHECK (required_for IN ('none', 'managers', 'everyone'))
);
