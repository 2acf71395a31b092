/*
 * metrics.c - an aggregate as Prometheus metrics (text exposition format
 * 0.0.4, or OpenMetrics 1.0), for `qpstat serve`'s /metrics.
 *
 * Labels stay bounded whatever the logs hold: only dispositions, DNSBL
 * zones, return codes and categories (the admin's map's, never the log's)
 * become label values, at most max_labels of each
 * (chosen so that no counter goes down: see choose_labels); the rest is
 * summed under "other". No IP, HELO, sender or deny text is ever a label.
 *
 * License: MIT (see LICENSE).
 */
#include "qps_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_LABELS 50

typedef struct {
    qps_buf out;
    int openmetrics;
} exposition;

/* HELP and TYPE of a family; OpenMetrics names a counter's family without
 * its _total suffix. */
static void family(exposition *e, const char *name, const char *type, const char *help)
{
    size_t len = strlen(name);
    if (e->openmetrics && strcmp(type, "counter") == 0 && len > 6 && strcmp(name + len - 6, "_total") == 0)
        len -= 6;
    qps_buf_printf(&e->out, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)len, name, help, (int)len, name, type);
}

static void sample_u(exposition *e, const char *name, uint64_t v)
{
    qps_buf_printf(&e->out, "%s %llu\n", name, (unsigned long long)v);
}

static void sample_d(exposition *e, const char *name, const char *labels, double v)
{
    if (isfinite(v))
        qps_buf_printf(&e->out, "%s%s %.17g\n", name, labels, v);
    else
        qps_buf_printf(&e->out, "%s%s NaN\n", name, labels);
}

/* The rank of a key in the label order: its position there (or after all
 * of them, by name). */
typedef struct {
    qps_str key;
    size_t pos;
} ranked;

static int str_cmp(qps_str a, qps_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return c ? c : a.len < b.len ? -1 : a.len > b.len;
}

static int ranked_by_key(const void *a, const void *b)
{
    return str_cmp(((const ranked *)a)->key, ((const ranked *)b)->key);
}

static int ranked_by_rank(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    return str_cmp(x->key, y->key);
}

static bool is_other(qps_str k)
{
    return k.len == 5 && memcmp(k.ptr, "other", 5) == 0;
}

/* The keys of rows that get a label of their own, sorted by key (for
 * bsearch): the first max_labels in order, the order keys first came in.
 * That order only grows at its end as the store grows, so a key keeps its
 * label: no labelled series disappears, and it and "other" only go up. NULL with *n 0 when out of memory (*failed set). */
static ranked *choose_labels(const qps_row *rows, size_t n, const qps_str *order, size_t norder, size_t max_labels,
                             size_t *nchosen, bool *failed)
{
    *nchosen = 0;
    ranked *byorder = norder ? malloc(norder * sizeof *byorder) : NULL;
    ranked *cand = n ? malloc(n * sizeof *cand) : NULL;
    if ((norder && !byorder) || (n && !cand)) {
        free(byorder);
        free(cand);
        *failed = true;
        return NULL;
    }
    for (size_t i = 0; i < norder; i++)
        byorder[i] = (ranked){order[i], i};
    qsort(byorder, norder, sizeof *byorder, ranked_by_key);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_other(rows[i].key[0]))
            continue; /* a disposition called "other" shares the row */
        ranked probe = {rows[i].key[0], 0};
        const ranked *hit = norder ? bsearch(&probe, byorder, norder, sizeof *byorder, ranked_by_key) : NULL;
        cand[m++] = (ranked){rows[i].key[0], hit ? hit->pos : norder};
    }
    free(byorder);
    qsort(cand, m, sizeof *cand, ranked_by_rank);
    if (m > max_labels)
        m = max_labels;
    qsort(cand, m, sizeof *cand, ranked_by_key);
    *nchosen = m;
    return cand;
}

/* A counter with one label over the rows of a keyed dimension. */
static qps_status labelled_counter(exposition *e, const qps_agg *agg, qps_dim dim, const char *name,
                                   const char *label, const char *help, size_t max_labels)
{
    qps_row *rows = NULL;
    qps_str *order = NULL;
    size_t n = 0, norder = 0;
    qps_status st = qps_agg_rows(agg, dim, &rows, &n);
    if (st == QPS_OK && (st = qps_agg_keys_seen(agg, dim, &order, &norder)) != QPS_OK)
        qps_free(rows);
    if (st != QPS_OK)
        return st;
    bool failed = false;
    size_t nchosen;
    ranked *chosen = choose_labels(rows, n, order, norder, max_labels, &nchosen, &failed);
    free(order);
    if (failed) {
        qps_free(rows);
        return QPS_ENOMEM;
    }
    family(e, name, "counter", help);
    uint64_t other = 0;
    bool any_other = false;
    for (size_t i = 0; i < n; i++) {
        ranked probe = {rows[i].key[0], 0};
        if (!nchosen || !bsearch(&probe, chosen, nchosen, sizeof *chosen, ranked_by_key)) {
            other += rows[i].count;
            any_other = true;
            continue;
        }
        qps_buf_printf(&e->out, "%s{%s=\"", name, label);
        /* an empty value would be no label at all (queued has no code) */
        qps_str v = rows[i].key[0].len ? rows[i].key[0] : qps_slice("none", 4);
        qps_escape_label(&e->out, v.ptr, v.len);
        qps_buf_printf(&e->out, "\"} %llu\n", (unsigned long long)rows[i].count);
    }
    if (any_other)
        qps_buf_printf(&e->out, "%s{%s=\"other\"} %llu\n", name, label, (unsigned long long)other);
    free(chosen);
    qps_free(rows);
    return QPS_OK;
}

/* The connection time histogram's bounds, in milliseconds. */
static const uint64_t duration_bounds_ms[] = {100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000,
                                              600000};

static void duration_histogram(exposition *e, const qps_agg *agg, const qps_conn_stats *c)
{
    family(e, "qpsmtpd_connection_duration_seconds", "histogram",
           "Duration of SMTP connections (to the millisecond below a minute, to the second below a day).");
    for (size_t i = 0; i < sizeof duration_bounds_ms / sizeof duration_bounds_ms[0]; i++) {
        uint64_t ms = duration_bounds_ms[i];
        qps_buf_printf(&e->out, "qpsmtpd_connection_duration_seconds_bucket{le=\"%g\"} %llu\n", (double)ms / 1000.0,
                       (unsigned long long)qps_agg_conn_time_le(agg, ms));
    }
    qps_buf_printf(&e->out, "qpsmtpd_connection_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                   (unsigned long long)c->timed);
    sample_d(e, "qpsmtpd_connection_duration_seconds_sum", "", c->mean_s * (double)c->timed);
    sample_u(e, "qpsmtpd_connection_duration_seconds_count", c->timed);
}

/* The spam score histogram from the aggregate's 1-point buckets: the key
 * "k" is [k, k+1), "<-10" lies below the first bound, ">=30" above the last. */
static qps_status score_histogram(exposition *e, const qps_agg *agg)
{
    qps_row *rows = NULL;
    size_t n = 0;
    qps_status st = qps_agg_rows(agg, QPS_DIM_SCORE, &rows, &n);
    if (st != QPS_OK)
        return st;
    enum { LOW = -10, HIGH = 30 };
    uint64_t below = 0, above = 0, at[HIGH - LOW] = {0};
    for (size_t i = 0; i < n; i++) {
        const char *k = rows[i].key[0].ptr;
        if (k[0] == '<')
            below += rows[i].count;
        else if (k[0] == '>')
            above += rows[i].count;
        else {
            int v = 0;
            if (sscanf(k, "%d", &v) == 1 && v >= LOW && v < HIGH)
                at[v - LOW] += rows[i].count;
        }
    }
    qps_free(rows);
    qps_spam_stats spam;
    qps_agg_spam_stats(agg, &spam);
    family(e, "qpsmtpd_spam_score", "histogram", "SpamAssassin scores of the transactions that have one.");
    uint64_t cum = below;
    qps_buf_printf(&e->out, "qpsmtpd_spam_score_bucket{le=\"%d\"} %llu\n", LOW, (unsigned long long)cum);
    for (int b = LOW; b < HIGH; b++) {
        cum += at[b - LOW];
        qps_buf_printf(&e->out, "qpsmtpd_spam_score_bucket{le=\"%d\"} %llu\n", b + 1, (unsigned long long)cum);
    }
    cum += above;
    qps_buf_printf(&e->out, "qpsmtpd_spam_score_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    sample_d(e, "qpsmtpd_spam_score_sum", "", spam.spam_mean * (double)spam.spam + spam.ham_mean * (double)spam.ham);
    sample_u(e, "qpsmtpd_spam_score_count", cum);
    return QPS_OK;
}

qps_status qps_render_metrics(const qps_agg *agg, const qps_metrics_opts *opts, qps_write_fn write, void *ctx)
{
    if (!agg || !write)
        return QPS_EINVAL;
    qps_metrics_opts o = opts ? *opts : (qps_metrics_opts){0};
    size_t max_labels = o.max_labels ? o.max_labels : DEFAULT_MAX_LABELS;
    exposition e = {{0}, o.openmetrics};
    /* keys get labels in the order they first came (a server's plugins
     * before anything a hostile log adds later) */
    qps_status st = labelled_counter(&e, agg, QPS_DIM_DISPOSITION, "qpsmtpd_transactions_total", "disposition",
                                     "Transactions (logterse records) by disposition: the denying plugin or queued.",
                                     max_labels);
    if (st == QPS_OK)
        st = labelled_counter(&e, agg, QPS_DIM_DNSBL, "qpsmtpd_dnsbl_denials_total", "zone",
                              "Transactions denied by a DNSBL, by its service.", max_labels);
    if (st == QPS_OK)
        st = labelled_counter(&e, agg, QPS_DIM_CODE, "qpsmtpd_transactions_by_code_total", "code",
                              "Transactions by the return code of their logterse record (none: queued).",
                              max_labels);
    if (st == QPS_OK)
        st = labelled_counter(&e, agg, QPS_DIM_CATEGORY, "qpsmtpd_transactions_by_category_total", "category",
                              "Transactions by the category their disposition has in the category map "
                              "(mailstats' columns; Unknown: a plugin the map lacks).",
                              max_labels);
    if (st == QPS_OK)
        st = score_histogram(&e, agg);
    if (st != QPS_OK) {
        qps_buf_release(&e.out);
        return st;
    }
    qps_conn_stats c;
    qps_agg_conn_stats(agg, &c);
    family(&e, "qpsmtpd_connections_accepted_total", "counter", "Accepted SMTP connections.");
    sample_u(&e, "qpsmtpd_connections_accepted_total", c.accepted);
    family(&e, "qpsmtpd_connections_too_many_total", "counter",
           "Times the server waited because it had too many connections.");
    sample_u(&e, "qpsmtpd_connections_too_many_total", c.too_many);
    family(&e, "qpsmtpd_hosts_allow_denials_total", "counter", "Connections refused by hosts_allow.");
    sample_u(&e, "qpsmtpd_hosts_allow_denials_total", c.hosts_allow);
    family(&e, "qpsmtpd_queued_total", "counter", "Messages the queue plugin accepted (250 Queued).");
    sample_u(&e, "qpsmtpd_queued_total", c.queue_accepted);
    duration_histogram(&e, agg, &c);
    family(&e, "qpsmtpd_connections_limit", "gauge", "The configured maximum of concurrent connections (M of n/M).");
    sample_u(&e, "qpsmtpd_connections_limit", c.limit);
    if (o.has_recent_peak) {
        family(&e, "qpsmtpd_connections_peak", "gauge",
               "Highest concurrency over the last scrape interval (n + 1 of the accepts' n/M).");
        sample_u(&e, "qpsmtpd_connections_peak", o.recent_peak);
    }
    qps_counts counts;
    qps_agg_counts(agg, &counts);
    family(&e, "qpstat_log_lines_invalid_total", "counter", "Log lines qpstat could not parse.");
    sample_u(&e, "qpstat_log_lines_invalid_total", o.has_lines_invalid ? o.lines_invalid : counts.lines_invalid);
    if (o.has_last_record) {
        family(&e, "qpstat_store_last_record_timestamp_seconds", "gauge",
               "Time of the newest record in the store: a stuck pipeline stops it.");
        qps_buf_printf(&e.out, "qpstat_store_last_record_timestamp_seconds %lld\n", (long long)o.last_record);
    }
    if (o.has_import_lag) {
        family(&e, "qpstat_import_lag_seconds", "gauge",
               "Age of the oldest log line the store has not imported yet (0: it is up to date).");
        qps_buf_printf(&e.out, "qpstat_import_lag_seconds %lld\n", (long long)o.import_lag_seconds);
        family(&e, "qpstat_import_behind_bytes", "gauge", "Bytes of the logs the store has not imported yet.");
        sample_u(&e, "qpstat_import_behind_bytes", o.import_behind_bytes);
    }
    if (e.openmetrics)
        qps_buf_append(&e.out, "# EOF\n", 6);
    st = e.out.failed ? QPS_ENOMEM : write(ctx, e.out.data ? e.out.data : "", e.out.len) != 0 ? QPS_EIO : QPS_OK;
    qps_buf_release(&e.out);
    return st;
}
