/*
 * read.c - records out of the store: rebuilt from their rows (read at
 * their columns' positions, schema.h) as the parser would have given them,
 * for reports and the summary; and the store's totals.
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

/* The row's server, else the store's: the host that wrote it. */
static qps_str row_server(const qps_store *s, sqlite3_stmt *q, int col)
{
    qps_str h = column_str(q, col);
    return h.len || !s->server ? h : qps_slice(s->server, strlen(s->server));
}

/* A stored transaction as the parser would have given it, with its server
 * as a logging/file frame gives it. */
static void terse_from_row(const qps_store *s, sqlite3_stmt *q, qps_record *r)
{
    memset(r, 0, sizeof *r);
    r->host = row_server(s, q, TX_SERVER);
    r->service = column_str(q, TX_SERVICE);
    r->kind = QPS_KIND_TERSE;
    r->has_time = sqlite3_column_int(q, TX_NSEC) >= 0; /* -1: a line without a time */
    r->unix_sec = r->has_time ? sqlite3_column_int64(q, TX_TIME) : 0;
    r->nsec = r->has_time ? (uint32_t)sqlite3_column_int(q, TX_NSEC) : 0;
    r->pid = (uint32_t)sqlite3_column_int64(q, TX_PID);
    for (int f = 0; f <= QPS_TF_TEXT; f++)
        r->field[f] = column_str(q, TX_IP + f);
    bool has_spam = sqlite3_column_type(q, TX_SPAM) != SQLITE_NULL;
    r->field[QPS_TF_SPAM] = has_spam ? column_str(q, TX_SPAM) : qps_slice(NULL, 0);
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
typedef int (*row_reader)(const qps_store *s, sqlite3_stmt *q, int64_t since, int64_t until, qps_record_fn fn,
                          void *ctx);

/* A transactions row: the record, and the queue's reply that shares it. */
static int records_of_transaction(const qps_store *s, sqlite3_stmt *q, int64_t since, int64_t until,
                                  qps_record_fn fn, void *ctx)
{
    (void)since, (void)until; /* the query selects by the record's own time */
    qps_record rec;
    terse_from_row(s, q, &rec);
    if (fn(ctx, &rec) != 0)
        return 1;
    if (sqlite3_column_type(q, TX_QUEUE_OK) == SQLITE_NULL)
        return 0;
    qps_record reply;
    memset(&reply, 0, sizeof reply);
    queued_reply(&reply);
    reply.has_time = rec.has_time;
    reply.unix_sec = rec.unix_sec;
    reply.nsec = rec.nsec;
    reply.pid = rec.pid;
    reply.host = rec.host;
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
static int records_of_connection(const qps_store *s, sqlite3_stmt *q, int64_t since, int64_t until,
                                 qps_record_fn fn, void *ctx)
{
    qps_record r;
    memset(&r, 0, sizeof r);
    r.host = row_server(s, q, CN_SERVER);
    r.kind = fact_kind((const char *)sqlite3_column_text(q, CN_KIND));
    r.has_time = sqlite3_column_int(q, CN_NSEC) >= 0; /* -1: a line without a time */
    r.unix_sec = r.has_time ? sqlite3_column_int64(q, CN_TIME) : 0;
    r.nsec = r.has_time ? (uint32_t)sqlite3_column_int(q, CN_NSEC) : 0;
    r.pid = (uint32_t)sqlite3_column_int64(q, CN_PID);
    r.remote_ip = column_str(q, CN_IP);
    r.running = (unsigned)sqlite3_column_int(q, CN_RUNNING);
    r.max = (unsigned)sqlite3_column_int(q, CN_MAX);
    r.millis = (uint64_t)sqlite3_column_int64(q, CN_MILLIS);
    if (r.kind == QPS_KIND_REPLY)
        queued_reply(&r);
    /* an untimed fact goes to fn, which knows what a selection does with it */
    if (r.kind != QPS_KIND_OTHER && (!r.has_time || in_window(r.unix_sec, since, until)) && fn(ctx, &r) != 0)
        return 1;
    if (r.kind != QPS_KIND_ACCEPT || sqlite3_column_type(q, CN_END_TIME) == SQLITE_NULL)
        return 0;
    /* the folded connection time */
    r.kind = QPS_KIND_CONN_TIME;
    r.has_time = 1;
    r.unix_sec = sqlite3_column_int64(q, CN_END_TIME);
    r.nsec = (uint32_t)sqlite3_column_int(q, CN_END_NSEC);
    r.running = r.max = 0;
    return in_window(r.unix_sec, since, until) && fn(ctx, &r) != 0;
}

/* Runs the table's whole rows WHERE `where` (with two parameters: ids from
 * `from` to before `to`; with four: and times in [since, until)) and gives
 * each row's records. */
static qps_status walk(qps_store *s, int table, const char *where, int64_t from, int64_t to, int64_t since,
                       int64_t until, row_reader read_row, qps_record_fn fn, void *ctx)
{
    qps_buf sql = {0};
    store_select_sql(&store_tables[table], s->schema, &sql);
    qps_buf_printf(&sql, "%s", where);
    if (sql.failed)
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory reading the store");
    sqlite3_stmt *q;
    int prc = sqlite3_prepare_v2(s->db, sql.data, (int)sql.len, &q, NULL);
    qps_buf_release(&sql);
    if (prc != SQLITE_OK)
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
        if (read_row(s, q, since, until, fn, ctx) != 0) {
            st = qps_store_set_error(s, QPS_ESTOPPED, "the walk was stopped by its callback");
            break;
        }
    if (st == QPS_OK && rc != SQLITE_DONE)
        st = qps_store_fail(s, QPS_EIO, "cannot read the store");
    sqlite3_finalize(q);
    return st;
}

/* The timed records in [since, until), transactions first. */
static qps_status each_timed(qps_store *s, int64_t since, int64_t until, qps_record_fn fn, void *ctx)
{
    qps_status st = walk(s, TB_TRANSACTIONS, "WHERE id >= ?1 AND id < ?2 AND time >= ?3 AND time < ?4 AND nsec >= 0 ORDER BY id",
                         qps_second_key(since), until > KEY_SEC_MAX ? INT64_MAX : qps_second_key(until), since, until,
                         records_of_transaction, fn, ctx);
    if (st == QPS_OK)
        st = walk(s, TB_CONNECTIONS, "WHERE id >= ?1 AND id < ?2 AND nsec >= 0 ORDER BY id", qps_second_key(since),
                  until > KEY_SEC_MAX - FOLD_SPAN ? INT64_MAX : qps_second_key(until + FOLD_SPAN), since, until,
                  records_of_connection, fn, ctx);
    return st;
}

/* The records without a time (which every selection gets). */
static qps_status each_untimed(qps_store *s, qps_record_fn fn, void *ctx)
{
    qps_status st = walk(s, TB_TRANSACTIONS, "WHERE nsec < 0", 0, 0, 0, 0, records_of_transaction, fn, ctx);
    if (st == QPS_OK)
        st = walk(s, TB_CONNECTIONS, "WHERE nsec < 0", 0, 0, 0, 0, records_of_connection, fn, ctx);
    return st;
}

qps_status qps_store_each(qps_store *s, int64_t since, int64_t until, qps_record_fn fn, void *ctx)
{
    qps_status st = s->in_tx ? qps_store_flush_pending(s) : QPS_OK;
    if (st != QPS_OK)
        return st;
    st = walk(s, TB_TRANSACTIONS, "WHERE id >= ?1 AND id < ?2 AND time >= ?3 AND time < ?4 AND nsec >= 0 ORDER BY id",
              qps_second_key(since), until > KEY_SEC_MAX ? INT64_MAX : qps_second_key(until), since, until,
              records_of_transaction, fn, ctx);
    /* records of logs without times (nsec -1, a small partial index) go to
     * fn whatever the selection, as they would from the logs (in id order:
     * all have nsec -1) */
    if (st == QPS_OK)
        st = walk(s, TB_TRANSACTIONS, "WHERE nsec < 0", 0, 0, since, until, records_of_transaction, fn, ctx);
    /* a folded accept has the id of its end, up to FOLD_SPAN later */
    if (st == QPS_OK)
        st = walk(s, TB_CONNECTIONS, "WHERE id >= ?1 AND id < ?2 AND nsec >= 0 ORDER BY id", qps_second_key(since),
                  until > KEY_SEC_MAX - FOLD_SPAN ? INT64_MAX : qps_second_key(until + FOLD_SPAN), since, until,
                  records_of_connection, fn, ctx);
    if (st == QPS_OK)
        st = walk(s, TB_CONNECTIONS, "WHERE nsec < 0", 0, 0, since, until, records_of_connection, fn, ctx);
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

static bool has_table(qps_store *s, const char *name)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1, &q, NULL) !=
        SQLITE_OK)
        return false;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    bool found = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    return found;
}

static qps_str text_of(sqlite3_stmt *q, int col)
{
    const char *t = (const char *)sqlite3_column_text(q, col);
    return qps_slice(t ? t : "", t ? (size_t)sqlite3_column_bytes(q, col) : 0);
}

/* The rows (day, a, b, count) of a pruned days' table into agg: daily's
 * (a disposition and a TLD) or, facts, daily_facts' (what and key). A day
 * is in the selection when its start is. */
static qps_status pruned_days(qps_store *s, qps_agg *agg, const qps_agg_opts_view *v, int table, bool facts,
                              const char *what, const char *name)
{
    /* the days around the selection only, through the table's key (a day
     * starts within a day of its UTC date); the check below is exact */
    char lo[16] = "0000-00-00", hi[16] = "9999-99-99";
    qps_civil c;
    if (v->has_since && qps_civil_from_unix(NULL, qps_sat_add(v->since, -2 * 86400), 1, &c) == QPS_OK)
        snprintf(lo, sizeof lo, "%04d-%02d-%02d", c.year, c.month, c.day);
    if (v->has_until && qps_civil_from_unix(NULL, qps_sat_add(v->until, 2 * 86400), 1, &c) == QPS_OK)
        snprintf(hi, sizeof hi, "%04d-%02d-%02d", c.year, c.month, c.day);
    qps_buf sql = {0};
    store_select_sql(&store_tables[table], s->schema, &sql);
    if (name) {
        /* the same columns, from the copy a migration kept (from_totals) */
        sql.len = 0;
        qps_buf_printf(&sql, "SELECT * FROM %s ", name);
    }
    qps_buf_printf(&sql, "WHERE day BETWEEN ?1 AND ?2 %s ORDER BY day", what ? what : "");
    sqlite3_stmt *q;
    int prc = sql.failed ? SQLITE_NOMEM : sqlite3_prepare_v2(s->db, sql.data, (int)sql.len, &q, NULL);
    qps_buf_release(&sql);
    if (prc != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    sqlite3_bind_text(q, 1, lo, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, hi, -1, SQLITE_TRANSIENT);
    qps_str server = qps_slice(s->server ? s->server : "", s->server ? strlen(s->server) : 0);
    qps_status st = QPS_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *day = (const char *)sqlite3_column_text(q, 0);
        qps_civil c = {0};
        int64_t start;
        if (!day || sscanf(day, "%d-%d-%d", &c.year, &c.month, &c.day) != 3 ||
            qps_unix_from_civil(NULL, &c, v->utc, &start) != QPS_OK)
            continue;
        if ((v->has_since && start < v->since) || (v->has_until && start >= v->until))
            continue;
        int64_t n = sqlite3_column_int64(q, 3);
        if (facts) {
            const char *what = (const char *)sqlite3_column_text(q, 1);
            st = qps_agg_add_fact(agg, what ? what : "", text_of(q, 2), n);
        } else {
            st = qps_agg_add_summary(agg, day, text_of(q, 1), text_of(q, 2), server, (uint64_t)n);
        }
        if (st != QPS_OK)
            break;
    }
    if (st == QPS_OK && rc != SQLITE_DONE)
        st = qps_store_fail(s, QPS_EIO, "cannot read the store");
    sqlite3_finalize(q);
    return st;
}

/* ---- a selection without filters: totals where whole spans cover it ---- */

#define HOURLY_DIMS                                                                                                \
    (QPS_DIM_BIT(QPS_DIM_HOUR) | QPS_DIM_BIT(QPS_DIM_DAY) | QPS_DIM_BIT(QPS_DIM_HOUR_CATEGORY) |                   \
     QPS_DIM_BIT(QPS_DIM_HOUR_DISPOSITION) | QPS_DIM_BIT(QPS_DIM_DAY_DISPOSITION))
/* what the totals of all time answer (QPS_TOTAL_ALL's families) */
#define ALL_TIME_DIMS                                                                                              \
    (QPS_DIM_BIT(QPS_DIM_DISPOSITION) | QPS_DIM_BIT(QPS_DIM_DNSBL) | QPS_DIM_BIT(QPS_DIM_SCORE) |                  \
     QPS_DIM_BIT(QPS_DIM_SPAM) | QPS_DIM_BIT(QPS_DIM_CONNECTIONS) | QPS_DIM_BIT(QPS_DIM_CONNECTION_TIME) |         \
     QPS_DIM_BIT(QPS_DIM_SERVER) | QPS_DIM_BIT(QPS_DIM_CODE) | QPS_DIM_BIT(QPS_DIM_CATEGORY) |                   \
     QPS_DIM_BIT(QPS_DIM_SERVICE))

/* "'a','b',..." of the families the dimensions read (the rest is skipped). */
static void families_sql(unsigned dims, qps_buf *out)
{
    static const struct {
        unsigned dims;
        const char *names;
    } fam[] = {
        {~0u, "'hk','ck','kind','tmin','tmax','accepted','peak','max','too_many','hosts_allow','queued'"},
        {QPS_DIM_BIT(QPS_DIM_TLD), "'tld'"},
        {QPS_DIM_BIT(QPS_DIM_DISPOSITION_TLD), "'dt'"},
        {QPS_DIM_BIT(QPS_DIM_SERVER), "'server'"},
        {QPS_DIM_BIT(QPS_DIM_CODE), "'code'"},
        {QPS_DIM_BIT(QPS_DIM_SERVICE), "'service'"},
        {QPS_DIM_BIT(QPS_DIM_DNSBL), "'dnsbl'"},
        {QPS_DIM_BIT(QPS_DIM_SCORE) | QPS_DIM_BIT(QPS_DIM_SPAM), "'score','nospam'"},
        /* (a store of schema 5's connection times; conn_times.c since) */
        {QPS_DIM_BIT(QPS_DIM_CONNECTIONS) | QPS_DIM_BIT(QPS_DIM_CONNECTION_TIME), "'ms'"},
    };
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++)
        if (dims & fam[i].dims)
            qps_buf_printf(out, "%s%s", i ? "," : "", fam[i].names);
}

/* A span's totals (ALL_SPAN: of all time, in the order their keys came)
 * into agg. */
static qps_status span_totals(qps_store *s, qps_agg *agg, sqlite3_stmt *q, int64_t span,
                              const qps_total_hours *hours)
{
    sqlite3_bind_int64(q, 1, span);
    qps_str server = qps_slice(s->server ? s->server : "", s->server ? strlen(s->server) : 0);
    qps_status st = QPS_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *what = (const char *)sqlite3_column_text(q, 0);
        qps_str key = text_of(q, 1);
        /* a row without its server is the store's (as read.c gives it) */
        if (!key.len && what && strcmp(what, "server") == 0)
            key = server;
        if ((st = qps_agg_add_total(agg, what ? what : "", key, sqlite3_column_int64(q, 2), hours)) != QPS_OK)
            break;
    }
    if (st == QPS_OK && rc != SQLITE_DONE)
        st = qps_store_fail(s, QPS_EIO, "cannot read the store");
    sqlite3_reset(q);
    /* the connection times are packed rows of their own */
    if (st == QPS_OK &&
        (qps_agg_dims(agg) & (QPS_DIM_BIT(QPS_DIM_CONNECTIONS) | QPS_DIM_BIT(QPS_DIM_CONNECTION_TIME))))
        st = store_conn_times_read(s, span, agg);
    return st;
}

/* The tables whose keys are not totals (qps_agg_add_remote_keys). */
#define REMOTE_DIMS                                                                                                \
    (QPS_DIM_BIT(QPS_DIM_IP) | QPS_DIM_BIT(QPS_DIM_HELO) | QPS_DIM_BIT(QPS_DIM_SENDER) |                           \
     QPS_DIM_BIT(QPS_DIM_RECIPIENT))

/* The remote parties of the span [start, end)'s transactions into agg,
 * in the order they came; q selects (ip, helo, sender, recipients,
 * disposition) by id and time. */
static qps_status span_remote_keys(qps_store *s, qps_agg *agg, sqlite3_stmt *q, int64_t start, int64_t end)
{
    sqlite3_bind_int64(q, 1, qps_second_key(start));
    sqlite3_bind_int64(q, 2, end > KEY_SEC_MAX ? INT64_MAX : qps_second_key(end));
    sqlite3_bind_int64(q, 3, start);
    sqlite3_bind_int64(q, 4, end);
    qps_record r;
    memset(&r, 0, sizeof r);
    r.kind = QPS_KIND_TERSE;
    qps_status st = QPS_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        r.field[QPS_TF_IP] = column_str(q, 0);
        r.field[QPS_TF_HELO] = column_str(q, 1);
        r.field[QPS_TF_SENDER] = column_str(q, 2);
        r.field[QPS_TF_RCPTS] = column_str(q, 3);
        r.field[QPS_TF_DISPOSITION] = column_str(q, 4);
        if ((st = qps_agg_add_remote_keys(agg, &r)) != QPS_OK)
            break;
    }
    if (st == QPS_OK && rc != SQLITE_DONE)
        st = qps_store_fail(s, QPS_EIO, "cannot read the store");
    sqlite3_reset(q);
    return st;
}

/* The reader's hours and dates of a span's hours; false when they do not
 * begin where the span's do (a zone half an hour off). */
static bool span_hours(int64_t start, int utc, qps_tzcache *tz, qps_total_hours *h)
{
    for (int k = 0; k < 25; k++) {
        qps_civil c;
        if (qps_civil_from_unix(tz, qps_sat_add(start, (int64_t)k * 3600), utc, &c) != QPS_OK ||
            c.minute != 0 || c.second != 0)
            return false;
        snprintf(h->hour[k], sizeof h->hour[k], "%02d", c.hour);
        snprintf(h->date[k], sizeof h->date[k], "%04d-%02d-%02d", c.year % 10000, c.month, c.day);
    }
    return true;
}

static qps_status pruned_days(qps_store *s, qps_agg *agg, const qps_agg_opts_view *v, int table, bool facts,
                              const char *what, const char *name);

static qps_status line_counts(qps_store *s, qps_agg *agg, const qps_counts *before);

static qps_status from_totals(qps_store *s, qps_agg *agg, const qps_agg_opts_view *v, agg_feed *feed)
{
    unsigned dims = qps_agg_dims(agg);
    /* days pruned before the store had totals: as they were (the copies
     * of daily and daily_facts its migration kept; later prunes go to
     * daily, and their records are in the totals) */
    qps_status st = QPS_OK;
    if (has_table(s, "daily_v3")) {
        bool facts = has_table(s, "daily_facts_v3");
        st = facts ? pruned_days(s, agg, v, TB_DAILY_FACTS, true, "AND what = 'category'", "daily_facts_v3") : QPS_OK;
        if (st == QPS_OK)
            st = pruned_days(s, agg, v, TB_DAILY, false, NULL, "daily_v3");
        if (st == QPS_OK && facts)
            st = pruned_days(s, agg, v, TB_DAILY_FACTS, true, "AND what <> 'category'", "daily_facts_v3");
        if (st != QPS_OK)
            return st;
    }
    bool all_time = !v->has_since && !v->has_until && !(dims & ~ALL_TIME_DIMS);
    qps_buf sql = {0};
    qps_buf_printf(&sql, "SELECT what, key, count FROM totals WHERE span = ?1 AND what IN (");
    families_sql(dims, &sql);
    qps_buf_printf(&sql, ")%s", all_time ? " ORDER BY first" : "");
    sqlite3_stmt *q = NULL, *sp = NULL, *remote = NULL;
    int prc = sql.failed ? SQLITE_NOMEM : sqlite3_prepare_v2(s->db, sql.data, (int)sql.len, &q, NULL);
    qps_buf_release(&sql);
    if (prc == SQLITE_OK && !all_time && (dims & REMOTE_DIMS))
        prc = sqlite3_prepare_v2(s->db,
                                 "SELECT ip, helo, sender, recipients, disposition FROM transactions "
                                 "WHERE id >= ?1 AND id < ?2 AND time >= ?3 AND time < ?4 AND nsec >= 0 ORDER BY id",
                                 -1, &remote, NULL);
    if (prc != SQLITE_OK) {
        sqlite3_finalize(q);
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    }
    if (all_time) {
        st = span_totals(s, agg, q, ALL_SPAN, NULL);
    } else if (sqlite3_prepare_v2(s->db, "SELECT start, end, first, last FROM spans WHERE end > ?1 AND start < ?2 "
                                         "ORDER BY start", -1, &sp, NULL) != SQLITE_OK) {
        st = qps_store_fail(s, QPS_EIO, "cannot read the store");
    } else {
        int64_t lo = v->has_since ? v->since : INT64_MIN, hi = v->has_until ? v->until : INT64_MAX;
        int64_t cursor = lo;
        qps_tzcache tz = QPS_TZCACHE_INIT;
        qps_total_hours hours;
        sqlite3_bind_int64(sp, 1, lo);
        sqlite3_bind_int64(sp, 2, hi);
        int rc;
        while (st == QPS_OK && (rc = sqlite3_step(sp)) == SQLITE_ROW) {
            int64_t start = sqlite3_column_int64(sp, 0), end = sqlite3_column_int64(sp, 1);
            bool empty = sqlite3_column_type(sp, 2) == SQLITE_NULL;
            /* whole: every record of the span is in the selection */
            if (!empty && (sqlite3_column_int64(sp, 2) < lo || sqlite3_column_int64(sp, 3) >= hi))
                continue;
            bool hourly = span_hours(start, v->utc, &tz, &hours);
            if (!hourly && (dims & HOURLY_DIMS))
                continue;
            if (cursor < start)
                st = each_timed(s, cursor, start, add_to_agg, feed);
            if (st == QPS_OK && !empty)
                st = span_totals(s, agg, q, start, hourly ? &hours : NULL);
            if (st == QPS_OK && !empty && remote)
                st = span_remote_keys(s, agg, remote, start, end);
            if (end > cursor)
                cursor = end;
        }
        if (st == QPS_OK && rc != SQLITE_DONE)
            st = qps_store_fail(s, QPS_EIO, "cannot read the store");
        if (st == QPS_OK && cursor < hi)
            st = each_timed(s, cursor, hi, add_to_agg, feed);
    }
    sqlite3_finalize(q);
    sqlite3_finalize(sp);
    sqlite3_finalize(remote);
    if (st == QPS_OK)
        st = each_untimed(s, add_to_agg, feed);
    return st == QPS_ESTOPPED ? feed->status : st;
}

qps_status qps_store_aggregate(qps_store *s, qps_agg *agg)
{
    qps_agg_opts_view v;
    qps_agg_selection(agg, &v);
    agg_feed feed = {agg, QPS_OK};
    qps_counts before;
    qps_agg_counts(agg, &before); /* of the stores aggregated before this one */
    qps_status st = s->in_tx ? qps_store_flush_pending(s) : QPS_OK;
    if (st != QPS_OK)
        return st;
    if (!qps_agg_nwhere(agg)) {
        st = from_totals(s, agg, &v, &feed);
        if (st != QPS_OK)
            return st;
        return line_counts(s, agg, &before);
    }
    /* pruned days first (they are older), day by day: their totals by
     * disposition and TLD, then the rest of what they counted (a store of
     * schema 2 pruned before daily_facts existed has no such table). So
     * keys come in time order (qps_agg_keys_seen) whatever was pruned. */
    bool facts = has_table(s, "daily_facts");
    /* the category facts first: the totals by disposition leave them out */
    st = facts ? pruned_days(s, agg, &v, TB_DAILY_FACTS, true, "AND what = 'category'", NULL) : QPS_OK;
    if (st == QPS_OK)
        st = pruned_days(s, agg, &v, TB_DAILY, false, NULL, NULL);
    if (st == QPS_OK && facts)
        st = pruned_days(s, agg, &v, TB_DAILY_FACTS, true, "AND what <> 'category'", NULL);
    if (st != QPS_OK)
        return st;
    st = qps_store_each(s, v.has_since ? v.since : INT64_MIN, v.has_until ? v.until : INT64_MAX, add_to_agg, &feed);
    if (st == QPS_ESTOPPED)
        return feed.status;
    if (st != QPS_OK)
        return st;
    return line_counts(s, agg, &before);
}

/* The line counters are those of the imported files. */
static qps_status line_counts(qps_store *s, qps_agg *agg, const qps_counts *before0)
{
    const qps_counts before = *before0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "SELECT coalesce(sum(lines_read),0), coalesce(sum(lines_invalid),0) FROM files",
                           -1, &q, NULL) != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    if (sqlite3_step(q) == SQLITE_ROW) {
        uint64_t read = (uint64_t)sqlite3_column_int64(q, 0), bad = (uint64_t)sqlite3_column_int64(q, 1);
        qps_counts c;
        qps_agg_counts(agg, &c);
        if (read >= c.lines_read - before.lines_read)
            qps_agg_set_line_counts(agg, before.lines_read + read, before.lines_parsed + read - bad,
                                    before.lines_invalid + bad);
    }
    sqlite3_finalize(q);
    return QPS_OK;
}

/* The one value sql gives; false (the store's error set) when it fails. */
static bool scalar(qps_store *s, const char *sql, int64_t *v)
{
    sqlite3_stmt *q;
    *v = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
        qps_store_fail(s, QPS_EIO, "cannot read the store");
        return false;
    }
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int64(q, 0);
    else
        qps_store_fail(s, QPS_EIO, "cannot read the store");
    sqlite3_finalize(q);
    return rc == SQLITE_ROW;
}

qps_status qps_store_stat(qps_store *s, qps_store_info *out)
{
    memset(out, 0, sizeof *out);
    qps_status st = s->in_tx ? qps_store_flush_pending(s) : QPS_OK;
    if (st != QPS_OK)
        return st;
    /* ids are in time order: the first and last rows are at hand, but for
     * times beyond the ids' range, which share its first or last second */
    char first[320], last[320];
    snprintf(first, sizeof first,
             "SELECT coalesce((SELECT min(time) FROM transactions WHERE id < %lld AND nsec >= 0), "
             "(SELECT time FROM transactions WHERE nsec >= 0 ORDER BY id LIMIT 1), 0)",
             (long long)qps_second_key(1));
    snprintf(last, sizeof last,
             "SELECT coalesce((SELECT max(time) FROM transactions WHERE id >= %lld AND nsec >= 0), "
             "(SELECT time FROM transactions WHERE nsec >= 0 ORDER BY id DESC LIMIT 1), 0)",
             (long long)qps_second_key(KEY_SEC_MAX));
    const struct {
        const char *sql;
        int64_t *out;
    } q[] = {
        {"SELECT count(*) FROM transactions", (int64_t *)&out->transactions},
        /* a folded accept row holds two facts, a queued record with its reply too */
        {"SELECT (SELECT count(*) + count(end_time) FROM connections) + (SELECT count(queue_ok) FROM transactions)",
         (int64_t *)&out->connection_facts},
        {"SELECT count(*) FROM files", (int64_t *)&out->files},
        {"SELECT count(*) FROM daily", (int64_t *)&out->daily_rows},
        {"SELECT coalesce(sum(count), 0) FROM daily", (int64_t *)&out->daily_transactions},
        {first, &out->first},
        {last, &out->last},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        if (!scalar(s, q[i].sql, q[i].out))
            return QPS_EIO;
    return QPS_OK;
}

qps_status qps_store_first_seen(qps_store *s, qps_first_seen_fn fn, void *ctx)
{
    qps_status st = s->in_tx ? qps_store_flush_pending(s) : QPS_OK;
    if (st != QPS_OK)
        return st;
    /* a pruned day's records were first seen on that day at the latest */
    static const char sql[] = "SELECT disposition, min(t) FROM ("
                              " SELECT disposition, min(time) AS t FROM transactions WHERE nsec >= 0 GROUP BY 1"
                              " UNION ALL SELECT disposition, NULL FROM daily) GROUP BY 1";
    sqlite3_stmt *q, *d = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT min(day) FROM daily WHERE disposition = ?", -1, &d, NULL) != SQLITE_OK) {
        sqlite3_finalize(q);
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *disp = (const char *)sqlite3_column_text(q, 0);
        size_t len = disp ? (size_t)sqlite3_column_bytes(q, 0) : 0;
        bool timed = sqlite3_column_type(q, 1) != SQLITE_NULL;
        int64_t first = timed ? sqlite3_column_int64(q, 1) : 0;
        sqlite3_bind_text(d, 1, disp ? disp : "", (int)len, SQLITE_TRANSIENT);
        if (sqlite3_step(d) == SQLITE_ROW && sqlite3_column_type(d, 0) != SQLITE_NULL) {
            qps_civil c = {0};
            int64_t start;
            const char *day = (const char *)sqlite3_column_text(d, 0);
            if (day && sscanf(day, "%d-%d-%d", &c.year, &c.month, &c.day) == 3 &&
                qps_unix_from_civil(NULL, &c, 0, &start) == QPS_OK && (!timed || start < first)) {
                first = start;
                timed = true;
            }
        }
        sqlite3_reset(d);
        if (timed && fn(ctx, qps_slice(disp ? disp : "", len), first) != 0) {
            st = qps_store_set_error(s, QPS_ESTOPPED, "the walk was stopped by its callback");
            break;
        }
    }
    if (st == QPS_OK && rc != SQLITE_DONE)
        st = qps_store_fail(s, QPS_EIO, "cannot read the store");
    sqlite3_finalize(q);
    sqlite3_finalize(d);
    return st;
}

qps_status qps_store_old_writes(qps_store *s, int64_t *n)
{
    return scalar(s, "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'old_writes'), 0)", n)
               ? QPS_OK
               : QPS_EIO;
}

qps_status qps_store_last_record(qps_store *s, int64_t *last)
{
    char sql[320];
    /* as qps_store_stat's last, without its counts (a scan of every row) */
    snprintf(sql, sizeof sql,
             "SELECT coalesce((SELECT max(time) FROM transactions WHERE id >= %lld AND nsec >= 0), "
             "(SELECT time FROM transactions WHERE nsec >= 0 ORDER BY id DESC LIMIT 1), 0)",
             (long long)qps_second_key(KEY_SEC_MAX));
    return scalar(s, sql, last) ? QPS_OK : QPS_EIO;
}
