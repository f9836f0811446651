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

-- The counters behind the cache_prefix_stats view.
CREATE FUNCTION cache_prefix_stats(
    OUT layer text,
    OUT namespace text,
    OUT prefix text,
    OUT hits bigint,
    OUT misses bigint,
    OUT hit_rate double precision,
    OUT sets bigint,
    OUT evictions bigint,
    OUT expirations bigint,
    OUT invalidations bigint,
    OUT entries bigint,
    OUT bytes bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cache_prefix_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION cache_prefix_stats() IS
'L1''s counters and sizes, and L2''s hits, misses and sets, per key prefix; read them through the cache_prefix_stats view';

-- Each layer's figures per key prefix: which kind of key earns its
-- memory.  A key's prefix is its part up to its
-- cachext.prefix_stats_segments-th ':' (or its last ':'), per namespace;
-- the first cachext.prefix_stats_max prefixes have a row each, later ones
-- count in the layer's last row, whose namespace and prefix are NULL.
-- The l2 rows (with cachext.redis_url set) have hits, misses and sets
-- only: Redis keeps no figures per prefix.  Each counted column sums to
-- the layer's row of cache_stats.
CREATE VIEW cache_prefix_stats AS SELECT * FROM cache_prefix_stats();
COMMENT ON VIEW cache_prefix_stats IS
'Per layer (l1; l2 with cachext.redis_url set), key prefix (the key up to its first '':'', cachext.prefix_stats_segments) and namespace: hits, misses, hit rate, sets, and for l1 evictions, expirations, invalidations, entries and bytes (NULL for l2); the rows with a NULL prefix count the prefixes past cachext.prefix_stats_max; zeroed by cache_stats_reset() except entries and bytes';

-- The counters behind the cache_table_stats view.
CREATE FUNCTION cache_table_stats(
    OUT database oid,
    OUT table_name text,
    OUT rows_seen bigint,
    OUT keys_invalidated bigint,
    OUT commits_fenced bigint,
    OUT redis_time_ms double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cache_table_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION cache_table_stats() IS
'Invalidation figures per watched table, every database''s; read them through the cache_table_stats view';

-- The invalidation machinery per watched table, counted at each commit:
-- the rows its trigger saw, the distinct keys (patterns, tags) they named,
-- the commits that fenced them and those commits' time in Redis.  The
-- first cachext.table_stats_max tables have a row each; later ones count
-- in the row whose table_name is NULL.
CREATE VIEW cache_table_stats AS
SELECT d.datname AS database, s.table_name, s.rows_seen, s.keys_invalidated,
       s.commits_fenced, s.redis_time_ms
FROM cache_table_stats() s
LEFT JOIN pg_database d ON d.oid = s.database;
COMMENT ON VIEW cache_table_stats IS
'Per watched table (schema.table, in each database), over committed transactions: rows the invalidation trigger saw, distinct keys, patterns and tags they invalidated, commits that fenced them, and the time those commits spent in Redis (ms); the row with a NULL table_name counts the tables past cachext.table_stats_max; zeroed by cache_stats_reset()';

-- The histograms behind the cache_lag_histograms view.
CREATE FUNCTION cache_lag_histograms(
    OUT step text,
    OUT le double precision,
    OUT count bigint,
    OUT sum_seconds double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cache_lag_histograms'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION cache_lag_histograms() IS
'Invalidation lag histograms, one row per bucket; read them through the cache_lag_histograms view';

-- Invalidation lag as histograms, in Prometheus' shape: per step
-- (sync_removal: the sync worker from reading a Redis announcement to the
-- key's L1 removal; fence_place and fence_lift: a committing backend's
-- fence steps), one row per bucket with the cumulative count of
-- observations of at most le seconds (the le = Infinity row's count is
-- the histogram's count) and the histogram's sum.
CREATE VIEW cache_lag_histograms AS SELECT * FROM cache_lag_histograms();
COMMENT ON VIEW cache_lag_histograms IS
'Invalidation lag histograms per step (sync_removal, fence_place, fence_lift): one row per bucket, count = observations of at most le seconds (cumulative; le = Infinity: all), sum_seconds = the step''s total time; zeroed by cache_stats_reset()';

GRANT SELECT ON cache_prefix_stats, cache_table_stats, cache_lag_histograms TO PUBLIC;

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

-- Partitions and inheritance children: a watched table covers them all
-- (cache_watch_root, cache_watch_descendants, the event trigger), and
-- watching or unwatching one of them on its own is refused.
-- The watched table whose triggers cover tbl: tbl itself or its topmost
-- ancestor (partitioned or inheritance parent) with cachext's triggers;
-- NULL when none does.
CREATE FUNCTION cache_watch_root(tbl regclass)
RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH RECURSIVE ancestors(relid, depth) AS (
        SELECT tbl::oid, 0
        UNION
        SELECT i.inhparent, a.depth + 1 FROM pg_inherits AS i JOIN ancestors AS a ON i.inhrelid = a.relid)
    SELECT a.relid::regclass FROM ancestors AS a
    WHERE EXISTS (SELECT FROM pg_trigger AS t
                  WHERE t.tgrelid = a.relid AND t.tgname = 'cachext_invalidate_truncate')
    ORDER BY a.depth DESC LIMIT 1
$function$;
COMMENT ON FUNCTION cache_watch_root(regclass) IS
'The watched table whose cache_watch_table covers tbl: tbl, its topmost watched ancestor, or NULL';

-- Gives tbl's partitions and inheritance children, at every depth (and tbl
-- itself, unless it is the watched table), the triggers of the watched
-- table that covers it, enabled as its are.  PostgreSQL clones a
-- partitioned table's row trigger to its partitions, but neither its
-- TRUNCATE trigger nor anything to inheritance children.  A descendant's
-- triggers of other arguments (watched on its own before 0.3.0) are
-- replaced, with a WARNING.
CREATE FUNCTION cache_watch_descendants(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    root regclass := @extschema@.cache_watch_root(tbl);
    model pg_trigger;
    existing pg_trigger;
    rest bytea;
    nul integer;
    args text := '';
    rel regclass;
    name text;
BEGIN
    IF root IS NULL THEN
        RETURN;
    END IF;
    SELECT * INTO model FROM pg_trigger WHERE tgrelid = root AND tgname = 'cachext_invalidate_truncate';
    -- the arguments, each NUL-terminated in tgargs, as SQL literals
    rest := model.tgargs;
    WHILE length(rest) > 0 LOOP
        nul := position('\x00'::bytea IN rest);
        args := args || CASE WHEN args = '' THEN '' ELSE ', ' END
            || quote_literal(convert_from(substring(rest FROM 1 FOR nul - 1), current_setting('server_encoding')));
        rest := substring(rest FROM nul + 1);
    END LOOP;
    FOR rel IN
        WITH RECURSIVE descendants AS (
            SELECT tbl::oid AS relid
            UNION
            SELECT i.inhrelid FROM pg_inherits AS i JOIN descendants AS d ON i.inhparent = d.relid)
        SELECT relid::regclass FROM descendants WHERE relid <> root LOOP
        FOREACH name IN ARRAY ARRAY['cachext_invalidate', 'cachext_invalidate_truncate'] LOOP
            SELECT * INTO existing FROM pg_trigger WHERE tgrelid = rel AND tgname = name;
            IF NOT FOUND OR existing.tgargs <> model.tgargs THEN
                IF FOUND THEN
                    RAISE WARNING 'trigger % on % is replaced by the one of %', name, rel::text, root::text
                        USING DETAIL = 'A partition or an inheritance child of a watched table is watched with its ancestor''s templates.';
                    EXECUTE format('DROP TRIGGER %I ON %s', name, rel);
                END IF;
                EXECUTE format(CASE name
                    WHEN 'cachext_invalidate' THEN 'CREATE TRIGGER cachext_invalidate AFTER INSERT OR UPDATE OR DELETE ON %s '
                        'FOR EACH ROW EXECUTE FUNCTION @extschema@.cache_invalidation_trigger(%s)'
                    ELSE 'CREATE TRIGGER cachext_invalidate_truncate AFTER TRUNCATE ON %s '
                        'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.cache_invalidation_trigger(%s)' END,
                    rel, args);
                existing.tgenabled := 'O';
            END IF;
            IF existing.tgenabled <> model.tgenabled THEN
                EXECUTE format('ALTER TABLE %s %s TRIGGER %I', rel,
                    CASE model.tgenabled WHEN 'A' THEN 'ENABLE ALWAYS' WHEN 'R' THEN 'ENABLE REPLICA'
                                         WHEN 'D' THEN 'DISABLE' ELSE 'ENABLE' END, name);
            END IF;
        END LOOP;
    END LOOP;
END
$function$;
COMMENT ON FUNCTION cache_watch_descendants(regclass) IS
'Gives tbl''s partitions and inheritance children the triggers of the watched table that covers them; cache_watch_table and the event trigger cachext_watch_descendants call it';

-- Whether a collected DDL command can add a partition or an inheritance
-- child (src/triggers.c).
CREATE FUNCTION cache_ddl_adds_descendant(command pg_ddl_command)
RETURNS boolean
AS 'MODULE_PATHNAME', 'cache_ddl_adds_descendant'
LANGUAGE C STRICT;
COMMENT ON FUNCTION cache_ddl_adds_descendant(pg_ddl_command) IS
'For the event trigger cachext_watch_descendants: true for CREATE TABLE ... PARTITION OF or INHERITS and ALTER TABLE ... ATTACH PARTITION or INHERIT';

-- A partition created or attached, or an inheritance child created or
-- added, after its ancestor was watched gets the ancestor's triggers.
CREATE FUNCTION cache_watch_new_descendants()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    rel regclass;
BEGIN
    -- only the tables of a watched tree call into cachext: the DDL of a role
    -- that may not execute cachext's functions is not refused for them
    FOR rel IN
        WITH RECURSIVE ancestors(relid, tbl) AS (
            SELECT objid, objid FROM pg_event_trigger_ddl_commands()
            WHERE classid = 'pg_class'::regclass AND object_type = 'table'
            UNION
            SELECT i.inhparent, a.tbl FROM pg_inherits AS i JOIN ancestors AS a ON i.inhrelid = a.relid)
        SELECT DISTINCT a.tbl::regclass FROM ancestors AS a JOIN pg_trigger AS t
            ON t.tgrelid = a.relid AND t.tgname = 'cachext_invalidate_truncate' LOOP
        IF (SELECT bool_or(@extschema@.cache_ddl_adds_descendant(command))
            FROM pg_event_trigger_ddl_commands() WHERE objid = rel) THEN
            PERFORM @extschema@.cache_watch_descendants(rel);
        END IF;
    END LOOP;
END
$function$;
COMMENT ON FUNCTION cache_watch_new_descendants() IS
'Event trigger function: after CREATE TABLE and ALTER TABLE, gives new partitions and inheritance children of watched tables their triggers';
CREATE EVENT TRIGGER cachext_watch_descendants ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION cache_watch_new_descendants();
COMMENT ON EVENT TRIGGER cachext_watch_descendants IS
'Gives new partitions and inheritance children of watched tables their triggers (cache_watch_descendants)';

CREATE OR REPLACE FUNCTION cache_watch_table(tbl regclass, entity text, key_templates text[],
                                  fire_on_replica boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    template text;
    col text;
    args text;
BEGIN
    IF entity IS NULL OR entity !~ '^[A-Za-z][A-Za-z0-9_]*$' THEN
        RAISE EXCEPTION 'invalid cache entity name %', coalesce(quote_literal(entity), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Events are named <entity>_UPDATED and so on, so the entity must be a plain identifier.',
                  HINT = 'Use a name such as USER or ITEM.';
    END IF;
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table to watch must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF fire_on_replica IS NULL THEN
        RAISE EXCEPTION 'fire_on_replica must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF key_templates IS NULL OR cardinality(key_templates) = 0 THEN
        RAISE EXCEPTION 'cache_watch_table needs at least one key template'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example ARRAY[''user:{id}''], where {id} stands for the row''s id column.';
    END IF;
    FOREACH template IN ARRAY key_templates LOOP
        IF template IS NULL OR template = '' THEN
            RAISE EXCEPTION 'cache key templates must not be null or empty'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOR col IN SELECT m[1] FROM regexp_matches(template, '\{([^}]*)\}', 'g') AS m LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_attribute
                           WHERE attrelid = tbl AND attname = col
                             AND attnum > 0 AND NOT attisdropped) THEN
                RAISE EXCEPTION 'column "%" named in cache key template "%" does not exist in table %',
                        col, template, tbl::text
                    USING ERRCODE = 'undefined_column';
            END IF;
        END LOOP;
    END LOOP;

    args := (SELECT string_agg(quote_literal(a), ', ')
             FROM unnest(upper(entity) || key_templates) AS a);
    -- refuses a table under a watched one
    PERFORM @extschema@.cache_unwatch_table(tbl);
    EXECUTE format('CREATE TRIGGER cachext_invalidate AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION @extschema@.cache_invalidation_trigger(%s)', tbl, args);
    EXECUTE format('CREATE TRIGGER cachext_invalidate_truncate AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.cache_invalidation_trigger(%s)', tbl, args);
    IF fire_on_replica THEN
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER cachext_invalidate, '
                       'ENABLE ALWAYS TRIGGER cachext_invalidate_truncate', tbl);
    END IF;
    PERFORM @extschema@.cache_watch_descendants(tbl);
END
$function$;
COMMENT ON FUNCTION cache_watch_table(regclass, text, text[], boolean) IS
'Attaches cachext''s invalidation triggers to tbl and its partitions and inheritance children: committed changes to them invalidate the keys key_templates give ({column} is the row''s value) and send <entity>_CREATED/_UPDATED/_DELETED/_TRUNCATED events; fire_on_replica also fires them under session_replication_role = replica (logical replication apply)';

CREATE OR REPLACE FUNCTION cache_unwatch_table(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    root regclass;
    rel regclass;
    name text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table to unwatch must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    root := @extschema@.cache_watch_root(tbl);
    IF root <> tbl THEN
        RAISE EXCEPTION 'table % is watched through %', tbl::text, root::text
            USING ERRCODE = 'duplicate_object',
                  DETAIL = 'Changes to a partition or an inheritance child invalidate the keys of its watched ancestor''s templates.',
                  HINT = format('Watch or unwatch %s instead, with every template.', root::text);
    END IF;
    -- a watched table's descendants' copies first (a partition's row
    -- trigger is PostgreSQL's clone of tbl's, which goes with it)
    FOR rel, name IN
        WITH RECURSIVE descendants AS (
            SELECT inhrelid FROM pg_inherits WHERE inhparent = tbl
            UNION
            SELECT i.inhrelid FROM pg_inherits AS i JOIN descendants AS d ON i.inhparent = d.inhrelid)
        SELECT t.tgrelid::regclass, t.tgname FROM pg_trigger AS t JOIN descendants AS d ON t.tgrelid = d.inhrelid
        WHERE root IS NOT NULL
          AND t.tgname IN ('cachext_invalidate', 'cachext_invalidate_truncate') AND t.tgparentid = 0
        UNION ALL
        SELECT tgrelid::regclass, tgname FROM pg_trigger
        WHERE tgrelid = tbl AND tgname IN ('cachext_invalidate', 'cachext_invalidate_truncate') LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', name, rel);
    END LOOP;
END
$function$;
COMMENT ON FUNCTION cache_unwatch_table(regclass) IS
'Removes the triggers cache_watch_table attached, from tbl and its partitions and inheritance children';

-- Tables watched before 0.3.0: their partitions' TRUNCATE triggers, and
-- their inheritance children's triggers, were missing.
SELECT @extschema@.cache_watch_descendants(tgrelid::regclass)
  FROM pg_trigger
 WHERE tgname = 'cachext_invalidate_truncate' AND @extschema@.cache_watch_root(tgrelid) = tgrelid;

-- cache_stats gains fences_standing and fences_lost: an OUT column change
-- needs the function and the view dropped and created again (with the
-- view's grant).
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
    OUT tag_invalidations bigint,
    OUT fences_standing bigint,
    OUT fences_lost bigint)
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
-- in the l1 row.  So are fences_standing, the transactions of this instance
-- whose pre-commit fences stand now (placed, not yet lifted), and
-- fences_lost, the commits whose lift found a Redis fence gone or expired
-- (and so unlinked their keys again).
CREATE VIEW cache_stats AS SELECT * FROM cache_stats();
COMMENT ON VIEW cache_stats IS
'Hits, misses, hit rate, sets, evictions, expirations, invalidations and sizes per cache layer (l1, l2); for l2 also errors, timeouts, promotions into L1, whether Redis is up, the queue of invalidations waiting for Redis, the sync worker''s evictions and resets of L1 and own writes kept, and how L1 is kept coherent (tracking, ttl-bound, none); for l1 also cache_get_or_set''s loads, stale values served and early refreshes, cache_incr calls, refused cache_add calls, tag invalidations, the fences standing and the lost fences';
GRANT SELECT ON cache_stats TO PUBLIC;
