# The wait events cachext's waits report in pg_stat_activity: on PostgreSQL
# 17 and later a name for each kind of wait, registered with
# WaitEventExtensionNew (a backend blocked on Redis shows CachextRedis, one
# waiting for another backend's load CachextLoad, for another instance's
# load CachextRemoteLoad, the idle sync worker CachextSyncStream, the event
# worker CachextEventWorker, the idle L1 dump worker CachextL1Dump), also
# after a crash restart; before 17 every one of them is the generic
# "Extension".
use strict;
use warnings;

use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextLoad qw(wait_for);
use CachextNode;
use CachextRedis;
use CachextSessions;

my $port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('main', $port);

# load_wait_timeout long enough that a waiter is still waiting when looked at
my $node = cachext_node(
	'wait_events', qq{cachext.redis_url = 'redis://127.0.0.1:$port'
cachext.events = async
restart_after_crash = on
cachext.load_wait_timeout = 60s});

my $named = $node->safe_psql('postgres', 'SHOW server_version_num') >= 170000;
note($named ? 'named wait events (17 and later)' : 'the generic Extension event (before 17)');

# The wait_event pg_stat_activity shows for a cachext wait named $name.
sub event_of
{
	my ($name) = @_;
	return $named ? $name : 'Extension';
}

# Waits until the process $where selects is in cachext's wait $name (at most
# 60 s: the waits below last until the test ends them), then checks it.
sub waits_in
{
	my ($where, $name, $what) = @_;
	my $event = event_of($name);
	my $query = "SELECT coalesce(string_agg(wait_event_type || '/' || wait_event, ','), 'none') "
	  . "FROM pg_stat_activity WHERE $where";
	my $seen;
	wait_for(60, sub {
		$seen = $node->safe_psql('postgres', $query);
		return $seen eq "Extension/$event";
	});
	is($seen, "Extension/$event", $what);
}

# ---- 17 and later: the names are registered at start-up, before any wait.
SKIP:
{
	skip 'pg_wait_events and named extension wait events begin with 17', 1
	  unless $named;
	is( $node->safe_psql(
			'postgres',
			q{SELECT string_agg(name, ',' ORDER BY name) FROM pg_wait_events
			  WHERE type = 'Extension' AND name LIKE 'Cachext%'}),
		'CachextEventWorker,CachextL1Dump,CachextLoad,CachextRedis,CachextRemoteLoad,CachextSyncStream',
		'pg_wait_events lists cachext\'s six wait events');
}

# ---- The sync worker, idle, waits on Redis' invalidation stream.
waits_in(q{backend_type = 'cachext sync'}, 'CachextSyncStream',
	'the idle sync worker waits on the stream');

# ---- The L1 dump worker, idle, waits for its next dump.
waits_in(q{backend_type = 'cachext l1 dump'}, 'CachextL1Dump',
	'the idle L1 dump worker waits for its next dump');

# ---- A backend waiting for another backend's load of the same key.
my $loader = start_psql($node,
	q{SELECT cache_get_or_set('loading', 'SELECT 1 FROM pg_sleep(60)')}, 'loader');
$node->poll_query_until('postgres',
	q{SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE application_name = 'loader'})
  or die 'set-up: the loader never ran its query';
my $waiter = start_psql($node,
	q{SELECT cache_get_or_set('loading', 'SELECT 2')}, 'waiter');
waits_in(q{application_name = 'waiter'}, 'CachextLoad',
	'a backend waiting for another backend\'s load');
$node->safe_psql('postgres',
	q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'loader'});
finish_psql($loader);
is((finish_psql($waiter))[0], '2', 'the waiter loaded once the loader was cancelled');

# ---- A backend waiting for another instance's load: the key's load lock in
# Redis ("<key>\0load", a NUL redis-cli cannot pass) held by someone else.
my $redis = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
  or die "set-up: no connection to Redis: $!";
my $lock_key = "cache:remote\0load";
$redis->print(sprintf("*5\r\n\$3\r\nSET\r\n\$%d\r\n%s\r\n\$5\r\nother\r\n\$2\r\nPX\r\n\$5\r\n60000\r\n",
	length $lock_key, $lock_key));
my $reply = <$redis>;
$reply eq "+OK\r\n" or die "set-up: Redis did not take the load lock: $reply";
my $remote = start_psql($node,
	q{SELECT cache_get_or_set('remote', 'SELECT 3')}, 'remote_waiter');
waits_in(q{application_name = 'remote_waiter'}, 'CachextRemoteLoad',
	'a backend waiting for another instance\'s load');
$redis->print(sprintf("*2\r\n\$3\r\nDEL\r\n\$%d\r\n%s\r\n", length $lock_key, $lock_key));
$reply = <$redis>;
is((finish_psql($remote))[0], '3', 'the waiter loaded once the lock was gone');
close $redis;

# ---- A backend blocked on Redis (stopped, so the socket stays open).
$node->safe_psql('postgres', q{SELECT cache_set('blocked', '1')});
kill 'STOP', $redis{main}{pid};
my $blocked = start_psql($node,
	q{SET cachext.redis_timeout = '60s'; SELECT cache_invalidate('blocked')}, 'blocked');
waits_in(q{application_name = 'blocked'}, 'CachextRedis',
	'a backend blocked on Redis');
$node->safe_psql('postgres',
	q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'blocked'});
finish_psql($blocked);
kill 'CONT', $redis{main}{pid};

# ---- The event worker between batches (cachext.events = async): stopped
# (SIGSTOP) right after a watched write started it, its wait stays put for
# pg_stat_activity to read; retried while it was caught between waits.
$node->safe_psql(
	'postgres', q{
CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO items VALUES (1);
SELECT cache_watch_table('items', 'ITEM', ARRAY['item:{id}']);
});
my $event_worker = q{backend_type = 'cachext events'};
my $seen = '';
for (1 .. 20)
{
	$node->safe_psql('postgres', 'UPDATE items SET n = n + 1');
	my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE $event_worker");
	next unless $pid ne '' && kill('STOP', $pid);
	$seen = $node->safe_psql('postgres',
		"SELECT wait_event_type || '/' || wait_event FROM pg_stat_activity WHERE pid = $pid");
	kill 'CONT', $pid;
	last if $seen eq 'Extension/' . event_of('CachextEventWorker');
}
is($seen, 'Extension/' . event_of('CachextEventWorker'), 'the event worker waiting for events');

# ---- After a crash restart (a backend killed), shared memory is new and
# the names are registered in it again.
my $victim = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'cachext sync'});
kill 'KILL', $victim;
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'cachext sync' AND pid <> $victim")
  or die 'set-up: the instance did not restart its sync worker after the crash';
waits_in(q{backend_type = 'cachext sync'}, 'CachextSyncStream',
	'after a crash restart, the sync worker\'s wait is named again');
SKIP:
{
	skip 'pg_wait_events begins with 17', 1 unless $named;
	is( $node->safe_psql(
			'postgres',
			q{SELECT count(*) FROM pg_wait_events WHERE type = 'Extension' AND name LIKE 'Cachext%'}),
		'6', 'and pg_wait_events lists each name once');
}

$node->stop;
done_testing();
