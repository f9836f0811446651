--
-- api: counters, conditional writes, TTL reads and refreshes, bulk set and
-- tags (L1 alone: no Redis is configured here; test/t/100_api.pl runs the
-- same functions against Redis).
--
-- Start from an empty cache with zeroed counters.
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

--
-- cache_incr: an atomic counter.
--
-- An absent key starts at 0; by defaults to 1; a negative by decrements.
SELECT cache_incr('hits');
SELECT cache_incr('hits');
SELECT cache_incr('hits', 10);
SELECT cache_incr('hits', -2);
SELECT cache_incr('hits', by => 0);
-- The value stays a JSON number that cache_get (and any client) reads.
SELECT cache_get('hits'), jsonb_typeof(cache_get('hits'));
-- A counter created by cache_incr gets ttl (default cachext.default_ttl);
-- incrementing it later keeps its expiry.
SELECT cache_incr('short-lived', 1, interval '10 minutes');
SELECT expires_at - created_at AS ttl FROM cache_entries WHERE key = 'short-lived';
SELECT cache_incr('short-lived', 1, interval '1 day');
SELECT cache_ttl('short-lived') <= interval '10 minutes' AS kept_its_ttl;
SELECT cache_incr('forever-counter', ttl => NULL);
SELECT cache_ttl('forever-counter');
-- Any JSON integer counts, whoever stored it.
SELECT cache_set('stored', '41');
SELECT cache_incr('stored');
SELECT cache_set('negative', '-5');
SELECT cache_incr('negative', 5);

-- A value that is not an integer is an error naming the key: 22023
-- (invalid_parameter_value).  Redis' rule: digits only, no fraction, no
-- exponent, no quotes.
SELECT cache_set('text', '"7"');
SELECT cache_incr('text');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set('fraction', '1.5');
SELECT cache_incr('fraction');
SELECT cache_set('point-zero', '2.0');
SELECT cache_incr('point-zero');
-- (jsonb keeps 1e3 as 1000, which is an integer's text.)
SELECT cache_set('exponent', '1e3');
SELECT cache_incr('exponent');
SELECT cache_set('object', '{"n": 1}');
SELECT cache_incr('object');
SELECT cache_set('json-null', 'null');
SELECT cache_incr('json-null');
-- The failed calls left the values as they were.
SELECT cache_get('text'), cache_get('fraction');

-- Leaving bigint's range is an error naming the key: 22003
-- (numeric_value_out_of_range); the value is unchanged.
SELECT cache_incr('big', 9223372036854775807);
SELECT cache_incr('big');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_get('big');
SELECT cache_incr('small', -9223372036854775807);
SELECT cache_incr('small', -1);
SELECT cache_incr('small', -1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_get('small');
-- A stored number beyond bigint is not an integer cache_incr can add to.
SELECT cache_set('huge', '9223372036854775808');
SELECT cache_incr('huge', 0);

-- Arguments: the key as everywhere; a NULL by is an error.
SELECT cache_incr(NULL);
SELECT cache_incr('');
SELECT cache_incr('hits', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_incr('hits', ttl => interval '0');
SELECT cache_incr('hits', 1.5);

--
-- cache_add and cache_replace: conditional writes.
--
-- cache_add stores only when the key is absent.
SELECT cache_add('lock:job-1', '"worker-a"');
SELECT cache_add('lock:job-1', '"worker-b"');
SELECT cache_get('lock:job-1');
-- An expired entry is absent.
SELECT cache_set('expired', '1', interval '1 ms');
SELECT pg_sleep(0.01);
SELECT cache_add('expired', '2');
SELECT cache_get('expired');
-- cache_replace stores only when the key is present.
SELECT cache_replace('nobody', '1');
SELECT cache_get('nobody');
SELECT cache_replace('lock:job-1', '"worker-c"', interval '2 hours');
SELECT cache_get('lock:job-1');
SELECT expires_at - created_at AS ttl FROM cache_entries WHERE key = 'lock:job-1';
-- Both take a TTL like cache_set (NULL: no expiry), and refuse NULLs.
SELECT cache_add('forever-add', '1', ttl => NULL);
SELECT cache_ttl('forever-add');
SELECT cache_add('k', NULL);
SELECT cache_replace(NULL, '1');
SELECT cache_add('k', '1', interval '-1 s');
-- cache_stats counts refused adds.
SELECT adds_refused FROM cache_stats WHERE layer = 'l1';

--
-- cache_ttl and cache_touch.
--
-- cache_ttl returns the time left; NULL for a key that is not cached.
SELECT cache_set('session', '"s"', interval '15 minutes');
SELECT cache_ttl('session') BETWEEN interval '14 minutes' AND interval '15 minutes' AS about_15_minutes;
SELECT cache_ttl('no-such-key');
-- An entry without expiry answers -1 ms, as Redis' PTTL answers -1.
SELECT cache_set('config', '{}', ttl => NULL);
SELECT cache_ttl('config');
-- cache_touch sets a new TTL without rewriting the value; true if cached.
SELECT cache_touch('session', interval '1 day');
SELECT cache_ttl('session') > interval '23 hours' AS about_a_day, cache_get('session');
SELECT cache_touch('config', interval '1 minute');
SELECT cache_ttl('config') <= interval '1 minute' AS now_expires;
SELECT cache_touch('session', NULL);
SELECT cache_ttl('session');
SELECT cache_touch('no-such-key', interval '1 minute');
SELECT cache_touch('session', interval '0');
SELECT cache_touch('session', interval '300000 years');
SELECT cache_ttl(NULL);
SELECT cache_ttl('');

--
-- cache_set_multi: many keys at once (one round trip to Redis).
--
SELECT cache_set_multi(ARRAY['m:1', 'm:2', 'm:3'], ARRAY['1', '{"two": 2}', '"three"']::jsonb[]);
SELECT * FROM cache_get_multi(ARRAY['m:1', 'm:2', 'm:3']);
SELECT cache_set_multi(ARRAY['m:4'], ARRAY['4']::jsonb[], interval '1 minute');
SELECT cache_ttl('m:4') <= interval '1 minute' AS one_minute;
SELECT cache_set_multi('{}', '{}');
-- Every key and value is checked before any is stored.
SELECT cache_set_multi(ARRAY['m:5', NULL], ARRAY['5', '6']::jsonb[]);
SELECT cache_set_multi(ARRAY['m:5', 'm:6'], ARRAY['5', NULL]::jsonb[]);
SELECT cache_set_multi(ARRAY['m:5', ''], ARRAY['5', '6']::jsonb[]);
SELECT cache_get('m:5');
SELECT cache_set_multi(ARRAY['m:5', 'm:6'], ARRAY['5']::jsonb[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set_multi(NULL, ARRAY['5']::jsonb[]);

--
-- Tags: cache_set(..., ttl, tags) and cache_invalidate_tag.
--
SELECT cache_set('user:1', '{"name": "Ada"}', interval '1 hour', ARRAY['user:1', 'users']);
SELECT cache_set('user:1:posts', '[1, 2]', ttl => NULL, tags => ARRAY['user:1']);
SELECT cache_set('user:2', '{"name": "Bob"}', interval '1 hour', ARRAY['user:2', 'users']);
SELECT cache_set('untagged', '1');
-- Invalidating a tag removes every key stored with it, and returns how many.
SELECT cache_invalidate_tag('user:1');
SELECT key FROM cache_entries WHERE key LIKE 'user:%' ORDER BY key;
SELECT cache_invalidate_tag('users');
SELECT cache_invalidate_tag('users');
SELECT cache_get('untagged');
-- A key written again without the tag no longer carries it.
SELECT cache_set('retagged', '1', interval '1 hour', ARRAY['old']);
SELECT cache_set('retagged', '2');
SELECT cache_invalidate_tag('old');
SELECT cache_get('retagged');
-- Duplicate tags count once; NULL or an empty array means no tags.
SELECT cache_set('dup', '1', interval '1 hour', ARRAY['a', 'a', 'b', 'a']);
SELECT cache_invalidate_tag('a');
SELECT cache_set('none', '1', interval '1 hour', NULL);
SELECT cache_set('none', '1', interval '1 hour', '{}');
-- Tags are checked like keys.
SELECT cache_set('bad', '1', interval '1 hour', ARRAY['ok', NULL]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_set('bad', '1', interval '1 hour', ARRAY['']);
SELECT cache_set('bad', '1', interval '1 hour', ARRAY[repeat('t', 1025)]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_invalidate_tag(NULL);
SELECT cache_invalidate_tag('');
-- An entry may carry up to 1000 distinct tags: 54000 beyond.
SELECT cache_set('many-tags', '1', interval '1 hour',
                 ARRAY(SELECT 'tag-' || i FROM generate_series(1, 1000) i));
SELECT cache_invalidate_tag('tag-1000');
SELECT cache_set('too-many-tags', '1', interval '1 hour',
                 ARRAY(SELECT 'tag-' || i FROM generate_series(1, 1001) i));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- ... but duplicates do not count.
SELECT cache_set('many-duplicates', '1', interval '1 hour',
                 ARRAY(SELECT 'same' FROM generate_series(1, 5000) i));
SELECT cache_invalidate_tag('same');
-- A tag of 10 000 keys: this L1 holds 1000 entries (cachext.l1_max_entries),
-- the last 1000 written; the tag removes each of them.
SELECT cache_clear() >= 0 AS cleared;
SELECT count(cache_set('bulk:' || i, to_jsonb(i), interval '1 hour', ARRAY['bulk']))
  FROM generate_series(1, 10000) i;
SELECT count(*) AS cached FROM cache_entries WHERE key LIKE 'bulk:%';
SELECT cache_invalidate_tag('bulk');
SELECT count(*) AS left_over FROM cache_entries WHERE key LIKE 'bulk:%';

-- cache_get_or_set_tagged is cache_get_or_set storing its value with tags,
-- with or without parameters (ttl is then needed).
SELECT cache_get_or_set_tagged('gos:1', 'SELECT 1', interval '1 hour', ARRAY['gos']);
SELECT cache_get_or_set_tagged('gos:2', 'SELECT $1::int + $2::int', interval '1 hour', ARRAY['gos'], '2', '3');
SELECT cache_get_or_set_tagged('gos:3', 'SELECT $1', interval '1 hour', ARRAY['gos'], VARIADIC ARRAY['three']);
SELECT cache_get_or_set_tagged('gos:5', 'SELECT 5', NULL, NULL);
SELECT cache_invalidate_tag('gos');
SELECT cache_get('gos:5');
-- A hit returns the cached value, whatever the tags.
SELECT cache_get_or_set_tagged('gos:5', 'SELECT 6', NULL, ARRAY['other']);

-- cache_function's wrappers can tag what they cache.
CREATE FUNCTION regress_square(n int) RETURNS int LANGUAGE sql AS 'SELECT n * n';
SELECT cache_function('regress_square(int)', interval '1 hour', NULL, ARRAY['squares']);
SELECT regress_square_cached(3), regress_square_cached(4);
SELECT cache_invalidate_tag('squares');
SELECT cache_uncache_function('regress_square(int)');
SELECT cache_function('regress_square(int)', interval '1 hour', NULL, ARRAY[NULL]);
SELECT cache_uncache_function('regress_square(int)');
DROP FUNCTION regress_square(int);

-- Watch templates beginning with "tag:" name tags: a committed change to a
-- row invalidates every key stored with the tag its template gives.
CREATE TABLE regress_users (id int PRIMARY KEY, name text);
INSERT INTO regress_users VALUES (1, 'Ada'), (2, 'Bob');
SELECT cache_watch_table('regress_users', 'USER', ARRAY['user:{id}', 'tag:user:{id}']);
SELECT cache_set('profile:1', '"p1"', interval '1 hour', ARRAY['user:1']);
SELECT cache_set('feed:1', '"f1"', interval '1 hour', ARRAY['user:1']);
SELECT cache_set('profile:2', '"p2"', interval '1 hour', ARRAY['user:2']);
UPDATE regress_users SET name = 'Ada L.' WHERE id = 1;
SELECT key FROM cache_entries WHERE key IN ('profile:1', 'feed:1', 'profile:2') ORDER BY key;
-- A rolled-back change invalidates nothing.
BEGIN;
DELETE FROM regress_users WHERE id = 2;
ROLLBACK;
SELECT cache_get('profile:2');
-- TRUNCATE cannot name the rows' tags: it invalidates the whole namespace.
TRUNCATE regress_users;
SELECT cache_get('profile:2');
DROP TABLE regress_users;

-- cache_stats counts increments and tag invalidations (the trigger's too).
SELECT incrs > 0 AS counted_incrs, adds_refused, tag_invalidations > 0 AS counted_tags
  FROM cache_stats WHERE layer = 'l1';
SELECT cache_stats_reset();
SELECT incrs, adds_refused, tag_invalidations FROM cache_stats WHERE layer = 'l1';

SELECT cache_clear() >= 0 AS cleared;
