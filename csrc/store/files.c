/*
 * files.c - the store's record of how far each log file was imported.
 *
 * License: MIT (see README).
 */
#include "store_private.h"

qps_status qps_store_file_offset(qps_store *s, const qps_file_id *id, int64_t *offset)
{
    sqlite3_stmt *q = qps_store_stmt(s, ST_FILE_GET);
    if (!q)
        return QPS_EFORMAT;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)id->head_hash);
    int rc = sqlite3_step(q);
    *offset = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    return QPS_OK;
}

qps_status qps_store_file_progress(qps_store *s, const qps_file_id *id, const char *name, int64_t offset,
                                   uint64_t lines_read, uint64_t lines_invalid)
{
    if (s->readonly)
        return qps_store_set_error(s, QPS_EREADONLY, "the store was opened read-only");
    sqlite3_stmt *q = qps_store_stmt(s, ST_FILE_SET);
    if (!q)
        return QPS_EFORMAT;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)id->head_hash);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)id->inode);
    sqlite3_bind_text(q, 3, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, offset);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)lines_read);
    sqlite3_bind_int64(q, 6, (sqlite3_int64)lines_invalid);
    if (qps_step_done(q) != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot write the store");
    return store_span_commit(s, (int64_t)id->head_hash);
}
