/*
 * cli_collect.c - "qpstat collect": keeps the store up to date with
 * multilog directories as they grow and rotate.
 *
 * Each pass is an import of the directory (idempotent and resumable), so
 * following current across a rotation needs no special case: the rotated
 * file keeps its first line, hence its identity and offset, and the new
 * current is a new file. A restart after any kill resumes with no gap and
 * no duplicate. Passes are triggered by inotify, or by a one-second poll
 * where inotify is missing.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Files whose size and mtime have not changed since they were imported
 * need no new pass (a .gz would otherwise be decompressed every time). */
typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} seen_file;

typedef struct {
    seen_file *files;
    size_t n, cap;
} seen_set;

static bool unchanged(seen_set *set, const struct stat *st)
{
    for (size_t i = 0; i < set->n; i++) {
        seen_file *f = &set->files[i];
        if (f->dev == st->st_dev && f->ino == st->st_ino)
            return f->size == st->st_size && f->mtime.tv_sec == st->st_mtim.tv_sec &&
                   f->mtime.tv_nsec == st->st_mtim.tv_nsec;
    }
    return false;
}

static void remember(seen_set *set, const struct stat *st)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->files[i].dev == st->st_dev && set->files[i].ino == st->st_ino) {
            set->files[i].size = st->st_size;
            set->files[i].mtime = st->st_mtim;
            return;
        }
    }
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        seen_file *f = realloc(set->files, cap * sizeof *f);
        if (!f)
            return; /* only an optimisation */
        set->files = f;
        set->cap = cap;
    }
    set->files[set->n++] = (seen_file){st->st_dev, st->st_ino, st->st_size, st->st_mtim};
}

/* One import pass over the directories; returns the number of errors. */
static int import_round(qps_store *store, char **dirs, int ndirs, seen_set *seen, const char *server, bool verbose)
{
    cli_paths paths = {0};
    int errors = 0;
    if (!cli_paths_expand(dirs, ndirs, &paths, &errors))
        return errors + 1;
    for (size_t i = 0; i < paths.n && !stop_requested; i++) {
        struct stat st;
        if (stat(paths.paths[i], &st) != 0 || unchanged(seen, &st))
            continue;
        uint64_t added = 0;
        if (cli_import_file(store, paths.paths[i], server, &added) != 0) {
            errors++;
            continue;
        }
        remember(seen, &st);
        if (verbose && added)
            cli_error("%s: %llu new records", paths.paths[i], (unsigned long long)added);
    }
    cli_paths_free(&paths);
    return errors;
}

/* collect --journal: an import, then a wait on the journal
 * (sd_journal_wait through a reader kept at the journal's end: no
 * polling), and again, until SIGTERM or SIGINT. */
static int collect_journal(const char *db, const char *server, bool once, bool verbose)
{
    qps_store *store = cli_store_open_named(db, server);
    if (!store)
        return EXIT_RUNTIME;
    struct sigaction sa = {0};
    sa.sa_handler = on_stop; /* no SA_RESTART: the wait ends on the signal */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    qps_logset *set = qps_logset_new();
    qps_reader *waiter = qps_reader_new();
    qps_journal_spec spec;
    cli_journal_spec(&spec);
    int rc = EXIT_OK;
    if (!set || !waiter || qps_logset_add_journal(set, &spec) != QPS_OK) {
        cli_error("out of memory");
        rc = EXIT_RUNTIME;
    } else if (!once && qps_reader_open_entry(waiter, qps_logset_entry(set, 0)) != QPS_OK) {
        cli_read_error(qps_logset_entry(set, 0)->path, waiter, QPS_EREAD, true);
        rc = EXIT_RUNTIME;
    }
    const char *chunk;
    size_t len;
    while (rc == EXIT_OK && !stop_requested) {
        uint64_t added = 0;
        if (cli_import_journal(store, server, &added) != 0 && once)
            rc = EXIT_RUNTIME;
        if (verbose && added)
            cli_error("the journal: %llu new records", (unsigned long long)added);
        if (once)
            break;
        /* the waiter reads to the end of what is there, then waits for more */
        while (qps_reader_read(waiter, &chunk, &len) == QPS_OK && len)
            ;
        if (!stop_requested)
            qps_reader_journal_wait(waiter, 5000000);
    }
    qps_reader_free(waiter);
    qps_logset_free(set);
    qps_store_close(store);
    return rc;
}

static const char usage_text[] =
    "usage: qpstat collect [--db FILE] [--server NAME] [--poll] [--once] [-v] DIR... | --journal...\n"
    "Imports multilog directories into the store and keeps following them: new lines in\n"
    "current, rotations, .u files after a crash. Stops cleanly on SIGTERM or SIGINT; a\n"
    "restart resumes where it stopped.\n"
    "\n"
    "  -d, --db FILE      the store (default $QPSTAT_DB, else /var/lib/qpstat/qpstat.db)\n"
    "  -s, --server NAME  the mail server's name for records whose lines name none (and\n"
    "                     the name of a store this import creates)\n"
    "  --poll             poll every second instead of using inotify\n"
    "  --once             one import pass, then exit (1 if a file failed)\n"
    "  -v, --verbose      the new records of each file\n"
    CLI_JOURNAL_HELP
    "  -h, --help         this help\n";

int cli_collect(int argc, char **argv)
{
    static const struct option options[] = {
        {"server", required_argument, NULL, 's'}, CLI_STORE_OPTION, CLI_JOURNAL_OPTIONS, CLI_HELP_OPTION,
        {"once", no_argument, NULL, '1'},         {"poll", no_argument, NULL, 'p'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    const char *db = cli_default_db(), *server = NULL;
    bool once = false, force_poll = false, verbose = false;
    cli_shared shared = {.usage = usage_text, .db = &db, .journal = true};
    int c, exit_status;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "s:v", options, &shared, &exit_status)) != -1) {
        switch (c) {
        case 's': server = optarg; break;
        case '1': once = true; break;
        case 'p': force_poll = true; break;
        case 'v': verbose = true; break;
        default:
            return cli_usage_hint();
        }
    }
    if (exit_status >= 0)
        return exit_status;
    if (cli_journal_chosen()) {
        if (optind < argc)
            return cli_usage("--journal follows the journal, not log directories: drop '%s'", argv[optind]);
        return collect_journal(db, server, once, verbose);
    }
    if (optind == argc) {
        return cli_usage("name the log directories to follow");
    }
    for (int i = optind; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            cli_error("%s is not a directory", argv[i]);
            return EXIT_RUNTIME;
        }
    }
    qps_store *store = cli_store_open_named(db, server);
    if (!store)
        return EXIT_RUNTIME;
    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int fd = force_poll ? -1 : inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    for (int i = optind; fd >= 0 && i < argc; i++)
        if (inotify_add_watch(fd, argv[i], IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB) < 0) {
            close(fd);
            fd = -1;
        }
    if (!force_poll && fd < 0 && verbose)
        cli_error("inotify unavailable, polling every second");

    seen_set seen = {0};
    int errors = 0;
    while (!stop_requested) {
        errors = import_round(store, argv + optind, argc - optind, &seen, server, verbose);
        if (once)
            break;
        /* wait for a change, at most a second (also a safety net for
         * events inotify cannot report, e.g. on network file systems) */
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(fd >= 0 ? &pfd : NULL, fd >= 0 ? 1 : 0, 1000);
        if (r > 0) {
            char buf[4096];
            while (read(fd, buf, sizeof buf) > 0)
                ;
            /* let a burst of writes settle into one pass */
            poll(NULL, 0, 50);
        }
    }
    if (fd >= 0)
        close(fd);
    free(seen.files);
    qps_store_close(store);
    return errors && once ? EXIT_RUNTIME : EXIT_OK;
}
