/*
 * opts.c - the one voice of every qpstat command: its messages (runtime
 * errors and usage errors in one shape), its number parser and the options
 * several commands share (--db and QPSTAT_DB, --prefix; the time options
 * are time.c's).
 *
 * The command's name is the only global state of the CLI: main sets it
 * once, before the command runs, so a message from any helper names the
 * command the user typed.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *command_name;

void cli_set_command(const char *name)
{
    command_name = name;
}

/* A message quotes what the user typed and what the logs hold (a file
 * name, a --where value, a pattern): the whole message goes through the
 * terminal policy, so none of it can drive the terminal. */
static void vmessage(const char *fmt, va_list ap)
{
    char stack[1024];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    char *text = stack;
    if (n >= (int)sizeof stack) {
        text = malloc((size_t)n + 1);
        if (text)
            vsnprintf(text, (size_t)n + 1, fmt, again);
        else
            text = stack; /* the message cut, rather than none */
    }
    va_end(again);
    if (n < 0)
        stack[0] = '\0';
    size_t len = strlen(text);
    qps_buf out = {0};
    if (command_name)
        qps_buf_printf(&out, "qpstat %s: ", command_name);
    else
        qps_buf_append(&out, "qpstat: ", 8);
    qps_escape_text(&out, text, len);
    qps_buf_putc(&out, '\n');
    if (!out.failed)
        fwrite(out.data, 1, out.len, stderr);
    else
        fprintf(stderr, "qpstat: %s\n", "out of memory");
    qps_buf_release(&out);
    if (text != stack)
        free(text);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

int cli_usage_hint(void)
{
    if (command_name)
        fprintf(stderr, "Try 'qpstat %s --help'.\n", command_name);
    else
        fputs("Try 'qpstat --help'.\n", stderr);
    return EXIT_USAGE;
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    return cli_usage_hint();
}

bool cli_whole_number(const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    /* strtol skips leading blanks and takes a sign: " 5" and "+5" are typos here */
    if (errno || end == text || *end || !(*text >= '0' && *text <= '9') || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool cli_number(const char *option, const char *text, long min, long max, long *out)
{
    if (!cli_whole_number(text, min, max, out)) {
        cli_usage("%s takes a whole number from %ld to %ld, not '%s'", option, min, max, text);
        return false;
    }
    return true;
}

bool cli_file_argument(const char *option, const char *arg, bool quiet)
{
    /* getopt takes the next word as the argument: "--db --by x" would read
     * a store called "--by" */
    if (arg[0] == '-' && arg[1] != '\0') {
        if (!quiet)
            cli_usage("%s needs a FILE, not the option '%s' (name such a file ./%s)", option, arg, arg);
        return false;
    }
    if (!*arg || strcmp(arg, "-") == 0) {
        if (!quiet)
            cli_usage("%s needs a FILE, not '%s'", option, arg);
        return false;
    }
    return true;
}

bool cli_prefix_argument(const char *arg)
{
    if (!*arg) {
        cli_usage("--prefix must not be empty");
        return false;
    }
    return true;
}

/* ---- the store ---- */

const char *cli_db_env(void)
{
    const char *env = getenv("QPSTAT_DB");
    return env && *env ? env : NULL;
}

const char *cli_default_db(void)
{
    const char *env = cli_db_env();
    return env ? env : "/var/lib/qpstat/qpstat.db";
}

const char *cli_db_source(const char *given, int npaths)
{
    if (given)
        return given;
    return npaths == 0 ? cli_db_env() : NULL;
}
