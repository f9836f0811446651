# A hostile pattern invalidation does not hold up the readers of the
# partition it scans: glob matching costs up to the product of the pattern's
# and the key's lengths, so it runs with no lock held, on keys copied out in
# small batches.  Here one partition holds 3000 keys of 1000 characters,
# and a pattern of 500 characters that makes each key cost about half a
# million steps; while it is invalidated again and again, another session's
# cache_get of a key of the same partition stays fast.  The pattern still
# removes exactly the keys it matches.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextSessions;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = cachext_node(
	'hostile_pattern', q{cachext.l1_partitions = 1
cachext.l1_max_entries = 4000
cachext.l1_memory = '64MB'});
$node->safe_psql(
	'postgres', q{
SELECT count(cache_set(repeat('a', 1000) || i, '1')) FROM generate_series(1, 3000) i;
SELECT cache_set('reader', '"fast"');
SELECT cache_set(repeat('a', 700) || 'b', '"matches"');
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM cache_entries'),
	'3002', 'one partition holds every key');

my $pattern = q{'*' || repeat('a', 500) || 'b'};
my $invalidations = start_psql(
	$node, qq{SELECT sum(cache_invalidate_pattern($pattern)), max(clock_timestamp() - now())
  FROM generate_series(1, 3)}, 'hostile');
wait_for_app($node, 'hostile');

# The reader's longest cache_get (in ms) while the invalidations run.
my $slowest = $node->safe_psql(
	'postgres', q{
CREATE FUNCTION slowest_read() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz;
    slowest interval := '0';
BEGIN
    LOOP
        -- pg_stat_activity afresh on each pass, not this transaction's snapshot
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity
                               WHERE application_name = 'hostile' AND state = 'active');
        started := clock_timestamp();
        IF cache_get('reader') IS DISTINCT FROM '"fast"' THEN
            RAISE EXCEPTION 'the reader lost its key';
        END IF;
        slowest := greatest(slowest, clock_timestamp() - started);
    END LOOP;
    RETURN extract(epoch FROM slowest) * 1000;
END $$;
SELECT slowest_read()});
my ($out, $err) = finish_psql($invalidations);
is($err, '', 'the invalidations ran without error');
my ($removed, $took) = split /\|/, $out;
note("three invalidations took $took; the slowest read took $slowest ms");
cmp_ok($slowest, '<', 250, "no read waited for the scan (slowest ${slowest} ms)");
is($removed, '1', 'the pattern removed the one key it matches (once)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cache_entries'),
	'3001', 'and nothing else');
is($node->safe_psql('postgres', q{SELECT cache_get(repeat('a', 700) || 'b') IS NULL}),
	't', 'the matching key is gone');

$node->stop;
done_testing();
