# The Redis side of a lease compares the key's write sequence ("<key>\0seq")
# and the epoch of pattern invalidations with what the load read before its
# factory ran.  When either counter disappears meanwhile (evicted under a
# maxmemory-policy, or deleted), the load must not be stored: a missing
# counter never validates a lease, even when the load began before Redis
# held that counter at all.
#
# Each case: a slow load of a never-seen key; while its factory runs, a
# foreign write bumps a counter (what another instance's invalidation does)
# and then the counter is deleted (what an eviction does).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextRedis;
use CachextSessions;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('shared', $port);

my $node = cachext_node('node', "cachext.redis_url = 'redis://127.0.0.1:$port'");

# Runs a Redis command whose last argument (a key holding a NUL) comes raw
# from stdin (redis-cli -x).
sub redis_raw
{
	my ($last, @command) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run [ 'redis-cli', '-p', $port, '-x', @command ], '<', \$last,
	  '>', \$out, '2>', \$err;
	chomp $out;
	return $out;
}

for my $case ([ 'sequence', "cache:%s\0seq" ], [ 'epoch', "\0cachext:epoch" ])
{
	my ($what, $counter_pattern) = @$case;
	my $key = "gone_$what";
	my $counter = sprintf($counter_pattern, $key);
	my $loading = start_psql($node,
		qq{SELECT cache_get_or_set('$key', 'SELECT ''old'' FROM pg_sleep(1.5)')}, "load_$what");
	wait_for_app($node, "load_$what");
	isnt(redis_raw($counter, 'INCR'), '', "$what: a foreign write bumps the counter");
	is(redis_raw($counter, 'DEL'), '1', "$what: the counter is deleted");
	my ($out, $err) = finish_psql($loading);
	is($out, '"old"', "$what: the load returns its value");
	is(redis_cli('shared', 'EXISTS', "cache:$key"), '0', "$what: Redis did not store it");
	is($node->safe_psql('postgres', qq{SELECT cache_get('$key') IS NULL}),
		't', "$what: nor does a read find it");
}

# With nothing removed, a load is stored as usual.
is($node->safe_psql('postgres', q{SELECT cache_get_or_set('kept', 'SELECT 1')}), '1',
	'an undisturbed load');
is(redis_cli('shared', 'GET', 'cache:kept'), '1', 'is stored in Redis');

$node->stop;
done_testing();
