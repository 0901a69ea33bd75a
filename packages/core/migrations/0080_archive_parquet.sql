-- Archives as Parquet (issue 28): the catalog says each archived month's format, and the one-off
-- conversion of NDJSON archives commits only if the objects it read are still the ones listed.

ALTER TABLE archived_partitions ADD COLUMN format text NOT NULL DEFAULT 'ndjson' CHECK (format IN ('ndjson', 'parquet'));

-- First in the transaction that swaps a converted month's objects: with its objects locked, the
-- month must still list exactly `keys` with checksums `shas` (an erasure rewrite in between
-- changes a checksum). Otherwise the transaction fails with hitl_archive_changed.
CREATE FUNCTION hitl_archive_objects_unchanged(part text, keys text[], shas text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE now_keys text[]; now_shas text[];
BEGIN
  PERFORM 1 FROM archive_objects WHERE partition = part FOR UPDATE;
  SELECT coalesce(array_agg(key ORDER BY key), '{}'), coalesce(array_agg(sha256 ORDER BY key), '{}')
    INTO now_keys, now_shas FROM archive_objects WHERE partition = part;
  IF now_keys IS DISTINCT FROM (SELECT coalesce(array_agg(k ORDER BY k), '{}') FROM unnest(keys) k)
     OR now_shas IS DISTINCT FROM (SELECT coalesce(array_agg(s ORDER BY k), '{}') FROM unnest(keys, shas) AS u(k, s)) THEN
    RAISE EXCEPTION 'hitl_archive_changed: the objects of % changed during its conversion', part;
  END IF;
END $$;
