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

static void check_state(outcome *o, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/state", dir);
    struct stat st;
    if (stat(path, &st) == 0)
        return;
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

int cli_check(int argc, char **argv)
{
    static const struct option options[] = {
        {"db", required_argument, NULL, 'd'}, {"fix", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    outcome o = {0, 0, false};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:fh", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (!cli_file_argument("--db", optarg, false))
                return EXIT_USAGE;
            db = optarg;
            break;
        case 'f': o.fix = true; break;
        case 'h':
            fputs("usage: qpstat check [--fix] [--db FILE] [DIR...]\n"
                  "Checks qpsmtpd multilog directories (default /var/log/qpsmtpd, /var/log/sqpsmtpd):\n"
                  "a missing state file (blocks inbound mail at the next rotation), unprocessed .u\n"
                  "files, unreadable logs, and a store that is behind the logs. --fix recreates the\n"
                  "state file and imports what the store lacks, .u files included. Exit 1 while a\n"
                  "problem remains.\n"
                  "\n"
                  "  -d, --db FILE  the store (default $QPSTAT_DB; else /var/lib/qpstat/qpstat.db if it exists)\n"
                  "  -f, --fix      recreate the state file, import what the store lacks\n"
                  "  -h, --help     this help\n",
                  stdout);
            return EXIT_OK;
        default:
            return cli_usage_hint();
        }
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
        if (multilog)
            check_state(&o, dir);
        cli_paths paths = {0};
        int errors = 0;
        char *one[1] = {(char *)dir};
        if (!cli_paths_expand(one, 1, &paths, &errors))
            break;
        for (size_t k = 0; k < paths.n; k++) {
            const char *path = paths.paths[k];
            size_t len = strlen(path);
            bool unprocessed = len > 2 && strcmp(path + len - 2, ".u") == 0;
            if (access(path, R_OK) != 0) {
                problem(&o, dir, "cannot read %s", path,
                        "run qpstat as root or as the log user, or make the file readable");
                continue;
            }
            int64_t length = 0, offset = 0;
            bool behind = false;
            if (store && qps_store_file_status(store, path, &offset, &length) != QPS_OK)
                cli_error("%s", qps_store_error(store));
            else
                behind = store && offset < length;
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
        cli_paths_free(&paths);
    }
    qps_store_close(store);
    int remaining = o.problems - o.fixed;
    if (o.problems == 0)
        printf("OK: no problem found\n");
    else if (remaining <= 0)
        printf("OK: every problem found was fixed\n");
    return remaining > 0 ? EXIT_RUNTIME : EXIT_OK;
}
