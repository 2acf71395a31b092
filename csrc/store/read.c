/*
 * qps_store_read.c - records out of the store: rebuilt from their rows as
 * the parser would have given them, for reports, the summary, pruning
 * and the store's totals.
 *
 * License: MIT (see README).
 */
#include "store_private.h"

#include <stdio.h>
#include <stdlib.h>

static qps_str column_str(sqlite3_stmt *q, int col)
{
    const char *v = (const char *)sqlite3_column_text(q, col);
    return v ? qps_slice(v, (size_t)sqlite3_column_bytes(q, col)) : qps_slice("", 0);
}

static bool in_window(int64_t t, int64_t since, int64_t until)
{
    return t >= since && t < until;
}

/* A stored transaction as the parser would have given it. */
static void terse_from_row(sqlite3_stmt *q, qps_record *r)
{
    memset(r, 0, sizeof *r);
    r->kind = QPS_KIND_TERSE;
    r->has_time = sqlite3_column_int(q, 1) >= 0; /* -1: a line without a time */
    r->unix_sec = r->has_time ? sqlite3_column_int64(q, 0) : 0;
    r->nsec = r->has_time ? (uint32_t)sqlite3_column_int(q, 1) : 0;
    r->pid = (uint32_t)sqlite3_column_int64(q, 2);
    for (int f = 0; f <= QPS_TF_TEXT; f++)
        r->field[f] = column_str(q, 3 + f);
    bool has_spam = sqlite3_column_type(q, 3 + QPS_TF_SPAM) != SQLITE_NULL;
    r->field[QPS_TF_SPAM] = has_spam ? column_str(q, 3 + QPS_TF_SPAM) : qps_slice(NULL, 0);
    r->nfields = has_spam ? 9 : 8;
}

/* The queue's "250 Queued" reply, as the parser gives it. */
static void queued_reply(qps_record *r)
{
    r->kind = QPS_KIND_REPLY;
    r->reply_code = 250;
    r->message = qps_slice("250 Queued", 10);
}

/* The records of a row to fn; non-zero when fn stopped the walk. */
typedef int (*row_reader)(sqlite3_stmt *q, int64_t since, int64_t until, qps_record_fn fn, void *ctx);

/* A transactions row: the record, and the queue's reply that shares it. */
static int records_of_transaction(sqlite3_stmt *q, int64_t since, int64_t until, qps_record_fn fn, void *ctx)
{
    (void)since, (void)until; /* the query selects by the record's own time */
    qps_record rec;
    terse_from_row(q, &rec);
    if (fn(ctx, &rec) != 0)
        return 1;
    if (sqlite3_column_type(q, 12) == SQLITE_NULL)
        return 0;
    qps_record reply;
    memset(&reply, 0, sizeof reply);
    queued_reply(&reply);
    reply.has_time = rec.has_time;
    reply.unix_sec = rec.unix_sec;
    reply.nsec = rec.nsec;
    reply.pid = rec.pid;
    return fn(ctx, &reply);
}

static qps_kind fact_kind(const char *name)
{
    static const qps_kind kinds[] = {QPS_KIND_ACCEPT, QPS_KIND_TOO_MANY, QPS_KIND_HOSTS_ALLOW, QPS_KIND_CONN_TIME};
    if (!name)
        return QPS_KIND_OTHER;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(name, qps_kind_name(kinds[i])) == 0)
            return kinds[i];
    return strcmp(name, "queued") == 0 ? QPS_KIND_REPLY : QPS_KIND_OTHER;
}

/* A connections row: one fact, or an accept and its connection time; each
 * is given if its own time is in the window. */
static int records_of_connection(sqlite3_stmt *q, int64_t since, int64_t until, qps_record_fn fn, void *ctx)
{
    qps_record r;
    memset(&r, 0, sizeof r);
    r.kind = fact_kind((const char *)sqlite3_column_text(q, 3));
    r.has_time = sqlite3_column_int(q, 1) >= 0; /* -1: a line without a time */
    r.unix_sec = r.has_time ? sqlite3_column_int64(q, 0) : 0;
    r.nsec = r.has_time ? (uint32_t)sqlite3_column_int(q, 1) : 0;
    r.pid = (uint32_t)sqlite3_column_int64(q, 2);
    r.remote_ip = column_str(q, 4);
    r.running = (unsigned)sqlite3_column_int(q, 5);
    r.max = (unsigned)sqlite3_column_int(q, 6);
    r.millis = (uint64_t)sqlite3_column_int64(q, 7);
    if (r.kind == QPS_KIND_REPLY)
        queued_reply(&r);
    /* an untimed fact goes to fn, which knows what a selection does with it */
    if (r.kind != QPS_KIND_OTHER && (!r.has_time || in_window(r.unix_sec, since, until)) && fn(ctx, &r) != 0)
        return 1;
    if (r.kind != QPS_KIND_ACCEPT || sqlite3_column_type(q, 8) == SQLITE_NULL)
        return 0;
    /* the folded connection time */
    r.kind = QPS_KIND_CONN_TIME;
    r.has_time = 1;
    r.unix_sec = sqlite3_column_int64(q, 8);
    r.nsec = (uint32_t)sqlite3_column_int(q, 9);
    r.running = r.max = 0;
    return in_window(r.unix_sec, since, until) && fn(ctx, &r) != 0;
}

/* Runs sql (with two parameters: ids from `from` to before `to`; with
 * four: and times in [since, until)) and gives each row's records. */
static qps_status walk(qps_store *s, const char *sql, int64_t from, int64_t to, int64_t since, int64_t until,
                       row_reader read_row, qps_record_fn fn, void *ctx)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    if (sqlite3_bind_parameter_count(q) >= 2) {
        sqlite3_bind_int64(q, 1, from);
        sqlite3_bind_int64(q, 2, to);
    }
    if (sqlite3_bind_parameter_count(q) == 4) {
        sqlite3_bind_int64(q, 3, since);
        sqlite3_bind_int64(q, 4, until);
    }
    qps_status st = QPS_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        if (read_row(q, since, until, fn, ctx) != 0) {
            st = QPS_EINVAL;
            break;
        }
    if (st == QPS_OK && rc != SQLITE_DONE)
        st = qps_store_fail(s, QPS_EIO, "cannot read the store");
    sqlite3_finalize(q);
    return st;
}

qps_status qps_store_each(qps_store *s, int64_t since, int64_t until, qps_record_fn fn, void *ctx)
{
    qps_status st = s->in_tx ? qps_store_flush_pending(s) : QPS_OK;
    if (st != QPS_OK)
        return st;
    static const char tx_cols[] = "SELECT time, nsec, pid, ip, rhost, helo, sender, recipients, disposition, "
                                  "code, text, spam, queue_ok FROM transactions ";
    static const char conn_cols[] = "SELECT time, nsec, pid, kind, ip, running, max, millis, end_time, end_nsec "
                                    "FROM connections ";
    char sql[512];
    snprintf(sql, sizeof sql, "%sWHERE id >= ?1 AND id < ?2 AND time >= ?3 AND time < ?4 AND nsec >= 0 ORDER BY id",
             tx_cols);
    st = walk(s, sql, qps_second_key(since), until > KEY_SEC_MAX ? INT64_MAX : qps_second_key(until), since, until,
              records_of_transaction, fn, ctx);
    /* records of logs without times (nsec -1, a small partial index) go to
     * fn whatever the selection, as they would from the logs */
    snprintf(sql, sizeof sql, "%sWHERE nsec < 0", tx_cols); /* (in id order: all have nsec -1) */
    if (st == QPS_OK)
        st = walk(s, sql, 0, 0, since, until, records_of_transaction, fn, ctx);
    /* a folded accept has the id of its end, up to FOLD_SPAN later */
    snprintf(sql, sizeof sql, "%sWHERE id >= ?1 AND id < ?2 AND nsec >= 0 ORDER BY id", conn_cols);
    if (st == QPS_OK)
        st = walk(s, sql, qps_second_key(since),
                  until > KEY_SEC_MAX - FOLD_SPAN ? INT64_MAX : qps_second_key(until + FOLD_SPAN), since, until,
                  records_of_connection, fn, ctx);
    snprintf(sql, sizeof sql, "%sWHERE nsec < 0", conn_cols);
    if (st == QPS_OK)
        st = walk(s, sql, 0, 0, since, until, records_of_connection, fn, ctx);
    return st;
}

typedef struct {
    qps_agg *agg;
    qps_status status;
} agg_feed;

static int add_to_agg(void *ctx, const qps_record *rec)
{
    agg_feed *f = ctx;
    f->status = qps_agg_add(f->agg, rec);
    return f->status != QPS_OK;
}

qps_status qps_store_aggregate(qps_store *s, qps_agg *agg)
{
    qps_agg_opts_view v;
    qps_agg_selection(agg, &v);
    agg_feed feed = {agg, QPS_OK};
    qps_status st = qps_store_each(s, v.has_since ? v.since : INT64_MIN, v.has_until ? v.until : INT64_MAX,
                                   add_to_agg, &feed);
    if (st == QPS_EINVAL)
        return feed.status;
    if (st != QPS_OK)
        return st;
    /* pruned days: their totals by disposition and TLD */
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "SELECT day, disposition, tld, count FROM daily", -1, &q, NULL) != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *day = (const char *)sqlite3_column_text(q, 0);
        qps_civil c = {0};
        int64_t start;
        if (!day || sscanf(day, "%d-%d-%d", &c.year, &c.month, &c.day) != 3 ||
            qps_unix_from_civil(NULL, &c, v.utc, &start) != QPS_OK)
            continue;
        /* a day is in the selection when its start is */
        if ((v.has_since && start < v.since) || (v.has_until && start >= v.until))
            continue;
        const char *disp = (const char *)sqlite3_column_text(q, 1);
        const char *tld = (const char *)sqlite3_column_text(q, 2);
        st = qps_agg_add_summary(agg, day, qps_slice(disp ? disp : "", disp ? strlen(disp) : 0),
                                 qps_slice(tld ? tld : "", tld ? strlen(tld) : 0),
                                 (uint64_t)sqlite3_column_int64(q, 3));
        if (st != QPS_OK)
            break;
    }
    sqlite3_finalize(q);
    if (st != QPS_OK)
        return st;
    /* the line counters are those of the imported files */
    if (sqlite3_prepare_v2(s->db, "SELECT coalesce(sum(lines_read),0), coalesce(sum(lines_invalid),0) FROM files",
                           -1, &q, NULL) != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    if (sqlite3_step(q) == SQLITE_ROW) {
        uint64_t read = (uint64_t)sqlite3_column_int64(q, 0), bad = (uint64_t)sqlite3_column_int64(q, 1);
        qps_counts c;
        qps_agg_counts(agg, &c);
        if (read >= c.lines_read)
            qps_agg_set_line_counts(agg, read, read - bad, bad);
    }
    sqlite3_finalize(q);
    return QPS_OK;
}

qps_status qps_store_prune(qps_store *s, int64_t before, uint64_t *removed)
{
    *removed = 0;
    if (!s->stmt[ST_ADD_TX])
        return QPS_EINVAL;
    bool own_tx = !s->in_tx;
    qps_status st = own_tx ? qps_store_begin(s) : qps_store_flush_pending(s);
    if (st != QPS_OK)
        return st;
    sqlite3_stmt *sel = NULL, *up = NULL;
    st = QPS_OK;
    /* ids are time keys: old rows are a range at the start of each table */
    int64_t tx_end = before > KEY_SEC_MAX ? INT64_MAX : qps_second_key(before);
    int64_t conn_end = before > KEY_SEC_MAX - FOLD_SPAN ? INT64_MAX : qps_second_key(before + FOLD_SPAN);
    if (sqlite3_prepare_v2(s->db, "SELECT time, disposition, sender FROM transactions WHERE id < ?1 AND time < ?2 "
                           "AND nsec >= 0",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO daily VALUES (?,?,?,1) ON CONFLICT(day, disposition, tld) "
                                  "DO UPDATE SET count = count + 1", -1, &up, NULL) != SQLITE_OK)
        st = qps_store_fail(s, QPS_EIO, "cannot prune the store");
    qps_tzcache tz = QPS_TZCACHE_INIT;
    if (st == QPS_OK) {
        sqlite3_bind_int64(sel, 1, tx_end);
        sqlite3_bind_int64(sel, 2, before);
    }
    int rc = SQLITE_DONE;
    while (st == QPS_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
        qps_civil c;
        char day[16], tld[256];
        if (qps_civil_from_unix(&tz, sqlite3_column_int64(sel, 0), 0, &c) != QPS_OK)
            continue;
        snprintf(day, sizeof day, "%04d-%02d-%02d", c.year, c.month, c.day);
        const char *sender = (const char *)sqlite3_column_text(sel, 2);
        size_t tl = qps_sender_tld(qps_slice(sender ? sender : "", sender ? strlen(sender) : 0), tld, sizeof tld);
        sqlite3_bind_text(up, 1, day, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(up, 2, (const char *)sqlite3_column_text(sel, 1), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(up, 3, tld, (int)tl, SQLITE_TRANSIENT);
        if (qps_step_done(up) != SQLITE_DONE)
            st = qps_store_fail(s, QPS_EIO, "cannot prune the store");
    }
    if (st == QPS_OK && rc != SQLITE_DONE)
        st = qps_store_fail(s, QPS_EIO, "cannot prune the store"); /* no deletes without their totals */
    sqlite3_finalize(sel);
    sqlite3_finalize(up);
    char sql[320];
    if (st == QPS_OK) {
        /* (records without a time have no day to be pruned by) */
        snprintf(sql, sizeof sql, "DELETE FROM transactions WHERE id < %lld AND time < %lld AND nsec >= 0",
                 (long long)tx_end, (long long)before);
        if (qps_store_exec(s, sql) != SQLITE_OK)
            st = qps_store_fail(s, QPS_EIO, "cannot prune the store");
        else
            *removed = (uint64_t)sqlite3_changes(s->db);
    }
    if (st == QPS_OK) {
        /* a folded connection that ends after the cut keeps its
         * connection time, as a row of its own (its id is already its end's) */
        snprintf(sql, sizeof sql,
                 "UPDATE connections SET kind = 'connection_time', time = end_time, nsec = end_nsec, "
                 "end_time = NULL, end_nsec = NULL, running = 0, max = 0 "
                 "WHERE id < %lld AND time < %lld AND end_time >= %lld",
                 (long long)conn_end, (long long)before, (long long)before);
        if (qps_store_exec(s, sql) != SQLITE_OK)
            st = qps_store_fail(s, QPS_EIO, "cannot prune the store");
    }
    if (st == QPS_OK) {
        snprintf(sql, sizeof sql, "DELETE FROM connections WHERE id < %lld AND time < %lld AND nsec >= 0",
                 (long long)conn_end, (long long)before);
        if (qps_store_exec(s, sql) != SQLITE_OK)
            st = qps_store_fail(s, QPS_EIO, "cannot prune the store");
    }
    if (own_tx)
        return st == QPS_OK ? qps_store_commit(s) : (qps_store_rollback(s), st);
    if (st != QPS_OK)
        s->tx_failed = true; /* totals may be written without their deletes */
    return st;
}

static int64_t scalar(qps_store *s, const char *sql)
{
    sqlite3_stmt *q;
    int64_t v = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            v = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    return v;
}

qps_status qps_store_stat(qps_store *s, qps_store_info *out)
{
    if (s->in_tx && qps_store_flush_pending(s) != QPS_OK)
        return QPS_EIO;
    out->transactions = (uint64_t)scalar(s, "SELECT count(*) FROM transactions");
    /* a folded accept row holds two facts, a queued record with its reply too */
    out->connection_facts = (uint64_t)scalar(s, "SELECT (SELECT count(*) + count(end_time) FROM connections) + "
                                                "(SELECT count(queue_ok) FROM transactions)");
    out->files = (uint64_t)scalar(s, "SELECT count(*) FROM files");
    out->daily_rows = (uint64_t)scalar(s, "SELECT count(*) FROM daily");
    /* ids are in time order: the first and last rows are at hand, but for
     * times beyond the ids' range, which share its first or last second */
    char sql[320];
    snprintf(sql, sizeof sql,
             "SELECT coalesce((SELECT min(time) FROM transactions WHERE id < %lld AND nsec >= 0), "
             "(SELECT time FROM transactions WHERE nsec >= 0 ORDER BY id LIMIT 1), 0)",
             (long long)qps_second_key(1));
    out->first = scalar(s, sql);
    snprintf(sql, sizeof sql,
             "SELECT coalesce((SELECT max(time) FROM transactions WHERE id >= %lld AND nsec >= 0), "
             "(SELECT time FROM transactions WHERE nsec >= 0 ORDER BY id DESC LIMIT 1), 0)",
             (long long)qps_second_key(KEY_SEC_MAX));
    out->last = scalar(s, sql);
    return QPS_OK;
}
