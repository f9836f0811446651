# The deprecated names cachext.redis_prefix and cachext.lock_timeout (renamed
# cachext.namespace and cachext.load_wait_timeout in 0.2.0, removed in
# 0.4.0) still take effect from postgresql.conf, ALTER SYSTEM and SET, the
# postmaster logs their use, and the new name wins when both are set.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextNode;
use CachextSessions;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = cachext_node('deprecated', q{
cachext.redis_prefix = 'conf_old:'
cachext.lock_timeout = '300ms'
});

# The namespace a new session stores key under.
sub namespace_of
{
	my ($key) = @_;
	$node->safe_psql('postgres', "SELECT cache_set('$key', '1')");
	return $node->safe_psql('postgres',
		"SELECT namespace FROM cache_entries WHERE key = '$key'");
}

# How long a session waits for another's 6 s load of key, its own
# statement run first (SET ... or nothing).
sub wait_for_load
{
	my ($key, $set) = @_;
	my $loader = start_psql($node,
		"SELECT cache_get_or_set('$key', 'SELECT 1 FROM pg_sleep(6)')",
		"loader_$key");
	wait_for_app($node, "loader_$key");
	my $start = time;
	my ($out, $err) = finish_psql(start_psql($node,
		"$set SELECT cache_get_or_set('$key', 'SELECT 2')"));
	my $waited = time - $start;
	is($out, '2', "$key: the waiter loaded its own value");
	finish_psql($loader);
	return $waited;
}

# 1. postgresql.conf: the old names take effect, and the log says they are
#    deprecated.
is(namespace_of('conf'), 'conf_old:',
	'cachext.redis_prefix in postgresql.conf sets the namespace');
like(slurp_file($node->logfile),
	qr/parameter "cachext.redis_prefix" is deprecated/,
	'the postmaster logs the use of the old name');
my $waited = wait_for_load('conf_wait', '');
cmp_ok($waited, '<', 2.5,
	"cachext.lock_timeout = 300ms in postgresql.conf bounds the wait (${waited}s)");

# 2. SET of the old name takes effect; SET of the new one wins over the old.
$waited = wait_for_load('set_old', q{SET cachext.lock_timeout = '4s';});
cmp_ok($waited, '>', 3,
	"SET cachext.lock_timeout = 4s makes the waiter wait (${waited}s)");
$waited = wait_for_load('set_new', q{SET cachext.load_wait_timeout = '4s';});
cmp_ok($waited, '>', 3,
	"SET cachext.load_wait_timeout = 4s wins over the old name in postgresql.conf (${waited}s)");

# 3. ALTER SYSTEM: the new name wins over the old one in postgresql.conf;
#    reset, the old name set with ALTER SYSTEM applies.
$node->safe_psql('postgres',
	q{ALTER SYSTEM SET cachext.namespace = 'system_new:'; SELECT pg_reload_conf()});
$node->poll_query_until('postgres',
	q{SELECT current_setting('cachext.namespace') = 'system_new:'})
  or die 'the reload was not seen';
is(namespace_of('system_new'), 'system_new:',
	'ALTER SYSTEM SET cachext.namespace wins over cachext.redis_prefix');
$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET cachext.namespace; ALTER SYSTEM SET cachext.redis_prefix = 'system_old:'; SELECT pg_reload_conf()});
$node->poll_query_until('postgres',
	q{SELECT current_setting('cachext.redis_prefix') = 'system_old:'})
  or die 'the reload was not seen';
is(namespace_of('system_old'), 'system_old:',
	'ALTER SYSTEM SET cachext.redis_prefix sets the namespace');

# 4. ALTER DATABASE with the old name: the session is warned.
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', 'CREATE EXTENSION cachext');
$node->safe_psql('postgres',
	q{ALTER DATABASE shop SET cachext.redis_prefix = 'shop_old:'});
my ($ret, $out, $err) = $node->psql('shop',
	q{DO $$BEGIN PERFORM cache_set('db', '1'); END$$; SELECT namespace FROM cache_entries WHERE key = 'db'});
is($out, 'shop_old:', 'ALTER DATABASE SET cachext.redis_prefix sets the namespace');
like($err, qr/WARNING:  parameter "cachext.redis_prefix" is deprecated/,
	'and the session is warned');

$node->stop;
done_testing();
