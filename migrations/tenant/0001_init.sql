-- Every tenant file records whose it is, so a file opened under the wrong id is refused.
CREATE TABLE tenant_meta (
  key   VARCHAR PRIMARY KEY,
  value VARCHAR NOT NULL
);
