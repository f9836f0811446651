--
-- lag_histograms: invalidation lag as histograms (the cache_lag_histograms
-- view), in Prometheus' shape: per step, one row per bucket, cumulative.
--
-- Three steps, each with the same 18 buckets from 50 microseconds to 10
-- seconds and +Inf (Infinity): le is in seconds, count is the number of
-- observations of at most le seconds, so the counts never go down and the
-- Infinity row counts them all.
SELECT cache_stats_reset();
SELECT step, count(*) AS buckets, min(le) AS first_le,
       max(le) FILTER (WHERE le < 'Infinity') AS last_finite_le,
       max(le) AS last_le, sum(count) AS observations
  FROM cache_lag_histograms GROUP BY step ORDER BY step;

-- Watched commits: each fences its keys before the commit record and
-- lifts the fences after it, and the committing backend times both steps.
CREATE TABLE lag_histograms_items (id int PRIMARY KEY, name text);
SELECT cache_watch_table('lag_histograms_items', 'ITEM', ARRAY['item:{id}']);
INSERT INTO lag_histograms_items VALUES (1, 'lamp'), (2, 'desk');
UPDATE lag_histograms_items SET name = 'chair' WHERE id = 2;
BEGIN;
DELETE FROM lag_histograms_items WHERE id = 1;
INSERT INTO lag_histograms_items VALUES (3, 'rug');
COMMIT;

-- A transaction that rolls back places no fence (fences are placed at
-- commit) and is not timed: only commits count.
BEGIN;
DELETE FROM lag_histograms_items;
ROLLBACK;

-- So three commits, three observations of each fence step; no Redis in
-- this instance, so no sync worker removal.  The times are sane: each
-- step's sum is at most ten seconds per commit.
SELECT step, count AS observations, sum_seconds >= 0 AND sum_seconds <= 10 * count AS sane_sum
  FROM cache_lag_histograms WHERE le = 'Infinity' ORDER BY step;

-- Every bucket's count is at least the one before it (cumulative).
SELECT step, bool_and(count >= previous) AS cumulative
  FROM (SELECT step, count, coalesce(lag(count) OVER (PARTITION BY step ORDER BY le), 0) AS previous
          FROM cache_lag_histograms) b
 GROUP BY step ORDER BY step;

-- cache_stats_reset zeroes the histograms with the other counters.
SELECT cache_stats_reset();
SELECT step, sum(count) AS observations, max(sum_seconds) AS sum_seconds
  FROM cache_lag_histograms GROUP BY step ORDER BY step;

SELECT cache_unwatch_table('lag_histograms_items');
DROP TABLE lag_histograms_items;
