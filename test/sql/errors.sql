--
-- errors: every argument cachext refuses, with its SQLSTATE.  No error is an
-- internal one (XX000), and no error disturbs what is already cached.
--
-- Start from an empty cache with zeroed counters, then cache two entries
-- that must survive every error below.
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();
SELECT cache_set('keep:1', '"still here"');
SELECT cache_set('keep:2', '{"also": "here"}', NULL);

-- Errors are shown with their message, detail and hint, followed by their
-- SQLSTATE.

--
-- Keys.  A NULL key is refused with 22004 (null_value_not_allowed) by every
-- function that takes one.
--
SELECT cache_get(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set(NULL, '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set(NULL, '1', interval '1 minute');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_invalidate(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- An empty key is refused with 22023 (invalid_parameter_value).
SELECT cache_get('');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set('', '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_invalidate('');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Keys are limited to cachext.max_key_length bytes (default 1024), not
-- counting the namespace.  A key of exactly 1024 bytes is fine ...
SHOW cachext.max_key_length;
SELECT cache_set(repeat('k', 1024), '"long key"');
SELECT cache_get(repeat('k', 1024));

-- ... one of 1025 bytes is refused with 54000 (program_limit_exceeded), and
-- the hint names the limit.
SELECT cache_set(repeat('k', 1025), '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_get(repeat('k', 1025));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_invalidate(repeat('k', 1025));
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- The limit counts bytes, not characters: 513 two-byte characters are too
-- many.
SELECT octet_length(repeat('é', 513)) AS bytes, length(repeat('é', 513)) AS characters;
SELECT cache_set(repeat('é', 513), '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A superuser may change the limit for the session; the hint follows it.
SET cachext.max_key_length = 2000;
SELECT cache_set(repeat('k', 1025), '"allowed now"');
SELECT cache_get(repeat('k', 1025));
SET cachext.max_key_length = 10;
SELECT cache_set('eleven-char', '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set('ten-chars!', '1');
RESET cachext.max_key_length;

--
-- Values.  A NULL value is refused with 22004; the hint says how to remove
-- a key, or to cache a miss, instead.
--
SELECT cache_set('k', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set('k', NULL, interval '1 minute');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A value over cachext.l1_max_value_size is refused with 54000 (see
-- bounds.sql for the exact limit).
SELECT cache_set('k', to_jsonb(repeat('v', 2000000)));
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- TTLs.  A TTL must be positive: zero and negative ones are refused with
-- 22023; the hint points to NULL (no expiry) and to cache_invalidate.
--
SELECT cache_set('k', '1', interval '0 seconds');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set('k', '1', interval '-5 minutes');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A TTL counts months as 30 days, so this one is zero too.
SELECT cache_set('k', '1', interval '1 month -30 days');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A TTL too large to compute an expiry time is refused with 22023.
SELECT cache_set('k', '1', interval '300000 years');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- So are TTLs at the limit of 64-bit microseconds, whose rounding up to
-- milliseconds must not overflow; cache_get_or_set stores nothing then.
SELECT cache_set('k', '1', interval '9223372036854775807 microseconds');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set('k', '1', interval '9223372036854775 milliseconds 807 microseconds');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_get_or_set('huge-ttl', 'SELECT 1', interval '9223372036854775807 microseconds');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_get('huge-ttl') IS NULL AS not_cached;

--
-- cache_get_multi checks every key of its array the same way.
--
SELECT * FROM cache_get_multi(ARRAY['keep:1', NULL]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM cache_get_multi(ARRAY['keep:1', '']);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM cache_get_multi(ARRAY['keep:1', repeat('k', 1025)]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM cache_get_multi(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- After all these errors the cache is intact: the entries set at the start
-- and the ones accepted along the way are there, and no refused call
-- counted as a set.
--
SELECT * FROM cache_get_multi(ARRAY['keep:1', 'keep:2']);
SELECT length(key) AS key_length FROM cache_entries
 WHERE key NOT LIKE 'keep:%' ORDER BY 1;
SELECT sets, entries FROM cache_stats WHERE layer = 'l1';

-- The expiry time must be a valid timestamp: PostgreSQL's last one is
-- 294276-12-31 23:59:59.999999 UTC.  A TTL ending two days before it is
-- accepted; one ending two days after it is refused with 22023 (only the
-- SQLSTATE is shown here).
SELECT cache_set('just-in-range', '1',
                 timestamptz '294276-12-31 23:59:59+00' - now() - interval '2 days');
SELECT expires_at + interval '1 day' > now() AS valid_timestamp
  FROM cache_entries WHERE key = 'just-in-range';
\set VERBOSITY sqlstate
SELECT cache_set('out-of-range', '1',
                 timestamptz '294276-12-31 23:59:59+00' - now() + interval '2 days');
\set VERBOSITY default
SELECT count(*) FROM cache_entries WHERE key = 'out-of-range';

SELECT cache_clear() >= 0 AS cleared;
