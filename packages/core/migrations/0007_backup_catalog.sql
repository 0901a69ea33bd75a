-- Catalog of backup sets (S3 is the source of truth; this index serves GET /v1/backups in one query).
CREATE TABLE backup_sets (
  id          text        PRIMARY KEY,
  kind        text        NOT NULL CHECK (kind IN ('postgres', 'redis', 'archive')),
  prefix      text        NOT NULL,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz,
  complete    boolean     NOT NULL DEFAULT false,
  verified    boolean     NOT NULL DEFAULT false,
  bytes       bigint      NOT NULL DEFAULT 0,
  objects     integer     NOT NULL DEFAULT 0
);
CREATE INDEX backup_sets_started ON backup_sets (started_at DESC);

-- Archived (detached and dropped) interaction partitions, their objects, and which users each holds,
-- so a GDPR erasure rewrites only the objects that contain the user.
CREATE TABLE archived_partitions (
  partition   text        PRIMARY KEY,
  prefix      text        NOT NULL,
  rows        bigint      NOT NULL,
  bytes       bigint      NOT NULL,
  archived_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE archive_objects (
  key       text    PRIMARY KEY,
  partition text    NOT NULL REFERENCES archived_partitions (partition) ON DELETE CASCADE,
  rows      integer NOT NULL,
  bytes     bigint  NOT NULL,
  sha256    text    NOT NULL
);
CREATE TABLE archive_users (
  user_hash  text NOT NULL,
  object_key text NOT NULL REFERENCES archive_objects (key) ON DELETE CASCADE,
  PRIMARY KEY (user_hash, object_key)
);
