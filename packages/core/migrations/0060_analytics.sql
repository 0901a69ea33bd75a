-- Analytics (issue 27): text search over interactions, and the rollups reports read.

-- Accent- and case-insensitive search: both extensions exist on Neon and in the local Postgres.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;

-- unaccent() is STABLE (its dictionary could change); with the dictionary named it is immutable
-- in practice, which is what an index expression needs. Schema-qualified: an index is evaluated
-- under any search_path (a restore runs with an empty one).
CREATE FUNCTION hitl_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, t)) $$;

-- The searched text of an interaction: the user message, the LLM draft and the final bubbles,
-- each up to its API limit's worth of characters (message 4,000; draft 4,000 of its up to 80,000;
-- final 5,000): an insert's trigram work stays bounded whatever the draft's size.
CREATE FUNCTION hitl_search_text(user_message text, draft text[], final text[]) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT public.hitl_fold(left(coalesce(user_message, ''), 4000) || E'\n' || left(array_to_string(coalesce(draft, '{}'), E'\n'), 4000)
  || E'\n' || left(array_to_string(coalesce(final, '{}'), E'\n'), 5000)) $$;

CREATE INDEX interactions_search ON interactions USING gin (hitl_search_text(user_message, llm2_bubbles, final_bubbles) gin_trgm_ops);

-- The rollup job finds the days whose rows changed since its last run.
CREATE INDEX interactions_updated ON interactions (updated_at);

-- One row per UTC hour (of created_at), dimension and key. Kinds: all (key ''), model (key: JSON
-- [llm1, llm2]), quality ('1'..'5'), cta (cta_data type), response (cta_response_type), status
-- (customer status), reviewer (reviewed items), review_time (histogram bin), tag (edit tag).
-- Hourly in UTC so a report can cut days in any whole-hour time zone. Archival never touches it.
CREATE TABLE analytics_hourly (
  hour            timestamptz NOT NULL,
  kind            text        NOT NULL,
  key             text        NOT NULL,
  interactions    integer     NOT NULL,
  approved        integer     NOT NULL,
  rejected        integer     NOT NULL,
  edited          integer     NOT NULL,
  review_time_sum bigint      NOT NULL,
  review_time_n   integer     NOT NULL,
  quality_sum     bigint      NOT NULL,
  quality_n       integer     NOT NULL,
  cost_usd        numeric(16,6) NOT NULL,
  llm1_cost_usd   numeric(16,6) NOT NULL,
  llm2_cost_usd   numeric(16,6) NOT NULL,
  PRIMARY KEY (kind, hour, key)
);

-- Per user and UTC day (user ids are many: an hourly grain would be as large as the raw table).
-- Holds a user id: erasure deletes its rows (gdpr/tables.ts).
CREATE TABLE analytics_user_daily (
  day             date        NOT NULL,
  user_id         text        NOT NULL,
  interactions    integer     NOT NULL,
  approved        integer     NOT NULL,
  rejected        integer     NOT NULL,
  edited          integer     NOT NULL,
  quality_sum     bigint      NOT NULL,
  quality_n       integer     NOT NULL,
  cost_usd        numeric(16,6) NOT NULL,
  last_at         timestamptz NOT NULL,
  PRIMARY KEY (day, user_id)
);
CREATE INDEX analytics_user_daily_user ON analytics_user_daily (user_id, day);

-- The rollup job's progress: rows updated since `watermark` (less a margin) are rolled up again.
CREATE TABLE analytics_rollup_state (
  id           boolean     PRIMARY KEY DEFAULT true CHECK (id),
  watermark    timestamptz NOT NULL,
  refreshed_at timestamptz NOT NULL
);
INSERT INTO analytics_rollup_state (watermark, refreshed_at) VALUES ('-infinity', '-infinity');

-- Test-data cleanups (preview then delete), audited. A repeat of a delete (same token) answers
-- what the first one recorded.
CREATE TABLE analytics_cleanup_audit (
  id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_hash   text        NOT NULL UNIQUE,
  performed_by text        NOT NULL,
  criteria     jsonb       NOT NULL,
  deleted      jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
