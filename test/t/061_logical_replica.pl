# A watched table on a logical replication subscriber.  The apply worker
# runs with session_replication_role = replica, where ordinary triggers do
# not fire: with cache_watch_table's default the subscriber's cache keeps
# the old value; with fire_on_replica => true the applied change
# invalidates it, as a local change would.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my %nodes;
for my $name ('publisher', 'subscriber')
{
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'cachext'\n");
	$node->start;
	$node->safe_psql('postgres', q{
CREATE EXTENSION cachext;
CREATE TABLE plain_users (id int PRIMARY KEY, name text);
CREATE TABLE always_users (id int PRIMARY KEY, name text);});
	$nodes{$name} = $node;
}
my ($publisher, $subscriber) = @nodes{ 'publisher', 'subscriber' };

$publisher->safe_psql('postgres', q{
INSERT INTO plain_users VALUES (1, 'Ada');
INSERT INTO always_users VALUES (1, 'Ada');
CREATE PUBLICATION users FOR TABLE plain_users, always_users;});
$subscriber->safe_psql('postgres',
	"CREATE SUBSCRIPTION users CONNECTION '"
	  . $publisher->connstr . " dbname=postgres' PUBLICATION users");
$subscriber->wait_for_subscription_sync($publisher, 'users');

$subscriber->safe_psql('postgres', q{
SELECT cache_watch_table('plain_users', 'PLAIN', ARRAY['plain:{id}']);
SELECT cache_watch_table('always_users', 'ALWAYS', ARRAY['always:{id}'], fire_on_replica => true);
SELECT cache_set('plain:1', '"Ada"'), cache_set('always:1', '"Ada"');});

$publisher->safe_psql('postgres', q{
UPDATE plain_users SET name = 'Grace';
UPDATE always_users SET name = 'Grace';});
$publisher->wait_for_catchup('users');

is($subscriber->safe_psql('postgres', 'SELECT name FROM always_users'),
	'Grace', 'the change reached the subscriber');
is($subscriber->safe_psql('postgres', q{SELECT cache_get('plain:1')}),
	'"Ada"', 'default watch: the applied change does not invalidate (stale value)');
is($subscriber->safe_psql('postgres', q{SELECT cache_get('always:1') IS NULL}),
	't', 'fire_on_replica: the applied change invalidates');

# DELETE and TRUNCATE are applied with the same role.
$subscriber->safe_psql('postgres', q{SELECT cache_set('always:1', '"Grace"')});
$publisher->safe_psql('postgres', 'DELETE FROM always_users');
$publisher->wait_for_catchup('users');
is($subscriber->safe_psql('postgres', q{SELECT cache_get('always:1') IS NULL}),
	't', 'an applied DELETE invalidates');
$subscriber->safe_psql('postgres', q{SELECT cache_set('always:2', '"x"')});
$publisher->safe_psql('postgres', 'TRUNCATE always_users');
$publisher->wait_for_catchup('users');
is($subscriber->safe_psql('postgres', q{SELECT cache_get('always:2') IS NULL}),
	't', 'an applied TRUNCATE invalidates');

$subscriber->stop;
$publisher->stop;
done_testing();
