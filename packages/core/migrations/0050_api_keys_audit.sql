-- API keys managed at runtime (issue 29). Only the key's SHA-256 is stored (keys are 256 random
-- bits: a fast hash suffices). A key's name is its principal: the reviewer id in review actions,
-- the principal in the audit. One live key per name (live: not revoked and not replaced); rotation
-- marks the old key replaced (it stays valid until its grace expiry) before inserting the new one.
CREATE TABLE api_keys (
  id text PRIMARY KEY,
  name text NOT NULL,
  key_sha256 bytea NOT NULL UNIQUE CHECK (octet_length(key_sha256) = 32),
  scopes text[] NOT NULL CHECK (cardinality(scopes) > 0),
  rate_limit_requests integer CHECK (rate_limit_requests > 0),
  rate_limit_window_seconds integer CHECK (rate_limit_window_seconds > 0),
  expires_at timestamptz,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Coarse: written at most once a minute per key, by an instance's periodic key refresh.
  last_used_at timestamptz,
  revoked_at timestamptz,
  revoked_by text,
  rotated_from text,
  replaced_by text,
  CHECK ((rate_limit_requests IS NULL) = (rate_limit_window_seconds IS NULL))
);
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL AND replaced_by IS NULL;

-- Who did what: mutating requests (kind 'request'), key events ('key': create, rotate, revoke) and
-- authentication failures ('auth_failure': one row per reason per instance per key refresh, with a
-- count, whatever the number of failures). Never bodies, user text or keys: user ids in a resource
-- id are keyed hashes. Rows older than 90 days are pruned by the daily archive job.
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  kind text NOT NULL CHECK (kind IN ('request', 'key', 'auth_failure')),
  principal text,
  key_id text,
  method text,
  route text,
  resource_id text,
  status smallint,
  request_id text,
  event text,
  count integer
);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_principal ON audit_log (principal, at, id);
CREATE INDEX audit_log_route ON audit_log (route, at, id);
