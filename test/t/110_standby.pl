# A hot standby sharing Redis (and the prefix) with its primary never
# publishes a stale value: its snapshot can be older than a commit whose
# invalidation already ran on the primary, so a standby does not store the
# values its cache_get_or_set loads (in Redis or in its own L1); it still
# reads, and promotes, what Redis holds.
#
# 1. Replay paused on the standby: a load there sees the old row, returns it,
#    and publishes nothing the primary could read after the update.
# 2. A mixed load: writers bump per-key counters on the primary, readers
#    call cache_get_or_set on the primary and on the standby.  A primary read
#    is stale when it returns a value lower than one whose commit had
#    returned before the read started: there must be none.  A standby read
#    first reads the counter from the standby's table, then through the
#    cache: it must never return less than the table showed (the WAL carries
#    the invalidations: test/t/115_standby_wal_invalidation.pl).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextFreshness;
use CachextRedis;
use CachextSessions;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('shared', $redis_port);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'cachext'
cachext.redis_url = 'redis://127.0.0.1:$redis_port'
max_connections = 30
});
$primary->start;
$primary->safe_psql(
	'postgres', q{CREATE EXTENSION cachext;
CREATE TABLE users (id int PRIMARY KEY, name text);
INSERT INTO users VALUES (1, 'old');
SELECT cache_watch_table('users', 'USER', ARRAY['user:{id}']);
} . counters_sql(3) . q{
CREATE TABLE commits (id int, n int, returned_at float8);

-- Reads random counters through the cache for secs seconds: when each
-- read started (epoch seconds), the counter and the value read.
CREATE FUNCTION read_counters(secs float8)
RETURNS TABLE (started float8, id int, n int) LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + secs * interval '1 second';
BEGIN
    WHILE clock_timestamp() < deadline LOOP
        started := extract(epoch FROM clock_timestamp());
        id := 1 + floor(random() * 3)::int;
        n := cache_get_or_set('c:' || id, 'SELECT n FROM counters WHERE id = $1::int',
                              interval '1 hour', id::text)::int;
        RETURN NEXT;
    END LOOP;
END $$});

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
# The readers' long statements must not be cancelled by replay.
$standby->append_conf('postgresql.conf', 'hot_standby_feedback = on');
$standby->start;
$primary->wait_for_catchup($standby);
$standby->poll_query_until('postgres',
	q{SELECT sync_resets >= 1 FROM cache_stats WHERE layer = 'l2'})
  or die 'the standby\'s sync worker does not follow the stream';

# ---- 1. Replay paused: the standby's load is older than the primary's
# committed UPDATE (and its invalidation).
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
$primary->safe_psql('postgres', q{UPDATE users SET name = 'new' WHERE id = 1});
is( $standby->safe_psql(
		'postgres',
		q{SELECT cache_get_or_set('user:1', 'SELECT name FROM users WHERE id = 1', '1h')}),
	'"old"',
	'the paused standby loads the row it sees');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM cache_entries WHERE key = 'user:1'}),
	'0', 'but keeps it out of its L1');
is(redis_cli('shared', 'EXISTS', 'cache:user:1'), '0', 'and out of Redis');
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
$primary->wait_for_catchup($standby);
isnt($primary->safe_psql('postgres', q{SELECT cache_get('user:1')}),
	'"old"', 'the primary never reads the old name');
is( $primary->safe_psql(
		'postgres',
		q{SELECT cache_get_or_set('user:1', 'SELECT name FROM users WHERE id = 1', '1h')}),
	'"new"',
	'it loads the new one');
is( $standby->safe_psql(
		'postgres',
		q{SELECT cache_get_or_set('user:1', 'SELECT name FROM users WHERE id = 1', '1h')}),
	'"new"',
	'which the standby, having replayed the UPDATE, reads from Redis');

# ---- 2. Mixed load.  Each writer bumps every counter in turn and records,
# once its COMMIT has returned, the value it committed.
my $seconds = 15;
my @writers = map {
	start_psql(
		$primary, qq{DO \$\$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '$seconds seconds';
    i int := $_;
    v int;
BEGIN
    WHILE clock_timestamp() < deadline LOOP
        i := i % 3 + 1;
        UPDATE counters SET n = n + 1 WHERE id = i RETURNING n INTO v;
        COMMIT;
        INSERT INTO commits VALUES (i, v, extract(epoch FROM clock_timestamp()));
    END LOOP;
    COMMIT;
END \$\$})
} 1 .. 3;
my $read = "COPY (SELECT * FROM read_counters($seconds)) TO STDOUT";
my @primary_readers = map { start_psql($primary, $read) } 1 .. 3;
my @standby_readers = map {
	start_psql($standby,
		"COPY (SELECT * FROM read_table_then_cache($seconds)) TO STDOUT")
} 1 .. 2;

for my $writer (@writers)
{
	my (undef, $err) = finish_psql($writer);
	is($err, '', 'a writer ran without error');
}
my %committed;    # id => [ [returned_at, n], ... ]
for my $line (split /\n/,
	$primary->safe_psql('postgres', 'SELECT id, n, returned_at FROM commits ORDER BY returned_at'))
{
	my ($id, $n, $at) = split /\|/, $line;
	push @{ $committed{$id} }, [ $at, $n ];
}

# The largest value of counter id whose commit had returned before $at.
sub committed_before
{
	my ($id, $at) = @_;
	my $largest = 0;
	for my $commit (@{ $committed{$id} })
	{
		last if $commit->[0] >= $at;
		$largest = $commit->[1] if $commit->[1] > $largest;
	}
	return $largest;
}

my ($reads, $stale) = (0, 0);
for my $reader (@primary_readers)
{
	my ($out, $err) = finish_psql($reader);
	is($err, '', 'a primary reader ran without error');
	for my $line (split /\n/, $out)
	{
		my ($started, $id, $n) = split /\t/, $line;
		$reads++;
		my $floor = committed_before($id, $started);
		next if $n >= $floor;
		$stale++;
		diag("stale read at $started: counter $id was $n, $floor had committed")
		  if $stale <= 10;
	}
}
my ($standby_reads, $standby_stale) = (0, 0);
for my $reader (@standby_readers)
{
	my ($out, $err) = finish_psql($reader);
	is($err, '', 'a standby reader ran without error');
	for my $line (split /\n/, $out)
	{
		my ($id, $in_table, $n) = split /\t/, $line;
		$standby_reads++;
		next if $n >= $in_table;
		$standby_stale++;
		diag("stale standby read: counter $id was $n, the table had shown $in_table")
		  if $standby_stale <= 10;
	}
}
cmp_ok($reads, '>', 100, "the primary's readers read ($reads reads)");
cmp_ok($standby_reads, '>', 100, "the standby's readers read ($standby_reads reads)");
cmp_ok(scalar(map { @$_ } values %committed), '>', 100, 'the writers wrote');
is($stale, 0, "no stale read on the primary ($stale of $reads)");
is($standby_stale, 0,
	"no standby read older than its table ($standby_stale of $standby_reads)");

# Once the standby has replayed everything, every layer agrees with the table.
$primary->wait_for_catchup($standby);
for my $node ($primary, $standby)
{
	is( $node->safe_psql(
			'postgres', q{SELECT count(*) FROM counters
 WHERE cache_get_or_set('c:' || id, 'SELECT n FROM counters WHERE id = $1::int',
                        interval '1 hour', id::text)::int <> n}),
		'0',
		$node->name . ': every cached counter is the committed one');
}

$standby->stop;
$primary->stop;
done_testing();
