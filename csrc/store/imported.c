/*
 * store/imported.c - how far the imported rows reach, so that a live
 * record needs no search for a logged twin where there can be none.
 *
 * A record of the plugin looks for its copy imported from the log among
 * all the rows of its +-DEDUP_WINDOW (imported rows carry no index but
 * their id, which keeps imports fast). On a server where the logs are
 * imported now and then, none of those rows is imported, and the search
 * was most of a live record's cost. The store keeps the highest id of
 * any imported row with a time (meta 'imported_until', written with the
 * rows in their transaction): a live record whose window starts above
 * it has no twin to find.
 *
 * Every imported row goes in through store_insert_terse or
 * store_insert_fact (batch.c), which note its id here. Stores from before this mark get it
 * once, from their tables.
 *
 * License: MIT (see README).
 */
#include "store_private.h"

/* ids an insert may move a row up by (a taken id): within its second */
#define KEY_SLACK (INT64_C(1) << NSEC_BITS)

void qps_store_note_imported(qps_store *s, int64_t key)
{
    if (key != NO_KEY && key + KEY_SLACK > s->imported_new)
        s->imported_new = key + KEY_SLACK;
}

/* the highest id of the imported timed rows of one table, or -1 */
static qps_status scan_table(qps_store *s, int stmt, int64_t *until)
{
    sqlite3_stmt *q = qps_store_stmt(s, stmt);
    if (!q)
        return QPS_EFORMAT;
    int rc = sqlite3_step(q);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    if (id >= 0 && id + KEY_SLACK > *until)
        *until = id + KEY_SLACK;
    return QPS_OK;
}

/* The mark as stored; from the tables when a store has none yet (then
 * saved with the transaction). Inside the write transaction. */
static qps_status load_mark(qps_store *s)
{
    sqlite3_stmt *get = qps_store_stmt(s, ST_MARK_GET);
    if (!get)
        return QPS_EFORMAT;
    int rc = sqlite3_step(get);
    int64_t saved = rc == SQLITE_ROW ? sqlite3_column_int64(get, 0) : INT64_MIN;
    sqlite3_reset(get);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    if (rc == SQLITE_DONE) {
        /* the last imported rows: a backward scan that stops at the first */
        int64_t until = -1;
        qps_status st;
        if ((st = scan_table(s, ST_MARK_SCAN_TX, &until)) != QPS_OK ||
            (st = scan_table(s, ST_MARK_SCAN_CONN, &until)) != QPS_OK)
            return st;
        if (s->imported_new < until)
            s->imported_new = until;
    }
    s->imported_saved = saved;
    s->imported_valid = true;
    return QPS_OK;
}

qps_status qps_store_imported_until(qps_store *s, int64_t *until)
{
    qps_status st = s->imported_valid ? QPS_OK : load_mark(s);
    *until = s->imported_new > s->imported_saved ? s->imported_new : s->imported_saved;
    return st;
}

qps_status qps_store_save_imported(qps_store *s)
{
    if (!s->imported_valid) {
        if (s->imported_new == INT64_MIN)
            return QPS_OK; /* nothing imported, nothing asked */
        qps_status st = load_mark(s);
        if (st != QPS_OK)
            return st;
    }
    if (s->imported_new <= s->imported_saved)
        return QPS_OK;
    sqlite3_stmt *set = qps_store_stmt(s, ST_MARK_SET);
    if (!set)
        return QPS_EFORMAT;
    sqlite3_bind_int64(set, 1, s->imported_new);
    if (qps_step_done(set) != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot write the store");
    s->imported_saved = s->imported_new;
    return QPS_OK;
}

void qps_store_imported_reset(qps_store *s)
{
    s->imported_valid = false;
    s->imported_new = s->imported_saved = INT64_MIN;
}
