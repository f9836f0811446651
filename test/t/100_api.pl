# The rest of a cache's API against a real Redis shared by two instances:
# cache_incr is exact under 16 backends on two instances and a Python
# client's INCRBY at once, cache_add raced by 16 backends stores once, tag
# invalidation reaches the other instance and leaves Redis nothing to read,
# tag member sets expire, cache_ttl/cache_touch follow Redis, and with Redis
# killed every function falls back to L1 without a query error.
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
use IPC::Run;

# Debian's python3 has python3-redis (scripts/setup installs it).
my $python = '/usr/bin/python3';

my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('shared', $redis_port);

# An instance with cachext preloaded, following the shared Redis.  A long
# cachext.redis_timeout: on a loaded machine a timeout would make a counter
# fall back to L1, which this test does not mean to measure.
sub new_instance
{
	my ($name) = @_;
	return cachext_node(
		$name, qq{cachext.redis_url = 'redis://127.0.0.1:$redis_port'
cachext.redis_timeout = 10s
cachext.redis_retry_interval = 100ms
max_connections = 40});
}

my $node_a = new_instance('a');
my $node_b = new_instance('b');
my @nodes = ($node_a, $node_b);
for my $node (@nodes)
{
	ok(poll_node($node, q{SELECT sync_resets >= 1 FROM cache_stats WHERE layer = 'l2'}),
		$node->name . ': the sync worker follows Redis');
}

# Runs $code in Python with a redis.Redis client r on the shared server.
sub python_redis
{
	my ($code) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $python, '-c', "import redis\nr = redis.Redis(port=$redis_port)\n$code" ],
		'>', \$out, '2>', \$err)
	  or die "python failed: $err";
	chomp $out;
	return $out;
}

sub in_l1
{
	my ($node, $key) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM cache_entries WHERE key = '$key'");
}

my $dir = PostgreSQL::Test::Utils::tempdir;

# ---- cache_incr: 8 backends x 300 increments on each instance, and a
# Python client's 300 INCRBY on the same key at the same time.
my @incr = pgbench_scripts($dir, { incr => [ 1, q{SELECT cache_incr('counter');} ] });
my ($py_out, $py_err) = ('', '');
my $py = IPC::Run::start(
	[
		$python, '-c',
		"import redis\nr = redis.Redis(port=$redis_port)\n"
		  . "for i in range(300):\n    r.incrby('cache:counter', 1)\n"
	],
	'>', \$py_out, '2>', \$py_err);
my @benches = map { pgbench_start($_, $dir, '-c', '8', '-j', '4', '-t', '300', @incr) } @nodes;
my $done = 0;
$done += pgbench_finish($_) for @benches;
ok($py->finish, 'the Python client made its 300 increments') or diag($py_err);
is($done, 4800, 'every cache_incr ran');
is(redis_cli('shared', 'GET', 'cache:counter'), '5100',
	'Redis holds the exact count: 2 x 8 x 300 + 300');
for my $node (@nodes)
{
	ok(poll_node($node, q{SELECT cache_get('counter') = '5100'}),
		$node->name . ' reads the exact count');
	is(in_l1($node, 'counter'), '1', $node->name . ' holds the count in L1');
	is($node->safe_psql('postgres', q{SELECT cache_get('counter')}), '5100',
		$node->name . "'s L1 copy is exact");
}
# An increment on one instance is seen by the next read on the other.
$node_a->safe_psql('postgres', q{SELECT cache_incr('counter', -100)});
ok(poll_node($node_b, q{SELECT cache_get('counter') = '5000'}),
	'B reads the decrement A made');
# Redis' rule for what is an integer, and for overflow, decides the errors.
redis_cli('shared', 'SET', 'cache:text', '"7"');
my ($ret, $out, $err) = $node_a->psql('postgres', q{SELECT cache_incr('text')});
like($err, qr/cached value of key "text" is not an integer/, 'a JSON string is not an integer');
$node_a->safe_psql('postgres', q{SELECT cache_set('big', '9223372036854775807')});
($ret, $out, $err) = $node_a->psql('postgres', q{SELECT cache_incr('big')});
like($err, qr/cache_incr\(\) of key "big" is out of range for type bigint/,
	'an overflow names the key');
is(redis_cli('shared', 'GET', 'cache:big'), '9223372036854775807',
	'the overflowing increment left Redis unchanged');
is($node_b->safe_psql('postgres', q{SELECT redis_up FROM cache_stats WHERE layer = 'l2'}),
	't', 'errors about values are not Redis faults');
# A counter created by cache_incr gets its TTL in Redis.
$node_a->safe_psql('postgres', q{SELECT cache_incr('ttl-counter', 1, interval '1 hour')});
my $pttl = redis_cli('shared', 'PTTL', 'cache:ttl-counter');
ok($pttl > 3_500_000 && $pttl <= 3_600_000, "the new counter expires in an hour ($pttl ms)");

# ---- cache_add raced by 16 backends on two instances: exactly one stores.
for my $node (@nodes)
{
	$node->safe_psql('postgres', 'CREATE TABLE wins (round int)');
}
for my $round (1 .. 3)
{
	my @add = pgbench_scripts($dir,
		{ "add$round" => [ 1, "INSERT INTO wins SELECT $round WHERE cache_add('race:$round', '\"won\"');" ] });
	my @racers = map { pgbench_start($_, $dir, '-c', '8', '-j', '8', '-t', '1', @add) } @nodes;
	pgbench_finish($_) for @racers;
	my $wins = 0;
	$wins += $_->safe_psql('postgres', "SELECT count(*) FROM wins WHERE round = $round") for @nodes;
	is($wins, 1, "round $round: exactly one of 16 cache_add calls stored");
}
is( $node_a->safe_psql('postgres', q{SELECT adds_refused FROM cache_stats WHERE layer = 'l1'})
	  + $node_b->safe_psql('postgres', q{SELECT adds_refused FROM cache_stats WHERE layer = 'l1'}),
	45, 'the 45 refused adds are counted');
# A value only Redis holds counts as present; cache_replace needs one.
redis_cli('shared', 'SET', 'cache:only-in-redis', '1');
is($node_a->safe_psql('postgres', q{SELECT cache_add('only-in-redis', '2')}), 'f',
	'cache_add refuses a key only Redis holds');
is($node_a->safe_psql('postgres', q{SELECT cache_replace('only-in-redis', '3')}), 't',
	'cache_replace replaces a key only Redis holds');
is(redis_cli('shared', 'GET', 'cache:only-in-redis'), '3', 'Redis holds the replacement');
is($node_b->safe_psql('postgres', q{SELECT cache_replace('nowhere', '3')}), 'f',
	'cache_replace of an absent key stores nothing');
is(redis_cli('shared', 'EXISTS', 'cache:nowhere'), '0', 'not even in Redis');

# ---- cache_ttl and cache_touch follow Redis.
$node_a->safe_psql('postgres', q{SELECT cache_set('session', '"s"', interval '1 hour')});
is( $node_b->safe_psql('postgres',
		q{SELECT cache_ttl('session') BETWEEN interval '59 minutes' AND interval '1 hour'}),
	't', "B reads the TTL Redis holds for A's key");
is($node_b->safe_psql('postgres', q{SELECT cache_touch('session', interval '1 day')}), 't',
	'B touches it');
$pttl = redis_cli('shared', 'PTTL', 'cache:session');
ok($pttl > 86_000_000, "Redis' TTL is now a day ($pttl ms)");
is($node_a->safe_psql('postgres', q{SELECT cache_ttl('session') > interval '23 hours'}), 't',
	'A reads the new TTL');
is($node_a->safe_psql('postgres', q{SELECT cache_touch('session', NULL)}), 't',
	'A makes it never expire');
is(redis_cli('shared', 'PTTL', 'cache:session'), '-1', 'Redis keeps it without expiry');
is($node_b->safe_psql('postgres', q{SELECT cache_ttl('session')}), '-00:00:00.001',
	'cache_ttl of an entry without expiry');
is(redis_cli('shared', 'GET', 'cache:session'), '"s"', 'touching kept the value');

# ---- cache_set_multi: one round trip, plain JSON in Redis.
$node_a->safe_psql('postgres',
	q{SELECT cache_set_multi(ARRAY['m:1', 'm:2'], ARRAY['1', '{"two": 2}']::jsonb[], interval '1 minute')});
is(redis_cli('shared', 'GET', 'cache:m:2'), '{"two": 2}', 'cache_set_multi wrote JSON to Redis');
is($node_b->safe_psql('postgres', q{SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM cache_get_multi(ARRAY['m:1', 'm:2'])}),
	'm:1=1,m:2={"two": 2}', 'B reads both');

# ---- Tags: an invalidation on A reaches B's L1, and Redis keeps no copy.
$node_a->safe_psql('postgres',
	q{SELECT cache_set('user:1', '{"name": "Ada"}', interval '1 hour', ARRAY['user:1'])});
$node_a->safe_psql('postgres',
	q{SELECT cache_get_or_set_tagged('user:1:posts', 'SELECT 2', interval '1 hour', ARRAY['user:1'])});
for my $key ('user:1', 'user:1:posts')
{
	ok(poll_node($node_b, "SELECT cache_get('$key') IS NOT NULL"), "B reads $key");
	is(in_l1($node_b, $key), '1', "B holds $key in L1");
}
is($node_a->safe_psql('postgres', q{SELECT cache_invalidate_tag('user:1')}), '2',
	'A invalidates the tag: two keys');
for my $key ('user:1', 'user:1:posts')
{
	ok(poll_node($node_b, "SELECT cache_get('$key') IS NULL"), "B no longer serves $key");
	is(redis_cli('shared', 'EXISTS', "cache:$key"), '0', "Redis no longer holds $key");
}
is(python_redis(q{print(r.exists(b'cache:user:1\x00tag'))}), '0', "the tag's member set is gone");
# ... and the other way round: B invalidates what A tagged and holds.
$node_a->safe_psql('postgres', q{SELECT cache_set('feed', '[1]', interval '1 hour', ARRAY['feeds'])});
# (A's own write comes back on the stream and may evict it: read it back.)
ok( poll_node(
		$node_a,
		q{SELECT cache_get('feed') IS NOT NULL AND (SELECT count(*) = 1 FROM cache_entries WHERE key = 'feed')}),
	'A holds the tagged key');
is($node_b->safe_psql('postgres', q{SELECT cache_invalidate_tag('feeds')}), '1',
	'B invalidates a tag only A wrote');
ok(poll_node($node_a, q{SELECT count(*) = 0 FROM cache_entries WHERE key = 'feed'}),
	"A's L1 drops the key");
# A tag of 10 000 keys.
is( $node_a->safe_psql('postgres',
		q{SELECT count(cache_set('bulk:' || i, to_jsonb(i), interval '1 hour', ARRAY['bulk'])) FROM generate_series(1, 10000) i}),
	'10000', '10 000 keys written with one tag');
is($node_b->safe_psql('postgres', q{SELECT cache_invalidate_tag('bulk')}), '10000',
	'B invalidates all 10 000');
# (cachext's own keys beside them, the write sequences, contain a NUL.)
is( python_redis(
		q{print(sum(1 for k in r.scan_iter(match='cache:bulk:*', count=1000) if b'\x00' not in k))}),
	'0', 'Redis holds none of them');
# A pattern invalidation leaves member sets: a tag still finds its keys
# outside the pattern.
$node_a->safe_psql('postgres', q{
SELECT cache_set('user:9', '1', interval '1 hour', ARRAY['user:9']);
SELECT cache_set('profile:9', '1', interval '1 hour', ARRAY['user:9']);
SELECT cache_invalidate_pattern('user:*');
});
is($node_b->safe_psql('postgres', q{SELECT cache_invalidate_tag('user:9')}), '1',
	'after a pattern took one key, the tag still removes the other');
is(redis_cli('shared', 'EXISTS', 'cache:profile:9'), '0', 'Redis no longer holds it');
# Member sets expire with their keys (plus a minute's grace for clocks).
$node_a->safe_psql('postgres', q{SELECT cache_set('brief', '1', interval '10 seconds', ARRAY['brief'])});
$pttl = python_redis(q{print(r.pttl(b'cache:brief\x00tag'))});
ok($pttl > 0 && $pttl <= 71_000, "the member set expires with its key ($pttl ms)");
$node_a->safe_psql('postgres', q{SELECT cache_set('lasting', '1', NULL, ARRAY['brief'])});
is(python_redis(q{print(r.pttl(b'cache:brief\x00tag'))}), '-1',
	'a member without expiry keeps the set');
# Events: cache_invalidate_tag announces the tag (sent by this session,
# cachext.events = on, so that psql prints it before it leaves; the
# default, async, sends the same payload a moment later: events.sql).
my $notified = $node_b->safe_psql('postgres', q{
SET cachext.events = on;
LISTEN cache_events;
SELECT cache_set('evt', '1', interval '1 hour', ARRAY['evt-tag']);
SELECT cache_invalidate_tag('evt-tag');
});
like($notified, qr/\{"event": "CACHE_INVALIDATED", "tag": "evt-tag"\}/,
	'a CACHE_INVALIDATED event names the tag');
is($node_b->safe_psql('postgres', q{SELECT tag_invalidations FROM cache_stats WHERE layer = 'l1'}),
	'4', 'B counted its four tag invalidations');

# ---- Watch templates naming tags, committed on A, reach B.
$node_a->safe_psql('postgres', q{
CREATE TABLE users (id int PRIMARY KEY, name text);
INSERT INTO users VALUES (1, 'Ada');
SELECT cache_watch_table('users', 'USER', ARRAY['tag:user:{id}']);
SELECT cache_set('profile:1', '"p"', interval '1 hour', ARRAY['user:1']);
});
ok(poll_node($node_b, q{SELECT cache_get('profile:1') IS NOT NULL}), 'B reads the profile');
$node_a->safe_psql('postgres', q{UPDATE users SET name = 'Ada L.' WHERE id = 1});
ok(poll_node($node_b, q{SELECT cache_get('profile:1') IS NULL}),
	"a committed row change invalidates its tag on B");

# ---- Leases across instances: a load on A that B's write overtakes (its
# factory waits on an advisory lock a gate session holds) is returned but
# stored in neither layer.
sub overtaken_load
{
	my ($name, $load_sql, $write_sql) = @_;
	my $gate = start_psql($node_a, 'SELECT pg_advisory_lock(7); SELECT pg_sleep(2)', "gate_$name");
	wait_for_app($node_a, "gate_$name");
	my $load = start_psql($node_a, $load_sql, "load_$name");
	wait_for_app($node_a, "load_$name");
	my $written = $node_b->safe_psql('postgres', $write_sql);
	finish_psql($gate);
	my ($loaded, $err) = finish_psql($load);
	is($loaded, '"loaded"', "$name: the overtaken load returns its value") or diag($err);
	return $written;
}
my $factory = q{'SELECT ''"loaded"''::jsonb FROM pg_advisory_xact_lock_shared(7)'};
is(overtaken_load('incr', "SELECT cache_get_or_set('lease:1', $factory)",
		q{SELECT cache_incr('lease:1')}), '1', 'B increments meanwhile');
is(redis_cli('shared', 'GET', 'cache:lease:1'), '1', "Redis keeps B's count");
ok(poll_node($node_a, q{SELECT cache_get('lease:1') = '1'}), "A serves B's count");
overtaken_load('tag', "SELECT cache_get_or_set_tagged('lease:2', $factory, interval '1 hour', ARRAY['lease'])",
	q{SELECT cache_invalidate_tag('lease')});
is(redis_cli('shared', 'EXISTS', 'cache:lease:2'), '0', 'the load overtaken by a tag invalidation is not in Redis');
is($node_a->safe_psql('postgres', q{SELECT cache_get('lease:2')}), '', 'nor in L1');

# ---- Redis down: every function falls back to L1 alone, no query error.
redis_kill('shared');
ok(poll_node($node_a, q{SELECT coherence = 'none' FROM cache_stats WHERE layer = 'l2'}),
	'A\'s sync worker lost the stream');
my $quiet = 'SET client_min_messages = error; ';
my @fallback = (
	[ q{SELECT cache_incr('down:counter'), cache_incr('down:counter', 2)} => '1|3' ],
	[ q{SELECT cache_add('down:add', '1'), cache_add('down:add', '2')} => 't|f' ],
	[ q{SELECT cache_replace('down:add', '3'), cache_replace('down:absent', '3')} => 't|f' ],
	[ q{SELECT cache_get('down:add')} => '3' ],
	[ q{SELECT cache_touch('down:add', interval '5 minutes'), cache_ttl('down:add') <= interval '5 minutes'} => 't|t' ],
	[ q{SELECT pg_typeof(cache_set_multi(ARRAY['down:m'], ARRAY['"m"']::jsonb[])), cache_get('down:m')} => 'void|"m"' ],
	[ q{SELECT pg_typeof(cache_set('down:tagged', '1', interval '1 hour', ARRAY['down'])), cache_invalidate_tag('down')} => 'void|1' ],
);
for my $case (@fallback)
{
	my ($sql, $expected) = @$case;
	my ($rc, $stdout, $stderr) = $node_a->psql('postgres', $quiet . $sql);
	is($rc, 0, "with Redis down, no error: $sql") or diag($stderr);
	is($stdout, $expected, "with Redis down, L1 answers: $sql");
}
ok($node_a->safe_psql('postgres', q{SELECT queue_length FROM cache_stats WHERE layer = 'l2'}) > 0,
	'what Redis missed is queued for it');
# Redis back: the queue is replayed, the tag's invalidation included.
redis_start('shared', $redis_port);
ok(poll_node($node_a, q{SELECT queue_length = 0 FROM cache_stats WHERE layer = 'l2'}),
	'the queued invalidations reached Redis');
is($node_a->safe_psql('postgres', q{SELECT cache_incr('back')}), '1',
	'cache_incr uses Redis again');
is(redis_cli('shared', 'GET', 'cache:back'), '1', 'Redis holds the new counter');

$node_a->stop;
$node_b->stop;
done_testing();
