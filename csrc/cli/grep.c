/*
 * cli_grep.c - "qpstat grep": qploggrep. Searches every qpsmtpd log
 * (multilog current, @*.s, @*.u, logrotate files, .gz) for a pattern and
 * prints each matching connection in qpstat tail's layout, with the raw
 * time stamp (or local time) first.
 *
 * A connection matches when any of its log lines does, so an address is
 * found even where the logterse record has no sender (a deny at MAIL FROM
 * still logs "dispatching MAIL FROM:<...>"). The pattern is a fixed string,
 * case-insensitive by default, as the seed's examples ("/40 ", ".xyz>",
 * ".") mean it; -E makes it a POSIX extended regular expression.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: qpstat grep [options] PATTERN [PATH...]\n"
    "qploggrep: prints the connections any of whose log lines contains PATTERN, in the\n"
    "layout of 'qpstat tail' with the raw time stamp first:\n"
    "  STAMP  PID  IP  n/M | DISPOSITION  SPAM  SENDER  RCPTS  TEXT | N.NNN sec. | ...\n"
    "PATTERN is a fixed string, matched case-insensitively against each line without its\n"
    "time stamp. PATH: files, multilog directories (@*.s, @*.u, current), logrotate\n"
    "directories, .gz files, - for stdin (default /var/log/qpsmtpd and /var/log/sqpsmtpd).\n"
    "\n"
    "  -i, --ignore-case     case-insensitive (the default)\n"
    "  -I, --case-sensitive  case-sensitive\n"
    "  -E, --regex           PATTERN is a POSIX extended regular expression\n"
    "  -F, --fixed           PATTERN is a fixed string (the default)\n"
    "  --lines               print only the events whose own line matches, not whole\n"
    "                        connections (for sorting: grep --lines connection_time | sort ...)\n"
    "  --local               local time (as tai64nlocal writes it) instead of the raw stamp\n"
    "  --today, --yesterday, --days N (the last N*24 hours)\n"
    "  --since TIME, --until TIME   YYYY-MM-DD[ HH:MM[:SS]], local time unless Z or +hh:mm\n"
    "  --prefix STR          logterse prefix (default `)\n"
    CLI_JOURNAL_HELP
    "  -h, --help            this help\n"
    "Exit status: 0 when a connection matched, 1 when none did (or a file could not be read).\n";

typedef struct {
    bool regex, icase;
    regex_t re;
    char *needle; /* fixed string, lower-cased when icase */
    size_t needle_len;
    char *fold;   /* a line, lower-cased or NUL-terminated for regexec */
} matcher;

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int match_line(void *ctx, const char *text, size_t len)
{
    matcher *m = ctx;
    if (len > QPS_LINE_MAX)
        len = QPS_LINE_MAX;
    if (m->regex) {
        /* NUL bytes never reach here: the parser rejects such lines */
        memcpy(m->fold, text, len);
        m->fold[len] = '\0';
        return regexec(&m->re, m->fold, 0, NULL, 0) == 0;
    }
    if (!m->icase)
        return memmem(text, len, m->needle, m->needle_len) != NULL;
    for (size_t i = 0; i < len; i++)
        m->fold[i] = (char)lower((unsigned char)text[i]);
    return memmem(m->fold, len, m->needle, m->needle_len) != NULL;
}

/* ctx counts the lines written: none is exit 1, as grep(1) */
static int write_line(void *ctx, const char *line, size_t len)
{
    ++*(uint64_t *)ctx;
    if (fwrite(line, 1, len, stdout) != len || putchar('\n') == EOF) {
        cli_error("cannot write the output: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int cli_grep(int argc, char **argv)
{
    enum { OPT_LINES = 256, OPT_LOCAL };
    static const struct option options[] = {
        {"ignore-case", no_argument, NULL, 'i'},
        {"case-sensitive", no_argument, NULL, 'I'},
        {"regex", no_argument, NULL, 'E'},
        {"fixed", no_argument, NULL, 'F'},
        {"lines", no_argument, NULL, OPT_LINES},
        {"local", no_argument, NULL, OPT_LOCAL},
        CLI_TIME_OPTIONS, CLI_JOURNAL_OPTIONS, CLI_PREFIX_OPTION, CLI_HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    matcher m = {.icase = true};
    qps_join_mode mode = QPS_JOIN_CONNECTIONS;
    qps_stamp_mode stamp = QPS_STAMP_RAW;
    const char *prefix = NULL;
    int64_t now = cli_now();
    qps_range range;
    cli_range_init(&range);
    cli_shared shared = {.usage = usage_text, .range = &range, .now = now, .prefix = &prefix, .journal = true};
    int c, rc, exit_status;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "iIEF", options, &shared, &exit_status)) != -1) {
        switch (c) {
        case 'i': m.icase = true; break;
        case 'I': m.icase = false; break;
        case 'E': m.regex = true; break;
        case 'F': m.regex = false; break;
        case OPT_LINES: mode = QPS_JOIN_LINES; break;
        case OPT_LOCAL: stamp = QPS_STAMP_LOCAL; break;
        default: return cli_usage_hint();
        }
    }
    if (exit_status >= 0)
        return exit_status;
    if (optind >= argc)
        return cli_usage("no PATTERN given");
    const char *pattern = argv[optind++];
    if (!*pattern) {
        return cli_usage("the PATTERN is empty (use . to see every connection)");
    }
    m.fold = malloc(QPS_LINE_MAX + 1);
    if (!m.fold) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    if (m.regex) {
        int err = regcomp(&m.re, pattern, REG_EXTENDED | REG_NOSUB | (m.icase ? REG_ICASE : 0));
        if (err) {
            char msg[256];
            regerror(err, &m.re, msg, sizeof msg);
            free(m.fold);
            return cli_usage("bad regular expression '%s': %s", pattern, msg);
        }
    } else {
        m.needle_len = strlen(pattern);
        m.needle = malloc(m.needle_len + 1);
        if (!m.needle) {
            cli_error("out of memory");
            free(m.fold);
            return EXIT_RUNTIME;
        }
        for (size_t i = 0; i <= m.needle_len; i++)
            m.needle[i] = m.icase ? (char)lower((unsigned char)pattern[i]) : pattern[i];
    }

    qps_join_opts jo = {0};
    jo.stamp = stamp;
    jo.mode = mode;
    jo.match = match_line;
    jo.match_ctx = &m;
    uint64_t written = 0;
    jo.emit = write_line;
    jo.emit_ctx = &written;
    jo.has_since = range.has_since;
    jo.since = range.since;
    jo.has_until = range.has_until;
    jo.until = range.until;
    jo.terse_prefix = prefix;
    jo.now = now;
    qps_join *join = qps_join_new(&jo);
    qps_lines *lines = qps_lines_new();
    qps_logset *logs = NULL;
    int errors = 0;
    rc = EXIT_OK;
    if (!join || !lines) {
        cli_error("out of memory");
        rc = EXIT_RUNTIME;
    } else if (!(logs = cli_logs_expand(argv + optind, argc - optind, &errors))) {
        rc = EXIT_RUNTIME;
    } else {
        /* one stream over every file, in time order, so that a connection
         * cut by a rotation stays one connection */
        for (size_t i = 0; i < qps_logset_count(logs); i++) {
            const qps_log_entry *e = qps_logset_entry(logs, i);
            if (qps_range_skips_log(&range, e->path))
                continue;
            if (cli_read_lines(e, lines, cli_join_line, join) != 0)
                errors++;
            if (ferror(stdout))
                break; /* reported once; the rest would fail the same way */
        }
        if (cli_join_finish(join) != 0)
            errors++;
        uint64_t early = qps_join_ended_early(join);
        if (early)
            cli_error("%llu connections did not end within the memory budget; each was printed with the "
                      "events seen so far",
                      (unsigned long long)early);
        if (fflush(stdout) != 0) {
            cli_error("cannot write the output: %s", strerror(errno));
            errors++;
        }
        if (errors || written == 0)
            rc = EXIT_RUNTIME;
    }
    qps_logset_free(logs);
    qps_lines_free(lines);
    qps_join_free(join);
    if (m.regex)
        regfree(&m.re);
    free(m.needle);
    free(m.fold);
    return rc;
}
