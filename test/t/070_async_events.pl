# cachext.events = async under concurrency: 8 pgbench writers of a watched
# table and a listener.  Every committed UPDATE's events arrive exactly once,
# none of an aborted one, nor of one that fails at COMMIT after queueing
# them (a serialization failure), which does not hold back later events;
# with a tiny queue, or without a free background
# worker slot, writers send their events themselves and still nothing is
# lost; the worker leaves when idle, so DROP DATABASE succeeds; and events
# work again after a crash restart.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextSessions;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = cachext_node(
	'async_events', q{cachext.events = async
restart_after_crash = on
synchronous_commit = off});
$node->safe_psql(
	'postgres', q{
CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO items (id) SELECT generate_series(1, 100);
SELECT cache_watch_table('items', 'ITEM', ARRAY['item:{id}:{n}']);
});

# Waits until the workers and the fallbacks together sent $n events.
sub wait_for_events
{
	my ($n) = @_;
	$node->poll_query_until('postgres',
		"SELECT sent_async + fallbacks >= $n FROM cache_event_stats()")
	  or die "fewer than $n events were sent";
}

my $dir = PostgreSQL::Test::Utils::tempdir;
open my $fh, '>', "$dir/update.sql" or die;
print $fh "\\set id random(1, 100)\nUPDATE items SET n = n + 1 WHERE id = :id;\n";
close $fh;
open $fh, '>', "$dir/abort.sql" or die;
print $fh "\\set id random(1, 100)\nBEGIN;\nSELECT cache_invalidate('aborted:' || :id);\n"
  . "UPDATE items SET n = n + 1 WHERE id = :id;\nROLLBACK;\n";
close $fh;

# Runs the writers for $seconds; then checks what the listener got against
# the committed UPDATEs (sum(n) grows by one per commit).  Each commit
# sends ITEM_UPDATED naming the old and the new key, then one
# CACHE_INVALIDATED per key: 3 events, and its ITEM_UPDATED is unique.
sub writers_and_check
{
	my ($label, $seconds) = @_;
	$node->safe_psql('postgres', 'SELECT cache_stats_reset()');
	my $before = $node->safe_psql('postgres', 'SELECT sum(n) FROM items');
	my $listener = start_listener($node, 'postgres');
	my ($out, $err);
	my $ok = IPC::Run::run(
		[
			'pgbench', '-n', '-c', '8', '-j', '2', '-T', $seconds,
			'-f', "$dir/update.sql\@9", '-f', "$dir/abort.sql\@1",
			'-d', $node->connstr('postgres')
		],
		'>', \$out, '2>', \$err);
	ok($ok, "$label: pgbench ran") or diag($err);
	my $committed =
	  $node->safe_psql('postgres', 'SELECT sum(n) FROM items') - $before;
	wait_for_events(3 * $committed);
	my @got = stop_listener($listener);
	my @updated = grep { $_->[1] =~ /"ITEM_UPDATED"/ } @got;
	my %distinct = map { $_->[1] => 1 } @updated;
	cmp_ok($committed, '>', 100, "$label: $committed UPDATEs committed");
	is(scalar @updated, $committed,
		"$label: one ITEM_UPDATED per committed UPDATE");
	is(scalar keys %distinct, $committed, "$label: each arrived once");
	is(scalar @got, 3 * $committed,
		"$label: and with it one CACHE_INVALIDATED per key, nothing more");
	is(scalar(grep { $_->[1] =~ /aborted/ } @got), 0,
		"$label: nothing from the rolled-back transactions");
	is(scalar(grep { $_->[0] ne 'cache_events' } @got), 0,
		"$label: all on the configured channel");
	return $node->safe_psql('postgres',
		'SELECT sent_async, fallbacks, workers_started FROM cache_event_stats()');
}

my ($listener, @got);

# 1. The default queue (256kB): the worker sends the events.
my ($sent, $fallbacks, $started) =
  split /\|/, writers_and_check('default queue', 3);
cmp_ok($sent, '>', 0, "the worker sent $sent events ($fallbacks fallbacks)");
cmp_ok($started, '>=', 1, 'a worker was started');
note("default queue (256kB): $sent sent by the worker, $fallbacks by writers, $started workers");

# A transaction that fails after queueing its events (a serialization
# failure found at COMMIT, after pre-commit) sends none, and does not hold
# back the events queued behind its record.
sub session
{
	my %s = (in => '', out => '', err => '');
	$s{h} = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres') ],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err});
	return \%s;
}

sub run_in
{
	my ($s, $sql) = @_;
	$s->{in} .= "$sql\nSELECT 'step done';\n";
	$s->{h}->pump until $s->{out} =~ s/step done\n//;
}
$node->safe_psql('postgres', 'SELECT cache_stats_reset()');
$listener = start_listener($node, 'postgres');
my ($a, $b) = (session(), session());
run_in($a, 'BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT sum(n) FROM items WHERE id <= 50;');
run_in($b, 'BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT sum(n) FROM items WHERE id > 50;');
run_in($a, q{SELECT cache_invalidate('ssi:a'); UPDATE items SET n = n + 1 WHERE id = 60;});
run_in($b, q{SELECT cache_invalidate('ssi:b'); UPDATE items SET n = n + 1 WHERE id = 10;});
run_in($a, 'COMMIT;');
run_in($b, 'COMMIT;');
$_->{in} .= "\\q\n" for ($a, $b);
$_->{h}->finish for ($a, $b);
like($b->{err}, qr/could not serialize access.*\n.*\n?.*during commit attempt/,
	'the second writer failed at COMMIT, after its events were queued')
  or diag("a: $a->{err}\nb: $b->{err}");
$node->safe_psql('postgres', q{SELECT cache_invalidate('after ssi')});
wait_for_events(5);    # ssi:a, the UPDATE's three, after ssi
@got = stop_listener($listener);
is_deeply(
	[ grep { /ssi/ } map { $_->[1] } @got ],
	[
		'{"event": "CACHE_INVALIDATED", "key": "ssi:a"}',
		'{"event": "CACHE_INVALIDATED", "key": "after ssi"}'
	],
	'its events are not sent, and later events are');

# 2. The worker leaves when idle (1 s), freeing its slot.
$node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'cachext events'})
  or die 'the worker did not exit';
ok(1, 'the idle worker exited');

# 3. DROP DATABASE of a database whose worker is running succeeds: the
# worker leaves when no session of the database sends events any more.
$node->safe_psql('postgres', 'CREATE DATABASE dropme');
$node->safe_psql('dropme', 'CREATE EXTENSION cachext');
$listener = start_listener($node, 'dropme');
$node->safe_psql('dropme', q{SELECT cache_invalidate('in dropme')});
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'cachext events' AND datname = 'dropme'})
  or die 'no worker for dropme';
@got = stop_listener($listener);
is($got[0][1], '{"event": "CACHE_INVALIDATED", "key": "in dropme"}',
	'the worker of dropme sent its event');
my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'DROP DATABASE dropme');
is($ret, 0, 'DROP DATABASE succeeds while its worker was running')
  or diag($stderr);

# 4. A queue too small for the traffic: writers that find no room send
# their events themselves, and still every event arrives exactly once.
$node->append_conf('postgresql.conf', 'cachext.events_queue_size = 1kB');
$node->restart;
($sent, $fallbacks, $started) = split /\|/, writers_and_check('1kB queue', 2);
cmp_ok($fallbacks, '>', 0, "with 1kB, writers sent $fallbacks events themselves");
note("1kB queue: $sent sent by the worker, $fallbacks by writers");

# A single transaction whose events cannot fit falls back, in order.
$node->safe_psql('postgres', 'SELECT cache_stats_reset()');
$listener = start_listener($node, 'postgres');
$node->safe_psql('postgres',
	q{SELECT count(cache_invalidate('burst:' || i)) FROM generate_series(1, 50) i});
wait_for_events(50);
@got = stop_listener($listener);
is_deeply(
	[ map { $_->[1] } @got ],
	[ map { qq({"event": "CACHE_INVALIDATED", "key": "burst:$_"}) } 1 .. 50 ],
	'a burst larger than the queue arrives whole and in order');
is($node->safe_psql('postgres', 'SELECT fallbacks FROM cache_event_stats()'),
	'50', 'sent by the writer itself');

# 5. No background worker slot free (the sync worker takes the only one):
# every writer sends its own events; nothing is lost.
$node->append_conf('postgresql.conf', 'max_worker_processes = 1');
$node->restart;
($sent, $fallbacks, $started) =
  split /\|/, writers_and_check('no worker slot', 1);
is("$sent|$started", '0|0', 'no worker could be started');

# 6. SIGKILL of a backend restarts the instance; events work afterwards.
$node->append_conf('postgresql.conf', 'max_worker_processes = 8');
$node->restart;
my $victim = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', 'SELECT pg_sleep(60)' ]);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'})
  or die 'the victim did not start';
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'});
ok(kill('KILL', $pid), "killed backend $pid");
$victim->finish;
$node->poll_query_until('postgres', 'SELECT 1', '1')
  or die 'the server did not come back';
$listener = start_listener($node, 'postgres');
$node->safe_psql('postgres', q{SELECT cache_invalidate('after restart')});
wait_for_events(1);
@got = stop_listener($listener);
is($got[0][1], '{"event": "CACHE_INVALIDATED", "key": "after restart"}',
	'events arrive after a crash restart');
is($node->safe_psql('postgres', 'SELECT sent_async FROM cache_event_stats()'),
	'1', 'sent by a new worker');

$node->stop;
done_testing();
