/*
 * mail.c - the daily mail (qpstat report --mail): one complete message for
 * `sendmail -t` with what Brian Read's mailstats contrib sends (period,
 * connections, transactions per hour, average spam scores, the hour x
 * category table, recipient domains, DNSBL services) and the seed's
 * "Email Disposition" table, as text or as multipart/alternative text +
 * HTML (tables and CSS bars: mail clients run no script and many drop SVG).
 *
 * A part is sent as 8bit UTF-8 text, readable as it stands, when every
 * line fits SMTP's 998 bytes (remote keys are cut at 200 bytes, so this
 * is the rule), else as quoted-printable. The boundary is chosen so that
 * it occurs in neither part. Every field from remote clients is escaped
 * (text: qps_escape_text; HTML: qps_escape_html).
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RECIPIENT_ROWS 20
#define KEY_MAX 200  /* bytes of a remote key shown; longer ones end in "..." */
#define LINE_MAX_8BIT 998

typedef struct figures figures;
static void text_unknown(qps_buf *o, const figures *f);

/* A remote key cut to KEY_MAX bytes, at a UTF-8 character boundary. */
static qps_str cut(qps_str s, bool *cut_off)
{
    *cut_off = s.len > KEY_MAX;
    if (*cut_off) {
        s.len = KEY_MAX;
        while (s.len && ((unsigned char)s.ptr[s.len] & 0xc0) == 0x80)
            s.len--;
    }
    return s;
}

static double pct(uint64_t n, uint64_t total)
{
    return total ? (double)n * 100.0 / (double)total : 0.0;
}

/* Quoted-printable (RFC 2045): lines of at most 76 characters, soft line
 * breaks, "=" and bytes outside printable ASCII as =XX. Lines end in LF,
 * as sendmail -t reads a message (it writes CRLF on the wire). */
static void put_qp(qps_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') {
            qps_buf_putc(out, '\n');
            col = 0;
            continue;
        }
        bool eol = i + 1 == len || s[i + 1] == '\n';
        /* a blank at the end of a line would be lost in transport */
        bool plain = c >= 33 && c <= 126 && c != '=';
        plain = plain || (c == ' ' && !eol);
        size_t need = plain ? 1 : 3;
        if (col + need > 75) {
            qps_buf_append(out, "=\n", 2);
            col = 0;
        }
        if (plain) {
            qps_buf_putc(out, (char)c);
        } else {
            char e[3] = {'=', hex[c >> 4], hex[c & 15]};
            qps_buf_append(out, e, 3);
        }
        col += need;
    }
}

/* RFC 5322 date: "Wed, 25 Nov 2026 21:00:00 +0100", local time. */
static void put_date(qps_buf *out, int64_t t)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    qps_civil c;
    if (qps_civil_from_unix(NULL, t, 0, &c) != QPS_OK && qps_civil_from_unix(NULL, 0, 1, &c) != QPS_OK)
        memset(&c, 0, sizeof c);
    long off = c.utc_offset / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    qps_buf_printf(out, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld", days[c.weekday % 7], c.day,
                   months[(c.month + 11) % 12], c.year, c.hour, c.minute, c.second, sign, off / 60, off % 60);
}

static void put_local(qps_buf *out, int64_t t)
{
    qps_civil c;
    if (qps_civil_from_unix(NULL, t, 0, &c) == QPS_OK)
        qps_buf_printf(out, "%04d-%02d-%02d %02d:%02d", c.year, c.month, c.day, c.hour, c.minute);
}

/* ---- the figures, computed once for both parts ---- */

struct figures {
    const qps_agg *agg;
    const qps_render_opts *opts;
    qps_counts counts;
    qps_conn_stats conn;
    qps_spam_stats spam;
    qps_agg_opts_view sel;
    double hours;             /* of the period, up to the mail's time */
    /* hour x category: column c < ncat is the map's category c, ncat is Unknown */
    const qps_categories *map;
    size_t ncat;
    uint64_t *cells;          /* [24][ncat + 1] */
    uint64_t *col_total;      /* [ncat + 1] */
    uint64_t hour_total[24];
    bool unknown_col;         /* Unknown has transactions: show its column */
    qps_row *recipients, *accepted, *dnsbl, *unknown;
    size_t nrecipients, naccepted, ndnsbl, nunknown;
};

static void figures_free(figures *f)
{
    free(f->cells);
    free(f->col_total);
    qps_free(f->recipients);
    qps_free(f->accepted);
    qps_free(f->dnsbl);
    qps_free(f->unknown);
}

static bool key_is(qps_str k, const char *s)
{
    return k.len == strlen(s) && memcmp(k.ptr, s, k.len) == 0;
}

static qps_status hours_load(figures *f, const qps_agg *agg);

static qps_status figures_load(figures *f, const qps_agg *agg, const qps_render_opts *opts)
{
    memset(f, 0, sizeof *f);
    f->agg = agg;
    f->opts = opts;
    qps_agg_counts(agg, &f->counts);
    qps_agg_conn_stats(agg, &f->conn);
    qps_agg_spam_stats(agg, &f->spam);
    qps_agg_selection(agg, &f->sel);
    if (f->sel.has_since) {
        int64_t end = f->sel.has_until ? f->sel.until : opts->mail_time;
        if (opts->mail_time && opts->mail_time < end)
            end = opts->mail_time;
        f->hours = end > f->sel.since ? (double)(end - f->sel.since) / 3600.0 : 0;
    }
    qps_status st = hours_load(f, agg);
    if (st != QPS_OK)
        return st;
    if ((st = qps_agg_rows(agg, QPS_DIM_RECIPIENT, &f->recipients, &f->nrecipients)) != QPS_OK ||
        (st = qps_agg_recipient_accepted(agg, &f->accepted, &f->naccepted)) != QPS_OK ||
        (st = qps_agg_rows(agg, QPS_DIM_DNSBL, &f->dnsbl, &f->ndnsbl)) != QPS_OK ||
        (st = qps_agg_unknown_plugins(agg, &f->unknown, &f->nunknown)) != QPS_OK)
        return st;
    if (f->nrecipients > RECIPIENT_ROWS)
        f->nrecipients = RECIPIENT_ROWS;
    return QPS_OK;
}

/* The hour x category cells: column c < ncat is the map's category c,
 * column ncat is Unknown. */
static qps_status hours_load(figures *f, const qps_agg *agg)
{
    f->agg = agg;
    f->map = qps_agg_categories(agg);
    f->ncat = qps_categories_count(f->map);
    f->cells = calloc(24 * (f->ncat + 1), sizeof *f->cells);
    f->col_total = calloc(f->ncat + 1, sizeof *f->col_total);
    if (!f->cells || !f->col_total)
        return QPS_ENOMEM;
    qps_row *rows;
    size_t n;
    qps_status st = qps_agg_rows(agg, QPS_DIM_HOUR_CATEGORY, &rows, &n);
    if (st != QPS_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        qps_str h = rows[i].key[0], cat = rows[i].key[1];
        if (h.len != 2 || h.ptr[0] < '0' || h.ptr[0] > '2' || h.ptr[1] < '0' || h.ptr[1] > '9')
            continue;
        int hour = (h.ptr[0] - '0') * 10 + (h.ptr[1] - '0');
        if (hour > 23)
            continue;
        size_t c = 0;
        while (c < f->ncat && !key_is(cat, qps_categories_name(f->map, c)))
            c++;
        /* a category the map no longer has cannot come from this agg; Unknown otherwise */
        f->cells[(size_t)hour * (f->ncat + 1) + c] += rows[i].count;
        f->col_total[c] += rows[i].count;
        f->hour_total[hour] += rows[i].count;
    }
    qps_free(rows);
    f->unknown_col = f->col_total[f->ncat] != 0;
    return QPS_OK;
}

static uint64_t accepted_of(const figures *f, qps_str domain)
{
    for (size_t i = 0; i < f->naccepted; i++)
        if (f->accepted[i].key[0].len == domain.len && memcmp(f->accepted[i].key[0].ptr, domain.ptr, domain.len) == 0)
            return f->accepted[i].count;
    return 0;
}

static uint64_t total_hours(const figures *f)
{
    uint64_t t = 0;
    for (int h = 0; h < 24; h++)
        t += f->hour_total[h];
    return t;
}

/* ---- text ---- */

static void text_escaped(qps_buf *o, qps_str s)
{
    bool more;
    s = cut(s, &more);
    if (s.len)
        qps_escape_text(o, s.ptr, s.len);
    else
        qps_buf_append(o, "(none)", 6);
    if (more)
        qps_buf_append(o, "...", 3);
}

/* The selection's period, as both parts say it (plain ASCII: no
 * escaping needed in either). */
static void put_period(qps_buf *o, const figures *f)
{
    if (f->sel.has_since)
        put_local(o, f->sel.since);
    else
        qps_buf_printf(o, "the first record");
    qps_buf_printf(o, " to ");
    if (f->sel.has_until)
        put_local(o, f->sel.until);
    else
        qps_buf_printf(o, "the last record");
    qps_buf_printf(o, "%s", f->sel.utc ? " (UTC)" : " (local time)");
}

/* A mean over a 400-digit score is not finite: n/a, as the report says,
 * never inf (the escape scope's policy for numbers) */
static void text_mean(qps_buf *o, const char *what, uint64_t n, double mean)
{
    if (n && isfinite(mean))
        qps_buf_printf(o, "  %-28s %10.2f  (%llu scored)\n", what, mean, (unsigned long long)n);
    else
        qps_buf_printf(o, "  %-28s %10s\n", what, "n/a");
}

static void text_summary(qps_buf *o, const figures *f)
{
    qps_buf_printf(o, "Period: ");
    put_period(o, f);
    qps_buf_printf(o, "\n\n");
    qps_buf_printf(o, "  %-28s %10llu\n", "Connections", (unsigned long long)f->conn.accepted);
    qps_buf_printf(o, "  %-28s %10llu\n", "Transactions", (unsigned long long)f->counts.transactions);
    if (f->hours > 0)
        qps_buf_printf(o, "  %-28s %10.2f\n", "Transactions per hour", (double)f->counts.transactions / f->hours);
    else
        qps_buf_printf(o, "  %-28s %10s\n", "Transactions per hour", "n/a");
    qps_buf_printf(o, "Average spam score\n");
    text_mean(o, "accepted (queued)", f->spam.accepted_scored, f->spam.accepted_mean);
    text_mean(o, "rejected", f->spam.rejected_scored, f->spam.rejected_mean);
    text_mean(o, "ham", f->spam.ham, f->spam.ham_mean);
}

static const char *col_name(const figures *f, size_t c)
{
    return c < f->ncat ? qps_categories_name(f->map, c) : QPS_CATEGORY_UNKNOWN;
}

static bool col_shown(const figures *f, size_t c)
{
    return c < f->ncat || f->unknown_col;
}

static size_t col_width(const figures *f, size_t c)
{
    size_t w = qps_text_width(col_name(f, c), strlen(col_name(f, c)));
    return w < 6 ? 6 : w;
}

static void text_hour_table(qps_buf *o, const figures *f)
{
    uint64_t total = total_hours(f);
    qps_buf_printf(o, "%-7s", "Hour");
    for (size_t c = 0; c <= f->ncat; c++) {
        if (!col_shown(f, c))
            continue;
        const char *name = col_name(f, c);
        qps_buf_append(o, "  ", 2);
        for (size_t k = qps_text_width(name, strlen(name)); k < col_width(f, c); k++)
            qps_buf_putc(o, ' ');
        qps_escape_text(o, name, strlen(name));
    }
    qps_buf_printf(o, "  %8s  %7s\n", "TOTALS", "PERCENT");
    for (int h = 0; h < 26; h++) {
        if (h < 24)
            qps_buf_printf(o, "%02d     ", h);
        else
            qps_buf_printf(o, "%-7s", h == 24 ? "TOTALS" : "PERCENT");
        for (size_t c = 0; c <= f->ncat; c++) {
            if (!col_shown(f, c))
                continue;
            int w = (int)col_width(f, c);
            if (h == 25)
                qps_buf_printf(o, "  %*.1f%%", w - 1, pct(f->col_total[c], total));
            else
                qps_buf_printf(o, "  %*llu", w,
                               (unsigned long long)(h < 24 ? f->cells[(size_t)h * (f->ncat + 1) + c] : f->col_total[c]));
        }
        uint64_t row = h < 24 ? f->hour_total[h] : total;
        if (h < 25)
            qps_buf_printf(o, "  %8llu  %6.1f%%", (unsigned long long)row, pct(row, total));
        qps_buf_putc(o, '\n');
    }
}

qps_status qps_render_hour_matrix(qps_buf *out, const qps_agg *agg)
{
    figures f;
    memset(&f, 0, sizeof f);
    qps_status st = hours_load(&f, agg);
    if (st == QPS_OK) {
        text_hour_table(out, &f);
        if (f.unknown_col && (st = qps_agg_unknown_plugins(agg, &f.unknown, &f.nunknown)) == QPS_OK)
            text_unknown(out, &f);
    }
    figures_free(&f);
    return st;
}

static void text_unknown(qps_buf *o, const figures *f)
{
    if (!f->nunknown)
        return;
    qps_buf_printf(o, QPS_CATEGORY_UNKNOWN " (plugins not in the category map):\n");
    for (size_t i = 0; i < f->nunknown; i++) {
        qps_buf_printf(o, "%8llu  ", (unsigned long long)f->unknown[i].count);
        text_escaped(o, f->unknown[i].key[0]);
        qps_buf_putc(o, '\n');
    }
}

static void text_recipients(qps_buf *o, const figures *f)
{
    qps_buf_printf(o, "%8s  %8s  %8s  %s\n", "total", "denied", "accepted", "recipient domain");
    for (size_t i = 0; i < f->nrecipients; i++) {
        uint64_t acc = accepted_of(f, f->recipients[i].key[0]);
        uint64_t total = f->recipients[i].count;
        qps_buf_printf(o, "%8llu  %8llu  %8llu  ", (unsigned long long)total,
                       (unsigned long long)(total - (acc < total ? acc : total)), (unsigned long long)acc);
        text_escaped(o, f->recipients[i].key[0]);
        qps_buf_putc(o, '\n');
    }
}

static void text_dnsbl(qps_buf *o, const figures *f)
{
    uint64_t total = qps_agg_total(f->agg, QPS_DIM_DNSBL);
    qps_buf_printf(o, "%8s  %7s  %s\n", "count", "percent", "DNSBL service");
    for (size_t i = 0; i < f->ndnsbl; i++) {
        qps_buf_printf(o, "%8llu  %6.2f%%  ", (unsigned long long)f->dnsbl[i].count, pct(f->dnsbl[i].count, total));
        text_escaped(o, f->dnsbl[i].key[0]);
        qps_buf_putc(o, '\n');
    }
}

static qps_status text_body(qps_buf *o, const figures *f)
{
    qps_buf_printf(o, "qpstat: mail statistics\n");
    text_summary(o, f);
    if (qps_no_terse(&f->counts))
        qps_buf_printf(o, "\n%s", qps_no_terse_note);
    qps_buf_printf(o, "\n== Transactions by hour and category ==\n");
    text_hour_table(o, f);
    text_unknown(o, f);
    qps_buf_printf(o, "\n== Recipient domains ==\n");
    text_recipients(o, f);
    qps_buf_printf(o, "\n== DNSBL services ==\n");
    text_dnsbl(o, f);
    qps_buf_printf(o, "\n== Email Disposition on ");
    if (f->opts->mail_date)
        qps_escape_text(o, f->opts->mail_date, strlen(f->opts->mail_date));
    qps_buf_printf(o, " ==\n");
    return qps_render_seed_matrix(o, f->agg);
}

/* ---- HTML ---- */

static void html_escaped(qps_buf *o, qps_str s)
{
    bool more;
    s = cut(s, &more);
    if (s.len)
        qps_escape_html(o, s.ptr, s.len);
    else
        qps_buf_append(o, "<i>(none)</i>", 13);
    if (more)
        qps_buf_append(o, "...", 3);
}

static const char html_head[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
    "<style>\n"
    "body{font-family:sans-serif;color:#222}\n"
    "table{border-collapse:collapse;margin:0 0 1.2em 0}\n"
    "th,td{border:1px solid #ccc;padding:2px 6px;font-size:13px}\n"
    "th{background:#eef}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "tr.total td{font-weight:bold;background:#f4f4f4}\n"
    "</style></head><body>\n";

/* A bar as a sized block: no script, no SVG, no image. */
static void html_bar(qps_buf *o, double percent, const char *color)
{
    int w = (int)(percent * 2 + 0.5);
    if (w < 0)
        w = 0;
    qps_buf_printf(o,
                   "<td><div style=\"background:%s;height:10px;width:%dpx\" title=\"%.1f%%\"></div></td>",
                   color, w, percent);
}

static void html_num_td(qps_buf *o, uint64_t n)
{
    qps_buf_printf(o, "<td class=\"n\">%llu</td>", (unsigned long long)n);
}

static void html_mean(qps_buf *o, const char *what, uint64_t n, double mean)
{
    qps_buf_printf(o, "<tr><th>%s</th>", what);
    if (n && isfinite(mean))
        qps_buf_printf(o, "<td class=\"n\">%.2f</td><td class=\"n\">%llu scored</td></tr>\n", mean,
                       (unsigned long long)n);
    else
        qps_buf_printf(o, "<td class=\"n\">n/a</td><td></td></tr>\n");
}

static qps_status html_body(qps_buf *o, const figures *f)
{
    qps_buf_append(o, html_head, sizeof html_head - 1);
    qps_buf_printf(o, "<h1>qpstat: mail statistics</h1>\n<p>Period: ");
    put_period(o, f);
    qps_buf_printf(o, "</p>\n");
    qps_buf_printf(o, "<table id=\"summary\">\n<tr><th>Connections</th><td class=\"n\">%llu</td><td></td></tr>\n",
                   (unsigned long long)f->conn.accepted);
    qps_buf_printf(o, "<tr><th>Transactions</th><td class=\"n\">%llu</td><td></td></tr>\n",
                   (unsigned long long)f->counts.transactions);
    if (f->hours > 0)
        qps_buf_printf(o, "<tr><th>Transactions per hour</th><td class=\"n\">%.2f</td><td></td></tr>\n",
                       (double)f->counts.transactions / f->hours);
    else
        qps_buf_printf(o, "<tr><th>Transactions per hour</th><td class=\"n\">n/a</td><td></td></tr>\n");
    html_mean(o, "Average spam score, accepted (queued)", f->spam.accepted_scored, f->spam.accepted_mean);
    html_mean(o, "Average spam score, rejected", f->spam.rejected_scored, f->spam.rejected_mean);
    html_mean(o, "Average spam score, ham", f->spam.ham, f->spam.ham_mean);
    qps_buf_printf(o, "</table>\n");
    if (qps_no_terse(&f->counts)) {
        qps_buf_printf(o, "<p id=\"no-terse\">");
        qps_escape_html(o, qps_no_terse_note, strlen(qps_no_terse_note));
        qps_buf_printf(o, "</p>\n");
    }

    uint64_t total = total_hours(f);
    qps_buf_printf(o, "<h2>Transactions by hour and category</h2>\n<table id=\"hours\">\n<tr><th>Hour</th>");
    for (size_t c = 0; c <= f->ncat; c++)
        if (col_shown(f, c)) {
            qps_buf_printf(o, "<th>");
            qps_escape_html(o, col_name(f, c), strlen(col_name(f, c)));
            qps_buf_printf(o, "</th>");
        }
    qps_buf_printf(o, "<th>TOTALS</th><th>PERCENT</th><th></th></tr>\n");
    for (int h = 0; h <= 24; h++) {
        qps_buf_printf(o, h < 24 ? "<tr><th>%02d</th>" : "<tr class=\"total\"><th>TOTALS</th>", h);
        for (size_t c = 0; c <= f->ncat; c++)
            if (col_shown(f, c))
                html_num_td(o, h < 24 ? f->cells[(size_t)h * (f->ncat + 1) + c] : f->col_total[c]);
        uint64_t row = h < 24 ? f->hour_total[h] : total;
        html_num_td(o, row);
        qps_buf_printf(o, "<td class=\"n\">%.1f%%</td>", pct(row, total));
        if (h < 24)
            html_bar(o, pct(row, total), "#4a7bd0");
        else
            qps_buf_printf(o, "<td></td>");
        qps_buf_printf(o, "</tr>\n");
    }
    qps_buf_printf(o, "<tr class=\"total\"><th>PERCENT</th>");
    for (size_t c = 0; c <= f->ncat; c++)
        if (col_shown(f, c))
            qps_buf_printf(o, "<td class=\"n\">%.1f%%</td>", pct(f->col_total[c], total));
    qps_buf_printf(o, "<td></td><td></td><td></td></tr>\n</table>\n");
    if (f->nunknown) {
        qps_buf_printf(o, "<p id=\"unknown\">" QPS_CATEGORY_UNKNOWN " (plugins not in the category map): ");
        for (size_t i = 0; i < f->nunknown; i++) {
            qps_buf_printf(o, "%s", i ? ", " : "");
            html_escaped(o, f->unknown[i].key[0]);
            qps_buf_printf(o, " %llu", (unsigned long long)f->unknown[i].count);
        }
        qps_buf_printf(o, "</p>\n");
    }

    qps_buf_printf(o, "<h2>Recipient domains</h2>\n<table id=\"recipients\">\n<tr><th>total</th><th>denied</th>"
                      "<th>accepted</th><th>recipient domain</th><th>accepted share</th></tr>\n");
    for (size_t i = 0; i < f->nrecipients; i++) {
        uint64_t t = f->recipients[i].count, acc = accepted_of(f, f->recipients[i].key[0]);
        if (acc > t)
            acc = t;
        qps_buf_printf(o, "<tr>");
        html_num_td(o, t);
        html_num_td(o, t - acc);
        html_num_td(o, acc);
        qps_buf_printf(o, "<td>");
        html_escaped(o, f->recipients[i].key[0]);
        qps_buf_printf(o, "</td>");
        html_bar(o, pct(acc, t), "#3a9a50");
        qps_buf_printf(o, "</tr>\n");
    }
    qps_buf_printf(o, "</table>\n");

    uint64_t dt = qps_agg_total(f->agg, QPS_DIM_DNSBL);
    qps_buf_printf(o, "<h2>DNSBL services</h2>\n<table id=\"dnsbl\">\n<tr><th>count</th><th>percent</th>"
                      "<th>DNSBL service</th><th></th></tr>\n");
    for (size_t i = 0; i < f->ndnsbl; i++) {
        qps_buf_printf(o, "<tr>");
        html_num_td(o, f->dnsbl[i].count);
        qps_buf_printf(o, "<td class=\"n\">%.2f%%</td><td>", pct(f->dnsbl[i].count, dt));
        html_escaped(o, f->dnsbl[i].key[0]);
        qps_buf_printf(o, "</td>");
        html_bar(o, pct(f->dnsbl[i].count, dt), "#c04040");
        qps_buf_printf(o, "</tr>\n");
    }
    qps_buf_printf(o, "</table>\n");

    qps_row *rows, *disp;
    size_t n, nd;
    qps_status st = qps_agg_rows(f->agg, QPS_DIM_DISPOSITION_TLD, &rows, &n);
    if (st != QPS_OK)
        return st;
    if ((st = qps_agg_rows(f->agg, QPS_DIM_DISPOSITION, &disp, &nd)) != QPS_OK) {
        qps_free(rows);
        return st;
    }
    uint64_t tt = qps_agg_total(f->agg, QPS_DIM_DISPOSITION);
    qps_buf_printf(o, "<h2>Email Disposition on ");
    if (f->opts->mail_date)
        qps_escape_html(o, f->opts->mail_date, strlen(f->opts->mail_date));
    qps_buf_printf(o, "</h2>\n<table id=\"disposition_tld\">\n<tr><th>Denying plugin or \"queued\"</th><th>TLD</th>"
                      "<th>Count</th><th>Pct</th></tr>\n");
    /* each disposition's TLD rows, then its total, in the seed's order */
    for (size_t d = 0; d < nd; d++) {
        qps_str dk = disp[d].key[0];
        for (size_t i = 0; i < n; i++) {
            if (rows[i].key[0].len != dk.len || memcmp(rows[i].key[0].ptr, dk.ptr, dk.len) != 0)
                continue;
            qps_buf_printf(o, "<tr><td>");
            html_escaped(o, dk);
            qps_buf_printf(o, "</td><td>");
            html_escaped(o, rows[i].key[1]);
            qps_buf_printf(o, "</td>");
            html_num_td(o, rows[i].count);
            qps_buf_printf(o, "<td></td></tr>\n");
        }
        qps_buf_printf(o, "<tr class=\"total\"><td>");
        html_escaped(o, dk);
        qps_buf_printf(o, "</td><td>{Total}</td>");
        html_num_td(o, disp[d].count);
        qps_buf_printf(o, "<td class=\"n\">%.1f%%</td></tr>\n", pct(disp[d].count, tt));
    }
    qps_buf_printf(o, "<tr class=\"total\"><td></td><td>{{Total}}</td>");
    html_num_td(o, tt);
    qps_buf_printf(o, "<td class=\"n\">%.1f%%</td></tr>\n</table>\n</body></html>\n", tt ? 100.0 : 0.0);
    qps_free(rows);
    qps_free(disp);
    return QPS_OK;
}

/* ---- the message ---- */

/* An address header's value: printable ASCII only (a CR or LF would start
 * a header of the caller's choosing). */
static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

static bool lines_fit(const qps_buf *b)
{
    size_t col = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] == '\n')
            col = 0;
        else if (++col > LINE_MAX_8BIT || b->data[i] == '\r')
            return false;
    }
    return true;
}

static void put_part(qps_buf *out, const char *type, const qps_buf *body)
{
    bool plain = lines_fit(body);
    qps_buf_printf(out, "Content-Type: %s; charset=utf-8\nContent-Transfer-Encoding: %s\n\n", type,
                   plain ? "8bit" : "quoted-printable");
    if (plain)
        qps_buf_append(out, body->data, body->len);
    else
        put_qp(out, body->data, body->len);
}

static bool holds(const qps_buf *b, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; b->len >= n && i + n <= b->len; i++)
        if (memcmp(b->data + i, s, n) == 0)
            return true;
    return false;
}

qps_status qps_render_mail(qps_buf *out, const qps_agg *agg, const qps_render_opts *opts)
{
    const char *from = opts->mail_from ? opts->mail_from : "qpstat";
    const char *to = opts->mail_to ? opts->mail_to : "admin";
    if (!*from || !*to || !header_safe(from) || !header_safe(to) ||
        (opts->mail_date && !header_safe(opts->mail_date)))
        return QPS_EINVAL;
    /* Date: the caller's time, else the aggregator's now, else the clock */
    qps_render_opts o = *opts;
    if (!o.mail_time) {
        qps_agg_opts_view v;
        qps_agg_selection(agg, &v);
        o.mail_time = v.now ? v.now : (int64_t)time(NULL);
    }
    opts = &o;
    figures f;
    qps_status st = figures_load(&f, agg, opts);
    qps_buf text = {0}, html = {0};
    if (st == QPS_OK)
        st = text_body(&text, &f);
    if (st == QPS_OK && opts->mail_html)
        st = html_body(&html, &f);
    figures_free(&f);
    if (st == QPS_OK && (text.failed || html.failed))
        st = QPS_ENOMEM;
    if (st != QPS_OK) {
        qps_buf_release(&text);
        qps_buf_release(&html);
        return st;
    }
    qps_buf_printf(out, "From: %s\nTo: %s\nDate: ", from, to);
    put_date(out, opts->mail_time);
    qps_buf_printf(out, "\nSubject: Email Disposition on %s\nMIME-Version: 1.0\n",
                   opts->mail_date ? opts->mail_date : "");
    if (!opts->mail_html) {
        put_part(out, "text/plain", &text);
    } else {
        /* a boundary neither part holds */
        char boundary[48];
        unsigned n = 0;
        do
            snprintf(boundary, sizeof boundary, "qpstat-alternative-%u", n++);
        while (holds(&text, boundary) || holds(&html, boundary));
        qps_buf_printf(out, "Content-Type: multipart/alternative; boundary=\"%s\"\n\n"
                            "This is a message in MIME format: text and HTML.\n\n--%s\n",
                       boundary, boundary);
        put_part(out, "text/plain", &text);
        qps_buf_printf(out, "\n--%s\n", boundary);
        put_part(out, "text/html", &html);
        qps_buf_printf(out, "\n--%s--\n", boundary);
    }
    qps_buf_release(&text);
    qps_buf_release(&html);
    return out->failed ? QPS_ENOMEM : QPS_OK;
}
