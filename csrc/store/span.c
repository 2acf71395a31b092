/*
 * span.c - what the store keeps of the logs' times beyond its rows: for
 * every imported file, the first and last time of its timed lines (kept in
 * meta as "span:FILE" = "FIRST LAST"). Rows cannot tell: a file's first
 * lines may be no records, pruning deletes rows, and rows do not say which
 * file they came from. The summary's "most recent log" and cumulative
 * Start/Finish come from here, so `summary --db` says what `summary` over
 * the same logs says.
 *
 * License: MIT (see README).
 */
#include "store_private.h"

#include <inttypes.h>
#include <stdio.h>

qps_status store_span_commit(qps_store *s, int64_t file)
{
    if (!s->span.valid)
        return QPS_OK;
    char key[48], value[64];
    snprintf(key, sizeof key, "span:%" PRId64, file);
    snprintf(value, sizeof value, "%" PRId64 " %" PRId64, s->span.first, s->span.last);
    /* the file's span so far, widened by this transaction's */
    static const char sql[] =
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = "
        "min(CAST(substr(value, 1, instr(value, ' ') - 1) AS INTEGER), CAST(substr(?2, 1, instr(?2, ' ') - 1) AS INTEGER))"
        " || ' ' || "
        "max(CAST(substr(value, instr(value, ' ') + 1) AS INTEGER), CAST(substr(?2, instr(?2, ' ') + 1) AS INTEGER))";
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot write the store");
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot write the store");
    s->span.valid = false;
    return QPS_OK;
}

qps_status qps_store_log_span(qps_store *s, qps_log_span *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key LIKE 'span:%'", -1, &q, NULL) != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(q, 0);
        long long first, last;
        if (!v || sscanf(v, "%lld %lld", &first, &last) != 2 || first > last)
            continue; /* not ours */
        if (!out->files || first < out->first)
            out->first = first;
        if (!out->files || last > out->last)
            out->last = last;
        /* the newest file: its last line is the latest (then its first) */
        if (!out->files || last > out->recent_last || (last == out->recent_last && first > out->recent_first)) {
            out->recent_first = first;
            out->recent_last = last;
        }
        out->files++;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? QPS_OK : qps_store_fail(s, QPS_EIO, "cannot read the store");
}
