-- Month partitions start at the current month: 0001 created them from 2025-06, so a fresh install
-- carried a year and a half of empty past months (and its first archive run had to drop them).
-- Empty partitions of past months go; a past month that holds rows stays until it is archived.
-- Older months are created again when needed (a restore, or rows inserted with an old date after
-- calling hitl_ensure_interaction_partitions).
DO $$
DECLARE
  part record;
  has_rows boolean;
BEGIN
  FOR part IN
    SELECT c.relname FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
     WHERE p.relname = 'interactions' AND c.relname < format('interactions_%s', to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM'))
  LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', part.relname) INTO has_rows;
    IF NOT has_rows THEN
      EXECUTE format('DROP TABLE %I', part.relname);
    END IF;
  END LOOP;
END $$;
