-- A watched write in each of many subtransactions (an exception block per
-- row, as in a loop that skips bad rows) keeps the transaction's memory
-- bounded: what an aborted block recorded is freed with it, and what a
-- committed block recorded is merged into its parent's and freed, so only
-- the distinct keys stay until the commit.
CREATE TABLE sub_items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO sub_items SELECT generate_series(1, 10);
SELECT cache_watch_table('sub_items', 'SUB', ARRAY['sub:{id}']);

-- The memory this backend holds now, in every memory context.
CREATE FUNCTION backend_memory() RETURNS bigint LANGUAGE sql AS
$$ SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts $$;

-- Runs blocks exception blocks, every other one rolled back, each updating
-- a watched row; returns how much the backend's memory grew meanwhile
-- (after a warm-up, so that caches filled once do not count).
CREATE FUNCTION memory_of_subtransactions(blocks int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    before bigint;
BEGIN
    FOR phase IN 1 .. 2 LOOP
        IF phase = 2 THEN
            before := backend_memory();
        END IF;
        FOR i IN 1 .. CASE phase WHEN 1 THEN 100 ELSE blocks END LOOP
            BEGIN
                UPDATE sub_items SET n = n + 1 WHERE id = 1 + i % 10;
                IF i % 2 = 0 THEN
                    RAISE EXCEPTION 'roll this block back';
                END IF;
            EXCEPTION WHEN raise_exception THEN
                NULL;
            END;
        END LOOP;
    END LOOP;
    RETURN backend_memory() - before;
END $$;

-- 10 000 blocks: about 24 kB each were kept before; now a few bytes.
SELECT memory_of_subtransactions(10000) < 4 * 1024 * 1024 AS memory_bounded;

-- The commit still invalidates what the committed blocks recorded.
SELECT cache_set('sub:2', '"cached"');
BEGIN;
DO $$
BEGIN
    BEGIN
        UPDATE sub_items SET n = n + 1 WHERE id = 2;
    END;
    BEGIN
        UPDATE sub_items SET n = n + 1 WHERE id = 3;
        RAISE EXCEPTION 'roll back';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
END $$;
COMMIT;
SELECT cache_get('sub:2') IS NULL AS invalidated;

DROP TABLE sub_items;
DROP FUNCTION memory_of_subtransactions(int);
DROP FUNCTION backend_memory();
