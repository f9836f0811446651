# Redis behind Sentinel (redis-sentinel://): a master, a replica and three
# Sentinels on loopback, with passwords on both the data nodes (the URL's)
# and the Sentinels (cachext.redis_sentinel_password).  SENTINEL FAILOVER
# during a 16-client pgbench run costs no transaction; writes after it land
# on the new master; the sync worker follows +switch-master; and
# invalidations queued while the master is unreachable are replayed to the
# master that replaces it.
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

my $service = 'cachext';
my %port = map { $_ => PostgreSQL::Test::Cluster::get_free_port() }
  qw(one two s1 s2 s3);
my @data_auth = ('--requirepass', 'datapw', '--masterauth', 'datapw');
for my $name (qw(one two))
{
	$redis{$name}{auth} = [ '-a', 'datapw', '--no-auth-warning' ];
}
redis_start('one', $port{one}, @data_auth);
redis_start('two', $port{two}, @data_auth, '--replicaof', '127.0.0.1',
	$port{one});
for my $s (qw(s1 s2 s3))
{
	$redis{$s}{auth} = [ '-a', 'sentpw', '--no-auth-warning' ];
	redis_start_sentinel($s, $port{$s}, $service, $port{one},
		"sentinel auth-pass $service datapw", 'requirepass sentpw');
}

sub master_port
{
	my ($out) = redis_cli('s1', 'SENTINEL', 'get-master-addr-by-name', $service);
	return (split /\n/, $out)[1] // '';
}

ok( wait_for(60, sub { redis_cli('s1', 'SENTINEL', 'ckquorum', $service) =~ /^OK/ }),
	'the three Sentinels see each other and the master');
ok( wait_for(30,
		sub { redis_cli('s1', 'SENTINEL', 'replicas', $service) =~ /$port{two}/ }),
	'the Sentinels know the replica');

my $sentinels = join ',', map { "127.0.0.1:$port{$_}" } qw(s1 s2 s3);
my $node = cachext_node(
	'sentinel', qq{cachext.redis_url = 'redis-sentinel://:datapw\@$sentinels/$service'
cachext.redis_sentinel_password = 'sentpw'
cachext.redis_retry_interval = 200ms
cachext.redis_timeout = 500ms
cachext.redis_connect_timeout = 500ms
max_connections = 40});
ok( poll_node($node,
		q{SELECT sync_resets >= 1 FROM cache_stats WHERE layer = 'l2'}),
	'the sync worker follows the master found through Sentinel');

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub l2_stat
{
	my ($column) = @_;
	return sql("SELECT $column FROM cache_stats WHERE layer = 'l2'");
}

# Which of our two servers a port is.
my %name_of = ($port{one} => 'one', $port{two} => 'two');

# ---- Through Sentinel, values go to the master.
sql(q{SELECT cache_set('before', '1')});
is(redis_cli('one', 'GET', 'cache:before'), '1',
	'a value set through Sentinel lands on the master');

# ---- SENTINEL FAILOVER under a 16-client workload.
my $dir = PostgreSQL::Test::Utils::tempdir;
my @script_args = pgbench_scripts(
	$dir,
	{
		get => [ 10, q{\set id random(1, 200)
SELECT cache_get('k' || :id);} ],
		set => [ 5, q{\set id random(1, 200)
SELECT cache_set('k' || :id, to_jsonb(:id), '1 min');} ],
		invalidate => [ 2, q{\set id random(1, 200)
SELECT cache_invalidate('k' || :id);} ],
	});
my $bench = pgbench_start($node, $dir, '-c', '16', '-j', '2', '-T', '20',
	'-R', '800', @script_args);
sleep 5;
my $log_offset = -s $node->logfile;
is(redis_cli('s1', 'SENTINEL', 'FAILOVER', $service), 'OK', 'SENTINEL FAILOVER');
ok(wait_for(60, sub { master_port() eq $port{two} }),
	'the Sentinels name the replica as the new master');
cmp_ok(pgbench_finish($bench), '>', 1000, 'the workload ran through the failover');

ok( wait_for(
		30,
		sub {
			slurp_file($node->logfile, $log_offset) =~
			  /cachext sync worker follows a new Redis master/;
		}),
	'the sync worker followed +switch-master');

# Sets $key to the JSON text $json through cachext until Redis server $name
# holds it: right after a failover a write may meet an open breaker.
sub set_lands_on
{
	my ($name, $key, $json) = @_;
	return wait_for(
		30,
		sub {
			sql("SELECT cache_set('$key', '$json')");
			redis_cli($name, 'GET', "cache:$key") eq $json;
		});
}

# ---- Writes after the failover land on the new master.
ok(set_lands_on('two', 'after', '"new"'),
	'a write after the failover lands on the new master');

# ---- Invalidations queued while the master cannot be reached are
# replayed to the master that replaces it.
ok(set_lands_on('one', 'queued', '"stale"'),
	'a value reaches both servers (the master and its replica)');
kill 'STOP', $redis{two}{pid};
sql('SELECT cache_stats_reset()');
my ($ret, $out, $err) =
  $node->psql('postgres', q{SELECT cache_invalidate('queued')});
is($ret, 0, 'an invalidation while the master is stopped is no error');
ok(wait_for(60, sub { master_port() eq $port{one} }),
	'the Sentinels fail over to the other server');
ok( wait_for(
		30,
		sub {
			l2_stat('queue_length') eq '0'
			  && redis_cli('one', 'GET', 'cache:queued') eq '';
		}),
	'the queued invalidation was replayed to the new master');
cmp_ok(l2_stat('invalidations_replayed'), '>=', 1, 'the replay is counted');
is(sql(q{SELECT cache_get('queued') IS NULL}), 't',
	'no instance serves the invalidated value');
kill 'CONT', $redis{two}{pid};

done_testing();
