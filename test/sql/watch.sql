--
-- watch: the invalidation handler.  Triggers turn committed row changes
-- into key invalidations and events.
--
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

-- A listener on cachext.notify_channel, opened with dblink so that events
-- print without the sender's PID (see the events test).  The writing
-- transaction sends them (cachext.events = on), so that each step's events
-- can be read right after it; the default, async, sends the same ones a
-- moment later (the events test), so first wait until the worker sending
-- the async events of the files before this one left (1 s after its last).
SET cachext.events = on;
DO $$
BEGIN
    FOR i IN 1..1000 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity
                               WHERE backend_type = 'cachext events');
        PERFORM pg_sleep(0.01);
    END LOOP;
END
$$;
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('watcher',
       format('dbname=%s port=%s host=%s', current_database(),
              current_setting('port'),
              split_part(current_setting('unix_socket_directories'), ',', 1)));
SELECT dblink_exec('watcher', 'LISTEN cache_events');
CREATE FUNCTION watched_events(OUT payload text)
RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM * FROM dblink('watcher', 'SELECT 1') AS t(one int);
    RETURN QUERY SELECT extra FROM dblink_get_notify('watcher');
END
$$;

-- The design's example: users invalidate user:{id} and user_profile:{id}.
CREATE TABLE users (id int PRIMARY KEY, name text, team text);
INSERT INTO users VALUES (1, 'Ada', 'a'), (2, 'Grace', 'b'), (3, 'Edsger', NULL);
SELECT cache_watch_table('users', 'user', ARRAY['user:{id}', 'user_profile:{id}']);
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'users'::regclass ORDER BY tgname;

-- An UPDATE invalidates the row's keys when it commits, and announces it:
-- the entity event with the keys, then one CACHE_INVALIDATED per key.
SELECT cache_set('user:1', '"Ada"'), cache_set('user_profile:1', '{}'), cache_set('user:2', '"Grace"');
UPDATE users SET name = 'Ada L.' WHERE id = 1;
SELECT cache_get('user:1') AS user1, cache_get('user_profile:1') AS profile1, cache_get('user:2') AS user2;
SELECT * FROM watched_events();

-- Changing the key column names the old and the new row's keys.
SELECT cache_set('user:7', 'null');
UPDATE users SET id = 7 WHERE id = 2;
SELECT cache_get('user:2') AS user2, cache_get('user:7') AS user7;
SELECT * FROM watched_events();

-- INSERT clears a cached miss ("null") of the new row; DELETE names the old row.
SELECT cache_set('user:4', 'null');
INSERT INTO users VALUES (4, 'Barbara', 'a');
DELETE FROM users WHERE id = 7;
SELECT cache_get('user:4') AS user4;
SELECT * FROM watched_events();

-- Many rows naming the same key invalidate (and announce) it once.
SELECT cache_watch_table('users', 'USER', ARRAY['team:{team}']);
UPDATE users SET name = name || '!' WHERE team = 'a';
SELECT * FROM watched_events();

-- A NULL key column names no key.
UPDATE users SET name = 'E.W.' WHERE id = 3;
SELECT * FROM watched_events();

-- TRUNCATE invalidates every key of the templates, as patterns; glob
-- characters in a template's literal text are escaped.
SELECT cache_watch_table('users', 'USER', ARRAY['user:{id}', 'odd*name?:{id}']);
SELECT cache_set('user:1', '1'), cache_set('odd*name?:1', '1'), cache_set('oddXname?:1', '1');
TRUNCATE users;
SELECT cache_get('user:1') AS user1, cache_get('odd*name?:1') AS odd, cache_get('oddXname?:1') AS other;
SELECT * FROM watched_events();

-- A template naming a missing column is refused when the table is watched,
-- as are a bad entity and empty templates.
\set VERBOSITY terse
SELECT cache_watch_table('users', 'USER', ARRAY['user:{uid}']);
SELECT cache_watch_table('users', 'bad entity', ARRAY['user:{id}']);
SELECT cache_watch_table('users', NULL, ARRAY['user:{id}']);
SELECT cache_watch_table('users', 'USER', ARRAY[]::text[]);
SELECT cache_watch_table('users', 'USER', ARRAY['']);

-- The trigger function refuses to run other than as an AFTER trigger.
SELECT cache_invalidation_trigger();
CREATE TRIGGER wrong BEFORE UPDATE ON users FOR EACH ROW
    EXECUTE FUNCTION cache_invalidation_trigger('USER', 'user:{id}');
INSERT INTO users VALUES (1, 'Ada', 'a');
UPDATE users SET name = 'x';
DROP TRIGGER wrong ON users;

-- Two-phase commit cannot carry pending invalidations.
BEGIN;
UPDATE users SET name = 'y';
PREPARE TRANSACTION 'p';
\set VERBOSITY default

-- Of all that, only the INSERT committed (and the BEFORE trigger's attempt
-- and the refused PREPARE rolled back).
SELECT * FROM watched_events();

-- cachext.events = off keeps the invalidations and drops the events (and
-- with them NOTIFY's commit-time lock that serializes writers).
SET cachext.events = off;
SELECT cache_set('user:1', '1');
UPDATE users SET name = 'quiet' WHERE id = 1;
SELECT cache_get('user:1') IS NULL AS invalidated;
SELECT * FROM watched_events();
SET cachext.events = on;

-- Unwatching removes both triggers; changes then invalidate nothing.
SELECT cache_unwatch_table('users');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'users'::regclass;
SELECT cache_set('user:1', '1');
UPDATE users SET name = 'z' WHERE id = 1;
SELECT cache_get('user:1') AS still_cached;
SELECT * FROM watched_events();

SELECT dblink_disconnect('watcher');
DROP FUNCTION watched_events();
DROP TABLE users;
