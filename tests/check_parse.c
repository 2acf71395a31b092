/*
 * check_parse.c - unit tests of qps_parse.c: every framing, every prefix
 * dialect and every kind, plus malformed input.
 */
#include "qpstat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static qps_parser *parser;

static void setup(void)
{
    setenv("TZ", "UTC", 1);
    qps_parser_opts opts = {NULL, 1764100000}; /* 2025-11-25 */
    parser = qps_parser_new(&opts);
    ck_assert_ptr_nonnull(parser);
}

static void teardown(void)
{
    qps_parser_free(parser);
}

static qps_record rec;

static qps_kind parse(const char *line)
{
    return qps_parser_parse(parser, line, strlen(line), &rec);
}

static void assert_str(qps_str s, const char *want)
{
    ck_assert_msg(s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0, "got '%.*s', want '%s'", (int)s.len,
                  s.ptr ? s.ptr : "", want);
}

START_TEST(terse_093_multilog)
{
    const char *line = "@400000006b07390d1f43b72c 8909 (deny) logging::logterse: ` 127.0.0.1\tUnknown\t"
                       "client.sender.example\t<alice@sender.example>\t<bob@example.com>,<carol@example.com>\t"
                       "spamassassin\t901\tspam score exceeded threshold\tYes, score=1000.0 required=5.0";
    ck_assert_int_eq(parse(line), QPS_KIND_TERSE);
    ck_assert_int_eq(rec.framing, QPS_FRAME_MULTILOG);
    ck_assert_int_eq(rec.dialect, QPS_DIALECT_093);
    ck_assert_uint_eq(rec.pid, 8909);
    assert_str(rec.hook, "deny");
    assert_str(rec.plugin, "logging::logterse");
    ck_assert_int_eq(rec.nfields, 9);
    assert_str(rec.field[QPS_TF_IP], "127.0.0.1");
    assert_str(rec.field[QPS_TF_RHOST], "Unknown");
    assert_str(rec.field[QPS_TF_HELO], "client.sender.example");
    assert_str(rec.field[QPS_TF_SENDER], "<alice@sender.example>");
    assert_str(rec.field[QPS_TF_RCPTS], "<bob@example.com>,<carol@example.com>");
    assert_str(rec.field[QPS_TF_DISPOSITION], "spamassassin");
    assert_str(rec.field[QPS_TF_CODE], "901");
    assert_str(rec.field[QPS_TF_TEXT], "spam score exceeded threshold");
    assert_str(rec.field[QPS_TF_SPAM], "Yes, score=1000.0 required=5.0");
    ck_assert(rec.has_time);
    ck_assert_int_eq(rec.unix_sec, 0x6b07390dLL - 10);
    ck_assert_uint_eq(rec.nsec, 0x1f43b72c);
}
END_TEST

START_TEST(terse_dialects_agree)
{
    static const char *lines[] = {
        "26318 logging::logterse plugin: ` 1.2.3.4\tmx.bad.biz\tmx.bad.biz\t<f@bad.biz>\t<d@home.org>\tnaughty\t903\tvery bad karma: -7\tmsg denied before queued",
        "7923 logging::logterse plugin (deny): ` 1.2.3.4\tmx.bad.biz\tmx.bad.biz\t<f@bad.biz>\t<d@home.org>\tnaughty\t903\tvery bad karma: -7\tmsg denied before queued",
        "8909 (deny) logging::logterse: ` 1.2.3.4\tmx.bad.biz\tmx.bad.biz\t<f@bad.biz>\t<d@home.org>\tnaughty\t903\tvery bad karma: -7\tmsg denied before queued",
        "2016-04-21 15:02:29.006734500 26288 (deny) logging::logterse: ` 1.2.3.4\tmx.bad.biz\tmx.bad.biz\t<f@bad.biz>\t<d@home.org>\tnaughty\t903\tvery bad karma: -7\tmsg denied before queued",
        "Wed Nov 25 19:39:54 2026 vm[9413]: `1.2.3.4\tmx.bad.biz\tmx.bad.biz\t<f@bad.biz>\t<d@home.org>\tnaughty\t903\tvery bad karma: -7\tmsg denied before queued",
        "Sep 15 08:40:40 host qpsmtpd-forkserver[3672]: 3672 (deny) logging::logterse: ` 1.2.3.4\tmx.bad.biz\tmx.bad.biz\t<f@bad.biz>\t<d@home.org>\tnaughty\t903\tvery bad karma: -7\tmsg denied before queued",
        "Sep  5 08:40:40 host qpsmtpd[3672]: ` 1.2.3.4\tmx.bad.biz\tmx.bad.biz\t<f@bad.biz>\t<d@home.org>\tnaughty\t903\tvery bad karma: -7\tmsg denied before queued",
        "2026-11-25T19:39:54.123+01:00 host qpsmtpd[3672]: ` 1.2.3.4\tmx.bad.biz\tmx.bad.biz\t<f@bad.biz>\t<d@home.org>\tnaughty\t903\tvery bad karma: -7\tmsg denied before queued",
    };
    static const qps_dialect dialects[] = {QPS_DIALECT_04X, QPS_DIALECT_08X, QPS_DIALECT_093, QPS_DIALECT_093,
                                           QPS_DIALECT_NONE, QPS_DIALECT_093, QPS_DIALECT_NONE, QPS_DIALECT_NONE};
    static const qps_framing framings[] = {QPS_FRAME_NONE, QPS_FRAME_NONE, QPS_FRAME_NONE, QPS_FRAME_TAI64NLOCAL,
                                           QPS_FRAME_LOGFILE, QPS_FRAME_SYSLOG, QPS_FRAME_SYSLOG, QPS_FRAME_SYSLOG};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        ck_assert_msg(parse(lines[i]) == QPS_KIND_TERSE, "line %zu: kind %s", i, qps_kind_name(rec.kind));
        ck_assert_int_eq(rec.dialect, dialects[i]);
        ck_assert_int_eq(rec.framing, framings[i]);
        assert_str(rec.field[QPS_TF_IP], "1.2.3.4");
        assert_str(rec.field[QPS_TF_DISPOSITION], "naughty");
        assert_str(rec.field[QPS_TF_TEXT], "very bad karma: -7");
        assert_str(rec.field[QPS_TF_SPAM], "msg denied before queued");
    }
    /* the tai64nlocal stamp is local time (TZ=UTC here) */
    parse(lines[3]);
    ck_assert_int_eq(rec.unix_sec, 1461250949);
    ck_assert_uint_eq(rec.nsec, 6734500);
    /* fractions of nine digits (as tai64nlocal prints them), ten (a label's
     * nanoseconds out of range), fewer, and a stamp that ends the line */
    static const struct {
        const char *line;
        qps_kind kind;
        uint32_t nsec;
    } fractions[] = {
        {"2016-04-21 15:02:29.123456789 1 dispatching QUIT", QPS_KIND_DISPATCH, 123456789},
        {"2016-04-21 15:02:29.999999999 1 dispatching QUIT", QPS_KIND_DISPATCH, 999999999},
        {"2016-04-21 15:02:29.1234567890 1 dispatching QUIT", QPS_KIND_DISPATCH, 123456789},
        {"2016-04-21 15:02:29.12345 1 dispatching QUIT", QPS_KIND_DISPATCH, 123450000},
        {"2016-04-21 15:02:29.123456789", QPS_KIND_CONTINUATION, 123456789},
        {"2016-04-21 15:02:29.12345678x 1 dispatching QUIT", QPS_KIND_INVALID, 0},
        {"2016-04-21 15:02:29.123456789x 1 dispatching QUIT", QPS_KIND_INVALID, 0},
    };
    for (size_t i = 0; i < sizeof fractions / sizeof fractions[0]; i++) {
        ck_assert_msg(parse(fractions[i].line) == fractions[i].kind, "fraction %zu: kind %s", i,
                      qps_kind_name(rec.kind));
        ck_assert_msg(rec.nsec == fractions[i].nsec, "fraction %zu: nsec %u", i, rec.nsec);
        if (fractions[i].kind != QPS_KIND_INVALID)
            ck_assert_int_eq(rec.unix_sec, 1461250949);
    }
    parse(lines[4]);
    ck_assert_int_eq(rec.unix_sec, 1795635594);
    ck_assert_uint_eq(rec.pid, 9413);
    assert_str(rec.host, "vm");
    parse(lines[6]); /* no year: that of the reference time */
    ck_assert_int_eq(rec.unix_sec, 1757061640);
    parse(lines[7]);
    ck_assert_int_eq(rec.unix_sec, 1795631994);
    ck_assert_uint_eq(rec.nsec, 123000000);
}
END_TEST

START_TEST(terse_field_variants)
{
    /* logterse 1.0: eight fields, no spam field */
    ck_assert_int_eq(parse("1 (queue) logging::logterse: ` 1.1.1.1\th\th\t<a@b.c>\t<d@e.f>\tqueued\t\t<id@x>"),
                     QPS_KIND_TERSE);
    ck_assert_int_eq(rec.nfields, 8);
    ck_assert_ptr_null(rec.field[QPS_TF_SPAM].ptr);
    assert_str(rec.field[QPS_TF_TEXT], "<id@x>");
    /* a deny text holding TABs keeps them; the spam field is the last */
    ck_assert_int_eq(parse("1 (deny) logging::logterse: ` 1.1.1.1\th\th\t\t\tdnsbl\t901\tpart one\tpart two\tmsg denied before queued"),
                     QPS_KIND_TERSE);
    ck_assert_int_eq(rec.nfields, 9);
    assert_str(rec.field[QPS_TF_TEXT], "part one\tpart two");
    assert_str(rec.field[QPS_TF_SPAM], "msg denied before queued");
    /* hosts_allow in the parent: five empty connection fields */
    ck_assert_int_eq(parse("@400000006b0739122c335884 8801 (deny) logging::logterse: ` \t\t\t\t\thosts_allow\t901\tSorry, you are blocked\tmsg denied before queued"),
                     QPS_KIND_TERSE);
    assert_str(rec.field[QPS_TF_IP], "");
    assert_str(rec.field[QPS_TF_DISPOSITION], "hosts_allow");
    /* a custom prefix */
    qps_parser_opts opts = {"LT:", 1764100000};
    qps_parser *custom = qps_parser_new(&opts);
    const char *line = "1 (deny) logging::logterse: LT: 1.1.1.1\th\th\t\t\tdnsbl\t901\tx\tmsg denied before queued";
    ck_assert_int_eq(qps_parser_parse(custom, line, strlen(line), &rec), QPS_KIND_TERSE);
    qps_parser_free(custom);
}
END_TEST

START_TEST(connection_kinds)
{
    ck_assert_int_eq(parse("@400000006b07390100d4650c 8873 Accepted connection 0/3 from 127.0.0.1 / Unknown"),
                     QPS_KIND_ACCEPT);
    ck_assert_uint_eq(rec.running, 0);
    ck_assert_uint_eq(rec.max, 3);
    assert_str(rec.remote_ip, "127.0.0.1");
    assert_str(rec.remote_host, "Unknown");
    ck_assert_int_eq(parse("5146 Too many connections: 40 >= 40.  Waiting one second."), QPS_KIND_TOO_MANY);
    ck_assert_uint_eq(rec.running, 40);
    ck_assert_uint_eq(rec.max, 40);
    ck_assert_int_eq(parse("8801 (pre-connection) hosts_allow: fail: too many connections from 127.0.0.1 (3 > 2)"),
                     QPS_KIND_HOSTS_ALLOW);
    assert_str(rec.remote_ip, "127.0.0.1");
    ck_assert_uint_eq(rec.running, 3);
    ck_assert_uint_eq(rec.max, 2);
    ck_assert_int_eq(parse("5320 hosts_allow plugin: Too many connections from 10.1.2.3: 6 > 5Denying connection."),
                     QPS_KIND_HOSTS_ALLOW);
    ck_assert_int_eq(rec.dialect, QPS_DIALECT_04X);
    assert_str(rec.remote_ip, "10.1.2.3");
    ck_assert_uint_eq(rec.running, 6);
    ck_assert_uint_eq(rec.max, 5);
    ck_assert_int_eq(parse("8801 (pre-connection) hosts_allow: fail, Sorry, you are blocked"), QPS_KIND_HOSTS_ALLOW);
    ck_assert_int_eq(parse("8801 (pre-connection) hosts_allow: pass"), QPS_KIND_RESULT);
    ck_assert_int_eq(parse("@400000006b0739020153e5ac 8873 (post-connection) connection_time: 1.018 s."),
                     QPS_KIND_CONN_TIME);
    ck_assert_uint_eq(rec.millis, 1018);
    ck_assert_int_eq(parse("@4000000048641d5c0951f6a4 15110 connection_time plugin: Connection time from 209.74.246.66: 1.566 sec."),
                     QPS_KIND_CONN_TIME);
    ck_assert_uint_eq(rec.millis, 1566);
    assert_str(rec.remote_ip, "209.74.246.66");
    ck_assert_int_eq(parse("15110 connection_time plugin (post-connection): Connection time from 2001:db8::1: 12.5 sec."),
                     QPS_KIND_CONN_TIME);
    ck_assert_uint_eq(rec.millis, 12500);
    assert_str(rec.remote_ip, "2001:db8::1");
    /* logging/file has no plugin names */
    ck_assert_int_eq(parse("Wed Nov 25 19:39:54 2026 vm[9413]: 1.021 s."), QPS_KIND_CONN_TIME);
    ck_assert_uint_eq(rec.millis, 1021);
}
END_TEST

START_TEST(other_kinds)
{
    ck_assert_int_eq(parse("@400000006b07390200f7b41c 8873 220 test.example ESMTP qpsmtpd 0.94 ready"), QPS_KIND_REPLY);
    ck_assert_int_eq(rec.reply_code, 220);
    ck_assert_int_eq(parse("8873 250-PIPELINING"), QPS_KIND_REPLY);
    ck_assert_int_eq(parse("8873 dispatching MAIL FROM:<alice@sender.example>"), QPS_KIND_DISPATCH);
    ck_assert_int_eq(parse("8801 cleaning up after 8873"), QPS_KIND_CLEANUP);
    ck_assert_uint_eq(rec.child_pid, 8873);
    ck_assert_int_eq(parse("8873 (connect) earlytalker: pass, not spontaneous"), QPS_KIND_RESULT);
    ck_assert_int_eq(rec.verdict, QPS_VERDICT_PASS);
    ck_assert_int_eq(parse("8873 (rcpt) rcpt_ok: fail: elsewhere.example not in morercpthosts"), QPS_KIND_RESULT);
    ck_assert_int_eq(rec.verdict, QPS_VERDICT_FAIL);
    ck_assert_int_eq(parse("7923 check_earlytalker plugin (connect): skip, relay client"), QPS_KIND_RESULT);
    ck_assert_int_eq(rec.verdict, QPS_VERDICT_SKIP);
    assert_str(rec.plugin, "check_earlytalker");
    assert_str(rec.hook, "connect");
    ck_assert_int_eq(parse("8873 (data_post) spamassassin: karma 1 (1)"), QPS_KIND_OTHER);
    ck_assert_int_eq(parse("8873 click, disconnecting"), QPS_KIND_OTHER);
    ck_assert_int_eq(parse("8801 Listening on 127.0.0.1:2525"), QPS_KIND_OTHER);
    ck_assert_int_eq(parse("8801 (pre-connection) running plugin: x"), QPS_KIND_OTHER);
    /* a framed line without pid: perl warnings, continued deny texts */
    ck_assert_int_eq(parse("@400000006b07399416a6d5f4 FATAL PLUGIN ERROR [logging::file]: x"), QPS_KIND_CONTINUATION);
    ck_assert_int_eq(parse("@400000006b07399416a6d5f4"), QPS_KIND_CONTINUATION);
    ck_assert_int_eq(parse("@400000006b07399416a6d5f4 tcpserver: status: 1/40"), QPS_KIND_CONTINUATION);
}
END_TEST

START_TEST(invalid_lines)
{
    ck_assert_int_eq(parse(""), QPS_KIND_INVALID);
    ck_assert_int_eq(rec.bad, QPS_BAD_EMPTY);
    ck_assert_int_eq(parse("@4000000037C219bf2ef02e94 8 x"), QPS_KIND_INVALID);
    ck_assert_int_eq(rec.bad, QPS_BAD_LABEL);
    ck_assert_int_eq(parse("@40000000 8 x"), QPS_KIND_INVALID);
    ck_assert_int_eq(rec.bad, QPS_BAD_LABEL);
    ck_assert_int_eq(parse("@4000000037c219bf2ef02e94x 8 x"), QPS_KIND_INVALID);
    ck_assert_int_eq(parse("2026-13-45 99:99:99.000000000 8 x"), QPS_KIND_INVALID);
    ck_assert_int_eq(rec.bad, QPS_BAD_TIME);
    ck_assert_int_eq(parse("hello world"), QPS_KIND_INVALID);
    ck_assert_int_eq(rec.bad, QPS_BAD_NO_PID);
    ck_assert_int_eq(parse("\x01\x02\xff junk"), QPS_KIND_INVALID);
    ck_assert_int_eq(parse("8909 (deny) logging::logterse: ` 127.0.0.1\tUnknown\tclient"), QPS_KIND_INVALID);
    ck_assert_int_eq(rec.bad, QPS_BAD_TRUNCATED);
    const char nul[] = "8909 (deny) x: pass\0tail";
    ck_assert_int_eq(qps_parser_parse(parser, nul, sizeof nul - 1, &rec), QPS_KIND_INVALID);
    ck_assert_int_eq(rec.bad, QPS_BAD_NUL);
    char *big = malloc(QPS_LINE_MAX + 2);
    memset(big, 'a', QPS_LINE_MAX + 1);
    big[0] = '1';
    big[1] = ' ';
    ck_assert_int_eq(qps_parser_parse(parser, big, QPS_LINE_MAX + 1, &rec), QPS_KIND_INVALID);
    ck_assert_int_eq(rec.bad, QPS_BAD_TOO_LONG);
    free(big);
}
END_TEST

/* Every prefix of every sample line parses without reading past its end
 * (run under ASan by the sanitizer build). */
START_TEST(every_prefix_is_safe)
{
    static const char *lines[] = {
        "@400000006b07390d1f43b72c 8909 (deny) logging::logterse: ` 127.0.0.1\tUnknown\tc\t<a@b>\t<b@c>\tspamassassin\t901\tx\tYes, score=1000.0 required=5.0",
        "2016-04-21 15:02:29.006734500 26288 (deny) logging::logterse: ` 1.2.3.4\tm\tm\t<f@b>\t<d@h>\tnaughty\t903\tv\tmsg denied before queued",
        "Wed Nov 25 19:39:54 2026 vm[9413]: Accepted connection 0/15 from 127.0.0.1 / Unknown",
        "Sep 15 08:40:40 host qpsmtpd-forkserver[3672]: 3672 hosts_allow plugin (pre-connection): Too many connections from 1.2.3.4: 6 > 5Denying connection.",
        "2026-11-25T19:39:54.123+01:00 host qpsmtpd[3672]: fail: too many connections from 1.2.3.4 (3 > 2)",
        "15110 connection_time plugin: Connection time from 209.74.246.66: 1.566 sec.",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        size_t len = strlen(lines[i]);
        for (size_t n = 0; n <= len; n++) {
            char *copy = malloc(n ? n : 1);
            memcpy(copy, lines[i], n);
            qps_kind k = qps_parser_parse(parser, copy, n, &rec);
            ck_assert_int_lt(k, QPS_KIND_COUNT_);
            free(copy);
        }
    }
}
END_TEST

START_TEST(spam_field)
{
    qps_spam s;
    qps_str f = {"Yes, score=13.1 required=3.0", 28};
    ck_assert_int_eq(qps_spam_parse(f, &s), QPS_OK);
    ck_assert(s.is_spam);
    ck_assert_double_eq_tol(s.score, 13.1, 1e-9);
    ck_assert_double_eq_tol(s.required, 3.0, 1e-9);
    f.ptr = "No, hits=-2.6 required=5.0_";
    f.len = strlen(f.ptr);
    ck_assert_int_eq(qps_spam_parse(f, &s), QPS_OK);
    ck_assert(!s.is_spam);
    ck_assert_double_eq_tol(s.score, -2.6, 1e-9);
    f.ptr = "msg denied before queued";
    f.len = strlen(f.ptr);
    ck_assert_int_eq(qps_spam_parse(f, &s), QPS_EFORMAT);
    ck_assert(!s.present);
    f.ptr = "Yes, nothing";
    f.len = strlen(f.ptr);
    ck_assert_int_eq(qps_spam_parse(f, &s), QPS_EFORMAT);
}
END_TEST

/* Labels and stamps outside the years a mail log can have (issue 9 case 8). */
START_TEST(out_of_range_times)
{
    static const char *const labels[] = {
        "@000000000000000000000000", "@ffffffffffffffffffffffff", "@7fffffffffffffffffffffff",
        "@800000000000000000000000", "@3fffffffffffffff00000000", "@400000000000000a00000000",
        "@40000002000000000000000a",
    };
    char line[128];
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
        snprintf(line, sizeof line, "%s 9528 dispatching QUIT", labels[i]);
        ck_assert_int_eq(parse(line), QPS_KIND_INVALID);
        ck_assert_int_eq(rec.bad, QPS_BAD_LABEL);
        ck_assert_int_eq(rec.has_time, 0);
        /* a good label after a bad one is not confused by the label cache */
        ck_assert_int_eq(parse("@400000006b0739a214240374 9528 dispatching QUIT"), QPS_KIND_DISPATCH);
        ck_assert_int_eq(rec.unix_sec, 0x6b0739a2LL - 10);
    }
    /* the edges: [QPS_TIME_MIN, QPS_TIME_MAX) */
    char label[26];
    static const struct { int64_t t; int ok; } edge[] = {
        {QPS_TIME_MIN - 1, 0}, {QPS_TIME_MIN, 1}, {QPS_TIME_MAX - 1, 1}, {QPS_TIME_MAX, 0}};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(qps_time_plausible(edge[i].t), edge[i].ok);
        qps_tai64n_encode(edge[i].t, 0, label);
        snprintf(line, sizeof line, "%s 9528 dispatching QUIT", label);
        ck_assert_int_eq(parse(line), edge[i].ok ? QPS_KIND_DISPATCH : QPS_KIND_INVALID);
        if (edge[i].ok)
            ck_assert_int_eq(rec.unix_sec, edge[i].t);
        else
            ck_assert_int_eq(rec.bad, QPS_BAD_LABEL);
    }
    /* textual stamps: each framing, one year too early and one too late */
    static const char *const stamps[] = {
        "1989-12-31 23:59:59.000000000 9528 dispatching QUIT",
        "2200-01-01 00:00:00.000000000 9528 dispatching QUIT",
        "Sun Dec 31 23:59:59 1989 host[9528]: dispatching QUIT",
        "Wed Jan 01 00:00:00 2200 host[9528]: dispatching QUIT",
        "1989-12-31T23:59:59Z host qpsmtpd[9528]: dispatching QUIT",
        "9999-12-31T23:59:59+01:00 host qpsmtpd[9528]: dispatching QUIT",
    };
    for (size_t i = 0; i < sizeof stamps / sizeof stamps[0]; i++) {
        ck_assert_msg(parse(stamps[i]) == QPS_KIND_INVALID && rec.bad == QPS_BAD_TIME, "%s", stamps[i]);
        ck_assert_int_eq(rec.has_time, 0);
    }
    ck_assert_int_eq(parse("1990-01-01 00:00:00.000000000 9528 dispatching QUIT"), QPS_KIND_DISPATCH);
    ck_assert_int_eq(rec.unix_sec, QPS_TIME_MIN);
}
END_TEST

/* The hour that repeats when DST ends: the order of the lines decides. */
START_TEST(dst_repeated_hour)
{
    setenv("TZ", "Europe/Berlin", 1);
    tzset();
    qps_parser_opts opts = {NULL, 1795640400};
    qps_parser *p = qps_parser_new(&opts);
    ck_assert_ptr_nonnull(p);
    const int64_t cest_0230 = 1792888200; /* 2026-10-25 02:30 CEST = 00:30Z */
    static const struct {
        const char *line;
        int64_t want;
    } seq[] = {
        {"2026-10-25 01:59:00.000000000 1 dispatching QUIT", cest_0230 - 1860},
        {"2026-10-25 02:30:00.000000000 1 dispatching QUIT", cest_0230},          /* first pass */
        {"2026-10-25 02:29:58.000000000 1 dispatching QUIT", cest_0230 - 2},      /* a little disorder */
        {"2026-10-25 02:59:59.000000000 1 dispatching QUIT", cest_0230 + 1799},
        {"2026-10-25 02:00:01.000000000 1 dispatching QUIT", cest_0230 + 1801},   /* back an hour: CET */
        {"Sun Oct 25 02:30:00 2026 vm[1]: dispatching QUIT", cest_0230 + 3600},   /* stays in the 2nd pass */
        {"Sun Oct 25 02:30:00 2026 vm[2]: dispatching QUIT", cest_0230 + 3600},   /* the same stamp again */
        {"Oct 25 02:29:59 mx qpsmtpd[1]: dispatching QUIT", cest_0230 + 3599},
        {"Oct 25 02:29:59 mx qpsmtpd[2]: dispatching QUIT", cest_0230 + 3599},
        {"2026-10-25 02:59:59.000000000 1 dispatching QUIT", cest_0230 + 5399},
        {"2026-10-25 03:00:00.000000000 1 dispatching QUIT", cest_0230 + 5400},
        {"2026-10-25 03:00:00.500000000 1 dispatching QUIT", cest_0230 + 5400},   /* the same second */
        {"2026-10-25 02:59:59.000000000 1 dispatching QUIT", cest_0230 + 5399},   /* a little disorder */
        {"2026-10-25 02:59:59.000000000 1 dispatching QUIT", cest_0230 + 5399},   /* resolved again */
        {"2026-10-25 03:00:00.000000000 1 dispatching QUIT", cest_0230 + 5400},
    };
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        ck_assert_int_eq(qps_parser_parse(p, seq[i].line, strlen(seq[i].line), &rec), QPS_KIND_DISPATCH);
        ck_assert_msg(rec.unix_sec == seq[i].want, "%s: got %lld, want %lld", seq[i].line, (long long)rec.unix_sec,
                      (long long)seq[i].want);
    }
    qps_parser_free(p);
    /* a fresh parser knows nothing: the first pass; told the line before
     * (a thread's block, a resumed import), the second */
    const char *l = "2026-10-25 02:10:00.000000000 1 dispatching QUIT";
    p = qps_parser_new(&opts);
    qps_parser_parse(p, l, strlen(l), &rec);
    ck_assert_int_eq(rec.unix_sec, cest_0230 - 1200);
    qps_parser_free(p);
    p = qps_parser_new(&opts);
    qps_parser_set_last_time(p, cest_0230 + 2400);
    qps_parser_parse(p, l, strlen(l), &rec);
    ck_assert_int_eq(rec.unix_sec, cest_0230 - 1200 + 3600);
    /* a logging/file or syslog stamp met again is resolved again: the
     * first pass, then the second once a line of the second is known */
    static const char *const again[] = {"Sun Oct 25 02:10:00 2026 vm[1]: dispatching QUIT",
                                        "Oct 25 02:10:00 mx qpsmtpd[1]: dispatching QUIT"};
    for (size_t i = 0; i < 2; i++) {
        qps_parser_free(p);
        p = qps_parser_new(&opts);
        ck_assert_int_eq(qps_parser_parse(p, again[i], strlen(again[i]), &rec), QPS_KIND_DISPATCH);
        ck_assert_int_eq(rec.unix_sec, cest_0230 - 1200);
        qps_parser_set_last_time(p, cest_0230 + 2400);
        ck_assert_int_eq(qps_parser_parse(p, again[i], strlen(again[i]), &rec), QPS_KIND_DISPATCH);
        ck_assert_int_eq(rec.unix_sec, cest_0230 - 1200 + 3600);
    }
    /* a multilog label in between tells the instant too */
    qps_parser_free(p);
    p = qps_parser_new(&opts);
    char label[26], line[128];
    qps_tai64n_encode(cest_0230 + 2400, 0, label);
    snprintf(line, sizeof line, "%s 1 dispatching QUIT", label);
    qps_parser_parse(p, line, strlen(line), &rec);
    qps_parser_parse(p, l, strlen(l), &rec);
    ck_assert_int_eq(rec.unix_sec, cest_0230 - 1200 + 3600);
    qps_parser_free(p);
    setenv("TZ", "UTC", 1);
    tzset();
}
END_TEST

/* A line reads the same whatever line came before it: the parser keeps the
 * last line's "host[" to read the pid after it directly, and a line that
 * starts alike but goes on otherwise must take the full path. Each pair's
 * second line is parsed after the first and by a fresh parser. */
START_TEST(origin_does_not_carry_over)
{
    static const char *const pairs[][2] = {
        {"Wed Nov 25 19:39:54 2026 mail[3608]: Listening", "Wed Nov 25 19:39:54 2026 mail[12]: dispatching QUIT"},
        {"Wed Nov 25 19:39:54 2026 mail[3608]: x", "Wed Nov 25 19:39:54 2026 mail[36x8]: dispatching QUIT"},
        {"Wed Nov 25 19:39:54 2026 mail[3608]: x", "Wed Nov 25 19:39:54 2026 mail[]: dispatching QUIT"},
        {"Wed Nov 25 19:39:54 2026 mail[3608]: x", "Wed Nov 25 19:39:54 2026 mail[1234567]: 250 ok"},
        {"Wed Nov 25 19:39:54 2026 mail[3608]: x", "Wed Nov 25 19:39:54 2026 mail[123456789]: 250 ok"},
        {"Wed Nov 25 19:39:54 2026 mail[3608]: x", "Wed Nov 25 19:39:54 2026 mail[3608]:250 ok"},
        {"Wed Nov 25 19:39:54 2026 mail[3608]: x", "Wed Nov 25 19:39:54 2026 mail[3608] 250 ok"},
        {"Wed Nov 25 19:39:54 2026 mail[3608]: x", "Wed Nov 25 19:39:54 2026 mail[3608]]: 250"},
        {"Wed Nov 25 19:39:54 2026 mail[3608]: x", "Wed Nov 25 19:39:54 2026 mailer[3608]: 250 ok"},
        {"Wed Nov 25 19:39:54 2026 mail[3608]: x", "Wed Nov 25 19:39:54 2026 mail[3608]: "},
        {"Wed Nov 25 19:39:54 2026 mail[3608]: x", "Wed Nov 25 19:39:54 2026 mail[1]:"},
        {"Sep 15 08:40:40 host qpsmtpd[3672]: 3672 x", "Sep 15 08:40:40 host qpsmtpd[3673]: 3673 dispatching QUIT"},
        {"Sep 15 08:40:40 host qpsmtpd[3672]: 3672 x", "Sep 15 08:40:40 host qpsmtpd[3673] 3673 dispatching QUIT"},
        {"Sep 15 08:40:40 host qpsmtpd[3672]: 3672 x", "Sep 15 08:40:40 host qpsmtpd: ` 1.2.3.4\ta\tb\t<c@d>\t<e@f>\tqueued\t250\tok"},
        {"Sep 15 08:40:40 host qpsmtpd[3672]: 3672 x", "Sep 15 08:40:40 host2 qpsmtpd[3672]: 3672 dispatching QUIT"},
        {"Sep 15 08:40:40 host a[b[3672]: 3672 x", "Sep 15 08:40:40 host a[b[3673]: 3673 dispatching QUIT"},
        {"Wed Nov 25 19:39:54 2026 host[3608]: x", "Sep 15 08:40:40 host[3672]: 3672 dispatching QUIT"},
        {"Sep 15 08:40:40 host qpsmtpd[3672]: 3672 x", "Wed Nov 25 19:39:54 2026 host qpsmtpd[3672]: x"},
    };
    qps_parser_opts opts = {NULL, 1764100000};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        qps_record warm, cold;
        qps_parser_parse(parser, pairs[i][0], strlen(pairs[i][0]), &warm);
        qps_kind kw = qps_parser_parse(parser, pairs[i][1], strlen(pairs[i][1]), &warm);
        qps_parser *fresh = qps_parser_new(&opts);
        ck_assert_ptr_nonnull(fresh);
        qps_kind kc = qps_parser_parse(fresh, pairs[i][1], strlen(pairs[i][1]), &cold);
        qps_parser_free(fresh);
        ck_assert_msg(kw == kc, "pair %zu: kind %s after the first line, %s alone", i, qps_kind_name(kw),
                      qps_kind_name(kc));
        ck_assert_msg(warm.pid == cold.pid, "pair %zu: pid %u against %u", i, warm.pid, cold.pid);
        ck_assert_msg(warm.host.len == cold.host.len && (!warm.host.len || !memcmp(warm.host.ptr, cold.host.ptr, warm.host.len)),
                      "pair %zu: host '%.*s' against '%.*s'", i, (int)warm.host.len, warm.host.ptr ? warm.host.ptr : "",
                      (int)cold.host.len, cold.host.ptr ? cold.host.ptr : "");
        ck_assert_msg(warm.message.len == cold.message.len && warm.message.ptr == cold.message.ptr,
                      "pair %zu: message '%.*s' against '%.*s'", i, (int)warm.message.len,
                      warm.message.ptr ? warm.message.ptr : "", (int)cold.message.len,
                      cold.message.ptr ? cold.message.ptr : "");
        ck_assert_int_eq(warm.dialect, cold.dialect);
        ck_assert_int_eq(warm.framing, cold.framing);
    }
    /* the common case, read by the shortcut: host and pid as the full path reads them */
    ck_assert_int_eq(parse("Wed Nov 25 19:39:54 2026 vm[9413]: dispatching QUIT"), QPS_KIND_DISPATCH);
    ck_assert_int_eq(parse("Wed Nov 25 19:39:55 2026 vm[77]: dispatching QUIT"), QPS_KIND_DISPATCH);
    ck_assert_uint_eq(rec.pid, 77);
    assert_str(rec.host, "vm");
}
END_TEST

static Suite *parse_suite(void)
{
    Suite *s = suite_create("parse");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, terse_093_multilog);
    tcase_add_test(core, terse_dialects_agree);
    tcase_add_test(core, terse_field_variants);
    tcase_add_test(core, connection_kinds);
    tcase_add_test(core, other_kinds);
    tcase_add_test(core, spam_field);
    tcase_add_test(core, dst_repeated_hour);
    tcase_add_test(core, origin_does_not_carry_over);
    suite_add_tcase(s, core);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, invalid_lines);
    tcase_add_test(errors, every_prefix_is_safe);
    tcase_add_test(errors, out_of_range_times);
    suite_add_tcase(s, errors);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(parse_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
