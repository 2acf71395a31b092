/*
 * check_reader.c - unit tests of the reader (core/reader.c): plain and
 * gzip by content, members, plain text after gzip, a truncated .gz and a
 * bad CRC (intact data first, then the error), read errors, FIFOs and
 * devices refused without blocking, streams.
 */
#include "qpstat.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static char dir[] = "/tmp/check_reader.XXXXXX";

static char *path_of(const char *name)
{
    static char buf[4][256];
    static int i;
    char *p = buf[i++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static void spew(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(path_of(name), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* One gzip member of data; *out is malloc'ed. */
static size_t gzip(const char *data, size_t len, unsigned char **out)
{
    z_stream z = {0};
    ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, len) + 64;
    *out = malloc(cap);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = *out;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return n;
}

/* Lines of log-like text, `n` bytes. */
static char *text(size_t n)
{
    char *t = malloc(n);
    for (size_t i = 0; i < n; i++)
        t[i] = (i % 61 == 60) ? '\n' : (char)('a' + (i * 7 + i / 61) % 26);
    return t;
}

/* Everything a reader gives until it ends or fails; *st is how. */
static char *slurp(qps_reader *r, size_t *len, qps_status *st)
{
    size_t cap = 1 << 16, n = 0;
    char *all = malloc(cap);
    const char *chunk;
    size_t got;
    while ((*st = qps_reader_read(r, &chunk, &got)) == QPS_OK && got) {
        while (n + got > cap)
            all = realloc(all, cap *= 2);
        memcpy(all + n, chunk, got);
        n += got;
    }
    *len = n;
    return all;
}

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    strcpy(dir, "/tmp/check_reader.XXXXXX");
}

START_TEST(plain_and_gzip_by_content)
{
    size_t n = 3 << 20;
    char *t = text(n);
    unsigned char *z;
    size_t zn = gzip(t, n, &z);
    spew("plain.log", t, n);
    spew("packed.log", z, zn); /* no .gz: the content decides */
    qps_reader *r = qps_reader_new();
    const char *names[] = {"plain.log", "packed.log"};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(qps_reader_open(r, path_of(names[i]), QPS_READ_REGULAR), QPS_OK);
        qps_reader_info info;
        qps_reader_get_info(r, &info);
        ck_assert_int_eq(info.regular, 1);
        ck_assert_int_eq(info.gzip, i);
        size_t len;
        qps_status st;
        char *got = slurp(r, &len, &st);
        ck_assert_int_eq(st, QPS_OK);
        ck_assert_uint_eq(len, n);
        ck_assert_int_eq(memcmp(got, t, n), 0);
        ck_assert_int_eq(qps_reader_close(r), QPS_OK);
        free(got);
    }
    qps_reader_free(r);
    free(t);
    free(z);
}
END_TEST

/* Two members, then plain text: all three parts, in order. */
START_TEST(members_then_plain_text)
{
    unsigned char *a, *b;
    size_t an = gzip("first\n", 6, &a), bn = gzip("second\n", 7, &b);
    const char tail[] = "plain after gzip\nno newline";
    size_t n = an + bn + sizeof tail - 1;
    unsigned char *all = malloc(n);
    memcpy(all, a, an);
    memcpy(all + an, b, bn);
    memcpy(all + an + bn, tail, sizeof tail - 1);
    spew("mixed.gz", all, n);
    qps_reader *r = qps_reader_new();
    ck_assert_int_eq(qps_reader_open(r, path_of("mixed.gz"), 0), QPS_OK);
    size_t len;
    qps_status st;
    char *got = slurp(r, &len, &st);
    ck_assert_int_eq(st, QPS_OK);
    const char want[] = "first\nsecond\nplain after gzip\nno newline";
    ck_assert_uint_eq(len, sizeof want - 1);
    ck_assert_mem_eq(got, want, len);
    free(got);
    qps_reader_free(r);
    free(a), free(b), free(all);
}
END_TEST

/* A .gz cut in the middle: what was intact comes, then QPS_ETRUNCATED,
 * again at every later read. */
START_TEST(truncated_gzip)
{
    size_t n = 4 << 20;
    char *t = text(n);
    unsigned char *z;
    size_t zn = gzip(t, n, &z);
    spew("cut.gz", z, zn / 2);
    qps_reader *r = qps_reader_new();
    ck_assert_int_eq(qps_reader_open(r, path_of("cut.gz"), QPS_READ_REGULAR), QPS_OK);
    size_t len;
    qps_status st;
    char *got = slurp(r, &len, &st);
    ck_assert_int_eq(st, QPS_ETRUNCATED);
    ck_assert_uint_gt(len, n / 4);
    ck_assert_uint_lt(len, n);
    ck_assert_int_eq(memcmp(got, t, len), 0);
    const char *chunk;
    size_t more;
    ck_assert_int_eq(qps_reader_read(r, &chunk, &more), QPS_ETRUNCATED);
    ck_assert_uint_eq(more, 0);
    ck_assert_ptr_nonnull(strstr(qps_reader_error(r), "end of gzip"));
    free(got);
    /* the reader goes on with the next file */
    spew("ok.log", "x\n", 2);
    ck_assert_int_eq(qps_reader_open(r, path_of("ok.log"), 0), QPS_OK);
    got = slurp(r, &len, &st);
    ck_assert_int_eq(st, QPS_OK);
    ck_assert_uint_eq(len, 2);
    free(got);
    qps_reader_free(r);
    free(t);
    free(z);
}
END_TEST

/* A bad CRC in the trailer: every byte comes (nothing before it is
 * dropped), then QPS_ECORRUPT. */
START_TEST(bad_crc_keeps_the_data)
{
    size_t n = (3 << 20) + 12345;
    char *t = text(n);
    unsigned char *z;
    size_t zn = gzip(t, n, &z);
    z[zn - 8] ^= 0x55; /* the CRC32 */
    spew("crc.gz", z, zn);
    qps_reader *r = qps_reader_new();
    ck_assert_int_eq(qps_reader_open(r, path_of("crc.gz"), 0), QPS_OK);
    size_t len;
    qps_status st;
    char *got = slurp(r, &len, &st);
    ck_assert_int_eq(st, QPS_ECORRUPT);
    ck_assert_uint_eq(len, n);
    ck_assert_int_eq(memcmp(got, t, n), 0);
    ck_assert_ptr_nonnull(strstr(qps_reader_error(r), "CRC"));
    free(got);
    qps_reader_free(r);
    free(t);
    free(z);
}
END_TEST

START_TEST(read_errors)
{
    qps_reader *r = qps_reader_new();
    ck_assert_int_eq(mkdir(path_of("current"), 0755), 0);
    ck_assert_int_eq(qps_reader_open(r, path_of("current"), 0), QPS_EREAD);
    ck_assert_int_eq(qps_reader_errno(r), EISDIR);
    const char *chunk;
    size_t len;
    ck_assert_int_eq(qps_reader_read(r, &chunk, &len), QPS_EREAD);
    ck_assert_int_eq(qps_reader_open(r, path_of("missing"), 0), QPS_EREAD);
    ck_assert_int_eq(qps_reader_errno(r), ENOENT);
    ck_assert_int_eq(qps_reader_adopt(r, -1, 0), QPS_EINVAL);
    qps_reader_free(r);
    qps_reader_free(NULL);
}
END_TEST

/* Found in a directory, a FIFO or a device is refused at once: never
 * waited for (a FIFO without a writer would block the open), never read. */
START_TEST(special_files_refused_without_blocking)
{
    ck_assert_int_eq(mkfifo(path_of("fifo"), 0644), 0);
    qps_reader *r = qps_reader_new();
    alarm(20); /* a blocking open fails the test instead of hanging it */
    ck_assert_int_eq(qps_reader_open(r, path_of("fifo"), QPS_READ_REGULAR), QPS_EREAD);
    ck_assert_int_eq(qps_reader_errno(r), ENODEV);
    ck_assert_int_eq(qps_reader_open(r, "/dev/zero", QPS_READ_REGULAR), QPS_EREAD);
    ck_assert_int_eq(qps_reader_errno(r), ENODEV);
    int fd;
    ck_assert_int_eq(qps_open_log(path_of("fifo"), QPS_READ_REGULAR, &fd), QPS_EREAD);
    ck_assert_int_eq(fd, -1);
    alarm(0);
    /* named on purpose, a device is read as a stream */
    ck_assert_int_eq(qps_reader_open(r, "/dev/zero", 0), QPS_OK);
    const char *chunk;
    size_t len;
    ck_assert_int_eq(qps_reader_read(r, &chunk, &len), QPS_OK);
    ck_assert_uint_gt(len, 0);
    ck_assert_int_eq(chunk[0], 0);
    qps_reader_free(r);
}
END_TEST

/* A pipe: gzip is recognised from its first bytes. */
START_TEST(gzip_stream_from_a_pipe)
{
    unsigned char *z;
    size_t zn = gzip("piped line\n", 11, &z);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        /* byte by byte: the magic is split across reads */
        for (size_t i = 0; i < zn; i++)
            if (write(p[1], z + i, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(p[1]);
    qps_reader *r = qps_reader_new();
    ck_assert_int_eq(qps_reader_adopt(r, p[0], 1), QPS_OK);
    size_t len;
    qps_status st;
    char *got = slurp(r, &len, &st);
    ck_assert_int_eq(st, QPS_OK);
    ck_assert_uint_eq(len, 11);
    ck_assert_mem_eq(got, "piped line\n", 11);
    qps_reader_info info;
    qps_reader_get_info(r, &info);
    ck_assert_int_eq(info.gzip, 1);
    ck_assert_int_eq(info.regular, 0);
    ck_assert_int_eq(qps_reader_close(r), QPS_OK);
    waitpid(pid, NULL, 0);
    free(got);
    free(z);
    qps_reader_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reader");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, plain_and_gzip_by_content);
    tcase_add_test(tc, members_then_plain_text);
    tcase_add_test(tc, truncated_gzip);
    tcase_add_test(tc, bad_crc_keeps_the_data);
    tcase_add_test(tc, read_errors);
    tcase_add_test(tc, special_files_refused_without_blocking);
    tcase_add_test(tc, gzip_stream_from_a_pipe);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
