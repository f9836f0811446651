--
-- drop_extension: what DROP EXTENSION cachext does to the triggers
-- cache_watch_table attached, and to the entries already cached
-- (docs/operations.md, "Removing cachext").  In a database of its own, so
-- the other files keep their extension.
--
SELECT current_database() AS home \gset
CREATE DATABASE regress_drop_extension;
\c regress_drop_extension
CREATE EXTENSION cachext;
CREATE TABLE users (id int PRIMARY KEY, name text);
INSERT INTO users VALUES (1, 'Ada');
SELECT cache_watch_table('users', 'USER', ARRAY['user:{id}']);
SELECT tgname FROM pg_trigger WHERE tgrelid = 'users'::regclass ORDER BY tgname;
SELECT cache_set('user:1', '{"name": "Ada"}');

-- The triggers depend on the extension's trigger function: a plain DROP
-- EXTENSION refuses, and names them.
DROP EXTENSION cachext;

-- With CASCADE the triggers go with the extension; the table and its rows
-- stay.
DROP EXTENSION cachext CASCADE;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'users'::regclass ORDER BY tgname;
SELECT * FROM users;

-- The entries stay cached (L1 belongs to the preloaded library, not to the
-- extension), and a change to the table no longer invalidates them: the
-- other databases of the namespace still read the old value.
UPDATE users SET name = 'Grace' WHERE id = 1;
\c :home
SELECT cache_get('user:1');
-- The namespace's keys are removed as usual (cache_invalidate_pattern, or
-- cache_clear): done before DROP EXTENSION, nothing is left to go stale.
SELECT cache_invalidate_pattern('user:*') >= 1 AS removed;
SELECT cache_get('user:1');
DROP DATABASE regress_drop_extension;
