/*
 * logset.c - which files paths stand for, in time order, each file once.
 *
 * Directories are listed here once for every door: multilog's @label.s/.u
 * (labels sort in time order, so names do) then current; logrotate's
 * x.log.N[.gz] oldest first then x.log. Entries are stat()ed, never
 * opened: a FIFO or device in a log directory is skipped, because reading
 * one would block or never end.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

struct qps_logset {
    qps_log_entry *entries;
    size_t n, cap;
    qps_log_note *notes;
    size_t nnotes, capnotes;
    bool have_stdin;
};

qps_logset *qps_logset_new(void)
{
    return calloc(1, sizeof(qps_logset));
}

void qps_logset_free(qps_logset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++) {
        free((char *)set->entries[i].path);
        free((void *)set->entries[i].journal);
    }
    for (size_t i = 0; i < set->nnotes; i++)
        free((char *)set->notes[i].path);
    free(set->entries);
    free(set->notes);
    free(set);
}

size_t qps_logset_count(const qps_logset *set)
{
    return set->n;
}

const qps_log_entry *qps_logset_entry(const qps_logset *set, size_t i)
{
    return i < set->n ? &set->entries[i] : NULL;
}

size_t qps_logset_note_count(const qps_logset *set)
{
    return set->nnotes;
}

const qps_log_note *qps_logset_note(const qps_logset *set, size_t i)
{
    return i < set->nnotes ? &set->notes[i] : NULL;
}

static char *join(const char *dir, const char *name)
{
    size_t dl = dir ? strlen(dir) : 0, nl = strlen(name);
    bool slash = dl && dir[dl - 1] != '/';
    char *path = malloc(dl + slash + nl + 1);
    if (path) {
        if (dl)
            memcpy(path, dir, dl);
        if (slash)
            path[dl] = '/';
        memcpy(path + dl + slash, name, nl + 1);
    }
    return path;
}

/* Makes room for one more element in *array (n used of *cap). */
static bool room_for_one(void **array, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return true;
    size_t grown_cap = *cap ? *cap * 2 : 16;
    void *grown = realloc(*array, grown_cap * size);
    if (!grown)
        return false;
    *array = grown;
    *cap = grown_cap;
    return true;
}

static qps_status note(qps_logset *set, qps_note_kind kind, const char *dir, const char *name, int err)
{
    if (!room_for_one((void **)&set->notes, set->nnotes, &set->capnotes, sizeof *set->notes))
        return QPS_ENOMEM;
    char *path = name ? join(dir, name) : join(NULL, dir);
    if (!path)
        return QPS_ENOMEM;
    qps_log_note *n = &set->notes[set->nnotes++];
    n->kind = kind;
    n->path = path;
    n->err = err;
    return QPS_OK;
}

/* Adds a file unless the same one (device and inode) is in already. */
static qps_status push(qps_logset *set, const char *dir, const char *name, const struct stat *st, bool from_dir)
{
    if (st)
        for (size_t i = 0; i < set->n; i++)
            if (set->entries[i].have_id && set->entries[i].dev == (uint64_t)st->st_dev &&
                set->entries[i].inode == (uint64_t)st->st_ino)
                return QPS_OK;
    if (!room_for_one((void **)&set->entries, set->n, &set->cap, sizeof *set->entries))
        return QPS_ENOMEM;
    char *path = dir ? join(dir, name) : join(NULL, name);
    if (!path)
        return QPS_ENOMEM;
    qps_log_entry *e = &set->entries[set->n++];
    memset(e, 0, sizeof *e);
    e->path = path;
    e->from_dir = from_dir;
    e->is_stdin = !dir && strcmp(name, "-") == 0;
    if (st) {
        e->have_id = 1;
        e->dev = (uint64_t)st->st_dev;
        e->inode = (uint64_t)st->st_ino;
    }
    return QPS_OK;
}

/* multilog's old logs: '@' + 24 hex digits + ".s" or ".u" */
static bool is_multilog_old(const char *name)
{
    size_t len = strlen(name);
    if (len != 27 || name[0] != '@' || name[25] != '.' || (name[26] != 's' && name[26] != 'u'))
        return false;
    for (int i = 1; i < 25; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
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
    errno = 0;
    long n = strtol(rest + 1, &end, 10);
    if (end == rest + 1 || n <= 0 || errno || (*end && strcmp(end, ".gz") != 0) || rest[1] < '0' || rest[1] > '9')
        return -1;
    return n;
}

typedef struct {
    char *name;
    long rank; /* -1: multilog old, 0: current or x.log, N: x.log.N */
    struct stat st;
    bool have_st; /* false: gone, or a dangling link (its open will say) */
} dir_entry;

/* multilog's old logs by name, then current, then logrotate's oldest first */
static int by_order(const void *a, const void *b)
{
    const dir_entry *x = a, *y = b;
    int gx = x->rank < 0 ? 0 : strcmp(x->name, "current") == 0 ? 1 : 2;
    int gy = y->rank < 0 ? 0 : strcmp(y->name, "current") == 0 ? 1 : 2;
    if (gx != gy)
        return gx < gy ? -1 : 1;
    if (gx == 2 && x->rank != y->rank)
        return x->rank > y->rank ? -1 : 1;
    return strcmp(x->name, y->name);
}

static qps_status expand_dir(qps_logset *set, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return note(set, QPS_NOTE_DIR_ERROR, dir, NULL, errno);
    dir_entry *list = NULL;
    size_t n = 0, cap = 0;
    qps_status st = QPS_OK;
    struct dirent *de;
    errno = 0;
    while (st == QPS_OK && (de = readdir(d))) {
        long rank;
        if (strcmp(de->d_name, "current") == 0)
            rank = 0;
        else if (is_multilog_old(de->d_name))
            rank = -1;
        else if ((rank = rotation_number(de->d_name)) < 0)
            continue; /* state, lock, processor files, anything else */
        struct stat sb;
        memset(&sb, 0, sizeof sb);
        /* follows symbolic links: a log may be one; never opens */
        bool have_st = fstatat(dirfd(d), de->d_name, &sb, 0) == 0;
        if (have_st && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
            st = note(set, QPS_NOTE_SKIPPED, dir, de->d_name, 0);
            continue;
        }
        if (!room_for_one((void **)&list, n, &cap, sizeof *list)) {
            st = QPS_ENOMEM;
            break;
        }
        list[n].name = strdup(de->d_name);
        list[n].rank = rank;
        list[n].st = sb;
        list[n].have_st = have_st;
        st = list[n++].name ? QPS_OK : QPS_ENOMEM;
    }
    int read_err = st == QPS_OK && !de ? errno : 0;
    closedir(d);
    if (st == QPS_OK && read_err)
        st = note(set, QPS_NOTE_DIR_ERROR, dir, NULL, read_err);
    if (st == QPS_OK) {
        if (n)
            qsort(list, n, sizeof *list, by_order);
        for (size_t i = 0; st == QPS_OK && i < n; i++)
            st = push(set, dir, list[i].name, list[i].have_st ? &list[i].st : NULL, true);
        if (st == QPS_OK && n == 0 && !read_err)
            st = note(set, QPS_NOTE_EMPTY_DIR, dir, NULL, 0);
    }
    for (size_t i = 0; i < n; i++)
        free(list[i].name);
    free(list);
    return st;
}

qps_status qps_logset_add(qps_logset *set, const char *path)
{
    if (!set || !path)
        return QPS_EINVAL;
    if (strcmp(path, "-") == 0) {
        if (set->have_stdin)
            return QPS_OK;
        set->have_stdin = true;
        return push(set, NULL, path, NULL, false);
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return push(set, NULL, path, NULL, false); /* the reader says why */
    if (S_ISDIR(st.st_mode))
        return expand_dir(set, path);
    return push(set, NULL, path, &st, false);
}

qps_status qps_logset_add_journal(qps_logset *set, const qps_journal_spec *spec)
{
    if (!set || !spec || (spec->units && !spec->nunits) || (spec->nfiles && !spec->files))
        return QPS_EINVAL;
    if (!room_for_one((void **)&set->entries, set->n, &set->cap, sizeof *set->entries))
        return QPS_ENOMEM;
    qps_buf name = {0};
    qps_journal_describe(spec, &name);
    qps_journal_spec *copy = qps_journal_spec_copy(spec);
    if (name.failed || !copy) {
        qps_buf_release(&name);
        free(copy);
        return QPS_ENOMEM;
    }
    qps_log_entry *e = &set->entries[set->n++];
    memset(e, 0, sizeof *e);
    e->path = name.data; /* the buffer's malloc'ed bytes, now the set's */
    e->journal = copy;
    return QPS_OK;
}
