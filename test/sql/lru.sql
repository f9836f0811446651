--
-- lru: when L1 is full, the least recently used entry makes room.
--
-- The test instance runs with cachext.l1_max_entries = 1000 and a single
-- partition (cachext.l1_partitions = 1), so the LRU order is exact and
-- global.  Start from an empty cache with zeroed counters.
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

SHOW cachext.l1_max_entries;
SHOW cachext.l1_partitions;

-- Fill L1 exactly: k1 is the oldest entry, k1000 the newest.
SELECT count(cache_set('k' || i, to_jsonb(i))) FROM generate_series(1, 1000) AS i;
SELECT entries, max_entries, evictions FROM cache_stats WHERE layer = 'l1';

-- cache_entries lists entries most recently used first; reading the view
-- does not change the order.
SELECT key FROM cache_entries LIMIT 3;
SELECT key FROM cache_entries OFFSET 997;

-- Using an entry makes it the most recently used:
-- a hit with cache_get (k1 to k10),
SELECT count(cache_get('k' || i)) FROM generate_series(1, 10) AS i;
-- a hit with cache_get_multi (k11),
SELECT * FROM cache_get_multi(ARRAY['k11']);
-- and overwriting it with cache_set (k12).
SELECT cache_set('k12', '"twelve"');

-- A miss touches nothing.
SELECT cache_get('not-there') IS NULL AS is_miss;

-- The most recently used entries are now k12, k11, k10 ... k1; the least
-- recently used ones are k13, k14, ...
SELECT key FROM cache_entries LIMIT 12;
SELECT key FROM cache_entries OFFSET 995;

-- Five new keys evict the five least recently used entries: k13 to k17.
SELECT count(cache_set('new' || i, to_jsonb(i))) FROM generate_series(1, 5) AS i;
SELECT 'k' || i AS evicted FROM generate_series(1, 1000) AS i
 WHERE NOT EXISTS (SELECT FROM cache_entries WHERE key = 'k' || i);
SELECT entries, evictions FROM cache_stats WHERE layer = 'l1';

-- The touched entries survived.
SELECT * FROM cache_get_multi(ARRAY['k1', 'k10', 'k11', 'k12', 'k13', 'k18']);

-- An evicted key is a plain miss.
SELECT cache_get('k13') IS NULL AS is_miss;

-- When room is needed, expired entries go first, even before older entries
-- that are still live.  'short' evicts k19 (k18 was just read), then expires.
SELECT cache_set('short', '1', interval '300 milliseconds');
SELECT entries, evictions, expirations FROM cache_stats WHERE layer = 'l1';
SELECT EXISTS (SELECT FROM cache_entries WHERE key = 'k19') AS k19_kept;
SELECT pg_sleep(0.4);
SELECT cache_set('after-short', '1');
SELECT entries, evictions, expirations FROM cache_stats WHERE layer = 'l1';
SELECT EXISTS (SELECT FROM cache_entries WHERE key = 'k20') AS k20_kept;

-- An invalidated entry frees its slot: the next insert evicts nothing.
SELECT cache_invalidate('k20');
SELECT cache_set('into-free-slot', '1');
SELECT entries, evictions, invalidations FROM cache_stats WHERE layer = 'l1';
SELECT key FROM cache_entries OFFSET 997;

-- After all this churn L1 still holds exactly max_entries entries.
SELECT count(*) AS listed, (SELECT entries FROM cache_stats WHERE layer = 'l1') AS counted,
       (SELECT max_entries FROM cache_stats WHERE layer = 'l1') AS max_entries
  FROM cache_entries;

SELECT cache_clear();
