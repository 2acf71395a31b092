/*
 * cli_time.c - the report's time selection: --since/--until texts and
 * local calendar days for --today, --yesterday and --days.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool cli_parse_when(const char *s, bool is_until, int64_t *out)
{
    qps_civil c = {0};
    if (strlen(s) < 10 || !digits(s, 4, &c.year) || s[4] != '-' || !digits(s + 5, 2, &c.month) || s[7] != '-' ||
        !digits(s + 8, 2, &c.day))
        return false;
    const char *p = s + 10;
    bool date_only = *p == '\0';
    if (!date_only) {
        if ((*p != ' ' && *p != 'T') || !digits(p + 1, 2, &c.hour) || p[3] != ':' || !digits(p + 4, 2, &c.minute))
            return false;
        p += 6;
        if (*p == ':') {
            if (!digits(p + 1, 2, &c.second))
                return false;
            p += 3;
        }
    }
    bool utc = false;
    long offset = 0;
    if (*p == 'Z') {
        utc = true;
        p++;
    } else if ((*p == '+' || *p == '-') && !date_only) {
        int hh, mm;
        if (!digits(p + 1, 2, &hh) || p[3] != ':' || !digits(p + 4, 2, &mm))
            return false;
        utc = true;
        offset = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p != '\0')
        return false;
    /* days beyond the month's end are errors, not next month */
    int64_t day = qps_days_from_civil(c.year, c.month, c.day);
    qps_civil check;
    if (qps_civil_from_unix(NULL, day * 86400, 1, &check) != QPS_OK || check.month != c.month ||
        check.day != c.day)
        return false;
    int64_t t;
    if (qps_unix_from_civil(NULL, &c, utc, &t) != QPS_OK)
        return false;
    if (date_only && is_until) {
        /* "--until 2026-11-25" includes that day */
        qps_civil next = c;
        int64_t nd = day + 1;
        if (qps_civil_from_unix(NULL, nd * 86400, 1, &next) != QPS_OK)
            return false;
        next.hour = next.minute = next.second = 0;
        if (qps_unix_from_civil(NULL, &next, utc, &t) != QPS_OK)
            return false;
    }
    *out = t - offset;
    return true;
}

/* Unix time of local midnight that starts the day `back` days before now's. */
static int64_t local_midnight(int64_t now, int back)
{
    qps_civil c;
    if (qps_civil_from_unix(NULL, now, 0, &c) != QPS_OK)
        return now;
    int64_t day = qps_days_from_civil(c.year, c.month, c.day) - back;
    qps_civil d;
    qps_civil_from_unix(NULL, day * 86400, 1, &d);
    d.hour = d.minute = d.second = 0;
    int64_t t;
    if (qps_unix_from_civil(NULL, &d, 0, &t) != QPS_OK)
        return now;
    return t;
}

void cli_format_date(int64_t t, char out[11])
{
    qps_civil c;
    if (qps_civil_from_unix(NULL, t, 0, &c) != QPS_OK)
        memset(&c, 0, sizeof c);
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(c.year % 10000 + 10000) % 10000, (unsigned)c.month % 100u,
             (unsigned)c.day % 100u);
}

void cli_range_days(cli_range *r, int64_t now, int first_back, int last_back)
{
    r->since = local_midnight(now, first_back);
    r->until = local_midnight(now, last_back - 1);
    r->has_since = r->has_until = true;
    char a[11], b[11];
    cli_format_date(r->since, a);
    cli_format_date(r->until - 1, b);
    if (strcmp(a, b) == 0)
        snprintf(r->label, sizeof r->label, "%s", a);
    else if (first_back == 1 && last_back == 0)
        snprintf(r->label, sizeof r->label, "%s|%s", b, a); /* the seed's "today|yesterday" */
    else
        snprintf(r->label, sizeof r->label, "%s to %s", a, b);
}

/* The time options shared by report, grep and dnsbl-test. */
int cli_time_option(int opt, const char *arg, int64_t now, cli_range *r, int *exclusive)
{
    long days;
    switch (opt) {
    case CLI_OPT_TODAY:
        cli_range_days(r, now, 0, 0);
        ++*exclusive;
        break;
    case CLI_OPT_YESTERDAY:
        cli_range_days(r, now, 1, 1);
        ++*exclusive;
        break;
    case CLI_OPT_DAYS:
        if (!cli_number("--days", arg, 1, 100000, &days))
            return EXIT_USAGE;
        r->since = now - days * 86400;
        r->has_since = true;
        r->has_until = false;
        snprintf(r->label, sizeof r->label, "the last %ld days", days);
        ++*exclusive;
        break;
    case CLI_OPT_SINCE:
        if (!cli_parse_when(arg, false, &r->since)) {
            return cli_usage("--since: not a date or time: '%s'", arg);
        }
        r->has_since = true;
        break;
    case CLI_OPT_UNTIL:
        if (!cli_parse_when(arg, true, &r->until)) {
            return cli_usage("--until: not a date or time: '%s'", arg);
        }
        r->has_until = true;
        break;
    default:
        return EXIT_USAGE;
    }
    if (*exclusive > 1) {
        return cli_usage("give only one of --today, --yesterday and --days");
    }
    return 0;
}

void cli_range_select(const cli_range *r, qps_agg_opts *opts)
{
    opts->since = r->since;
    opts->until = r->until;
    opts->has_since = r->has_since;
    opts->has_until = r->has_until;
}

bool cli_range_keeps(const cli_range *r, bool has_time, int64_t t)
{
    if (!r || (!r->has_since && !r->has_until))
        return true;
    if (!has_time)
        return false;
    return (!r->has_since || t >= r->since) && (!r->has_until || t < r->until);
}

bool cli_file_before(const char *path, int64_t since)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strlen(base) != 27 || base[0] != '@' || base[25] != '.' || (base[26] != 's' && base[26] != 'u'))
        return false;
    int64_t t;
    uint32_t ns;
    if (qps_tai64n_decode(base + 1, &t, &ns) != QPS_OK)
        return false;
    return t < since;
}
