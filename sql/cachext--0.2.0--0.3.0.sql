/* cachext 0.2.0 -> 0.3.0: every object 0.3.0 adds or changes */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION cachext UPDATE TO '0.3.0'" to load this file. \quit

-- cache_function: a "%" in a schema or type name is no longer taken for a
-- format() placeholder.
CREATE OR REPLACE FUNCTION cache_function(
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
    ret_name text;
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

    -- the factory query returns one jsonb value; the wrapper's body turns it
    -- back.  Names are format() arguments, never part of a format string, so
    -- a "%" in a schema or type name is just a character.
    IF p.proretset THEN
        factory := format('SELECT coalesce(jsonb_agg(r), ''[]'') FROM %s r', target);
    ELSE
        factory := format('SELECT %s', target);
    END IF;
    fetch_value := format('@extschema@.%s(%s, %L, %L::interval%s%s)',
        CASE WHEN cardinality(tags) > 0 THEN 'cache_get_or_set_tagged' ELSE 'cache_get_or_set' END,
        CASE WHEN p.pronargs = 0 THEN quote_literal(prefix)
             ELSE format('@extschema@.cache_key(%L%s)', prefix, key_args) END,
        factory, ttl,
        CASE WHEN cardinality(tags) > 0 THEN format(', %L::text[]', tags) ELSE '' END,
        text_args);
    ret_name := format_type(ret.oid, NULL);
    elem_type := CASE WHEN ret.typcategory = 'A' THEN ret.typelem END;
    IF p.proretset AND ret.typtype = 'c' THEN
        body := format('SELECT * FROM jsonb_populate_recordset(NULL::%s, (%s))', ret_name, fetch_value);
    ELSIF p.proretset THEN
        body := format('SELECT (e #>> ''{}'')::%s FROM jsonb_array_elements((%s)) e', ret_name, fetch_value);
    ELSIF ret.typtype = 'c' THEN
        body := format('SELECT CASE WHEN v = ''null'' THEN NULL ELSE jsonb_populate_record(NULL::%s, v) END FROM (SELECT (%s) AS v) s',
                       ret_name, fetch_value);
    ELSIF ret.oid IN ('jsonb'::regtype, 'json'::regtype) THEN
        body := format('SELECT (%s)::%s', fetch_value, ret_name);
    ELSIF elem_type IS NOT NULL THEN
        body := format('SELECT CASE WHEN v = ''null'' THEN NULL ELSE ARRAY(SELECT (e #>> ''{}'')::%s FROM jsonb_array_elements(v) e)::%s END FROM (SELECT (%s) AS v) s',
                       format_type(elem_type, NULL), ret_name, fetch_value);
    ELSE
        body := format('SELECT ((%s) #>> ''{}'')::%s', fetch_value, ret_name);
    END IF;

    EXECUTE format('CREATE FUNCTION %s(%s) RETURNS %s%s LANGUAGE sql VOLATILE AS %L',
        wrapper, pg_get_function_arguments(fn),
        CASE WHEN p.proretset THEN 'SETOF ' ELSE '' END, ret_name,
        body);
    EXECUTE format('COMMENT ON FUNCTION %s(%s) IS %L', wrapper, arg_types,
        format('Cached by cachext: %s with key prefix %s', fn::text, prefix));
    RETURN format('%s(%s)', wrapper, arg_types)::regprocedure;
END
$function$;

-- cache_invalidate_tag is administration too, like cache_invalidate_pattern:
-- each call scans every L1 partition under its exclusive lock and bumps
-- every partition's epoch and Redis', so no load in flight anywhere stores.
REVOKE ALL ON FUNCTION cache_invalidate_tag(text) FROM PUBLIC;
