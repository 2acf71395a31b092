/*
 * input.c - the CLI's side of reading logs: the SME default directories
 * and the messages. Which files, in which order, and reading them is the
 * core's (qps_logset, qps_reader, qps_lines).
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const default_dirs[] = {"/var/log/qpsmtpd", "/var/log/sqpsmtpd", "/var/log/uqpsmtpd"};
#define NDEFAULT_DIRS (sizeof default_dirs / sizeof default_dirs[0])

/* The directories read without PATHs: $QPSTAT_LOG_DIRS (colon-separated)
 * or SME's three. Returns how many, in dirs (pointers into buf or static). */
static size_t log_dirs(const char **dirs, size_t cap, char *buf, size_t buflen)
{
    const char *env = getenv("QPSTAT_LOG_DIRS");
    size_t n = 0;
    if (!env || !*env) {
        for (; n < NDEFAULT_DIRS && n < cap; n++)
            dirs[n] = default_dirs[n];
        return n;
    }
    snprintf(buf, buflen, "%s", env);
    for (char *save = NULL, *d = strtok_r(buf, ":", &save); d && n < cap; d = strtok_r(NULL, ":", &save))
        dirs[n++] = d;
    return n;
}

/* Prints the notes from `from` on; returns how many were errors. Empty
 * directories are not worth a word when the journal is read instead. */
static int print_notes(const qps_logset *set, size_t from, bool quiet_empty)
{
    int errors = 0;
    for (size_t i = from; i < qps_logset_note_count(set); i++) {
        const qps_log_note *n = qps_logset_note(set, i);
        if (quiet_empty && n->kind == QPS_NOTE_EMPTY_DIR)
            continue;
        switch (n->kind) {
        case QPS_NOTE_SKIPPED:
            cli_error("warning: %s is not a regular file (a FIFO, device or socket): skipped", n->path);
            break;
        case QPS_NOTE_EMPTY_DIR:
            cli_error("warning: no log files in %s", n->path);
            break;
        case QPS_NOTE_DIR_ERROR:
            cli_error("cannot read directory %s: %s", n->path, strerror(n->err));
            errors++;
            break;
        }
    }
    return errors;
}

qps_logset *cli_logs_expand(char **args, int nargs, int *errors)
{
    qps_logset *set = qps_logset_new();
    if (!set) {
        cli_error("out of memory");
        return NULL;
    }
    qps_status st = QPS_OK;
    bool journal = false;
    if (cli_journal_chosen()) {
        qps_journal_spec spec;
        cli_journal_spec(&spec);
        st = qps_logset_add_journal(set, &spec);
        journal = true;
    } else if (nargs == 0) {
        const char *dirs[16];
        char buf[4096];
        size_t ndirs = log_dirs(dirs, 16, buf, sizeof buf);
        int found = 0;
        for (size_t i = 0; st == QPS_OK && i < ndirs; i++) {
            struct stat sb;
            if (stat(dirs[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
                found++;
                st = qps_logset_add(set, dirs[i]);
            }
        }
        /* SME Server 11 and qpsmtpd 1.0 under systemd log to the journal */
        if (st == QPS_OK && qps_logset_count(set) == 0)
            journal = cli_journal_fallback(set, found ? "no logs in the log directories" : "no log directory");
        if (!found && !journal) {
            cli_error("no log directory found (/var/log/qpsmtpd, /var/log/sqpsmtpd): name the logs to read");
            ++*errors;
        }
    }
    for (int i = 0; st == QPS_OK && i < nargs; i++)
        st = qps_logset_add(set, args[i]);
    *errors += print_notes(set, 0, journal && nargs == 0);
    if (st != QPS_OK) {
        cli_error("listing the logs: %s", qps_strerror(st));
        qps_logset_free(set);
        return NULL;
    }
    return set;
}

bool cli_paths_expand(char **args, int nargs, cli_paths *out, int *errors)
{
    qps_logset *set = cli_logs_expand(args, nargs, errors);
    if (!set)
        return false;
    size_t n = qps_logset_count(set);
    bool ok = true;
    char **paths = realloc(out->paths, (out->n + n + 1) * sizeof *paths);
    if (!paths) {
        ok = false;
    } else {
        out->paths = paths;
        out->cap = out->n + n + 1;
        for (size_t i = 0; ok && i < n; i++)
            ok = (out->paths[out->n] = strdup(qps_logset_entry(set, i)->path)) != NULL && ++out->n;
    }
    if (!ok)
        cli_error("out of memory");
    qps_logset_free(set);
    return ok;
}

void cli_paths_free(cli_paths *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->paths[i]);
    free(p->paths);
    p->paths = NULL;
    p->n = p->cap = 0;
}

int cli_read_error(const char *path, const qps_reader *r, qps_status st, bool opening)
{
    const char *name = strcmp(path, "-") == 0 ? "standard input" : path;
    if (st == QPS_EREAD && qps_reader_errno(r) == ENODEV)
        cli_error("%s is not a regular file (a FIFO, device or socket): skipped", name);
    else
        cli_error("cannot %s %s: %s", opening && qps_reader_errno(r) != EISDIR ? "open" : "read", name,
                  qps_reader_error(r));
    return -1;
}

int cli_read_entry(const qps_log_entry *e, cli_chunk_fn fn, void *ctx)
{
    qps_reader *r = qps_reader_new();
    if (!r) {
        cli_error("out of memory reading %s", e->path);
        return -1;
    }
    qps_status st = qps_reader_open_entry(r, e);
    bool opening = st != QPS_OK;
    const char *chunk;
    size_t len;
    int rc = 0;
    while (st == QPS_OK && (st = qps_reader_read(r, &chunk, &len)) == QPS_OK && len)
        if ((rc = fn(ctx, chunk, len)) != 0)
            break;
    cli_reader_note(e, r);
    if (st == QPS_OK)
        st = qps_reader_close(r);
    if (st != QPS_OK)
        rc = cli_read_error(e->path, r, st, opening);
    qps_reader_free(r);
    return rc ? -1 : 0;
}

int cli_read_file(const char *path, cli_chunk_fn fn, void *ctx)
{
    qps_log_entry e = {.path = path, .is_stdin = strcmp(path, "-") == 0};
    return cli_read_entry(&e, fn, ctx);
}

typedef struct {
    qps_lines *lines;
    cli_line_fn fn;
    void *ctx;
    int stopped; /* what fn returned when it stopped the stream */
} line_feed;

static int feed_lines(void *ctx, const char *chunk, size_t len)
{
    line_feed *f = ctx;
    return f->stopped = qps_lines_split(f->lines, chunk, len, f->fn, f->ctx);
}

int cli_read_lines(const qps_log_entry *e, qps_lines *lines, cli_line_fn fn, void *ctx)
{
    line_feed f = {lines, fn, ctx, 0};
    int rc = cli_read_entry(e, feed_lines, &f);
    qps_str last;
    if (f.stopped) {
        qps_lines_end(lines, &last); /* the caller stopped: nothing more for it */
        return -1;
    }
    /* the lines before a read error count, the last one too */
    if (qps_lines_end(lines, &last) && fn(ctx, last.ptr, last.len) != 0)
        return -1;
    return rc;
}
