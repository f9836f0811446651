--
-- tenants: the grant model SECURITY.md recommends when roles must not read
-- each other's cached data.  The cache is shared: every role that may call
-- cache_get reads every key of its namespace (cachext.namespace), and
-- every database uses the namespace 'cache:' unless told otherwise.  The
-- recipe: one database per tenant, each with its own prefix (a superuser
-- setting), and the API granted to the tenant's roles only.
--
SELECT cache_clear() >= 0 AS cleared;
SELECT current_database() AS home \gset

-- Without a prefix of its own, another database shares this one's keys.
CREATE DATABASE regress_tenant_shared;
SELECT cache_set('shared:secret', '"visible to every database"');
\c regress_tenant_shared
CREATE EXTENSION cachext;
SHOW cachext.namespace;
SELECT cache_get('shared:secret');
\c :home

-- The recipe, for two tenants.
CREATE ROLE regress_tenant_a;
CREATE ROLE regress_tenant_b;
CREATE ROLE regress_outsider;
CREATE DATABASE regress_tenant_a_db;
CREATE DATABASE regress_tenant_b_db;
ALTER DATABASE regress_tenant_a_db SET cachext.namespace = 'tenant_a:';
ALTER DATABASE regress_tenant_b_db SET cachext.namespace = 'tenant_b:';

-- In each tenant's database: create the extension in a schema of its own,
-- take its functions and the entry list away from PUBLIC, and give the API
-- to the tenant's roles.
\c regress_tenant_a_db
CREATE SCHEMA cache;
CREATE EXTENSION cachext SCHEMA cache;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA cache FROM PUBLIC;
REVOKE SELECT ON cache.cache_entries FROM PUBLIC;
GRANT USAGE ON SCHEMA cache TO regress_tenant_a, regress_outsider;
SET search_path = cache, public;
GRANT EXECUTE ON FUNCTION cache_get(text), cache_get_multi(text[]),
      cache_set(text, jsonb, interval, text[]),
      cache_invalidate(text), cache_get_or_set(text, text, interval),
      cache_get_or_set(text, text, interval, text[]), cache_key(text, "any"),
      cache_stats()
   TO regress_tenant_a;
SHOW cachext.namespace;
SET ROLE regress_tenant_a;
SELECT cache_set('secret', '"only for tenant a"');
SELECT cache_get('secret');
SELECT cache_get('shared:secret') AS other_namespace;
-- A tenant cannot move to another namespace (42501) ...
SET cachext.namespace = 'tenant_b:';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- ... nor list the keys of every namespace.
SELECT count(*) FROM cache_entries;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
-- A role of no tenant cannot use this database's cache at all.
SET ROLE regress_outsider;
SELECT cache_get('secret');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

\c regress_tenant_b_db
CREATE SCHEMA cache;
CREATE EXTENSION cachext SCHEMA cache;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA cache FROM PUBLIC;
REVOKE SELECT ON cache.cache_entries FROM PUBLIC;
GRANT USAGE ON SCHEMA cache TO regress_tenant_b;
SET search_path = cache, public;
GRANT EXECUTE ON FUNCTION cache_get(text), cache_set(text, jsonb, interval, text[]) TO regress_tenant_b;
SET ROLE regress_tenant_b;
-- The same key names another entry: tenant a's value is out of reach.
SELECT cache_get('secret') AS tenant_a_secret;
SELECT cache_set('secret', '"only for tenant b"');
SELECT cache_get('secret');
RESET ROLE;

-- Each tenant's value lives under its own prefix (seen as a superuser).
SELECT namespace, key, bytes > 0 AS stored FROM cache_entries
 WHERE key = 'secret' ORDER BY namespace;

\c :home
SELECT cache_clear() >= 0 AS cleared;
DROP DATABASE regress_tenant_shared;
DROP DATABASE regress_tenant_a_db;
DROP DATABASE regress_tenant_b_db;
DROP ROLE regress_tenant_a, regress_tenant_b, regress_outsider;
