# Own writes stay in L1: Redis' invalidation stream echoes every write,
# this instance's own included, and the sync worker keeps an own write when
# Redis still holds the text it wrote.  A write by another instance or by
# any other Redis client still evicts, within the coherence bound, whatever
# the interleaving; and a value written just before Redis hangs is served
# from L1.  Prints the latency from a foreign write to the new value served
# where the old one was an own write (p50, p90, max).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextCoherence;
use CachextRedis;
use CachextSessions;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('shared', $redis_port);

# Two instances sharing it.  A redis_timeout of a second leaves the pause
# test time to read L1 before the worker's heartbeat notices the pause.
my ($node_a, $node_b) =
  map { coherent_instance($_, "redis://127.0.0.1:$redis_port", 'cachext.redis_timeout = 1s') }
  ('a', 'b');

# Waits until $node's worker has settled an echo of an own write (its
# sync_kept or sync_evictions moved past the given counts).
sub wait_for_echo
{
	my ($node, $kept, $evicted) = @_;
	return $node->poll_query_until('postgres',
		"SELECT sync_kept > $kept OR sync_evictions > $evicted FROM cache_stats WHERE layer = 'l2'"
	);
}

# cache_set on $node, returning once its worker settled the echo.
sub own_write
{
	my ($node, $key, $value) = @_;
	my ($kept, $evicted) = split /\|/, l2_stat($node, 'sync_kept, sync_evictions');
	$node->safe_psql('postgres', "SELECT cache_set('$key', '$value')");
	return wait_for_echo($node, $kept, $evicted);
}

for my $node ($node_a, $node_b)
{
	ok($node->poll_query_until('postgres',
			q{SELECT coherence = 'tracking' FROM cache_stats WHERE layer = 'l2'}),
		$node->name . ': the worker follows the stream');
}

# ---- An own write is in L1 at once, stays there once Redis echoed it, and
# is read from L1.
is( ( split /\n/,
		$node_a->safe_psql(
			'postgres', q{SELECT cache_set('own', '{"v": 1}');
SELECT count(*) FROM cache_entries WHERE key = 'own'})
	)[-1],
	'1',
	'cache_entries shows an own write right after cache_set');
ok( $node_a->poll_query_until(
		'postgres', q{SELECT sync_kept >= 1 FROM cache_stats WHERE layer = 'l2'}),
	'the worker kept the echoed own write');
is(in_l1($node_a, 'own'), '1', 'the own write is still in L1 after its echo');
$node_a->safe_psql('postgres', 'SELECT cache_stats_reset()');
is($node_a->safe_psql('postgres', q{SELECT cache_get('own')}),
	'{"v": 1}', 'the own write is read back');
is( $node_a->safe_psql(
		'postgres',
		q{SELECT string_agg(layer || '=' || hits, ',' ORDER BY layer) FROM cache_stats}),
	'l1=1,l2=0',
	'from L1, without a Redis round trip');

# ---- Own then foreign: A holds its own write, B overwrites it; A serves
# B's value within the coherence bound.  Latency from B's write returning
# to A's first read of the new value, over many rounds.
my @latencies;
for my $round (1 .. 50)
{
	my $own = qq({"round": $round, "by": "a"});
	my $foreign = qq({"round": $round, "by": "b"});
	own_write($node_a, 'k', $own);
	is(in_l1($node_a, 'k'), '1', 'A holds its own write before B writes')
	  if $round == 1;

	my ($ms, $err) = write_seen_after($node_a, $node_b, 'k', $foreign);
	if (!defined $ms)
	{
		fail("round $round: A never served B's value ($err)");
		next;
	}
	push @latencies, $ms;
}
my @sorted = sort { $a <=> $b } @latencies;
is(scalar @sorted, 50, 'A served B\'s overwrite of its own write in every round');
my ($p50, $p90, $max) = map { $sorted[ int(@sorted * $_) ] // 0 } (0.5, 0.9, 0.999);
diag(sprintf('foreign overwrite of an own write, served by the writer: p50 %.3f ms, p90 %.3f ms, max %.3f ms over %d rounds',
		$p50, $p90, $max, scalar @sorted));
cmp_ok($p50, '<', 100, "the coherence bound holds for own writes (p50 $p50 ms)");

# ---- Foreign then own: B writes, A serves it, then A writes; A keeps its
# own write and B serves it.
$node_b->safe_psql('postgres', q{SELECT cache_set('fo', '"b"')});
isnt(wait_for_value($node_a, 'fo', '"b"'), '', 'A serves B\'s write');
ok(own_write($node_a, 'fo', '"a"'), 'A\'s worker settled the echo of its write');
is(in_l1($node_a, 'fo'), '1', 'A keeps its own write over B\'s');
is($node_a->safe_psql('postgres', q{SELECT cache_get('fo')}), '"a"', 'A reads its own write');
isnt(wait_for_value($node_b, 'fo', '"a"'), '', 'B serves A\'s write');

# ---- Another Redis client writes over an own write: evicted.
own_write($node_a, 'cli', '{"from": "cachext"}');
is(in_l1($node_a, 'cli'), '1', 'A holds its own write');
redis_cli('shared', 'SET', 'cache:cli', '{"from": "redis-cli"}');
isnt(wait_for_value($node_a, 'cli', '{"from": "redis-cli"}'),
	'', 'a redis-cli SET evicts the own write');
redis_cli('shared', 'DEL', 'cache:cli');
ok( $node_a->poll_query_until(
		'postgres', q{SELECT cache_get('cli') IS NULL}),
	'and a redis-cli DEL of a promoted copy evicts it too');

# ---- Both in flight: A and B write one key at once, many times, in many
# rounds; afterwards each instance serves what Redis holds (an own write
# kept in L1 equals Redis).
my @diverged;
for my $round (1 .. 20)
{
	my @writers = map {
		my $by = $_->name;
		start_psql($_,
			qq{DO \$\$ BEGIN FOR i IN 1 .. 30 LOOP PERFORM cache_set('race', jsonb_build_object('by', '$by', 'round', $round, 'i', i)); END LOOP; END \$\$}
		)
	} ($node_a, $node_b);
	finish_psql($_) for @writers;
	my $in_redis = redis_cli('shared', 'GET', 'cache:race');
	for my $node ($node_a, $node_b)
	{
		push @diverged, "round $round: " . $node->name . " does not serve Redis' $in_redis"
		  if wait_for_value($node, 'race', $in_redis) eq '';
	}
}
is(scalar @diverged, 0, 'after concurrent writes of one key, every L1 equals Redis')
  or diag(join "\n", @diverged);
ok(l2_stat($node_a, 'sync_kept') > 0 && l2_stat($node_b, 'sync_kept') > 0,
	'both workers kept own writes along the way');

# ---- Redis hangs right after an own write: L1 still serves it, without
# a query error.  One session reads right after Redis is stopped, before
# the worker's heartbeat can notice.
my $session = $node_a->background_psql('postgres');
my ($kept, $evicted) = split /\|/, l2_stat($node_a, 'sync_kept, sync_evictions');
$session->query_safe(q{SELECT cache_set('paused', '"kept"')});
ok(wait_for_echo($node_a, $kept, $evicted), 'the echo of the write was settled');
kill 'STOP', $redis{shared}{pid};
my $read = $session->query_safe(q{SELECT cache_get('paused')});
kill 'CONT', $redis{shared}{pid};
$read =~ s/\n\z//;	# some PostgreSQL versions' background psql keep the newline
is($read, '"kept"', 'with Redis paused, cache_get serves the own write from L1');
$session->quit;

done_testing();
