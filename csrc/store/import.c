/*
 * import.c - the import engine: a log file or stream into the store, every
 * record once, whichever door (import, collect, processor --db, check
 * --fix, Qpstat::Store) and however many of them run at once.
 *
 * Bytes come from the core's reader (plain or gzip by content, every
 * intact byte before an error) and lines from the core's splitter (one
 * rule for an over-long line), so the store counts the lines a report
 * counts. A file is known by its content (files.c), so multilog's renames
 * and copies do not make it new. Records and the file's new offset are
 * committed together every batch, and the offset is read again inside
 * every batch's write transaction: a second importer of the same file
 * waits for the first one's batch, then skips what it stored. A kill at
 * any point resumes after the last committed line, with the parser told
 * the time of the last line stored (a local stamp in the hour that
 * repeats when DST ends is read in the order of the lines). A last line
 * without its newline is left for the next run, except in a .gz, which
 * does not grow.
 *
 * With a tee, every byte read goes to it in order, stored or not (the
 * processor copies its input to multilog this way), and a store that
 * fails midway does not cut the copy short.
 *
 * License: MIT (see README).
 */
#include "store_private.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* lines per commit: every commit rewrites the day's and all time's totals rows
 * (one per spam score and connection time), so fewer commits cost less; a
 * batch this size holds the write lock about 0.3 s, well under the plugin's
 * busy wait */
#define BATCH_LINES 500000

/* The store's error (none without a store: a tee-only read). */
static qps_status fail(qps_store *s, qps_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static qps_status fail(qps_store *s, qps_status st, const char *fmt, ...)
{
    if (s) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->error, sizeof s->error, fmt, ap);
        va_end(ap);
    }
    return st;
}

typedef struct {
    qps_store *store; /* NULL: read and tee only */
    const char *name;
    const qps_import_opts *opts;
    qps_reader *reader;
    qps_reader_info info;
    qps_lines *lines;
    const char *chunk;  /* the chunk being split */
    size_t n;
    int64_t chunk_pos;  /* stream offset of chunk[0] */
    int64_t origin;     /* stream offset = origin + qps_lines_offset() */
    int64_t tail;       /* bytes after the last newline taken (a .gz's end) */
    bool eof;
    qps_status read_st; /* why the input ended early */
    qps_buf first;      /* the first chunks, when the reader gave less than a head */
    bool may_hold_nul;  /* the chunk has a NUL somewhere */
    qps_file_head *head;
    int64_t row;        /* the file's row, 0 before its first commit */
    size_t row_head;    /* the head length that row has */
    int64_t committed;  /* the offset that row has */
    qps_parser *parser;
    uint64_t read, invalid, in_batch, batch_added;
    /* an over-long line handed out before its end was read: counted once
     * its end is in the offset (else the next run takes it again) */
    bool long_pending, long_invalid;
    int64_t long_start;
    qps_import_result *res;
    /* a journal source: the position is a cursor, not an offset */
    const qps_journal_spec *journal;
    char key[300];      /* meta key of the position: "journal:UNITS" */
    char *position;     /* the cursor the store has (malloc'ed), NULL: none */
} import_run;

static int64_t stream_pos(const import_run *r)
{
    return r->origin + (int64_t)qps_lines_offset(r->lines) + r->tail;
}

/* The next chunk from the reader, teed; false at the end or on an error
 * (r->read_st). */
static bool next_chunk(import_run *r)
{
    r->chunk_pos += (int64_t)r->n;
    r->n = 0;
    if (r->eof)
        return false;
    const char *c;
    size_t len;
    qps_status st = qps_reader_read(r->reader, &c, &len);
    if (st != QPS_OK || len == 0) {
        r->eof = true;
        if (st != QPS_OK)
            r->read_st = fail(r->store, QPS_EIO, "cannot read %s: %s", r->name, qps_reader_error(r->reader));
        return false;
    }
    r->chunk = c;
    r->n = len;
    r->may_hold_nul = memchr(c, '\0', len) != NULL;
    if (r->opts && r->opts->tee)
        r->opts->tee(r->opts->tee_ctx, c, len);
    return true;
}

/* The first chunk, gathered up to a head when the reader gives less (a
 * small first gzip member): a file's head is the same whoever reads it. */
static bool first_chunk(import_run *r)
{
    if (!next_chunk(r))
        return false;
    if (r->n < QPS_HEAD_MAX) {
        qps_buf_append(&r->first, r->chunk, r->n);
        while (r->first.len < QPS_HEAD_MAX && !r->first.failed && next_chunk(r))
            qps_buf_append(&r->first, r->chunk, r->n);
        if (r->first.failed) {
            r->read_st = fail(r->store, QPS_ENOMEM, "out of memory reading %s", r->name);
            return false;
        }
        /* one chunk from the start of the input */
        r->chunk = r->first.data;
        r->n = r->first.len;
        r->chunk_pos = 0;
        r->may_hold_nul = memchr(r->chunk, '\0', r->n) != NULL;
    }
    qps_reader_get_info(r->reader, &r->info);
    return true;
}

/* Counts the over-long line handed out earlier once its end was read. */
static void settle_long(import_run *r, bool at_end)
{
    if (r->long_pending && (at_end || stream_pos(r) > r->long_start)) {
        r->read++;
        r->invalid += r->long_invalid;
        r->long_pending = false;
    }
}

/* The parser resumes after the last line the store has of this file. */
static void resume_parser(import_run *r)
{
    int64_t t;
    if (r->row && qps_files_last_time(r->store, r->row, &t))
        qps_parser_set_last_time(r->parser, t);
}

/* Skips the input up to stream offset `to` (a line boundary the store
 * has): the bytes are read (and teed) but not split. */
static qps_status advance_to(import_run *r, int64_t to)
{
    int64_t pos = stream_pos(r);
    if (to <= pos)
        return QPS_OK;
    if (r->res)
        r->res->skipped += to - pos;
    qps_str rest;
    qps_lines_end(r->lines, &rest); /* a cut line is dropped, the offset stays */
    r->long_pending = false;
    while (to >= r->chunk_pos + (int64_t)r->n) {
        if (!next_chunk(r)) {
            /* the input ends before: there is nothing new in it */
            r->origin = r->chunk_pos - (int64_t)qps_lines_offset(r->lines);
            return r->read_st;
        }
    }
    size_t at = (size_t)(to - r->chunk_pos);
    qps_lines_feed(r->lines, r->chunk + at, r->n - at);
    r->origin = to - (int64_t)qps_lines_offset(r->lines);
    resume_parser(r);
    return QPS_OK;
}

/* Writes the batch's progress, commits, and begins the next batch with
 * the offset as the store has it now (another importer may be ahead). */
static qps_status commit_journal(import_run *r, bool last);

static qps_status commit_batch(import_run *r, bool last)
{
    qps_store *s = r->store;
    qps_status st = QPS_OK;
    if (r->journal)
        return commit_journal(r, last);
    settle_long(r, false);
    int64_t done = stream_pos(r);
    /* the processor marks the file it read as its own, even with nothing
     * new: check then knows that the processor feeds the store */
    bool tee = r->opts && r->opts->tee;
    bool changed = r->read || done > r->committed || (r->row && r->head->len > r->row_head) || (last && tee);
    if (changed && (r->row || done > 0)) {
        st = qps_files_progress(s, &r->row, r->head, r->info.inode, r->name, done, r->read, r->invalid);
        if (st != QPS_OK) {
            qps_store_rollback(s);
            return st;
        }
    }
    if ((st = qps_store_commit(s)) != QPS_OK)
        return st;
    if (r->res) {
        r->res->lines += r->read;
        r->res->invalid += r->invalid;
        r->res->added += r->batch_added;
        r->res->offset = done;
    }
    r->batch_added = r->read = r->invalid = r->in_batch = 0;
    r->committed = done;
    r->row_head = r->head->len;
    if (last)
        return QPS_OK;
    if ((st = qps_store_begin(s)) != QPS_OK)
        return st;
    int64_t stored = 0;
    if (r->row && (st = qps_files_offset(s, r->row, &stored)) != QPS_OK)
        return st;
    if (stored > done) {
        r->committed = stored;
        return advance_to(r, stored);
    }
    return QPS_OK;
}

/* Parses and stores one line (len > QPS_LINE_MAX: an over-long one). */
static qps_status take_line(import_run *r, qps_str line)
{
    settle_long(r, false);
    qps_record rec;
    /* a line carried over from the chunk before is scanned for NUL alone */
    bool in_chunk = line.ptr >= r->chunk && line.ptr < r->chunk + r->n;
    qps_parse_checked(r->parser, line.ptr, line.len, &rec, !in_chunk || r->may_hold_nul);
    bool invalid = rec.kind == QPS_KIND_INVALID;
    if (line.len > QPS_LINE_MAX && r->lines->skipping) {
        r->long_pending = true;
        r->long_invalid = invalid;
        r->long_start = stream_pos(r);
    } else {
        r->read++;
        r->invalid += invalid;
    }
    int added = 0;
    qps_status st = qps_store_add(r->store, &rec, r->opts ? r->opts->server : NULL, 0, 0, QPS_SOURCE_IMPORT, &added);
    r->batch_added += (uint64_t)added;
    return st;
}

/* The lines of the input from the splitter's position on, in batches. */
static qps_status import_lines(import_run *r)
{
    qps_status st = QPS_OK;
    for (;;) {
        qps_str line;
        while (qps_lines_next(r->lines, &line)) {
            if ((st = take_line(r, line)) != QPS_OK)
                return st;
            if (++r->in_batch == BATCH_LINES && !r->journal && (st = commit_batch(r, false)) != QPS_OK)
                return st;
        }
        /* a journal's chunk ends after a whole entry: its cursor is the
         * position of exactly the lines taken */
        if (r->journal && r->in_batch >= BATCH_LINES && (st = commit_batch(r, false)) != QPS_OK)
            return st;
        if (!next_chunk(r))
            return r->read_st;
        qps_lines_feed(r->lines, r->chunk, r->n);
    }
}

/* Reads (and tees) the rest of the input, storing nothing. */
static qps_status drain(import_run *r)
{
    while (next_chunk(r))
        ;
    return r->read_st;
}

/* A .gz does not grow: its last line, even without its newline (or cut by
 * a truncation), is taken as a report counts it. */
static qps_status take_gzip_end(import_run *r)
{
    settle_long(r, true);
    int64_t end = r->chunk_pos + (int64_t)r->n;
    qps_str last;
    qps_status st = QPS_OK;
    if (qps_lines_end(r->lines, &last))
        st = take_line(r, last);
    settle_long(r, true);
    int64_t pos = stream_pos(r);
    if (end > pos)
        r->tail += end - pos;
    return st;
}

/* Whether the file still starts with what we read of it. A growing file
 * read while it was short may have grown since, and an importer that read
 * more of it may have committed it under that longer head, which a shorter
 * one cannot match: under the write lock the head (and the size) is read
 * again, so nobody committed a longer one than the file has now. A file
 * that shrank, or whose first bytes changed, since we opened it was
 * emptied and written again (logrotate's copytruncate): what we hold is
 * the old content, which the store may have past our size from the copy. */
static bool reread_head(import_run *r)
{
    struct stat sb;
    if (fstat(r->info.fd, &sb) == 0) {
        if (sb.st_size < r->info.size)
            return false;
        /* what another importer stored of it may lie past the size it
         * had when we opened it, and is no sign of another file */
        r->info.size = sb.st_size;
    }
    char *bytes = malloc(QPS_HEAD_MAX);
    ssize_t n = bytes ? pread(r->info.fd, bytes, QPS_HEAD_MAX, 0) : -1;
    bool same = n < 0 || ((size_t)n >= r->head->len && memcmp(bytes, r->chunk, r->head->len) == 0);
    if (same && n > (ssize_t)r->head->len)
        qps_file_head_set(r->head, bytes, (size_t)n);
    free(bytes);
    return same;
}

static qps_status run_import(import_run *r)
{
    if (!first_chunk(r))
        return r->read_st; /* empty, or unreadable */
    if (!r->store)
        return drain(r);
    qps_lines_feed(r->lines, r->chunk, r->n);
    qps_file_head_set(r->head, r->chunk, r->n);
    bool plain_file = r->info.regular && !r->info.gzip;
    bool tee = r->opts && r->opts->tee;
    qps_status st;
    int64_t offset;
    /* a file the store has to its end needs no write lock */
    if (plain_file && !tee) {
        if ((st = qps_files_find(r->store, r->head, r->info.inode, &r->row, &offset, &r->row_head)) != QPS_OK)
            return st;
        if (r->row && offset == r->info.size) {
            if (r->res)
                r->res->skipped = r->res->offset = offset;
            return QPS_OK;
        }
    }
    if ((st = qps_store_begin(r->store)) != QPS_OK)
        return tee ? (drain(r), st) : st;
    bool same_start = !plain_file || reread_head(r);
    if ((st = qps_files_find(r->store, r->head, r->info.inode, &r->row, &offset, &r->row_head)) != QPS_OK) {
        qps_store_rollback(r->store);
        return tee ? (drain(r), st) : st;
    }
    if (!same_start) {
        /* Emptied and written again since we opened it (logrotate's
         * copytruncate): what we hold is old content, which an importer
         * that read more of it (or of the copy) may have stored past our
         * size or under a longer head we cannot match; taken for another
         * file it would be stored twice. The copy is imported as itself,
         * the new content by the next run; nothing is taken here. */
        qps_store_rollback(r->store);
        return tee ? drain(r) : QPS_OK;
    }
    if (plain_file && offset > r->info.size) {
        /* shorter than what was imported of that file: another file */
        r->row = 0;
        offset = 0;
    }
    r->committed = offset;
    if ((st = advance_to(r, offset)) == QPS_OK)
        st = import_lines(r);
    bool writable = r->store->in_tx && !r->store->tx_failed;
    if (r->eof && r->info.gzip && writable) {
        qps_status gst = take_gzip_end(r);
        if (gst != QPS_OK)
            st = gst;
        writable = r->store->in_tx && !r->store->tx_failed;
    }
    if (st == QPS_OK || writable) {
        /* what was read before a read error is kept */
        qps_status cst = commit_batch(r, true);
        if (st == QPS_OK)
            st = cst;
    }
    /* whatever failed, the store is left unlocked */
    qps_store_rollback(r->store);
    if (st != QPS_OK && tee && !r->eof) {
        char why[sizeof r->store->error];
        snprintf(why, sizeof why, "%s", r->store->error);
        drain(r);
        fail(r->store, st, "%s", why);
    }
    return st;
}

/* Sets up a run on an open reader (the caller opened it). */
static qps_status run(qps_store *store, qps_reader *reader, const char *name, const qps_import_opts *opts,
                      qps_import_result *result)
{
    bool tee = opts && opts->tee;
    qps_status refused = QPS_OK;
    if (store && store->readonly) {
        refused = fail(store, QPS_EREADONLY, "the store was opened read-only: it cannot import %s", name);
        if (!tee)
            return refused;
    }
    import_run r = {.store = refused ? NULL : store, .name = name, .opts = opts, .reader = reader, .res = result};
    r.lines = qps_lines_new();
    r.head = r.store ? malloc(sizeof *r.head) : NULL;
    qps_parser_opts popts = {store ? qps_store_prefix(store) : NULL, 0};
    r.parser = r.store ? qps_parser_new(&popts) : NULL;
    qps_status st;
    if (!r.lines || (r.store && (!r.head || !r.parser))) {
        st = fail(store, QPS_ENOMEM, "out of memory reading %s", name);
        if (tee) { /* the copy goes on regardless */
            r.store = NULL;
            drain(&r);
        }
    } else {
        st = run_import(&r);
        if (refused)
            st = refused;
    }
    free(r.head);
    qps_buf_release(&r.first);
    qps_lines_free(r.lines);
    qps_parser_free(r.parser);
    return st;
}

qps_status qps_store_import_fd(qps_store *store, int fd, const char *name, const qps_import_opts *opts,
                               qps_import_result *result)
{
    if (result)
        memset(result, 0, sizeof *result);
    if (!name)
        name = "(stream)";
    qps_reader *reader = qps_reader_new();
    if (!reader)
        return fail(store, QPS_ENOMEM, "out of memory reading %s", name);
    qps_status st = qps_reader_adopt(reader, fd, 0);
    if (st != QPS_OK)
        st = fail(store, QPS_EIO, "cannot read %s: %s", name, qps_reader_error(reader));
    else
        st = run(store, reader, name, opts, result);
    qps_reader_free(reader);
    return st;
}

qps_status qps_store_import_path(qps_store *store, const char *path, const qps_import_opts *opts,
                                 qps_import_result *result)
{
    if (result)
        memset(result, 0, sizeof *result);
    qps_reader *reader = qps_reader_new();
    if (!reader)
        return fail(store, QPS_ENOMEM, "out of memory reading %s", path);
    /* only a regular file can be resumed; nothing else may block us */
    qps_status st = qps_reader_open(reader, path, QPS_READ_REGULAR);
    if (st != QPS_OK)
        st = fail(store, QPS_EIO, "cannot %s %s: %s",
                  qps_reader_errno(reader) == EISDIR || qps_reader_errno(reader) == ENODEV ? "read" : "open", path,
                  qps_reader_error(reader));
    else
        st = run(store, reader, path, opts, result);
    qps_reader_free(reader);
    return st;
}

qps_status qps_store_import_file(qps_store *store, const char *path, const char *server, uint64_t *added)
{
    qps_import_opts opts = {.server = server};
    qps_import_result res;
    qps_status st = qps_store_import_path(store, path, &opts, &res);
    if (added)
        *added += res.added;
    return st;
}

qps_status qps_store_file_status(qps_store *store, const char *path, int64_t *imported, int64_t *length)
{
    qps_file_status fs;
    qps_status st = qps_store_file_check(store, path, &fs);
    *imported = fs.imported;
    *length = fs.length;
    return st;
}

qps_status qps_store_file_check(qps_store *store, const char *path, qps_file_status *out)
{
    memset(out, 0, sizeof *out);
    int64_t *imported = &out->imported, *length = &out->length;
    qps_reader *reader = qps_reader_new();
    if (!reader)
        return fail(store, QPS_ENOMEM, "out of memory reading %s", path);
    if (qps_reader_open(reader, path, QPS_READ_REGULAR) != QPS_OK) {
        qps_status st = fail(store, QPS_EIO, "cannot read %s: %s", path, qps_reader_error(reader));
        qps_reader_free(reader);
        return st;
    }
    import_run r = {.store = store, .name = path, .reader = reader};
    r.head = malloc(sizeof *r.head);
    qps_status st = QPS_OK;
    if (!r.head) {
        st = fail(store, QPS_ENOMEM, "out of memory reading %s", path);
    } else if (first_chunk(&r)) {
        qps_file_head_set(r.head, r.chunk, r.n);
        /* what an import takes: the complete lines, all of a .gz */
        do {
            const char *nl = r.n ? memrchr(r.chunk, '\n', r.n) : NULL;
            if (r.info.gzip)
                *length = r.chunk_pos + (int64_t)r.n;
            else if (nl)
                *length = r.chunk_pos + (nl - r.chunk) + 1;
        } while (next_chunk(&r));
        st = r.read_st;
        size_t row_head;
        int64_t row;
        if (st == QPS_OK)
            st = qps_files_find(store, r.head, r.info.inode, &row, imported, &row_head);
        if (st == QPS_OK && r.info.regular && !r.info.gzip && *imported > r.info.size)
            *imported = 0; /* another file with that head (see run_import) */
        else if (st == QPS_OK && row)
            out->processor = qps_files_named(store, row, QPS_PROCESSOR_NAME);
    } else {
        st = r.read_st;
    }
    free(r.head);
    qps_buf_release(&r.first);
    qps_reader_free(reader);
    return st;
}

/* ---- a journal source: the position is a cursor ---- */

/* Whether cursor a is further on than b: in one journal (the same seqnum
 * id) by seqnum, else by realtime ("s=ID;i=SEQNUM;...;t=REALTIME;..."). */
static uint64_t cursor_hex(const char *c, const char *name, qps_str *text)
{
    const char *p = strstr(c, name);
    uint64_t v = 0;
    size_t n = 0;
    if (p && (p == c || p[-1] == ';'))
        for (p += strlen(name); p[n] && p[n] != ';'; n++)
            v = v * 16 + (uint64_t)(p[n] >= 'a' ? p[n] - 'a' + 10 : p[n] - '0');
    if (text)
        *text = qps_slice(p ? p : "", n);
    return v;
}

static bool cursor_after(const char *a, const char *b)
{
    if (!b)
        return a != NULL;
    if (!a)
        return false;
    qps_str ida, idb;
    cursor_hex(a, "s=", &ida);
    cursor_hex(b, "s=", &idb);
    if (ida.len && ida.len == idb.len && memcmp(ida.ptr, idb.ptr, ida.len) == 0)
        return cursor_hex(a, "i=", NULL) > cursor_hex(b, "i=", NULL);
    return cursor_hex(a, "t=", NULL) > cursor_hex(b, "t=", NULL);
}

/* The position the store has now (r->position), inside the transaction. */
static qps_status journal_position(import_run *r)
{
    sqlite3_stmt *q = qps_store_stmt(r->store, ST_JOURNAL_GET);
    if (!q)
        return QPS_EFORMAT;
    sqlite3_bind_text(q, 1, r->key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    free(r->position);
    r->position = rc == SQLITE_ROW && sqlite3_column_text(q, 0) ? strdup((const char *)sqlite3_column_text(q, 0))
                                                                 : NULL;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(r->store, QPS_EIO, "cannot read the store's journal position");
    return QPS_OK;
}

/* (Re)opens the journal after r->position. */
static qps_status journal_open(import_run *r)
{
    qps_journal_spec spec = *r->journal;
    spec.after = r->position;
    qps_log_entry e = {.path = r->name, .journal = &spec};
    qps_lines_end(r->lines, &(qps_str){0});
    r->eof = false;
    r->n = 0;
    if (qps_reader_open_entry(r->reader, &e) != QPS_OK)
        return fail(r->store, QPS_EIO, "cannot open %s: %s", r->name, qps_reader_error(r->reader));
    if (r->res && qps_reader_journal_gap(r->reader) && !r->res->journal_gap) {
        snprintf(r->res->note, sizeof r->res->note, "%s", qps_reader_note(r->reader));
        r->res->journal_gap = 1;
    }
    return QPS_OK;
}

/* The cursor of the last entry taken, with the batch's records; then the
 * next batch goes on after another importer's position if it is ahead. */
static qps_status commit_journal(import_run *r, bool last)
{
    qps_store *s = r->store;
    const char *at = qps_reader_journal_cursor(r->reader);
    qps_status st = QPS_OK;
    if (at && cursor_after(at, r->position)) {
        sqlite3_stmt *q = qps_store_stmt(s, ST_JOURNAL_SET);
        if (!q)
            return QPS_EFORMAT;
        sqlite3_bind_text(q, 1, r->key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, at, -1, SQLITE_TRANSIENT);
        if (qps_step_done(q) != SQLITE_DONE) {
            qps_store_rollback(s);
            return fail(s, QPS_EIO, "cannot write the store");
        }
        char *copy = strdup(at);
        if (!copy) {
            qps_store_rollback(s);
            return fail(s, QPS_ENOMEM, "out of memory");
        }
        free(r->position);
        r->position = copy;
    }
    if ((st = qps_store_commit(s)) != QPS_OK)
        return st;
    if (r->res) {
        r->res->lines += r->read;
        r->res->invalid += r->invalid;
        r->res->added += r->batch_added;
    }
    r->batch_added = r->read = r->invalid = r->in_batch = 0;
    if (last)
        return QPS_OK;
    if ((st = qps_store_begin(s)) != QPS_OK)
        return st;
    char *mine = r->position ? strdup(r->position) : NULL;
    if (r->position && !mine)
        return fail(s, QPS_ENOMEM, "out of memory");
    if ((st = journal_position(r)) == QPS_OK && cursor_after(r->position, mine))
        st = journal_open(r); /* another importer stored further on */
    else if (st == QPS_OK) {
        free(r->position);
        r->position = mine;
        mine = NULL;
    }
    free(mine);
    return st;
}

static qps_status run_journal(import_run *r)
{
    qps_status st = qps_store_begin(r->store);
    if (st != QPS_OK)
        return st;
    if ((st = journal_position(r)) == QPS_OK && (st = journal_open(r)) == QPS_OK)
        st = import_lines(r);
    /* what the reader noticed by the end (damage, a unit without entries) */
    if (r->res && !r->res->note[0] && qps_reader_note(r->reader))
        snprintf(r->res->note, sizeof r->res->note, "%s", qps_reader_note(r->reader));
    if (st == QPS_OK || (r->store->in_tx && !r->store->tx_failed)) {
        /* what was read before a read error (a damaged journal) is kept */
        qps_status cst = commit_journal(r, true);
        if (st == QPS_OK)
            st = cst;
    }
    qps_store_rollback(r->store);
    return st;
}

/* "journal:UNITS": one position per set of units, whichever files hold them */
static void journal_key(const qps_journal_spec *spec, char *key, size_t cap)
{
    static const char *const defaults[] = {"qpsmtpd.service", "uqpsmtpd.service", "sqpsmtpd.service"};
    size_t n = spec->units ? spec->nunits : 3, len = (size_t)snprintf(key, cap, "journal:");
    for (size_t i = 0; i < n && len < cap; i++) {
        const char *u = spec->units ? spec->units[i] : defaults[i];
        len += (size_t)snprintf(key + len, cap - len, "%s%s%s", i ? "," : "", u, strchr(u, '.') ? "" : ".service");
    }
}

qps_status qps_store_import_journal(qps_store *store, const qps_journal_spec *spec, const qps_import_opts *opts,
                                    qps_import_result *result)
{
    if (result)
        memset(result, 0, sizeof *result);
    if (!store || !spec)
        return QPS_EINVAL;
    qps_buf name = {0};
    qps_journal_describe(spec, &name);
    if (store->readonly) {
        qps_status st = fail(store, QPS_EREADONLY, "the store was opened read-only: it cannot import %s",
                             name.data ? name.data : "the journal");
        qps_buf_release(&name);
        return st;
    }
    import_run r = {.store = store, .name = name.data ? name.data : "the journal", .opts = opts, .res = result,
                    .journal = spec};
    journal_key(spec, r.key, sizeof r.key);
    r.reader = qps_reader_new();
    r.lines = qps_lines_new();
    qps_parser_opts popts = {qps_store_prefix(store), 0};
    r.parser = qps_parser_new(&popts);
    qps_status st = r.reader && r.lines && r.parser && !name.failed ? run_journal(&r)
                                                                    : fail(store, QPS_ENOMEM, "out of memory");
    if (r.read_st != QPS_OK && st == QPS_OK)
        st = r.read_st;
    qps_reader_free(r.reader);
    qps_lines_free(r.lines);
    qps_parser_free(r.parser);
    free(r.position);
    qps_buf_release(&name);
    return st;
}

qps_status qps_store_journal_status(qps_store *store, const qps_journal_spec *spec, uint64_t *pending, int *gap,
                                    char *note, size_t notelen)
{
    *pending = 0;
    *gap = 0;
    if (note && notelen)
        note[0] = '\0';
    import_run r = {.store = store, .name = "the journal"};
    journal_key(spec, r.key, sizeof r.key);
    qps_status st = journal_position(&r);
    if (st != QPS_OK)
        return st;
    qps_journal_spec js = *spec;
    js.after = r.position;
    qps_log_entry e = {.path = "the journal", .journal = &js};
    qps_reader *reader = qps_reader_new();
    if (!reader) {
        free(r.position);
        return fail(store, QPS_ENOMEM, "out of memory");
    }
    if ((st = qps_reader_open_entry(reader, &e)) == QPS_OK) {
        const char *c;
        size_t len;
        while ((st = qps_reader_read(reader, &c, &len)) == QPS_OK && len)
            for (const char *p = c, *end = c + len; (p = memchr(p, '\n', (size_t)(end - p))); p++)
                ++*pending;
        *gap = qps_reader_journal_gap(reader);
        if (note && notelen && qps_reader_note(reader))
            snprintf(note, notelen, "%s", qps_reader_note(reader));
    }
    if (st != QPS_OK)
        st = fail(store, QPS_EIO, "cannot read the journal: %s", qps_reader_error(reader));
    qps_reader_free(reader);
    free(r.position);
    return st;
}
