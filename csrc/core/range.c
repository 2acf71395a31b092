/*
 * range.c - the time options of every door read once: today, yesterday,
 * the last N days, since and until, their limits, their messages and the
 * mail's date label (the rules are in qpstat.h).
 *
 * The CLI, serve's API and the Perl modules used to read these each in
 * their own way, and they disagreed (Perl took days => 200000, the CLI
 * refused it). Options are collected first and the range computed at the
 * end, so that a Perl hash (no order) and a command line (an order) give
 * the same range.
 *
 * License: MIT (see LICENSE).
 */
#include "qps_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void qps_range_init(qps_range *r, const char *option_prefix)
{
    memset(r, 0, sizeof *r);
    r->opt_prefix_ = option_prefix ? option_prefix : "";
}

static qps_status refuse(qps_range *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static qps_status refuse(qps_range *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    return QPS_EINVAL;
}

static qps_status relative(qps_range *r, int back_first, int back_last, long days)
{
    const char *p = r->opt_prefix_;
    if (r->relative_)
        return refuse(r, "give only one of %stoday, %syesterday and %sdays", p, p, p);
    r->relative_ = 1;
    r->back_first_ = back_first;
    r->back_last_ = back_last;
    r->days_ = days;
    return QPS_OK;
}

qps_status qps_range_today(qps_range *r)
{
    return relative(r, 0, 0, 0);
}

qps_status qps_range_yesterday(qps_range *r)
{
    return relative(r, 1, 1, 0);
}

qps_status qps_range_days(qps_range *r, const char *text)
{
    /* digits only: strtol's blanks, signs and "7x" are typos here */
    long days = 0;
    bool ok = *text != '\0';
    for (const char *p = text; ok && *p; p++) {
        ok = *p >= '0' && *p <= '9';
        days = days * 10 + (*p - '0');
        if (days > QPS_RANGE_MAX_DAYS)
            ok = false;
    }
    if (!ok || days < 1)
        return refuse(r, "%sdays takes a whole number from 1 to %d, not '%.100s'", r->opt_prefix_,
                      QPS_RANGE_MAX_DAYS, text);
    return relative(r, 0, 0, days);
}

static qps_status bound(qps_range *r, const char *text, int is_until)
{
    int64_t t;
    if (qps_parse_when(text, is_until, &t) != QPS_OK)
        return refuse(r, "%s%s: not a date or time: '%.100s'", r->opt_prefix_, is_until ? "until" : "since", text);
    if (is_until)
        qps_range_until_unix(r, t);
    else
        qps_range_since_unix(r, t);
    return QPS_OK;
}

qps_status qps_range_since(qps_range *r, const char *text)
{
    return bound(r, text, 0);
}

qps_status qps_range_until(qps_range *r, const char *text)
{
    return bound(r, text, 1);
}

void qps_range_since_unix(qps_range *r, int64_t t)
{
    r->set_since_ = 1;
    r->since_ = t;
}

void qps_range_until_unix(qps_range *r, int64_t t)
{
    r->set_until_ = 1;
    r->until_ = t;
}

/* Unix time of the local midnight that starts the day `back` days before
 * now's (back -1: tomorrow's). */
static int64_t local_midnight(int64_t now, int back)
{
    qps_civil c;
    if (qps_civil_from_unix(NULL, now, 0, &c) != QPS_OK)
        return now;
    int64_t day = qps_days_from_civil(c.year, c.month, c.day) - back;
    qps_civil d;
    if (qps_civil_from_unix(NULL, day * 86400, 1, &d) != QPS_OK)
        return now;
    d.hour = d.minute = d.second = 0;
    int64_t t;
    if (qps_unix_from_civil(NULL, &d, 0, &t) != QPS_OK)
        return now;
    return t;
}

qps_status qps_range_finish(qps_range *r, int64_t now, int mail_default)
{
    if (mail_default && !r->relative_ && !r->set_since_ && !r->set_until_)
        relative(r, 1, 0, 0);
    r->has_since = r->has_until = 0;
    r->label[0] = '\0';
    if (r->relative_ && r->days_) {
        r->since = now - (int64_t)r->days_ * 86400;
        r->has_since = 1;
        snprintf(r->label, sizeof r->label, "the last %ld days", r->days_);
    } else if (r->relative_) {
        r->since = local_midnight(now, r->back_first_);
        r->until = local_midnight(now, r->back_last_ - 1);
        r->has_since = r->has_until = 1;
        char a[11], b[11];
        qps_format_date(r->since, a);
        qps_format_date(r->until - 1, b);
        if (strcmp(a, b) == 0)
            snprintf(r->label, sizeof r->label, "%s", a);
        else if (r->back_first_ == 1 && r->back_last_ == 0)
            snprintf(r->label, sizeof r->label, "%s|%s", b, a); /* the seed's "today|yesterday" */
        else
            snprintf(r->label, sizeof r->label, "%s to %s", a, b);
    }
    if (r->set_since_ || r->set_until_) {
        if (r->set_since_) {
            r->since = r->since_;
            r->has_since = 1;
        }
        if (r->set_until_) {
            r->until = r->until_;
            r->has_until = 1;
        }
        /* the dates actually selected, an open end left empty */
        char a[11] = "", b[11] = "";
        if (r->has_since)
            qps_format_date(r->since, a);
        if (r->has_until)
            qps_format_date(r->until - 1, b);
        snprintf(r->label, sizeof r->label, "%s to %s", a, b);
    }
    if (r->has_since && r->has_until && r->since >= r->until) {
        const char *p = r->opt_prefix_;
        return refuse(r, "%ssince must come before %suntil: the range is empty", p, p);
    }
    return QPS_OK;
}

void qps_range_select(const qps_range *r, qps_agg_opts *opts)
{
    opts->since = r->since;
    opts->until = r->until;
    opts->has_since = r->has_since;
    opts->has_until = r->has_until;
}

int qps_range_keeps(const qps_range *r, int has_time, int64_t t)
{
    if (!r || (!r->has_since && !r->has_until))
        return 1;
    if (!has_time)
        return 0;
    return (!r->has_since || t >= r->since) && (!r->has_until || t < r->until);
}

int qps_range_skips_log(const qps_range *r, const char *path)
{
    if (!r || !r->has_since)
        return 0;
    /* multilog names an old log after the TAI64N time it was closed */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strlen(base) != 27 || base[0] != '@' || base[25] != '.' || (base[26] != 's' && base[26] != 'u'))
        return 0;
    int64_t t;
    uint32_t ns;
    if (qps_tai64n_decode(base + 1, &t, &ns) != QPS_OK)
        return 0;
    return t < r->since;
}

/* ---- the texts ---- */

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

qps_status qps_parse_when(const char *s, int is_until, int64_t *out)
{
    qps_civil c = {0};
    if (strlen(s) < 10 || !digits(s, 4, &c.year) || s[4] != '-' || !digits(s + 5, 2, &c.month) || s[7] != '-' ||
        !digits(s + 8, 2, &c.day))
        return QPS_EINVAL;
    const char *p = s + 10;
    bool date_only = *p == '\0';
    if (!date_only) {
        if ((*p != ' ' && *p != 'T') || !digits(p + 1, 2, &c.hour) || p[3] != ':' || !digits(p + 4, 2, &c.minute))
            return QPS_EINVAL;
        p += 6;
        if (*p == ':') {
            if (!digits(p + 1, 2, &c.second))
                return QPS_EINVAL;
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
        if (!digits(p + 1, 2, &hh) || p[3] != ':' || !digits(p + 4, 2, &mm) || hh > 23 || mm > 59)
            return QPS_EINVAL;
        utc = true;
        offset = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    /* 25:00 is a typo, not the next day's 01:00 (60 s: a leap second) */
    if (*p != '\0' || c.hour > 23 || c.minute > 59 || c.second > 60)
        return QPS_EINVAL;
    /* days beyond the month's end are errors, not next month */
    int64_t day = qps_days_from_civil(c.year, c.month, c.day);
    qps_civil check;
    if (qps_civil_from_unix(NULL, day * 86400, 1, &check) != QPS_OK || check.month != c.month || check.day != c.day)
        return QPS_EINVAL;
    if (date_only && is_until) {
        /* "until 2026-11-25" includes that day */
        if (qps_civil_from_unix(NULL, (day + 1) * 86400, 1, &c) != QPS_OK)
            return QPS_EINVAL;
        c.hour = c.minute = c.second = 0;
    }
    int64_t t;
    if (qps_unix_from_civil(NULL, &c, utc, &t) != QPS_OK)
        return QPS_EINVAL;
    *out = t - offset;
    return QPS_OK;
}

void qps_format_date(int64_t t, char out[11])
{
    qps_civil c;
    if (qps_civil_from_unix(NULL, t, 0, &c) != QPS_OK)
        memset(&c, 0, sizeof c);
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(c.year % 10000 + 10000) % 10000, (unsigned)c.month % 100u,
             (unsigned)c.day % 100u);
}
