# CachextRedis: throwaway redis-server instances for cachext's TAP tests.
#
# Each server runs as a daemon on 127.0.0.1 without persistence, in a short
# temporary directory (unix socket paths are limited), and is killed when
# the test ends however it ends.
package CachextRedis;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

our @EXPORT = qw(redis_start redis_kill redis_cli redis_dir %redis);

my $redis_dir = PostgreSQL::Test::Utils::tempdir_short;
our %redis;    # name => { port, pid, extra, auth }

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
	$redis{$name} = { port => $port, pid => $pid, extra => \@extra };
	for (1 .. 100)
	{
		last if redis_cli($name, 'PING') =~ /PONG|NOAUTH/;
		usleep(50_000);
	}
	return $redis{$name};
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
	my @auth = @{ $redis{$name}{auth} // [] };
	my ($out, $err) = ('', '');
	IPC::Run::run [ 'redis-cli', '-p', $redis{$name}{port}, @auth, @command ],
	  '>', \$out, '2>', \$err;
	chomp $out;
	return $out;
}

1;
