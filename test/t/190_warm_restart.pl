# Warm restarts (cachext.l1_dump_interval): L1's hot keys are saved in the
# data directory and reloaded at start-up.
#
# 1. Without Redis, a clean restart loads the values saved at shutdown:
#    served from L1 at once, with their absolute expiries and tags; the file
#    is gone once loaded; a watched write invalidates a loaded entry.
# 2. The values are used once, and only right after the clean shutdown that
#    wrote them: a crash (-m immediate) starts cold; a saved file put back
#    after a crash, or after another clean start and stop, or damaged, is
#    not loaded.
# 3. cachext.l1_dump_interval = 0 writes nothing and loads nothing.
# 4. With Redis, the keys are reloaded from Redis: a key another instance
#    (or redis-cli) changed or removed while this one was down is served
#    as Redis has it, never as it was; Redis down at start-up leaves L1
#    cold without an error.
# 5. No read older than the table across a restart, with a writer
#    committing watched writes up to the shutdown: reads first read the
#    row, then the cache, which must never be behind (as 110_standby's
#    standby readers do), with and without Redis.
# 6. A hot standby loads its values before its startup process replays
#    the WAL: a watched write committed on the primary while the standby
#    was down removes the key it loaded.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextFreshness;
use CachextNode;
use CachextRedis;
use CachextSessions;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $dump_file = 'cachext_l1.keys';

my $setup = q{
CREATE TABLE users (id int PRIMARY KEY, name text);
INSERT INTO users VALUES (1, 'old');
SELECT cache_watch_table('users', 'USER', ARRAY['user:{id}']);
} . counters_sql(5);

sub query
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

sub l1_stat
{
	my ($node, $columns) = @_;
	return query($node, "SELECT $columns FROM cache_stats WHERE layer = 'l1'");
}

sub dump_exists { return -e $_[0]->data_dir . "/$dump_file"; }

# The node's log since $offset.
sub log_since { return slurp_file($_[0]->logfile, $_[1]); }

# ---- 1. Without Redis: the values come back.
my $node = cachext_node('warm', q{cachext.events = off});
query($node, $setup);
query($node, q{
SELECT cache_set('k:' || i, to_jsonb(i), ttl => interval '1 hour') FROM generate_series(1, 200) i;
SELECT cache_set('forever', '"no expiry"', ttl => NULL);
SELECT cache_set('tagged', '"t"', tags => ARRAY['group']);
SELECT cache_get_or_set('user:1', 'SELECT name FROM users WHERE id = 1', interval '1 hour');
SELECT cache_get('k:1') FROM generate_series(1, 5);
});
my $expiries = query($node,
	q{SELECT string_agg(key || '=' || coalesce(expires_at::text, 'none'), ',' ORDER BY key) FROM cache_entries});
my $entries = l1_stat($node, 'entries');
is($entries, '203', 'set-up: L1 holds the keys');

my $offset = -s $node->logfile;
$node->restart;
ok(!dump_exists($node), 'the file is gone once loaded');
like(log_since($node, $offset),
	qr/cachext loaded 203 of 203 L1 entries saved at the last clean shutdown/,
	'the postmaster says what it loaded');
is(l1_stat($node, 'entries'), $entries, 'L1 holds every entry after the restart');
is(query($node, q{SELECT cache_get('k:7')}), '7', 'a value is served');
is(query($node, q{SELECT cache_get('forever')}), '"no expiry"', 'one without expiry too');
is(l1_stat($node, 'hits || \' \' || misses'), '2 0', 'from L1, without a miss');
is( query($node,
		q{SELECT string_agg(key || '=' || coalesce(expires_at::text, 'none'), ',' ORDER BY key) FROM cache_entries}),
	$expiries,
	'with the expiries they had (absolute: the remaining TTLs)');
is(query($node, q{SELECT cache_invalidate_tag('group')}), '1',
	'a tag kept with its entry still finds it');
is(query($node, q{SELECT cache_get('user:1')}), '"old"', 'a watched key is loaded');
query($node, q{UPDATE users SET name = 'new' WHERE id = 1});
is(query($node, q{SELECT cache_get('user:1') IS NULL}), 't',
	'and a watched write after the warm start invalidates it');

# ---- 2. Once, and only right after the clean shutdown that wrote it.
$node->stop;
ok(dump_exists($node), 'a clean shutdown writes the file');
my $saved = slurp_file($node->data_dir . "/$dump_file");
$node->start;
query($node, q{SELECT cache_set('crash:' || i, to_jsonb(i)) FROM generate_series(1, 10) i});
$node->stop('immediate');
ok(!dump_exists($node), 'a crash writes no values');
$offset = -s $node->logfile;
$node->start;
is(l1_stat($node, 'entries'), '0', 'after a crash L1 starts cold');
unlike(log_since($node, $offset), qr/cachext loaded/, 'nothing was loaded');

sub put_back
{
	my ($node, $contents) = @_;
	open my $fh, '>:raw', $node->data_dir . "/$dump_file" or die $!;
	print $fh $contents;
	close $fh;
}

# The saved file put back after the crash: the control file says the
# cluster did not stop cleanly at the file's checkpoint.
$node->stop('immediate');
put_back($node, $saved);
$offset = -s $node->logfile;
$node->start;
is(l1_stat($node, 'entries'), '0', 'an old file put back after a crash is not loaded');
like(log_since($node, $offset),
	qr/did not load the L1 entries saved at the last shutdown.*\n.*not shut down cleanly right after it was written/,
	'the log says why');
ok(!dump_exists($node), 'and it is removed');

# Put back after another clean run: the shutdown checkpoint moved on.
$node->stop;
put_back($node, $saved);
$node->start;
is(l1_stat($node, 'entries'), '0', 'an old file put back after another clean run is not loaded');

# Damaged: one byte changed.
query($node, q{SELECT cache_set('k:' || i, to_jsonb(i)) FROM generate_series(1, 50) i});
$node->stop;
my $fresh = slurp_file($node->data_dir . "/$dump_file");
substr($fresh, 40, 1) = chr(ord(substr($fresh, 40, 1)) ^ 1);
put_back($node, $fresh);
$offset = -s $node->logfile;
$node->start;
like(log_since($node, $offset),
	qr/ignoring cachext's L1 dump file "cachext_l1.keys": its checksum does not match/,
	'a damaged file is ignored with a LOG');
is(l1_stat($node, 'entries'), '0', 'and not loaded');

# ---- 3. cachext.l1_dump_interval = 0: the cold baseline.
unlink $node->data_dir . "/$dump_file";
query($node, q{SELECT cache_set('k:' || i, to_jsonb(i)) FROM generate_series(1, 50) i});
$node->append_conf('postgresql.conf', 'cachext.l1_dump_interval = 0');
$node->reload;
$node->stop;
ok(!dump_exists($node), 'with l1_dump_interval = 0 no file is written');
$node->start;
is(l1_stat($node, 'entries'), '0', 'and nothing is loaded');

# The worker writes the key list every l1_dump_interval.
query($node, q{ALTER SYSTEM SET cachext.l1_dump_interval = '1s'; SELECT pg_reload_conf()});
query($node, q{SELECT cache_set('listed', '1')});
my $listed = 0;
for (1 .. 100)
{
	last if ($listed = dump_exists($node));
	usleep(100_000);
}
ok($listed, 'the worker writes the key list every interval');

# A dump that cannot be written is a LOG line, and the server stops as usual.
mkdir $node->data_dir . "/$dump_file.tmp" or die $!;
$offset = -s $node->logfile;
$node->stop;
like(log_since($node, $offset), qr/could not create file "cachext_l1.keys.tmp"/,
	'a dump that cannot be written is logged');
ok(!-e $node->data_dir . '/postmaster.pid', 'and the server stopped cleanly');
rmdir $node->data_dir . "/$dump_file.tmp" or die $!;

# A worker that cannot start (no max_worker_processes slot left after the
# sync worker's) is the postmaster's LOG line; the server starts.
$node->append_conf('postgresql.conf', 'max_worker_processes = 1');
$offset = -s $node->logfile;
$node->start;
is(query($node, q{SELECT cache_get('k:1') IS NULL}), 't',
	'without a slot for the dump worker, the server starts and answers');
like(log_since($node, $offset), qr/too many background workers/,
	'the postmaster says why there is no worker');
$node->append_conf('postgresql.conf', 'max_worker_processes = 8');
$node->restart;

# ---- 5a. The history check without Redis.
# Writers bump the counters in a loop until the restart ends them.
sub stale_reads_across_restart
{
	my ($node, $name) = @_;
	my $write = q{DO $$
DECLARE
    i int := 0;
BEGIN
    LOOP
        i := i % 5 + 1;
        UPDATE counters SET n = n + 1 WHERE id = i;
        COMMIT;
    END LOOP;
END $$};
	my ($reads, $stale) = (0, 0);
	my $check = sub {
		for my $reader (@_)
		{
			my ($out, $err) = finish_psql($reader);
			is($err, '', "$name: a reader ran without error");
			for my $line (split /\n/, $out)
			{
				my ($id, $in_table, $n) = split /\t/, $line;
				$reads++;
				next if $n >= $in_table;
				$stale++;
				diag("$name: stale read: counter $id was $n, the table had shown $in_table")
				  if $stale <= 10;
			}
		}
	};
	my $read = q{COPY (SELECT * FROM read_table_then_cache(3)) TO STDOUT};
	# and a session that keeps loading every counter into L1, so that L1
	# holds some when the restart comes
	my $fill = q{DO $$
BEGIN
    LOOP
        PERFORM cache_get_or_set('c:' || i, 'SELECT n FROM counters WHERE id = $1::int',
                                 interval '1 hour', i::text)
           FROM generate_series(1, 5) i;
    END LOOP;
END $$};
	my @writers = map { start_psql($node, $_) } ($write, $write, $fill);
	$check->(map { start_psql($node, $read) } 1 .. 2);
	# the restart ends the writers and the filler mid-loop: their last
	# commits and loads go right before the shutdown
	$node->restart;
	finish_psql($_) for @writers;
	# before anyone writes again: what L1 holds equals the rows
	note("$name: "
		  . query($node, q{SELECT count(*) FROM cache_entries WHERE key LIKE 'c:%'})
		  . ' counters in L1 right after the restart');
	is( query($node,
			q{SELECT count(*) FROM cache_entries e JOIN counters c ON e.key = 'c:' || c.id
			  WHERE cache_get(e.key)::int <> c.n}),
		'0',
		"$name: right after the restart, every counter L1 holds equals its row");
	@writers = map { start_psql($node, $write) } 1 .. 2;
	$check->(map { start_psql($node, $read) } 1 .. 2);
	query($node, q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'DO $$%' AND pid <> pg_backend_pid()});
	finish_psql($_) for @writers;
	cmp_ok($reads, '>', 100, "$name: the readers read ($reads reads)");
	is($stale, 0, "$name: no read older than the table across the restart ($stale of $reads)");
	is( query($node,
			q{SELECT count(*) FROM counters c WHERE cache_get('c:' || c.id) IS NOT NULL AND cache_get('c:' || c.id)::int <> c.n}),
		'0',
		"$name: at rest, every cached counter equals its row");
}

query($node, q{ALTER SYSTEM RESET cachext.l1_dump_interval; SELECT pg_reload_conf()});
$node->append_conf('postgresql.conf', 'cachext.l1_dump_interval = 300');
$node->restart;
stale_reads_across_restart($node, 'without Redis');
$node->stop;

# ---- 6. A hot standby without Redis: what it loads at start-up is then
# replayed over, and a watched write the primary committed while the
# standby was down removes its key.
my $primary = PostgreSQL::Test::Cluster->new('warm_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', q{
shared_preload_libraries = 'cachext'
cachext.events = off});
$primary->start;
query($primary, 'CREATE EXTENSION cachext');
query($primary, $setup);
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('warm_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
# a standby stores no load of its own: its L1 holds what cache_set puts there
query($standby, q{SELECT cache_set('user:1', '"old"'), cache_set('other', '"kept"')});
$standby->stop;
ok(dump_exists($standby), 'a standby\'s clean shutdown writes the file');
query($primary, q{UPDATE users SET name = 'newer' WHERE id = 1});
$offset = -s $standby->logfile;
$standby->start;
like(log_since($standby, $offset), qr/cachext loaded 2 of 2 L1 entries/,
	'the standby loads the values');
$primary->wait_for_catchup($standby);
is(query($standby, q{SELECT name FROM users WHERE id = 1}), 'newer',
	'set-up: the standby replayed the write');
is(query($standby, q{SELECT cache_get('user:1') IS NULL}), 't',
	'the write the primary committed meanwhile removed its key from what the standby loaded');
is(query($standby, q{SELECT cache_get('other')}), '"kept"', 'the other key is served');
$standby->stop;
$primary->stop;

# ---- 4. With Redis: reloaded from Redis, as Redis has it now.
my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('warm', $redis_port);
my $url = "redis://127.0.0.1:$redis_port";
my $conf = qq{cachext.redis_url = '$url'
cachext.redis_retry_interval = 100ms
cachext.events = off};
my $a = cachext_node('warm_a', $conf);
my $b = cachext_node('warm_b', $conf);
query($a, $setup);

sub following
{
	my ($node) = @_;
	$node->poll_query_until('postgres',
		q{SELECT coherence = 'tracking' FROM cache_stats WHERE layer = 'l2'})
	  or die 'set-up: the sync worker does not follow the stream';
}
following($a);
query($a, q{SELECT cache_set('r:' || i, to_jsonb(i)) FROM generate_series(1, 100) i});
# a second database, in its own namespace
query($a, q{CREATE DATABASE shop});
$a->safe_psql('shop', 'CREATE EXTENSION cachext');
query($a, q{ALTER DATABASE shop SET cachext.namespace = 'shop:'});
$a->safe_psql('shop', q{SELECT cache_set('r:1', '"shop one"')});
$a->stop;
ok(dump_exists($a), 'with Redis, a clean shutdown writes the key list');
query($b, q{SELECT cache_set('r:1', '"changed"')});
redis_cli('warm', 'SET', 'cache:r:2', '"by redis-cli"');
redis_cli('warm', 'UNLINK', 'cache:r:3');
$offset = -s $a->logfile;
$a->start;
$a->wait_for_log(qr/cachext reloaded L1 from Redis: 101 keys read/, $offset);
ok(1, 'the worker reloads the keys from Redis');
is(l1_stat($a, 'entries'), '100', 'L1 holds what Redis still has');
query($a, q{SELECT cache_stats_reset()});
is(query($a, q{SELECT cache_get('r:50')}), '50', 'a reloaded key is served');
is($a->safe_psql('shop', q{SELECT cache_get('r:1')}), '"shop one"',
	'so is one of another database\'s namespace');
is(l1_stat($a, 'hits || \' \' || misses'), '2 0', 'from L1');
is(query($a, q{SELECT cache_get('r:1')}), '"changed"',
	'a key another instance changed meanwhile has its new value');
is(query($a, q{SELECT cache_get('r:2')}), '"by redis-cli"',
	'so has one a plain Redis client changed');
is(query($a, q{SELECT cache_get('r:3') IS NULL}), 't',
	'and one unlinked meanwhile is a miss');

# ---- 5b. The history check with Redis.
stale_reads_across_restart($a, 'with Redis');

# Redis down at start-up: the start completes, L1 is cold, reads answer.
$a->stop;
redis_kill('warm');
$offset = -s $a->logfile;
$a->start;
my ($rc, $out, $err) = $a->psql('postgres', q{SELECT cache_get('r:50') IS NULL});
is("$rc|$out", '0|t', 'Redis down at start-up: a read is a miss');
unlike($err, qr/ERROR/, 'without an error (a WARNING says Redis cannot be used)');
$a->wait_for_log(qr/cachext did not reload L1 from Redis|cachext stopped reloading L1 from Redis/,
	$offset);
ok(1, 'the worker gives the reload up with a LOG');
is(l1_stat($a, 'entries'), '0', 'L1 is cold');

$a->stop;
$b->stop;
done_testing();
