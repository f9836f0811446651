# cache_invalidate and cache_invalidate_pattern reach Redis before L1, so
# that a reader between the two steps cannot bring the old value back into
# L1: Redis is paused for writes (CLIENT PAUSE ... WRITE) while the
# invalidation waits on its UNLINK, and a reader of the key runs meanwhile.
# The sync worker is stopped (SIGSTOP) so that Redis' invalidation stream
# cannot repair L1 afterwards: the order alone must hold.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextRedis;
use CachextSessions;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('order', $redis_port);

my $node = cachext_node(
	'order', qq{cachext.redis_url = 'redis://127.0.0.1:$redis_port'
cachext.redis_timeout = 10s
cachext.events = off});

# The sync worker: the postmaster's child whose title says so.
my $sync_pid;
for (1 .. 100)
{
	my $postmaster = $node->{_pid};
	($sync_pid) = map { /^\s*(\d+)/ ? $1 : () }
	  grep { /cachext sync/ } `ps -o pid=,args= --ppid $postmaster`;
	last if $sync_pid;
	usleep(100_000);
}
die 'no sync worker' unless $sync_pid;

for my $case (
	[ 'cache_invalidate', q{SELECT cache_invalidate('k:1')} ],
	[ 'cache_invalidate_pattern', q{SELECT cache_invalidate_pattern('k:*')} ])
{
	my ($name, $invalidate) = @$case;

	# Cached in both layers (the stream's echo of the write may evict it from
	# L1: then the reader promotes it from Redis).
	$node->safe_psql('postgres', q{SELECT cache_set('k:1', '"old"')});
	sleep 1;    # the stream's echo of the write, before the worker stops
	kill 'STOP', $sync_pid;

	redis_cli('order', 'CLIENT', 'PAUSE', '2000', 'WRITE');
	my $inv = start_psql($node, $invalidate, 'invalidator');
	wait_for_app($node, 'invalidator');
	my $during = $node->safe_psql('postgres', q{SELECT cache_get('k:1')});
	my ($out, $err) = finish_psql($inv);
	unlike($err, qr/ERROR|WARNING/, "$name waited for Redis and succeeded");
	is($node->safe_psql('postgres', q{SELECT cache_get('k:1') IS NULL}),
		't',
		"$name: a reader during the invalidation ($during) did not bring the old value back"
	);
	kill 'CONT', $sync_pid;
}

done_testing();
