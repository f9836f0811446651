# Fences that cannot leak: each committing transaction's Redis fence is its
# own, expires cachext.fence_timeout after that transaction placed it
# whatever other transactions do, is lifted once however often the lift is
# sent, and a lift that finds it gone (expired, evicted, FLUSHDB) unlinks
# the keys again.
#
# 1. A writer held at the pause point (test builds) past half of
#    cachext.fence_timeout, so its lift may find its fences expired; then
#    another session writes the same row every 300 ms.  Once the held
#    writer's fences are older than the timeout, loads of its bucket's key
#    and of any key (the tags' pattern fence) are cached again while the
#    writes go on.
# 2. A writer held at the pause point while its fence vanishes (FLUSHDB) and
#    another instance stores the old row in Redis: the lift notices and the
#    old value is gone once the commit returns; cache_stats shows the fence
#    standing meanwhile, and the lost fence after.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextLoad;
use CachextNode;
use CachextRedis;
use CachextSessions;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('tokens', $redis_port);
my $conf = qq{cachext.redis_url = 'redis://127.0.0.1:$redis_port'
cachext.redis_retry_interval = 100ms
cachext.events = off
cachext.fence_timeout = 2s};
my $node = cachext_node('tokens', $conf);
my ($rc) = $node->psql('postgres', 'SHOW cachext.test_pause_after_fence');
plan skip_all => 'cachext was built without TEST_BUILD=1 (scripts/test builds it with)'
  if $rc != 0;
$node->safe_psql(
	'postgres', q{
CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO t SELECT i, 0 FROM generate_series(1, 10) i;
SELECT cache_watch_table('t', 'T', ARRAY['t:{id}', 'tag:t']);
});

# Loads $key through cache_get_or_set until Redis holds it, for up to
# $seconds; true if it did.
sub cached_in_redis_within
{
	my ($key, $sql, $seconds) = @_;
	return wait_for(
		$seconds,
		sub {
			$node->safe_psql('postgres',
				"SELECT cache_invalidate('$key'); SELECT cache_get_or_set('$key', '$sql')");
			redis_cli('tokens', 'EXISTS', "cache:$key") eq '1';
		});
}

# ---- 1. A fence left by a slow commit stands no longer than its timeout.
my $writer = hold_after_fence($node, 'UPDATE t SET v = v + 1 WHERE id = 1');
my $placed = time;
usleep(1_500_000);    # past half the timeout, within it
unlike(release_held($node, $writer), qr/ERROR/, 'the held writer committed');

my $busy = start_psql(
	$node, q{
DO $$
BEGIN
	FOR i IN 1 .. 100 LOOP
		UPDATE t SET v = v + 1 WHERE id = 1;
		COMMIT;
		PERFORM pg_sleep(0.3);
	END LOOP;
END $$;
}, 'busy');
my $wait = 2.5 - (time - $placed);
usleep($wait * 1_000_000) if $wait > 0;
ok(cached_in_redis_within('t:1', 'SELECT v FROM t WHERE id = 1', 3),
	'while the row is written every 300 ms, its key is cached again once the slow commit\'s fence timed out');
ok(cached_in_redis_within('x', 'SELECT 42', 3),
	'and so is any key (the pattern fence of its tag)');
is( $node->safe_psql('postgres',
		q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'busy'}),
	't', 'the writes were still going on (and are stopped now)');
my ($busy_out, $busy_err) = finish_psql($busy);
unlike($busy_err =~ s/ERROR:  canceling statement due to user request//r,
	qr/ERROR/, 'the busy writer failed in nothing else');
is(redis_cli('tokens', 'EVAL', "return #redis.call('KEYS', '*fence*')", '0'),
	'0', 'no fence is left once the writes end');

# ---- 2. A fence that vanished is noticed at lift.
my $old = $node->safe_psql('postgres', 'SELECT v FROM t WHERE id = 2');
my $other = cachext_node('tokens_other', qq{$conf});
$other->safe_psql('postgres',
	"CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL); INSERT INTO t VALUES (2, $old)");
$writer = hold_after_fence($node, 'UPDATE t SET v = v + 1000 WHERE id = 2');
is(redis_cli('tokens', 'EVAL', "return #redis.call('KEYS', '*bucket-fence*')", '0'),
	'1', 'the held writer fenced its bucket');
is( $node->safe_psql('postgres',
		q{SELECT fences_standing FROM cache_stats WHERE layer = 'l1'}),
	'1', 'cache_stats shows its fences standing');
$node->safe_psql('postgres', 'SELECT cache_stats_reset()');
is(redis_cli('tokens', 'FLUSHDB'), 'OK', 'FLUSHDB takes the fence away');
is( $other->safe_psql(
		'postgres', q{SELECT cache_get_or_set('t:2', 'SELECT v FROM t WHERE id = 2')}),
	$old, 'another instance loads the old row');
is(redis_cli('tokens', 'GET', 'cache:t:2'), $old,
	'and, with no fence left, Redis stores it');
unlike(release_held($node, $writer), qr/ERROR/, 'the held writer committed');
is(redis_cli('tokens', 'GET', 'cache:t:2'), '',
	'its lift found its fence gone and unlinked the old value');
is( $node->safe_psql('postgres',
		q{SELECT fences_standing || ' ' || fences_lost FROM cache_stats WHERE layer = 'l1'}),
	'0 1', 'cache_stats: no fence stands, one commit found its fence lost');
is( $node->safe_psql(
		'postgres', q{SELECT cache_get_or_set('t:2', 'SELECT v FROM t WHERE id = 2')}),
	$old + 1000, 'the new row is loaded afterwards');

$other->stop;
$node->stop;
done_testing();
