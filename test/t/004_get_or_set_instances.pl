# cache_get_or_set across two PostgreSQL instances sharing one Redis: a
# stampede on a cold key runs the factory once in all (the load lock in
# Redis), the other instance gets the value through L2, a failed loader
# releases the lock so the other instance loads at once, and a load that
# another instance's invalidation overtook is refused by Redis too.
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
use Time::HiRes qw(time);

my $port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('shared', $port);

my @nodes = map {
	cachext_node($_, qq{cachext.redis_url = 'redis://127.0.0.1:$port'
max_connections = 40})
} qw(alpha beta);

# 1. 12 callers on each instance, one cold key, a 0.5 s factory.
# (cache_stats counts the factory's runs: a factory that writes, even a
# nextval(), is never cached.)
my $call = q{SELECT cache_get_or_set('cold', $q$SELECT 1 FROM pg_sleep(0.5)$q$)};
my $start = time;
my @sessions = map { my $n = $_; map { start_psql($n, $call) } 1 .. 12 } @nodes;
my @results = map { (finish_psql($_))[0] } @sessions;
my $elapsed = time - $start;
is_deeply(\@results, [ ('1') x 24 ], 'all 24 callers on both instances got the same value');
my $runs = 0;
$runs += $_->safe_psql('postgres',
	q{SELECT sum(loads) FROM cache_stats}) for @nodes;
is($runs, 1, 'the factory ran once across the two instances');
cmp_ok($elapsed, '<', 5, "in ${elapsed}s");
is(redis_cli('shared', 'GET', 'cache:cold'), '1', 'the value is in Redis');

# 2. A loader that fails on one instance releases the lock: the other
#    instance's caller loads at once rather than after cachext.load_wait_timeout.
my $failing = start_psql($nodes[0],
	q{SELECT cache_get_or_set('fails', 'SELECT 1/(pg_backend_pid() * 0) FROM pg_sleep(1)')},
	'failing_loader');
wait_for_app($nodes[0], 'failing_loader');
$start = time;
my $other = start_psql($nodes[1], q{SELECT cache_get_or_set('fails', 'SELECT 7')});
my ($fout, $ferr) = finish_psql($failing);
my ($oout, $oerr) = finish_psql($other);
like($ferr, qr/division by zero/, 'the failing loader sees its error');
is($oout, '7', 'the other instance loaded the value itself');
cmp_ok(time - $start, '<', 3, 'soon after the failure, not after load_wait_timeout');

# 3. The Redis side of the lease: an invalidation on the other instance
#    while a load is in flight wins in Redis too.  The key is in neither
#    layer, so no tracking message reaches the loader's L1 lease: only the
#    check in Redis can refuse the load's value.
for my $case (
	[ 'key', q{SELECT cache_invalidate('leased')} ],
	[ 'pattern', q{SELECT cache_invalidate_pattern('unrelated:*')} ])
{
	my ($what, $invalidation) = @$case;
	my $loading = start_psql($nodes[0],
		q{SELECT cache_get_or_set('leased', 'SELECT ''old'' FROM pg_sleep(1)')}, "leased_$what");
	wait_for_app($nodes[0], "leased_$what");
	$nodes[1]->safe_psql('postgres', $invalidation);
	my ($lout) = finish_psql($loading);
	is($lout, '"old"', "$what invalidation: the overtaken load is returned");
	is(redis_cli('shared', 'EXISTS', 'cache:leased'), '0', "$what invalidation: Redis did not store it");
	is($nodes[0]->safe_psql('postgres', q{SELECT cache_get('leased') IS NULL}),
		't', "$what invalidation: nor did L1");
}
is($nodes[0]->safe_psql('postgres', q{SELECT cache_get_or_set('leased', 'SELECT ''new''')}),
	'"new"', 'a load that nothing overtook is stored');
is(redis_cli('shared', 'GET', 'cache:leased'), '"new"', 'in Redis too');

# 4. Without Redis each instance loads on its own and nothing fails.
redis_kill('shared');
is( $nodes[0]->safe_psql('postgres', q{SELECT cache_get_or_set('down', 'SELECT 3')}),
	'3', 'with Redis down, loads go on unshared');

$_->stop for @nodes;
done_testing();
