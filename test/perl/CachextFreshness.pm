# CachextFreshness: what the tests that check no read is older than the
# table (110 on a standby, 190 across a restart) read.
package CachextFreshness;

use strict;
use warnings;

use Exporter 'import';

our @EXPORT = qw(counters_sql);

# SQL creating $n counters watched under the keys c:{id}, and
# read_table_then_cache(secs), which reads random counters for secs
# seconds, each as the row in the table, then the counter through the
# cache, which must never be behind the row: rows (id, in_table, n).
sub counters_sql
{
	my ($n) = @_;
	return qq{
CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO counters SELECT i, 0 FROM generate_series(1, $n) i;
SELECT cache_watch_table('counters', 'COUNTER', ARRAY['c:{id}']);
CREATE FUNCTION read_table_then_cache(secs float8)
RETURNS TABLE (id int, in_table int, n int) LANGUAGE plpgsql AS \$\$
DECLARE
    deadline timestamptz := clock_timestamp() + secs * interval '1 second';
BEGIN
    WHILE clock_timestamp() < deadline LOOP
        id := 1 + floor(random() * $n)::int;
        SELECT c.n INTO in_table FROM counters c WHERE c.id = read_table_then_cache.id;
        n := cache_get_or_set('c:' || id, 'SELECT n FROM counters WHERE id = \$1::int',
                              interval '1 hour', id::text)::int;
        RETURN NEXT;
    END LOOP;
END \$\$;
};
}

1;
