/*
 * cli.h - shared declarations of the qpstat command-line program (not part
 * of the library). Exit statuses: 0 ok, 1 runtime failure, 2 usage.
 *
 * License: MIT (see README).
 */
#ifndef QPSTAT_CLI_H
#define QPSTAT_CLI_H

#include "qpstat.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* "qpstat: <message>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The current time, or $QPSTAT_NOW (unix seconds) so tests are repeatable. */
int64_t cli_now(void);

/* ---- inputs (cli_input.c) ---- */

typedef struct {
    char **paths;
    size_t n, cap;
} cli_paths;

/* Expands arguments into the files to read, in time order: a multilog
 * directory gives its @*.s/@*.u files in label order, then current; a
 * logrotate directory gives name.log.N[.gz] oldest first, then name.log;
 * "-" stays "-" (stdin). With no arguments the SME defaults are used.
 * Problems are reported on stderr and counted in *errors. */
bool cli_paths_expand(char **args, int nargs, cli_paths *out, int *errors);
void cli_paths_free(cli_paths *paths);

/* Receives the bytes of a file; returns 0 to go on. */
typedef int (*cli_chunk_fn)(void *ctx, const char *buf, size_t len);

/* Streams a file (gzip by content, "-" = stdin) to fn. Returns 0, or -1
 * after reporting the problem on stderr. */
int cli_read_file(const char *path, cli_chunk_fn fn, void *ctx);

/* Aggregates a large regular file with `jobs` threads, each reading one
 * newline-aligned part into its own aggregator, merged into agg. Returns 1
 * when it handled the file, 0 when the file should be read sequentially
 * (small, compressed, not a regular file), -1 after reporting an error. */
int cli_parallel_aggregate(const char *path, qps_agg *agg, const qps_agg_opts *opts, int jobs);

/* ---- time selection (cli_time.c) ---- */

typedef struct {
    int64_t since, until;
    bool has_since, has_until;
    char label[64]; /* the selected dates, for the mail's Subject */
} cli_range;

/* Parses "YYYY-MM-DD[( |T)HH:MM[:SS]][Z|+hh:mm]" (local time unless a zone
 * is given). A date alone given as --until means the end of that day. */
bool cli_parse_when(const char *text, bool is_until, int64_t *out);

/* --today, --yesterday, --days N relative to now (local days). */
void cli_range_days(cli_range *r, int64_t now, int first_day_back, int last_day_back);

/* Writes "YYYY-MM-DD" of a unix time in local time. */
void cli_format_date(int64_t t, char out[11]);

/* ---- the store (cli_import.c) ---- */

/* $QPSTAT_DB, else /var/lib/qpstat/qpstat.db */
const char *cli_default_db(void);
/* Opens the store for reading, or for writing (creating it and its
 * directory); reports failures on stderr and returns NULL. */
qps_store *cli_store_open(const char *path, bool write);
/* Imports one file from where the store left it; adds the number of new
 * records to *added. Returns 0, or -1 after reporting on stderr. */
int cli_import_file(qps_store *store, const char *path, const char *server, uint64_t *added);

/* ---- subcommands ---- */

int cli_report(int argc, char **argv);
int cli_tai64n(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_processor(int argc, char **argv);
int cli_summary(int argc, char **argv);

/* stdout sink for qps_render */
int cli_write_stdout(void *ctx, const char *buf, size_t len);

#endif
