# CachextCoherence: instances sharing one Redis, for cachext's TAP tests of
# coherence between L1s: starting one, waiting until one serves a value,
# and timing how long a write through one takes to be served by another.
package CachextCoherence;

use strict;
use warnings;

use Exporter 'import';
use CachextNode;
use IPC::Run;
use Time::HiRes qw(usleep);

our @EXPORT = qw(coherent_instance wait_for_value in_l1 l2_stat write_seen_after);

# cache_get(k) until it is expected (NULL: a miss), up to 10 s; returns the
# clock_timestamp() at which it was, or NULL on a timeout.
my $wait_function = q{
CREATE FUNCTION wait_for_value(k text, expected jsonb) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '10 s';
BEGIN
	LOOP
		IF cache_get(k) IS NOT DISTINCT FROM expected THEN
			RETURN clock_timestamp();
		END IF;
		IF clock_timestamp() > deadline THEN
			RETURN NULL;
		END IF;
		PERFORM pg_sleep(0.0002);
	END LOOP;
END $$};

# Starts an instance with cachext preloaded, following the Redis at $url,
# with the extra postgresql.conf lines $conf; %init goes to init().  Its
# postgres database has the extension and wait_for_value().
sub coherent_instance
{
	my ($name, $url, $conf, %init) = @_;
	my $node = cachext_node(
		$name, qq{cachext.redis_url = '$url'
cachext.redis_retry_interval = 100ms
$conf}, %init);
	$node->safe_psql('postgres', $wait_function);
	return $node;
}

# Waits on $node until cache_get($key) is $expected (undef: a miss); returns
# when it was, or '' after 10 s.
sub wait_for_value
{
	my ($node, $key, $expected) = @_;
	my $literal = defined $expected ? "'$expected'" : 'NULL';
	return $node->safe_psql('postgres',
		"SELECT wait_for_value('$key', $literal)");
}

# How many entries $node's L1 holds under $key (0 or 1).
sub in_l1
{
	my ($node, $key) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM cache_entries WHERE key = '$key'");
}

# A column (or expression of columns) of $node's l2 row of cache_stats.
sub l2_stat
{
	my ($node, $column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM cache_stats WHERE layer = 'l2'");
}

# Writes $value under $key through $writer while $reader polls for it;
# returns the milliseconds from the write returning to $reader's first read
# of it, or (undef, the poller's errors) if $reader never served it.
sub write_seen_after
{
	my ($reader, $writer, $key, $value) = @_;
	my ($seen, $err) = ('', '');
	my $poller = IPC::Run::start(
		[
			'psql', '-XAtq', '-d', $reader->connstr('postgres'), '-c',
			"SELECT wait_for_value('$key', '$value')"
		],
		'>', \$seen, '2>', \$err);
	usleep(100_000);
	my $written = $writer->safe_psql('postgres',
		"SELECT clock_timestamp() FROM (SELECT cache_set('$key', '$value')) s");
	$poller->finish;
	chomp $seen;
	return (undef, $err) if $seen eq '';
	return $reader->safe_psql('postgres',
		"SELECT greatest(0, extract(epoch FROM '$seen'::timestamptz - '$written'::timestamptz) * 1000)"
	);
}

1;
