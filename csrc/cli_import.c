/*
 * cli_import.c - "qpstat import": logs into the store, idempotent and
 * resumable.
 *
 * A file is known by the hash of its first line (its inode is recorded
 * too), so multilog renaming current to @label.s does not make it new.
 * Records and the file's new offset are committed together every batch, so
 * a kill at any point resumes after the last committed line: nothing is
 * lost and, with the store's own dedup, nothing is doubled. A last line
 * without its newline is left for the next run.
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
#include <zlib.h>

#define BATCH_LINES 5000
#define CHUNK (1 << 20)

const char *cli_default_db(void)
{
    const char *env = getenv("QPSTAT_DB");
    return env && *env ? env : "/var/lib/qpstat/qpstat.db";
}

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

/* The first line of a file, hashed; false when it has no complete line. */
static bool file_identity(gzFile gz, const char *path, qps_file_id *id, char *buf)
{
    int n = gzread(gz, buf, CHUNK);
    if (n <= 0)
        return false;
    char *nl = memchr(buf, '\n', (size_t)n);
    if (!nl)
        return false;
    id->head_hash = qps_hash_bytes(buf, (size_t)(nl - buf));
    struct stat st;
    id->inode = stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
    return true;
}

typedef struct {
    qps_store *store;
    qps_parser *parser;
    const char *server;
    uint64_t added, lines;
} importer;

static int commit_progress(importer *im, const qps_file_id *id, const char *path, int64_t offset, uint64_t read,
                           uint64_t invalid)
{
    if (qps_store_file_progress(im->store, id, path, offset, read, invalid) != QPS_OK ||
        qps_store_commit(im->store) != QPS_OK) {
        cli_error("%s", qps_store_error(im->store));
        return -1;
    }
    return 0;
}

int cli_import_file(qps_store *store, const char *path, const char *server, uint64_t *added_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    gzFile gz = gzdopen(fd, "rb");
    char *buf = malloc(CHUNK), *carry = NULL;
    if (!gz || !buf) {
        cli_error("out of memory reading %s", path);
        if (gz)
            gzclose_r(gz);
        else
            close(fd);
        free(buf);
        return -1;
    }
    gzbuffer(gz, CHUNK);
    qps_file_id id;
    int rc = 0;
    if (!file_identity(gz, path, &id, buf))
        goto out; /* empty, or its first line is still being written */
    int64_t offset;
    if (qps_store_file_offset(store, &id, &offset) != QPS_OK) {
        cli_error("%s", qps_store_error(store));
        rc = -1;
        goto out;
    }
    if (gzrewind(gz) != 0 || (offset > 0 && gzseek(gz, (z_off_t)offset, SEEK_SET) != (z_off_t)offset)) {
        /* shorter than what was imported: a different file after all */
        gzrewind(gz);
        offset = 0;
    }
    importer im = {store, qps_parser_new(NULL), server, 0, 0};
    if (!im.parser) {
        rc = -1;
        goto out;
    }
    size_t carry_len = 0, carry_cap = 0;
    uint64_t read = 0, invalid = 0, in_batch = 0;
    int64_t pos = offset; /* offset of the first byte not yet consumed */
    if (qps_store_begin(store) != QPS_OK) {
        cli_error("%s", qps_store_error(store));
        qps_parser_free(im.parser);
        rc = -1;
        goto out;
    }
    for (;;) {
        int n = gzread(gz, buf, CHUNK);
        if (n < 0) {
            int zerr;
            cli_error("cannot read %s: %s", path, gzerror(gz, &zerr));
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        const char *p = buf, *end = buf + n;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl) {
                size_t rest = (size_t)(end - p);
                if (carry_len + rest > carry_cap) {
                    size_t cap = (carry_len + rest) * 2;
                    char *c = realloc(carry, cap);
                    if (!c) {
                        rc = -1;
                        break;
                    }
                    carry = c;
                    carry_cap = cap;
                }
                memcpy(carry + carry_len, p, rest);
                carry_len += rest;
                break;
            }
            const char *line = p;
            size_t len = (size_t)(nl - p);
            if (carry_len) {
                /* the line began in the previous chunk */
                if (carry_len + len > carry_cap) {
                    size_t cap = carry_len + len + 1;
                    char *c = realloc(carry, cap);
                    if (!c) {
                        rc = -1;
                        break;
                    }
                    carry = c;
                    carry_cap = cap;
                }
                memcpy(carry + carry_len, p, len);
                line = carry;
                len += carry_len;
            }
            qps_record rec;
            qps_parser_parse(im.parser, line, len, &rec);
            read++;
            if (rec.kind == QPS_KIND_INVALID)
                invalid++;
            int added = 0;
            if (qps_store_add(store, &rec, line, len, server, 0, 0, QPS_SOURCE_IMPORT, &added) != QPS_OK) {
                cli_error("%s: %s", path, qps_store_error(store));
                rc = -1;
                break;
            }
            im.added += (uint64_t)added;
            pos += (int64_t)len + 1;
            carry_len = 0;
            p = nl + 1;
            if (++in_batch == BATCH_LINES) {
                if (commit_progress(&im, &id, path, pos, read, invalid) != 0 || qps_store_begin(store) != QPS_OK) {
                    rc = -1;
                    break;
                }
                read = invalid = in_batch = 0;
            }
        }
        if (rc)
            break;
    }
    if (rc == 0) {
        if (commit_progress(&im, &id, path, pos, read, invalid) != 0)
            rc = -1;
    } else {
        qps_store_rollback(store);
    }
    qps_parser_free(im.parser);
    if (added_out)
        *added_out += im.added;
out:
    free(buf);
    free(carry);
    gzclose_r(gz);
    return rc;
}

int cli_import(int argc, char **argv)
{
    static const struct option options[] = {
        {"db", required_argument, NULL, 'd'}, {"keep", required_argument, NULL, 'k'},
        {"server", required_argument, NULL, 's'}, {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *db = cli_default_db(), *server = NULL;
    long keep = -1;
    bool verbose = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:k:s:vh", options, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 's': server = optarg; break;
        case 'v': verbose = true; break;
        case 'k': {
            char *end;
            keep = strtol(optarg, &end, 10);
            if (*end || keep < 1 || keep > 100000) {
                fprintf(stderr, "qpstat import: --keep takes a number of days, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        }
        case 'h':
            fputs("usage: qpstat import [--db FILE] [--keep DAYS] [--server NAME] [-v] [PATH...]\n"
                  "Adds the records of qpsmtpd logs to the store (default /var/lib/qpstat/qpstat.db or\n"
                  "$QPSTAT_DB). Safe to run again: files are resumed where they were left and no\n"
                  "record is stored twice. --keep DAYS deletes older records, keeping daily totals.\n",
                  stdout);
            return EXIT_OK;
        default:
            fputs("Try 'qpstat import --help'.\n", stderr);
            return EXIT_USAGE;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (strcmp(argv[i], "-") == 0) {
            fputs("qpstat import: standard input cannot be resumed: name the files\n", stderr);
            return EXIT_USAGE;
        }
    }
    qps_store *store = cli_store_open(db, true);
    if (!store)
        return EXIT_RUNTIME;
    cli_paths paths = {0};
    int errors = 0;
    if (!cli_paths_expand(argv + optind, argc - optind, &paths, &errors)) {
        qps_store_close(store);
        return EXIT_RUNTIME;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < paths.n; i++) {
        uint64_t added = 0;
        if (cli_import_file(store, paths.paths[i], server, &added) != 0)
            errors++;
        total += added;
        if (verbose)
            fprintf(stderr, "qpstat import: %s: %llu new records\n", paths.paths[i], (unsigned long long)added);
    }
    cli_paths_free(&paths);
    if (keep > 0) {
        uint64_t removed;
        if (qps_store_prune(store, cli_now() - keep * 86400, &removed) != QPS_OK) {
            cli_error("%s", qps_store_error(store));
            errors++;
        } else if (verbose) {
            fprintf(stderr, "qpstat import: pruned %llu records older than %ld days\n", (unsigned long long)removed,
                    keep);
        }
    }
    if (verbose)
        fprintf(stderr, "qpstat import: %llu new records in all\n", (unsigned long long)total);
    qps_store_close(store);
    return errors ? EXIT_RUNTIME : EXIT_OK;
}
