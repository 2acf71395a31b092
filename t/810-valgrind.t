#!/usr/bin/perl
# t/810-valgrind.t - the XS tests again under valgrind (memcheck, full leak
# check, PERL_DESTRUCT_LEVEL=2 so perl frees its own memory at exit): no
# invalid access, no uninitialised value, nothing definitely or possibly
# lost. t/810-valgrind.supp silences perl's own noise only. Forked children
# are not checked (--child-silent-after-fork): they leave by _exit, and a
# child drops its parent's SQLite handle without closing it on purpose.
# QPSTAT_VALGRIND_TESTS="t/200-aggregate.t ..." chooses other tests.
use strict;
use warnings;
use Test::More;
use File::Temp ();

my $valgrind = (grep { -x "$_/valgrind" } split /:/, $ENV{PATH})[0];
plan skip_all => 'valgrind is not installed (Debian: valgrind)' unless $valgrind;
plan skip_all => 'build first (blib/arch)' unless -d 'blib/arch';

my @tests = $ENV{QPSTAT_VALGRIND_TESTS} ? split(' ', $ENV{QPSTAT_VALGRIND_TESTS})
  : qw(t/100-parse-line.t t/200-aggregate.t t/300-store.t t/350-evil-input.t t/400-plugin.t);

for my $t (@tests) {
    my $log = File::Temp->new;
    my $out = File::Temp->new;
    local $ENV{PERL_DESTRUCT_LEVEL} = 2;
    my @cmd = ("$valgrind/valgrind", '--error-exitcode=1', '--leak-check=full', '--errors-for-leak-kinds=definite,possible',
        '--child-silent-after-fork=yes', '--num-callers=40', '--suppressions=t/810-valgrind.supp', "--log-file=$log",
        $^X, '-Mblib', $t);
    system("@cmd > $out 2>&1");
    my $rc = $? >> 8;
    my $vg = do { local (@ARGV, $/) = ("$log"); <> } // '';
    my $tap = do { local (@ARGV, $/) = ("$out"); <> } // '';
    my ($errors) = $vg =~ /ERROR SUMMARY: (\d+) errors/;
    ok(defined $errors && $errors == 0 && $rc == 0, "$t: valgrind clean") or diag($vg);
    unlike($tap, qr/^not ok/m, "$t: its tests pass under valgrind") or diag($tap);
    like($vg, qr/definitely lost: 0 bytes|All heap blocks were freed/, "$t: nothing definitely lost");
}

# The CLI's threaded reader (report --jobs, csrc/cli/parallel.c) on a file
# past the size at which several threads read it: the parts, their waiting
# records and the hand-over to the owner, under memcheck.
my $q = (grep { -x } 'csrc/qpstat')[0];
if ($q && !$ENV{QPSTAT_VALGRIND_TESTS}) {
    my $big = File::Temp->new(SUFFIX => '.log');
    my $text = do { local (@ARGV, $/) = ('t/data/logfile-094.log'); <> };
    print {$big} $text x (int(5_000_000 / length $text) + 1);
    close $big;
    for my $jobs (1, 3) {
        my $log = File::Temp->new;
        my @cmd = ("$valgrind/valgrind", '--error-exitcode=1', '--leak-check=full',
            '--errors-for-leak-kinds=definite,possible', "--log-file=$log", $q, 'report', '--format', 'json',
            '--jobs', $jobs, "$big");
        system("@cmd > /dev/null 2>&1");
        my $rc = $? >> 8;
        my $vg = do { local (@ARGV, $/) = ("$log"); <> } // '';
        my ($errors) = $vg =~ /ERROR SUMMARY: (\d+) errors/;
        ok(defined $errors && $errors == 0 && $rc == 0, "qpstat report --jobs $jobs on 5 MB: valgrind clean")
          or diag($vg);
        like($vg, qr/definitely lost: 0 bytes|All heap blocks were freed/, "qpstat report --jobs $jobs: nothing lost");
    }
}

# import --journal (libsystemd's reader, the import engine, the position with
# its ties) on t/371's journal of two units, twice (the resume), under memcheck
use lib 't/lib';
require QpstatJournal;
if ($q && !$ENV{QPSTAT_VALGRIND_TESTS} && QpstatJournal::journal_remote() && QpstatJournal::journal_support($q)) {
    my $dir = File::Temp->newdir;
    my @e = QpstatJournal::label_lines(do { open my $f, '<', 't/data/edge-cases.log' or die; map { chomp; $_ } <$f> });
    my @boots = ('0123456789abcdef0123456789abcdef', 'fedcba9876543210fedcba9876543210');
    for my $u ('qpsmtpd', 'uqpsmtpd') {
        QpstatJournal::make_journal("$dir/$u.journal",
            QpstatJournal::export_stream(\@e, unit => "$u.service", boot => shift @boots));
    }
    for my $run (1, 2) {
        my $log = File::Temp->new;
        system("$valgrind/valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible "
            . "--log-file=$log $q import --db $dir/vg.db --journal-dir $dir > /dev/null 2>&1");
        my $rc = $? >> 8;
        my $vg = do { local (@ARGV, $/) = ("$log"); <> } // '';
        my ($errors) = $vg =~ /ERROR SUMMARY: (\d+) errors/;
        ok(defined $errors && $errors == 0 && $rc == 0, "qpstat import --journal-dir (run $run): valgrind clean")
          or diag($vg);
    }
}

done_testing;
