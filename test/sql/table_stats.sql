--
-- table_stats: the invalidation machinery per watched table (the
-- cache_table_stats view), counted when transactions commit.
--
CREATE TABLE table_stats_users (id int PRIMARY KEY, team text);
SELECT cache_watch_table('table_stats_users', 'USER', ARRAY['user:{id}', 'team:{team}']);

-- Three rows in one statement: 3 rows seen; 3 user keys and 2 team keys
-- invalidated (team:red, named by two rows, counts once); 1 commit.
INSERT INTO table_stats_users VALUES (1, 'red'), (2, 'red'), (3, 'blue');
SELECT table_name, rows_seen, keys_invalidated, commits_fenced, redis_time_ms
  FROM cache_table_stats WHERE table_name = 'public.table_stats_users';

-- An UPDATE names the old and the new row's keys: user:1 once (it did not
-- change), team:red and team:green; the DELETE user:3 and team:blue.  Two
-- statements in one transaction are one commit: 2 rows, 5 keys, 1 commit.
BEGIN;
UPDATE table_stats_users SET team = 'green' WHERE id = 1;
DELETE FROM table_stats_users WHERE id = 3;
COMMIT;
SELECT rows_seen, keys_invalidated, commits_fenced
  FROM cache_table_stats WHERE table_name = 'public.table_stats_users';

-- A transaction that rolls back invalidates nothing and counts nothing.
BEGIN;
DELETE FROM table_stats_users;
ROLLBACK;
SELECT rows_seen, keys_invalidated, commits_fenced
  FROM cache_table_stats WHERE table_name = 'public.table_stats_users';

-- TRUNCATE sees no row: it counts its patterns (user:*, team:*) as keys.
TRUNCATE table_stats_users;
SELECT rows_seen, keys_invalidated, commits_fenced
  FROM cache_table_stats WHERE table_name = 'public.table_stats_users';

-- The view names the database; without Redis no time is spent there; the
-- other bucket (tables past cachext.table_stats_max) is the last row.
SELECT database = current_database() AS this_database, redis_time_ms
  FROM cache_table_stats WHERE table_name = 'public.table_stats_users';
SELECT database IS NULL AND table_name IS NULL AS other_row, rows_seen
  FROM cache_table_stats WHERE table_name IS NULL;

-- cache_stats_reset zeroes the figures; the table keeps its row.
SELECT cache_stats_reset();
SELECT rows_seen, keys_invalidated, commits_fenced, redis_time_ms
  FROM cache_table_stats WHERE table_name = 'public.table_stats_users';

SELECT cache_unwatch_table('table_stats_users');
DROP TABLE table_stats_users;
