#!/usr/bin/perl
# t/547-mail.t - `qpstat report --mail` is the daily mail: a complete
# message (From, To, Date, Subject, MIME-Version) that Perl's MIME parser
# reads, whose tables equal what `report` and `list` count for the same
# period (connections, transactions, spam averages, hour x category,
# recipient domains, DNSBL services, the seed's disposition x TLD table);
# `--mail --html` is multipart/alternative with an HTML part holding the
# same numbers, no script and no SVG; hostile fields are escaped in both
# parts (and run nothing in headless Chromium); header injection through
# --to/--from is refused.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE @FIXTURES NOW qpstat_bin run_cmd spew slurp tmpdir parse_csv);
use JSON::PP;
use Cwd qw(abs_path);

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
plan skip_all => 'MIME::Parser missing (Debian libmime-tools-perl: sh scripts/deps.sh test)'
  unless eval { require MIME::Parser; 1 };
my $Q = qpstat_bin();
my $tmp = tmpdir();
my @RANGE = ('--since', '2026-11-24', '--until', '2026-11-25');

sub q_ok {
    my (@args) = @_;
    my ($out, $err, $st) = run_cmd([$Q, @args]);
    die "qpstat @args: exit $st: $err" if $st != 0;
    return $out;
}
sub json_of { decode_json(q_ok(@_)) }

sub parse_mail {
    my ($text) = @_;
    my $parser = MIME::Parser->new;
    $parser->output_to_core(1);
    $parser->tmp_to_core(1);
    return $parser->parse_data($text);
}

# the text part's sections, by their "== title ==" lines
sub sections {
    my ($body) = @_;
    my %s;
    my $name = 'head';
    for my $line (split /\n/, $body) {
        if ($line =~ /^== (.*) ==$/) { $name = $1; next }
        push @{ $s{$name} }, $line;
    }
    return \%s;
}

sub hour_table {    # {hour}{category} => count from the text table, and the columns
    my ($lines) = @_;
    my @head = split ' ', $lines->[0];
    shift @head;    # Hour
    my (%cells, %col_total);
    for my $l (@$lines[1 .. $#$lines]) {
        my @f = split ' ', $l;
        next unless @f;
        my $h = shift @f;
        last if $h eq 'PERCENT';
        for my $i (0 .. $#head - 2) {    # TOTALS and PERCENT columns last
            if ($h eq 'TOTALS') { $col_total{ $head[$i] } = $f[$i] }
            elsif ($f[$i]) { $cells{$h}{ $head[$i] } = $f[$i] }
        }
    }
    return (\%cells, \%col_total, [@head[0 .. $#head - 2]]);
}

for my $f (@FIXTURES) {
    my @src = ($FIXTURE{$f});
    my $raw = q_ok('report', '--mail', @RANGE, @src);
    my $m = parse_mail($raw);
    my $h = $m->head;
    is($h->get('From'), "qpstat\n", "$f: From");
    is($h->get('To'), "admin\n", "$f: To (default admin)");
    is($h->get('Date'), "Wed, 25 Nov 2026 21:00:00 +0000\n", "$f: Date (now, RFC 5322)");
    is($h->get('Subject'), "Email Disposition on 2026-11-24 to 2026-11-25\n", "$f: Subject");
    is($h->get('MIME-Version'), "1.0\n", "$f: MIME-Version");
    is($m->mime_type, 'text/plain', "$f: one text part");
    is($m->head->mime_attr('content-type.charset'), 'utf-8', "$f: UTF-8");
    my $s = sections($m->bodyhandle->as_string);

    my $rep = json_of('report', '--format', 'json', '--top', '0', '--by', 'connections,dnsbl,recipient,disposition',
                      @RANGE, @src);
    my %head = map { /^\s+(\S.*?)\s{2,}(\S+)/ ? ($1 => $2) : () } @{ $s->{head} };
    is($head{Connections}, $rep->{dimensions}{connections}{accepted}, "$f: connections = report's accepted");
    is($head{Transactions}, $rep->{transactions}, "$f: transactions = report's");
    is($head{'Transactions per hour'}, sprintf('%.2f', $rep->{transactions} / 45),
       "$f: transactions per hour over the 45 hours from the period's start to now");
    # spam averages from the transactions list
    my $list = json_of('list', '--format', 'json', '--limit', '0', @RANGE, @src);
    my (%n, %sum);
    for my $t (@{ $list->{transactions} }) {
        next unless defined $t->{score} && length $t->{score};
        my $k = $t->{disposition} eq 'queued' ? 'accepted (queued)' : 'rejected';
        $n{$k}++;
        $sum{$k} += $t->{score};
    }
    for my $k ('accepted (queued)', 'rejected') {
        my $want = $n{$k} ? sprintf('%.2f', $sum{$k} / $n{$k}) : 'n/a';
        is($head{$k}, $want, "$f: average spam score, $k = the mean of list's scores");
    }

    # hour x category = report --by hour,category
    my ($cells, $col_total, $cols) = hour_table($s->{'Transactions by hour and category'});
    my %want;
    for my $r (parse_csv(q_ok('report', '--format', 'csv', '--by', 'hour,category', @RANGE, @src))) {
        next if $r->[0] eq 'hour';
        $want{ $r->[0] }{ $r->[1] } = $r->[2];
    }
    is_deeply($cells, \%want, "$f: the hour x category table = report --by hour,category");
    my $cat = json_of('report', '--format', 'json', '--by', 'category', @RANGE, @src);
    my %cat = map { $_->{category} => $_->{count} } @{ $cat->{dimensions}{category}{rows} };
    is_deeply({ map { $_ => $col_total->{$_} } grep { $col_total->{$_} } keys %$col_total }, \%cat,
              "$f: its TOTALS row = report --by category");
    is_deeply([@$cols[0 .. 10]], [qw(DMARC-Rej. Virus RBL/DNS Execut. Geoip. Non.Conf. Rej.Load Karma Del.Spam
                                    Qued.Spam? Ham)], "$f: one column per category, in mailstats' order");

    # recipient domains: total = report --by recipient, accepted = the queued ones
    my $acc = json_of('report', '--format', 'json', '--top', '0', '--by', 'recipient', '--where', 'disposition=queued',
                      @RANGE, @src);
    my %acc = map { $_->{recipient} => $_->{count} } @{ $acc->{dimensions}{recipient}{rows} };
    my @rrows = @{ $rep->{dimensions}{recipient}{rows} };
    @rrows = @rrows[0 .. 19] if @rrows > 20;
    my @want_r = map { join ' ', $_->{count}, $_->{count} - ($acc{ $_->{recipient} } // 0),
                         $acc{ $_->{recipient} } // 0, $_->{recipient} } @rrows;
    my @got_r = map { join ' ', split ' ' } @{ $s->{'Recipient domains'} }[1 .. $#{ $s->{'Recipient domains'} }];
    pop @got_r while @got_r && $got_r[-1] eq '';
    is_deeply(\@got_r, \@want_r, "$f: recipient domains: total, denied, accepted = report");

    my @want_d = map { "$_->{count} $_->{dnsbl}" } @{ $rep->{dimensions}{dnsbl}{rows} };
    my @got_d = map { my @x = split ' '; "$x[0] $x[2]" } grep { /\S/ } @{ $s->{'DNSBL services'} }[1 .. $#{ $s->{'DNSBL services'} }];
    is_deeply(\@got_d, \@want_d, "$f: DNSBL services = report --by dnsbl");

    # the seed's table: exactly what report --by disposition,tld prints
    my ($seed) = grep { /^Email Disposition on / } keys %$s;
    my $matrix = join "\n", @{ $s->{$seed} }, '';
    my $text = q_ok('report', '--by', 'disposition,tld', @RANGE, @src);
    $text =~ s/\A.*?== disposition,tld ==\n//s;
    is($matrix, $text, "$f: the disposition x TLD table = report --by disposition,tld");

    # the HTML part: the same numbers
    my $mh = parse_mail(q_ok('report', '--mail', '--html', '--to', 'postmaster@example.com', @RANGE, @src));
    is($mh->mime_type, 'multipart/alternative', "$f: --html: multipart/alternative");
    is($mh->head->get('To'), "postmaster\@example.com\n", "$f: --to");
    my @parts = $mh->parts;
    is_deeply([map { $_->mime_type } @parts], ['text/plain', 'text/html'], "$f: the text, then the HTML");
    is($parts[0]->bodyhandle->as_string, $m->bodyhandle->as_string, "$f: the text part is the plain mail's");
    my $html = $parts[1]->bodyhandle->as_string;
    unlike($html, qr/<(?:script|svg|img)\b|<[^>]*\son\w+=/i, "$f: the HTML has no script, SVG, image or handler");
    my ($hours) = $html =~ m{<table id="hours">(.*?)</table>}s;
    my %hcells;
    my ($hrow) = $hours =~ m{<tr>(.*?)</tr>}s;
    my @hcols = $hrow =~ m{<th>([^<]*)</th>}g;
    shift @hcols;    # Hour
    for my $tr ($hours =~ m{<tr><th>(\d\d)</th>(.*?)</tr>}g ? ($hours =~ m{(<tr><th>\d\d</th>.*?</tr>)}g) : ()) {
        my ($hh) = $tr =~ m{<th>(\d\d)</th>};
        my @n = $tr =~ m{<td class="n">(\d+)</td>}g;
        for my $i (0 .. $#hcols - 3) { $hcells{$hh}{ $hcols[$i] } = $n[$i] if $n[$i] }
    }
    is_deeply(\%hcells, \%want, "$f: HTML hour x category table = report --by hour,category");
    my ($rt) = $html =~ m{<table id="recipients">(.*?)</table>}s;
    my @hr = map { my @c = m{<td[^>]*>([^<]*)</td>}g; "$c[0] $c[1] $c[2] $c[3]" } ($rt =~ m{(<tr><td.*?</tr>)}g);
    is_deeply(\@hr, \@want_r, "$f: HTML recipient domains = report");
    like($html, qr{<div style="background:#[0-9a-f]{6};height:10px;width:\d+px"}, "$f: CSS bars");
}

# the Perl API writes the same message
{
    require Qpstat::Agg;
    my $since = NOW - 45 * 3600;    # 2026-11-24 00:00 UTC
    my $agg = Qpstat::Agg->new(now => NOW, since => $since, until => $since + 48 * 3600);
    $agg->add_file($FIXTURE{'edge-cases'});
    my $cli = q_ok('report', '--mail', '--html', '--to', 'a@b', '--since', '2026-11-24', '--until', '2026-11-26 00:00',
                   $FIXTURE{'edge-cases'});
    my $perl = $agg->report(format => 'mail', html => 1, mail_to => 'a@b', mail_date => '2026-11-24 to 2026-11-25');
    is($perl, $cli, 'Qpstat::Agg report(format => "mail", html => 1) = the CLI message');
}

# hostile fields: escaped in both parts, and nothing runs when the HTML is opened
my @payloads = ('<script>document.title="pwned"</script>', '"><img src=x onerror="document.title=1">',
                "javascript:alert(1)", "\x1b[2J<b>bold</b>", '<svg onload=alert(1)>');
my $log = '';
my $t = NOW - 3600;
for my $i (0 .. $#payloads) {
    my $p = $payloads[$i];
    (my $dom = $p) =~ s/[\s\@>]//g;
    $log .= sprintf "\@%016x%08x %d (deny) logging::logterse: ` 192.0.2.%d\trhost\t%s\t<x\@%s>\t<bob\@%s>\t%s\t550\t"
      . "Blocked, see http://%s/\tmsg denied before queued\n",
      $t + 4611686018427387914 + $i, 0, 4000 + $i, $i + 1, $p, $dom, $dom, $i % 2 ? 'dnsbl' : "plug$p", $dom;
}
my $evil = "$tmp/evil.log";
spew($evil, $log);
my $raw = q_ok('report', '--mail', '--html', $evil);
unlike($raw, qr/\x1b/, 'hostile: no raw ESC in the message');
my $m = parse_mail($raw);
my ($tp, $hp) = $m->parts;
my $html = $hp->bodyhandle->as_string;
unlike($html, qr/<(?:script|svg|img|b)\b/i, 'hostile: no element made from a field');
unlike($html, qr/<[^>]*\son\w+=/i, 'hostile: no event handler in any tag');
like($html, qr/&lt;script&gt;document\.title=&quot;pwned&quot;&lt;\/script&gt;/, 'hostile: the plugin name shown as text');
like($tp->bodyhandle->as_string, qr/^\s+1  plug<script>document\.title="pwned"<\/script>$/m,
     'hostile: the unknown plugin listed in the text part');
my ($chromium) = grep { -x $_ } '/usr/bin/chromium', '/usr/bin/chromium-browser';
SKIP: {
    skip 'chromium not installed (Debian package chromium)', 3 unless $chromium;
    my $file = "$tmp/mail.html";
    spew($file, $html);
    my @cmd = ($chromium, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync',
               "--user-data-dir=$tmp/chromium", '--virtual-time-budget=3000', '--window-size=1200,1600');
    my ($dom) = run_cmd([@cmd, '--dump-dom', 'file://' . abs_path($file)], timeout => 90);
    unlike($dom, qr/<title>(pwned|1)<\/title>/, 'hostile: no script changed the title in Chromium');
    like($dom, qr/&lt;script&gt;document\.title/, 'hostile: Chromium shows the payload as text');
    # the mail as it looks: a test artefact, shown in the README
    my $art = $ENV{QPS_ARTEFACTS} || 't/artefacts';
    mkdir $art;
    my $sample = "$tmp/sample.html";
    my $sm = parse_mail(q_ok('report', '--mail', '--html', @RANGE, $FIXTURE{'edge-cases'}));
    spew($sample, ($sm->parts)[1]->bodyhandle->as_string);
    run_cmd([@cmd, '--screenshot=' . abs_path($art) . '/mail.png', 'file://' . abs_path($sample)], timeout => 90);
    ok(-s "$art/mail.png", "a screenshot of the mail's HTML part is in $art/mail.png");
}

# a line longer than SMTP's 998 bytes (a map of many long categories): the
# part is quoted-printable, and decodes to the same text
{
    my $map = join '', map { "plugin$_ " . ('C' x 50) . "$_\n" } 1 .. 25;
    $map .= "queued Ham\n";
    spew("$tmp/wide", $map);
    my $raw = q_ok('report', '--mail', '--categories', "$tmp/wide", @RANGE, $FIXTURE{'edge-cases'});
    like($raw, qr/^Content-Transfer-Encoding: quoted-printable$/m, 'a 1,400-byte line: quoted-printable');
    ok(!grep({ length > 998 } split /\n/, $raw), 'no line of the message is longer than 998 bytes');
    my $body = parse_mail($raw)->bodyhandle->as_string;
    like($body, qr/^Hour\s+${\('C' x 50)}1\s.*${\('C' x 50)}25\s+Ham\s+Unknown\s+TOTALS\s+PERCENT$/m,
         'decoded: one header line with every column');
}

# header injection and options that need --mail
for my $bad (['--to', "admin\nBcc: victim\@example.com"], ['--from', "x\r\nX-Evil: 1"], ['--to', '']) {
    my (undef, $e, $s) = run_cmd([$Q, 'report', '--mail', @$bad, $evil]);
    is($s, 2, "--mail @{[ $bad->[0] ]} with a control byte or nothing: a usage error");
    like($e, qr/^qpstat report: --(to|from) /, 'saying which');
}
for my $opt (['--html'], ['--to', 'x'], ['--from', 'y']) {
    my (undef, $e, $s) = run_cmd([$Q, 'report', @$opt, $evil]);
    is($s, 2, "$opt->[0] without --mail: a usage error");
    like($e, qr/add --mail/, 'saying so');
}
done_testing;
