--
-- cache_key: builds a cache key from a prefix and argument values, the way
-- cache_function wrappers do, so that another language can build the same
-- keys.
--
-- Start from an empty cache with zeroed counters.
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

-- The key is the prefix, then ":" and the text form of each argument.
SELECT cache_key('user', 42);
SELECT cache_key('user', 42) = 'user:42' AS as_documented;

-- Arguments may be of any type, mixed; each is written as its type's
-- output function writes it.  The text form of a date follows DateStyle,
-- so sessions that share keys should agree on it.
SET DateStyle = 'ISO, YMD';
SELECT cache_key('mixed', 1, 'two', 3.50, true, date '2024-01-31');
SELECT cache_key('mixed', 1::bigint, 'two'::varchar, 3.5::float8, false, '{"a": 1}'::jsonb);
RESET DateStyle;

-- A key can be used directly with the other functions.
SELECT cache_set(cache_key('user', 42), '{"name": "Ada"}');
SELECT cache_get('user:42');

--
-- NULL arguments are written \N, which no escaped text form can produce:
-- NULL and the string 'NULL' (or the string '\N') give different keys.
--
SELECT cache_key('search', 'a:b', NULL, 3);
SELECT cache_key('p', NULL::int) AS sql_null, cache_key('p', 'NULL') AS string_null,
       cache_key('p', '\N') AS backslash_n;
SELECT cache_key('p', NULL::int) = cache_key('p', 'NULL') AS same;

--
-- Escaping.  ":" is written "\:" and "\" is written "\\", so an argument
-- cannot pose as two arguments.
--
SELECT cache_key('p', 'a:b') AS one_arg, cache_key('p', 'a', 'b') AS two_args;
SELECT cache_key('p', 'a:b') = cache_key('p', 'a', 'b') AS same;
SELECT cache_key('p', 'c:\d') AS escaped, cache_key('p', '\') AS backslash;

-- The prefix is written as it is, without escaping.
SELECT cache_key('app:user', 1);

-- An empty string is an argument too.
SELECT cache_key('p', '') AS empty_string, cache_key('p', '', '') AS two_empty;

--
-- The arguments may also be given as one array with VARIADIC: its elements
-- are the arguments.  Without VARIADIC, an array is a single argument.
--
SELECT cache_key('p', VARIADIC ARRAY[1, 2, 3]);
SELECT cache_key('p', VARIADIC ARRAY['a:b', NULL, 'c']);
SELECT cache_key('p', VARIADIC ARRAY[1, 2]) = cache_key('p', 1, 2) AS same;
SELECT cache_key('p', ARRAY[1, 2]);

-- An empty VARIADIC array gives the prefix alone.
SELECT cache_key('p', VARIADIC ARRAY[]::int[]);

--
-- Long keys.  A key longer than 200 characters becomes prefix ":" and the
-- MD5 (lower-case hex) of the whole key.
--
SELECT cache_key('q', repeat('x', 300));
SELECT cache_key('q', repeat('x', 300)) = 'q:' || md5('q:' || repeat('x', 300)) AS is_md5;

-- The limit is inclusive: a key of exactly 200 characters is kept as it is,
-- one of 201 is hashed.
SELECT length(cache_key('p', repeat('x', 198))) AS kept_length,
       cache_key('p', repeat('x', 198)) = 'p:' || repeat('x', 198) AS kept;
SELECT cache_key('p', repeat('x', 199)) AS hashed,
       cache_key('p', repeat('x', 199)) = 'p:' || md5('p:' || repeat('x', 199)) AS is_md5;

-- Characters are counted, not bytes: 198 two-byte characters make a key of
-- 200 characters (398 bytes), kept; 199 make one of 201 characters, hashed.
SELECT length(cache_key('p', repeat('é', 198))) AS characters,
       octet_length(cache_key('p', repeat('é', 198))) AS bytes,
       cache_key('p', repeat('é', 198)) = 'p:' || repeat('é', 198) AS kept;
SELECT cache_key('p', repeat('é', 199)) = 'p:' || md5('p:' || repeat('é', 199)) AS is_md5;

-- The length is that of the escaped key, and the MD5 is of the escaped key:
-- with 99 colons, written as 198 characters, the key has 200 (kept); with
-- 100 colons it has 202 (hashed).
SELECT cache_key('p', repeat(':', 99)) = 'p:' || repeat('\:', 99) AS kept;
SELECT cache_key('p', repeat(':', 100)) = 'p:' || md5('p:' || repeat('\:', 100)) AS is_md5;

-- Arguments and NULLs count towards the length as written.
SELECT cache_key('p', repeat('x', 100), NULL, repeat('y', 100))
     = 'p:' || md5('p:' || repeat('x', 100) || ':\N:' || repeat('y', 100)) AS is_md5;

--
-- Errors.  A NULL prefix is refused with 22004 (null_value_not_allowed), and
-- so is a NULL VARIADIC array (a NULL argument is fine, as shown above).
--
SELECT cache_key(NULL, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_key('p', VARIADIC NULL::int[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- At least one argument is needed (or a VARIADIC array): a prefix alone
-- matches no function, 42883 (undefined_function).
SELECT cache_key('p');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

SELECT cache_clear() >= 0 AS cleared;
