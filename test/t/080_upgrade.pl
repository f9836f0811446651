# The upgrade path: a database that installed the released 0.1.0 and ran
# ALTER EXTENSION cachext UPDATE has exactly the objects of a fresh install
# of the default version -- each member's definition, comment and grants --
# and the library answers the SQL of both versions.
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
isnt($default, '0.1.0', "the default version ($default) is a release after 0.1.0");

$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('old', q{CREATE EXTENSION cachext VERSION '0.1.0'});

# The library serves the released SQL as it is, before any update.
is($node->safe_psql('old',
		q{SELECT cache_set('k', '{"a": 1}'), cache_get('k'), (SELECT entries FROM cache_stats WHERE layer = 'l1') >= 1}),
	qq{|{"a": 1}|t},
	'0.1.0 functions work with the new library');

$node->safe_psql('old', 'ALTER EXTENSION cachext UPDATE');
$node->safe_psql('fresh', 'CREATE EXTENSION cachext');
is($node->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'cachext'}),
	$default, 'ALTER EXTENSION UPDATE reaches the default version');

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
my $updated = $node->safe_psql('old', $members);
my $count = () = $fresh =~ /^comment: /mg;
cmp_ok($count, '>', 20, "a fresh install has its $count members");
is($updated, $fresh,
	'after the update every member, definition, comment and grant equals a fresh install');

# The updated database works like the fresh one.
is($node->safe_psql('old', q{SELECT cache_get('k')}), '{"a": 1}',
	'the entry cached before the update is still there');

$node->stop;
done_testing();
