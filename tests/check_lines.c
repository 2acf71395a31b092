/*
 * check_lines.c - unit tests of the line splitter (core/lines.c): lines in
 * one chunk are not copied, chunking is invisible, an over-long line is
 * one line however it is cut, offsets count complete lines.
 */
#include "qpstat.h"
#include "qps_private.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *text; /* the lines joined by '|', over-long ones as "<LONG n>" */
    size_t len, cap;
    size_t nlines, nlong;
} collected;

static int collect(void *ctx, const char *line, size_t len)
{
    collected *c = ctx;
    char tmp[64];
    const char *add = line;
    size_t n = len;
    if (len > QPS_LINE_MAX) {
        ck_assert_uint_eq(len, QPS_LINE_MAX + 1);
        n = (size_t)snprintf(tmp, sizeof tmp, "<LONG %c>", line[0]);
        add = tmp;
        c->nlong++;
    }
    if (c->len + n + 2 > c->cap) {
        c->cap = (c->len + n + 2) * 2;
        c->text = realloc(c->text, c->cap);
    }
    memcpy(c->text + c->len, add, n);
    c->len += n;
    c->text[c->len++] = '|';
    c->text[c->len] = '\0';
    c->nlines++;
    return 0;
}

/* Splits data cut into chunks of `step` bytes. */
static collected split(const char *data, size_t len, size_t step, uint64_t *offset)
{
    collected c = {0};
    qps_lines *l = qps_lines_new();
    ck_assert_ptr_nonnull(l);
    for (size_t off = 0; off < len; off += step)
        ck_assert_int_eq(qps_lines_split(l, data + off, off + step < len ? step : len - off, collect, &c), 0);
    if (offset)
        *offset = qps_lines_offset(l);
    ck_assert_int_eq(qps_lines_finish(l, collect, &c), 0);
    qps_lines_free(l);
    if (!c.text)
        c.text = strdup("");
    return c;
}

/* The inline byte search (every field and line end is found with it)
 * equals a plain loop for every span of a 48-byte buffer and every place
 * of the byte, the spans copied to buffers of their exact size so that a
 * read past either end shows under ASan and valgrind. */
START_TEST(find_byte_equals_a_loop)
{
    char base[48];
    for (int i = 0; i < 48; i++)
        base[i] = (char)('a' + i % 26);
    for (int at = -1; at < 48; at++) {
        char text[48];
        memcpy(text, base, sizeof text);
        if (at >= 0)
            text[at] = '\n';
        if (at >= 0 && at + 5 < 48)
            text[at + 5] = '\n'; /* a second one after the first */
        for (size_t from = 0; from <= 48; from++)
            for (size_t to = from; to <= 48; to++) {
                size_t n = to - from;
                char *span = malloc(n ? n : 1);
                ck_assert_ptr_nonnull(span);
                memcpy(span, text + from, n);
                for (size_t skip = 0; skip <= n; skip++) { /* searches that start inside the span */
                    const char *want = NULL;
                    for (size_t k = skip; k < n && !want; k++)
                        if (span[k] == '\n')
                            want = span + k;
                    const char *got = qps_find_byte(span + skip, span + n, '\n');
                    ck_assert_msg(got == want, "at %d, span [%zu, %zu) from %zu: got %td, want %td", at, from, to,
                                  skip, got ? got - span : -1, want ? want - span : -1);
                }
                free(span);
            }
    }
}
END_TEST

START_TEST(lines_in_a_chunk_are_borrowed)
{
    const char data[] = "one\ntwo\n\nthree";
    qps_lines *l = qps_lines_new();
    qps_str line;
    ck_assert_int_eq(qps_lines_feed(l, data, sizeof data - 1), QPS_OK);
    ck_assert_int_eq(qps_lines_next(l, &line), 1);
    ck_assert_ptr_eq(line.ptr, data);
    ck_assert_uint_eq(line.len, 3);
    ck_assert_int_eq(qps_lines_next(l, &line), 1);
    ck_assert_ptr_eq(line.ptr, data + 4);
    ck_assert_int_eq(qps_lines_next(l, &line), 1);
    ck_assert_uint_eq(line.len, 0); /* an empty line is a line */
    ck_assert_int_eq(qps_lines_next(l, &line), 0); /* "three" waits for its newline */
    ck_assert_int_eq(qps_lines_feed(l, "x\n", 2), QPS_OK);
    ck_assert_int_eq(qps_lines_next(l, &line), 1);
    ck_assert_uint_eq(line.len, 6);
    ck_assert_mem_eq(line.ptr, "threex", 6);
    ck_assert_uint_eq(qps_lines_offset(l), sizeof data - 1 + 2);
    ck_assert_int_eq(qps_lines_feed(l, "ab\ncd\n", 6), QPS_OK);
    ck_assert_int_eq(qps_lines_next(l, &line), 1);
    /* a chunk before the last one is used up is refused */
    ck_assert_int_eq(qps_lines_feed(l, "zz", 2), QPS_EINVAL);
    ck_assert_int_eq(qps_lines_end(l, &line), 0);
    qps_lines_free(l);
    qps_lines_free(NULL);
}
END_TEST

START_TEST(chunking_is_invisible)
{
    const char data[] = "a\nbb\n\nccc\ndddd\ne";
    collected want = split(data, sizeof data - 1, sizeof data, NULL);
    ck_assert_str_eq(want.text, "a|bb||ccc|dddd|e|");
    for (size_t step = 1; step < sizeof data; step++) {
        uint64_t off;
        collected got = split(data, sizeof data - 1, step, &off);
        ck_assert_str_eq(got.text, want.text);
        ck_assert_uint_eq(off, sizeof data - 2); /* "e" has no newline: not complete */
        free(got.text);
    }
    free(want.text);
}
END_TEST

/* A line of QPS_LINE_MAX bytes is a line; one byte more is too long: one
 * line, handed out as its head, whatever the chunks. */
START_TEST(over_long_line_is_one_line)
{
    size_t big = 3 * (size_t)QPS_LINE_MAX + 17;
    size_t len = 2 + QPS_LINE_MAX + 1 + big + 1 + (QPS_LINE_MAX + 1) + 1 + 4;
    char *data = malloc(len);
    char *p = data;
    memcpy(p, "a\n", 2), p += 2;
    memset(p, 'M', QPS_LINE_MAX), p += QPS_LINE_MAX, *p++ = '\n';
    memset(p, 'L', big), p += big, *p++ = '\n';
    memset(p, 'K', QPS_LINE_MAX + 1), p += QPS_LINE_MAX + 1, *p++ = '\n';
    memcpy(p, "end\n", 4), p += 4;
    ck_assert_uint_eq((size_t)(p - data), len);
    static const size_t steps[] = {1, 7, 4096, 65535, 65536, 65537, 100000, 1 << 20};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        uint64_t off;
        collected c = split(data, len, steps[i], &off);
        ck_assert_uint_eq(c.nlines, 5);
        ck_assert_uint_eq(c.nlong, 2);
        ck_assert_uint_eq(off, len);
        /* the M line (exactly QPS_LINE_MAX) came whole */
        ck_assert_uint_eq(c.len, 2 + QPS_LINE_MAX + 1 + strlen("<LONG L>|<LONG K>|end|"));
        ck_assert_str_eq(c.text + 2 + QPS_LINE_MAX + 1, "<LONG L>|<LONG K>|end|");
        free(c.text);
    }
    free(data);
}
END_TEST

/* A stream that never has a newline (/dev/zero) is one line, held no
 * further than the cap. */
START_TEST(endless_line_is_bounded)
{
    qps_lines *l = qps_lines_new();
    char *chunk = calloc(1, 1 << 16);
    collected c = {0};
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(qps_lines_split(l, chunk, 1 << 16, collect, &c), 0);
    ck_assert_uint_eq(c.nlines, 1);
    ck_assert_int_eq(qps_lines_finish(l, collect, &c), 0);
    ck_assert_uint_eq(c.nlines, 1); /* the skipped rest is not a second line */
    ck_assert_uint_eq(qps_lines_offset(l), 0);
    /* the splitter is ready for the next stream */
    ck_assert_int_eq(qps_lines_split(l, "x\n", 2, collect, &c), 0);
    ck_assert_uint_eq(c.nlines, 2);
    free(c.text);
    free(chunk);
    qps_lines_free(l);
}
END_TEST

static int stop_at_two(void *ctx, const char *line, size_t len)
{
    (void)line, (void)len;
    return ++*(int *)ctx == 2 ? 7 : 0;
}

START_TEST(callback_stops)
{
    qps_lines *l = qps_lines_new();
    int n = 0;
    ck_assert_int_eq(qps_lines_split(l, "a\nb\nc\n", 6, stop_at_two, &n), 7);
    ck_assert_int_eq(n, 2);
    /* the rest of the chunk was dropped: a new chunk is taken */
    ck_assert_int_eq(qps_lines_feed(l, "d\n", 2), QPS_OK);
    qps_lines_free(l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lines");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, lines_in_a_chunk_are_borrowed);
    tcase_add_test(tc, chunking_is_invisible);
    tcase_add_test(tc, over_long_line_is_one_line);
    tcase_add_test(tc, endless_line_is_bounded);
    tcase_add_test(tc, callback_stops);
    tcase_add_test(tc, find_byte_equals_a_loop);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
