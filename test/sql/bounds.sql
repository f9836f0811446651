--
-- bounds: L1's three limits (value size, bytes, entries) and its chunked
-- memory, which does not fragment.
--
-- Start from an empty cache with zeroed counters.
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

-- The test instance uses the defaults for memory and value size, and at most
-- 1000 entries.
SHOW cachext.l1_memory;
SHOW cachext.l1_max_value_size;
SHOW cachext.l1_max_entries;
SELECT max_bytes, max_entries FROM cache_stats WHERE layer = 'l1';

--
-- Value size.  A value may take up to cachext.l1_max_value_size (1MB =
-- 1048576 bytes) as stored jsonb; a JSON string of 1048564 characters is
-- exactly that large, one more character is too large.
--
SELECT pg_column_size(to_jsonb(repeat('x', 1048564))) AS at_limit,
       pg_column_size(to_jsonb(repeat('x', 1048565))) AS over_limit;
SELECT cache_set('at-limit', to_jsonb(repeat('x', 1048564)));
SELECT length(cache_get('at-limit') #>> '{}');

-- L1 keeps keys and values in 128-byte chunks: the entry holds the value,
-- the key and its namespace ('cache:at-limit'), rounded up to whole chunks.
SELECT key, bytes, bytes % 128 AS remainder FROM cache_entries;

-- One byte more is refused with SQLSTATE 54000 (program_limit_exceeded).
SELECT cache_set('too-large', to_jsonb(repeat('x', 1048565)));
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A refused overwrite leaves the previous value in place.
SELECT cache_set('at-limit', to_jsonb(repeat('y', 2000000)));
SELECT length(cache_get('at-limit') #>> '{}'), left(cache_get('at-limit') #>> '{}', 3);
SELECT cache_get('too-large') IS NULL AS is_miss;
SELECT sets, entries FROM cache_stats WHERE layer = 'l1';

--
-- Bytes.  cachext.l1_memory (64MB = 67108864 bytes) bounds the chunks in
-- use.  Each 900000-character value takes 900096 bytes of L1, so 74 of them
-- fit: storing 80 evicts the 6 stored first (big1 to big6).  No entry is
-- read from here on, so SIEVE (the default policy) evicts in the order of
-- storing, as LRU would.
--
SELECT cache_clear();
SELECT cache_stats_reset();
SELECT count(cache_set('big' || i, to_jsonb(repeat('x', 900000))))
  FROM generate_series(1, 80) AS i;
SELECT entries, evictions, bytes, max_bytes, bytes <= max_bytes AS within_bound,
       bytes = entries * 900096 AS as_computed
  FROM cache_stats WHERE layer = 'l1';
SELECT 'big' || i AS evicted FROM generate_series(1, 80) AS i
 WHERE NOT EXISTS (SELECT FROM cache_entries WHERE key = 'big' || i)
 ORDER BY i;
SELECT DISTINCT bytes FROM cache_entries;

--
-- No fragmentation.  Invalidate every other big value (big8, big10, ...,
-- big80), leaving 37 scattered holes of 900096 bytes each.  A 1000000-
-- character value takes 1000064 bytes, more than any single hole, yet 33 of
-- them fit into the freed memory without evicting anything: an entry takes
-- free chunks wherever they are.
--
SELECT count(*) FILTER (WHERE cache_invalidate('big' || i)) AS invalidated
  FROM generate_series(8, 80, 2) AS i;
SELECT entries, evictions, bytes, max_bytes - bytes AS free_bytes FROM cache_stats WHERE layer = 'l1';
SELECT count(cache_set('huge' || i, to_jsonb(repeat('h', 1000000))))
  FROM generate_series(1, 33) AS i;
SELECT entries, evictions, bytes, max_bytes - bytes AS free_bytes,
       bytes = 37 * 900096 + 33 * 1000064 AS as_computed
  FROM cache_stats WHERE layer = 'l1';
SELECT DISTINCT bytes FROM cache_entries WHERE key LIKE 'huge%';

-- A 34th does not fit in the remaining 803200 bytes: it evicts the entry
-- stored first, big7.
SELECT cache_set('huge34', to_jsonb(repeat('h', 1000000)));
SELECT entries, evictions, bytes <= max_bytes AS within_bound FROM cache_stats WHERE layer = 'l1';
SELECT EXISTS (SELECT FROM cache_entries WHERE key = 'big7') AS big7_kept,
       EXISTS (SELECT FROM cache_entries WHERE key = 'big9') AS big9_kept;

-- Small entries still fit into what is left: 900 of them, one chunk each,
-- evict nothing.
SELECT count(cache_set('small' || i, to_jsonb(i))) FROM generate_series(1, 900) AS i;
SELECT entries, evictions, bytes <= max_bytes AS within_bound FROM cache_stats WHERE layer = 'l1';
SELECT DISTINCT bytes FROM cache_entries WHERE key LIKE 'small%';

--
-- Entries.  At most cachext.l1_max_entries (1000) entries are kept, whatever
-- their size.  100 more small entries on top of 970 evict the 70 stored
-- first: exactly the 36 remaining big values and the 34 huge ones.
--
SELECT count(cache_set('more' || i, to_jsonb(i))) FROM generate_series(1, 100) AS i;
SELECT entries, max_entries, entries <= max_entries AS within_bound, evictions,
       bytes, bytes = entries * 128 AS as_computed
  FROM cache_stats WHERE layer = 'l1';
SELECT count(*) FILTER (WHERE key LIKE 'big%' OR key LIKE 'huge%') AS large_left,
       count(*) AS listed
  FROM cache_entries;

-- Clearing returns every chunk.
SELECT cache_clear();
SELECT entries, bytes FROM cache_stats WHERE layer = 'l1';
