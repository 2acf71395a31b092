# Issue 9 case 5: two different files with the same first line (an empty
# line, a banner) are different files: the second does not resume at the
# first one's offset. And a file imported while short is still known when
# it has grown past the 4 KiB of its identity, under another name and
# inode (multilog's copy).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use QpstatTest qw(qpstat_bin run_cmd tmpdir slurp spew);
use ImportCheck qw(same_reports stored);

my $Q = qpstat_bin() or plan skip_all => 'build qpstat first';
my $tmp = tmpdir();
my @log = split /^/m, slurp('t/data/multilog-094/@400000006b07398735c119cc.s');
my @a = @log[0 .. 187];
my @b = @log[188 .. $#log];

for my $first ("\n", "\@400000006b0738fa0a2c4174 8801 qpsmtpd-forkserver starting\n") {
    my $what = $first eq "\n" ? 'an empty first line' : 'a banner first line';
    (my $tag = $what) =~ s/\W+/-/g;
    my $dir = "$tmp/$tag";
    mkdir $dir or die;
    spew("$dir/\@400000006b0738fa0a2c4174.s", join '', $first, @a);
    spew("$dir/current", join '', $first, @b);
    my $db = "$tmp/$tag.db";
    my (undef, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, "$dir/\@400000006b0738fa0a2c4174.s"]);
    is($rc, 0, "$what: first file imported") or diag $err;
    ($err, $rc) = (run_cmd([$Q, 'import', '-v', '--db', $db, "$dir/current"]))[1, 2];
    is($rc, 0, "$what: second file imported");
    unlike($err, qr/: 0 new records/, "$what: the second file is not taken for the first");
    same_reports($db, [$dir], "$what: two files");
    # the same first line, and the second file shorter than the first's offset
    spew("$dir/current", join '', $first, @b[0 .. 3]);
    my $db2 = "$tmp/$tag-2.db";
    run_cmd([$Q, 'import', '--db', $db2, $dir]);
    same_reports($db2, [$dir], "$what: a short second file");
}

# imported at 2 KiB, grown to many, copied to a new inode (the @x.s)
{
    my $dir = "$tmp/grown";
    mkdir $dir or die;
    my $whole = join '', @log;
    my $cut = rindex($whole, "\n", 2000) + 1;
    spew("$dir/current", substr($whole, 0, $cut));
    my $db = "$tmp/grown.db";
    run_cmd([$Q, 'import', '--db', $db, $dir]);
    my ($tx1) = stored($db);
    ok($tx1 >= 0, "a short current imported ($tx1 transactions)");
    spew("$dir/current", substr($whole, $cut), 1);
    spew("$dir/\@400000006b07398735c119cc.s", slurp("$dir/current"));
    unlink "$dir/current";
    my ($err, $rc) = (run_cmd([$Q, 'import', '--db', $db, $dir]))[1, 2];
    is($rc, 0, 'the grown copy imported') or diag $err;
    same_reports($db, [$dir], 'a file imported short, grown and copied');
    my ($out) = run_cmd([$Q, 'check', '--db', $db, $dir]);
    unlike($out, qr/behind/, 'check: nothing behind');
}

done_testing;
