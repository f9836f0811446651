# L2 (Redis) end to end: every SQL function across both layers, promotion
# with Redis' remaining TTL, the interop format, prefix isolation, and the
# faults (Redis killed, stopped, restarted, refusing the password) during
# which queries keep working from L1.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextRedis;

my $redis_dir = redis_dir();

my $port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('main', $port, '--unixsocket', "$redis_dir/main.sock",
	'--unixsocketperm', '700');

my $node = cachext_node(
	'l2', qq{cachext.redis_url = 'redis://127.0.0.1:$port'
cachext.l1_max_value_size = 1kB
cachext.redis_timeout = 100ms
cachext.redis_retry_interval = 1s});

# Points the server at another Redis URL and waits until new backends see it.
sub set_url
{
	my ($url) = @_;
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET cachext.redis_url = '$url'; SELECT pg_reload_conf()");
	$node->poll_query_until('postgres',
		"SELECT current_setting('cachext.redis_url') = '$url'")
	  or die "reload of cachext.redis_url timed out";
}

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub l2_stat
{
	my ($column) = @_;
	return sql("SELECT $column FROM cache_stats WHERE layer = 'l2'");
}

# ---- Round trip: cache_set writes JSON text as jsonb prints it, with PX.
sql(q{SELECT cache_set('rt', '{"b":[1,2]}')});
is(redis_cli('main', 'GET', 'cache:rt'), '{"b": [1, 2]}',
	'cache_set stores the jsonb text in Redis under the prefix');
my $pttl = redis_cli('main', 'PTTL', 'cache:rt');
ok($pttl > 3_590_000 && $pttl <= 3_600_000,
	"default TTL is one hour in Redis (PTTL $pttl)");
sql(q{SELECT cache_set('forever', '1', NULL)});
is(redis_cli('main', 'PTTL', 'cache:forever'), '-1', 'ttl => NULL gives no expiry in Redis');
sql(q{SELECT cache_set('short', '"s"', interval '10 seconds')});
$pttl = redis_cli('main', 'PTTL', 'cache:short');
ok($pttl > 9_000 && $pttl <= 10_000, "explicit TTL reaches Redis (PTTL $pttl)");

# ---- Reads: an L2 hit is promoted into L1 with Redis' remaining TTL.
sql('SELECT cache_stats_reset()');
redis_cli('main', 'SET', 'cache:promo', '{"a":1}', 'PX', '60000');
is(sql(q{SELECT cache_get('promo')}), '{"a": 1}', 'a key written by redis-cli is read');
my $left = sql(
	q{SELECT extract(epoch FROM expires_at - now()) FROM cache_entries WHERE key = 'promo'});
ok($left > 55 && $left <= 60.1, "promoted entry keeps the remaining TTL ($left s)");
is(l2_stat('hits || \',\' || promotions'), '1,1', 'L2 hit counted as hit and promotion');
redis_cli('main', 'SET', 'cache:x', '{"a":1}');
is(sql(q{SELECT cache_get('x')}), '{"a": 1}', 'redis-cli SET without TTL is read');
is( sql(
		q{SELECT expires_at BETWEEN now() AND clock_timestamp() + current_setting('cachext.l1_max_ttl')::interval
FROM cache_entries WHERE key = 'x'}),
	't', 'PTTL -1 promotes an entry that L1 keeps at most cachext.l1_max_ttl');
is(sql(q{SELECT cache_get('absent') IS NULL}), 't', 'a key in neither layer is a miss');

# ---- Garbage under the prefix is a miss and an error, never an ERROR.
sql('SELECT cache_stats_reset()');
redis_cli('main', 'SET', 'cache:garbage', 'not json {');
is(sql(q{SELECT cache_get('garbage') IS NULL}), 't', 'invalid JSON in Redis reads as a miss');
is(l2_stat('errors || \',\' || misses'), '1,1', 'invalid JSON counted as error and miss');

# ---- Multi-get: L1 first, the rest in one MGET, promoted.
redis_cli('main', 'SET', 'cache:m1', '1', 'PX', '30000');
redis_cli('main', 'SET', 'cache:m2', '{"x":2}');
sql(q{SELECT cache_set('m3', '3')});
is( sql(
		q{SELECT string_agg(key || '=' || value, ' ') FROM cache_get_multi(ARRAY['m1','m2','m3','m4'])}
	),
	'm1=1 m2={"x": 2} m3=3',
	'cache_get_multi reads L1 and Redis');
is(sql(q{SELECT count(*) FROM cache_entries WHERE key IN ('m1','m2')}),
	'2', 'cache_get_multi promotes what Redis had');

# ---- Values too large for L1 go to Redis alone.
sql(q{SELECT cache_set('big', to_jsonb(repeat('x', 3000)))});
is(sql(q{SELECT count(*) FROM cache_entries WHERE key = 'big'}), '0', 'large value not in L1');
is(sql(q{SELECT length(cache_get('big')::text)}), '3002', 'large value read back from Redis');

# ---- cache_get_or_set reads Redis before loading, and stores into it.
redis_cli('main', 'SET', 'cache:gos', '{"v":1}');
is(sql(q{SELECT cache_get_or_set('gos', 'SELECT 42')}), '{"v": 1}',
	'cache_get_or_set returns what Redis has without loading');
is(sql(q{SELECT cache_get_or_set('gos2', 'SELECT 42')}), '42',
	'cache_get_or_set loads a key neither layer has');
is(redis_cli('main', 'GET', 'cache:gos2'), '42', 'and the loaded value reaches Redis');

# ---- Invalidation reaches both layers.
is(sql(q{SELECT cache_invalidate('rt')}), 't', 'cache_invalidate finds the key');
is(redis_cli('main', 'EXISTS', 'cache:rt'), '0', 'cache_invalidate unlinks it in Redis');
redis_cli('main', 'SET', 'cache:only', '1');
is(sql(q{SELECT cache_invalidate('only')}), 't', 'a key only Redis had counts as present');
is(sql(q{SELECT cache_invalidate('nothing')}), 'f', 'a key no layer had is false');

# ---- A watched table's committed change invalidates the key in Redis too.
sql(q{CREATE TABLE users (id int PRIMARY KEY, name text);
INSERT INTO users VALUES (7, 'Ada');
SELECT cache_watch_table('users', 'USER', ARRAY['user:{id}'])});
sql(q{SELECT cache_set('user:7', '{"name": "Ada"}')});
is(redis_cli('main', 'EXISTS', 'cache:user:7'), '1', 'watched key cached in Redis');
sql(q{UPDATE users SET name = 'Grace' WHERE id = 7});
is(redis_cli('main', 'EXISTS', 'cache:user:7'), '0',
	'a committed row change unlinks the key in Redis');
is(sql(q{SELECT cache_get('user:7') IS NULL}), 't', 'and it is gone from L1');

# ---- Pattern invalidation stays inside the prefix.
sql(q{SELECT cache_set('user:1', '1'), cache_set('user:2', '2')});
redis_cli('main', 'SET', 'cache:user:3', '3');
redis_cli('main', 'SET', 'other:user:1', '1');
redis_cli('main', 'SET', 'cache:item:1', '1');
is(sql(q{SELECT cache_invalidate_pattern('user:*')}), '3', 'pattern counts Redis removals');
is(redis_cli('main', 'EXISTS', 'cache:user:1', 'cache:user:2', 'cache:user:3'),
	'0', 'pattern removes matching keys from Redis');
is(redis_cli('main', 'EXISTS', 'other:user:1', 'cache:item:1'),
	'2', 'keys outside the prefix or the pattern are untouched');

# A prefix with glob metacharacters is matched literally.
redis_cli('main', 'SET', 'p1:k', '1');
sql(q{SET cachext.namespace = 'p[1]:'; SELECT cache_set('k', '1'); SELECT cache_invalidate_pattern('*')});
is(redis_cli('main', 'EXISTS', 'p[1]:k', 'p1:k'), '1',
	'glob characters in the prefix are escaped in SCAN MATCH');
is(redis_cli('main', 'EXISTS', 'p1:k'), '1', 'the look-alike key survives');

# ---- cache_clear empties this prefix in Redis and nothing else.
sql('SELECT cache_clear()');
is(redis_cli('main', '--scan', '--pattern', 'cache:*'), '', 'cache_clear unlinks the prefix in Redis');
is(redis_cli('main', 'EXISTS', 'other:user:1'), '1', 'cache_clear leaves other prefixes');

# ---- unix socket with a database number.
set_url("unix://$redis_dir/main.sock?db=1");
sql(q{SELECT cache_set('u', '"sock"')});
is(redis_cli('main', '-n', '1', 'GET', 'cache:u'), '"sock"', 'unix:// URL with ?db= works');
set_url("redis://127.0.0.1:$port");
is(l2_stat('redis_up'), 't', 'redis_up after a successful exchange');

# ---- Faults: Redis killed.  Queries keep working from L1.
redis_kill('main');
my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT cache_set('down', '"l1"'); SELECT cache_get('down')});
is($ret, 0, 'cache_set and cache_get succeed while Redis is dead');
like($out, qr/^"l1"$/m, 'L1 serves while Redis is dead');
like($err, qr/WARNING:.*could not use Redis/, 'a WARNING says Redis is unavailable');
is(l2_stat('redis_up'), 'f', 'redis_up false after a failure');

# ---- An invalidation issued while Redis is down reaches Redis later.
redis_start('main', $port);
sql(q{SELECT cache_set('stale', '"old"')});
is(redis_cli('main', 'GET', 'cache:stale'), '"old"', 'value in Redis before the outage');
kill 'STOP', $redis{main}{pid};
($ret, $out, $err) = $node->psql('postgres', q{SELECT cache_invalidate('stale')});
is($out, 't', 'cache_invalidate succeeds while Redis is stopped');
is(l2_stat('queue_length'), '1', 'the invalidation waits in the queue');
kill 'CONT', $redis{main}{pid};
is(sql(q{SELECT cache_get('stale') IS NULL}), 't', 'no stale read after Redis is back');
is(redis_cli('main', 'EXISTS', 'cache:stale'), '0', 'queued invalidation replayed in Redis');
is(l2_stat('queue_length || \',\' || (invalidations_replayed >= 1)'), '0,true',
	'queue empty and replay counted');

# ---- The breaker: with Redis stopped, 200 misses cost about one timeout.
kill 'STOP', $redis{main}{pid};
my $t0 = time;
$node->psql('postgres',
	q{SELECT count(cache_get('miss' || i)) FROM generate_series(1, 200) i});
my $elapsed = time - $t0;
ok($elapsed < 5, sprintf('200 misses with Redis stopped took %.2f s (no breaker: 20 s)', $elapsed));
ok(l2_stat('timeouts') >= 1, 'timeouts counted');

# ---- A cancel interrupts a slow Redis wait at once.
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_safe(q{SET cachext.redis_timeout = '10s'});
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_until(qr/started/, "\\echo started\nSELECT cache_get('slow');\n");
$node->poll_query_until('postgres',
	"SELECT wait_event_type = 'Extension' FROM pg_stat_activity WHERE pid = $pid")
  or die 'the backend never waited on Redis';
my $cancel_ms = sql(qq{
CREATE FUNCTION pg_temp.cancel_ms(p int) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  PERFORM pg_cancel_backend(p);
  LOOP
    PERFORM pg_stat_clear_snapshot();
    EXIT WHEN (SELECT state FROM pg_stat_activity WHERE pid = p) <> 'active'
      OR clock_timestamp() - t0 > interval '5 s';
    PERFORM pg_sleep(0.005);
  END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END \$\$;
SELECT pg_temp.cancel_ms($pid);});
ok($cancel_ms < 500, "pg_cancel_backend interrupts the Redis wait in $cancel_ms ms");
$bg->quit;
kill 'CONT', $redis{main}{pid};

# ---- Restart on the same port: one backend resumes L2 by itself.
redis_kill('main');
$bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/started/,
	"\\echo started\nSELECT count(*) FROM (SELECT cache_set('r' || i, to_jsonb(i)), pg_sleep(0.1) FROM generate_series(1, 40) i) s;\n"
);
usleep(1_000_000);
redis_start('main', $port);
$bg->query('SELECT 1');
$bg->quit;
my $first;
for my $i (1 .. 40)
{
	if (redis_cli('main', 'EXISTS', "cache:r$i") eq '1') { $first = $i; last; }
}
ok(defined $first && $first <= 32,
	'the same backend writes to Redis again after the retry interval (first key r'
	  . ($first // 'none') . ')');
is(redis_cli('main', 'EXISTS', 'cache:r40'), '1', 'L2 stays in use after resuming');

# ---- AUTH with a password and with an ACL user, and a wrong password.
my $auth_port = PostgreSQL::Test::Cluster::get_free_port();
my $acl_conf = "$redis_dir/acl.conf";
open my $fh, '>', $acl_conf or die;
print $fh "requirepass secretpw\nuser alice on >alicepw ~* +\@all\n"
  . "user carol on >p\@ss:w/rd% ~* +\@all\n";
close $fh;
redis_start('auth', $auth_port, '--include', $acl_conf);
$redis{auth}{auth} = [ '-a', 'secretpw', '--no-auth-warning' ];

set_url("redis://:secretpw\@127.0.0.1:$auth_port");
sql(q{SELECT cache_set('auth', '1')});
is(redis_cli('auth', 'GET', 'cache:auth'), '1', 'AUTH with a password');

set_url("redis://alice:alicepw\@127.0.0.1:$auth_port/3");
sql(q{SELECT cache_set('acl', '2')});
is(redis_cli('auth', '-n', '3', 'GET', 'cache:acl'), '2', 'ACL user AUTH and SELECT');

# A password holding "@", ":", "/" and "%" is written percent-encoded.
set_url("redis://carol:p%40ss%3Aw%2Frd%25\@127.0.0.1:$auth_port");
sql(q{SELECT cache_set('pct', '3')});
is(redis_cli('auth', 'GET', 'cache:pct'), '3', 'a percent-encoded password is decoded for AUTH');

set_url("redis://:wrongpw99\@127.0.0.1:$auth_port");
sql('SELECT cache_stats_reset()');
my $log_offset = -s $node->logfile;
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT cache_set('wp', '5'); SELECT cache_get('wp')});
like($out, qr/^5$/m, 'L1 keeps working with a wrong password');
like($err, qr/WRONGPASS/, 'the refusal is reported');
unlike($err, qr/wrongpw99/, 'the password is not shown to the client');
ok(l2_stat('errors') >= 1, 'the wrong password is counted');
my $log = slurp_file($node->logfile, $log_offset);
like($log, qr/WARNING:.*could not use Redis at 127\.0\.0\.1:$auth_port/, 'the refusal is logged');
# log_statement = all logs our own ALTER SYSTEM; cachext's messages must not.
my @messages = grep { /(WARNING|DETAIL|HINT|ERROR):/ && !/statement:/ }
  split /\n/, slurp_file($node->logfile);
ok(!grep({ /wrongpw99|secretpw|alicepw/ } @messages), 'no password in cachext\'s messages');

# ---- Queue overflow: the safe superset, the whole prefix, is replayed.
set_url("redis://127.0.0.1:$port");
sql(q{SELECT cache_set('keep', '1')});
redis_cli('main', 'SET', 'other:keep', '1');
sql('SELECT cache_stats_reset()');
kill 'STOP', $redis{main}{pid};
$node->psql('postgres',
	q{SELECT count(cache_invalidate('overflow:' || i)) FROM generate_series(1, 4000) i});
is(l2_stat('queue_overflows >= 1 AND queue_length = 1'), 't',
	'an overflowing queue keeps one whole-prefix invalidation');
kill 'CONT', $redis{main}{pid};
sql(q{SELECT cache_get('anything')});
is(redis_cli('main', 'EXISTS', 'cache:keep'), '0', 'the overflow replay empties the prefix in Redis');
is(redis_cli('main', 'EXISTS', 'other:keep'), '1', 'and nothing outside it');
is(l2_stat('queue_length'), '0', 'the queue is empty after the replay');

# ---- The URL is a secret: only superusers may read it.
sql('CREATE ROLE plain LOGIN');
($ret, $out, $err) = $node->psql('postgres', 'SHOW cachext.redis_url',
	extra_params => [ '-U', 'plain' ]);
isnt($ret, 0, 'a non-superuser cannot read cachext.redis_url');

# ---- A malformed URL is refused without quoting its password.
($ret, $out, $err) = $node->psql('postgres',
	q{ALTER SYSTEM SET cachext.redis_url = 'redis://:topsecret@127.0.0.1:99999'});
like($err, qr/invalid value for parameter "cachext.redis_url".*\n.*port must be a number/,
	'a malformed URL is refused with the reason');
unlike($err, qr/topsecret/, 'the refusal does not quote the password');
($ret, $out, $err) = $node->psql('postgres',
	q{ALTER SYSTEM SET cachext.redis_url = 'redis://:top%zzsecret@127.0.0.1'});
like($err, qr/invalid value for parameter "cachext.redis_url".*\n.*two hexadecimal digits/,
	'a malformed percent-escape in the password is refused with the reason');
unlike($err, qr/secret/, 'that refusal does not quote the password either');

# ---- Without cachext.redis_url, cachext is L1 alone, as before.
set_url('');
is(sql('SELECT string_agg(layer, \',\') FROM cache_stats'), 'l1', 'no l2 row without Redis');
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT cache_set('big2', to_jsonb(repeat('x', 3000)))});
like($err, qr/cache value is too large/, 'large values are refused without Redis');

$node->stop;
done_testing();
