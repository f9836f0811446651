# After a Sentinel failover, every backend follows the new master at its
# next command, including one connected before the failover, while the old
# master is still up and still says it is a master (a manual failover, or a
# partition that Sentinel's demotion cannot cross).  Here the old master
# refuses REPLICAOF (the command is renamed away), so Sentinel can never
# demote it: it stays a master that nothing replicates from, and every write
# sent to it is lost for every other instance.
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
redis_start('one', $port{one}, '--rename-command', 'REPLICAOF', '',
	'--rename-command', 'SLAVEOF', '');
redis_start('two', $port{two}, '--replicaof', '127.0.0.1', $port{one});
redis_start_sentinel($_, $port{$_}, $service, $port{one}) for qw(s1 s2 s3);


redis_sentinels_ready('s1', $service, $port{two});

# The role Redis server $name reports.
sub role
{
	my ($name) = @_;
	return (split /\n/, redis_cli($name, 'ROLE'))[0] // '';
}

my $sentinels = join ',', map { "127.0.0.1:$port{$_}" } qw(s1 s2 s3);
my $node = cachext_node(
	'follow', qq{cachext.redis_url = 'redis-sentinel://$sentinels/$service'
cachext.redis_retry_interval = 200ms
cachext.redis_timeout = 2s});
ok( poll_node($node,
		q{SELECT sync_resets >= 1 FROM cache_stats WHERE layer = 'l2'}),
	'the sync worker follows the master found through Sentinel');

sub l2_stat
{
	my ($column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM cache_stats WHERE layer = 'l2'");
}

# ---- A backend connects to the first master.
my $backend = $node->background_psql('postgres');
$backend->query_safe(q{SELECT cache_set('before', '1')});
is(redis_cli('one', 'GET', 'cache:before'), '1',
	'a backend connected through Sentinel writes to the first master');

# ---- Sentinel fails over to the replica; the first master stays a master.
# SENTINEL FAILOVER is refused while a failover is under way or the
# replica is not yet usable (NOGOODSLAVE): asked again until accepted.
my $log_offset = -s $node->logfile;
wait_for(60,
	sub { redis_cli('s1', 'SENTINEL', 'FAILOVER', $service) eq 'OK' })
  or redis_setup_failed('SENTINEL FAILOVER was never accepted');
wait_for(60,
	sub {
		!grep { redis_sentinel_master_port($_, $service) ne $port{two} }
		  qw(s1 s2 s3);
	})
  or redis_setup_failed('the Sentinels do not all name the replica as the new master');
wait_for(30, sub { role('two') eq 'master' })
  or redis_setup_failed('the replica did not become a master');
role('one') eq 'master'
  or redis_setup_failed('the first master was demoted although it refuses REPLICAOF');

# The instance learns of the new master: the sync worker hears
# +switch-master and follows the new master's stream.
ok( wait_for(
		30,
		sub {
			slurp_file($node->logfile, $log_offset) =~
			  /cachext sync worker follows a new Redis master.*cachext sync worker follows Redis' invalidation stream/s;
		}),
	'the sync worker followed +switch-master to the new master');

# ---- The backend connected before the failover: each of its next writes
# goes to the new master, none to the old one (still a master, so it
# accepts them without a word).
my ($sets, $errors) = split /\|/, l2_stat('sets, errors');
for my $i (1 .. 5)
{
	$backend->query_safe("SELECT cache_set('after$i', '$i')");
}
is( join(',', map { redis_cli('two', 'GET', "cache:after$_") } 1 .. 5),
	'1,2,3,4,5',
	'every write of the backend connected before the failover lands on the new master');
is( join(',', map { redis_cli('one', 'GET', "cache:after$_") } 1 .. 5),
	',,,,',
	'none lands on the old master');
my ($sets_now, $errors_now) = split /\|/, l2_stat('sets, errors');
is($sets_now - $sets, 5, 'cache_stats counts the five writes');
is($errors_now - $errors, 0, 'and no error: none was refused or lost');
role('one') eq 'master'
  or redis_setup_failed('the first master was demoted during the writes');

# ---- A new backend goes to the new master too.
$node->safe_psql('postgres', q{SELECT cache_set('fresh', '7')});
is(redis_cli('two', 'GET', 'cache:fresh'), '7',
	'a new backend writes to the new master');
$backend->quit;

done_testing();
