-- Analytics read paths (issue 27): a 90-day report reads about 90 rows per series, and the
-- per-user report a few rows per user, instead of every hour or every user-day of the range.

-- The hourly rollups summed per UTC day, kept with them by the rollup job (one day replaced at a
-- time, under its lock). A report in any whole-hour zone reads whole UTC days from here and only
-- the hours between a local midnight and the nearest UTC midnight from analytics_hourly (every
-- measure is a sum: hours are added or taken away).
CREATE TABLE analytics_daily (
  kind            text        NOT NULL,
  day             date        NOT NULL,
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
  PRIMARY KEY (kind, day, key)
);
INSERT INTO analytics_daily
SELECT kind, (hour AT TIME ZONE 'UTC')::date, key, sum(interactions), sum(approved), sum(rejected), sum(edited), sum(review_time_sum),
  sum(review_time_n), sum(quality_sum), sum(quality_n), sum(cost_usd), sum(llm1_cost_usd), sum(llm2_cost_usd)
FROM analytics_hourly GROUP BY 1, 2, 3;

-- Per-user rollups over aligned spans of 1, 2, 4, ... 64 UTC days (a span-s row starts on a day
-- whose number since 1970-01-01 is a multiple of s, and sums the span-1 rows of its days): a range
-- is covered by at most two rows per span and user. Same table, so an erasure by user_id (gdpr/
-- tables.ts) removes every span.
ALTER TABLE analytics_user_daily ADD COLUMN span smallint NOT NULL DEFAULT 1 CHECK (span IN (1, 2, 4, 8, 16, 32, 64));
ALTER TABLE analytics_user_daily DROP CONSTRAINT analytics_user_daily_pkey;
ALTER TABLE analytics_user_daily ADD PRIMARY KEY (span, day, user_id);
DO $$
DECLARE s smallint;
BEGIN
  FOREACH s IN ARRAY ARRAY[2, 4, 8, 16, 32, 64]::smallint[] LOOP
    INSERT INTO analytics_user_daily (span, day, user_id, interactions, approved, rejected, edited, quality_sum, quality_n, cost_usd, last_at)
    SELECT s, day - ((day - date '1970-01-01') % s), user_id, sum(interactions), sum(approved), sum(rejected), sum(edited),
      sum(quality_sum), sum(quality_n), sum(cost_usd), max(last_at)
    FROM analytics_user_daily WHERE span = s / 2 GROUP BY 2, user_id;
  END LOOP;
END $$;

-- Covering indexes for index-only reads: the hour grain's interactions (the volume series), and
-- the per-user ranking (the interactions of every user of a span, before the figures of the top ones).
CREATE INDEX analytics_hourly_series ON analytics_hourly (kind, hour, key) INCLUDE (interactions);
CREATE INDEX analytics_user_daily_rank ON analytics_user_daily (span, day, user_id) INCLUDE (interactions);
