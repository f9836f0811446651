# CachextLoad: pgbench workloads running in the background while a TAP test
# injects faults, short polls of a node or of anything, and the check that
# every L1 entry holds Redis' value once the faults are over.
package CachextLoad;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT =
  qw(pgbench_scripts pgbench_start pgbench_finish poll_node wait_for l1_matches_redis);

# Writes each script of %$scripts (name => [weight, text]) into $dir;
# returns pgbench's -f arguments for them.
sub pgbench_scripts
{
	my ($dir, $scripts) = @_;
	my @args;
	for my $name (sort keys %$scripts)
	{
		my $file = "$dir/$name.sql";
		open my $fh, '>', $file or die "could not write $file: $!";
		print $fh $scripts->{$name}[1], "\n";
		close $fh;
		push @args, '-f', "$file\@$scripts->{$name}[0]";
	}
	return @args;
}

# Starts pgbench on $node with @args (options and -f scripts) in the
# background.  Its output goes to files in $dir, since nothing reads pipes
# while the test does other things; WARNINGs are not sent to the client.
# Returns a handle for pgbench_finish.
sub pgbench_start
{
	my ($node, $dir, @args) = @_;
	my $file = "$dir/pgbench_" . $node->name;
	local $ENV{PGOPTIONS} = '-c client_min_messages=error';
	my $h = IPC::Run::start([ 'pgbench', '-n', '--no-vacuum', @args, $node->connstr('postgres') ],
		'>', "$file.out", '2>', "$file.err");
	return [ $node, $h, $file ];
}

# Waits for pgbench to end; checks it exited with 0 and had no failed
# transaction.  Returns how many transactions it processed.
sub pgbench_finish
{
	my ($bench) = @_;
	my ($node, $h, $file) = @$bench;
	my $finished = $h->finish;
	my $out = slurp_file("$file.out");
	ok($finished, $node->name . ': pgbench exited with status 0')
	  or diag(slurp_file("$file.err"));
	like($out, qr/number of failed transactions: 0 \(/,
		$node->name . ': no failed transaction');
	my ($done) = $out =~ /number of transactions actually processed: (\d+)/;
	note($node->name . ': ' . ($out =~ /(tps = [\d.]+)/)[0]) if $done;
	return $done // 0;
}

# Polls $node every 50 ms until $query returns 't'; false after 10 s (the
# node's poll_query_until waits minutes, too long for a fault's effects).
sub poll_node
{
	my ($node, $query) = @_;
	for (1 .. 200)
	{
		return 1 if $node->safe_psql('postgres', $query) eq 't';
		usleep(50_000);
	}
	return 0;
}

# Polls $check every 100 ms for up to $seconds; true once it returns true.
sub wait_for
{
	my ($seconds, $check) = @_;
	for (1 .. $seconds * 10)
	{
		return 1 if $check->();
		usleep(100_000);
	}
	return 0;
}

# Checks that $node's L1 holds entries and that each holds what Redis holds,
# $redis_get->($redis_key) reading Redis.  Entries within 3 s of their expiry
# are skipped, and so is an entry Redis no longer has once its expiry has
# passed while the keys were being read one by one (a slow machine takes
# seconds): Redis and L1 expire them separately.
sub l1_matches_redis
{
	my ($node, $redis_get) = @_;
	my @rows = split /\n/,
	  $node->safe_psql(
		'postgres', q{SELECT key, coalesce(extract(epoch FROM expires_at), 'Infinity'),
       cache_get(key)::text FROM cache_entries
WHERE expires_at IS NULL OR expires_at > clock_timestamp() + interval '3 s'
ORDER BY key});
	my @stale;
	for my $row (@rows)
	{
		my ($key, $expires, $l1) = split /\|/, $row, 3;
		my $l2 = $redis_get->("cache:$key");
		next if $l2 eq '' && $expires <= Time::HiRes::time() + 1;
		push @stale, "$key: L1 $l1, Redis '$l2'" if $l1 ne $l2;
	}
	cmp_ok(scalar @rows, '>', 0, $node->name . ': L1 holds entries to compare');
	is(scalar @stale, 0,
		$node->name . ': every L1 entry (' . scalar(@rows) . ') holds Redis\' value')
	  or diag(join "\n", @stale[ 0 .. ($#stale < 20 ? $#stale : 19) ]);
}

1;
