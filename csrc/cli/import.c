/*
 * cli_import.c - "qpstat import": logs into the store, idempotent and
 * resumable.
 *
 * The work is the core's (qps_import.c); this is options and messages.
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
#include <unistd.h>


qps_store *cli_store_open(const char *path, bool write)
{
    if (write) {
        /* the default directory may not exist yet */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            struct stat st;
            if (stat(dir, &st) != 0 && errno == ENOENT && mkdir(dir, 0750) != 0 && errno != EEXIST)
                cli_error("cannot create %s: %s", dir, strerror(errno));
        }
    }
    qps_status st;
    char err[512];
    qps_store *store = qps_store_open(path, write ? QPS_STORE_CREATE : QPS_STORE_READONLY, 10000, &st, err,
                                      sizeof err);
    if (!store)
        cli_error("%s: %s", path, err);
    return store;
}

qps_store *cli_store_open_named(const char *path, const char *server)
{
    qps_store *store = cli_store_open(path, true);
    if (store && server && qps_store_created(store) && qps_store_set_server(store, server) != QPS_OK) {
        cli_error("%s: %s", path, qps_store_error(store));
        qps_store_close(store);
        return NULL;
    }
    return store;
}

int cli_import_file(qps_store *store, const char *path, const char *server, uint64_t *added)
{
    if (qps_store_import_file(store, path, server, added) != QPS_OK) {
        cli_error("%s", qps_store_error(store));
        return -1;
    }
    return 0;
}

static const char usage_text[] =
    "usage: qpstat import [--db FILE] [--keep DAYS] [--server NAME] [--set-server NAME] [-v]\n"
    "                     [PATH... | --journal...]\n"
    "Adds the records of qpsmtpd logs to the store. Safe to run again: files are resumed\n"
    "where they were left and no record is stored twice. PATH: as for qpstat report\n"
    "(default /var/log/qpsmtpd and /var/log/sqpsmtpd); not - (stdin cannot be resumed).\n"
    "\n"
    "  -d, --db FILE      the store (default $QPSTAT_DB, else /var/lib/qpstat/qpstat.db)\n"
    "  -k, --keep DAYS    then delete records older than DAYS days, keeping daily totals\n"
    "  -s, --server NAME  the mail server's name for records whose lines name none (and\n"
    "                     the name of a store this import creates)\n"
    "  -S, --set-server NAME  names the store's server NAME, whatever it was (a store\n"
    "                     made before stores kept their server's name, or a copy); without\n"
    "                     PATH it imports nothing\n"
    "  -v, --verbose      the new records of each file, and in all\n"
    CLI_JOURNAL_HELP
    "  -h, --help         this help\n";

int cli_import(int argc, char **argv)
{
    static const struct option options[] = {
        {"keep", required_argument, NULL, 'k'}, CLI_STORE_OPTION, CLI_JOURNAL_OPTIONS, CLI_HELP_OPTION,
        {"server", required_argument, NULL, 's'}, {"set-server", required_argument, NULL, 'S'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    const char *db = cli_default_db(), *server = NULL, *rename = NULL;
    long keep = -1;
    bool verbose = false;
    cli_shared shared = {.usage = usage_text, .db = &db, .journal = true};
    int c, exit_status;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "k:s:S:v", options, &shared, &exit_status)) != -1) {
        switch (c) {
        case 's': server = optarg; break;
        case 'S':
            if (!*optarg)
                return cli_usage("--set-server takes a name, not ''");
            rename = optarg;
            break;
        case 'v': verbose = true; break;
        case 'k':
            if (!cli_number("--keep", optarg, 1, 100000, &keep))
                return EXIT_USAGE;
            break;
        default:
            return cli_usage_hint();
        }
    }
    if (exit_status >= 0)
        return exit_status;
    for (int i = optind; i < argc; i++) {
        if (strcmp(argv[i], "-") == 0) {
            return cli_usage("standard input cannot be resumed: name the files");
        }
    }
    bool journal = cli_journal_chosen();
    if (journal && optind < argc)
        return cli_usage("--journal imports the journal, not log files: drop '%s' (or import it in its own run)",
                         argv[optind]);
    qps_store *store = cli_store_open_named(db, server);
    if (!store)
        return EXIT_RUNTIME;
    if (rename && qps_store_set_server(store, rename) != QPS_OK) {
        cli_error("%s: %s", db, qps_store_error(store));
        qps_store_close(store);
        return EXIT_RUNTIME;
    }
    /* naming the store alone: the default logs are not imported */
    bool name_only = rename && !journal && optind == argc;
    cli_paths paths = {0};
    int errors = 0;
    uint64_t total = 0;
    if (journal) {
        /* the journal's position is its cursor, stored with its records */
        if (cli_import_journal(store, server, &total) != 0)
            errors++;
        if (verbose)
            cli_error("the journal: %llu new records", (unsigned long long)total);
    } else if (!name_only && !cli_paths_expand(argv + optind, argc - optind, &paths, &errors)) {
        qps_store_close(store);
        return EXIT_RUNTIME;
    }
    for (size_t i = 0; i < paths.n; i++) {
        uint64_t added = 0;
        if (cli_import_file(store, paths.paths[i], server, &added) != 0)
            errors++;
        total += added;
        if (verbose)
            cli_error("%s: %llu new records", paths.paths[i], (unsigned long long)added);
    }
    cli_paths_free(&paths);
    if (keep > 0) {
        uint64_t removed;
        if (qps_store_prune(store, cli_now() - keep * 86400, &removed) != QPS_OK) {
            cli_error("%s", qps_store_error(store));
            errors++;
        } else if (verbose) {
            cli_error("pruned %llu records older than %ld days", (unsigned long long)removed, keep);
        }
    }
    if (verbose)
        cli_error("%llu new records in all", (unsigned long long)total);
    qps_store_close(store);
    return errors ? EXIT_RUNTIME : EXIT_OK;
}
