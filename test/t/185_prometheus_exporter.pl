# Prometheus through the exporter operators run: Debian's
# prometheus-postgres-exporter (postgres_exporter 0.11) started on loopback
# with the queries file cachext ships (contrib/prometheus/queries.yaml),
# scraped over HTTP after a known workload.  Every metric the file declares
# has one series per row of its query, equal to what the query returns;
# those values are cache_stats', cache_prefix_stats' (both layers'),
# cache_table_stats' and cache_lag_histograms' (real Prometheus histograms:
# _bucket{le}, _sum, _count); the prefixes past cachext.prefix_stats_max
# count as prefix="other".
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use CPAN::Meta::YAML;
use Time::HiRes qw(usleep);

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextExporter;
use CachextNode;
use CachextRedis;

my $queries_file = "$FindBin::RealBin/../../contrib/prometheus/queries.yaml";

my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('main', $redis_port);

# Three prefixes get a slot each; a fourth counts as other.
my $node = cachext_node(
	'prometheus', qq{cachext.redis_url = 'redis://127.0.0.1:$redis_port'
cachext.prefix_stats_max = 3});

sub sql { return $node->safe_psql('postgres', $_[0]); }

# ---- A known workload: sets, hits and misses over four prefixes, a load,
# an increment, and commits on a watched table (which go through Redis).
sql(q{
SELECT cache_set('user:' || i, to_jsonb(i)) FROM generate_series(1, 3) i;
SELECT cache_set('item:1', '"lamp"'), cache_set('page:home', '"<h1>"'),
       cache_set('zzz:1', '1');
SELECT cache_get('user:1'), cache_get('user:2'), cache_get('user:404'),
       cache_get('item:1'), cache_get('zzz:1'), cache_get('zzz:2');
SELECT cache_invalidate('page:home');
SELECT cache_get_or_set('item:2', 'SELECT 42');
SELECT cache_incr('page:views');
CREATE TABLE users (id int PRIMARY KEY, name text);
SELECT cache_watch_table('users', 'USER', ARRAY['user:{id}']);
INSERT INTO users VALUES (1, 'ann'), (2, 'bob');
UPDATE users SET name = 'cy' WHERE id = 2;
});

is( sql(q{SELECT prefix, hits, misses, sets, invalidations
		FROM cache_prefix_stats WHERE layer = 'l1'
		 AND (namespace IS NOT DISTINCT FROM current_setting('cachext.namespace') OR prefix IS NULL)
		ORDER BY prefix NULLS LAST}),
	join("\n",
		'item:|1|1|2|0',       # item:2 was missed, then loaded
		'page:|0|0|1|1',       # cache_incr counts in Redis, which L1 leaves be
		'user:|2|1|3|2',       # the commits invalidated user:1 and user:2
		'|1|1|1|0'),           # zzz: had no slot left
	'the workload counted per prefix, the fourth prefix as other');
cmp_ok(sql(q{SELECT redis_time_ms FROM cache_table_stats WHERE table_name = 'public.users'}),
	'>', 0, 'the commits on the watched table spent time in Redis');

# ---- The exporter, on loopback, with only cachext's queries.
my $exporter = exporter_start($node, $queries_file);
sub scrape { return exporter_scrape($exporter); }

# A hash of metric name => [[labels hash, value], ...] of scraped lines.
sub parse_series
{
	my ($text) = @_;
	my %series;
	for my $line (split /\n/, $text)
	{
		next if $line !~ /^(cachext\w*)(?:\{(.*)\})? (\S+)$/;
		my ($name, $labels, $value) = ($1, $2 // '', $3);
		my %labels = $labels =~ /(\w+)="((?:[^"\\]|\\.)*)"/g;
		push @{ $series{$name} }, [ \%labels, $value ];
	}
	return \%series;
}

# The queries of the file: name => [columns, which are labels, which are
# histograms, SQL].  A histogram column <name> (its le bounds) comes with
# <name>_bucket, <name>_sum and <name>_count, which the SQL selects too.
my $queries = CPAN::Meta::YAML->read($queries_file)->[0];
my %query_shape;
for my $query (sort keys %$queries)
{
	my @metrics = @{ $queries->{$query}{metrics} };
	my @columns = map { (keys %$_)[0] } @metrics;
	my %usage = map { $columns[$_] => $metrics[$_]{ $columns[$_] }{usage} } 0 .. $#columns;
	my %is_label = map { $_ => 1 } grep { $usage{$_} eq 'LABEL' } @columns;
	my %is_histogram = map { $_ => 1 } grep { $usage{$_} eq 'HISTOGRAM' } @columns;
	my $select = join(', ',
		map { $is_histogram{$_} ? qq{"$_", "${_}_bucket", "${_}_sum", "${_}_count"} : qq{"$_"} }
		  @columns);
	$query_shape{$query} = [ \@columns, \%is_label, \%is_histogram,
		"SELECT $select FROM ($queries->{$query}{query}) q" ];
}

# What the SQL side says now: every query's rows and cache_stats' figures.
sub sql_side
{
	my %side = map { $_ => [ split /\n/, sql($query_shape{$_}[3]) ] } keys %query_shape;
	$side{l1} = { map { split /=/ } split /\n/, sql(q{
		SELECT 'hits=' || hits || E'\nmisses=' || misses || E'\nsets=' || sets
		       || E'\nentries=' || entries || E'\nbytes=' || bytes || E'\nloads=' || loads
		FROM cache_stats WHERE layer = 'l1'}) };
	$side{l2} = { map { split /=/ } split /\n/, sql(q{
		SELECT 'hits=' || hits || E'\nmisses=' || misses || E'\nsets=' || sets
		FROM cache_stats WHERE layer = 'l2'}) };
	return \%side;
}

# The sync worker may still be reading the workload's own writes back from
# Redis: compare a reading of the views with the scrapes around it once two
# scrapes in a row agree.
my ($series, $side);
for (my $tries = 0;; $tries++)
{
	my $before = scrape();
	$side = sql_side();
	my $after = scrape();
	if (defined $before && defined $after && $before eq $after)
	{
		$series = parse_series($after);
		last;
	}
	die 'set-up: the figures never stood still between two scrapes' if $tries > 100;
	usleep(200_000);
}

# The value of the series of $name whose labels include %want, or undef.
sub series_value
{
	my ($name, %want) = @_;
	my @found = grep {
		my $labels = $_->[0];
		!grep { ($labels->{$_} // "\x{0}") ne $want{$_} } keys %want
	} @{ $series->{$name} // [] };
	return @found == 1 ? $found[0][1] : undef;
}

# Checks a scraped series against the value the SQL side gave.
sub series_is
{
	my ($got, $want, $what) = @_;
	ok(defined $got && abs($got - $want) <= 1e-9 * abs($want), "$what = $want")
	  or diag('scraped: ' . ($got // 'no such series'));
}

# A histogram row's series: one _bucket per le of the le array (the
# exporter writes le as Go formats a float: compared as numbers), +Inf's
# equal to _count, then _sum and _count.
sub histogram_is
{
	my ($name, $labels, $bounds, $buckets, $sum, $count) = @_;
	my @le = $bounds =~ /([^{},]+)/g;
	my @counts = $buckets =~ /([^{},]+)/g;
	my $where = join(',', map { "$_=$labels->{$_}" } sort keys %$labels);
	is(scalar @le, scalar @counts, "$name\{$where}: as many buckets as bounds");
	for my $i (0 .. $#le)
	{
		my @found = grep { $_->[0]{le} ne '+Inf' && abs($_->[0]{le} - $le[$i]) <= 1e-12 }
		  grep {
			my $l = $_->[0];
			!grep { ($l->{$_} // '') ne $labels->{$_} } keys %$labels
		  } @{ $series->{"${name}_bucket"} // [] };
		series_is(@found == 1 ? $found[0][1] : undef, $counts[$i],
			"${name}_bucket\{$where,le=$le[$i]}");
	}
	series_is(series_value("${name}_bucket", %$labels, le => '+Inf'), $count,
		"${name}_bucket\{$where,le=+Inf}");
	series_is(series_value("${name}_sum", %$labels), $sum, "${name}_sum\{$where}");
	series_is(series_value("${name}_count", %$labels), $count, "${name}_count\{$where}");
}

# ---- Every metric the file declares, for every row of its query, equals
# what the query returns (counters, gauges and histograms alike).
for my $query (sort keys %query_shape)
{
	my ($columns, $is_label, $is_histogram) = @{ $query_shape{$query} };
	my @rows = @{ $side->{$query} };
	ok(@rows > 0, "$query returns rows");
	for my $row (@rows)
	{
		my @values = split /\|/, $row, -1;
		my %labels;
		my $v = 0;
		for my $column (@$columns)
		{
			if ($is_histogram->{$column})
			{
				$v += 4;
				next;
			}
			$labels{$column} = $values[$v] if $is_label->{$column};
			$v++;
		}
		my $where = join(',', map { "$_=$labels{$_}" } sort keys %labels);
		$v = 0;
		for my $column (@$columns)
		{
			if ($is_histogram->{$column})
			{
				histogram_is("${query}_$column", \%labels, @values[ $v .. $v + 3 ]);
				$v += 4;
				next;
			}
			series_is(series_value("${query}_$column", %labels), $values[$v],
				"${query}_$column\{$where}")
			  unless $is_label->{$column};
			$v++;
		}
	}
}

# ---- And those are cache_stats' figures: a few by name, against the view.
my %l1 = %{ $side->{l1} };
is(series_value('cachext_hits_total', layer => 'l1'), $l1{hits}, 'cachext_hits_total{layer="l1"} is cache_stats.hits');
is(series_value('cachext_misses_total', layer => 'l1'), $l1{misses}, 'cachext_misses_total{layer="l1"} is cache_stats.misses');
is(series_value('cachext_sets_total', layer => 'l1'), $l1{sets}, 'cachext_sets_total{layer="l1"} is cache_stats.sets');
is(series_value('cachext_l1_entries'), $l1{entries}, 'cachext_l1_entries is cache_stats.entries');
is(series_value('cachext_l1_bytes'), $l1{bytes}, 'cachext_l1_bytes is cache_stats.bytes');
is(series_value('cachext_loads_total'), 1, 'cachext_loads_total counts the one load');
is(series_value('cachext_l2_up'), 1, 'cachext_l2_up says Redis answers');
is(series_value('cachext_hits_total', layer => 'l2'), $side->{l2}{hits},
	'cachext_hits_total{layer="l2"} is l2\'s hits');
is(series_value('cachext_prefix_sets_total', layer => 'l1', prefix => 'user:'), 3, 'three user: sets in L1');
is(series_value('cachext_prefix_sets_total', layer => 'l2', prefix => 'user:'), 3, 'and in Redis');
is(series_value('cachext_prefix_misses_total', layer => 'l2', prefix => 'user:'), 1,
	'user:404, missed by L1, missed by Redis');
is(series_value('cachext_prefix_hits_total', layer => 'l1', prefix => 'other'), 1, 'the other prefix bucket\'s hit');
for my $layer ('l1', 'l2')
{
	my $layer_figures = $layer eq 'l1' ? \%l1 : $side->{l2};
	for my $figure ('hits', 'misses', 'sets')
	{
		my $sum = 0;
		$sum += $_->[1]
		  for grep { $_->[0]{layer} eq $layer } @{ $series->{"cachext_prefix_${figure}_total"} };
		is($sum, $layer_figures->{$figure}, "the prefixes' $figure add up to $layer\'s");
	}
}
is(series_value('cachext_invalidation_lag_seconds_count', step => 'fence_place') . ' '
	  . series_value('cachext_invalidation_lag_seconds_count', step => 'fence_lift'),
	'2 2', 'the two watched commits timed their fence steps once each');
cmp_ok(series_value('cachext_invalidation_lag_seconds_count', step => 'sync_removal'),
	'>', 0, 'the sync worker timed the removals Redis announced');
is(series_value('cachext_table_rows_total', table => 'public.users', database => 'postgres'),
	3, 'three rows of public.users seen');
is(series_value('cachext_table_commits_fenced_total', table => 'public.users'),
	2, 'two commits fenced public.users');
is(scalar @{ $series->{cachext_prefix_l1_entries} }, 4,
	'one prefix series per slot and one for other: the cardinality is bounded');

# ---- The Grafana dashboard shipped beside the file asks only for series
# the exporter serves.
my $dashboard = slurp_file("$FindBin::RealBin/../../contrib/grafana/cachext-dashboard.json");
my %asked = map { $_ => 1 } $dashboard =~ /\b(cachext_\w+)\{/g;
cmp_ok(scalar keys %asked, '>=', 20, 'the dashboard charts ' . scalar(keys %asked) . ' metrics');
is(join(' ', grep { !$series->{$_} } sort keys %asked), '',
	'every metric of the dashboard is one the exporter serves');

done_testing();
