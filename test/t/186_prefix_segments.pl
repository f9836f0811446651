# How cache_prefix_stats cuts keys into prefixes: cachext.prefix_stats_segments
# segments, fewer when a key has fewer separators, none without one; a name
# too long for a slot, and the prefixes past cachext.prefix_stats_max, count
# as other; after a reload to another segment count an entry keeps counting
# under the prefix it was stored with.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;

my $node = cachext_node(
	'segments', q{cachext.prefix_stats_max = 5
cachext.prefix_stats_segments = 2});

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub prefixes
{
	return sql(q{SELECT coalesce(prefix, '(other)') || ' ' || sets || ' ' || hits || ' ' || misses
		FROM cache_prefix_stats ORDER BY prefix NULLS LAST});
}

my $long = 'x' x 130;
sql(qq{
SELECT cache_set('user:42:posts', '1'), cache_set('user:42:likes', '2'),
       cache_set('user:7', '3'), cache_set('plain', '4'), cache_set('$long:1', '5');
SELECT cache_get('user:42:posts'), cache_get('user:7'), cache_get('user:9:posts');
});
is(prefixes(), join("\n",
		' 1 0 0',             # plain: no ':'
		'user: 1 1 0',        # user:7 has one separator only
		'user:42: 2 1 0',
		'user:9: 0 0 1',      # a miss claims its prefix too
		'(other) 1 0 0'),     # namespace + prefix over 128 bytes
	'two segments: user:42: and user:9:, user: for a key with one separator, the empty prefix, a long one as other');

# Fewer segments after a reload: new keys count under user:, the stored
# user:42:posts entry still under user:42:.
sql(q{ALTER SYSTEM SET cachext.prefix_stats_segments = 1; SELECT pg_reload_conf()});
$node->poll_query_until('postgres', q{SELECT current_setting('cachext.prefix_stats_segments') = '1'})
  or die 'set-up: the reload of cachext.prefix_stats_segments did not arrive';
sql(q{SELECT cache_get('user:42:posts'), cache_set('user:42:new', '6'), cache_get('user:42:new')});
is(prefixes(), join("\n",
		' 1 0 0',
		'user: 2 2 0',
		'user:42: 2 2 0',
		'user:9: 0 0 1',
		'(other) 1 0 0'),
	'after the reload the stored entry counts under its prefix, the new key under user:');

# The fifth slot is the last: a sixth prefix counts as other, and the
# sums still equal cache_stats.
sql(q{SELECT cache_set('item:1', '7'), cache_set('page:1', '8'), cache_get('page:1')});
is(prefixes(), join("\n",
		' 1 0 0',
		'item: 1 0 0',
		'user: 2 2 0',
		'user:42: 2 2 0',
		'user:9: 0 0 1',
		'(other) 2 1 0'),
	'the prefix past cachext.prefix_stats_max counts as other');
is(sql(q{SELECT (SELECT sum(sets) FROM cache_prefix_stats) = sets
	AND (SELECT sum(hits) FROM cache_prefix_stats) = hits
	AND (SELECT sum(misses) FROM cache_prefix_stats) = misses
	AND (SELECT sum(bytes) FROM cache_prefix_stats) = bytes FROM cache_stats WHERE layer = 'l1'}),
	't', 'the rows add up to cache_stats');

done_testing();
