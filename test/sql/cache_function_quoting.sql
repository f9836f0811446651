--
-- cache_function with names that need quoting: schemas and functions whose
-- names have capitals or spaces or are SQL keywords.  The wrapper lives next
-- to the original under the same quoting rules, and the default key prefix
-- spells the names as SQL would (quoted where needed), so keys stay readable
-- and no two functions share them.
--
\set SHOW_CONTEXT never

-- Start from an empty cache.
SELECT cache_clear() >= 0 AS cleared;

-- Two schemas needing quotes, each with the same overloaded function whose
-- name has capitals, and a composite type with a quoted name.
CREATE SCHEMA "My Schema";
CREATE SCHEMA "select";
CREATE TYPE "My Schema"."Pair" AS ("Left" int, "right" text);
CREATE FUNCTION "My Schema"."Lookup"(i int) RETURNS text
    LANGUAGE sql AS $$ SELECT 'My Schema int ' || i $$;
CREATE FUNCTION "My Schema"."Lookup"(t text) RETURNS text
    LANGUAGE sql AS $$ SELECT 'My Schema text ' || t $$;
CREATE FUNCTION "select"."Lookup"(i int) RETURNS text
    LANGUAGE sql AS $$ SELECT 'select int ' || i $$;
CREATE FUNCTION "select"."Lookup"(t text) RETURNS text
    LANGUAGE sql AS $$ SELECT 'select text ' || t $$;
CREATE FUNCTION "select"."from"("Weird Arg" "My Schema"."Pair") RETURNS "My Schema"."Pair"
    LANGUAGE sql AS $$ SELECT ("Weird Arg")."Left" + 1, upper(("Weird Arg")."right") $$;

-- Each gets its wrapper, in its own schema.
SELECT cache_function('"My Schema"."Lookup"(int)');
SELECT cache_function('"My Schema"."Lookup"(text)');
SELECT cache_function('"select"."Lookup"(int)');
SELECT cache_function('"select"."Lookup"(text)');
SELECT cache_function('"select"."from"("My Schema"."Pair")');

-- The wrappers return what the originals return, each its own function's.
SELECT "My Schema"."Lookup_cached"(1) AS my_int,
       "My Schema"."Lookup_cached"('1'::text) AS my_text,
       "select"."Lookup_cached"(1) AS select_int,
       "select"."Lookup_cached"('1'::text) AS select_text;
SELECT * FROM "select"."from_cached"((41, 'pair')::"My Schema"."Pair");

-- A second call hits: the same answers, served from the cache.
SELECT cache_stats_reset();
SELECT "My Schema"."Lookup_cached"(1) AS my_int,
       "select"."Lookup_cached"('1'::text) AS select_text;
SELECT * FROM "select"."from_cached"((41, 'pair')::"My Schema"."Pair");
SELECT hits, misses FROM cache_stats WHERE layer = 'l1';

-- Five functions, five distinct keys, each naming its function as SQL
-- would spell it.
SELECT key, cache_get(key) FROM cache_entries ORDER BY key COLLATE "C";

-- The wrappers' comments name the same prefixes.
SELECT comment FROM (
    SELECT obj_description(oid, 'pg_proc') AS comment
      FROM pg_proc
     WHERE pronamespace IN ('"My Schema"'::regnamespace, '"select"'::regnamespace)
       AND proname LIKE '%\_cached') AS wrappers
 ORDER BY comment COLLATE "C";

-- cache_uncache_function finds and drops each wrapper.
SELECT cache_uncache_function(fn)
  FROM unnest(ARRAY['"My Schema"."Lookup"(int)', '"My Schema"."Lookup"(text)',
                    '"select"."Lookup"(int)', '"select"."Lookup"(text)',
                    '"select"."from"("My Schema"."Pair")']::regprocedure[]) AS fn;
SELECT count(*) AS wrappers FROM pg_proc
 WHERE pronamespace IN ('"My Schema"'::regnamespace, '"select"'::regnamespace)
   AND proname LIKE '%\_cached';

-- Names with a percent sign, which format() would take for a placeholder:
-- a schema "100%" holding a scalar type (a domain), a composite type and
-- functions returning each, one of them a set, one an array.  The
-- wrappers are made and return what the originals return.
CREATE SCHEMA "100%";
CREATE DOMAIN "100%"."pct%s" AS int CHECK (VALUE BETWEEN 0 AND 100);
CREATE TYPE "100%"."%I pair" AS (a int, b text);
CREATE FUNCTION "100%".half(i int) RETURNS "100%"."pct%s"
    LANGUAGE sql AS $$ SELECT (i / 2)::"100%"."pct%s" $$;
CREATE FUNCTION "100%".halves(i int) RETURNS "100%"."pct%s"[]
    LANGUAGE sql AS $$ SELECT ARRAY[(i / 2)::"100%"."pct%s", (i / 4)::"100%"."pct%s"] $$;
CREATE FUNCTION "100%".pair(i int) RETURNS "100%"."%I pair"
    LANGUAGE sql AS $$ SELECT i, '%' || i $$;
CREATE FUNCTION "100%".pairs(i int) RETURNS SETOF "100%"."%I pair"
    LANGUAGE sql AS $$ SELECT g, '%' || g FROM generate_series(1, i) g $$;
SELECT cache_function('"100%".half(int)');
SELECT cache_function('"100%".halves(int)');
SELECT cache_function('"100%".pair(int)');
SELECT cache_function('"100%".pairs(int)');
SELECT "100%".half_cached(84) AS half, "100%".halves_cached(84) AS halves,
       "100%".pair_cached(7) AS pair;
SELECT * FROM "100%".pairs_cached(2);
-- A second call hits, with the same answers; the keys name the types.
SELECT cache_stats_reset();
SELECT "100%".half_cached(84) AS half, "100%".halves_cached(84) AS halves,
       "100%".pair_cached(7) AS pair;
SELECT * FROM "100%".pairs_cached(2);
SELECT hits, misses FROM cache_stats WHERE layer = 'l1';
SELECT key FROM cache_entries WHERE key LIKE '"100\%"%' ORDER BY key COLLATE "C";

\set VERBOSITY terse
DROP SCHEMA "select", "My Schema", "100%" CASCADE;
SELECT cache_clear() >= 0 AS cleared;
