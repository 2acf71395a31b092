/*
 * qpstat.c - main() of the qpstat command: picks the subcommand.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"report", cli_report, "statistics over log files (disposition, DNSBL, TLD, ...)"},
    {"tai64n", cli_tai64n, "convert TAI64N labels to local time, like tai64nlocal"},
    {"import", cli_import, "add logs to the store, resumably and without duplicates"},
    {"processor", cli_processor, "multilog processor, drop-in for qplogsumm.pl"},
    {"summary", cli_summary, "the qplogsumm report of the logs or the store, at any time"},
    {"tail", cli_tail, "follow current: each connection's n/M, disposition and time (qplogtail)"},
    {"grep", cli_grep, "connections matching a pattern, in tail's layout (qploggrep)"},
    {"dnsbl-test", cli_dnsbl_test, "which logged senders a DNSBL zone lists now"},
    {"received", cli_received, "recent Maildir messages and the IP that delivered them"},
    {"collect", cli_collect, "follow multilog directories into the store, across rotations"},
    {"check", cli_check, "find (and --fix) a missing state file, .u files, a store behind"},
    {"list", cli_list, "the transactions behind a count, newest first (--where KEY=VALUE)"},
    {"serve", cli_serve, "the dashboard, its JSON API and Prometheus metrics over HTTP"},
};

static void usage(FILE *to)
{
    fprintf(to, "usage: qpstat COMMAND [options] [args]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(to, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(to, "\n'qpstat COMMAND --help' lists a command's options, the qpstat(1) man page documents\n"
                "them all; 'qpstat --version' prints the version.\n");
}

int main(int argc, char **argv)
{
    /* a closed pipe (qpstat report | head) ends the program quietly */
    signal(SIGPIPE, SIG_DFL);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("qpstat %s\n", qps_version());
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            /* getopt names the program by argv[0] in its messages */
            char name[64];
            snprintf(name, sizeof name, "qpstat %s", commands[i].name);
            argv[1] = name;
            cli_set_command(commands[i].name);
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    cli_error("unknown command '%s'", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
