# Hostile input against a real Redis: keys with CR LF, spaces, quotes, glob
# and control characters reach Redis as exactly one key each (never as
# extra commands), pattern invalidation finds exactly them, bytes Redis
# holds that are not valid UTF-8 read as a miss, and huge values either
# round-trip or fail with a clear error while Redis and the server stay up.
# Also what a non-superuser can and cannot see of the Redis password.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextRedis;

my $port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('main', $port, '--requirepass', 'hostile-secret-pw');
$redis{main}{auth} = [ '-a', 'hostile-secret-pw', '--no-auth-warning' ];

my $node = cachext_node(
	'hostile', qq{cachext.redis_url = 'redis://:hostile-secret-pw\@127.0.0.1:$port'});

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub l2_stat
{
	return sql("SELECT $_[0] FROM cache_stats WHERE layer = 'l2'");
}

# ---- A sentinel key outside the prefix: nothing below may touch it.
redis_cli('main', 'SET', 'sentinel', 'alive');

# The hostile keys, written as PostgreSQL E'' literals and as Perl strings.
my @keys = (
	[ q{E'a b c'},                      "a b c" ],
	[ q{E'q"uo''te\\\\'},              "q\"uo'te\\" ],
	[ q{E'star*?[x]'},                  "star*?[x]" ],
	[ q{E'ctl\\x01\\x07\\x1b\\x7f'},    "ctl\x01\x07\x1b\x7f" ],
	[ q{E'x\\r\\nFLUSHALL\\r\\n'},      "x\r\nFLUSHALL\r\n" ],
	[ q{E'y\\r\\n*3\\r\\n$3\\r\\nSET\\r\\n$4\\r\\nevil\\r\\n$1\\r\\n1\\r\\n'},
		"y\r\n*3\r\n\$3\r\nSET\r\n\$4\r\nevil\r\n\$1\r\n1\r\n" ],
	[ q{E'tab\\tnl\\n'},                "tab\tnl\n" ],
	[ q{'ключ 🔑'},                     "ключ 🔑" ],);

my $values = join ",\n",
  map { "($_, $keys[$_][0])" } 0 .. $#keys;
sql("CREATE TABLE hostile (id int PRIMARY KEY, k text);
INSERT INTO hostile VALUES $values;
SELECT count(cache_set(k, to_jsonb(id))) FROM hostile");

# Each key is one Redis key (plus cachext's write sequence "<key>\0seq"):
# the database holds exactly the sentinel and two keys per cache key.
is(redis_cli('main', 'DBSIZE'), 1 + 2 * @keys,
	'every key reached Redis as one key; no command was injected');
for my $i (0 .. $#keys)
{
	is(redis_cli('main', 'GET', "cache:$keys[$i][1]"), $i,
		"key $keys[$i][0] is stored under its exact bytes");
}
is(redis_cli('main', 'EXISTS', 'FLUSHALL', 'evil', 'cache:x', 'cache:y'), '0',
	'no key made of a fragment of a hostile key');
is(redis_cli('main', 'GET', 'sentinel'), 'alive', 'the sentinel is untouched');

# ---- Redis to PostgreSQL: a value another client stored under a hostile
# key is read back by its exact bytes.
redis_cli('main', 'SET', "cache:z\r\nDEL sentinel\r\n", '"from redis-cli"');
is(sql(q{SELECT cache_get(E'z\r\nDEL sentinel\r\n')}), '"from redis-cli"',
	'a value another client stored under a CR LF key is read');
is(sql(q{SELECT cache_invalidate(E'z\r\nDEL sentinel\r\n')}), 't',
	'and invalidated');

# ---- Pattern invalidation: CR LF is an ordinary character; a glob
# character matches itself only when escaped.
redis_cli('main', 'SET', 'cache:starXYx', '"look-alike"');
is(sql(q{SELECT cache_invalidate_pattern(E'star\\\\*\\\\?\\\\[x]')}), '1',
	'an escaped pattern removes the key with glob characters');
is(redis_cli('main', 'EXISTS', 'cache:star*?[x]', 'cache:starXYx'), '1',
	'and not the look-alike the unescaped pattern would match');
is(redis_cli('main', 'GET', 'cache:starXYx'), '"look-alike"', 'the look-alike survives');
is(sql(q{SELECT cache_invalidate_pattern(E'[xy]\r\n*')}), '2',
	'a pattern with CR LF removes exactly the two CR LF keys');
is(redis_cli('main', 'EXISTS', "cache:$keys[4][1]", "cache:$keys[5][1]"), '0',
	'both are gone from Redis');

# ---- A watched table whose key column holds CR LF invalidates that key.
sql(q{SELECT cache_watch_table('hostile', 'HOSTILE', ARRAY['{k}'])});
sql(q{SELECT cache_set(k, '"cached"') FROM hostile WHERE id = 4});
is(redis_cli('main', 'EXISTS', "cache:$keys[4][1]"), '1', 'CR LF key cached again');
sql(q{UPDATE hostile SET id = id + 100 WHERE id IN (4, 6)});
is(redis_cli('main', 'EXISTS', "cache:$keys[4][1]", "cache:$keys[6][1]"), '0',
	'the trigger unlinks the CR LF key (and the tab one) in Redis');

# ---- cache_clear removes the prefix and nothing else.
sql('SELECT cache_clear()');
is(redis_cli('main', '--scan', '--pattern', 'cache:*'), '', 'cache_clear empties the prefix');
# what is left: the sentinel, cachext's epoch of pattern invalidations and
# the sequences of the fence buckets the watched UPDATE lifted (expiring an
# hour idle); no fence stands
is( redis_cli(
		'main', 'EVAL',
		"local seq = '\\0cachext:bucket-seq' local n = 0 "
		  . "for _, k in ipairs(redis.call('KEYS', '*')) do "
		  . "if k ~= 'sentinel' and k ~= '\\0cachext:epoch' and "
		  . "k:sub(-#seq) ~= seq then n = n + 1 end end return n",
		'0'),
	'0',
	'only the sentinel, the epoch and the fence buckets\' sequences are left');
is(redis_cli('main', 'EVAL', "return #redis.call('KEYS', '*bucket-seq')", '0'),
	'2', 'the sequences of the two buckets the UPDATE fenced');
is(redis_cli('main', 'EVAL', "return #redis.call('KEYS', '*fence*')", '0'),
	'0', 'and no fence is left standing');
is(redis_cli('main', 'GET', 'sentinel'), 'alive', 'the sentinel is intact');

# ---- Bytes that are not UTF-8, or not JSON, under the prefix: a miss and
# an L2 error, never an ERROR.
sql('SELECT cache_stats_reset()');
redis_cli('main', 'SET', 'cache:latin1', "\"caf\xe9\"");
redis_cli('main', 'SET', 'cache:deep', '[' x 50000 . ']' x 50000);
is(sql(q{SELECT cache_get('latin1') IS NULL AND cache_get('deep') IS NULL}), 't',
	'invalid UTF-8 and JSON nested deeper than jsonb parses read as misses');
is(l2_stat('errors'), '2', 'both counted as L2 errors');
sql(q{SELECT cache_set('nested', (repeat('[', 10000) || repeat(']', 10000))::jsonb)});
is(redis_cli('main', 'GET', 'cache:nested'), '[' x 10000 . ']' x 10000,
	'JSON nested 10000 deep is stored in Redis');
redis_cli('main', 'SET', 'cache:nested2', '[' x 10000 . ']' x 10000);
is(sql(q{SELECT length(cache_get('nested2')::text)}), '20000',
	'and read back from Redis');

# ---- Huge values.  jsonb holds at most 256 MB, Redis one string of at
# most 512 MB; escapes can make a jsonb's text longer than that.  A large
# value needs a cachext.redis_timeout long enough to send it.
my $t0 = time;
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET cachext.redis_timeout = '60s';
SELECT cache_set('big', to_jsonb(repeat('x', 100 * 1024 * 1024)));
SELECT cache_get('nothing');});
is($ret . $err, '0', 'a 100 MB value is stored without a WARNING');
is(redis_cli('main', 'STRLEN', 'cache:big'), 100 * 1024 * 1024 + 2,
	'and Redis holds all of it');
is(sql(q{SET cachext.redis_timeout = '60s'; SELECT length(cache_get('big')::text)}),
	100 * 1024 * 1024 + 2, 'a new session reads it back from Redis');
note(sprintf('100 MB round trip: %.1f s', time - $t0));

$t0 = time;
sql('SELECT cache_stats_reset()');
($ret, $out, $err) = $node->psql('postgres',
	q{SET cachext.redis_timeout = '60s';
SELECT cache_set('escaped', to_jsonb(repeat(chr(1), 90 * 1000 * 1000)));});
like($err, qr/ERROR:  cache value is too large for Redis\nDETAIL:  The value's JSON text takes 540000002 bytes; Redis takes at most 536870912 bytes in one string/,
	'a jsonb whose text exceeds 512 MB is refused with a clear error');
is(redis_cli('main', 'EXISTS', 'cache:escaped'), '0', 'nothing was sent');
is(l2_stat('errors || \',\' || redis_up'), '0,true',
	'Redis was not bothered: no error counted, still up');
note(sprintf('540 MB refusal: %.1f s', time - $t0));

$t0 = time;
($ret, $out, $err) = $node->psql('postgres',
	q{SET cachext.redis_timeout = '60s';
SELECT cache_set('escaped', to_jsonb(repeat(chr(1), 180 * 1000 * 1000)));});
# (PostgreSQL 18 says "string buffer exceeds maximum allowed length" where
# earlier versions say "out of memory"; the detail is the same.)
like($err,
	qr/ERROR:  (?:out of memory|string buffer exceeds maximum allowed length \(\d+ bytes\))\nDETAIL:  Cannot enlarge string buffer/,
	'a jsonb whose text would exceed 1 GB fails with PostgreSQL\'s own limit error');
is(sql('SELECT 1'), '1', 'the server is still up');
note(sprintf('1 GB refusal: %.1f s', time - $t0));

# Even where L1 could hold such a value, Redis is configured, so it is
# refused before either layer changes: an L1-only copy would be one that
# Redis' invalidation messages cannot reach.  The write fails as a whole.
my $big_l1 = cachext_node(
	'big_l1', qq{cachext.redis_url = 'redis://:hostile-secret-pw\@127.0.0.1:$port'
cachext.l1_partitions = 1
cachext.l1_memory = 160MB
cachext.l1_max_value_size = 150MB});
redis_cli('main', 'SET', 'cache:escaped_l1', '"older value"');
($ret, $out, $err) = $big_l1->psql('postgres',
	q{SELECT cache_set('escaped_l1', to_jsonb(repeat(chr(1), 90 * 1000 * 1000)))});
like($err, qr/ERROR:  cache value is too large for Redis/,
	'a value L1 could hold but Redis cannot take is refused with Redis configured');
unlike($err, qr/WARNING/, 'without a WARNING: Redis was not asked, so no breaker opened');
is( $big_l1->safe_psql(
		'postgres', q{SELECT cache_get('escaped_l1'),
       (SELECT entries FROM cache_stats WHERE layer = 'l1')}),
	'"older value"|1',
	'both layers are as they were: the older value, read from Redis and promoted');
$big_l1->stop;

# With the default cachext.redis_timeout (100 ms) a large value may not
# reach Redis in time: a WARNING, a counted timeout, and no value stored.
sql('SELECT cache_stats_reset()');
($ret, $out, $err) = $node->psql('postgres',
	q{SET cachext.redis_timeout = '1ms';
SELECT cache_set('slow', to_jsonb(repeat('x', 50 * 1024 * 1024)));});
like($err, qr/WARNING:  cachext could not use Redis.*\nDETAIL:  Redis did not answer within cachext.redis_timeout/,
	'a value Redis cannot take in time is a WARNING');
is(l2_stat('timeouts'), '1', 'and a counted timeout');
is(sql(q{SELECT cache_get('slow') IS NULL}), 't', 'and is not served stale afterwards');
is(redis_cli('main', 'GET', 'sentinel'), 'alive', 'Redis is up and the sentinel intact');
sql(q{SELECT cache_invalidate('big')});

# ---- The password.  A non-superuser can read the URL neither with SHOW,
# current_setting nor pg_settings; members of pg_read_all_settings can.
sql('CREATE ROLE plain LOGIN; CREATE ROLE settings_reader LOGIN IN ROLE pg_read_all_settings;
CREATE ROLE stats_reader LOGIN IN ROLE pg_read_all_stats');
for my $query ('SHOW cachext.redis_url',
	q{SELECT current_setting('cachext.redis_url')})
{
	($ret, $out, $err) = $node->psql('postgres', $query,
		extra_params => [ '-U', 'plain' ]);
	# Core's refusal, worded differently from PostgreSQL 16 on.
	like($err,
		qr/must be superuser or have privileges of pg_read_all_settings|permission denied to examine "cachext\.redis_url"/,
		"$query is refused to a non-superuser");
	unlike($out . $err, qr/hostile-secret-pw/, "and $query shows no password");
}
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM pg_settings WHERE setting LIKE '%hostile-secret%' OR name = 'cachext.redis_url'},
		extra_params => [ '-U', 'plain' ]),
	'0',
	'pg_settings hides the URL from a non-superuser');
like( $node->safe_psql(
		'postgres', 'SHOW cachext.redis_url',
		extra_params => [ '-U', 'settings_reader' ]),
	qr/hostile-secret-pw/,
	'a member of pg_read_all_settings can read the URL (documented)');

# A wrong password: the non-superuser's WARNING names host and port only.
my $bg = $node->background_psql('postgres');
$bg->query_safe(
	q{ALTER SYSTEM SET cachext.redis_url = 'redis://:wrong-secret-pw@127.0.0.1:} . $port . q{'});
$bg->query_safe('SELECT pg_reload_conf()');
$node->poll_query_until('postgres',
	q{SELECT current_setting('cachext.redis_url') LIKE '%wrong-secret-pw%'})
  or die 'the new URL was not loaded';
($ret, $out, $err) = $node->psql('postgres', q{SELECT cache_get('k')},
	extra_params => [ '-U', 'plain' ]);
like($err, qr/WARNING:  cachext could not use Redis at 127\.0\.0\.1:$port\/0\nDETAIL:  Redis refused AUTH: WRONGPASS/,
	'a refused password is reported to a non-superuser');
unlike($err, qr/secret-pw/, 'without the password');

# pg_stat_activity keeps the text of the superuser's last statement, the
# ALTER SYSTEM above, password included: hidden from ordinary roles, shown
# to pg_read_all_stats (documented: set the URL where no one watches).
my $activity = q{SELECT query FROM pg_stat_activity WHERE query LIKE 'ALTER SYSTEM%' OR query LIKE 'SELECT pg_reload_conf%'};
$bg->query_safe(
	q{ALTER SYSTEM SET cachext.redis_url = 'redis://:hostile-secret-pw@127.0.0.1:} . $port . q{'});
unlike(
	$node->safe_psql('postgres', 'SELECT string_agg(query, \' \') FROM pg_stat_activity',
		extra_params => [ '-U', 'plain' ]),
	qr/secret-pw/,
	'an ordinary role does not see the password in pg_stat_activity');
like($node->safe_psql('postgres', $activity, extra_params => [ '-U', 'stats_reader' ]),
	qr/hostile-secret-pw/,
	'a member of pg_read_all_stats sees the last statement of a superuser session (documented)');
$bg->query_safe('SELECT pg_reload_conf()');
$bg->quit;

$node->stop;
done_testing();
