#!/usr/bin/perl
# t/300-store.t - Qpstat::Store: create, record from the plugin, import the
# same log without doubles, reports equal to the CLI's (from the logs and
# from the same store), transactions, prune, fork, and files that are not
# usable stores (corrupt, not SQLite, someone else's SQLite, read-only, a
# newer schema): a clear croak and the file left as it was.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE NOW run_cli file_lines qpstat_bin slurp spew tmpdir);
use POSIX ();
use JSON::PP ();

use Qpstat::Store;

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();

my $dir = tmpdir();
my $ml  = $FIXTURE{'multilog-094'};

sub fresh {
    my ($name) = @_;
    my $path = "$dir/$name";
    unlink $path, "$path-wal", "$path-shm";
    return (Qpstat::Store->open($path, create => 1), $path);
}

# A file's bytes, mode and time, and the other files beside it (SQLite's
# own -wal and -shm files aside: a read-only connection to a WAL database
# leaves them, empty, by design).
sub snapshot {
    my ($path) = @_;
    my @st = stat $path;
    opendir my $dh, $dir or die;
    my @names = sort grep { !/^\./ && !/-shm\z/ && !(/-wal\z/ && -z "$dir/$_") } readdir $dh;
    return [slurp($path), $st[2], $st[9], "@names"];
}

# --- the plugin records the logterse lines live, the log is imported later
{
    my ($store, $path) = fresh('live.db');
    isa_ok($store, 'Qpstat::Store');
    my ($terse, $facts) = (0, 0);
    my $skipped = 0;
    for my $file (Qpstat::log_files($ml)) {
        for my $line (file_lines($file)) {
            my $r = Qpstat::parse_line($line) or next;
            $facts++ if $r->{kind} =~ /\A(?:accept|too_many|hosts_allow|connection_time)\z/;
            # the queue plugin's acceptance, as qpsmtpd replies it
            $facts++ if $r->{kind} eq 'reply' && $r->{message} =~ /\A250 Queued/;
            next unless $r->{kind} eq 'terse';
            $terse++;
            # the store was unavailable for every fourth one: the log has it
            next if $terse % 4 == 0 && ++$skipped;
            (my $plugin_line = $line) =~ s/\A\@[0-9a-f]{24} //;    # what qpsmtpd printed
            is($store->record_line($plugin_line, time => $r->{time} + 0.4, source => 'plugin'), 1,
                "plugin record $terse stored");
        }
    }
    is($store->info->{transactions}, $terse - $skipped, 'the plugin\'s records');
    my $new = $store->import_logs($ml);
    is($new, $skipped + $facts, 'import adds what the plugin did not record, and the connection facts');
    is($store->info->{transactions}, $terse, 'no transaction twice');
    is($store->info->{connection_facts}, $facts, 'connection facts once');
    is($store->import_logs($ml), 0, 'a second import adds nothing');
    is($store->import_logs("$ml/current"), 0, 'nor does importing one of its files again');

    # The store keeps logterse records and connection facts, not the other
    # kinds of lines: everything else equals the report from the logs.
    my $json = JSON::PP->new->canonical;
    my $without_kinds = sub { my $r = $json->decode($_[0]); delete $r->{kinds}; $json->encode($r) };
    my ($cli_logs) = run_cli('report', '--format', 'json', $ml);
    my $mine = $store->report(format => 'json');
    is($without_kinds->($mine), $without_kinds->($cli_logs), 'the store reports what the logs report');
    $store->close;
    my ($cli_db) = run_cli('report', '--format', 'json', '--db', $path);
    is($mine, $cli_db, 'as qpstat report --db does on the same file');
    my ($text) = run_cli('report', '--db', $path);
    is(Qpstat::Store->open($path)->report, $text, 'text too');
    my $ro = Qpstat::Store->open($path, readonly => 1);
    for my $by ('disposition', 'disposition,tld', 'connection-time') {
        my ($csv) = run_cli('report', '--format', 'csv', '--by', $by, '--db', $path);
        is($ro->report(format => 'csv', by => $by), $csv, "report --by $by equals the CLI's --db report");
    }
    my ($since) = run_cli('report', '--format', 'csv', '--by', 'disposition', '--since', '2026-11-25 19:38Z', '--db', $path);
    is($ro->report(format => 'csv', since => 1795635480), $since, 'a time selection equals the CLI\'s');
    my ($mail) = run_cli('report', '--mail', '--db', $path);
    is($ro->report(format => 'mail', now => NOW), $mail, 'the mail report (today and yesterday) equals --mail');
    my ($mail1) = run_cli('report', '--mail', '--days', 1, '--db', $path);
    is($ro->report(format => 'mail', now => NOW, days => 1), $mail1, 'with days => 1 too');
    my ($today) = run_cli('report', '--format', 'csv', '--by', 'tld', '--today', '--db', $path);
    is($ro->report(format => 'csv', by => 'tld', now => NOW, today => 1), $today, 'today => 1 equals --today');
    my $agg = $ro->aggregate;
    isa_ok($agg, 'Qpstat::Agg');
    is($agg->counts->{transactions}, $terse, 'aggregate: a Qpstat::Agg of the stored records');
    eval { $ro->record_line("8911 (deny) logging::logterse: ` a\tb\tc\td\te\tf\t901\tg") };
    like($@, qr/^Qpstat::Store::record_line: the store was opened read-only/, 'a read-only handle does not write');
    eval { $ro->import_logs($ml) };
    like($@, qr/^Qpstat::Store::import_logs: /, 'nor import');
}

# --- the same refusal twice in one connection: both lines count, both pair
{
    my ($store) = fresh('twice.db');
    my $line = "4242 (deny) logging::logterse: ` 10.0.0.1\tUnknown\th.example\t<a\@b.example>\t\tbadrcptto\t901"
      . "\tmail to x not accepted here\tmsg denied before queued";
    is($store->record_line($line, time => NOW, source => 'plugin'), 1, 'first refusal');
    is($store->record_line($line, time => NOW + 1, source => 'plugin'), 1, 'second, identical refusal');
    my $label = sub { sprintf '@40000000%08x%08x', $_[0] + 10, 500 };
    my $log = "$dir/twice.log";
    spew($log, join '', map { $label->(NOW + $_) . " $line\n" } 0, 1);
    is($store->import_logs($log), 0, 'the log\'s two copies pair with the plugin\'s two');
    is($store->info->{transactions}, 2, 'two transactions, not four');
    is($store->record_line($label->(NOW + 2) . " $line"), 1, 'a third one from the log alone is new');
}

# --- non-terse lines, begin/rollback/commit, prune
{
    my ($store, $path) = fresh('tx.db');
    is($store->record_line('8801 Listening on 127.0.0.1:2525', time => NOW), 0, 'other lines are not stored');
    is($store->record_line('junk', time => NOW), 0, 'nor junk');
    my $line = "77 (deny) logging::logterse: ` 10.0.0.2\tU\th\t<s\@x.org>\t\thelo\t903\tbad helo\tmsg denied before queued";
    $store->begin;
    eval { $store->begin };
    like($@, qr/^Qpstat::Store::begin: a transaction is already open/, 'begin twice croaks');
    $store->record_line($line, time => NOW - 10 * 86400);
    $store->rollback;
    is($store->info->{transactions}, 0, 'rollback stores nothing');
    $store->begin;
    $store->record_line($line, time => NOW - 10 * 86400);
    $store->record_line($line =~ s/\b77\b/78/r, time => NOW);
    $store->commit;
    is($store->info->{transactions}, 2, 'commit stores both');
    eval { $store->commit };
    like($@, qr/^Qpstat::Store::commit: no transaction is open/, 'commit without begin croaks');
    my $before = $store->report(format => 'csv', by => 'disposition');
    is($store->prune(NOW - 86400), 1, 'prune removes the old record');
    is($store->info->{daily_rows}, 1, 'and keeps its daily total');
    is($store->report(format => 'csv', by => 'disposition'), $before, 'the disposition table is unchanged');
    my ($cli) = run_cli('report', '--format', 'csv', '--by', 'disposition', '--db', $path);
    is($cli, $before, 'as the CLI reads it');
    $store->close;
    eval { $store->info };
    like($@, qr/^Qpstat::Store::info: the store is closed/, 'a closed store croaks');
}

# --- fork: the child must open its own handle; the parent's stays intact
{
    my ($store, $path) = fresh('fork.db');
    my $line = "91 (deny) logging::logterse: ` 10.0.0.3\tU\th\t<s\@x.org>\t\thelo\t903\tbad\tmsg denied before queued";
    $store->record_line($line, time => NOW);
    pipe my $r, my $w or die;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        my $msg = eval { $store->record_line($line, time => NOW); 'no croak' } // $@;
        chomp $msg;
        my $own = eval { Qpstat::Store->open($path)->record_line($line =~ s/\b91\b/92/r, time => NOW) } // "E: $@";
        undef $store;    # DESTROY in the child: must not close the parent's handle
        print {$w} "$msg\n$own\n";
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    my @got = <$r>;
    waitpid $pid, 0;
    like($got[0], qr/^Qpstat::Store::record_line: the store was opened by process $$/, 'the parent\'s handle croaks in the child');
    is($got[1], "1\n", 'the child records through its own handle');
    is($store->record_line($line =~ s/\b91\b/93/r, time => NOW), 1, 'the parent\'s handle still works');
    is($store->info->{transactions}, 3, 'all three records are there');
}

# --- files that are not usable stores: croak clearly, change nothing
{
    my (undef, $good) = fresh('good.db');
    my $bytes = slurp($good);
    my %bad = (
        'not SQLite'   => ["hello, I am a text file\n" x 100, qr/not a qpstat store/],
        'empty header' => ["\0" x 4096, qr/not a qpstat store/],
        'corrupt'      => [substr($bytes, 0, 100) . ("\xff" x (length($bytes) - 100)), qr/not a qpstat store|malformed/],
        'newer schema' => [substr($bytes, 0, 60) . pack('N', 99) . substr($bytes, 64),
            qr/the store has schema version 99, newer than this qpstat \(6\)/],
    );
    for my $name (sort keys %bad) {
        my ($content, $re) = @{ $bad{$name} };
        (my $file = "$dir/bad-$name.db") =~ s/ /-/g;
        spew($file, $content);
        utime 1_000_000_000, 1_000_000_000, $file;
        my $before = snapshot($file);
        for my $flags ([], [create => 1], [readonly => 1]) {
            eval { Qpstat::Store->open($file, @$flags) };
            like($@, qr/^Qpstat::Store::open: \Q$file\E: (?:$re)/, "$name (@$flags): croaks clearly");
        }
        is_deeply(snapshot($file), $before, "$name: the file is unchanged, nothing created beside it");
    }
  SKIP: {
        skip 'no sqlite3 shell', 2 unless grep { -x "$_/sqlite3" } split /:/, $ENV{PATH};
        my $other = "$dir/other.db";
        system('sqlite3', $other, 'CREATE TABLE t (x); INSERT INTO t VALUES (1);') == 0 or die;
        my $before = snapshot($other);
        eval { Qpstat::Store->open($other, create => 1) };
        like($@, qr/^Qpstat::Store::open: \Q$other\E: not a qpstat store \(an SQLite database of something else\)/,
            'someone else\'s SQLite database');
        is_deeply(snapshot($other), $before, 'is left alone');
    }
    eval { Qpstat::Store->open("$dir/missing.db") };
    like($@, qr/^Qpstat::Store::open: \Q$dir\E\/missing.db: /, 'a missing file without create croaks');
    ok(!-e "$dir/missing.db", 'and is not created');
    eval { Qpstat::Store->open("$dir/no/such/dir/x.db", create => 1) };
    like($@, qr/^Qpstat::Store::open: .*cannot open the store/, 'a missing directory croaks');

    # read-only: as an unprivileged user when run as root (root writes anyway)
    my $ro = "$dir/readonly.db";
    { my ($s) = fresh('readonly.db'); $s->close }
    chmod 0444, $ro;
    chmod 0755, "$dir";
    my $before = snapshot($ro);
    pipe my $rd, my $wr or die;
    my $pid = fork // die;
    if (!$pid) {
        close $rd;
        if ($> == 0) {
            my $nobody = getpwnam('nobody') // 65534;
            POSIX::setgid($nobody);
            POSIX::setuid($nobody) or POSIX::_exit(3);
        }
        my $e = eval { Qpstat::Store->open($ro); 'opened' } // $@;
        print {$wr} $e;
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    my $e = do { local $/; <$rd> };
    waitpid $pid, 0;
    like($e, qr/^Qpstat::Store::open: \Q$ro\E: cannot write the store: it is read-only/, 'a read-only file croaks "it is read-only"');
    is_deeply(snapshot($ro), $before, 'and is unchanged');
}

# --- option checking
{
    eval { Qpstat::Store->open() };
    like($@, qr/^Qpstat::Store::open: which file\?/, 'open without a path');
    eval { Qpstat::Store->open("$dir/x.db", create => 1, readonly => 1) };
    like($@, qr/^Qpstat::Store::open: create and readonly exclude each other/, 'create with readonly');
    eval { Qpstat::Store->open("$dir/x.db", busy => 1) };
    like($@, qr/^Qpstat::Store::open: unknown option 'busy'/, 'unknown option');
    my ($store) = fresh('opts.db');
    eval { $store->record_line('x', source => 'cron') };
    like($@, qr/^Qpstat::Store::record_line: source is 'plugin' or 'import', not 'cron'/, 'bad source');
    eval { $store->record_line('x', time => 'yesterday') };
    like($@, qr/^Qpstat::Store::record_line: time must be unix seconds/, 'bad time');
    eval { $store->import_logs('-') };
    like($@, qr/^Qpstat::Store::import_logs: standard input cannot be resumed/, 'stdin is refused');
    eval { $store->import_logs("$dir/nonexistent.log") };
    like($@, qr/^Qpstat::Store::import_logs: cannot open \Q$dir\E\/nonexistent.log/, 'a missing log croaks');
    eval { $store->report(format => 'xml') };
    like($@, qr/^Qpstat::Agg::report: format is text, csv, json or mail/, 'bad report format');
    is(Qpstat::Store->import, undef, '`use Qpstat::Store` imports nothing');
}

done_testing;
