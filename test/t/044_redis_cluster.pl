# Redis Cluster (redis-cluster://): three masters from redis-server
# --cluster-enabled and redis-cli --cluster create.  Keys land on the node
# owning their slot; values a cluster client (Python's RedisCluster) wrote
# are read; cache_get_multi reads keys of many slots; cache_get_or_set's
# lease and load lock live in the key's slot; pattern invalidation reaches
# every master; a MOVED (a slot moved by hand) is followed; the sync worker
# follows every master's invalidations, so a write on the owning master by
# another client evicts the key from L1.  Tags are refused (0A000) at each
# entry point, and the untagged API keeps working after the refusals.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextLoad;
use CachextNode;
use CachextRedis;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my @masters = qw(m1 m2 m3);
my %port = redis_create_cluster(@masters);
ok(wait_for(120, sub { redis_cluster_ok(@masters) }),
	'the three masters form a cluster');

my $seeds = join ',', map { "127.0.0.1:$port{$_}" } @masters[ 0 .. 1 ];
my $node = cachext_node(
	'cluster', qq{cachext.redis_url = 'redis-cluster://$seeds'
cachext.redis_retry_interval = 200ms
cachext.redis_timeout = 2s
cachext.redis_connect_timeout = 2s});

sub sql { return $node->safe_psql('postgres', $_[0]); }

ok( poll_node($node,
		q{SELECT sync_resets >= 1 FROM cache_stats WHERE layer = 'l2'}),
	'the sync worker follows the cluster');
like(slurp_file($node->logfile), qr/every change in Redis \(3 nodes\)/,
	'it follows the three masters');

# The master whose node answers EXISTS for key (the others answer MOVED).
sub owners
{
	my ($key) = @_;
	return grep { redis_cli($_, 'EXISTS', $key) eq '1' } @masters;
}

# ---- Keys land on the node that owns their slot.
sql(q{SELECT count(cache_set('k' || i, to_jsonb(i))) FROM generate_series(1, 60) i});
is(sql(q{SELECT errors FROM cache_stats WHERE layer = 'l2'}),
	'0', 'sixty writes across the cluster cost no L2 error');
my %seen;
my $placed = 0;
for my $i (1 .. 60)
{
	my @on = owners("cache:k$i");
	$placed++ if @on == 1;
	$seen{$_}++ for @on;
}
is($placed, 60, 'every key is on exactly one master');
is(scalar(keys %seen), 3, 'the keys spread over the three masters');
is( redis_cli('m1', '-c', 'GET', 'cache:k7'), '7',
	'a cluster client reads what cachext wrote');

# ---- Values written by Python's RedisCluster are read (from L2: new keys).
my $py = qq{
from redis.cluster import RedisCluster
r = RedisCluster(host='127.0.0.1', port=$port{m3})
for i in range(1, 81):
    r.set('cache:py%d' % i, '{"py": %d}' % i)
};
my ($out, $err) = ('', '');
IPC::Run::run [ 'python3', '-c', $py ], '>', \$out, '2>', \$err
  or die "python3 RedisCluster failed: $err";
is( sql(q{SELECT count(*) FROM generate_series(1, 40) i
		  WHERE cache_get('py' || i) = jsonb_build_object('py', i)}),
	'40', 'values written by RedisCluster are read through cachext');

# ---- cache_get_multi across slots (MGET split by slot, per node).
is( sql(q{SELECT count(*) FROM cache_get_multi(ARRAY(SELECT 'py' || i FROM generate_series(41, 80) i)
		  || ARRAY['absent1', 'absent2']) WHERE value = jsonb_build_object('py', substr(key, 3)::int)}),
	'40', 'cache_get_multi reads forty keys of many slots from Redis, and misses two');

# ---- cache_get_or_set: the lease and the load lock live in the key's slot.
is(sql(q{SELECT cache_get_or_set('gos', 'SELECT 42')}), '42',
	'cache_get_or_set loads and stores on a cluster');
is(scalar(owners('cache:gos')), 1, 'the loaded value is in Redis');
my $gos_slot = redis_cli('m1', 'CLUSTER', 'KEYSLOT', 'cache:gos');
my ($seq_owner) = grep { redis_cli($_, 'CLUSTER', 'COUNTKEYSINSLOT', $gos_slot) >= 2 } @masters;
ok($seq_owner, "the key's write sequence shares its slot");
is(sql(q{SELECT cache_get_or_set('gos', 'SELECT 43')}), '42',
	'cache_get_or_set finds what it stored');

# ---- Pattern invalidation SCANs and unlinks on every master.
is(sql(q{SELECT cache_invalidate_pattern('k*')}), '60',
	'pattern invalidation removes the keys of every master');
is( (grep { redis_cli($_, '--scan', '--pattern', 'cache:k*') ne '' } @masters),
	0, 'no master keeps a matching key');
is(sql(q{SELECT cache_get('py5')}), '{"py": 5}', 'other keys stay');

# ---- Coherence: a write by another client on the owning master evicts L1.
for my $i (1 .. 3)
{
	sql("SELECT cache_get('py$i')");
	redis_cli('m1', '-c', 'SET', "cache:py$i", qq({"py": -$i}));
}
ok( poll_node($node,
		q{SELECT count(*) = 3 FROM generate_series(1, 3) i
		  WHERE cache_get('py' || i) = jsonb_build_object('py', -i)}),
	'writes on each owning master evict L1 within the coherence bound');

# ---- A watched table: a committing UPDATE fences and invalidates its keys
# (one script per key, each in its key's slot), a TRUNCATE its patterns
# (every slot's fence); nothing is left behind.
sql(q{CREATE TABLE w (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO w SELECT i, 0 FROM generate_series(1, 30) i;
SELECT cache_watch_table('w', 'W', ARRAY['w:{id}'])});
sql(q{SELECT count(cache_set('w:' || i, '0')) FROM generate_series(1, 30) i});
sql(q{UPDATE w SET v = 1 WHERE id <= 20});
is(scalar(grep { scalar(owners("cache:w:$_")) } 1 .. 30), 10,
	'the UPDATE invalidated its twenty keys in Redis');
is(scalar(grep { redis_cli($_, '--scan', '--pattern', '*fence*') ne '' } @masters),
	0, 'no fence is left on any master');
is(sql(q{SELECT cache_get_or_set('w:25', 'SELECT 25')}), '0',
	'a load after the fences were lifted reads Redis');
sql(q{TRUNCATE w});
is(scalar(grep { redis_cli($_, '--scan', '--pattern', 'cache:w:*') ne '' } @masters),
	0, 'a TRUNCATE invalidates the keys of every master');
is(scalar(grep { redis_cli($_, '--scan', '--pattern', '*fence*') ne '' } @masters),
	0, 'and leaves no fence');
is(sql(q{SELECT cache_get_or_set('w:3', 'SELECT 3')}), '3',
	'a load after the TRUNCATE stores');
is(scalar(owners('cache:w:3')), 1, 'in Redis too');

# ---- A slot moved by hand: cachext follows MOVED.
my $slot = redis_cli('m1', 'CLUSTER', 'KEYSLOT', 'cache:moving');
sql(q{SELECT cache_set('moving', '1')});
my ($from) = owners('cache:moving');
my ($to) = grep { $_ ne $from } @masters;
my %id = map { $_ => redis_cli($_, 'CLUSTER', 'MYID') } @masters;
redis_cli($to, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $id{$from});
redis_cli($from, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $id{$to});
for my $key (split /\n/, redis_cli($from, 'CLUSTER', 'GETKEYSINSLOT', $slot, '100'))
{
	redis_cli($from, 'MIGRATE', '127.0.0.1', $port{$to}, $key, '0', '5000');
}
redis_cli($_, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $id{$to}) for @masters;
sql(q{SELECT cache_set('moving', '2')});
is(redis_cli($to, 'GET', 'cache:moving'), '2', 'a write after MOVED lands on the new owner');
is(sql(q{SELECT errors FROM cache_stats WHERE layer = 'l2'}), '0',
	'no L2 error along the way');

# ---- Tags are refused: their scripts touch the member set's slot and every
# member's, which a cluster answers with CROSSSLOT.  Each use of a tag fails
# with 0A000, saying why and what to use instead, and stores nothing.
sub refused_tag_use
{
	my ($what, $query) = @_;
	my ($rc, $out, $err) =
	  $node->psql('postgres', "\\set VERBOSITY verbose\n$query");
	my $refusal = join '\n',
	  'ERROR:  0A000: cache tags are not supported with Redis Cluster',
	  'DETAIL:  cachext\.redis_url names a cluster; .* different hash slots\.',
	  'HINT:  Use a single Redis node or Sentinel for tags, .*';
	like($err, qr/$refusal/, "$what is refused with 0A000, its reason and a hint");
}
refused_tag_use('a tagged cache_set',
	q{SELECT cache_set('tagged', '1', '1 hour', ARRAY['t1'])});
refused_tag_use('cache_get_or_set_tagged',
	q{SELECT cache_get_or_set_tagged('tagged', 'SELECT 1', '1 hour', ARRAY['t1'])});
refused_tag_use('cache_invalidate_tag',
	q{SELECT cache_invalidate_tag('t1')});
sql(q{CREATE FUNCTION tagged_answer(i int) RETURNS int LANGUAGE sql AS 'SELECT i';
SELECT cache_function('tagged_answer(int)', '1 hour', 'answer', ARRAY['t1'])});
refused_tag_use('a cache_function wrapper with tags',
	q{SELECT tagged_answer_cached(1)});
sql(q{CREATE TABLE tw (id int PRIMARY KEY);
SELECT cache_watch_table('tw', 'TW', ARRAY['tw:{id}', 'tag:tw:{id}'])});
refused_tag_use('an INSERT into a table watched with a tag: template',
	q{INSERT INTO tw VALUES (1)});
sql(q{CREATE TABLE tw_all (id int PRIMARY KEY);
SELECT cache_watch_table('tw_all', 'TWA', ARRAY['tag:tw_all'])});
refused_tag_use('a TRUNCATE of a table watched with a plain tag: template',
	q{TRUNCATE tw_all});
is(sql(q{SELECT count(*) FROM tw}), '0', 'the refused INSERT left no row');
is(scalar(grep { redis_cli($_, '--scan', '--pattern', '*tag*') ne '' } @masters),
	0, 'no master holds a tag key');
is(scalar(grep { redis_cli($_, '--scan', '--pattern', 'cache:tagged') ne '' } @masters),
	0, 'nor the refused entries');
is(sql(q{SELECT cache_get('tagged') IS NULL}), 't', 'which no layer serves');

# Untagged calls keep working afterwards.
sql(q{SELECT cache_set('untagged', '5', '1 hour', NULL)});
sql(q{SELECT cache_set('untagged2', '6', '1 hour', '{}')});
is( sql(q{SELECT cache_get_or_set_tagged('untagged3', 'SELECT 7', '1 hour', NULL)}),
	'7', 'cache_get_or_set_tagged without tags loads and stores');
is(sql(q{SELECT cache_get('untagged')::text || cache_get('untagged2')::text}),
	'56', 'cache_set with a NULL or an empty tag array stores');
is(scalar(owners('cache:untagged')), 1, 'in Redis too');
sql(q{INSERT INTO w VALUES (1, 0)});
is(sql(q{SELECT count(*) FROM w}), '1', 'a table watched without tags takes writes');
is(sql(q{SELECT cache_invalidate('untagged')}), 't', 'cache_invalidate works');
is(scalar(owners('cache:untagged')), 0, 'and reaches Redis');
is(sql(q{SELECT errors FROM cache_stats WHERE layer = 'l2'}), '0',
	'the refusals cost no L2 error');

$node->stop;
done_testing();
