# CachextSessions: psql sessions running in the background, for cachext's
# TAP tests of what concurrent sessions see.
package CachextSessions;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use Time::HiRes qw(usleep);

our @EXPORT = qw(start_psql finish_psql wait_for_app);

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

1;
