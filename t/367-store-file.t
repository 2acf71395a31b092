#!/usr/bin/perl
# t/367-store-file.t - issue 9 case 15: the store file itself.
#
# When root imports into a directory the qpsmtpd user can write (the
# README's set-up), that user must not be able to make root turn another
# file into SQLite by a symbolic link named qpstat.db (to an existing empty
# file, or dangling), nor by links named qpstat.db-wal / -shm: a link
# owned by another user (not root, not the one running qpstat) is not
# followed, as the kernel's protected_symlinks rule has it for sticky
# directories. A link the admin made (root's) is followed. And after
# `sqlite3 FILE VACUUM` removed -wal and -shm, a user who can read the
# store but not write its directory still gets its reports.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use QpstatTest qw(qpstat_bin run_cmd slurp tmpdir);
use Cwd qw(abs_path);

my $Q = qpstat_bin() or plan skip_all => 'qpstat not built';
$Q = abs_path($Q);
my $tmpdir = tmpdir();    # removed when it goes out of scope
my $tmp = abs_path("$tmpdir");
my $LOG = abs_path('t/data/multilog-094');

sub qp { my ($out, $err, $rc) = run_cmd([$Q, @_], timeout => 60); return ($out, $err, $rc) }

# ---- symbolic links where the store or its -wal/-shm go ----
SKIP: {
    skip "needs root to own links as nobody", 19 unless $> == 0;
    my $nobody = getpwnam('nobody') // 65534;
    my $link = sub {
        my ($to, $name) = @_;
        symlink $to, $name or die "$name: $!";
        system('chown', '-h', $nobody, $name) == 0 or die 'chown -h';
    };
    my $dir = "$tmp/store-dir";
    mkdir $dir or die;
    my $victim = "$tmp/victim";
    open my $fh, '>', $victim or die;
    close $fh;
    $link->($victim, "$dir/qpstat.db");
    my (undef, $err, $rc) = qp('import', '--db', "$dir/qpstat.db", $LOG);
    is($rc, 1, 'the store is a symbolic link to an empty file: import exits 1');
    like($err, qr/\Q$dir\E\/qpstat\.db: .*symbolic link/, '... and says it is a symbolic link');
    is(-s $victim, 0, '... the file it points to is left empty');
    ok(!-e "$victim-wal" && !-e "$victim-shm", '... with no -wal or -shm beside it');
    ok(!-e "$dir/qpstat.db-wal", '... nor beside the link');

    unlink "$dir/qpstat.db";
    $link->("$tmp/nowhere.db", "$dir/qpstat.db");
    (undef, $err, $rc) = qp('import', '--db', "$dir/qpstat.db", $LOG);
    is($rc, 1, 'a dangling symbolic link: import exits 1');
    like($err, qr/symbolic link/, '... and says why');
    ok(!-e "$tmp/nowhere.db", '... and does not create what it points to');

    # report --db through such a link is refused the same way: one rule
    (undef, $err, $rc) = qp('report', '--db', "$dir/qpstat.db");
    is($rc, 1, 'report --db on a symbolic link: exit 1');
    like($err, qr/symbolic link/, '... and says why');

    # the store itself is fine, but its -wal is a link
    unlink "$dir/qpstat.db";
    my $victim2 = "$tmp/victim2";
    open $fh, '>', $victim2 or die;
    print {$fh} "keep me\n";
    close $fh;
    $link->($victim2, "$dir/qpstat.db-wal");
    (undef, $err, $rc) = qp('import', '--db', "$dir/qpstat.db", $LOG);
    is($rc, 1, 'qpstat.db-wal is a symbolic link: import exits 1');
    like($err, qr/qpstat\.db-wal.*symbolic link/, '... and names it');
    is(slurp($victim2), "keep me\n", '... what it points to is untouched');
    unlink "$dir/qpstat.db-wal";
    $link->($victim2, "$dir/qpstat.db-shm");
    (undef, $err, $rc) = qp('import', '--db', "$dir/qpstat.db", $LOG);
    is($rc, 1, 'qpstat.db-shm is a symbolic link: import exits 1');
    is(slurp($victim2), "keep me\n", '... what it points to is untouched');
    unlink "$dir/qpstat.db-shm";

    # a real file works; the admin's own link (root's) is followed
    (undef, $err, $rc) = qp('import', '--db', "$dir/qpstat.db", $LOG);
    is($rc, 0, 'a plain file: import works') or diag $err;
    symlink "$dir/qpstat.db", "$tmp/admin-link.db" or die;
    (undef, $err, $rc) = qp('import', '--db', "$tmp/admin-link.db", $LOG);
    is($rc, 0, "root's own link to the store: import works") or diag $err;
    my ($out, $err2, $rc2) = qp('report', '--format', 'json', '--db', "$tmp/admin-link.db");
    is($rc2, 0, '... and report --db') or diag $err2;
    like($out, qr/"transactions":17\b/, '... with its records, once');
}

# ---- read-only for this user after VACUUM removed -wal and -shm ----
SKIP: {
    skip 'needs root to read as nobody', 6 unless $> == 0;
    skip 'needs the sqlite3 shell', 6 unless system('sqlite3 -version >/dev/null 2>&1') == 0;
    my $dir = "$tmp/ro-dir";
    mkdir $dir or die;
    my $db = "$dir/qpstat.db";
    my (undef, $err, $rc) = qp('import', '--db', $db, $LOG);
    is($rc, 0, 'a store') or diag $err;
    my ($want) = qp('report', '--format', 'csv', '--by', 'disposition', '--db', $db);
    system('sqlite3', $db, 'VACUUM') == 0 or die 'VACUUM';
    ok(!-e "$db-wal" && !-e "$db-shm", 'VACUUM in the sqlite3 shell removed -wal and -shm');
    chmod 0755, $tmp, $dir;   # nobody reads, cannot write the directory
    chmod 0644, $db;
    my $nobody = getpwnam('nobody') // 65534;
    my $as_nobody = sub {
        my @cmd = @_;
        pipe my $rd, my $wr or die;
        my $pid = fork // die;
        if (!$pid) {
            close $rd;
            open STDOUT, '>&', $wr or POSIX::_exit(3);
            open STDERR, '>&', $wr or POSIX::_exit(3);
            $( = $) = $nobody;
            $< = $> = $nobody;
            exec @cmd or POSIX::_exit(3);
        }
        close $wr;
        my $out = do { local $/; <$rd> };
        waitpid $pid, 0;
        return ($out, $? >> 8);
    };
    my ($got, $grc) = $as_nobody->($Q, 'report', '--format', 'csv', '--by', 'disposition', '--db', $db);
    is($grc, 0, 'a user who cannot write the directory: report --db exits 0') or diag $got;
    is($got, $want, '... and reports what the store holds');
    unlike($got, qr/readonly database/, '... no "attempt to write a readonly database"');
    ($got, $grc) = $as_nobody->($Q, 'summary', '--db', $db);
    is($grc, 0, '... summary --db too') or diag $got;
}

done_testing;
