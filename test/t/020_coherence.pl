# Coherent L1s across instances: two instances share one Redis, and each
# one's sync worker follows Redis' invalidation stream, so a change made
# through either instance (or any Redis client) evicts the other's L1 copy.
# Also: Redis flushed empties L1, Redis down leaves L1 serving what it
# holds (and what it took meanwhile is asked of Redis once it is back), and
# a hot standby's L1 follows changes committed on its primary.  Prints the median latency from
# a write on one instance to the other instance serving the new value.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextCoherence;
use CachextRedis;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('shared', $redis_port);

my $node_a = coherent_instance('a', "redis://127.0.0.1:$redis_port", '',
	allows_streaming => 1);
my $node_b = coherent_instance('b', "redis://127.0.0.1:$redis_port", '',
	allows_streaming => 1);

# Polls $node until $query returns 't'; false after 10 s.
sub poll
{
	my ($node, $query) = @_;
	return $node->poll_query_until('postgres', $query);
}

# ---- Each instance runs one sync worker (connected to no database, it
# shows in pg_stat_activity as core's launchers do), which follows the
# stream.
for my $node ($node_a, $node_b)
{
	ok(poll($node, q{SELECT sync_resets >= 1 FROM cache_stats WHERE layer = 'l2'}),
		$node->name . ': the worker counted the start of its stream');
	ok($node->log_contains("cachext sync worker follows Redis' invalidation stream"),
		$node->name . ': the worker says it follows the stream');
}
my @clients = split /\n/, redis_cli('shared', 'CLIENT', 'LIST');
is(scalar(grep { /sub=1/ } @clients), 2, 'two stream connections are subscribed');
is(scalar(grep { /flags=tB/ } @clients), 2, 'two connections track in broadcast mode');

# ---- Overwrite on A: B serves the new value.  B holds the old one in L1
# first (promoted from Redis), then A writes and B polls until it sees the
# new value; the latency is from A's write returning to B's first read of
# the new value.
my @latencies;
for my $round (1 .. 20)
{
	my $old = qq({"round": $round, "v": "old"});
	my $new = qq({"round": $round, "v": "new"});
	$node_a->safe_psql('postgres', "SELECT cache_set('k', '$old')");
	is(wait_for_value($node_b, 'k', $old) ne '', 1, "round $round: B reads the old value")
	  if $round == 1;
	wait_for_value($node_b, 'k', $old);
	is(in_l1($node_b, 'k'), '1', 'B holds the old value in its L1') if $round == 1;

	my ($ms, $err) = write_seen_after($node_b, $node_a, 'k', $new);
	if (!defined $ms)
	{
		fail("round $round: B never served the new value ($err)");
		next;
	}
	push @latencies, $ms;
	ok($ms < 1000, "round $round: B serves A's new value after $ms ms");
}
my @sorted = sort { $a <=> $b } @latencies;
my $median = @sorted ? $sorted[ int(@sorted / 2) ] : 'n/a';
note(sprintf('write on A to new value served on B: median %.3f ms, max %.3f ms over %d rounds',
		$median, $sorted[-1] // 0, scalar @sorted));
ok(l2_stat($node_b, 'sync_evictions') >= 20, 'B counted its evictions');

# ---- Invalidate on A: B misses.
wait_for_value($node_b, 'k', qq({"round": 20, "v": "new"}));
$node_a->safe_psql('postgres', "SELECT cache_invalidate('k')");
isnt(wait_for_value($node_b, 'k', undef), '', 'after an invalidation on A, B misses');

# ---- Another Redis client writes: both instances serve its value.
$node_a->safe_psql('postgres', q{SELECT cache_set('shared', '1')});
wait_for_value($node_b, 'shared', '1');
redis_cli('shared', 'SET', 'cache:shared', '{"from": "redis-cli"}');
for my $node ($node_a, $node_b)
{
	isnt(wait_for_value($node, 'shared', '{"from": "redis-cli"}'),
		'', $node->name . ' serves the value redis-cli wrote');
}

# ---- FLUSHALL empties every L1.
$node_a->safe_psql('postgres', q{SELECT cache_get('shared')});
$node_b->safe_psql('postgres', q{SELECT cache_get('shared')});
my %resets = map { $_->name => l2_stat($_, 'sync_resets') } ($node_a, $node_b);
redis_cli('shared', 'FLUSHALL');
for my $node ($node_a, $node_b)
{
	ok( poll(
			$node,
			"SELECT sync_resets > $resets{$node->name} FROM cache_stats WHERE layer = 'l2'"
		),
		$node->name . ': FLUSHALL resets L1');
	is(in_l1($node, 'shared'), '0', $node->name . ': L1 lost the flushed key');
	isnt(wait_for_value($node, 'shared', undef), '', $node->name . ' misses after FLUSHALL');
}

# ---- Redis restarted: while it is down each L1 keeps serving what it
# holds, the worker reconnects, and the instances are coherent again.
$node_b->safe_psql('postgres', q{SELECT cache_set('before', '1')});
%resets = map { $_->name => l2_stat($_, 'sync_resets') } ($node_a, $node_b);
redis_kill('shared');
for my $node ($node_a, $node_b)
{
	ok(poll($node, q{SELECT coherence = 'none' FROM cache_stats WHERE layer = 'l2'}),
		$node->name . ': the worker lost the stream');
}
is(in_l1($node_b, 'before'), '1', 'B\'s L1 keeps what it held');
is($node_b->safe_psql('postgres', q{SET client_min_messages = error; SELECT cache_get('before')}),
	'1', 'and serves it while Redis is down');
# written while Redis is down: L1 alone, not served from L1 once Redis is back
$node_b->safe_psql('postgres', q{SELECT cache_set('during', '1')});
redis_start('shared', $redis_port);
for my $node ($node_a, $node_b)
{
	ok( poll(
			$node,
			"SELECT sync_resets >= $resets{$node->name} + 2 FROM cache_stats WHERE layer = 'l2'"
		),
		$node->name . ': the stream is back (lost, then restarted)');
}
is($node_b->safe_psql('postgres', q{SELECT cache_get('during') IS NULL}), 't',
	'what L1 took while the stream was down is asked of Redis, which never had it');
$node_a->safe_psql('postgres', q{SELECT cache_set('k', '"after"')});
isnt(wait_for_value($node_b, 'k', '"after"'), '', 'B reads A\'s write after the restart');
$node_a->safe_psql('postgres', q{SELECT cache_set('k', '"after2"')});
isnt(wait_for_value($node_b, 'k', '"after2"'), '', 'and follows A\'s next overwrite');
ok($node_a->log_contains('cachext sync worker lost Redis\' invalidation stream'),
	'the loss is logged');

# ---- A hot standby of A: its L1 follows changes committed on A.  A
# watched table's committed UPDATE on the primary unlinks the key in Redis,
# and the standby's worker evicts it.
$node_a->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node_a, 'backup', has_streaming => 1);
$standby->start;
$node_a->safe_psql(
	'postgres', q{CREATE TABLE users (id int PRIMARY KEY, name text);
INSERT INTO users VALUES (1, 'Ada');
SELECT cache_watch_table('users', 'USER', ARRAY['user:{id}'])});
$node_a->wait_for_catchup($standby);
ok(poll($standby, q{SELECT sync_resets >= 1 FROM cache_stats WHERE layer = 'l2'}),
	'the standby\'s sync worker follows the stream');
$node_a->safe_psql('postgres', q{SELECT cache_set('user:1', '{"name": "Ada"}')});
isnt(wait_for_value($standby, 'user:1', '{"name": "Ada"}'),
	'', 'the standby reads the cached row');
is(in_l1($standby, 'user:1'), '1', 'and holds it in its L1');
$node_a->safe_psql('postgres', q{UPDATE users SET name = 'Grace' WHERE id = 1});
isnt(wait_for_value($standby, 'user:1', undef),
	'', 'a committed UPDATE on the primary evicts the standby\'s copy');
is(in_l1($standby, 'user:1'), '0', 'the standby\'s L1 no longer holds it');

done_testing();
