--
-- ttl: how long entries live.
--
-- Start from an empty cache with zeroed counters.
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

-- Timestamps vary from run to run, so this file prints intervals between
-- them and comparisons, never the timestamps themselves.

-- Without a TTL argument, cache_set uses cachext.default_ttl: one hour.
SHOW cachext.default_ttl;
SELECT cache_set('default', '1');
SELECT expires_at - created_at AS ttl, expires_at > now() AS in_future
  FROM cache_entries WHERE key = 'default';

-- Any user may change the default for the session, in any time unit.
SET cachext.default_ttl = '30min';
SHOW cachext.default_ttl;
SELECT cache_set('half-hour', '1');
SELECT expires_at - created_at AS ttl FROM cache_entries WHERE key = 'half-hour';

-- An explicit TTL overrides the default.
SELECT cache_set('two-hours', '1', interval '2 hours');
SELECT cache_set('one-day', '1', interval '1 day');
SELECT key, expires_at - created_at AS ttl FROM cache_entries
 WHERE key IN ('two-hours', 'one-day') ORDER BY key;
RESET cachext.default_ttl;

-- ttl => NULL stores an entry that never expires: its expires_at is NULL.
SELECT cache_set('forever', '"eternal"', ttl => NULL);
SELECT key, expires_at IS NULL AS never_expires FROM cache_entries WHERE key = 'forever';

-- Overwriting an entry also replaces its TTL.
SELECT cache_set('forever', '"mortal now"', interval '5 minutes');
SELECT key, expires_at - created_at AS ttl FROM cache_entries WHERE key = 'forever';

-- TTLs have millisecond precision; a fraction of a millisecond is rounded up,
-- so that a positive TTL never becomes zero: one microsecond is stored as one
-- millisecond (too short to be seen here on a loaded machine; it expires
-- below, where the expired entries are counted).
SELECT cache_set('ms', '1', interval '250 milliseconds');
SELECT cache_set('ms-fraction', '1', interval '250.5 milliseconds');
SELECT cache_set('one-microsecond', '1', interval '1 microsecond');
SELECT key, expires_at - created_at AS ttl FROM cache_entries
 WHERE key IN ('ms', 'ms-fraction') ORDER BY key;

-- Wait for those three to expire, then start counting afresh.
SELECT pg_sleep(0.3);
SELECT cache_stats_reset();

--
-- Expiry is lazy: an expired entry stays in L1 until it is read, invalidated,
-- or its room is needed.  It is never returned, though.
--
SELECT cache_set('brief', '"soon gone"', interval '400 milliseconds');
SELECT cache_get('brief');
SELECT pg_sleep(0.6);

-- cache_entries hides expired entries, while cache_stats still counts them
-- (5 live entries plus the 4 expired ones: ms, ms-fraction, one-microsecond
-- and brief).
SELECT count(*) FROM cache_entries WHERE key = 'brief';
SELECT entries, expirations FROM cache_stats WHERE layer = 'l1';

-- Reading an expired entry is a miss; it is removed then, and counted as an
-- expiration.
SELECT cache_get('brief') IS NULL AS is_miss;
SELECT hits, misses, expirations, entries FROM cache_stats WHERE layer = 'l1';

-- cache_get_multi skips expired entries the same way.
SELECT * FROM cache_get_multi(ARRAY['ms', 'default', 'ms-fraction']);
SELECT hits, misses, expirations, entries FROM cache_stats WHERE layer = 'l1';

-- Invalidating an expired entry returns false (it was no longer cached) and
-- also counts as an expiration, not as an invalidation.
SELECT cache_invalidate('one-microsecond');
SELECT expirations, invalidations, entries FROM cache_stats WHERE layer = 'l1';

-- cachext.default_ttl = 0 means that entries set without a TTL never expire.
SET cachext.default_ttl = 0;
SELECT cache_set('no-default-expiry', '1');
SELECT expires_at IS NULL AS never_expires FROM cache_entries WHERE key = 'no-default-expiry';
RESET cachext.default_ttl;

-- Back to the one-hour default.
SELECT cache_set('default-again', '1');
SELECT expires_at - created_at AS ttl FROM cache_entries WHERE key = 'default-again';

SELECT cache_clear();
