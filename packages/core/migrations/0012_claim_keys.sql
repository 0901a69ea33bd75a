-- Review and outbox claims are retry-safe: a claim repeated with the same Idempotency-Key answers
-- the items the first one leased (a lost answer no longer strands them for a whole lease).
ALTER TABLE interactions ADD COLUMN review_claim_key text, ADD COLUMN outbox_claim_key text;
CREATE INDEX interactions_review_claim_key ON interactions (review_claim_key) WHERE review_claim_key IS NOT NULL;
CREATE INDEX interactions_outbox_claim_key ON interactions (outbox_claim_key) WHERE outbox_claim_key IS NOT NULL;
