--
-- hostile_input: what every SQL function does with input meant to break it.
-- Each case either works (and the result is checked) or fails with a clear
-- error and its SQLSTATE; none is an internal error (XX000) and the session
-- and server stay up.  errors.sql covers the plain argument checks of
-- cache_get/cache_set/cache_invalidate/cache_get_multi; this file covers the
-- rest, and the awkward bytes.  L1 only: test/t/060_hostile_redis.pl sends
-- the same kinds of input to a real Redis.
--
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();
SELECT cache_set('sentinel', '"untouched"');

--
-- NULL arguments of the functions errors.sql does not cover.  Each is
-- refused with 22004 (null_value_not_allowed) or has a documented meaning.
--
SELECT cache_invalidate_pattern(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_key(NULL, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_key('p', VARIADIC NULL::text[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A NULL parameter array binds no parameter: the query must not use one.
SELECT cache_get_or_set('gos:null-params', 'SELECT 7', NULL, VARIADIC NULL::text[]);
SELECT cache_get_or_set('gos:null-params2', 'SELECT $1', NULL, VARIADIC NULL::text[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_watch_table(NULL, 'USER', ARRAY['user:{id}']);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_watch_table('pg_class', 'USER', ARRAY['user:{oid}'], NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_unwatch_table(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- An empty key array reads nothing; an array holding a NULL is refused.
SELECT count(*) FROM cache_get_multi(ARRAY[]::text[]);
SELECT * FROM cache_get_multi(ARRAY[NULL]::text[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The trigger function is only a trigger.
SELECT cache_invalidation_trigger();
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- Empty strings.  A pattern, like a key, must not be empty (22023); an
-- empty cache_key prefix or argument is kept as written.
--
SELECT cache_invalidate_pattern('');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_key('', '') AS empty_prefix_and_argument;
SELECT cache_get_or_set('', 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_get_or_set('gos:empty-query', '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- Control characters, CR LF, quotes, backslashes and glob characters in a
-- key: every byte from 1 to 31, and 127, is a key of its own, and each
-- round-trips exactly.  (PostgreSQL text cannot hold a NUL byte.)
--
SELECT count(*) FILTER (WHERE cache_get(k) = to_jsonb(k)) AS round_trips,
       count(DISTINCT k) AS keys
  FROM (SELECT 'ctl:' || chr(c) || ':' || c AS k
          FROM generate_series(1, 31) c UNION ALL SELECT 'ctl:' || chr(127)) s,
       LATERAL (SELECT cache_set(k, to_jsonb(k))) w;
SELECT cache_set(E'x\r\nFLUSHALL\r\n', '"one key"');
SELECT cache_get(E'x\r\nFLUSHALL\r\n'), cache_get('x'), cache_get('FLUSHALL');
SELECT cache_set(E'q:"\'\\ *?[]{}$', '"quoted"');
SELECT cache_get(E'q:"\'\\ *?[]{}$');
-- cache_entries returns each key byte for byte.
SELECT count(*) AS listed FROM cache_entries
 WHERE key IN (E'x\r\nFLUSHALL\r\n', E'q:"\'\\ *?[]{}$')
    OR key LIKE 'ctl:%';

-- A pattern finds such keys only when it names them: CR LF is an ordinary
-- character, and a glob character matches itself only when escaped.
SELECT cache_invalidate_pattern(E'x\r\n*');
SELECT cache_get(E'x\r\nFLUSHALL\r\n') IS NULL AS removed;
SELECT cache_set('q:star', '1');
SELECT cache_invalidate_pattern(E'q:"\'\\\\ \\*\\?\\[]{}$');
SELECT cache_get(E'q:"\'\\ *?[]{}$') IS NULL AS removed, cache_get('q:star') AS untouched;
-- Patterns made of metacharacters only are accepted or refused, never
-- misread: a lone '[' or a trailing '\' is refused with 2201B.
SELECT cache_invalidate_pattern('[');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_invalidate_pattern(E'ctl:\\');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_invalidate_pattern('ctl:[' || chr(1) || '-' || chr(31) || ']*');
SELECT cache_invalidate_pattern('ctl:?');
SELECT count(*) AS control_keys_left FROM cache_entries WHERE key LIKE 'ctl:%';
-- A long pattern of stars is fine (and matches nothing here).
SELECT cache_invalidate_pattern('none:' || repeat('*', 2000));

--
-- Invalid UTF-8 never reaches cachext: convert_from refuses it (22021)
-- before cache_set is called, and the cache is unchanged.
--
SELECT cache_set(convert_from('\xc328'::bytea, 'UTF8'), '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set('utf8', to_jsonb(convert_from('\xfffe'::bytea, 'UTF8')));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS entries FROM cache_entries WHERE key = 'utf8';
-- Valid multi-byte keys at the byte limit: 256 four-byte characters are
-- exactly 1024 bytes; one more byte is too many (54000).
SELECT cache_set(repeat('😀', 256), '"emoji"');
SELECT cache_get(repeat('😀', 256));
SELECT cache_set(repeat('😀', 256) || 'x', '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- Deeply nested JSON.  jsonb's parser refuses what would exhaust the stack
-- (54001) before cachext sees it; a value nested 10000 deep is cached and
-- read back intact (jsonb values are flat in memory, so cachext never
-- recurses over them).
--
SELECT cache_set('deep', (repeat('[', 1000000) || repeat(']', 1000000))::jsonb);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set('deep', (repeat('{"d": ', 10000) || '"bottom"' || repeat('}', 10000))::jsonb);
SELECT cache_get('deep') #>> array_fill('d'::text, ARRAY[10000]) AS bottom,
       length(cache_get('deep')::text) AS text_length;

--
-- Numbers.  jsonb holds numerics exactly, however large or precise; it
-- has no NaN or Infinity, so those are refused before cachext (22P02), or
-- turned into strings by to_jsonb.
--
SELECT cache_set('num', jsonb_build_array(1e308, -0.0, 123456789012345678901234567890.123456789,
                                          repeat('9', 1000)::numeric));
SELECT length(cache_get('num') ->> 0) AS big_digits, cache_get('num') -> 1 AS minus_zero,
       cache_get('num') -> 2 AS precise, length(cache_get('num') ->> 3) AS digits;
SELECT cache_set('num', '[NaN]');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set('num', to_jsonb('NaN'::float8));
SELECT cache_get('num');
SELECT cache_set('num', to_jsonb('NaN'::numeric));
SELECT cache_get('num');

--
-- Values over cachext.l1_max_value_size (1 MB here) without Redis: refused
-- with 54000, and nothing is stored.  errors.sql and bounds.sql check the
-- exact limit; here the value is a 200 MB string, a large share of the
-- 256 MB jsonb allows.
--
SELECT cache_set('huge', to_jsonb(repeat('v', 200 * 1024 * 1024)));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_get('huge') IS NULL AS not_stored;
-- jsonb itself cannot hold a string over 256 MB (54000), so no value of
-- 1 GB ever reaches cachext.
SELECT cache_set('huge', to_jsonb(repeat('v', 300 * 1024 * 1024)));
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- After all this the session works and the sentinel is intact.
SELECT cache_get('sentinel');
SELECT cache_clear() >= 0 AS cleared;
