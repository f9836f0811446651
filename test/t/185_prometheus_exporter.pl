# Prometheus through the exporter operators run: Debian's
# prometheus-postgres-exporter (postgres_exporter 0.11) started on loopback
# with the queries file cachext ships (contrib/prometheus/queries.yaml),
# scraped over HTTP after a known workload.  Every metric the file declares
# has one series per row of its query, equal to what the query returns;
# those values are cache_stats', cache_prefix_stats' and cache_table_stats';
# the prefixes past cachext.prefix_stats_max count as prefix="other".
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use CPAN::Meta::YAML;
use HTTP::Tiny;
use IPC::Run;
use Time::HiRes qw(usleep);

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextRedis;

my $queries_file = "$FindBin::RealBin/../../contrib/prometheus/queries.yaml";
my $exporter = '/usr/bin/prometheus-postgres-exporter';
-x $exporter
  or die "set-up: $exporter is missing (scripts/setup installs prometheus-postgres-exporter)";

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
		FROM cache_prefix_stats WHERE namespace IS NOT DISTINCT FROM current_setting('cachext.namespace') OR prefix IS NULL
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
my $http_port = PostgreSQL::Test::Cluster::get_free_port();
my $user = getpwuid($<);
my $exporter_log = "$PostgreSQL::Test::Utils::tmp_check/exporter.log";
my $dsn = sprintf('host=%s port=%d user=%s dbname=postgres sslmode=disable',
	$node->host, $node->port, $user);
my $exporter_run = IPC::Run::start(
	[
		$exporter, "--web.listen-address=127.0.0.1:$http_port",
		"--extend.query-path=$queries_file", '--disable-default-metrics',
		'--disable-settings-metrics', '--log.level=warn'
	],
	'<', \undef, '>', $exporter_log, '2>&1',
	init => sub { $ENV{DATA_SOURCE_NAME} = $dsn; });
END { $exporter_run->kill_kill if $exporter_run; }

# Scrapes /metrics: its cachext lines, or undef before the exporter answers.
my $http = HTTP::Tiny->new(timeout => 10);
sub scrape
{
	my $response = $http->get("http://127.0.0.1:$http_port/metrics");
	return undef unless $response->{success};
	return join("\n", grep { /^cachext/ } split /\n/, $response->{content});
}

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

# The queries of the file: name => [columns, which are labels, SQL].
my $queries = CPAN::Meta::YAML->read($queries_file)->[0];
my %query_shape;
for my $query (sort keys %$queries)
{
	my @metrics = @{ $queries->{$query}{metrics} };
	my @columns = map { (keys %$_)[0] } @metrics;
	my %is_label = map { $columns[$_] => 1 }
	  grep { $metrics[$_]{ $columns[$_] }{usage} eq 'LABEL' } 0 .. $#columns;
	my $select = join(', ', map { qq{"$_"} } @columns);
	$query_shape{$query} = [ \@columns, \%is_label,
		"SELECT $select FROM ($queries->{$query}{query}) q" ];
}

# What the SQL side says now: every query's rows and cache_stats' figures.
sub sql_side
{
	my %side = map { $_ => [ split /\n/, sql($query_shape{$_}[2]) ] } keys %query_shape;
	$side{l1} = { map { split /=/ } split /\n/, sql(q{
		SELECT 'hits=' || hits || E'\nmisses=' || misses || E'\nsets=' || sets
		       || E'\nentries=' || entries || E'\nbytes=' || bytes || E'\nloads=' || loads
		FROM cache_stats WHERE layer = 'l1'}) };
	$side{l2_hits} = sql(q{SELECT hits FROM cache_stats WHERE layer = 'l2'});
	return \%side;
}

# The exporter answers once it has listened and read the database.
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
until ((scrape() // '') =~ /^cachext_hits_total/m)
{
	if (time > $deadline)
	{
		diag("exporter log:\n" . slurp_file($exporter_log));
		die "set-up: the exporter served no cachext series on port $http_port";
	}
	usleep(100_000);
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

# ---- Every metric the file declares, for every row of its query, equals
# what the query returns (counters and gauges alike).
for my $query (sort keys %query_shape)
{
	my ($columns, $is_label) = @{ $query_shape{$query} };
	my @rows = @{ $side->{$query} };
	ok(@rows > 0, "$query returns rows");
	for my $row (@rows)
	{
		my @values = split /\|/, $row, -1;
		my %labels = map { $columns->[$_] => $values[$_] }
		  grep { $is_label->{ $columns->[$_] } } 0 .. $#$columns;
		my $where = join(',', map { "$_=$labels{$_}" } sort keys %labels);
		for my $i (grep { !$is_label->{ $columns->[$_] } } 0 .. $#$columns)
		{
			my $got = series_value("${query}_$columns->[$i]", %labels);
			ok(defined $got && abs($got - $values[$i]) <= 1e-9 * abs($values[$i]),
				"${query}_$columns->[$i]\{$where} = $values[$i]")
			  or diag('scraped: ' . ($got // 'no such series'));
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
is(series_value('cachext_hits_total', layer => 'l2'), $side->{l2_hits},
	'cachext_hits_total{layer="l2"} is l2\'s hits');
is(series_value('cachext_prefix_sets_total', prefix => 'user:'), 3, 'three user: sets');
is(series_value('cachext_prefix_hits_total', prefix => 'other'), 1, 'the other prefix bucket\'s hit');
my $sum = 0;
$sum += $_->[1] for @{ $series->{cachext_prefix_hits_total} };
is($sum, $l1{hits}, 'the prefixes\' hits add up to L1\'s');
is(series_value('cachext_table_rows_total', table => 'public.users', database => 'postgres'),
	3, 'three rows of public.users seen');
is(series_value('cachext_table_commits_fenced_total', table => 'public.users'),
	2, 'two commits fenced public.users');
is(scalar @{ $series->{cachext_prefix_entries} }, 4,
	'one prefix series per slot and one for other: the cardinality is bounded');

# ---- The Grafana dashboard shipped beside the file asks only for series
# the exporter serves.
my $dashboard = slurp_file("$FindBin::RealBin/../../contrib/grafana/cachext-dashboard.json");
my %asked = map { $_ => 1 } $dashboard =~ /\b(cachext_\w+)\{/g;
cmp_ok(scalar keys %asked, '>=', 20, 'the dashboard charts ' . scalar(keys %asked) . ' metrics');
is(join(' ', grep { !$series->{$_} } sort keys %asked), '',
	'every metric of the dashboard is one the exporter serves');

$exporter_run->kill_kill;
$exporter_run = undef;
done_testing();
