# Debian's prometheus-postgres-exporter (postgres_exporter 0.11) started on
# loopback against a test instance with the queries file cachext ships
# (contrib/prometheus/queries.yaml) and only its metrics, for the tests of
# what operators scrape (185) and alert on (188).
package CachextExporter;

use strict;
use warnings;

use Exporter 'import';
use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

our @EXPORT = qw(exporter_start exporter_scrape);

my $exporter = '/usr/bin/prometheus-postgres-exporter';
my $http = HTTP::Tiny->new(timeout => 10);

# Starts the exporter for $node's postgres database with $queries_file;
# returns { port, run, log } once it serves cachext's series.  The caller
# kills ->{run} (IPC::Run's kill_kill) when done; an END does it otherwise.
my @started;
END
{
	local $?;    # the exit status, which reaping a child would overwrite
	$_->{run}->kill_kill for grep { $_->{run} } @started;
}

sub exporter_start
{
	my ($node, $queries_file) = @_;
	-x $exporter
	  or die "set-up: $exporter is missing (scripts/setup installs prometheus-postgres-exporter)";
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $log = "$PostgreSQL::Test::Utils::tmp_check/exporter-$port.log";
	my $dsn = sprintf('host=%s port=%d user=%s dbname=postgres sslmode=disable',
		$node->host, $node->port, scalar getpwuid($<));
	my $run = IPC::Run::start(
		[
			$exporter, "--web.listen-address=127.0.0.1:$port",
			"--extend.query-path=$queries_file", '--disable-default-metrics',
			'--disable-settings-metrics', '--log.level=warn'
		],
		'<', \undef, '>', $log, '2>&1',
		init => sub { $ENV{DATA_SOURCE_NAME} = $dsn; });
	my $started = { port => $port, run => $run, log => $log };
	push @started, $started;

	# It answers once it has listened and read the database.
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	until ((exporter_scrape($started) // '') =~ /^cachext_hits_total/m)
	{
		die "set-up: the exporter served no cachext series on port $port; its log:\n"
		  . slurp_file($log)
		  if time > $deadline;
		usleep(100_000);
	}
	return $started;
}

# The cachext lines of one scrape of /metrics, or undef if it did not answer.
sub exporter_scrape
{
	my ($started) = @_;
	my $response = $http->get("http://127.0.0.1:$started->{port}/metrics");
	return undef unless $response->{success};
	return join("\n", grep { /^cachext/ } split /\n/, $response->{content});
}

1;
