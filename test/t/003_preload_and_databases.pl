# Two start-up facts a new user meets first: without
# shared_preload_libraries, CREATE EXTENSION works but every function says
# exactly what to add; and one L1 serves every database of the instance,
# keeping databases apart only by their cachext.namespace.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# Not preloaded: a clear error with SQLSTATE 55000 and the exact setting.
my $bare = PostgreSQL::Test::Cluster->new('bare');
$bare->init;
$bare->start;
$bare->safe_psql('postgres', 'CREATE EXTENSION cachext');
my ($ret, $out, $err) = $bare->psql('postgres',
	q{\set VERBOSITY verbose
SELECT cache_get('k')});
isnt($ret, 0, 'cache_get fails when cachext is not preloaded');
like($err, qr/55000/, 'with SQLSTATE 55000 (object not in prerequisite state)');
like($err, qr/shared_preload_libraries = 'cachext'/, 'and a hint naming the setting');
($ret, $out, $err) = $bare->psql('postgres', 'SELECT * FROM cache_stats');
like($err, qr/must be loaded via shared_preload_libraries/, 'the views say so too');

# A watched table's writes say so too: without the preload no transaction
# callback would invalidate their keys (or free what the trigger recorded).
# Each of several writes in a row fails the same way, whether the library
# came in through CREATE EXTENSION or an explicit LOAD.
$bare->safe_psql('postgres',
	q{CREATE TABLE users (id int PRIMARY KEY, name text);
INSERT INTO users VALUES (1, 'a');
SELECT cache_watch_table('users', 'USER', ARRAY['user:{id}'])});
for my $load ('', "LOAD 'cachext';")
{
	for my $write (
		q{UPDATE users SET name = 'b' WHERE id = 1},
		q{INSERT INTO users VALUES (2, 'c')},
		q{DELETE FROM users WHERE id = 1},
		q{TRUNCATE users})
	{
		($ret, $out, $err) = $bare->psql('postgres',
			"\\set VERBOSITY verbose\n$load $write");
		isnt($ret, 0, "watched write fails when not preloaded: $load $write");
		like($err, qr/55000.*must be loaded via shared_preload_libraries/s,
			'with SQLSTATE 55000');
		like($err, qr/shared_preload_libraries = 'cachext'/,
			'and the hint naming the setting');
	}
}
is($bare->safe_psql('postgres', 'SELECT count(*) || name FROM users GROUP BY name'),
	'1a', 'no watched write went through');
$bare->stop;

# Preloaded, two databases.
my $node = PostgreSQL::Test::Cluster->new('databases');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'cachext'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION cachext');
for my $db (qw(shop blog same))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION cachext');
}
$node->safe_psql('postgres', q{ALTER DATABASE shop SET cachext.namespace = 'shop:'});
$node->safe_psql('postgres', q{ALTER DATABASE blog SET cachext.namespace = 'blog:'});
$node->safe_psql('postgres', q{ALTER DATABASE same SET cachext.namespace = 'shop:'});

$node->safe_psql('shop', q{SELECT cache_set('user:1', '"from shop"')});
$node->safe_psql('blog', q{SELECT cache_set('user:1', '"from blog"')});
is($node->safe_psql('shop', q{SELECT cache_get('user:1')}), '"from shop"',
	'each database reads its own key');
is($node->safe_psql('blog', q{SELECT cache_get('user:1')}), '"from blog"',
	'under the same name in another namespace');
is($node->safe_psql('same', q{SELECT cache_get('user:1')}), '"from shop"',
	'databases with the same prefix share entries');
is($node->safe_psql('postgres', q{SELECT cache_get('user:1') IS NULL}), 't',
	'the default prefix cache: sees neither');

is($node->safe_psql('blog', q{SELECT cache_invalidate_pattern('user:*')}), '1',
	'pattern invalidation removes only its own namespace');
is($node->safe_psql('shop', q{SELECT cache_get('user:1')}), '"from shop"',
	'the other namespace keeps its key');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(namespace || key, ',' ORDER BY namespace) FROM cache_entries}),
	'shop:user:1',
	'cache_entries shows every namespace');

$node->stop;
done_testing();
