/*
 * metrics.c - an aggregate as Prometheus metrics (text exposition format
 * 0.0.4, or OpenMetrics 1.0), for `qpstat serve`'s /metrics.
 *
 * Labels stay bounded whatever the logs hold: only dispositions and DNSBL
 * zones become label values, at most max_labels of each (the most
 * frequent); the rest is summed under "other". No IP, HELO, sender or deny
 * text is ever a label.
 *
 * License: MIT (see LICENSE).
 */
#include "qps_private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_MAX_LABELS 50

typedef struct {
    qps_buf out;
    int openmetrics;
} exposition;

/* A label value: first the terminal text policy (controls, invalid UTF-8
 * and bidi controls made visible as \xNN / \u{NNNN}, a backslash doubled:
 * one-to-one, so two dispositions never become one series), then the
 * exposition format's own escapes for \ and ". */
static void label_value(qps_buf *b, qps_str s)
{
    qps_buf text = {0};
    qps_escape_text(&text, s.ptr, s.len);
    for (size_t i = 0; i < text.len; i++) {
        char c = text.data[i];
        if (c == '\\' || c == '"')
            qps_buf_putc(b, '\\');
        qps_buf_putc(b, c);
    }
    if (text.failed)
        b->failed = true;
    qps_buf_release(&text);
}

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

/* A counter with one label over the rows of a keyed dimension. */
static qps_status labelled_counter(exposition *e, const qps_agg *agg, qps_dim dim, const char *name,
                                   const char *label, const char *help, size_t max_labels)
{
    qps_row *rows = NULL;
    size_t n = 0;
    qps_status st = qps_agg_rows(agg, dim, &rows, &n);
    if (st != QPS_OK)
        return st;
    family(e, name, "counter", help);
    uint64_t other = 0;
    int other_listed = 0;
    for (size_t i = 0; i < n; i++) {
        if (i >= max_labels) {
            other += rows[i].count;
            continue;
        }
        if (rows[i].key[0].len == 5 && memcmp(rows[i].key[0].ptr, "other", 5) == 0) {
            other += rows[i].count; /* a disposition called "other" shares the row */
            other_listed = 1;
            continue;
        }
        qps_buf_printf(&e->out, "%s{%s=\"", name, label);
        label_value(&e->out, rows[i].key[0]);
        qps_buf_printf(&e->out, "\"} %llu\n", (unsigned long long)rows[i].count);
    }
    if (other || other_listed || n > max_labels)
        qps_buf_printf(&e->out, "%s{%s=\"other\"} %llu\n", name, label, (unsigned long long)other);
    qps_free(rows);
    return QPS_OK;
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
    qps_status st = labelled_counter(&e, agg, QPS_DIM_DISPOSITION, "qpsmtpd_transactions_total", "disposition",
                                     "Transactions (logterse records) by disposition: the denying plugin or queued.",
                                     max_labels);
    if (st == QPS_OK)
        st = labelled_counter(&e, agg, QPS_DIM_DNSBL, "qpsmtpd_dnsbl_denials_total", "zone",
                              "Transactions denied by a DNSBL, by its service.", max_labels);
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
    family(&e, "qpsmtpd_connection_duration_seconds", "summary", "Duration of SMTP connections.");
    if (c.timed) {
        sample_d(&e, "qpsmtpd_connection_duration_seconds", "{quantile=\"0.5\"}", c.p50_s);
        sample_d(&e, "qpsmtpd_connection_duration_seconds", "{quantile=\"0.9\"}", c.p90_s);
        sample_d(&e, "qpsmtpd_connection_duration_seconds", "{quantile=\"0.99\"}", c.p99_s);
    }
    sample_d(&e, "qpsmtpd_connection_duration_seconds_sum", "", c.mean_s * (double)c.timed);
    sample_u(&e, "qpsmtpd_connection_duration_seconds_count", c.timed);
    family(&e, "qpsmtpd_connections_limit", "gauge", "The configured maximum of concurrent connections (M of n/M).");
    sample_u(&e, "qpsmtpd_connections_limit", c.limit);
    if (o.has_recent_peak) {
        family(&e, "qpsmtpd_connections_peak", "gauge", "Highest concurrency in the recent window.");
        sample_u(&e, "qpsmtpd_connections_peak", o.recent_peak);
    }
    qps_counts counts;
    qps_agg_counts(agg, &counts);
    family(&e, "qpstat_log_lines_invalid_total", "counter", "Log lines qpstat could not parse.");
    sample_u(&e, "qpstat_log_lines_invalid_total", counts.lines_invalid);
    if (o.has_last_record) {
        family(&e, "qpstat_store_last_record_timestamp_seconds", "gauge",
               "Time of the newest record in the store: a stuck pipeline stops it.");
        qps_buf_printf(&e.out, "qpstat_store_last_record_timestamp_seconds %lld\n", (long long)o.last_record);
    }
    if (e.openmetrics)
        qps_buf_append(&e.out, "# EOF\n", 6);
    st = e.out.failed ? QPS_ENOMEM : write(ctx, e.out.data ? e.out.data : "", e.out.len) != 0 ? QPS_EIO : QPS_OK;
    qps_buf_release(&e.out);
    return st;
}
