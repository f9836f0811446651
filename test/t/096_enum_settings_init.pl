# From PostgreSQL 16 on, a server built with assertions checks, as each
# setting is defined, that an enum setting's C variable already holds its
# boot value (check_GUC_init), and aborts otherwise: the postmaster would
# not start with cachext preloaded.  CI's PostgreSQL 15 does not check, so
# this test does, on the source: every DefineCustomEnumVariable's variable
# is declared with an initializer naming the same constant as its boot
# value.  (Integers, booleans and strings may start at 0, false and NULL.)
# No server is started.
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Test::More;

my $root = abs_path(dirname(__FILE__) . '/../..');
my $code = '';
for my $file (glob("$root/src/*.c"))
{
	open(my $fh, '<', $file) or die "$file: $!";
	local $/;
	$code .= <$fh>;
}

# DefineCustomEnumVariable(name, short, long, &variable, boot, options, ...)
my %boot;
$boot{$1} = [ $2, $3 ]
  while $code =~ /DefineCustomEnumVariable\(\s*"([^"]+)"[^&]*&(\w+),\s*(\w+),/g;
cmp_ok(scalar(keys %boot), '>=', 3, 'the C code defines its enum settings');
for my $name (sort keys %boot)
{
	my ($variable, $boot_value) = @{ $boot{$name} };
	my ($initial) = $code =~ /^(?:static\s+)?int\s+\Q$variable\E\s*=\s*(\w+)\s*;/m;
	is($initial // 'no initializer', $boot_value,
		"$name: $variable starts at the boot value");
}

done_testing();
