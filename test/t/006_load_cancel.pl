# A cache_get_or_set cancelled while it owns the key's single-flight slot
# frees the slot, whatever it was waiting for: the Redis load lock (Redis
# paused for writes), or the poll for another instance's value.  The next
# miss of the key on that instance then loads at once instead of waiting
# cachext.load_wait_timeout for a load nobody runs.  The cancelled backend stays
# alive (it catches the cancel), so only the error path can free its slot.
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

my ($alpha, $beta) =
  map { cachext_node($_, "cachext.redis_url = 'redis://127.0.0.1:$port'") } qw(alpha beta);

# Runs cache_get_or_set(key) on alpha in a session that catches the cancel
# and then stays alive; $setup runs first in the same session.
sub start_cancellable_load
{
	my ($key, $app, $setup) = @_;
	return start_psql(
		$alpha, qq{$setup
DO \$\$ BEGIN
  PERFORM cache_get_or_set('$key', 'SELECT ''cancelled''');
EXCEPTION WHEN query_canceled THEN RAISE NOTICE 'load cancelled';
END \$\$;
SELECT pg_sleep(60)}, $app);
}

# Cancels the session $app on alpha, checks that its load was cancelled
# (not finished), then times the next miss of $key in another session.
sub cancel_and_miss_again
{
	my ($key, $app, $session, $before_miss) = @_;
	$alpha->safe_psql('postgres',
		"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '$app'");
	$alpha->poll_query_until('postgres',
		"SELECT query LIKE '%pg_sleep(60)%' FROM pg_stat_activity WHERE application_name = '$app'")
	  or die "$app did not catch its cancel";
	$before_miss->();
	my $start = time;
	my $value = $alpha->safe_psql('postgres',
		qq{SET cachext.load_wait_timeout = '30s'; SELECT cache_get_or_set('$key', 'SELECT ''fresh''')});
	my $elapsed = time - $start;
	is($value, '"fresh"', "$app: the next miss loads the value");
	cmp_ok($elapsed, '<', 10, "$app: at once (${elapsed}s), not after cachext.load_wait_timeout");
	$alpha->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$app'");
	my (undef, $err) = finish_psql($session);
	like($err, qr/load cancelled/, "$app: the load was cancelled");
}

# 1. Cancelled while taking the Redis load lock: Redis is paused for writes
#    (the read that misses still gets through; SET NX of the lock waits).
redis_cli('shared', 'CLIENT', 'PAUSE', '30000', 'WRITE');
my $locking = start_cancellable_load('locking', 'cancel_lock',
	q{SET cachext.redis_timeout = '30s';});
wait_for_app($alpha, 'cancel_lock');
sleep 1;
cancel_and_miss_again('locking', 'cancel_lock', $locking,
	sub { redis_cli('shared', 'CLIENT', 'UNPAUSE') });

# 2. Cancelled while polling for another instance's value: beta holds the
#    key's load lock with a slow factory.
my $slow = start_psql($beta,
	q{SELECT cache_get_or_set('polled', 'SELECT ''beta'' FROM pg_sleep(3)')}, 'slow_loader');
wait_for_app($beta, 'slow_loader');
my $polling = start_cancellable_load('polled', 'cancel_poll', '');
wait_for_app($alpha, 'cancel_poll');
cancel_and_miss_again(
	'polled', 'cancel_poll', $polling,
	sub {
		my ($out) = finish_psql($slow);
		is($out, '"beta"', 'beta loaded its value');
		$alpha->safe_psql('postgres', q{SELECT cache_invalidate('polled')});
	});

$_->stop for $alpha, $beta;
done_testing();
