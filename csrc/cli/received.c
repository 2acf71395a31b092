/*
 * cli_received.c - "qpstat received": the seed's "List Recent Emails with
 * sending IP". For each recent message in the Maildirs given, prints the
 * file and the IP of the host that delivered it: the first (topmost)
 * Received: header with HELO/EHLO whose connecting IP is not local.
 *
 * The seed's pipeline (find -ctime | egrep "^Received: from " | grep -v
 * LocalIP | egrep "HELO|EHLO" | awk -F"[():]") printed every such header,
 * missed folded headers, dropped a header that merely mentioned LocalIP,
 * cut file names at their first colon (Maildir names have ":2,S") and
 * took the sixth piece as the IP. Here headers are unfolded, the IP is the
 * last address in the "from" clause that is not the HELO argument, and
 * only regular files under new/ and cur/ are opened (never a FIFO or a
 * symlink), without following symlinks while walking.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_MAX (256 * 1024) /* headers beyond this are not read */
#define MAX_DEPTH 32
#define MAX_LOCAL 16

static const char usage_text[] =
    "usage: qpstat received [--days N] [--local-ip IP]... MAILDIR...\n"
    "Lists recent messages and the IP of the host that delivered them, from the first\n"
    "Received: header with HELO/EHLO whose IP is not local, one line per message:\n"
    "  FILE  IP  HELO\n"
    "MAILDIR is a Maildir or any directory above Maildirs (e.g. /home/e-smith/files/users);\n"
    "the messages are the files in new/ and cur/. A file named directly is read as a message.\n"
    "\n"
    "  --days N        messages delivered (file modified) in the last N*24 hours (default 1)\n"
    "  --local-ip IP   this server's own address(es), skipped like loopback (repeatable;\n"
    "                  on SME: --local-ip \"$(config get LocalIP)\")\n"
    "  -h, --help      this help\n";

typedef struct {
    int family;
    unsigned char addr[16];
} ipaddr;

typedef struct {
    char *path;
    int64_t mtime;
    char *line; /* escaped "IP\tHELO" */
} hit;

typedef struct {
    int64_t since;
    ipaddr local[MAX_LOCAL];
    int nlocal;
    hit *hits;
    size_t nhits, cap;
    int errors;
    char *buf;
    bool oom;
} walker;

static bool parse_ip(const char *s, ipaddr *out)
{
    if (inet_pton(AF_INET, s, out->addr) == 1) {
        out->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, out->addr) == 1) {
        out->family = AF_INET6;
        return true;
    }
    return false;
}

/* IPv4-mapped IPv6 addresses are compared as IPv4. */
static ipaddr canonical(ipaddr a)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (a.family == AF_INET6 && memcmp(a.addr, mapped, 12) == 0) {
        ipaddr v4 = {AF_INET, {0}};
        memcpy(v4.addr, a.addr + 12, 4);
        return v4;
    }
    return a;
}

static bool is_local(const walker *w, ipaddr a)
{
    static const unsigned char loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    a = canonical(a);
    if (a.family == AF_INET && a.addr[0] == 127)
        return true;
    if (a.family == AF_INET6 && memcmp(a.addr, loop6, 16) == 0)
        return true;
    for (int i = 0; i < w->nlocal; i++) {
        ipaddr l = canonical(w->local[i]);
        if (l.family == a.family && memcmp(l.addr, a.addr, a.family == AF_INET ? 4 : 16) == 0)
            return true;
    }
    return false;
}

static bool prefix_icase(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && strncasecmp(s, prefix, n) == 0;
}

/* Looks at one unfolded Received: value. Returns true for an external
 * header with HELO/EHLO and an IP, filling ip and helo. */
static bool examine(const walker *w, const char *v, size_t len, char ip[INET6_ADDRSTRLEN], char *helo,
                    size_t helo_size)
{
    while (len && *v == ' ')
        v++, len--;
    if (!prefix_icase(v, len, "from "))
        return false;
    /* the "from" clause ends at " by " */
    size_t end = len;
    for (size_t i = 0; i + 4 <= len; i++)
        if (strncasecmp(v + i, " by ", 4) == 0) {
            end = i;
            break;
        }
    bool has_helo = false, next_is_helo = false, found = false;
    ipaddr last = {0, {0}};
    helo[0] = '\0';
    size_t i = 5;
    while (i < end) {
        while (i < end && strchr(" ()[];", v[i]))
            i++;
        size_t start = i;
        while (i < end && !strchr(" ()[];", v[i]))
            i++;
        size_t n = i - start;
        if (n == 0)
            break;
        const char *tok = v + start;
        if (next_is_helo || prefix_icase(tok, n, "helo=")) {
            if (!next_is_helo)
                tok += 5, n -= 5;
            snprintf(helo, helo_size, "%.*s", (int)n, tok);
            next_is_helo = false;
            has_helo = true;
            continue; /* the HELO argument may itself look like an IP */
        }
        if ((n == 4 && (strncasecmp(tok, "HELO", 4) == 0 || strncasecmp(tok, "EHLO", 4) == 0))) {
            next_is_helo = true;
            has_helo = true;
            continue;
        }
        if (prefix_icase(tok, n, "IPv6:"))
            tok += 5, n -= 5;
        char text[INET6_ADDRSTRLEN];
        ipaddr a;
        if (n && n < sizeof text) {
            memcpy(text, tok, n);
            text[n] = '\0';
            if (parse_ip(text, &a)) {
                last = a;
                found = true;
            }
        }
    }
    if (!has_helo || !found || is_local(w, last))
        return false;
    inet_ntop(last.family, last.addr, ip, INET6_ADDRSTRLEN);
    return true;
}

/* Reads the header of a message and finds the delivering host. */
static void read_message(walker *w, int dirfd, const char *name, const char *path, int64_t mtime, bool named)
{
    /* a file met while walking is not followed if it became a symlink;
     * O_NONBLOCK: a FIFO swapped in never blocks the open */
    int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | (named ? 0 : O_NOFOLLOW);
    int fd = openat(dirfd, name, flags);
    if (fd < 0) {
        cli_error("cannot open %s: %s", path, strerror(errno));
        w->errors++;
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd); /* replaced by something else since it was listed */
        return;
    }
    size_t len = 0;
    char *buf = w->buf;
    for (;;) {
        ssize_t n = read(fd, buf + len, HEADER_MAX - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_error("cannot read %s: %s", path, strerror(errno));
            w->errors++;
            close(fd);
            return;
        }
        len += (size_t)n;
        if (n == 0 || len == HEADER_MAX || memmem(buf, len, "\n\n", 2) || memmem(buf, len, "\n\r\n", 3))
            break;
    }
    close(fd);

    /* headers, each with its continuation lines, until the empty line */
    char ip[INET6_ADDRSTRLEN], helo[256];
    qps_buf unfolded = {0};
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        if (line_end == p || (line_end == p + 1 && *p == '\r'))
            break; /* the body starts */
        const char *h = p, *h_end = line_end;
        p = nl ? nl + 1 : end;
        while (p < end && (*p == ' ' || *p == '\t')) {
            nl = memchr(p, '\n', (size_t)(end - p));
            h_end = nl ? nl : end;
            p = nl ? nl + 1 : end;
        }
        if (!prefix_icase(h, (size_t)(h_end - h), "Received:"))
            continue;
        /* unfold: every run of white space becomes one space */
        unfolded.len = 0;
        bool space = false;
        for (const char *q = h + 9; q < h_end; q++) {
            if (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') {
                space = true;
                continue;
            }
            if (space && unfolded.len)
                qps_buf_append(&unfolded, " ", 1);
            space = false;
            qps_buf_append(&unfolded, q, 1);
        }
        if (unfolded.failed) {
            w->oom = true;
            break;
        }
        if (!unfolded.len || !examine(w, unfolded.data, unfolded.len, ip, helo, sizeof helo))
            continue;
        if (w->nhits == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 64;
            hit *hits = realloc(w->hits, cap * sizeof *hits);
            if (!hits) {
                w->oom = true;
                break;
            }
            w->hits = hits;
            w->cap = cap;
        }
        qps_buf line = {0};
        qps_buf_append(&line, ip, strlen(ip));
        qps_buf_append(&line, "\t", 1);
        qps_escape_text(&line, helo, strlen(helo));
        hit *x = &w->hits[w->nhits];
        x->path = strdup(path);
        x->mtime = mtime;
        x->line = line.failed ? NULL : line.data;
        if (!x->path || !x->line) {
            free(x->path);
            qps_buf_release(&line);
            w->oom = true;
            break;
        }
        w->nhits++;
        break;
    }
    qps_buf_release(&unfolded);
}

static bool is_message_dir(const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    const char *base = dir + n;
    while (base > dir && base[-1] != '/')
        base--;
    size_t bl = (size_t)(dir + n - base);
    return bl == 3 && (strncmp(base, "new", 3) == 0 || strncmp(base, "cur", 3) == 0);
}

static void walk(walker *w, const char *dir, int depth)
{
    if (w->oom)
        return;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        cli_error("cannot read directory %s: %s", dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        w->errors++;
        return;
    }
    bool messages = is_message_dir(dir);
    struct dirent *e;
    while (!w->oom && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        char *path;
        if (asprintf(&path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name) < 0) {
            w->oom = true;
            break;
        }
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            cli_error("cannot read %s: %s", path, strerror(errno));
            w->errors++;
        } else if (S_ISDIR(st.st_mode)) {
            if (depth < MAX_DEPTH)
                walk(w, path, depth + 1);
        } else if (messages && S_ISREG(st.st_mode) && (int64_t)st.st_mtime >= w->since) {
            read_message(w, dfd, e->d_name, path, (int64_t)st.st_mtime, false);
        }
        /* symlinks, FIFOs, sockets, devices: never opened */
        free(path);
    }
    closedir(d);
}

static int by_time(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (x->mtime != y->mtime)
        return x->mtime < y->mtime ? -1 : 1;
    return strcmp(x->path, y->path);
}

int cli_received(int argc, char **argv)
{
    enum { OPT_DAYS = 256, OPT_LOCAL_IP };
    static const struct option options[] = {
        {"days", required_argument, NULL, OPT_DAYS}, {"local-ip", required_argument, NULL, OPT_LOCAL_IP},
        CLI_HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    walker w = {0};
    qps_range range;
    cli_range_init(&range);
    bool days_given = false;
    cli_shared shared = {.usage = usage_text};
    int c, exit_status;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "", options, &shared, &exit_status)) != -1) {
        switch (c) {
        case OPT_DAYS:
            /* the last --days counts (received has no --today to exclude) */
            cli_range_init(&range);
            if (cli_time_option(CLI_OPT_DAYS, optarg, &range) != 0)
                return EXIT_USAGE;
            days_given = true;
            break;
        case OPT_LOCAL_IP:
            if (w.nlocal == MAX_LOCAL || !parse_ip(optarg, &w.local[w.nlocal])) {
                return cli_usage("--local-ip takes an IPv4 or IPv6 address (at most %d), not '%s'", MAX_LOCAL,
                                 optarg);
            }
            w.nlocal++;
            break;
        default: return cli_usage_hint();
        }
    }
    if (exit_status >= 0)
        return exit_status;
    if (optind >= argc) {
        return cli_usage("name the Maildir(s) to read");
    }
    if (!days_given)
        qps_range_days(&range, "1");
    if (cli_range_done(&range, cli_now(), false) != 0)
        return EXIT_USAGE;
    w.since = range.since;
    w.buf = malloc(HEADER_MAX);
    if (!w.buf) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    for (int i = optind; i < argc && !w.oom; i++) {
        struct stat st;
        const char *arg = argv[i];
        if (stat(arg, &st) != 0) {
            cli_error("cannot read %s: %s", arg, strerror(errno));
            w.errors++;
        } else if (S_ISDIR(st.st_mode)) {
            walk(&w, arg, 0);
        } else if (S_ISREG(st.st_mode)) {
            if ((int64_t)st.st_mtime >= w.since)
                read_message(&w, AT_FDCWD, arg, arg, (int64_t)st.st_mtime, true);
        } else {
            cli_error("cannot read %s: not a Maildir or a message file", arg);
            w.errors++;
        }
    }
    int rc = w.errors ? EXIT_RUNTIME : EXIT_OK;
    if (w.oom) {
        cli_error("out of memory");
        rc = EXIT_RUNTIME;
    }
    if (w.nhits)
        qsort(w.hits, w.nhits, sizeof *w.hits, by_time);
    qps_buf path = {0};
    for (size_t i = 0; i < w.nhits; i++) {
        path.len = 0;
        qps_escape_text(&path, w.hits[i].path, strlen(w.hits[i].path));
        printf("%s\t%s\n", path.data ? path.data : "", w.hits[i].line);
        free(w.hits[i].path);
        free(w.hits[i].line);
    }
    qps_buf_release(&path);
    free(w.hits);
    free(w.buf);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("cannot write the output: %s", strerror(errno));
        rc = EXIT_RUNTIME;
    }
    return rc;
}
