/*
 * category.c - the plugin -> category map: mailstats' columns (RBL/DNS,
 * Non.Conf., Del.Spam, Ham...) for the dispositions logterse writes.
 *
 * The built-in rules are the ones etc/categories ships (tests/check_category
 * compares them), so a report without the file counts as one with it.
 * Lookups are linear: a map has tens of rules and a category is asked for
 * once a transaction, far below the cost of parsing its line.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define CATEGORY_MAX 64
#define FILE_MAX (1 << 20)

static const char default_rules[] =
    "dmarc DMARC-Rej.\n"
    "virus::* Virus\n"
    "clamav Virus\n"
    "clamdscan Virus\n"
    "dnsbl RBL/DNS\n"
    "rhsbl RBL/DNS\n"
    "uribl RBL/DNS\n"
    "pattern_filter Execut.\n"
    "check_badcountries Geoip.\n"
    "auth::* Non.Conf.\n"
    "badmailfrom Non.Conf.\n"
    "badmailfromto Non.Conf.\n"
    "badrcptto Non.Conf.\n"
    "bogus_bounce Non.Conf.\n"
    "check_badmailfrom Non.Conf.\n"
    "check_badmailfrom_patterns Non.Conf.\n"
    "check_badmailfromto Non.Conf.\n"
    "check_badrcptto Non.Conf.\n"
    "check_basicheaders Non.Conf.\n"
    "check_earlytalker Non.Conf.\n"
    "check_goodrcptto Non.Conf.\n"
    "check_relay Non.Conf.\n"
    "check_smtp_forward Non.Conf.\n"
    "check_spamhelo Non.Conf.\n"
    "count_unrecognized_commands Non.Conf.\n"
    "dkim Non.Conf.\n"
    "earlytalker Non.Conf.\n"
    "fcrdns Non.Conf.\n"
    "greylisting Non.Conf.\n"
    "headers Non.Conf.\n"
    "helo Non.Conf.\n"
    "hosts_allow Non.Conf.\n"
    "loop Non.Conf.\n"
    "naughty Non.Conf.\n"
    "noop_counter Non.Conf.\n"
    "queue::* Non.Conf.\n"
    "random_error Non.Conf.\n"
    "rcpt_ok Non.Conf.\n"
    "rcpt_regexp Non.Conf.\n"
    "relay Non.Conf.\n"
    "require_resolvable_fromhost Non.Conf.\n"
    "resolvable_fromhost Non.Conf.\n"
    "sender_permitted_from Non.Conf.\n"
    "tls Non.Conf.\n"
    "loadcheck Rej.Load\n"
    "karma Karma\n"
    "spamassassin Del.Spam\n"
    "queued/spam Qued.Spam?\n"
    "queued Ham\n";

typedef struct {
    char *pattern;
    size_t len;    /* without the trailing '*' of a prefix pattern */
    bool prefix;   /* "virus::*" */
    size_t cat;    /* index into names */
    size_t line;
} rule;

struct qps_categories {
    rule *rules;
    size_t nrules;
    char **names;  /* column order */
    size_t nnames;
};

static void clear(qps_categories *map)
{
    for (size_t i = 0; i < map->nrules; i++)
        free(map->rules[i].pattern);
    for (size_t i = 0; i < map->nnames; i++)
        free(map->names[i]);
    free(map->rules);
    free(map->names);
    map->rules = NULL;
    map->names = NULL;
    map->nrules = map->nnames = 0;
}

qps_categories *qps_categories_new(void)
{
    qps_categories *map = calloc(1, sizeof *map);
    if (map && qps_categories_parse(map, default_rules, sizeof default_rules - 1, NULL, 0) != QPS_OK) {
        qps_categories_free(map);
        return NULL;
    }
    return map;
}

void qps_categories_free(qps_categories *map)
{
    if (!map)
        return;
    clear(map);
    free(map);
}

static qps_status fail(char *err, size_t errlen, qps_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static qps_status fail(char *err, size_t errlen, qps_status st, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static char *dup_bytes(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

static qps_status add_rule(qps_categories *map, const char *pat, size_t plen, const char *cat, size_t clen,
                           size_t line)
{
    size_t c = 0;
    while (c < map->nnames && !(strlen(map->names[c]) == clen && memcmp(map->names[c], cat, clen) == 0))
        c++;
    if (c == map->nnames) {
        char **names = realloc(map->names, (map->nnames + 1) * sizeof *names);
        if (!names)
            return QPS_ENOMEM;
        map->names = names;
        if (!(names[c] = dup_bytes(cat, clen)))
            return QPS_ENOMEM;
        map->nnames++;
    }
    rule *rules = realloc(map->rules, (map->nrules + 1) * sizeof *rules);
    if (!rules)
        return QPS_ENOMEM;
    map->rules = rules;
    rule *r = &rules[map->nrules];
    r->prefix = plen && pat[plen - 1] == '*';
    r->len = plen - r->prefix;
    r->cat = c;
    r->line = line;
    if (!(r->pattern = dup_bytes(pat, r->len)))
        return QPS_ENOMEM;
    map->nrules++;
    return QPS_OK;
}

/* One line: "" or "# ..." or "PLUGIN CATEGORY". */
static qps_status parse_line(qps_categories *map, const char *s, size_t len, size_t line, char *err,
                             size_t errlen)
{
    const char *end = s + len;
    while (s < end && blank(*s))
        s++;
    while (end > s && blank(end[-1]))
        end--;
    if (s == end || *s == '#')
        return QPS_OK;
    for (const char *p = s; p < end; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return fail(err, errlen, QPS_EFORMAT, "line %zu: a control character", line);
    const char *pe = s;
    while (pe < end && !blank(*pe))
        pe++;
    const char *c = pe;
    while (c < end && blank(*c))
        c++;
    size_t plen = (size_t)(pe - s), clen = (size_t)(end - c);
    if (clen == 0)
        return fail(err, errlen, QPS_EFORMAT, "line %zu: '%.*s' has no category (PLUGIN CATEGORY)", line,
                    (int)(plen > 64 ? 64 : plen), s);
    if (clen > CATEGORY_MAX)
        return fail(err, errlen, QPS_EFORMAT, "line %zu: a category of more than %d bytes", line, CATEGORY_MAX);
    if (clen == strlen(QPS_CATEGORY_UNKNOWN) && memcmp(c, QPS_CATEGORY_UNKNOWN, clen) == 0)
        return fail(err, errlen, QPS_EFORMAT,
                    "line %zu: '" QPS_CATEGORY_UNKNOWN "' is the category of plugins listed nowhere", line);
    if (memchr(s, '*', plen) && (s[plen - 1] != '*' || memchr(s, '*', plen - 1)))
        return fail(err, errlen, QPS_EFORMAT, "line %zu: '*' may only end a plugin name (virus::*)", line);
    bool prefix = s[plen - 1] == '*';
    for (size_t i = 0; i < map->nrules; i++) {
        const rule *r = &map->rules[i];
        if (r->prefix == prefix && r->len == plen - prefix && memcmp(r->pattern, s, r->len) == 0)
            return fail(err, errlen, QPS_EFORMAT, "line %zu: '%.*s' is already mapped on line %zu", line,
                        (int)(plen > 64 ? 64 : plen), s, r->line);
    }
    qps_status st = add_rule(map, s, plen, c, clen, line);
    return st == QPS_OK ? st : fail(err, errlen, st, "%s", qps_strerror(st));
}

qps_status qps_categories_parse(qps_categories *map, const char *text, size_t len, char *err, size_t errlen)
{
    if (!map || (!text && len))
        return QPS_EINVAL;
    qps_categories fresh = {0};
    qps_status st = QPS_OK;
    size_t line = 0;
    const char *s = text, *end = text + len;
    while (st == QPS_OK && s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        line++;
        if (memchr(s, '\0', (size_t)(e - s)))
            st = fail(err, errlen, QPS_EFORMAT, "line %zu: a NUL byte", line);
        else
            st = parse_line(&fresh, s, (size_t)(e - s), line, err, errlen);
        s = nl ? nl + 1 : end;
    }
    if (st != QPS_OK) {
        clear(&fresh);
        return st;
    }
    clear(map);
    *map = fresh;
    return QPS_OK;
}

qps_status qps_categories_load(qps_categories *map, const char *path, char *err, size_t errlen)
{
    if (!map || !path)
        return QPS_EINVAL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fail(err, errlen, QPS_EIO, "%s", strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return fail(err, errlen, QPS_EIO, "not a regular file");
    }
    if (sb.st_size > FILE_MAX) {
        close(fd);
        return fail(err, errlen, QPS_EFORMAT, "larger than %d bytes: not a category map", FILE_MAX);
    }
    char *text = malloc((size_t)sb.st_size + 1);
    size_t got = 0;
    ssize_t n = 0;
    while (text && got <= (size_t)sb.st_size && (n = read(fd, text + got, (size_t)sb.st_size + 1 - got)) > 0)
        got += (size_t)n;
    int e = errno;
    close(fd);
    if (!text)
        return fail(err, errlen, QPS_ENOMEM, "%s", qps_strerror(QPS_ENOMEM));
    if (n < 0) {
        free(text);
        return fail(err, errlen, QPS_EIO, "%s", strerror(e));
    }
    if (got > (size_t)sb.st_size) { /* grew while read */
        free(text);
        return fail(err, errlen, QPS_EFORMAT, "the file changed while it was read");
    }
    qps_status st = qps_categories_parse(map, text, got, err, errlen);
    free(text);
    return st;
}

size_t qps_categories_count(const qps_categories *map)
{
    return map ? map->nnames : 0;
}

const char *qps_categories_name(const qps_categories *map, size_t i)
{
    return map && i < map->nnames ? map->names[i] : NULL;
}

size_t qps_categories_rules(const qps_categories *map)
{
    return map ? map->nrules : 0;
}

qps_status qps_categories_rule(const qps_categories *map, size_t i, qps_str *pattern, int *prefix,
                               const char **category)
{
    if (!map || i >= map->nrules)
        return QPS_EINVAL;
    const rule *r = &map->rules[i];
    *pattern = qps_slice(r->pattern, r->len);
    *prefix = r->prefix;
    *category = map->names[r->cat];
    return QPS_OK;
}

static const rule *find(const qps_categories *map, const char *name, size_t len)
{
    const rule *best = NULL;
    for (size_t i = 0; i < map->nrules; i++) {
        const rule *r = &map->rules[i];
        if (!r->prefix) {
            if (r->len == len && memcmp(r->pattern, name, len) == 0)
                return r;
        } else if (r->len <= len && memcmp(r->pattern, name, r->len) == 0 && (!best || r->len > best->len)) {
            best = r;
        }
    }
    return best;
}

const char *qps_category_of_plugin(const qps_categories *map, qps_str plugin)
{
    const rule *r = map ? find(map, plugin.ptr, plugin.len) : NULL;
    return r ? map->names[r->cat] : NULL;
}

static bool contains(qps_str s, const char *lit)
{
    size_t n = strlen(lit);
    for (size_t i = 0; i + n <= s.len; i++)
        if (memcmp(s.ptr + i, lit, n) == 0)
            return true;
    return false;
}

/* What decides a transaction's category besides its disposition: a
 * queued one's spam verdict, a naughty one's text (the plugin it names
 * first, or the words dnsbl and karma). */
typedef struct {
    bool queued_spam;
    qps_str named; /* "(plugin) " at the start of a naughty text */
    bool dnsbl, karma;
} category_input;

static category_input input_of(const qps_record *rec)
{
    category_input in = {0};
    qps_str disp = rec->field[QPS_TF_DISPOSITION];
    if (qps_str_eq(disp, "queued")) {
        qps_spam spam;
        in.queued_spam = rec->nfields == 9 && qps_spam_parse(rec->field[QPS_TF_SPAM], &spam) == QPS_OK && spam.is_spam;
    } else if (qps_str_eq(disp, "naughty")) {
        /* qpsmtpd 1.0 prefixes the deferred text with "(plugin) " */
        qps_str text = rec->field[QPS_TF_TEXT];
        if (text.len > 2 && text.ptr[0] == '(') {
            const char *close = memchr(text.ptr, ')', text.len);
            if (close && close > text.ptr + 1)
                in.named = qps_slice(text.ptr + 1, (size_t)(close - text.ptr - 1));
        }
        in.dnsbl = contains(text, "dnsbl");
        in.karma = contains(text, "karma");
    }
    return in;
}

static const char *category_of_input(const qps_categories *map, qps_str disp, const category_input *in)
{
    const rule *r = NULL;
    if (in->queued_spam)
        r = find(map, "queued/spam", 11);
    if (!r && in->named.len)
        r = find(map, in->named.ptr, in->named.len);
    if (!r && in->dnsbl)
        r = find(map, "dnsbl", 5);
    if (!r && in->karma)
        r = find(map, "karma", 5);
    if (!r)
        r = find(map, disp.ptr, disp.len);
    return r ? map->names[r->cat] : QPS_CATEGORY_UNKNOWN;
}

const char *qps_category_of(const qps_categories *map, const qps_record *rec)
{
    if (!map || !rec || rec->kind != QPS_KIND_TERSE)
        return NULL;
    category_input in = input_of(rec);
    return category_of_input(map, rec->field[QPS_TF_DISPOSITION], &in);
}

/* "queued/spam", or "naughty\tPLUGIN\tDK" (D, K: 1 when the text names
 * dnsbl, karma): no field holds a tab, so the parts are unambiguous. */
size_t qps_category_signature(const qps_record *rec, char *out, size_t cap)
{
    if (!rec || rec->kind != QPS_KIND_TERSE)
        return 0;
    category_input in = input_of(rec);
    if (in.queued_spam) {
        if (cap < 12)
            return 0;
        memcpy(out, "queued/spam", 12);
        return 11;
    }
    if (!in.named.len && !in.dnsbl && !in.karma)
        return 0;
    if (in.named.len + 12 > cap)
        return 0; /* a plugin name no server has: the disposition decides */
    int n = snprintf(out, cap, "naughty\t%.*s\t%d%d", (int)in.named.len, in.named.ptr, in.dnsbl, in.karma);
    return n > 0 ? (size_t)n : 0;
}

qps_str qps_category_signature_disposition(qps_str sig)
{
    const char *tab = sig.len ? memchr(sig.ptr, '\t', sig.len) : NULL;
    if (tab)
        return qps_slice(sig.ptr, (size_t)(tab - sig.ptr));
    return qps_str_eq(sig, "queued/spam") ? qps_slice("queued", 6) : qps_slice(sig.ptr, 0);
}

const char *qps_category_of_signature(const qps_categories *map, qps_str sig)
{
    if (!map)
        return NULL;
    category_input in = {0};
    qps_str disp = qps_category_signature_disposition(sig);
    if (qps_str_eq(sig, "queued/spam")) {
        in.queued_spam = true;
    } else if (disp.len == 7) {
        const char *p = sig.ptr + 8, *end = sig.ptr + sig.len;
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        if (tab && end - tab == 3) {
            in.named = qps_slice(p, (size_t)(tab - p));
            in.dnsbl = tab[1] == '1';
            in.karma = tab[2] == '1';
        }
    }
    return category_of_input(map, disp, &in);
}
