/*
 * check_conn.c - unit tests of the connection joiner (conn.c) through the
 * public header: the layout, the match modes, the time range, and the
 * bounds (open connections, memory) that end the oldest connection early
 * without losing or doubling an event.
 */
#include "qpstat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    qps_buf out;
    size_t lines;
    int fail_after; /* 0 = never */
} sink;

static int collect(void *ctx, const char *line, size_t len)
{
    sink *s = ctx;
    if (s->fail_after && (int)s->lines >= s->fail_after)
        return -1;
    qps_buf_append(&s->out, line, len);
    qps_buf_putc(&s->out, '\n');
    s->lines++;
    return 0;
}

static int contains(void *ctx, const char *text, size_t len)
{
    const char *needle = ctx;
    return memmem(text, len, needle, strlen(needle)) != NULL;
}

#define L(sec, rest) "@40000000" sec "1f43b72c " rest

static qps_status feed(qps_join *j, const char *const *lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        qps_status st = qps_join_line(j, lines[i], strlen(lines[i]));
        if (st != QPS_OK)
            return st;
    }
    return QPS_OK;
}

static const char *const two_conns[] = {
    L("6b07390d", "101 Accepted connection 0/15 from 192.0.2.1 / a.example"),
    L("6b07390e", "102 Accepted connection 1/15 from 192.0.2.2 / b.example"),
    L("6b07390f", "102 dispatching MAIL FROM:<x@needle.example>"),
    L("6b073910", "101 (queue) logging::logterse: ` 192.0.2.1\ta\ta\t<a@b>\t<c@d>\tqueued\t\t<id>\tNo, score=1.0 required=5.0"),
    L("6b073911", "102 (deny) logging::logterse: ` 192.0.2.2\tb\tb\t<x@needle.example>\t<c@d>\tspamassassin\t550\tno\tthanks\tYes, score=9.0 required=5.0"),
    L("6b073912", "101 (post-connection) connection_time: 1.500 s."),
    L("6b073913", "102 (post-connection) connection_time: 0.250 s."),
};

START_TEST(layout_all)
{
    sink s = {{0}};
    qps_join_opts o = {.mode = QPS_JOIN_ALL, .emit = collect, .emit_ctx = &s};
    qps_join *j = qps_join_new(&o);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(feed(j, two_conns, 7), QPS_OK);
    ck_assert_int_eq(qps_join_finish(j), QPS_OK);
    ck_assert_str_eq(s.out.data, "101\t192.0.2.1\t0/15\n"
                                 "102\t192.0.2.2\t1/15\n"
                                 "101\t192.0.2.1\tqueued\tNo, score=1.0 required=5.0\t<a@b>\t<c@d>\t<id>\n"
                                 "102\t192.0.2.2\tspamassassin\tYes, score=9.0 required=5.0\t<x@needle.example>\t"
                                 "<c@d>\tno\\x09thanks\n"
                                 "101\t192.0.2.1\t1.500 sec.\n"
                                 "102\t192.0.2.2\t0.250 sec.\n");
    qps_join_free(j);
    qps_buf_release(&s.out);
}
END_TEST

START_TEST(connections_mode_and_stamps)
{
    sink s = {{0}};
    qps_join_opts o = {.mode = QPS_JOIN_CONNECTIONS, .stamp = QPS_STAMP_RAW, .match = contains,
                       .match_ctx = "needle", .emit = collect, .emit_ctx = &s};
    qps_join *j = qps_join_new(&o);
    ck_assert_int_eq(feed(j, two_conns, 7), QPS_OK);
    ck_assert_int_eq(qps_join_finish(j), QPS_OK);
    /* only 102 matched (its MAIL FROM line); written whole when it ended */
    ck_assert_str_eq(s.out.data, "@400000006b07390e1f43b72c\t102\t192.0.2.2\t1/15\n"
                                 "@400000006b0739111f43b72c\t102\t192.0.2.2\tspamassassin\tYes, score=9.0 "
                                 "required=5.0\t<x@needle.example>\t<c@d>\tno\\x09thanks\n"
                                 "@400000006b0739131f43b72c\t102\t192.0.2.2\t0.250 sec.\n");
    ck_assert_uint_eq(qps_join_ended_early(j), 0);
    qps_join_free(j);
    qps_buf_release(&s.out);
}
END_TEST

START_TEST(lines_mode_and_range)
{
    sink s = {{0}};
    /* a label's seconds minus 2^62 + 10 are the unix time */
    qps_join_opts o = {.mode = QPS_JOIN_LINES, .match = contains, .match_ctx = "connection_time", .emit = collect,
                       .emit_ctx = &s, .has_since = 1, .since = 0x6b073913 - 10};
    qps_join *j = qps_join_new(&o);
    ck_assert_int_eq(feed(j, two_conns, 7), QPS_OK);
    ck_assert_int_eq(qps_join_finish(j), QPS_OK);
    /* only the last line is inside the range; 102's accept was not seen */
    ck_assert_str_eq(s.out.data, "102\t-\t0.250 sec.\n");
    qps_join_free(j);
    qps_buf_release(&s.out);
}
END_TEST

/* n connections that never end, each with a matching record */
static void open_conns(qps_join *j, int n, int records)
{
    char line[512];
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof line, L("6b07390d", "%d Accepted connection 0/15 from 10.0.%d.%d / x"), 1000 + i,
                 i / 256, i % 256);
        ck_assert_int_eq(qps_join_line(j, line, strlen(line)), QPS_OK);
        for (int r = 0; r < records; r++) {
            snprintf(line, sizeof line,
                     L("6b07390e", "%d (deny) logging::logterse: ` 10.0.%d.%d\tx\tx\t<a@b>\t<c@d>\tdnsbl\t550\t"
                                   "record %d of %d\t"),
                     1000 + i, i / 256, i % 256, r, 1000 + i);
            ck_assert_int_eq(qps_join_line(j, line, strlen(line)), QPS_OK);
        }
    }
}

START_TEST(bounded_connections)
{
    sink s = {{0}};
    qps_join_opts o = {.mode = QPS_JOIN_CONNECTIONS, .emit = collect, .emit_ctx = &s, .max_conns = 3};
    qps_join *j = qps_join_new(&o);
    open_conns(j, 5, 1);
    /* the two oldest were ended early, whole, in order */
    ck_assert_uint_eq(qps_join_ended_early(j), 2);
    ck_assert_uint_eq(s.lines, 4);
    ck_assert_ptr_nonnull(strstr(s.out.data, "1000\t10.0.0.0\t0/15\n1000\t10.0.0.0\tdnsbl"));
    ck_assert_ptr_nonnull(strstr(s.out.data, "record 0 of 1001\n"));
    ck_assert_int_eq(qps_join_finish(j), QPS_OK);
    ck_assert_uint_eq(s.lines, 10); /* every event once */
    qps_join_free(j);
    qps_buf_release(&s.out);
}
END_TEST

START_TEST(bounded_memory)
{
    sink s = {{0}};
    qps_join_opts o = {.mode = QPS_JOIN_CONNECTIONS, .emit = collect, .emit_ctx = &s, .max_memory = 16384};
    qps_join *j = qps_join_new(&o);
    /* one connection alone outgrows the budget: it is written and starts
     * again; with many, the oldest go first */
    open_conns(j, 1, 400);
    ck_assert_uint_gt(qps_join_ended_early(j), 0);
    uint64_t early = qps_join_ended_early(j);
    open_conns(j, 200, 2);
    ck_assert_uint_gt(qps_join_ended_early(j), early);
    ck_assert_int_eq(qps_join_finish(j), QPS_OK);
    ck_assert_uint_eq(s.lines, 401 + 200 * 3); /* nothing lost, nothing doubled */
    qps_join_free(j);
    qps_buf_release(&s.out);
}
END_TEST

START_TEST(failing_sink)
{
    sink s = {.fail_after = 1};
    qps_join_opts o = {.mode = QPS_JOIN_ALL, .emit = collect, .emit_ctx = &s};
    qps_join *j = qps_join_new(&o);
    ck_assert_int_eq(qps_join_line(j, two_conns[0], strlen(two_conns[0])), QPS_OK);
    ck_assert_int_eq(qps_join_line(j, two_conns[1], strlen(two_conns[1])), QPS_EIO);
    ck_assert_int_eq(qps_join_line(j, two_conns[3], strlen(two_conns[3])), QPS_EIO);
    qps_join_free(j);
    qps_buf_release(&s.out);
    qps_join_opts none = {0};
    ck_assert_ptr_null(qps_join_new(&none));
    ck_assert_ptr_null(qps_join_new(NULL));
}
END_TEST

int main(void)
{
    setenv("TZ", "UTC", 1);
    Suite *s = suite_create("conn");
    TCase *t = tcase_create("joiner");
    tcase_add_test(t, layout_all);
    tcase_add_test(t, connections_mode_and_stamps);
    tcase_add_test(t, lines_mode_and_range);
    tcase_add_test(t, bounded_connections);
    tcase_add_test(t, bounded_memory);
    tcase_add_test(t, failing_sink);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
