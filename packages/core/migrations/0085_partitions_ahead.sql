-- Month partitions only as far ahead as the daily archive job keeps them: this month and the next 3
-- (backup/archive.ts, MONTHS_AHEAD). 0001 created a year ahead, and a statement over interactions
-- that cannot prune by month (a lookup by id, the review and outbox queues) plans every partition:
-- with 13 that was 1.2-1.4 ms of planning per statement (issue 30), with 4 about a third of it.
-- Only empty future months go; the archive job creates each next month three months before it
-- starts, and the integrity report flags a missing one among this month and the next 2.
DO $$
DECLARE
  part record;
  has_rows boolean;
BEGIN
  FOR part IN
    SELECT c.relname FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
     WHERE p.relname = 'interactions'
       AND c.relname > format('interactions_%s', to_char((date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months'), 'YYYY_MM'))
  LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', part.relname) INTO has_rows;
    IF NOT has_rows THEN
      EXECUTE format('DROP TABLE %I', part.relname);
    END IF;
  END LOOP;
END $$;
