/*
 * lag.c - how far the store is behind the logs it imports, for the gauges
 * of /metrics (a stuck importer alerts): for each log file the store knows
 * by name, its newest entry, compared with what is on disk now. Reads only
 * the first line and the line at the imported offset: a scrape stays cheap
 * whatever the logs' size.
 *
 * License: MIT (see LICENSE).
 */
#include "store_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define PEEK 65536 /* bytes read at the start and at the offset (>= QPS_HEAD_MAX) */

/* The time of the first complete line in buf[0..n), or of none (0, false). */
static bool first_line_time(qps_parser *p, const char *buf, size_t n, int64_t *t, bool *complete)
{
    const char *nl = memchr(buf, '\n', n);
    *complete = nl != NULL;
    if (!nl)
        return false;
    qps_record rec;
    qps_parser_parse(p, buf, (size_t)(nl - buf), &rec);
    *t = rec.unix_sec;
    return rec.has_time;
}

/* The row a file's entry in the files table describes (files.c): its
 * head's length and hash, or for a row of schema 2 its first line's. */
typedef struct {
    int64_t head_len, head_hash, first_line;
    bool has_first_line;
} known_head;

static bool same_file(const qps_file_head *head, const known_head *k)
{
    if (k->head_len > 0)
        return (size_t)k->head_len <= head->len && (int64_t)head->hash[k->head_len] == k->head_hash;
    return k->has_first_line && head->has_first_line && (int64_t)head->first_line == k->first_line;
}

/* One file: adds what lies past the imported offset to *out. */
static void file_lag(qps_parser *p, const char *name, const known_head *k, int64_t offset, int64_t updated,
                     char *buf, qps_file_head *head, qps_import_lag *out)
{
    /* never blocks (a FIFO), never follows what is not a regular file */
    int fd = open(name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return; /* rotated away or gone: nothing more will come from it */
    struct stat st;
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? pread(fd, buf, PEEK, 0) : -1;
    /* a gzip file is rotated, and was imported whole or not at all */
    if (n <= 0 || (n >= 2 && (unsigned char)buf[0] == 0x1f && (unsigned char)buf[1] == 0x8b)) {
        close(fd);
        return;
    }
    out->files++;
    qps_file_head_set(head, buf, (size_t)n);
    /* another file under the name (current after a rotation): all of it is new */
    bool same = same_file(head, k);
    int64_t from = same ? offset : 0;
    if (st.st_size > from) {
        ssize_t m = same ? pread(fd, buf, PEEK, from) : n;
        int64_t t = 0;
        bool complete = false;
        bool timed = m > 0 && first_line_time(p, buf, (size_t)m, &t, &complete);
        if (complete) {
            out->behind_bytes += (uint64_t)(st.st_size - from);
            int64_t since = timed ? t : updated;
            if (!out->oldest || since < out->oldest)
                out->oldest = since;
        }
    }
    close(fd);
}

qps_status qps_store_import_lag(qps_store *s, qps_import_lag *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q;
    /* a name's newest entry (SQLite takes the other columns from the row of max) */
    if (sqlite3_prepare_v2(s->db, "SELECT name, head_len, head_hash, first_line, offset, max(updated) FROM files "
                                  "WHERE name IS NOT NULL GROUP BY name",
                           -1, &q, NULL) != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    char *buf = malloc(PEEK);
    qps_file_head *head = malloc(sizeof *head);
    qps_parser *p = qps_parser_new(NULL);
    if (!buf || !p || !head) {
        free(head);
        free(buf);
        qps_parser_free(p);
        sqlite3_finalize(q);
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory");
    }
    if (s->prefix) {
        qps_parser_free(p);
        qps_parser_opts po = {s->prefix, 0};
        p = qps_parser_new(&po);
    }
    int rc;
    while (p && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        known_head k = {sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2), sqlite3_column_int64(q, 3),
                        sqlite3_column_type(q, 3) != SQLITE_NULL};
        if (name && *name)
            file_lag(p, name, &k, sqlite3_column_int64(q, 4), sqlite3_column_int64(q, 5), buf, head, out);
    }
    qps_status st = !p ? qps_store_set_error(s, QPS_ENOMEM, "out of memory")
                  : rc != SQLITE_DONE ? qps_store_fail(s, QPS_EIO, "cannot read the store") : QPS_OK;
    free(buf);
    qps_parser_free(p);
    sqlite3_finalize(q);
    if (st == QPS_OK) {
        if (sqlite3_prepare_v2(s->db, "SELECT coalesce(sum(lines_invalid), 0) FROM files", -1, &q, NULL) != SQLITE_OK)
            return qps_store_fail(s, QPS_EIO, "cannot read the store");
        if (sqlite3_step(q) == SQLITE_ROW)
            out->lines_invalid = (uint64_t)sqlite3_column_int64(q, 0);
        else
            st = qps_store_fail(s, QPS_EIO, "cannot read the store");
        sqlite3_finalize(q);
    }
    return st;
}
