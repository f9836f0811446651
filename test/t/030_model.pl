# Model-based test of L1: a long random sequence of cache_set (explicit
# TTLs, the default TTL, no expiry), cache_get, cache_get_multi,
# cache_invalidate, cache_invalidate_pattern, cache_clear and clock
# advances runs against cachext (one partition, bounds small enough that
# both the entry bound and the byte bound bite) and against a small
# reference model of the documented semantics: each eviction policy
# (cachext.l1_eviction: exact LRU, and SIEVE with its visited bits and
# hand), both bounds, making room (expired entries first, earliest expiry
# first, then the policy's victim), lazy expiry, and the counters.  The
# same ops run once per policy, the server restarted with it.  After every
# step the op's result, the l1 row of cache_stats and the cache_entries
# view (key, hits, bytes and TTL of every live entry, head of the policy's
# list first: most recently used for LRU, most recently inserted for
# SIEVE) must equal the model's.  On a mismatch it prints the seed, the step, expected
# against actual, then shrinks the run to a short failing sequence and
# prints it as SQL that can be run by hand.
#
# Env: MODEL_SEED (default: random; always printed), MODEL_OPS (default
# 100000 per policy), MODEL_POLICIES (default "lru sieve"),
# MODEL_SHRINK_SECONDS (time allowed for shrinking, default 120).
#
# Time.  cachext is built with TEST_BUILD=1 (scripts/test does it), which
# gives it cachext_test_advance_clock(interval); the test declares that
# function itself.  The model counts time in whole days: every TTL and
# every clock step is a whole number of days, and the wall clock moves far
# less than a day during a run.  So an entry set on model day s with a TTL
# of t days is expired exactly from model day s + t on (at that very day
# the wall clock has moved on since the set, so expires_at <= now), and
# entries whose model expiry is equal expire in the order they were set.
# A replay starts from an empty store (cache_clear, cache_stats_reset) and
# counts days from its own start; the clock only moves forward, so it is
# not set back.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

BEGIN
{
	eval { require DBI; require DBD::Pg; 1 }
	  or plan skip_all =>
	  'DBD::Pg is not installed (scripts/setup installs libdbd-pg-perl)';
}

my $seed = $ENV{MODEL_SEED} // int(rand(2**31));
my $nops = $ENV{MODEL_OPS} // 100000;
my $shrink_seconds = $ENV{MODEL_SHRINK_SECONDS} // 120;
my @policies = split ' ', ($ENV{MODEL_POLICIES} // 'lru sieve');
my $policy;    # the one running
note("MODEL_SEED=$seed MODEL_OPS=$nops");
diag("030_model: MODEL_SEED=$seed MODEL_OPS=$nops");

# The store: one partition, 48 entry slots, 1024 chunks of 128 bytes.
my $max_entries = 48;
my $chunk = 128;
my $max_chunks = 128 * 1024 / $chunk;
my $max_value_size = 160 * 1024;
my %conf = (
	'cachext.l1_partitions' => 1,
	'cachext.l1_max_entries' => $max_entries,
	'cachext.l1_memory' => "'128kB'",
	'cachext.l1_max_value_size' => "'160kB'",
	# each policy's run starts from an empty store: no warm restart
	'cachext.l1_dump_interval' => 0,);
my $namespace = 'cache:';
my $default_ttl_days = 5;

my $node = PostgreSQL::Test::Cluster->new('model');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'cachext'\n"
	  . join('', map { "$_ = $conf{$_}\n" } sort keys %conf));
$node->start;

my $dbh;
# Connects with the session settings every run uses.
sub connect_db
{
	$dbh = DBI->connect('dbi:Pg:' . $node->connstr('postgres'),
		'', '', { AutoCommit => 1, RaiseError => 1, PrintError => 0 });
	$dbh->do("SET cachext.default_ttl = '${default_ttl_days}d'");
	$dbh->do('SET cachext.events = off');  # nobody listens; saves the commit lock
}
connect_db();
$dbh->do('CREATE EXTENSION cachext');

my $clock_function = q{CREATE FUNCTION cachext_test_advance_clock(interval)
RETURNS void AS '$libdir/cachext', 'cachext_test_advance_clock'
LANGUAGE C STRICT};
if (!eval { $dbh->do($clock_function); 1 })
{
	plan skip_all =>
	  'cachext was built without TEST_BUILD=1 (scripts/test builds it with)';
}

# A step is read like a TTL: it must be positive.
for my $step ('0 days', '-1 day')
{
	eval { $dbh->do("SELECT cachext_test_advance_clock('$step')") };
	is($dbh->state, '22023', "cachext_test_advance_clock('$step') is refused");
}

# ---- The values: SQL expressions, sized around chunk boundaries, up to
# one too large for the partition (54000) and one over l1_max_value_size.
my @value_sql;
my %value_group;    # group => [indexes]
sub add_values
{
	my ($group, @sql) = @_;
	for my $sql (@sql)
	{
		push @{ $value_group{$group} }, scalar(@value_sql);
		push @value_sql, $sql;
	}
}
add_values('small',
	(map { "to_jsonb(repeat('s', $_))" } 0, 1, 5, 50, 100, 104, 105, 106, 200, 300),
	q{'42'}, q{'3.25'}, q{'null'}, q{'true'}, q{'[]'}, q{'{}'},
	(map { "jsonb_build_object('id', $_, 'pad', repeat('o', 10 * $_))" } 1, 9, 30),
	(map { "to_jsonb(array_fill(7, ARRAY[$_]))" } 3, 50));
add_values('medium',
	(map { "to_jsonb(repeat('m', $_))" } 400, 1000, 2000, 3000, 4000, 5000),
	"to_jsonb(array_fill(7, ARRAY[400]))");
add_values('large', map { "to_jsonb(repeat('L', $_))" } 8000, 15000, 25000, 40000);
add_values('unfit',    "to_jsonb(repeat('U', 140000))");
add_values('oversize', "to_jsonb(repeat('O', 170000))");

$dbh->do('CREATE TABLE model_values (i int PRIMARY KEY, v jsonb NOT NULL)');
my (@value_text, @value_size);
for my $i (0 .. $#value_sql)
{
	# pg_column_size of the computed value: its varlena, as cache_set gets it
	my ($text, $size) = $dbh->selectrow_array(
		"SELECT v::text, pg_column_size(v) FROM (SELECT ($value_sql[$i])::jsonb AS v) s");
	$dbh->do("INSERT INTO model_values VALUES ($i, $value_sql[$i])");
	($value_text[$i], $value_size[$i]) = ($text, $size);
}

# ---- The keys: three groups, 3 to 154 bytes long.
my @keys = (
	(map { "u:$_" } 0 .. 39),
	(map { "i:$_" } 0 .. 39),
	(map { "l:$_:" . ('p' x (17 * $_ % 150)) } 0 .. 19));

# One server round trip per step: the op, then the l1 counters and the
# live entries, read after it.
$dbh->do(q{
CREATE FUNCTION model_state(OUT l1 bigint[], OUT live text)
LANGUAGE sql AS $$
SELECT (SELECT ARRAY[entries, bytes, hits, misses, sets, evictions,
                     expirations, invalidations, max_entries, max_bytes]
          FROM cache_stats WHERE layer = 'l1'),
       (SELECT string_agg(key || ' ' || hits || ' ' || bytes || ' ' ||
                          coalesce(extract(epoch FROM expires_at - created_at)::bigint::text, '-'),
                          ',' ORDER BY n)
          FROM cache_entries() WITH ORDINALITY e(namespace, key, bytes, created_at,
                                                 expires_at, last_access, hits, n))
$$});
$dbh->do(q{
CREATE FUNCTION model_step(op text, k text, vi int, ttl interval, ks text[],
                           OUT result text, OUT l1 bigint[], OUT live text)
LANGUAGE plpgsql AS $$
BEGIN
  CASE op
  WHEN 'get' THEN result := cache_get(k)::text;
  WHEN 'set' THEN PERFORM cache_set(k, (SELECT v FROM model_values WHERE i = vi), ttl);
  WHEN 'setd' THEN PERFORM cache_set(k, (SELECT v FROM model_values WHERE i = vi));
  WHEN 'inv' THEN result := cache_invalidate(k)::text;
  WHEN 'pat' THEN result := cache_invalidate_pattern(k)::text;
  WHEN 'multi' THEN
    SELECT string_agg(m.key || '=' || m.value::text, E'\n' ORDER BY m.n) INTO result
      FROM cache_get_multi(ks) WITH ORDINALITY m(key, value, n);
  WHEN 'clock' THEN PERFORM cachext_test_advance_clock(ttl);
  WHEN 'clear' THEN result := cache_clear()::text;
  END CASE;
  SELECT s.l1, s.live INTO l1, live FROM model_state() s;
END
$$});
my ($step_sth, $state_sth);
sub prepare_steps
{
	$step_sth = $dbh->prepare(
		'SELECT result, l1, live FROM model_step($1, $2, $3, $4, $5)');
	$state_sth = $dbh->prepare('SELECT l1, live FROM model_state()');
}

# ---- The operations, from the seed.  An op is [kind, key or pattern,
# value index, days (TTL or clock step; undef: no expiry), keys].
srand($seed);
my @shuffled = @keys;
for (my $i = $#shuffled; $i > 0; $i--)
{
	my $j = int(rand($i + 1));
	@shuffled[ $i, $j ] = @shuffled[ $j, $i ];
}
my @hot = @shuffled[ 0 .. 29 ];
sub pick { return $_[ int(rand(@_)) ]; }
sub pick_key { return rand() < 0.6 ? pick(@hot) : pick(@keys); }

sub pick_value
{
	my $r = rand();
	my $group =
	    $r < 0.002 ? 'unfit'
	  : $r < 0.004 ? 'oversize'
	  : $r < 0.06  ? 'large'
	  : $r < 0.30  ? 'medium'
	  :              'small';
	return pick(@{ $value_group{$group} });
}

# A glob over the keys' alphabet: literals, ?, *, [set], [a-b], [^set].
sub pick_pattern
{
	my $r = rand();
	return pick('u:*', 'i:*', 'l:*') if $r < 0.2;
	return pick('u', 'i', 'l') . ':' . int(rand(10)) . '?' if $r < 0.4;
	return '*' if $r < 0.43;
	my $pattern = '';
	for (1 .. 1 + int(rand(5)))
	{
		my $t = rand();
		$pattern .=
		    $t < 0.3 ? pick(split //, 'uil:0123456789p')
		  : $t < 0.5 ? '?'
		  : $t < 0.7 ? '*'
		  : $t < 0.8 ? '[' . join('', map { pick(split //, 'uil:0123456789') } 1 .. 3) . ']'
		  : $t < 0.9 ? '[' . int(rand(5)) . '-' . (5 + int(rand(5))) . ']'
		  :            '[^' . pick(split //, 'uil0123456789') . ']';
	}
	return $pattern;
}

# The mix, in percent; a set's TTL is 1 to 12 days (60%), none (25%) or
# cachext.default_ttl (15%); a clock step is 1 to 3 days.
my @mix = (
	[ get => 54 ],
	[ set => 28 ],
	[ multi => 10 ],
	[ inv => 6 ],
	[ pat => 1 ],
	[ clock => 1 ],
	[ clear => 0.03 ]);
my $mix_total = 0;
$mix_total += $_->[1] for @mix;

sub pick_op
{
	my $r = rand($mix_total);
	my $kind;
	for (@mix)
	{
		$kind = $_->[0];
		last if ($r -= $_->[1]) < 0;
	}
	if ($kind eq 'set')
	{
		my $t = rand();
		return [ 'setd', pick_key(), pick_value() ] if $t < 0.15;
		return [ 'set', pick_key(), pick_value(), $t < 0.4 ? undef : 1 + int(rand(12)) ];
	}
	return [ 'multi', undef, undef, undef, [ map { pick_key() } 1 .. 1 + int(rand(6)) ] ]
	  if $kind eq 'multi';
	return [ 'pat', pick_pattern() ] if $kind eq 'pat';
	return [ 'clock', undef, undef, 1 + int(rand(3)) ] if $kind eq 'clock';
	return [ 'clear' ] if $kind eq 'clear';
	return [ $kind, pick_key() ];    # get, inv
}
my @ops = map { pick_op() } 1 .. $nops;

# ---- The model.
# @lru is the policy's list, tail (LRU: least recently used; SIEVE: oldest
# insert) first; $hand is SIEVE's hand (a key, or undef: at the tail).
my (%entry, @lru, $hand, %stats, $today, $seq);
my $clock_days = 0;    # days the server's clock moved since it started
my %seen;    # how often the run made room for each bound, and refused a set
my @stat_names = qw(entries bytes hits misses sets evictions expirations
  invalidations max_entries max_bytes);

sub model_reset
{
	%entry = ();
	@lru = ();
	$hand = undef;
	%stats = map { $_ => 0 } @stat_names;
	$stats{max_entries} = $max_entries;
	$stats{max_bytes} = $max_chunks * $chunk;
	$today = 0;
	$seq = 0;
}

sub is_expired
{
	my ($e) = @_;
	return defined $e->{expires} && $e->{expires} <= $today;
}

sub model_remove
{
	my ($key) = @_;
	my $e = delete $entry{$key};
	if (defined $hand && $hand eq $key)    # SIEVE's hand moves on, headwards
	{
		my ($at) = grep { $lru[$_] eq $key } 0 .. $#lru;
		$hand = $lru[ $at + 1 ];
	}
	@lru = grep { $_ ne $key } @lru;
	$stats{entries}--;
	$stats{bytes} -= $e->{chunks} * $chunk;
	return $e;
}

# Looks key up as l1_lookup does: lazy expiry; a hit moves the key to the
# head (LRU) or sets its visited bit (SIEVE).
sub model_lookup
{
	my ($key) = @_;
	my $e = $entry{$key};
	if ($e && is_expired($e))
	{
		model_remove($key);
		$stats{expirations}++;
		$e = undef;
	}
	if (!$e)
	{
		$stats{misses}++;
		return undef;
	}
	$stats{hits}++;
	$e->{hits}++;
	if ($policy eq 'sieve')
	{
		$e->{visited} = 1;
	}
	else
	{
		@lru = ((grep { $_ ne $key } @lru), $key);
	}
	return $value_text[ $e->{value} ];
}

# SIEVE's victim: from the hand (or the tail) towards the head, wrapping
# to the tail, clearing visited bits, up to the first entry without one.
sub sieve_victim
{
	my $at = 0;
	($at) = grep { $lru[$_] eq $hand } 0 .. $#lru if defined $hand;
	while ($entry{ $lru[$at] }{visited})
	{
		$entry{ $lru[$at] }{visited} = 0;
		$at = ($at + 1) % @lru;
	}
	$hand = $lru[$at];    # model_remove moves it on
	return $hand;
}

# Frees one slot and $need chunks: expired entries first (earliest expiry,
# then earliest set), then the policy's victim.
sub model_make_room
{
	my ($need) = @_;
	while ($stats{entries} >= $max_entries
		|| $max_chunks - $stats{bytes} / $chunk < $need)
	{
		$seen{ $stats{entries} >= $max_entries ? 'entry bound' : 'byte bound' }++;
		my ($first) =
		  sort { $entry{$a}{expires} <=> $entry{$b}{expires} || $entry{$a}{seq} <=> $entry{$b}{seq} }
		  grep { defined $entry{$_}{expires} } keys %entry;
		if (defined $first && is_expired($entry{$first}))
		{
			model_remove($first);
			$stats{expirations}++;
		}
		else
		{
			model_remove($policy eq 'sieve' ? sieve_victim() : $lru[0]);
			$stats{evictions}++;
		}
	}
}

sub model_set
{
	my ($key, $value, $days) = @_;
	my $size = $value_size[$value];
	my $chunks = int((length($namespace . $key) + $size + $chunk - 1) / $chunk);
	if ($size > $max_value_size || $chunks > $max_chunks)
	{
		$seen{refused}++;
		return 'ERROR 54000';
	}
	model_remove($key) if $entry{$key};    # a replaced value counts nothing
	model_make_room($chunks);
	$entry{$key} = {
		value => $value,
		chunks => $chunks,
		expires => defined $days ? $today + $days : undef,
		days => $days,
		seq => $seq++,
		hits => 0
	};
	push @lru, $key;
	$stats{entries}++;
	$stats{bytes} += $chunks * $chunk;
	$stats{sets}++;
	return undef;
}

# Removes key as l1_remove does; true if it was live.
sub model_invalidate
{
	my ($key) = @_;
	my $e = $entry{$key} or return 'false';
	model_remove($key);
	if (is_expired($e))
	{
		$stats{expirations}++;
		return 'false';
	}
	$stats{invalidations}++;
	return 'true';
}

# Redis' glob over the patterns pick_pattern makes, as a Perl regex; a
# class is rebuilt from its escaped members.
sub glob_regex
{
	my ($pattern) = @_;
	my $re = '';
	while ($pattern =~ /\G(\*|\?|\[(\^?)([^\]]*)\]|.)/gs)
	{
		my ($t, $negated, $members) = ($1, $2, $3);
		if (defined $members)
		{
			$members =~ s/(.)-(.)|(.)/defined $3 ? quotemeta($3) : quotemeta($1) . '-' . quotemeta($2)/ge;
			$re .= '[' . ($negated ? '^' : '') . $members . ']';
		}
		else
		{
			$re .= $t eq '*' ? '.*' : $t eq '?' ? '.' : quotemeta($t);
		}
	}
	return qr/\A$re\z/s;
}

sub model_invalidate_pattern
{
	my ($pattern) = @_;
	my $re = glob_regex($pattern);
	my $removed = 0;
	for my $key (grep { $_ =~ $re } keys %entry)
	{
		$removed++ if model_invalidate($key) eq 'true';
	}
	return $removed;
}

# What the model expects of one op: its result (undef for none).
sub model_apply
{
	my ($op) = @_;
	my ($kind, $key, $value, $days, $keys) = @$op;
	return model_lookup($key) if $kind eq 'get';
	return model_set($key, $value, $days) if $kind eq 'set';
	return model_set($key, $value, $default_ttl_days) if $kind eq 'setd';
	return model_invalidate($key) if $kind eq 'inv';
	return model_invalidate_pattern($key) if $kind eq 'pat';
	if ($kind eq 'multi')
	{
		my @found;
		for my $k (@$keys)
		{
			my $v = model_lookup($k);
			push @found, "$k=$v" if defined $v;
		}
		return @found ? join("\n", @found) : undef;
	}
	if ($kind eq 'clear')
	{
		my $n = $stats{entries};
		$stats{invalidations} += $n;
		%entry = ();
		@lru = ();
		$hand = undef;
		$stats{entries} = $stats{bytes} = 0;
		return $n;
	}
	$today += $days;    # clock
	$clock_days += $days;
	return undef;
}

# The cache_entries listing the model expects: live entries, head first.
sub model_live
{
	my @live = grep { !is_expired($entry{$_}) } reverse @lru;
	return undef unless @live;
	return join(',',
		map {
			my $e = $entry{$_};
			"$_ $e->{hits} " . ($e->{chunks} * $chunk) . ' '
			  . (defined $e->{days} ? $e->{days} * 86400 : '-')
		} @live);
}

# ---- Running a sequence against both.
sub show { return defined $_[0] ? $_[0] : 'NULL'; }

# Runs one op on the server: (result, l1 counters, live entries).
sub server_apply
{
	my ($op) = @_;
	my ($kind, $key, $value, $days, $keys) = @$op;
	my $interval = defined $days ? "$days days" : undef;
	my $row = eval {
		$step_sth->execute($kind, $key, $value, $interval, $keys);
		$step_sth->fetchrow_arrayref;
	};
	return ($row->[0], join(' ', @{ $row->[1] }), $row->[2]) if $row;
	my $error = 'ERROR ' . $dbh->state;
	$state_sth->execute;
	$row = $state_sth->fetchrow_arrayref;
	return ($error, join(' ', @{ $row->[0] }), $row->[1]);
}

# Empties the store and the counters, and the model with them.
sub reset_both
{
	$dbh->do('SELECT cache_clear(), cache_stats_reset()');
	model_reset();
}

# Runs ops from an empty store; returns undef if every step matched, else
# the first mismatch as { step, what, expected, actual }.
sub run_ops
{
	my ($ops) = @_;
	reset_both();
	for my $i (0 .. $#$ops)
	{
		my $expected = model_apply($ops->[$i]);
		my $expected_l1 = join(' ', map { $stats{$_} } @stat_names);
		my ($result, $l1, $live) = server_apply($ops->[$i]);
		for my $check (
			[ 'result', $expected, $result ],
			[ "l1 stats (@stat_names)", $expected_l1, $l1 ],
			[ 'cache_entries (key hits bytes ttl_s, head first)', model_live(), $live ])
		{
			my ($what, $want, $got) = @$check;
			next if show($want) eq show($got);
			return { step => $i, what => $what, expected => show($want), actual => show($got) };
		}
	}
	return undef;
}

# The op as SQL, with a comment saying what the model expects.
sub op_sql
{
	my ($op) = @_;
	my ($kind, $key, $value, $days, $keys) = @$op;
	my $q = sub { my $s = shift; $s =~ s/'/''/g; return "'$s'"; };
	return "SELECT cache_get(" . $q->($key) . ");" if $kind eq 'get';
	return "SELECT cache_set(" . $q->($key) . ", $value_sql[$value], "
	  . (defined $days ? "'$days days'" : 'NULL') . ");"
	  if $kind eq 'set';
	return "SELECT cache_set(" . $q->($key) . ", $value_sql[$value]);"
	  if $kind eq 'setd';
	return "SELECT cache_invalidate(" . $q->($key) . ");" if $kind eq 'inv';
	return "SELECT cache_invalidate_pattern(" . $q->($key) . ");" if $kind eq 'pat';
	return "SELECT * FROM cache_get_multi(ARRAY["
	  . join(', ', map { $q->($_) } @$keys) . "]);"
	  if $kind eq 'multi';
	return "SELECT cache_clear();" if $kind eq 'clear';
	return "SELECT cachext_test_advance_clock('$days days');";
}

# Shortens a failing sequence: cut it after its first mismatch, then drop
# chunks of ops (halves, quarters, ... single ops) while it still fails,
# within $shrink_seconds.
sub shrink
{
	my ($ops, $failure) = @_;
	my $deadline = time() + $shrink_seconds;
	my @best = @$ops[ 0 .. $failure->{step} ];
	my $size = int(@best / 2) || 1;
	while (time() < $deadline)
	{
		my $dropped = 0;
		for (my $start = 0; $start < @best && time() < $deadline;)
		{
			my @candidate = @best;
			splice(@candidate, $start, $size);
			my $f = @candidate ? run_ops(\@candidate) : undef;
			if ($f)
			{
				@best = @candidate[ 0 .. $f->{step} ];
				$failure = $f;
				$dropped = 1;
			}
			else
			{
				$start += $size;
			}
		}
		last if $size == 1 && !$dropped;
		$size = int($size / 2) || 1;
	}
	return (\@best, $failure);
}

sub report
{
	my ($ops, $failure) = @_;
	my $sql = join("\n",
		"-- cachext built with TEST_BUILD=1, postgresql.conf: shared_preload_libraries = 'cachext', "
		  . join(', ', map { "$_ = $conf{$_}" } sort keys %conf)
		  . ", cachext.l1_eviction = $policy",
		'CREATE EXTENSION IF NOT EXISTS cachext;',
		"$clock_function;",
		"SET cachext.default_ttl = '${default_ttl_days}d';",
		'SELECT cache_clear(), cache_stats_reset();',
		(map { op_sql($ops->[$_]) } 0 .. $#$ops),
		"-- step $failure->{step} (the last): $failure->{what}",
		"--   expected: $failure->{expected}",
		"--   actual:   $failure->{actual}",
		'SELECT ' . join(', ', @stat_names) . " FROM cache_stats WHERE layer = 'l1';",
		'SELECT key, hits, bytes, expires_at - created_at AS ttl FROM cache_entries;');
	return $sql;
}

for my $p (@policies)
{
	# a restart also sets the test clock back to the wall clock
	$policy = $p;
	$dbh->disconnect;
	$node->append_conf('postgresql.conf', "cachext.l1_eviction = $policy\n");
	$node->restart;
	connect_db();
	prepare_steps();
	$clock_days = 0;
	%seen = ();

	my $started = time();
	my $failure = run_ops(\@ops);
	my $elapsed = time() - $started;
	if ($failure)
	{
		diag("MODEL_SEED=$seed, $policy: mismatch at step $failure->{step} of $nops: $failure->{what}\n"
			  . "  op:       " . op_sql($ops[ $failure->{step} ]) . "\n"
			  . "  expected: $failure->{expected}\n  actual:   $failure->{actual}");
		my $replayed = run_ops([ @ops[ 0 .. $failure->{step} ] ]);
		diag($replayed
			? "the prefix of " . ($failure->{step} + 1) . " ops fails again on replay (at step $replayed->{step})"
			: "the prefix of " . ($failure->{step} + 1) . " ops PASSES on replay: the failure depends on more than the ops");
		my ($short, $short_failure) = shrink(\@ops, $failure);
		diag("shortest failing sequence found: " . scalar(@$short)
			  . " ops (MODEL_SEED=$seed); as SQL:\n" . report($short, $short_failure));
	}
	ok(!$failure, "$policy: $nops random ops (MODEL_SEED=$seed) match the model after every step");
	note(sprintf('%s: %d ops in %.1f s (%.0f ops/s)', $policy, $nops, $elapsed, $nops / ($elapsed || 1))
		  . '; final l1 counters: ' . join(', ', map { "$_ $stats{$_}" } @stat_names)
		  . '; ' . join(', ', map { "$_ $seen{$_}" } sort keys %seen))
	  if !$failure;

	# The clock moved as the model's days say: an entry created now is
	# created that many days ahead of the wall clock.
	SKIP:
	{
		skip 'the run failed', 1 if $failure;
		$dbh->do(q{SELECT cache_set('clock-check', '1', NULL)});
		my ($ahead) = $dbh->selectrow_array(q{SELECT extract(epoch FROM created_at - clock_timestamp())
			FROM cache_entries WHERE key = 'clock-check'});
		ok(abs($ahead - $clock_days * 86400) < 3600,
			"$policy: cache_entries.created_at is $clock_days days ahead of the wall clock")
		  or diag("created_at - clock_timestamp() = $ahead s");
	}

	# The run exercised what it claims to: both bounds made room, too large
	# values were refused, entries expired and were evicted, reads hit and
	# missed (skipped when MODEL_OPS is too small for that to be sure).
	SKIP:
	{
		skip 'MODEL_OPS below 20000', 1 if $nops < 20000 || $failure;
		my $ok = $seen{'entry bound'} && $seen{'byte bound'} && $seen{refused};
		$ok &&= $stats{$_} > 0 for qw(hits misses evictions expirations invalidations);
		ok($ok, "$policy: the run hit both bounds, refused too large values, and moved every counter")
		  or diag(explain({ seen => \%seen, stats => \%stats }));
	}
}

# The clock stops short of the largest timestamp (last: it ends TTLs).
$dbh->do(q{SELECT cachext_test_advance_clock('200000 years')});
eval { $dbh->do(q{SELECT cachext_test_advance_clock('100000 years')}) };
is($dbh->state, '22008', 'the clock is not advanced past the largest timestamp');

$dbh->disconnect;
$node->stop;
done_testing();
