/* cachext 0.1.0 -> 0.2.0: every object 0.2.0 adds or changes */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION cachext UPDATE TO '0.2.0'" to load this file. \quit

-- cache_stats gains stale_served and early_refreshes: an OUT column change
-- needs the function and the view dropped and created again.
DROP VIEW cache_stats;
DROP FUNCTION cache_stats();

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
    OUT queue_length bigint,
    OUT sync_evictions bigint,
    OUT sync_resets bigint,
    OUT stale_served bigint,
    OUT early_refreshes bigint)
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
-- invalidations that could not reach Redis.  sync_evictions counts L1
-- entries the sync worker evicted on Redis' invalidation messages, and
-- sync_resets the times it emptied L1 (its stream started or was lost, or
-- Redis was flushed).  stale_served and early_refreshes (l1's row) count
-- cache_get_or_set's stale values returned (cachext.stale_ttl) and its
-- reloads before the expiry (cachext.early_refresh).
CREATE VIEW cache_stats AS SELECT * FROM cache_stats();
COMMENT ON VIEW cache_stats IS
'Hits, misses, hit rate, sets, evictions, expirations, invalidations and sizes per cache layer (l1, l2); for l2 also errors, timeouts, promotions into L1, whether Redis is up, the queue of invalidations waiting for Redis, and the sync worker''s evictions and resets of L1; for l1 also cache_get_or_set''s loads, stale values served and early refreshes';

GRANT SELECT ON cache_stats TO PUBLIC;
