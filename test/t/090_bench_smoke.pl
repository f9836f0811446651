# Smoke test of the benchmark suite: bench/run --smoke runs every scenario at a
# tiny size (one round of 50 transactions, one client) against its own throwaway
# servers, and must exit 0 having written a results.csv row for each scenario.
# What is not installed (pgmemcache, memcached, L2 in this build, what
# bench/write_path.c builds with) is skipped by bench/run with a row saying so, never
# a failure; targets are reported, not tested.  write_path's own client must have
# measured every variant it ran.
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use PostgreSQL::Test::Utils;
use Test::More;

# bench/run as root would install packages and rebuild the tree under the test.
plan skip_all => 'bench/run --smoke runs PostgreSQL, which refuses to run as root'
  if $> == 0;

my $root = abs_path(dirname(__FILE__) . '/../..');
my $out = PostgreSQL::Test::Utils::tempdir . '/results';

my ($stdout, $stderr);
my $ok = IPC::Run::run [ 'bash', "$root/bench/run", '--smoke', '--out', $out ],
  '>', \$stdout, '2>', \$stderr;
ok($ok, 'bench/run --smoke exits 0') or diag("stdout:\n$stdout\nstderr:\n$stderr");
note($stdout);

ok(-s "$out/results.csv", 'it wrote results.csv');
my %rows;
my @failed_client_runs;
if (open my $fh, '<', "$out/results.csv")
{
	<$fh>;    # header
	while (my $line = <$fh>)
	{
		chomp $line;
		my ($scenario, $variant, $clients, $median) = split /,/, $line;
		$rows{$scenario}++;
		# write_path's own client (bench/write_path.c) records 0 when it fails.
		push @failed_client_runs, $line
		  if $scenario =~ /^write_path(_l1)?$/
		  && $variant ne 'skipped'
		  && !($median > 0);
	}
	close $fh;
}
for my $scenario (
	qw(l1_hit l2_hit l2_tls l2_cluster writes get_or_set invalidation multi_get
	value_size scaling bulk_update write_path warm_restart))
{
	ok($rows{$scenario}, "results.csv has a row for $scenario");
}
is_deeply(\@failed_client_runs, [],
	'every write_path run that was not skipped measured something')
  or diag("stdout:\n$stdout\nstderr:\n$stderr");
like($stdout, qr/^== targets$/m, 'it reported the targets');

done_testing();
