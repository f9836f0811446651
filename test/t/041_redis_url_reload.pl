# cachext.redis_url changed with a reload while 8 pgbench clients use the
# cache: no transaction fails, writes made after the switch land in the new
# Redis and none in the old one, and the old Redis loses every connection.
# Then the queue: invalidations queued while the current Redis was down are
# replayed into the Redis the URL names when they are replayed (the new
# one), which is the safe side.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextLoad;
use CachextNode;
use CachextRedis;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my %port = map { $_ => PostgreSQL::Test::Cluster::get_free_port() } qw(first second);
redis_start($_, $port{$_}) for qw(first second);

my $node = cachext_node(
	'reload', qq{cachext.redis_url = 'redis://127.0.0.1:$port{first}'
cachext.redis_retry_interval = 250ms
log_statement = none});

sub l2_stat
{
	my ($column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM cache_stats WHERE layer = 'l2'");
}

sub poll
{
	my ($query) = @_;
	return poll_node($node, $query);
}

# Calls of a Redis command so far, from INFO commandstats.
sub calls
{
	my ($name, $command) = @_;
	my ($n) = redis_cli($name, 'INFO', 'commandstats') =~ /cmdstat_$command:calls=(\d+)/;
	return $n // 0;
}

sub switch_to
{
	my ($name) = @_;
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET cachext.redis_url = 'redis://127.0.0.1:$port{$name}'; SELECT pg_reload_conf()");
}

# ---- Under load: every function, keys k1..k100.
my $dir = PostgreSQL::Test::Utils::tempdir;
my %scripts = (
	get => [ 6, q{\set id random(1, 100)
SELECT cache_get('k' || :id);} ],
	set => [ 4, q{\set id random(1, 100)
SELECT cache_set('k' || :id, to_jsonb(:id), '1 min');} ],
	get_or_set => [ 3, q{\set id random(1, 100)
SELECT cache_get_or_set('g' || :id, 'SELECT to_jsonb($1::int)', '1 min', (:id)::text);} ],
	invalidate => [ 2, q{\set id random(1, 100)
SELECT cache_invalidate('k' || :id);} ],);
my $bench = pgbench_start($node, $dir, '-c', '8', '-j', '2', '-T', '15', '-R', '1000',
	pgbench_scripts($dir, \%scripts));

sleep 5;
cmp_ok(calls('first', 'set'), '>', 100, 'the load writes to the first Redis');
is(calls('second', 'set'), 0, 'and not to the second');
my $resets = l2_stat('sync_resets');
switch_to('second');
ok(poll("SELECT sync_resets > $resets FROM cache_stats WHERE layer = 'l2'"),
	'the sync worker restarts its stream, emptying L1');
# every client backend reloads before its next statement
sleep 1;
my %first = map { $_ => calls('first', $_) } qw(set unlink get);
my $second_sets = calls('second', 'set');
sleep 4;
cmp_ok(calls('second', 'set'), '>', $second_sets + 100,
	'after the switch the load writes to the second Redis');
is(calls('first', $_), $first{$_}, "and sends no $_ to the first")
  for qw(set unlink get);
# redis-cli itself is the only client left on the first Redis
my @clients = split /\n/, redis_cli('first', 'CLIENT', 'LIST');
is(scalar @clients, 1, 'the first Redis has lost every cachext connection')
  or diag(join "\n", @clients);

my $done = pgbench_finish($bench);
cmp_ok($done, '>', 5000, "the load ran ($done transactions)");

# ---- Queued invalidations across a switch.  The second Redis (now in
# use) dies, three invalidations are queued, and the URL goes back to the
# first Redis, which holds those keys: the queue is replayed there.
redis_cli('first', 'SET', "cache:q$_", '1') for 1 .. 3;
redis_kill('second');
$node->safe_psql('postgres',
	q{SET client_min_messages = error;
SELECT cache_invalidate('q' || i) FROM generate_series(1, 3) i});
is(l2_stat('queue_length'), '3', 'invalidations are queued while Redis is down');
my $replayed = l2_stat('invalidations_replayed');
switch_to('first');
ok(poll(q{SELECT queue_length = 0 FROM cache_stats WHERE layer = 'l2'}),
	'after the switch the queue is replayed');
is(l2_stat("invalidations_replayed - $replayed"), '3', 'all three invalidations');
is(redis_cli('first', 'EXISTS', map { "cache:q$_" } 1 .. 3),
	'0', 'into the Redis the URL now names');

my @errors = grep { /\b(ERROR|FATAL|PANIC):/ } split /\n/, slurp_file($node->logfile);
is(scalar @errors, 0, 'no ERROR in the server log') or diag(join "\n", @errors);
$node->stop;
done_testing();
