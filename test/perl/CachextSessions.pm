# CachextSessions: psql sessions running in the background, for cachext's
# TAP tests of what concurrent sessions see.
package CachextSessions;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use Time::HiRes qw(usleep);

our @EXPORT = qw(start_psql finish_psql wait_for_app hold_after_fence release_held
  start_listener stop_listener);

# Starts psql on $node running $sql in the background, optionally with an
# application_name to find it by; returns [harness, \stdout, \stderr].
sub start_psql
{
	my ($node, $sql, $appname) = @_;
	my ($out, $err) = ('', '');
	my $connstr = $node->connstr('postgres');
	$connstr .= " application_name=$appname" if defined $appname;
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $connstr, '-c', $sql ],
		'>', \$out, '2>', \$err);
	return [ $h, \$out, \$err ];
}

# Waits for a session to end; returns its output (without the last
# newline) and its errors.
sub finish_psql
{
	my ($p) = @_;
	$p->[0]->finish;
	my ($out, $err) = (${ $p->[1] }, ${ $p->[2] });
	chomp $out;
	return ($out, $err);
}

# Waits until a backend with this application_name runs, so that sessions
# started after it find its work in flight.
sub wait_for_app
{
	my ($node, $appname) = @_;
	$node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = '$appname' AND state = 'active'"
	) or die "session $appname did not start";
	usleep(100_000);
}

# Starts $sql on $node in a session that stops at the pause point once it
# has fenced its keys (test builds: cachext.test_pause_after_fence), held by
# another session's advisory lock 4242 until release_held.
sub hold_after_fence
{
	my ($node, $sql) = @_;
	my $holder = start_psql($node,
		'SELECT pg_advisory_lock(4242); SELECT pg_sleep(3600)', 'holder');
	wait_for_app($node, 'holder');
	my $writer = start_psql($node,
		"SET cachext.test_pause_after_fence = 4242; $sql", 'held');
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'held' AND wait_event_type = 'Lock'})
	  or die 'set-up: the writer did not stop at the pause point';
	return { holder => $holder, writer => $writer };
}

# Lets a session held by hold_after_fence go on; returns its errors once it
# has ended.
sub release_held
{
	my ($node, $held) = @_;
	$node->safe_psql('postgres',
		q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'});
	finish_psql($held->{holder});
	my ($out, $err) = finish_psql($held->{writer});
	return $err;
}

# A psql session on $node's database $db LISTENing on cache_events;
# stop_listener ends it and returns its notifications as [channel, payload,
# sender PID].
sub start_listener
{
	my ($node, $db) = @_;
	my %l = (in => "LISTEN cache_events;\n", out => '', err => '');
	$l{h} = IPC::Run::start(
		[
			'psql', '-XAtq', '-d',
			$node->connstr($db) . ' application_name=listener'
		],
		'<', \$l{in}, '>', \$l{out}, '2>', \$l{err});
	$l{h}->pump while length $l{in};
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'listener' AND state = 'idle' AND query LIKE 'LISTEN%'}
	) or die 'the listener did not start';
	return \%l;
}

sub stop_listener
{
	my ($l) = @_;
	$l->{in} .= "SELECT 'listener done';\n\\q\n";
	$l->{h}->finish;
	die "listener failed: $l->{err}" unless $l->{out} =~ /listener done/;
	my @got;
	for (split /\n/, $l->{out})
	{
		push @got, [ $1, $2, $3 ]
		  if /^Asynchronous notification "([^"]+)" with payload "(.*)" received from server process with PID (\d+)\.$/;
	}
	return @got;
}

1;
