-- Idempotency-Keys scoped to (principal, operation, key) and bound to a fingerprint of the request
-- (IETF draft "The Idempotency-Key HTTP Header Field"). 0010 kept the last key on each row: a
-- repeat with another body was answered as the first (and skipped the LTV), keys were global
-- across callers, and concurrent retries each read "not seen yet" (4 audit rows for one PUT).
-- Here the first request inserts its key in the statement that does the write; a concurrent twin
-- waits on the primary key until that commits and then applies nothing.
CREATE TABLE idempotency_keys (
  key         text        PRIMARY KEY,  -- scopedKey(principal, operation, Idempotency-Key): a digest
  fingerprint text        NOT NULL,     -- requestFingerprint(method, path, body): a digest
  user_id     text,                     -- the user the request wrote for (erased with the user)
  resource    text,                     -- the id of what the first request created, if anything
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE INDEX idempotency_keys_user ON idempotency_keys (user_id) WHERE user_id IS NOT NULL;
