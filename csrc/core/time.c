/*
 * qps_time.c - TAI64N labels as daemontools writes them, and civil time.
 *
 * Local time goes through localtime_r() once per hour of log (the
 * qps_tzcache windows, one per direction) and through integer calendar
 * arithmetic otherwise: per-line localtime_r() calls would dominate a
 * report's run time.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <string.h>
#include <time.h>

/* |unix seconds| beyond this overflow the calendar arithmetic below. */
#define UNIX_LIMIT 9000000000000000LL


qps_status qps_tai64n_decode(const char *hex24, int64_t *unix_sec, uint32_t *nsec)
{
    int ok = 1;
    uint64_t sec = ((uint64_t)qps_hex8(hex24, &ok) << 32) | qps_hex8(hex24 + 8, &ok);
    uint32_t frac = qps_hex8(hex24 + 16, &ok);
    if (!ok)
        return QPS_EFORMAT;
    /* Two's-complement wrap is what daemontools does with its unsigned
     * arithmetic; labels below 2^62 become negative times. */
    *unix_sec = (int64_t)(sec - QPS_TAI64_UNIX_OFFSET);
    *nsec = frac;
    return QPS_OK;
}

int qps_time_plausible(int64_t unix_sec)
{
    return unix_sec >= QPS_TIME_MIN && unix_sec < QPS_TIME_MAX;
}

void qps_tai64n_encode(int64_t unix_sec, uint32_t nsec, char out[26])
{
    static const char digits[] = "0123456789abcdef";
    uint64_t sec = (uint64_t)unix_sec + QPS_TAI64_UNIX_OFFSET;
    out[0] = '@';
    for (int i = 15; i >= 0; i--, sec >>= 4)
        out[1 + i] = digits[sec & 15];
    for (int i = 7; i >= 0; i--, nsec >>= 4)
        out[17 + i] = digits[nsec & 15];
    out[25] = '\0';
}

int64_t qps_days_from_civil(int year, int month, int day)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, qps_civil *c)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int month = (int)(mp < 10 ? mp + 3 : mp - 9);
    c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c->month = month;
    c->year = (int)(yoe + era * 400 + (month <= 2));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void civil_from_shifted(int64_t t, long offset, qps_civil *c)
{
    int64_t local = t + offset;
    int64_t days = floor_div(local, 86400);
    int64_t secs = local - days * 86400;
    civil_from_days(days, c);
    c->hour = (int)(secs / 3600);
    c->minute = (int)(secs / 60 % 60);
    c->second = (int)(secs % 60);
    c->weekday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    c->utc_offset = offset;
}

static void civil_from_tm(const struct tm *tm, qps_civil *c)
{
    c->year = tm->tm_year + 1900;
    c->month = tm->tm_mon + 1;
    c->day = tm->tm_mday;
    c->hour = tm->tm_hour;
    c->minute = tm->tm_min;
    c->second = tm->tm_sec;
    c->weekday = tm->tm_wday;
    c->utc_offset = tm->tm_gmtoff;
}

/* True when localtime_r(t) equals calendar arithmetic with offset: false
 * across a change of offset, and always in leap-second ("right/") zones. */
static bool arithmetic_matches(int64_t t, long offset)
{
    time_t tt = (time_t)t;
    struct tm tm;
    qps_civil a, b;
    if (!localtime_r(&tt, &tm))
        return false;
    civil_from_tm(&tm, &a);
    civil_from_shifted(t, offset, &b);
    return a.utc_offset == offset && a.year == b.year && a.month == b.month && a.day == b.day &&
           a.hour == b.hour && a.minute == b.minute && a.second == b.second;
}

qps_status qps_civil_from_unix(qps_tzcache *cache, int64_t t, int utc, qps_civil *out)
{
    if (t > UNIX_LIMIT || t < -UNIX_LIMIT)
        return QPS_ERANGE;
    if (utc) {
        civil_from_shifted(t, 0, out);
        return QPS_OK;
    }
    if (cache && t >= cache->start && t < cache->end) {
        civil_from_shifted(t, cache->offset, out);
        return QPS_OK;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm))
        return QPS_ERANGE;
    civil_from_tm(&tm, out);
    /* Zones change offset at most once an hour: if arithmetic agrees with
     * localtime_r at both ends of the hour, it holds for the whole hour. */
    int64_t start = floor_div(t, 3600) * 3600;
    if (cache && arithmetic_matches(start, tm.tm_gmtoff) && arithmetic_matches(start + 3599, tm.tm_gmtoff)) {
        cache->start = start;
        cache->end = start + 3600;
        cache->offset = tm.tm_gmtoff;
    }
    return QPS_OK;
}

/* True when the aligned hour starting at h has the offset throughout (the
 * premise of qps_civil_from_unix's window). */
static bool hour_has_offset(int64_t h, long offset)
{
    return arithmetic_matches(h, offset) && arithmetic_matches(h + 3599, offset);
}

/* After wall resolved to the one instant wall - offset: when every probe
 * qps_local_instants makes for a wall time of the same hour would find
 * that offset, the hour's walls are resolved by subtraction. The probes
 * are wall +- a day (aligned hours, like wall's) and wall - offset, which
 * spans two aligned hours when the offset is not whole hours. */
static void remember_wall_hour(qps_tzcache *cache, int64_t wall, long offset)
{
    int64_t w = floor_div(wall, 3600) * 3600;
    if (hour_has_offset(w - 86400, offset) && hour_has_offset(w + 86400, offset) &&
        hour_has_offset(floor_div(w - offset, 3600) * 3600, offset) &&
        hour_has_offset(floor_div(w + 3599 - offset, 3600) * 3600, offset)) {
        cache->wall_start = w;
        cache->wall_end = w + 3600;
        cache->wall_offset = offset;
    }
}

qps_status qps_local_instants(qps_tzcache *cache, const qps_civil *c, int64_t *first, int64_t *second, int *count)
{
    if (c->month < 1 || c->month > 12 || c->day < 1 || c->day > 31 || c->hour < 0 || c->hour > 23 ||
        c->minute < 0 || c->minute > 59 || c->second < 0 || c->second > 60)
        return QPS_EFORMAT;
    if (c->year < -9999999 || c->year > 9999999)
        return QPS_ERANGE;
    int64_t wall = qps_days_from_civil(c->year, c->month, c->day) * 86400 + c->hour * 3600 +
                   c->minute * 60 + c->second;
    /* a log's lines stay in one hour for a while: the three probes below
     * cost three localtime_r() calls each time the hours they fall in
     * change, that is on every line */
    if (cache && wall >= cache->wall_start && wall < cache->wall_end) {
        *first = *second = wall - cache->wall_offset;
        *count = 1;
        return QPS_OK;
    }
    /* Around a change of offset, a wall time maps to zero, one or two
     * instants; the offsets a day before and after are the two candidates. */
    qps_civil probe;
    long before, after;
    qps_status st = qps_civil_from_unix(cache, wall - 86400, 0, &probe);
    if (st != QPS_OK)
        return st;
    before = probe.utc_offset;
    if ((st = qps_civil_from_unix(cache, wall + 86400, 0, &probe)) != QPS_OK)
        return st;
    after = probe.utc_offset;
    int64_t found[2];
    int n = 0;
    long candidates[2] = {before, after};
    for (int i = 0; i < (before == after ? 1 : 2); i++) {
        int64_t t = wall - candidates[i];
        if ((st = qps_civil_from_unix(cache, t, 0, &probe)) != QPS_OK)
            return st;
        if (probe.utc_offset == candidates[i])
            found[n++] = t;
    }
    if (n == 2 && found[1] < found[0]) {
        int64_t t = found[0];
        found[0] = found[1];
        found[1] = t;
    }
    /* A wall time skipped by a jump forward is moved forward by the jump. */
    *first = n ? found[0] : wall - before;
    *second = n == 2 ? found[1] : *first;
    *count = n;
    if (cache && n == 1 && before == after)
        remember_wall_hour(cache, wall, before);
    return QPS_OK;
}

qps_status qps_unix_from_civil(qps_tzcache *cache, const qps_civil *c, int utc, int64_t *unix_sec)
{
    if (utc) {
        if (c->month < 1 || c->month > 12 || c->day < 1 || c->day > 31 || c->hour < 0 || c->hour > 23 ||
            c->minute < 0 || c->minute > 59 || c->second < 0 || c->second > 60)
            return QPS_EFORMAT;
        if (c->year < -9999999 || c->year > 9999999)
            return QPS_ERANGE;
        *unix_sec = qps_days_from_civil(c->year, c->month, c->day) * 86400 + c->hour * 3600 + c->minute * 60 +
                    c->second;
        return QPS_OK;
    }
    int64_t second;
    int n;
    return qps_local_instants(cache, c, unix_sec, &second, &n);
}
