# The pre-commit fence: a watched write's invalidations are in force, in L1
# and in Redis, before its commit becomes visible to other sessions.
#
# 1. 100 000 cached keys, one UPDATE of every row, and a poller that, as
#    soon as it sees the new rows, reads keys through cache_get,
#    cache_get_multi and cache_get_or_set: no read returns an old value.
# 2. The same with Redis stopped (SIGSTOP) during the commit: reads miss,
#    never old; no query fails; once Redis is back nothing old is served.
# 3. A transaction that fails after the fence (a serialization failure at
#    COMMIT) leaves its keys loadable and cacheable again.
# 4. A writer held after its commit record and before its commit is visible
#    (synchronous replication waiting for a standby that is not there): a
#    cache_get_or_set that reads the old row meanwhile does not store it,
#    in L1 or in Redis.
#    4b. The same writer held longer than cachext.fence_timeout: the lift
#    unlinks again what a load on another instance stored in Redis after
#    the fence expired.
# 5. A listener reacting to an event of the write (cachext.events = async,
#    then on) never reads the old value.
# 6. The same fence for TRUNCATE's patterns.
# 7. The same fence for the tags of tag: templates.
# 8. A writer paused between its fence and its commit record (the pause
#    point of test builds): the Redis copy is already gone, and a load of
#    the old row is stored in neither layer.
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
use IPC::Run;
use Time::HiRes qw(usleep);

my $rows = 100_000;
my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
my $redis = redis_start('fence', $redis_port);

my $node = PostgreSQL::Test::Cluster->new('fence');
$node->init(allows_streaming => 1);
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'cachext'
cachext.redis_url = 'redis://127.0.0.1:$redis_port'
cachext.redis_retry_interval = 100ms
cachext.l1_max_entries = 250000
cachext.l1_memory = 128MB
cachext.events = off
cachext.fence_timeout = 5s
max_wal_size = 1GB
});
$node->start;
$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION cachext;
CREATE TABLE w (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO w SELECT i, 0 FROM generate_series(1, $rows) i;
SELECT cache_watch_table('w', 'W', ARRAY['w:{id}']);
});

# Waits until the row first..first shows new_v (the writer's commit is
# visible), then reads random keys of first .. first + n - 1 for secs
# seconds through the three read paths; returns "<old reads> of <reads>".
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION poll_after_commit(first int, n int, new_v int, secs float8)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	new_value jsonb := to_jsonb(new_v);
	old_reads int := 0;
	reads int := 0;
	deadline timestamptz := clock_timestamp() + interval '300 s';
	i int;
	k text;
	got jsonb;
BEGIN
	WHILE (SELECT w.v FROM w WHERE id = first) IS DISTINCT FROM new_v LOOP
		IF clock_timestamp() > deadline THEN
			RETURN 'the writer never committed';
		END IF;
		PERFORM pg_sleep(0.001);
	END LOOP;
	deadline := clock_timestamp() + secs * interval '1 s';
	WHILE clock_timestamp() < deadline LOOP
		i := first + floor(random() * n)::int;
		k := 'w:' || i;
		got := cache_get(k);
		IF got <> new_value THEN old_reads := old_reads + 1; END IF;
		SELECT old_reads + count(*) FILTER (WHERE m.value <> new_value)
		  INTO old_reads
		  FROM cache_get_multi(ARRAY[k, 'w:' || (first + (i - first + 1) % n)]) m;
		got := cache_get_or_set(k, format('SELECT v FROM w WHERE id = %s', i));
		IF got <> new_value THEN old_reads := old_reads + 1; END IF;
		reads := reads + 4;
	END LOOP;
	RETURN old_reads || ' of ' || reads;
END $$;
});

# Caches w:first .. w:last with the rows' current values.
sub fill
{
	my ($first, $last) = @_;
	$node->safe_psql('postgres',
		"SELECT count(cache_set('w:' || id, to_jsonb(v))) FROM w WHERE id BETWEEN $first AND $last"
	);
}

# How many of w:first .. w:last cache_get returns with a value other than v.
sub old_in_cache
{
	my ($first, $last, $v) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM generate_series($first, $last) i WHERE cache_get('w:' || i) <> '$v'"
	);
}

# Loads w:id through cache_get_or_set: v is what it returns, and what L1
# and Redis hold afterwards.
sub loaded_and_cached
{
	my ($id, $v, $name) = @_;
	is( $node->safe_psql(
			'postgres',
			"SELECT cache_get_or_set('w:$id', 'SELECT v FROM w WHERE id = $id'), cache_get('w:$id')"
		),
		"$v|$v",
		$name);
	is(redis_cli('fence', 'GET', "cache:w:$id"), $v, "$name, and in Redis");
}

# Runs a writer's statement while the poller watches for its commit.
sub write_and_poll
{
	my ($writer_sql, $first, $n, $new_v, $during) = @_;
	my $poller = start_psql($node,
		"SELECT poll_after_commit($first, $n, $new_v, 3)", 'poller');
	wait_for_app($node, 'poller');
	my $writer = start_psql($node, $writer_sql, 'writer');
	$during->() if $during;
	my ($wout, $werr) = finish_psql($writer);
	my ($pout, $perr) = finish_psql($poller);
	return ($pout, $werr, $perr);
}

# 1. The bulk UPDATE.
fill(1, $rows);
my ($polled, $werr, $perr) =
  write_and_poll('UPDATE w SET v = 1', 1, $rows, 1);
like($polled, qr/^0 of [1-9]\d*$/,
	"no read after the commit became visible returned an old value ($polled)");
unlike($werr, qr/ERROR/, 'the bulk UPDATE committed without error');
is(old_in_cache(1, $rows, 1), '0', 'no old value is left in the cache');

# 2. Redis stopped through the commit: reads miss, never old.
fill(1, 10_000);
kill 'STOP', $redis->{pid};
($polled, $werr, $perr) =
  write_and_poll('UPDATE w SET v = 2 WHERE id <= 10000', 1, 10_000, 2);
kill 'CONT', $redis->{pid};
like($polled, qr/^0 of [1-9]\d*$/,
	"with Redis stopped, no read returned an old value ($polled)");
unlike($werr, qr/ERROR/, 'the UPDATE committed without error with Redis stopped');
unlike($perr, qr/ERROR/, 'no read failed with Redis stopped');
is(old_in_cache(1, 10_000, 2), '0',
	'once Redis is back, no old value is served');
# The commit's invalidations were queued, and the queue is replayed by the
# next backend that reaches Redis or the sync worker, within a second or
# two: then Redis holds none of the old values, for other instances either.
my $old_in_redis;
for (1 .. 100)
{
	$old_in_redis = redis_cli('fence', 'EVAL',
		"local n = 0 for i = 1, 10000 do if redis.call('GET', 'cache:w:' .. i) == '1' then n = n + 1 end end return n",
		'0');
	last if $old_in_redis eq '0';
	usleep(100_000);
}
is($old_in_redis, '0',
	'within 10 s of Redis coming back, Redis holds none of the old values');
# The pre-commit script that timed out ran once Redis resumed: its fences
# expire after cachext.fence_timeout.
my $fences_gone = 0;
for (1 .. 300)
{
	$fences_gone = redis_cli('fence', '--scan', '--pattern', '*fence*') eq '';
	last if $fences_gone;
	usleep(100_000);
}
ok($fences_gone, 'fences placed by a timed-out pre-commit expire');

# 3. A failure after the fence (serialization failure at COMMIT).
$node->safe_psql('postgres',
	q{SELECT cache_invalidate('w:10'), cache_invalidate('w:60')});
my %a = (in => '', out => '', err => '');
my %b = (in => '', out => '', err => '');
for my $s (\%a, \%b)
{
	$s->{h} = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres') ],
		'<', \$s->{in}, '>', \$s->{out}, '2>', \$s->{err});
}
sub run_in
{
	my ($s, $sql) = @_;
	$s->{in} .= "$sql\nSELECT 'step done';\n";
	$s->{h}->pump until $s->{out} =~ s/step done\n//;
}
run_in(\%a, 'BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT sum(v) FROM w WHERE id <= 50;');
run_in(\%b, 'BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT sum(v) FROM w WHERE id > 50 AND id <= 100;');
run_in(\%a, 'UPDATE w SET v = v + 1 WHERE id = 60;');
run_in(\%b, 'UPDATE w SET v = v + 1 WHERE id = 10;');
run_in(\%a, 'COMMIT;');
run_in(\%b, 'COMMIT;');
$_->{in} .= "\\q\n" for (\%a, \%b);
$_->{h}->finish for (\%a, \%b);
like($b{err}, qr/could not serialize access.*\n.*\n?.*during commit attempt/,
	'the second writer failed at COMMIT, after its fence')
  or diag("a: $a{err}\nb: $b{err}");
loaded_and_cached(10, 2, 'after the failed commit, its key is loaded and cached again');
is(redis_cli('fence', '--scan', '--pattern', '*fence*'), '',
	'no fence is left in Redis');

# 4. The writer held between its commit record and visibility: commits
# wait for a synchronous standby that is not there until release_writer.
sub hold_writer
{
	my ($sql) = @_;
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET synchronous_standby_names = 'nobody'; SELECT pg_reload_conf()");
	# The checkpointer publishes the setting to committing backends; it has
	# once a CHECKPOINT requested after the reload returns.
	$node->safe_psql('postgres', 'CHECKPOINT');
	my $writer = start_psql($node, $sql, 'held');
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'held' AND wait_event = 'SyncRep'})
	  or die 'the writer did not wait for its standby';
	return $writer;
}

sub release_writer
{
	my ($writer) = @_;
	$node->safe_psql('postgres',
		'ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf()');
	my ($out, $err) = finish_psql($writer);
	return $err;
}

$node->safe_psql('postgres', q{SELECT cache_invalidate('w:5')});
my $writer = hold_writer('UPDATE w SET v = 105 WHERE id = 5');
is( $node->safe_psql(
		'postgres',
		q{SELECT cache_get_or_set('w:5', 'SELECT v FROM w WHERE id = 5')}),
	'2',
	'a load during the commit reads the old row');
is($node->safe_psql('postgres', q{SELECT cache_get('w:5') IS NULL}),
	't', 'and does not store it in L1');
is(redis_cli('fence', 'GET', 'cache:w:5'), '', 'nor in Redis');
unlike(release_writer($writer), qr/ERROR/, 'the held writer committed');
loaded_and_cached(5, 105, 'after the commit, the new row is loaded and cached');

# 4b. A writer held longer than cachext.fence_timeout (5 s): its Redis fence
# expires while the commit waits, so a load of the old row on another
# instance sharing Redis (this one's L1 fences never expire, and refuse its
# own loads) stores it in Redis meanwhile; the lift, finding its fence
# expired, unlinks the key again, so once the commit returns Redis does not
# hold the old value.
my $old_v6 = $node->safe_psql('postgres', 'SELECT v FROM w WHERE id = 6');
my $other = cachext_node('fence_other', qq{
cachext.redis_url = 'redis://127.0.0.1:$redis_port'
cachext.events = off
});
$other->safe_psql('postgres',
	"CREATE TABLE w (id int PRIMARY KEY, v int NOT NULL); INSERT INTO w VALUES (6, $old_v6)");
$node->safe_psql('postgres', q{SELECT cache_invalidate('w:6')});
$writer = hold_writer('UPDATE w SET v = v + 1000 WHERE id = 6');
is( $other->safe_psql(
		'postgres', q{SELECT cache_get_or_set('w:6', 'SELECT v FROM w WHERE id = 6')}),
	$old_v6, 'while the fence stands, another instance loads the old row');
is(redis_cli('fence', 'GET', 'cache:w:6'), '', 'and Redis refuses to store it');
sleep 6;
$other->safe_psql('postgres', q{SELECT cache_invalidate('w:6')});
is( $other->safe_psql(
		'postgres', q{SELECT cache_get_or_set('w:6', 'SELECT v FROM w WHERE id = 6')}),
	$old_v6, 'after the fence expired, it loads the old row again');
is(redis_cli('fence', 'GET', 'cache:w:6'), $old_v6,
	'and the expired fence let Redis store it');
unlike(release_writer($writer), qr/ERROR/, 'the writer held past its fence committed');
is(redis_cli('fence', 'GET', 'cache:w:6'), '',
	'the late lift unlinked the old value from Redis');
loaded_and_cached(6, $old_v6 + 1000,
	'after the late commit, the new row is loaded and cached');
$other->stop;

# 5. A listener reacting to the first event reads no old value.
for my $mode ('async', 'on')
{
	my $v = $mode eq 'async' ? 3 : 4;
	fill(1, 20_000);
	my %l = (in => "LISTEN cache_events;\n", out => '', err => '');
	$l{h} = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres') ],
		'<', \$l{in}, '>', \$l{out}, '2>', \$l{err});
	run_in(\%l, 'SELECT 1;');
	my $w = start_psql($node,
		"SET cachext.events = $mode; UPDATE w SET v = $v WHERE id <= 20000");
	# psql prints notifications after a command: poll with a cheap one
	my $deadline = time + 120;
	until ($l{out} =~ /Asynchronous notification/ || time > $deadline)
	{
		run_in(\%l, 'SELECT 1;');
		usleep(5_000);
	}
	$l{out} = '';
	run_in(\%l,
		"SELECT 'old=' || count(*) FROM generate_series(1, 20000) i WHERE cache_get('w:' || i) <> '$v';"
	);
	like($l{out}, qr/old=0/,
		"events $mode: a listener reacting to the event reads no old value");
	finish_psql($w);
	$l{in} .= "\\q\n";
	$l{h}->finish;
}

# 6. TRUNCATE fences its patterns: while the TRUNCATE is held between its
# commit record and visibility, no load of a key its template names is
# stored; after it, no key is left in either layer, nor any fence.
fill(1, 100);
$writer = hold_writer('TRUNCATE w');
is( $node->safe_psql(
		'postgres', q{SELECT cache_get_or_set('w:7', 'SELECT 7'), cache_get('w:7') IS NULL}),
	'7|t',
	'a load during a TRUNCATE\'s commit is not stored in L1');
is(redis_cli('fence', 'GET', 'cache:w:7'), '', 'nor in Redis');
unlike(release_writer($writer), qr/ERROR/, 'the held TRUNCATE committed');
is(old_in_cache(1, 100, -1), '0', 'no key of the table is left in the cache');
# (A key's write sequence, "<key>\0seq", may stay: a lease read creates it,
# and it expires after an hour idle.  redis-cli prints keys up to their NUL,
# so cache keys are told from cachext's own keys by EXISTS.)
is( join(',',
		grep { redis_cli('fence', 'EXISTS', $_) eq '1' } split /\n/,
		redis_cli('fence', '--scan', '--pattern', 'cache:w:*')),
	'',
	'none in Redis');
is(redis_cli('fence', '--scan', '--pattern', 'cache:w:*fence'), '', 'and no fence is left');

# 7. A tag: template fences its tags as TRUNCATE fences its patterns: while
# an UPDATE is held between its commit record and visibility, a key stored
# with the tag is not served and a load joining the tag is not stored;
# after it, the tag's keys are gone from both layers.
$node->safe_psql(
	'postgres', q{
CREATE TABLE g (id int PRIMARY KEY, grp int NOT NULL, v int NOT NULL);
INSERT INTO g VALUES (1, 1, 0);
SELECT cache_watch_table('g', 'G', ARRAY['tag:grp:{grp}']);
SELECT cache_set('g:1', '0', NULL, ARRAY['grp:1']);
});
$writer = hold_writer('UPDATE g SET v = 1 WHERE id = 1');
is($node->safe_psql('postgres', q{SELECT cache_get('g:1') IS NULL}),
	't', 'a key stored with the tag is not served during the commit');
is( $node->safe_psql(
		'postgres',
		q{SELECT cache_get_or_set_tagged('g:2', 'SELECT v FROM g WHERE id = 1', NULL, ARRAY['grp:1']), cache_get('g:2') IS NULL}
	),
	'0|t',
	'a load of the old row with the tag is not stored in L1');
is(redis_cli('fence', 'GET', 'cache:g:2'), '', 'nor in Redis');
unlike(release_writer($writer), qr/ERROR/, 'the held UPDATE committed');
is( $node->safe_psql(
		'postgres', q{SELECT cache_get('g:1') IS NULL, cache_get('g:2') IS NULL}),
	't|t',
	'after the commit, no key of the tag is cached');
is(redis_cli('fence', 'GET', 'cache:g:1'), '', 'nor in Redis');

# 8. The window's other end, before the commit record: the writer's COMMIT
# waits right after its fence for the advisory lock a holder session has
# (cachext.test_pause_after_fence, test builds only: docs/testing.md).
SKIP:
{
	skip 'cachext was built without TEST_BUILD=1 (scripts/test builds it with)', 7
	  unless $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_settings WHERE name = 'cachext.test_pause_after_fence'})
	  eq '1';
	$node->safe_psql('postgres', q{INSERT INTO w VALUES (8, 80)});
	fill(8, 8);
	my %h = (in => '', out => '', err => '');
	$h{h} = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres') ],
		'<', \$h{in}, '>', \$h{out}, '2>', \$h{err});
	run_in(\%h, 'SELECT pg_advisory_lock(4242);');
	$writer = start_psql($node,
		'SET cachext.test_pause_after_fence = 4242; UPDATE w SET v = 81 WHERE id = 8',
		'paused');
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'paused' AND wait_event = 'advisory'})
	  or die 'the writer did not pause after its fence';
	is($node->safe_psql('postgres', q{SELECT cache_get('w:8') IS NULL}),
		't', 'paused after the fence: the cached key misses');
	is(redis_cli('fence', 'GET', 'cache:w:8'), '', 'and is gone from Redis');
	is( $node->safe_psql(
			'postgres',
			q{SELECT cache_get_or_set('w:8', 'SELECT v FROM w WHERE id = 8'), cache_get('w:8') IS NULL}),
		'80|t',
		'a load reads the old row and does not store it in L1');
	is(redis_cli('fence', 'GET', 'cache:w:8'), '', 'nor in Redis');
	run_in(\%h, 'SELECT pg_advisory_unlock(4242);');
	my ($out, $err) = finish_psql($writer);
	is($err, '', 'the paused writer committed');
	$h{in} .= "\\q\n";
	$h{h}->finish;
	loaded_and_cached(8, 81, 'after the paused commit, the new row is loaded and cached');
}

done_testing();
