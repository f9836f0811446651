# An invalidation the old master acknowledged but never replicated is not
# lost in a Sentinel failover: when the instance learns of the new master
# it replays what it changed lately as invalidations there (l2_journal.c).
# Set-up: the replica's link is cut (a wrong masterauth, the link killed),
# cache_invalidate reaches the master alone, the master is killed, and
# Sentinel promotes the replica, which still holds the old value.
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
$redis{$_}{auth} = [ '-a', 'datapw', '--no-auth-warning' ] for qw(one two);
redis_start('one', $port{one}, @data_auth);
redis_start('two', $port{two}, @data_auth, '--replicaof', '127.0.0.1',
	$port{one});
redis_start_sentinel($_, $port{$_}, $service, $port{one},
	"sentinel auth-pass $service datapw")
  for qw(s1 s2 s3);


redis_sentinels_ready('s1', $service, $port{two});

my $sentinels = join ',', map { "127.0.0.1:$port{$_}" } qw(s1 s2 s3);
my $node = cachext_node(
	'lost', qq{cachext.redis_url = 'redis-sentinel://:datapw\@$sentinels/$service'
cachext.redis_retry_interval = 200ms
cachext.redis_timeout = 2s});
ok( poll_node($node,
		q{SELECT sync_resets >= 1 FROM cache_stats WHERE layer = 'l2'}),
	'the sync worker follows the master found through Sentinel');

sub sql { return $node->safe_psql('postgres', $_[0]); }

# ---- A value reaches the master and its replica.
sql(q{SELECT cache_set('j', '"old"')});
wait_for(30, sub { redis_cli('two', 'GET', 'cache:j') eq '"old"' })
  or redis_setup_failed('the value set on the master never reached the replica');

# ---- The replica's link is cut: it cannot authenticate when it reconnects.
redis_cli('two', 'CONFIG', 'SET', 'masterauth', 'wrong') eq 'OK'
  or redis_setup_failed('CONFIG SET masterauth on the replica failed');
wait_for(
	30,
	sub {
		redis_cli('one', 'CLIENT', 'KILL', 'TYPE', 'replica');
		redis_cli('two', 'INFO', 'replication') =~ /master_link_status:down/;
	}) or redis_setup_failed('the replica\'s link to the master stays up');

# ---- The master acknowledges the invalidation; the replica never gets it.
sql(q{SELECT cache_invalidate('j')});
redis_cli('one', 'GET', 'cache:j') eq ''
  or redis_setup_failed('the invalidation did not reach the master');
redis_cli('two', 'GET', 'cache:j') eq '"old"'
  or redis_setup_failed('the replica received the invalidation after all');

# ---- The master dies; Sentinel promotes the replica, with the old value.
my $log_offset = -s $node->logfile;
redis_kill('one');
wait_for(
	90,
	sub {
		!grep { redis_sentinel_master_port($_, $service) ne $port{two} }
		  qw(s1 s2 s3);
	})
  or redis_setup_failed('the Sentinels do not all name the replica as the new master');

ok( wait_for(
		30,
		sub {
			slurp_file($node->logfile, $log_offset) =~
			  /cachext replays \d+ recent changes to the new Redis master/;
		}),
	'the sync worker replays recent changes when it learns of the new master');
ok(wait_for(30, sub { redis_cli('two', 'GET', 'cache:j') eq '' }),
	'the invalidation the old master lost reaches the new master');
is(sql(q{SELECT cache_get('j') IS NULL}), 't',
	'and the instance serves no old value');
cmp_ok(sql(q{SELECT invalidations_replayed FROM cache_stats WHERE layer = 'l2'}),
	'>=', 1, 'the replay is counted');

done_testing();
