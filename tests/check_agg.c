/*
 * check_agg.c - unit tests of qps_agg.c: counts on the shared fixtures,
 * chunking, merging, bounded tables, time selection, percentiles.
 */
#include "qpstat.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_fixture(const char *name, size_t *len)
{
    const char *dir = getenv("QPS_TEST_DATA") ? getenv("QPS_TEST_DATA") : "t/data";
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The 0.94 sample: the rotated file, then current. */
static char *sample(size_t *len)
{
    size_t a, b;
    char *s = read_fixture("multilog-094/@400000006b07398735c119cc.s", &a);
    char *c = read_fixture("multilog-094/current", &b);
    s = realloc(s, a + b);
    memcpy(s + a, c, b);
    free(c);
    *len = a + b;
    return s;
}

static uint64_t row_count(const qps_agg *agg, qps_dim dim, const char *key)
{
    qps_row *rows;
    size_t n;
    ck_assert_int_eq(qps_agg_rows(agg, dim, &rows, &n), QPS_OK);
    uint64_t found = 0;
    for (size_t i = 0; i < n; i++)
        if (rows[i].key[0].len == strlen(key) && memcmp(rows[i].key[0].ptr, key, rows[i].key[0].len) == 0)
            found = rows[i].count;
    qps_free(rows);
    return found;
}

START_TEST(sample_counts)
{
    size_t len;
    char *log = sample(&len);
    qps_agg *agg = qps_agg_new(NULL);
    ck_assert_int_eq(qps_agg_feed(agg, log, len), QPS_OK);
    ck_assert_int_eq(qps_agg_finish(agg), QPS_OK);
    qps_counts c;
    qps_agg_counts(agg, &c);
    ck_assert_uint_eq(c.lines_read, 399);
    ck_assert_uint_eq(c.lines_invalid, 0);
    ck_assert_uint_eq(c.transactions, 17);
    ck_assert_uint_eq(c.by_kind[QPS_KIND_TERSE], 17);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_DISPOSITION, "queued"), 3);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_DISPOSITION, "hosts_allow"), 2);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_DISPOSITION, "badmailfrom"), 2);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_DISPOSITION, "spamassassin"), 1);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_TLD, "<>"), 2);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_RECIPIENT, "example.com"), 7);
    qps_conn_stats cs;
    qps_agg_conn_stats(agg, &cs);
    ck_assert_uint_eq(cs.too_many, 4);
    ck_assert_uint_eq(cs.hosts_allow, 2);
    ck_assert_uint_eq(cs.limit, 15); /* current restarted with -c 15 */
    ck_assert_uint_eq(cs.peak, 3);
    qps_spam_stats ss;
    qps_agg_spam_stats(agg, &ss);
    ck_assert_uint_eq(ss.spam, 1);
    ck_assert_uint_eq(ss.ham, 3);
    qps_agg_free(agg);
    free(log);
}
END_TEST

/* The same stream cut into any chunk sizes gives the same aggregate. */
START_TEST(chunking_is_invisible)
{
    size_t len;
    char *log = sample(&len);
    qps_agg *whole = qps_agg_new(NULL);
    qps_agg_feed(whole, log, len);
    qps_agg_finish(whole);
    qps_counts want;
    qps_agg_counts(whole, &want);
    for (size_t step = 1; step < 40; step += 3) {
        qps_agg *agg = qps_agg_new(NULL);
        for (size_t off = 0; off < len; off += step)
            ck_assert_int_eq(qps_agg_feed(agg, log + off, off + step < len ? step : len - off), QPS_OK);
        qps_agg_finish(agg);
        qps_counts got;
        qps_agg_counts(agg, &got);
        ck_assert_mem_eq(&got, &want, sizeof got);
        ck_assert_uint_eq(row_count(agg, QPS_DIM_DISPOSITION, "queued"), 3);
        qps_agg_free(agg);
    }
    qps_agg_free(whole);
    free(log);
}
END_TEST

START_TEST(merge_equals_one_pass)
{
    size_t len;
    char *log = sample(&len);
    size_t half = len / 2;
    while (log[half - 1] != '\n')
        half++;
    qps_agg *a = qps_agg_new(NULL), *b = qps_agg_new(NULL), *all = qps_agg_new(NULL);
    qps_agg_feed(a, log, half);
    qps_agg_feed(b, log + half, len - half);
    qps_agg_feed(all, log, len);
    qps_agg_finish(a);
    qps_agg_finish(b);
    qps_agg_finish(all);
    ck_assert_int_eq(qps_agg_merge(a, b), QPS_OK);
    ck_assert_int_eq(qps_agg_merge(a, a), QPS_EINVAL);
    qps_counts x, y;
    qps_agg_counts(a, &x);
    qps_agg_counts(all, &y);
    ck_assert_mem_eq(&x, &y, sizeof x);
    /* the halves' spans join into the whole one's (compared above) */
    ck_assert_int_gt(x.first, 0);
    ck_assert_int_lt(x.first, x.last);
    for (int d = 0; d < QPS_DIM_CONNECTIONS; d++) {
        qps_row *r1, *r2;
        size_t n1, n2;
        qps_agg_rows(a, (qps_dim)d, &r1, &n1);
        qps_agg_rows(all, (qps_dim)d, &r2, &n2);
        ck_assert_uint_eq(n1, n2);
        for (size_t i = 0; i < n1; i++) {
            ck_assert_uint_eq(r1[i].count, r2[i].count);
            ck_assert_uint_eq(r1[i].key[0].len, r2[i].key[0].len);
        }
        qps_free(r1);
        qps_free(r2);
    }
    qps_conn_stats c1, c2;
    qps_agg_conn_stats(a, &c1);
    qps_agg_conn_stats(all, &c2);
    ck_assert_mem_eq(&c1, &c2, sizeof c1);
    qps_agg_free(a);
    qps_agg_free(b);
    qps_agg_free(all);
    free(log);
}
END_TEST

/* An aggregator asked for some tables fills exactly those, with the same
 * rows as one that fills them all, and leaves the others empty. */
START_TEST(only_the_tables_asked_for)
{
    size_t len;
    char *log = read_fixture("edge-cases.log", &len); /* every table has rows */
    qps_agg *all = qps_agg_new(NULL);
    qps_agg_feed(all, log, len);
    qps_agg_finish(all);
    for (int d = 0; d < QPS_DIM_CONNECTIONS; d++) {
        qps_agg_opts opts = {0};
        opts.dims = QPS_DIM_BIT(d);
        qps_agg *one = qps_agg_new(&opts);
        qps_agg_feed(one, log, len);
        qps_agg_finish(one);
        qps_counts x, y;
        qps_agg_counts(one, &x);
        qps_agg_counts(all, &y);
        ck_assert_mem_eq(&x, &y, sizeof x);
        for (int e = 0; e < QPS_DIM_CONNECTIONS; e++) {
            qps_row *r1, *r2;
            size_t n1, n2;
            qps_agg_rows(one, (qps_dim)e, &r1, &n1);
            qps_agg_rows(all, (qps_dim)e, &r2, &n2);
            if (e == d) {
                ck_assert_uint_gt(n2, 0);
                ck_assert_uint_eq(n1, n2);
                ck_assert_uint_eq(qps_agg_total(one, (qps_dim)e), qps_agg_total(all, (qps_dim)e));
                for (size_t i = 0; i < n1; i++) {
                    ck_assert_uint_eq(r1[i].count, r2[i].count);
                    ck_assert_uint_eq(r1[i].key[0].len, r2[i].key[0].len);
                    ck_assert_uint_eq(r1[i].key[1].len, r2[i].key[1].len);
                    ck_assert(memcmp(r1[i].key[0].ptr, r2[i].key[0].ptr, r1[i].key[0].len) == 0);
                }
            } else if (e != QPS_DIM_HOUR && !((e == QPS_DIM_SPAM && d == QPS_DIM_SCORE) ||
                                              (e == QPS_DIM_SCORE && d == QPS_DIM_SPAM) ||
                                              (e == QPS_DIM_DISPOSITION && d == QPS_DIM_DISPOSITION_TLD))) {
                /* hours are counted with days, verdicts with scores (the
                 * same pass fills both); disposition,tld shows totals */
                ck_assert_msg(n1 == 0, "--by %s fills %s", qps_dim_name((qps_dim)d), qps_dim_name((qps_dim)e));
            }
            qps_free(r1);
            qps_free(r2);
        }
        qps_conn_stats c1, c2;
        qps_agg_conn_stats(one, &c1);
        qps_agg_conn_stats(all, &c2);
        ck_assert_mem_eq(&c1, &c2, sizeof c1);
        qps_agg_free(one);
    }
    qps_agg_free(all);
    free(log);
}
END_TEST

static void add_terse(qps_agg *agg, const char *ip, const char *sender)
{
    char line[512];
    int n = snprintf(line, sizeof line,
                     "@400000006b07390d1f43b72c 1 (deny) logging::logterse: ` %s\th\th\t%s\t\tdnsbl\t901\t"
                     "Blocked, see http://www.spamhaus.org/query/bl?ip=%s\tmsg denied before queued",
                     ip, sender, ip);
    ck_assert_int_eq(qps_agg_add_line(agg, line, (size_t)n), QPS_OK);
}

START_TEST(tables_stay_bounded)
{
    qps_agg_opts opts = {0};
    opts.table_capacity = 100;
    qps_agg *agg = qps_agg_new(&opts);
    char ip[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        add_terse(agg, ip, "<a@b.com>");
        if (i % 4 == 0)
            add_terse(agg, "192.0.2.1", "<a@b.com>"); /* the heavy hitter */
    }
    qps_row *rows;
    size_t n;
    ck_assert_int_eq(qps_agg_rows(agg, QPS_DIM_IP, &rows, &n), QPS_OK);
    ck_assert_uint_le(n, 100);
    ck_assert(qps_agg_approximate(agg, QPS_DIM_IP));
    ck_assert_int_eq(memcmp(rows[0].key[0].ptr, "192.0.2.1", 9), 0);
    /* Space-Saving: the estimate is an upper bound within its error */
    ck_assert_uint_ge(rows[0].count, 5000);
    ck_assert_uint_le(rows[0].count - rows[0].error, 5000);
    qps_free(rows);
    ck_assert(!qps_agg_approximate(agg, QPS_DIM_DISPOSITION));
    ck_assert_uint_eq(row_count(agg, QPS_DIM_DNSBL, "www.spamhaus.org"), 25000);
    qps_agg_free(agg);
}
END_TEST

/* The first rows of qps_agg_rows_top are those of qps_agg_rows, ties
 * (most counts here are equal) broken alike; every row is there. */
START_TEST(top_rows_as_all_rows)
{
    qps_agg *agg = qps_agg_new(NULL);
    char ip[32];
    for (int i = 0; i < 1000; i++) {
        /* counts 1 to 7, the keys in no order */
        int k = (i * 7919) % 1000;
        snprintf(ip, sizeof ip, "10.0.%d.%d", k >> 8, k & 255);
        for (int c = 0; c <= (k * 31) % 7; c++)
            add_terse(agg, ip, "<a@b.com>");
    }
    qps_row *all, *top;
    size_t n, nt;
    ck_assert_int_eq(qps_agg_rows(agg, QPS_DIM_IP, &all, &n), QPS_OK);
    ck_assert_uint_eq(n, 1000);
    static const size_t tops[] = {1, 2, 7, 20, 249, 250, 999, 1000, 5000};
    for (size_t t = 0; t < sizeof tops / sizeof tops[0]; t++) {
        ck_assert_int_eq(qps_agg_rows_top(agg, QPS_DIM_IP, tops[t], &top, &nt), QPS_OK);
        ck_assert_uint_eq(nt, n);
        size_t k = tops[t] < n ? tops[t] : n;
        for (size_t i = 0; i < k; i++) {
            ck_assert_uint_eq(top[i].count, all[i].count);
            ck_assert_uint_eq(top[i].key[0].len, all[i].key[0].len);
            ck_assert_int_eq(memcmp(top[i].key[0].ptr, all[i].key[0].ptr, all[i].key[0].len), 0);
        }
        /* the rest: the same rows in some order (keys are distinct) */
        static bool seen[1000];
        memset(seen, 0, sizeof seen);
        for (size_t i = 0; i < nt; i++) {
            size_t j = 0;
            while (j < n && !(all[j].key[0].len == top[i].key[0].len &&
                              memcmp(all[j].key[0].ptr, top[i].key[0].ptr, top[i].key[0].len) == 0))
                j++;
            ck_assert_uint_lt(j, n);
            ck_assert(!seen[j]);
            ck_assert_uint_eq(top[i].count, all[j].count);
            seen[j] = true;
        }
        qps_free(top);
    }
    qps_free(all);
    qps_agg_free(agg);
}
END_TEST

START_TEST(long_lines_are_counted_once)
{
    qps_agg *agg = qps_agg_new(NULL);
    char *big = malloc(3 * QPS_LINE_MAX);
    memset(big, 'x', 3 * QPS_LINE_MAX);
    /* a 3-chunk line without newline, then a good line */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(qps_agg_feed(agg, big + i * QPS_LINE_MAX, QPS_LINE_MAX), QPS_OK);
    const char *tail = "tail\n8801 cleaning up after 1\n";
    ck_assert_int_eq(qps_agg_feed(agg, tail, strlen(tail)), QPS_OK);
    qps_agg_finish(agg);
    qps_counts c;
    qps_agg_counts(agg, &c);
    ck_assert_uint_eq(c.lines_read, 2);
    ck_assert_uint_eq(c.lines_invalid, 1);
    ck_assert_uint_eq(c.by_bad[QPS_BAD_TOO_LONG], 1);
    ck_assert_uint_eq(c.by_kind[QPS_KIND_CLEANUP], 1);
    qps_agg_free(agg);
    free(big);
}
END_TEST

START_TEST(time_selection)
{
    size_t len;
    char *log = sample(&len);
    qps_agg_opts opts = {0};
    /* the sample spans 2026-11-25 19:37:28 .. 19:40:xx UTC; keep 19:38:00-19:39:00 */
    opts.has_since = opts.has_until = 1;
    opts.since = 1795635480;
    opts.until = 1795635540;
    qps_agg *agg = qps_agg_new(&opts);
    qps_agg_feed(agg, log, len);
    qps_agg_finish(agg);
    qps_counts c;
    qps_agg_counts(agg, &c);
    ck_assert_uint_gt(c.out_of_range, 0);
    ck_assert_uint_lt(c.transactions, 17);
    ck_assert_uint_eq(c.lines_read, 399);
    /* the time the selected records span lies inside the selection */
    ck_assert_int_ge(c.first, opts.since);
    ck_assert_int_lt(c.last, opts.until);
    ck_assert_int_le(c.first, c.last);
    /* nothing without a time is let through a selection */
    const char *untimed = "8909 (deny) logging::logterse: ` 1\th\th\t\t\tx\t901\tt\tmsg";
    qps_agg_add_line(agg, untimed, strlen(untimed));
    qps_counts d;
    qps_agg_counts(agg, &d);
    ck_assert_uint_eq(d.untimed, 1);
    ck_assert_uint_eq(d.transactions, c.transactions);
    qps_agg_free(agg);
    free(log);
}
END_TEST

START_TEST(connection_time_percentiles)
{
    qps_agg *agg = qps_agg_new(NULL);
    char line[128];
    for (int s = 1; s <= 100; s++) {
        int n = snprintf(line, sizeof line, "%d (post-connection) connection_time: %d.000 s.", s, s);
        qps_agg_add_line(agg, line, (size_t)n);
    }
    qps_conn_stats c;
    qps_agg_conn_stats(agg, &c);
    ck_assert_uint_eq(c.timed, 100);
    ck_assert_double_eq_tol(c.mean_s, 50.5, 1e-9);
    ck_assert_double_eq_tol(c.p50_s, 50, 1e-9);
    ck_assert_double_eq_tol(c.p90_s, 90, 1e-9);
    ck_assert_double_eq_tol(c.p99_s, 99, 1e-9);
    ck_assert_double_eq_tol(c.max_s, 100, 1e-9);
    qps_agg_free(agg);
}
END_TEST

START_TEST(dnsbl_service_names)
{
    qps_agg *agg = qps_agg_new(NULL);
    static const char *lines[] = {
        "1 (deny) logging::logterse: ` 1.2.3.4\th\th\t\t\tdnsbl\t901\tBlocked - see http://www.spamhaus.org/query/bl?ip=1.2.3.4\tmsg denied before queued",
        "1 (deny) logging::logterse: ` 1.2.3.4\th\th\t\t\tdnsbl\t901\tSee https://www.spamcop.net/bl.shtml?1.2.3.4\tmsg denied before queued",
        "1 (deny) logging::logterse: ` 1.2.3.4\th\th\t\t\tdnsbl\t901\tBlocked - listed in zen.spamhaus.org.\tmsg denied before queued",
        "1 (deny) logging::logterse: ` 1.2.3.4\th\th\t\t\tnaughty\t903\t(dnsbl) Listed at bl.example.net\tmsg denied before queued",
        "1 (deny) logging::logterse: ` 1.2.3.4\th\th\t\t\tdnsbl\t901\tgo away\tmsg denied before queued",
        "1 (deny) logging::logterse: ` 1.2.3.4\th\th\t\t\trhsbl\t901\tsee http://rhsbl.example/\tmsg denied before queued",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        qps_agg_add_line(agg, lines[i], strlen(lines[i]));
    ck_assert_uint_eq(row_count(agg, QPS_DIM_DNSBL, "www.spamhaus.org"), 1);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_DNSBL, "www.spamcop.net"), 1);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_DNSBL, "zen.spamhaus.org"), 1);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_DNSBL, "bl.example.net"), 1);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_DNSBL, ""), 1);
    ck_assert_uint_eq(qps_agg_total(agg, QPS_DIM_DNSBL), 5);
    qps_agg_free(agg);
}
END_TEST

START_TEST(sender_tlds)
{
    qps_agg *agg = qps_agg_new(NULL);
    static const char *senders[] = {"<a@Example.COM>", "<>", "", "<root@localhost>", "<x@host.example.org.>",
                                    "<a.b@c.de>"};
    char line[256];
    for (size_t i = 0; i < sizeof senders / sizeof senders[0]; i++) {
        int n = snprintf(line, sizeof line, "1 (queue) logging::logterse: ` 1\th\th\t%s\t<r@x.y>\tqueued\t\t<id>\tNo, score=1 required=5",
                         senders[i]);
        qps_agg_add_line(agg, line, (size_t)n);
    }
    ck_assert_uint_eq(row_count(agg, QPS_DIM_TLD, "com"), 1);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_TLD, "<>"), 1);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_TLD, ""), 1);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_TLD, "localhost"), 1);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_TLD, "org"), 1);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_TLD, "de"), 1);
    qps_agg_free(agg);
}
END_TEST

/* ---- parts (qps_agg_new_part / qps_agg_absorb / qps_agg_renew_part) ---- */

typedef struct {
    char *p;
    size_t len, cap;
} sink;

static int to_sink(void *ctx, const char *buf, size_t len)
{
    sink *k = ctx;
    if (k->len + len > k->cap) {
        k->cap = (k->len + len) * 2;
        k->p = realloc(k->p, k->cap);
    }
    memcpy(k->p + k->len, buf, len);
    k->len += len;
    return 0;
}

static char *json_of(const qps_agg *agg, size_t *len)
{
    qps_dim dims[QPS_DIM_COUNT_];
    for (int d = 0; d < QPS_DIM_COUNT_; d++)
        dims[d] = (qps_dim)d;
    qps_render_opts ro = {.format = QPS_FORMAT_JSON, .dims = dims, .ndims = QPS_DIM_COUNT_};
    sink k = {0};
    ck_assert_int_eq(qps_render(agg, &ro, to_sink, &k), QPS_OK);
    *len = k.len;
    return k.p;
}

/* The log cut into pieces at line boundaries, each parsed by its own part
 * and absorbed in order, gives the JSON of one pass, byte for byte, with
 * tables of 3 keys (approximate: their counts depend on the order of
 * additions) and pieces that start with a record's continuation line. */
static void parts_equal_one_pass(const char *log, size_t len, const char *what)
{
    qps_agg_opts o = {.table_capacity = 3, .parser = {.now = 1795640400}};
    qps_agg *whole = qps_agg_new(&o);
    ck_assert_int_eq(qps_agg_feed(whole, log, len), QPS_OK);
    ck_assert_int_eq(qps_agg_finish(whole), QPS_OK);
    size_t wlen;
    char *want = json_of(whole, &wlen);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += log[i] == '\n';
    /* cut after every k-th line, for a few k: every boundary is tried */
    for (size_t k = 1; k <= 13 && k < lines; k += 4) {
        qps_agg *owner = qps_agg_new(&o);
        size_t start = 0, seen = 0;
        /* every other k: each part renewed from the one absorbed before */
        bool renew = (k / 4) % 2 == 1;
        qps_agg *used = NULL;
        for (size_t i = 0; i <= len; i++) {
            bool cut = i == len || (log[i] == '\n' && ++seen % k == 0);
            if (!cut)
                continue;
            size_t end = i == len ? len : i + 1;
            qps_agg *part = used ? qps_agg_renew_part(used) : qps_agg_new_part(owner);
            used = NULL;
            ck_assert_ptr_nonnull(part);
            ck_assert_int_eq(qps_agg_absorb(part, owner), QPS_EINVAL);
            /* the context before the piece: its last three lines */
            size_t from = start;
            for (int n = 0; n < 3 && from > 0; n++)
                for (from--; from > 0 && log[from - 1] != '\n';)
                    from--;
            for (size_t p = from; p < start;) {
                const char *nl = memchr(log + p, '\n', start - p);
                qps_agg_prime(part, log + p, (size_t)(nl - (log + p)));
                p = (size_t)(nl - log) + 1;
            }
            ck_assert_int_eq(qps_agg_feed(part, log + start, end - start), QPS_OK);
            if (end == len)
                ck_assert_int_eq(qps_agg_finish(part), QPS_OK);
            ck_assert_int_eq(qps_agg_absorb(owner, part), QPS_OK);
            if (renew)
                used = part;
            else
                qps_agg_free(part);
            start = end;
            if (end == len)
                break;
        }
        qps_agg_free(used);
        ck_assert_ptr_null(qps_agg_renew_part(owner)); /* an owner is no part */
        size_t glen;
        char *got = json_of(owner, &glen);
        size_t at = 0; /* where they first differ, for the message */
        while (at < glen && at < wlen && got[at] == want[at])
            at++;
        ck_assert_msg(glen == wlen && at == wlen, "%s: parts of %zu lines differ at byte %zu: ...%.60s",
                      what, k, at, got + (at > 20 ? at - 20 : 0));
        free(got);
        qps_agg_free(owner);
    }
    free(want);
    qps_agg_free(whole);
}

START_TEST(parts_equal_one_pass_on_fixtures)
{
    static const char *const names[] = {"logfile-094.log", "dialect-08x.log", "dialect-04x.log",
                                        "tai64nlocal-093.log", "syslog-093.log", "edge-cases.log"};
    size_t len;
    char *log = sample(&len);
    parts_equal_one_pass(log, len, "multilog-094");
    free(log);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        log = read_fixture(names[i], &len);
        parts_equal_one_pass(log, len, names[i]);
        free(log);
    }
}
END_TEST

/* The tables of a report that names none: "all"'s, the server table for
 * several stores, no connection tables under a filter, nothing twice. */
START_TEST(default_tables)
{
    qps_dim dims[QPS_DIM_COUNT_], all[QPS_DIM_COUNT_];
    size_t n = 0, nall = 0;
    ck_assert_int_eq(qps_dims_parse("all", all, QPS_DIM_COUNT_, &nall), QPS_OK);
    ck_assert_int_eq(qps_dims_default(dims, QPS_DIM_COUNT_, &n, 0, 0), QPS_OK);
    ck_assert_uint_eq(n, nall);
    ck_assert_mem_eq(dims, all, n * sizeof *dims);

    n = 0;
    ck_assert_int_eq(qps_dims_default(dims, QPS_DIM_COUNT_, &n, 1, 1), QPS_OK);
    ck_assert_uint_eq(n, nall - 2 + 1);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_ne(dims[i], QPS_DIM_CONNECTIONS);
        ck_assert_int_ne(dims[i], QPS_DIM_CONNECTION_TIME);
    }
    ck_assert_int_eq(dims[n - 1], QPS_DIM_SERVER);

    /* a table already asked for stays where it is, once */
    n = 0;
    ck_assert_int_eq(qps_dims_parse("spam", dims, QPS_DIM_COUNT_, &n), QPS_OK);
    ck_assert_int_eq(qps_dims_default(dims, QPS_DIM_COUNT_, &n, 0, 0), QPS_OK);
    ck_assert_uint_eq(n, nall);
    ck_assert_int_eq(dims[0], QPS_DIM_SPAM);

    /* no room */
    n = 0;
    ck_assert_int_eq(qps_dims_default(dims, 3, &n, 0, 0), QPS_EINVAL);
    ck_assert_uint_eq(n, 3);
}
END_TEST

static Suite *agg_suite(void)
{
    Suite *s = suite_create("agg");
    TCase *core = tcase_create("core");
    tcase_add_test(core, sample_counts);
    tcase_add_test(core, default_tables);
    tcase_add_test(core, chunking_is_invisible);
    tcase_add_test(core, merge_equals_one_pass);
    tcase_add_test(core, only_the_tables_asked_for);
    tcase_add_test(core, time_selection);
    tcase_add_test(core, connection_time_percentiles);
    tcase_add_test(core, dnsbl_service_names);
    tcase_add_test(core, sender_tlds);
    tcase_add_test(core, parts_equal_one_pass_on_fixtures);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, tables_stay_bounded);
    tcase_add_test(limits, top_rows_as_all_rows);
    tcase_add_test(limits, long_lines_are_counted_once);
    tcase_set_timeout(limits, 60);
    suite_add_tcase(s, limits);
    return s;
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    SRunner *sr = srunner_create(agg_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
