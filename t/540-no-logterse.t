# A log of a qpsmtpd that never loaded logterse (stock Debian: logging/file,
# no logterse line) has connection facts but no transaction records. The text
# report says so and how to load the plugin, instead of tables of zeros, and
# still prints the connection tables; CSV and JSON keep their shape.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE qpstat_bin run_cmd spew tmpdir);

my $bin = qpstat_bin() or plan skip_all => 'build first';
my $tmp = tmpdir();
my $full = $FIXTURE{'logfile-094'};
open my $in, '<:raw', $full or die "$full: $!";
my @lines = <$in>;
my @stock = grep { !/`/ } @lines;    # the same log without logterse's records
ok(@stock < @lines && @stock > 10, 'the fixture has terse records and other lines');
my $log = "$tmp/qpsmtpd.log";
spew($log, join '', @stock);

sub report { my ($out, $err, $st) = run_cmd([$bin, 'report', @_]); is($st, 0, "report @_: exit 0") or diag($err); $out }

my $text = report($log);
like($text, qr/^Lines: \d+ read, \d+ parsed, 0 invalid\. Transactions: 0\.\nNo logterse records in these logs/,
    'Transactions: 0, then why');
like($text, qr/Load the qpstat plugin \(or logging\/logterse\) in qpsmtpd's config\/plugins/, 'and how to load the plugin');
unlike($text, qr/^== (disposition|dnsbl|tld|hour|day|sender|recipient|ip|helo|score|spam) ==/m,
    'no table of zeros');
my ($conn) = $text =~ /(== connections ==\n.*?)(?:\n\n|\z)/s;
my ($ctime) = $text =~ /(== connection-time ==\n.*?)(?:\n\n|\z)/s;
ok($conn && $ctime, 'the connection tables still print');
my $with = report($full);
like($with, qr/\Q$conn\E/, 'the same connection table as with the terse records');
like($with, qr/\Q$ctime\E/, 'the same connection-time table');
unlike($with, qr/No logterse records/, 'no hint when there are records');

my $only = report('--by', 'disposition', $log);
like($only, qr/No logterse records/, '--by disposition alone: the hint');
unlike($only, qr/== disposition ==/, 'and no empty table');

# records exist, outside the time selection: the tables, no hint
my $out_of_range = report('--since', '2000-01-01', '--until', '2000-01-02', $full);
like($out_of_range, qr/Transactions: 0\./, 'a selection with no transactions');
unlike($out_of_range, qr/No logterse records/, 'is not taken for a log without logterse');
like($out_of_range, qr/^== disposition ==/m, 'and keeps its tables');

# nothing qpsmtpd at all: no hint either
spew("$tmp/empty.log", '');
unlike(report("$tmp/empty.log"), qr/No logterse records/, 'an empty log has no hint');

my $csv = report('--format', 'csv', '--by', 'disposition', $log);
is($csv, "disposition,count,percent\r\n", 'CSV: the header and no rows') ;
like(report('--format', 'json', $log), qr/"transactions":0/, 'JSON: transactions 0');

# the daily mail an admin sets up from cron says it too, text and HTML part
{
    local $ENV{TZ} = 'UTC';
    local $ENV{QPSTAT_NOW} = 1795640400;    # the fixture's day
    my $mail = report('--mail', '--days', '2', $log);
    like($mail, qr/^  Transactions +0\n(?:.*\n)*?No logterse records in these logs.*\nLoad the qpstat plugin /m,
        '--mail: Transactions 0, then why and how to load the plugin');
    unlike(report('--mail', '--days', '2', $full), qr/No logterse records/, '--mail with records: no hint');
    SKIP: {
        skip 'MIME::Parser missing (Debian libmime-tools-perl)', 2 unless eval { require MIME::Parser; 1 };
        my $parser = MIME::Parser->new;
        $parser->output_to_core(1);
        $parser->tmp_to_core(1);
        my $entity = $parser->parse_data(report('--mail', '--html', '--days', '2', $log));
        my ($html) = grep { $_->mime_type eq 'text/html' } $entity->parts;
        my $body = $html ? $html->bodyhandle->as_string : '';
        like($body, qr{<p id="no-terse">No logterse records in these logs: .*?&quot;The qpsmtpd plugin&quot;.*?</p>}s,
            '--mail --html: the HTML part says it, escaped');
        my $with_html = $parser->parse_data(report('--mail', '--html', '--days', '2', $full));
        ($html) = grep { $_->mime_type eq 'text/html' } $with_html->parts;
        unlike($html ? $html->bodyhandle->as_string : '', qr/no-terse/, 'and not with records');
    }
}

done_testing;
