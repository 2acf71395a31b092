#!/usr/bin/perl
# t/735-sme.t - the README's SME Server steps, as far as a Debian machine can
# run them:
#  (1) sme/templates' 02logterse fragments, expanded with Text::Template (the
#      engine of SME's expand-template) against sample e-smith configurations:
#      logging/logterse until `config setprop qpsmtpd qpstat enabled`, then
#      the qpstat line, at logterse's place in the assembled config/plugins,
#      config/peers/0 and config/peers/local, for qpsmtpd and sqpsmtpd;
#  (2) the README's block applied to a temporary tree: the store's directory
#      and file made with its lines, the plugins file from (1) with the
#      setting the block sets, the log/run line of sme/log-run; then the real
#      qpsmtpd 0.94 (as qpsmtpd) logging through the real multilog, which runs
#      as a stand-in for SME's smelog (nobody, with the group qpsmtpd the
#      block's usermod line gives smelog), a rotation that runs the
#      processor, and the store = the logs, nothing doubled, no "cannot
#      record".
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Path qw(make_path);
use QpsmtpdHarness;
use QpstatTest qw(qpstat_bin run_cmd slurp spew);

my $REPO = $QpsmtpdHarness::REPO;
chdir $REPO or die;
eval { require Text::Template; 1 } or plan skip_all => 'Text::Template missing (Debian package libtext-template-perl)';

my ($steps) = slurp('README.md') =~ /<!-- t\/735: SME steps -->\n```sh\n(.*?)```/s
    or BAIL_OUT('README.md has no "t/735: SME steps" block');
my @steps = grep {/\S/} map { s/\s+#.*//r } split /\n/, $steps;
my ($install) = grep {/^yum install /} @steps;
like($install // '', qr{^yum install \./qpstat-\S+\.rpm$}, 'the block installs the RPM');

# ---------------------------------------------------------------- (1) templates
my $SAMPLE = 't/data/sme/templates';

# expand-template: the fragments of templates/, those of templates-custom/
# (the RPM's sme/templates) in place of the same names, in name order, each
# filled in with the configuration database's records as hashes
sub expand {
    my ($file, %db) = @_;
    my %frag;
    for my $base ($SAMPLE, 'sme/templates') {
        opendir my $dh, "$base/$file" or next;
        $frag{$_} = "$base/$file/$_" for grep { !/^\./ } readdir $dh;
    }
    my $out = '';
    for my $name (sort keys %frag) {
        my $t = Text::Template->new(TYPE => 'FILE', SOURCE => $frag{$name}, DELIMITERS => ['{', '}'])
            or die "template $frag{$name}: $Text::Template::ERROR";
        my $r = $t->fill_in(HASH => { map { $_ => $db{$_} } keys %db }, BROKEN => sub { die "$frag{$name}: @_" });
        defined $r or die "template $frag{$name}: $Text::Template::ERROR";
        $out .= $r;
    }
    return $out;
}

# SME's peers plugin loads config/peers/0 (every other client) and
# config/peers/local (the local network) in place of config/plugins: each is
# expanded from its own fragment directory, and each names logterse
my $ONE = 'sme/templates/var/service/qpsmtpd/config/plugins/02logterse';
for my $svc (qw(qpsmtpd sqpsmtpd)) {
    for my $list ('plugins', 'peers/0', 'peers/local') {
        my $file = "var/service/$svc/config/$list";
        my $what = "$svc $list";
        ok(-f "sme/templates/$file/02logterse", "the RPM's fragment for $what");
        is(slurp("sme/templates/$file/02logterse"), slurp($ONE), "$what and qpsmtpd plugins have one fragment")
            if $file ne 'var/service/qpsmtpd/config/plugins';
        my $stock = expand($file, qpsmtpd => { status => 'enabled' });
        like($stock, qr/^logging\/logterse\n/m, "$what: not enabled, the stock logterse line");
        is($stock =~ s/^logging\/logterse\n//mr, expand($file, qpsmtpd => { qpstat => 'enabled' }) =~ s/^qpstat db \S+\n//mr,
            "$what: enabling changes that line only");
        my $on = expand($file, qpsmtpd => { qpstat => 'enabled' });
        like($on, qr/\A(?:.*\n)*?qpstat db \/var\/lib\/qpstat\/qpstat\.db\n(?:.*\n)*rcpt_ok\n(?:.*\n)*queue\//,
            "$what: enabled, the qpstat line at logterse's place, before rcpt_ok and the queue");
        unlike($on, qr/logterse/, "$what: and no logterse line");
        like(expand($file, qpsmtpd => { qpstat => 'enabled', qpstatDB => '/srv/stats/q.db' }), qr/^qpstat db \/srv\/stats\/q\.db$/m,
            "$what: qpstatDB names another store");
        like(expand($file, qpsmtpd => { qpstat => 'disabled' }), qr/^logging\/logterse$/m, "$what: disabled again: logterse");
    }
}
# the local list differs (SME drops the DNSBLs and other checks for local
# clients): the fragment changes only its own line there too
isnt(expand('var/service/qpsmtpd/config/peers/local', qpsmtpd => { qpstat => 'enabled' }),
    expand('var/service/qpsmtpd/config/peers/0', qpsmtpd => { qpstat => 'enabled' }), 'peers/local is its own list');

# ---------------------------------------------------------------- (2) a run
SKIP: {
    my @p = QpsmtpdHarness::prereq_problems();
    push @p, 'needs root (qpsmtpd and multilog as two users)' if $> != 0;
    push @p, 'setpriv missing (util-linux)' unless QpsmtpdHarness::which('setpriv');
    my @qp = getpwnam('qpsmtpd');
    push @p, 'no user qpsmtpd (Debian package qpsmtpd)' unless @qp;
    my ($ok, $why) = QpsmtpdHarness::qpstat_plugin_status();
    push @p, $why unless $ok;
    skip "@p", 1 if @p;

    my $Q = qpstat_bin();
    my $h = QpsmtpdHarness->new(name => 'sme', lifetime => 240);
    my $tmp = $h->tmp;
    my $store_dir = "$tmp/qpstat";
    my $slog = "$tmp/slog";
    make_path($h->logdir, $slog);
    my %sub = ('/var/lib/qpstat' => $store_dir, '/var/log/qpsmtpd /var/log/sqpsmtpd' => $h->logdir . " $slog");
    my %db = (qpsmtpd => { status => 'enabled' });
    my $events = 0;
    for my $line (@steps) {
        next if $line =~ /^yum install /;
        if ($line eq 'usermod -a -G qpsmtpd smelog') { note('README: usermod (here: the stand-in is given the group)'); next }
        if ($line =~ /^config setprop (\w+) (\w+) (\w+)$/) { $db{$1}{$2} = $3; note("README: $line"); next }
        if ($line eq 'signal-event email-update') { $events++; note('README: signal-event (here: the expansion below)'); next }
        last if $line =~ m{^cp /usr/share/qpstat/sme/log-run };
        my $run = $line;
        $run =~ s/\Q$_\E/$sub{$_}/g for sort { length $b <=> length $a } keys %sub;
        $run =~ s/^qpstat /$Q /;
        my ($out, $err, $st) = run_cmd(['sh', '-c', $run]);
        is($st, 0, "README: $line") or diag($err);
    }
    is($events, 1, 'the block expands the templates once');
    my @st = stat "$store_dir/qpstat.db";
    is(($st[2] // 0) & 07777, 0660, 'the store is group-writable');
    is(scalar getgrgid($st[5] // -1), 'qpsmtpd', 'group qpsmtpd');
    is((stat $store_dir)[2] & 07777, 02770, 'its directory keeps the group (setgid)');

    my $plugins = expand('var/service/qpsmtpd/config/plugins', %db);
    $plugins =~ s{/var/lib/qpstat}{$store_dir}g;
    $plugins =~ s{\@MAILDIR\@}{$h->maildir}ge;
    like($plugins, qr/^qpstat db \Q$store_dir\E\/qpstat\.db$/m, 'the expanded plugins file names the store');
    $h->write_config(plugins => [split /\n/, $plugins], files => { badmailfrom => "bad\@spam.example\n" });

    my ($action) = slurp('sme/log-run') =~ /'(!\S+ processor --db \S+)'/;
    ok($action, 'sme/log-run runs qpstat processor --db');
    my ($size) = slurp('sme/log-run') =~ /multilog t (s\d+)/;
    is(slurp('sme/log-run') =~ /setuidgid smelog/ ? 1 : 0, 1, 'as smelog');
    $action =~ s{^!/usr/bin/qpstat }{!$Q };
    $action =~ s{/var/lib/qpstat}{$store_dir}g;
    chown 65534, 65534, $h->logdir;
    my $qp_gid = (getgrnam 'qpsmtpd')[2];
    $h->start(multilog => [$size, $action],
        multilog_prefix => ['setpriv', '--reuid=65534', '--regid=65534', "--groups=$qp_gid", '--']);
    my @sent = (
        $h->swaks(from => 'alice@sender.example', to => 'bob@example.com'),
        $h->swaks(from => 'bad@spam.example',     to => 'carol@example.com'),
        $h->swaks(from => 'dave@other.example',   to => 'erin@example.com'),
    );
    ok(!$_->{timed_out}, 'swaks finished') for @sent;
    my ($out) = run_cmd([$Q, 'report', '--db', "$store_dir/qpstat.db"]);
    like($out, qr/Transactions: 3\b/, 'the plugin (as qpsmtpd) recorded the 3 transactions live');
    kill 'ALRM', $h->{ml_pid};    # multilog rotates: the processor (as the stand-in) imports
    my $log = $h->logdir;
    ok(QpsmtpdHarness::wait_until(20, sub { opendir(my $d, $log); grep {/^\@.*\.s$/} readdir $d }),
        'multilog rotated through the processor');
    $h->stop;
    like(slurp("$log/state") // '', qr/^# /m, "the processor wrote qplogsumm's state report");
    unlike($h->log_text, qr/cannot record/, 'no "cannot record": the plugin could always write the store');
    my ($n) = run_cmd(['sqlite3', "$store_dir/qpstat.db", 'SELECT count(*) FROM files']);
    cmp_ok($n // 0, '>=', 1, 'the processor imported the rotated log into the store');
    my ($db_csv)  = run_cmd([$Q, 'report', '--format', 'csv', '--by', 'disposition', '--db', "$store_dir/qpstat.db"]);
    my ($log_csv) = run_cmd([$Q, 'report', '--format', 'csv', '--by', 'disposition', $log]);
    is($db_csv, $log_csv, 'report --db = report over the logs: the imported copies paired with the live records');
    like($db_csv, qr/^badmailfrom,1,/m, 'one badmailfrom denial');
    like($db_csv, qr/^queued,2,/m, 'two queued');
    opendir(my $sd, $store_dir);
    for my $f (grep { /^qpstat\.db-(wal|shm)$/ } readdir $sd) {
        my @s = stat "$store_dir/$f";
        is(scalar getgrgid($s[5]), 'qpsmtpd', "$f: group qpsmtpd, both users can write it");
    }
}

done_testing;
