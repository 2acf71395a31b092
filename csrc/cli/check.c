/*
 * cli_check.c - "qpstat check": finds what stops statistics (or mail)
 * in a multilog directory, says what to do, and with --fix repairs what
 * it safely can.
 *
 * A missing state file makes multilog's processor fail at the next
 * rotation, and multilog then retries forever while qpsmtpd blocks on its
 * full log pipe (SME bug 3393). .u files are logs of an unclean stop that
 * no processor ever summarised.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    int problems, fixed;
    bool fix;
} outcome;

static void problem(outcome *o, const char *dir, const char *fmt, const char *arg, const char *advice)
{
    o->problems++;
    printf("PROBLEM %s: ", dir);
    printf(fmt, arg);
    printf("\n    -> %s\n", advice);
}

static bool is_multilog_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool yes = false;
    struct dirent *e;
    while (!yes && (e = readdir(d)))
        yes = strcmp(e->d_name, "current") == 0 || strcmp(e->d_name, "lock") == 0 ||
              (e->d_name[0] == '@' && strlen(e->d_name) == 27);
    closedir(d);
    return yes;
}

/* Writes the state the processor would have left after the rotated logs,
 * next to the state and renamed over it: a rotation meanwhile reads the
 * old one or the new one, never half of one. */
static bool rebuild_state(const char *dir, const char *path, char **rotated, int nrotated)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.qpstat-tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        cli_error("cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    char cur[4096];
    snprintf(cur, sizeof cur, "%s/current", dir);
    struct stat cst;
    /* multilog runs as the log user: the state must be its */
    if (stat(cur, &cst) == 0 && fchown(fd, cst.st_uid, cst.st_gid) != 0)
        cli_error("cannot give %s to the owner of current: %s", tmp, strerror(errno));
    bool ok = cli_state_of_logs(rotated, nrotated, out) == 0;
    if (fclose(out) != 0) {
        cli_error("cannot write %s: %s", tmp, strerror(errno));
        ok = false;
    }
    if (ok && rename(tmp, path) != 0) {
        cli_error("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        ok = false;
    }
    if (!ok)
        unlink(tmp);
    return ok;
}

/* The state file: missing (SME bug 3393), or emptied while rotated logs
 * show that a processor ran (an unclean stop, a full disk): the cumulative
 * totals would silently restart from zero at the next rotation. */
static void check_state(outcome *o, const char *dir, bool processor_ran, char **rotated, int nrotated)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/state", dir);
    struct stat st;
    if (stat(path, &st) == 0) {
        if (st.st_size > 0 || !processor_ran || nrotated == 0)
            return;
        problem(o, dir, "%s is empty although a processor ran: the cumulative totals restart from zero at the "
                        "next rotation",
                path, "rebuild it from the rotated logs: qpstat check --fix does");
        if (o->fix && rebuild_state(dir, path, rotated, nrotated)) {
            printf("FIXED   %s: rebuilt %s from %d rotated logs\n", dir, path, nrotated);
            o->fixed++;
        }
        return;
    }
    problem(o, dir, "%s is missing: at the next rotation multilog's processor fails and inbound mail blocks "
                    "(SME bug 3393)",
            path, "create it empty (touch), owned like current; qpstat check --fix does");
    if (!o->fix)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        cli_error("cannot create %s: %s", path, strerror(errno));
        return;
    }
    char cur[4096];
    snprintf(cur, sizeof cur, "%s/current", dir);
    struct stat cst;
    /* multilog runs as the log user: the state must be its */
    if (stat(cur, &cst) == 0 && fchown(fd, cst.st_uid, cst.st_gid) != 0)
        cli_error("cannot give %s to the owner of current: %s", path, strerror(errno));
    close(fd);
    printf("FIXED   %s: created an empty %s\n", dir, path);
    o->fixed++;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

/* Transactions per UTC day, of the logs or of the store; since < until
 * selects that window. */
static qps_agg *day_agg(int64_t since, int64_t until)
{
    qps_agg_opts opts = {.utc = 1, .dims = QPS_DIM_BIT(QPS_DIM_DAY)};
    if (since < until) {
        opts.since = since;
        opts.until = until;
        opts.has_since = opts.has_until = 1;
    }
    return qps_agg_new(&opts);
}

static uint64_t day_count(const qps_row *rows, size_t n, qps_str day)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].key[0].len == day.len && memcmp(rows[i].key[0].ptr, day.ptr, day.len) == 0)
            return rows[i].count;
    return 0;
}

/* The time every log directory checked covers: a store may hold what
 * older, rotated-away logs had, and the plugin's records of the last
 * seconds before their lines are logged. The directories rotate at their
 * own pace (sqpsmtpd's files last longer than qpsmtpd's), so the window
 * is where they all have logs. */
typedef struct {
    int64_t since, until; /* [since, until) */
    bool any;
    cli_paths logs;       /* every log read, to count the window in */
} logs_window;

/* The records of the plugin's last seconds, and a rotated-away file's
 * last second, are kept out of the window. */
#define WINDOW_MARGIN_S 60

static void window_add_dir(logs_window *w, qps_agg *dir_logs)
{
    qps_counts c;
    qps_agg_counts(dir_logs, &c);
    if (!c.first)
        return; /* no timed record: says nothing about the time covered */
    int64_t since = c.first + WINDOW_MARGIN_S, until = c.last - WINDOW_MARGIN_S;
    if (!w->any || since > w->since)
        w->since = since;
    if (!w->any || until < w->until)
        w->until = until;
    w->any = true;
}

/* The readable logs of a directory move into the window's list. */
static bool window_keep_logs(logs_window *w, cli_paths *dir, const bool *readable)
{
    char **p = realloc(w->logs.paths, (w->logs.n + dir->n + 1) * sizeof *p);
    if (!p)
        return false;
    w->logs.paths = p;
    w->logs.cap = w->logs.n + dir->n + 1;
    for (size_t k = 0; k < dir->n; k++) {
        if (readable[k]) {
            p[w->logs.n++] = dir->paths[k];
            dir->paths[k] = NULL;
        }
    }
    return true;
}

/* A store that holds more than the logs doubled records (or holds logs
 * not checked here): the transactions of each UTC day inside the window
 * are compared. */
static void check_ahead(outcome *o, qps_store *store, const char *db, const logs_window *w)
{
    if (!w->any || w->since >= w->until)
        return; /* the logs cover too little time to compare */
    qps_agg *logs = day_agg(w->since, w->until), *stored = day_agg(w->since, w->until);
    qps_reader *reader = qps_reader_new();
    qps_row *lr = NULL, *sr = NULL;
    size_t ln = 0, sn = 0;
    bool read = logs && stored && reader;
    for (size_t k = 0; read && k < w->logs.n; k++) {
        if (qps_reader_open(reader, w->logs.paths[k], QPS_READ_REGULAR) == QPS_OK) {
            qps_agg_read(logs, reader);
            qps_reader_close(reader);
        }
    }
    if (!read || qps_store_aggregate(store, stored) != QPS_OK || qps_agg_rows(logs, QPS_DIM_DAY, &lr, &ln) != QPS_OK ||
        qps_agg_rows(stored, QPS_DIM_DAY, &sr, &sn) != QPS_OK) {
        cli_error("%s: cannot compare the store with the logs: %s", db, qps_store_error(store));
        o->problems++;
    } else {
        /* a day the store has and the logs have not is ahead too */
        for (size_t i = 0; i < sn; i++) {
            uint64_t logged = day_count(lr, ln, sr[i].key[0]);
            if (sr[i].count <= logged)
                continue;
            char what[256];
            snprintf(what, sizeof what, "%.*s: the store holds %llu transactions where the logs hold %llu",
                     (int)sr[i].key[0].len, sr[i].key[0].ptr, (unsigned long long)sr[i].count,
                     (unsigned long long)logged);
            problem(o, db, "the store is ahead of the logs (records stored twice, or logs not checked here) on %s",
                    what,
                    "rebuild it from the logs (the plugin's records are in them too): stop the writers, "
                    "mv the store aside, qpstat import --db FILE with every log directory; --fix does not");
        }
    }
    qps_free(lr);
    qps_free(sr);
    qps_reader_free(reader);
    qps_agg_free(logs);
    qps_agg_free(stored);
}

/* check --journal: the store against the journal's entries of the
 * units: behind (entries after its position), a gap (entries vacuumed
 * before they were imported). */
static int check_journal(const char *db, outcome *o)
{
    if (!db)
        db = cli_db_env();
    if (!db)
        db = cli_default_db();
    qps_store *store = cli_store_open(db, o->fix);
    if (!store)
        return EXIT_RUNTIME;
    qps_journal_spec spec;
    cli_journal_spec(&spec);
    uint64_t pending = 0;
    int gap = 0;
    char note[320];
    const char *what = "the journal";
    if (qps_store_journal_status(store, &spec, &pending, &gap, note, sizeof note) != QPS_OK) {
        problem(o, what, "%s", qps_store_error(store), "check the journal options and the journal's files");
    } else {
        if (gap)
            problem(o, what, "%s", note,
                    "import more often (qpstat collect --journal), or keep the journal longer (SystemMaxUse=)");
        if (pending) {
            char n[64];
            snprintf(n, sizeof n, "%llu", (unsigned long long)pending);
            problem(o, what, "the store is behind: %s lines of the units' entries are not imported", n,
                    "qpstat import --journal (or run qpstat collect --journal); qpstat check --fix imports them");
            uint64_t added = 0;
            if (o->fix && cli_import_journal(store, NULL, &added) == 0) {
                printf("FIXED   %s: imported (%llu new records)\n", what, (unsigned long long)added);
                o->fixed++;
            }
        }
        if (gap && o->fix)
            o->fixed++; /* the import moved past it: reported once */
    }
    qps_store_close(store);
    int remaining = o->problems - o->fixed;
    if (o->problems == 0)
        printf("OK: no problem found\n");
    else if (remaining <= 0)
        printf("OK: every problem found was fixed\n");
    return remaining > 0 ? EXIT_RUNTIME : EXIT_OK;
}

static const char usage_text[] =
    "usage: qpstat check [--fix] [--db FILE] [DIR... | --journal...]\n"
    "Checks qpsmtpd multilog directories (default /var/log/qpsmtpd, /var/log/sqpsmtpd):\n"
    "a missing or emptied state file (blocks inbound mail at the next rotation; restarts\n"
    "the cumulative totals), unprocessed .u files, unreadable logs, a store behind the\n"
    "logs (current is not, when multilog's processor imports it), and a store ahead of\n"
    "them (records stored twice). --fix recreates or rebuilds the state file and imports\n"
    "what the store lacks, .u files included; it never deletes. Exit 1 while a problem\n"
    "remains.\n"
    "\n"
    "  -d, --db FILE  the store (default $QPSTAT_DB; else /var/lib/qpstat/qpstat.db if it exists)\n"
    "  -f, --fix      recreate the state file, import what the store lacks\n"
    CLI_JOURNAL_HELP
    "  -h, --help     this help\n";

int cli_check(int argc, char **argv)
{
    static const struct option options[] = {
        {"fix", no_argument, NULL, 'f'}, CLI_STORE_OPTION, CLI_JOURNAL_OPTIONS, CLI_HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    outcome o = {0, 0, false};
    cli_shared shared = {.usage = usage_text, .db = &db, .journal = true};
    int c, exit_status;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "f", options, &shared, &exit_status)) != -1) {
        switch (c) {
        case 'f': o.fix = true; break;
        default:
            return cli_usage_hint();
        }
    }
    if (exit_status >= 0)
        return exit_status;
    if (cli_journal_chosen()) {
        if (optind < argc)
            return cli_usage("--journal checks the journal, not log directories: drop '%s'", argv[optind]);
        return check_journal(db, &o);
    }
    char *defaults[] = {"/var/log/qpsmtpd", "/var/log/sqpsmtpd"};
    char **dirs = argv + optind;
    int ndirs = argc - optind;
    if (ndirs == 0) {
        dirs = defaults;
        ndirs = 2;
    }
    /* the store is checked when named (--db, QPSTAT_DB) or when the default one exists */
    if (!db)
        db = cli_db_env();
    if (!db && access(cli_default_db(), F_OK) == 0)
        db = cli_default_db();
    qps_store *store = NULL;
    if (db && !(store = cli_store_open(db, o.fix)))
        o.problems++;
    /* the time the logs cover, to find a store ahead of them */
    logs_window window = {0};
    qps_reader *reader = store ? qps_reader_new() : NULL;
    for (int i = 0; i < ndirs; i++) {
        const char *dir = dirs[i];
        struct stat st;
        if (stat(dir, &st) != 0) {
            if (ndirs == 2 && dirs == defaults)
                continue; /* a default that this host does not have */
            problem(&o, dir, "%s", strerror(errno), "name an existing log directory");
            continue;
        }
        DIR *d = opendir(dir);
        if (!d) {
            problem(&o, dir, "cannot read it: %s", strerror(errno),
                    "run qpstat as root or as the log user, or make the directory readable");
            continue;
        }
        closedir(d);
        bool multilog = is_multilog_dir(dir);
        cli_paths paths = {0};
        int errors = 0;
        char *one[1] = {(char *)dir};
        if (!cli_paths_expand(one, 1, &paths, &errors))
            break;
        qps_file_status *fs = calloc(paths.n + 1, sizeof *fs);
        bool *readable = calloc(paths.n + 1, sizeof *readable);
        char **rotated = calloc(paths.n + 1, sizeof *rotated);
        int nrotated = 0;
        bool any_u = false, processor_feeds = false;
        qps_agg *dir_logs = reader ? day_agg(0, 0) : NULL;
        if (!fs || !readable || !rotated || (reader && !dir_logs)) {
            qps_agg_free(dir_logs);
            cli_error("out of memory");
            free(fs);
            free(readable);
            free(rotated);
            cli_paths_free(&paths);
            break;
        }
        for (size_t k = 0; k < paths.n; k++) {
            const char *path = paths.paths[k];
            if (access(path, R_OK) != 0)
                continue;
            readable[k] = true;
            if (store && qps_store_file_check(store, path, &fs[k]) != QPS_OK) {
                cli_error("%s", qps_store_error(store));
                readable[k] = false;
            }
            if (ends_with(path, ".s")) {
                rotated[nrotated++] = paths.paths[k];
                /* the newest rotated file says who feeds the store */
                processor_feeds = fs[k].processor;
            }
            any_u |= ends_with(path, ".u");
            if (dir_logs && readable[k] && qps_reader_open(reader, path, QPS_READ_REGULAR) == QPS_OK) {
                qps_agg_read(dir_logs, reader);
                qps_reader_close(reader);
            }
        }
        if (dir_logs) {
            window_add_dir(&window, dir_logs);
            qps_agg_free(dir_logs);
        }
        if (multilog)
            check_state(&o, dir, processor_feeds || any_u, rotated, nrotated);
        for (size_t k = 0; k < paths.n; k++) {
            const char *path = paths.paths[k];
            bool unprocessed = ends_with(path, ".u");
            if (access(path, R_OK) != 0) {
                problem(&o, dir, "cannot read %s", path,
                        "run qpstat as root or as the log user, or make the file readable");
                continue;
            }
            bool behind = store && readable[k] && fs[k].imported < fs[k].length;
            if (behind && multilog && processor_feeds && ends_with(path, "/current")) {
                /* the README's processor-only set-up: current goes to the
                 * store when multilog rotates it */
                printf("NOTE    %s: %s goes to the store at the next rotation (multilog's processor imports "
                       "it)\n",
                       dir, path);
                continue;
            }
            if (unprocessed && (!store || behind))
                problem(&o, dir, "%s is unprocessed (an unclean stop): its mail is in no qplogsumm summary", path,
                        store ? "import it: qpstat check --fix, or qpstat import" : "import it: qpstat import --db FILE");
            else if (behind)
                problem(&o, dir, "the store is behind: %s is not fully imported", path,
                        "qpstat import (or run qpstat collect); qpstat check --fix imports it");
            if (behind && o.fix && store) {
                uint64_t added = 0;
                if (cli_import_file(store, path, NULL, &added) == 0) {
                    printf("FIXED   %s: imported %s (%llu new records)\n", dir, path, (unsigned long long)added);
                    o.fixed++;
                }
            }
        }
        if (errors)
            o.problems += errors;
        if (reader && !window_keep_logs(&window, &paths, readable))
            cli_error("out of memory");
        free(fs);
        free(readable);
        free(rotated);
        cli_paths_free(&paths);
    }
    if (store && reader)
        check_ahead(&o, store, db, &window);
    qps_reader_free(reader);
    cli_paths_free(&window.logs);
    qps_store_close(store);
    int remaining = o.problems - o.fixed;
    if (o.problems == 0)
        printf("OK: no problem found\n");
    else if (remaining <= 0)
        printf("OK: every problem found was fixed\n");
    return remaining > 0 ? EXIT_RUNTIME : EXIT_OK;
}
