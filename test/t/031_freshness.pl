# cache_get_or_set around an entry's expiry (one instance, L1 only):
# stale-if-error (cachext.stale_ttl: a failed reload returns the stale
# value with a WARNING, counted; with stale_ttl = 0 the error is raised as
# before; never past the stale window, never after an invalidation, never
# to a plain cache_get), stale-while-revalidate (a caller finding the key
# being reloaded returns the stale value at once, without running its
# factory, and the reloaded value is what everyone sees afterwards), and
# early refresh (cachext.early_refresh: XFetch reloads an entry shortly
# before its expiry, and never when it is off).
#
# Expiry is made deterministic with the test clock (TEST_BUILD=1 builds,
# as scripts/test makes): cachext_test_advance_clock moves L1's clock.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextSessions;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = cachext_node(
	'freshness', q{cachext.stale_ttl = '1h'
cachext.events = off});

my $clock_function = q{CREATE FUNCTION cachext_test_advance_clock(interval)
RETURNS void AS '$libdir/cachext', 'cachext_test_advance_clock'
LANGUAGE C STRICT};
my ($rc) = $node->psql('postgres', $clock_function);
plan skip_all => 'cachext was built without TEST_BUILD=1 (scripts/test builds it with)'
  if $rc != 0;

# cache_get_or_set timed inside the server, so psql's start does not count.
$node->safe_psql('postgres', q{
CREATE FUNCTION timed_get_or_set(k text, q text, OUT v jsonb, OUT ms float8)
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz := clock_timestamp();
BEGIN
  v := cache_get_or_set(k, q, '1 min');
  ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$});

sub query { return $node->safe_psql('postgres', $_[0]); }
sub advance { query("SELECT cachext_test_advance_clock('$_[0]')"); }
sub counters
{
	return query(q{SELECT loads || ' ' || load_failures || ' ' || stale_served
		|| ' ' || early_refreshes FROM cache_stats WHERE layer = 'l1'});
}

# 1. Stale-if-error.
query(q{SELECT cache_stats_reset(), cache_get_or_set('a', 'SELECT 1', '1 min')});
advance('2 min');
is(query(q{SELECT cache_get('a') IS NULL}), 't',
	'a plain cache_get never returns an expired value');
my ($out, $err) = ('', '');
$node->psql('postgres', q{SELECT cache_get_or_set('a', 'SELECT 1/0', '1 min')},
	stdout => \$out, stderr => \$err);
is($out, '1', 'a reload that fails returns the stale value');
like($err, qr/WARNING:  could not reload cache key "a", returning its stale value/,
	'with a WARNING');
like($err, qr/The factory query failed: division by zero/, 'that says why');
is(counters(), '1 1 1 0', 'the failure and the stale value are counted');

$node->psql('postgres',
	q{SET cachext.stale_ttl = 0; SELECT cache_get_or_set('a', 'SELECT 1/0', '1 min')},
	stdout => \$out, stderr => \$err);
like($err, qr/ERROR:  division by zero/, 'with cachext.stale_ttl = 0 the error is raised');

advance('2 hours');
$node->psql('postgres', q{SELECT cache_get_or_set('a', 'SELECT 1/0', '1 min')},
	stdout => \$out, stderr => \$err);
like($err, qr/ERROR:  division by zero/, 'past the stale window the error is raised');

# The failed reload's work is rolled back, and the transaction goes on.
query('CREATE TABLE side_effects (i int)');
query(q{SELECT cache_get_or_set('w', 'SELECT 1', '1 min')});
advance('2 min');
is( query(q{BEGIN;
	SELECT cache_get_or_set('w', 'WITH x AS (INSERT INTO side_effects VALUES (1) RETURNING 1) SELECT 1/0 FROM x', '1 min');
	INSERT INTO side_effects VALUES (2);
	COMMIT;
	SELECT string_agg(i::text, ',') FROM side_effects}),
	"1\n2",
	'the stale value (1) is returned, the failed factory\'s write is rolled back and the transaction goes on (2)');

# 2. An invalidation removes the stale copy too.
query(q{SELECT cache_get_or_set('b', 'SELECT 1', '1 min')});
advance('2 min');
query(q{SELECT cache_invalidate('b')});
$node->psql('postgres', q{SELECT cache_get_or_set('b', 'SELECT 1/0', '1 min')},
	stdout => \$out, stderr => \$err);
like($err, qr/ERROR:  division by zero/, 'an invalidated key is not served stale');

# 3. Stale-while-revalidate: a reload blocked in pg_sleep(2); a second
#    caller returns the stale value at once without running its factory.
query(q{SELECT cache_stats_reset(), cache_get_or_set('c', 'SELECT 1', '1 min')});
advance('2 min');
my $reloader = start_psql($node,
	q{SELECT v FROM timed_get_or_set('c', 'SELECT 2 FROM pg_sleep(2)')}, 'reloader');
wait_for_app($node, 'reloader');
my ($value, $ms) = split /\|/,
  query(q{SELECT v, ms FROM timed_get_or_set('c', 'SELECT 3')});
is($value, '1', 'a caller during the reload gets the stale value');
cmp_ok($ms, '<', 500, "at once (${ms} ms), not after the 2 s reload");
my ($reloaded) = finish_psql($reloader);
is($reloaded, '2', 'the reloader gets its value');
is(query(q{SELECT cache_get('c')}), '2', 'which is cached');
is(query(q{SELECT v FROM timed_get_or_set('c', 'SELECT 3')}), '2',
	'and what the second caller sees afterwards');
is(counters(), '2 0 1 0',
	'the second caller\'s factory never ran: two loads, one stale value');

# 4. Early refresh: with at most 1 s left of an entry whose load took 1 s,
#    XFetch reloads it with probability over 1 - exp(-1) > 0.63 per call
#    (40 calls all missing it: under 1e-17); with 60 s left, under e^-60.
sub early_refresh_run
{
	my ($setting) = @_;
	query(q{SELECT cache_invalidate('d'), cache_stats_reset()});
	query(q{SELECT cache_get_or_set('d', 'SELECT 1 FROM pg_sleep(1)', '60 s')});
	my $far = query(qq{SET cachext.early_refresh = $setting;
		SELECT count(*) FROM generate_series(1, 40) g
		WHERE cache_get_or_set('d', 'SELECT 2', '60 s') = '2'});
	advance('59 s');
	my $near = query(qq{SET cachext.early_refresh = $setting;
		SELECT count(*) FROM generate_series(1, 40) g
		WHERE cache_get_or_set('d', 'SELECT 2', '60 s') = '2'});
	return ($far, $near, counters());
}
my ($far, $near, $stats) = early_refresh_run('off');
is("$far $near $stats", '0 0 1 0 0 0',
	'early_refresh off: no reload before the expiry');
($far, $near, $stats) = early_refresh_run('on');
is($far, '0', 'early_refresh on: no reload 60 s before the expiry');
cmp_ok($near, '>=', 1, 'a reload within the last second') or diag($stats);
is($stats, '2 0 0 1', 'one caller reloaded (counted), the later ones hit the new value');
cmp_ok(
	query(q{SELECT extract(epoch FROM expires_at - created_at) FROM cache_entries WHERE key = 'd'}),
	'==', 60, 'the reloaded entry has its full TTL');

$node->stop;
done_testing();
