/* cachext 0.2.0 -> 0.3.0: every object 0.3.0 adds or changes */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION cachext UPDATE TO '0.3.0'" to load this file. \quit

-- cache_set: one function whose ttl and tags have defaults, so that
-- cache_set(key, value, tags => ...) uses cachext.default_ttl.  The
-- overloads without tags would make every call ambiguous beside it; the
-- grants of the dropped overloads go with them.
DROP FUNCTION cache_set(text, jsonb);
DROP FUNCTION cache_set(text, jsonb, interval);
CREATE OR REPLACE FUNCTION cache_set(
    key text,
    value jsonb,
    ttl interval DEFAULT NULLIF(current_setting('cachext.default_ttl', true), '0')::interval,
    tags text[] DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'cache_set'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_set(text, jsonb, interval, text[]) IS
'Caches value under key for ttl (default cachext.default_ttl, NULL: no expiry, millisecond precision) with tags; cache_invalidate_tag(tag) removes every key stored with tag';
