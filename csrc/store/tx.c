/*
 * tx.c - groups the store's writes into transactions. A commit first
 * writes the rows an import keeps back (batch.c); a transaction in which a
 * write failed cannot commit, since rows already reported as added may be
 * gone.
 *
 * License: MIT (see README).
 */
#include "store_private.h"

#include <stdio.h>
#include <time.h>

qps_status qps_store_begin(qps_store *s)
{
    if (s->in_tx)
        return qps_store_set_error(s, QPS_ESTATE, "a transaction is already open");
    if (s->readonly)
        return qps_store_set_error(s, QPS_EREADONLY, "the store was opened read-only");
    if (qps_store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot lock the store");
    s->in_tx = true;
    s->tx_failed = false;
    s->wall = (int64_t)time(NULL);
    s->old_write = false;
    s->span.valid = false;
    s->gap[0].valid = s->gap[1].valid = false; /* others may have written since */
    qps_store_imported_reset(s);
    return QPS_OK;
}

qps_status qps_store_commit(qps_store *s)
{
    if (!s->in_tx)
        return qps_store_set_error(s, QPS_ESTATE, "no transaction is open");
    bool doomed = s->tx_failed;
    qps_status pst = doomed ? QPS_EIO : qps_store_flush_pending(s);
    if (pst != QPS_OK) {
        if (doomed) {
            char why[sizeof s->error];
            snprintf(why, sizeof why, "%s", s->error);
            qps_store_set_error(s, QPS_EIO, "an earlier write failed (%.400s): the transaction is rolled back", why);
        }
        qps_store_rollback(s);
        return pst;
    }
    if (s->old_write && qps_store_exec(s, "INSERT INTO meta (key, value) VALUES ('old_writes', '1') "
                                          "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1") !=
                            SQLITE_OK) {
        qps_status st = qps_store_fail(s, QPS_EIO, "cannot commit to the store");
        qps_store_rollback(s);
        return st;
    }
    if (qps_store_exec(s, "COMMIT") != SQLITE_OK) {
        qps_status st = qps_store_fail(s, QPS_EIO, "cannot commit to the store");
        qps_store_exec(s, "ROLLBACK");
        s->in_tx = false;
        store_totals_end(s);
        return st;
    }
    s->in_tx = false;
    store_totals_end(s);
    return QPS_OK;
}

qps_status qps_store_rollback(qps_store *s)
{
    if (!s->in_tx)
        return QPS_ESTATE; /* (the last error stays: a rollback after a failure is routine) */
    qps_store_exec(s, "ROLLBACK");
    s->in_tx = false;
    qps_store_discard_pending(s);
    return QPS_OK;
}
