--
-- key_settings: a value's text in a key is the same in every session.  A
-- watched table's {column} and cache_key()'s arguments are written with
-- fixed settings (DateStyle ISO, IntervalStyle postgres, TimeZone UTC,
-- floats in their shortest exact form, bytea in hex), whatever the writing
-- or reading session has set, so a reader elsewhere builds the same key.
--
SELECT cache_clear() >= 0 AS cleared;

-- Readings keyed by a date, a timestamptz, a float, an interval and a bytea.
CREATE TABLE readings (id int PRIMARY KEY, day date, at timestamptz,
                       value float8, span interval, raw bytea);
INSERT INTO readings VALUES
    (1, '2026-03-04', '2026-03-04 05:06:07.5+00', 0.1::float8 + 0.2,
     '1 day 02:03:04', '\x0102');
SELECT cache_watch_table('readings', 'READING',
                         ARRAY['r:{day}:{value}', 'at:{at}', 'span:{span}:{raw}']);

-- The keys of that row, in the fixed settings' spelling, and the same keys
-- as the writer's session below would spell them.
CREATE FUNCTION set_keys() RETURNS void LANGUAGE sql AS $$
    SELECT cache_set(k, '1')
      FROM unnest(ARRAY['r:2026-03-04:0.30000000000000004',
                        'at:2026-03-04 05:06:07.5+00',
                        'span:1 day 02:03:04:\x0102',
                        'r:04/03/2026:0.3',
                        'at:04/03/2026 10:36:07.5 IST',
                        'span:1 2:03:04:\001\002']) AS k
$$;
CREATE FUNCTION cached_keys(OUT key text) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT key FROM cache_entries ORDER BY key COLLATE "C"
$$;

-- A writer whose session spells every one of these types differently.
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Asia/Kolkata';
SET extra_float_digits = 0;
SET IntervalStyle = 'sql_standard';
SET bytea_output = 'escape';
SELECT day, at, value, span, raw FROM readings;

-- Its UPDATE invalidates the fixed spellings; the session's stay cached.
SELECT set_keys();
UPDATE readings SET id = id;
SELECT * FROM cached_keys();

-- The session's settings are its own again after the trigger ran.
SELECT current_setting('DateStyle') AS datestyle, current_setting('TimeZone') AS timezone,
       current_setting('extra_float_digits') AS extra_float_digits,
       current_setting('IntervalStyle') AS intervalstyle,
       current_setting('bytea_output') AS bytea_output;

-- cache_key writes its arguments the same way, so a reader builds the
-- template's key (for text without ':' or '\', which cache_key escapes).
SELECT cache_key('r', day, value) AS r_key,
       cache_key('r', VARIADIC ARRAY[day::text, value::text]) AS of_session_text,
       cache_key('span', VARIADIC ARRAY[span]) AS span_key
  FROM readings;
SELECT current_setting('TimeZone') AS timezone;

-- Another session with other settings names the same keys: SET LOCAL
-- inside a transaction, kept by the trigger, then a DELETE and an INSERT.
-- Its TimeZone is set here, not pg_regress' default (PST8PDT before the
-- 2024 tzdata, America/Los_Angeles after, depending on the version).
\c
SET TimeZone = 'America/Los_Angeles';
SET DateStyle = 'German';
SET extra_float_digits = -15;
BEGIN;
SET LOCAL TimeZone = 'America/New_York';
SET LOCAL IntervalStyle = 'iso_8601';
SELECT day, at, value, span FROM readings;
SELECT set_keys();
DELETE FROM readings;
SELECT current_setting('TimeZone') AS timezone, current_setting('IntervalStyle') AS intervalstyle;
COMMIT;
SELECT * FROM cached_keys();
SELECT set_keys();
INSERT INTO readings VALUES
    (1, '2026-03-04', '2026-03-04 05:06:07.5+00', 0.1::float8 + 0.2,
     '1 day 02:03:04', '\x0102');
SELECT * FROM cached_keys();
SELECT cache_key('r', day, value) AS r_key FROM readings;
SELECT current_setting('TimeZone') AS timezone;

-- cache_key is PARALLEL SAFE: a parallel worker, which has the session's
-- settings, writes the same.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT cache_key('r', day, value) AS r_key FROM readings;
SELECT cache_key('r', day, value) AS r_key FROM readings;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET parallel_leader_participation;

-- A session already in the fixed settings gets the same.
RESET ALL;
SET DateStyle = 'ISO';
SET TimeZone = 'UTC';
SELECT set_keys();
UPDATE readings SET id = id;
SELECT * FROM cached_keys();

DROP TABLE readings;
DROP FUNCTION set_keys(), cached_keys();
SELECT cache_clear() >= 0 AS cleared;
