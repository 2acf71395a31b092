/*
 * shared.c - the options several commands share, taken in one place: the
 * time options, the journal's, --prefix, --categories, --db (several
 * stores or the one), --help, and getopt's own complaints (an unknown
 * option, a missing argument) in the CLI's voice, escaped as every
 * message is.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

/* The option as the user wrote it: "--name" (without "=value") or "-c". */
static void option_text(char **argv, char *out, size_t cap)
{
    const char *word = optind > 0 ? argv[optind - 1] : NULL;
    if (word && strncmp(word, "--", 2) == 0) {
        size_t len = strcspn(word, "=");
        snprintf(out, cap, "%.*s", (int)len, word);
    } else if (optopt > 0 && optopt < 256) {
        snprintf(out, cap, "-%c", optopt);
    } else {
        snprintf(out, cap, "%s", word ? word : "?");
    }
}

/* getopt also refuses an abbreviation that fits several long options. */
static int unknown_option(const char *text, const struct option *longopts)
{
    char fits[256] = "";
    size_t n = 0, len = strncmp(text, "--", 2) == 0 ? strlen(text) - 2 : 0;
    if (len > 0)
        for (const struct option *o = longopts; o->name; o++)
            if (strncmp(o->name, text + 2, len) == 0) {
                size_t used = strlen(fits);
                snprintf(fits + used, sizeof fits - used, "%s--%s", n++ ? ", " : "", o->name);
            }
    if (n > 1)
        return cli_usage("'%s' is short for several options (%s): write more of it", text, fits);
    return cli_usage("unknown option '%s'", text);
}

static bool is_time_option(int c)
{
    return c == CLI_OPT_TODAY || c == CLI_OPT_YESTERDAY || c == CLI_OPT_DAYS || c == CLI_OPT_SINCE ||
           c == CLI_OPT_UNTIL;
}

static bool is_journal_option(int c)
{
    return c == CLI_OPT_JOURNAL || c == CLI_OPT_JOURNAL_FILE || c == CLI_OPT_JOURNAL_DIR || c == CLI_OPT_UNIT;
}

/* CLI_TAKEN, CLI_OTHER (the command's own), or the exit status. */
enum { CLI_TAKEN = -1, CLI_OTHER = -2 };

static int shared_option(int c, char **argv, const struct option *longopts, const cli_shared *s)
{
    char text[128];
    int rc;
    switch (c) {
    case 'h':
        if (!s->usage)
            return CLI_OTHER;
        fputs(s->usage, stdout);
        return EXIT_OK;
    case ':':
        option_text(argv, text, sizeof text);
        return cli_usage("%s needs an argument", text);
    case '?':
        option_text(argv, text, sizeof text);
        /* getopt names a known long option given a value it does not take */
        if (optopt && strncmp(text, "--", 2) == 0 && strchr(argv[optind - 1], '='))
            return cli_usage("%s takes no value", text);
        return unknown_option(text, longopts);
    case CLI_OPT_PREFIX:
        if (!s->prefix)
            return CLI_OTHER;
        if (!cli_prefix_argument(optarg))
            return EXIT_USAGE;
        *s->prefix = optarg;
        return CLI_TAKEN;
    case CLI_OPT_CATEGORIES:
        if (!s->categories)
            return CLI_OTHER;
        if (!cli_file_argument("--categories", optarg, false))
            return EXIT_USAGE;
        *s->categories = optarg;
        return CLI_TAKEN;
    case CLI_OPT_DB:
        if (!s->stores)
            return CLI_OTHER;
        return cli_stores_add(s->stores, optarg) ? CLI_TAKEN : EXIT_USAGE;
    case 'd':
        if (!s->db)
            return CLI_OTHER;
        if (!cli_file_argument("--db", optarg, false))
            return EXIT_USAGE;
        *s->db = optarg;
        return CLI_TAKEN;
    default:
        if (s->range && is_time_option(c))
            return (rc = cli_time_option(c, optarg, s->range)) == 0 ? CLI_TAKEN : rc;
        if (s->journal && is_journal_option(c))
            return (rc = cli_journal_option(c, optarg)) == 0 ? CLI_TAKEN : rc;
        return CLI_OTHER;
    }
}

/* After the last option: the range against now, the journal's choice. */
static int options_done(const cli_shared *s)
{
    int rc;
    if (s->range && cli_range_done(s->range, s->now, s->mail_default && *s->mail_default) != 0)
        return EXIT_USAGE;
    if (s->journal && (rc = cli_journal_done()) != 0)
        return rc;
    return -1;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts, const cli_shared *s,
               int *exit_status)
{
    /* a leading ':' makes getopt return ':' for a missing argument and
     * print nothing; -h and -d are the shared groups' */
    char quiet[64];
    snprintf(quiet, sizeof quiet, ":%s%s%s", shortopts, s->usage ? "h" : "", s->db ? "d:" : "");
    *exit_status = -1;
    for (;;) {
        int c = getopt_long(argc, argv, quiet, longopts, NULL);
        if (c == -1) {
            *exit_status = options_done(s);
            return -1;
        }
        int rc = shared_option(c, argv, longopts, s);
        if (rc == CLI_OTHER)
            return c;
        if (rc != CLI_TAKEN) {
            *exit_status = rc;
            return -1;
        }
    }
}
