-- Exports as jobs (issue 28): one row per requested export, the job's lease and progress on it.
-- The object lives at exports/<id>/<file> (a deterministic key: a retried or restarted run writes
-- the same object, never a second one); the bucket expires exports/ after 7 days.
CREATE TABLE exports (
  id               uuid        PRIMARY KEY,
  dataset          text        NOT NULL,
  format           text        NOT NULL,
  filters          jsonb       NOT NULL DEFAULT '{}',
  state            text        NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed', 'erased')),
  rows_done        bigint      NOT NULL DEFAULT 0,
  rows_total       bigint,
  object_key       text        NOT NULL,
  bytes            bigint,
  error            text,
  created_by       text        NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz,
  -- The run holding the export (runExport): another run finds it held until it expires.
  lease_holder     text,
  lease_expires_at timestamptz,
  attempts         int         NOT NULL DEFAULT 0,
  -- The newest erasure the running attempt has seen: any later one of a user it wrote is checked at its end.
  erasure_seen     bigint
);
CREATE INDEX exports_created ON exports (created_at DESC, id DESC);

-- Which users (keyed hash, as the erasure log) each export holds: an erasure finds the exports to erase.
CREATE TABLE export_users (
  export_id uuid NOT NULL REFERENCES exports (id) ON DELETE CASCADE,
  user_hash text NOT NULL,
  PRIMARY KEY (user_hash, export_id)
);
CREATE INDEX export_users_export ON export_users (export_id);
