# Redis down, or the invalidation stream lost: what L1 serves.
#
# With Redis down, L1 keeps serving what it holds (cachext.l1_max_ttl
# bounds how old that is), so an outage does not send every read to the
# database.  With Redis up but the stream not followed (here: the sync
# worker terminated as an operator would, with pg_terminate_backend), no
# L1 entry from before is served: reads go to Redis until the worker
# follows the stream again, and then L1 serves what it stores from then on.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextCoherence;
use CachextRedis;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# Polls $node until $query returns 't'; false after 10 s.
sub poll
{
	my ($node, $query) = @_;
	return $node->poll_query_until('postgres', $query);
}

sub coherence_is
{
	my ($node, $state) = @_;
	return poll($node,
		"SELECT coherence = '$state' FROM cache_stats WHERE layer = 'l2'");
}

sub l1_hits
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT hits FROM cache_stats WHERE layer = 'l1'});
}

# ---- (a) One instance, one Redis: Redis hangs, then dies.  L1 keeps
# serving what it holds, without an error.
my $solo_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('solo', $solo_port);
my $solo = coherent_instance('solo', "redis://127.0.0.1:$solo_port", '');
ok(coherence_is($solo, 'tracking'), 'solo: the sync worker follows the stream')
  or BAIL_OUT('set-up: the sync worker never followed the stream');
$solo->safe_psql('postgres', q{SELECT cache_set('r:1', '{"v": 1}')});
is(in_l1($solo, 'r:1'), '1', 'solo: L1 holds r:1');

kill 'STOP', $redis{solo}{pid};
ok(coherence_is($solo, 'none'), 'Redis hung: the worker lost the stream')
  or diag(slurp_file($solo->logfile));
redis_kill('solo');

my $hits = l1_hits($solo);
my ($rc, $out, $err) = $solo->psql('postgres', q{SELECT cache_get('r:1')});
is($rc, 0, 'Redis down: cache_get runs');
is($out, '{"v": 1}', 'Redis down: cache_get returns the value L1 holds');
unlike($err, qr/ERROR/, 'Redis down: no error');
($rc, $out, $err) = $solo->psql('postgres',
	q{SELECT cache_get_or_set('r:1', 'SELECT ''"from the database"''::jsonb'),
	         (SELECT v FROM cache_get_multi(ARRAY['r:1']) m(k, v))});
is($out, '{"v": 1}|{"v": 1}',
	'Redis down: cache_get_or_set and cache_get_multi serve L1 too, no load');
unlike($err, qr/ERROR/, 'and raise no error');
cmp_ok(l1_hits($solo), '>=', $hits + 3, 'Redis down: the reads are L1 hits');

# Redis back, empty: the stream is followed again, and r:1, stored before
# the loss, is not served from L1 any more: Redis' answer (none) is.
redis_start('solo', $solo_port);
ok(coherence_is($solo, 'tracking'), 'Redis back: the worker follows again');
is($solo->safe_psql('postgres', q{SELECT cache_get('r:1') IS NULL}), 't',
	'what L1 held from before the loss is asked of Redis, which has nothing');
is(in_l1($solo, 'r:1'), '0', 'and L1 dropped it');
$solo->safe_psql('postgres', q{SELECT cache_set('r:1', '{"v": 2}')});
$hits = l1_hits($solo);
is($solo->safe_psql('postgres', q{SELECT cache_get('r:1'), cache_get('r:1')}),
	'{"v": 2}|{"v": 2}', 'a value stored since is served');
is(l1_hits($solo), $hits + 2, 'from L1');
$solo->stop;

# ---- (b) Two instances sharing one Redis: B's sync worker terminated,
# then A overwrites a key B holds in L1.
my $port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('shared', $port);
my $node_a = coherent_instance('a', "redis://127.0.0.1:$port", '');
my $node_b = coherent_instance('b', "redis://127.0.0.1:$port", '');
for my $node ($node_a, $node_b)
{
	ok(coherence_is($node, 'tracking'), $node->name . ': the worker follows the stream')
	  or BAIL_OUT('set-up: the sync worker never followed the stream');
}

# B reads its own key until it has it in L1, hit after hit.
$node_b->safe_psql(
	'postgres', q{
CREATE FUNCTION read_until_worker_back(k text, OUT reads int, OUT old int, OUT new int)
LANGUAGE plpgsql AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '30 s';
	v jsonb;
BEGIN
	reads := 0; old := 0; new := 0;
	LOOP
		v := cache_get(k);
		reads := reads + 1;
		IF v = '"old"' THEN old := old + 1; END IF;
		IF v = '"new"' THEN new := new + 1; END IF;
		EXIT WHEN clock_timestamp() > deadline OR
			(SELECT coherence = 'tracking' FROM cache_stats WHERE layer = 'l2');
		PERFORM pg_sleep(0.005);
	END LOOP;
END $$});
$node_a->safe_psql('postgres', q{SELECT cache_set('k', '"old"')});
isnt(wait_for_value($node_b, 'k', '"old"'), '', 'B reads A\'s value');
is(in_l1($node_b, 'k'), '1', 'B holds it in L1');
$hits = l1_hits($node_b);
$node_b->safe_psql('postgres', q{SELECT cache_get('k')});
is(l1_hits($node_b), $hits + 1, 'and serves it from L1');

# The worker shows in pg_stat_activity, as core's launchers do.
my $worker = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'cachext sync'};
my $pid = $node_b->safe_psql('postgres', $worker);
like($pid, qr/^\d+$/, 'B\'s sync worker is in pg_stat_activity');

# Terminated as an operator would; pg_terminate_backend waits until it is
# gone, so the coherence state is what the worker left.
is( $node_b->safe_psql(
		'postgres',
		q{SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
		  WHERE backend_type = 'cachext sync'}),
	't',
	'B\'s sync worker terminated');
is($node_b->safe_psql('postgres', q{SELECT coherence FROM cache_stats WHERE layer = 'l2'}),
	'none', 'from the moment it is gone, B says it follows no stream');

$node_a->safe_psql('postgres', q{SELECT cache_set('k', '"new"')});
my ($reads, $old, $new) = split /\|/,
  $node_b->safe_psql('postgres', q{SELECT * FROM read_until_worker_back('k')});
cmp_ok($reads, '>', 10, "B read k $reads times until its worker was back");
is($old, 0, 'B never served the old value');
is($new, $reads, 'every read returned A\'s new value');

ok(coherence_is($node_b, 'tracking'), 'the postmaster restarted B\'s worker, which follows again');
my $new_pid = $node_b->safe_psql('postgres', $worker);
like($new_pid, qr/^\d+$/, 'it is in pg_stat_activity');
isnt($new_pid, $pid, 'as a new process');

# Once back, B serves from L1 again: one read settles k from Redis, the
# next ones are L1 hits.
$node_b->safe_psql('postgres', q{SELECT cache_get('k')});
$hits = l1_hits($node_b);
is($node_b->safe_psql('postgres', q{SELECT cache_get('k'), cache_get('k')}),
	'"new"|"new"', 'B serves the new value');
is(l1_hits($node_b), $hits + 2, 'from L1');
$node_a->safe_psql('postgres', q{SELECT cache_set('k', '"newer"')});
isnt(wait_for_value($node_b, 'k', '"newer"'), '', 'and follows A\'s next overwrite');

$node_a->stop;
$node_b->stop;
done_testing();
