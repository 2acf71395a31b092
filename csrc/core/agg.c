/*
 * qps_agg.c - the streaming aggregator: one pass fills every dimension.
 *
 * Memory is bounded whatever the input: string dimensions live in
 * qps_table (bounded, Space-Saving), numeric ones in fixed arrays, and
 * connection times in a millisecond histogram, so percentiles are exact
 * to the millisecond below one minute and to the second below a day.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_CAPACITY 20000
#define SCORE_MIN (-10)
#define SCORE_MAX 30 /* buckets [-10,-9) ... [29,30), plus one below and one above */
#define SCORE_BUCKETS (SCORE_MAX - SCORE_MIN + 2)
#define MS_BUCKETS 60000    /* connection times below a minute, per ms */
#define SEC_BUCKETS 86400   /* below a day, per second */

/* Dimensions kept in a string table. */
static const qps_dim table_dims[] = {
    QPS_DIM_DISPOSITION, QPS_DIM_DNSBL, QPS_DIM_TLD,  QPS_DIM_DISPOSITION_TLD, QPS_DIM_DAY,
    QPS_DIM_SENDER,      QPS_DIM_RECIPIENT, QPS_DIM_IP, QPS_DIM_HELO, QPS_DIM_SERVER, QPS_DIM_CODE,
    QPS_DIM_CATEGORY,    QPS_DIM_HOUR_CATEGORY, QPS_DIM_HOUR_DISPOSITION, QPS_DIM_DAY_DISPOSITION, QPS_DIM_SERVICE,
};

static bool two_keys(qps_dim dim)
{
    return dim == QPS_DIM_DISPOSITION_TLD || dim == QPS_DIM_HOUR_CATEGORY || dim == QPS_DIM_HOUR_DISPOSITION ||
           dim == QPS_DIM_DAY_DISPOSITION;
}

/* key \0 disposition (a disposition is a plugin name, far below 256) */
static qps_status add_with_disposition_n(qps_table *table, const char *key, size_t klen, qps_str disp, uint64_t n)
{
    char pair[32 + 1 + 255];
    size_t dlen = disp.len < 255 ? disp.len : 255;
    memcpy(pair, key, klen);
    pair[klen] = '\0';
    memcpy(pair + klen + 1, disp.ptr, dlen);
    return qps_table_add(table, pair, klen + 1 + dlen, n);
}
#define add_with_disposition(table, key, klen, disp) add_with_disposition_n(table, key, klen, disp, 1)
#define NTABLE_DIMS (sizeof table_dims / sizeof table_dims[0])

struct qps_agg {
    qps_agg_opts opts;
    unsigned keep;      /* QPS_DIM_BIT of each dimension to fill */
    qps_parser *parser;
    qps_tzcache tz;
    qps_counts counts;
    qps_table *table[QPS_DIM_COUNT_]; /* NULL for non-table dimensions */
    uint64_t hour[24];
    uint64_t score[SCORE_BUCKETS];
    uint64_t spam, ham, nospam;
    double spam_sum, ham_sum;
    uint64_t acc_scored, rej_scored; /* transactions with a score, queued or not */
    double acc_sum, rej_sum;
    uint64_t dnsbl_total, recipient_total;
    /* connections */
    uint64_t accepted, too_many;
    uint64_t queue_ok;     /* "250 Queued" replies: the queue plugin took the message */
    uint64_t hosts_allow_lines, hosts_allow_terse; /* plugin lines; logterse records */
    /* pruned transactions of queued and naughty their "category" facts
     * counted already, which the day's totals by disposition still hold */
    uint64_t pruned_categorised[2];
    unsigned peak, limit;
    /* connection_time */
    uint64_t *ms_hist, *sec_hist; /* allocated on first use */
    uint64_t timed, beyond_day, sum_ms, max_ms;
    qps_lines *lines;   /* qps_agg_feed's splitter, made at the first feed */
    bool prev_terse;    /* the previous line was a record (or its continuation) */
    char score_keys[SCORE_BUCKETS][8];
    char day_key[32];   /* "YYYY-MM-DD" of the last record's day */
    size_t day_len;
    int day_year, day_month, day_mday;
    qps_where *where;   /* the filters, copied with their values */
    size_t nwhere;
    const qps_categories *cats; /* the caller's map, or own_cats */
    qps_categories *own_cats;
    qps_table *unknown; /* dispositions of category Unknown */
    qps_table *rcpt_acc; /* recipient domains of queued transactions */
    /* a part (qps_agg_new_part): what must reach the owner in order */
    bool part;
    bool part_started;  /* a line other than a leading continuation seen */
    uint64_t lead_cont; /* leading continuation lines counted as "other" */
    char *log;          /* deferred logterse records, see defer_terse() */
    size_t log_len, log_cap;
    uint64_t *conn_ms;  /* deferred connection times */
    size_t conn_n, conn_cap;
};

static const char hour_keys[24][3] = {
    "00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11",
    "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23",
};

/* The filters and their values in one block, so the caller's may go. */
static bool copy_where(qps_agg *agg)
{
    const qps_where *src = agg->opts.where;
    size_t n = src ? agg->opts.nwhere : 0, bytes = n * sizeof(qps_where);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(src[i].value ? src[i].value : "") + 1;
    agg->opts.where = NULL;
    agg->opts.nwhere = 0;
    if (n == 0)
        return true;
    qps_where *w = malloc(bytes);
    if (!w)
        return false;
    char *text = (char *)(w + n);
    for (size_t i = 0; i < n; i++) {
        const char *v = src[i].value ? src[i].value : "";
        size_t len = strlen(v) + 1;
        memcpy(text, v, len);
        w[i].dim = src[i].dim;
        w[i].value = text;
        text += len;
    }
    agg->where = w;
    agg->nwhere = n;
    return true;
}

/* The score table's key of bucket b, into out (8 bytes); returns out. */
static const char *score_key_name(int b, char out[8])
{
    if (b == 0)
        strcpy(out, "<-10");
    else if (b == SCORE_BUCKETS - 1)
        strcpy(out, ">=30");
    else
        snprintf(out, 8, "%d", SCORE_MIN + b - 1);
    return out;
}

qps_agg *qps_agg_new(const qps_agg_opts *opts)
{
    qps_agg *agg = calloc(1, sizeof *agg);
    if (!agg)
        return NULL;
    if (opts)
        agg->opts = *opts;
    size_t capacity = agg->opts.table_capacity ? agg->opts.table_capacity : DEFAULT_CAPACITY;
    agg->opts.table_capacity = capacity;
    agg->keep = agg->opts.dims ? agg->opts.dims : ~0u;
    if (!copy_where(agg)) {
        free(agg);
        return NULL;
    }
    /* the disposition x TLD table shows each disposition's total */
    if (agg->keep & QPS_DIM_BIT(QPS_DIM_DISPOSITION_TLD))
        agg->keep |= QPS_DIM_BIT(QPS_DIM_DISPOSITION);
    /* the category table lists the unknown dispositions with their names */
    if (agg->keep & QPS_DIM_BIT(QPS_DIM_CATEGORY))
        agg->keep |= QPS_DIM_BIT(QPS_DIM_DISPOSITION);
    agg->opts.parser.terse_prefix = NULL; /* the parser copies it; do not keep the pointer */
    agg->parser = qps_parser_new(opts ? &opts->parser : NULL);
    agg->cats = agg->opts.categories;
    if (!agg->cats)
        agg->cats = agg->own_cats = qps_categories_new();
    agg->unknown = qps_table_new(capacity);
    agg->rcpt_acc = qps_table_new(capacity);
    bool ok = agg->parser != NULL && agg->cats && agg->unknown && agg->rcpt_acc;
    for (size_t i = 0; ok && i < NTABLE_DIMS; i++)
        ok = (agg->table[table_dims[i]] = qps_table_new(capacity)) != NULL;
    if (!ok) {
        qps_agg_free(agg);
        return NULL;
    }
    for (int b = 0; b < SCORE_BUCKETS; b++)
        score_key_name(b, agg->score_keys[b]);
    return agg;
}

void qps_agg_free(qps_agg *agg)
{
    if (!agg)
        return;
    free(agg->log);
    free(agg->conn_ms);
    qps_parser_free(agg->parser);
    qps_categories_free(agg->own_cats);
    qps_table_free(agg->unknown);
    qps_table_free(agg->rcpt_acc);
    for (int d = 0; d < QPS_DIM_COUNT_; d++)
        qps_table_free(agg->table[d]);
    free(agg->ms_hist);
    free(agg->sec_hist);
    qps_lines_free(agg->lines);
    free(agg->where);
    free(agg);
}

/* ---- keys derived from a record ---- */

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static size_t lower_copy(char *dst, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)lower((unsigned char)src[i]);
    return len;
}

static const char *find_last(const char *s, size_t len, char c)
{
    for (size_t i = len; i-- > 0;)
        if (s[i] == c)
            return s + i;
    return NULL;
}

/* The domain of "<user@domain>" (or of a bare address). */
static qps_str address_domain(qps_str addr)
{
    const char *s = addr.ptr, *end = addr.ptr + addr.len;
    if (s < end && *s == '<')
        s++;
    if (end > s && end[-1] == '>')
        end--;
    const char *at = find_last(s, (size_t)(end - s), '@');
    if (at)
        s = at + 1;
    return qps_slice(s, (size_t)(end - s));
}

/* Sender TLD: the last label of the sender's domain, lower-cased; "<>" for
 * the null sender and "" when no sender was given yet. */
size_t qps_sender_tld(qps_str sender, char *out, size_t cap)
{
    if (sender.len == 0)
        return 0;
    if (qps_str_eq(sender, "<>") && cap >= 2) {
        memcpy(out, "<>", 2);
        return 2;
    }
    qps_str domain = address_domain(sender);
    while (domain.len && domain.ptr[domain.len - 1] == '.')
        domain.len--; /* "example.com." is fully qualified, not empty */
    const char *dot = find_last(domain.ptr, domain.len, '.');
    qps_str tld = dot ? qps_slice(dot + 1, domain.len - (size_t)(dot + 1 - domain.ptr)) : domain;
    size_t n = tld.len < cap ? tld.len : cap;
    return lower_copy(out, tld.ptr, n);
}

static bool contains(qps_str s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len < n)
        return false;
    for (size_t i = 0; i + n <= s.len; i++)
        if (memcmp(s.ptr + i, lit, n) == 0)
            return true;
    return false;
}

static bool is_dnsbl_denial(const qps_record *r)
{
    qps_str disp = r->field[QPS_TF_DISPOSITION];
    return contains(disp, "dnsbl") || (qps_str_eq(disp, "naughty") && contains(r->field[QPS_TF_TEXT], "dnsbl"));
}

static bool is_url_stop(char c)
{
    return c == '/' || c == ' ' || c == '\t' || c == '?' || c == '#' || c == '"' || c == '\'' || c == '>' ||
           c == ')' || c == ',' || c == ';' || c == '\r';
}

static bool is_ipv4(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* The DNSBL service named in a deny text: the host of its URL (what the
 * seed's one-liner takes as the 3rd '/'-separated piece), or else the
 * last word that looks like a DNS zone. Empty when there is neither. */
static qps_str dnsbl_service(qps_str text)
{
    const char *s = text.ptr, *end = text.ptr + text.len;
    for (const char *q = s; q + 3 <= end; q++) {
        if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
            const char *h = q + 3, *e = h;
            while (e < end && !is_url_stop(*e))
                e++;
            return qps_slice(h, (size_t)(e - h));
        }
    }
    qps_str best = {NULL, 0};
    const char *w = s;
    while (w < end) {
        while (w < end && (*w == ' ' || *w == '\t' || *w == '(' || *w == '[' || *w == '"' || *w == '\''))
            w++;
        const char *e = w;
        while (e < end && *e != ' ' && *e != '\t')
            e++;
        const char *t = e;
        while (t > w && (t[-1] == '.' || t[-1] == ',' || t[-1] == ';' || t[-1] == ':' || t[-1] == ')' ||
                         t[-1] == ']' || t[-1] == '"' || t[-1] == '\''))
            t--;
        size_t len = (size_t)(t - w);
        if (len > 2 && memchr(w, '.', len) && !is_ipv4(w, len) && !memchr(w, '@', len) && !memchr(w, '=', len))
            best = qps_slice(w, len);
        w = e;
    }
    return best.ptr ? best : qps_slice(s, 0);
}

/* ---- adding ---- */

static qps_status table_add(qps_agg *agg, qps_dim dim, const char *key, size_t len)
{
    /* an empty slice may have no bytes at all (a record without host) */
    return qps_table_add(agg->table[dim], key ? key : "", len, 1);
}

static int score_bucket(double score)
{
    if (score < SCORE_MIN)
        return 0;
    if (score >= SCORE_MAX)
        return SCORE_BUCKETS - 1;
    double f = score - SCORE_MIN;
    return 1 + (int)f;
}

/* The recipient domains of "<a@x>,<b@y>"; queued: into the accepted ones
 * too. */
static qps_status add_recipients(qps_agg *agg, qps_str rcpts, bool queued)
{
    char buf[512];
    qps_status st;
    const char *s = rcpts.ptr, *end = s + rcpts.len;
    while (s && s < end) {
        const char *comma = qps_find_byte(s, end, ',');
        const char *e = comma ? comma : end;
        qps_str domain = address_domain(qps_slice(s, (size_t)(e - s)));
        if (domain.len && domain.len < sizeof buf) {
            size_t dlen = lower_copy(buf, domain.ptr, domain.len);
            if ((st = table_add(agg, QPS_DIM_RECIPIENT, buf, dlen)) != QPS_OK ||
                (queued && (st = qps_table_add(agg->rcpt_acc, buf, dlen, 1)) != QPS_OK))
                return st;
            agg->recipient_total++;
        }
        s = comma ? comma + 1 : end;
    }
    return QPS_OK;
}

/* The tables keyed by what the remote side chose (IP, HELO, sender) */
static const struct {
    qps_dim dim;
    int field;
} remote_keys[] = {{QPS_DIM_IP, QPS_TF_IP}, {QPS_DIM_HELO, QPS_TF_HELO}, {QPS_DIM_SENDER, QPS_TF_SENDER}};

/* Those tables are large and their keys mostly new: their slots start
 * loading before the record's other work, so the misses overlap one
 * another and that work. */
static void prefetch_remote(qps_agg *agg, const qps_record *r, uint32_t hash[3])
{
    for (int i = 0; i < 3; i++)
        if (agg->keep & QPS_DIM_BIT(remote_keys[i].dim)) {
            qps_str k = r->field[remote_keys[i].field];
            hash[i] = qps_table_hash(k.ptr, k.len);
            qps_table_prefetch(agg->table[remote_keys[i].dim], hash[i]);
        }
}

static qps_status add_remote(qps_agg *agg, const qps_record *r, const uint32_t hash[3])
{
    for (int i = 0; i < 3; i++)
        if (agg->keep & QPS_DIM_BIT(remote_keys[i].dim)) {
            qps_str k = r->field[remote_keys[i].field];
            /* an empty field may have no bytes at all, as in table_add */
            qps_status st = qps_table_add_hashed(agg->table[remote_keys[i].dim], k.ptr ? k.ptr : "", k.len, hash[i], 1);
            if (st != QPS_OK)
                return st;
        }
    return QPS_OK;
}

static qps_status add_terse(qps_agg *agg, const qps_record *r)
{
    qps_status st = QPS_OK;
    const qps_str *f = r->field;
    const unsigned keep = agg->keep;
    char buf[512];
    agg->counts.transactions++;
    if (r->has_time) {
        if (!agg->counts.first || r->unix_sec < agg->counts.first)
            agg->counts.first = r->unix_sec;
        if (r->unix_sec > agg->counts.last)
            agg->counts.last = r->unix_sec;
    }

#define TRY(call)                                                                                                 \
    do {                                                                                                          \
        if ((st = (call)) != QPS_OK)                                                                              \
            return st;                                                                                            \
    } while (0)
#define KEEP(dim) (keep & QPS_DIM_BIT(dim))

    uint32_t hash[3];
    prefetch_remote(agg, r, hash);

    qps_str disp = f[QPS_TF_DISPOSITION];
    if (KEEP(QPS_DIM_DISPOSITION))
        TRY(table_add(agg, QPS_DIM_DISPOSITION, disp.ptr, disp.len));
    if (qps_str_eq(disp, "hosts_allow"))
        agg->hosts_allow_terse++;
    if (KEEP(QPS_DIM_SERVER))
        TRY(table_add(agg, QPS_DIM_SERVER, r->host.ptr, r->host.len));
    if (KEEP(QPS_DIM_CODE))
        TRY(table_add(agg, QPS_DIM_CODE, f[QPS_TF_CODE].ptr, f[QPS_TF_CODE].len));
    const char *cat = KEEP(QPS_DIM_CATEGORY) || KEEP(QPS_DIM_HOUR_CATEGORY) ? qps_category_of(agg->cats, r) : NULL;
    if (KEEP(QPS_DIM_CATEGORY)) {
        TRY(table_add(agg, QPS_DIM_CATEGORY, cat, strlen(cat)));
        if (strcmp(cat, QPS_CATEGORY_UNKNOWN) == 0)
            TRY(qps_table_add(agg->unknown, disp.ptr, disp.len, 1));
    }
    bool queued = qps_str_eq(disp, "queued");

    if (KEEP(QPS_DIM_TLD) || KEEP(QPS_DIM_DISPOSITION_TLD)) {
        size_t tld_len = qps_sender_tld(f[QPS_TF_SENDER], buf, 256);
        if (KEEP(QPS_DIM_TLD))
            TRY(table_add(agg, QPS_DIM_TLD, buf, tld_len));
        /* disposition \0 tld; a disposition is a plugin name, far below 256 */
        char pair[512 + 1];
        size_t dlen = disp.len < 255 ? disp.len : 255;
        memcpy(pair, disp.ptr, dlen);
        pair[dlen] = '\0';
        memcpy(pair + dlen + 1, buf, tld_len);
        if (KEEP(QPS_DIM_DISPOSITION_TLD))
            TRY(table_add(agg, QPS_DIM_DISPOSITION_TLD, pair, dlen + 1 + tld_len));
    }

    if (KEEP(QPS_DIM_DNSBL) && is_dnsbl_denial(r)) {
        qps_str svc = dnsbl_service(f[QPS_TF_TEXT]);
        TRY(table_add(agg, QPS_DIM_DNSBL, svc.ptr, svc.len));
        agg->dnsbl_total++;
    }
    /* an empty field (a denial before HELO or MAIL FROM, hosts_allow in the
     * parent) is a row of its own, so the rows add up to the total */
    if (KEEP(QPS_DIM_SERVICE))
        TRY(table_add(agg, QPS_DIM_SERVICE, r->service.len ? r->service.ptr : "", r->service.len));
    TRY(add_remote(agg, r, hash));

    if (KEEP(QPS_DIM_RECIPIENT))
        TRY(add_recipients(agg, f[QPS_TF_RCPTS], queued));

    if (r->has_time && (KEEP(QPS_DIM_HOUR) || KEEP(QPS_DIM_DAY) || KEEP(QPS_DIM_HOUR_CATEGORY) ||
                        KEEP(QPS_DIM_HOUR_DISPOSITION) || KEEP(QPS_DIM_DAY_DISPOSITION))) {
        qps_civil c;
        if (qps_civil_from_unix(&agg->tz, r->unix_sec, agg->opts.utc, &c) == QPS_OK) {
            agg->hour[c.hour]++;
            if (KEEP(QPS_DIM_HOUR_CATEGORY)) {
                /* hour \0 category; a category is at most 64 bytes */
                char pair[3 + 64 + 16];
                size_t clen = strlen(cat) < 64 + 15 ? strlen(cat) : 64 + 15;
                memcpy(pair, hour_keys[c.hour], 2);
                pair[2] = '\0';
                memcpy(pair + 3, cat, clen);
                TRY(table_add(agg, QPS_DIM_HOUR_CATEGORY, pair, 3 + clen));
            }
            /* the day's text changes once a day, not once a record */
            if (c.year != agg->day_year || c.month != agg->day_month || c.day != agg->day_mday) {
                agg->day_len = (size_t)snprintf(agg->day_key, sizeof agg->day_key, "%04d-%02d-%02d",
                                                c.year, c.month, c.day);
                agg->day_year = c.year;
                agg->day_month = c.month;
                agg->day_mday = c.day;
            }
            if (KEEP(QPS_DIM_DAY))
                TRY(table_add(agg, QPS_DIM_DAY, agg->day_key, agg->day_len));
            if (KEEP(QPS_DIM_HOUR_DISPOSITION))
                TRY(add_with_disposition(agg->table[QPS_DIM_HOUR_DISPOSITION], hour_keys[c.hour], 2, disp));
            if (KEEP(QPS_DIM_DAY_DISPOSITION))
                TRY(add_with_disposition(agg->table[QPS_DIM_DAY_DISPOSITION], agg->day_key, agg->day_len, disp));
        }
    }

    qps_spam spam;
    if (!KEEP(QPS_DIM_SCORE) && !KEEP(QPS_DIM_SPAM)) {
        /* neither table is printed */
    } else if (r->nfields == 9 && qps_spam_parse(f[QPS_TF_SPAM], &spam) == QPS_OK) {
        if (spam.is_spam) {
            agg->spam++;
            agg->spam_sum += spam.score;
        } else {
            agg->ham++;
            agg->ham_sum += spam.score;
        }
        agg->score[score_bucket(spam.score)]++;
        if (queued) {
            agg->acc_scored++;
            agg->acc_sum += spam.score;
        } else {
            agg->rej_scored++;
            agg->rej_sum += spam.score;
        }
    } else {
        agg->nospam++;
    }
#undef KEEP
#undef TRY
    return QPS_OK;
}

qps_status qps_agg_add_remote_keys(qps_agg *agg, const qps_record *r)
{
    if (r->kind != QPS_KIND_TERSE || agg->nwhere)
        return QPS_OK;
    uint32_t hash[3];
    prefetch_remote(agg, r, hash);
    qps_status st = add_remote(agg, r, hash);
    if (st == QPS_OK && (agg->keep & QPS_DIM_BIT(QPS_DIM_RECIPIENT)))
        st = add_recipients(agg, r->field[QPS_TF_RCPTS], qps_str_eq(r->field[QPS_TF_DISPOSITION], "queued"));
    return st;
}

/* n connection times of ms each into the histograms; sum: into the sum
 * too (a pruned day's exact sum comes on its own). */
static qps_status add_conn_times(qps_agg *agg, uint64_t ms, uint64_t n, bool sum)
{
    if (ms < MS_BUCKETS) {
        if (!agg->ms_hist && !(agg->ms_hist = calloc(MS_BUCKETS, sizeof *agg->ms_hist)))
            return QPS_ENOMEM;
        agg->ms_hist[ms] += n;
    } else if (ms / 1000 < SEC_BUCKETS) {
        if (!agg->sec_hist && !(agg->sec_hist = calloc(SEC_BUCKETS, sizeof *agg->sec_hist)))
            return QPS_ENOMEM;
        agg->sec_hist[ms / 1000] += n;
    } else {
        agg->beyond_day += n;
    }
    agg->timed += n;
    if (sum)
        agg->sum_ms += ms * n;
    if (ms > agg->max_ms)
        agg->max_ms = ms;
    return QPS_OK;
}

/* ---- parts: deferred work for the owner ---- */

/* A part's logterse record: its time and its nine fields, copied, so the
 * owner can add it later with add_terse() itself (key tables and spam
 * sums depend on the order of additions: only the owner may do them). */
typedef struct {
    int64_t unix_sec;
    uint32_t len[QPS_TF_COUNT_];
    uint32_t host_len; /* the line's host (the server table), after the fields */
    int32_t has_time, nfields;
} deferred;

static qps_status log_reserve(qps_agg *agg, size_t n)
{
    if (agg->log_cap - agg->log_len >= n)
        return QPS_OK;
    size_t cap = agg->log_cap ? agg->log_cap : 1 << 16;
    while (cap - agg->log_len < n)
        cap *= 2;
    char *l = realloc(agg->log, cap);
    if (!l)
        return QPS_ENOMEM;
    agg->log = l;
    agg->log_cap = cap;
    return QPS_OK;
}

static qps_status defer_terse(qps_agg *agg, const qps_record *r)
{
    deferred d = {r->unix_sec, {0}, (uint32_t)r->host.len, r->has_time, r->nfields};
    size_t bytes = sizeof d + d.host_len;
    for (int i = 0; i < QPS_TF_COUNT_; i++)
        bytes += d.len[i] = (uint32_t)r->field[i].len;
    bytes = (bytes + 7) & ~(size_t)7; /* keep the next header aligned */
    qps_status st = log_reserve(agg, bytes);
    if (st != QPS_OK)
        return st;
    char *p = agg->log + agg->log_len;
    memcpy(p, &d, sizeof d);
    p += sizeof d;
    for (int i = 0; i < QPS_TF_COUNT_; i++) {
        if (d.len[i])
            memcpy(p, r->field[i].ptr, d.len[i]);
        p += d.len[i];
    }
    if (d.host_len)
        memcpy(p, r->host.ptr, d.host_len);
    agg->log_len += bytes;
    return QPS_OK;
}

static qps_status defer_conn_time(qps_agg *agg, uint64_t ms)
{
    if (agg->conn_n == agg->conn_cap) {
        size_t cap = agg->conn_cap ? agg->conn_cap * 2 : 1024;
        uint64_t *c = realloc(agg->conn_ms, cap * sizeof *c);
        if (!c)
            return QPS_ENOMEM;
        agg->conn_ms = c;
        agg->conn_cap = cap;
    }
    agg->conn_ms[agg->conn_n++] = ms;
    return QPS_OK;
}

static bool in_range(const qps_agg *agg, const qps_record *r)
{
    if (agg->opts.has_since && r->unix_sec < agg->opts.since)
        return false;
    if (agg->opts.has_until && r->unix_sec >= agg->opts.until)
        return false;
    return true;
}

/* ---- the where filters ---- */

static bool eq(qps_str s, const char *v, size_t vlen)
{
    return s.len == vlen && memcmp(s.ptr, v, vlen) == 0;
}

static bool any_recipient_domain(const qps_record *r, const char *v, size_t vlen)
{
    char buf[512];
    const char *s = r->field[QPS_TF_RCPTS].ptr, *end = s + r->field[QPS_TF_RCPTS].len;
    while (s && s < end) {
        const char *comma = qps_find_byte(s, end, ',');
        const char *e = comma ? comma : end;
        qps_str domain = address_domain(qps_slice(s, (size_t)(e - s)));
        if (domain.len && domain.len < sizeof buf && lower_copy(buf, domain.ptr, domain.len) == vlen &&
            memcmp(buf, v, vlen) == 0)
            return true;
        s = comma ? comma + 1 : end;
    }
    return false;
}

/* ASCII case-insensitive fixed string search (qpstat grep's default). */
static bool contains_ci(qps_str s, const char *v, size_t vlen)
{
    if (vlen == 0)
        return true;
    for (size_t i = 0; i + vlen <= s.len; i++) {
        size_t k = 0;
        while (k < vlen && lower((unsigned char)s.ptr[i + k]) == lower((unsigned char)v[k]))
            k++;
        if (k == vlen)
            return true;
    }
    return false;
}

static bool any_field_contains(const qps_record *r, const char *v, size_t vlen)
{
    for (int f = 0; f < QPS_TF_COUNT_; f++)
        if ((f < QPS_TF_SPAM || r->nfields == 9) && contains_ci(r->field[f], v, vlen))
            return true;
    return false;
}

/* Each filter asks for the key the table would count the record under,
 * computed as add_terse computes it. */
static bool where_match(qps_agg *agg, const qps_record *r)
{
    const qps_str *f = r->field;
    char buf[512];
    for (size_t i = 0; i < agg->nwhere; i++) {
        const char *v = agg->where[i].value;
        size_t vlen = strlen(v);
        bool ok = false;
        switch (agg->where[i].dim) {
        case QPS_DIM_DISPOSITION: ok = eq(f[QPS_TF_DISPOSITION], v, vlen); break;
        case QPS_DIM_SENDER: ok = eq(f[QPS_TF_SENDER], v, vlen); break;
        case QPS_DIM_IP: ok = eq(f[QPS_TF_IP], v, vlen); break;
        case QPS_DIM_HELO: ok = eq(f[QPS_TF_HELO], v, vlen); break;
        case QPS_DIM_SERVER: ok = eq(r->host, v, vlen); break;
        case QPS_DIM_SERVICE: ok = eq(r->service, v, vlen); break;
        case QPS_WHERE_CODE: ok = eq(f[QPS_TF_CODE], v, vlen); break;
        case QPS_WHERE_GREP: ok = any_field_contains(r, v, vlen); break;
        case QPS_DIM_TLD: ok = eq(qps_slice(buf, qps_sender_tld(f[QPS_TF_SENDER], buf, 256)), v, vlen); break;
        case QPS_DIM_DNSBL: ok = is_dnsbl_denial(r) && eq(dnsbl_service(f[QPS_TF_TEXT]), v, vlen); break;
        case QPS_DIM_RECIPIENT: ok = any_recipient_domain(r, v, vlen); break;
        case QPS_DIM_CATEGORY: ok = strcmp(qps_category_of(agg->cats, r), v) == 0; break;
        case QPS_DIM_HOUR:
        case QPS_DIM_DAY: {
            qps_civil c;
            if (r->has_time && qps_civil_from_unix(&agg->tz, r->unix_sec, agg->opts.utc, &c) == QPS_OK) {
                int n = agg->where[i].dim == QPS_DIM_HOUR
                            ? snprintf(buf, sizeof buf, "%02d", c.hour)
                            : snprintf(buf, sizeof buf, "%04d-%02d-%02d", c.year, c.month, c.day);
                ok = eq(qps_slice(buf, (size_t)n), v, vlen);
            }
            break;
        }
        case QPS_DIM_SCORE:
        case QPS_DIM_SPAM: {
            qps_spam spam;
            bool has = r->nfields == 9 && qps_spam_parse(f[QPS_TF_SPAM], &spam) == QPS_OK;
            if (agg->where[i].dim == QPS_DIM_SPAM)
                ok = strcmp(v, !has ? "none" : spam.is_spam ? "spam" : "ham") == 0;
            else
                ok = has && strcmp(v, agg->score_keys[score_bucket(spam.score)]) == 0;
            break;
        }
        default: break;
        }
        if (!ok)
            return false;
    }
    return true;
}

int qps_agg_selects(qps_agg *agg, const qps_record *r)
{
    if (!agg || !r || r->kind != QPS_KIND_TERSE)
        return 0;
    if (agg->opts.has_since || agg->opts.has_until) {
        if (r->has_time ? !in_range(agg, r) : !agg->opts.keep_untimed)
            return 0;
    }
    return !agg->nwhere || where_match(agg, r);
}

qps_status qps_agg_add(qps_agg *agg, const qps_record *r)
{
    qps_counts *c = &agg->counts;
    qps_kind kind = r->kind < QPS_KIND_COUNT_ ? r->kind : QPS_KIND_INVALID;
    /* A pid-less line is a record's continuation only right after one. */
    if (kind == QPS_KIND_CONTINUATION && !agg->prev_terse) {
        kind = QPS_KIND_OTHER;
        if (agg->part && !agg->part_started)
            agg->lead_cont++; /* the owner knows whether a record came before */
    } else if (agg->part) {
        agg->part_started = true;
    }
    agg->prev_terse = kind == QPS_KIND_TERSE || kind == QPS_KIND_CONTINUATION;
    c->lines_read++;
    c->by_kind[kind]++;
    if (kind == QPS_KIND_INVALID) {
        c->lines_invalid++;
        c->by_bad[r->bad <= QPS_BAD_TRUNCATED ? r->bad : QPS_BAD_NONE]++;
        return QPS_OK;
    }
    c->lines_parsed++;
    if (agg->opts.has_since || agg->opts.has_until) {
        if (!r->has_time && !agg->opts.keep_untimed) {
            c->untimed++;
            return QPS_OK;
        }
        if (r->has_time && !in_range(agg, r)) {
            c->out_of_range++;
            return QPS_OK;
        }
    }
    /* a filter selects transactions: connection facts are not theirs */
    if (agg->nwhere && kind != QPS_KIND_TERSE)
        return QPS_OK;
    switch (kind) {
    case QPS_KIND_TERSE:
        if (agg->nwhere && !where_match(agg, r))
            return QPS_OK;
        return agg->part ? defer_terse(agg, r) : add_terse(agg, r);
    case QPS_KIND_ACCEPT:
        agg->accepted++;
        if (r->running + 1 > agg->peak)
            agg->peak = r->running + 1;
        if (r->max > agg->limit)
            agg->limit = r->max;
        break;
    case QPS_KIND_TOO_MANY:
        agg->too_many++;
        if (r->max > agg->limit)
            agg->limit = r->max;
        break;
    case QPS_KIND_HOSTS_ALLOW:
        agg->hosts_allow_lines++;
        break;
    case QPS_KIND_CONN_TIME:
        return agg->part ? defer_conn_time(agg, r->millis) : add_conn_times(agg, r->millis, 1, true);
    case QPS_KIND_REPLY:
        if (qps_reply_is_queued(r))
            agg->queue_ok++;
        break;
    default:
        break;
    }
    return QPS_OK;
}

static qps_status add_line(qps_agg *agg, const char *line, size_t len, bool may_hold_nul)
{
    qps_record rec;
    qps_parse_checked(agg->parser, line, len, &rec, may_hold_nul);
    return qps_agg_add(agg, &rec);
}

qps_status qps_agg_add_line(qps_agg *agg, const char *line, size_t len)
{
    return add_line(agg, line, len, true);
}

qps_status qps_agg_add_line_kind(qps_agg *agg, const char *line, size_t len, qps_kind *kind)
{
    qps_record rec;
    *kind = qps_parse_checked(agg->parser, line, len, &rec, true);
    return qps_agg_add(agg, &rec);
}

typedef struct {
    qps_agg *agg;
    const char *chunk, *end;
    bool may_hold_nul;
    qps_status st;
} feed_ctx;

static inline int feed_line(void *ctx, const char *line, size_t len)
{
    feed_ctx *f = ctx;
    /* a line carried over from the chunk before is scanned for NUL alone */
    bool in_chunk = line >= f->chunk && line < f->end;
    return (f->st = add_line(f->agg, line, len, !in_chunk || f->may_hold_nul)) != QPS_OK;
}

qps_status qps_agg_feed(qps_agg *agg, const char *chunk, size_t len)
{
    if (!agg->lines && !(agg->lines = qps_lines_new()))
        return QPS_ENOMEM;
    qps_status st = qps_lines_feed(agg->lines, chunk, len);
    if (st != QPS_OK)
        return st;
    /* one NUL scan per chunk instead of one per line */
    feed_ctx f = {agg, chunk, chunk + len, len && memchr(chunk, '\0', len) != NULL, QPS_OK};
    if (qps_lines_each(agg->lines, feed_line, &f) != 0) {
        qps_str rest;
        qps_lines_end(agg->lines, &rest); /* drop the rest: the caller stops */
    }
    return f.st;
}

qps_status qps_agg_finish(qps_agg *agg)
{
    qps_status st = QPS_OK;
    qps_str line;
    if (agg->lines && qps_lines_end(agg->lines, &line))
        st = qps_agg_add_line(agg, line.ptr, line.len);
    agg->prev_terse = false;
    return st;
}

qps_status qps_agg_read(qps_agg *agg, qps_reader *reader)
{
    const char *chunk;
    size_t len;
    qps_status st, fed = QPS_OK;
    while ((st = qps_reader_read(reader, &chunk, &len)) == QPS_OK && len)
        if ((fed = qps_agg_feed(agg, chunk, len)) != QPS_OK)
            break;
    /* the lines before a read error count, the last one too */
    qps_status fin = qps_agg_finish(agg);
    return fed != QPS_OK ? fed : st != QPS_OK ? st : fin;
}

/* ---- merging and reading ---- */

static qps_status merge_hist(uint64_t **dst, const uint64_t *src, size_t n)
{
    if (!src)
        return QPS_OK;
    if (!*dst && !(*dst = calloc(n, sizeof **dst)))
        return QPS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        (*dst)[i] += src[i];
    return QPS_OK;
}

qps_status qps_agg_merge(qps_agg *dst, const qps_agg *src)
{
    if (!dst || !src || dst == src)
        return QPS_EINVAL;
    qps_status st;
    for (size_t i = 0; i < NTABLE_DIMS; i++)
        if (src->table[table_dims[i]] && dst->table[table_dims[i]] &&
            (st = qps_table_merge(dst->table[table_dims[i]], src->table[table_dims[i]])) != QPS_OK)
            return st;
    /* a part (qps_agg_new_part) has no key tables */
    if (src->unknown && ((st = qps_table_merge(dst->unknown, src->unknown)) != QPS_OK ||
                         (st = qps_table_merge(dst->rcpt_acc, src->rcpt_acc)) != QPS_OK))
        return st;
    if ((st = merge_hist(&dst->ms_hist, src->ms_hist, MS_BUCKETS)) != QPS_OK ||
        (st = merge_hist(&dst->sec_hist, src->sec_hist, SEC_BUCKETS)) != QPS_OK)
        return st;
    qps_counts *d = &dst->counts;
    const qps_counts *s = &src->counts;
    d->lines_read += s->lines_read;
    d->lines_parsed += s->lines_parsed;
    d->lines_invalid += s->lines_invalid;
    for (int k = 0; k < QPS_KIND_COUNT_; k++)
        d->by_kind[k] += s->by_kind[k];
    for (int b = 0; b <= QPS_BAD_TRUNCATED; b++)
        d->by_bad[b] += s->by_bad[b];
    d->out_of_range += s->out_of_range;
    d->untimed += s->untimed;
    d->transactions += s->transactions;
    if (s->first && (!d->first || s->first < d->first))
        d->first = s->first;
    if (s->last > d->last)
        d->last = s->last;
    for (int h = 0; h < 24; h++)
        dst->hour[h] += src->hour[h];
    for (int b = 0; b < SCORE_BUCKETS; b++)
        dst->score[b] += src->score[b];
    dst->spam += src->spam;
    dst->ham += src->ham;
    dst->nospam += src->nospam;
    dst->spam_sum += src->spam_sum;
    dst->ham_sum += src->ham_sum;
    dst->acc_scored += src->acc_scored;
    dst->rej_scored += src->rej_scored;
    dst->acc_sum += src->acc_sum;
    dst->rej_sum += src->rej_sum;
    dst->dnsbl_total += src->dnsbl_total;
    dst->recipient_total += src->recipient_total;
    dst->accepted += src->accepted;
    dst->queue_ok += src->queue_ok;
    dst->too_many += src->too_many;
    dst->hosts_allow_lines += src->hosts_allow_lines;
    dst->hosts_allow_terse += src->hosts_allow_terse;
    if (src->peak > dst->peak)
        dst->peak = src->peak;
    if (src->limit > dst->limit)
        dst->limit = src->limit;
    dst->timed += src->timed;
    dst->beyond_day += src->beyond_day;
    dst->sum_ms += src->sum_ms;
    if (src->max_ms > dst->max_ms)
        dst->max_ms = src->max_ms;
    return QPS_OK;
}

void qps_agg_counts(const qps_agg *agg, qps_counts *out)
{
    *out = agg->counts;
}

/* The connection time (ms) of the given 1-based rank. */
static uint64_t conn_time_at_rank(const qps_agg *agg, uint64_t rank)
{
    uint64_t seen = 0;
    if (agg->ms_hist)
        for (size_t i = 0; i < MS_BUCKETS; i++)
            if ((seen += agg->ms_hist[i]) >= rank)
                return i;
    if (agg->sec_hist)
        for (size_t i = 0; i < SEC_BUCKETS; i++)
            if ((seen += agg->sec_hist[i]) >= rank)
                return i * 1000;
    return agg->max_ms;
}

static double percentile_s(const qps_agg *agg, unsigned pct)
{
    /* nearest rank: the smallest value with at least pct% at or below it */
    uint64_t rank = (agg->timed * pct + 99) / 100;
    if (rank == 0)
        rank = 1;
    return (double)conn_time_at_rank(agg, rank) / 1000.0;
}

void qps_agg_conn_stats(const qps_agg *agg, qps_conn_stats *out)
{
    memset(out, 0, sizeof *out);
    out->accepted = agg->accepted;
    out->queue_accepted = agg->queue_ok;
    out->peak = agg->peak;
    out->limit = agg->limit;
    out->too_many = agg->too_many;
    /* logterse records every hosts_allow denial; the plugin's own lines
     * (only "too many" ones at LOGINFO) count where logterse is absent */
    out->hosts_allow =
        agg->hosts_allow_terse > agg->hosts_allow_lines ? agg->hosts_allow_terse : agg->hosts_allow_lines;
    out->timed = agg->timed;
    if (agg->timed) {
        out->mean_s = (double)agg->sum_ms / (double)agg->timed / 1000.0;
        out->p50_s = percentile_s(agg, 50);
        out->p90_s = percentile_s(agg, 90);
        out->p99_s = percentile_s(agg, 99);
        out->max_s = (double)agg->max_ms / 1000.0;
    }
}

void qps_agg_spam_stats(const qps_agg *agg, qps_spam_stats *out)
{
    out->spam = agg->spam;
    out->ham = agg->ham;
    out->none = agg->nospam;
    out->spam_mean = agg->spam ? agg->spam_sum / (double)agg->spam : 0;
    out->ham_mean = agg->ham ? agg->ham_sum / (double)agg->ham : 0;
    out->accepted_scored = agg->acc_scored;
    out->rejected_scored = agg->rej_scored;
    out->accepted_mean = agg->acc_scored ? agg->acc_sum / (double)agg->acc_scored : 0;
    out->rejected_mean = agg->rej_scored ? agg->rej_sum / (double)agg->rej_scored : 0;
}

uint64_t qps_agg_total(const qps_agg *agg, qps_dim dim)
{
    switch (dim) {
    case QPS_DIM_DNSBL:
        return agg->dnsbl_total;
    case QPS_DIM_RECIPIENT:
        return agg->recipient_total;
    case QPS_DIM_SCORE:
        return agg->spam + agg->ham;
    case QPS_DIM_CONNECTIONS:
        return agg->accepted;
    case QPS_DIM_CONNECTION_TIME:
        return agg->timed;
    default:
        return agg->counts.transactions;
    }
}

int qps_agg_approximate(const qps_agg *agg, qps_dim dim)
{
    return dim < QPS_DIM_COUNT_ && agg->table[dim] && qps_table_overflowed(agg->table[dim]);
}

static int key_compare(const qps_row *a, const qps_row *b)
{
    for (int k = 0; k < 2; k++) {
        size_t n = a->key[k].len < b->key[k].len ? a->key[k].len : b->key[k].len;
        int c = n ? memcmp(a->key[k].ptr, b->key[k].ptr, n) : 0;
        if (c)
            return c;
        if (a->key[k].len != b->key[k].len)
            return a->key[k].len < b->key[k].len ? -1 : 1;
    }
    return 0;
}

static int by_count(const void *pa, const void *pb)
{
    const qps_row *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return key_compare(a, b);
}

static int by_key(const void *pa, const void *pb)
{
    return key_compare(pa, pb);
}

/* Moves the rows that come first in cmp's order to rows[0..top) and sorts
 * those: a heap of the top kept so far, its last in order at the root.
 * cmp is a total order (a table's keys are distinct), so the first rows
 * are those of a full sort. */
static void sort_top(qps_row *rows, size_t n, size_t top, int (*cmp)(const void *, const void *))
{
    if (top == 0 || top >= n / 4) {
        qsort(rows, n, sizeof *rows, cmp);
        return;
    }
#define LATER(i, j) (cmp(&rows[i], &rows[j]) > 0)
#define SWAP(i, j)                                                                                                \
    do {                                                                                                          \
        qps_row tmp_ = rows[i];                                                                                   \
        rows[i] = rows[j];                                                                                        \
        rows[j] = tmp_;                                                                                           \
    } while (0)
    for (size_t i = 1; i < top; i++) /* sift up: the root is the latest */
        for (size_t c = i; c > 0 && LATER(c, (c - 1) / 2); c = (c - 1) / 2)
            SWAP(c, (c - 1) / 2);
    for (size_t i = top; i < n; i++) {
        if (!LATER(0, i))
            continue;
        SWAP(0, i);
        for (size_t c = 0;;) { /* sift down */
            size_t l = 2 * c + 1, r = l + 1, m = c;
            if (l < top && LATER(l, m))
                m = l;
            if (r < top && LATER(r, m))
                m = r;
            if (m == c)
                break;
            SWAP(c, m);
            c = m;
        }
    }
#undef LATER
#undef SWAP
    qsort(rows, top, sizeof *rows, cmp);
}

qps_status qps_agg_rows(const qps_agg *agg, qps_dim dim, qps_row **rows_out, size_t *n_out)
{
    return qps_agg_rows_top(agg, dim, 0, rows_out, n_out);
}

qps_status qps_agg_rows_top(const qps_agg *agg, qps_dim dim, size_t top, qps_row **rows_out, size_t *n_out)
{
    *rows_out = NULL;
    *n_out = 0;
    if (dim >= QPS_DIM_COUNT_ || dim == QPS_DIM_CONNECTIONS || dim == QPS_DIM_CONNECTION_TIME)
        return QPS_EINVAL;
    size_t n = 0, cap;
    qps_row *rows;
    if (agg->table[dim]) {
        cap = qps_table_size(agg->table[dim]);
        qps_table_entry *entries = malloc((cap ? cap : 1) * sizeof *entries);
        rows = calloc(cap ? cap : 1, sizeof *rows);
        if (!entries || !rows) {
            free(entries);
            free(rows);
            return QPS_ENOMEM;
        }
        qps_table_entries(agg->table[dim], entries);
        for (size_t i = 0; i < cap; i++) {
            qps_row *r = &rows[n++];
            r->key[0] = qps_slice(entries[i].key, entries[i].len);
            if (two_keys(dim)) {
                const char *nul = memchr(entries[i].key, '\0', entries[i].len);
                size_t first = nul ? (size_t)(nul - entries[i].key) : entries[i].len;
                r->key[0].len = first;
                r->key[1] = qps_slice(entries[i].key + first + (nul != NULL),
                                      entries[i].len - first - (nul != NULL));
            }
            r->count = entries[i].count;
            r->error = entries[i].error;
        }
        free(entries);
        /* tables of time in time order */
        sort_top(rows, n, top, dim == QPS_DIM_DAY || (two_keys(dim) && dim != QPS_DIM_DISPOSITION_TLD) ? by_key : by_count);
    } else {
        rows = calloc(SCORE_BUCKETS + 24, sizeof *rows);
        if (!rows)
            return QPS_ENOMEM;
        if (dim == QPS_DIM_HOUR && agg->counts.transactions) {
            for (int h = 0; h < 24; h++) {
                rows[n].key[0] = qps_slice(hour_keys[h], 2);
                rows[n++].count = agg->hour[h];
            }
        } else if (dim == QPS_DIM_SCORE) {
            for (int b = 0; b < SCORE_BUCKETS; b++)
                if (agg->score[b]) {
                    rows[n].key[0] = qps_slice(agg->score_keys[b], strlen(agg->score_keys[b]));
                    rows[n++].count = agg->score[b];
                }
        } else if (dim == QPS_DIM_SPAM) {
            const char *names[3] = {"spam", "ham", "none"};
            uint64_t counts[3] = {agg->spam, agg->ham, agg->nospam};
            for (int i = 0; i < 3; i++)
                if (counts[i]) {
                    rows[n].key[0] = qps_slice(names[i], strlen(names[i]));
                    rows[n++].count = counts[i];
                }
        }
    }
    *rows_out = rows;
    *n_out = n;
    return QPS_OK;
}

const qps_categories *qps_agg_categories(const qps_agg *agg)
{
    return agg ? agg->cats : NULL;
}

static qps_status table_rows(const qps_table *table, qps_row **rows_out, size_t *n_out)
{
    *rows_out = NULL;
    *n_out = 0;
    size_t n = qps_table_size(table);
    qps_table_entry *entries = malloc((n ? n : 1) * sizeof *entries);
    qps_row *rows = calloc(n ? n : 1, sizeof *rows);
    if (!entries || !rows) {
        free(entries);
        free(rows);
        return QPS_ENOMEM;
    }
    qps_table_entries(table, entries);
    for (size_t i = 0; i < n; i++) {
        rows[i].key[0] = qps_slice(entries[i].key, entries[i].len);
        rows[i].count = entries[i].count;
        rows[i].error = entries[i].error;
    }
    free(entries);
    qsort(rows, n, sizeof *rows, by_count);
    *rows_out = rows;
    *n_out = n;
    return QPS_OK;
}

qps_status qps_agg_unknown_plugins(const qps_agg *agg, qps_row **rows, size_t *n)
{
    return table_rows(agg->unknown, rows, n);
}

qps_status qps_agg_recipient_accepted(const qps_agg *agg, qps_row **rows, size_t *n)
{
    return table_rows(agg->rcpt_acc, rows, n);
}

void qps_agg_selection(const qps_agg *agg, qps_agg_opts_view *out)
{
    out->since = agg->opts.since;
    out->until = agg->opts.until;
    out->has_since = agg->opts.has_since;
    out->has_until = agg->opts.has_until;
    out->utc = agg->opts.utc;
    out->now = agg->opts.parser.now;
}

void qps_agg_set_line_counts(qps_agg *agg, uint64_t read, uint64_t parsed, uint64_t invalid)
{
    agg->counts.lines_read = read;
    agg->counts.lines_parsed = parsed;
    agg->counts.lines_invalid = invalid;
}

qps_status qps_agg_add_summary(qps_agg *agg, const char *day, qps_str disposition, qps_str tld, qps_str server,
                               uint64_t count)
{
    if (!day || disposition.len > 255 || tld.len > 255)
        return QPS_EINVAL;
    /* a pruned day keeps its disposition and TLD only: it matches a filter
     * of those (and of its day), and no other */
    /* a pruned day's spam verdicts are gone: its queued mail is "queued" */
    const char *cat = qps_category_of_plugin(agg->cats, disposition);
    if (!cat)
        cat = QPS_CATEGORY_UNKNOWN;
    /* those of them the day's "category" facts counted (they came first) */
    int pool = qps_str_eq(disposition, "queued") ? 0 : qps_str_eq(disposition, "naughty") ? 1 : -1;
    uint64_t categorised = 0;
    if (pool >= 0 && !agg->nwhere) {
        categorised = count < agg->pruned_categorised[pool] ? count : agg->pruned_categorised[pool];
        agg->pruned_categorised[pool] -= categorised;
    }
    for (size_t i = 0; i < agg->nwhere; i++) {
        const char *v = agg->where[i].value;
        size_t vlen = strlen(v);
        int d = agg->where[i].dim;
        if (!(d == QPS_DIM_DISPOSITION && eq(disposition, v, vlen)) && !(d == QPS_DIM_TLD && eq(tld, v, vlen)) &&
            !(d == QPS_DIM_DAY && strcmp(day, v) == 0) && !(d == QPS_DIM_SERVER && eq(server, v, vlen)) &&
            !(d == QPS_DIM_CATEGORY && strcmp(cat, v) == 0))
            return QPS_OK;
    }
    char pair[512];
    memcpy(pair, disposition.ptr, disposition.len);
    pair[disposition.len] = '\0';
    memcpy(pair + disposition.len + 1, tld.ptr, tld.len);
    qps_status st;
    if ((st = qps_table_add(agg->table[QPS_DIM_DISPOSITION], disposition.ptr, disposition.len, count)) != QPS_OK ||
        (st = qps_table_add(agg->table[QPS_DIM_TLD], tld.ptr, tld.len, count)) != QPS_OK ||
        (st = qps_table_add(agg->table[QPS_DIM_DISPOSITION_TLD], pair, disposition.len + 1 + tld.len, count)) !=
            QPS_OK ||
        (st = qps_table_add(agg->table[QPS_DIM_DAY], day, strlen(day), count)) != QPS_OK ||
        (st = qps_table_add(agg->table[QPS_DIM_SERVER], server.ptr ? server.ptr : "", server.len, count)) != QPS_OK)
        return st;
    if (count > categorised &&
        ((st = qps_table_add(agg->table[QPS_DIM_CATEGORY], cat, strlen(cat), count - categorised)) != QPS_OK ||
         (strcmp(cat, QPS_CATEGORY_UNKNOWN) == 0 &&
          (st = qps_table_add(agg->unknown, disposition.ptr, disposition.len, count - categorised)) != QPS_OK)))
        return st;
    /* a day of the time chart: its dispositions (hours are gone) */
    size_t dl = strlen(day) < 32 ? strlen(day) : 32;
    memcpy(pair, day, dl);
    pair[dl] = '\0';
    memcpy(pair + dl + 1, disposition.ptr, disposition.len);
    if ((st = qps_table_add(agg->table[QPS_DIM_DAY_DISPOSITION], pair, dl + 1 + disposition.len, count)) != QPS_OK)
        return st;
    if (qps_str_eq(disposition, "hosts_allow"))
        agg->hosts_allow_terse += count;
    agg->counts.transactions += count;
    /* no spam information survives pruning */
    agg->nospam += count;
    return QPS_OK;
}

/* ---- what a pruned record leaves behind (the store's daily facts) ---- */

/* Connection times kept to two significant digits: a few hundred keys a
 * day, percentiles within 5%. */
static uint64_t two_digits(uint64_t ms)
{
    uint64_t scale = 1;
    while (ms >= 100) {
        ms /= 10;
        scale *= 10;
    }
    return ms * scale;
}

qps_status qps_agg_record_facts(const qps_record *r, qps_fact_fn fn, void *ctx)
{
    char key[32];
    switch (r->kind) {
    case QPS_KIND_TERSE: {
        const qps_str *f = r->field;
        /* the service of every record (none: an empty key), so the pruned
         * days' service rows add up to their transactions as the code rows do */
        if (fn(ctx, "code", f[QPS_TF_CODE], 1) || fn(ctx, "service", r->service, 1))
            return QPS_ESTOPPED;
        if (is_dnsbl_denial(r) && fn(ctx, "dnsbl", dnsbl_service(f[QPS_TF_TEXT]), 1))
            return QPS_ESTOPPED;
        char sig[512];
        size_t siglen = qps_category_signature(r, sig, sizeof sig);
        if (siglen && fn(ctx, "category", qps_slice(sig, siglen), 1))
            return QPS_ESTOPPED;
        qps_spam spam;
        if (r->nfields == 9 && qps_spam_parse(f[QPS_TF_SPAM], &spam) == QPS_OK) {
            qps_str verdict = spam.is_spam ? qps_slice("spam", 4) : qps_slice("ham", 3);
            /* a score is kept in thousandths (the logs give one decimal) */
            double milli = spam.score * 1000.0;
            int64_t m = milli > 9e15 ? INT64_C(9000000000000000) : milli < -9e15 ? -INT64_C(9000000000000000)
                                                                                  : (int64_t)llround(milli);
            const char *bucket = score_key_name(score_bucket(spam.score), key);
            if (fn(ctx, "verdict", verdict, 1) || fn(ctx, "score", qps_slice(bucket, strlen(bucket)), 1) ||
                fn(ctx, "score_milli", verdict, m))
                return QPS_ESTOPPED;
        }
        return QPS_OK;
    }
    case QPS_KIND_REPLY:
        return qps_reply_is_queued(r) && fn(ctx, "queued", qps_slice("", 0), 1) ? QPS_ESTOPPED : QPS_OK;
    case QPS_KIND_ACCEPT:
        return fn(ctx, "accepted", qps_slice("", 0), 1) ? QPS_ESTOPPED : QPS_OK;
    case QPS_KIND_TOO_MANY:
        return fn(ctx, "too_many", qps_slice("", 0), 1) ? QPS_ESTOPPED : QPS_OK;
    case QPS_KIND_HOSTS_ALLOW:
        return fn(ctx, "hosts_allow", qps_slice("", 0), 1) ? QPS_ESTOPPED : QPS_OK;
    case QPS_KIND_CONN_TIME: {
        int n = snprintf(key, sizeof key, "%llu", (unsigned long long)two_digits(r->millis));
        /* the exact sum: a histogram's _sum must not go down either */
        return fn(ctx, "conn_ms", qps_slice(key, (size_t)n), 1) ||
                       fn(ctx, "conn_ms_sum", qps_slice("", 0), (int64_t)(r->millis > INT64_MAX ? INT64_MAX : r->millis))
                   ? QPS_ESTOPPED
                   : QPS_OK;
    }
    default:
        return QPS_OK;
    }
}

static bool is(const char *what, const char *name)
{
    return strcmp(what, name) == 0;
}

qps_status qps_agg_add_fact(qps_agg *agg, const char *what, qps_str key, int64_t n)
{
    /* a pruned day keeps no joint facts a filter of transactions could
     * ask for (its disposition and TLD are in qpsmtpd_add_summary's rows) */
    if (agg->nwhere || n == 0)
        return QPS_OK;
    uint64_t u = n > 0 ? (uint64_t)n : 0;
    if (is(what, "code"))
        return qps_table_add(agg->table[QPS_DIM_CODE], key.ptr ? key.ptr : "", key.len, u);
    if (is(what, "service"))
        return qps_table_add(agg->table[QPS_DIM_SERVICE], key.ptr ? key.ptr : "", key.len, u);
    if (is(what, "dnsbl")) {
        agg->dnsbl_total += u;
        return qps_table_add(agg->table[QPS_DIM_DNSBL], key.ptr ? key.ptr : "", key.len, u);
    }
    if (is(what, "category")) {
        /* before the day's totals by disposition, which then leave these out */
        qps_str disp = qps_category_signature_disposition(key);
        int pool = qps_str_eq(disp, "queued") ? 0 : qps_str_eq(disp, "naughty") ? 1 : -1;
        const char *cat = qps_category_of_signature(agg->cats, key);
        if (pool < 0 || !cat)
            return QPS_OK;
        agg->pruned_categorised[pool] += u;
        qps_status st = qps_table_add(agg->table[QPS_DIM_CATEGORY], cat, strlen(cat), u);
        if (st == QPS_OK && strcmp(cat, QPS_CATEGORY_UNKNOWN) == 0)
            st = qps_table_add(agg->unknown, disp.ptr, disp.len, u);
        return st;
    }
    if (is(what, "verdict")) {
        if (qps_str_eq(key, "spam"))
            agg->spam += u;
        else
            agg->ham += u;
        /* qps_agg_add_summary counted the day's transactions as without a verdict */
        agg->nospam -= u < agg->nospam ? u : agg->nospam;
        return QPS_OK;
    }
    if (is(what, "score_milli")) {
        *(qps_str_eq(key, "spam") ? &agg->spam_sum : &agg->ham_sum) += (double)n / 1000.0;
        return QPS_OK;
    }
    if (is(what, "score")) {
        for (int b = 0; b < SCORE_BUCKETS; b++)
            if (eq(key, agg->score_keys[b], strlen(agg->score_keys[b]))) {
                agg->score[b] += u;
                break;
            }
        return QPS_OK;
    }
    if (is(what, "queued"))
        agg->queue_ok += u;
    else if (is(what, "accepted"))
        agg->accepted += u;
    else if (is(what, "too_many"))
        agg->too_many += u;
    else if (is(what, "hosts_allow"))
        agg->hosts_allow_lines += u;
    else if (is(what, "conn_ms")) {
        char buf[32];
        uint64_t ms = 0;
        if (key.len && key.len < sizeof buf) {
            memcpy(buf, key.ptr, key.len);
            buf[key.len] = '\0';
            ms = strtoull(buf, NULL, 10);
        }
        return add_conn_times(agg, ms, u, false);
    } else if (is(what, "conn_ms_sum"))
        agg->sum_ms += u;
    return QPS_OK;
}

uint64_t qps_agg_conn_time_le(const qps_agg *agg, uint64_t ms)
{
    uint64_t n = 0;
    for (uint64_t i = 0; agg->ms_hist && i < MS_BUCKETS && i <= ms; i++)
        n += agg->ms_hist[i];
    /* beyond a minute, to the second: a second's times count when it starts at or below ms */
    for (uint64_t sec = MS_BUCKETS / 1000; agg->sec_hist && sec < SEC_BUCKETS && sec * 1000 <= ms; sec++)
        n += agg->sec_hist[sec];
    return n;
}

static int by_seq(const void *a, const void *b)
{
    uint32_t x = ((const qps_table_entry *)a)->seq, y = ((const qps_table_entry *)b)->seq;
    return x < y ? -1 : x > y;
}

qps_status qps_agg_keys_seen(const qps_agg *agg, qps_dim dim, qps_str **keys, size_t *n)
{
    *keys = NULL;
    *n = 0;
    if (dim >= QPS_DIM_COUNT_ || !agg->table[dim])
        return QPS_EINVAL;
    size_t cap = qps_table_size(agg->table[dim]);
    qps_table_entry *entries = malloc((cap ? cap : 1) * sizeof *entries);
    qps_str *out = malloc((cap ? cap : 1) * sizeof *out);
    if (!entries || !out) {
        free(entries);
        free(out);
        return QPS_ENOMEM;
    }
    qps_table_entries(agg->table[dim], entries);
    qsort(entries, cap, sizeof *entries, by_seq);
    for (size_t i = 0; i < cap; i++)
        out[i] = qps_slice(entries[i].key, entries[i].len);
    free(entries);
    *keys = out;
    *n = cap;
    return QPS_OK;
}

/* ---- parts ---- */

qps_agg *qps_agg_new_part(const qps_agg *owner)
{
    if (!owner)
        return NULL;
    qps_agg *agg = calloc(1, sizeof *agg);
    if (!agg)
        return NULL;
    agg->opts = owner->opts;
    agg->opts.where = owner->where; /* a part filters, so only selected records wait */
    agg->opts.nwhere = owner->nwhere;
    agg->keep = owner->keep;
    agg->part = true; /* no key tables: the owner's are the only ones */
    agg->cats = owner->cats; /* the owner's, read only (--where category=) */
    memcpy(agg->score_keys, owner->score_keys, sizeof agg->score_keys);
    if (!copy_where(agg)) {
        free(agg);
        return NULL;
    }
    qps_parser_opts po = owner->opts.parser;
    po.terse_prefix = qps_parser_prefix(owner->parser);
    if (!(agg->parser = qps_parser_new(&po))) {
        qps_agg_free(agg);
        return NULL;
    }
    return agg;
}

qps_agg *qps_agg_renew_part(qps_agg *part)
{
    if (!part || !part->part)
        return NULL;
    qps_agg *fresh = qps_agg_new_part(part); /* a part carries its owner's options */
    if (!fresh)
        return NULL;
    fresh->log = part->log;
    fresh->log_cap = part->log_cap;
    fresh->conn_ms = part->conn_ms;
    fresh->conn_cap = part->conn_cap;
    if ((fresh->lines = part->lines))
        qps_lines_reset(fresh->lines);
    part->log = NULL;
    part->conn_ms = NULL;
    part->lines = NULL;
    qps_agg_free(part);
    return fresh;
}

void qps_agg_prime(qps_agg *agg, const char *line, size_t len)
{
    qps_record rec;
    qps_parse_checked(agg->parser, line, len, &rec, true);
}

qps_status qps_agg_absorb(qps_agg *owner, qps_agg *part)
{
    if (!owner || !part || owner == part || owner->part || !part->part)
        return QPS_EINVAL;
    qps_status st;
    /* the part's leading pid-less lines continue the owner's last record */
    if (owner->prev_terse && part->lead_cont) {
        part->counts.by_kind[QPS_KIND_OTHER] -= part->lead_cont;
        part->counts.by_kind[QPS_KIND_CONTINUATION] += part->lead_cont;
    }
    if (part->part_started)
        owner->prev_terse = part->prev_terse;
    for (size_t off = 0; off < part->log_len;) {
        deferred d;
        memcpy(&d, part->log + off, sizeof d);
        qps_record rec;
        memset(&rec, 0, sizeof rec); /* add_terse reads only what is set below */
        rec.kind = QPS_KIND_TERSE;
        rec.has_time = d.has_time;
        rec.unix_sec = d.unix_sec;
        rec.nfields = d.nfields;
        const char *p = part->log + off + sizeof d;
        size_t bytes = sizeof d;
        for (int i = 0; i < QPS_TF_COUNT_; i++) {
            rec.field[i] = qps_slice(d.len[i] || i != QPS_TF_SPAM || d.nfields == 9 ? p : NULL, d.len[i]);
            p += d.len[i];
            bytes += d.len[i];
        }
        rec.host = qps_slice(d.host_len ? p : NULL, d.host_len);
        bytes += d.host_len;
        if ((st = add_terse(owner, &rec)) != QPS_OK)
            return st;
        off += (bytes + 7) & ~(size_t)7;
    }
    for (size_t i = 0; i < part->conn_n; i++)
        if ((st = add_conn_times(owner, part->conn_ms[i], 1, true)) != QPS_OK)
            return st;
    /* everything else is sums and maxima, the same in any grouping */
    st = qps_agg_merge(owner, part);
    part->log_len = part->conn_n = 0;
    return st;
}

/* ---- the totals a store keeps as it is written ---- */

/* A transaction's key of families hk and ck: "d:" its disposition, or "s:"
 * the signature its category rests on (qps_category_signature). */
static size_t category_key(const qps_record *r, char *out, size_t cap)
{
    char sig[512];
    size_t n = qps_category_signature(r, sig, sizeof sig);
    qps_str v = n ? qps_slice(sig, n) : r->field[QPS_TF_DISPOSITION];
    if (v.len + 3 > cap)
        v.len = cap - 3; /* (the caller's cap holds any disposition) */
    memcpy(out, n ? "s:" : "d:", 2);
    if (v.len)
        memcpy(out + 2, v.ptr, v.len);
    out[2 + v.len] = '\0';
    return 2 + v.len;
}

#define EMIT(flags, what, key, n)                                                                                 \
    do {                                                                                                          \
        if (fn(ctx, (flags), (what), (key), (n)))                                                                 \
            return QPS_ESTOPPED;                                                                                  \
    } while (0)

static qps_status terse_totals(const qps_record *r, int hour, qps_total_fn fn, void *ctx)
{
    const qps_str *f = r->field;
    qps_str disp = f[QPS_TF_DISPOSITION];
    /* a disposition is a plugin name, but a hostile log's may be a line long */
    size_t cap = disp.len + 1200;
    char small[2 * 2048];
    char *key = cap * 2 <= sizeof small ? small : malloc(cap * 2);
    if (!key)
        return QPS_ENOMEM;
    char *hk = key + cap, buf[1100];
    qps_status st = QPS_ESTOPPED;
#define OUT(flags, what, k, v)                                                                                   \
    do {                                                                                                          \
        if (fn(ctx, (flags), (what), (k), (v)))                                                                   \
            goto out;                                                                                             \
    } while (0)
    size_t ck = category_key(r, key, cap);
    if (hour >= 0) {
        /* "HH\tcategory key" (hour < 25) */
        hk[0] = (char)('0' + hour / 10 % 10);
        hk[1] = (char)('0' + hour % 10);
        hk[2] = '\t';
        size_t hl = ck + 3 <= cap ? ck : cap - 3;
        memcpy(hk + 3, key, hl);
        OUT(QPS_TOTAL_DAY, "hk", qps_slice(hk, 3 + hl), 1);
    }
    OUT(QPS_TOTAL_ALL, "ck", qps_slice(key, ck), 1);
    size_t tld_len = qps_sender_tld(f[QPS_TF_SENDER], buf, 256);
    OUT(QPS_TOTAL_DAY, "tld", qps_slice(buf, tld_len), 1);
    /* the disposition x TLD table keeps 255 bytes of a disposition */
    size_t dlen = disp.len < 255 ? disp.len : 255;
    if (dlen)
        memcpy(key, disp.ptr, dlen);
    key[dlen] = '\t';
    memcpy(key + dlen + 1, buf, tld_len);
    OUT(QPS_TOTAL_DAY, "dt", qps_slice(key, dlen + 1 + tld_len), 1);
    OUT(QPS_TOTAL_DAY | QPS_TOTAL_ALL, "server", r->host, 1);
    OUT(QPS_TOTAL_DAY | QPS_TOTAL_ALL, "code", f[QPS_TF_CODE], 1);
    OUT(QPS_TOTAL_DAY | QPS_TOTAL_ALL, "service", r->service, 1);
    if (is_dnsbl_denial(r))
        OUT(QPS_TOTAL_DAY | QPS_TOTAL_ALL, "dnsbl", dnsbl_service(f[QPS_TF_TEXT]), 1);
    /* the remote parties (IP, HELO, sender, recipient domains) are not
     * totals: nearly every key of a day is new, so a day would hold about
     * as many rows as records; whole days read them from their records
     * (qps_agg_add_remote_keys) */
    bool queued = qps_str_eq(disp, "queued");
    qps_spam spam;
    if (r->nfields == 9 && qps_spam_parse(f[QPS_TF_SPAM], &spam) == QPS_OK) {
        /* the score to the bit, as "x" and its 16 hex digits (snprintf's
         * %.17g, which stores of before have, cost a tenth of the import) */
        uint64_t bits;
        memcpy(&bits, &spam.score, sizeof bits);
        memcpy(buf, spam.is_spam ? "1\t" : "0\t", 2);
        memcpy(buf + 2, queued ? "1\tx" : "0\tx", 3);
        for (int i = 0; i < 16; i++)
            buf[5 + i] = "0123456789abcdef"[(bits >> (60 - 4 * i)) & 15];
        OUT(QPS_TOTAL_DAY | QPS_TOTAL_ALL, "score", qps_slice(buf, 21), 1);
    } else {
        OUT(QPS_TOTAL_DAY | QPS_TOTAL_ALL, "nospam", qps_slice("", 0), 1);
    }
    if (r->has_time) {
        OUT(QPS_TOTAL_DAY | QPS_TOTAL_ALL | QPS_TOTAL_MIN, "tmin", qps_slice("", 0), r->unix_sec);
        OUT(QPS_TOTAL_DAY | QPS_TOTAL_ALL | QPS_TOTAL_MAX, "tmax", qps_slice("", 0), r->unix_sec);
    }
    st = QPS_OK;
out:
#undef OUT
    if (key != small)
        free(key);
    return st;
}

qps_status qps_agg_service_moved(qps_str was, qps_str now, qps_total_fn fn, void *ctx)
{
    const unsigned both = QPS_TOTAL_DAY | QPS_TOTAL_ALL;
    return fn(ctx, both, "service", was, -1) || fn(ctx, both, "service", now, 1) ? QPS_ESTOPPED : QPS_OK;
}

qps_status qps_agg_record_totals(const qps_record *r, int hour, int64_t sign, qps_total_fn fn, void *ctx)
{
    char key[32];
    const unsigned both = QPS_TOTAL_DAY | QPS_TOTAL_ALL;
    if (!r || r->kind >= QPS_KIND_COUNT_)
        return QPS_EINVAL;
    /* a record taken back (its values replaced) adds -1 of each, except
     * the earliest and latest times, which only widen */
    EMIT(both, "kind", qps_slice(key, qps_u64_decimal((unsigned)r->kind, key)), sign);
    switch (r->kind) {
    case QPS_KIND_TERSE:
        return sign > 0 ? terse_totals(r, hour, fn, ctx) : QPS_EINVAL;
    case QPS_KIND_ACCEPT:
        EMIT(both, "accepted", qps_slice("", 0), sign);
        EMIT(both, "peak", qps_slice(key, qps_u64_decimal((unsigned)(r->running + 1), key)), sign);
        EMIT(both, "max", qps_slice(key, qps_u64_decimal(r->max, key)), sign);
        break;
    case QPS_KIND_TOO_MANY:
        EMIT(both, "too_many", qps_slice("", 0), sign);
        EMIT(both, "max", qps_slice(key, qps_u64_decimal(r->max, key)), sign);
        break;
    case QPS_KIND_HOSTS_ALLOW:
        EMIT(both, "hosts_allow", qps_slice("", 0), sign);
        break;
    case QPS_KIND_CONN_TIME:
        EMIT(both, "ms", qps_slice(key, qps_u64_decimal(r->millis, key)), sign);
        break;
    case QPS_KIND_REPLY:
        if (qps_reply_is_queued(r))
            EMIT(both, "queued", qps_slice("", 0), sign);
        break;
    default:
        break;
    }
    return QPS_OK;
}
#undef EMIT

/* A score key's number: "x" and the double's 16 hex digits, or (stores
 * of before) its %.17g. */
static double score_of_key(const char *k)
{
    if (k[0] != 'x' || strlen(k) != 17)
        return strtod(k, NULL);
    uint64_t bits = 0;
    for (int i = 1; i <= 16; i++) {
        int d = k[i] >= '0' && k[i] <= '9' ? k[i] - '0' : k[i] >= 'a' && k[i] <= 'f' ? k[i] - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        bits = bits << 4 | (uint64_t)d;
    }
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static int64_t key_int(qps_str key)
{
    char buf[32];
    if (!key.len || key.len >= sizeof buf)
        return 0;
    memcpy(buf, key.ptr, key.len);
    buf[key.len] = '\0';
    return strtoll(buf, NULL, 10);
}

/* A transaction key of hk/ck (category_key) counted n times, at hour h
 * of hours (NULL: none). */
static qps_status add_category_key(qps_agg *agg, qps_str ck, uint64_t n, const qps_total_hours *hours, int h)
{
    const unsigned keep = agg->keep;
#define KEEP(dim) (keep & QPS_DIM_BIT(dim))
    qps_status st;
    if (ck.len < 2)
        return QPS_OK;
    bool sig = ck.ptr[0] == 's';
    qps_str v = qps_slice(ck.ptr + 2, ck.len - 2);
    qps_str disp = sig ? qps_category_signature_disposition(v) : v;
    agg->counts.transactions += n;
    if (KEEP(QPS_DIM_DISPOSITION) && (st = qps_table_add(agg->table[QPS_DIM_DISPOSITION], disp.ptr ? disp.ptr : "",
                                                         disp.len, n)) != QPS_OK)
        return st;
    if (qps_str_eq(disp, "hosts_allow"))
        agg->hosts_allow_terse += n;
    const char *cat = NULL;
    if (KEEP(QPS_DIM_CATEGORY) || KEEP(QPS_DIM_HOUR_CATEGORY)) {
        cat = sig ? qps_category_of_signature(agg->cats, v) : qps_category_of_plugin(agg->cats, disp);
        if (!cat)
            cat = QPS_CATEGORY_UNKNOWN;
    }
    if (KEEP(QPS_DIM_CATEGORY)) {
        if ((st = qps_table_add(agg->table[QPS_DIM_CATEGORY], cat, strlen(cat), n)) != QPS_OK)
            return st;
        if (strcmp(cat, QPS_CATEGORY_UNKNOWN) == 0 &&
            (st = qps_table_add(agg->unknown, disp.ptr ? disp.ptr : "", disp.len, n)) != QPS_OK)
            return st;
    }
    if (!hours || h < 0 || h > 24 ||
        !(KEEP(QPS_DIM_HOUR) || KEEP(QPS_DIM_DAY) || KEEP(QPS_DIM_HOUR_CATEGORY) || KEEP(QPS_DIM_HOUR_DISPOSITION) ||
          KEEP(QPS_DIM_DAY_DISPOSITION)))
        return QPS_OK;
    const char *hk = hours->hour[h], *day = hours->date[h];
    int hour = (hk[0] - '0') * 10 + (hk[1] - '0');
    if (hour < 0 || hour > 23)
        return QPS_OK;
    agg->hour[hour] += n;
    if (KEEP(QPS_DIM_HOUR_CATEGORY)) {
        char pair[3 + 64 + 16];
        size_t clen = strlen(cat) < 64 + 15 ? strlen(cat) : 64 + 15;
        memcpy(pair, hour_keys[hour], 2);
        pair[2] = '\0';
        memcpy(pair + 3, cat, clen);
        if ((st = qps_table_add(agg->table[QPS_DIM_HOUR_CATEGORY], pair, 3 + clen, n)) != QPS_OK)
            return st;
    }
    size_t dl = strlen(day);
    if (KEEP(QPS_DIM_DAY) && (st = qps_table_add(agg->table[QPS_DIM_DAY], day, dl, n)) != QPS_OK)
        return st;
    if (KEEP(QPS_DIM_HOUR_DISPOSITION) &&
        (st = add_with_disposition_n(agg->table[QPS_DIM_HOUR_DISPOSITION], hour_keys[hour], 2, disp, n)) != QPS_OK)
        return st;
    if (KEEP(QPS_DIM_DAY_DISPOSITION) &&
        (st = add_with_disposition_n(agg->table[QPS_DIM_DAY_DISPOSITION], day, dl, disp, n)) != QPS_OK)
        return st;
    return QPS_OK;
#undef KEEP
}

unsigned qps_agg_dims(const qps_agg *agg)
{
    return agg->keep;
}

size_t qps_agg_nwhere(const qps_agg *agg)
{
    return agg->nwhere;
}

qps_status qps_agg_add_total(qps_agg *agg, const char *what, qps_str key, int64_t count,
                             const qps_total_hours *hours)
{
    const unsigned keep = agg->keep;
#define KEEP(dim) (keep & QPS_DIM_BIT(dim))
    if (count <= 0 || agg->nwhere)
        return QPS_OK; /* a key taken back to 0; a filter reads records */
    uint64_t n = (uint64_t)count;
    const char *k = key.ptr ? key.ptr : "";
    if (is(what, "hk")) {
        int h = key.len > 3 && key.ptr[2] == '\t' ? (key.ptr[0] - '0') * 10 + (key.ptr[1] - '0') : -1;
        return h < 0 ? QPS_OK : add_category_key(agg, qps_slice(key.ptr + 3, key.len - 3), n, hours, h);
    }
    if (is(what, "ck"))
        return add_category_key(agg, key, n, NULL, -1);
    if (is(what, "tld"))
        return KEEP(QPS_DIM_TLD) ? qps_table_add(agg->table[QPS_DIM_TLD], k, key.len, n) : QPS_OK;
    if (is(what, "dt")) {
        if (!KEEP(QPS_DIM_DISPOSITION_TLD))
            return QPS_OK;
        const char *tab = key.len ? memchr(key.ptr, '\t', key.len) : NULL;
        if (!tab)
            return QPS_OK;
        size_t d = (size_t)(tab - key.ptr), tl = key.len - d - 1;
        char pair[512 + 1];
        size_t dlen = d < 255 ? d : 255;
        if (tl > 256)
            return QPS_OK;
        memcpy(pair, key.ptr, dlen);
        pair[dlen] = '\0';
        memcpy(pair + dlen + 1, tab + 1, tl);
        return qps_table_add(agg->table[QPS_DIM_DISPOSITION_TLD], pair, dlen + 1 + tl, n);
    }
    if (is(what, "server"))
        return KEEP(QPS_DIM_SERVER) ? qps_table_add(agg->table[QPS_DIM_SERVER], k, key.len, n) : QPS_OK;
    if (is(what, "code"))
        return KEEP(QPS_DIM_CODE) ? qps_table_add(agg->table[QPS_DIM_CODE], k, key.len, n) : QPS_OK;
    if (is(what, "service"))
        return KEEP(QPS_DIM_SERVICE) ? qps_table_add(agg->table[QPS_DIM_SERVICE], k, key.len, n) : QPS_OK;
    if (is(what, "dnsbl")) {
        if (!KEEP(QPS_DIM_DNSBL))
            return QPS_OK;
        agg->dnsbl_total += n;
        return qps_table_add(agg->table[QPS_DIM_DNSBL], k, key.len, n);
    }
    if (is(what, "score") || is(what, "nospam")) {
        if (!KEEP(QPS_DIM_SCORE) && !KEEP(QPS_DIM_SPAM))
            return QPS_OK;
        if (is(what, "nospam")) {
            agg->nospam += n;
            return QPS_OK;
        }
        char buf[64];
        if (key.len < 5 || key.len >= sizeof buf)
            return QPS_OK;
        memcpy(buf, key.ptr, key.len);
        buf[key.len] = '\0';
        bool is_spam = buf[0] == '1', queued = buf[2] == '1';
        double score = score_of_key(buf + 4);
        if (is_spam) {
            agg->spam += n;
            agg->spam_sum += score * (double)n;
        } else {
            agg->ham += n;
            agg->ham_sum += score * (double)n;
        }
        agg->score[score_bucket(score)] += n;
        if (queued) {
            agg->acc_scored += n;
            agg->acc_sum += score * (double)n;
        } else {
            agg->rej_scored += n;
            agg->rej_sum += score * (double)n;
        }
        return QPS_OK;
    }
    if (is(what, "tmin")) {
        if (!agg->counts.first || count < agg->counts.first)
            agg->counts.first = count;
        return QPS_OK;
    }
    if (is(what, "tmax")) {
        if (count > agg->counts.last)
            agg->counts.last = count;
        return QPS_OK;
    }
    if (is(what, "kind")) {
        int64_t kind = key_int(key);
        if (kind <= QPS_KIND_INVALID || kind >= QPS_KIND_COUNT_)
            return QPS_OK;
        agg->counts.lines_read += n;
        agg->counts.lines_parsed += n;
        agg->counts.by_kind[kind] += n;
        return QPS_OK;
    }
    if (is(what, "accepted"))
        agg->accepted += n;
    else if (is(what, "peak")) {
        int64_t v = key_int(key);
        if (v > agg->peak && v <= UINT_MAX)
            agg->peak = (unsigned)v;
    } else if (is(what, "max")) {
        int64_t v = key_int(key);
        if (v > agg->limit && v <= UINT_MAX)
            agg->limit = (unsigned)v;
    } else if (is(what, "too_many"))
        agg->too_many += n;
    else if (is(what, "hosts_allow"))
        agg->hosts_allow_lines += n;
    else if (is(what, "queued"))
        agg->queue_ok += n;
    else if (is(what, "ms"))
        return add_conn_times(agg, (uint64_t)key_int(key), n, true);
    return QPS_OK;
#undef KEEP
}
