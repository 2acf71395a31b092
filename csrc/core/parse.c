/*
 * qps_parse.c - one qpsmtpd log line -> one qps_record.
 *
 * Two steps: the frame (multilog label, tai64nlocal text, logging/file,
 * syslog, or none) gives the time and the payload; the payload's prefix
 * (0.4x "plugin plugin:", 0.8x "plugin plugin (hook):", 0.93+ "(hook)
 * plugin:") gives hook, plugin and message, whose wording gives the kind.
 * The exact strings are documented in the README's format section.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <stddef.h>
#include <stdlib.h>
#include <time.h>

struct qps_parser {
    char prefix[64];         /* logterse prefix */
    size_t prefix_len;
    int64_t now;             /* reference time for year-less syslog stamps */
    qps_civil now_civil;
    qps_tzcache tz;
    char hour_key[13];       /* "YYYY-MM-DD HH" of the last text stamp */
    int64_t hour_base;       /* unix time of that local hour's start */
    bool hour_valid;
    bool hour_special;       /* that hour holds a change of offset */
    int64_t last_time;       /* the last line's resolved instant */
    bool has_last;
    uint64_t label_seconds[2]; /* seconds digits of the last multilog label */
    int64_t label_unix;      /* and their value */
    bool label_valid;
    uint64_t stamp_text[3];  /* the last logging/file or syslog stamp, as written */
    size_t stamp_words;      /* its length in words, 0 for none */
    int64_t stamp_first, stamp_second; /* the instants it names */
    int stamp_count;
    uint64_t clock_text[3];  /* "YYYY-MM-DD HH:MM:SS." of the last tai64nlocal line */
    int64_t clock_unix;      /* its instant, when that hour holds no change of offset */
    bool clock_valid;
    uint64_t origin[6];      /* the last "host[" or "host ident[" before a pid, as words */
    uint64_t origin_tail;    /* the bytes of its last word that are its own */
    size_t origin_len;       /* its length, 0 for none */
    size_t origin_host_len;  /* the host's part of it */
    bool origin_ident;       /* a syslog origin (with an ident) */
};

qps_parser *qps_parser_new(const qps_parser_opts *opts)
{
    qps_parser *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    const char *prefix = opts && opts->terse_prefix && *opts->terse_prefix ? opts->terse_prefix : "`";
    size_t n = strlen(prefix);
    if (n >= sizeof p->prefix)
        n = sizeof p->prefix - 1;
    memcpy(p->prefix, prefix, n);
    p->prefix_len = n;
    p->now = opts && opts->now ? opts->now : (int64_t)time(NULL);
    if (qps_civil_from_unix(&p->tz, p->now, 0, &p->now_civil) != QPS_OK)
        qps_civil_from_unix(NULL, 0, 1, &p->now_civil);
    return p;
}

void qps_parser_free(qps_parser *p)
{
    free(p);
}

const char *qps_parser_prefix(const qps_parser *p)
{
    return p->prefix;
}

/* ---- small scanners over [s, end) ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads up to max_digits decimal digits; returns how many were read. */
static size_t scan_uint(const char *s, const char *end, size_t max_digits, uint64_t *value)
{
    uint64_t v = 0;
    size_t n = 0;
    while (s + n < end && n < max_digits && is_digit(s[n])) {
        v = v * 10 + (uint64_t)(s[n] - '0');
        n++;
    }
    *value = v;
    return n;
}

/* The digits that start the 8 bytes at s, read as one word (SWAR): their
 * number (8 when all are) and their value. */
static inline __attribute__((always_inline)) int leading_digits8(const char *s, uint64_t *value)
{
    uint64_t x;
    memcpy(&x, s, 8);
    uint64_t d = x - 0x3030303030303030ULL; /* digits become 0..9 */
    /* 0x80 in each byte that is not a digit: below '0' borrows into the
     * top bit, above '9' carries into it once 6 is added (a borrow only
     * moves up, so the bytes before the first non-digit are exact) */
    uint64_t bad = (d | (d + 0x7676767676767676ULL) | x) & 0x8080808080808080ULL;
    if (!bad) { /* pairs of digits, fours, all eight */
        d = (d * 10 + (d >> 8)) & 0x00ff00ff00ff00ffULL;
        d = (d * 100 + (d >> 16)) & 0x0000ffff0000ffffULL;
        *value = (d * 10000 + (d >> 32)) & 0x00000000ffffffffULL;
        return 8;
    }
    int k = __builtin_ctzll(bad) / 8;
    if (k == 0) {
        *value = 0;
        return 0;
    }
    uint64_t v = d << (8 * (8 - k)); /* the digits at the top, zeros before */
    v = (v * 10 + (v >> 8)) & 0x00ff00ff00ff00ffULL;
    v = (v * (1 + (100ULL << 16)) >> 16) & 0x0000ffff0000ffffULL;
    *value = v * (1 + (10000ULL << 32)) >> 32;
    return k;
}

/* Exactly n digits at s. */
static bool fixed_uint(const char *s, size_t n, int *value)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return true;
}

static const char *find_char(const char *s, const char *end, char c)
{
    return qps_find_byte(s, end, c);
}

static bool starts(const char *s, const char *end, const char *lit, size_t n)
{
    return (size_t)(end - s) >= n && memcmp(s, lit, n) == 0;
}
#define STARTS(s, end, lit) starts((s), (end), lit, sizeof(lit) - 1)

/* Three letters as one number, for a switch instead of a memcmp loop (a
 * logging/file line's weekday was looked up in seven calls). */
#define NAME3(a, b, c) ((uint32_t)(unsigned char)(a) | (uint32_t)(unsigned char)(b) << 8 | (uint32_t)(unsigned char)(c) << 16)

static uint32_t name3(const char *s)
{
    return NAME3(s[0], s[1], s[2]);
}

static int month_number(const char *s)
{
    switch (name3(s)) {
    case NAME3('J', 'a', 'n'): return 1;
    case NAME3('F', 'e', 'b'): return 2;
    case NAME3('M', 'a', 'r'): return 3;
    case NAME3('A', 'p', 'r'): return 4;
    case NAME3('M', 'a', 'y'): return 5;
    case NAME3('J', 'u', 'n'): return 6;
    case NAME3('J', 'u', 'l'): return 7;
    case NAME3('A', 'u', 'g'): return 8;
    case NAME3('S', 'e', 'p'): return 9;
    case NAME3('O', 'c', 't'): return 10;
    case NAME3('N', 'o', 'v'): return 11;
    case NAME3('D', 'e', 'c'): return 12;
    default: return 0;
    }
}

static bool is_weekday(const char *s)
{
    switch (name3(s)) {
    case NAME3('S', 'u', 'n'):
    case NAME3('M', 'o', 'n'):
    case NAME3('T', 'u', 'e'):
    case NAME3('W', 'e', 'd'):
    case NAME3('T', 'h', 'u'):
    case NAME3('F', 'r', 'i'):
    case NAME3('S', 'a', 't'): return true;
    default: return false;
    }
}

/* "HH:MM:SS" */
static bool scan_clock(const char *s, qps_civil *c)
{
    return fixed_uint(s, 2, &c->hour) && s[2] == ':' && fixed_uint(s + 3, 2, &c->minute) && s[5] == ':' &&
           fixed_uint(s + 6, 2, &c->second) && c->hour < 24 && c->minute < 60 && c->second <= 60;
}

/* How far lines may go back in time (several processes writing one log)
 * without being taken for the wall clock's jump back when DST ends. */
#define DST_SLACK 300

/* A local time in the hour that repeats when DST ends names two instants.
 * Lines come in time order, so the wall clock going back by about the
 * shift (an hour) while in that hour means its second occurrence; so does
 * staying there once the second occurrence has begun. The last resolved
 * instant (of any timed line: a multilog label or an RFC 3339 stamp
 * around helps too) decides; without one, the first occurrence. */
static int64_t resolve_repeated(const qps_parser *p, int64_t first, int64_t second)
{
    if (!p->has_last)
        return first;
    int64_t back = p->last_time - first;
    return back > DST_SLACK && back <= second - first + DST_SLACK ? second : first;
}

static bool local_to_unix(qps_parser *p, const qps_civil *c, int64_t *out)
{
    int64_t first, second;
    int n;
    if (qps_local_instants(&p->tz, c, &first, &second, &n) != QPS_OK)
        return false;
    *out = n == 2 ? resolve_repeated(p, first, second) : first;
    return true;
}

/* The lines of one second share their stamp, and a stamp without a year
 * takes the same year all along (the parser's reference time): a stamp
 * written as the last one (words of 8 bytes, its blank included) names
 * the same instants, so its fields are neither checked nor converted
 * again; only the choice in a repeated hour is made for each line. */
static bool same_stamp(qps_parser *p, const char *s, size_t words, int64_t *out)
{
    if (p->stamp_words != words)
        return false;
    for (size_t i = 0; i < words; i++) {
        uint64_t w;
        memcpy(&w, s + 8 * i, 8);
        if (w != p->stamp_text[i])
            return false;
    }
    *out = p->stamp_count == 2 ? resolve_repeated(p, p->stamp_first, p->stamp_second) : p->stamp_first;
    return true;
}

/* local_to_unix for a stamp same_stamp may meet again. */
static bool stamp_to_unix(qps_parser *p, const char *s, size_t words, const qps_civil *c, int64_t *out)
{
    int64_t first, second;
    int n;
    if (qps_local_instants(&p->tz, c, &first, &second, &n) != QPS_OK)
        return false;
    memcpy(p->stamp_text, s, 8 * words);
    p->stamp_words = words;
    p->stamp_first = first;
    p->stamp_second = second;
    p->stamp_count = n;
    *out = n == 2 ? resolve_repeated(p, first, second) : first;
    return true;
}

void qps_parser_set_last_time(qps_parser *p, int64_t unix_sec)
{
    p->last_time = unix_sec;
    p->has_last = true;
}

/* ---- frames ---- */

/* A multilog label; the seconds half is usually the previous line's, so
 * only the nanoseconds are decoded then. */
static bool decode_label(qps_parser *p, const char *hex24, qps_record *r)
{
    uint64_t head0, head1; /* two word compares, not a memcmp call */
    memcpy(&head0, hex24, 8);
    memcpy(&head1, hex24 + 8, 8);
    if (p->label_valid && head0 == p->label_seconds[0] && head1 == p->label_seconds[1]) {
        int ok = 1;
        r->nsec = qps_hex8(hex24 + 16, &ok);
        r->unix_sec = p->label_unix;
        return ok;
    }
    /* A label outside the years of a mail log is damage or an attack, not
     * a time: taken as one, it made spans overflow and dated a store 2106. */
    if (qps_tai64n_decode(hex24, &r->unix_sec, &r->nsec) != QPS_OK || !qps_time_plausible(r->unix_sec))
        return false;
    p->label_seconds[0] = head0;
    p->label_seconds[1] = head1;
    p->label_unix = r->unix_sec;
    p->label_valid = true;
    return true;
}

/* The instant of a tai64nlocal line's checked fields c (its text s, its
 * first 20 bytes w). */
static bool clock_to_unix(qps_parser *p, const char *s, const qps_civil *cp, const uint64_t w[3], int64_t *out)
{
    const qps_civil c = *cp;
    if (c.month < 1 || c.month > 12 || c.day < 1 || c.day > 31)
        return false;
    /* One calendar conversion per local hour of log, except in an hour
     * that holds a change of offset (repeated or skipped). */
    if (!p->hour_valid || memcmp(p->hour_key, s, 13) != 0) {
        qps_civil hour = c, last = c;
        hour.minute = hour.second = 0;
        last.minute = last.second = 59;
        int64_t t0, t0b, t1, t1b;
        int n0, n1;
        if (qps_local_instants(&p->tz, &hour, &t0, &t0b, &n0) != QPS_OK ||
            qps_local_instants(&p->tz, &last, &t1, &t1b, &n1) != QPS_OK)
            return false;
        p->hour_base = t0;
        p->hour_special = n0 != 1 || n1 != 1 || t1 - t0 != 3599;
        memcpy(p->hour_key, s, 13);
        p->hour_valid = true;
    }
    if (p->hour_special) {
        /* the choice in a repeated hour is made for each line */
        p->clock_valid = false;
        return local_to_unix(p, &c, out);
    }
    *out = p->hour_base + c.minute * 60 + c.second;
    memcpy(p->clock_text, w, 3 * sizeof *w);
    p->clock_unix = *out;
    p->clock_valid = true;
    return true;
}

/* "YYYY-MM-DD HH:MM:SS.nnnnnnnnn " as tai64nlocal prints it. */
static bool frame_tai64nlocal(qps_parser *p, const char *s, const char *end, qps_record *r,
                              const char **payload)
{
    qps_civil c = {0};
    if (end - s < 21)
        return false;
    /* the lines of one second share their text up to the fraction: its 20
     * bytes as two words and a half (the rest of the third is zero) */
    uint64_t w[3];
    memcpy(w, s, 16);
    w[2] = 0;
    memcpy(&w[2], s + 16, 4);
    bool same = p->clock_valid && w[0] == p->clock_text[0] && w[1] == p->clock_text[1] && w[2] == p->clock_text[2];
    if (!same && (s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[19] != '.' || !fixed_uint(s, 4, &c.year) ||
                  !fixed_uint(s + 5, 2, &c.month) || !fixed_uint(s + 8, 2, &c.day) || !scan_clock(s + 11, &c)))
        return false;
    /* the nine digits tai64nlocal prints, in one word and one digit (a
     * digit loop was half of this frame's work), else digit by digit */
    uint64_t frac;
    size_t nd;
    if (end - s >= 29 && leading_digits8(s + 20, &frac) == 8 && is_digit(s[28]) && (end - s == 29 || s[29] == ' ')) {
        frac = frac * 10 + (uint64_t)(s[28] - '0');
        nd = 9;
    } else {
        nd = scan_uint(s + 20, end, 10, &frac);
        if (nd == 0 || (s + 20 + nd < end && s[20 + nd] != ' '))
            return false;
    }
    if (same)
        r->unix_sec = p->clock_unix;
    else if (!clock_to_unix(p, s, &c, w, &r->unix_sec))
        return false;
    r->has_time = 1;
    r->stamp = qps_slice(s, 20 + nd);
    *payload = s + 20 + nd < end ? s + 21 + nd : end;
    /* nine digits are nanoseconds; tai64nlocal prints ten for labels
     * whose nanosecond field is out of range */
    for (; nd < 9; nd++)
        frac *= 10;
    r->nsec = (uint32_t)(nd == 9 ? frac : frac / 10);
    return true;
}

/* RFC 3339 syslog time: "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm) " */
static bool scan_rfc3339(const char *s, const char *end, qps_record *r, const char **after)
{
    qps_civil c = {0};
    if (end - s < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || !fixed_uint(s, 4, &c.year) ||
        !fixed_uint(s + 5, 2, &c.month) || !fixed_uint(s + 8, 2, &c.day) || !scan_clock(s + 11, &c))
        return false;
    const char *q = s + 19;
    uint64_t frac = 0;
    size_t nd = 0;
    if (q < end && *q == '.') {
        nd = scan_uint(q + 1, end, 9, &frac);
        if (nd == 0)
            return false;
        q += 1 + nd;
        while (q < end && is_digit(*q))
            q++;
    }
    long offset = 0;
    if (q < end && *q == 'Z') {
        q++;
    } else if (end - q >= 6 && (*q == '+' || *q == '-') && q[3] == ':') {
        int hh, mm;
        if (!fixed_uint(q + 1, 2, &hh) || !fixed_uint(q + 4, 2, &mm))
            return false;
        offset = (hh * 3600L + mm * 60L) * (*q == '-' ? -1 : 1);
        q += 6;
    } else if (end - q >= 5 && (*q == '+' || *q == '-')) {
        /* "+0000": journalctl -o short-iso writes the offset without ':' */
        int hh, mm;
        if (!fixed_uint(q + 1, 2, &hh) || !fixed_uint(q + 3, 2, &mm))
            return false;
        offset = (hh * 3600L + mm * 60L) * (*q == '-' ? -1 : 1);
        q += 5;
    } else {
        return false;
    }
    if (q >= end || *q != ' ')
        return false;
    int64_t t;
    if (qps_unix_from_civil(NULL, &c, 1, &t) != QPS_OK)
        return false;
    for (; nd < 9; nd++)
        frac *= 10;
    r->unix_sec = t - offset;
    r->nsec = (uint32_t)frac;
    r->has_time = 1;
    r->stamp = qps_slice(s, (size_t)(q - s));
    *after = q + 1;
    return true;
}

/* Whether s starts with the remembered origin; s has its length and 8
 * bytes more. Word compares: a memcmp call was a thirtieth of a report. */
static bool same_origin(const qps_parser *p, const char *s)
{
    size_t n = p->origin_len, i = 0;
    uint64_t w;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if (w != p->origin[i / 8])
            return false;
    }
    if (i == n)
        return true;
    memcpy(&w, s + i, 8);
    return ((w ^ p->origin[i / 8]) & p->origin_tail) == 0;
}

static void remember_origin(qps_parser *p, const char *s, size_t n, size_t host_len, bool with_ident)
{
    if (n > sizeof p->origin)
        return;
    unsigned char tail[8] = {0};
    memset(p->origin, 0, sizeof p->origin);
    memcpy(p->origin, s, n);
    memset(tail, 0xff, n % 8 ? n % 8 : 8);
    memcpy(&p->origin_tail, tail, 8);
    p->origin_len = n;
    p->origin_host_len = host_len;
    p->origin_ident = with_ident;
}

/* "host ident[pid]: " (syslog) or "host[pid]: " (logging/file), after the
 * time. Sets host, pid and *ident; *after points at the message. */
static bool scan_host_ident(qps_parser *p, const char *s, const char *end, bool with_ident, qps_record *r,
                            qps_str *ident, const char **after)
{
    /* A server logs under one name: the line before's "host[" again is
     * followed by the pid, with no search for the colon and the bracket
     * (a fifth of a logging/file report). Anything else takes the path
     * below, which accepts the same lines. */
    size_t olen = p->origin_len;
    if (olen && p->origin_ident == with_ident && (size_t)(end - s) >= olen + 8 &&
        same_origin(p, s)) {
        const char *open = s + olen;
        uint64_t v;
        int k = leading_digits8(open, &v);
        if (k > 0 && k < 7 && open[k] == ']' && open[k + 1] == ':') {
            const char *colon = open + k + 1;
            size_t hlen = p->origin_host_len;
            r->host = qps_slice(s, hlen);
            if (with_ident)
                *ident = qps_slice(s + hlen + 1, olen - hlen - 2);
            r->pid = (uint32_t)v;
            *after = colon + 1 < end && colon[1] == ' ' ? colon + 2 : colon + 1;
            return true;
        }
    }
    const char *start = s, *sp;
    if (with_ident) {
        sp = find_char(s, end, ' ');
        if (!sp || sp == s)
            return false;
        r->host = qps_slice(s, (size_t)(sp - s));
        s = sp + 1;
    }
    const char *colon = find_char(s, end, ':');
    if (!colon || colon + 1 > end)
        return false;
    const char *name_end = colon;
    uint32_t pid = 0;
    const char *open = NULL;
    if (colon > s && colon[-1] == ']') {
        open = colon - 1;
        while (open > s && open[-1] != '[')
            open--;
        uint64_t v;
        int k = open > s && end - open >= 8 ? leading_digits8(open, &v) : 8;
        if (k < 8) { /* up to 7 digits, the common case, in one word */
            if (open + k != colon - 1)
                return false;
        } else if (open == s || scan_uint(open, colon - 1, 10, &v) != (size_t)(colon - 1 - open) ||
                   v > UINT32_MAX) {
            return false;
        }
        pid = (uint32_t)v;
        name_end = open - 1;
    }
    if (find_char(s, name_end, ' '))
        return false;
    if (with_ident)
        *ident = qps_slice(s, (size_t)(name_end - s));
    else
        r->host = qps_slice(s, (size_t)(name_end - s));
    r->pid = pid;
    *after = colon + 1 < end && colon[1] == ' ' ? colon + 2 : colon + 1;
    if (open) /* "host[", up to the pid's digits */
        remember_origin(p, start, (size_t)(open - start), r->host.len, with_ident);
    return true;
}

/* "Mmm dd HH:MM:SS host ident[pid]: msg"; the year is the reference time's
 * unless that puts the line more than a month in the future. */
static bool frame_syslog(qps_parser *p, const char *s, const char *end, qps_record *r, qps_str *ident,
                         const char **payload)
{
    qps_civil c = {0};
    const char *rest;
    int64_t t;
    if (end - s >= 16 && same_stamp(p, s, 2, &t)) {
        r->unix_sec = t;
        r->nsec = 0;
        r->has_time = 1;
        r->stamp = qps_slice(s, 15);
        rest = s + 16;
    } else if (end - s >= 16 && (c.month = month_number(s)) && s[3] == ' ' &&
        (s[4] == ' ' || is_digit(s[4])) && is_digit(s[5]) && s[6] == ' ' && scan_clock(s + 7, &c) &&
        s[15] == ' ') {
        c.day = (s[4] == ' ' ? 0 : (s[4] - '0') * 10) + (s[5] - '0');
        if (c.day < 1 || c.day > 31)
            return false;
        c.year = p->now_civil.year;
        if (c.month > p->now_civil.month + 1)
            c.year--;
        if (!stamp_to_unix(p, s, 2, &c, &t))
            return false;
        r->unix_sec = t;
        r->nsec = 0;
        r->has_time = 1;
        r->stamp = qps_slice(s, 15);
        rest = s + 16;
    } else if (!scan_rfc3339(s, end, r, &rest)) {
        return false;
    }
    return scan_host_ident(p, rest, end, true, r, ident, payload);
}

/* qpsmtpd logging/file: "Www Mmm DD HH:MM:SS YYYY host[pid]: msg" */
static bool frame_logfile(qps_parser *p, const char *s, const char *end, qps_record *r, const char **payload)
{
    qps_civil c = {0};
    int64_t t;
    if (end - s < 26)
        return false;
    /* the stamp's 24 bytes are three words; the blank after it is checked */
    if (!(same_stamp(p, s, 3, &t) && s[24] == ' ')) {
        if (!is_weekday(s) || s[3] != ' ' || !(c.month = month_number(s + 4)) || s[7] != ' ' ||
            !fixed_uint(s + 8, 2, &c.day) || s[10] != ' ' || !scan_clock(s + 11, &c) || s[19] != ' ' ||
            !fixed_uint(s + 20, 4, &c.year) || s[24] != ' ' || c.day < 1 || c.day > 31)
            return false;
        if (!stamp_to_unix(p, s, 3, &c, &t))
            return false;
    }
    r->unix_sec = t;
    r->nsec = 0;
    r->has_time = 1;
    r->stamp = qps_slice(s, 24);
    return scan_host_ident(p, s + 25, end, false, r, NULL, payload);
}

/* ---- messages ---- */

static qps_verdict verdict_of(const char *s, const char *end)
{
    /* the first letter picks the one word to compare (a loop over all five
     * made a memcmp call each on every plugin line) */
    qps_verdict v;
    size_t n = 4;
    switch (s < end ? *s : 0) {
    case 'p': v = STARTS(s, end, "pass") ? QPS_VERDICT_PASS : QPS_VERDICT_NONE; break;
    case 'f': v = STARTS(s, end, "fail") ? QPS_VERDICT_FAIL : QPS_VERDICT_NONE; break;
    case 's': v = STARTS(s, end, "skip") ? QPS_VERDICT_SKIP : QPS_VERDICT_NONE; break;
    case 'i': v = STARTS(s, end, "info") ? QPS_VERDICT_INFO : QPS_VERDICT_NONE; break;
    case 'e':
        v = STARTS(s, end, "error") ? QPS_VERDICT_ERROR : QPS_VERDICT_NONE;
        n = 5;
        break;
    default: return QPS_VERDICT_NONE;
    }
    const char *after = s + n;
    if (v && (after == end || *after == ',' || *after == ':' || *after == ' '))
        return v;
    return QPS_VERDICT_NONE;
}

static bool looks_like_spam_field(const char *s, const char *end)
{
    return s == end || STARTS(s, end, "Yes,") || STARTS(s, end, "No,") ||
           STARTS(s, end, "msg denied before queued");
}

/* The fields after the logterse prefix. */
static qps_kind parse_terse(const char *s, const char *end, qps_record *r)
{
    if (s < end && *s == ' ')
        s++;
    for (int i = 0; i < QPS_TF_TEXT; i++) {
        const char *tab = find_char(s, end, '\t');
        if (!tab) {
            r->bad = QPS_BAD_TRUNCATED;
            return QPS_KIND_INVALID;
        }
        r->field[i] = qps_slice(s, (size_t)(tab - s));
        s = tab + 1;
    }
    /* text [TAB spam]: the deny text may itself contain TABs, so the spam
     * field is the last one, when it looks like one. */
    const char *last_tab = NULL;
    size_t tabs = 0;
    for (const char *q = s; (q = find_char(q, end, '\t')); q++) {
        last_tab = q;
        tabs++;
    }
    if (tabs == 1 || (tabs > 1 && looks_like_spam_field(last_tab + 1, end))) {
        r->field[QPS_TF_TEXT] = qps_slice(s, (size_t)(last_tab - s));
        r->field[QPS_TF_SPAM] = qps_slice(last_tab + 1, (size_t)(end - last_tab - 1));
        r->nfields = 9;
    } else {
        r->field[QPS_TF_TEXT] = qps_slice(s, (size_t)(end - s));
        r->field[QPS_TF_SPAM] = qps_slice(NULL, 0);
        r->nfields = 8;
    }
    return QPS_KIND_TERSE;
}

/* "N.NNN s." (0.93+) */
static bool parse_new_conn_time(const char *s, const char *end, qps_record *r)
{
    uint64_t whole, frac = 0;
    size_t n = scan_uint(s, end, 12, &whole);
    if (n == 0)
        return false;
    s += n;
    size_t nd = 0;
    if (s < end && *s == '.') {
        nd = scan_uint(s + 1, end, 9, &frac);
        s += 1 + nd;
    }
    const char *unit = s;
    if (!(STARTS(unit, end, " s.") && unit + 3 == end) && !(STARTS(unit, end, " sec.") && unit + 5 == end))
        return false;
    while (nd < 3) {
        frac *= 10;
        nd++;
    }
    while (nd > 3) {
        frac /= 10;
        nd--;
    }
    r->millis = whole * 1000 + frac;
    return true;
}

/* "Connection time from IP: N.NNN sec." (0.4x/0.8x) */
static bool parse_old_conn_time(const char *s, const char *end, qps_record *r)
{
    if (!STARTS(s, end, "Connection time from "))
        return false;
    s += sizeof "Connection time from " - 1;
    const char *sep = NULL;
    for (const char *q = s; (q = find_char(q, end, ':')); q++)
        if (q + 1 < end && q[1] == ' ')
            sep = q; /* the last ": " (IPv6 addresses contain colons) */
    if (!sep)
        return false;
    r->remote_ip = qps_slice(s, (size_t)(sep - s));
    return parse_new_conn_time(sep + 2, end, r);
}

/* hosts_allow denials; s is the message. */
static bool parse_hosts_allow(const char *s, const char *end, qps_record *r)
{
    static const char new_many[] = "fail: too many connections from ";
    static const char old_many[] = "Too many connections from ";
    uint64_t n, m;
    const char *q;
    if (STARTS(s, end, new_many)) {
        /* "fail: too many connections from IP (n > m)" */
        q = s + sizeof new_many - 1;
        const char *paren = find_char(q, end, '(');
        if (!paren || paren == q)
            return false;
        r->remote_ip = qps_slice(q, (size_t)(paren - 1 - q));
        q = paren + 1;
        size_t k = scan_uint(q, end, 10, &n);
        if (!k || !STARTS(q + k, end, " > "))
            return false;
        q += k + 3;
        if (!scan_uint(q, end, 10, &m))
            return false;
    } else if (STARTS(s, end, old_many)) {
        /* "Too many connections from IP: n > mDenying connection." */
        q = s + sizeof old_many - 1;
        const char *gt = find_char(q, end, '>');
        if (!gt || gt - q < 2 || gt[-1] != ' ')
            return false;
        const char *num = gt - 1;
        while (num > q && is_digit(num[-1]))
            num--;
        if (num == gt - 1 || !scan_uint(num, gt - 1, 10, &n))
            return false;
        if (num - q >= 2 && num[-1] == ' ' && num[-2] == ':')
            r->remote_ip = qps_slice(q, (size_t)(num - 2 - q));
        if (!STARTS(gt, end, "> ") || !scan_uint(gt + 2, end, 10, &m))
            return false;
    } else if (STARTS(s, end, "fail, ")) {
        n = m = 0; /* a config/hosts_allow rule */
    } else {
        return false;
    }
    r->running = (unsigned)n;
    r->max = (unsigned)m;
    r->verdict = QPS_VERDICT_FAIL;
    return true;
}

/* Messages of the core (no plugin): connections, dispatch, replies. */
static qps_kind classify_core(const char *s, const char *end, qps_record *r)
{
    uint64_t a, b;
    size_t k;
    switch (s < end ? *s : 0) {
    case 'A':
        if (STARTS(s, end, "Accepted connection ")) {
            /* "Accepted connection n/M from IP / HOST" */
            const char *q = s + sizeof "Accepted connection " - 1;
            if (!(k = scan_uint(q, end, 10, &a)) || q + k >= end || q[k] != '/')
                return QPS_KIND_OTHER;
            q += k + 1;
            if (!(k = scan_uint(q, end, 10, &b)) || !STARTS(q + k, end, " from "))
                return QPS_KIND_OTHER;
            q += k + 6;
            const char *sp = find_char(q, end, ' ');
            r->running = (unsigned)a;
            r->max = (unsigned)b;
            r->remote_ip = qps_slice(q, sp ? (size_t)(sp - q) : (size_t)(end - q));
            if (sp && STARTS(sp, end, " / "))
                r->remote_host = qps_slice(sp + 3, (size_t)(end - sp - 3));
            return QPS_KIND_ACCEPT;
        }
        break;
    case 'T':
        if (STARTS(s, end, "Too many connections: ")) {
            const char *q = s + sizeof "Too many connections: " - 1;
            if ((k = scan_uint(q, end, 10, &a)) && STARTS(q + k, end, " >= ") &&
                scan_uint(q + k + 4, end, 10, &b)) {
                r->running = (unsigned)a;
                r->max = (unsigned)b;
                return QPS_KIND_TOO_MANY;
            }
        } else if (parse_hosts_allow(s, end, r)) {
            return QPS_KIND_HOSTS_ALLOW; /* old wording, logged without plugin name */
        }
        break;
    case 'd':
        if (STARTS(s, end, "dispatching "))
            return QPS_KIND_DISPATCH;
        break;
    case 'c':
        if (STARTS(s, end, "cleaning up after ") &&
            (k = scan_uint(s + 18, end, 10, &a)) && s + 18 + k == end && a <= UINT32_MAX) {
            r->child_pid = (uint32_t)a;
            return QPS_KIND_CLEANUP;
        }
        break;
    case 'C':
        if (parse_old_conn_time(s, end, r))
            return QPS_KIND_CONN_TIME;
        break;
    default:
        if (end - s >= 3 && s[0] >= '2' && s[0] <= '5' && is_digit(s[1]) && is_digit(s[2]) &&
            (end - s == 3 || s[3] == ' ' || s[3] == '-')) {
            r->reply_code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
            return QPS_KIND_REPLY;
        }
        if (s < end && is_digit(*s) && parse_new_conn_time(s, end, r))
            return QPS_KIND_CONN_TIME;
    }
    return QPS_KIND_OTHER;
}

static qps_kind classify_message(const qps_parser *p, const char *s, const char *end, qps_record *r)
{
    r->message = qps_slice(s, (size_t)(end - s));
    if (s < end && *s == p->prefix[0] && starts(s, end, p->prefix, p->prefix_len))
        return parse_terse(s + p->prefix_len, end, r);
    if (r->plugin.len) {
        if (QPS_HAS_PREFIX(r->plugin.ptr, r->plugin.len, "connection_time")) {
            if (parse_new_conn_time(s, end, r) || parse_old_conn_time(s, end, r))
                return QPS_KIND_CONN_TIME;
        } else if (QPS_HAS_PREFIX(r->plugin.ptr, r->plugin.len, "hosts_allow")) {
            if (parse_hosts_allow(s, end, r))
                return QPS_KIND_HOSTS_ALLOW;
        }
        r->verdict = verdict_of(s, end);
        return r->verdict ? QPS_KIND_RESULT : QPS_KIND_OTHER;
    }
    qps_kind kind = classify_core(s, end, r);
    if (kind != QPS_KIND_OTHER)
        return kind;
    /* Frames without plugin names (logging/file, syslog) still carry
     * hosts_allow and result wordings. */
    if (r->dialect == QPS_DIALECT_NONE && (r->framing == QPS_FRAME_LOGFILE || r->framing == QPS_FRAME_SYSLOG)) {
        if (STARTS(s, end, "fail") && parse_hosts_allow(s, end, r) && r->max)
            return QPS_KIND_HOSTS_ALLOW;
        r->running = r->max = 0;
        r->verdict = verdict_of(s, end);
        if (r->verdict)
            return QPS_KIND_RESULT;
    }
    return QPS_KIND_OTHER;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == ':' ||
           c == '-' || c == '.' || c == '/';
}

/* Splits the qpsmtpd prefix off the text after the pid. */
static qps_kind classify_stderr_text(const qps_parser *p, const char *s, const char *end, qps_record *r)
{
    if (s < end && *s == '(') {
        /* 0.93+: "(hook) plugin: msg" or "(hook) running plugin: msg" */
        const char *close = find_char(s, end, ')');
        if (close && close + 1 < end && close[1] == ' ') {
            const char *name = close + 2, *colon = name;
            /* the name ends at the first ':' followed by a blank or the end
             * ("logging::logterse: "); it holds no blank itself */
            while ((colon = find_char(colon, end, ':')) && colon + 1 < end && colon[1] != ' ')
                colon++;
            if (colon && colon > name && !find_char(name, colon, ' ')) {
                r->dialect = QPS_DIALECT_093;
                r->hook = qps_slice(s + 1, (size_t)(close - s - 1));
                r->plugin = qps_slice(name, (size_t)(colon - name));
                return classify_message(p, colon + 1 < end ? colon + 2 : end, end, r);
            } else if (STARTS(name, end, "running plugin:")) {
                r->dialect = QPS_DIALECT_093;
                r->hook = qps_slice(s + 1, (size_t)(close - s - 1));
                const char *msg = name + 15 < end ? name + 16 : end;
                return classify_message(p, msg, end, r);
            }
        }
        return classify_message(p, s, end, r);
    }
    /* replies and "dispatching" are a third of a log and never plugin lines */
    if (s < end && (is_digit(*s) || *s == 'd'))
        return classify_message(p, s, end, r);
    const char *q = s;
    while (q < end && is_name_char(*q) && !(*q == ':' && (q + 1 == end || q[1] == ' ')))
        q++;
    if (q > s && q < end && *q == ' ') {
        qps_str word = qps_slice(s, (size_t)(q - s));
        if (STARTS(q, end, " plugin: ")) {
            /* 0.4x "plugin plugin: msg" */
            r->dialect = QPS_DIALECT_04X;
            if (!qps_str_eq(word, "running"))
                r->plugin = word;
            return classify_message(p, q + 9, end, r);
        }
        if (STARTS(q, end, " plugin (")) {
            /* 0.8x "plugin plugin (hook): msg" */
            const char *hook = q + 9, *close = find_char(hook, end, ')');
            if (close && close + 1 < end && close[1] == ':') {
                r->dialect = QPS_DIALECT_08X;
                r->hook = qps_slice(hook, (size_t)(close - hook));
                if (!qps_str_eq(word, "running"))
                    r->plugin = word;
                return classify_message(p, close + 2 < end ? close + 3 : end, end, r);
            }
        }
    } else if (q > s && q < end && *q == ':' && (q + 1 == end || q[1] == ' ') && memchr(s, ':', (size_t)(q - s))) {
        /* 0.93+ with a plugin but no hook: "logging::logterse: msg" */
        r->dialect = QPS_DIALECT_093;
        r->plugin = qps_slice(s, (size_t)(q - s));
        return classify_message(p, q + 1 < end ? q + 2 : end, end, r);
    }
    return classify_message(p, s, end, r);
}

/* "pid text" */
static bool split_pid(const char *s, const char *end, qps_record *r, const char **text)
{
    /* every line but the frame-less ones starts here: a pid of up to 7
     * digits and its blank are read as one word (SWAR), longer ones and
     * line ends byte by byte */
    if (end - s >= 8) {
        uint64_t v;
        int k = leading_digits8(s, &v);
        if (k < 8) {
            if (k == 0 || s[k] != ' ')
                return false;
            r->pid = (uint32_t)v;
            *text = s + k + 1;
            return true;
        }
    }
    const char *p = s, *limit = end - s > 10 ? s + 10 : end;
    uint64_t pid = 0;
    while (p < limit && (unsigned char)(*p - '0') < 10)
        pid = pid * 10 + (uint64_t)(*p++ - '0');
    if (p == s || pid > UINT32_MAX || (p < end && *p != ' '))
        return false;
    r->pid = (uint32_t)pid;
    *text = p < end ? p + 1 : end;
    return true;
}

static qps_kind invalid(qps_record *r, qps_bad_reason why)
{
    r->kind = QPS_KIND_INVALID;
    r->has_time = 0; /* a stamp that failed is no time */
    r->unix_sec = 0;
    r->nsec = 0;
    r->bad = why;
    return QPS_KIND_INVALID;
}

qps_kind qps_parser_parse(qps_parser *p, const char *line, size_t len, qps_record *r)
{
    return qps_parse_checked(p, line, len, r, true);
}

qps_kind qps_parse_checked(qps_parser *p, const char *line, size_t len, qps_record *r, bool may_hold_nul)
{
    /* Field by field: a memset of the record compiles to "rep stos", whose
     * start-up cost was a tenth of a report. The terse fields at the end are
     * set by parse_terse when needed. */
    const qps_str none = {NULL, 0};
    r->kind = QPS_KIND_INVALID;
    r->bad = QPS_BAD_NONE;
    r->framing = QPS_FRAME_NONE;
    r->dialect = QPS_DIALECT_NONE;
    r->has_time = 0;
    r->unix_sec = 0;
    r->nsec = 0;
    /* one assignment each: a chain (a = b = none) made gcc store b and
     * read it back as one 16-byte load, which stalls on store forwarding
     * (half of this function's time) */
    r->stamp = none;
    r->host = none;
    r->service = none;
    r->hook = none;
    r->plugin = none;
    r->message = none;
    r->pid = 0;
    r->verdict = QPS_VERDICT_NONE;
    r->running = r->max = 0;
    r->remote_ip = none;
    r->remote_host = none;
    r->millis = 0;
    r->reply_code = 0;
    r->child_pid = 0;
    r->nfields = 0;
    if (len == 0)
        return invalid(r, QPS_BAD_EMPTY);
    if (len > QPS_LINE_MAX)
        return invalid(r, QPS_BAD_TOO_LONG);
    if (may_hold_nul && memchr(line, '\0', len))
        return invalid(r, QPS_BAD_NUL);
    const char *s = line, *end = line + len, *payload = NULL, *text;
    qps_str ident = {0};

    if (*s == '@') {
        if (len < 25 || (len > 25 && s[25] != ' ') || !decode_label(p, s + 1, r))
            return invalid(r, QPS_BAD_LABEL);
        r->framing = QPS_FRAME_MULTILOG;
        r->has_time = 1;
        r->stamp = qps_slice(s, 25);
        payload = len > 25 ? s + 26 : end;
    } else if (is_digit(*s) && len > 20 && s[4] == '-' && s[10] == ' ') {
        if (!frame_tai64nlocal(p, s, end, r, &payload))
            return invalid(r, QPS_BAD_TIME);
        r->framing = QPS_FRAME_TAI64NLOCAL;
    } else if (is_digit(*s) && len > 20 && s[4] == '-' && s[10] == 'T') {
        if (!frame_syslog(p, s, end, r, &ident, &payload))
            return invalid(r, QPS_BAD_TIME);
        r->framing = QPS_FRAME_SYSLOG;
    } else if (*s >= 'A' && *s <= 'Z' && len >= 16) {
        if (is_weekday(s) && s[3] == ' ') {
            if (!frame_logfile(p, s, end, r, &payload))
                return invalid(r, QPS_BAD_TIME);
            r->framing = QPS_FRAME_LOGFILE;
        } else if (month_number(s) && s[3] == ' ') {
            if (!frame_syslog(p, s, end, r, &ident, &payload))
                return invalid(r, QPS_BAD_TIME);
            r->framing = QPS_FRAME_SYSLOG;
        } else {
            return invalid(r, QPS_BAD_NO_PID);
        }
    } else if (is_digit(*s)) {
        r->framing = QPS_FRAME_NONE;
        payload = s;
    } else {
        return invalid(r, QPS_BAD_NO_PID);
    }

    if (r->has_time && !qps_time_plausible(r->unix_sec))
        return invalid(r, QPS_BAD_TIME); /* a textual stamp of year 9999 or 1900 */

    switch (r->framing) {
    case QPS_FRAME_LOGFILE:
        r->kind = classify_message(p, payload, end, r);
        break;
    case QPS_FRAME_SYSLOG:
        /* A unit as the ident ("uqpsmtpd.service[pid]:") is the journal's
         * (qps_journal's lines, journalctl -o with-unit): the service. */
        if (ident.len > 8 && memcmp(ident.ptr + ident.len - 8, ".service", 8) == 0)
            r->service = qps_slice(ident.ptr, ident.len - 8);
        /* logging/syslog (ident "qpsmtpd") writes bare messages; stderr
         * captured by journald keeps the "pid text" payload. */
        if (!qps_str_eq(ident, "qpsmtpd") && split_pid(payload, end, r, &text)) {
            r->kind = classify_stderr_text(p, text, end, r);
        } else if (r->service.len) {
            /* the journal's stderr line without qpsmtpd's pid continues
             * the line before, as in a multilog file */
            r->pid = 0;
            r->message = qps_slice(payload, (size_t)(end - payload));
            r->kind = QPS_KIND_CONTINUATION;
        } else {
            r->kind = classify_message(p, payload, end, r);
        }
        break;
    default:
        if (split_pid(payload, end, r, &text)) {
            r->kind = classify_stderr_text(p, text, end, r);
        } else if (r->framing == QPS_FRAME_NONE) {
            return invalid(r, QPS_BAD_NO_PID);
        } else {
            r->message = qps_slice(payload, (size_t)(end - payload));
            r->kind = QPS_KIND_CONTINUATION;
        }
    }
    qps_kind kind = r->kind;
    if (kind == QPS_KIND_INVALID && r->bad == QPS_BAD_NONE)
        r->bad = QPS_BAD_TRUNCATED;
    if (r->has_time) {
        p->last_time = r->unix_sec;
        p->has_last = true;
    }
    return kind;
}

/* ---- spam field ---- */

/* A decimal number without locale: [-+]digits[.digits] */
static bool scan_decimal(const char *s, const char *end, double *out)
{
    double sign = 1, v = 0, scale = 1;
    bool digits = false;
    if (s < end && (*s == '-' || *s == '+'))
        sign = *s++ == '-' ? -1 : 1;
    for (; s < end && is_digit(*s); s++, digits = true)
        v = v * 10 + (*s - '0');
    if (s < end && *s == '.')
        for (s++; s < end && is_digit(*s); s++, digits = true)
            v += (*s - '0') * (scale /= 10);
    *out = sign * v;
    return digits;
}

static bool find_number_after(qps_str f, const char *key, size_t keylen, double *out)
{
    const char *end = f.ptr + f.len;
    for (const char *q = f.ptr; (q = find_char(q, end, key[0])); q++)
        if (starts(q, end, key, keylen) && (q == f.ptr || q[-1] == ' ' || q[-1] == ','))
            return scan_decimal(q + keylen, end, out);
    return false;
}

qps_status qps_spam_parse(qps_str f, qps_spam *out)
{
    memset(out, 0, sizeof *out);
    const char *end = f.ptr + f.len;
    if (!f.ptr)
        return QPS_EFORMAT;
    if (STARTS(f.ptr, end, "Yes,"))
        out->is_spam = 1;
    else if (!STARTS(f.ptr, end, "No,"))
        return QPS_EFORMAT;
    if (!find_number_after(f, "score=", 6, &out->score) && !find_number_after(f, "hits=", 5, &out->score))
        return QPS_EFORMAT;
    out->has_required = find_number_after(f, "required=", 9, &out->required);
    out->present = 1;
    return QPS_OK;
}
