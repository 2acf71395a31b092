/*
 * check_escape.c - unit tests of the escaping policies (escape.c) through
 * the public header: terminal text, its width and cut, CSV, JSON, JSON
 * numbers, HTML and Prometheus label values, on the bytes an attacker can put in a log field.
 */
#include "qpstat.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef void (*escaper)(qps_buf *, const char *, size_t);

/* The escaped form of s as a string the test frees. */
static char *esc(escaper fn, const char *s, size_t len)
{
    qps_buf b = {0};
    fn(&b, s, len);
    ck_assert(!b.failed);
    return b.data ? b.data : strdup("");
}

#define ESC_EQ(fn, in, want)                                                                                          \
    do {                                                                                                              \
        char *got_ = esc(fn, in, sizeof in - 1);                                                                      \
        ck_assert_str_eq(got_, want);                                                                                 \
        free(got_);                                                                                                   \
    } while (0)

START_TEST(text_c0_del_and_backslash)
{
    ESC_EQ(qps_escape_text, "a\x1b[2Jb\x07\x7f\t\r\n", "a\\x1b[2Jb\\x07\\x7f\\x09\\x0d\\x0a");
    /* an attacker's literal "\x1b" must not read like an escaped ESC */
    ESC_EQ(qps_escape_text, "\\x1b", "\\\\x1b");
    ESC_EQ(qps_escape_text, "a\0b", "a\\x00b");
}
END_TEST

START_TEST(text_c1_raw_and_utf8)
{
    /* raw 0x9b (a CSI on 8-bit terminals) and U+009B encoded in UTF-8 */
    ESC_EQ(qps_escape_text, "\x9b" "31m", "\\x9b31m");
    ESC_EQ(qps_escape_text, "\xc2\x9b" "31m", "\\xc2\\x9b31m");
    ESC_EQ(qps_escape_text, "\xc2\x80\xc2\x9f\xc2\xa0", "\\xc2\\x80\\xc2\\x9f\xc2\xa0"); /* U+00A0 is text */
}
END_TEST

START_TEST(text_invalid_utf8)
{
    ESC_EQ(qps_escape_text, "\xff\xfe", "\\xff\\xfe");
    ESC_EQ(qps_escape_text, "\xc3\x28", "\\xc3(");            /* a lead byte without its continuation */
    ESC_EQ(qps_escape_text, "\xc0\xaf", "\\xc0\\xaf");        /* overlong '/' */
    ESC_EQ(qps_escape_text, "\xed\xa0\x80", "\\xed\\xa0\\x80"); /* a surrogate */
    ESC_EQ(qps_escape_text, "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* above U+10FFFF */
    ESC_EQ(qps_escape_text, "\xe2\x82", "\\xe2\\x82");        /* cut at the end */
    ESC_EQ(qps_escape_text, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}
END_TEST

START_TEST(text_layout_controls)
{
    ESC_EQ(qps_escape_text, "gpj\xe2\x80\xae" "exe", "gpj\\u{202e}exe");
    ESC_EQ(qps_escape_text, "\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad",
           "\\u{202a}\\u{202b}\\u{202c}\\u{202d}");
    ESC_EQ(qps_escape_text, "\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9",
           "\\u{2066}\\u{2067}\\u{2068}\\u{2069}");
    ESC_EQ(qps_escape_text, "\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", "\\u{200e}\\u{200f}\\u{061c}");
    ESC_EQ(qps_escape_text, "a\xe2\x80\xa8" "b\xe2\x80\xa9", "a\\u{2028}b\\u{2029}");
    /* neighbours are text */
    ESC_EQ(qps_escape_text, "\xe2\x80\xa9\xe2\x80\xaf\xe2\x80\x8d", "\\u{2029}\xe2\x80\xaf\xe2\x80\x8d");
}
END_TEST

START_TEST(text_width_and_cut)
{
    ck_assert_uint_eq(qps_text_width("caf\xc3\xa9", 5), 4);
    ck_assert_uint_eq(qps_text_width("\x1b", 1), 4);
    ck_assert_uint_eq(qps_text_width("\\", 1), 2);
    ck_assert_uint_eq(qps_text_width("\xe2\x80\xae", 3), 8);
    ck_assert_uint_eq(qps_text_width("\xc2\x9b", 2), 8);
    qps_buf b = {0};
    /* "ab" fits, the \x1b escape (4 columns) would not fit in 5: cut before it */
    ck_assert_uint_eq(qps_escape_text_cut(&b, "ab\x1b" "cd", 5, 5), 2);
    ck_assert_str_eq(b.data, "ab");
    qps_buf_release(&b);
    ck_assert_uint_eq(qps_escape_text_cut(&b, "ab\x1b" "cd", 5, 7), 7);
    ck_assert_str_eq(b.data, "ab\\x1bc");
    qps_buf_release(&b);
    ck_assert_uint_eq(qps_escape_text_cut(&b, "caf\xc3\xa9", 5, 4), 4);
    ck_assert_str_eq(b.data, "caf\xc3\xa9");
    qps_buf_release(&b);
}
END_TEST

START_TEST(csv_rfc4180_and_formulas)
{
    ESC_EQ(qps_escape_csv, "plain", "plain");
    ESC_EQ(qps_escape_csv, "a,\"b\"", "\"a,\"\"b\"\"\"");
    ESC_EQ(qps_escape_csv, " lead", "\" lead\"");
    ESC_EQ(qps_escape_csv, "=1+2", "'=1+2");
    ESC_EQ(qps_escape_csv, "+cmd|calc", "'+cmd|calc");
    ESC_EQ(qps_escape_csv, "-2+3", "'-2+3");
    ESC_EQ(qps_escape_csv, "@SUM(A1:A9)", "'@SUM(A1:A9)");
    /* after the blanks a spreadsheet skips, escaped as in text */
    ESC_EQ(qps_escape_csv, "  =1+2", "'  =1+2"); /* the quote comes first: no leading blank left */
    ESC_EQ(qps_escape_csv, "\t=1", "'\\x09=1");
    ESC_EQ(qps_escape_csv, "\r@x", "'\\x0d@x");
    ESC_EQ(qps_escape_csv, "=HYPERLINK(\"u\",\"v\")", "\"'=HYPERLINK(\"\"u\"\",\"\"v\"\")\"");
    ESC_EQ(qps_escape_csv, "a=1", "a=1");
    ESC_EQ(qps_escape_csv, "gpj\xe2\x80\xae" "exe", "gpj\\u{202e}exe");
    ESC_EQ(qps_escape_csv, "", "");
}
END_TEST

START_TEST(json_strings)
{
    ESC_EQ(qps_escape_json, "a\"b\\c\n\r\t\x01\x7f", "a\\\"b\\\\c\\n\\r\\t\\u0001\\u007f");
    /* an invalid byte is \u00NN of the byte (its Latin-1 reading) */
    ESC_EQ(qps_escape_json, "\xff\x9b\xc3\xa9", "\\u00ff\\u009b\xc3\xa9");
    ESC_EQ(qps_escape_json, "\xc2\x9b", "\\u009b");
    ESC_EQ(qps_escape_json, "\xe2\x80\xae\xe2\x80\xa8\xe2\x80\xa9\xd8\x9c", "\\u202e\\u2028\\u2029\\u061c");
    ESC_EQ(qps_escape_json, "=1+2 \xf0\x9f\x98\x80", "=1+2 \xf0\x9f\x98\x80");
}
END_TEST

START_TEST(json_numbers)
{
    qps_buf b = {0};
    qps_json_number(&b, 1.5, 3);
    qps_buf_putc(&b, ',');
    qps_json_number(&b, strtod("1e400", NULL), 3);
    qps_buf_putc(&b, ',');
    qps_json_number(&b, -HUGE_VAL, 2);
    qps_buf_putc(&b, ',');
    qps_json_number(&b, nan(""), 2);
    qps_buf_putc(&b, ',');
    qps_json_number(&b, -2.75, 2);
    ck_assert_str_eq(b.data, "1.500,null,null,null,-2.75");
    qps_buf_release(&b);
}
END_TEST

START_TEST(html)
{
    ESC_EQ(qps_escape_html, "<a href=\"x\" title='y'>&amp;</a>",
           "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
    ESC_EQ(qps_escape_html, "\x1b[2J\xc2\x9b\xe2\x80\xae\xff\\caf\xc3\xa9", "\\x1b[2J\\xc2\\x9b\\u{202e}\\xff\\\\caf\xc3\xa9");
}
END_TEST

START_TEST(prometheus_labels)
{
    ESC_EQ(qps_escape_label, "queued", "queued");
    /* the format's escapes over the text policy's: a backslash is doubled
     * twice, a quote escaped, a newline already \x0a */
    ESC_EQ(qps_escape_label, "a\"b\\c", "a\\\"b\\\\\\\\c");
    ESC_EQ(qps_escape_label, "x\ny\x1b[31m", "x\\\\x0ay\\\\x1b[31m");
    ESC_EQ(qps_escape_label, "\x9b\xe2\x80\xae", "\\\\x9b\\\\u{202e}");
    /* one-to-one: a value that looks escaped stays apart from the escape */
    char *a = esc(qps_escape_label, "\x1b", 1), *b = esc(qps_escape_label, "\\x1b", 4);
    ck_assert_str_ne(a, b);
    free(a);
    free(b);
}
END_TEST

START_TEST(buf_is_nul_terminated)
{
    qps_buf b = {0};
    qps_buf_append(&b, "abc", 3);
    ck_assert_str_eq(b.data, "abc");
    qps_buf_putc(&b, 'd');
    ck_assert_str_eq(b.data, "abcd");
    qps_buf_printf(&b, "%d", 42);
    ck_assert_str_eq(b.data, "abcd42");
    ck_assert_uint_eq(b.len, 6);
    qps_buf_release(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
}
END_TEST

static Suite *escape_suite(void)
{
    Suite *s = suite_create("escape");
    TCase *t = tcase_create("text");
    tcase_add_test(t, text_c0_del_and_backslash);
    tcase_add_test(t, text_c1_raw_and_utf8);
    tcase_add_test(t, text_invalid_utf8);
    tcase_add_test(t, text_layout_controls);
    tcase_add_test(t, text_width_and_cut);
    suite_add_tcase(s, t);
    TCase *o = tcase_create("other formats");
    tcase_add_test(o, csv_rfc4180_and_formulas);
    tcase_add_test(o, json_strings);
    tcase_add_test(o, json_numbers);
    tcase_add_test(o, html);
    tcase_add_test(o, prometheus_labels);
    tcase_add_test(o, buf_is_nul_terminated);
    suite_add_tcase(s, o);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(escape_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
