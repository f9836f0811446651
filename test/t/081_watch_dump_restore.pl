# A dump of a database with watched partitioned and inheritance tables
# restores without an error and with the same triggers: the partitions'
# and children's triggers are ordinary triggers pg_dump writes, and the
# event trigger that covers new partitions does not create them a second
# time while the restore runs the watched tables' ALTER TABLE ... ENABLE
# ALWAYS TRIGGER (fire_on_replica).  The restored tables invalidate.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'cachext'");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->safe_psql('src', q{
CREATE EXTENSION cachext;
CREATE TABLE orders (id int, region text) PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us') PARTITION BY RANGE (id);
CREATE TABLE orders_us_low PARTITION OF orders_us FOR VALUES FROM (0) TO (100);
CREATE TABLE animals (id int, name text);
CREATE TABLE dogs () INHERITS (animals);
CREATE TABLE users (id int);
SELECT cache_watch_table('orders', 'ORDER', ARRAY['order:{id}'], fire_on_replica => true);
SELECT cache_watch_table('animals', 'ANIMAL', ARRAY['animal:{id}'], fire_on_replica => true);
SELECT cache_watch_table('users', 'USER', ARRAY['user:{id}']);
INSERT INTO orders VALUES (1, 'eu'), (2, 'us');
INSERT INTO dogs VALUES (3, 'Rex');});

my $triggers = q{SELECT string_agg(format('%s %s %s %s %s', tgrelid::regclass, tgname, tgenabled,
		tgparentid <> 0, encode(tgargs, 'escape')), E'\n' ORDER BY tgrelid::regclass::text, tgname)
	FROM pg_trigger WHERE tgname LIKE 'cachext%'};
my $before = $node->safe_psql('src', $triggers);
like($before, qr/^orders_us_low cachext_invalidate_truncate A f ORDER/m,
	'set-up: the sub-partition has its TRUNCATE trigger');

my $dump = PostgreSQL::Test::Utils::tempdir() . '/src.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump');
my ($stdout, $stderr);
my $ret = $node->psql('dst', undef,
	extra_params => [ '-v', 'ON_ERROR_STOP=1', '-f', $dump ],
	stdout => \$stdout, stderr => \$stderr);
is($ret, 0, 'the dump restores without an error');
unlike($stderr, qr/ERROR|WARNING/, 'and without a warning') or diag($stderr);
is($node->safe_psql('dst', $triggers), $before, 'with the same triggers');

$node->safe_psql('dst',
	q{SELECT cache_set('order:2', '1'), cache_set('animal:3', '1'), cache_set('order:9', '1')});
$node->safe_psql('dst', q{TRUNCATE orders_us_low});
$node->safe_psql('dst', q{UPDATE dogs SET name = 'Rex II'});
is( $node->safe_psql('dst',
		q{SELECT cache_get('order:2') IS NULL, cache_get('animal:3') IS NULL, cache_get('order:9') IS NULL}),
	't|t|t',
	'TRUNCATE of the restored sub-partition and a write to the restored child invalidate');

# A partition attached after the restore is covered as in the source.
$node->safe_psql('dst', q{CREATE TABLE orders_asia PARTITION OF orders FOR VALUES IN ('asia')});
is( $node->safe_psql('dst',
		q{SELECT string_agg(format('%s %s', tgname, tgenabled), ', ' ORDER BY tgname) FROM pg_trigger
		  WHERE tgrelid = 'orders_asia'::regclass}),
	'cachext_invalidate A, cachext_invalidate_truncate A',
	'a partition created after the restore gets both triggers, enabled always');

$node->stop;
done_testing();
