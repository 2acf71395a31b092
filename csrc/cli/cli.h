/*
 * cli.h - shared declarations of the qpstat command-line program (not part
 * of the library). Exit statuses: 0 ok, 1 runtime failure, 2 usage.
 *
 * License: MIT (see README).
 */
#ifndef QPSTAT_CLI_H
#define QPSTAT_CLI_H

#include "qpstat.h"
#include <getopt.h>

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* ---- one voice (opts.c) ---- */

/* Names the running command ("report") in every message; main calls it
 * once. Without it, messages say "qpstat: ". */
void cli_set_command(const char *name);
/* "qpstat COMMAND: <message>" on stderr: a runtime problem (exit 1). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, then "Try 'qpstat COMMAND --help'."; returns EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The hint line alone (after getopt's own message); returns EXIT_USAGE. */
int cli_usage_hint(void);

/* The one number parser of every option: a whole decimal number (no sign,
 * no blanks) from min to max. On a bad text it prints the usage error
 * naming `option` ("--top") and the range, and returns false. */
bool cli_number(const char *option, const char *text, long min, long max, long *out);
/* The same rule without a message (for callers that report elsewhere,
 * such as serve's HTTP parameters). */
bool cli_whole_number(const char *text, long min, long max, long *out);
/* A FILE argument of `option` (--db): refuses "" and "-", and a word that
 * starts with '-' (getopt took the next option as the argument, as in
 * "--db --by x"). Prints the usage error unless quiet; returns false. */
bool cli_file_argument(const char *option, const char *arg, bool quiet);
/* --prefix: refuses an empty prefix (usage error printed). */
bool cli_prefix_argument(const char *arg);

/* ---- the options several commands share (shared.c) ----
 *
 * A command lists the groups it takes in its struct option table
 * (CLI_TIME_OPTIONS, CLI_JOURNAL_OPTIONS, CLI_PREFIX_OPTION, ...), points
 * a cli_shared at its variables, and reads its options with cli_getopt,
 * which takes those groups, --help and getopt's complaints itself. */
enum { CLI_OPT_PREFIX = 0x1200, CLI_OPT_CATEGORIES, CLI_OPT_DB };
#define CLI_TIME_OPTIONS                                                                                       \
    {"today", no_argument, NULL, CLI_OPT_TODAY}, {"yesterday", no_argument, NULL, CLI_OPT_YESTERDAY},         \
        {"days", required_argument, NULL, CLI_OPT_DAYS}, {"since", required_argument, NULL, CLI_OPT_SINCE},  \
        {"until", required_argument, NULL, CLI_OPT_UNTIL}
#define CLI_JOURNAL_OPTIONS                                                                                    \
    {"journal", no_argument, NULL, CLI_OPT_JOURNAL}, {"journal-file", required_argument, NULL, CLI_OPT_JOURNAL_FILE}, \
        {"journal-dir", required_argument, NULL, CLI_OPT_JOURNAL_DIR}, {"unit", required_argument, NULL, CLI_OPT_UNIT}
#define CLI_PREFIX_OPTION {"prefix", required_argument, NULL, CLI_OPT_PREFIX}
#define CLI_CATEGORIES_OPTION {"categories", required_argument, NULL, CLI_OPT_CATEGORIES}
/* --db FILE of a command that reads several stores (cli_shared.stores) */
#define CLI_STORES_OPTION {"db", required_argument, NULL, CLI_OPT_DB}
/* -d, --db FILE of a command that writes or checks one store (cli_shared.db) */
#define CLI_STORE_OPTION {"db", required_argument, NULL, 'd'}
#define CLI_HELP_OPTION {"help", no_argument, NULL, 'h'}

typedef struct cli_stores cli_stores;
typedef struct {
    const char *usage;       /* what -h, --help prints */
    qps_range *range;        /* the time options, unless NULL; finished
                                against now (cli_range_done) after the last
                                option, with mail_default when it points
                                at true */
    int64_t now;
    const bool *mail_default;
    const char **prefix;     /* --prefix */
    const char **categories; /* --categories FILE */
    cli_stores *stores;      /* --db FILE, repeatable */
    const char **db;         /* -d, --db FILE: the one store */
    bool journal;            /* the journal options */
} cli_shared;

/* getopt_long (set optind = 1 before the first call) that takes the
 * options of s's groups itself: returns the command's next own option, or
 * -1 when the options end (the range finished, the journal's options
 * checked; *exit_status stays -1) or the command exits now
 * (*exit_status: EXIT_OK after --help, EXIT_USAGE after a message; an
 * unknown option or a missing argument is such a message, escaped as all
 * messages are, so getopt never prints). */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts, const cli_shared *s,
               int *exit_status);

/* The current time, or $QPSTAT_NOW (unix seconds) so tests are repeatable. */
int64_t cli_now(void);

/* ---- inputs (input.c): the core's qps_logset and qps_reader, with messages ---- */

/* The logs that arguments stand for (qps_logset_add), or with no arguments
 * the SME default directories. Notes are printed on stderr (skipped FIFOs
 * and devices as warnings); errors are counted in *errors. NULL (after a
 * message) when out of memory. */
qps_logset *cli_logs_expand(char **args, int nargs, int *errors);

/* ---- the journal as a source (journal.c) ---- */

/* --journal, --journal-file FILE, --journal-dir DIR, --unit U: every
 * reading command's struct option table lists them with these values and
 * passes them to cli_journal_option() (0, or EXIT_USAGE after a message);
 * cli_journal_done() after the options (EXIT_USAGE, or EXIT_RUNTIME when
 * built without journal support). Then cli_logs_expand() adds the journal
 * (and the PATHs given beside it). */
enum { CLI_OPT_JOURNAL = 0x1100, CLI_OPT_JOURNAL_FILE, CLI_OPT_JOURNAL_DIR, CLI_OPT_UNIT };
#define CLI_JOURNAL_HELP                                                                                        \
    "  --journal          read the systemd journal (entries of --unit; see also QPSTAT_JOURNAL_DIR)\n"        \
    "  --journal-file FILE  read a journal file (repeatable), e.g. one copied from elsewhere\n"               \
    "  --journal-dir DIR  read the journal files in DIR\n"                                                      \
    "  --unit U           the unit to read (repeatable; default qpsmtpd, uqpsmtpd, sqpsmtpd)\n"
int cli_journal_option(int opt, const char *arg);
int cli_journal_done(void);
/* Whether a journal option was given. */
bool cli_journal_chosen(void);
/* The journal the options name (pointers into argv; the journal directory
 * is $QPSTAT_JOURNAL_DIR when neither a file nor a directory is given). */
void cli_journal_spec(qps_journal_spec *spec);
/* Adds the journal to set when it holds entries of the units, saying so
 * ("WHY: reading the journal (units ...)"); false when it does not. */
bool cli_journal_fallback(qps_logset *set, const char *why);
/* Prints what a journal source noticed (qps_reader_note) as a warning;
 * call it before closing the reader. */
void cli_reader_note(const qps_log_entry *entry, const qps_reader *reader);
/* Imports the journal the options name (qps_store_import_journal), adding
 * the new records to *added; a gap or an error is printed and gives -1. */
int cli_import_journal(qps_store *store, const char *server, uint64_t *added);

/* The same as a list of paths, for commands that name files to the store. */
typedef struct {
    char **paths;
    size_t n, cap;
} cli_paths;
bool cli_paths_expand(char **args, int nargs, cli_paths *out, int *errors);
void cli_paths_free(cli_paths *paths);

/* Receives the bytes of a file; returns 0 to go on. */
typedef int (*cli_chunk_fn)(void *ctx, const char *buf, size_t len);

/* Streams a log (plain or gzip) to fn. Returns 0, or -1 after reporting a
 * read error on stderr (the data before it was given to fn) or when fn
 * stopped. */
int cli_read_entry(const qps_log_entry *entry, cli_chunk_fn fn, void *ctx);
/* The same for a name given by the user ("-" = stdin). */
int cli_read_file(const char *path, cli_chunk_fn fn, void *ctx);

/* Receives one line (without its newline); returns 0 to go on. */
typedef int (*cli_line_fn)(void *ctx, const char *line, size_t len);

/* Streams a log's lines to fn through lines (the one splitter: a line over
 * QPS_LINE_MAX comes as its first QPS_LINE_MAX + 1 bytes), the last line
 * without newline included. Returns as cli_read_entry. */
int cli_read_lines(const qps_log_entry *entry, qps_lines *lines, cli_line_fn fn, void *ctx);

/* "cannot read PATH: why" (or "cannot open" when opening failed) for a
 * reader's failure; returns -1. */
int cli_read_error(const char *path, const qps_reader *reader, qps_status st, bool opening);

/* Aggregates a large regular file with `jobs` threads, each reading one
 * newline-aligned part into its own aggregator, merged into agg. fd is a
 * plain regular file of `size` bytes opened by a qps_reader. Returns 1
 * when it handled the file, 0 when the file should be read sequentially
 * (small), -1 after reporting an error. */
int cli_parallel_aggregate(const char *path, int fd, int64_t size, qps_agg *agg, const qps_agg_opts *opts, int jobs);

/* ---- time selection (time.c; the ranges are the core's, qps_range) ---- */

/* A range whose messages name the CLI's options (--days, --since). */
void cli_range_init(qps_range *r);

/* ---- the store ---- */

/* The one rule for --db and QPSTAT_DB (opts.c): --db FILE names the
 * store; QPSTAT_DB, when set and not empty, stands for --db wherever no
 * --db is given: import, collect, check and serve use it instead of
 * /var/lib/qpstat/qpstat.db, the processor stores into it, and report and
 * summary read it when no PATH is named (a PATH given reads the logs). */
const char *cli_db_env(void);     /* $QPSTAT_DB or NULL */
const char *cli_default_db(void); /* $QPSTAT_DB, else /var/lib/qpstat/qpstat.db */
/* The store report or summary reads: --db's FILE (given), else
 * $QPSTAT_DB when no PATH is named, else NULL (read the logs). */
const char *cli_db_source(const char *given, int npaths);

/* The stores a report or list reads (stores.c): --db FILE, repeatable,
 * read as one, each record under its server (the server table). */
#define CLI_STORES_MAX 64
struct cli_stores {
    const char *path[CLI_STORES_MAX];
    size_t n;
};
/* One --db: refuses what cli_file_argument refuses, more than
 * CLI_STORES_MAX and a store named twice (usage error printed). */
bool cli_stores_add(cli_stores *dbs, const char *path);
/* Without --db, $QPSTAT_DB when no PATH is named (cli_db_source); true
 * when there is a store to read. */
bool cli_stores_source(cli_stores *dbs, int npaths);
/* Every store's qps_store_aggregate into agg; 0, or -1 after a message. */
int cli_stores_aggregate(const cli_stores *dbs, qps_agg *agg);
/* Every store's records in [since, until) to fn, store after store, until
 * *stopped (which fn sets); returns the number of stores that failed
 * (each reported). */
int cli_stores_each(const cli_stores *dbs, int64_t since, int64_t until, qps_record_fn fn, void *ctx, bool *stopped);

/* Opens the store for reading, or for writing (creating it and its
 * directory); reports failures on stderr and returns NULL. */
qps_store *cli_store_open(const char *path, bool write);
/* The same to write, and a store this creates is named after server (the
 * --server of import and collect) when it is given (qps_store_server). */
qps_store *cli_store_open_named(const char *path, const char *server);
/* Imports one file from where the store left it; adds the number of new
 * records to *added. Returns 0, or -1 after reporting on stderr. */
int cli_import_file(qps_store *store, const char *path, const char *server, uint64_t *added);

/* ---- subcommands ---- */

int cli_report(int argc, char **argv);
int cli_tai64n(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_processor(int argc, char **argv);
int cli_summary(int argc, char **argv);
/* Writes the state the processor would have left after the logs in paths
 * (qplogsumm's format): check --fix's rebuild of an emptied state. 0, or
 * -1 after reporting an error. */
int cli_state_of_logs(char **paths, int npaths, FILE *out);
int cli_collect(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_list(int argc, char **argv);

/* --where KEY=VALUE filters (list.c), shared by report, list and serve. */
#define CLI_WHERE_MAX 16
typedef struct {
    qps_where w[CLI_WHERE_MAX];
    size_t n;
} cli_where;
/* Adds one filter; false (usage error printed) for a bad one. */
bool cli_where_option(cli_where *where, const char *arg);
/* The same without a message: NULL, or why the filter is refused. */
const char *cli_where_add(cli_where *where, const char *arg);

/* ---- the category map (categories.c) ---- */

extern const char cli_categories_default_path[]; /* /etc/qpstat/categories */
/* The map of --categories FILE (given), else of /etc/qpstat/categories when
 * that exists, else the built-in one. NULL after a message (exit 1). */
qps_categories *cli_categories(const char *given);
/* Whether a report of dims with these filters counts categories. */
bool cli_uses_categories(const qps_dim *dims, size_t ndims, const cli_where *where);

/* ---- report --format html (html.c) ---- */

/* The tables the page draws, as qps_agg_opts.dims bits (without the
 * connection tables when --where selects transactions). */
unsigned cli_html_dims(bool where);
/* Writes the dashboard page with the report of agg inlined to stdout: hours
 * picks the time chart's scale (a day: hours; longer: days), label names
 * the range. 0, -1 after a message, -2 when stdout fails. */
int cli_report_html(const qps_agg *agg, const qps_render_opts *ro, const char *label, bool hours, bool where);

/* stdout sink for qps_render */
int cli_write_stdout(void *ctx, const char *buf, size_t len);

/* The time options of report, list, grep and dnsbl-test (time.c): opt is
 * one of CLI_OPT_*; returns 0, or EXIT_USAGE after the core's message
 * ("give only one of --today, --yesterday and --days"). */
enum { CLI_OPT_TODAY = 0x1000, CLI_OPT_YESTERDAY, CLI_OPT_DAYS, CLI_OPT_SINCE, CLI_OPT_UNTIL };
int cli_time_option(int opt, const char *arg, qps_range *r);
/* After the options: computes the range against now (qps_range_finish:
 * with mail_default and no option, yesterday and today); an empty range is
 * a usage error (printed). Returns 0 or EXIT_USAGE. */
int cli_range_done(qps_range *r, int64_t now, bool mail_default);

/* ---- the joiner (join.c) ---- */

/* qps_join_line / qps_join_finish as a cli_line_fn: 0, or -1 after saying
 * why on stderr (a failed write has said it already). */
int cli_join_line(void *join, const char *line, size_t len);
int cli_join_finish(qps_join *join);

int cli_tail(int argc, char **argv);
int cli_grep(int argc, char **argv);
int cli_dnsbl_test(int argc, char **argv);
int cli_received(int argc, char **argv);

#endif
