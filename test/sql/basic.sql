--
-- basic: the core SQL API of cachext, one function at a time.
--
-- Every test file starts from an empty cache with zeroed counters, so the
-- files do not depend on each other (they share one database and one L1).
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

-- cache_set stores a jsonb value under a text key; cache_get reads it back.
SELECT cache_set('user:1', '{"name": "Ada", "langs": ["en", "fr"]}');
SELECT cache_get('user:1');

-- Any jsonb value can be cached: objects, arrays, strings, numbers, booleans.
SELECT cache_set('list', '[1, 2, 3]');
SELECT cache_set('greeting', '"hello"');
SELECT cache_set('answer', '42');
SELECT cache_set('flag', 'false');
SELECT cache_get('list'), cache_get('greeting'), cache_get('answer'), cache_get('flag');

-- Setting an existing key overwrites its value.
SELECT cache_set('answer', '43');
SELECT cache_get('answer');

-- A key that was never set is a miss: cache_get returns SQL NULL.
SELECT cache_get('no-such-key') IS NULL AS is_miss;

-- A cached JSON null is a hit, not a miss: it comes back as 'null'::jsonb,
-- which is a value (IS NOT NULL in SQL), unlike the SQL NULL of a miss.
SELECT cache_set('known-absent', 'null');
SELECT cache_get('known-absent') AS value,
       cache_get('known-absent') IS NULL AS is_sql_null,
       cache_get('known-absent') = 'null'::jsonb AS is_json_null;
SELECT cache_get('never-set') IS NULL AS is_sql_null;

-- Keys are case sensitive and may hold any characters.
SELECT cache_set('Answer', '"upper"');
SELECT cache_set('ключ 🔑 "quoted" \back', '"unicode"');
SELECT cache_get('answer'), cache_get('Answer'), cache_get('ключ 🔑 "quoted" \back');

-- cache_set with a third argument stores with an explicit TTL (see ttl.sql).
SELECT cache_set('short-lived', '1', interval '10 minutes');
SELECT cache_get('short-lived');

-- cache_get_multi reads many keys at once: one row per key found, in the
-- order of the array.  Misses produce no row.
SELECT * FROM cache_get_multi(ARRAY['list', 'no-such-key', 'user:1', 'answer']);

-- A key given twice is returned twice.
SELECT * FROM cache_get_multi(ARRAY['answer', 'flag', 'answer']);

-- A cached JSON null is a row (a hit); an empty array gives no rows.
SELECT * FROM cache_get_multi(ARRAY['known-absent', 'never-set']);
SELECT count(*) FROM cache_get_multi('{}');

-- cache_invalidate removes a key: true if it was cached, false otherwise.
SELECT cache_invalidate('answer');
SELECT cache_get('answer') IS NULL AS is_miss;
SELECT cache_invalidate('answer');
SELECT cache_invalidate('never-set');

-- The cache_entries view lists the live entries with their size in L1.
SELECT namespace, key, bytes FROM cache_entries ORDER BY key COLLATE "C";

-- The cache_stats view has one row per cache layer; this is L1's.
SELECT layer, entries, max_entries, max_bytes FROM cache_stats WHERE layer = 'l1';

-- cache_stats_reset zeroes the counters (it returns void).
SELECT cache_stats_reset();
SELECT hits, misses, sets, invalidations FROM cache_stats WHERE layer = 'l1';

--
-- Namespaces.  cachext.namespace (default 'cache:') is the namespace of
-- the keys: it is stored in front of every key, and sessions with different
-- namespaces do not see each other's keys.  Only superusers may change it.
--
SHOW cachext.namespace;
SELECT cache_set('shared-name', '"from cache:"');

SET cachext.namespace = 'app2:';
SELECT cache_get('shared-name') IS NULL AS is_miss;
SELECT cache_set('shared-name', '"from app2:"');
SELECT cache_set('only-in-app2', 'true');
SELECT cache_set('user:2', '{"name": "Grace"}');
SELECT cache_get('shared-name');

-- Back in the default namespace, the original value is untouched.
RESET cachext.namespace;
SELECT cache_get('shared-name');
SELECT cache_get('only-in-app2') IS NULL AS is_miss;

-- cache_entries shows every namespace, with the key without its prefix.
SELECT namespace, key FROM cache_entries
 WHERE key IN ('shared-name', 'only-in-app2', 'user:2')
 ORDER BY namespace, key;

-- cache_invalidate only removes the key of the current namespace.
SET cachext.namespace = 'app2:';
SELECT cache_invalidate('shared-name');
RESET cachext.namespace;
SELECT cache_get('shared-name');

-- cache_invalidate_pattern only touches the current namespace too: 'user:*'
-- here removes cache:user:1 but not app2:user:2.
SELECT cache_invalidate_pattern('user:*');
SELECT namespace, key FROM cache_entries WHERE key LIKE 'user:%';
SET cachext.namespace = 'app2:';
SELECT cache_get('user:2');
SELECT cache_invalidate_pattern('*');
RESET cachext.namespace;
SELECT count(*) FROM cache_entries WHERE namespace = 'app2:';

-- cache_clear empties L1, every namespace, and returns how many entries
-- there were.
SELECT count(*) FROM cache_entries;
SELECT cache_clear();
SELECT count(*) FROM cache_entries;
SELECT cache_clear();
