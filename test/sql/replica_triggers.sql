--
-- replica_triggers: watched tables under session_replication_role = replica,
-- the role a logical replication subscriber's apply worker (and some
-- restore tools) run with.  Ordinary triggers do not fire there, so by
-- default changes applied on a subscriber invalidate nothing;
-- cache_watch_table(..., fire_on_replica => true) makes cachext's triggers
-- ENABLE ALWAYS so that they do.
--
SELECT cache_clear() >= 0 AS cleared;

CREATE TABLE plain_watch (id int PRIMARY KEY, name text);
CREATE TABLE always_watch (id int PRIMARY KEY, name text);
INSERT INTO plain_watch VALUES (1, 'Ada');
INSERT INTO always_watch VALUES (1, 'Ada');
SELECT cache_watch_table('plain_watch', 'PLAIN', ARRAY['plain:{id}']);
SELECT cache_watch_table('always_watch', 'ALWAYS', ARRAY['always:{id}'],
                         fire_on_replica => true);

-- The triggers' firing modes: O (origin and local, the default) and A
-- (always).
SELECT tgrelid::regclass AS watched, tgname, tgenabled
  FROM pg_trigger WHERE tgname LIKE 'cachext_%'
 ORDER BY tgrelid::regclass::text COLLATE "C", tgname;

-- Under the default role, both invalidate.
SELECT cache_set('plain:1', '"old"'), cache_set('always:1', '"old"');
UPDATE plain_watch SET name = 'Grace';
UPDATE always_watch SET name = 'Grace';
SELECT cache_get('plain:1') IS NULL AS plain_invalidated,
       cache_get('always:1') IS NULL AS always_invalidated;

-- As a subscriber applies changes: the default watch misses them and the
-- cache keeps serving the old value; fire_on_replica invalidates.
SET session_replication_role = replica;
SELECT cache_set('plain:1', '"old"'), cache_set('always:1', '"old"');
UPDATE plain_watch SET name = 'Edsger';
UPDATE always_watch SET name = 'Edsger';
SELECT cache_get('plain:1') AS plain_value,
       cache_get('always:1') IS NULL AS always_invalidated;
-- The same for DELETE and TRUNCATE.
SELECT cache_set('always:1', '"old"');
DELETE FROM always_watch WHERE id = 1;
SELECT cache_get('always:1') IS NULL AS invalidated_by_delete;
SELECT cache_set('always:2', '"old"');
TRUNCATE always_watch;
SELECT cache_get('always:2') IS NULL AS invalidated_by_truncate;
RESET session_replication_role;

-- Watching again without the option returns to the default mode; tables
-- already watched can also be switched by hand with ALTER TABLE ... ENABLE
-- ALWAYS TRIGGER cachext_invalidate, ENABLE ALWAYS TRIGGER
-- cachext_invalidate_truncate.
SELECT cache_watch_table('always_watch', 'ALWAYS', ARRAY['always:{id}']);
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'always_watch'::regclass ORDER BY tgname;

-- Setting ENABLE ALWAYS needs ownership of the table: a role that may
-- create triggers on a table it does not own (TRIGGER privilege) can watch
-- it only in the default mode.  The refused call leaves no trigger behind.
CREATE TABLE granted_watch (id int PRIMARY KEY);
CREATE ROLE regress_trigger_user;
GRANT TRIGGER ON granted_watch TO regress_trigger_user;
SET ROLE regress_trigger_user;
SELECT cache_watch_table('granted_watch', 'GRANTED', ARRAY['granted:{id}'], true);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'granted_watch'::regclass;
SELECT cache_watch_table('granted_watch', 'GRANTED', ARRAY['granted:{id}']);
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'granted_watch'::regclass ORDER BY tgname;
RESET ROLE;

DROP TABLE plain_watch, always_watch, granted_watch;
DROP ROLE regress_trigger_user;
SELECT cache_clear() >= 0 AS cleared;
