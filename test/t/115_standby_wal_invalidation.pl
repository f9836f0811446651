# A hot standby never serves a value older than its own tables: a watched
# write's invalidations travel in the WAL (src/wal_invalidation.c), and the
# standby's replay removes them from its L1 before the commit record that
# makes the new rows visible there.  Redis' tracking stream, the other way a
# standby's L1 learns of writes, is held throughout: the standby's sync
# worker is stopped (SIGSTOP), so only the WAL can invalidate.
#
# 1. A key: the standby's L1 holds the old value, the primary updates the
#    row; once the standby has replayed the commit, its reads of the key
#    return no old value.  The record precedes its transaction's commit
#    record (pg_walinspect), and pg_waldump shows it as custom128.
#    1b. A bulk UPDATE's 40 000 keys are cut into records under 256 kB.
# 2. A writer paused between its fence and its commit record (the pause
#    point of test builds): the standby replays the invalidation record and
#    not yet the commit; its L1 no longer holds the key, and a load there
#    reads the old row, returns it, and stores it nowhere; after the commit
#    replays, the new value.
# 3. TRUNCATE's patterns and 4. the tags of tag: templates, as in 1.
#    4b. The primary out of reach of Redis at its pre-commit: the standby
#    reads no Redis until it has unlinked the record's key there.
# 5. A standby without cachext preloaded stops at the first such record,
#    with core's message naming the resource manager; preloaded again, it
#    replays on.
# 6. Crash recovery on the primary replays the records quietly.
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

my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('walinv', $redis_port);

my $primary = cachext_node(
	'primary', qq{cachext.redis_url = 'redis://127.0.0.1:$redis_port'
cachext.events = off}, allows_streaming => 1);
$primary->safe_psql(
	'postgres', q{
CREATE TABLE users (id int PRIMARY KEY, name text);
INSERT INTO users VALUES (1, 'old'), (2, 'old'), (3, 'old');
SELECT cache_watch_table('users', 'USER', ARRAY['u:{id}']);
CREATE TABLE logs (id int PRIMARY KEY);
INSERT INTO logs VALUES (1);
SELECT cache_watch_table('logs', 'LOG', ARRAY['l:{id}']);
CREATE TABLE items (id int PRIMARY KEY, v int);
INSERT INTO items VALUES (1, 0);
SELECT cache_watch_table('items', 'ITEM', ARRAY['i:{id}', 'tag:items']);
CREATE TABLE bulk (id int PRIMARY KEY, v int);
INSERT INTO bulk SELECT i, 0 FROM generate_series(1, 40000) i;
SELECT cache_watch_table('bulk', 'BULK', ARRAY['b:{id}']);
CREATE TABLE unwatched (id int);
CREATE EXTENSION pg_walinspect;
SELECT pg_create_physical_replication_slot('standby');});

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', "primary_slot_name = 'standby'");
$standby->start;
$primary->wait_for_catchup($standby);
is( $standby->safe_psql(
		'postgres',
		q{SELECT rm_id, rm_builtin FROM pg_get_wal_resource_managers() WHERE rm_name = 'cachext'}),
	'128|f',
	'cachext registers its WAL resource manager, ID 128');

# The standby's sync worker: the postmaster's child whose title says so.
sub sync_worker_pid
{
	for (1 .. 100)
	{
		my $postmaster = $standby->{_pid};
		my ($pid) = map { /^\s*(\d+)/ ? $1 : () }
		  grep { /cachext sync/ } `ps -o pid=,args= --ppid $postmaster`;
		return $pid if $pid;
		usleep(100_000);
	}
	die 'set-up: the standby has no sync worker';
}
$standby->poll_query_until('postgres',
	q{SELECT sync_resets >= 1 FROM cache_stats WHERE layer = 'l2'})
  or die 'set-up: the standby\'s sync worker does not follow the stream';
my $sync_pid = sync_worker_pid();

# Waits until the standby has replayed everything the primary flushed.
sub wait_for_replay
{
	my $lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
	$standby->poll_query_until('postgres',
		"SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")
	  or die "set-up: the standby did not replay up to $lsn";
}

# How many entries of key the standby's L1 holds (0 or 1).
sub standby_l1_holds
{
	my ($key) = @_;
	return $standby->safe_psql('postgres',
		"SELECT count(*) FROM cache_entries WHERE key = '$key'");
}

# cache_get_or_set of user id's name on node, key u:<id>.
sub load_name
{
	my ($node, $id) = @_;
	return $node->safe_psql('postgres',
		"SELECT cache_get_or_set('u:$id', 'SELECT name FROM users WHERE id = $id', '1h')");
}

# Holds the stream, then has the standby promote key from Redis into its
# L1 (stopped, the worker cannot relay the echo of the primary's write).
sub hold_stream_and_promote
{
	my ($key) = @_;
	kill 'STOP', $sync_pid;
	$standby->safe_psql('postgres', "SELECT cache_get('$key')");
	die "set-up: the standby did not promote $key into its L1"
	  unless standby_l1_holds($key) eq '1';
}

sub release_stream
{
	kill 'CONT', $sync_pid;
}

# With the standby's L1 holding key and the stream held, runs $write on the
# primary; once the standby has replayed it ($table_query shows
# $table_value), the standby serves no copy of key from before the write.
sub replayed_write_evicts
{
	my ($key, $write, $table_query, $table_value, $what) = @_;
	hold_stream_and_promote($key);
	$primary->safe_psql('postgres', $write);
	wait_for_replay();
	is($standby->safe_psql('postgres', $table_query),
		$table_value, "$what: the standby has replayed the write");
	is(standby_l1_holds($key), '0',
		"$what: its L1 no longer holds $key, with the stream held");
	is($standby->safe_psql('postgres', "SELECT cache_get('$key') IS NULL"),
		't', "$what: cache_get('$key') returns no old value");
	release_stream();
}

# ---- 1. A key.
load_name($primary, 1);
wait_for_replay();
my $start_lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
replayed_write_evicts('u:1', q{UPDATE users SET name = 'new' WHERE id = 1},
	q{SELECT name FROM users WHERE id = 1}, 'new', 'UPDATE');
is(load_name($standby, 1), '"new"',
	'cache_get_or_set on the standby returns the new name');
my $end_lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
is( $primary->safe_psql(
		'postgres', qq{SELECT string_agg(resource_manager || ' ' || record_type || ': ' || description, '; ' ORDER BY start_lsn)
  FROM pg_get_wal_records_info('$start_lsn', '$end_lsn') r
 WHERE resource_manager IN ('cachext', 'Transaction')
   AND xid = (SELECT xid FROM pg_get_wal_records_info('$start_lsn', '$end_lsn')
               WHERE resource_manager = 'cachext')}) =~ s/(COMMIT): .*/$1/r,
	'cachext INVALIDATE: namespace "cache:"; 1 keys, 0 patterns, 0 tags; Transaction COMMIT',
	'the UPDATE wrote its key to the WAL before its commit record');
my ($waldump) = run_command(
	[ 'pg_waldump', '-p', $primary->data_dir . '/pg_wal', '-s', $start_lsn, '-e', $end_lsn ]);
like($waldump, qr/^rmgr: custom128 /m, 'pg_waldump shows the record as custom128');

# ---- 1b. A bulk UPDATE: each record holds a 20-byte header, the namespace
# and, per key, 4 bytes of length and the key; a record is cut once it,
# with the namespace counted once more per key (replay's full keys),
# reaches 256 kB.
$start_lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
$primary->safe_psql('postgres', 'UPDATE bulk SET v = 1');
$end_lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
my $header_bytes = 20 + length('cache:');
my ($records, $record_bytes, $record_keys, $total_bytes) = (1, $header_bytes, 0, 0);
for my $id (1 .. 40000)
{
	if ($record_bytes + $record_keys * length('cache:') >= 256 * 1024)
	{
		$total_bytes += $record_bytes;
		($records, $record_bytes, $record_keys) = ($records + 1, $header_bytes, 0);
	}
	$record_bytes += 4 + length("b:$id");
	$record_keys++;
}
$total_bytes += $record_bytes;
is( $primary->safe_psql(
		'postgres', qq{SELECT count(*), sum(main_data_length), max(main_data_length) < 256 * 1024
  FROM pg_get_wal_records_info('$start_lsn', '$end_lsn') WHERE resource_manager = 'cachext'}),
	"$records|$total_bytes|t",
	"40 000 keys take $records records under 256 kB, 4 bytes a key beside it");
wait_for_replay();
is($standby->safe_psql('postgres', 'SELECT sum(v) FROM bulk'),
	'40000', 'the standby replays them');

# ---- 2. Replay between the invalidation record and the commit record: the
# writer waits after its fence (and its record) for an advisory lock.
SKIP:
{
	skip 'cachext was built without TEST_BUILD=1 (scripts/test builds it with)', 8
	  unless $primary->safe_psql('postgres',
		q{SELECT count(*) FROM pg_settings WHERE name = 'cachext.test_pause_after_fence'})
	  eq '1';
	load_name($primary, 2);
	wait_for_replay();
	hold_stream_and_promote('u:2');

	my %holder = (in => '', out => '', err => '');
	$holder{h} = IPC::Run::start([ 'psql', '-XAtq', '-d', $primary->connstr('postgres') ],
		'<', \$holder{in}, '>', \$holder{out}, '2>', \$holder{err});
	$holder{in} .= "SELECT pg_advisory_lock(4343);\nSELECT 'locked';\n";
	$holder{h}->pump until $holder{out} =~ /locked/;
	my $writer = start_psql($primary,
		q{SET cachext.test_pause_after_fence = 4343; UPDATE users SET name = 'new' WHERE id = 2},
		'paused');
	$primary->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'paused' AND wait_event = 'advisory'})
	  or die 'set-up: the writer did not pause after its fence';
	# Another commit flushes the WAL, the paused writer's record with it.
	$primary->safe_psql('postgres', 'INSERT INTO unwatched VALUES (1)');
	wait_for_replay();
	is($standby->safe_psql('postgres', q{SELECT name FROM users WHERE id = 2}),
		'old', 'paused before its commit record: the standby shows the old row');
	is(standby_l1_holds('u:2'), '0',
		'but has replayed the invalidation: its L1 no longer holds the key');
	is(load_name($standby, 2), '"old"', 'a load on the standby reads the old row');
	is(standby_l1_holds('u:2'), '0', 'and stores it not in L1');
	is(redis_cli('walinv', 'EXISTS', 'cache:u:2'), '0', 'nor in Redis');

	$holder{in} .= "SELECT pg_advisory_unlock(4343);\n\\q\n";
	$holder{h}->finish;
	my (undef, $err) = finish_psql($writer);
	is($err, '', 'the paused writer committed');
	wait_for_replay();
	is($standby->safe_psql('postgres', q{SELECT cache_get('u:2') IS NULL}),
		't', 'after the commit replays, cache_get returns no old value');
	is(load_name($standby, 2), '"new"', 'and cache_get_or_set the new name');
	release_stream();
}

# ---- 3. TRUNCATE's patterns.
$primary->safe_psql('postgres', q{SELECT cache_set('l:1', '"kept"')});
replayed_write_evicts('l:1', 'TRUNCATE logs', 'SELECT count(*) FROM logs', '0',
	'TRUNCATE');

# ---- 4. The tag of a tag: template: a key stored with the tag, which the
# standby's L1 holds promoted (without its tags).
$primary->safe_psql('postgres',
	q{SELECT cache_get_or_set_tagged('items:sum', 'SELECT sum(v) FROM items', '1h', ARRAY['items'])});
wait_for_replay();
replayed_write_evicts('items:sum', 'UPDATE items SET v = 5 WHERE id = 1',
	'SELECT sum(v) FROM items', '5', 'tag');

# ---- 4b. The primary cannot reach Redis at its pre-commit: Redis keeps the
# old value, and the record says so; the standby queues the key and reads no
# Redis until it has unlinked the key there itself.
load_name($primary, 3);
wait_for_replay();
my $dead_port = PostgreSQL::Test::Cluster::get_free_port();
$primary->safe_psql('postgres',
	"ALTER SYSTEM SET cachext.redis_url = 'redis://127.0.0.1:$dead_port'; SELECT pg_reload_conf()");
$primary->poll_query_until('postgres',
	"SELECT current_setting('cachext.redis_url') LIKE '%:$dead_port'")
  or die 'set-up: the primary did not take the unreachable Redis URL';
$start_lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
$primary->safe_psql('postgres', q{UPDATE users SET name = 'new' WHERE id = 3});
$end_lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
is( $primary->safe_psql(
		'postgres', qq{SELECT description FROM pg_get_wal_records_info('$start_lsn', '$end_lsn')
 WHERE resource_manager = 'cachext'}),
	'namespace "cache:"; 1 keys, 0 patterns, 0 tags; Redis behind',
	'Redis out of reach at pre-commit: the record says Redis is behind');
die 'set-up: Redis lost the old value by itself'
  unless redis_cli('walinv', 'GET', 'cache:u:3') eq '"old"';
wait_for_replay();
is($standby->safe_psql('postgres', q{SELECT cache_get('u:3') IS NULL}),
	't', 'the standby does not read the old value Redis still holds');
is(redis_cli('walinv', 'EXISTS', 'cache:u:3'), '0',
	'it unlinked the key in Redis first');
$primary->safe_psql('postgres',
	'ALTER SYSTEM RESET cachext.redis_url; SELECT pg_reload_conf()');

# ---- 5. A standby without the preload.
$standby->stop;
$standby->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$primary->safe_psql('postgres', q{UPDATE users SET name = 'newer' WHERE id = 1});
my $log_offset = -s $standby->logfile;
$standby->start(fail_ok => 1);
$standby->wait_for_log(qr/resource manager with ID 128 not registered/, $log_offset);
ok(1, 'a standby without cachext preloaded stops at its first record');
my $down = 0;
for (1 .. 100)
{
	last if ($down = !-e $standby->data_dir . '/postmaster.pid');
	usleep(100_000);
}
ok($down, 'and shuts down');
$standby->_update_pid(0);
$standby->append_conf('postgresql.conf', "shared_preload_libraries = 'cachext'");
$standby->start;
wait_for_replay();
is($standby->safe_psql('postgres', q{SELECT name FROM users WHERE id = 1}),
	'newer', 'preloaded again, it replays on');

# ---- 6. Crash recovery replays the records on the primary itself, into
# its fresh L1, without a word.
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->safe_psql('postgres', q{UPDATE users SET name = 'newest' WHERE id = 1});
$primary->stop('immediate');
$log_offset = -s $primary->logfile;
$primary->start;
is($primary->safe_psql('postgres', q{SELECT name FROM users WHERE id = 1}),
	'newest', 'the primary recovers from a crash after a watched write');
my $recovery_log = slurp_file($primary->logfile, $log_offset);
my ($redo_start, $redo_end) =
  $recovery_log =~ m{redo starts at (\S+).*redo done at (\S+)}s
  or die 'set-up: the primary did not replay WAL after its crash';
is( $primary->safe_psql(
		'postgres', qq{SELECT count(*) FROM pg_get_wal_records_info('$redo_start', '$redo_end')
 WHERE resource_manager = 'cachext'}),
	'1',
	'having replayed the write\'s record');
# (The standby's connection attempts meanwhile may log FATALs of their own.)
unlike($recovery_log, qr/WARNING|ERROR|PANIC/,
	'without a warning or an error (cachext empties L1 with a WARNING when replay fails)');

$standby->stop;
$primary->stop;
done_testing();
