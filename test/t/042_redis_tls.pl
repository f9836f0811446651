# Redis over TLS (rediss://): a throwaway CA and certificates made with
# openssl, redis-server speaking TLS only, values shared with a TLS client
# (Python's redis), the sync worker keeping two instances coherent over
# TLS, and every way a server can fail verification -- wrong CA, wrong host
# name, expired certificate, client certificate required -- which is a
# Redis fault like any other: misses and one log line, never a query error.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextRedis;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $certs = PostgreSQL::Test::Utils::tempdir_short;

# Runs openssl quietly, dying if it fails.
sub openssl
{
	my ($out, $err) = ('', '');
	IPC::Run::run [ 'openssl', @_ ], '>', \$out, '2>', \$err
	  or die "openssl @_ failed: $err";
}

# A certificate for $cn signed by $ca (a CA of its own when $ca is undef),
# valid for $days days (negative: expired), with subjectAltName $san.
sub make_cert
{
	my ($name, $cn, $ca, $days, $san) = @_;
	my $ext = "$certs/$name.ext";
	open my $fh, '>', $ext or die;
	print $fh ($san ? "subjectAltName=$san\n" : "basicConstraints=critical,CA:TRUE\n");
	close $fh;
	openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes',
		'-keyout', "$certs/$name.key", '-out', "$certs/$name.csr",
		'-subj', "/CN=$cn");
	openssl('x509', '-req', '-in', "$certs/$name.csr", '-days', $days,
		'-set_serial', int(rand(1_000_000)) + 1, '-extfile', $ext,
		'-out', "$certs/$name.crt",
		$ca
		? ('-CA', "$certs/$ca.crt", '-CAkey', "$certs/$ca.key")
		: ('-signkey', "$certs/$name.key"));
}

make_cert('ca', 'cachext test CA', undef, 2, undef);
make_cert('other_ca', 'another CA', undef, 2, undef);
make_cert('server', 'localhost', 'ca', 2, 'DNS:localhost');
make_cert('expired', 'localhost', 'ca', -1, 'DNS:localhost');
make_cert('client', 'cachext client', 'ca', 2, 'DNS:client');

my %tls = (
	ca => "$certs/ca.crt",
	cert => "$certs/server.crt",
	key => "$certs/server.key",
	client_cert => "$certs/client.crt",
	client_key => "$certs/client.key");
my %port = map { $_ => PostgreSQL::Test::Cluster::get_free_port() }
  qw(tls expired mutual);
redis_start_tls('tls', $port{tls}, \%tls, '--tls-auth-clients', 'no');
redis_start_tls('expired', $port{expired},
	{ %tls, cert => "$certs/expired.crt", key => "$certs/expired.key" },
	'--tls-auth-clients', 'no');
redis_start_tls('mutual', $port{mutual}, \%tls, '--tls-auth-clients', 'yes');
$redis{$_}{tls} = [ @{ $redis{$_}{tls} }, '--insecure' ] for keys %port;

my $url = "rediss://localhost:$port{tls}";
my @nodes = map {
	cachext_node(
		$_, qq{cachext.redis_url = '$url'
cachext.redis_tls_ca_file = '$tls{ca}'
cachext.redis_retry_interval = 200ms
cachext.redis_connect_timeout = 2s
cachext.redis_timeout = 1s});
} qw(a b);
my ($a, $b) = @nodes;
for my $node (@nodes)
{
	$node->poll_query_until('postgres',
		q{SELECT sync_resets >= 1 FROM cache_stats WHERE layer = 'l2'})
	  or die $node->name . ": the sync worker did not start";
}

# A TLS client of our own: Python's redis, verifying against the test CA.
sub python_redis
{
	my ($code) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run [
		'/usr/bin/python3', '-c',
		"import redis; r = redis.Redis(host='localhost', port=$port{tls}, "
		  . "ssl=True, ssl_ca_certs='$tls{ca}'); $code" ],
	  '>', \$out, '2>', \$err
	  or die "python3 failed: $err";
	chomp $out;
	return $out;
}

# ---- Values are shared with other TLS clients, both ways.
$a->safe_psql('postgres', q{SELECT cache_set('shared', '{"v": 1}')});
is(python_redis(q{print(r.get('cache:shared').decode())}),
	'{"v": 1}', 'a TLS client reads what cachext stored over TLS');
python_redis(q{r.set('cache:from_py', '"py"')});
is($a->safe_psql('postgres', q{SELECT cache_get('from_py')}),
	'"py"', 'cachext reads over TLS what a TLS client stored');
is($a->safe_psql('postgres',
		q{SELECT hits >= 1 AND errors = 0 FROM cache_stats WHERE layer = 'l2'}),
	't', 'an L2 hit over TLS, and no error');

# ---- The sync worker follows the invalidation stream over TLS: b's L1
# copy is evicted when a changes the key.
is($b->safe_psql('postgres', q{SELECT cache_get('shared')}),
	'{"v": 1}', 'b promotes the value into its L1');
$a->safe_psql('postgres', q{SELECT cache_set('shared', '{"v": 2}')});
ok( $b->poll_query_until(
		'postgres', q{SELECT cache_get('shared') = '{"v": 2}'}),
	"b's L1 copy is evicted through the TLS invalidation stream");

# ---- Faults.  Each is set on a, reloaded, and then a key that only Redis
# holds must read as a miss, without an ERROR, with the reason logged.  A
# new key each time: a copy L1 took earlier (the read that succeeds below)
# is served while Redis cannot be reached, as it should be.
my $only_in_redis = 0;

sub reconfigure
{
	my ($node, %settings) = @_;
	my $sql = join '',
	  map { "ALTER SYSTEM SET cachext.$_ = '$settings{$_}';" } sort keys %settings;
	$node->safe_psql('postgres', "$sql SELECT pg_reload_conf()");
	for my $name (keys %settings)
	{
		$node->poll_query_until('postgres',
			"SELECT current_setting('cachext.$name') = '$settings{$name}'")
		  or die "reload of cachext.$name timed out";
	}
}

# Reads a key in a new session; returns (exit code, stdout, stderr, log).
sub read_key
{
	my ($node, $key) = @_;
	my $offset = -s $node->logfile;
	my ($ret, $out, $err) =
	  $node->psql('postgres', "SELECT cache_get('$key') IS NULL");
	return ($ret, $out, $err, slurp_file($node->logfile, $offset));
}

sub refused
{
	my ($what, $reason, %settings) = @_;
	my $key = 'only_in_redis_' . ++$only_in_redis;
	redis_cli('tls', 'SET', "cache:$key", '"r"');
	reconfigure($a, %settings);
	my ($ret, $out, $err, $log) = read_key($a, $key);
	is($ret, 0, "$what: no query error");
	is($out, 't', "$what: a miss");
	like($log, qr/WARNING:  cachext could not use Redis.*\n.*DETAIL:  .*$reason/,
		"$what: the log says why");
}

refused('wrong CA', qr/certificate was not accepted/,
	redis_tls_ca_file => "$certs/other_ca.crt");
refused('wrong host name', qr/certificate was not accepted: .*mismatch/,
	redis_tls_ca_file => $tls{ca},
	redis_url => "rediss://127.0.0.1:$port{tls}");

reconfigure($a, redis_tls_verify => 'ca');
redis_cli('tls', 'SET', 'cache:only_in_redis', '"r"');
is((read_key($a, 'only_in_redis'))[1], 'f',
	'redis_tls_verify = ca accepts the certificate under another host name');
reconfigure($a, redis_tls_verify => 'full');

refused('expired certificate', qr/certificate has expired/,
	redis_url => "rediss://localhost:$port{expired}");
refused('client certificate required, none given',
	qr/certificate required|closed the connection|TLS failed/,
	redis_url => "rediss://localhost:$port{mutual}");

redis_cli('mutual', 'SET', 'cache:only_in_redis', '"m"');
reconfigure($a,
	redis_tls_cert_file => $tls{client_cert},
	redis_tls_key_file => $tls{client_key});
is((read_key($a, 'only_in_redis'))[1], 'f',
	'client certificate required and given: a hit');

# ---- A backend already connected follows a change of a TLS setting at
# once, as it does a new cachext.redis_url: it reconnects, and the new CA
# refuses the server.
my ($ret, $out, $err) = $a->psql(
	'postgres', qq{SELECT cache_get('probe1') IS NULL;
ALTER SYSTEM SET cachext.redis_tls_ca_file = '$certs/other_ca.crt';
SELECT pg_reload_conf();
SELECT pg_sleep(1);
SELECT cache_get('probe2') IS NULL;});
is($ret, 0, 'a TLS setting changed under a connected backend: no query error');
like($err, qr/certificate was not accepted/,
	'a connected backend reconnects under the new TLS setting');
reconfigure($a, redis_tls_ca_file => $tls{ca});

# ---- A failure that repeats is logged once per backend, not per query:
# five reads (of keys L1 does not hold) a retry interval apart, five
# counted errors, one WARNING.
reconfigure($a, redis_tls_ca_file => "$certs/other_ca.crt");
$a->safe_psql('postgres', 'SELECT cache_stats_reset()');
($ret, $out, $err) = $a->psql('postgres',
	join '', map { "SELECT cache_get('absent$_'), pg_sleep(0.3);" } 1 .. 5);
is($ret, 0, 'repeated failures: no query error');
my @warnings = $err =~ /WARNING:/g;
is(scalar @warnings, 1, 'repeated failures: one WARNING');
cmp_ok($a->safe_psql('postgres',
		q{SELECT errors FROM cache_stats WHERE layer = 'l2'}),
	'>=', 4, 'repeated failures: each is counted');

# ---- File settings are checked when set, with a clear message.
($ret, $out, $err) = $a->psql('postgres',
	q{ALTER SYSTEM SET cachext.redis_tls_ca_file = '/nonexistent/ca.crt'});
isnt($ret, 0, 'a missing CA file is refused');
like($err, qr/cannot be read/, 'the refusal says the file cannot be read');

done_testing();
