# CachextNode: the PostgreSQL instance every cachext TAP test starts, with
# cachext preloaded and the extension created in its postgres database.
package CachextNode;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(cachext_node);

# Starts an instance named $name with cachext preloaded and the extra
# postgresql.conf lines $conf (settings such as cachext.redis_url); %init
# goes to init().  Returns the node, its postgres database holding the
# extension.
sub cachext_node
{
	my ($name, $conf, %init) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%init);
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'cachext'
$conf});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION cachext');
	return $node;
}

1;
