# Redis faults under load: two instances share one Redis while 16 pgbench
# clients (8 on each) run a mixed workload for about a minute, and the test
# kills Redis with SIGKILL and restarts it, pauses it with SIGSTOP for 3 s,
# flushes it, and fills its memory (maxmemory with noeviction, so writes get
# OOM errors).  No transaction fails, no server logs an ERROR, each fault
# shows in the l2 row of cache_stats, and once the workload stops and the
# documented window (docs/operations.md, "After a fault") has passed, every entry in
# either instance's L1 holds exactly the value Redis holds for its key.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextLoad;
use CachextNode;
use CachextRedis;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $retry_ms = 250;
my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('shared', $redis_port);

# An instance with cachext preloaded, following the shared Redis, with a
# watched table whose rows get_or_set loads.
sub new_instance
{
	my ($name) = @_;
	my $node = cachext_node(
		$name, qq{cachext.redis_url = 'redis://127.0.0.1:$redis_port'
cachext.redis_retry_interval = ${retry_ms}ms
cachext.l1_max_entries = 2000
max_connections = 40
log_statement = none});
	$node->safe_psql(
		'postgres', q{
CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO items SELECT i, 0 FROM generate_series(1, 200) i;
SELECT cache_watch_table('items', 'ITEM', ARRAY['g{id}'])});
	return $node;
}

my @nodes = (new_instance('a'), new_instance('b'));
for my $node (@nodes)
{
	$node->poll_query_until('postgres',
		q{SELECT sync_resets >= 1 FROM cache_stats WHERE layer = 'l2'})
	  or die $node->name . ": the sync worker did not start";
}

# ---- The workload: every function, on 200 keys of each kind, with TTLs
# from 5 s to 2 min, no TTL, and a watched table's UPDATE.
my $dir = PostgreSQL::Test::Utils::tempdir;
my %scripts = (
	get => [ 10, q{\set id random(1, 200)
SELECT cache_get('k' || :id);} ],
	multi => [ 3, q{\set a random(1, 200)
\set b random(1, 200)
SELECT count(*) FROM cache_get_multi(ARRAY['k' || :a, 'k' || :b, 'g' || :a]);} ],
	set_ttl => [ 5, q{\set id random(1, 200)
\set s random(5, 120)
SELECT cache_set('k' || :id, jsonb_build_object('id', :id, 'r', random()), make_interval(secs => :s));} ],
	set_forever => [ 2, q{\set id random(1, 200)
SELECT cache_set('k' || :id, to_jsonb(random()), NULL);} ],
	get_or_set => [ 6, q{\set id random(1, 200)
SELECT cache_get_or_set('g' || :id, 'SELECT to_jsonb(i) FROM items i WHERE id = $1::int', '2 min', (:id)::text);} ],
	invalidate => [ 2, q{\set id random(1, 200)
SELECT cache_invalidate('k' || :id);} ],
	pattern => [ 1, q{\set d random(1, 9)
SELECT cache_invalidate_pattern('k' || :d || '?');} ],
	update => [ 2, q{\set id random(1, 200)
UPDATE items SET v = v + 1 WHERE id = :id;} ],);
my @script_args = pgbench_scripts($dir, \%scripts);
my $seconds = 62;
my @benches = map {
	pgbench_start($_, $dir, '-c', '8', '-j', '2', '-T', $seconds, '-R', 1500,
		@script_args)
} @nodes;
my $started = time;

sub l2_stat
{
	my ($node, $column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM cache_stats WHERE layer = 'l2'");
}

sub failures
{
	my ($node) = @_;
	return l2_stat($node, 'errors + timeouts');
}

# Polls every node until $query is true there.
sub on_every_node
{
	my ($query) = @_;
	my $all = 1;
	$all &&= poll_node($_, $query) for @nodes;
	return $all;
}

sub redis_up_is
{
	my ($state) = @_;
	return on_every_node(
		"SELECT redis_up IS NOT DISTINCT FROM $state FROM cache_stats WHERE layer = 'l2'");
}

sleep 5;
ok(redis_up_is('true'), 'under load both instances see Redis up');

# ---- SIGKILL, then a restart on the same port (empty: no persistence).
my %before = map { $_->name => failures($_) } @nodes;
my $resets = join ',', map { l2_stat($_, 'sync_resets') } @nodes;
redis_kill('shared');
ok(redis_up_is('false'), 'Redis killed: both instances see it down');
sleep 2;
redis_start('shared', $redis_port);
ok(redis_up_is('true'), 'Redis restarted: both instances see it up again');
for my $node (@nodes)
{
	cmp_ok(failures($node), '>', $before{ $node->name },
		$node->name . ': the kill was counted as errors');
}
my @resets = split /,/, $resets;
for my $i (0 .. 1)
{
	ok( poll_node(
			$nodes[$i],
			"SELECT sync_resets >= $resets[$i] + 2 FROM cache_stats WHERE layer = 'l2'"),
		$nodes[$i]->name . ': the sync worker counted the loss of its stream and its return');
}
sleep 4;

# ---- SIGSTOP for 3 s: Redis keeps its connections but answers nothing.
%before = map { $_->name => l2_stat($_, 'timeouts') } @nodes;
kill 'STOP', $redis{shared}{pid};
my $paused = time;
ok(redis_up_is('false'), 'Redis paused: both instances see it down');
# and nothing says otherwise while it is paused, although the kernel still
# accepts the connections the backends open again after each retry interval
my $said_up = 0;
while (time < $paused + 2.9)
{
	$said_up += $_->safe_psql('postgres',
		q{SELECT count(*) FROM cache_stats WHERE layer = 'l2' AND redis_up})
	  for @nodes;
	usleep(50_000);
}
is($said_up, 0, 'redis_up stays false while Redis is paused');
usleep(1_000_000 * ($paused + 3 - time)) if time < $paused + 3;
kill 'CONT', $redis{shared}{pid};
ok(redis_up_is('true'), 'Redis resumed: both instances see it up again');
for my $node (@nodes)
{
	cmp_ok(l2_stat($node, 'timeouts'), '>', $before{ $node->name },
		$node->name . ': the pause was counted as timeouts');
}
sleep 4;

# ---- FLUSHALL: each sync worker empties its L1.
%before = map { $_->name => l2_stat($_, 'sync_resets') } @nodes;
is(redis_cli('shared', 'FLUSHALL'), 'OK', 'FLUSHALL');
for my $node (@nodes)
{
	ok( poll_node(
			$node,
			"SELECT sync_resets > $before{$node->name} FROM cache_stats WHERE layer = 'l2'"),
		$node->name . ': FLUSHALL emptied L1');
}
sleep 4;

# ---- Memory full: maxmemory far below what Redis uses, no eviction, so
# every write is refused with OOM while reads go on.
%before = map { $_->name => l2_stat($_, 'errors') } @nodes;
redis_cli('shared', 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
redis_cli('shared', 'CONFIG', 'SET', 'maxmemory', '1');
like(redis_cli('shared', 'SET', 'probe', '1'), qr/^OOM/, 'Redis refuses writes with OOM');
ok(redis_up_is('false'), 'OOM replies open the breakers');
sleep 4;
redis_cli('shared', 'CONFIG', 'SET', 'maxmemory', '0');
is(redis_cli('shared', 'SET', 'probe', '1'), 'OK', 'Redis takes writes again');
ok(redis_up_is('true'), 'both instances see Redis up again');
for my $node (@nodes)
{
	cmp_ok(l2_stat($node, 'errors'), '>', $before{ $node->name },
		$node->name . ': OOM replies were counted as errors');
}
note(sprintf('faults done %.1f s into the workload', time - $started));

# ---- The workload ends without a failed transaction.
for my $bench (@benches)
{
	cmp_ok(pgbench_finish($bench), '>', 1000,
		$bench->[0]->name . ': the workload ran');
}

# ---- After the documented window (sync worker reconnect: a retry interval;
# breakers: a retry interval; the queue: the worker's next heartbeat, 1 s),
# each L1 entry equals Redis' value.  Entries within 3 s of their expiry are
# skipped: Redis and L1 expire them separately, a few ms apart.
usleep(1_000 * (2 * $retry_ms + 1000 + 1000));
for my $node (@nodes)
{
	is(l2_stat($node, 'queue_length'), '0',
		$node->name . ': no invalidation is left in the queue');
	my @rows = split /\n/,
	  $node->safe_psql(
		'postgres', q{SELECT key, cache_get(key)::text FROM cache_entries
WHERE expires_at IS NULL OR expires_at > clock_timestamp() + interval '3 s'
ORDER BY key});
	# Redis' values in one MGET right after L1's, so that no entry expires
	# in between (one GET per key takes seconds on a loaded machine)
	my @keys = map { (split /\|/, $_, 2)[0] } @rows;
	my @in_redis =
	  @keys ? split(/\n/, redis_cli('shared', 'MGET', map { "cache:$_" } @keys), -1) : ();
	my @stale;
	for my $i (0 .. $#rows)
	{
		my ($key, $l1) = split /\|/, $rows[$i], 2;
		my $l2 = $in_redis[$i] // '';
		push @stale, "$key: L1 $l1, Redis '$l2'" if $l1 ne $l2;
	}
	cmp_ok(scalar @rows, '>', 0, $node->name . ': L1 holds entries to compare');
	is(scalar @stale, 0,
		$node->name . ': every L1 entry (' . scalar(@rows) . ') holds Redis\' value')
	  or diag(join "\n", @stale[ 0 .. ($#stale < 20 ? $#stale : 19) ]);
}

# ---- Writes Redis refused, with nothing else running: the values stay in
# L1 only while the queue holds their invalidations, and once Redis takes
# writes again the sync worker replays the queue by itself, removing the
# keys from Redis and from L1.  'old' is in Redis before (its refused
# overwrite must not survive in L1), 'new' never reached Redis (deleting a
# missing key sends no invalidation message, so only the replay can evict
# it), and 'load' is a get_or_set load made while the backend's breaker was
# open (stored in L1 alone, without a lease Redis could check).
my ($node_a) = @nodes;
$node_a->safe_psql('postgres', q{SELECT cache_set('old', '1')});
poll_node($node_a, q{SELECT count(*) = 0 FROM cache_entries WHERE key = 'old'});
$node_a->safe_psql('postgres', q{SELECT cache_get('old')});
redis_cli('shared', 'CONFIG', 'SET', 'maxmemory', '1');
my $queued = l2_stat($node_a, 'invalidations_queued');
$node_a->safe_psql('postgres',
	q{SET client_min_messages = error;
SELECT cache_set('old', '2'), cache_set('new', '2'),
       cache_get_or_set('load', 'SELECT 2')});
is(l2_stat($node_a, "invalidations_queued - $queued"), '3',
	'the refused writes and the L1-only load are queued');
# (not 'old': a replay the worker tries meanwhile may unlink it already)
is( $node_a->safe_psql('postgres',
		q{SELECT string_agg(key, ',' ORDER BY key) FROM cache_entries WHERE key IN ('new', 'load')}),
	'load,new',
	'L1 holds what Redis did not take');
is(redis_cli('shared', 'EXISTS', 'cache:new'), '0', 'Redis does not');
redis_cli('shared', 'CONFIG', 'SET', 'maxmemory', '0');
my $since = time;
ok(poll_node($node_a, q{SELECT queue_length = 0 FROM cache_stats WHERE layer = 'l2'}),
	'the sync worker replays the queue with no backend using the cache');
my $took = time - $since;
cmp_ok($took, '<', ($retry_ms + 1000 + 500) / 1000,
	sprintf('within a retry interval and a heartbeat (%.2f s)', $took));
is( $node_a->safe_psql('postgres',
		q{SELECT count(*) FROM cache_entries WHERE key IN ('old', 'new', 'load')}),
	'0',
	'the replay removed the keys from L1');
is(redis_cli('shared', 'EXISTS', 'cache:old'), '0', 'and from Redis');

for my $node (@nodes)
{
	my $log = slurp_file($node->logfile);
	my @errors = grep { /\b(ERROR|FATAL|PANIC):/ && !/terminating connection due to administrator/ }
	  split /\n/, $log;
	is(scalar @errors, 0, $node->name . ': no ERROR in the server log')
	  or diag(join "\n", @errors[ 0 .. ($#errors < 20 ? $#errors : 19) ]);
	$node->stop;
}
done_testing();
