--
-- cache_function: the design's @cached decorator in SQL.  cache_function(fn)
-- creates <name>_cached(same arguments), which returns fn's result from the
-- cache under cache_key(key_prefix, arguments...), calling fn only on a
-- miss; cache_uncache_function(fn) drops it again.
--
-- Errors raised inside cache_function are shown without their PL/pgSQL
-- context lines, which only say where in its body they were raised.
\set SHOW_CONTEXT never

-- Start from an empty cache with zeroed counters.
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

-- Timestamps vary from run to run, so this file prints intervals between
-- them and comparisons, never the timestamps themselves.

--
-- The design's example: a user profile, cached for 30 minutes under
-- user:<id>.
--
CREATE TABLE users (id int PRIMARY KEY, name text);
INSERT INTO users VALUES (42, 'Ada'), (7, 'Grace'), (9, 'Alan');
CREATE TYPE profile AS (id int, name text);
CREATE FUNCTION get_user_profile(uid int) RETURNS profile
    LANGUAGE sql AS $$ SELECT id, name FROM users WHERE id = uid $$;

-- cache_function returns the wrapper it created.
SELECT cache_function('get_user_profile(int)', ttl => '30 minutes', key_prefix => 'user');

-- The wrapper has the same arguments and result type as the original, and
-- a comment saying what it wraps.
SELECT pg_get_function_arguments(oid) AS arguments,
       pg_get_function_result(oid) AS result,
       provolatile AS volatility,
       obj_description(oid, 'pg_proc') AS comment
  FROM pg_proc WHERE proname = 'get_user_profile_cached';

-- The first call misses: the original runs and its result is cached under
-- user:42, which is cache_key('user', 42), for 30 minutes.
SELECT * FROM get_user_profile_cached(42);
SELECT key, key = cache_key('user', 42) AS is_cache_key,
       expires_at - created_at AS ttl
  FROM cache_entries;

-- The result is stored as jsonb, so any client can read the same key.
SELECT cache_get('user:42');

-- The second call hits: the original does not run.  To see this, change
-- the user: the wrapper still returns the cached name, while the original
-- returns the new one.
UPDATE users SET name = 'Ada Lovelace' WHERE id = 42;
SELECT * FROM get_user_profile_cached(42);
SELECT * FROM get_user_profile(42);

-- After an invalidation the wrapper loads the new name.
SELECT cache_invalidate(cache_key('user', 42));
SELECT * FROM get_user_profile_cached(42);

-- The two misses made two loads; the hits are the second call and the
-- cache_get above.
SELECT hits, misses, loads FROM cache_stats WHERE layer = 'l1';

-- Each argument value has its own key.
SELECT * FROM get_user_profile_cached(7);
SELECT key FROM cache_entries ORDER BY key COLLATE "C";

-- A missing user is an answer too: the original returns NULL, which is
-- cached as JSON null, and the wrapper returns NULL as well.
SELECT * FROM get_user_profile(999);
SELECT * FROM get_user_profile_cached(999);
SELECT cache_get('user:999');

--
-- Other result types.  Without key_prefix the key starts with the function's
-- schema, name and argument types, e.g. public.user_name(integer), so that
-- no two functions share keys (see below); without ttl the entry lives
-- cachext.default_ttl (one hour), as it was when cache_function was called.
--
-- A scalar result (text).
CREATE FUNCTION user_name(uid int) RETURNS text
    LANGUAGE sql AS $$ SELECT name FROM users WHERE id = uid $$;
SELECT cache_function('user_name(int)');
SELECT user_name_cached(42);
SELECT key, expires_at - created_at AS ttl FROM cache_entries WHERE key LIKE 'public.user_name(integer):%';

-- A NULL argument is written \N in the key, and the NULL is passed on to the
-- original.
SELECT user_name_cached(NULL) IS NULL AS is_null;
SELECT key, cache_get(key) FROM cache_entries WHERE key = cache_key('public.user_name(integer)', NULL::int);

-- A set of composite values (the table's row type): the rows are cached as
-- one JSON array, in order.
CREATE FUNCTION users_named(pattern text) RETURNS SETOF users
    LANGUAGE sql AS $$ SELECT * FROM users WHERE name LIKE pattern ORDER BY id $$;
SELECT cache_function('users_named(text)');
SELECT * FROM users_named_cached('A%');
SELECT cache_get('public.users_named(text):A%');

-- An empty set is cached as an empty array: no rows.
SELECT * FROM users_named_cached('Z%');
SELECT cache_get('public.users_named(text):Z%');

-- A set of scalars, from a function without arguments: its key is the
-- prefix alone.
CREATE FUNCTION user_ids() RETURNS SETOF int
    LANGUAGE sql AS $$ SELECT id FROM users ORDER BY id $$;
SELECT cache_function('user_ids()', key_prefix => 'all-user-ids');
SELECT * FROM user_ids_cached();
SELECT key, cache_get(key) FROM cache_entries WHERE key = 'all-user-ids';

-- A scalar result from a function without arguments.
CREATE FUNCTION user_count() RETURNS bigint
    LANGUAGE sql AS $$ SELECT count(*) FROM users $$;
SELECT cache_function('user_count()');
SELECT user_count_cached();
INSERT INTO users VALUES (1, 'Edsger');
SELECT user_count_cached() AS cached, user_count() AS current;
SELECT key FROM cache_entries WHERE key LIKE 'public.user_count%';

-- An array result.  Its elements, NULLs and special characters included,
-- come back as they were.
CREATE FUNCTION user_tags(uid int) RETURNS text[]
    LANGUAGE sql AS $$ SELECT ARRAY[name, 'a,b', 'say "hi"', NULL, ''] FROM users WHERE id = uid $$;
SELECT cache_function('user_tags(int)');
SELECT user_tags_cached(7), user_tags_cached(7) = user_tags(7) AS same;
SELECT cache_get('public.user_tags(integer):7');

-- A long argument makes a key over 200 characters, which is hashed:
-- prefix:md5 of the whole key.
CREATE FUNCTION shout(s text) RETURNS text LANGUAGE sql AS $$ SELECT upper(s) $$;
SELECT cache_function('shout(text)');
SELECT length(shout_cached(repeat('a', 250))) AS result_length;
SELECT key, key = 'public.shout(text):' || md5('public.shout(text):' || repeat('a', 250)) AS is_md5
  FROM cache_entries WHERE key LIKE 'public.shout(text):%';

--
-- Keys are unique per function: the same name in two schemas, or two
-- overloads, never share keys (and so never each other's results).
--
CREATE SCHEMA tenant1;
CREATE SCHEMA tenant2;
CREATE FUNCTION tenant1.whoami(i int) RETURNS text LANGUAGE sql AS $$ SELECT 'tenant1:' || i $$;
CREATE FUNCTION tenant2.whoami(i int) RETURNS text LANGUAGE sql AS $$ SELECT 'tenant2:' || i $$;
CREATE FUNCTION tenant1.whoami(t text) RETURNS text LANGUAGE sql AS $$ SELECT 'text:' || t $$;
SELECT cache_function('tenant1.whoami(int)');
SELECT cache_function('tenant2.whoami(int)');
SELECT cache_function('tenant1.whoami(text)');
SELECT tenant1.whoami_cached(1), tenant2.whoami_cached(1), tenant1.whoami_cached('1'::text);
SELECT key, cache_get(key) FROM cache_entries WHERE key LIKE 'tenant_.whoami(%'
 ORDER BY key COLLATE "C";
-- The wrapper's comment names the prefix.
SELECT obj_description('tenant2.whoami_cached(int)'::regprocedure, 'pg_proc');
DROP SCHEMA tenant1, tenant2 CASCADE;

--
-- Refusals.  Only plain functions with a fixed list of arguments of real
-- types, returning a real type, can be wrapped.
--
-- A procedure, an aggregate or a window function: 42809 (wrong_object_type).
CREATE PROCEDURE rename_user(uid int, new_name text)
    LANGUAGE sql AS $$ UPDATE users SET name = new_name WHERE id = uid $$;
SELECT cache_function('rename_user(int, text)');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_function('count("any")');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_function('row_number()');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A polymorphic argument: 0A000 (feature_not_supported).
SELECT cache_function('array_length(anyarray, int)');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A result of type record or void: 0A000.
CREATE FUNCTION user_record(uid int) RETURNS record
    LANGUAGE sql AS $$ SELECT id, name FROM users WHERE id = uid $$;
SELECT cache_function('user_record(int)');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE FUNCTION touch_user(uid int) RETURNS void
    LANGUAGE sql AS $$ UPDATE users SET name = name WHERE id = uid $$;
SELECT cache_function('touch_user(int)');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A variadic function: 0A000.
CREATE FUNCTION total(VARIADIC nums int[]) RETURNS int
    LANGUAGE sql AS $$ SELECT sum(n)::int FROM unnest(nums) AS n $$;
SELECT cache_function('total(int[])');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- None of the refused functions got a wrapper.
SELECT count(*) FROM pg_proc
 WHERE proname IN ('rename_user_cached', 'count_cached', 'row_number_cached',
                   'array_length_cached', 'user_record_cached',
                   'touch_user_cached', 'total_cached');

-- A function can be wrapped once: a second cache_function fails with 42723
-- (duplicate_function).
SELECT cache_function('user_name(int)', ttl => '5 minutes');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- cache_uncache_function drops the wrapper; the entries it cached stay
-- until they expire or are invalidated.
--
SELECT cache_uncache_function('user_name(int)');
SELECT count(*) AS wrappers FROM pg_proc WHERE proname = 'user_name_cached';
SELECT cache_get('public.user_name(integer):42');

-- Without a wrapper there is nothing to drop: 42883 (undefined_function).
SELECT cache_uncache_function('user_name(int)');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Once dropped, the function can be wrapped again, with other settings.
SELECT cache_function('user_name(int)', ttl => '5 minutes', key_prefix => 'name');
SELECT user_name_cached(7);
SELECT key, expires_at - created_at AS ttl FROM cache_entries WHERE key = 'name:7';

-- A function of the wrapper's name and arguments whose comment is not
-- cachext's is not a wrapper, and is left alone: 42883.
CREATE FUNCTION shout2(s text) RETURNS text LANGUAGE sql AS $$ SELECT upper(s) $$;
CREATE FUNCTION shout2_cached(s text) RETURNS text LANGUAGE sql AS $$ SELECT 'mine' $$;
COMMENT ON FUNCTION shout2_cached(text) IS 'not a cachext wrapper';
SELECT cache_uncache_function('shout2(text)');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT shout2_cached('x');

-- Dropping every wrapper leaves the originals.
SELECT cache_uncache_function(fn)
  FROM unnest(ARRAY['get_user_profile(int)', 'user_name(int)', 'users_named(text)',
                    'user_ids()', 'user_count()', 'user_tags(int)',
                    'shout(text)']::regprocedure[]) AS fn;
SELECT count(*) AS wrappers FROM pg_proc
 WHERE obj_description(oid, 'pg_proc') LIKE 'Cached by cachext: %';
SELECT * FROM get_user_profile(42);

DROP FUNCTION get_user_profile(int), user_name(int), users_named(text), user_ids(),
    user_count(), user_tags(int), shout(text), user_record(int), touch_user(int),
    total(int[]), shout2(text), shout2_cached(text);
DROP PROCEDURE rename_user(int, text);
DROP TYPE profile;
DROP TABLE users;
SELECT cache_clear() >= 0 AS cleared;

-- cache_uncache_function never drops a function it did not create, even one
-- named like a wrapper and without any comment.
CREATE FUNCTION plain(s text) RETURNS text LANGUAGE sql AS $$ SELECT s $$;
CREATE FUNCTION plain_cached(s text) RETURNS text LANGUAGE sql AS $$ SELECT 'mine' $$;
SELECT cache_uncache_function('plain(text)');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT plain_cached('x') AS still_there;

-- NULL arguments and a non-positive TTL are refused before anything is made.
SELECT cache_function(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_uncache_function(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_function('plain(text)', '-1 minute');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP FUNCTION plain(text), plain_cached(text);
