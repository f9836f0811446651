--
-- stats: the cache_stats and cache_entries views, and cache_stats_reset.
--
-- Start from an empty cache with zeroed counters.
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

-- cache_stats has one row per cache layer; this release has L1 only.
SELECT layer FROM cache_stats;

-- Before any read, every counter is zero and hit_rate is NULL (there is no
-- rate to speak of yet).
SELECT hits, misses, hit_rate IS NULL AS no_hit_rate, sets, evictions,
       expirations, invalidations, entries, bytes
  FROM cache_stats WHERE layer = 'l1';

-- Every cache_set counts as a set, an overwrite included.
SELECT cache_set('a', '1');
SELECT cache_set('b', '"two"');
SELECT cache_set('c', '[3]');
SELECT cache_set('a', '{"one": 1}');
SELECT sets, entries FROM cache_stats WHERE layer = 'l1';

-- Writes are not reads: still no hit rate.
SELECT hit_rate IS NULL AS no_hit_rate FROM cache_stats WHERE layer = 'l1';

-- Three hits and a miss: hit_rate = hits / (hits + misses) = 3 / 4.
SELECT cache_get('a'), cache_get('b'), cache_get('a'), cache_get('zzz');
SELECT hits, misses, hit_rate FROM cache_stats WHERE layer = 'l1';

-- cache_get_multi counts one hit or miss per key: here 2 hits, 1 miss.
SELECT * FROM cache_get_multi(ARRAY['b', 'nope', 'c']);
SELECT hits, misses, round(hit_rate::numeric, 6) AS hit_rate,
       hit_rate = hits::float8 / (hits + misses) AS consistent
  FROM cache_stats WHERE layer = 'l1';

-- A cached JSON null is a hit, too.
SELECT cache_set('null-value', 'null');
SELECT cache_get('null-value');
SELECT hits, misses FROM cache_stats WHERE layer = 'l1';

-- bytes is the L1 memory in use: whole 128-byte chunks, and the sum of the
-- bytes of the entries listed in cache_entries.
SELECT entries, bytes, bytes % 128 AS remainder,
       bytes = (SELECT sum(bytes) FROM cache_entries) AS matches_entries,
       entries = (SELECT count(*) FROM cache_entries) AS counts_match
  FROM cache_stats WHERE layer = 'l1';

-- A larger value takes more chunks: 300 characters plus the key need three.
SELECT cache_set('long', to_jsonb(repeat('x', 300)));
SELECT bytes FROM cache_entries WHERE key = 'long';
SELECT bytes, bytes = (SELECT sum(bytes) FROM cache_entries) AS matches_entries
  FROM cache_stats WHERE layer = 'l1';

--
-- cache_entries: per-entry analytics.  hits counts reads of that entry;
-- last_access starts at created_at and moves with every hit.
--
SELECT key, hits, last_access = created_at AS never_read
  FROM cache_entries ORDER BY key;
SELECT pg_sleep(0.01);
SELECT cache_get('c');
SELECT cache_get('c');
SELECT key, hits, last_access > created_at AS read_since
  FROM cache_entries WHERE key = 'c';

-- Overwriting an entry starts it afresh: zero hits.
SELECT cache_set('b', '"deux"');
SELECT key, hits, last_access = created_at AS never_read
  FROM cache_entries WHERE key = 'b';

-- Invalidations count the removed live keys, one by one or by pattern; a
-- cache_invalidate of a missing key removes nothing and counts nothing.
SELECT cache_invalidate('c');
SELECT cache_invalidate('c');
SELECT invalidations, entries FROM cache_stats WHERE layer = 'l1';
SELECT cache_invalidate_pattern('[ab]');
SELECT invalidations, entries FROM cache_stats WHERE layer = 'l1';

-- Expirations count expired entries removed (here, lazily on a read).
SELECT cache_set('ephemeral', '1', interval '50 milliseconds');
SELECT pg_sleep(0.1);
SELECT cache_get('ephemeral') IS NULL AS is_miss;
SELECT expirations, misses FROM cache_stats WHERE layer = 'l1';

-- Evictions count entries dropped to make room: L1 holds 1000 entries, so
-- 1000 new ones on top of the 2 present evict 2.
SELECT entries FROM cache_stats WHERE layer = 'l1';
SELECT count(cache_set('fill' || i, '0')) FROM generate_series(1, 1000) AS i;
SELECT evictions, entries, max_entries FROM cache_stats WHERE layer = 'l1';

-- A full summary before the reset.
SELECT layer, hits, misses, round(hit_rate::numeric, 6) AS hit_rate, sets,
       evictions, expirations, invalidations, entries, bytes, max_entries,
       max_bytes
  FROM cache_stats WHERE layer = 'l1';

-- cache_stats_reset zeroes the counters, but keeps the entries: entries,
-- bytes and the limits are sizes, not counters.
SELECT cache_stats_reset();
SELECT layer, hits, misses, hit_rate IS NULL AS no_hit_rate, sets, evictions,
       expirations, invalidations, entries, bytes, max_entries, max_bytes
  FROM cache_stats WHERE layer = 'l1';
SELECT cache_get('fill1000');
SELECT hits, misses, hit_rate FROM cache_stats WHERE layer = 'l1';

-- cache_clear counts the entries it drops as invalidations.
SELECT cache_clear();
SELECT invalidations, entries, bytes FROM cache_stats WHERE layer = 'l1';
