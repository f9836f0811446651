--
-- prefix_stats: L1's figures per key prefix (the cache_prefix_stats view).
--
-- A key's prefix is its part up to the first ':' (cachext.prefix_stats_segments
-- = 1), counted per namespace.  This file works in a namespace of its own,
-- so the prefixes other files use do not show below.
SELECT cache_clear() >= 0 AS cleared;
SET cachext.namespace = 'prefix_stats:';

-- Three kinds of keys side by side: users, items and keys without a ':'
-- (the empty prefix).  Every set counts for its prefix, an overwrite too.
SELECT cache_set('user:1', '{"name": "ann"}'), cache_set('user:2', '{"name": "bob"}'),
       cache_set('user:3', '{"name": "cy"}'), cache_set('user:1', '{"name": "ann", "v": 2}');
SELECT cache_set('item:1', '"lamp"'), cache_set('plain', '1');

-- Hits and misses count for the prefix of the key looked up: a miss of a
-- prefix never stored (session:) gets a row of its own.
SELECT cache_get('user:1'), cache_get('user:1'), cache_get('user:9');
SELECT cache_get('item:1'), cache_get('item:2'), cache_get('session:abc'), cache_get('plain');
SELECT * FROM cache_get_multi(ARRAY['user:2', 'user:404']);

-- An invalidation removes a live entry of its prefix; its entries and
-- bytes go down with it.
SELECT cache_invalidate('user:3');

SELECT prefix, hits, misses, round(hit_rate::numeric, 3) AS hit_rate, sets,
       evictions, expirations, invalidations, entries, bytes
  FROM cache_prefix_stats WHERE namespace = 'prefix_stats:' ORDER BY prefix;

-- bytes per prefix is the L1 memory its entries hold: the sum of their
-- sizes in cache_entries.
SELECT p.prefix, p.bytes = sum(e.bytes) AS bytes_match, p.entries = count(*) AS entries_match
  FROM cache_prefix_stats p
  JOIN cache_entries e ON e.namespace = p.namespace
   AND (CASE WHEN p.prefix = '' THEN position(':' IN e.key) = 0
             ELSE starts_with(e.key, p.prefix) END)
 WHERE p.namespace = 'prefix_stats:'
 GROUP BY p.prefix, p.bytes, p.entries ORDER BY p.prefix;

-- Each row names its layer: without Redis (this instance has no
-- cachext.redis_url) L1's rows alone.
SELECT layer, count(*) > 0 AS has_rows FROM cache_prefix_stats GROUP BY layer;

-- Every column adds up to cache_stats' l1 row, over all prefixes and the
-- other bucket (the row whose prefix is NULL, always shown).
SELECT count(*) FILTER (WHERE p.prefix IS NULL AND p.namespace IS NULL) AS other_rows,
       sum(p.hits) = s.hits AS hits, sum(p.misses) = s.misses AS misses,
       sum(p.sets) = s.sets AS sets, sum(p.evictions) = s.evictions AS evictions,
       sum(p.expirations) = s.expirations AS expirations,
       sum(p.invalidations) = s.invalidations AS invalidations,
       sum(p.entries) = s.entries AS entries, sum(p.bytes) = s.bytes AS bytes
  FROM cache_prefix_stats p, (SELECT * FROM cache_stats WHERE layer = 'l1') s
 GROUP BY s.hits, s.misses, s.sets, s.evictions, s.expirations, s.invalidations,
          s.entries, s.bytes;

-- Filling L1 (1000 entries in this test instance) makes SIEVE evict, and
-- each eviction counts for its entry's prefix: the 4 entries left above
-- were all read since they were stored, so they survive the hand's first
-- pass and the 4 oldest bulk: keys go instead.
SELECT count(cache_set('bulk:' || i, to_jsonb(i))) FROM generate_series(1, 1000) i;
SELECT prefix, sets, evictions, entries
  FROM cache_prefix_stats WHERE namespace = 'prefix_stats:' ORDER BY prefix;

-- cache_clear counts every entry as an invalidation of its prefix, and
-- cache_stats_reset zeroes the counters but keeps the rows (a prefix keeps
-- its slot for the life of the instance).
SELECT cache_clear() >= 0 AS cleared;
SELECT prefix, invalidations, entries, bytes
  FROM cache_prefix_stats WHERE namespace = 'prefix_stats:' ORDER BY prefix;
SELECT cache_stats_reset();
SELECT prefix, hits, misses, sets, evictions, invalidations, entries
  FROM cache_prefix_stats WHERE namespace = 'prefix_stats:' ORDER BY prefix;

RESET cachext.namespace;
