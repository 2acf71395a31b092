/*
 * list.c - the transactions behind a count: the newest logterse records
 * kept (within a limit and a memory budget) and rendered as text, CSV or
 * JSON with the output kind's escaping. `qpstat list` and serve's
 * /api/list print through it.
 *
 * License: MIT (see LICENSE).
 */
#include "qps_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMORY_BUDGET (32u << 20) /* bytes of kept records: memory stays bounded */

/* ---- the kept records ---- */

typedef struct {
    int64_t sec;
    uint64_t seq;   /* order of arrival: ties keep the log's order */
    bool has_time;
    size_t size;
    qps_str host, field[QPS_TF_COUNT_];
    int nfields;
    /* the bytes follow */
} kept;

struct qps_list {
    kept **heap;          /* a min-heap: heap[0] is the oldest kept */
    size_t cap, n;
    size_t limit;         /* 0 = as memory allows */
    size_t bytes;
    uint64_t matched;
    bool oom;
};

/* Untimed records (logs without stamps) are the oldest; ties keep the
 * order of arrival. */
static bool older(const kept *x, const kept *y)
{
    if (x->has_time != y->has_time)
        return !x->has_time;
    if (x->has_time && x->sec != y->sec)
        return x->sec < y->sec;
    return x->seq < y->seq;
}

static void sift_down(qps_list *k, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < k->n && older(k->heap[l], k->heap[m]))
            m = l;
        if (r < k->n && older(k->heap[r], k->heap[m]))
            m = r;
        if (m == i)
            return;
        kept *t = k->heap[i];
        k->heap[i] = k->heap[m];
        k->heap[m] = t;
        i = m;
    }
}

static void drop_oldest(qps_list *k)
{
    kept *old = k->heap[0];
    k->bytes -= old->size;
    free(old);
    k->heap[0] = k->heap[--k->n];
    sift_down(k, 0);
}

static bool grow(qps_list *k)
{
    size_t cap = k->cap ? k->cap * 2 : 256;
    kept **heap = realloc(k->heap, cap * sizeof *heap);
    if (!heap)
        return false;
    k->heap = heap;
    k->cap = cap;
    return true;
}

/* The newest by time are kept, whatever the order records come in (the
 * stores of several servers one after the other, files out of order). */
static void keep(qps_list *k, const qps_record *r)
{
    k->matched++;
    size_t size = sizeof(kept) + r->host.len;
    for (int f = 0; f < QPS_TF_COUNT_; f++)
        size += r->field[f].len;
    kept *e = malloc(size);
    if (!e) {
        k->oom = true;
        return;
    }
    e->sec = r->unix_sec;
    e->seq = k->matched;
    e->has_time = r->has_time;
    e->size = size;
    e->nfields = r->nfields;
    char *p = (char *)(e + 1);
    memcpy(p, r->host.ptr ? r->host.ptr : "", r->host.len);
    e->host = (qps_str){p, r->host.len};
    p += r->host.len;
    for (int f = 0; f < QPS_TF_COUNT_; f++) {
        size_t len = f < r->nfields ? r->field[f].len : 0;
        if (len)
            memcpy(p, r->field[f].ptr, len);
        e->field[f] = (qps_str){p, len};
        p += len;
    }
    while (k->n && ((k->limit && k->n >= k->limit) || k->bytes + size > MEMORY_BUDGET)) {
        if (older(e, k->heap[0])) {
            free(e); /* older than all that is kept: it would go first */
            return;
        }
        drop_oldest(k);
    }
    if (k->n == k->cap && !grow(k)) {
        free(e);
        k->oom = true;
        return;
    }
    size_t i = k->n++;
    k->heap[i] = e;
    while (i && older(k->heap[i], k->heap[(i - 1) / 2])) {
        kept *t = k->heap[i];
        k->heap[i] = k->heap[(i - 1) / 2];
        k->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    k->bytes += size;
}

/* ---- output ---- */

static void stamp(const kept *e, int utc, qps_tzcache *tz, char out[32])
{
    qps_civil c;
    if (!e->has_time || qps_civil_from_unix(tz, e->sec, utc, &c) != QPS_OK)
        snprintf(out, 32, "-");
    else
        snprintf(out, 32, "%04d-%02d-%02d %02d:%02d:%02d%s", c.year, c.month, c.day, c.hour, c.minute, c.second,
                 utc ? "Z" : "");
}

static const char *const columns[] = {"time", "server", "ip", "helo", "sender", "recipients",
                                      "disposition", "code", "text", "score"};
static const int column_field[] = {-1, -1, QPS_TF_IP, QPS_TF_HELO, QPS_TF_SENDER, QPS_TF_RCPTS,
                                   QPS_TF_DISPOSITION, QPS_TF_CODE, QPS_TF_TEXT, -1};
#define NCOLUMNS (sizeof columns / sizeof columns[0])
enum { COLUMN_TIME = 0, COLUMN_SERVER = 1, COLUMN_SCORE = NCOLUMNS - 1 };

/* A log field in the format's escaping; an empty one is "-" in text. */
static void text_cell(qps_buf *out, qps_format format, qps_str v)
{
    if (format == QPS_FORMAT_CSV) {
        qps_escape_csv(out, v.ptr, v.len);
    } else if (format == QPS_FORMAT_JSON) {
        qps_buf_putc(out, '"');
        qps_escape_json(out, v.ptr, v.len);
        qps_buf_putc(out, '"');
    } else if (v.len) {
        qps_escape_text(out, v.ptr, v.len);
    } else {
        qps_buf_putc(out, '-');
    }
}

/* The spam score is a number the program formats (so a CSV -3.5 stays a
 * number, without the formula quote). A score of 400 digits overflows to
 * inf: n/a in text, an empty cell in CSV, null in JSON, as for no score. */
static void score_cell(qps_buf *out, qps_format format, bool scored, double score)
{
    bool known = scored && isfinite(score);
    if (format == QPS_FORMAT_JSON)
        qps_json_number(out, known ? score : NAN, 1);
    else if (known)
        qps_buf_printf(out, "%.1f", score);
    else if (format == QPS_FORMAT_TEXT)
        qps_buf_append(out, scored ? "n/a" : "-", scored ? 3 : 1);
}

/* Untimed records (logs without stamps) sort as the oldest. */
static int newest_first(const void *a, const void *b)
{
    const kept *x = *(const kept *const *)a, *y = *(const kept *const *)b;
    if (x->has_time != y->has_time)
        return x->has_time ? -1 : 1;
    if (x->has_time && x->sec != y->sec)
        return x->sec > y->sec ? -1 : 1;
    return x->seq > y->seq ? -1 : x->seq < y->seq;
}

static void render(const qps_list *k, qps_format format, int utc, qps_buf *out)
{
    qps_tzcache tz = QPS_TZCACHE_INIT;
    if (format == QPS_FORMAT_CSV) {
        for (size_t c = 0; c < NCOLUMNS; c++)
            qps_buf_printf(out, "%s%s", c ? "," : "", columns[c]);
        qps_buf_append(out, "\r\n", 2);
    } else if (format == QPS_FORMAT_JSON) {
        qps_buf_printf(out, "{\"matched\":%llu,\"shown\":%zu,\"transactions\":[", (unsigned long long)k->matched,
                       k->n);
    }
    /* newest first: several files need not come in time order */
    const kept **order = k->n ? malloc(k->n * sizeof *order) : NULL;
    if (k->n && !order) {
        out->failed = 1;
        return;
    }
    for (size_t i = 0; i < k->n; i++)
        order[i] = k->heap[i];
    qsort(order, k->n, sizeof *order, newest_first);
    for (size_t i = k->n; i-- > 0;) {
        const kept *e = order[k->n - 1 - i];
        char when[32];
        stamp(e, utc, &tz, when);
        qps_spam spam;
        bool scored = e->nfields == 9 && qps_spam_parse(e->field[QPS_TF_SPAM], &spam) == QPS_OK;
        if (format == QPS_FORMAT_JSON)
            qps_buf_append(out, i + 1 == k->n ? "{" : ",{", i + 1 == k->n ? 1 : 2);
        for (size_t c = 0; c < NCOLUMNS; c++) {
            if (format == QPS_FORMAT_CSV && c)
                qps_buf_putc(out, ',');
            else if (format == QPS_FORMAT_JSON)
                qps_buf_printf(out, "%s\"%s\":", c ? "," : "", columns[c]);
            else if (format == QPS_FORMAT_TEXT && c)
                qps_buf_append(out, "  ", 2);
            if (c == COLUMN_SCORE)
                score_cell(out, format, scored, scored ? spam.score : 0);
            else if (c == COLUMN_TIME && format == QPS_FORMAT_CSV)
                /* our own digits, not log text: no formula quote (an
                 * untimed record gets an empty cell, not '-) */
                qps_buf_printf(out, "%s", e->has_time ? when : "");
            else
                text_cell(out, format, c == COLUMN_TIME     ? (qps_str){when, strlen(when)}
                                       : c == COLUMN_SERVER ? e->host
                                                            : e->field[column_field[c]]);
        }
        if (format == QPS_FORMAT_CSV)
            qps_buf_append(out, "\r\n", 2);
        else if (format == QPS_FORMAT_JSON)
            qps_buf_putc(out, '}');
        else
            qps_buf_putc(out, '\n');
    }
    free(order);
    if (format == QPS_FORMAT_JSON)
        qps_buf_append(out, "]}\n", 3);
}


qps_list *qps_list_new(size_t limit)
{
    qps_list *k = calloc(1, sizeof *k);
    if (k)
        k->limit = limit;
    return k;
}

void qps_list_free(qps_list *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++)
        free(k->heap[i]);
    free(k->heap);
    free(k);
}

qps_status qps_list_add(qps_list *k, const qps_record *rec)
{
    if (!k || !rec)
        return QPS_EINVAL;
    if (rec->kind != QPS_KIND_TERSE)
        return QPS_OK;
    keep(k, rec);
    if (k->oom) {
        k->oom = false;
        return QPS_ENOMEM;
    }
    return QPS_OK;
}

uint64_t qps_list_matched(const qps_list *k)
{
    return k ? k->matched : 0;
}

size_t qps_list_shown(const qps_list *k)
{
    return k ? k->n : 0;
}

qps_status qps_list_render(const qps_list *k, qps_format format, int utc, qps_write_fn write, void *ctx)
{
    if (!k || !write || (format != QPS_FORMAT_TEXT && format != QPS_FORMAT_CSV && format != QPS_FORMAT_JSON))
        return QPS_EINVAL;
    qps_buf out = {0};
    render(k, format, utc, &out);
    qps_status st = out.failed ? QPS_ENOMEM : write(ctx, out.data ? out.data : "", out.len) != 0 ? QPS_EIO : QPS_OK;
    qps_buf_release(&out);
    return st;
}
