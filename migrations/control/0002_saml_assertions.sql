-- SAML: the assertions already used (refused when seen again until they expire), and the
-- AuthnRequests sent and not yet answered (a response must answer one of them).

CREATE TABLE saml_assertions (
  provider_id  VARCHAR NOT NULL,
  assertion_id VARCHAR NOT NULL,
  expires_at   TIMESTAMP NOT NULL,             -- the assertion's NotOnOrAfter plus the clock skew
  PRIMARY KEY (provider_id, assertion_id)
);
CREATE INDEX saml_assertions_expires ON saml_assertions (expires_at);

CREATE TABLE saml_requests (
  id          VARCHAR PRIMARY KEY,             -- the AuthnRequest's ID, echoed as InResponseTo
  provider_id VARCHAR NOT NULL,
  relay_state VARCHAR,                         -- where to go after sign-in (a path on this site)
  expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX saml_requests_expires ON saml_requests (expires_at);
