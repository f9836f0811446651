# Databases of different encodings sharing a namespace (cachext.namespace):
# an L1 entry written by one is not served to the other as raw bytes, and
# Redis holds UTF-8 JSON that every database reads in its own encoding.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use CachextRedis;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# Two databases, UTF8 and LATIN1, with the same prefix, on one node.
sub setup_databases
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{CREATE DATABASE u8 ENCODING 'UTF8' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'});
	$node->safe_psql('postgres', q{CREATE DATABASE l1 ENCODING 'LATIN1' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'});
	for my $db (qw(u8 l1))
	{
		$node->safe_psql($db, 'CREATE EXTENSION cachext');
		$node->safe_psql('postgres', "ALTER DATABASE $db SET cachext.namespace = 'shared:'");
	}
	# e-acute in each database's own encoding, written by its own chr()
	$node->safe_psql('u8', q{SELECT cache_set('word', to_jsonb('caf' || chr(233)))});
}

# ---- L1 alone: the LATIN1 database does not get the UTF8 bytes.
my $alone = PostgreSQL::Test::Cluster->new('alone');
$alone->init;
$alone->append_conf('postgresql.conf', "shared_preload_libraries = 'cachext'");
$alone->start;
setup_databases($alone);

is($alone->safe_psql('u8', q{SELECT cache_get('word') = to_jsonb('caf' || chr(233))}),
	't', 'the writing database reads its value');
is($alone->safe_psql('l1', q{SELECT cache_get('word') IS NULL}),
	't', 'a database of another encoding misses instead of reading foreign bytes');
$alone->safe_psql('l1', q{SELECT cache_set('word', to_jsonb('caf' || chr(233)))});
is($alone->safe_psql('l1', q{SELECT cache_get('word') = to_jsonb('caf' || chr(233))}),
	't', 'its own write of the key is read back');
is($alone->safe_psql('u8', q{SELECT cache_get('word') IS NULL}),
	't', 'and the first database now misses in turn');
$alone->stop;

# ---- With Redis: values travel as UTF-8 and are converted on the way in.
my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
redis_start('enc', $redis_port);
my $shared = PostgreSQL::Test::Cluster->new('shared');
$shared->init;
$shared->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'cachext'
cachext.redis_url = 'redis://127.0.0.1:$redis_port'
});
$shared->start;
setup_databases($shared);

is(redis_cli('enc', 'GET', 'shared:word'), qq{"caf\x{c3}\x{a9}"},
	'Redis holds the UTF-8 text');
is($shared->safe_psql('l1', q{SELECT cache_get('word') = to_jsonb('caf' || chr(233))}),
	't', 'the LATIN1 database reads the same word from Redis, converted');

$shared->safe_psql('l1', q{SELECT cache_set('latin', to_jsonb('na' || chr(239) || 've'))});
is(redis_cli('enc', 'GET', 'shared:latin'), qq{"na\x{c3}\x{af}ve"},
	'a LATIN1 write reaches Redis as UTF-8');
is($shared->safe_psql('u8', q{SELECT cache_get('latin') = to_jsonb('na' || chr(239) || 've')}),
	't', 'and the UTF8 database reads it');

# A character LATIN1 lacks (the euro sign) is a miss there, never an error.
$shared->safe_psql('u8', q{SELECT cache_set('price', to_jsonb('5 ' || chr(8364)))});
my ($ret, $out, $err) = $shared->psql('l1', q{SELECT cache_get('price') IS NULL});
is($ret, 0, 'reading an untranslatable value raises no error');
is($out, 't', 'it is a miss in the database that cannot hold it');

$shared->stop;
redis_kill('enc');
done_testing();
