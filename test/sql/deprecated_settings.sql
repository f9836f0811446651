--
-- Deprecated setting names.  cachext.redis_prefix and cachext.lock_timeout
-- were renamed cachext.namespace and cachext.load_wait_timeout in 0.2.0;
-- the old names keep working through 0.3.0.  Setting one says so with a
-- WARNING.  The value in force is the new name's when it is set away from
-- its default, else the old name's.
--

-- The old name moves the namespace exactly as the new one does.
SET cachext.redis_prefix = 'old_name:';
SELECT cache_set('renamed', '"stored under the old name"');
SELECT namespace, key FROM cache_entries WHERE key = 'renamed';
RESET cachext.redis_prefix;
SELECT cache_get('renamed') IS NULL AS is_miss;
SET cachext.namespace = 'old_name:';
SELECT cache_get('renamed');
RESET cachext.namespace;

-- Both set: the new name wins.
SET cachext.redis_prefix = 'old_name:';
SET cachext.namespace = 'new_name:';
SELECT cache_get('renamed') IS NULL AS is_miss;
SELECT cache_set('renamed', '"stored under the new name"');
SELECT namespace, key FROM cache_entries WHERE key = 'renamed'
 ORDER BY namespace;

-- The new name back at its default: the old name applies again.
SET cachext.namespace = 'cache:';
SELECT cache_get('renamed');
RESET cachext.namespace;
SELECT cache_get('renamed');

-- SET LOCAL of the old name ends with its transaction, as any setting's.
RESET cachext.redis_prefix;
BEGIN;
SET LOCAL cachext.redis_prefix = 'new_name:';
SELECT cache_get('renamed');
ROLLBACK;
SELECT cache_get('renamed') IS NULL AS is_miss;

-- The old name keeps the new one's limits and privileges.
CREATE ROLE regress_deprecated_user;
SET ROLE regress_deprecated_user;
SET cachext.redis_prefix = 'other:';
RESET ROLE;
DROP ROLE regress_deprecated_user;

-- cachext.lock_timeout is accepted with the same units and bounds as
-- cachext.load_wait_timeout (test/t/170_deprecated_settings.pl shows it
-- changes how long cache_get_or_set waits for another backend's load).
SET cachext.lock_timeout = '250ms';
SHOW cachext.lock_timeout;
SELECT name, unit, min_val, max_val FROM pg_settings
 WHERE name IN ('cachext.lock_timeout', 'cachext.load_wait_timeout')
 ORDER BY name;
-- A value out of range is refused (22023) in core's words, which name the
-- unit from PostgreSQL 18 on: only the SQLSTATE is shown.
\set VERBOSITY sqlstate
SET cachext.lock_timeout = -1;
\set VERBOSITY default
RESET cachext.lock_timeout;

-- Clean up.
SET cachext.namespace = 'old_name:';
SELECT cache_invalidate('renamed');
SET cachext.namespace = 'new_name:';
SELECT cache_invalidate('renamed');
RESET cachext.namespace;
