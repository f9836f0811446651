# cache_get_or_set across concurrent sessions of one instance: a stampede
# on a cold key runs the factory once; a failed or cancelled loader
# releases its waiters at once; a waiter stops waiting after
# cachext.load_wait_timeout; a load overtaken by an invalidation is not stored;
# a transaction that has written does not publish what it loads.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextSessions;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = cachext_node('loader', 'max_connections = 60');
$node->safe_psql('postgres', 'CREATE TABLE t (i int)');

# 1. Stampede: 24 callers on a cold key whose factory takes 0.5 s.
# (cache_stats counts the factory's runs: a factory that writes, even a
# nextval(), is never cached.)
my $factory = q{SELECT 1 FROM pg_sleep(0.5)};
my $call = "SELECT cache_get_or_set('cold', \$q\$$factory\$q\$)";
my $start = time;
my @sessions = map { start_psql($node, $call) } 1 .. 24;
my @results = map { (finish_psql($_))[0] } @sessions;
my $elapsed = time - $start;
is_deeply(\@results, [ ('1') x 24 ], 'all 24 callers got the same value');
is($node->safe_psql('postgres', 'SELECT loads FROM cache_stats'),
	'1', 'the factory ran once: cache_stats counts one load');
cmp_ok($elapsed, '<', 6, "the stampede took ${elapsed}s, not 24 x 0.5s");

# 2. A failing loader: its error reaches only it, and the waiter loads at once.
my $loader = start_psql($node,
	q{SELECT cache_get_or_set('fails', 'SELECT 1/(pg_backend_pid() * 0) FROM pg_sleep(1)')}, 'failing_loader');
wait_for_app($node, 'failing_loader');
$start = time;
my $waiter = start_psql($node, q{SELECT cache_get_or_set('fails', 'SELECT 7')});
my ($lout, $lerr) = finish_psql($loader);
my ($wout, $werr) = finish_psql($waiter);
like($lerr, qr/division by zero/, 'the loader sees its own error');
is($wout, '7', 'the waiter loaded the value itself');
is($werr, '', 'the waiter saw no error');
cmp_ok(time - $start, '<', 3, 'the waiter was released when the loader failed');
is($node->safe_psql('postgres', q{SELECT cache_get('fails')}), '7',
	'the value the waiter loaded is cached');
is($node->safe_psql('postgres', 'SELECT load_failures FROM cache_stats'),
	'1', 'cache_stats counts the failed load');

# 3. A loader that is cancelled, or whose backend exits, releases its
#    waiters too; $kill is the function that stops it.
sub loader_stopped_by
{
	my ($kill, $key, $value, $expected_error) = @_;
	my $loader = start_psql($node,
		"SELECT cache_get_or_set('$key', 'SELECT 1 FROM pg_sleep(30)')", "loader_$key");
	wait_for_app($node, "loader_$key");
	my $waiter = start_psql($node, "SELECT cache_get_or_set('$key', 'SELECT $value')");
	usleep(300_000);
	my $stopped = time;
	$node->safe_psql('postgres',
		"SELECT $kill(pid) FROM pg_stat_activity WHERE application_name = 'loader_$key'");
	my (undef, $lerr) = finish_psql($loader);
	my ($wout) = finish_psql($waiter);
	like($lerr, $expected_error, "$kill stopped the loader");
	is($wout, $value, "the waiter loaded after $kill");
	cmp_ok(time - $stopped, '<', 3, 'promptly');
}
loader_stopped_by('pg_cancel_backend', 'cancelled', '8', qr/canceling statement/);
loader_stopped_by('pg_terminate_backend', 'terminated', '9', qr/terminating connection/);

# 4. A waiter gives up after cachext.load_wait_timeout and loads on its own.
$loader = start_psql($node,
	q{SELECT cache_get_or_set('slow', 'SELECT 1 FROM pg_sleep(4)')}, 'sleepy_loader');
wait_for_app($node, 'sleepy_loader');
$start = time;
($wout, $werr) = finish_psql(start_psql($node,
	q{SET cachext.load_wait_timeout = '300ms'; SELECT cache_get_or_set('slow', 'SELECT 2')}));
my $waited = time - $start;
is($wout, '2', 'the impatient waiter loaded its own value');
cmp_ok($waited, '<', 2.5, "it waited about load_wait_timeout (${waited}s)");
finish_psql($loader);

# 5. Lease: an invalidation during the load wins; the load is returned, not stored.
$node->safe_psql('postgres', q{SELECT cache_set('leased', '"old"')});
$loader = start_psql($node,
	q{SELECT cache_invalidate('leased'); SELECT cache_get_or_set('leased', 'SELECT ''stale'' FROM pg_sleep(1)')},
	'leased_loader');
wait_for_app($node, 'leased_loader');
$node->safe_psql('postgres', q{SELECT cache_invalidate('leased')});
($lout, $lerr) = finish_psql($loader);
like($lout, qr/"stale"$/, 'the overtaken load is returned to its caller');
is($node->safe_psql('postgres', q{SELECT cache_get('leased') IS NULL}),
	't', 'but not stored');

# 6. A transaction that has written returns its load but does not store it.
is( $node->safe_psql(
		'postgres',
		q{BEGIN; INSERT INTO t VALUES (1); SELECT cache_get_or_set('written', 'SELECT count(*) FROM t'); ROLLBACK;}
	),
	'1',
	'the writing transaction sees its own row');
is($node->safe_psql('postgres', q{SELECT cache_get('written') IS NULL}),
	't', 'the value it read is not cached');

$node->stop;
done_testing();
