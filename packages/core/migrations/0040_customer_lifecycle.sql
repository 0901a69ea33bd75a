-- Customer lifecycle (REFERENCE.md 1.2: customer_status_transitions and update_customer_status):
-- every change of a user's customer status, automated (a CTA response) or manual (PUT status), is
-- one row, written in the same transaction as the change.
CREATE TABLE customer_status_transitions (
  id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id         text        NOT NULL,
  interaction_id  uuid,
  previous_status varchar(20) NOT NULL
                  CHECK (previous_status IN ('PROSPECT','LEAD_QUALIFIED','CUSTOMER','CHURNED','LEAD_EXHAUSTED')),
  new_status      varchar(20) NOT NULL
                  CHECK (new_status IN ('PROSPECT','LEAD_QUALIFIED','CUSTOMER','CHURNED','LEAD_EXHAUSTED')),
  reason          text,
  automated       boolean     NOT NULL,
  actor           text        NOT NULL,
  ltv_added_usd   numeric     NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_status_transitions_user ON customer_status_transitions (user_id, created_at DESC, id DESC);
CREATE INDEX customer_status_transitions_created ON customer_status_transitions (created_at DESC);
CREATE INDEX customer_status_transitions_interaction ON customer_status_transitions (interaction_id) WHERE interaction_id IS NOT NULL;

-- The reference's rules, in order (the first that applies wins; otherwise the status is kept):
--   converted -> CUSTOMER; POLITE_DECLINE with <= 3 CTAs -> LEAD_QUALIFIED;
--   RUDE_DECLINE or > 5 CTAs -> LEAD_EXHAUSTED; INTERESTED -> LEAD_QUALIFIED.
-- `ctas` is the number of CTAs sent to the user (approved replies carrying cta_data).
CREATE FUNCTION hitl_next_customer_status(current_status text, response text, converted boolean, ctas integer)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN converted OR response = 'CONVERTED' THEN 'CUSTOMER'
    WHEN response = 'POLITE_DECLINE' AND ctas <= 3 THEN 'LEAD_QUALIFIED'
    WHEN response = 'RUDE_DECLINE' OR ctas > 5 THEN 'LEAD_EXHAUSTED'
    WHEN response = 'INTERESTED' THEN 'LEAD_QUALIFIED'
    ELSE current_status
  END
$$;

-- CTAs sent per user: the count the rules read, served by an index instead of a scan.
CREATE INDEX interactions_user_cta ON interactions (user_id) WHERE cta_data IS NOT NULL AND review_status = 'approved';
