/*
 * batch.c - rows on their way into the store: a record or fact becomes a
 * row of cells (at its columns' positions, schema.h), an import gathers
 * MULTI_ROWS rows per INSERT, and held records and waiting accepts are
 * written at the latest before a read or the commit.
 *
 * What makes an import fast: a row's id is its time key, so the table
 * itself is the time index and an import appends at its end; no other
 * index is touched by an imported row; imported rows go in MULTI_ROWS per
 * INSERT; an accepted connection and its connection time, and a queued
 * record and its queue's reply, share a row when imported together.
 *
 * License: MIT (see README).
 */
#include "store_private.h"

#include <stdlib.h>

/* Runs an insert whose first parameter is the row's id, the time key
 * `key`; a key taken already (two rows in one nanosecond, or many from a
 * plugin that gives whole seconds) moves past the last id of its second. */
static qps_status insert_at(qps_store *s, int insert, int last_key, int64_t key)
{
    sqlite3_stmt *q = qps_store_stmt(s, insert);
    if (!q)
        return QPS_EFORMAT;
    if (key == NO_KEY)
        sqlite3_bind_null(q, 1);
    else
        sqlite3_bind_int64(q, 1, key);
    int rc = qps_step_done(q);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        sqlite3_stmt *m = qps_store_stmt(s, last_key);
        if (!m)
            return QPS_EFORMAT;
        sqlite3_bind_int64(m, 1, key);
        sqlite3_bind_int64(m, 2, key | ((INT64_C(1) << NSEC_BITS) - 1));
        rc = sqlite3_step(m);
        int64_t last = rc == SQLITE_ROW ? sqlite3_column_int64(m, 0) : key;
        sqlite3_reset(m);
        if (rc != SQLITE_ROW)
            return qps_store_fail(s, QPS_EIO, "cannot read the store");
        sqlite3_bind_int64(q, 1, last + 1);
        rc = qps_step_done(q);
    }
    return rc == SQLITE_DONE ? QPS_OK : qps_store_fail(s, QPS_EIO, "cannot write the store");
}

/* ---- rows on their way in ---- */

static cell *next_cell(row_batch *b, int col)
{
    return &b->cells[b->nrows][col];
}

static void cell_null(row_batch *b, int col)
{
    next_cell(b, col)->type = CELL_NULL;
}

static void cell_int(row_batch *b, int col, int64_t v)
{
    cell *c = next_cell(b, col);
    c->type = CELL_INT;
    c->i = v;
}

static void cell_real(row_batch *b, int col, double v)
{
    cell *c = next_cell(b, col);
    c->type = CELL_REAL;
    c->d = v;
}

/* a slice without pointer is NULL, an empty one '' */
static void cell_text(row_batch *b, int col, qps_str v)
{
    cell *c = next_cell(b, col);
    if (!v.ptr) {
        c->type = CELL_NULL;
        return;
    }
    c->type = CELL_TEXT;
    c->off = b->text.len;
    c->len = v.len;
    qps_buf_append(&b->text, v.ptr, v.len);
}

/* Binds a row's cells: column col at parameter base + col (its id, column
 * 0, is at base and bound by the caller). */
static void bind_cells(sqlite3_stmt *q, int base, const row_batch *b, size_t row)
{
    for (int col = 1; col < b->ncols; col++) {
        const cell *c = &b->cells[row][col];
        int i = base + col;
        switch (c->type) {
        case CELL_INT:
            sqlite3_bind_int64(q, i, c->i);
            break;
        case CELL_REAL:
            sqlite3_bind_double(q, i, c->d);
            break;
        case CELL_TEXT:
            /* an empty text is '' (the arena may not exist yet), never NULL */
            sqlite3_bind_text(q, i, c->len ? b->text.data + c->off : "", (int)c->len, SQLITE_STATIC);
            break;
        default:
            sqlite3_bind_null(q, i);
        }
    }
}

/* Inserts the rows waiting in b: all in one statement when there are
 * MULTI_ROWS of them and none of their ids is taken, else one by one. */
static qps_status flush_rows(qps_store *s, row_batch *b)
{
    if (!b->nrows)
        return QPS_OK;
    qps_status st = QPS_OK;
    if (b->text.failed)
        st = qps_store_set_error(s, QPS_ENOMEM, "out of memory writing the store");
    bool one_by_one = st == QPS_OK && b->nrows < MULTI_ROWS;
    sqlite3_stmt *m = st == QPS_OK && !one_by_one ? qps_store_stmt(s, b->multi) : NULL;
    if (st == QPS_OK && !one_by_one && !m)
        st = QPS_EFORMAT;
    if (m) {
        for (size_t r = 0; r < b->nrows; r++) {
            int base = (int)r * b->ncols + 1;
            if (b->key[r] == NO_KEY)
                sqlite3_bind_null(m, base);
            else
                sqlite3_bind_int64(m, base, b->key[r]);
            bind_cells(m, base, b, r);
        }
        int rc = qps_step_done(m);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            one_by_one = true;
        else if (rc != SQLITE_DONE)
            st = qps_store_fail(s, QPS_EIO, "cannot write the store");
    }
    sqlite3_stmt *single = one_by_one && st == QPS_OK ? qps_store_stmt(s, b->single) : NULL;
    if (one_by_one && st == QPS_OK && !single)
        st = QPS_EFORMAT;
    for (size_t r = 0; one_by_one && r < b->nrows && st == QPS_OK; r++) {
        bind_cells(single, 1, b, r);
        st = insert_at(s, b->single, b->last_key, b->key[r]);
    }
    b->nrows = 0;
    b->text.len = 0;
    b->text.failed = 0;
    return st;
}

/* Ends the row begun with the cells set: imports (inside a transaction)
 * gather MULTI_ROWS rows, anything else goes in at once. */
static qps_status end_row(qps_store *s, row_batch *b, int64_t key, bool gather)
{
    b->key[b->nrows++] = key;
    return gather && b->nrows < MULTI_ROWS ? QPS_OK : flush_rows(s, b);
}

/* queue_ok: 0, or 1 when the queue's "250 Queued" reply comes with it */
qps_status store_insert_terse(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns, int source,
                              int queue_ok)
{
    row_batch *b = s->rows[0];
    cell_int(b, TX_TIME, t);
    cell_int(b, TX_NSEC, ns == UNTIMED_NSEC ? -1 : (int64_t)ns);
    cell_text(b, TX_SERVER, host);
    cell_text(b, TX_SERVICE, r->service.len ? r->service : qps_slice(NULL, 0));
    cell_int(b, TX_PID, r->pid);
    for (int f = 0; f <= QPS_TF_TEXT; f++)
        cell_text(b, TX_IP + f, r->field[f]);
    cell_text(b, TX_SPAM, r->nfields == 9 ? r->field[QPS_TF_SPAM] : qps_slice(NULL, 0));
    qps_spam spam;
    if (r->nfields == 9 && qps_spam_parse(r->field[QPS_TF_SPAM], &spam) == QPS_OK) {
        cell_int(b, TX_SPAM_VERDICT, spam.is_spam);
        cell_real(b, TX_SCORE, spam.score);
        if (spam.has_required)
            cell_real(b, TX_REQUIRED, spam.required);
        else
            cell_null(b, TX_REQUIRED);
    } else {
        cell_null(b, TX_SPAM_VERDICT);
        cell_null(b, TX_SCORE);
        cell_null(b, TX_REQUIRED);
    }
    if (queue_ok)
        cell_int(b, TX_QUEUE_OK, queue_ok);
    else
        cell_null(b, TX_QUEUE_OK);
    cell_int(b, TX_SOURCE, source);
    if (source == QPS_SOURCE_IMPORT)
        cell_null(b, TX_DEDUP);
    else
        cell_int(b, TX_DEDUP, (int64_t)(store_terse_dedup(r) & DEDUP_MASK));
    int64_t key = ns == UNTIMED_NSEC ? NO_KEY : qps_time_key(t, ns);
    if (source == QPS_SOURCE_IMPORT)
        qps_store_note_imported(s, key);
    qps_status st = store_totals_terse(s, r, host, t, ns, queue_ok, key);
    return st != QPS_OK ? st : end_row(s, b, key, s->in_tx && source == QPS_SOURCE_IMPORT);
}

qps_status store_write_held(qps_store *s, held_record *h, int queue_ok)
{
    qps_status st = store_insert_terse(s, &h->rec, qps_slice(h->host_len ? h->host : NULL, h->host_len), h->time,
                                 h->nsec, QPS_SOURCE_IMPORT, queue_ok);
    /* the last one takes its place, its fields pointing into their new home */
    held_record *last = &s->held[--s->nheld];
    if (h != last) {
        *h = *last;
        h->rec.service = qps_slice(h->service, last->rec.service.len);
        for (int f = 0; f < QPS_TF_COUNT_; f++)
            if (last->rec.field[f].ptr)
                h->rec.field[f].ptr = h->bytes + (last->rec.field[f].ptr - last->bytes);
    }
    return st;
}

/* Stores the records held back; before a write from another source, a
 * read, or the commit. */
static qps_status write_all_held(qps_store *s)
{
    qps_status st = QPS_OK;
    while (s->nheld && st == QPS_OK)
        st = store_write_held(s, &s->held[s->nheld - 1], 0);
    s->nheld = 0;
    return st;
}

qps_status store_insert_fact(qps_store *s, const fact_row *f)
{
    row_batch *b = s->rows[1];
    cell_int(b, CN_TIME, f->time);
    cell_int(b, CN_NSEC, f->nsec == UNTIMED_NSEC ? -1 : (int64_t)f->nsec);
    cell_text(b, CN_SERVER, f->host);
    cell_int(b, CN_PID, f->pid);
    cell_text(b, CN_KIND, qps_slice(f->kind, strlen(f->kind)));
    cell_text(b, CN_IP, f->ip);
    cell_int(b, CN_RUNNING, f->running);
    cell_int(b, CN_MAX, f->max);
    if (f->has_millis)
        cell_int(b, CN_MILLIS, (int64_t)f->millis);
    else
        cell_null(b, CN_MILLIS);
    if (f->end_time) {
        cell_int(b, CN_END_TIME, *f->end_time);
        cell_int(b, CN_END_NSEC, f->end_nsec);
    } else {
        cell_null(b, CN_END_TIME);
        cell_null(b, CN_END_NSEC);
    }
    cell_int(b, CN_SOURCE, f->source);
    /* only live facts carry a dedup: an import looks for them by it */
    if (f->has_dedup)
        cell_int(b, CN_DEDUP, (int64_t)(f->dedup & DEDUP_MASK));
    else
        cell_null(b, CN_DEDUP);
    int64_t key = f->end_time                   ? qps_time_key(*f->end_time, f->end_nsec)
                  : f->nsec == UNTIMED_NSEC ? NO_KEY
                                            : qps_time_key(f->time, f->nsec);
    if (f->source == QPS_SOURCE_IMPORT)
        qps_store_note_imported(s, key);
    qps_status st = store_totals_fact(s, f, key);
    return st != QPS_OK ? st : end_row(s, b, key, s->in_tx && f->source == QPS_SOURCE_IMPORT);
}

fact_row store_accept_row(const pending_accept *a)
{
    fact_row f = {"accept", a->time, a->nsec, qps_slice(a->host_len ? a->host : NULL, a->host_len),
                  qps_slice(a->ip_len ? a->ip : NULL, a->ip_len), a->pid, a->running, a->max,
                  false, false, 0, 0, NULL, 0, QPS_SOURCE_IMPORT};
    return f;
}



static qps_status flush_all(qps_store *s)
{
    qps_status st = write_all_held(s);
    for (size_t i = 0; i < s->npending && st == QPS_OK; i++) {
        fact_row f = store_accept_row(&s->pending[i]);
        st = store_insert_fact(s, &f);
    }
    s->npending = 0;
    for (int t = 0; t < 2; t++) {
        qps_status rst = flush_rows(s, s->rows[t]);
        if (st == QPS_OK)
            st = rst;
    }
    if (st == QPS_OK)
        st = store_totals_flush(s);
    return st == QPS_OK ? qps_store_save_imported(s) : st;
}

/* Writes the rows still waiting: held records, accepts whose connections
 * go on past the batch, and the rows gathered for a multi-row INSERT. A
 * failure dooms the transaction: rows already reported as added are gone. */
qps_status qps_store_flush_pending(qps_store *s)
{
    qps_status st = flush_all(s);
    if (st != QPS_OK)
        s->tx_failed = true;
    return st;
}

void qps_store_discard_pending(qps_store *s)
{
    qps_store_imported_reset(s);
    store_totals_end(s);
    s->npending = s->nheld = 0;
    for (int t = 0; t < 2; t++) {
        s->rows[t]->nrows = 0;
        s->rows[t]->text.len = 0;
        s->rows[t]->text.failed = 0;
    }
}
