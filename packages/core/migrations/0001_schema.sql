-- Base schema of the HITL data layer (columns after REFERENCE.md section 1, its defects fixed).
-- Money columns are NUMERIC wide enough for real costs; ids are UUIDs from gen_random_uuid().

CREATE FUNCTION hitl_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END $$;

-- Interactions: range-partitioned by month on created_at so archival detaches whole months.
CREATE TABLE interactions (
  id                          uuid        NOT NULL DEFAULT gen_random_uuid(),
  message_id                  text,
  user_id                     text        NOT NULL,
  chat_id                     bigint,
  conversation_id             text        NOT NULL,
  message_number              integer     NOT NULL DEFAULT 1,
  user_message                text        NOT NULL,
  user_message_timestamp      timestamptz NOT NULL,
  llm1_raw_response           text,
  llm1_model                  varchar(100),
  llm2_model                  varchar(100),
  llm1_tokens_used            integer,
  llm2_tokens_used            integer,
  llm1_cost_usd               numeric(12,6),
  llm2_cost_usd               numeric(12,6),
  total_cost_usd              numeric(12,6) GENERATED ALWAYS AS (coalesce(llm1_cost_usd, 0) + coalesce(llm2_cost_usd, 0)) STORED,
  llm2_bubbles                text[]      NOT NULL DEFAULT '{}',
  constitution_risk_score     double precision CHECK (constitution_risk_score BETWEEN 0 AND 1),
  constitution_flags          text[]      NOT NULL DEFAULT '{}',
  constitution_recommendation text        CHECK (constitution_recommendation IN ('approve','review','flag')),
  priority_score              double precision NOT NULL DEFAULT 0.5,
  review_status               text        NOT NULL DEFAULT 'pending'
                              CHECK (review_status IN ('pending','reviewing','approved','rejected')),
  reviewer_id                 text,
  review_started_at           timestamptz,
  review_lease_expires_at     timestamptz,
  review_completed_at         timestamptz,
  review_time_seconds         integer,
  final_bubbles               text[],
  edit_tags                   text[]      NOT NULL DEFAULT '{}',
  quality_score               integer     CHECK (quality_score BETWEEN 1 AND 5),
  reviewer_notes              text,
  outbox_lease_token          uuid,
  outbox_lease_expires_at     timestamptz,
  messages_sent_at            timestamptz,
  cta_data                    jsonb,
  customer_status             varchar(20) NOT NULL DEFAULT 'PROSPECT'
                              CHECK (customer_status IN ('PROSPECT','LEAD_QUALIFIED','CUSTOMER','CHURNED','LEAD_EXHAUSTED')),
  cta_sent_count              integer     NOT NULL DEFAULT 0,
  cta_response_type           varchar(20) CHECK (cta_response_type IN ('IGNORED','POLITE_DECLINE','INTERESTED','CONVERTED','RUDE_DECLINE')),
  last_cta_sent_at            timestamptz,
  conversion_date             timestamptz,
  ltv_usd                     numeric(10,2) NOT NULL DEFAULT 0,
  telegram_message_id         bigint,
  telegram_date               timestamptz,
  is_recovered_message        boolean     NOT NULL DEFAULT false,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

CREATE TRIGGER interactions_touch BEFORE UPDATE ON interactions
  FOR EACH ROW EXECUTE FUNCTION hitl_touch_updated_at();

-- A unique index on a partitioned table must contain the partition key, so idempotency on the
-- WAL message id lives in this small unpartitioned table, written in the same statement.
CREATE TABLE interaction_keys (
  message_id     text        PRIMARY KEY,
  interaction_id uuid        NOT NULL,
  user_id        text        NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX interaction_keys_user ON interaction_keys (user_id);

-- Creates the monthly partitions covering [from_month, from_month + months). Idempotent.
CREATE FUNCTION hitl_ensure_interaction_partitions(from_month date, months integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  m date := date_trunc('month', from_month)::date;
  created integer := 0;
  part text;
BEGIN
  FOR i IN 0 .. months - 1 LOOP
    part := format('interactions_%s', to_char(m, 'YYYY_MM'));
    IF to_regclass(part) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF interactions FOR VALUES FROM (%L) TO (%L)',
                     part, m::timestamp AT TIME ZONE 'UTC', (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
      created := created + 1;
    END IF;
    m := (m + interval '1 month')::date;
  END LOOP;
  RETURN created;
END $$;

-- Indexes serving API.md's queries (each predicate is immutable).
CREATE INDEX interactions_pending_queue ON interactions (priority_score DESC, created_at ASC) WHERE review_status = 'pending';
CREATE INDEX interactions_reviewing_lease ON interactions (review_lease_expires_at) WHERE review_status = 'reviewing';
CREATE INDEX interactions_outbox ON interactions (review_completed_at) WHERE review_status = 'approved' AND messages_sent_at IS NULL;
CREATE INDEX interactions_user_created ON interactions (user_id, created_at DESC);
CREATE INDEX interactions_completed ON interactions (review_completed_at DESC) WHERE review_completed_at IS NOT NULL;
CREATE INDEX interactions_created ON interactions (created_at DESC);
CREATE INDEX interactions_telegram_id ON interactions (user_id, telegram_message_id) WHERE telegram_message_id IS NOT NULL;
CREATE INDEX interactions_recovered ON interactions (user_id, telegram_date DESC) WHERE is_recovered_message;
CREATE INDEX interactions_edit_tags ON interactions USING gin (edit_tags);
CREATE INDEX interactions_cta_data ON interactions USING gin (cta_data) WHERE cta_data IS NOT NULL;
CREATE INDEX interactions_models ON interactions (llm1_model, llm2_model);

CREATE TABLE user_current_status (
  user_id         text        PRIMARY KEY,
  customer_status varchar(20) NOT NULL DEFAULT 'PROSPECT'
                  CHECK (customer_status IN ('PROSPECT','LEAD_QUALIFIED','CUSTOMER','CHURNED','LEAD_EXHAUSTED')),
  ltv_usd         numeric(10,2) NOT NULL DEFAULT 0 CHECK (ltv_usd >= 0),
  nickname        varchar(50),
  reason          varchar(200),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_current_status_updated ON user_current_status (updated_at DESC);
CREATE TRIGGER user_current_status_touch BEFORE UPDATE ON user_current_status
  FOR EACH ROW EXECUTE FUNCTION hitl_touch_updated_at();

CREATE TABLE user_protocol_status (
  user_id              text        PRIMARY KEY,
  status               varchar(20) NOT NULL DEFAULT 'INACTIVE' CHECK (status IN ('ACTIVE','INACTIVE')),
  activated_by         text,
  activated_at         timestamptz,
  reason               text,
  messages_quarantined integer     NOT NULL DEFAULT 0,
  cost_saved_usd       numeric(12,6) NOT NULL DEFAULT 0,
  last_message_at      timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_protocol_status_active ON user_protocol_status (user_id) WHERE status = 'ACTIVE';
CREATE INDEX user_protocol_status_updated ON user_protocol_status (updated_at DESC);
CREATE TRIGGER user_protocol_status_touch BEFORE UPDATE ON user_protocol_status
  FOR EACH ROW EXECUTE FUNCTION hitl_touch_updated_at();

CREATE TABLE protocol_audit_log (
  id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id         text        NOT NULL,
  action          varchar(20) NOT NULL CHECK (action IN ('ACTIVATED','DEACTIVATED','ONE_TIME_PASS')),
  performed_by    text        NOT NULL,
  reason          text,
  previous_status varchar(20),
  new_status      varchar(20),
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX protocol_audit_user_created ON protocol_audit_log (user_id, created_at DESC, id DESC);
CREATE INDEX protocol_audit_created ON protocol_audit_log (created_at DESC, id DESC);

CREATE TABLE quarantine_messages (
  id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id          text        NOT NULL UNIQUE,
  user_id             text        NOT NULL,
  message_text        text        NOT NULL,
  chat_id             bigint,
  telegram_message_id bigint,
  telegram_date       timestamptz,
  received_at         timestamptz NOT NULL DEFAULT now(),
  expires_at          timestamptz NOT NULL DEFAULT now() + interval '7 days',
  processed           boolean     NOT NULL DEFAULT false,
  processed_at        timestamptz,
  processed_by        text,
  created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_user_received ON quarantine_messages (user_id, received_at DESC);
CREATE INDEX quarantine_received ON quarantine_messages (received_at DESC, id DESC);
CREATE INDEX quarantine_expires ON quarantine_messages (expires_at) WHERE NOT processed;

CREATE TABLE message_processing_cursors (
  user_id                      text        PRIMARY KEY,
  last_processed_telegram_id   bigint      NOT NULL,
  last_processed_telegram_date timestamptz NOT NULL,
  last_recovery_check          timestamptz NOT NULL DEFAULT now(),
  total_recovered_messages     integer     NOT NULL DEFAULT 0,
  created_at                   timestamptz NOT NULL DEFAULT now(),
  updated_at                   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cursors_last_check ON message_processing_cursors (last_recovery_check ASC);
CREATE TRIGGER cursors_touch BEFORE UPDATE ON message_processing_cursors
  FOR EACH ROW EXECUTE FUNCTION hitl_touch_updated_at();

CREATE TABLE recovery_operations (
  id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  operation_type     text        NOT NULL CHECK (operation_type IN ('startup','periodic','manual')),
  started_at         timestamptz NOT NULL DEFAULT now(),
  completed_at       timestamptz,
  users_checked      integer     NOT NULL DEFAULT 0,
  messages_recovered integer     NOT NULL DEFAULT 0,
  messages_skipped   integer     NOT NULL DEFAULT 0,
  errors_encountered integer     NOT NULL DEFAULT 0,
  status             text        NOT NULL DEFAULT 'running' CHECK (status IN ('running','completed','failed')),
  error_details      jsonb,
  metadata           jsonb
);
CREATE INDEX recovery_ops_status ON recovery_operations (status, started_at DESC);
CREATE INDEX recovery_ops_type ON recovery_operations (operation_type, started_at DESC);
CREATE INDEX recovery_ops_started ON recovery_operations (started_at DESC, id);

CREATE TABLE edit_taxonomy (
  code        text        PRIMARY KEY,
  category    text        NOT NULL,
  description text        NOT NULL,
  examples    jsonb,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Durable copy of the memory context behind the Redis cache.
CREATE TABLE user_memory (
  user_id           text        PRIMARY KEY,
  context           jsonb       NOT NULL DEFAULT '{}',
  context_bytes     integer     NOT NULL DEFAULT 0,
  compression_level smallint    NOT NULL DEFAULT 0 CHECK (compression_level BETWEEN 0 AND 3),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER user_memory_touch BEFORE UPDATE ON user_memory
  FOR EACH ROW EXECUTE FUNCTION hitl_touch_updated_at();

-- Durable conversation history (Redis holds the last 50 as a cache).
CREATE TABLE memory_messages (
  id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id    text        NOT NULL,
  role       text        NOT NULL CHECK (role IN ('user','assistant')),
  content    text        NOT NULL,
  bubbles    text[],
  sent_at    timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX memory_messages_user ON memory_messages (user_id, id DESC);

-- GDPR erasure log: re-applied after every restore so erased users never come back.
CREATE TABLE erasures (
  id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id      text        NOT NULL,
  requested_by text        NOT NULL,
  erased_at    timestamptz NOT NULL DEFAULT now(),
  counts       jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX erasures_user ON erasures (user_id);

-- Monthly partitions from the project's first month to a year ahead; the daily job keeps extending.
SELECT hitl_ensure_interaction_partitions(date '2025-06-01',
  (extract(year FROM age(date_trunc('month', now()), date '2025-06-01')) * 12
   + extract(month FROM age(date_trunc('month', now()), date '2025-06-01')))::integer + 13);
