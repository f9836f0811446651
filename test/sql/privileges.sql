--
-- privileges: what ordinary users may do.
--
-- Start from an empty cache with zeroed counters.
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

-- An ordinary role, neither superuser nor granted anything.
CREATE ROLE regress_cache_user;
CREATE SCHEMA regress_evil AUTHORIZATION regress_cache_user;
SELECT cache_set('owned-by-admin', '"admin value"');

-- The administration functions are revoked from PUBLIC; everything else is
-- open to every role.
SELECT p.oid::regprocedure AS function,
       has_function_privilege('regress_cache_user', p.oid, 'EXECUTE') AS user_may_execute
  FROM pg_proc AS p
 WHERE p.oid IN (SELECT objid FROM pg_depend
                  WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cachext')
                    AND classid = 'pg_proc'::regclass)
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- No function is SECURITY DEFINER, so every call runs with the caller's
-- rights; the PL/pgSQL ones fix their search_path, so objects a role
-- creates cannot stand in for the catalog functions they call.
SELECT p.oid::regprocedure AS function, l.lanname AS language, p.prosecdef AS security_definer,
       p.proconfig AS settings
  FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang
 WHERE p.oid IN (SELECT objid FROM pg_depend
                  WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cachext')
                    AND classid = 'pg_proc'::regclass)
   AND (l.lanname <> 'c' OR p.prosecdef)
 ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT count(*) AS security_definer_functions
  FROM pg_proc AS p
 WHERE p.prosecdef
   AND p.oid IN (SELECT objid FROM pg_depend
                  WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cachext')
                    AND classid = 'pg_proc'::regclass);

SET ROLE regress_cache_user;
SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;

-- An ordinary user may read, write and invalidate keys ...
SELECT cache_set('user-key', '{"by": "user"}');
SELECT cache_set('user-key-ttl', '1', interval '1 minute');
SELECT cache_get('user-key');
SELECT cache_get('owned-by-admin');
SELECT * FROM cache_get_multi(ARRAY['user-key', 'user-key-ttl']);
SELECT cache_invalidate('user-key-ttl');

-- ... and look at the statistics and the entries, through the views or
-- the functions behind them.
SELECT entries, sets FROM cache_stats WHERE layer = 'l1';
SELECT entries, sets FROM cache_stats() WHERE layer = 'l1';
SELECT namespace, key FROM cache_entries ORDER BY key;
SELECT namespace, key FROM cache_entries() ORDER BY key;
SELECT prefix, sets FROM cache_prefix_stats
 WHERE namespace = current_setting('cachext.namespace') AND prefix = '';
SELECT count(*) FILTER (WHERE table_name IS NULL) AS other_rows FROM cache_table_stats;
SELECT count(DISTINCT step) AS steps FROM cache_lag_histograms;

-- Counters, conditional writes, TTLs and tagging are everyone's too.
SELECT cache_incr('user-counter');
SELECT cache_add('user-added', '1'), cache_replace('user-added', '2');
SELECT cache_touch('user-added', interval '1 minute'), cache_ttl('user-added') IS NOT NULL AS has_ttl;
SELECT cache_set_multi(ARRAY['user-m1'], ARRAY['1']::jsonb[]);
SELECT cache_set('user-tagged', '1', interval '1 minute', ARRAY['user-tag']);

-- The settings meant for every session may be changed by anyone.
SET cachext.default_ttl = '5min';
RESET cachext.default_ttl;

-- But not the administration functions: 42501 (insufficient_privilege).
SELECT cache_clear();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_stats_reset();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_invalidate_pattern('*');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Nor cache_invalidate_tag, whose every call scans each L1 partition under
-- its exclusive lock and bumps every partition's epoch and Redis', so that
-- no load in flight on any instance stores its value.
SELECT cache_invalidate_tag('user-tag');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT cache_get('user-tagged');

-- Nor the superuser-only settings: the namespace (which would give access to
-- another database's keys), the key length limit, and the events of
-- watched tables, which a writer must not silence (cachext.events) or
-- redirect (cachext.notify_channel) from the applications listening.
SET cachext.namespace = 'other:';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET cachext.max_key_length = 4096;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET cachext.events = off;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET cachext.notify_channel = 'user_channel';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SHOW cachext.namespace;
SHOW cachext.max_key_length;
SHOW cachext.events;
SHOW cachext.notify_channel;
-- Nor through a function's SET clause.
CREATE FUNCTION regress_evil.quiet() RETURNS void LANGUAGE sql
    SET cachext.events = off AS $$ SELECT $$;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Nor read the Redis URL, which may hold a password (42501), however
-- asked.  (Roles granted pg_read_all_settings can: see SECURITY.md.)  The
-- refusal is core's, worded differently from PostgreSQL 16 on: only its
-- SQLSTATE is shown.
\set VERBOSITY sqlstate
SHOW cachext.redis_url;
SELECT current_setting('cachext.redis_url');
\set VERBOSITY default
SELECT count(*) AS visible FROM pg_settings WHERE name = 'cachext.redis_url';
SELECT count(*) AS visible FROM pg_show_all_settings() WHERE name = 'cachext.redis_url';

-- A function of the role's own, placed first in its search_path, does not
-- replace the catalog function that cache_watch_table calls.
CREATE TABLE regress_evil.items (id int);
CREATE FUNCTION regress_evil.quote_literal(text) RETURNS text
    LANGUAGE sql AS $$ SELECT 'hijacked'::text $$;
SET search_path = regress_evil, pg_catalog, public;
SELECT cache_watch_table('regress_evil.items', 'ITEM', ARRAY['item:{id}']);
RESET search_path;
SELECT tgname, pg_get_triggerdef(t.oid) LIKE '%hijacked%' AS hijacked
  FROM pg_trigger AS t WHERE tgrelid = 'regress_evil.items'::regclass ORDER BY tgname;

-- Nothing was removed by the refused calls.
SELECT count(*) FROM cache_entries;
RESET ROLE;

-- A superuser may grant the administration functions to trusted roles,
-- and the right to set the events' settings (PostgreSQL's GRANT SET ON
-- PARAMETER), or set them per role or database (ALTER ROLE ... SET).
GRANT EXECUTE ON FUNCTION cache_clear(), cache_stats_reset(),
                          cache_invalidate_pattern(text), cache_invalidate_tag(text)
   TO regress_cache_user;
GRANT SET ON PARAMETER cachext.events, cachext.notify_channel TO regress_cache_user;

SET ROLE regress_cache_user;
SET cachext.events = async;
SET cachext.notify_channel = 'user_channel';
SHOW cachext.events;
SHOW cachext.notify_channel;
RESET cachext.events;
RESET cachext.notify_channel;
SELECT cache_invalidate_tag('user-tag');
SELECT cache_get('user-tagged');
SELECT cache_set('user:1', '1');
SELECT cache_set('user:2', '2');
SELECT cache_invalidate_pattern('user:*');
SELECT sets, invalidations FROM cache_stats WHERE layer = 'l1';
SELECT cache_stats_reset();
SELECT sets, invalidations FROM cache_stats WHERE layer = 'l1';
SELECT cache_clear();
RESET ROLE;

-- Revoking takes the right away again.
REVOKE EXECUTE ON FUNCTION cache_clear(), cache_stats_reset(),
                           cache_invalidate_pattern(text), cache_invalidate_tag(text)
  FROM regress_cache_user;
REVOKE SET ON PARAMETER cachext.events, cachext.notify_channel FROM regress_cache_user;
SET ROLE regress_cache_user;
SELECT cache_clear();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET cachext.events = off;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

DROP SCHEMA regress_evil CASCADE;
DROP ROLE regress_cache_user;
SELECT cache_clear();
