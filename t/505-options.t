#!/usr/bin/perl
# t/505-options.t - one source for the documentation of options: every
# option a command's getopt accepts (read from the C source: its
# `struct option` table and getopt_long's short-option string) is in the
# man page's section of that command (csrc/qpstat.pod) and in
# `qpstat COMMAND --help`; every option the man page documents is accepted
# by the binary. The man page passes podchecker and renders with man -l as
# qpstat(1), not as Perl documentation.
use strict;
use warnings;
use lib 't/lib';
use QpstatTest qw(qpstat_bin run_cmd slurp tmpdir);
use Test::More;

my $Q = qpstat_bin() or BAIL_OUT('no qpstat binary: build first');
my $POD = 'csrc/qpstat.pod';

# ---- what each command accepts, from the source ------------------------------
my $main = slurp('csrc/cli/main.c');
my %fn = $main =~ /\{"([a-z0-9-]+)",\s*(cli_\w+),/g;
ok(keys %fn >= 11, 'main.c lists the commands') or diag explain \%fn;

my %src;    # file text by function
for my $file (glob 'csrc/cli/*.c') {
    my $text = slurp($file);
    while ($text =~ /^int (cli_\w+)\(int argc, char \*\*argv\)\n\{\n(.*?)^\}\n/msg) {
        $src{$1} = $2;
    }
}

# the option groups several commands share (cli.h: CLI_TIME_OPTIONS, ...)
my %group;
{
    my $h = slurp('csrc/cli/cli.h');
    $h =~ s/\\\n/ /g;
    $group{$1} = $2 while $h =~ /^#define (CLI_[A-Z_]+_OPTIONS?) (.*)$/mg;
}

my %accepts;    # command -> { '--name' => has_arg, '-x' => has_arg }
for my $cmd (sort keys %fn) {
    my $body = $src{ $fn{$cmd} };
    ok(defined $body, "$cmd: $fn{$cmd} found in csrc/cli") or next;
    my %opt;
    if ($body =~ /struct option \w+\[\] = \{(.*?)\};/s) {
        my $table = $1;
        $table =~ s/\b(CLI_[A-Z_]+_OPTIONS?)\b/$group{$1} \/\/ die "no group $1"/ge;
        $opt{"--$1"} = $2 eq 'required_argument' while $table =~ /\{"([a-z0-9-]+)",\s*(\w+)/g;
        ok(keys %opt, "$cmd: its struct option table has entries");
    }
    if ($body =~ /(?:getopt_long|cli_getopt)\(argc, argv, "([^"]*)"/) {
        my $short = $1;
        # cli_getopt adds the shared groups' -h and -d
        $short .= 'h' if $body =~ /cli_shared \w+ = \{[^}]*\.usage\b/;
        $short .= 'd:' if $body =~ /cli_shared \w+ = \{[^}]*\.db\b/;
        $opt{"-$1"} = $2 eq ':' while $short =~ /([A-Za-z0-9])(:?)/g;
    }
    # a command without getopt compares argv by hand
    $opt{$1} = 0 while $body =~ /strcmp\(argv\[\w+\], "(-[-a-z]+)"\)/g;
    ok(exists $opt{'--help'}, "$cmd accepts --help");
    $accepts{$cmd} = \%opt;
}

# ---- what the man page documents, per command --------------------------------
my $pod = slurp($POD);
my ($commands) = $pod =~ /^=head1 COMMANDS\n(.*?)^=head1 /ms;
ok($commands, 'the man page has a COMMANDS section') or BAIL_OUT('no COMMANDS section');
my %man;
for my $sec (split /^(?==head2 )/m, $commands) {
    my ($cmd) = $sec =~ /^=head2 (\S+)/ or next;
    for my $item ($sec =~ /^=item (.*)$/mg) {
        $man{$cmd}{$1} = 1 while $item =~ /B<(--?[A-Za-z0-9][-a-z0-9]*)>/g;
    }
}
for my $head ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'EXIT STATUS', 'ENVIRONMENT', 'FILES', 'EXAMPLES') {
    like($pod, qr/^=head1 \Q$head\E$/m, "the man page has $head");
}
like($pod, qr/^=item B<QPSTAT_DB>$/m, 'ENVIRONMENT describes QPSTAT_DB');
like($pod, qr/^=item B<TZ>$/m,        'ENVIRONMENT describes TZ');
my ($synopsis) = $pod =~ /^=head1 SYNOPSIS\n(.*?)^=head1 /ms;

my $tmp = tmpdir();
for my $cmd (sort keys %accepts) {
    my $acc = $accepts{$cmd};
    ok($man{$cmd}, "the man page has a section for $cmd") or next;
    like($synopsis, qr/\Q$cmd\E/, "SYNOPSIS shows $cmd");
    my ($help, $herr, $hrc) = run_cmd([$Q, $cmd, '--help']);
    is($hrc, 0, "$cmd --help: exit 0") or diag $herr;
    for my $o (sort keys %$acc) {
        ok($man{$cmd}{$o}, "$cmd $o: in the man page");
        like($help, qr/(?<![-\w])\Q$o\E(?![-\w])/, "$cmd $o: in --help");
    }
    for my $o (sort keys %{ $man{$cmd} }) {
        ok(exists $acc->{$o}, "$cmd $o (man page): accepted by getopt");
        # and by the binary: an argument and --help after it, so nothing runs
        my @probe = $acc->{$o} ? ($o =~ /^--/ ? ("$o=1") : ($o, '1')) : ($o);
        my ($out, $err, $rc) = run_cmd([$Q, $cmd, @probe, '--help'],
            env => { QPSTAT_DB => "$tmp/probe.db" }, timeout => 20);
        unlike($err, qr/unrecognized option|invalid option|unknown option/, "$cmd $o: the binary knows it")
            or diag $err;
        ok($rc == 0 || $rc == 2, "$cmd @probe --help: help or a usage error (exit $rc)");
    }
}

# ---- the man page itself -----------------------------------------------------
SKIP: {
    my ($out, $err, $rc) = run_cmd(['podchecker', $POD]);
    skip 'podchecker missing', 2 if $rc == 127;
    is($rc, 0, 'podchecker: exit 0') or diag $err;
    unlike("$out$err", qr/WARNING|ERROR/, 'podchecker: no warning') or diag "$out$err";
}
SKIP: {
    my $page = 'blib/man1/qpstat.1';
    ok(-e $page, "make wrote $page (section 1)") or skip 'no man page built', 5;
    ok(!-e 'blib/man1/qpstat.1p', '... and no qpstat.1p');
    my $roff = slurp($page);
    like($roff, qr/^\.TH QPSTAT 1 /m, '.TH says section 1');
    unlike($roff, qr/Perl Documentation|Perl Programmers/, 'not "User Contributed Perl Documentation"');
    my ($text, $err, $rc) = run_cmd(['man', '-l', $page], env => { MANPAGER => 'cat', PAGER => 'cat', MANWIDTH => 80 });
    skip 'man missing (Debian package man-db)', 1 if $rc == 127;
    like($text, qr/^QPSTAT\(1\)/m, 'man -l renders it as QPSTAT(1)') or diag "$err\n$text";
}

done_testing;
