--
-- watch_partitions: a watched partitioned table, or inheritance parent,
-- covers its partitions and children, at any depth and whenever they were
-- created or attached: each change to one of them invalidates the keys of
-- the watched table's templates, TRUNCATE of one partition included.
--
SELECT cache_clear() >= 0 AS cleared;

-- The triggers of every table under a watched one.
CREATE FUNCTION watch_triggers(OUT tbl text, OUT tgname name, OUT enabled "char", OUT cloned boolean)
RETURNS SETOF record LANGUAGE sql AS $$
    SELECT t.tgrelid::regclass::text, t.tgname, t.tgenabled, t.tgparentid <> 0
      FROM pg_trigger AS t
     WHERE t.tgname LIKE 'cachext%'
     ORDER BY t.tgrelid::regclass::text COLLATE "C", t.tgname
$$;
-- Which of the keys are still cached.
CREATE FUNCTION cached(VARIADIC keys text[]) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(k, ' ' ORDER BY k), '-') FROM unnest(keys) AS k
     WHERE cache_get(k) IS NOT NULL
$$;
CREATE FUNCTION set_keys(VARIADIC keys text[]) RETURNS void LANGUAGE sql AS $$
    SELECT cache_set(k, '1') FROM unnest(keys) AS k
$$;

-- A partitioned table with two partitions, one of them partitioned in turn.
CREATE TABLE orders (id int, region text) PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us') PARTITION BY RANGE (id);
CREATE TABLE orders_us_low PARTITION OF orders_us FOR VALUES FROM (0) TO (100);
INSERT INTO orders VALUES (1, 'eu'), (2, 'us');
SELECT cache_watch_table('orders', 'ORDER', ARRAY['order:{id}']);

-- PostgreSQL clones the row trigger to every partition; cachext adds the
-- TRUNCATE trigger to each.
SELECT * FROM watch_triggers();
SELECT cache_watch_root('orders_us_low') AS root, cache_watch_root('orders') AS of_itself;

-- A row change in any partition invalidates its key; so does TRUNCATE of
-- one partition, for every key of the templates.
SELECT set_keys('order:1', 'order:2', 'order:3');
UPDATE orders_us_low SET region = 'us' WHERE id = 2;
SELECT cached('order:1', 'order:2', 'order:3');
SELECT set_keys('order:1', 'order:2', 'order:3');
TRUNCATE orders_us_low;
SELECT cached('order:1', 'order:2', 'order:3');

-- A partition created later, and one attached later (itself partitioned,
-- with a partition of its own), get the triggers too.
CREATE TABLE orders_asia PARTITION OF orders FOR VALUES IN ('asia');
CREATE TABLE orders_sa (id int, region text) PARTITION BY RANGE (id);
CREATE TABLE orders_sa_all PARTITION OF orders_sa FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
ALTER TABLE orders ATTACH PARTITION orders_sa FOR VALUES IN ('sa');
SELECT * FROM watch_triggers();
SELECT set_keys('order:1', 'order:5');
INSERT INTO orders_sa_all VALUES (5, 'sa');
SELECT cached('order:1', 'order:5');
SELECT set_keys('order:1', 'order:5');
TRUNCATE orders_asia;
SELECT cached('order:1', 'order:5');

-- A partition is watched through its table: watching or unwatching it on
-- its own is refused (42710, duplicate_object).
\set VERBOSITY terse
SELECT cache_watch_table('orders_eu', 'ORDER', ARRAY['eu_order:{id}']);
SELECT cache_unwatch_table('orders_us_low');
\set VERBOSITY default

-- fire_on_replica reaches every partition, later ones included.
SELECT cache_watch_table('orders', 'ORDER', ARRAY['order:{id}'], fire_on_replica => true);
CREATE TABLE orders_africa PARTITION OF orders FOR VALUES IN ('africa');
SELECT tbl, tgname, enabled FROM watch_triggers() WHERE enabled <> 'A';
SELECT count(*) AS always_enabled FROM watch_triggers() WHERE enabled = 'A';

-- Unwatching the table removes every trigger under it.
SELECT cache_unwatch_table('orders');
SELECT * FROM watch_triggers();

-- Inheritance: PostgreSQL gives children none of the parent's triggers;
-- cachext gives them both, so a change made through the parent or to the
-- child directly, and TRUNCATE of the child, invalidate.
CREATE TABLE animals (id int, name text);
CREATE TABLE dogs (breed text) INHERITS (animals);
INSERT INTO dogs VALUES (1, 'Rex', 'collie');
SELECT cache_watch_table('animals', 'ANIMAL', ARRAY['animal:{id}']);
SELECT * FROM watch_triggers();
SELECT set_keys('animal:1', 'animal:2');
UPDATE animals SET name = 'Rex II' WHERE id = 1;
SELECT cached('animal:1', 'animal:2');
SELECT set_keys('animal:1', 'animal:2');
UPDATE dogs SET breed = 'beagle';
SELECT cached('animal:1', 'animal:2');
SELECT set_keys('animal:1', 'animal:2');
TRUNCATE dogs;
SELECT cached('animal:1', 'animal:2');

-- A child created later, and a table made a child later (ALTER TABLE ...
-- INHERIT), are covered too; a child's own watch from before is replaced,
-- with a WARNING.
CREATE TABLE cats () INHERITS (animals);
CREATE TABLE birds (id int, name text);
CREATE TRIGGER cachext_invalidate AFTER INSERT OR UPDATE OR DELETE ON birds
    FOR EACH ROW EXECUTE FUNCTION cache_invalidation_trigger('BIRD', 'bird:{id}');
ALTER TABLE birds INHERIT animals;
SELECT * FROM watch_triggers();
SELECT set_keys('animal:3', 'animal:4', 'bird:4');
INSERT INTO cats VALUES (3, 'Tom');
INSERT INTO birds VALUES (4, 'Tweety');
SELECT cached('animal:3', 'animal:4', 'bird:4');

-- Unwatching the parent removes the children's triggers too.
SELECT cache_unwatch_table('animals');
SELECT * FROM watch_triggers();

-- A role that may not execute cachext's functions still creates and
-- alters its tables, partitioned or not: the event trigger that covers
-- new partitions calls into cachext only for a watched table's.
CREATE ROLE regress_partition_owner;
CREATE SCHEMA regress_own AUTHORIZATION regress_partition_owner;
REVOKE EXECUTE ON FUNCTION cache_watch_root(regclass), cache_watch_descendants(regclass) FROM PUBLIC;
SET ROLE regress_partition_owner;
CREATE TABLE regress_own.items (id int, kind text) PARTITION BY LIST (kind);
CREATE TABLE regress_own.items_a PARTITION OF regress_own.items FOR VALUES IN ('a');
CREATE TABLE regress_own.items_b (id int, kind text);
ALTER TABLE regress_own.items ATTACH PARTITION regress_own.items_b FOR VALUES IN ('b');
CREATE TABLE regress_own.base (id int);
CREATE TABLE regress_own.child () INHERITS (regress_own.base);
ALTER TABLE regress_own.child NO INHERIT regress_own.base;
ALTER TABLE regress_own.items ADD COLUMN note text;
SELECT count(*) AS tables FROM pg_class WHERE relnamespace = 'regress_own'::regnamespace;
RESET ROLE;
GRANT EXECUTE ON FUNCTION cache_watch_root(regclass), cache_watch_descendants(regclass) TO PUBLIC;
DROP SCHEMA regress_own CASCADE;
DROP ROLE regress_partition_owner;

DROP TABLE orders, animals CASCADE;
DROP FUNCTION watch_triggers(), cached(text[]), set_keys(text[]);
SELECT cache_clear() >= 0 AS cleared;
