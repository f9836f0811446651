--
-- get_or_set: cache_get_or_set, the cache-aside pattern in one call.  On a
-- hit it returns the cached value; on a miss it runs a factory query, caches
-- the query's single value as jsonb and returns it.
--
-- Start from an empty cache with zeroed counters.
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

-- Timestamps vary from run to run, so this file prints intervals between
-- them and comparisons, never the timestamps themselves.

--
-- Hits and misses.  A sequence counts how often the factory query runs (a
-- temporary one: nextval() on it takes no transaction ID, which would make
-- the factory a writing one, never cached: see writing_factories).
--
CREATE TEMP SEQUENCE s;

-- The first call misses: the query runs and its value (1) is cached.
SELECT cache_get_or_set('seq', 'SELECT nextval(''s'')');
SELECT cache_get('seq');

-- The second call hits: the cached value comes back and the query does not
-- run again, so the sequence has advanced only once.
SELECT cache_get_or_set('seq', 'SELECT nextval(''s'')');
SELECT last_value FROM s;

-- Once the key is invalidated, the next call loads afresh.
SELECT cache_invalidate('seq');
SELECT cache_get_or_set('seq', 'SELECT nextval(''s'')');
SELECT last_value FROM s;

--
-- Parameters.  Arguments after the TTL are bound to $1, $2, ... as text;
-- the query casts them as it needs.
--
SELECT cache_get_or_set('u:1', 'SELECT jsonb_build_object(''id'', $1::int)', '1 hour', '1');
SELECT cache_get_or_set('u:2', 'SELECT jsonb_build_object(''id'', $1::int, ''name'', $2)',
                        '1 hour', '2', 'Ada');

-- A NULL parameter is bound as SQL NULL.
SELECT cache_get_or_set('u:null', 'SELECT $1 IS NULL', '1 hour', NULL);

-- The parameters may also be given as one array, with VARIADIC.
SELECT cache_get_or_set('u:3', 'SELECT $1::int + $2::int', '1 hour', VARIADIC ARRAY['1', '2']);

-- Parameters are bound, never spliced into the query text: this one comes
-- back as a plain string value, and the table it names is still there.
CREATE TABLE t (i int);
SELECT cache_get_or_set('inject', 'SELECT $1', '1 hour', 'x''); DROP TABLE t; --');
SELECT count(*) FROM t;

--
-- TTLs.  Without a ttl argument the entry lives cachext.default_ttl: one
-- hour by default.
--
SHOW cachext.default_ttl;
SELECT cache_get_or_set('ttl:default', 'SELECT 1');
SELECT expires_at - created_at AS ttl FROM cache_entries WHERE key = 'ttl:default';

-- The default follows the session's setting ...
SET cachext.default_ttl = '30min';
SELECT cache_get_or_set('ttl:half-hour', 'SELECT 1');
SELECT expires_at - created_at AS ttl FROM cache_entries WHERE key = 'ttl:half-hour';

-- ... and a default_ttl of 0 means no expiry.
SET cachext.default_ttl = 0;
SELECT cache_get_or_set('ttl:zero', 'SELECT 1');
SELECT expires_at IS NULL AS never_expires FROM cache_entries WHERE key = 'ttl:zero';
RESET cachext.default_ttl;

-- An explicit TTL overrides the default, and a NULL TTL never expires.
SELECT cache_get_or_set('ttl:explicit', 'SELECT 1', interval '2 hours');
SELECT cache_get_or_set('ttl:null', 'SELECT 1', NULL);
SELECT key, expires_at - created_at AS ttl, expires_at IS NULL AS never_expires
  FROM cache_entries WHERE key IN ('ttl:explicit', 'ttl:null') ORDER BY key;

--
-- Values.  The factory query returns one row of one column, converted with
-- to_jsonb.
--
SELECT cache_get_or_set('v:int', 'SELECT 42');
SELECT cache_get_or_set('v:numeric', 'SELECT 1.50');
SELECT cache_get_or_set('v:text', 'SELECT ''hello''::text');
SELECT cache_get_or_set('v:bool', 'SELECT true');
SELECT cache_get_or_set('v:array', 'SELECT ARRAY[1, 2, 3]');
SELECT cache_get_or_set('v:jsonb', 'SELECT ''{"a": [1, {"b": null}]}''::jsonb');

-- A row value becomes a JSON object, its column names the keys.
SELECT cache_get_or_set('v:row', 'SELECT t FROM (SELECT 7 AS id, ''Ada'' AS name) t');

-- A SQL NULL becomes JSON null, which is cached too: a miss is an answer.
-- cache_get then returns 'null', not a SQL NULL.
SELECT cache_get_or_set('v:null', 'SELECT NULL::int');
SELECT cache_get('v:null'), cache_get('v:null') IS NULL AS is_sql_null,
       cache_get('v:null') = 'null'::jsonb AS is_json_null;

-- Zero rows become JSON null as well.
SELECT cache_get_or_set('v:no-rows', 'SELECT 1 WHERE false');
SELECT cache_get('v:no-rows');

-- A cached JSON null is a hit: the query does not run again.
SELECT last_value AS before FROM s;
SELECT cache_get_or_set('v:null-seq', 'SELECT CASE WHEN nextval(''s'') > 0 THEN NULL::int END');
SELECT cache_get_or_set('v:null-seq', 'SELECT CASE WHEN nextval(''s'') > 0 THEN NULL::int END');
SELECT last_value AS after FROM s;

-- A data-modifying statement with RETURNING is a factory too.
INSERT INTO t VALUES (1), (2);
SELECT cache_get_or_set('v:returning', 'UPDATE t SET i = i * 10 WHERE i = 2 RETURNING i');
SELECT i FROM t ORDER BY i;

--
-- Factory errors.  Nothing is cached when the factory query fails.
--
-- More than one row: 21000 (cardinality_violation).
SELECT cache_get_or_set('e:rows', 'SELECT generate_series(1, 2)');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- More than one column: 22023 (invalid_parameter_value).
SELECT cache_get_or_set('e:columns', 'SELECT 1, 2');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A statement that returns no result set, such as a utility command or an
-- UPDATE without RETURNING: 22023 as well.
SELECT cache_get_or_set('e:utility', 'CREATE TEMP TABLE tmp (i int)');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_get_or_set('e:update', 'UPDATE t SET i = i');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- An error of the query itself surfaces with its own SQLSTATE, here 22012
-- (division_by_zero).
SELECT cache_get_or_set('e:div', 'SELECT 1 / (random() * 0)::int');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- So does a syntax error (42601) or a missing table (42P01).
SELECT cache_get_or_set('e:syntax', 'SELEC 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_get_or_set('e:table', 'SELECT count(*) FROM no_such_table');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- None of the failed loads cached anything.
SELECT count(*) FROM cache_entries WHERE key LIKE 'e:%';

-- A NULL key or a NULL query is refused with 22004 (null_value_not_allowed),
-- before any query runs; an empty key with 22023, as everywhere.
SELECT cache_get_or_set(NULL, 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_get_or_set('e:null-query', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_get_or_set('', 'SELECT 1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- Statistics.  cache_stats counts factory runs that succeeded (loads) and
-- that raised an error (load_failures), and the time spent in them
-- (load_time_ms).  Arguments refused before the query runs count as
-- neither.
--
SELECT loads, load_failures, load_time_ms >= 0 AS has_load_time
  FROM cache_stats WHERE layer = 'l1';

-- cache_stats_reset zeroes them; then one miss and one hit make one load.
SELECT cache_stats_reset();
SELECT loads, load_failures, load_time_ms FROM cache_stats WHERE layer = 'l1';
SELECT cache_get_or_set('stats', 'SELECT 1');
SELECT cache_get_or_set('stats', 'SELECT 1');
SELECT hits, misses, sets, loads, load_failures, load_time_ms >= 0 AS has_load_time
  FROM cache_stats WHERE layer = 'l1';

-- A failing factory counts as a load failure and as no load.
SELECT cache_get_or_set('stats:fail', 'SELECT 1 / (random() * 0)::int');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT loads, load_failures FROM cache_stats WHERE layer = 'l1';

--
-- Transactions.  A transaction that has written may read its own
-- uncommitted rows, so what it loads is returned but not stored.
--
BEGIN;
CREATE TEMP TABLE tt (i int);
INSERT INTO tt VALUES (1);
SELECT cache_get_or_set('w', 'SELECT count(*) FROM tt');
SELECT cache_get('w') IS NULL AS not_stored;
ROLLBACK;
SELECT cache_get('w') IS NULL AS not_stored;

-- A transaction that has only read stores what it loads, and the entry
-- outlives the transaction: the cache is not transactional.
BEGIN;
SELECT cache_get_or_set('r', 'SELECT count(*) FROM t');
SELECT cache_get('r');
ROLLBACK;
SELECT cache_get('r');

-- The same in a READ ONLY transaction.
BEGIN TRANSACTION READ ONLY;
SELECT cache_get_or_set('ro', 'SELECT count(*) FROM t');
COMMIT;
SELECT cache_get('ro');

-- A REPEATABLE READ (or SERIALIZABLE) transaction reads from a snapshot that
-- may predate a commit whose invalidation already ran, so what it loads is
-- returned but not stored either.
BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ;
SELECT cache_get_or_set('rr', 'SELECT count(*) FROM t');
COMMIT;
SELECT cache_get('rr') IS NULL AS not_stored;

DROP TABLE t;
DROP SEQUENCE s;
SELECT cache_clear() >= 0 AS cleared;
