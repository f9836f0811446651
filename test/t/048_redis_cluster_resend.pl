# Redis Cluster: a command is sent again after its node failed to answer
# only if the node cannot have run it.  A node paused (SIGSTOP) past
# cachext.redis_timeout keeps what its socket received and runs it once it
# resumes, so a cache_incr that timed out there and was sent again on a new
# connection would count twice.  Here the node resumes right after the
# first attempt timed out: the counter in Redis is counted once, and
# cache_incr does not answer a double count.  A node restarted while a
# connection to it lay idle costs no failed write either.
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


wait_for(120, sub { redis_cluster_ok(@masters) })
  or redis_setup_failed('the three masters do not form a cluster');

# A key of m3's, which the URL does not list as a seed (so that learning the
# slot map again never waits for m3).
my ($key) = grep { redis_cli('m3', 'EXISTS', "cache:$_") eq '0' }
  map { "n$_" } 1 .. 200;
defined $key or redis_setup_failed('m3 owns none of 200 keys');

my $seeds = join ',', map { "127.0.0.1:$port{$_}" } qw(m1 m2);
my $node = cachext_node(
	'resend', qq{cachext.redis_url = 'redis-cluster://$seeds'
cachext.redis_retry_interval = 200ms
cachext.redis_timeout = 1s
cachext.redis_connect_timeout = 1s});

# The local ports of process $pid's established TCP connections to 127.0.0.1:$port.
sub connections_to
{
	my ($pid, $port) = @_;
	my %mine;
	opendir my $fds, "/proc/$pid/fd" or return ();
	for (readdir $fds)
	{
		my $link = readlink "/proc/$pid/fd/$_" // '';
		$mine{$1} = 1 if $link =~ /^socket:\[(\d+)\]$/;
	}
	closedir $fds;
	my @ports;
	for (split /\n/, slurp_file('/proc/net/tcp'))
	{
		my @f = split ' ';
		next unless @f > 9 && $mine{ $f[9] } && $f[3] eq '01';
		my ($local_port) = $f[1] =~ /:([0-9A-F]+)$/;
		my ($remote_port) = $f[2] =~ /:([0-9A-F]+)$/;
		push @ports, hex $local_port if hex($remote_port) == $port;
	}
	return @ports;
}

# ---- A backend counts once through the cluster.
my $backend = $node->background_psql('postgres', on_error_stop => 0);
my $first = $backend->query_safe("SELECT cache_incr('$key')");
$first =~ s/\n\z//;
is($first, '1', 'cache_incr counts on the cluster');
is(redis_cli('m3', 'GET', "cache:$key"), '1', 'the counter is on its slot\'s master');
my $pid = $backend->query_safe('SELECT pg_backend_pid()');
$pid =~ s/\n\z//;
my @before = connections_to($pid, $port{m3});
is(scalar @before, 1, 'the backend holds one connection to that master');

# ---- The master pauses; the next cache_incr times out there.  It resumes
# as soon as the backend dropped that connection: whatever the backend
# sends from then on finds it running.
kill 'STOP', $redis{m3}{pid};
$backend->query_until(qr/started/,
	"\\echo started\nSELECT 'result ' || cache_incr('$key');\n\\echo finished\n");
my $dropped = wait_for(
	30,
	sub {
		my %now = map { $_ => 1 } connections_to($pid, $port{m3});
		!grep { $now{$_} } @before;
	});
kill 'CONT', $redis{m3}{pid};
ok($dropped, 'the backend dropped its connection to the paused master');
my $out = $backend->query_until(qr/finished/, '');
my ($second) = $out =~ /result (\S+)/;
$backend->quit;

# Redis ran the first attempt once it resumed (2); a second attempt would
# have made it 3.  cachext answers from L1 and queues the key's
# invalidation, since Redis may have counted (reference.md, cache_incr).
redis_cli('m3', 'PING') eq 'PONG'
  or redis_setup_failed('m3 does not answer after SIGCONT');
ok(defined $second && $second ne '3',
	'cache_incr answers, and not a double count (' . ($second // 'nothing') . ')');
ok( wait_for(
		30,
		sub {
			$node->safe_psql('postgres',
				q{SELECT queue_length FROM cache_stats WHERE layer = 'l2'}) eq
			  '0';
		}),
	'the queued invalidation reached Redis');
isnt(redis_cli('m3', 'GET', "cache:$key"), '3',
	'the counter in Redis was counted once, not twice');

# ---- The master restarts while the backend's connection to it lies idle:
# the next cache_incr opens a new connection before writing, rather than
# fail on the dead one, where it could not tell whether the node ran it.
sub l2_stat
{
	my ($column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM cache_stats WHERE layer = 'l2'");
}
$backend = $node->background_psql('postgres', on_error_stop => 0);
$backend->query_safe("SELECT cache_set('$key', '10')");
is(redis_cli('m3', 'GET', "cache:$key"), '10', 'a backend writes to the master');
my $errors = l2_stat('errors');
kill 'KILL', $redis{m3}{pid};
redis_start_cluster_node('m3', $port{m3});
wait_for(120, sub { redis_cluster_ok(@masters) })
  or redis_setup_failed('the cluster is not ok after m3 restarted');
# query, not query_safe: a WARNING (the write failed) must fail the
# assertions below, not stop the test
my $after_restart = $backend->query("SELECT cache_incr('$key')");
$after_restart =~ s/\n\z//;
$backend->quit;
is($after_restart, '1',
	'after the restart (which lost the value), cache_incr counts on the master');
is(redis_cli('m3', 'GET', "cache:$key"), '1', 'Redis holds the count');
is(l2_stat('errors'), $errors, 'and the dead connection cost no error');

done_testing();
