-- Single sign-on: each tenant's identity providers, the identities they vouched for, the
-- tenant's sign-in settings, and sign-ins under way (between the redirect out and back).

CREATE TABLE sso_providers (
  id              VARCHAR PRIMARY KEY,
  tenant_id       VARCHAR NOT NULL,
  type            VARCHAR NOT NULL CHECK (type IN ('oidc', 'github', 'saml')),
  preset          VARCHAR NOT NULL,        -- google, entra, okta, oidc, github, saml
  name            VARCHAR NOT NULL,        -- shown on the button: "Sign in with <name>"
  config          VARCHAR NOT NULL,        -- JSON: issuer, client id, endpoints, SAML metadata
  secret          VARCHAR,                 -- the client secret, AES-256-GCM under the server secret
  allowed_domains VARCHAR NOT NULL,        -- comma-separated, lower-case; empty: any
  default_role    VARCHAR NOT NULL,
  role_map        VARCHAR NOT NULL,        -- JSON: group or attribute value -> role
  created_at      TIMESTAMP NOT NULL DEFAULT now()
);
CREATE INDEX sso_providers_tenant ON sso_providers (tenant_id);

-- Who a provider's subject is here: linked once, so a changed email still finds the person.
CREATE TABLE sso_identities (
  provider_id VARCHAR NOT NULL,
  subject     VARCHAR NOT NULL,
  user_id     VARCHAR NOT NULL,
  created_at  TIMESTAMP NOT NULL DEFAULT now(),
  PRIMARY KEY (provider_id, subject)
);

CREATE TABLE sso_tenant_settings (
  tenant_id   VARCHAR PRIMARY KEY,
  slug        VARCHAR UNIQUE,              -- /login/<slug> shows this tenant's buttons
  require_sso BOOLEAN NOT NULL DEFAULT false
);

-- A sign-in under way, keyed by a hash of the browser's flow cookie; used once.
CREATE TABLE sso_login_flows (
  id          VARCHAR PRIMARY KEY,
  provider_id VARCHAR NOT NULL,
  state       VARCHAR NOT NULL,
  nonce       VARCHAR NOT NULL,
  verifier    VARCHAR NOT NULL,
  next        VARCHAR NOT NULL,
  expires_at  TIMESTAMP NOT NULL
);
