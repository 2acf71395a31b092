/*
 * cli_input.c - which files a command reads, in which order, and reading
 * them (plain, gzip, stdin) in large chunks.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK (1 << 20)

static const char *const default_dirs[] = {"/var/log/qpsmtpd", "/var/log/sqpsmtpd"};

static bool push(cli_paths *p, const char *dir, const char *name)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        char **paths = realloc(p->paths, cap * sizeof *paths);
        if (!paths)
            return false;
        p->paths = paths;
        p->cap = cap;
    }
    char *path;
    if (dir) {
        size_t dl = strlen(dir);
        bool slash = dl && dir[dl - 1] == '/';
        if (asprintf(&path, "%s%s%s", dir, slash ? "" : "/", name) < 0)
            return false;
    } else if (!(path = strdup(name))) {
        return false;
    }
    p->paths[p->n++] = path;
    return true;
}

void cli_paths_free(cli_paths *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->paths[i]);
    free(p->paths);
    p->paths = NULL;
    p->n = p->cap = 0;
}

/* multilog's old logs: '@' + 24 hex digits + ".s" or ".u" */
static bool is_multilog_old(const char *name)
{
    size_t len = strlen(name);
    if (len != 27 || name[0] != '@' || name[25] != '.' || (name[26] != 's' && name[26] != 'u'))
        return false;
    for (int i = 1; i < 25; i++)
        if (!strchr("0123456789abcdef", name[i]))
            return false;
    return true;
}

/* logrotate names: "x.log", "x.log.N", "x.log.N.gz"; returns N (0 for the
 * live file), -1 for anything else. */
static long rotation_number(const char *name)
{
    const char *log = strstr(name, ".log");
    if (!log || log == name)
        return -1;
    const char *rest = log + 4;
    if (*rest == '\0')
        return 0;
    if (*rest != '.')
        return -1;
    char *end;
    long n = strtol(rest + 1, &end, 10);
    if (end == rest + 1 || n <= 0 || (*end && strcmp(end, ".gz") != 0))
        return -1;
    return n;
}

typedef struct {
    char *name;
    long rank;
} dir_entry;

static int by_name(const void *a, const void *b)
{
    const dir_entry *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static int by_rotation(const void *a, const void *b)
{
    const dir_entry *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank > y->rank ? -1 : 1; /* oldest (highest N) first */
    return strcmp(x->name, y->name);
}

static bool expand_dir(const char *dir, cli_paths *out, int *errors)
{
    DIR *d = opendir(dir);
    if (!d) {
        cli_error("cannot read directory %s: %s", dir, strerror(errno));
        ++*errors;
        return true;
    }
    dir_entry *old = NULL, *rotated = NULL;
    size_t nold = 0, nrot = 0, capold = 0, caprot = 0;
    bool has_current = false, ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d))) {
        dir_entry **list;
        size_t *n, *cap;
        long rank = 0;
        if (strcmp(e->d_name, "current") == 0) {
            has_current = true;
            continue;
        } else if (is_multilog_old(e->d_name)) {
            list = &old, n = &nold, cap = &capold;
        } else if ((rank = rotation_number(e->d_name)) >= 0) {
            list = &rotated, n = &nrot, cap = &caprot;
        } else {
            continue; /* state, lock, processor files, anything else */
        }
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            dir_entry *grown = realloc(*list, *cap * sizeof **list);
            if (!grown) {
                ok = false;
                break;
            }
            *list = grown;
        }
        (*list)[*n].name = strdup(e->d_name);
        (*list)[*n].rank = rank;
        ok = (*list)[(*n)++].name != NULL;
    }
    closedir(d);
    if (ok) {
        /* labels sort in time order, so the names do */
        if (nold)
            qsort(old, nold, sizeof *old, by_name);
        if (nrot)
            qsort(rotated, nrot, sizeof *rotated, by_rotation);
        for (size_t i = 0; ok && i < nold; i++)
            ok = push(out, dir, old[i].name);
        if (ok && has_current)
            ok = push(out, dir, "current");
        for (size_t i = 0; ok && i < nrot; i++)
            ok = push(out, dir, rotated[i].name);
    }
    for (size_t i = 0; i < nold; i++)
        free(old[i].name);
    for (size_t i = 0; i < nrot; i++)
        free(rotated[i].name);
    free(old);
    free(rotated);
    if (!ok)
        cli_error("out of memory listing %s", dir);
    else if (nold + nrot == 0 && !has_current)
        cli_error("warning: no log files in %s", dir);
    return ok;
}

bool cli_paths_expand(char **args, int nargs, cli_paths *out, int *errors)
{
    if (nargs == 0) {
        int found = 0;
        for (size_t i = 0; i < sizeof default_dirs / sizeof default_dirs[0]; i++) {
            struct stat st;
            if (stat(default_dirs[i], &st) == 0 && S_ISDIR(st.st_mode)) {
                found++;
                if (!expand_dir(default_dirs[i], out, errors))
                    return false;
            }
        }
        if (!found) {
            cli_error("no log directory found (/var/log/qpsmtpd, /var/log/sqpsmtpd): name the logs to read");
            ++*errors;
        }
        return true;
    }
    for (int i = 0; i < nargs; i++) {
        struct stat st;
        if (strcmp(args[i], "-") != 0 && stat(args[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            if (!expand_dir(args[i], out, errors))
                return false;
        } else if (!push(out, NULL, args[i])) {
            cli_error("out of memory");
            return false;
        }
    }
    return true;
}

static int read_plain(int fd, const char *path, cli_chunk_fn fn, void *ctx, char *buf)
{
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cli_error("cannot read %s: %s", path, strerror(errno));
            return -1;
        }
        if (n == 0)
            return 0;
        if (fn(ctx, buf, (size_t)n) != 0)
            return -1;
    }
}

static int read_gzip(int fd, const char *path, cli_chunk_fn fn, void *ctx, char *buf)
{
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        cli_error("cannot read %s: out of memory", path);
        close(fd);
        return -1;
    }
    gzbuffer(gz, CHUNK);
    int rc = 0;
    for (;;) {
        int n = gzread(gz, buf, CHUNK);
        if (n < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            cli_error("cannot read %s: %s", path, zerr == Z_ERRNO ? strerror(errno) : msg);
            rc = -1;
            break;
        }
        if (n == 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            if (zerr != Z_OK && zerr != Z_STREAM_END) {
                cli_error("cannot read %s: %s", path, msg);
                rc = -1;
            }
            break;
        }
        if (fn(ctx, buf, (size_t)n) != 0) {
            rc = -1;
            break;
        }
    }
    gzclose_r(gz); /* closes fd */
    return rc;
}

int cli_read_file(const char *path, cli_chunk_fn fn, void *ctx)
{
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_error("cannot read %s: is a directory", path);
        if (!is_stdin)
            close(fd);
        return -1;
    }
    char *buf = malloc(CHUNK);
    if (!buf) {
        cli_error("out of memory reading %s", path);
        if (!is_stdin)
            close(fd);
        return -1;
    }
#ifdef POSIX_FADV_SEQUENTIAL
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    /* gzip is recognised by its magic bytes, not by the name; a pipe goes
     * through zlib, which passes plain text through unchanged */
    unsigned char magic[2];
    int rc;
    if (!S_ISREG(st.st_mode) ||
        (pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)) {
        int zfd = is_stdin ? dup(fd) : fd; /* gzclose must not close fd 0 */
        if (zfd < 0) {
            cli_error("cannot read %s: %s", path, strerror(errno));
            rc = -1;
        } else {
            rc = read_gzip(zfd, path, fn, ctx, buf);
        }
        fd = -1;
    } else {
        rc = read_plain(fd, path, fn, ctx, buf);
    }
    free(buf);
    if (fd >= 0 && !is_stdin)
        close(fd);
    return rc;
}
