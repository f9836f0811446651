# The manual keeps up with the code: every SQL function of the default
# version's install script has its entry in docs/reference.md, every
# cachext.* setting the C code defines has its row in reference.md's
# settings table and in the README's, every relative link between the
# README, SECURITY.md and docs/*.md reaches an existing file and heading,
# and every benchmark run the docs quote has its results in the tree.
# No server is started.
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Test::More;

my $root = abs_path(dirname(__FILE__) . '/../..');

sub slurp
{
	my ($path) = @_;
	open(my $fh, '<:encoding(UTF-8)', "$root/$path") or die "$path: $!";
	local $/;
	return <$fh>;
}

my ($default) = slurp('cachext.control') =~ /^default_version\s*=\s*'([^']+)'/m;
ok(defined $default, "the default version is $default");
my $reference = slurp('docs/reference.md');
my $readme = slurp('README.md');

# Functions: named in reference.md as a heading or a signature.
my %functions = map { lc($_) => 1 }
  (slurp("sql/cachext--$default.sql") =~ /^CREATE\s+FUNCTION\s+(\w+)/mig);
cmp_ok(scalar(keys %functions), '>', 10, 'the install script declares its functions');
for my $f (sort keys %functions)
{
	like($reference, qr/^(#+ .*\b$f\b|$f\()/m, "docs/reference.md documents $f");
}

# Settings: a row of reference.md's settings table, and in the README's a
# row naming it or a family of it (`cachext.redis_tls_*`).  Test builds'
# settings (`cachext.test_*`, TEST_BUILD=1 only) are described in
# docs/testing.md instead, and named in reference.md.
my $testing = slurp('docs/testing.md');
my %settings;
for my $file (glob("$root/src/*.c"))
{
	open(my $fh, '<', $file) or die "$file: $!";
	local $/;
	my $code = <$fh>;
	$settings{$1} = 1 while $code =~ /DefineCustom\w+Variable\(\s*"(cachext\.\w+)"/g;
}
cmp_ok(scalar(keys %settings), '>', 10, 'the C code defines its settings');
my @readme_rows = map { [ /`(cachext\.\w+\*?)`/g ] } grep { /^\| `cachext\./ } split /\n/, $readme;
my @readme_names = map { @$_ } @readme_rows;
for my $s (grep { /^cachext\.test_/ } sort keys %settings)
{
	like($testing, qr/`\Q$s\E`/, "docs/testing.md describes the test build's $s");
	like($reference, qr/`\Q$s\E`/, "docs/reference.md names the test build's $s");
	delete $settings{$s};
}
for my $s (sort keys %settings)
{
	like($reference, qr/^\| `\Q$s\E` \|/m, "docs/reference.md has a row for $s");
	ok((grep { $_ eq $s || (/\*$/ && index($s, substr($_, 0, -1)) == 0) } @readme_names),
		"README.md's settings table names $s");
}

# Links: a GitHub heading anchor is the heading in lower case, without
# punctuation, spaces written "-".
sub anchors
{
	my ($text) = @_;
	my %anchors;
	my $in_code = 0;
	for my $line (split /\n/, $text)
	{
		$in_code = !$in_code if $line =~ /^```/;
		next if $in_code || $line !~ /^#+ (.*)/;
		(my $anchor = lc $1) =~ s/[^\w\- ]//g;
		$anchor =~ s/ /-/g;
		$anchors{$anchor} = 1;
	}
	return \%anchors;
}

my @pages = ('README.md', 'SECURITY.md', map { s{^\Q$root\E/}{}r } glob("$root/docs/*.md"));
for my $page (@pages)
{
	my $text = slurp($page);
	my $dir = dirname($page);
	while ($text =~ /\]\(([^)\s]+)\)/g)
	{
		my ($path, $anchor) = split /#/, $1, 2;
		next if $path =~ m{^[a-z]+://};
		my $target = $path eq '' ? $page : ($dir eq '.' ? $path : "$dir/$path");
		1 while $target =~ s{[^/]+/\.\./}{};
		if (!-e "$root/$target")
		{
			fail("$page links to $path, which does not exist");
			next;
		}
		next if !defined $anchor || $target !~ /\.md$/;
		ok(anchors(slurp($target))->{$anchor}, "$page: $target#$anchor exists")
		  or diag("headings of $target: " . join(' ', sort keys %{ anchors(slurp($target)) }));
	}
}

# Benchmark runs: every run directory a page quotes is in the tree
# (committed on purpose, see docs/performance.md).
my %runs;
for my $page (@pages)
{
	my $text = slurp($page);
	$runs{$1} = 1 while $text =~ /\b(20\d{6}-\d{6}[\w-]*)/g;
}
ok(-d "$root/bench/results/$_", "bench/results/$_, which the docs quote, is in the tree")
  for sort keys %runs;

done_testing();
