/*
 * cli_report.c - "qpstat report": statistics over log files in one pass.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: qpstat report [options] [PATH...]\n"
    "Statistics over qpsmtpd logs: files, multilog directories, .gz files, - for stdin\n"
    "(default: /var/log/qpsmtpd and /var/log/sqpsmtpd).\n"
    "\n"
    "  --by DIM[,DIM...]  tables to print (repeatable): disposition, dnsbl, tld,\n"
    "                     disposition,tld, hour, day, sender, recipient, ip, helo,\n"
    "                     score, spam, connections, connection-time, server, code,\n"
    "                     category (mailstats' columns, by the category map), service\n"
    "                     (the journal's units); all: the default (all but server, code,\n"
    "                     category and service; server too with several --db, service\n"
    "                     when the records name one), a table named twice is printed once\n"
    "  --top N            rows per table, 0 for all (default: all; 20 for sender,\n"
    "                     recipient, ip and helo)\n"
    "  --format FMT       text (default), json, csv (one table: give one --by) or html\n"
    "                     (the dashboard as one self-contained file, no --by)\n"
    "  --mail             the daily mail for sendmail -t: From, To, Date, Subject \"Email\n"
    "                     Disposition on <date>\", mailstats' tables and the seed's\n"
    "                     disposition x TLD table (today and yesterday unless a time\n"
    "                     option is given; not with --format, --by or --top)\n"
    "  --html             with --mail: multipart/alternative, the text and an HTML part\n"
    "  --to ADDR          with --mail: the To: header (default admin)\n"
    "  --from ADDR        with --mail: the From: header (default qpstat)\n"
    "  --today, --yesterday, --days N (the last N*24 hours)\n"
    "  --since TIME, --until TIME   YYYY-MM-DD[ HH:MM[:SS]], local time unless Z or +hh:mm;\n"
    "                     a date alone as --until includes that day\n"
    "  --where KEY=VALUE  only the transactions a table counts under that key (repeatable,\n"
    "                     all must match): disposition=rhsbl, tld=com, ip=192.0.2.1, code=550,\n"
    "                     server=mx2...\n"
    "  --utc              hour and day tables in UTC instead of local time\n"
    "  --categories FILE  the plugin -> category map (default /etc/qpstat/categories\n"
    "                     when it exists, else the built-in one: etc/categories)\n"
    "  --db FILE          report from the store (see qpstat import) instead of logs;\n"
    "                     repeatable: the stores of several servers as one report;\n"
    "                     $QPSTAT_DB stands for --db when no PATH is given\n"
    "  --prefix STR       logterse prefix (default `)\n"
    "  -j, --jobs N       threads for large files (default: one per CPU, at most 16 run)\n"
    CLI_JOURNAL_HELP
    "  -h, --help         this help\n";

/* One log into agg: a large plain file by parts in threads, anything else
 * as a stream. Returns 0, or -1 after a message. */
static int read_log(const qps_log_entry *e, qps_reader *r, qps_agg *agg, const qps_agg_opts *opts, int jobs)
{
    qps_status st = qps_reader_open_entry(r, e);
    bool opening = st != QPS_OK;
    if (st == QPS_OK) {
        qps_reader_info info;
        qps_reader_get_info(r, &info);
        int done = info.regular && !info.gzip ? cli_parallel_aggregate(e->path, info.fd, info.size, agg, opts, jobs) : 0;
        if (done != 0) {
            qps_reader_close(r);
            return done > 0 ? 0 : -1;
        }
        st = qps_agg_read(agg, r);
    }
    cli_reader_note(e, r);
    if (st == QPS_OK)
        st = qps_reader_close(r);
    int rc = 0;
    if (st == QPS_ENOMEM) {
        cli_error("%s", qps_strerror(st));
        rc = -1;
    } else if (st != QPS_OK) {
        rc = cli_read_error(e->path, r, st, opening);
    }
    qps_reader_close(r);
    return rc;
}

/* Whether any record named its service (journal lines do, log files do
 * not: their reports keep the layout they always had). */
static bool has_service(const qps_agg *agg)
{
    qps_row *rows;
    size_t n;
    bool named = false;
    if (qps_agg_rows(agg, QPS_DIM_SERVICE, &rows, &n) != QPS_OK)
        return false;
    for (size_t i = 0; i < n && !named; i++)
        named = rows[i].key[0].len > 0;
    qps_free(rows);
    return named;
}

int cli_write_stdout(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

int cli_report(int argc, char **argv)
{
    enum { OPT_MAIL = 300, OPT_UTC, OPT_WHERE, OPT_HTML, OPT_TO, OPT_FROM };
    static const struct option options[] = {
        {"by", required_argument, NULL, 'b'},     {"top", required_argument, NULL, 'n'},
        {"format", required_argument, NULL, 'f'}, {"mail", no_argument, NULL, OPT_MAIL},
        {"utc", no_argument, NULL, OPT_UTC},      {"jobs", required_argument, NULL, 'j'},
        {"where", required_argument, NULL, OPT_WHERE}, {"html", no_argument, NULL, OPT_HTML},
        {"to", required_argument, NULL, OPT_TO},  {"from", required_argument, NULL, OPT_FROM},
        CLI_TIME_OPTIONS, CLI_JOURNAL_OPTIONS, CLI_PREFIX_OPTION, CLI_CATEGORIES_OPTION, CLI_STORES_OPTION,
        CLI_HELP_OPTION,                          {NULL, 0, NULL, 0},
    };
    cli_where where = {0};
    qps_dim dims[QPS_DIM_COUNT_];
    size_t ndims = 0;
    long top = -1;
    long jobs = sysconf(_SC_NPROCESSORS_ONLN);
    qps_format format = QPS_FORMAT_TEXT;
    bool mail = false, utc = false, format_given = false, jobs_given = false, html_page = false;
    const char *prefix = NULL, *categories = NULL, *mail_to = NULL, *mail_from = NULL;
    bool html = false, by_all = false;
    cli_stores dbs = {{0}, 0};
    int64_t now = cli_now();
    qps_range range;
    cli_range_init(&range);
    /* --mail without a time option covers yesterday and today */
    cli_shared shared = {.usage = usage_text, .range = &range,  .now = now,     .mail_default = &mail,
                         .prefix = &prefix,   .categories = &categories, .stores = &dbs, .journal = true};
    int c, exit_status;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "j:", options, &shared, &exit_status)) != -1) {
        switch (c) {
        case 'b':
            if (strcmp(optarg, "all") == 0)
                by_all = true;
            else if (qps_dims_parse(optarg, dims, QPS_DIM_COUNT_, &ndims) != QPS_OK)
                return cli_usage("unknown --by dimension in '%s'", optarg);
            break;
        case 'n':
            if (!cli_number("--top", optarg, 0, 1000000000L, &top))
                return EXIT_USAGE;
            break;
        case 'f':
            format_given = true;
            if (strcmp(optarg, "text") == 0)
                format = QPS_FORMAT_TEXT;
            else if (strcmp(optarg, "json") == 0)
                format = QPS_FORMAT_JSON;
            else if (strcmp(optarg, "csv") == 0)
                format = QPS_FORMAT_CSV;
            else if (strcmp(optarg, "html") == 0)
                html_page = true, format = QPS_FORMAT_JSON;
            else
                return cli_usage("--format is text, json, csv or html, not '%s'", optarg);
            break;
        case 'j':
            jobs_given = true;
            if (!cli_number("--jobs", optarg, 1, 64, &jobs))
                return EXIT_USAGE;
            break;
        case OPT_MAIL: mail = true; break;
        case OPT_HTML: html = true; break;
        case OPT_TO: case OPT_FROM: {
            /* a header's value: a CR or LF would add headers of the caller's choosing */
            for (const char *p = optarg; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                    return cli_usage("%s takes printable ASCII (an address), not a control or 8-bit byte",
                                     c == OPT_TO ? "--to" : "--from");
            if (!*optarg)
                return cli_usage("%s needs an address", c == OPT_TO ? "--to" : "--from");
            *(c == OPT_TO ? &mail_to : &mail_from) = optarg;
            break;
        }
        case OPT_WHERE:
            if (!cli_where_option(&where, optarg))
                return EXIT_USAGE;
            break;
        case OPT_UTC: utc = true; break;
        default:
            return cli_usage_hint();
        }
    }
    if (exit_status >= 0)
        return exit_status;
    bool journal = cli_journal_chosen();
    if (dbs.n && journal)
        return cli_usage("--db reads the store, not the journal: drop one of them");
    /* the message has one layout and one table */
    if (mail && (format_given || ndims || by_all || top >= 0))
        return cli_usage("--mail writes one message of its own (the disposition,tld table, every row, as text): "
                         "drop %s",
                         format_given ? "--format" : ndims || by_all ? "--by" : "--top");
    if (html_page && (ndims || by_all))
        return cli_usage("--format html draws the dashboard's tables: drop --by");
    if (!mail && (html || mail_to || mail_from))
        return cli_usage("%s shapes the mail: add --mail", html ? "--html" : mail_to ? "--to" : "--from");
    if (format == QPS_FORMAT_CSV && (ndims != 1 || by_all))
        return cli_usage("--format csv holds one table: pick it with one --by (disposition, dnsbl, tld, "
                         "disposition,tld, hour, day, sender, recipient, ip, helo, score, spam, connections, "
                         "connection-time, server, code, category, service)");
    if (dbs.n && optind < argc)
        return cli_usage("--db reads the store, not log files: drop '%s'", argv[optind]);
    bool given_db = dbs.n > 0;
    bool db = cli_stores_source(&dbs, argc - optind + journal);
    /* the store holds parsed records: nothing of the logs' reading applies */
    if (db && (prefix || jobs_given))
        return cli_usage("%s reads log files, and this report reads the store (%s): drop it or name the logs",
                         prefix ? "--prefix" : "--jobs", given_db ? "--db" : "$QPSTAT_DB");
    if (mail)
        format = QPS_FORMAT_MAIL;
    bool all = ndims == 0 || by_all;
    if (all)
        qps_dims_default(dims, QPS_DIM_COUNT_, &ndims, where.n > 0, dbs.n > 1);
    for (size_t i = 0; where.n && i < ndims; i++)
        if (dims[i] == QPS_DIM_CONNECTIONS || dims[i] == QPS_DIM_CONNECTION_TIME)
            return cli_usage("--where selects transactions: the %s table is not made of them", qps_dim_name(dims[i]));

    qps_agg_opts opts = {0};
    opts.parser.terse_prefix = prefix;
    opts.parser.now = now;
    qps_range_select(&range, &opts);
    opts.utc = utc;
    opts.where = where.w;
    opts.nwhere = where.n;
    /* only the tables printed are filled */
    if (format == QPS_FORMAT_MAIL)
        opts.dims = QPS_DIM_BIT(QPS_DIM_DISPOSITION_TLD) | QPS_DIM_BIT(QPS_DIM_HOUR_CATEGORY) |
                    QPS_DIM_BIT(QPS_DIM_CATEGORY) | QPS_DIM_BIT(QPS_DIM_RECIPIENT) | QPS_DIM_BIT(QPS_DIM_DNSBL) |
                    QPS_DIM_BIT(QPS_DIM_SPAM) | QPS_DIM_BIT(QPS_DIM_CONNECTIONS);
    else if (html_page)
        opts.dims = cli_html_dims(where.n > 0);
    else
        for (size_t i = 0; i < ndims; i++)
            opts.dims |= QPS_DIM_BIT(dims[i]);
    qps_categories *map = NULL;
    if (categories || mail || cli_uses_categories(dims, ndims, &where)) {
        if (!(map = cli_categories(categories)))
            return EXIT_RUNTIME;
        opts.categories = map;
    }
    if (all && format != QPS_FORMAT_MAIL && !html_page)
        opts.dims |= QPS_DIM_BIT(QPS_DIM_SERVICE); /* shown below when records name a service */
    qps_agg *agg = qps_agg_new(&opts);
    if (!agg) {
        qps_categories_free(map);
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    int errors = 0;
    if (db) {
        if (cli_stores_aggregate(&dbs, agg) != 0) {
            qps_agg_free(agg);
            qps_categories_free(map);
            return EXIT_RUNTIME;
        }
    } else {
        qps_logset *logs = cli_logs_expand(argv + optind, argc - optind, &errors);
        qps_reader *r = qps_reader_new();
        if (!logs || !r) {
            if (logs)
                cli_error("out of memory");
            qps_logset_free(logs);
            qps_reader_free(r);
            qps_agg_free(agg);
            qps_categories_free(map);
            return EXIT_RUNTIME;
        }
        for (size_t i = 0; i < qps_logset_count(logs); i++)
            if (read_log(qps_logset_entry(logs, i), r, agg, &opts, (int)jobs) != 0)
                errors++;
        qps_reader_free(r);
        qps_logset_free(logs);
    }

    bool named_service = false;
    for (size_t i = 0; i < ndims; i++)
        named_service |= dims[i] == QPS_DIM_SERVICE;
    if (all && !named_service && format != QPS_FORMAT_MAIL && !html_page && has_service(agg))
        dims[ndims++] = QPS_DIM_SERVICE;
    int rc = errors ? EXIT_RUNTIME : EXIT_OK;
    /* Without --top, the tables keyed by remote input show 20 rows. */
    qps_render_opts ro = {format, dims, ndims, top >= 0 ? (size_t)top : 0, top >= 0 || format == QPS_FORMAT_CSV ? 0 : 20, range.label};
    ro.mail_to = mail_to;
    ro.mail_from = mail_from;
    ro.mail_time = now;
    ro.mail_html = html;
    qps_status st = QPS_OK;
    if (html_page) {
        /* one day (or less) of transactions over time by hour, longer by day */
        bool hours = range.has_since && range.has_until && range.until - range.since <= 86400 + 3600;
        int hr = cli_report_html(agg, &ro, range.label[0] ? range.label : NULL, hours, where.n > 0);
        if (hr == -1)
            rc = EXIT_RUNTIME;
        else if (hr == -2)
            st = QPS_EIO;
    } else {
        st = qps_render(agg, &ro, cli_write_stdout, NULL);
    }
    if (st == QPS_OK && fflush(stdout) != 0)
        st = QPS_EIO;
    if (st != QPS_OK) {
        cli_error("cannot write the report: %s", st == QPS_EIO ? strerror(errno) : qps_strerror(st));
        rc = EXIT_RUNTIME;
    }
    qps_agg_free(agg);
    qps_categories_free(map);
    return rc;
}
