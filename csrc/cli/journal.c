/*
 * journal.c - the journal options every reading command shares (--journal,
 * --journal-file, --journal-dir, --unit) and the fallback to the journal
 * when the SME log directories hold no logs. Reading it is the core's
 * (qps_logset_add_journal, qps_reader).
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 64

/* The command's choice, set while its options are parsed (one command
 * runs per process). */
static struct {
    bool chosen;
    const char *files[MAX_NAMES];
    size_t nfiles;
    const char *dir;
    const char *units[MAX_NAMES];
    size_t nunits;
} sel;

int cli_journal_option(int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_JOURNAL:
        break;
    case CLI_OPT_JOURNAL_FILE:
        if (!cli_file_argument("--journal-file", arg, false))
            return EXIT_USAGE;
        if (sel.nfiles == MAX_NAMES)
            return cli_usage("at most %d --journal-file", MAX_NAMES);
        sel.files[sel.nfiles++] = arg;
        break;
    case CLI_OPT_JOURNAL_DIR:
        if (!cli_file_argument("--journal-dir", arg, false))
            return EXIT_USAGE;
        if (sel.dir)
            return cli_usage("--journal-dir is given once");
        sel.dir = arg;
        break;
    case CLI_OPT_UNIT:
        if (!*arg || strchr(arg, '=') || strchr(arg, ' '))
            return cli_usage("--unit needs a unit name (qpsmtpd, uqpsmtpd.service), not '%s'", arg);
        if (sel.nunits == MAX_NAMES)
            return cli_usage("at most %d --unit", MAX_NAMES);
        sel.units[sel.nunits++] = arg;
        break;
    default:
        return cli_usage("unknown journal option");
    }
    sel.chosen = true;
    return 0;
}

int cli_journal_done(void)
{
    if (sel.dir && sel.nfiles)
        return cli_usage("--journal-file and --journal-dir name different journals: give one of them");
    if (sel.chosen && !qps_journal_supported()) {
        cli_error("built without journal support: install libsystemd-dev (systemd-devel) and build again");
        return EXIT_RUNTIME;
    }
    return 0;
}

bool cli_journal_chosen(void)
{
    return sel.chosen;
}

void cli_journal_spec(qps_journal_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->files = sel.nfiles ? sel.files : NULL;
    spec->nfiles = sel.nfiles;
    const char *env = getenv("QPSTAT_JOURNAL_DIR");
    spec->dir = sel.dir ? sel.dir : !sel.nfiles && env && *env ? env : NULL;
    spec->units = sel.nunits ? sel.units : NULL;
    spec->nunits = sel.nunits;
}

const char *cli_journal_units_text(void)
{
    static char text[256];
    size_t n = sel.nunits ? sel.nunits : 3;
    static const char *const defaults[] = {"qpsmtpd.service", "uqpsmtpd.service", "sqpsmtpd.service"};
    text[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(text);
        snprintf(text + len, sizeof text - len, "%s%s", i ? ", " : "", sel.nunits ? sel.units[i] : defaults[i]);
    }
    return text;
}

bool cli_journal_fallback(qps_logset *set, const char *why)
{
    if (!qps_journal_supported())
        return false;
    qps_journal_spec spec;
    cli_journal_spec(&spec);
    int found = 0;
    if (qps_journal_probe(&spec, &found) != QPS_OK || !found)
        return false;
    if (qps_logset_add_journal(set, &spec) != QPS_OK)
        return false;
    cli_error("%s: reading the journal (units %s)", why, cli_journal_units_text());
    return true;
}

void cli_reader_note(const qps_log_entry *e, const qps_reader *r)
{
    const char *note = qps_reader_note(r);
    if (note)
        cli_error("warning: %s: %s", e->path, note);
}

int cli_import_journal(qps_store *store, const char *server, uint64_t *added)
{
    qps_journal_spec spec;
    cli_journal_spec(&spec);
    qps_import_opts opts = {.server = server};
    qps_import_result res;
    qps_status st = qps_store_import_journal(store, &spec, &opts, &res);
    if (added)
        *added += res.added;
    if (res.note[0])
        cli_error("%s%s", res.journal_gap ? "" : "warning: ", res.note);
    if (st != QPS_OK) {
        cli_error("%s", qps_store_error(store));
        return -1;
    }
    return res.journal_gap ? -1 : 0;
}
