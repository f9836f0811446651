/* cachext 0.1.0: the L1 cache and its SQL API */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION cachext" to load this file. \quit

-- Reads one key; NULL on a miss.  A cached JSON null comes back as 'null'.
CREATE FUNCTION cache_get(key text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'cache_get'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION cache_get(text) IS
'Returns the cached value of key, or NULL on a miss';

-- Stores a value with cachext.default_ttl.
CREATE FUNCTION cache_set(key text, value jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'cache_set'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_set(text, jsonb) IS
'Caches value under key for cachext.default_ttl';

-- Stores a value with an explicit TTL; ttl => NULL never expires.
CREATE FUNCTION cache_set(key text, value jsonb, ttl interval)
RETURNS void
AS 'MODULE_PATHNAME', 'cache_set'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_set(text, jsonb, interval) IS
'Caches value under key for ttl (millisecond precision); NULL ttl means no expiry';

-- Removes one key from every layer and sends a CACHE_INVALIDATED event.
CREATE FUNCTION cache_invalidate(key text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'cache_invalidate'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_invalidate(text) IS
'Removes key from the cache; true if it was cached. Sends CACHE_INVALIDATED on cachext.notify_channel';

-- Removes every key matching a Redis-style glob; an admin function.
CREATE FUNCTION cache_invalidate_pattern(pattern text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cache_invalidate_pattern'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_invalidate_pattern(text) IS
'Removes every key of this namespace matching a glob (*, ?, [abc], [a-z], [^a], \ escapes) from L1 and Redis; returns the larger of the two layers'' counts';

-- Reads many keys at once; one row per key found.
CREATE FUNCTION cache_get_multi(keys text[])
RETURNS TABLE (key text, value jsonb)
AS 'MODULE_PATHNAME', 'cache_get_multi'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 10;
COMMENT ON FUNCTION cache_get_multi(text[]) IS
'Returns (key, value) for each of keys that is cached, in the array''s order';

-- Empties the cache; an admin function.
CREATE FUNCTION cache_clear()
RETURNS bigint
AS 'MODULE_PATHNAME', 'cache_clear'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_clear() IS
'Removes every entry of L1 (all namespaces) and of this namespace (cachext.redis_prefix) in Redis; returns the larger of the two counts';

-- The counters behind the cache_stats view.
CREATE FUNCTION cache_stats(
    OUT layer text,
    OUT hits bigint,
    OUT misses bigint,
    OUT hit_rate double precision,
    OUT sets bigint,
    OUT evictions bigint,
    OUT expirations bigint,
    OUT invalidations bigint,
    OUT entries bigint,
    OUT bytes bigint,
    OUT max_entries bigint,
    OUT max_bytes bigint,
    OUT loads bigint,
    OUT load_failures bigint,
    OUT load_time_ms double precision,
    OUT errors bigint,
    OUT timeouts bigint,
    OUT promotions bigint,
    OUT redis_up boolean,
    OUT invalidations_queued bigint,
    OUT invalidations_replayed bigint,
    OUT queue_overflows bigint,
    OUT queue_length bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cache_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION cache_stats() IS
'Counters and sizes of each cache layer; read it through the cache_stats view';

-- One row per layer in use (l1; l2 when cachext.redis_url is set): what
-- psql users read to tune the cache.
-- Columns a layer has no notion of are NULL: L1 has no errors, timeouts or
-- queue; cachext does not track Redis' size, evictions or expirations.
-- redis_up is the outcome of the latest exchange with Redis (NULL before
-- the first); the invalidation_* and queue_* columns describe the queue of
-- invalidations that could not reach Redis.
CREATE VIEW cache_stats AS SELECT * FROM cache_stats();
COMMENT ON VIEW cache_stats IS
'Hits, misses, hit rate, sets, evictions, expirations, invalidations and sizes per cache layer (l1, l2); for l2 also errors, timeouts, promotions into L1, whether Redis is up, and the queue of invalidations waiting for Redis';

-- Zeroes the counters; an admin function.
CREATE FUNCTION cache_stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'cache_stats_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_stats_reset() IS
'Zeroes the counters shown by cache_stats; entries are kept';

-- The rows behind the cache_entries view.
CREATE FUNCTION cache_entries(
    OUT namespace text,
    OUT key text,
    OUT bytes bigint,
    OUT created_at timestamptz,
    OUT expires_at timestamptz,
    OUT last_access timestamptz,
    OUT hits bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cache_entries'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION cache_entries() IS
'One row per live L1 entry; read it through the cache_entries view';

-- Per-entry analytics: age, expiry, recency and hit count of each entry.
CREATE VIEW cache_entries AS SELECT * FROM cache_entries();
COMMENT ON VIEW cache_entries IS
'One row per live L1 entry: namespace (cachext.redis_prefix), key, bytes held, created_at, expires_at, last_access, hits';

-- The cache-aside pattern in one call, stampede-safe across the instance.
CREATE FUNCTION cache_get_or_set(
    key text,
    query text,
    ttl interval DEFAULT NULLIF(current_setting('cachext.default_ttl', true), '0')::interval,
    VARIADIC params text[] DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'cache_get_or_set'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_get_or_set(text, text, interval, text[]) IS
'Returns the cached value of key, or runs query (params bound as $1..$n), caches its single value as jsonb and returns it; one backend loads a key at a time';

-- Builds a key from a prefix and arguments, as cache_function wrappers do.
CREATE FUNCTION cache_key(prefix text, VARIADIC args "any")
RETURNS text
AS 'MODULE_PATHNAME', 'cache_key'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cache_key(text, "any") IS
'Returns prefix:arg1:arg2... (":" and "\" escaped, NULL as \N); keys over 200 characters become prefix:md5';

-- Everyone may read the statistics and the entry list.
GRANT SELECT ON cache_stats, cache_entries TO PUBLIC;

-- Administration is not for everyone: grant these to trusted roles.
REVOKE ALL ON FUNCTION cache_clear() FROM PUBLIC;
REVOKE ALL ON FUNCTION cache_stats_reset() FROM PUBLIC;
REVOKE ALL ON FUNCTION cache_invalidate_pattern(text) FROM PUBLIC;
