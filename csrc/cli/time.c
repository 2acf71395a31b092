/*
 * time.c - the time options' glue: "now" (QPSTAT_NOW for tests) and the
 * getopt cases of --today, --yesterday, --days, --since and --until, handed
 * to the core's range (qps_range_*, range.c), whose messages become usage
 * errors.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <stdlib.h>
#include <time.h>

int64_t cli_now(void)
{
    const char *fixed = getenv("QPSTAT_NOW");
    if (fixed && *fixed) {
        char *end;
        long long v = strtoll(fixed, &end, 10);
        if (*end == '\0')
            return v;
    }
    return (int64_t)time(NULL);
}

void cli_range_init(qps_range *r)
{
    qps_range_init(r, "--");
}

int cli_time_option(int opt, const char *arg, qps_range *r)
{
    qps_status st;
    switch (opt) {
    case CLI_OPT_TODAY: st = qps_range_today(r); break;
    case CLI_OPT_YESTERDAY: st = qps_range_yesterday(r); break;
    case CLI_OPT_DAYS: st = qps_range_days(r, arg); break;
    case CLI_OPT_SINCE: st = qps_range_since(r, arg); break;
    case CLI_OPT_UNTIL: st = qps_range_until(r, arg); break;
    default: return EXIT_USAGE;
    }
    return st == QPS_OK ? 0 : cli_usage("%s", r->error);
}

int cli_range_done(qps_range *r, int64_t now, bool mail_default)
{
    return qps_range_finish(r, now, mail_default) == QPS_OK ? 0 : cli_usage("%s", r->error);
}
