#!/usr/bin/perl
# t/800-leak.t - no Perl value leaks through the binding (Test::LeakTrace):
# parse_line, the aggregator, the store, and their croak paths. C-level
# leaks are valgrind's job (t/810-valgrind.t).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE NOW tmpdir spew);

BEGIN {
    eval { require Test::LeakTrace; Test::LeakTrace->import; 1 }
      or plan skip_all => 'Test::LeakTrace is not installed (Debian: libtest-leaktrace-perl)';
}

use Qpstat;
use Qpstat::Agg;
use Qpstat::Store;
use IO::Uncompress::Gunzip ();

my @lines = map { QpstatTest::file_lines($_) } Qpstat::log_files($FIXTURE{'edge-cases'});
my $dir = tmpdir();
my $db = "$dir/leak.db";
Qpstat::Store->open($db, create => 1)->close;
spew("$dir/junk.db", "not a database\n" x 100);
my $terse = "4242 (deny) logging::logterse: ` 10.0.0.1\tUnknown\th\t<a\@b.c>\t\tbadrcptto\t901\tno\tmsg denied before queued";

no_leaks_ok(sub { Qpstat::parse_line($_) for @lines, "junk", '' }, 'parse_line');
no_leaks_ok(sub { Qpstat::parse_line($lines[0], prefix => '~', now => NOW) }, 'parse_line with options');
no_leaks_ok(sub { eval { Qpstat::parse_line(undef) } }, 'parse_line croaking');
no_leaks_ok(sub { eval { Qpstat::parse_line("\x{263a}") } }, 'parse_line croaking on wide characters');

no_leaks_ok(
    sub {
        my $agg = Qpstat::Agg->new(now => NOW, since => 0, capacity => 100);
        $agg->add_line($_) for @lines;
        $agg->add_lines(@lines);
        $agg->feed(join "\n", @lines);
        $agg->finish;
        my $other = Qpstat::Agg->new;
        $other->add_lines(@lines[0 .. 9]);
        $agg->merge($other);
        my @r = ($agg->counts, $agg->conn_stats, $agg->spam_stats, $agg->rows('ip'), $agg->rows('disposition,tld'),
            $agg->total('dnsbl'), $agg->approximate('tld'));
        my @out = map { $agg->report(format => $_) } qw(text json mail);
        push @out, $agg->report(format => 'csv', by => 'tld', top => 3);
    },
    'the aggregator'
);
no_leaks_ok(sub { Qpstat::Agg->new(now => NOW)->add_file($FIXTURE{'multilog-094'}) }, 'add_file');
no_leaks_ok(
    sub {
        my $agg = Qpstat::Agg->new;
        eval { $agg->add_line(undef) };
        eval { $agg->merge($agg) };
        eval { $agg->merge({}) };
        eval { $agg->rows('connections') };
        eval { $agg->report(format => 'xml') };
        eval { Qpstat::Agg->new(since => 'x') };
    },
    'the aggregator croaking'
);

no_leaks_ok(
    sub {
        my $s = Qpstat::Store->open($db);
        $s->record_line($terse, time => NOW + 0.5, source => 'plugin');
        $s->begin;
        $s->record_line($terse, time => NOW);
        $s->rollback;
        my @r = ($s->info, $s->aggregate(since => 0), $s->report(format => 'csv', by => 'disposition'));
        $s->import_logs($FIXTURE{'multilog-094'});
        $s->prune(1);
        $s->close;
    },
    'the store'
);
no_leaks_ok(
    sub {
        eval { Qpstat::Store->open("$dir/junk.db") };
        eval { Qpstat::Store->open("$dir/missing/x.db", create => 1) };
        my $s = Qpstat::Store->open($db, readonly => 1);
        eval { $s->record_line($terse) };
        eval { $s->commit };
        eval { $s->import_logs("$dir/nonexistent") };
        $s->close;
        eval { $s->info };
    },
    'the store croaking'
);

done_testing;
