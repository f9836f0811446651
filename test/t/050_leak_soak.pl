# Leak soak: one backend makes over a million calls of every function
# (set, get hit and miss, get_multi, get_or_set, invalidate,
# invalidate_pattern, cache_key), in batches, first with Redis up so the L2
# paths run, then with Redis killed so the error paths run (the breaker
# kept shut with cachext.redis_retry_interval = 0, so every call tries to
# connect and fails), then with Redis back (the queue is replayed).  After
# each batch it samples its own memory: the sum of pg_backend_memory_contexts
# (palloc) and RssAnon from /proc (malloc, which hiredis uses; not RSS,
# which counts the shared memory pages the backend touched).  Both stay flat
# after each phase's first batch, and cache_clear() gives every byte of L1
# back.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextRedis;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('soak', $redis_port);

my $node = cachext_node(
	'soak', qq{cachext.redis_url = 'redis://127.0.0.1:$redis_port'
cachext.redis_retry_interval = 100ms
log_statement = none});

# One iteration makes 9 calls, and every 100th one more (a pattern).
my $calls_per_iteration = 9.01;
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION soak(first int, iterations int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	k text;
	v jsonb;
BEGIN
	FOR i IN first .. first + iterations - 1 LOOP
		k := cache_key('soak', i % 500);
		PERFORM cache_set(k, jsonb_build_object('i', i, 'pad', repeat('x', i % 300)), '10 min');
		v := cache_get(k);
		v := cache_get('miss:' || i % 1000);
		PERFORM count(*) FROM cache_get_multi(ARRAY[k, 'miss:' || i, cache_key('soak', (i + 1) % 500)]);
		v := cache_get_or_set('load:' || i % 200, 'SELECT to_jsonb($1::int)', '10 min', (i % 200)::text);
		PERFORM cache_invalidate(k);
		IF i % 100 = 0 THEN
			PERFORM cache_invalidate_pattern('load:1*');
		END IF;
	END LOOP;
END $$});

# The session lives for the whole soak (a few minutes, longer on a loaded
# machine), beyond the default timeout of one psql session.
my $session = $node->background_psql('postgres',
	timeout => 5 * $PostgreSQL::Test::Utils::timeout_default);
# WARNINGs about Redis would fill the log and the pipe in the Redis-down phase
$session->query_safe(
	'SET client_min_messages = error; SET log_min_messages = error');
my $pid = $session->query_safe('SELECT pg_backend_pid()');

my $batch_iterations = 5000;
my $next = 1;
my $calls = 0;

# Runs one batch; returns [contexts bytes, RssAnon kB, seconds].
sub batch
{
	my $started = time;
	$session->query_safe("SELECT soak($next, $batch_iterations)");
	my $seconds = sprintf('%.1f', time - $started);
	$next += $batch_iterations;
	$calls += $batch_iterations * $calls_per_iteration;
	my ($bytes, $rss) = split /\|/, $session->query_safe(
		q{SELECT (SELECT sum(total_bytes) FROM pg_backend_memory_contexts),
       (regexp_match(pg_read_file('/proc/self/status'), 'RssAnon:\s+(\d+)'))[1]});
	return [ $bytes, $rss, $seconds ];
}

# Runs a phase of $n batches; checks the samples after its first batch stay
# within the tolerances of the first of them.  Both were flat to the byte
# in every run; the tolerances leave room for a memory-context block or a
# malloc arena page being kept or given back, and still catch a leak of a
# few bytes per iteration: 64 kB of palloc'd memory and 256 kB of RssAnon,
# where a leak of 8 bytes per iteration adds 400 kB over the first phase
# and 80 kB over the last.
sub phase
{
	my ($name, $n) = @_;
	my $started = time;
	my @samples = map { batch() } 1 .. $n;
	my ($base_bytes, $base_rss) = @{ $samples[1] };
	my ($max_bytes, $max_rss) = ($base_bytes, $base_rss);
	for my $s (@samples[ 2 .. $#samples ])
	{
		$max_bytes = $s->[0] if $s->[0] > $max_bytes;
		$max_rss = $s->[1] if $s->[1] > $max_rss;
	}
	note(sprintf('%s: %d batches in %.1f s (%s); contexts %s; RssAnon kB %s',
			$name, $n, time - $started,
			join(' ', map { $_->[2] } @samples),
			join(' ', map { $_->[0] } @samples),
			join(' ', map { $_->[1] } @samples)));
	cmp_ok($max_bytes - $base_bytes, '<=', 64 * 1024,
		"$name: backend memory contexts flat after warm-up ($base_bytes bytes)");
	cmp_ok($max_rss - $base_rss, '<=', 256,
		"$name: RssAnon flat after warm-up ($base_rss kB)");
}

my $started = time;
phase('Redis up', 12);
is($node->safe_psql('postgres', q{SELECT redis_up FROM cache_stats WHERE layer = 'l2'}),
	't', 'the L2 paths ran');

redis_kill('soak');
$session->query_safe('SET cachext.redis_retry_interval = 0');
my $errors = $node->safe_psql('postgres',
	q{SELECT errors FROM cache_stats WHERE layer = 'l2'});
phase('Redis down', 8);
cmp_ok(
	$node->safe_psql('postgres', q{SELECT errors FROM cache_stats WHERE layer = 'l2'}),
	'>', $errors + 8 * $batch_iterations,
	'the error paths ran (every call tried Redis and failed)');

redis_start('soak', $redis_port);
$session->query_safe('RESET cachext.redis_retry_interval');
phase('Redis back', 4);
is($node->safe_psql('postgres', q{SELECT queue_length FROM cache_stats WHERE layer = 'l2'}),
	'0', 'the queue was replayed');
cmp_ok($calls, '>=', 1_000_000, sprintf('%d calls in one backend', $calls));
note(sprintf('%.0f calls in %.1f s', $calls, time - $started));

# ---- cache_clear() gives L1's shared memory back.
$session->query_safe('SELECT cache_clear()');
is( $node->safe_psql('postgres',
		q{SELECT entries, bytes FROM cache_stats WHERE layer = 'l1'}),
	'0|0',
	'after cache_clear() L1 holds no entry and no byte');

$session->quit;
$node->stop;
done_testing();
