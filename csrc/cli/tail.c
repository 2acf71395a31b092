/*
 * cli_tail.c - "qpstat tail": qplogtail's condensed view of what qpsmtpd is
 * doing (accepted connections n/M, logterse dispositions, connection times,
 * "Too many connections" waits, hosts_allow denials), from current or named
 * files, optionally following current across multilog rotations.
 *
 * Following: current is polled every half second. multilog rotates by
 * renaming current and creating a new one; the open descriptor still reads
 * the renamed file, so it is drained to its end, then the old logs rotated
 * since (several when lines come fast and the size limit is small), then
 * the new current from its start: no line is lost or read twice. A file
 * that shrinks (truncated in place) is read again from its start.
 * logrotate's create rotation renames qpsmtpd.log while qpsmtpd still
 * writes to it (logging/file reopens nothing; Debian restarts qpsmtpd in
 * postrotate, and connections under way log on until they end), so the
 * renamed file stays open and is read on until it is removed or rotated
 * again; it has its own splitter, so its partial last line never meets the
 * new file's lines.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_NS 500000000L
#define READ_SIZE (1 << 16)
#define MAX_LAST 1000000L

static const char usage_text[] =
    "usage: qpstat tail [-f] [-n N|all] [--label|--local] [PATH...]\n"
    "What qplogtail shows: one line per event of each connection, TAB-separated:\n"
    "  PID  IP  n/M                                     connection accepted (n others running, M max)\n"
    "  PID  IP  DISPOSITION  SPAM  SENDER  RCPTS  TEXT  logterse record (queued or the denying plugin)\n"
    "  PID  IP  N.NNN sec.                              connection_time\n"
    "  PID  -   Too many connections: n >= M            the server is full and waits\n"
    "  PID  IP  hosts_allow  DETAILS                    hosts_allow denial\n"
    "Lines of one connection are joined by pid (0.93+ connection_time lines carry no IP).\n"
    "PATH is a multilog directory (its current is read), a logrotate directory (its x.log, as\n"
    "qpsmtpd's logging/file writes it), a log file, or - for standard input;\n"
    "default /var/log/qpsmtpd.\n"
    "\n"
    "  -f, --follow     keep reading current as it grows, across rotations (Ctrl-C ends)\n"
    "  -n, --last N     first print only the last N lines of what is there (default 10; all)\n"
    "  --label          start each line with the raw time stamp (TAI64N label)\n"
    "  --local          start each line with the local time, as tai64nlocal writes it\n"
    "  --prefix STR     logterse prefix (default `)\n"
    CLI_JOURNAL_HELP
    "  -h, --help       this help\n";

/* Output: straight to stdout, or while the existing text is read with -n,
 * into a ring of the last N lines. */
typedef struct {
    bool ringing;
    size_t keep;
    char **ring;
    size_t *lens;
    size_t next, count;
} tail_out;

static int write_line(const char *line, size_t len)
{
    if (fwrite(line, 1, len, stdout) != len || putchar('\n') == EOF) {
        cli_error("cannot write the output: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int out_line(void *ctx, const char *line, size_t len)
{
    tail_out *t = ctx;
    if (!t->ringing)
        return write_line(line, len);
    if (t->keep == 0)
        return 0;
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        cli_error("out of memory");
        return -1;
    }
    memcpy(copy, line, len);
    free(t->ring[t->next]);
    t->ring[t->next] = copy;
    t->lens[t->next] = len;
    t->next = (t->next + 1) % t->keep;
    if (t->count < t->keep)
        t->count++;
    return 0;
}

/* Prints the ring, oldest first, and lets later lines through. */
static int ring_release(tail_out *t)
{
    int rc = 0;
    if (t->ringing && t->keep) {
        size_t start = t->count < t->keep ? 0 : t->next;
        for (size_t i = 0; i < t->count && rc == 0; i++) {
            size_t k = (start + i) % t->keep;
            rc = write_line(t->ring[k], t->lens[k]);
        }
    }
    t->ringing = false;
    if (fflush(stdout) != 0 && rc == 0) {
        cli_error("cannot write the output: %s", strerror(errno));
        rc = -1;
    }
    return rc;
}

static void ring_free(tail_out *t)
{
    if (t->ring)
        for (size_t i = 0; i < t->keep; i++)
            free(t->ring[i]);
    free(t->ring);
    free(t->lens);
}

/* The live file of a logrotate directory (qpsmtpd's logging/file): the
 * log set's last entry, x.log, which logrotate renames to x.log.1 (create)
 * or empties (copytruncate); follow() handles both. NULL when the
 * directory has none (no file ending in ".log" last). Caller frees. */
static char *logrotate_live(const char *dir)
{
    qps_logset *set = qps_logset_new();
    char *path = NULL;
    if (set && qps_logset_add(set, dir) == QPS_OK && qps_logset_count(set) > 0) {
        const char *last = qps_logset_entry(set, qps_logset_count(set) - 1)->path;
        size_t n = strlen(last);
        if (n > 4 && strcmp(last + n - 4, ".log") == 0)
            path = strdup(last);
    }
    qps_logset_free(set);
    return path;
}

/* A directory stands for its current (multilog), or else for its live
 * x.log (logrotate). Caller frees. */
static char *resolve(const char *arg, bool *from_dir)
{
    struct stat st;
    char *path;
    *from_dir = false;
    if (strcmp(arg, "-") != 0 && stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        *from_dir = true; /* found, not named: never a FIFO or device */
        size_t n = strlen(arg);
        if (asprintf(&path, "%s%scurrent", arg, n && arg[n - 1] == '/' ? "" : "/") < 0)
            return NULL;
        if (lstat(path, &st) != 0 && errno == ENOENT) {
            char *live = logrotate_live(arg);
            if (live) {
                free(path);
                return live;
            }
        }
        return path;
    }
    return strdup(arg);
}

/* Passes lines on to the joiner, noting the label of the last one and the
 * hashes of the lines that carry it (multilog gives every line of a burst
 * the same label, even across a rotation). While catching up after a
 * rotation, lines labelled before the floor are skipped, and so are lines
 * labelled at the floor that were passed on already: what a multilog
 * processor copied is not read twice, and no line is lost. */
#define MAX_SAME_LABEL 100000

typedef struct {
    uint64_t *h;
    size_t n, cap;
} hash_set;

typedef struct {
    qps_join *join;
    char last[24];
    bool has_last;
    hash_set same;   /* lines passed on with the label `last` */
    char floor[24];
    bool filtering;
    hash_set seen;   /* `same` when the catching up began */
} follow_state;

static uint64_t line_hash(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void hash_add(hash_set *set, uint64_t h)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        uint64_t *grown = cap <= MAX_SAME_LABEL ? realloc(set->h, cap * sizeof *grown) : NULL;
        if (!grown)
            return; /* a burst this long is not remembered whole */
        set->h = grown;
        set->cap = cap;
    }
    set->h[set->n++] = h;
}

static bool hash_take(hash_set *set, uint64_t h)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->h[i] == h) {
            set->h[i] = set->h[--set->n];
            return true;
        }
    return false;
}

static bool line_label(const char *line, size_t len, char out[24])
{
    if (len < 25 || line[0] != '@')
        return false;
    for (int i = 1; i <= 24; i++)
        if (!((line[i] >= '0' && line[i] <= '9') || (line[i] >= 'a' && line[i] <= 'f')))
            return false;
    memcpy(out, line + 1, 24);
    return true;
}

static int follow_line(void *ctx, const char *line, size_t len)
{
    follow_state *f = ctx;
    char label[24];
    if (line_label(line, len, label)) {
        uint64_t h = line_hash(line, len);
        if (f->filtering) {
            int c = memcmp(label, f->floor, 24);
            if (c < 0 || (c == 0 && hash_take(&f->seen, h)))
                return 0;
        }
        if (!f->has_last || memcmp(label, f->last, 24) != 0) {
            memcpy(f->last, label, 24);
            f->has_last = true;
            f->same.n = 0;
        }
        hash_add(&f->same, h);
    }
    return cli_join_line(f->join, line, len);
}

/* The splitter and where its lines go. */
typedef struct {
    qps_lines *split;
    follow_state *f;
} tail_lines;

static int lines_feed(tail_lines *t, const char *buf, size_t n)
{
    return qps_lines_split(t->split, buf, n, follow_line, t->f);
}

static int lines_finish(tail_lines *t)
{
    return qps_lines_finish(t->split, follow_line, t->f);
}

static int chunk_feed(void *ctx, const char *buf, size_t n)
{
    return lines_feed(ctx, buf, n);
}

/* Starts skipping what was read (see follow_line). */
static void start_filter(follow_state *f)
{
    if (!f->has_last)
        return;
    memcpy(f->floor, f->last, 24);
    f->seen.n = 0;
    for (size_t i = 0; i < f->same.n; i++)
        hash_add(&f->seen, f->same.h[i]);
    f->filtering = true;
}

/* Reads fd to its end; returns 0, or -1 after an error. */
static int drain(int fd, const char *path, tail_lines *lines, char *buf, off_t *offset)
{
    for (;;) {
        ssize_t n = read(fd, buf, READ_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_error("cannot read %s: %s", path, strerror(errno));
            return -1;
        }
        if (n == 0)
            return 0;
        *offset += n;
        if (lines_feed(lines, buf, (size_t)n) != 0)
            return -1;
    }
}

/* The first bytes of the file being followed. logrotate's copytruncate
 * empties the file in place and qpsmtpd writes on: by the next poll it can
 * be as long as before, so its size does not show the truncation, its head
 * does (checked before reading on, so no line is read from the middle). */
enum { HEAD_MAX = 64 };
typedef struct {
    char bytes[HEAD_MAX];
    size_t len;
} file_head;

/* Notes up to HEAD_MAX bytes of what was read so far (offset bytes). */
static void head_note(int fd, off_t offset, file_head *h)
{
    if (h->len == HEAD_MAX || offset <= (off_t)h->len)
        return;
    size_t want = offset < HEAD_MAX ? (size_t)offset : HEAD_MAX;
    ssize_t n = pread(fd, h->bytes, want, 0);
    h->len = n > 0 ? (size_t)n : 0;
}

static bool head_changed(int fd, const file_head *h)
{
    char now[HEAD_MAX];
    if (!h->len)
        return false;
    ssize_t n = pread(fd, now, h->len, 0);
    return n != (ssize_t)h->len || memcmp(now, h->bytes, h->len) != 0;
}

static int flush_out(void)
{
    if (fflush(stdout) != 0) {
        cli_error("cannot write the output: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* multilog's old logs in a directory, in label (= time) order (the core's
 * log set lists them). */
typedef struct {
    char name[28];
    dev_t dev;
    ino_t ino;
} old_log;

static old_log *list_old_logs(const char *dir, size_t *n)
{
    *n = 0;
    qps_logset *set = qps_logset_new();
    old_log *list = NULL;
    if (set && qps_logset_add(set, dir) == QPS_OK && (list = calloc(qps_logset_count(set) + 1, sizeof *list))) {
        /* the log set's order: the old logs first, by label */
        for (size_t i = 0; i < qps_logset_count(set); i++) {
            const qps_log_entry *e = qps_logset_entry(set, i);
            const char *base = strrchr(e->path, '/');
            base = base ? base + 1 : e->path;
            if (base[0] != '@' || strlen(base) != 27 || !e->have_id)
                continue;
            memcpy(list[*n].name, base, 28);
            list[*n].dev = (dev_t)e->dev;
            list[*n].ino = (ino_t)e->inode;
            ++*n;
        }
    }
    qps_logset_free(set);
    return list;
}

/* Reads one rotated file through the filter. A file removed meanwhile
 * (multilog's n limit) is reported, not fatal. */
static void read_rotated(const char *dir, const char *name, tail_lines *lines)
{
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return;
    qps_log_entry e = {.path = path, .from_dir = 1};
    cli_read_entry(&e, chunk_feed, lines);
    lines_finish(lines);
    free(path);
}

/* After current was rotated (the old file is read to its end): reads the
 * logs rotated since, in order, then opens the new current. More than one
 * rotation can happen between two polls (a small multilog s size, a burst
 * of lines). The files to read are the @ files named after the old file
 * and, while a processor runs, `previous` (complete, not yet archived).
 * With a processor the old file never gets an @ name (the archive is the
 * processor's output, a new file), so then the files named after the last
 * label read are taken; what was read already is skipped (follow_line).
 * Returns the new descriptor, or -1 when current is not there yet (the
 * next poll tries again). */
static int catch_up(const char *path, const char *dir, dev_t old_dev, ino_t old_ino, follow_state *f,
                    tail_lines *lines, char *buf)
{
    char after[28] = "";
    bool first = true;
    dev_t prev_dev = old_dev;
    ino_t prev_ino = old_ino; /* `previous` holding the old file is read already */
    char *previous, *processed;
    if (asprintf(&previous, "%s/previous", dir) < 0)
        return -1;
    if (asprintf(&processed, "%s/processed", dir) < 0) {
        free(previous);
        return -1;
    }
    int result = -1, waits = 0;
    for (int round = 0; round < 1000; round++) {
        int fd;
        struct stat cur, prev, pst;
        if (qps_open_log(path, QPS_READ_REGULAR, &fd) != QPS_OK || fstat(fd, &cur) != 0) {
            if (fd >= 0)
                close(fd);
            break;
        }
        /* previous is looked at before the listing: once processed it
         * becomes an @ file, and must then be in the listing. multilog
         * unlinks previous before it renames processed to @...s: in
         * between, the lines are only in processed, so wait for the
         * rename (up to 2 s: a multilog that died there leaves it) */
        bool has_prev = stat(previous, &prev) == 0;
        if (!has_prev && waits < 200 && stat(processed, &pst) == 0) {
            close(fd);
            waits++;
            struct timespec ts = {0, 10000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        size_t n;
        old_log *logs = list_old_logs(dir, &n);
        if (first) {
            first = false;
            for (size_t i = 0; i < n; i++)
                if (logs[i].dev == old_dev && logs[i].ino == old_ino)
                    memcpy(after, logs[i].name, 28);
            if (!after[0] && f->has_last) {
                after[0] = '@';
                memcpy(after + 1, f->last, 24);
            }
            if (!after[0]) {
                free(logs);
                result = fd; /* no way to tell which old logs are new: go on with current */
                break;
            }
        }
        start_filter(f);
        bool again = false;
        for (size_t i = 0; i < n; i++) {
            if (strncmp(logs[i].name, after, 25) <= 0)
                continue;
            if (logs[i].dev == cur.st_dev && logs[i].ino == cur.st_ino)
                again = true; /* what we opened was rotated meanwhile */
            read_rotated(dir, logs[i].name, lines);
            memcpy(after, logs[i].name, 28);
        }
        free(logs);
        if (has_prev && !(prev.st_dev == prev_dev && prev.st_ino == prev_ino)) {
            /* a processor's input: complete, newer than every @ file */
            int pfd;
            qps_open_log(previous, QPS_READ_REGULAR, &pfd);
            struct stat pst;
            off_t ignored = 0;
            if (pfd >= 0 && fstat(pfd, &pst) == 0 && pst.st_dev == prev.st_dev && pst.st_ino == prev.st_ino) {
                drain(pfd, previous, lines, buf, &ignored);
                lines_finish(lines);
                prev_dev = prev.st_dev;
                prev_ino = prev.st_ino;
                if (prev.st_dev == cur.st_dev && prev.st_ino == cur.st_ino)
                    again = true;
            } else {
                again = true; /* archived meanwhile: the next listing has it */
            }
            if (pfd >= 0)
                close(pfd);
        }
        f->filtering = false;
        if (!again) {
            result = fd;
            break;
        }
        close(fd);
    }
    free(previous);
    free(processed);
    return result;
}

/* -f: reads path, prints the ring, then polls for growth and rotation.
 * Returns only on an error or at the end of a pipe. */
/* The file that was being followed before the last rotation (see the top). */
typedef struct {
    int fd;
    tail_lines lines;
    off_t offset;
} rotated_file;

/* Its last lines and its end; 0, or -1 after an error. */
static int rotated_close(rotated_file *r, const char *path, char *buf)
{
    if (r->fd < 0)
        return 0;
    int rc = drain(r->fd, path, &r->lines, buf, &r->offset) == 0 && lines_finish(&r->lines) == 0 ? 0 : -1;
    close(r->fd);
    r->fd = -1;
    return rc;
}

/* What was written to it since the last poll; closes it once removed. */
static int rotated_poll(rotated_file *r, const char *path, char *buf)
{
    struct stat st;
    if (r->fd < 0)
        return 0;
    if (fstat(r->fd, &st) == 0 && st.st_nlink == 0)
        return rotated_close(r, path, buf);
    return drain(r->fd, path, &r->lines, buf, &r->offset);
}

static int follow(const char *path, bool from_dir, tail_lines *lines, follow_state *f, tail_out *out)
{
    int fd;
    struct stat st;
    if (qps_open_log(path, from_dir ? QPS_READ_REGULAR : 0, &fd) != QPS_OK || fstat(fd, &st) != 0) {
        cli_error(errno == ENODEV ? "cannot follow %s: not a regular file (a FIFO, device or socket)"
                                  : "cannot follow %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return EXIT_RUNTIME;
    }
    char *buf = malloc(READ_SIZE);
    char *dir = strdup(path);
    rotated_file old = {.fd = -1, .lines = {qps_lines_new(), f}};
    if (!buf || !dir || !old.lines.split) {
        cli_error("out of memory");
        close(fd);
        free(buf);
        free(dir);
        qps_lines_free(old.lines.split);
        return EXIT_RUNTIME;
    }
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    dev_t dev = st.st_dev;
    ino_t ino = st.st_ino;
    bool regular = S_ISREG(st.st_mode);
    off_t offset = 0;
    file_head head = {.len = 0};
    int rc = EXIT_RUNTIME;
    /* the partial last line stays in `lines` until its newline arrives */
    if (drain(fd, path, lines, buf, &offset) != 0 || ring_release(out) != 0)
        goto done;
    head_note(fd, offset, &head);
    if (!regular) {
        /* a pipe or terminal: read it to its end, as it came */
        rc = lines_finish(lines) == 0 && flush_out() == 0 ? EXIT_OK : EXIT_RUNTIME;
        goto done;
    }
    for (;;) {
        struct timespec ts = {0, POLL_NS};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        if (rotated_poll(&old, path, buf) != 0)
            goto done;
        if (fd >= 0 && head_changed(fd, &head)) {
            /* emptied and written again in place (copytruncate) */
            if (lines_finish(lines) != 0 || lseek(fd, 0, SEEK_SET) < 0)
                goto done;
            offset = 0;
            head.len = 0;
        }
        if (fd >= 0 && drain(fd, path, lines, buf, &offset) != 0)
            goto done;
        if (fd >= 0)
            head_note(fd, offset, &head);
        struct stat now;
        if (stat(path, &now) == 0) {
            if (fd < 0 || now.st_dev != dev || now.st_ino != ino) {
                /* rotated: the old file to its end (lines written just
                 * before the rename) stays open to be read on (see the
                 * top), then the files rotated since, then the new one */
                if (fd >= 0) {
                    if (drain(fd, path, lines, buf, &offset) != 0 || rotated_close(&old, path, buf) != 0)
                        goto done;
                    /* its partial last line goes with it, in its splitter */
                    qps_lines *split = old.lines.split;
                    old.lines.split = lines->split;
                    lines->split = split;
                    old.fd = fd;
                    old.offset = offset;
                    fd = -1;
                }
                fd = catch_up(path, dir, dev, ino, f, lines, buf);
                offset = 0;
                head.len = 0;
                if (fd >= 0 && fstat(fd, &now) == 0) {
                    dev = now.st_dev;
                    ino = now.st_ino;
                    if (drain(fd, path, lines, buf, &offset) != 0)
                        goto done;
                } else if (fd >= 0) {
                    close(fd);
                    fd = -1;
                }
            } else if (now.st_size < offset) {
                /* truncated in place (copytruncate) */
                if (lines_finish(lines) != 0 || lseek(fd, 0, SEEK_SET) < 0)
                    goto done;
                offset = 0;
                head.len = 0;
                if (drain(fd, path, lines, buf, &offset) != 0)
                    goto done;
            }
            if (fd >= 0)
                head_note(fd, offset, &head);
        }
        /* a missing path is a rotation in progress: keep the old file */
        if (flush_out() != 0)
            goto done;
    }
done:
    if (fd >= 0)
        close(fd);
    if (old.fd >= 0)
        close(old.fd);
    qps_lines_free(old.lines.split);
    free(buf);
    free(dir);
    return rc;
}

/* -f on a journal: its entries, then each one appended (or in a journal
 * file added to the directory) as it comes: sd_journal_wait, no polling.
 * Returns only on an error. */
static int follow_journal(const qps_log_entry *e, tail_lines *lines, tail_out *out)
{
    qps_reader *r = qps_reader_new();
    if (!r) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    qps_status st = qps_reader_open_entry(r, e);
    bool opening = st != QPS_OK, first = true;
    const char *chunk;
    size_t len;
    int rc = EXIT_RUNTIME;
    while (st == QPS_OK) {
        if ((st = qps_reader_read(r, &chunk, &len)) != QPS_OK)
            break;
        if (len) {
            if (lines_feed(lines, chunk, len) != 0)
                goto done;
            continue;
        }
        if (first) {
            cli_reader_note(e, r);
            first = false;
        }
        if ((out->ringing && ring_release(out) != 0) || flush_out() != 0)
            goto done;
        st = qps_reader_journal_wait(r, UINT64_MAX);
    }
    cli_read_error(e->path, r, st, opening);
done:
    qps_reader_free(r);
    return rc;
}

/* tail's journal: the options' or, without PATHs, the journal's when
 * /var/log/qpsmtpd has no current log. NULL when none. */
static qps_logset *tail_journal(int npaths)
{
    struct stat st;
    if (!cli_journal_chosen() && (npaths || stat("/var/log/qpsmtpd/current", &st) == 0))
        return NULL;
    qps_logset *set = qps_logset_new();
    if (!set)
        return NULL;
    if (cli_journal_chosen()) {
        qps_journal_spec spec;
        cli_journal_spec(&spec);
        if (qps_logset_add_journal(set, &spec) == QPS_OK)
            return set;
    } else if (cli_journal_fallback(set, "no /var/log/qpsmtpd/current")) {
        return set;
    }
    qps_logset_free(set);
    return NULL;
}

int cli_tail(int argc, char **argv)
{
    enum { OPT_LABEL = 256, OPT_LOCAL };
    static const struct option options[] = {
        {"follow", no_argument, NULL, 'f'},          {"last", required_argument, NULL, 'n'},
        {"label", no_argument, NULL, OPT_LABEL},     {"local", no_argument, NULL, OPT_LOCAL},
        CLI_JOURNAL_OPTIONS, CLI_PREFIX_OPTION, CLI_HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    bool follow_mode = false;
    size_t keep = 10;
    bool keep_all = false;
    qps_stamp_mode stamp = QPS_STAMP_NONE;
    const char *prefix = NULL;
    cli_shared shared = {.usage = usage_text, .prefix = &prefix, .journal = true};
    int c, exit_status;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "fn:", options, &shared, &exit_status)) != -1) {
        switch (c) {
        case 'f': follow_mode = true; break;
        case 'n': {
            if (strcmp(optarg, "all") == 0) {
                keep_all = true;
                break;
            }
            long v;
            if (!cli_number("-n", optarg, 0, MAX_LAST, &v))
                return EXIT_USAGE;
            keep = (size_t)v;
            keep_all = false;
            break;
        }
        case OPT_LABEL: stamp = QPS_STAMP_RAW; break;
        case OPT_LOCAL: stamp = QPS_STAMP_LOCAL; break;
        default: return cli_usage_hint();
        }
    }
    if (exit_status >= 0)
        return exit_status;
    int npaths = argc - optind;
    if (follow_mode && npaths > 1) {
        return cli_usage("-f follows one file or directory");
    }
    if (follow_mode && npaths && cli_journal_chosen())
        return cli_usage("-f follows one source: the journal or '%s'", argv[optind]);

    tail_out out = {0};
    out.ringing = !keep_all;
    out.keep = keep;
    if (out.ringing && keep) {
        out.ring = calloc(keep, sizeof *out.ring);
        out.lens = calloc(keep, sizeof *out.lens);
        if (!out.ring || !out.lens) {
            cli_error("out of memory");
            ring_free(&out);
            return EXIT_RUNTIME;
        }
    }
    qps_join_opts jo = {0};
    jo.stamp = stamp;
    jo.mode = QPS_JOIN_ALL;
    jo.emit = out_line;
    jo.emit_ctx = &out;
    jo.terse_prefix = prefix;
    jo.now = cli_now();
    qps_join *join = qps_join_new(&jo);
    if (!join) {
        cli_error("out of memory");
        ring_free(&out);
        return EXIT_RUNTIME;
    }
    follow_state fs = {.join = join};
    tail_lines lines = {qps_lines_new(), &fs};
    if (!lines.split) {
        cli_error("out of memory");
        qps_join_free(join);
        ring_free(&out);
        return EXIT_RUNTIME;
    }

    int rc = EXIT_OK;
    qps_logset *journal = tail_journal(npaths);
    if (journal) {
        const qps_log_entry *e = qps_logset_entry(journal, 0);
        if (follow_mode)
            rc = follow_journal(e, &lines, &out);
        else if (cli_read_lines(e, lines.split, follow_line, &fs) != 0)
            rc = EXIT_RUNTIME;
        qps_logset_free(journal);
        npaths = -1; /* the journal was the source; PATHs come after it */
    }
    char *fallback[] = {"/var/log/qpsmtpd"};
    char **args = npaths ? argv + optind : fallback;
    int nargs = npaths < 0 ? argc - optind : npaths ? npaths : 1;
    for (int i = 0; i < nargs; i++) {
        bool from_dir;
        char *path = resolve(args[i], &from_dir);
        if (!path) {
            cli_error("out of memory");
            rc = EXIT_RUNTIME;
            break;
        }
        if (follow_mode) {
            rc = follow(path, from_dir, &lines, &fs, &out); /* returns on an error or at the end of a pipe */
        } else {
            qps_log_entry e = {.path = path, .from_dir = from_dir, .is_stdin = strcmp(path, "-") == 0};
            if (cli_read_lines(&e, lines.split, follow_line, &fs) != 0)
                rc = EXIT_RUNTIME;
        }
        free(path);
    }
    if (cli_join_finish(join) != 0 || ring_release(&out) != 0)
        rc = EXIT_RUNTIME;
    qps_join_free(join);
    qps_lines_free(lines.split);
    free(fs.same.h);
    free(fs.seen.h);
    ring_free(&out);
    return rc;
}
