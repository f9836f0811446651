--
-- events: cache invalidations announced with NOTIFY.
--
-- The default, cachext.events = async, delivers the events a moment after
-- the commit (see below); this file reads each step's events right after
-- it, so the writing transaction sends them (on) until the async part.
SHOW cachext.events;
SET cachext.events = on;

-- The files before this one sent async events, which their database's
-- worker may still be sending; it leaves 1 s after its last one.  Wait
-- until it left, so that no late event reaches the listener below and the
-- async part starts a worker of its own (counted in cache_event_stats).
DO $$
BEGIN
    FOR i IN 1..1000 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity
                               WHERE backend_type = 'cachext events');
        PERFORM pg_sleep(0.01);
    END LOOP;
END
$$;

-- Start from an empty cache with zeroed counters.
SELECT cache_clear() >= 0 AS cleared;
SELECT cache_stats_reset();

-- To see the events, a second session listens on cachext.notify_channel
-- (default 'cache_events').  It is opened with dblink, so that this file
-- can print the channel and payload of each event it received (psql's own
-- notice of an event includes the sender's PID, which varies).
SHOW cachext.notify_channel;
CREATE EXTENSION dblink;
SELECT dblink_connect('listener',
       format('dbname=%s port=%s host=%s', current_database(),
              current_setting('port'),
              split_part(current_setting('unix_socket_directories'), ',', 1)));
SELECT dblink_exec('listener', 'LISTEN cache_events');

-- received() returns the events the listener got since the last call.  The
-- round trip makes the listener's server process deliver pending events
-- before it answers.
CREATE FUNCTION received(OUT channel text, OUT payload text)
RETURNS SETOF record LANGUAGE plpgsql AS $$
BEGIN
    PERFORM * FROM dblink('listener', 'SELECT 1') AS t(one int);
    RETURN QUERY SELECT notify_name, extra FROM dblink_get_notify('listener');
END
$$;

-- Nothing happened yet.
SELECT * FROM received();

-- cache_invalidate sends a CACHE_INVALIDATED event naming the key (without
-- the namespace).
SELECT cache_set('user:1', '{"name": "Ada"}');
SELECT cache_invalidate('user:1');
SELECT * FROM received();

-- The event is sent whether or not the key was cached, so that listeners
-- drop their own copies in any case.
SELECT cache_invalidate('user:1');
SELECT * FROM received();

-- cache_set sends no event.
SELECT cache_set('user:2', '{"name": "Grace"}');
SELECT * FROM received();

-- Events follow NOTIFY's rules: they are sent when the transaction
-- commits ...
BEGIN;
SELECT cache_invalidate('user:2');
SELECT * FROM received();
COMMIT;
SELECT * FROM received();

-- ... and dropped if it rolls back.  The entry itself is gone in both cases:
-- the cache is not transactional, only the events are.
SELECT cache_set('user:3', '{"name": "Edsger"}');
BEGIN;
SELECT cache_invalidate('user:3');
ROLLBACK;
SELECT * FROM received();
SELECT cache_get('user:3') IS NULL AS is_miss;

-- Several events of one transaction arrive in order, after the commit; as
-- with any NOTIFY, an identical event repeated in a transaction is sent
-- once.
BEGIN;
SELECT cache_invalidate('b');
SELECT cache_invalidate('a');
SELECT cache_invalidate('b');
COMMIT;
SELECT * FROM received();

-- cache_invalidate_pattern sends one event naming the pattern.
SELECT cache_set('item:1', '1');
SELECT cache_set('item:2', '2');
SELECT cache_invalidate_pattern('item:*');
SELECT * FROM received();

-- cache_clear sends CACHE_CLEARED.
SELECT cache_clear();
SELECT * FROM received();

-- The payload is valid JSON whatever the key holds: quotes, backslashes and
-- control characters are escaped; other characters are kept as they are.
SELECT cache_invalidate(E'say "hi"\\now\nnext line\ttab ключ');
SELECT channel, payload,
       payload::json ->> 'key' = E'say "hi"\\now\nnext line\ttab ключ' AS key_round_trips
  FROM received();

-- Every control character, quotes, backslashes, glob characters and
-- characters outside ASCII: each payload casts to jsonb and gives the key
-- back exactly.
CREATE TABLE hostile_keys AS
SELECT row_number() OVER () AS id, k
  FROM (SELECT 'c' || chr(c) || 'x' AS k FROM generate_series(1, 31) c
        UNION ALL SELECT E'DEL\x7f' UNION ALL SELECT E'q"\'\\/*?[]{}'
        UNION ALL SELECT E'x\r\nFLUSHALL\r\n' UNION ALL SELECT 'ключ 键 🔑'
        UNION ALL SELECT E'\u2028\u2029\ufeff') s;
SELECT count(cache_invalidate(k)) FROM hostile_keys;
SELECT count(*) AS events, count(h.k) AS keys_round_trip
  FROM received() AS r
  LEFT JOIN hostile_keys AS h ON r.payload::jsonb ->> 'key' = h.k;

-- The same keys named by a watched table's change event, plus keys of
-- 600 control characters (3600 bytes each once escaped), so that the event
-- is split into several payloads: every payload casts to jsonb, and
-- together they name each key exactly once.
INSERT INTO hostile_keys SELECT 100 + i, repeat(chr(1), 600) || i FROM generate_series(1, 5) i;
CREATE TEMP TABLE expected_keys AS SELECT k FROM hostile_keys;
SELECT cache_watch_table('hostile_keys', 'HOSTILE', ARRAY['{k}']);
DELETE FROM hostile_keys;
CREATE TEMP TABLE got AS SELECT payload::jsonb AS payload FROM received();
SELECT payload ->> 'event' AS event, count(*) AS payloads,
       sum(jsonb_array_length(coalesce(payload -> 'keys', '[]'))) AS keys_named
  FROM got GROUP BY 1 ORDER BY 1;
SELECT count(*) AS expected_keys,
       count(*) FILTER (WHERE (SELECT count(*) FROM got, jsonb_array_elements_text(payload -> 'keys') n
                                WHERE n = e.k) = 1) AS named_once
  FROM expected_keys AS e;
DROP TABLE hostile_keys, expected_keys, got;

-- NOTIFY refuses payloads of 8000 bytes or more.  A key of 7958 bytes makes
-- a payload of 7999 bytes, sent as it is; from 7959 bytes on, the payload
-- carries the key's MD5 and length instead of the key.
SET cachext.max_key_length = 10000;
SELECT cache_invalidate(repeat('k', 7958));
SELECT channel, length(payload) AS payload_length,
       payload::json ->> 'key' = repeat('k', 7958) AS has_key
  FROM received();
SELECT cache_invalidate(repeat('k', 7959));
SELECT channel, payload,
       payload::json ->> 'key_md5' = md5(repeat('k', 7959)) AS md5_matches
  FROM received();
RESET cachext.max_key_length;

-- cachext.notify_channel chooses the channel (a superuser's setting).
SET cachext.notify_channel = 'my_events';
SELECT cache_invalidate('elsewhere');
SELECT * FROM received();
SELECT dblink_exec('listener', 'LISTEN my_events');
SELECT cache_invalidate('elsewhere');
SELECT * FROM received();
RESET cachext.notify_channel;

-- The channel must be a valid NOTIFY channel name: neither empty nor longer
-- than 63 bytes.
SET cachext.notify_channel = '';
SELECT set_config('cachext.notify_channel', repeat('c', 64), false);
SHOW cachext.notify_channel;

-- cachext.events = async sends the same events on the same channel, but
-- not from the writing transaction: after it commits, a background worker
-- of the database sends them (so writers never take NOTIFY's
-- database-wide commit lock).  The same workload runs with on and with
-- async, and the listener must get exactly the same events in the same
-- order: none from a rolled-back transaction, none from a rolled-back
-- subtransaction, one for an event repeated in a transaction.
CREATE TABLE watched_users (id int PRIMARY KEY, name text);
SELECT cache_watch_table('watched_users', 'USER', ARRAY['user:{id}']);
CREATE PROCEDURE workload() LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cache_invalidate('w:1');
    COMMIT;
    PERFORM cache_invalidate('w:b');
    PERFORM cache_invalidate('w:a');
    PERFORM cache_invalidate('w:b');
    INSERT INTO watched_users VALUES (1, 'Ada'), (2, 'Grace');
    COMMIT;
    PERFORM cache_invalidate('w:rolled back');
    UPDATE watched_users SET name = 'x' WHERE id = 1;
    ROLLBACK;
    UPDATE watched_users SET name = 'Ada L.' WHERE id = 1;
    BEGIN
        PERFORM cache_invalidate('w:rolled back subtransaction');
        UPDATE watched_users SET name = 'y' WHERE id = 2;
        RAISE EXCEPTION 'roll back the subtransaction';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    BEGIN
        PERFORM cache_invalidate('w:committed subtransaction');
        PERFORM cache_invalidate('w:1');
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    DELETE FROM watched_users WHERE id = 2;
    COMMIT;
    PERFORM cache_invalidate('w:done');
END
$$;

-- collect(kind) stores what the listener receives until the workload's
-- last event, w:done, arrives (at most 10 s), noting whether the writing
-- backend sent it.
CREATE TABLE got (n serial, kind text, channel text, payload text,
                  from_writer boolean);
CREATE PROCEDURE collect(kind text) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..1000 LOOP
        PERFORM * FROM dblink('listener', 'SELECT 1') AS t(one int);
        INSERT INTO got (kind, channel, payload, from_writer)
            SELECT kind, notify_name, extra, be_pid = pg_backend_pid()
              FROM dblink_get_notify('listener');
        EXIT WHEN EXISTS (SELECT FROM got
                           WHERE got.kind = collect.kind
                             AND got.payload LIKE '%w:done%');
        PERFORM pg_sleep(0.01);
    END LOOP;
END
$$;

SET cachext.events = on;
CALL workload();
CALL collect('on');
SET cachext.events = off;
DELETE FROM watched_users;
SET cachext.events = async;
SHOW cachext.events;
CALL workload();
CALL collect('async');
RESET cachext.events;

SELECT channel, payload, from_writer FROM got WHERE kind = 'async' ORDER BY n;
SELECT (SELECT array_agg(channel || ' ' || payload ORDER BY n) FROM got WHERE kind = 'on') =
       (SELECT array_agg(channel || ' ' || payload ORDER BY n) FROM got WHERE kind = 'async')
       AS same_events_in_same_order,
       (SELECT bool_and(from_writer) FROM got WHERE kind = 'on') AS on_sent_by_writer,
       (SELECT bool_and(NOT from_writer) FROM got WHERE kind = 'async') AS async_sent_by_worker;

-- cache_event_stats counts the events the worker sent (its counter moves
-- just after its NOTIFY commits, so wait for it), and those a writer had
-- to send itself (none here).
DO $$
BEGIN
    FOR i IN 1..1000 LOOP
        EXIT WHEN (SELECT sent_async FROM cache_event_stats()) >=
                  (SELECT count(*) FROM got WHERE kind = 'async');
        PERFORM pg_sleep(0.01);
    END LOOP;
END
$$;
SELECT sent_async = (SELECT count(*) FROM got WHERE kind = 'async') AS all_counted,
       fallbacks, workers_started >= 1 AS worker_started
  FROM cache_event_stats();

-- true/false, yes/no and 1/0 are accepted for on and off.
SET cachext.events = false;
SHOW cachext.events;
SET cachext.events = yes;
SHOW cachext.events;
SET cachext.events = sometimes;
RESET cachext.events;
SET cachext.events = off;
DROP TABLE watched_users, got;
RESET cachext.events;
DROP PROCEDURE workload();
DROP PROCEDURE collect(text);

SELECT dblink_disconnect('listener');
DROP FUNCTION received();
DROP EXTENSION dblink;
SELECT cache_clear();
