-- Scheduled jobs are single-flight: a run holds its job's lease (packages/core/src/backup/lease.ts).
-- A duplicate delivery finds it held and exits; a run that died lets it expire.
CREATE TABLE job_leases (
  job         text        PRIMARY KEY,
  holder      text        NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);

-- The GDPR rewrite of archived objects is the Archive job's (the API may not write archives/):
-- an erasure is recorded here, in its own transaction, and the job rewrites every archived object
-- that holds the user, then sets this. Erasures before this migration were rewritten by the API
-- at the time, unless an archived object still lists their user.
ALTER TABLE erasures ADD COLUMN archives_erased_at timestamptz;
UPDATE erasures e SET archives_erased_at = now()
  WHERE NOT EXISTS (SELECT 1 FROM archive_users u WHERE u.user_hash = e.user_hash);
CREATE INDEX erasures_archives_pending ON erasures (id) WHERE archives_erased_at IS NULL;

-- The archive job's commit of a partition, first in the transaction that records the archive and
-- drops the partition: with interactions and the partition locked (no erasure can delete from it
-- until the commit), the partition must still hold exactly the rows exported, and no user in the
-- export may have been erased since the export's snapshot (erasures.id > last_erasure). Otherwise
-- the transaction fails with hitl_archive_changed and the job exports the partition again.
-- An erasure that commits after this commit finds the user in archive_users and is rewritten by
-- the job's erasure pass (archives_erased_at is only set while no archived object lists the user).
CREATE FUNCTION hitl_archive_guard(part regclass, expected bigint, last_erasure bigint, users text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('LOCK TABLE interactions, %s IN ACCESS EXCLUSIVE MODE', part);
  EXECUTE format('SELECT count(*) FROM ONLY %s', part) INTO n;
  IF n <> expected THEN
    RAISE EXCEPTION 'hitl_archive_changed: % holds % rows, % were exported', part, n, expected;
  END IF;
  IF EXISTS (SELECT 1 FROM erasures WHERE id > last_erasure AND user_hash = ANY (users)) THEN
    RAISE EXCEPTION 'hitl_archive_changed: a user exported from % was erased during the export', part;
  END IF;
END $$;
