/*
 * cli_tai64n.c - "qpstat tai64n": a byte-for-byte replacement for
 * daemontools' tai64nlocal that does not crash.
 *
 * tai64nlocal reads every lowercase hex digit after a line's '@' into
 * (seconds, nanoseconds) with 64-bit shifts, subtracts 2^62 + 10 and prints
 * localtime() as "YYYY-MM-DD HH:MM:SS." plus at least 9 nanosecond digits,
 * then copies the rest of the line. It dereferences localtime()'s NULL for
 * a time it cannot represent (short, upper-case or non-hex labels) and dies
 * with SIGSEGV, losing its buffered output. Here such a label is copied
 * unchanged. Like tai64nlocal, a label cut off by the end of input prints
 * nothing.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OUT_SIZE (1 << 16)

typedef struct {
    char out[OUT_SIZE];
    size_t out_len;
    bool write_failed;
    enum { LINE_START, IN_LABEL, IN_BODY } state;
    uint64_t secs;
    uint32_t nanos;  /* tai64nlocal keeps 28 bits here between digits */
    char *label;     /* the raw label, to copy it when it cannot be shown */
    size_t label_len, label_cap;
    bool label_overflow; /* more raw bytes than kept: the label is shown or dropped */
    qps_tzcache tz;
    int64_t shown_sec;   /* the second whose text is in shown */
    char shown[32];      /* "YYYY-MM-DD HH:MM:SS." of shown_sec */
    size_t shown_len;
} filter;

static void out_flush(filter *f)
{
    size_t off = 0;
    while (off < f->out_len && !f->write_failed) {
        ssize_t n = write(STDOUT_FILENO, f->out + off, f->out_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            f->write_failed = true;
        else
            off += (size_t)n;
    }
    f->out_len = 0;
}

static void out_bytes(filter *f, const char *p, size_t n)
{
    while (n) {
        size_t room = OUT_SIZE - f->out_len;
        size_t k = n < room ? n : room;
        memcpy(f->out + f->out_len, p, k);
        f->out_len += k;
        p += k;
        n -= k;
        if (f->out_len == OUT_SIZE)
            out_flush(f);
    }
}

static void label_push(filter *f, char c)
{
    if (f->label_len == f->label_cap) {
        size_t cap = f->label_cap ? f->label_cap * 2 : 64;
        char *l = cap <= (1 << 20) ? realloc(f->label, cap) : NULL;
        if (!l) {
            f->label_overflow = true;
            return;
        }
        f->label = l;
        f->label_cap = cap;
    }
    f->label[f->label_len++] = c;
}

/* Writes the converted label, or the raw one when it cannot be shown. */
static void end_label(filter *f)
{
    int64_t t = (int64_t)(f->secs - QPS_TAI64_UNIX_OFFSET);
    qps_civil c;
    bool ok = qps_civil_from_unix(&f->tz, t, 0, &c) == QPS_OK;
    if (!ok) {
        /* beyond the cache's range: ask the C library, as tai64nlocal does */
        time_t tt = (time_t)t;
        struct tm tm;
        if ((int64_t)tt == t && localtime_r(&tt, &tm)) {
            c.year = tm.tm_year + 1900;
            c.month = tm.tm_mon + 1;
            c.day = tm.tm_mday;
            c.hour = tm.tm_hour;
            c.minute = tm.tm_min;
            c.second = tm.tm_sec;
            ok = true;
        }
    }
    if (ok) {
        char buf[96];
        /* tai64nlocal formats the year with fmt_ulong(1900 + tm_year) */
        int n = snprintf(buf, sizeof buf, "%lu-%02d-%02d %02d:%02d:%02d.%09lu",
                         (unsigned long)(long)c.year, c.month, c.day, c.hour, c.minute, c.second,
                         (unsigned long)f->nanos);
        out_bytes(f, buf, (size_t)n);
    } else if (!f->label_overflow) {
        out_bytes(f, f->label, f->label_len);
    }
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Writes the time of a 24-digit label, with the text of its second reused
 * from the previous line when it is the same second. False when the label
 * must go the slow way (a bad digit, or a time the cache cannot show). */
static bool fast_label(filter *f, const char *hex24)
{
    int64_t t;
    uint32_t ns;
    if (qps_tai64n_decode(hex24, &t, &ns) != QPS_OK)
        return false;
    if (!f->shown_len || t != f->shown_sec) {
        qps_civil c;
        if (qps_civil_from_unix(&f->tz, t, 0, &c) != QPS_OK || c.year < 0)
            return false;
        int n = snprintf(f->shown, sizeof f->shown, "%d-%02d-%02d %02d:%02d:%02d.", c.year, c.month, c.day,
                         c.hour, c.minute, c.second);
        if (n <= 0 || (size_t)n >= sizeof f->shown)
            return false;
        f->shown_len = (size_t)n;
        f->shown_sec = t;
    }
    char buf[48];
    memcpy(buf, f->shown, f->shown_len);
    /* nine digits, more when the nanoseconds are out of range (as fmt_uint0) */
    int n = ns <= 999999999u ? 9 : 10;
    uint32_t v = ns;
    for (int i = n - 1; i >= 0; i--, v /= 10)
        buf[f->shown_len + (size_t)i] = (char)('0' + v % 10);
    out_bytes(f, buf, f->shown_len + (size_t)n);
    return true;
}

static void filter_chunk(filter *f, const char *p, size_t n)
{
    const char *end = p + n;
    while (p < end) {
        switch (f->state) {
        case LINE_START:
            if (*p == '@' && end - p >= 26 && hex_digit((unsigned char)p[25]) < 0 && fast_label(f, p + 1)) {
                /* the common case, a whole label in this chunk */
                p += 25;
                f->state = IN_BODY;
                continue;
            }
            if (*p == '@') {
                f->state = IN_LABEL;
                f->secs = 0;
                f->nanos = 0;
                f->label_len = 0;
                f->label_overflow = false;
                label_push(f, '@');
                p++;
                continue;
            }
            f->state = IN_BODY;
            continue;
        case IN_LABEL: {
            int v = hex_digit((unsigned char)*p);
            if (v < 0) {
                end_label(f);
                f->state = IN_BODY;
                continue;
            }
            /* daemontools' arithmetic, overflow included */
            f->secs = (f->secs << 4) + (f->nanos >> 28);
            f->nanos = ((f->nanos & 0xfffffffu) << 4) + (uint32_t)v;
            label_push(f, *p);
            p++;
            continue;
        }
        case IN_BODY: {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl ? nl + 1 : end;
            out_bytes(f, p, (size_t)(stop - p));
            p = stop;
            if (nl)
                f->state = LINE_START;
            continue;
        }
        }
    }
}

static int filter_feed(void *ctx, const char *buf, size_t len)
{
    filter *f = ctx;
    filter_chunk(f, buf, len);
    return f->write_failed ? -1 : 0;
}

int cli_tai64n(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs("usage: qpstat tai64n [FILE...]\n"
              "Replaces the TAI64N label at the start of each line with local time, as\n"
              "daemontools' tai64nlocal does (TZ is honoured); reads stdin without FILE.\n"
              "\n"
              "  -h, --help  this help\n",
              stdout);
        return EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_usage("unknown option '%s'", argv[i]);
        }
    }
    filter *f = calloc(1, sizeof *f);
    if (!f) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    int rc = EXIT_OK;
    if (argc <= 1) {
        if (cli_read_file("-", filter_feed, f) != 0)
            rc = EXIT_RUNTIME;
    }
    for (int i = 1; i < argc; i++)
        if (cli_read_file(argv[i], filter_feed, f) != 0)
            rc = EXIT_RUNTIME;
    out_flush(f);
    if (f->write_failed) {
        cli_error("cannot write output: %s", strerror(errno));
        rc = EXIT_RUNTIME;
    }
    free(f->label);
    free(f);
    return rc;
}
