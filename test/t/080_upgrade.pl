# The upgrade paths: a database that installed a released version (0.1.0,
# or 0.2.0) and ran ALTER EXTENSION cachext UPDATE has exactly the objects
# of a fresh install of the default version -- each member's definition,
# comment and grants -- and the library answers the SQL of every version.
# Tables watched before the update are fixed by it where they need to be.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'cachext'");
$node->start;

my $default = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'cachext'});
unlike($default, qr/^0\.[12]\.0$/, "the default version ($default) is a release after 0.2.0");

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION cachext');

# Every member of the extension with everything that defines it: its
# identity, definition (functions, views, types), comment and grants.
my $members = q{
SELECT pg_describe_object(d.classid, d.objid, 0) || E'\n' ||
       coalesce(CASE c.relname
           WHEN 'pg_proc' THEN pg_get_functiondef(d.objid) ||
               coalesce((SELECT proacl::text FROM pg_proc WHERE oid = d.objid), 'default acl')
           WHEN 'pg_class' THEN coalesce(pg_get_viewdef(d.objid), '') ||
               coalesce((SELECT relacl::text FROM pg_class WHERE oid = d.objid), 'default acl')
           WHEN 'pg_type' THEN format_type(d.objid, NULL)
           ELSE ''
       END, '') || E'\ncomment: ' ||
       coalesce(obj_description(d.objid, c.relname), '(none)')
FROM pg_depend d
JOIN pg_class c ON c.oid = d.classid
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cachext')
  AND d.deptype = 'e'
ORDER BY 1};

my $fresh = $node->safe_psql('fresh', $members);
my $count = () = $fresh =~ /^comment: /mg;
cmp_ok($count, '>', 20, "a fresh install has its $count members");

# Each released version, installed as it was released: the library serves
# its SQL before any update (a call that version has, with the value it
# caches), and ALTER EXTENSION UPDATE then leaves exactly a fresh install's
# members.  A key per version, since the databases share one namespace.
my %released = (
	'0.1.0' => q{SELECT cache_set('k010', '{"a": 1}'), cache_get('k010'),
	                    (SELECT entries FROM cache_stats WHERE layer = 'l1') >= 1},
	'0.2.0' => q{SELECT cache_set('k020', '{"a": 2}', interval '1 hour', ARRAY['t020']),
	                    cache_get('k020'), cache_incr('n020') = 1});
my %cached = ('0.1.0' => 'k010', '0.2.0' => 'k020');
my %value = ('0.1.0' => '{"a": 1}', '0.2.0' => '{"a": 2}');

for my $version (sort keys %released)
{
	(my $db = "v$version") =~ s/\./_/g;

	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION cachext VERSION '$version'");

	is($node->safe_psql($db, $released{$version}),
		qq{|$value{$version}|t},
		"$version functions work with the new library");

	$node->safe_psql($db, 'ALTER EXTENSION cachext UPDATE');
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'cachext'}),
		$default, "ALTER EXTENSION UPDATE from $version reaches the default version");

	is($node->safe_psql($db, $members), $fresh,
		"after the update from $version every member, definition, comment and grant equals a fresh install");

	# The updated database works like the fresh one.
	is($node->safe_psql($db, "SELECT cache_get('$cached{$version}')"), $value{$version},
		"the entry cached before the update from $version is still there");
}

# Tables watched under 0.2.0 whose partitions and inheritance children
# lacked triggers: a partition had no TRUNCATE trigger, a child none.  The
# update gives them their watched table's; the triggers stay the tables'
# (not members of the extension).
$node->safe_psql('postgres', 'CREATE DATABASE watched');
$node->safe_psql('watched', q{CREATE EXTENSION cachext VERSION '0.2.0'});
$node->safe_psql('watched', q{
CREATE TABLE orders (id int, region text) PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
CREATE TABLE animals (id int, name text);
CREATE TABLE dogs () INHERITS (animals);
SELECT cache_watch_table('orders', 'ORDER', ARRAY['order:{id}']);
SELECT cache_watch_table('animals', 'ANIMAL', ARRAY['animal:{id}'], fire_on_replica => true);});
my $triggers = q{SELECT string_agg(format('%s %s %s', tgrelid::regclass, tgname, tgenabled), ', '
	ORDER BY tgrelid::regclass::text, tgname) FROM pg_trigger WHERE tgname LIKE 'cachext%'};
is( $node->safe_psql('watched', $triggers),
	'animals cachext_invalidate A, animals cachext_invalidate_truncate A, '
	  . 'orders cachext_invalidate O, orders cachext_invalidate_truncate O, '
	  . 'orders_eu cachext_invalidate O',
	'0.2.0 gave a partition only the cloned row trigger, a child nothing');
$node->safe_psql('watched', 'ALTER EXTENSION cachext UPDATE');
is( $node->safe_psql('watched', $triggers),
	'animals cachext_invalidate A, animals cachext_invalidate_truncate A, '
	  . 'dogs cachext_invalidate A, dogs cachext_invalidate_truncate A, '
	  . 'orders cachext_invalidate O, orders cachext_invalidate_truncate O, '
	  . 'orders_eu cachext_invalidate O, orders_eu cachext_invalidate_truncate O',
	'the update gives the partition its TRUNCATE trigger and the child both, enabled as their tables\' are');
is( $node->safe_psql('watched',
		q{SELECT count(*) FROM pg_depend WHERE classid = 'pg_trigger'::regclass AND deptype = 'e'}),
	'0', 'the triggers are not members of the extension');
$node->safe_psql('watched', q{SELECT cache_set('order:1', '1'), cache_set('animal:2', '2')});
$node->safe_psql('watched', q{TRUNCATE orders_eu});
$node->safe_psql('watched', q{INSERT INTO dogs VALUES (2, 'Rex')});
is($node->safe_psql('watched', q{SELECT cache_get('order:1') IS NULL, cache_get('animal:2') IS NULL}),
	't|t', 'TRUNCATE of the partition and a write to the child invalidate');
is($node->safe_psql('watched', q{SELECT cache_watch_root('dogs')}), 'animals',
	'the child is watched through its parent');

$node->stop;
done_testing();
