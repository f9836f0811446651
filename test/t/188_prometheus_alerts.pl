# The alert rules cachext ships (contrib/prometheus/alerts.yaml) in a real
# Prometheus (Debian's 2.42, unpacked by scripts/test into test/deps)
# scraping the real exporter with the shipped queries file: promtool accepts
# the file; with a healthy instance every rule evaluates cleanly and none
# is pending; with Redis killed, a watched write queued and loads failing,
# a lost fence, a commit kept waiting by a stopped Redis, exactly the rules
# that say so go pending or fire; with Redis back, they clear.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(usleep);
use Time::Local qw(timegm);

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextExporter;
use CachextNode;
use CachextRedis;
use CachextSessions;

my $contrib = "$FindBin::RealBin/../../contrib/prometheus";
my $bin = "$FindBin::RealBin/../deps/prometheus/usr/bin";
-x "$bin/prometheus" && -x "$bin/promtool"
  or die "set-up: $bin lacks prometheus and promtool (scripts/test unpacks them)";

# ---- promtool's own check: the file parses and every expression compiles.
my ($out, $err) = ('', '');
IPC::Run::run([ "$bin/promtool", 'check', 'rules', "$contrib/alerts.yaml" ],
	'>', \$out, '2>', \$err);
like($out, qr/SUCCESS: 10 rules found/, 'promtool accepts the 10 rules') or diag($err);
my @rules = slurp_file("$contrib/alerts.yaml") =~ /- alert: (\w+)/g;
is(scalar @rules, 10, 'the file names 10 alerts');

# ---- An instance with Redis, the exporter, and Prometheus evaluating the
# rules every second over scrapes every second.
my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('main', $redis_port);
my $node = cachext_node('alerts', qq{cachext.redis_url = 'redis://127.0.0.1:$redis_port'
cachext.redis_retry_interval = 200});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
CREATE TABLE users (id int PRIMARY KEY, name text);
-- the tag makes its commits wait for their lift's answer, which counts lost fences
SELECT cache_watch_table('users', 'USER', ARRAY['user:{id}', 'tag:users']);
INSERT INTO users VALUES (1, 'ann'), (2, 'bob');
SELECT cache_set('user:1', '"ann"'), cache_get('user:1'), cache_get('user:3');
SELECT cache_get_or_set('item:1', 'SELECT 1');
});

my $exporter = exporter_start($node, "$contrib/queries.yaml");
my $prometheus_dir = PostgreSQL::Test::Utils::tempdir;
my $prometheus_port = PostgreSQL::Test::Cluster::get_free_port();
PostgreSQL::Test::Utils::append_to_file("$prometheus_dir/prometheus.yml", qq{
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $contrib/alerts.yaml
scrape_configs:
  - job_name: cachext
    static_configs:
      - targets: ['127.0.0.1:$exporter->{port}']
});
my $prometheus_log = "$PostgreSQL::Test::Utils::tmp_check/prometheus.log";
my $prometheus = IPC::Run::start(
	[
		"$bin/prometheus", "--config.file=$prometheus_dir/prometheus.yml",
		"--storage.tsdb.path=$prometheus_dir/data",
		"--web.listen-address=127.0.0.1:$prometheus_port", '--log.level=warn'
	],
	'<', \undef, '>', $prometheus_log, '2>&1');
END
{
	local $?;
	$prometheus->kill_kill if $prometheus;
}

my $http = HTTP::Tiny->new(timeout => 10);

# Prometheus' HTTP API: the decoded data of GET /api/v1/$path, or undef.
sub api
{
	my ($path) = @_;
	my $response = $http->get("http://127.0.0.1:$prometheus_port/api/v1/$path");
	return undef unless $response->{success};
	my $body = decode_json($response->{content});
	return $body->{status} eq 'success' ? $body->{data} : undef;
}

# An instant query's single series: (value, Prometheus' time), or ().
sub query
{
	my ($expr) = @_;
	my $data = api('query?' . $http->www_form_urlencode({ query => $expr }));
	return () unless $data && @{ $data->{result} } == 1;
	return reverse @{ $data->{result}[0]{value} };
}

# Seconds since the epoch of an RFC 3339 time Prometheus printed.
sub epoch
{
	my ($time) = @_;
	my ($y, $mo, $d, $h, $mi, $s) =
	  $time =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+(?:\.\d+)?)/ or return 0;
	return timegm(0, $mi, $h, $d, $mo - 1, $y) + $s;
}

# The alert rules, name => { state, health, lastError }, once every one of
# them has been evaluated at least twice since $since (Prometheus' clock).
sub rules_after
{
	my ($since) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (1)
	{
		my $data = api('rules?type=alert');
		my %rules;
		if ($data)
		{
			%rules = map { $_->{name} => $_ } map { @{ $_->{rules} } } @{ $data->{groups} };
		}
		return \%rules
		  if keys %rules == @rules
		  && !grep { epoch($_->{lastEvaluation}) < $since + 2 } values %rules;
		die "set-up: Prometheus evaluated no rules; its log:\n" . slurp_file($prometheus_log)
		  if time > $deadline;
		usleep(200_000);
	}
}

# Waits until the instant query $expr has the value $want; returns
# Prometheus' time then.
sub wait_for_value
{
	my ($expr, $want) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (1)
	{
		my ($value, $at) = query($expr);
		return $at if ($value // '') eq $want;
		die "set-up: $expr never became $want; Prometheus' log:\n"
		  . slurp_file($prometheus_log) . "exporter's log:\n" . slurp_file($exporter->{log})
		  if time > $deadline;
		usleep(200_000);
	}
}

# name => state of every rule, as one sorted line.
sub states
{
	my ($rules) = @_;
	return join(' ', map { "$_=$rules->{$_}{state}" } sort keys %$rules);
}

# ---- Healthy: every rule evaluates without error, none is pending.
my $since = wait_for_value('cachext_l2_up', '1');
my $rules = rules_after($since);
is(join(' ', map { "$_=$rules->{$_}{health}" } grep { $rules->{$_}{health} ne 'ok' } sort keys %$rules),
	'', 'every rule evaluates against the real series without error');
is(states($rules), join(' ', map { "$_=inactive" } sort @rules),
	'a healthy instance sets off no alert');

# ---- A lost fence: a watched commit held once it has placed its fence
# (the pause point of test builds) while FLUSHDB takes the fence away.
my ($rc) = $node->psql('postgres', 'SHOW cachext.test_pause_after_fence');
die 'set-up: cachext was built without TEST_BUILD=1 (scripts/test builds it with)' if $rc != 0;
my $held = hold_after_fence($node, q{UPDATE users SET name = 'dee' WHERE id = 2});
is(redis_cli('main', 'FLUSHDB'), 'OK', 'FLUSHDB takes the held commit\'s fence away');
unlike(release_held($node, $held), qr/ERROR/, 'the held commit went through');
is(sql(q{SELECT fences_lost FROM cache_stats WHERE layer = 'l1'}), '1',
	'cache_stats counts its lost fence');
wait_for_value('cachext_ops_fences_lost_total', '1');

# ---- A slow fence: a watched commit while Redis is stopped (SIGSTOP) waits
# cachext.redis_timeout (100 ms) for its placing, then queues its keys.
kill 'STOP', $redis{main}{pid};
sql(q{UPDATE users SET name = 'eve' WHERE id = 2});
kill 'CONT', $redis{main}{pid};
cmp_ok(sql(q{SELECT count FROM cache_lag_histograms WHERE step = 'fence_place' AND le = 0.05}), '<',
	sql(q{SELECT count FROM cache_lag_histograms WHERE step = 'fence_place' AND le = 'Infinity'}),
	'the commit waited over 50 ms to place its fence');

# ---- Faults: Redis killed, a watched write queued for it, loads failing.
redis_kill('main');
sql(q{SELECT cache_get('user:1')});
sql(q{UPDATE users SET name = 'cy' WHERE id = 1});
sql(q{
DO $$
BEGIN
	FOR i IN 1..5 LOOP
		BEGIN
			PERFORM cache_get_or_set('broken:' || i, 'SELECT 1 / 0');
		EXCEPTION WHEN division_by_zero THEN NULL;
		END;
	END LOOP;
END $$});
is(sql(q{SELECT redis_up, queue_length > 0 FROM cache_stats WHERE layer = 'l2'}), 'f|t',
	'cache_stats says Redis is down and an invalidation waits');

wait_for_value('cachext_l2_queue_length > bool 0', '1');
$since = wait_for_value('cachext_l2_up', '0');
# The figures are in; give the rates a second scrape past the failures.
$rules = rules_after($since + 1);
my %pending = map { $_ => 1 } grep { $rules->{$_}{state} ne 'inactive' } keys %$rules;
ok($pending{CachextRedisDown}, 'CachextRedisDown goes pending with Redis killed');
ok($pending{CachextInvalidationsWaiting}, 'CachextInvalidationsWaiting goes pending with the queued write');
ok($pending{CachextLoadFailures}, 'CachextLoadFailures goes pending with the failing loads');
is($rules->{CachextFencesLost}{state}, 'firing', 'CachextFencesLost fires at the lost fence');
ok($pending{CachextSlowFences}, 'CachextSlowFences goes pending with the commit Redis kept waiting');
is(join(' ', grep { $pending{$_} } qw(CachextNotTracking CachextSyncLagging
	CachextInvalidationQueueOverflow CachextSyncStreamFlapping)), '',
	'the rules whose faults did not happen stay inactive');

# ---- Redis back: the queue drains, Redis answers, the alerts clear.
redis_start('main', $redis_port);
$node->poll_query_until('postgres', q{
	SELECT cache_get('user:2') IS NULL
	   AND (SELECT redis_up AND queue_length = 0 FROM cache_stats WHERE layer = 'l2')})
  or die 'set-up: the queue never drained after Redis came back';
$since = wait_for_value('cachext_l2_up == 1 and cachext_l2_queue_length == 0', '1');
$rules = rules_after($since);
is(join(' ', map { "$_=$rules->{$_}{state}" } qw(CachextRedisDown CachextInvalidationsWaiting)),
	'CachextRedisDown=inactive CachextInvalidationsWaiting=inactive',
	'with Redis back and the queue drained, those alerts clear');

$prometheus->kill_kill;
$prometheus = undef;
done_testing();
