/*
 * write.c - records into the store.
 *
 * A record written live by the qpsmtpd plugin and the same record imported
 * later from the log are twins: the second copy finds the first (same pid
 * and fields, within DEDUP_WINDOW: 30 seconds either side) and is not
 * stored again.
 *
 * An import (inside a transaction) holds a queued record back until its
 * queue's reply, and an accept until its connection time, so each pair
 * shares a row; batch.c writes the rows.
 *
 * License: MIT (see README).
 */
#include "store_private.h"

#include <stdlib.h>

/* Are there live rows within DEDUP_WINDOW of t? Most stores have none
 * near an imported line: the next live row's time (from the small index
 * of live rows) answers for t and for the times after it, which an import
 * brings in order. */
static qps_status live_rows_near(qps_store *s, bool tx, int64_t t, bool *near)
{
    live_gap *gap = &s->gap[tx ? 0 : 1];
    *near = false;
    if (s->in_tx && gap->valid && t >= gap->lo && t <= gap->hi)
        return QPS_OK;
    sqlite3_stmt *live = qps_store_stmt(s, tx ? ST_LIVE_TX : ST_LIVE_CONN);
    if (!live)
        return QPS_EFORMAT;
    sqlite3_bind_int64(live, 1, qps_sat_add(t, -DEDUP_WINDOW));
    int rc = sqlite3_step(live);
    bool none = rc == SQLITE_ROW && sqlite3_column_type(live, 0) == SQLITE_NULL;
    int64_t next = rc == SQLITE_ROW ? sqlite3_column_int64(live, 0) : 0;
    sqlite3_reset(live);
    if (rc != SQLITE_ROW)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    if (none || next > qps_sat_add(t, DEDUP_WINDOW))
        *gap = (live_gap){s->in_tx, t, none ? INT64_MAX : qps_sat_add(next, -DEDUP_WINDOW - 1)};
    else
        *near = true;
    return QPS_OK;
}

/* Can an imported row lie in a live record's window around t? Not when
 * every imported row is older (imported.c). */
static qps_status imported_near(qps_store *s, int64_t t, bool *near)
{
    int64_t until;
    qps_status st = qps_store_imported_until(s, &until);
    *near = st != QPS_OK || until >= qps_second_key(qps_sat_add(t, -DEDUP_WINDOW));
    return st;
}

/* Runs a lookup whose first column is the id of a twin transaction;
 * marks it paired. */
/* Binds a record's service (NULL for none) as parameter i. */
static void bind_service(sqlite3_stmt *q, int i, qps_str service)
{
    if (service.len)
        sqlite3_bind_text(q, i, service.ptr, (int)service.len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(q, i);
}

/* The twin transaction `find` gives is marked paired; it takes the unit
 * the second copy names (service) if it had none. */
static qps_status mark_found(qps_store *s, sqlite3_stmt *find, qps_str service, bool *found)
{
    if (!find)
        return QPS_EFORMAT;
    int rc = sqlite3_step(find);
    sqlite3_int64 id = rc == SQLITE_ROW ? sqlite3_column_int64(find, 0) : 0;
    int64_t time = rc == SQLITE_ROW ? sqlite3_column_int64(find, 1) : 0;
    bool unnamed = rc == SQLITE_ROW && sqlite3_column_int(find, 2);
    sqlite3_reset(find);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    *found = rc == SQLITE_ROW;
    if (*found) {
        sqlite3_stmt *mark = qps_store_stmt(s, ST_TWIN_TX);
        if (!mark)
            return QPS_EFORMAT;
        sqlite3_bind_int64(mark, 1, id);
        bind_service(mark, 2, service);
        if (qps_step_done(mark) != SQLITE_DONE)
            return qps_store_fail(s, QPS_EIO, "cannot write the store");
        /* the plugin's record counted under no service: its totals move */
        qps_status st;
        if (unnamed && service.len && (st = store_totals_service(s, time, id, service)) != QPS_OK)
            return st;
    }
    return QPS_OK;
}


static bool same_text(sqlite3_stmt *q, int col, qps_str v)
{
    const char *c = (const char *)sqlite3_column_text(q, col);
    size_t n = c ? (size_t)sqlite3_column_bytes(q, col) : 0;
    return n == v.len && (n == 0 || memcmp(c, v.ptr, n) == 0);
}

/* A row of ST_FIND_LOGGED_TX (a whole transactions row) with the record's
 * fields. */
static bool same_fields(sqlite3_stmt *q, const qps_record *r)
{
    for (int f = 0; f <= QPS_TF_TEXT; f++)
        if (!same_text(q, TX_IP + f, r->field[f]))
            return false;
    bool has_spam = sqlite3_column_type(q, TX_SPAM) != SQLITE_NULL;
    return has_spam == (r->nfields == 9) && (!has_spam || same_text(q, TX_SPAM, r->field[QPS_TF_SPAM]));
}

/* A record is the twin of one stored from the other source (the plugin's
 * copy and the log's) with the same pid and fields, close in time, not yet
 * paired. Identical records from one source are all kept: a client refused
 * twice for the same recipient in one connection logs two equal lines. A
 * twin found is marked paired, so two live copies match two logged ones.
 * Only live rows carry a hash of the fields; an imported row is found by
 * its pid and time, and its fields compared. */
static qps_status pair_terse(qps_store *s, const qps_record *r, int64_t t, int source, bool *found)
{
    *found = false;
    qps_status st;
    if (source == QPS_SOURCE_IMPORT) {
        bool near;
        if ((st = live_rows_near(s, true, t, &near)) != QPS_OK || !near)
            return st;
        sqlite3_stmt *find = qps_store_stmt(s, ST_FIND_LIVE_TX);
        if (!find)
            return QPS_EFORMAT;
        sqlite3_bind_int64(find, 1, (sqlite3_int64)(store_terse_dedup(r) & DEDUP_MASK));
        sqlite3_bind_int64(find, 2, qps_sat_add(t, -DEDUP_WINDOW));
        sqlite3_bind_int64(find, 3, qps_sat_add(t, DEDUP_WINDOW));
        return mark_found(s, find, r->service, found);
    }
    bool near;
    if ((st = imported_near(s, t, &near)) != QPS_OK || !near)
        return st;
    sqlite3_stmt *q = qps_store_stmt(s, ST_FIND_LOGGED_TX);
    if (!q)
        return QPS_EFORMAT;
    sqlite3_bind_int64(q, 1, qps_second_key(qps_sat_add(t, -DEDUP_WINDOW)));
    sqlite3_bind_int64(q, 2, qps_second_key(qps_sat_add(t, DEDUP_WINDOW + 1)));
    sqlite3_bind_int64(q, 3, r->pid);
    int rc;
    sqlite3_int64 id = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        if (same_fields(q, r)) {
            id = sqlite3_column_int64(q, TX_ID);
            break;
        }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    if (!id)
        return QPS_OK;
    *found = true;
    sqlite3_stmt *mark = qps_store_stmt(s, ST_TWIN_TX);
    if (!mark)
        return QPS_EFORMAT;
    sqlite3_bind_int64(mark, 1, id);
    bind_service(mark, 2, r->service);
    return qps_step_done(mark) == SQLITE_DONE ? QPS_OK : qps_store_fail(s, QPS_EIO, "cannot write the store");
}

/* The same for a connection fact: a twin is a fact of the same kind and
 * process close in time, not yet paired (the plugin's copy of a line and
 * the log's may differ in their numbers: its own measurement of the
 * connection time, its note of the queue's OK). When the log's copy comes
 * second, its values replace the plugin's: after an import the store
 * holds what the log says. An imported accept folded with its connection
 * time holds two facts, each paired on its own (twin bits 1 and 2). */
static qps_status pair_fact(qps_store *s, const qps_record *r, uint64_t dedup, int64_t t, int source,
                            bool *found)
{
    *found = false;
    bool near;
    qps_status st;
    sqlite3_stmt *find, *mark;
    int bit = 1;
    if (source == QPS_SOURCE_IMPORT) {
        if ((st = live_rows_near(s, false, t, &near)) != QPS_OK || !near)
            return st;
        if (!(find = qps_store_stmt(s, ST_FIND_LIVE_CONN)) || !(mark = qps_store_stmt(s, ST_TWIN_CONN_LOGGED)))
            return QPS_EFORMAT;
        sqlite3_bind_int64(find, 1, (sqlite3_int64)(dedup & DEDUP_MASK));
        sqlite3_bind_int64(find, 2, qps_sat_add(t, -DEDUP_WINDOW));
        sqlite3_bind_int64(find, 3, qps_sat_add(t, DEDUP_WINDOW));
    } else {
        if ((st = imported_near(s, t, &near)) != QPS_OK || !near)
            return st;
        bool ct = r->kind == QPS_KIND_CONN_TIME;
        if (!(find = qps_store_stmt(s, ct ? ST_FIND_LOGGED_CT : ST_FIND_LOGGED_CONN)) ||
            !(mark = qps_store_stmt(s, ST_TWIN_CONN_BIT)))
            return QPS_EFORMAT;
        sqlite3_bind_int64(find, 1, qps_second_key(qps_sat_add(t, -DEDUP_WINDOW)));
        sqlite3_bind_int64(find, 2, qps_second_key(qps_sat_add(t, DEDUP_WINDOW + 1)));
        sqlite3_bind_int64(find, 3, r->pid);
        if (ct)
            bit = 2;
        else {
            const char *kind = r->kind == QPS_KIND_REPLY ? "queued" : qps_kind_name(r->kind);
            sqlite3_bind_text(find, 4, kind, -1, SQLITE_STATIC);
        }
    }
    int rc = sqlite3_step(find);
    sqlite3_int64 id = rc == SQLITE_ROW ? sqlite3_column_int64(find, 0) : 0;
    sqlite3_reset(find);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    if (rc != SQLITE_ROW)
        return QPS_OK;
    *found = true;
    /* the log's values replace the plugin's: so do their totals */
    if (source == QPS_SOURCE_IMPORT && (st = store_totals_conn_row(s, id, -1)) != QPS_OK)
        return st;
    sqlite3_bind_int64(mark, 1, id);
    if (source == QPS_SOURCE_IMPORT) {
        sqlite3_bind_int64(mark, 2, r->running);
        sqlite3_bind_int64(mark, 3, r->max);
        if (r->kind == QPS_KIND_CONN_TIME)
            sqlite3_bind_int64(mark, 4, (sqlite3_int64)r->millis);
        else
            sqlite3_bind_null(mark, 4);
        if (r->remote_ip.len)
            sqlite3_bind_text(mark, 5, r->remote_ip.ptr, (int)r->remote_ip.len, SQLITE_STATIC);
        else
            sqlite3_bind_null(mark, 5);
    } else {
        sqlite3_bind_int64(mark, 2, bit);
    }
    if (qps_step_done(mark) != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot write the store");
    return source == QPS_SOURCE_IMPORT ? store_totals_conn_row(s, id, 1) : QPS_OK;
}

static qps_status add_record(qps_store *s, const qps_record *r, const char *server, int64_t unix_sec,
                             uint32_t nsec, int source, int *added);

/* Pages of WAL after which a live writer checkpoints. The first process
 * to open the store after every handle was closed reads the whole WAL back
 * (SQLite rebuilds its index, checksumming each frame): on a quiet server
 * every qpsmtpd child is that process, and SQLite's default of 1000 pages
 * (16 MB with the store's 16 KiB pages) cost each connection about 2 ms
 * of CPU, more than its records. A live record dirties two or three pages,
 * so this checkpoints every twenty-odd messages; an import keeps the
 * default (it checkpoints after its own large commits). */
#define LIVE_WAL_PAGES 64

/* A checkpoint copies the WAL into the store; the WAL starts over at the
 * next write of the same session. A first opener's rebuilt WAL index
 * counts nothing as copied, so on a quiet server, where each child opens
 * the store, commits once (a connection without mail: its accept and its
 * time) and closes, that next write never came and the WAL grew without
 * end (140 MB after 3,000 connections, each of them spending 21 ms of CPU
 * reading it back). So a live writer whose last commit checkpointed
 * empties the WAL as it closes (store_live_wal_close). Emptying it at the
 * commit instead cost a connection with two commits 0.2 ms more. */
static int live_wal_hook(void *store, sqlite3 *db, const char *schema, int pages)
{
    qps_store *s = store;
    s->wal_checkpointed = pages >= LIVE_WAL_PAGES;
    if (s->wal_checkpointed)
        sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

/* Never waits: a reader still in the WAL leaves it to the next writer.
 * (Only live_wal_hook sets wal_checkpointed, on an open handle.) */
void store_live_wal_close(qps_store *s)
{
    if (!s->wal_checkpointed)
        return;
    sqlite3_busy_handler(s->db, NULL, NULL);
    sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
}

qps_status qps_store_add(qps_store *s, const qps_record *r, const char *server, int64_t unix_sec, uint32_t nsec,
                         int source, int *added)
{
    if (added)
        *added = 0;
    if (s->readonly)
        return qps_store_set_error(s, QPS_EREADONLY, "the store was opened read-only");
    if (source != QPS_SOURCE_IMPORT && !s->live_wal) {
        sqlite3_wal_hook(s->db, live_wal_hook, s);
        s->live_wal = true;
    }
    if (s->in_tx) {
        qps_status st = add_record(s, r, server, unix_sec, nsec, source, added);
        if (st != QPS_OK)
            s->tx_failed = true; /* rows reported as added may be gone: no commit */
        return st;
    }
    /* the twin lookup and the insert must be one transaction: an import
     * committing in between would otherwise store both copies */
    qps_status st = qps_store_begin(s);
    if (st != QPS_OK)
        return st;
    st = add_record(s, r, server, unix_sec, nsec, source, added);
    if (st != QPS_OK) {
        qps_store_rollback(s);
        if (added)
            *added = 0;
        return st;
    }
    st = qps_store_commit(s);
    if (st != QPS_OK && added)
        *added = 0;
    return st;
}


static held_record *find_held(qps_store *s, uint32_t pid)
{
    for (size_t i = 0; i < s->nheld; i++)
        if (s->held[i].rec.pid == pid)
            return &s->held[i];
    return NULL;
}

/* Keeps an imported queued record until the next line of its process
 * (the queue's reply, which then shares its row) or the commit; false
 * when it cannot wait. */
static bool hold_record(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns)
{
    const char *base = r->field[QPS_TF_IP].ptr;
    const qps_str last = r->nfields == 9 ? r->field[QPS_TF_SPAM] : r->field[QPS_TF_TEXT];
    size_t span = (size_t)(last.ptr + last.len - base);
    if (!base || span > HELD_BYTES || host.len >= sizeof s->held->host ||
        r->service.len >= sizeof s->held->service || s->nheld == HELD_MAX)
        return false;
    held_record *h = &s->held[s->nheld++];
    memcpy(h->bytes, base, span);
    memset(&h->rec, 0, sizeof h->rec);
    h->rec.kind = QPS_KIND_TERSE;
    h->rec.pid = r->pid;
    h->rec.nfields = r->nfields;
    for (int f = 0; f < QPS_TF_COUNT_; f++)
        h->rec.field[f] = r->field[f].ptr ? qps_slice(h->bytes + (r->field[f].ptr - base), r->field[f].len)
                                          : qps_slice(NULL, 0);
    h->time = t;
    h->nsec = ns;
    h->host_len = host.len;
    memcpy(h->host, host.ptr ? host.ptr : "", host.len);
    memcpy(h->service, r->service.ptr ? r->service.ptr : "", r->service.len);
    h->rec.service = qps_slice(h->service, r->service.len);
    return true;
}


static qps_status add_terse(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns, int source,
                            bool *stored)
{
    bool found;
    qps_status st = pair_terse(s, r, t, source, &found);
    if (st != QPS_OK || found)
        return st;
    *stored = true;
    if (s->in_tx && source == QPS_SOURCE_IMPORT && qps_str_eq(r->field[QPS_TF_DISPOSITION], "queued")) {
        if (s->nheld == HELD_MAX && (st = store_write_held(s, &s->held[0], 0)) != QPS_OK)
            return st;
        if (ns != UNTIMED_NSEC && hold_record(s, r, host, t, ns))
            return QPS_OK;
    }
    return store_insert_terse(s, r, host, t, ns, source, 0);
}


static pending_accept *find_pending(qps_store *s, uint32_t pid)
{
    for (size_t i = 0; i < s->npending; i++)
        if (s->pending[i].pid == pid)
            return &s->pending[i];
    return NULL;
}

static void drop_pending(qps_store *s, pending_accept *a)
{
    *a = s->pending[--s->npending];
}

/* Keeps an imported accept until its connection time (or the commit);
 * false when it cannot wait and must be written now. */
static bool hold_accept(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns)
{
    if (s->npending == PENDING_MAX || r->remote_ip.len >= sizeof s->pending->ip ||
        host.len >= sizeof s->pending->host)
        return false;
    pending_accept *a = &s->pending[s->npending++];
    a->pid = r->pid;
    a->time = t;
    a->nsec = ns;
    a->running = r->running;
    a->max = r->max;
    a->ip_len = r->remote_ip.len;
    memcpy(a->ip, r->remote_ip.ptr ? r->remote_ip.ptr : "", r->remote_ip.len);
    a->host_len = host.len;
    memcpy(a->host, host.ptr ? host.ptr : "", host.len);
    return true;
}

static qps_status add_fact(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns, int source,
                           bool *stored)
{
    /* every fact the plugin records may have a twin in the log, found by
     * kind and process (pair_fact); live rows carry that as their dedup */
    uint64_t dedup = ((uint64_t)r->pid * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)r->kind;
    bool folding = s->in_tx && source == QPS_SOURCE_IMPORT;
    qps_status st;
    bool found;
    held_record *h = folding ? find_held(s, r->pid) : NULL;
    if ((st = pair_fact(s, r, dedup, t, source, &found)) != QPS_OK || found) {
        if (h && st == QPS_OK)
            st = store_write_held(s, h, 0);
        return st;
    }
    if (h) {
        /* the queue's reply shares its record's row if it has the same
         * second: no range of whole seconds can part them */
        bool joins = r->kind == QPS_KIND_REPLY && ns != UNTIMED_NSEC && h->time == t;
        if ((st = store_write_held(s, h, joins)) != QPS_OK || joins) {
            *stored = st == QPS_OK;
            return st;
        }
    }
    bool near = false;
    if (r->kind == QPS_KIND_REPLY && source != QPS_SOURCE_IMPORT && (st = imported_near(s, t, &near)) != QPS_OK)
        return st;
    if (near) {
        /* the plugin's note of the queue's OK: is the log's reply already
         * stored with its record? */
        sqlite3_stmt *q = qps_store_stmt(s, ST_FIND_LOGGED_QUEUED);
        sqlite3_stmt *mark = qps_store_stmt(s, ST_MARK_QUEUED);
        if (!q || !mark)
            return QPS_EFORMAT;
        sqlite3_bind_int64(q, 1, qps_second_key(qps_sat_add(t, -DEDUP_WINDOW)));
        sqlite3_bind_int64(q, 2, qps_second_key(qps_sat_add(t, DEDUP_WINDOW + 1)));
        sqlite3_bind_int64(q, 3, r->pid);
        int rc = sqlite3_step(q);
        sqlite3_int64 id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
        sqlite3_reset(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return qps_store_fail(s, QPS_EIO, "cannot read the store");
        if (rc == SQLITE_ROW) {
            sqlite3_bind_int64(mark, 1, id);
            /* (the row counts its reply already: its totals stay) */
            return qps_step_done(mark) == SQLITE_DONE ? QPS_OK : qps_store_fail(s, QPS_EIO, "cannot write the store");
        }
    }
    pending_accept *a = folding ? find_pending(s, r->pid) : NULL;
    if (r->kind == QPS_KIND_ACCEPT) {
        if (a) {
            /* the pid was reused: the earlier connection ended unseen (its
             * row is written before the last one takes its slot) */
            fact_row f = store_accept_row(a);
            st = store_insert_fact(s, &f);
            drop_pending(s, a);
            if (st != QPS_OK)
                return st;
        }
        if (folding && ns != UNTIMED_NSEC && hold_accept(s, r, host, t, ns)) {
            *stored = true;
            return QPS_OK;
        }
    }
    fact_row f = {r->kind == QPS_KIND_REPLY ? "queued" : qps_kind_name(r->kind), t, ns, host,
                  r->remote_ip.len ? r->remote_ip : qps_slice(NULL, 0), r->pid, r->running, r->max,
                  r->kind == QPS_KIND_CONN_TIME, source != QPS_SOURCE_IMPORT, r->millis, dedup, NULL, 0, source};
    if (r->kind == QPS_KIND_CONN_TIME && a && ns != UNTIMED_NSEC && t >= a->time &&
        (uint64_t)t - (uint64_t)a->time <= FOLD_SPAN) {
        /* one row for the connection: the accept with its time */
        fact_row folded = store_accept_row(a);
        folded.has_millis = true;
        folded.millis = r->millis;
        folded.end_time = &t;
        folded.end_nsec = ns;
        st = store_insert_fact(s, &folded);
        drop_pending(s, a);
    } else {
        st = store_insert_fact(s, &f);
    }
    if (st == QPS_OK)
        *stored = true;
    return st;
}

static qps_status add_record(qps_store *s, const qps_record *r, const char *server, int64_t unix_sec,
                             uint32_t nsec, int source, int *added)
{
    /* a time of 0.0 from the caller: the record has none. A label may
     * carry any 32 bits of nanoseconds: more than a second's are clamped
     * (reports use the seconds), so no time is taken for UNTIMED_NSEC. */
    bool timed = r->has_time || unix_sec || nsec;
    int64_t t = r->has_time ? r->unix_sec : unix_sec;
    uint32_t ns = r->has_time ? r->nsec : nsec;
    ns = !timed ? UNTIMED_NSEC : ns > 999999999u ? 999999999u : ns;
    qps_str host = r->host.len ? r->host : qps_slice(server, server ? strlen(server) : 0);
    if (!host.len)
        host = qps_slice(NULL, 0);
    if (timed && source == QPS_SOURCE_IMPORT && s->in_tx)
        store_span_note(s, t);
    if (!timed || t < s->wall - OLD_WRITE_AGE)
        s->old_write = true;
    bool stored = false;
    qps_status st = QPS_OK;
    if (source != QPS_SOURCE_IMPORT && s->in_tx) {
        if ((st = qps_store_flush_pending(s)) != QPS_OK)
            return st; /* its twin may be waiting */
        /* it may add a live row where an import saw none */
        s->gap[0].valid = s->gap[1].valid = false;
    }
    if (r->kind == QPS_KIND_TERSE) {
        held_record *h = s->nheld ? find_held(s, r->pid) : NULL;
        if (h && (st = store_write_held(s, h, 0)) != QPS_OK)
            return st;
        st = add_terse(s, r, host, t, ns, source, &stored);
    }
    else if (r->kind == QPS_KIND_ACCEPT || r->kind == QPS_KIND_TOO_MANY || r->kind == QPS_KIND_HOSTS_ALLOW ||
             r->kind == QPS_KIND_CONN_TIME || qps_reply_is_queued(r))
        st = add_fact(s, r, host, t, ns, source, &stored);
    if (added && stored)
        *added = 1;
    return st;
}

