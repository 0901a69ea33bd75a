-- Coherence (REFERENCE.md 1.2, add_coherence_system): what the assistant committed to, the
-- coherence analyses of its drafts, and persona prompt rotations. Interactions are partitioned
-- (their key includes created_at), so interaction ids here are checked on insert, not by a FK.

CREATE TABLE commitments (
  id                         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                    text        NOT NULL,
  commitment_timestamp       timestamptz NOT NULL,
  details                    jsonb       NOT NULL DEFAULT '{}',
  commitment_text            text        NOT NULL,
  extracted_from_interaction uuid,
  status                     varchar(20) NOT NULL DEFAULT 'active'
                             CHECK (status IN ('active','fulfilled','expired','cancelled')),
  request_key                text,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX commitments_active_due ON commitments (commitment_timestamp, id) WHERE status = 'active';
CREATE INDEX commitments_user_due ON commitments (user_id, commitment_timestamp, id);
CREATE UNIQUE INDEX commitments_request_key ON commitments (user_id, request_key) WHERE request_key IS NOT NULL;
CREATE TRIGGER commitments_touch BEFORE UPDATE ON commitments
  FOR EACH ROW EXECUTE FUNCTION hitl_touch_updated_at();

CREATE TABLE coherence_analyses (
  id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  interaction_id     uuid        NOT NULL,
  user_id            text        NOT NULL,
  llm2_input         jsonb,
  llm2_output        jsonb,
  analysis_status    varchar(40) NOT NULL
                     CHECK (analysis_status IN ('OK','CONFLICTO_DE_IDENTIDAD','CONFLICTO_DE_DISPONIBILIDAD')),
  conflict_details   jsonb,
  correction_applied boolean     NOT NULL DEFAULT false,
  processing_time_ms integer     CHECK (processing_time_ms >= 0),
  json_parse_success boolean     NOT NULL DEFAULT true,
  llm_model_used     varchar(100) NOT NULL DEFAULT 'gpt-4o-mini',
  request_key        text,
  created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coherence_analyses_interaction ON coherence_analyses (interaction_id, created_at, id);
CREATE INDEX coherence_analyses_user ON coherence_analyses (user_id);
CREATE UNIQUE INDEX coherence_analyses_request_key ON coherence_analyses (interaction_id, request_key) WHERE request_key IS NOT NULL;

CREATE TABLE prompt_rotations (
  id                       uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                  text        NOT NULL,
  previous_prompt_id       varchar(100),
  new_prompt_id            varchar(100) NOT NULL,
  rotation_reason          varchar(100) NOT NULL DEFAULT 'CONFLICTO_DE_IDENTIDAD',
  triggered_by_interaction uuid,
  request_key              text,
  created_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prompt_rotations_user ON prompt_rotations (user_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX prompt_rotations_request_key ON prompt_rotations (user_id, request_key) WHERE request_key IS NOT NULL;

-- Memory resets (DELETE /v1/users/{id}/memory): who reset whose memory, when, and how much went.
CREATE TABLE memory_resets (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id          text        NOT NULL,
  performed_by     text        NOT NULL,
  context_bytes    integer     NOT NULL DEFAULT 0,
  history_messages integer     NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX memory_resets_user ON memory_resets (user_id, created_at DESC);
-- The daily sweep flags contexts it could not bring under the limit.
ALTER TABLE user_memory ADD COLUMN oversized_at timestamptz;
