# A Redis that refuses client tracking: an ACL user without +client and
# +subscribe cannot follow the invalidation stream.  The instance says so
# once in its log and in cache_stats' coherence column, and bounds
# staleness instead: every L1 copy of a Redis value lives at most
# cachext.l1_max_ttl.  An instance whose user may track says 'tracking',
# and the bound applies there too (0 lifts it).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextCoherence;
use CachextRedis;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('shared', $redis_port);
redis_cli('shared', 'ACL', 'SETUSER', 'notrack', 'on', '>secret', '~*', '&*',
	'+@all', '-client', '-subscribe');

my $refusal = 'Redis refused client tracking';

my $refused = coherent_instance('refused',
	"redis://notrack:secret\@127.0.0.1:$redis_port", 'cachext.l1_max_ttl = 2s');
my $tracking = coherent_instance('tracking', "redis://127.0.0.1:$redis_port",
	'cachext.l1_max_ttl = 2s');

sub coherence
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT coherence FROM cache_stats WHERE layer = 'l2'});
}

# Seconds until key's L1 entry expires ('' when L1 does not hold it).
sub l1_seconds_left
{
	my ($node, $key) = @_;
	return $node->safe_psql('postgres',
		"SELECT round(extract(epoch FROM expires_at - clock_timestamp()), 1) FROM cache_entries WHERE key = '$key'"
	);
}

# ---- Each instance says how it keeps L1 coherent.
ok( $refused->poll_query_until(
		'postgres', q{SELECT coherence = 'ttl-bound' FROM cache_stats WHERE layer = 'l2'}),
	'refused: cache_stats says ttl-bound');
ok( $tracking->poll_query_until(
		'postgres', q{SELECT coherence = 'tracking' FROM cache_stats WHERE layer = 'l2'}),
	'tracking: cache_stats says tracking');
is($tracking->safe_psql('postgres', q{SELECT coherence FROM cache_stats WHERE layer = 'l1'}),
	'', 'the l1 row has no coherence of its own');
ok($refused->log_contains("$refusal.*\n.*NOPERM"),
	'refused: the log says why (NOPERM)');

# ---- Without tracking, a value another client changes in Redis is served
# from L1 at most cachext.l1_max_ttl longer.
redis_cli('shared', 'SET', 'cache:t', '{"v": 1}', 'PX', '600000');
is($refused->safe_psql('postgres', q{SELECT cache_get('t')}), '{"v": 1}',
	'refused: reads a Redis value');
my $left = l1_seconds_left($refused, 't');
ok($left ne '' && $left <= 2, "refused: its L1 copy expires within l1_max_ttl ($left s)");
my $changed_at = time;
redis_cli('shared', 'SET', 'cache:t', '{"v": 2}', 'PX', '600000');
ok( $refused->poll_query_until(
		'postgres', q{SELECT cache_get('t') = '{"v": 2}'}),
	'refused: serves the new value once the copy expired');
my $stale_for = time - $changed_at;
cmp_ok($stale_for, '<', 2 + 3, sprintf('within l1_max_ttl and a margin (%.1f s)', $stale_for));

# ---- Own writes are bounded too: another instance may overwrite them.
$refused->safe_psql('postgres', q{SELECT cache_set('own', '1', interval '1 hour')});
$left = l1_seconds_left($refused, 'own');
ok($left ne '' && $left <= 2, "refused: an own write expires from L1 within l1_max_ttl ($left s)");
$tracking->safe_psql('postgres', q{SELECT cache_set('own', '2')});
ok($refused->poll_query_until('postgres', q{SELECT cache_get('own') = '2'}),
	'refused: serves the other instance\'s overwrite once its copy expired');

# ---- With tracking, the bound is a safety net; 0 lifts it.
redis_cli('shared', 'SET', 'cache:net', '1', 'PX', '600000');
$tracking->safe_psql('postgres', q{SELECT cache_get('net')});
$left = l1_seconds_left($tracking, 'net');
ok($left ne '' && $left <= 2, "tracking: L1 copies are bounded too ($left s)");
$tracking->append_conf('postgresql.conf', 'cachext.l1_max_ttl = 0');
$tracking->reload;
$tracking->poll_query_until('postgres', q{SELECT current_setting('cachext.l1_max_ttl') = '0'});
$tracking->safe_psql('postgres', q{SELECT cache_invalidate('net')});
redis_cli('shared', 'SET', 'cache:net', '1', 'PX', '600000');
$tracking->safe_psql('postgres', q{SELECT cache_get('net')});
$left = l1_seconds_left($tracking, 'net');
ok($left > 590, "tracking, l1_max_ttl = 0: the copy keeps Redis' TTL ($left s)");

# ---- A server without CLIENT (as a proxy or an old server answers: an
# unknown command) is refused tracking too.
my $old_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('old', $old_port, '--rename-command', 'CLIENT', '');
my $old = coherent_instance('old', "redis://127.0.0.1:$old_port", '');
ok( $old->poll_query_until(
		'postgres', q{SELECT coherence = 'ttl-bound' FROM cache_stats WHERE layer = 'l2'}),
	'without CLIENT: cache_stats says ttl-bound');
ok($old->log_contains("$refusal.*\n.*unknown command"),
	'without CLIENT: the log says why (unknown command)');
redis_cli('old', 'SET', 'cache:o', '"o"');
is($old->safe_psql('postgres', q{SELECT cache_get('o')}), '"o"',
	'without CLIENT: L2 still works');

# ---- The refusal was logged once, whatever was read and written since.
my $log = slurp_file($refused->logfile);
my $count = () = $log =~ /\Q$refusal\E/g;
is($count, 1, 'refused: the refusal is logged once');
is(coherence($refused), 'ttl-bound', 'refused: still ttl-bound');

done_testing();
