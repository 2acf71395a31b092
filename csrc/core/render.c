/*
 * qps_render.c - reports of an aggregate as text, CSV, JSON or the seed's
 * "Email Disposition" mail. Only the public aggregate API is used here.
 *
 * Every key may come from a remote client: each format escapes it
 * (qps_escape.c) before it reaches the sink.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    qps_buf out;
    qps_write_fn write;
    void *ctx;
    bool failed;
} sink;

static bool is_pair(qps_dim dim)
{
    return strchr(qps_dim_name(dim), ',') != NULL;
}

static void flush(sink *s)
{
    if (s->out.len && !s->failed && !s->out.failed && s->write(s->ctx, s->out.data, s->out.len) != 0)
        s->failed = true;
    s->out.len = 0;
}

static void maybe_flush(sink *s)
{
    if (s->out.len >= 1 << 16)
        flush(s);
}

static double percent(uint64_t count, uint64_t total)
{
    return total ? (double)count * 100.0 / (double)total : 0.0;
}

/* Column name(s) of a keyed dimension. */
static const char *column_name(qps_dim dim, int k)
{
    if (dim == QPS_DIM_DISPOSITION_TLD)
        return k ? "tld" : "disposition";
    if (dim == QPS_DIM_HOUR_CATEGORY)
        return k ? "category" : "hour";
    if (dim == QPS_DIM_HOUR_DISPOSITION || dim == QPS_DIM_DAY_DISPOSITION)
        return k ? "disposition" : dim == QPS_DIM_HOUR_DISPOSITION ? "hour" : "day";
    return qps_dim_name(dim);
}

static size_t limit_rows(size_t n, size_t top)
{
    return top && top < n ? top : n;
}

/* A keyed table as every format prints it: its rows (by count), how many
 * of them to show, its total. Free rows with qps_free. */
typedef struct {
    qps_row *rows;
    size_t n, shown;
    uint64_t total;
    bool pair; /* disposition,tld and hour,category: two keys, never cut */
} table;

static qps_status load_table(const qps_agg *agg, qps_dim dim, size_t top, table *t)
{
    /* only the rows shown need an order */
    t->pair = is_pair(dim);
    qps_status st = qps_agg_rows_top(agg, dim, t->pair ? 0 : top, &t->rows, &t->n);
    if (st != QPS_OK)
        return st;
    t->total = qps_agg_total(agg, dim);
    t->shown = t->pair ? t->n : limit_rows(t->n, top);
    return QPS_OK;
}

static size_t top_for(const qps_render_opts *opts, qps_dim dim)
{
    if (opts->top)
        return opts->top;
    bool remote = dim == QPS_DIM_SENDER || dim == QPS_DIM_RECIPIENT || dim == QPS_DIM_IP || dim == QPS_DIM_HELO;
    return remote ? opts->remote_top : 0;
}

/* ---- the seed's disposition x TLD table ---- */

typedef struct {
    char *text;
    size_t len;
} line;

/* sort -b in the C locale: leading blanks ignored, bytes compared, whole
 * lines as the last resort. */
static int seed_sort(const void *pa, const void *pb)
{
    const line *a = pa, *b = pb;
    const char *x = a->text, *y = b->text;
    size_t xl = a->len, yl = b->len;
    while (xl && (*x == ' ' || *x == '\t'))
        x++, xl--;
    while (yl && (*y == ' ' || *y == '\t'))
        y++, yl--;
    size_t n = xl < yl ? xl : yl;
    int c = memcmp(x, y, n);
    if (c)
        return c;
    if (xl != yl)
        return xl < yl ? -1 : 1;
    n = a->len < b->len ? a->len : b->len;
    c = memcmp(a->text, b->text, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void pad_right(qps_buf *b, const char *s, size_t len, size_t width)
{
    size_t start = b->len;
    qps_escape_text(b, s, len);
    for (size_t w = b->len - start; w < width; w++)
        qps_buf_putc(b, ' ');
}

/* Renders the matrix as the seed's awk program prints it: sprintf("%-35s")
 * disposition, sprintf("%-20s") TLD, "%9s" count; "{Total}" rows per
 * disposition and a "{{Total}}" row with "(pct%)". */
qps_status qps_render_seed_matrix(qps_buf *out, const qps_agg *agg)
{
    qps_row *rows, *disp;
    size_t n, nd;
    qps_status st = qps_agg_rows(agg, QPS_DIM_DISPOSITION_TLD, &rows, &n);
    if (st != QPS_OK)
        return st;
    if ((st = qps_agg_rows(agg, QPS_DIM_DISPOSITION, &disp, &nd)) != QPS_OK) {
        qps_free(rows);
        return st;
    }
    uint64_t total = qps_agg_total(agg, QPS_DIM_DISPOSITION);
    line *lines = calloc(n + nd + 1, sizeof *lines);
    size_t nl = 0;
    st = lines ? QPS_OK : QPS_ENOMEM;
    for (size_t i = 0; st == QPS_OK && i < n + nd + 1; i++) {
        qps_buf b = {0};
        if (i < n) {
            pad_right(&b, rows[i].key[0].ptr, rows[i].key[0].len, 35);
            pad_right(&b, rows[i].key[1].ptr, rows[i].key[1].len, 20);
            qps_buf_printf(&b, "%9llu", (unsigned long long)rows[i].count);
        } else {
            uint64_t count = i < n + nd ? disp[i - n].count : total;
            if (i < n + nd) {
                qps_buf name = {0};
                qps_escape_text(&name, disp[i - n].key[0].ptr, disp[i - n].key[0].len);
                qps_buf_putc(&name, ' ');
                for (size_t w = name.len; w < 35; w++)
                    qps_buf_putc(&b, ' ');
                qps_buf_append(&b, name.data, name.len);
                qps_buf_release(&name);
                qps_buf_printf(&b, "%-20s", "{Total}");
            } else {
                qps_buf_printf(&b, "%35s%-20s", "", "{{Total}}");
            }
            qps_buf_printf(&b, "%9llu (%2.1f%%)", (unsigned long long)count, percent(count, total));
        }
        if (b.failed) {
            qps_buf_release(&b);
            st = QPS_ENOMEM;
            break;
        }
        lines[nl].text = b.data;
        lines[nl++].len = b.len;
    }
    if (st == QPS_OK) {
        qsort(lines, nl, sizeof *lines, seed_sort);
        static const char header[] =
            "Denying plugin or \"queued\"         TLD                     Count   Pct\n"
            "=================================  ====================  =======  =====\n";
        qps_buf_append(out, header, sizeof header - 1);
        for (size_t i = 0; i < nl; i++) {
            qps_buf_append(out, lines[i].text, lines[i].len);
            qps_buf_putc(out, '\n');
        }
    }
    for (size_t i = 0; lines && i < nl; i++)
        free(lines[i].text);
    free(lines);
    qps_free(rows);
    qps_free(disp);
    return st;
}

/* ---- text ---- */

static void text_metrics(sink *s, const qps_agg *agg, qps_dim dim)
{
    qps_buf *o = &s->out;
    if (dim == QPS_DIM_CONNECTIONS) {
        qps_conn_stats c;
        qps_agg_conn_stats(agg, &c);
        qps_buf_printf(o, "== connections ==\n");
        qps_buf_printf(o, "  accepted                 %12llu\n", (unsigned long long)c.accepted);
        qps_buf_printf(o, "  peak concurrency         %12u\n", c.peak);
        qps_buf_printf(o, "  connection limit         %12u\n", c.limit);
        qps_buf_printf(o, "  too many (waits)         %12llu\n", (unsigned long long)c.too_many);
        qps_buf_printf(o, "  hosts_allow denials      %12llu\n", (unsigned long long)c.hosts_allow);
        qps_buf_printf(o, "  queue accepted           %12llu\n", (unsigned long long)c.queue_accepted);
    } else {
        qps_conn_stats c;
        qps_agg_conn_stats(agg, &c);
        qps_buf_printf(o, "== connection-time ==\n");
        qps_buf_printf(o, "  connections timed        %12llu\n", (unsigned long long)c.timed);
        /* no connection_time line: nothing was measured, and 0.000 s
         * would read as a measurement */
        const char *names[] = {"mean", "p50", "p90", "p99", "max"};
        const double values[] = {c.mean_s, c.p50_s, c.p90_s, c.p99_s, c.max_s};
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            if (c.timed && isfinite(values[i]))
                qps_buf_printf(o, "  %-24s %12.3f s\n", names[i], values[i]);
            else
                qps_buf_printf(o, "  %-24s %12s\n", names[i], "n/a");
        }
    }
}

/* The plugins no category rule names: listed, so the admin can add them. */
static qps_status text_unknown(qps_buf *o, const qps_agg *agg)
{
    qps_row *rows;
    size_t n;
    qps_status st = qps_agg_unknown_plugins(agg, &rows, &n);
    if (st != QPS_OK)
        return st;
    if (n)
        qps_buf_printf(o, "  " QPS_CATEGORY_UNKNOWN " (plugins not in the category map):");
    for (size_t i = 0; i < n; i++) {
        qps_buf_printf(o, "%s ", i ? "," : "");
        if (rows[i].key[0].len)
            qps_escape_text(o, rows[i].key[0].ptr, rows[i].key[0].len);
        else
            qps_buf_append(o, "(none)", 6);
        qps_buf_printf(o, " %llu", (unsigned long long)rows[i].count);
    }
    if (n)
        qps_buf_putc(o, '\n');
    qps_free(rows);
    return QPS_OK;
}

/* A two-key table in key order: count, both keys, percent. */
static qps_status text_pairs(sink *s, const qps_agg *agg, qps_dim dim)
{
    qps_buf *o = &s->out;
    table t;
    qps_status st = load_table(agg, dim, 0, &t);
    if (st != QPS_OK)
        return st;
    qps_buf_printf(o, "== %s ==\n  %8s  %-10s  %-30s  %7s\n", qps_dim_name(dim), "count", column_name(dim, 0),
                   column_name(dim, 1), "percent");
    for (size_t i = 0; i < t.shown; i++) {
        qps_buf_printf(o, "  %8llu  ", (unsigned long long)t.rows[i].count);
        size_t before = o->len;
        qps_escape_text(o, t.rows[i].key[0].ptr, t.rows[i].key[0].len);
        for (size_t w = o->len - before; w < 10; w++)
            qps_buf_putc(o, ' ');
        qps_buf_append(o, "  ", 2);
        before = o->len;
        if (t.rows[i].key[1].len)
            qps_escape_text(o, t.rows[i].key[1].ptr, t.rows[i].key[1].len);
        else
            qps_buf_append(o, "(none)", 6);
        for (size_t w = qps_text_width(o->data + before, o->len - before); w < 30; w++)
            qps_buf_putc(o, ' ');
        qps_buf_printf(o, "  %6.2f%%\n", percent(t.rows[i].count, t.total));
        maybe_flush(s);
    }
    qps_free(t.rows);
    return QPS_OK;
}

static qps_status text_dim(sink *s, const qps_agg *agg, qps_dim dim, size_t top)
{
    qps_buf *o = &s->out;
    if (dim == QPS_DIM_CONNECTIONS || dim == QPS_DIM_CONNECTION_TIME) {
        text_metrics(s, agg, dim);
        return QPS_OK;
    }
    if (dim == QPS_DIM_DISPOSITION_TLD) {
        qps_buf_printf(o, "== disposition,tld ==\n");
        return qps_render_seed_matrix(o, agg);
    }
    if (dim == QPS_DIM_HOUR_CATEGORY) {
        qps_buf_printf(o, "== hour,category ==\n");
        return qps_render_hour_matrix(o, agg);
    }
    if (is_pair(dim))
        return text_pairs(s, agg, dim);
    table t;
    qps_status st = load_table(agg, dim, top, &t);
    if (st != QPS_OK)
        return st;
    const qps_row *rows = t.rows;
    uint64_t total = t.total;
    size_t n = t.n, shown = t.shown;
    /* the key column holds the dimension's name, "Total" and "(none)" too */
    size_t name_w = strlen(qps_dim_name(dim)), count_w = 5;
    if (name_w < 5)
        name_w = 5;
    char num[32];
    for (size_t i = 0; i < shown; i++) {
        size_t w = rows[i].key[0].len ? qps_text_width(rows[i].key[0].ptr, rows[i].key[0].len) : 6;
        if (w > name_w)
            name_w = w;
    }
    if (name_w > 60)
        name_w = 60;
    count_w = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)total);
    if (count_w < 5)
        count_w = 5;
    qps_buf_printf(o, "== %s ==\n", qps_dim_name(dim));
    if (qps_agg_approximate(agg, dim))
        qps_buf_printf(o, "  (more distinct values than the table keeps: counts are upper bounds)\n");
    qps_buf_printf(o, "  %*s  %-*s  %7s\n", (int)count_w, "count", (int)name_w, qps_dim_name(dim), "percent");
    qps_buf_printf(o, "  %*llu  %-*s  %6.2f%%\n", (int)count_w, (unsigned long long)total, (int)name_w, "Total",
                   total ? 100.0 : 0.0);
    for (size_t i = 0; i < shown; i++) {
        qps_buf_printf(o, "  %*llu  ", (int)count_w, (unsigned long long)rows[i].count);
        size_t before = o->len;
        if (rows[i].key[0].len == 0)
            qps_buf_append(o, "(none)", 6);
        else
            qps_escape_text(o, rows[i].key[0].ptr, rows[i].key[0].len);
        size_t w = rows[i].key[0].len ? qps_text_width(rows[i].key[0].ptr, rows[i].key[0].len) : o->len - before;
        for (; w < name_w; w++)
            qps_buf_putc(o, ' ');
        qps_buf_printf(o, "  %6.2f%%\n", percent(rows[i].count, total));
        maybe_flush(s);
    }
    if (shown < n)
        qps_buf_printf(o, "  ... %zu more\n", n - shown);
    if (dim == QPS_DIM_CATEGORY && (st = text_unknown(o, agg)) != QPS_OK) {
        qps_free(t.rows);
        return st;
    }
    if (dim == QPS_DIM_SCORE || dim == QPS_DIM_SPAM) {
        qps_spam_stats sp;
        qps_agg_spam_stats(agg, &sp);
        /* a mean over a score of 400 digits is not finite: n/a, not inf */
        qps_buf_printf(o, "  mean score:");
        if (sp.spam && isfinite(sp.spam_mean))
            qps_buf_printf(o, " spam %.2f", sp.spam_mean);
        else
            qps_buf_printf(o, " spam n/a");
        if (sp.ham && isfinite(sp.ham_mean))
            qps_buf_printf(o, ", ham %.2f\n", sp.ham_mean);
        else
            qps_buf_printf(o, ", ham n/a\n");
    }
    qps_free(t.rows);
    return QPS_OK;
}

/* ---- CSV ---- */

static void csv_metric(qps_buf *o, const char *name, const char *fmt, double value)
{
    qps_buf_printf(o, "%s,", name);
    qps_buf_printf(o, fmt, value);
    qps_buf_append(o, "\r\n", 2);
}

static qps_status csv_dim(sink *s, const qps_agg *agg, qps_dim dim, size_t top)
{
    qps_buf *o = &s->out;
    if (dim == QPS_DIM_CONNECTIONS || dim == QPS_DIM_CONNECTION_TIME) {
        qps_conn_stats c;
        qps_agg_conn_stats(agg, &c);
        qps_buf_printf(o, "%s,value\r\n", qps_dim_name(dim));
        if (dim == QPS_DIM_CONNECTIONS) {
            csv_metric(o, "accepted", "%.0f", (double)c.accepted);
            csv_metric(o, "peak", "%.0f", c.peak);
            csv_metric(o, "limit", "%.0f", c.limit);
            csv_metric(o, "too_many", "%.0f", (double)c.too_many);
            csv_metric(o, "hosts_allow", "%.0f", (double)c.hosts_allow);
            csv_metric(o, "queue_accepted", "%.0f", (double)c.queue_accepted);
        } else {
            csv_metric(o, "count", "%.0f", (double)c.timed);
            csv_metric(o, "mean", "%.3f", c.mean_s);
            csv_metric(o, "p50", "%.3f", c.p50_s);
            csv_metric(o, "p90", "%.3f", c.p90_s);
            csv_metric(o, "p99", "%.3f", c.p99_s);
            csv_metric(o, "max", "%.3f", c.max_s);
        }
        return QPS_OK;
    }
    table t;
    qps_status st = load_table(agg, dim, top, &t);
    if (st != QPS_OK)
        return st;
    if (t.pair)
        qps_buf_printf(o, "%s,%s,count,percent\r\n", column_name(dim, 0), column_name(dim, 1));
    else
        qps_buf_printf(o, "%s,count,percent\r\n", qps_dim_name(dim));
    for (size_t i = 0; i < t.shown; i++) {
        for (int k = 0; k <= (int)t.pair; k++) {
            /* score buckets ("-3", "<-10") are numbers formatted here, not
             * attacker text: a formula prefix would spoil the column */
            if (dim == QPS_DIM_SCORE)
                qps_buf_append(o, t.rows[i].key[k].ptr, t.rows[i].key[k].len);
            else
                qps_escape_csv(o, t.rows[i].key[k].ptr, t.rows[i].key[k].len);
            qps_buf_putc(o, ',');
        }
        qps_buf_printf(o, "%llu,%.2f\r\n", (unsigned long long)t.rows[i].count, percent(t.rows[i].count, t.total));
        maybe_flush(s);
    }
    qps_free(t.rows);
    return QPS_OK;
}

/* ---- JSON ---- */

static void json_string(qps_buf *o, const char *p, size_t len)
{
    qps_buf_putc(o, '"');
    qps_escape_json(o, p, len);
    qps_buf_putc(o, '"');
}

/* every double through qps_json_number: JSON has no inf or nan */
static void json_conn_time(qps_buf *o, const qps_conn_stats *c)
{
    const char *names[] = {"mean", "p50", "p90", "p99", "max"};
    const double values[] = {c->mean_s, c->p50_s, c->p90_s, c->p99_s, c->max_s};
    qps_buf_printf(o, "{\"count\":%llu", (unsigned long long)c->timed);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        qps_buf_printf(o, ",\"%s\":", names[i]);
        qps_json_number(o, values[i], 3);
    }
    qps_buf_putc(o, '}');
}

static qps_status json_dim(sink *s, const qps_agg *agg, qps_dim dim, size_t top)
{
    qps_buf *o = &s->out;
    json_string(o, qps_dim_name(dim), strlen(qps_dim_name(dim)));
    qps_buf_putc(o, ':');
    if (dim == QPS_DIM_CONNECTIONS || dim == QPS_DIM_CONNECTION_TIME) {
        qps_conn_stats c;
        qps_agg_conn_stats(agg, &c);
        if (dim == QPS_DIM_CONNECTIONS)
            qps_buf_printf(o,
                           "{\"accepted\":%llu,\"peak\":%u,\"limit\":%u,\"too_many\":%llu,\"hosts_allow\":%llu,"
                           "\"queue_accepted\":%llu}",
                           (unsigned long long)c.accepted, c.peak, c.limit, (unsigned long long)c.too_many,
                           (unsigned long long)c.hosts_allow, (unsigned long long)c.queue_accepted);
        else
            json_conn_time(o, &c);
        return QPS_OK;
    }
    table t;
    qps_status st = load_table(agg, dim, top, &t);
    if (st != QPS_OK)
        return st;
    const qps_row *rows = t.rows;
    uint64_t total = t.total;
    size_t n = t.n, shown = t.shown;
    bool pair = t.pair;
    qps_buf_printf(o, "{\"total\":%llu,\"approximate\":%s,\"distinct\":%zu,", (unsigned long long)total,
                   qps_agg_approximate(agg, dim) ? "true" : "false", n);
    if (dim == QPS_DIM_SCORE || dim == QPS_DIM_SPAM) {
        qps_spam_stats sp;
        qps_agg_spam_stats(agg, &sp);
        qps_buf_printf(o, "\"spam_mean\":");
        qps_json_number(o, sp.spam_mean, 3);
        qps_buf_printf(o, ",\"ham_mean\":");
        qps_json_number(o, sp.ham_mean, 3);
        qps_buf_putc(o, ',');
    }
    if (dim == QPS_DIM_CATEGORY) {
        qps_row *unknown;
        size_t nu;
        if ((st = qps_agg_unknown_plugins(agg, &unknown, &nu)) != QPS_OK) {
            qps_free(t.rows);
            return st;
        }
        qps_buf_printf(o, "\"unknown_plugins\":[");
        for (size_t i = 0; i < nu; i++) {
            qps_buf_printf(o, "%s{\"disposition\":", i ? "," : "");
            json_string(o, unknown[i].key[0].ptr, unknown[i].key[0].len);
            qps_buf_printf(o, ",\"count\":%llu}", (unsigned long long)unknown[i].count);
        }
        qps_buf_printf(o, "],");
        qps_free(unknown);
    }
    qps_buf_printf(o, "\"rows\":[");
    for (size_t i = 0; i < shown; i++) {
        if (i)
            qps_buf_putc(o, ',');
        qps_buf_putc(o, '{');
        for (int k = 0; k <= (int)pair; k++) {
            const char *col = column_name(dim, k);
            json_string(o, col, strlen(col));
            qps_buf_putc(o, ':');
            json_string(o, rows[i].key[k].ptr, rows[i].key[k].len);
            qps_buf_putc(o, ',');
        }
        qps_buf_printf(o, "\"count\":%llu,\"percent\":", (unsigned long long)rows[i].count);
        qps_json_number(o, percent(rows[i].count, total), 2);
        if (rows[i].error)
            qps_buf_printf(o, ",\"error\":%llu", (unsigned long long)rows[i].error);
        qps_buf_putc(o, '}');
        maybe_flush(s);
    }
    qps_buf_printf(o, "]}");
    qps_free(t.rows);
    return QPS_OK;
}

static void json_counts(qps_buf *o, const qps_agg *agg)
{
    static const char *const bad_names[] = {"none", "empty", "nul", "too_long", "label", "time", "no_pid",
                                            "truncated"};
    qps_counts c;
    qps_agg_counts(agg, &c);
    qps_buf_printf(o, "\"lines\":{\"read\":%llu,\"parsed\":%llu,\"invalid\":%llu,\"out_of_range\":%llu,"
                      "\"untimed\":%llu},\"transactions\":%llu,\"kinds\":{",
                   (unsigned long long)c.lines_read, (unsigned long long)c.lines_parsed,
                   (unsigned long long)c.lines_invalid, (unsigned long long)c.out_of_range,
                   (unsigned long long)c.untimed, (unsigned long long)c.transactions);
    for (int k = 0; k < QPS_KIND_COUNT_; k++)
        qps_buf_printf(o, "%s\"%s\":%llu", k ? "," : "", qps_kind_name((qps_kind)k),
                       (unsigned long long)c.by_kind[k]);
    qps_buf_printf(o, "},\"invalid\":{");
    for (int b = 1; b <= QPS_BAD_TRUNCATED; b++)
        qps_buf_printf(o, "%s\"%s\":%llu", b > 1 ? "," : "", bad_names[b], (unsigned long long)c.by_bad[b]);
    qps_buf_putc(o, '}');
}

const char qps_no_terse_note[] = "No logterse records in these logs: qpsmtpd logged no transaction summary."
                                 "\nLoad the qpstat plugin (or logging/logterse) in qpsmtpd's config/plugins,"
                                 "\nbefore the queue plugin, to count transactions: see README.md,"
                                 "\n\"The qpsmtpd plugin\" (or perldoc /usr/share/qpsmtpd/plugins/qpstat).\n";

bool qps_no_terse(const qps_counts *c)
{
    return c->transactions == 0 && c->lines_parsed > 0 && c->by_kind[QPS_KIND_TERSE] == 0 && c->out_of_range == 0;
}

qps_status qps_render(const qps_agg *agg, const qps_render_opts *opts, qps_write_fn write, void *ctx)
{
    if (!agg || !opts || !write || (opts->ndims && !opts->dims))
        return QPS_EINVAL;
    if (opts->format == QPS_FORMAT_CSV && opts->ndims != 1)
        return QPS_EINVAL;
    for (size_t i = 0; i < opts->ndims; i++)
        if (opts->dims[i] >= QPS_DIM_COUNT_)
            return QPS_EINVAL;
    sink s = {.write = write, .ctx = ctx};
    qps_status st = QPS_OK;
    qps_counts c;
    qps_agg_counts(agg, &c);
    switch (opts->format) {
    case QPS_FORMAT_MAIL:
        st = qps_render_mail(&s.out, agg, opts);
        break;
    case QPS_FORMAT_TEXT: {
        qps_buf_printf(&s.out, "Lines: %llu read, %llu parsed, %llu invalid. Transactions: %llu.\n",
                       (unsigned long long)c.lines_read, (unsigned long long)c.lines_parsed,
                       (unsigned long long)c.lines_invalid, (unsigned long long)c.transactions);
        /* instead of tables of zeros, why; the connection tables stay,
         * they do not need logterse */
        bool no_terse = qps_no_terse(&c);
        if (no_terse)
            qps_buf_append(&s.out, qps_no_terse_note, sizeof qps_no_terse_note - 1);
        for (size_t i = 0; i < opts->ndims && st == QPS_OK; i++) {
            if (no_terse && opts->dims[i] != QPS_DIM_CONNECTIONS && opts->dims[i] != QPS_DIM_CONNECTION_TIME)
                continue;
            qps_buf_putc(&s.out, '\n');
            st = text_dim(&s, agg, opts->dims[i], top_for(opts, opts->dims[i]));
        }
        break;
    }
    case QPS_FORMAT_CSV:
        st = csv_dim(&s, agg, opts->dims[0], top_for(opts, opts->dims[0]));
        break;
    case QPS_FORMAT_JSON:
        qps_buf_putc(&s.out, '{');
        json_counts(&s.out, agg);
        qps_buf_printf(&s.out, ",\"dimensions\":{");
        for (size_t i = 0; i < opts->ndims && st == QPS_OK; i++) {
            if (i)
                qps_buf_putc(&s.out, ',');
            st = json_dim(&s, agg, opts->dims[i], top_for(opts, opts->dims[i]));
        }
        qps_buf_printf(&s.out, "}}\n");
        break;
    default:
        st = QPS_EINVAL;
    }
    if (st == QPS_OK && s.out.failed)
        st = QPS_ENOMEM;
    if (st == QPS_OK)
        flush(&s);
    if (st == QPS_OK && s.failed)
        st = QPS_EIO;
    qps_buf_release(&s.out);
    return st;
}
