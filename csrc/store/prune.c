/*
 * prune.c - thins the store out: records older than a day are deleted and
 * their daily totals by disposition and sender TLD kept (table daily), and
 * the rest of what they counted (facts.c, table daily_facts), so reports
 * over pruned days still count them and no counter of /metrics goes down.
 * (Filtered reports read those; the others read the totals kept as the
 * records were written, totals.c, which a prune leaves but for the
 * remote parties.)
 *
 * License: MIT (see README).
 */
#include "store_private.h"

#include <stdio.h>

static int gather_fact(void *ctx, const qps_record *rec)
{
    return store_facts_add(ctx, rec);
}

/* The facts of every record the deletes below remove: those before
 * `before` by their own time (a folded connection's time that ends
 * later stays, as a row of its own). */
static qps_status gather_facts(qps_store *s, int64_t before)
{
    store_facts *f = store_facts_new(s);
    if (!f)
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory pruning the store");
    qps_status st = store_facts_status(f);
    if (st == QPS_OK)
        st = qps_store_each(s, INT64_MIN, before, gather_fact, f);
    if (st == QPS_ESTOPPED)
        st = store_facts_status(f);
    if (st == QPS_OK)
        st = store_facts_flush(f);
    store_facts_free(f);
    return st;
}

qps_status qps_store_prune(qps_store *s, int64_t before, uint64_t *removed)
{
    *removed = 0;
    if (s->readonly)
        return qps_store_set_error(s, QPS_EREADONLY, "the store was opened read-only");
    bool own_tx = !s->in_tx;
    qps_status st = own_tx ? qps_store_begin(s) : qps_store_flush_pending(s);
    if (st != QPS_OK)
        return st;
    sqlite3_stmt *sel = NULL, *up = NULL, *keep = NULL;
    st = QPS_OK;
    /* ids are time keys: old rows are a range at the start of each table */
    int64_t tx_end = before > KEY_SEC_MAX ? INT64_MAX : qps_second_key(before);
    int64_t conn_end = before > KEY_SEC_MAX - FOLD_SPAN ? INT64_MAX : qps_second_key(before + FOLD_SPAN);
    /* a record whose time has no calendar day (far outside the years
     * local time can name) has no daily total to live on in: it is kept */
    if (qps_store_exec(s, "CREATE TEMP TABLE IF NOT EXISTS prune_keep (id INTEGER PRIMARY KEY); "
                          "DELETE FROM temp.prune_keep") != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO temp.prune_keep VALUES (?)", -1, &keep, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT time, disposition, sender, id FROM transactions WHERE id < ?1 AND time < ?2 "
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
        if (qps_civil_from_unix(&tz, sqlite3_column_int64(sel, 0), 0, &c) != QPS_OK) {
            sqlite3_bind_int64(keep, 1, sqlite3_column_int64(sel, 3));
            if (qps_step_done(keep) != SQLITE_DONE)
                st = qps_store_fail(s, QPS_EIO, "cannot prune the store");
            continue;
        }
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
    sqlite3_finalize(keep);
    if (st == QPS_OK)
        st = gather_facts(s, before);
    char sql[320];
    if (st == QPS_OK) {
        /* (records without a time have no day to be pruned by) */
        snprintf(sql, sizeof sql,
                 "DELETE FROM transactions WHERE id < %lld AND time < %lld AND nsec >= 0 "
                 "AND id NOT IN (SELECT id FROM temp.prune_keep)",
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
        else if (*removed || sqlite3_changes(s->db))
            s->old_write = true; /* rows went to the daily totals: caches of them are stale */
    }
    if (st == QPS_OK) {
        /* the totals stay (no counter goes down); a store written before
         * the remote parties left the totals (totals.c) still has their
         * keys, which no reader reads: gone with their days' records */
        snprintf(sql, sizeof sql,
                 "DELETE FROM totals WHERE what IN ('ip', 'helo', 'sender', 'rcpt', 'rcpt_acc') "
                 "AND span IN (SELECT start FROM spans WHERE last < %lld)",
                 (long long)before);
        if (qps_store_flush_pending(s) != QPS_OK || qps_store_exec(s, sql) != SQLITE_OK)
            st = qps_store_fail(s, QPS_EIO, "cannot prune the store");
    }
    if (own_tx)
        return st == QPS_OK ? qps_store_commit(s) : (qps_store_rollback(s), st);
    if (st != QPS_OK)
        s->tx_failed = true; /* totals may be written without their deletes */
    return st;
}
