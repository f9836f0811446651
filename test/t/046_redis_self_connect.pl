# A Redis port that nothing listens on, inside this host's ephemeral port
# range: a connect to it can be given that very port as its source and
# complete as TCP's simultaneous open, a socket that is its own peer.
# Taken for Redis, it answers every command with the command itself
# (cache_stats said Redis was up and counted misses) and holds the port, so
# the real Redis cannot start again on it: 050_leak_soak.pl's Redis once
# failed to restart with "Address already in use" for that reason.  One
# backend tries the dead port until the kernel has offered it as the source
# many times over (the first self-connect came within a few thousand
# tries): every call fails, none is answered, and Redis then starts on
# the port and is used.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextRedis;
use IO::Socket::INET;
use PostgreSQL::Test::Utils;
use Test::More;

my $range_file = '/proc/sys/net/ipv4/ip_local_port_range';
plan skip_all => "no $range_file" unless -r $range_file;
my ($low, $high) = split ' ', slurp_file($range_file);

# connect() takes source ports of the range's first port's parity first.
# A port free on 127.0.0.1, drawn at random from the range (the ports
# get_free_port tries may all lie above it).
my $port;
for (1 .. 200)
{
	my $p = $low + 2 * int(rand(($high - $low) / 2 + 1));
	my $listener = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1',
		LocalPort => $p,
		Proto => 'tcp',
		Listen => 1);
	next unless $listener;
	close $listener;
	$port = $p;
	last;
}
plan skip_all => "no free port in the ephemeral range $low-$high"
  unless defined $port;

my $node = cachext_node(
	'self', qq{cachext.redis_url = 'redis://127.0.0.1:$port'
cachext.redis_retry_interval = 0
log_min_messages = error
log_statement = none});

# Batches of calls, each trying to connect; stops at the first answer.
my $batch = 20_000;
my $batches = 10;
my ($tries, $answered) = (0, '0|f');
for (1 .. $batches)
{
	$answered = $node->safe_psql(
		'postgres', qq{SET client_min_messages = error;
DO \$\$ BEGIN FOR i IN 1 .. $batch LOOP PERFORM cache_get('k' || i); END LOOP; END \$\$;
SELECT hits + misses, redis_up FROM cache_stats WHERE layer = 'l2'});
	$tries += $batch;
	last if $answered ne '0|f';
}
is($answered, '0|f',
	"$tries tries of 127.0.0.1:$port with nothing listening: none answered, Redis not up");
cmp_ok(
	$node->safe_psql('postgres', q{SELECT errors FROM cache_stats WHERE layer = 'l2'}),
	'>=', $tries, 'every try failed');

redis_start('self', $port);
$node->safe_psql('postgres', q{SELECT cache_set('k', '1', NULL)});
is($node->safe_psql('postgres', q{SELECT redis_up FROM cache_stats WHERE layer = 'l2'}),
	't', 'Redis started on the port, and cachext uses it');

$node->stop;
done_testing();
