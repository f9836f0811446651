# CachextRedis: throwaway redis-server instances for cachext's TAP tests.
#
# Each server runs as a daemon on 127.0.0.1 without persistence, in a short
# temporary directory (unix socket paths are limited), and is killed when
# the test ends however it ends.
package CachextRedis;

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::INET;
use IPC::Run;
use CachextLoad qw(wait_for);
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

our @EXPORT =
  qw(redis_start redis_start_tls redis_start_sentinel redis_start_cluster_node
  redis_cluster_port redis_create_cluster redis_cluster_command redis_cluster_ok
  redis_cluster_slot_map redis_cluster_failover redis_logs redis_kill redis_cli redis_dir
  redis_setup_failed redis_sentinel_master_port redis_sentinels_ready %redis);

my $redis_dir = PostgreSQL::Test::Utils::tempdir_short;
our %redis;    # name => { port, pid, extra, auth, tls }

END
{
	kill 'KILL', $_->{pid} for grep { $_->{pid} } values %redis;
}

# The directory the servers' files (and sockets) live in.
sub redis_dir { return $redis_dir; }

# Starts redis-server without persistence; extra arguments are its options.
sub redis_start
{
	my ($name, $port, @extra) = @_;
	my $dir = "$redis_dir/$name";
	mkdir $dir;
	unlink "$dir/redis.pid";
	my @args = (
		'--port', $port, '--bind', '127.0.0.1', '--save', '',
		'--appendonly', 'no', '--daemonize', 'yes',
		'--pidfile', "$dir/redis.pid", '--logfile', "$dir/redis.log",
		'--dir', $dir, @extra);
	system('redis-server', @args) == 0 or die "redis-server did not start";
	for (1 .. 100)
	{
		last if -s "$dir/redis.pid";
		usleep(50_000);
	}
	my $pid = slurp_file("$dir/redis.pid");
	chomp $pid;
	$redis{$name} = { %{ $redis{$name} // {} },
		port => $port, pid => $pid, extra => \@extra };
	for (1 .. 100)
	{
		last if redis_cli($name, 'PING') =~ /PONG|NOAUTH/;
		usleep(50_000);
	}
	return $redis{$name};
}

# Starts redis-server speaking TLS only on $port, with $tls->{cert},
# $tls->{key} and $tls->{ca} (the CA it verifies client certificates
# against); redis_cli then talks TLS to it as $tls->{client_cert}.
sub redis_start_tls
{
	my ($name, $port, $tls, @extra) = @_;
	$redis{$name}{tls} = [
		'--tls', '--cacert', $tls->{ca},
		'--cert', $tls->{client_cert}, '--key', $tls->{client_key} ];
	return redis_start(
		$name, $port, '--port', '0', '--tls-port', $port,
		'--tls-cert-file', $tls->{cert}, '--tls-key-file', $tls->{key},
		'--tls-ca-cert-file', $tls->{ca}, @extra);
}

# Starts redis-sentinel on $port, monitoring $service at 127.0.0.1:$master_port
# with a quorum of 2, judging a master down after a second; @conf are more
# lines of its configuration file (auth-pass, requirepass).
sub redis_start_sentinel
{
	my ($name, $port, $service, $master_port, @conf) = @_;
	my $dir = "$redis_dir/$name";
	mkdir $dir;
	open my $fh, '>', "$dir/sentinel.conf" or die "sentinel.conf: $!";
	print $fh join "\n", "sentinel monitor $service 127.0.0.1 $master_port 2",
	  "sentinel down-after-milliseconds $service 1000",
	  "sentinel failover-timeout $service 10000", @conf, '';
	close $fh;
	unlink "$dir/redis.pid";
	system('redis-server', "$dir/sentinel.conf", '--sentinel', '--port', $port,
		'--bind', '127.0.0.1', '--daemonize', 'yes',
		'--pidfile', "$dir/redis.pid", '--logfile', "$dir/redis.log",
		'--dir', $dir) == 0
	  or die "redis-sentinel did not start";
	for (1 .. 100)
	{
		last if -s "$dir/redis.pid";
		usleep(50_000);
	}
	my $pid = slurp_file("$dir/redis.pid");
	chomp $pid;
	$redis{$name} = { %{ $redis{$name} // {} }, port => $port, pid => $pid };
	return $redis{$name};
}

# Starts a Redis Cluster node (not yet in a cluster) on $port, judging a node
# down after 3 s.
sub redis_start_cluster_node
{
	my ($name, $port) = @_;
	return redis_start($name, $port, '--cluster-enabled', 'yes',
		'--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '3000');
}

# A port for a Redis Cluster node: its cluster bus listens 10000 above it,
# so the node's port is at most 55535 (get_free_port's run up to 65535)
# and both are free on 127.0.0.1; never the same port twice.
my %cluster_ports;

sub redis_cluster_port
{
	for (1 .. 1000)
	{
		my $port = 49152 + int(rand(55535 - 49152 + 1));
		next if $cluster_ports{$port} || $cluster_ports{ $port + 10000 };
		next if grep {
			!IO::Socket::INET->new(
				LocalAddr => '127.0.0.1',
				LocalPort => $_,
				Proto => 'tcp',
				Listen => 1)
		} ($port, $port + 10000);
		$cluster_ports{$port} = $cluster_ports{ $port + 10000 } = 1;
		return $port;
	}
	die "no free pair of ports for a Redis Cluster node";
}

# Starts a cluster node for each name, on free ports, and makes them the
# masters of a new cluster (redis-cli --cluster create); returns name =>
# port.  The cluster is ok a little later: wait for redis_cluster_ok.
sub redis_create_cluster
{
	my @masters = @_;
	my %port = map { $_ => redis_cluster_port() } @masters;
	redis_start_cluster_node($_, $port{$_}) for @masters;
	redis_cluster_command('create', (map { "127.0.0.1:$port{$_}" } @masters),
		'--cluster-yes');
	return %port;
}

# Runs redis-cli --cluster @args (create, add-node, reshard ...); dies if it
# fails, else returns its output.
sub redis_cluster_command
{
	my @args = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run [ 'redis-cli', '--cluster', @args ], '>', \$out, '2>', \$err
	  or die "redis-cli --cluster @args failed: $out $err";
	return $out;
}

# Do all the named nodes say the cluster is ok?
sub redis_cluster_ok
{
	return !grep { redis_cli($_, 'CLUSTER', 'INFO') !~ /cluster_state:ok/ } @_;
}

# The slot ranges each master owns as node $name sees them: "id range ..."
# lines, sorted (slots being migrated, "[n->-id]", are left out).
sub redis_cluster_slot_map
{
	my ($name) = @_;
	my @map;
	for my $line (split /\n/, redis_cli($name, 'CLUSTER', 'NODES'))
	{
		my ($id, undef, $flags, undef, undef, undef, undef, undef, @slots) =
		  split / /, $line;
		next unless defined $flags && $flags =~ /master/ && $flags !~ /fail/;
		@slots = grep { !/^\[/ } @slots;
		push @map, join ' ', $id, sort @slots if @slots;
	}
	return join "\n", sort @map;
}

# Makes cluster replica $replica a master as an operator would, and tells
# whether the deployment did it: waits until the replica's link to its
# master is up and it sees the slot map @nodes agree on (a replica with an
# older map asks for votes on slots whose newer owners the masters know, and
# they refuse), then CLUSTER FAILOVER, again when the servers let it lapse
# (a manual failover the master does not complete in 5 s is dropped), then
# FAILOVER FORCE, then TAKEOVER, each given $seconds to show in ROLE.
# Returns the mode that worked ('' for the plain one), or undef with the
# reason in $@ and the servers' logs in the test's diagnostics.
sub redis_cluster_failover
{
	my ($replica, $seconds, @nodes) = @_;
	my $is_master = sub { redis_cli($replica, 'ROLE') =~ /^master/ };
	my $steady = wait_for(
		60,
		sub {
			return 0
			  unless redis_cli($replica, 'INFO', 'replication') =~
			  /master_link_status:up/;
			my $map = redis_cluster_slot_map($replica);
			return !grep { redis_cluster_slot_map($_) ne $map } @nodes;
		});
	for my $mode ('', '', 'FORCE', 'TAKEOVER')
	{
		my $answer = redis_cli($replica, 'CLUSTER', 'FAILOVER', $mode || ());
		return $mode if $answer eq 'OK' && wait_for($seconds, $is_master);
	}
	$@ = 'set-up: the replica ' . $replica . ' is not a master after CLUSTER FAILOVER, '
	  . 'FAILOVER FORCE and FAILOVER TAKEOVER'
	  . ($steady ? '' : ' (its slot map never agreed with the masters\')');
	Test::More::diag(redis_logs($replica, @nodes));
	return undef;
}

# The last lines of each named server's log, for a set-up failure's message.
sub redis_logs
{
	my (@names) = @_;
	return join '', map {
		my $log = "$redis_dir/$_/redis.log";
		my @lines = -e $log ? split(/\n/, slurp_file($log)) : ('(no log)');
		splice @lines, 0, -40;
		"==== $_ ($log)\n" . join("\n", @lines) . "\n";
	} @names;
}

# Kills a Redis server for good (SIGKILL: no goodbye to clients).
sub redis_kill
{
	my ($name) = @_;
	kill 'KILL', $redis{$name}{pid};
	usleep(100_000);
}

# Runs redis-cli against a server; returns its output without the newline.
sub redis_cli
{
	my ($name, @command) = @_;
	my @auth = (@{ $redis{$name}{tls} // [] }, @{ $redis{$name}{auth} // [] });
	my ($out, $err) = ('', '');
	IPC::Run::run [ 'redis-cli', '-p', $redis{$name}{port}, @auth, @command ],
	  '>', \$out, '2>', \$err;
	chomp $out;
	return $out;
}

# Stops the test because the deployment did not do what its set-up asked,
# which is no fault of cachext's: dies with "set-up: $what" and the end of
# every Redis server's log.
sub redis_setup_failed
{
	my ($what) = @_;
	die "set-up: $what\n" . redis_logs(sort keys %redis);
}

# The port of the master Sentinel $name names for $service, or ''.
sub redis_sentinel_master_port
{
	my ($name, $service) = @_;
	my ($out) = redis_cli($name, 'SENTINEL', 'get-master-addr-by-name', $service);
	return (split /\n/, $out)[1] // '';
}

# Waits (up to a minute each) until Sentinel $name sees a quorum for
# $service and knows its replica on $replica_port; a set-up failure if not.
sub redis_sentinels_ready
{
	my ($name, $service, $replica_port) = @_;
	wait_for(60,
		sub { redis_cli($name, 'SENTINEL', 'ckquorum', $service) =~ /^OK/ })
	  or redis_setup_failed('the Sentinels do not see each other and the master');
	wait_for(
		60,
		sub {
			redis_cli($name, 'SENTINEL', 'replicas', $service) =~
			  /$replica_port/;
		}) or redis_setup_failed('the Sentinels do not know the replica');
	return;
}

1;
