/*
 * cli_summary.c - qplogsumm's per-disposition summary: "qpstat processor"
 * (a multilog processor, drop-in for qplogsumm.pl) and "qpstat summary".
 *
 * The state file keeps qplogsumm's format, so an existing state carries
 * over: data lines "%-30.30s <first label> %12d" (name, first seen,
 * cumulative count; LOGFILE_EPOCH holds the first label ever seen), then a
 * report of '#' lines. Unlike qplogsumm it counts records of every qpsmtpd
 * dialect, prints correct local times, never divides by zero, does not
 * double the totals, and always exits 0: multilog repeats a failing
 * processor forever while qpsmtpd's log pipe fills up.
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
#include <unistd.h>

#define MAX_DISPOSITIONS 4096 /* beyond this, names fold into "(other)" */
#define NAME_MAX_LEN 30       /* qplogsumm prints %-30.30s */

typedef struct {
    char name[NAME_MAX_LEN + 1];
    int64_t first;     /* first seen (unix seconds) */
    uint32_t first_ns;
    uint64_t current;  /* in the most recent log */
    uint64_t total;    /* cumulative, including current */
    uint64_t recent;   /* summary: in the newest log read so far */
} disposition;

typedef struct {
    disposition *d;
    size_t n, cap;
    int64_t epoch;     /* first time ever seen (LOGFILE_EPOCH) */
    uint32_t epoch_ns;
    bool has_epoch;
    int64_t log_first, log_last; /* of the most recent log */
    bool log_timed;
    int64_t last;      /* the last time ever seen (the cumulative Finish) */
    bool has_last;
} summary;

static disposition *find(summary *s, const char *name, size_t len, bool create)
{
    if (len > NAME_MAX_LEN)
        len = NAME_MAX_LEN;
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->d[i].name) == len && memcmp(s->d[i].name, name, len) == 0)
            return &s->d[i];
    if (!create)
        return NULL;
    if (s->n >= MAX_DISPOSITIONS - 1) {
        /* bounded: once the table is full, further names share one row */
        for (size_t i = 0; i < s->n; i++)
            if (strcmp(s->d[i].name, "(other)") == 0)
                return &s->d[i];
        name = "(other)";
        len = 7;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        disposition *d = realloc(s->d, cap * sizeof *d);
        if (!d)
            return NULL;
        s->d = d;
        s->cap = cap;
    }
    disposition *d = &s->d[s->n++];
    memset(d, 0, sizeof *d);
    memcpy(d->name, name, len);
    /* a name is written as one whitespace-free token */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)d->name[i] <= ' ' || d->name[i] == 0x7f)
            d->name[i] = '_';
    return d;
}

static bool parse_label(const char *s, int64_t *t, uint32_t *ns)
{
    /* a state written by an older qpstat from a hostile label is ignored,
     * as the parser ignores such labels in the log */
    return s[0] == '@' && strlen(s) == 25 && qps_tai64n_decode(s + 1, t, ns) == QPS_OK && qps_time_plausible(*t);
}

/* Reads qplogsumm/qpstat state lines; anything malformed is skipped. */
static void read_state(summary *s, FILE *in)
{
    char line[1024];
    while (fgets(line, sizeof line, in)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char name[256], label[64], extra[8];
        unsigned long long count;
        if (sscanf(line, "%255s %63s %llu %7s", name, label, &count, extra) != 3)
            continue;
        int64_t t;
        uint32_t ns;
        if (!parse_label(label, &t, &ns))
            continue;
        if (strcmp(name, "LOGFILE_EPOCH") == 0) {
            s->epoch = t;
            s->epoch_ns = ns;
            s->has_epoch = true;
            continue;
        }
        disposition *d = find(s, name, strlen(name), true);
        if (d) {
            d->first = t;
            d->first_ns = ns;
            d->total = count;
        }
    }
}

static void add_record(summary *s, const qps_record *r)
{
    if (r->has_time) {
        if (!s->log_timed || r->unix_sec < s->log_first)
            s->log_first = r->unix_sec;
        if (!s->log_timed || r->unix_sec > s->log_last)
            s->log_last = r->unix_sec;
        s->log_timed = true;
        if (!s->has_last || r->unix_sec > s->last)
            s->last = r->unix_sec;
        s->has_last = true;
        if (!s->has_epoch) {
            s->epoch = r->unix_sec;
            s->epoch_ns = r->nsec;
            s->has_epoch = true;
        }
    }
    if (r->kind != QPS_KIND_TERSE)
        return;
    qps_str disp = r->field[QPS_TF_DISPOSITION];
    bool is_new = !find(s, disp.ptr, disp.len, false);
    disposition *d = find(s, disp.ptr, disp.len, true);
    if (!d)
        return;
    if (is_new) {
        d->first = r->has_time ? r->unix_sec : s->log_first;
        d->first_ns = r->has_time ? r->nsec : 0;
    }
    d->current++;
    d->total++;
}

static void format_time(int64_t t, char out[32])
{
    qps_civil c;
    if (qps_civil_from_unix(NULL, t, 0, &c) != QPS_OK)
        snprintf(out, 32, "(unknown)");
    else
        snprintf(out, 32, "%04d-%02d-%02d %02d:%02d:%02d", c.year, c.month, c.day, c.hour, c.minute, c.second);
}

static void elapsed_line(FILE *out, int64_t secs)
{
    if (secs < 0)
        secs = 0;
    fprintf(out, "# Elapsed: %lld days, %lld hours, %lld mins, %lld secs\n", (long long)(secs / 86400),
            (long long)(secs / 3600 % 24), (long long)(secs / 60 % 60), (long long)(secs % 60));
}

/* count per day over `secs`; a span under a day counts as one day, so a
 * short log does not claim thousands a day */
static unsigned long long per_day(uint64_t count, int64_t secs)
{
    return secs < 86400 ? (unsigned long long)count : (unsigned long long)(count * 86400.0 / (double)secs);
}

static unsigned long long per_hour(uint64_t count, int64_t secs)
{
    return secs < 3600 ? (unsigned long long)count : (unsigned long long)(count * 3600.0 / (double)secs);
}

static int by_current(const void *a, const void *b)
{
    const disposition *x = a, *y = b;
    if (x->current != y->current)
        return x->current > y->current ? -1 : 1;
    if (x->total != y->total)
        return x->total > y->total ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void write_state(summary *s, FILE *out, bool data_lines)
{
    char label[26];
    if (data_lines) {
        if (s->has_epoch) {
            qps_tai64n_encode(s->epoch, s->epoch_ns, label);
            fprintf(out, "%-30.30s %s %12d\n", "LOGFILE_EPOCH", label, 0);
        }
        for (size_t i = 0; i < s->n; i++) {
            qps_tai64n_encode(s->d[i].first, s->d[i].first_ns, label);
            fprintf(out, "%-30.30s %s %12llu\n", s->d[i].name, label, (unsigned long long)s->d[i].total);
        }
    }
    if (s->n)
        qsort(s->d, s->n, sizeof *s->d, by_current);
    uint64_t cur = 0, tot = 0;
    for (size_t i = 0; i < s->n; i++) {
        cur += s->d[i].current;
        tot += s->d[i].total;
    }
    int64_t log_span = s->log_timed ? s->log_last - s->log_first : 0;
    /* (right after a rotation the most recent log is empty: the
     * cumulative totals still end at the last line ever seen) */
    int64_t finish = s->has_last ? s->last : s->epoch;
    int64_t cum_span = s->has_epoch ? finish - s->epoch : 0;
    char a[32], b[32];
    fprintf(out, "#\n# Most recent logfile\n# -------------------\n#\n");
    format_time(s->log_first, a);
    format_time(s->log_last, b);
    fprintf(out, "# Start  : %s\n# Finish : %s\n", s->log_timed ? a : "(no timed lines)",
            s->log_timed ? b : "(no timed lines)");
    elapsed_line(out, log_span);
    fprintf(out, "#\n# Total transactions : %9llu\n# Average tx per hour: %9llu\n#\n", (unsigned long long)cur,
            per_hour(cur, log_span));
    fprintf(out, "# Cumulative Totals\n# -----------------\n#\n");
    format_time(s->epoch, a);
    format_time(finish, b);
    fprintf(out, "# Start  : %s\n# Finish : %s\n", s->has_epoch ? a : "(no timed lines)",
            s->has_epoch ? b : "(no timed lines)");
    elapsed_line(out, cum_span);
    fprintf(out, "#\n# Total transactions : %12llu\n# Average tx per hour: %12llu\n#\n", (unsigned long long)tot,
            per_hour(tot, cum_span));
    fprintf(out, "#                                 Most Recent Logfile      Cumulative Totals\n"
                 "# Disposition (plugin)            Total       Avg/Day      Total       Avg/Day\n"
                 "# ----------------------------------------------------------------------------\n");
    for (size_t i = 0; i < s->n; i++) {
        const disposition *d = &s->d[i];
        /* the name comes from the log: escaped for the terminal, cut to
         * qplogsumm's 30 columns without splitting an escape */
        qps_buf name = {0};
        for (size_t w = qps_escape_text_cut(&name, d->name, strlen(d->name), 30); w < 30; w++)
            qps_buf_putc(&name, ' ');
        fprintf(out, "# %s %6llu %3d%% %8llu %10llu %3d%% %8llu\n", name.data ? name.data : "",
                (unsigned long long)d->current,
                cur ? (int)(d->current * 100 / cur) : 0, per_day(d->current, log_span),
                (unsigned long long)d->total, tot ? (int)(d->total * 100 / tot) : 0,
                per_day(d->total, finish - d->first));
        qps_buf_release(&name);
    }
    fprintf(out, "# ----------------------------------------------------------------------------\n");
    /* nothing counted is no 100% of anything */
    fprintf(out, "# %-30.30s %6llu %3d%% %8llu %10llu %3d%% %8llu\n", "TOTALS", (unsigned long long)cur, cur ? 100 : 0,
            per_day(cur, log_span), (unsigned long long)tot, tot ? 100 : 0, per_day(tot, cum_span));
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Lines of a file for the summary (the core's splitter: an over-long line
 * is one invalid line, as the report counts it). */
typedef struct {
    summary *s;
    qps_parser *parser;
} line_reader;

static int summary_line(void *ctx, const char *line, size_t len)
{
    line_reader *r = ctx;
    qps_record rec;
    qps_parser_parse(r->parser, line, len, &rec);
    add_record(r->s, &rec);
    return 0;
}

/* The processor's tee: its input to multilog (fd 1) and to the summary. */
typedef struct {
    line_reader *reader;
    qps_lines *lines;
    bool out_ok;
} processor_copy;

static void copy_input(void *ctx, const char *bytes, size_t len)
{
    processor_copy *c = ctx;
    if (c->out_ok && write_all(1, bytes, len) != 0) {
        cli_error("cannot write fd 1: %s", strerror(errno));
        c->out_ok = false;
    }
    if (c->lines)
        qps_lines_split(c->lines, bytes, len, summary_line, c->reader);
}

int cli_processor(int argc, char **argv)
{
    static const struct option options[] = {
        {"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *db = NULL;
    bool db_given = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:h", options, NULL)) != -1) {
        if (c == 'd') {
            /* a bad --db must not stop multilog either: warn, go on without it */
            db_given = true;
            if (cli_file_argument("--db", optarg, true))
                db = optarg;
            else
                cli_error("--db needs a FILE, not '%s': statistics go on without the store", optarg);
        } else if (c == 'h') {
            fputs("usage: multilog t '!qpstat processor [--db FILE]' DIR\n"
                  "A multilog processor, drop-in for qplogsumm.pl: copies fd 0 to fd 1, reads the old\n"
                  "state on fd 4 and writes the new one on fd 5. Always exits 0.\n"
                  "\n"
                  "  -d, --db FILE  also import the log into the store (default $QPSTAT_DB, if set)\n"
                  "  -h, --help     this help\n",
                  stdout);
            return EXIT_OK;
        } else {
            cli_error("ignoring unknown option (it must not stop multilog)");
        }
    }
    if (!db_given)
        db = cli_db_env();
    summary s = {0};
    bool have_state_in = fd_open(4), have_state_out = fd_open(5);
    if (have_state_in) {
        FILE *in = fdopen(4, "r");
        if (in) {
            read_state(&s, in);
            fclose(in);
        }
    }
    /* current counts restart each log; cumulative ones carry on. The
     * import engine reads fd 0: every byte goes to fd 1 and the summary,
     * and to the store only what it does not have from this file (an
     * import of current before the rotation stored the rest) */
    qps_parser *parser = qps_parser_new(NULL);
    line_reader reader = {&s, parser};
    processor_copy copy = {&reader, parser ? qps_lines_new() : NULL, true};
    qps_store *store = NULL;
    if (db && !(store = cli_store_open(db, true)))
        cli_error("statistics go on without the store");
    qps_import_opts iopts = {.tee = copy_input, .tee_ctx = &copy};
    if (qps_store_import_fd(store, 0, QPS_PROCESSOR_NAME, &iopts, NULL) != QPS_OK)
        cli_error("%s", store ? qps_store_error(store) : "cannot read fd 0");
    qps_store_close(store);
    if (copy.lines) /* multilog appends a newline, but be safe */
        qps_lines_finish(copy.lines, summary_line, &reader);
    qps_lines_free(copy.lines);
    FILE *out = have_state_out ? fdopen(5, "w") : NULL;
    if (out) {
        write_state(&s, out, true);
        if (fclose(out) != 0)
            cli_error("cannot write the state on fd 5: %s", strerror(errno));
    } else {
        cli_error("fd 5 is not open: no state written (run me from multilog)");
    }
    free(s.d);
    qps_parser_free(parser);
    return EXIT_OK;
}

/* "Most recent" means the same from the logs and from the store: the
 * newest log file (the one whose last timed line is the latest; right
 * after a rotation that is the rotated file, not the empty current). The
 * store knows each imported file's span (qps_store_log_span); a store that
 * only the plugin fed has none, and its most recent log is its last day. */

static int first_seen(void *ctx, qps_str name, int64_t first)
{
    disposition *d = find(ctx, name.ptr, name.len, true);
    if (d)
        d->first = first;
    return 0;
}

/* The disposition rows of agg into the summary's current or total counts. */
static qps_status disposition_counts(summary *s, const qps_agg *agg, bool total)
{
    qps_row *rows;
    size_t n;
    qps_status st = qps_agg_rows(agg, QPS_DIM_DISPOSITION, &rows, &n);
    for (size_t i = 0; st == QPS_OK && i < n; i++) {
        disposition *d = find(s, rows[i].key[0].ptr, rows[i].key[0].len, true);
        if (!d)
            st = QPS_ENOMEM;
        else if (total)
            d->total += rows[i].count;
        else
            d->current += rows[i].count;
    }
    if (st == QPS_OK)
        qps_free(rows);
    return st;
}

/* Counts through the core aggregator: everything (the pruned days' totals
 * included) as cumulative, the most recent log's span as current. */
static qps_status summary_from_store(qps_store *store, summary *s)
{
    qps_store_info info;
    qps_log_span span;
    qps_status st = qps_store_stat(store, &info);
    if (st == QPS_OK)
        st = qps_store_log_span(store, &span);
    if (st == QPS_OK)
        st = qps_store_first_seen(store, first_seen, s);
    if (st != QPS_OK)
        return st;
    if (span.files) {
        s->epoch = span.first;
        s->has_epoch = true;
        s->log_first = span.recent_first;
        s->log_last = span.recent_last;
        s->last = span.last;
        s->has_last = s->log_timed = true;
    }
    if (info.transactions && info.last >= info.first) {
        /* live records may be newer than the logs imported */
        if (!s->has_last || info.last > s->last)
            s->last = info.last;
        if (!s->has_epoch || info.first < s->epoch)
            s->epoch = info.first;
        s->has_last = s->has_epoch = true;
        if (!span.files) {
            s->log_last = info.last;
            s->log_first = info.last - 86399 > info.first ? info.last - 86399 : info.first;
            s->log_timed = true;
        }
    }
    /* a pruned day counts from its midnight, but nothing was seen before
     * the first line the store knows of */
    bool known = s->has_epoch;
    for (size_t i = 0; !known && i < s->n; i++)
        if (!s->has_epoch || s->d[i].first < s->epoch) {
            s->epoch = s->d[i].first;
            s->has_epoch = true;
        }
    for (size_t i = 0; i < s->n; i++)
        if (s->d[i].first < s->epoch)
            s->d[i].first = s->epoch;
    qps_agg_opts all = {.dims = QPS_DIM_BIT(QPS_DIM_DISPOSITION)};
    qps_agg_opts recent = all;
    recent.since = s->log_first;
    recent.until = s->log_last + 1;
    recent.has_since = recent.has_until = 1;
    qps_agg *agg_all = qps_agg_new(&all), *agg_recent = s->log_timed ? qps_agg_new(&recent) : NULL;
    if (!agg_all || (s->log_timed && !agg_recent))
        st = QPS_ENOMEM;
    if (st == QPS_OK && (st = qps_store_aggregate(store, agg_all)) == QPS_OK)
        st = disposition_counts(s, agg_all, true);
    if (st == QPS_OK && agg_recent && (st = qps_store_aggregate(store, agg_recent)) == QPS_OK)
        st = disposition_counts(s, agg_recent, false);
    qps_agg_free(agg_all);
    qps_agg_free(agg_recent);
    return st;
}

/* After each log file: the newest one so far keeps its counts as recent. */
static void end_of_file(summary *s, bool *have_recent, int64_t *recent_first, int64_t *recent_last)
{
    if (s->log_timed && (!*have_recent || s->log_last >= *recent_last)) {
        for (size_t k = 0; k < s->n; k++)
            s->d[k].recent = s->d[k].current;
        *recent_first = s->log_first;
        *recent_last = s->log_last;
        *have_recent = true;
    }
}

/* The summary of every file of logs, the newest one "most recent"; returns
 * how many could not be read to their end. */
static int summary_of_logs(qps_logset *logs, qps_lines *lines, qps_parser *parser, summary *s)
{
    int errors = 0;
    line_reader reader = {s, parser};
    bool have_recent = false;
    int64_t recent_first = 0, recent_last = 0;
    for (size_t i = 0; i < qps_logset_count(logs); i++) {
        for (size_t k = 0; k < s->n; k++)
            s->d[k].current = 0;
        s->log_timed = false;
        if (cli_read_lines(qps_logset_entry(logs, i), lines, summary_line, &reader) != 0)
            errors++;
        end_of_file(s, &have_recent, &recent_first, &recent_last);
    }
    if (have_recent) {
        for (size_t k = 0; k < s->n; k++)
            s->d[k].current = s->d[k].recent;
        s->log_first = recent_first;
        s->log_last = recent_last;
        s->log_timed = true;
    }
    return errors;
}

int cli_state_of_logs(char **paths, int npaths, FILE *out)
{
    int errors = 0;
    qps_logset *logs = cli_logs_expand(paths, npaths, &errors);
    qps_lines *lines = qps_lines_new();
    qps_parser *parser = qps_parser_new(NULL);
    summary s = {0};
    if (!logs || !lines || !parser) {
        if (logs)
            cli_error("out of memory");
        errors++;
    } else {
        errors += summary_of_logs(logs, lines, parser, &s);
        write_state(&s, out, true);
    }
    qps_logset_free(logs);
    qps_lines_free(lines);
    qps_parser_free(parser);
    free(s.d);
    return errors ? -1 : 0;
}

static const char summary_usage[] =
    "usage: qpstat summary [--db FILE | PATH... | --journal...]\n"
    "The qplogsumm report at any time: cumulative totals per disposition over the logs\n"
    "(or the store, pruned days included). \"Most recent\" is the newest log file (whose\n"
    "last line is the latest; the rotated one when current is still empty), from the\n"
    "logs and from the store alike (a store only the plugin feeds: its last day).\n"
    "\n"
    "  -d, --db FILE  the store instead of the logs ($QPSTAT_DB when no PATH is given)\n"
    CLI_JOURNAL_HELP
    "  -h, --help     this help\n";

int cli_summary(int argc, char **argv)
{
    static const struct option options[] = {CLI_STORE_OPTION, CLI_JOURNAL_OPTIONS, CLI_HELP_OPTION, {NULL, 0, NULL, 0}};
    const char *db = NULL;
    cli_shared shared = {.usage = summary_usage, .db = &db, .journal = true};
    int exit_status;
    optind = 1;
    if (cli_getopt(argc, argv, "", options, &shared, &exit_status) != -1)
        return cli_usage_hint(); /* summary has no option of its own */
    if (exit_status >= 0)
        return exit_status;
    if (db && optind < argc)
        return cli_usage("--db reads the store, not log files: drop '%s'", argv[optind]);
    if (db && cli_journal_chosen())
        return cli_usage("--db reads the store, not the journal: drop one of them");
    db = cli_db_source(db, argc - optind + cli_journal_chosen());
    summary s = {0};
    qps_parser *parser = qps_parser_new(NULL);
    int errors = 0;
    if (db) {
        qps_store *store = cli_store_open(db, false);
        if (!store) {
            qps_parser_free(parser);
            return EXIT_RUNTIME;
        }
        qps_status st = summary_from_store(store, &s);
        if (st != QPS_OK) {
            cli_error("%s: %s", db, st == QPS_ENOMEM ? qps_strerror(st) : qps_store_error(store));
            errors++;
        }
        qps_store_close(store);
    } else {
        qps_logset *logs = cli_logs_expand(argv + optind, argc - optind, &errors);
        qps_lines *lines = qps_lines_new();
        if (!logs || !lines) {
            if (logs)
                cli_error("out of memory");
            qps_logset_free(logs);
            qps_lines_free(lines);
            qps_parser_free(parser);
            return EXIT_RUNTIME;
        }
        errors += summary_of_logs(logs, lines, parser, &s);
        qps_lines_free(lines);
        qps_logset_free(logs);
    }
    write_state(&s, stdout, false);
    free(s.d);
    qps_parser_free(parser);
    return errors ? EXIT_RUNTIME : EXIT_OK;
}
