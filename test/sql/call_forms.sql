--
-- call_forms: the ways to call cache_set and cache_get_or_set, by position
-- and by name, and the TTL each call gives its entry.  Every form shown
-- here resolves to one function; the last part shows the calls PostgreSQL
-- cannot resolve, and why (docs/reference.md, cache_get_or_set_tagged).
--
SELECT cache_clear() >= 0 AS cleared;
-- A default TTL that is easy to recognise: ten minutes.
SET cachext.default_ttl = '10min';

--
-- cache_set(key, value [, ttl] [, tags]): one function, ttl and tags with
-- defaults.  Without ttl the entry lives cachext.default_ttl.
--
SELECT cache_set('plain', '1');
SELECT cache_ttl('plain') BETWEEN interval '9 min' AND interval '10 min' AS default_ttl;

-- Tags without a TTL: the entry lives cachext.default_ttl too, and
-- cache_invalidate_tag removes it.
SELECT cache_set('user:42:name', '"Ada"', tags => ARRAY['user:42']);
SELECT cache_ttl('user:42:name') BETWEEN interval '9 min' AND interval '10 min' AS default_ttl;
SELECT cache_set('user:42:prefs', '{}', ttl => NULL, tags => ARRAY['user:42']);
SELECT cache_ttl('user:42:prefs') < interval '0' AS never_expires;
SELECT cache_invalidate_tag('user:42');
SELECT cache_get('user:42:name') AS name, cache_get('user:42:prefs') AS prefs;

-- A TTL by position, as an untyped literal, a typed interval or NULL (no
-- expiry).
SELECT cache_set('by-position', '2', '1 hour');
SELECT cache_ttl('by-position') BETWEEN interval '59 min' AND interval '1 hour' AS one_hour;
SELECT cache_set('by-position', '2', interval '5 minutes');
SELECT cache_ttl('by-position') BETWEEN interval '4 min' AND interval '5 min' AS five_minutes;
SELECT cache_set('by-position', '2', NULL);
SELECT cache_ttl('by-position') < interval '0' AS never_expires;

-- TTL and tags by position; the tags as an array or an array literal.
SELECT cache_set('tagged:1', '3', '1 hour', ARRAY['t']);
SELECT cache_set('tagged:2', '3', '1 hour', '{t, u}');
SELECT cache_invalidate_tag('t');

-- Every argument by name, in any order.
SELECT cache_set(key => 'named', value => '4');
SELECT cache_ttl('named') BETWEEN interval '9 min' AND interval '10 min' AS default_ttl;
SELECT cache_set(value => '5', key => 'named', ttl => '2 min');
SELECT cache_ttl('named') BETWEEN interval '1 min' AND interval '2 min' AS two_minutes;
SELECT cache_set(tags => ARRAY['n'], value => '6', key => 'named');
SELECT cache_ttl('named') BETWEEN interval '9 min' AND interval '10 min' AS default_ttl;
SELECT cache_invalidate_tag('n');

-- With cachext.default_ttl = 0 an entry without ttl never expires, tagged
-- or not.
SET cachext.default_ttl = 0;
SELECT cache_set('forever', '7', tags => ARRAY['f']);
SELECT cache_ttl('forever') < interval '0' AS never_expires;
SET cachext.default_ttl = '10min';

--
-- cache_get_or_set(key, query [, ttl]) and cache_get_or_set(key, query,
-- ttl, VARIADIC params): the default TTL, an explicit one, parameters one
-- by one or as an array.
--
SELECT cache_get_or_set('gos:default', 'SELECT 1');
SELECT cache_ttl('gos:default') BETWEEN interval '9 min' AND interval '10 min' AS default_ttl;
SELECT cache_get_or_set('gos:ttl', 'SELECT 2', '1 hour');
SELECT cache_get_or_set('gos:forever', 'SELECT 3', NULL);
SELECT cache_ttl('gos:forever') < interval '0' AS never_expires;
SELECT cache_get_or_set('gos:named', query => 'SELECT 4', ttl => '2 min');
SELECT cache_ttl('gos:named') BETWEEN interval '1 min' AND interval '2 min' AS two_minutes;
SELECT cache_get_or_set('gos:param', 'SELECT $1', '1 hour', 'five');
SELECT cache_get_or_set('gos:params', 'SELECT $1 || $2', NULL, 'si', 'x');
SELECT cache_get_or_set('gos:array', 'SELECT $1 || $2', NULL, VARIADIC ARRAY['se', 'ven']);

-- With tags: cache_get_or_set_tagged, by position, with a TTL.
SELECT cache_get_or_set_tagged('gos:tagged', 'SELECT 8',
                               current_setting('cachext.default_ttl')::interval, ARRAY['g']);
SELECT cache_ttl('gos:tagged') BETWEEN interval '9 min' AND interval '10 min' AS default_ttl;
SELECT cache_get_or_set_tagged('gos:tagged-param', 'SELECT $1', NULL, ARRAY['g'], 'nine');
SELECT cache_invalidate_tag('g');

--
-- What does not resolve.  A tags argument of cache_get_or_set itself would
-- collide with its VARIADIC params (the same argument types), and a
-- VARIADIC function takes no named arguments: these calls find no
-- function.
--
SELECT cache_get_or_set('gos:no', 'SELECT 10', tags => ARRAY['g']);
SELECT cache_get_or_set_tagged('gos:no', 'SELECT 10', ttl => NULL, tags => ARRAY['g']);
RESET cachext.default_ttl;
