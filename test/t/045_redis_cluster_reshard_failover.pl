# Redis Cluster under load: three masters and a replica of the first, an
# 8-client pgbench workload of reads, writes and invalidations, and during
# it `redis-cli --cluster reshard` of 2000 slots from the first master to
# the second, then CLUSTER FAILOVER on the replica (as an operator would:
# once the replica agrees on the slot map; retried, then FORCE, TAKEOVER).
# No transaction fails, the sync worker follows the new master, and
# afterwards every L1 entry holds what Redis holds.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextLoad;
use CachextNode;
use CachextRedis;
use PostgreSQL::Test::Utils;
use Test::More;

my @masters = qw(m1 m2 m3);
my %port = redis_create_cluster(@masters);
$port{r1} = redis_cluster_port();
redis_start_cluster_node('r1', $port{r1});
ok(wait_for(120, sub { redis_cluster_ok(@masters) }),
	'the three masters form a cluster');
my %id = map { $_ => redis_cli($_, 'CLUSTER', 'MYID') } @masters;
redis_cluster_command('add-node', "127.0.0.1:$port{r1}",
	"127.0.0.1:$port{m1}", '--cluster-slave', '--cluster-master-id', $id{m1});
ok( wait_for(120,
		sub { redis_cli('r1', 'INFO', 'replication') =~ /master_link_status:up/ }),
	'the replica follows the first master');

my $node = cachext_node(
	'cluster_load', qq{cachext.redis_url = 'redis-cluster://127.0.0.1:$port{m1},127.0.0.1:$port{m2},127.0.0.1:$port{m3}'
cachext.redis_retry_interval = 200ms
cachext.redis_timeout = 2s
cachext.redis_connect_timeout = 2s
max_connections = 40});
ok( poll_node($node,
		q{SELECT sync_resets >= 1 FROM cache_stats WHERE layer = 'l2'}),
	'the sync worker follows the cluster');

my $dir = PostgreSQL::Test::Utils::tempdir;
my @script_args = pgbench_scripts(
	$dir,
	{
		get => [ 10, q{\set id random(1, 300)
SELECT cache_get('k' || :id);} ],
		set => [ 5, q{\set id random(1, 300)
SELECT cache_set('k' || :id, to_jsonb(:id), '10 min');} ],
		invalidate => [ 2, q{\set id random(1, 300)
SELECT cache_invalidate('k' || :id);} ],
		multi => [ 2, q{\set id random(1, 290)
SELECT count(*) FROM cache_get_multi(ARRAY['k' || :id, 'k' || (:id + 5), 'k' || (:id + 9)]);} ],
	});
my $bench = pgbench_start($node, $dir, '-c', '8', '-j', '2', '-T', '60',
	'-R', '400', @script_args);
sleep 5;

# ---- A reshard of 2000 slots during the workload.
redis_cluster_command('reshard', "127.0.0.1:$port{m1}",
	'--cluster-from', $id{m1}, '--cluster-to', $id{m2},
	'--cluster-slots', '2000', '--cluster-yes');
ok(wait_for(60, sub { redis_cluster_ok(@masters) }), 'the reshard completes');
my ($m2_line) = grep { /^\Q$id{m2}\E / } split /\n/, redis_cli('m2', 'CLUSTER', 'NODES');
cmp_ok(scalar(split / /, $m2_line), '>', 9, 'the second master owns slot ranges it did not');

# ---- A master failover during the workload.
my $log_offset = -s $node->logfile;
my $mode = redis_cluster_failover('r1', 20, @masters);
ok(defined $mode, 'CLUSTER FAILOVER makes the replica a master') or diag($@);
note("the failover took CLUSTER FAILOVER $mode") if $mode;
ok( wait_for(
		30,
		sub {
			slurp_file($node->logfile, $log_offset) =~
			  /follows the new masters of the Redis cluster/;
		}),
	'the sync worker follows the new master');
ok( wait_for(
		30,
		sub {
			slurp_file($node->logfile, $log_offset) =~
			  /follows the new masters.*follows Redis' invalidation stream/s;
		}),
	'and starts its streams on the new masters');

cmp_ok(pgbench_finish($bench), '>', 1000, 'the workload ran through both');

# ---- Afterwards every L1 entry holds Redis' value.
ok(poll_node($node, q{SELECT queue_length = 0 FROM cache_stats WHERE layer = 'l2'}),
	'no invalidation is left in the queue');
l1_matches_redis($node, sub { redis_cli('m3', '-c', 'GET', $_[0]) });

$node->stop;
done_testing();
