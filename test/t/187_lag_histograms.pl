# Invalidation lag as histograms (cache_lag_histograms) and L2's figures per
# key prefix (cache_prefix_stats' l2 rows), with a real Redis:
# - every key Redis announces counts once in sync_removal, once the sync
#   worker removed it from L1: a known number of foreign changes makes the
#   count grow by exactly that;
# - every watched commit counts once in fence_place and once in
#   fence_lift, a rolled-back transaction not at all, nor one whose commit
#   fails after its fence was placed (a serialization failure);
# - L2's hits, misses and sets per prefix are exact after a known workload,
#   and add up to cache_stats' l2 row.
# Times are only checked to be sane (at most ten seconds each).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextRedis;

my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('main', $redis_port);

# Two prefixes get a slot each; a third counts as other.
my $node = cachext_node(
	'lag', qq{cachext.redis_url = 'redis://127.0.0.1:$redis_port'
cachext.prefix_stats_max = 2});

sub sql { return $node->safe_psql('postgres', $_[0]); }

$node->poll_query_until('postgres',
	q{SELECT coherence = 'tracking' FROM cache_stats WHERE layer = 'l2'})
  or redis_setup_failed('the sync worker never followed the stream');
my $namespace = sql(q{SELECT current_setting('cachext.namespace')});

# A histogram's count (its le = Infinity bucket) and 1 if it is sane: its
# buckets never go down and its sum is at most ten seconds an observation.
sub histogram
{
	my ($step) = @_;
	return sql(qq{
		SELECT max(count) || '|' || (bool_and(count >= previous)
		       AND max(sum_seconds) BETWEEN 0 AND 10 * greatest(max(count), 1))::int
		  FROM (SELECT count, sum_seconds, coalesce(lag(count) OVER (ORDER BY le), 0) AS previous
		          FROM cache_lag_histograms WHERE step = '$step') h});
}
sub observations { return (split /\|/, histogram($_[0]))[0]; }

# Waits until sync_removal counts $count observations (the test after it
# fails if that never happens).
sub wait_for_removals
{
	my ($count) = @_;
	$node->poll_query_until('postgres', qq{
		SELECT count >= $count FROM cache_lag_histograms
		 WHERE step = 'sync_removal' AND le = 'Infinity'});
}

# ---- The sync worker.  This instance has written nothing to Redis, and
# no one else has either: nothing was announced yet.
is(observations('sync_removal'), 0, 'no announcement before any change in Redis');

# Five keys written by another Redis client: five announcements, each a
# removal (of a key L1 does not hold: its lease still moves).
redis_cli('main', 'SET', "${namespace}lag:$_", qq{"v$_"}) for 1 .. 5;
wait_for_removals(5);
is(histogram('sync_removal'), '5|1', 'five keys announced: five removals timed, with a sane sum');

# L1 takes lag:1 .. lag:3 from Redis (reads write nothing to Redis), then
# the other client deletes them and changes lag:4: four more keys, three of
# them evicted from L1.
for my $i (1 .. 3)
{
	$node->poll_query_until('postgres', qq{
		SELECT cache_get('lag:$i') IS NOT NULL
		   AND EXISTS (SELECT FROM cache_entries WHERE key = 'lag:$i')})
	  or die "set-up: L1 never took lag:$i from Redis";
}
my $evictions = sql(q{SELECT sync_evictions FROM cache_stats WHERE layer = 'l2'});
redis_cli('main', 'DEL', map { "${namespace}lag:$_" } 1 .. 3);
redis_cli('main', 'SET', "${namespace}lag:4", '"w4"');
wait_for_removals(9);
is(histogram('sync_removal'), '9|1', 'four more keys announced: nine removals in all');
is(sql(q{SELECT sync_evictions FROM cache_stats WHERE layer = 'l2'}), $evictions + 3,
	'three of them were L1 entries, evicted');
is(sql(q{SELECT count(*) FROM cache_entries WHERE key LIKE 'lag:%'}), 0, 'L1 holds none of them');
is(observations('fence_place') . ' ' . observations('fence_lift'), '0 0', 'no fence yet');

# ---- The commit path: three watched commits, one rollback.
sql(q{
CREATE TABLE items (id int PRIMARY KEY, name text);
SELECT cache_watch_table('items', 'ITEM', ARRAY['item:{id}']);
INSERT INTO items VALUES (1, 'lamp'), (2, 'desk');
UPDATE items SET name = 'chair' WHERE id = 2;
BEGIN; DELETE FROM items WHERE id = 1; ROLLBACK;
DELETE FROM items WHERE id = 1;
});
is(histogram('fence_place'), '3|1', 'three watched commits: three place steps timed');
is(histogram('fence_lift'), '3|1', 'and three lift steps');

# A commit that fails after its fence was placed: PostgreSQL finds a
# serialization failure after pre-commit, where the fence stands.  Two
# SERIALIZABLE transactions each read the row the other updates; the
# second to commit fails there.  It places and lifts a fence, and counts in
# neither histogram.
sql(q{INSERT INTO items VALUES (1, 'lamp'), (3, 'rug')});
my ($a, $b) = map { $node->background_psql('postgres', on_error_stop => 0) } 1 .. 2;
$_->query_safe('BEGIN ISOLATION LEVEL SERIALIZABLE') for $a, $b;
$a->query_safe(q{SELECT name FROM items WHERE id = 1});
$b->query_safe(q{SELECT name FROM items WHERE id = 3});
$a->query_safe(q{UPDATE items SET name = 'a' WHERE id = 3});
$b->query_safe(q{UPDATE items SET name = 'b' WHERE id = 1});
$a->query_safe('COMMIT');
my ($out, $failed) = $b->query('COMMIT');
like($b->{stderr}, qr/could not serialize access/, 'set-up: the second commit failed at commit');
$_->quit for $a, $b;
is(histogram('fence_place'), '5|1', 'the insert and the commit that succeeded timed their place steps, not the failed one');
is(histogram('fence_lift'), '5|1', 'and their lift steps');
is(sql(q{SELECT commits_fenced FROM cache_table_stats WHERE table_name = 'public.items'}), 5,
	'as many as cache_table_stats counts commits');

# ---- L2 per key prefix.  lag: (the first prefix L1 looked up) and user:
# have the two slots, item: counts as other.  From zero: two user: and two
# item: sets (those by cache_set_multi); lag:4, in Redis alone, an L2 hit;
# an item: and a user: key Redis never had, L2 misses.
sql(q{SELECT cache_stats_reset()});
sql(q{
SELECT cache_set('user:1', '1'), cache_set('user:2', '2');
SELECT cache_set_multi(ARRAY['item:7', 'item:8'], ARRAY['7', '8']::jsonb[]);
SELECT cache_get('lag:4'), cache_get('item:404'), cache_get('user:404');
});
is(sql(q{SELECT coalesce(prefix, '(other)') || ' ' || hits || ' ' || misses || ' ' || sets
		|| ' ' || coalesce(evictions::text, '-') || ' ' || coalesce(bytes::text, '-')
		FROM cache_prefix_stats WHERE layer = 'l2' ORDER BY prefix NULLS LAST}),
	join("\n",
		'lag: 1 0 0 - -',
		'user: 0 1 2 - -',
		'(other) 0 1 2 - -'),
	'L2 hits, misses and sets per prefix; no evictions or bytes per prefix in Redis');
is(sql(q{SELECT (SELECT sum(hits) FROM cache_prefix_stats WHERE layer = 'l2') || ' '
		|| (SELECT sum(misses) FROM cache_prefix_stats WHERE layer = 'l2') || ' '
		|| (SELECT sum(sets) FROM cache_prefix_stats WHERE layer = 'l2') || ' = '
		|| hits || ' ' || misses || ' ' || sets FROM cache_stats WHERE layer = 'l2'}),
	'1 2 4 = 1 2 4', 'the l2 rows add up to cache_stats\' l2 row');

done_testing();
