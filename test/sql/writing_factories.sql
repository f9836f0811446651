--
-- writing_factories: a factory query that writes (it takes a transaction
-- ID) returns its value, but the value is never cached, in a transaction
-- block or outside one: the value is only true once the write commits, and
-- the commit can still fail.
--
SELECT cache_clear() >= 0 AS cleared;

-- A deferred foreign key is checked at commit, after the factory's value
-- was returned: here the commit fails (23503, foreign_key_violation).
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (pid int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);
SELECT cache_get_or_set('w', 'INSERT INTO child VALUES (42) RETURNING pid');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- The insert was rolled back, and nothing was cached either.
SELECT count(*) AS children FROM child;
SELECT cache_get('w') IS NULL AS not_cached;

-- The same holds when the commit succeeds: a writing factory runs on every
-- call.
INSERT INTO parent VALUES (42);
SELECT cache_get_or_set('w', 'INSERT INTO child VALUES (42) RETURNING pid');
SELECT cache_get('w') IS NULL AS not_cached;

-- A volatile function that writes is a writing factory too.
CREATE TABLE counter (n int);
INSERT INTO counter VALUES (0);
CREATE FUNCTION bump() RETURNS int VOLATILE LANGUAGE sql
  AS 'UPDATE counter SET n = n + 1 RETURNING n';
SELECT cache_get_or_set('bumped', 'SELECT bump()');
SELECT cache_get_or_set('bumped', 'SELECT bump()');
SELECT cache_get('bumped') IS NULL AS not_cached;

-- Inside a transaction block as well.
BEGIN;
SELECT cache_get_or_set('bumped', 'SELECT bump()');
COMMIT;
SELECT cache_get('bumped') IS NULL AS not_cached;

-- A factory that only reads is cached as usual.
SELECT cache_get_or_set('read', 'SELECT n FROM counter');
SELECT cache_get('read');

DROP FUNCTION bump();
DROP TABLE counter, child, parent;
