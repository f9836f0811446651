/* cachext 0.1.0 -> 0.2.0: every object 0.2.0 adds or changes */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION cachext UPDATE TO '0.2.0'" to load this file. \quit

-- cache_stats gains stale_served, early_refreshes, sync_kept, coherence,
-- incrs, adds_refused and tag_invalidations: an OUT column change needs
-- the function and the view dropped and created again.
DROP VIEW cache_stats;
DROP FUNCTION cache_stats();

-- The counters behind the cache_stats view.
CREATE FUNCTION cache_stats(
    OUT layer text,
    OUT hits bigint,
    OUT misses bigint,
    OUT hit_rate double precision,
    OUT sets bigint,
    OUT evictions bigint,
    OUT expirations bigint,
    OUT invalidations bigint,
    OUT entries bigint,
    OUT bytes bigint,
    OUT max_entries bigint,
    OUT max_bytes bigint,
    OUT loads bigint,
    OUT load_failures bigint,
    OUT load_time_ms double precision,
    OUT errors bigint,
    OUT timeouts bigint,
    OUT promotions bigint,
    OUT redis_up boolean,
    OUT invalidations_queued bigint,
    OUT invalidations_replayed bigint,
    OUT queue_overflows bigint,
    OUT queue_length bigint,
    OUT sync_evictions bigint,
    OUT sync_resets bigint,
    OUT stale_served bigint,
    OUT early_refreshes bigint,
    OUT sync_kept bigint,
    OUT coherence text,
    OUT incrs bigint,
    OUT adds_refused bigint,
    OUT tag_invalidations bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cache_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION cache_stats() IS
'Counters and sizes of each cache layer; read it through the cache_stats view';

-- One row per layer in use (l1; l2 when cachext.redis_url is set): what
-- psql users read to tune the cache.
-- Columns a layer has no notion of are NULL: L1 has no errors, timeouts or
-- queue; cachext does not track Redis' size, evictions or expirations.
-- redis_up is the outcome of the latest exchange with Redis (NULL before
-- the first); the invalidation_* and queue_* columns describe the queue of
-- invalidations that could not reach Redis.  sync_evictions counts L1
-- entries the sync worker evicted on Redis' invalidation messages, and
-- sync_resets the times it emptied L1 (its stream started or was lost, or
-- Redis was flushed).  stale_served and early_refreshes (l1's row) count
-- cache_get_or_set's stale values returned (cachext.stale_ttl) and its
-- reloads before the expiry (cachext.early_refresh).  sync_kept (l2's row)
-- counts the own writes the sync worker kept because Redis still held
-- them; coherence says how L1 follows Redis now: tracking (Redis'
-- invalidation stream), ttl-bound (Redis refuses client tracking: L1
-- copies expire within cachext.l1_max_ttl) or none (no stream now).
-- incrs, adds_refused and tag_invalidations count cache_incr calls,
-- cache_add calls that found the key, and tags invalidated, instance-wide:
-- in the l1 row.
CREATE VIEW cache_stats AS SELECT * FROM cache_stats();
COMMENT ON VIEW cache_stats IS
'Hits, misses, hit rate, sets, evictions, expirations, invalidations and sizes per cache layer (l1, l2); for l2 also errors, timeouts, promotions into L1, whether Redis is up, the queue of invalidations waiting for Redis, the sync worker''s evictions and resets of L1 and own writes kept, and how L1 is kept coherent (tracking, ttl-bound, none); for l1 also cache_get_or_set''s loads, stale values served and early refreshes, cache_incr calls, refused cache_add calls and tag invalidations';

GRANT SELECT ON cache_stats TO PUBLIC;

-- Stores a value with tags, for cache_invalidate_tag.  The 0.1.0 overloads
-- take no tags; this one needs ttl too (ttl => NULL: no expiry), so that no
-- call of theirs becomes ambiguous.
CREATE FUNCTION cache_set(key text, value jsonb, ttl interval, tags text[])
RETURNS void
AS 'MODULE_PATHNAME', 'cache_set'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_set(text, jsonb, interval, text[]) IS
'Caches value under key for ttl (NULL: no expiry) with tags; cache_invalidate_tag(tag) removes every key stored with tag';

-- cache_get_or_set storing its value with tags, params as in its VARIADIC
-- form.  A name of its own: as an overload, a text[] in fourth place would
-- make cache_get_or_set(key, query, ttl, VARIADIC params) ambiguous.
CREATE FUNCTION cache_get_or_set_tagged(
    key text,
    query text,
    ttl interval,
    tags text[],
    VARIADIC params text[] DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'cache_get_or_set_tagged'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_get_or_set_tagged(text, text, interval, text[], text[]) IS
'Returns the cached value of key, or runs query with params bound as $1..$n (text), caches its single value as jsonb with tags and returns it; one backend loads a key at a time';

-- Stores many values in one round trip to Redis.
CREATE FUNCTION cache_set_multi(
    keys text[],
    "values" jsonb[],
    ttl interval DEFAULT NULLIF(current_setting('cachext.default_ttl', true), '0')::interval)
RETURNS void
AS 'MODULE_PATHNAME', 'cache_set_multi'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_set_multi(text[], jsonb[], interval) IS
'Caches values[i] under keys[i] for ttl (NULL: no expiry), in one round trip to Redis; every key and value is checked before any is stored';

-- An atomic counter: Redis' INCRBY when Redis is usable; a negative by
-- decrements.
CREATE FUNCTION cache_incr(
    key text,
    by bigint DEFAULT 1,
    ttl interval DEFAULT NULLIF(current_setting('cachext.default_ttl', true), '0')::interval)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cache_incr'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_incr(text, bigint, interval) IS
'Adds by (negative: subtracts) to the integer cached under key and returns the result; an absent key starts at 0 and gets ttl. Atomic across instances through Redis, within the instance without it';

-- Stores only when the key is absent (Redis' SET NX).
CREATE FUNCTION cache_add(
    key text,
    value jsonb,
    ttl interval DEFAULT NULLIF(current_setting('cachext.default_ttl', true), '0')::interval)
RETURNS boolean
AS 'MODULE_PATHNAME', 'cache_add'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_add(text, jsonb, interval) IS
'Caches value under key only if no layer holds key; true if it stored. Redis decides when usable';

-- Stores only when the key is present (Redis' SET XX).
CREATE FUNCTION cache_replace(
    key text,
    value jsonb,
    ttl interval DEFAULT NULLIF(current_setting('cachext.default_ttl', true), '0')::interval)
RETURNS boolean
AS 'MODULE_PATHNAME', 'cache_replace'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_replace(text, jsonb, interval) IS
'Caches value under key only if key is cached; true if it stored. Redis decides when usable';

-- The remaining time to live of a key.
CREATE FUNCTION cache_ttl(key text)
RETURNS interval
AS 'MODULE_PATHNAME', 'cache_ttl'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION cache_ttl(text) IS
'Returns the remaining time to live of key (Redis'' PTTL when Redis holds it, else L1''s); NULL when not cached, -00:00:00.001 when it never expires';

-- A new TTL for a cached key, without rewriting its value.
CREATE FUNCTION cache_touch(key text, ttl interval)
RETURNS boolean
AS 'MODULE_PATHNAME', 'cache_touch'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_touch(text, interval) IS
'Sets the TTL of a cached key in both layers (NULL: no expiry) without rewriting its value; true if it was cached';

-- Removes every key stored with a tag and sends a CACHE_INVALIDATED event.
CREATE FUNCTION cache_invalidate_tag(tag text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cache_invalidate_tag'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cache_invalidate_tag(text) IS
'Removes every key of this namespace stored with tag from L1 and Redis, on every instance; returns the larger of the two layers'' counts. Sends CACHE_INVALIDATED on cachext.notify_channel';

-- cache_function: the default key_prefix now names the schema and the
-- argument types (wrappers created by 0.1.0 keep their old keys until they
-- are created again).
-- The design's @cached decorator: creates <schema>.<name>_cached(<same
-- arguments>) whose body is a cache_get_or_set around the original, keyed by
-- cache_key(key_prefix, arguments...), its values stored with tags.  Values
-- round-trip through jsonb.  The default key_prefix names the function with
-- its schema and argument types, e.g. public.f(integer), so no two
-- functions (overloads, or the same name in two schemas) share keys; it
-- holds no OIDs, so it survives dump and restore.
CREATE FUNCTION cache_function(
    fn regprocedure,
    ttl interval,
    key_prefix text,
    tags text[])
RETURNS regprocedure
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    p pg_proc;
    schema_name name;
    ret pg_type;
    elem_type oid;
    wrapper text;
    target text;
    prefix text;
    call_args text := '';
    text_args text := '';
    key_args text := '';
    factory text;
    fetch_value text;
    result_expr text;
    body text;
    arg_types text;
BEGIN
    IF fn IS NULL THEN
        RAISE EXCEPTION 'function to cache must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF tags IS NOT NULL AND (array_position(tags, NULL) IS NOT NULL OR '' = ANY (tags)) THEN
        RAISE EXCEPTION 'cache tags must not be null or empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ttl <= interval '0' THEN
        RAISE EXCEPTION 'cache TTL must be positive'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL for entries that never expire.';
    END IF;
    SELECT * INTO p FROM pg_proc WHERE oid = fn;
    IF p.prokind <> 'f' THEN
        RAISE EXCEPTION 'cannot cache %', fn::text
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Only plain functions can be wrapped, not procedures, aggregates or window functions.';
    END IF;
    IF p.provariadic <> 0 THEN
        RAISE EXCEPTION 'cannot cache variadic function %', fn::text
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Wrap it in a function with a fixed argument list, then cache that.';
    END IF;
    SELECT * INTO ret FROM pg_type WHERE oid = p.prorettype;
    IF ret.typtype = 'p' THEN
        RAISE EXCEPTION 'cannot cache function % returning %', fn::text, format_type(ret.oid, NULL)
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Pseudo-type results (void, record, polymorphic types, internal) cannot round-trip through jsonb.',
                  HINT = 'Return a named composite type (CREATE TYPE) or a base type.';
    END IF;
    FOR i IN 0 .. p.pronargs - 1 LOOP
        IF (SELECT typtype FROM pg_type WHERE oid = p.proargtypes[i]) = 'p' THEN
            RAISE EXCEPTION 'cannot cache function % taking an argument of type %',
                    fn::text, format_type(p.proargtypes[i], NULL)
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = 'Arguments of pseudo-types (polymorphic types, internal, "any") have no text form to build a key from.';
        END IF;
        call_args := call_args || CASE WHEN i > 0 THEN ', ' ELSE '' END
            || format('$%s::%s', i + 1, format_type(p.proargtypes[i], NULL));
        text_args := text_args || format(', $%s::text', i + 1);
        key_args := key_args || format(', $%s', i + 1);
    END LOOP;

    -- names are quoted once, here, as SQL spells them (the key prefix too)
    SELECT nspname INTO schema_name FROM pg_namespace WHERE oid = p.pronamespace;
    target := format('%I.%I(%s)', schema_name, p.proname, call_args);
    wrapper := format('%I.%I', schema_name, p.proname || '_cached');
    arg_types := array_to_string(ARRAY(SELECT format_type(t, NULL)
                                       FROM unnest(p.proargtypes::oid[]) t), ', ');
    prefix := coalesce(key_prefix, format('%I.%I(%s)', schema_name, p.proname, arg_types));

    -- the factory query returns one jsonb value; the wrapper turns it back
    elem_type := CASE WHEN ret.typcategory = 'A' THEN ret.typelem END;
    IF p.proretset THEN
        factory := format('SELECT coalesce(jsonb_agg(r), ''[]'') FROM %s r', target);
        IF ret.typtype = 'c' THEN
            result_expr := format('SELECT * FROM jsonb_populate_recordset(NULL::%s, (%%s))', format_type(ret.oid, NULL));
        ELSE
            result_expr := format('SELECT (e #>> ''{}'')::%s FROM jsonb_array_elements((%%s)) e', format_type(ret.oid, NULL));
        END IF;
    ELSE
        factory := format('SELECT %s', target);
        IF ret.typtype = 'c' THEN
            result_expr := format('SELECT CASE WHEN v = ''null'' THEN NULL ELSE jsonb_populate_record(NULL::%s, v) END FROM (SELECT (%%s) AS v) s',
                                  format_type(ret.oid, NULL));
        ELSIF ret.oid IN ('jsonb'::regtype, 'json'::regtype) THEN
            result_expr := format('SELECT (%%s)::%s', format_type(ret.oid, NULL));
        ELSIF elem_type IS NOT NULL THEN
            result_expr := format('SELECT CASE WHEN v = ''null'' THEN NULL ELSE ARRAY(SELECT (e #>> ''{}'')::%s FROM jsonb_array_elements(v) e)::%s END FROM (SELECT (%%s) AS v) s',
                                  format_type(elem_type, NULL), format_type(ret.oid, NULL));
        ELSE
            result_expr := format('SELECT ((%%s) #>> ''{}'')::%s', format_type(ret.oid, NULL));
        END IF;
    END IF;

    fetch_value := format('@extschema@.%s(%s, %L, %L::interval%s%s)',
        CASE WHEN cardinality(tags) > 0 THEN 'cache_get_or_set_tagged' ELSE 'cache_get_or_set' END,
        CASE WHEN p.pronargs = 0 THEN quote_literal(prefix)
             ELSE format('@extschema@.cache_key(%L%s)', prefix, key_args) END,
        factory, ttl,
        CASE WHEN cardinality(tags) > 0 THEN format(', %L::text[]', tags) ELSE '' END,
        text_args);
    body := format(result_expr, fetch_value);

    EXECUTE format('CREATE FUNCTION %s(%s) RETURNS %s%s LANGUAGE sql VOLATILE AS %L',
        wrapper, pg_get_function_arguments(fn),
        CASE WHEN p.proretset THEN 'SETOF ' ELSE '' END, format_type(ret.oid, NULL),
        body);
    EXECUTE format('COMMENT ON FUNCTION %s(%s) IS %L', wrapper, arg_types,
        format('Cached by cachext: %s with key prefix %s', fn::text, prefix));
    RETURN format('%s(%s)', wrapper, arg_types)::regprocedure;
END
$function$;
COMMENT ON FUNCTION cache_function(regprocedure, interval, text, text[]) IS
'Creates <name>_cached(same arguments): the function''s result cached under cache_key(key_prefix, args...) for ttl, stored with tags';

-- cache_function without tags, as 0.1.0 declared it.
CREATE OR REPLACE FUNCTION cache_function(
    fn regprocedure,
    ttl interval DEFAULT NULLIF(current_setting('cachext.default_ttl', true), '0')::interval,
    key_prefix text DEFAULT NULL)
RETURNS regprocedure
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$ SELECT @extschema@.cache_function(fn, ttl, key_prefix, NULL::text[]) $function$;
COMMENT ON FUNCTION cache_function(regprocedure, interval, text) IS
'Creates <name>_cached(same arguments): the function''s result cached under cache_key(key_prefix, args...) for ttl';

-- cache_uncache_function: finds wrappers in schemas whose names need quoting.
-- Drops the wrapper cache_function created.
CREATE OR REPLACE FUNCTION cache_uncache_function(fn regprocedure)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    p pg_proc;
    wrapper regprocedure;
BEGIN
    IF fn IS NULL THEN
        RAISE EXCEPTION 'function to uncache must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO p FROM pg_proc WHERE oid = fn;
    wrapper := to_regprocedure(format('%I.%I(%s)',
        (SELECT nspname FROM pg_namespace WHERE oid = p.pronamespace),
        p.proname || '_cached',
        array_to_string(ARRAY(SELECT format_type(t, NULL)
                              FROM unnest(p.proargtypes::oid[]) t), ', ')));
    IF wrapper IS NULL
       OR coalesce(obj_description(wrapper, 'pg_proc'), '') NOT LIKE 'Cached by cachext: %' THEN
        RAISE EXCEPTION 'function % has no cachext wrapper', fn::text
            USING ERRCODE = 'undefined_function',
                  HINT = 'cache_function() creates one.';
    END IF;
    EXECUTE format('DROP FUNCTION %s', wrapper::text);
END
$function$;
COMMENT ON FUNCTION cache_uncache_function(regprocedure) IS
'Drops the <name>_cached wrapper that cache_function created';

-- cachext.redis_prefix was renamed cachext.namespace (the old name stays a
-- deprecated alias until 0.3.0): the comments that name it.
COMMENT ON FUNCTION cache_clear() IS
'Removes every entry of L1 (all namespaces) and of this namespace (cachext.namespace) in Redis; returns the larger of the two counts';
COMMENT ON VIEW cache_entries IS
'One row per live L1 entry: namespace (cachext.namespace), key, bytes held, created_at, expires_at, last_access, hits';
