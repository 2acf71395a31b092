/*
 * cli_tail.c - "qpstat tail": qplogtail's condensed view of what qpsmtpd is
 * doing (accepted connections n/M, logterse dispositions, connection times,
 * "Too many connections" waits, hosts_allow denials), from current or named
 * files, optionally following current across multilog rotations.
 *
 * Following: current is polled every half second. multilog rotates by
 * renaming current and creating a new one; the open descriptor still reads
 * the renamed file, so it is drained to its end before the new current is
 * opened: no line is lost or read twice. A file that shrinks (truncated in
 * place) is read again from its start.
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
    "PATH is a multilog directory (its current is read), a log file, or - for standard input;\n"
    "default /var/log/qpsmtpd.\n"
    "\n"
    "  -f, --follow     keep reading current as it grows, across rotations (Ctrl-C ends)\n"
    "  -n, --last N     first print only the last N lines of what is there (default 10; all)\n"
    "  --label          start each line with the raw time stamp (TAI64N label)\n"
    "  --local          start each line with the local time, as tai64nlocal writes it\n"
    "  --prefix STR     logterse prefix (default `)\n"
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

/* A directory stands for its current. Caller frees. */
static char *resolve(const char *arg)
{
    struct stat st;
    char *path;
    if (strcmp(arg, "-") != 0 && stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(arg);
        if (asprintf(&path, "%s%scurrent", arg, n && arg[n - 1] == '/' ? "" : "/") < 0)
            return NULL;
        return path;
    }
    return strdup(arg);
}

/* Reads fd to its end; returns 0, or -1 after an error. */
static int drain(int fd, const char *path, cli_lines *lines, char *buf, off_t *offset)
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
        if (cli_lines_feed(lines, buf, (size_t)n) != 0)
            return -1;
    }
}

static int flush_out(void)
{
    if (fflush(stdout) != 0) {
        cli_error("cannot write the output: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* -f: reads path, prints the ring, then polls for growth and rotation.
 * Returns only on an error. */
static int follow(const char *path, cli_lines *lines, tail_out *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_error("cannot open %s: %s", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        cli_error("cannot follow %s: %s", path, S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
        close(fd);
        return EXIT_RUNTIME;
    }
    char *buf = malloc(READ_SIZE);
    if (!buf) {
        cli_error("out of memory");
        close(fd);
        return EXIT_RUNTIME;
    }
    dev_t dev = st.st_dev;
    ino_t ino = st.st_ino;
    bool regular = S_ISREG(st.st_mode);
    off_t offset = 0;
    int rc = EXIT_RUNTIME;
    /* the partial last line stays in `lines` until its newline arrives */
    if (drain(fd, path, lines, buf, &offset) != 0 || ring_release(out) != 0)
        goto done;
    if (!regular) {
        /* a pipe or terminal: read it to its end, as it came */
        rc = cli_lines_finish(lines) == 0 && flush_out() == 0 ? EXIT_OK : EXIT_RUNTIME;
        goto done;
    }
    for (;;) {
        struct timespec ts = {0, POLL_NS};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        if (fd >= 0 && drain(fd, path, lines, buf, &offset) != 0)
            goto done;
        struct stat now;
        if (stat(path, &now) == 0) {
            if (fd < 0 || now.st_dev != dev || now.st_ino != ino) {
                /* rotated: finish the old file (lines written just before
                 * the rename), then read the new one from its start */
                if (fd >= 0) {
                    if (drain(fd, path, lines, buf, &offset) != 0 || cli_lines_finish(lines) != 0)
                        goto done;
                    close(fd);
                }
                fd = open(path, O_RDONLY | O_CLOEXEC);
                offset = 0;
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
                if (cli_lines_finish(lines) != 0 || lseek(fd, 0, SEEK_SET) < 0)
                    goto done;
                offset = 0;
                if (drain(fd, path, lines, buf, &offset) != 0)
                    goto done;
            }
        }
        /* a missing path is a rotation in progress: keep the old file */
        if (flush_out() != 0)
            goto done;
    }
done:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

int cli_tail(int argc, char **argv)
{
    enum { OPT_LABEL = 256, OPT_LOCAL, OPT_PREFIX };
    static const struct option options[] = {
        {"follow", no_argument, NULL, 'f'},          {"last", required_argument, NULL, 'n'},
        {"label", no_argument, NULL, OPT_LABEL},     {"local", no_argument, NULL, OPT_LOCAL},
        {"prefix", required_argument, NULL, OPT_PREFIX}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool follow_mode = false;
    size_t keep = 10;
    bool keep_all = false;
    cli_stamp_mode stamp = CLI_STAMP_NONE;
    const char *prefix = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "fn:h", options, NULL)) != -1) {
        switch (c) {
        case 'f': follow_mode = true; break;
        case 'n': {
            if (strcmp(optarg, "all") == 0) {
                keep_all = true;
                break;
            }
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 0 || v > MAX_LAST) {
                cli_error("tail: -n takes a number from 0 to %ld or 'all', not '%s'", MAX_LAST, optarg);
                return EXIT_USAGE;
            }
            keep = (size_t)v;
            keep_all = false;
            break;
        }
        case OPT_LABEL: stamp = CLI_STAMP_RAW; break;
        case OPT_LOCAL: stamp = CLI_STAMP_LOCAL; break;
        case OPT_PREFIX:
            if (!*optarg) {
                cli_error("tail: --prefix must not be empty");
                return EXIT_USAGE;
            }
            prefix = optarg;
            break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs("Try 'qpstat tail --help'.\n", stderr); return EXIT_USAGE;
        }
    }
    int npaths = argc - optind;
    if (follow_mode && npaths > 1) {
        cli_error("tail: -f follows one file or directory");
        return EXIT_USAGE;
    }

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
    cli_join_opts jo = {0};
    jo.stamp = stamp;
    jo.mode = CLI_JOIN_ALL;
    jo.emit = out_line;
    jo.emit_ctx = &out;
    jo.terse_prefix = prefix;
    jo.now = cli_now();
    cli_join *join = cli_join_new(&jo);
    if (!join) {
        cli_error("out of memory");
        ring_free(&out);
        return EXIT_RUNTIME;
    }
    cli_lines lines = {cli_join_line, join, NULL, 0, 0, false};

    int rc = EXIT_OK;
    char *fallback[] = {"/var/log/qpsmtpd"};
    char **args = npaths ? argv + optind : fallback;
    int nargs = npaths ? npaths : 1;
    for (int i = 0; i < nargs; i++) {
        char *path = resolve(args[i]);
        if (!path) {
            cli_error("out of memory");
            rc = EXIT_RUNTIME;
            break;
        }
        if (follow_mode) {
            rc = follow(path, &lines, &out); /* returns on an error or at the end of a pipe */
        } else {
            if (cli_read_file(path, cli_lines_feed, &lines) != 0)
                rc = EXIT_RUNTIME;
            if (cli_lines_finish(&lines) != 0)
                rc = EXIT_RUNTIME;
        }
        free(path);
    }
    if (cli_join_finish(join) != 0 || ring_release(&out) != 0)
        rc = EXIT_RUNTIME;
    cli_join_free(join);
    cli_lines_free(&lines);
    ring_free(&out);
    return rc;
}
