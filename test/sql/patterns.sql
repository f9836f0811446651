--
-- patterns: cache_invalidate_pattern and its glob dialect, the one Redis
-- uses for KEYS and SCAN MATCH.
--
-- Start from an empty cache with zeroed counters.
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

-- A helper that (re)creates the same set of keys before each pattern, and
-- one that lists what is left.
CREATE FUNCTION reset_keys() RETURNS void LANGUAGE sql AS $$
    SELECT cache_clear();
    SELECT cache_set(k, to_jsonb(k))
      FROM unnest(ARRAY['user:1', 'user:2', 'user:10', 'user:', 'item:1',
                        'a*b', 'a?b', 'axb', 'ab', 'a[b', 'a\b', 'b']) AS k;
$$;
CREATE FUNCTION keys_left() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(key, ' ' ORDER BY key COLLATE "C") FROM cache_entries;
$$;

-- The keys every test starts from.
SELECT reset_keys();
SELECT keys_left();

-- A pattern without special characters matches one key exactly; the count
-- of removed keys is returned.
SELECT cache_invalidate_pattern('user:1');
SELECT keys_left();

-- A pattern matches the whole key, not a part of it.
SELECT reset_keys();
SELECT cache_invalidate_pattern('user');
SELECT cache_invalidate_pattern('ser:1');

-- * matches any run of characters, including none.
SELECT cache_invalidate_pattern('user:*');
SELECT keys_left();
SELECT reset_keys();
SELECT cache_invalidate_pattern('*:1');
SELECT keys_left();
SELECT reset_keys();
SELECT cache_invalidate_pattern('a*b');
SELECT keys_left();

-- ? matches exactly one character.
SELECT reset_keys();
SELECT cache_invalidate_pattern('user:?');
SELECT keys_left();
SELECT reset_keys();
SELECT cache_invalidate_pattern('user:??');
SELECT keys_left();

-- [abc] matches one character of the set.
SELECT reset_keys();
SELECT cache_invalidate_pattern('user:[12]');
SELECT keys_left();

-- [a-z] matches one character of a range.
SELECT reset_keys();
SELECT cache_invalidate_pattern('[a-j]*:1');
SELECT keys_left();

-- [^a] matches one character not in the set.
SELECT reset_keys();
SELECT cache_invalidate_pattern('user:[^1]');
SELECT keys_left();
SELECT reset_keys();
SELECT cache_invalidate_pattern('a[^*?]b');
SELECT keys_left();

-- \ makes the next character literal: \* and \? match only '*' and '?',
-- \[ only '[' and \\ only a backslash.
SELECT reset_keys();
SELECT cache_invalidate_pattern('a\*b');
SELECT keys_left();
SELECT reset_keys();
SELECT cache_invalidate_pattern('a\?b');
SELECT keys_left();
SELECT reset_keys();
SELECT cache_invalidate_pattern('a\[b');
SELECT keys_left();
SELECT reset_keys();
SELECT cache_invalidate_pattern('a\\b');
SELECT keys_left();

-- \ also escapes inside a class: [\[\\] matches '[' or a backslash.
SELECT reset_keys();
SELECT cache_invalidate_pattern('a[\[\\]b');
SELECT keys_left();

-- * alone matches every key of the namespace.
SELECT reset_keys();
SELECT cache_invalidate_pattern('*');
SELECT keys_left() IS NULL AS nothing_left;

-- No match removes nothing and returns 0.
SELECT reset_keys();
SELECT cache_invalidate_pattern('nothing:*');
SELECT count(*) FROM cache_entries;

-- Matching expired entries are removed too, but only live ones are counted.
SELECT cache_set('user:temp', '1', interval '50 milliseconds');
SELECT pg_sleep(0.1);
SELECT cache_stats_reset();
SELECT cache_invalidate_pattern('user:*');
SELECT invalidations, expirations FROM cache_stats WHERE layer = 'l1';

--
-- Malformed patterns are rejected with SQLSTATE 2201B
-- (invalid_regular_expression) rather than read leniently, so that a typo
-- cannot silently widen or narrow an invalidation.
--
SELECT reset_keys();
-- A class that is never closed:
SELECT cache_invalidate_pattern('[abc');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_invalidate_pattern('user:[^1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- (an escaped \] does not close a class)
SELECT cache_invalidate_pattern('a[\]');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A trailing lone backslash:
SELECT cache_invalidate_pattern('abc\');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A NULL or empty pattern is an error too (use '*' to match every key).
SELECT cache_invalidate_pattern(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_invalidate_pattern('');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- None of the failed calls removed anything.
SELECT count(*) FROM cache_entries;

DROP FUNCTION reset_keys();
DROP FUNCTION keys_left();
SELECT cache_clear();
