/*
 * files.c - which log file is which: the files table of the store.
 *
 * A file is known by its content, not its name or inode: multilog renames
 * current to previous, hands it to the processor, and renames the
 * processor's copy (a new inode, the same bytes) to @label.s. Its identity
 * is the hash of its first min(size, QPS_HEAD_MAX) bytes together with
 * that length. A row made while the file was short is found again by the
 * hash of the same number of first bytes, and takes the longer head at the
 * next commit, so the identity grows with the file up to QPS_HEAD_MAX
 * bytes. Two files that merely share a first line (an empty line, a
 * banner) differ in the bytes after it; a first line of any length is just
 * bytes of the head.
 *
 * Rows of schema 2 knew a file by the hash of its first line only; they
 * are found that way once, and take the head identity at their next commit.
 *
 * License: MIT (see README).
 */
#include "store_private.h"

#include <inttypes.h>
#include <stdio.h>

void qps_file_head_set(qps_file_head *head, const char *bytes, size_t len)
{
    if (len > QPS_HEAD_MAX)
        len = QPS_HEAD_MAX;
    /* FNV-1a goes byte by byte: the hash of every prefix on the way */
    uint64_t h = 1469598103934665603ULL;
    head->hash[0] = h;
    head->has_first_line = false;
    for (size_t i = 0; i < len; i++) {
        if (bytes[i] == '\n' && !head->has_first_line) {
            head->first_line = h;
            head->has_first_line = true;
        }
        h ^= (unsigned char)bytes[i];
        h *= 1099511628211ULL;
        head->hash[i + 1] = h;
    }
    head->len = len;
}

/* The best row among the matches of one step: the same inode first (a
 * hint only: multilog's copy has a new one), then the furthest offset. */
static void consider(sqlite3_stmt *q, uint64_t inode, int64_t *row, int64_t *offset, bool *same_inode)
{
    int64_t id = sqlite3_column_int64(q, 0), off = sqlite3_column_int64(q, 1);
    bool same = (uint64_t)sqlite3_column_int64(q, 2) == inode && inode != 0;
    if (*row == 0 || (same && !*same_inode) || (same == *same_inode && off > *offset)) {
        *row = id;
        *offset = off;
        *same_inode = same;
    }
}

/* Steps q over candidate rows; with found_len, q gives heads shorter than
 * ours, to compare with the hash of as many of our first bytes. */
static qps_status step_rows(qps_store *s, sqlite3_stmt *q, const qps_file_head *head, uint64_t inode, int64_t *row,
                            int64_t *offset, size_t *found_len)
{
    bool same_inode = false;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (found_len) {
            size_t len = (size_t)sqlite3_column_int64(q, 3);
            /* the longest matching head wins; rows come in that order */
            if (*row && len < *found_len)
                break;
            if (len >= head->len || head->hash[len] != (uint64_t)sqlite3_column_int64(q, 4))
                continue;
            *found_len = len;
        }
        consider(q, inode, row, offset, &same_inode);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store's files");
    return QPS_OK;
}

qps_status qps_files_find(qps_store *s, const qps_file_head *head, uint64_t inode, int64_t *row, int64_t *offset,
                          size_t *row_head)
{
    *row = 0;
    *offset = 0;
    *row_head = 0;
    if (head->len == 0)
        return QPS_OK;
    sqlite3_stmt *q = qps_store_stmt(s, ST_FILE_EXACT);
    if (!q)
        return QPS_EFORMAT;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)head->len);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)head->hash[head->len]);
    qps_status st = step_rows(s, q, head, inode, row, offset, NULL);
    if (st != QPS_OK || *row) {
        *row_head = head->len;
        return st;
    }
    if (!(q = qps_store_stmt(s, ST_FILE_SHORTER)))
        return QPS_EFORMAT;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)head->len);
    if ((st = step_rows(s, q, head, inode, row, offset, row_head)) != QPS_OK || *row || !head->has_first_line)
        return st;
    if (!(q = qps_store_stmt(s, ST_FILE_LEGACY)))
        return QPS_EFORMAT;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)head->first_line);
    return step_rows(s, q, head, inode, row, offset, NULL);
}

qps_status qps_files_offset(qps_store *s, int64_t row, int64_t *offset)
{
    sqlite3_stmt *q = qps_store_stmt(s, ST_FILE_OFFSET);
    if (!q)
        return QPS_EFORMAT;
    sqlite3_bind_int64(q, 1, row);
    int rc = sqlite3_step(q);
    *offset = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store's files");
    return QPS_OK;
}

bool qps_files_named(qps_store *s, int64_t row, const char *name)
{
    sqlite3_stmt *q = qps_store_stmt(s, ST_FILE_NAME);
    if (!q)
        return false;
    sqlite3_bind_int64(q, 1, row);
    bool same = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_TEXT &&
                strcmp((const char *)sqlite3_column_text(q, 0), name) == 0;
    sqlite3_reset(q);
    return same;
}

bool qps_files_last_time(qps_store *s, int64_t row, int64_t *t)
{
    sqlite3_stmt *q = qps_store_stmt(s, ST_SPAN_LAST);
    if (!q)
        return false;
    char key[48];
    snprintf(key, sizeof key, "span:%" PRId64, row);
    sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
    bool found = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL;
    if (found)
        *t = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return found;
}

qps_status qps_files_progress(qps_store *s, int64_t *row, const qps_file_head *head, uint64_t inode,
                              const char *name, int64_t offset, uint64_t lines_read, uint64_t lines_invalid)
{
    if (s->readonly)
        return qps_store_set_error(s, QPS_EREADONLY, "the store was opened read-only");
    sqlite3_stmt *q = qps_store_stmt(s, *row ? ST_FILE_UPDATE : ST_FILE_INSERT);
    if (!q)
        return QPS_EFORMAT;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)head->len);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)head->hash[head->len]);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)inode);
    sqlite3_bind_text(q, 4, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 5, offset);
    sqlite3_bind_int64(q, 6, (sqlite3_int64)lines_read);
    sqlite3_bind_int64(q, 7, (sqlite3_int64)lines_invalid);
    if (*row)
        sqlite3_bind_int64(q, 8, *row);
    if (qps_step_done(q) != SQLITE_DONE) {
        s->tx_failed = s->in_tx;
        return qps_store_fail(s, QPS_EIO, "cannot write the store");
    }
    if (!*row)
        *row = sqlite3_last_insert_rowid(s->db);
    qps_status st = store_span_commit(s, *row);
    if (st != QPS_OK)
        s->tx_failed = s->in_tx;
    return st;
}
