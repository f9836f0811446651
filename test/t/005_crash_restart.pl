# A backend killed with SIGKILL in the middle of cache writes (possibly
# holding a partition lock): PostgreSQL restarts the instance, cachext's
# shared memory is created afresh and consistent, and the cache works.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = cachext_node(
	'crash', q{cachext.l1_partitions = 1
restart_after_crash = on});
$node->safe_psql('postgres',
	q{SELECT cache_set('before:' || i, to_jsonb(i)) FROM generate_series(1, 500) i});

# A backend that writes without pause, and its PID.
my ($out, $err) = ('', '');
my $writer = IPC::Run::start(
	[
		'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
		q{SELECT pg_backend_pid(); SELECT count(cache_set('k' || (i % 900), to_jsonb(repeat('x', i % 3000)))) FROM generate_series(1, 100000000) i}
	],
	'>', \$out, '2>', \$err);
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%generate_series(1, 100000000)%' AND state = 'active' AND pid <> pg_backend_pid()})
  or die 'the writer did not start';
usleep(300_000);
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE query LIKE '%generate_series(1, 100000000)%' AND pid <> pg_backend_pid()});
ok(kill('KILL', $pid), "killed the writing backend $pid");
$writer->finish;

# The postmaster restarts every backend; wait until it accepts queries.
$node->poll_query_until('postgres', 'SELECT 1', '1')
  or die 'the server did not come back';
ok(1, 'the instance restarted');

is( $node->safe_psql('postgres', 'SELECT entries, bytes, sets FROM cache_stats'),
	'0|0|0', 'shared memory was created afresh: empty, zeroed counters');
is($node->safe_psql('postgres', q{SELECT cache_get('before:1') IS NULL}),
	't', 'nothing survives the restart');
$node->safe_psql('postgres',
	q{SELECT cache_set('after:' || i, to_jsonb(i)) FROM generate_series(1, 1000) i});
is($node->safe_psql('postgres', q{SELECT cache_get('after:1000')}), '1000',
	'the cache works after the restart');
is($node->safe_psql('postgres', 'SELECT entries FROM cache_stats'), '1000',
	'and fills to its bound again');

$node->stop;
done_testing();
