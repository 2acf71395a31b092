/*
 * check_render.c - unit tests of qps_render.c and qps_escape.c. White-box:
 * it includes qps_private.h to test the escapers directly.
 */
#include "qps_private.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char data[1 << 16];
    size_t len;
} capture;

static int capture_write(void *ctx, const char *buf, size_t len)
{
    capture *c = ctx;
    if (c->len + len >= sizeof c->data)
        return -1;
    memcpy(c->data + c->len, buf, len);
    c->len += len;
    c->data[c->len] = '\0';
    return 0;
}

static int failing_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx, (void)buf, (void)len;
    return -1;
}

static char *escaped(void (*fn)(qps_buf *, const char *, size_t), const char *s, size_t len)
{
    qps_buf b = {0};
    fn(&b, s, len);
    qps_buf_putc(&b, '\0');
    return b.data;
}

START_TEST(text_escaping)
{
    static const char evil[] = "evil\x1b[2Jhelo\\ok\xff caf\xc3\xa9 \xc2\x9b";
    char *e = escaped(qps_escape_text, evil, sizeof evil - 1);
    ck_assert_str_eq(e, "evil\\x1b[2Jhelo\\\\ok\\xff caf\xc3\xa9 \\xc2\\x9b");
    free(e);
    ck_assert_uint_eq(qps_text_width("caf\xc3\xa9", 5), 4);
    ck_assert_uint_eq(qps_text_width("\x1b", 1), 4);
}
END_TEST

START_TEST(json_escaping)
{
    static const char evil[] = "a\"b\\c\n\t\x01\xff\xc3\xa9";
    char *e = escaped(qps_escape_json, evil, sizeof evil - 1);
    ck_assert_str_eq(e, "a\\\"b\\\\c\\n\\t\\u0001\\u00ff\xc3\xa9");
    free(e);
}
END_TEST

START_TEST(csv_escaping)
{
    char *e = escaped(qps_escape_csv, "plain", 5);
    ck_assert_str_eq(e, "plain");
    free(e);
    e = escaped(qps_escape_csv, "a,\"b\"\r\n", 7);
    ck_assert_str_eq(e, "\"a,\"\"b\"\"\\x0d\\x0a\"");
    free(e);
}
END_TEST

static qps_agg *agg_of(const char *const *lines, size_t n)
{
    qps_agg *agg = qps_agg_new(NULL);
    for (size_t i = 0; i < n; i++)
        qps_agg_add_line(agg, lines[i], strlen(lines[i]));
    return agg;
}

static const char *const mixed[] = {
    "@400000006b07390d1f43b72c 1 (queue) logging::logterse: ` 1.1.1.1\th\th\t<a@b.com>\t<r@x.org>\tqueued\t\t<id>\tNo, score=-1.0 required=5.0",
    "@400000006b07390d1f43b72c 2 (queue) logging::logterse: ` 1.1.1.1\th\th\t<a@b.com>\t<r@x.org>\tqueued\t\t<id>\tNo, score=-1.0 required=5.0",
    "@400000006b07390d1f43b72c 3 (deny) logging::logterse: ` 2.2.2.2\th\tev\"il,\x1b[0m\t<>\t\tdnsbl\t901\tsee http://www.spamhaus.org/q\tmsg denied before queued",
    "@400000006b07390d1f43b72c 4 (deny) logging::logterse: ` 3.3.3.3\th\th\t\t\tearlytalker\t901\ttoo early\tmsg denied before queued",
};

START_TEST(csv_layout)
{
    qps_agg *agg = agg_of(mixed, 4);
    qps_dim dim = QPS_DIM_DISPOSITION;
    qps_render_opts o = {QPS_FORMAT_CSV, &dim, 1, 0, 0, NULL};
    capture c = {.len = 0};
    ck_assert_int_eq(qps_render(agg, &o, capture_write, &c), QPS_OK);
    ck_assert_str_eq(c.data, "disposition,count,percent\r\nqueued,2,50.00\r\ndnsbl,1,25.00\r\nearlytalker,1,25.00\r\n");
    dim = QPS_DIM_HELO;
    c.len = 0;
    ck_assert_int_eq(qps_render(agg, &o, capture_write, &c), QPS_OK);
    /* control bytes never reach a CSV file raw */
    ck_assert_str_eq(c.data, "helo,count,percent\r\nh,3,75.00\r\n\"ev\"\"il,\\x1b[0m\",1,25.00\r\n");
    qps_dim two[2] = {QPS_DIM_IP, QPS_DIM_HELO};
    o.dims = two;
    o.ndims = 2;
    ck_assert_int_eq(qps_render(agg, &o, capture_write, &c), QPS_EINVAL);
    qps_agg_free(agg);
}
END_TEST

START_TEST(text_never_prints_control_bytes)
{
    qps_agg *agg = agg_of(mixed, 4);
    qps_dim dim = QPS_DIM_HELO;
    qps_render_opts o = {QPS_FORMAT_TEXT, &dim, 1, 0, 0, NULL};
    capture c = {.len = 0};
    ck_assert_int_eq(qps_render(agg, &o, capture_write, &c), QPS_OK);
    ck_assert_ptr_null(strchr(c.data, '\x1b'));
    ck_assert_ptr_nonnull(strstr(c.data, "ev\"il,\\x1b[0m"));
    ck_assert_int_eq(qps_render(agg, &o, failing_write, NULL), QPS_EIO);
    qps_agg_free(agg);
}
END_TEST

START_TEST(json_layout)
{
    qps_agg *agg = agg_of(mixed, 4);
    qps_dim dims[2] = {QPS_DIM_DNSBL, QPS_DIM_CONNECTIONS};
    qps_render_opts o = {QPS_FORMAT_JSON, dims, 2, 0, 0, NULL};
    capture c = {.len = 0};
    ck_assert_int_eq(qps_render(agg, &o, capture_write, &c), QPS_OK);
    ck_assert_ptr_nonnull(strstr(c.data, "\"lines\":{\"read\":4,\"parsed\":4,\"invalid\":0,"));
    ck_assert_ptr_nonnull(strstr(c.data, "\"transactions\":4"));
    ck_assert_ptr_nonnull(strstr(c.data, "\"dnsbl\":{\"total\":1,\"approximate\":false,\"distinct\":1,\"rows\":"
                                         "[{\"dnsbl\":\"www.spamhaus.org\",\"count\":1,\"percent\":100.00}]}"));
    ck_assert_ptr_nonnull(strstr(c.data, "\"connections\":{\"accepted\":0,"));
    qps_agg_free(agg);
}
END_TEST

START_TEST(mail_layout)
{
    qps_agg *agg = agg_of(mixed, 4);
    qps_render_opts o = {QPS_FORMAT_MAIL, NULL, 0, 0, 0, "2026-11-25|2026-11-24"};
    capture c = {.len = 0};
    ck_assert_int_eq(qps_render(agg, &o, capture_write, &c), QPS_OK);
    /* the daily mail: its Subject, and the seed's table ending its text */
    ck_assert_ptr_nonnull(strstr(c.data, "\nSubject: Email Disposition on 2026-11-25|2026-11-24\n"));
    ck_assert_ptr_nonnull(strstr(c.data, "\nMIME-Version: 1.0\n"));
    const char *seed = strstr(c.data, "\n== Email Disposition on 2026-11-25|2026-11-24 ==\n");
    ck_assert_ptr_nonnull(seed);
    seed = strchr(seed + 1, '\n') + 1;
    const char *want =
        "Denying plugin or \"queued\"         TLD                     Count   Pct\n"
        "=================================  ====================  =======  =====\n"
        "dnsbl                              <>                          1\n"
        "                             dnsbl {Total}                     1 (25.0%)\n"
        "earlytalker                                                    1\n"
        "                       earlytalker {Total}                     1 (25.0%)\n"
        "queued                             com                         2\n"
        "                            queued {Total}                     2 (50.0%)\n"
        "                                   {{Total}}                   4 (100.0%)\n";
    ck_assert_msg(strcmp(seed, want) == 0, "the seed's table differs:\n%s", seed);
    qps_agg_free(agg);
}
END_TEST

static Suite *render_suite(void)
{
    Suite *s = suite_create("render");
    TCase *esc = tcase_create("escape");
    tcase_add_test(esc, text_escaping);
    tcase_add_test(esc, json_escaping);
    tcase_add_test(esc, csv_escaping);
    suite_add_tcase(s, esc);
    TCase *core = tcase_create("core");
    tcase_add_test(core, csv_layout);
    tcase_add_test(core, text_never_prints_control_bytes);
    tcase_add_test(core, json_layout);
    tcase_add_test(core, mail_layout);
    suite_add_tcase(s, core);
    return s;
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    SRunner *sr = srunner_create(render_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
