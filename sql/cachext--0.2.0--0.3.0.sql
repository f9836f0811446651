/* cachext 0.2.0 -> 0.3.0: every object 0.3.0 adds or changes */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION cachext UPDATE TO '0.3.0'" to load this file. \quit

-- cache_set: one function whose ttl and tags have defaults, so that
-- cache_set(key, value, tags => ...) uses cachext.default_ttl.  The
-- overloads without tags would make every call ambiguous beside it; the
-- grants of the dropped overloads go with them.
DROP FUNCTION cache_set(text, jsonb);
DROP FUNCTION cache_set(text, jsonb, interval);
CREATE OR REPLACE FUNCTION cache_set(
    key text,
    value jsonb,
    ttl interval DEFAULT NULLIF(current_setting('cachext.default_ttl', true), '0')::interval,
    tags text[] DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'cache_set'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_set(text, jsonb, interval, text[]) IS
'Caches value under key for ttl (default cachext.default_ttl, NULL: no expiry, millisecond precision) with tags; cache_invalidate_tag(tag) removes every key stored with tag';

-- The counters behind the cache_prefix_stats view.
CREATE FUNCTION cache_prefix_stats(
    OUT namespace text,
    OUT prefix text,
    OUT hits bigint,
    OUT misses bigint,
    OUT hit_rate double precision,
    OUT sets bigint,
    OUT evictions bigint,
    OUT expirations bigint,
    OUT invalidations bigint,
    OUT entries bigint,
    OUT bytes bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cache_prefix_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION cache_prefix_stats() IS
'L1''s counters and sizes per key prefix; read them through the cache_prefix_stats view';

-- L1's figures per key prefix: which kind of key earns its memory.  A
-- key's prefix is its part up to its cachext.prefix_stats_segments-th ':'
-- (or its last ':'), per namespace; the first cachext.prefix_stats_max
-- prefixes have a row each, later ones count in the last row, whose
-- namespace and prefix are NULL.  Each column sums to cache_stats' l1 row.
CREATE VIEW cache_prefix_stats AS SELECT * FROM cache_prefix_stats();
COMMENT ON VIEW cache_prefix_stats IS
'L1''s hits, misses, hit rate, sets, evictions, expirations, invalidations, entries and bytes per key prefix (the key up to its first '':'', cachext.prefix_stats_segments) and namespace; the row with a NULL prefix counts the prefixes past cachext.prefix_stats_max; zeroed by cache_stats_reset() except entries and bytes';

-- The counters behind the cache_table_stats view.
CREATE FUNCTION cache_table_stats(
    OUT database oid,
    OUT table_name text,
    OUT rows_seen bigint,
    OUT keys_invalidated bigint,
    OUT commits_fenced bigint,
    OUT redis_time_ms double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cache_table_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION cache_table_stats() IS
'Invalidation figures per watched table, every database''s; read them through the cache_table_stats view';

-- The invalidation machinery per watched table, counted at each commit:
-- the rows its trigger saw, the distinct keys (patterns, tags) they named,
-- the commits that fenced them and those commits' time in Redis.  The
-- first cachext.table_stats_max tables have a row each; later ones count
-- in the row whose table_name is NULL.
CREATE VIEW cache_table_stats AS
SELECT d.datname AS database, s.table_name, s.rows_seen, s.keys_invalidated,
       s.commits_fenced, s.redis_time_ms
FROM cache_table_stats() s
LEFT JOIN pg_database d ON d.oid = s.database;
COMMENT ON VIEW cache_table_stats IS
'Per watched table (schema.table, in each database), over committed transactions: rows the invalidation trigger saw, distinct keys, patterns and tags they invalidated, commits that fenced them, and the time those commits spent in Redis (ms); the row with a NULL table_name counts the tables past cachext.table_stats_max; zeroed by cache_stats_reset()';

GRANT SELECT ON cache_prefix_stats, cache_table_stats TO PUBLIC;
