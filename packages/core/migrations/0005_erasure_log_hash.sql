-- The erasure log must not itself keep the erased user id: it keeps the sha-256 of it, which is
-- enough to re-apply the erasure to a restored backup (hash each restored user id and compare).
ALTER TABLE erasures DROP COLUMN user_id;
ALTER TABLE erasures ADD COLUMN user_hash text NOT NULL;
CREATE INDEX erasures_user_hash ON erasures (user_hash);
