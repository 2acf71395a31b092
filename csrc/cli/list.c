/*
 * list.c - "qpstat list": the transactions behind a count, newest first.
 *
 * A transaction is listed when the aggregator's selection takes it
 * (qps_agg_selects: the time range and the --where filters), so `list
 * --where K=V` prints exactly the transactions `report --where K=V`
 * counts. The core's qps_list keeps the newest by time (of several
 * stores, read one after the other) and renders them.
 *
 * License: MIT (see LICENSE).
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: qpstat list [--where KEY=VALUE]... [time options] [--db FILE... | PATH...]\n"
    "The transactions behind a count of `qpstat report`, newest first: time, server, IP,\n"
    "HELO, sender, recipients, disposition, code, deny text, spam score.\n"
    "\n"
    "  --where KEY=VALUE  KEY a table of report (disposition, dnsbl, tld, sender, recipient,\n"
    "                     ip, helo, hour, day, score, spam, server, category) or code; VALUE as\n"
    "                     that table prints the key (repeatable; all must match); grep=TEXT:\n"
    "                     TEXT in any field, in any case (as qpstat grep)\n"
    "  --limit N          the newest N (default 100; 0 = all, as memory allows)\n"
    "  -f, --format FMT   text (default), csv or json\n"
    "  --today, --yesterday, --days N, --since TIME, --until TIME   as in report\n"
    "  --utc              times in UTC (and hour/day filters in UTC)\n"
    "  --db FILE          the store instead of logs (repeatable: the stores of several\n"
    "                     servers as one; --where server=NAME)\n"
    "  --prefix STR       logterse prefix (default `)\n"
    "  --categories FILE  the category map of --where category=... (default\n"
    "                     /etc/qpstat/categories when it exists, else the built-in one)\n"
    CLI_JOURNAL_HELP
    "  -h, --help         this help\n";

const char *cli_where_add(cli_where *where, const char *arg)
{
    if (where->n == CLI_WHERE_MAX)
        return "too many --where filters";
    if (qps_where_parse(arg, &where->w[where->n]) != QPS_OK)
        return "--where takes KEY=VALUE, KEY one of disposition, dnsbl, tld, sender, recipient, ip, helo, "
               "hour, day, score, spam, server, category, code, grep";
    where->n++;
    return NULL;
}

bool cli_where_option(cli_where *where, const char *arg)
{
    const char *why = cli_where_add(where, arg);
    if (why)
        cli_usage("%s (not '%s')", why, arg);
    return why == NULL;
}

typedef struct {
    qps_agg *selection;
    qps_parser *parser; /* with the selection's parser options */
    qps_list *list;
    bool oom;
} lister;

static void take(lister *l, const qps_record *rec)
{
    if (qps_agg_selects(l->selection, rec) && qps_list_add(l->list, rec) != QPS_OK)
        l->oom = true;
}

static int from_line(void *ctx, const char *line, size_t len)
{
    lister *l = ctx;
    qps_record rec;
    if (qps_parser_parse(l->parser, line, len, &rec) == QPS_KIND_TERSE)
        take(l, &rec);
    return l->oom ? -1 : 0;
}

static int from_store(void *ctx, const qps_record *rec)
{
    take(ctx, rec);
    return ((lister *)ctx)->oom ? 1 : 0;
}

int cli_list(int argc, char **argv)
{
    enum { OPT_UTC = 300, OPT_WHERE, OPT_LIMIT };
    static const struct option options[] = {
        {"where", required_argument, NULL, OPT_WHERE}, {"limit", required_argument, NULL, OPT_LIMIT},
        {"format", required_argument, NULL, 'f'},      {"utc", no_argument, NULL, OPT_UTC},
        CLI_TIME_OPTIONS, CLI_JOURNAL_OPTIONS, CLI_PREFIX_OPTION, CLI_CATEGORIES_OPTION, CLI_STORES_OPTION,
        CLI_HELP_OPTION,                               {NULL, 0, NULL, 0},
    };
    cli_where where = {0};
    long limit = 100;
    qps_format format = QPS_FORMAT_TEXT;
    bool utc = false;
    cli_stores dbs = {{0}, 0};
    const char *prefix = NULL, *categories = NULL;
    int64_t now = cli_now();
    qps_range range;
    cli_range_init(&range);
    cli_shared shared = {.usage = usage_text, .range = &range, .now = now, .prefix = &prefix, .categories = &categories,
                         .stores = &dbs, .journal = true};
    int c, exit_status;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "f:", options, &shared, &exit_status)) != -1) {
        switch (c) {
        case OPT_WHERE:
            if (!cli_where_option(&where, optarg))
                return EXIT_USAGE;
            break;
        case OPT_LIMIT:
            if (!cli_number("--limit", optarg, 0, 100000000L, &limit))
                return EXIT_USAGE;
            break;
        case 'f':
            if (strcmp(optarg, "text") == 0)
                format = QPS_FORMAT_TEXT;
            else if (strcmp(optarg, "csv") == 0)
                format = QPS_FORMAT_CSV;
            else if (strcmp(optarg, "json") == 0)
                format = QPS_FORMAT_JSON;
            else
                return cli_usage("--format is text, csv or json, not '%s'", optarg);
            break;
        case OPT_UTC: utc = true; break;
        default: return cli_usage_hint();
        }
    }
    if (exit_status >= 0)
        return exit_status;
    if (dbs.n && cli_journal_chosen())
        return cli_usage("--db reads the store, not the journal: drop one of them");
    if (dbs.n && optind < argc)
        return cli_usage("--db reads the store, not log files: drop '%s'", argv[optind]);

    qps_agg_opts opts = {0};
    opts.parser.terse_prefix = prefix;
    opts.parser.now = now;
    qps_range_select(&range, &opts);
    opts.utc = utc;
    opts.where = where.w;
    opts.nwhere = where.n;
    opts.dims = QPS_DIM_BIT(QPS_DIM_SPAM); /* the selection only: the cheapest table */
    qps_categories *map = NULL;
    if (categories || cli_uses_categories(NULL, 0, &where)) {
        if (!(map = cli_categories(categories)))
            return EXIT_RUNTIME;
        opts.categories = map;
    }
    lister k = {qps_agg_new(&opts), qps_parser_new(&opts.parser), qps_list_new((size_t)limit), false};
    if (!k.selection || !k.parser || !k.list) {
        qps_categories_free(map);
        qps_agg_free(k.selection);
        qps_parser_free(k.parser);
        qps_list_free(k.list);
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    int errors = 0;
    if (cli_stores_source(&dbs, argc - optind + cli_journal_chosen())) {
        errors = cli_stores_each(&dbs, range.has_since ? range.since : INT64_MIN,
                                 range.has_until ? range.until : INT64_MAX, from_store, &k, &k.oom);
    } else {
        qps_lines *lines = qps_lines_new();
        qps_logset *logs = lines ? cli_logs_expand(argv + optind, argc - optind, &errors) : NULL;
        if (!lines)
            k.oom = true;
        else if (!logs)
            errors++;
        for (size_t i = 0; logs && i < qps_logset_count(logs) && !k.oom; i++)
            if (cli_read_lines(qps_logset_entry(logs, i), lines, from_line, &k) != 0)
                errors += !k.oom;
        qps_logset_free(logs);
        qps_lines_free(lines);
    }
    if (k.oom) {
        cli_error("out of memory");
        errors++;
    }
    int rc = errors ? EXIT_RUNTIME : EXIT_OK;
    if (qps_list_render(k.list, format, utc, cli_write_stdout, NULL) != QPS_OK || fflush(stdout) != 0) {
        cli_error("cannot write the list");
        rc = EXIT_RUNTIME;
    }
    uint64_t older = qps_list_matched(k.list) - qps_list_shown(k.list);
    if (format == QPS_FORMAT_TEXT && older)
        cli_error("%llu older matching transactions not shown (--limit)", (unsigned long long)older);
    qps_list_free(k.list);
    qps_agg_free(k.selection);
    qps_parser_free(k.parser);
    qps_categories_free(map);
    return rc;
}
