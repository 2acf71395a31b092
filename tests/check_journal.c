/*
 * check_journal.c - unit tests of the journal's lines as the parser reads
 * them (the unit as the syslog ident names the service; qpsmtpd's pid in
 * the text; a pid-less stderr line continues the one before;
 * journalctl's "+0000" offsets) and of a journal source in the log set and
 * the reader (a missing file, a directory without journal files). Journal
 * files themselves are made and read by t/370-journal.t.
 */
#include "qpstat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static qps_parser *parser;
static qps_record rec;

static void setup(void)
{
    setenv("TZ", "Europe/Berlin", 1);
    qps_parser_opts opts = {NULL, 1795640400};
    parser = qps_parser_new(&opts);
    ck_assert_ptr_nonnull(parser);
}

static void teardown(void)
{
    qps_parser_free(parser);
}

static qps_kind parse(const char *line)
{
    return qps_parser_parse(parser, line, strlen(line), &rec);
}

static void assert_str(qps_str s, const char *want)
{
    ck_assert_msg(s.len == strlen(want) && (s.len == 0 || memcmp(s.ptr, want, s.len) == 0), "got '%.*s', want '%s'",
                  (int)s.len, s.ptr ? s.ptr : "", want);
}

START_TEST(unit_is_service)
{
    ck_assert_int_eq(parse("2026-11-25T08:40:40.123456Z mx uqpsmtpd.service[3672]: 3680 (deny) logging::logterse: "
                           "` 192.0.2.1\th\th\t<a@b.example>\t<c@d.example>\tqueued\t250\tQueued!"),
                     QPS_KIND_TERSE);
    assert_str(rec.service, "uqpsmtpd");
    assert_str(rec.host, "mx");
    ck_assert_uint_eq(rec.pid, 3680); /* qpsmtpd's own pid, not the forkserver's _PID */
    ck_assert_int_eq(rec.unix_sec, 1795596040);
    ck_assert_uint_eq(rec.nsec, 123456000);
    assert_str(rec.field[QPS_TF_DISPOSITION], "queued");
}
END_TEST

START_TEST(other_idents_name_no_service)
{
    ck_assert_int_eq(parse("2026-11-25T08:40:40Z mx qpsmtpd-forkserver[3672]: 3672 Accepted connection 0/15 from "
                           "192.0.2.1 / x"),
                     QPS_KIND_ACCEPT);
    ck_assert_uint_eq(rec.service.len, 0);
    ck_assert_int_eq(parse("Nov 25 08:40:40 mx qpsmtpd[77]: 250 Queued!"), QPS_KIND_REPLY);
    ck_assert_uint_eq(rec.service.len, 0);
    parse("2026-11-25T08:40:40Z mx .service[1]: 1 x"); /* no unit name before the suffix */
    ck_assert_uint_eq(rec.service.len, 0);
}
END_TEST

START_TEST(pidless_line_continues)
{
    ck_assert_int_eq(parse("2026-11-25T08:40:40.5Z mx qpsmtpd.service[30000]: (helo) Plain IP is invalid\tmsg"),
                     QPS_KIND_CONTINUATION);
    ck_assert_uint_eq(rec.pid, 0);
    assert_str(rec.message, "(helo) Plain IP is invalid\tmsg");
    assert_str(rec.service, "qpsmtpd");
    /* a syslog datagram gets _PID before its text from the journal source */
    ck_assert_int_eq(parse("2026-11-25T08:40:40Z mx qpsmtpd.service[4242]: 4242 250 Queued!"), QPS_KIND_REPLY);
    ck_assert_uint_eq(rec.pid, 4242);
}
END_TEST

START_TEST(offset_without_colon)
{
    /* journalctl -o short-iso: "+0000", "+0100" */
    ck_assert_int_eq(parse("2026-11-25T08:40:40+0000 mx qpsmtpd-forkserver[1]: 1 Listening on 0.0.0.0:25"),
                     QPS_KIND_OTHER);
    ck_assert_int_eq(rec.has_time, 1);
    ck_assert_int_eq(rec.unix_sec, 1795596040);
    ck_assert_int_eq(parse("2026-11-25T09:40:40+0100 mx qpsmtpd-forkserver[1]: 1 Listening on 0.0.0.0:25"),
                     QPS_KIND_OTHER);
    ck_assert_int_eq(rec.unix_sec, 1795596040);
    ck_assert_int_eq(parse("2026-11-25T09:40:40+01 mx q[1]: 1 x"), QPS_KIND_INVALID);
    ck_assert_int_eq(rec.bad, QPS_BAD_TIME);
}
END_TEST

START_TEST(service_table_and_key)
{
    qps_where w;
    ck_assert_int_eq(qps_where_parse("service=uqpsmtpd", &w), QPS_OK);
    ck_assert_int_eq(w.dim, QPS_DIM_SERVICE);
    qps_agg_opts o = {0};
    o.where = &w;
    o.nwhere = 1;
    qps_agg *agg = qps_agg_new(&o);
    ck_assert_ptr_nonnull(agg);
    const char *lines[] = {
        "2026-11-25T08:40:40Z mx uqpsmtpd.service[1]: 9 (deny) logging::logterse: ` 1.2.3.4\th\th\t<a@b.c>\t<d@e.f>"
        "\tqueued\t250\tQueued!",
        "2026-11-25T08:40:41Z mx qpsmtpd.service[1]: 8 (deny) logging::logterse: ` 1.2.3.5\th\th\t<a@b.c>\t<d@e.f>"
        "\tdnsbl\t550\tno",
    };
    for (size_t i = 0; i < 2; i++)
        ck_assert_int_eq(qps_agg_add_line(agg, lines[i], strlen(lines[i])), QPS_OK);
    qps_row *rows;
    size_t n;
    ck_assert_int_eq(qps_agg_rows(agg, QPS_DIM_SERVICE, &rows, &n), QPS_OK);
    ck_assert_uint_eq(n, 1);
    assert_str(rows[0].key[0], "uqpsmtpd");
    ck_assert_uint_eq(rows[0].count, 1);
    qps_free(rows);
    qps_agg_free(agg);
    qps_dim dims[QPS_DIM_COUNT_];
    size_t nd = 0;
    ck_assert_int_eq(qps_dims_parse("all", dims, QPS_DIM_COUNT_, &nd), QPS_OK);
    for (size_t i = 0; i < nd; i++)
        ck_assert_int_ne(dims[i], QPS_DIM_SERVICE); /* "all" keeps the layout logs always had */
    nd = 0;
    ck_assert_int_eq(qps_dims_parse("service", dims, QPS_DIM_COUNT_, &nd), QPS_OK);
    ck_assert_int_eq(dims[0], QPS_DIM_SERVICE);
}
END_TEST

/* qpsmtpd 1.0 (smtpd/qpsmtpd v1.0.0, lib/Qpsmtpd/Plugin.pm get_reject and
 * store_deferred_reject, "Record the name of the original plugin (#256)"):
 * a deferred denial's text starts with "(plugin) ", and several deferrals
 * are joined by CR LF, so the record's line ends in CR and the next
 * deferral is a continuation line. */
START_TEST(qpsmtpd10_naughty)
{
    qps_agg *agg = qps_agg_new(NULL);
    ck_assert_ptr_nonnull(agg);
    const char *lines[] = {
        "2026-11-25T08:40:40Z mx qpsmtpd.service[1]: 9 (data) logging::logterse: ` 1.2.3.4\th\th\t<a@b.c>\t<d@e.f>"
        "\tnaughty\t550\t(dnsbl) Blocked, see http://www.spamhaus.org/query/bl?ip=1.2.3.4",
        "2026-11-25T08:40:41Z mx qpsmtpd.service[1]: 8 (rcpt) logging::logterse: ` 1.2.3.5\th\th\t<a@b.c>\t<d@e.f>"
        "\tnaughty\t550\t(karma) very bad karma: -7\r",
        "2026-11-25T08:40:41Z mx qpsmtpd.service[1]: (helo) Plain IP is invalid HELO hostname\tmsg denied before queued",
    };
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(qps_agg_add_line(agg, lines[i], strlen(lines[i])), QPS_OK);
    qps_counts c;
    qps_agg_counts(agg, &c);
    ck_assert_uint_eq(c.transactions, 2);
    ck_assert_uint_eq(c.by_kind[QPS_KIND_CONTINUATION], 1); /* the second deferral, after the CR LF */
    qps_row *rows;
    size_t n;
    ck_assert_int_eq(qps_agg_rows(agg, QPS_DIM_DNSBL, &rows, &n), QPS_OK);
    ck_assert_uint_eq(n, 1); /* (dnsbl) deferred by naughty is a DNSBL denial; (karma) is not */
    assert_str(rows[0].key[0], "www.spamhaus.org");
    qps_free(rows);
    ck_assert_int_eq(qps_agg_rows(agg, QPS_DIM_DISPOSITION, &rows, &n), QPS_OK);
    ck_assert_uint_eq(n, 1);
    assert_str(rows[0].key[0], "naughty");
    ck_assert_uint_eq(rows[0].count, 2);
    qps_free(rows);
    qps_agg_free(agg);
}
END_TEST

START_TEST(source_errors)
{
    char dir[] = "/tmp/check_journal_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *missing[] = {"/nonexistent/qpstat/x.journal"};
    qps_journal_spec files = {missing, 1, NULL, NULL, 0, NULL};
    qps_journal_spec empty = {NULL, 0, dir, NULL, 0, NULL};
    const char *units[] = {"uqpsmtpd"};
    qps_journal_spec with_units = {NULL, 0, dir, units, 0, NULL};
    qps_logset *set = qps_logset_new();
    ck_assert_int_eq(qps_logset_add_journal(set, &files), QPS_OK);
    ck_assert_int_eq(qps_logset_add_journal(set, &empty), QPS_OK);
    ck_assert_int_eq(qps_logset_add_journal(set, &with_units), QPS_EINVAL); /* units, but none */
    ck_assert_uint_eq(qps_logset_count(set), 2);
    const qps_log_entry *e = qps_logset_entry(set, 0);
    ck_assert_str_eq(e->path, "journal file /nonexistent/qpstat/x.journal");
    ck_assert_ptr_nonnull(e->journal);
    ck_assert_str_eq(qps_logset_entry(set, 1)->path + 18, dir);
    qps_reader *r = qps_reader_new();
    ck_assert_int_eq(qps_reader_open_entry(r, e), QPS_EREAD);
    if (qps_journal_supported()) {
        ck_assert_str_eq(qps_reader_error(r), "No such file or directory");
        ck_assert_int_eq(qps_reader_open_entry(r, qps_logset_entry(set, 1)), QPS_EREAD);
        ck_assert_str_eq(qps_reader_error(r), "no journal files in it");
        int found = 1;
        ck_assert_int_eq(qps_journal_probe(&empty, &found), QPS_EREAD);
        ck_assert_int_eq(found, 0);
    } else {
        ck_assert_ptr_nonnull(strstr(qps_reader_error(r), "built without journal support"));
    }
    ck_assert_ptr_null(qps_reader_journal_cursor(r));
    ck_assert_int_eq(qps_reader_journal_wait(r, 0), QPS_EINVAL); /* nothing open */
    qps_reader_free(r);
    qps_logset_free(set);
    rmdir(dir);
}
END_TEST

static Suite *journal_suite(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, unit_is_service);
    tcase_add_test(tc, other_idents_name_no_service);
    tcase_add_test(tc, pidless_line_continues);
    tcase_add_test(tc, offset_without_colon);
    tcase_add_test(tc, service_table_and_key);
    tcase_add_test(tc, qpsmtpd10_naughty);
    tcase_add_test(tc, source_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(journal_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
