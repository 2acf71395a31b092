/*
 * qps_import.c - a log file into the store, idempotent and resumable.
 *
 * A file is known by the hash of its first line (its inode is recorded
 * too), so multilog renaming current to @label.s does not make it new.
 * Records and the file's new offset are committed together every batch, so
 * a kill at any point resumes after the last committed line: nothing is
 * lost and, with the store's twin pairing, nothing is doubled. A last line
 * without its newline is left for the next run.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* lines per commit: fewer commits rewrite the same index pages less often */
#define BATCH_LINES 50000
#define CHUNK (1 << 20)

/* The first line of a file, hashed; false when it has no complete line. */
static bool file_identity(gzFile gz, const char *path, qps_file_id *id, char *buf)
{
    int n = gzread(gz, buf, CHUNK);
    if (n <= 0)
        return false;
    char *nl = memchr(buf, '\n', (size_t)n);
    if (!nl)
        return false;
    id->head_hash = qps_hash_bytes(buf, (size_t)(nl - buf));
    struct stat st;
    id->inode = stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
    return true;
}

qps_status qps_file_identify(const char *path, qps_file_id *id, int64_t *length)
{
    gzFile gz = gzopen(path, "rb");
    char *buf = malloc(CHUNK);
    qps_status st = QPS_EIO;
    if (gz && buf) {
        gzbuffer(gz, CHUNK);
        st = file_identity(gz, path, id, buf) ? QPS_OK : QPS_EFORMAT;
        if (st == QPS_OK && length) {
            /* the length of its complete lines (what an import can take):
             * for gzip, of what it inflates to */
            int64_t total = 0, complete = 0;
            int n;
            if (gzrewind(gz) == 0) {
                while ((n = gzread(gz, buf, CHUNK)) > 0) {
                    for (int i = n; i-- > 0;) {
                        if (buf[i] == '\n') {
                            complete = total + i + 1;
                            break;
                        }
                    }
                    total += n;
                }
            }
            *length = complete;
        }
    } else if (!buf) {
        st = QPS_ENOMEM;
    }
    free(buf);
    if (gz)
        gzclose_r(gz);
    return st;
}

typedef struct {
    qps_store *store;
    qps_parser *parser;
    const char *server;
    uint64_t added, lines;
} importer;

static qps_status commit_progress(importer *im, const qps_file_id *id, const char *path, int64_t offset,
                                  uint64_t read, uint64_t invalid)
{
    qps_status st = qps_store_file_progress(im->store, id, path, offset, read, invalid);
    return st != QPS_OK ? st : qps_store_commit(im->store);
}

qps_status qps_store_import_file(qps_store *store, const char *path, const char *server, uint64_t *added_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return qps_store_set_error(store, QPS_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    gzFile gz = gzdopen(fd, "rb");
    char *buf = malloc(CHUNK);
    qps_buf carry = {0};
    size_t carry_total = 0; /* length of the line being carried over */
    if (!gz || !buf) {
        qps_store_set_error(store, QPS_ENOMEM, "out of memory reading %s", path);
        if (gz)
            gzclose_r(gz);
        else
            close(fd);
        free(buf);
        return QPS_ENOMEM;
    }
    /* zlib reads a plain file straight into our buffer when we ask for at
     * least twice its own: a smaller one spares a copy of every byte */
    gzbuffer(gz, CHUNK / 8);
    qps_file_id id;
    qps_status rc = QPS_OK;
    if (!file_identity(gz, path, &id, buf))
        goto out; /* empty, or its first line is still being written */
    int64_t offset;
    if ((rc = qps_store_file_offset(store, &id, &offset)) != QPS_OK)
        goto out;
    if (gzrewind(gz) != 0 || (offset > 0 && gzseek(gz, (z_off_t)offset, SEEK_SET) != (z_off_t)offset)) {
        /* shorter than what was imported: a different file after all */
        gzrewind(gz);
        offset = 0;
    }
    qps_parser_opts popts = {qps_store_prefix(store), 0};
    importer im = {store, qps_parser_new(&popts), server, 0, 0};
    if (!im.parser) {
        rc = QPS_ENOMEM;
        goto out;
    }
    uint64_t read = 0, invalid = 0, in_batch = 0, committed = 0;
    int64_t pos = offset; /* offset of the first byte not yet consumed */
    if ((rc = qps_store_begin(store)) != QPS_OK) {
        qps_parser_free(im.parser);
        goto out;
    }
    for (;;) {
        int n = gzread(gz, buf, CHUNK);
        if (n < 0) {
            int zerr;
            rc = qps_store_set_error(store, QPS_EIO, "cannot read %s: %s", path, gzerror(gz, &zerr));
            break;
        }
        if (n == 0)
            break;
        const char *p = buf, *end = buf + n;
        /* one NUL scan per chunk instead of one per line */
        bool may_hold_nul = memchr(buf, '\0', (size_t)n) != NULL;
        while (p < end) {
            const char *nl = qps_find_newline(p, end);
            size_t take = (size_t)((nl ? nl : end) - p);
            const char *line = p;
            size_t len = take, full = take;
            if (carry_total || !nl) {
                /* a line across chunks: kept up to one byte past the longest
                 * line the parser takes, so a huge one is counted invalid
                 * without being held in memory */
                size_t room = carry.len <= QPS_LINE_MAX ? QPS_LINE_MAX + 1 - carry.len : 0;
                qps_buf_append(&carry, p, take < room ? take : room);
                if (carry.failed) {
                    rc = QPS_ENOMEM;
                    break;
                }
                carry_total += take;
                if (!nl)
                    break;
                line = carry.data;
                len = carry.len;
                full = carry_total;
            }
            qps_record rec;
            /* a carried line may hold a NUL from an earlier chunk */
            qps_parse_checked(im.parser, line, len, &rec, may_hold_nul || line == carry.data);
            read++;
            if (rec.kind == QPS_KIND_INVALID)
                invalid++;
            int added = 0;
            if ((rc = qps_store_add(store, &rec, server, 0, 0, QPS_SOURCE_IMPORT, &added)) != QPS_OK)
                break;
            im.added += (uint64_t)added;
            pos += (int64_t)full + 1;
            carry.len = 0;
            carry_total = 0;
            p = nl + 1;
            if (++in_batch == BATCH_LINES) {
                if ((rc = commit_progress(&im, &id, path, pos, read, invalid)) != QPS_OK)
                    break;
                committed = im.added;
                if ((rc = qps_store_begin(store)) != QPS_OK)
                    break;
                read = invalid = in_batch = 0;
            }
        }
        if (rc)
            break;
    }
    if (rc == QPS_OK && (rc = commit_progress(&im, &id, path, pos, read, invalid)) == QPS_OK)
        committed = im.added;
    /* whatever failed, the store is left unlocked (a rollback outside a
     * transaction does nothing) */
    qps_store_rollback(store);
    qps_parser_free(im.parser);
    if (added_out)
        *added_out += committed;
out:
    free(buf);
    qps_buf_release(&carry);
    gzclose_r(gz);
    return rc;
}

