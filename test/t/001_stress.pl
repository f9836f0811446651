# Concurrency stress: 8 pgbench clients mix reads, writes of varied sizes
# with and without TTLs, invalidations, pattern invalidations and stats
# reads on overlapping keys, against a store small enough that both the
# entry bound and the byte bound are hit all the time.  Each client runs a
# fixed number of transactions, in one pgbench thread (pgbench sums
# per-script counts across threads without a lock and can lose some), so
# every call issued is counted.  Afterwards the server is up, the bounds
# held, and the counters add up exactly.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = cachext_node(
	'stress', q{cachext.l1_max_entries = 300
cachext.l1_memory = '1MB'
cachext.l1_partitions = 4
cachext.l1_max_value_size = '64kB'});

my $dir = PostgreSQL::Test::Utils::tempdir;
my %scripts = (
	get => [ 10, q{\set id random(1, 600)
SELECT cache_get('k' || :id);} ],
	multi => [ 3, q{\set a random(1, 600)
\set b random(1, 600)
\set c random(1, 600)
SELECT count(*) FROM cache_get_multi(ARRAY['k' || :a, 'k' || :b, 'k' || :c]);} ],
	set_ttl => [ 5, q{\set id random(1, 600)
\set len random(1, 30000)
\set ms random(1, 300)
SELECT cache_set('k' || :id, jsonb_build_object('id', :id, 'pad', repeat('x', :len)), make_interval(secs => :ms / 1000.0));} ],
	set_forever => [ 3, q{\set id random(1, 600)
\set len random(1, 2000)
SELECT cache_set('k' || :id, to_jsonb(repeat('y', :len)), NULL);} ],
	invalidate => [ 2, q{\set id random(1, 600)
SELECT cache_invalidate('k' || :id);} ],
	pattern => [ 1, q{\set d random(1, 9)
SELECT cache_invalidate_pattern('k' || :d || '?');} ],
	observe => [ 1, q{SELECT count(*) FROM cache_entries;
SELECT * FROM cache_stats;} ],);

my @args;
for my $name (sort keys %scripts)
{
	my $file = "$dir/$name.sql";
	open my $fh, '>', $file or die "could not write $file: $!";
	print $fh $scripts{$name}[1], "\n";
	close $fh;
	push @args, '-f', "$file\@$scripts{$name}[0]";
}

$node->safe_psql('postgres', 'SELECT cache_stats_reset()');
my ($stdout, $stderr);
my $ok = IPC::Run::run [
	'pgbench', '-n', '-c', '8', '-j', '1', '-t', '50000', @args,
	$node->connstr('postgres')
  ],
  '>', \$stdout, '2>', \$stderr;
ok($ok, 'pgbench finished without errors') or diag($stderr);
unlike($stderr, qr/ERROR|FATAL|PANIC/, 'no client saw an error');

# transactions per script, from pgbench's per-script summary
my %done;
while ($stdout =~ m{SQL script \d+: \Q$dir\E/(\w+)\.sql\n(?:.*\n)*? - (\d+) transactions}g)
{
	$done{$1} = $2;
}
my $total = 0;
$total += $_ for values %done;
is($total, 8 * 50000, 'every transaction of every script is accounted for')
  or diag($stdout);
cmp_ok($done{get} // 0, '>', 100, 'reads ran');
cmp_ok($done{set_ttl} // 0, '>', 100, 'writes ran');

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server is up');

my ($hits, $misses, $sets, $entries, $max_entries, $bytes, $max_bytes,
	$evictions, $expirations)
  = split /\|/,
  $node->safe_psql('postgres',
	'SELECT hits, misses, sets, entries, max_entries, bytes, max_bytes, evictions, expirations FROM cache_stats');

cmp_ok($entries, '<=', $max_entries, "entries ($entries) within max_entries");
cmp_ok($bytes, '<=', $max_bytes, "bytes ($bytes) within max_bytes");
is($hits + $misses, $done{get} + 3 * $done{multi},
	'hits + misses equal the reads issued');
is($sets, $done{set_ttl} + $done{set_forever}, 'sets equal the writes issued');
cmp_ok($evictions, '>', 0, 'the bounds were hit and entries evicted');
cmp_ok($expirations, '>', 0, 'TTLs expired entries');

# the store is still coherent: what cache_entries lists fits the totals
my ($listed, $listed_bytes) = split /\|/,
  $node->safe_psql('postgres',
	'SELECT count(*), coalesce(sum(bytes), 0) FROM cache_entries');
cmp_ok($listed, '<=', $entries, 'cache_entries lists at most the entries');
cmp_ok($listed_bytes, '<=', $bytes, 'listed bytes within bytes in use');

# and it keeps working: clear, then fill up to the bound again
$node->safe_psql('postgres', 'SELECT cache_clear()');
is( $node->safe_psql('postgres', 'SELECT entries, bytes FROM cache_stats'),
	'0|0', 'cache_clear returns every byte');
$node->safe_psql('postgres',
	q{SELECT cache_set('f' || i, to_jsonb(i)) FROM generate_series(1, 1000) i});
is($node->safe_psql('postgres', 'SELECT entries FROM cache_stats'),
	$max_entries, 'after the run the store fills to max_entries again');

$node->stop;
done_testing();
