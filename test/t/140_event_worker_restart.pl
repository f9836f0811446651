# cachext.events = async: when the event worker dies with committed events
# left in its queue (here: stopped, terminated, then let go, so it exits
# with a FATAL before sending them), the postmaster starts it again and the
# events are delivered promptly, without waiting for the next writer.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextSessions;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = cachext_node('worker_restart', 'cachext.events = async');
$node->safe_psql(
	'postgres', q{
CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO items (id) SELECT generate_series(1, 10);
SELECT cache_watch_table('items', 'ITEM', ARRAY['item:{id}']);
});

my $listener = start_listener($node, 'postgres');

# The event worker's PID, once a commit has started it ('' if none runs).
sub worker_pid
{
	return $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'cachext events'});
}

# Start the worker with a first event, and stop it (SIGSTOP) while it waits
# for more (it leaves after a second without events: retry if it did).
my $pid = '';
for my $try (1 .. 20)
{
	$node->safe_psql('postgres', 'UPDATE items SET n = n + 1 WHERE id = 1');
	$pid = worker_pid();
	last if $pid ne '' && kill('STOP', $pid);
	$pid = '';
}
isnt($pid, '', 'the event worker runs and is stopped');

# A commit queues its events for the stopped worker; the worker is then
# terminated, and let go: it exits at once, without sending them.
my $sent = $node->safe_psql('postgres', 'SELECT sent_async FROM cache_event_stats()');
$node->safe_psql('postgres', 'UPDATE items SET n = n + 1 WHERE id = 2');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
kill 'CONT', $pid;
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'the worker exited');

# The restarted worker sends the events, with no other writer.
my $start = time;
ok( $node->poll_query_until(
		'postgres', "SELECT sent_async > $sent FROM cache_event_stats()"),
	'the committed events are sent');
my $elapsed = time - $start;
cmp_ok($elapsed, '<', 30, "within ${elapsed}s");
isnt(worker_pid(), $pid, 'by a new worker process');

ok((grep { $_->[1] =~ /"ITEM_UPDATED".*item:2/ } stop_listener($listener)),
	'the listener got the event of the second UPDATE');
ok($node->log_contains('terminating background worker "cachext events'),
	'the worker was terminated');

$node->stop;
done_testing();
