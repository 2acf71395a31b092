/*
 * totals.c - what the records count, kept as they are written (tables
 * spans and totals): every writer (import, collect, the processor, the
 * plugin, Qpstat::Store) goes through batch.c and write.c, which hand each
 * record to store_totals_record in the transaction that stores it, so a
 * report of whole days reads a few rows a day instead of every record
 * (read.c), and /metrics the totals of all time.
 *
 * A span is a day of the writer's local time, [start, end): the first
 * record of a day makes it, clipped by the spans already there (a writer
 * in another zone then fills those), so spans never overlap and each holds
 * every timed record of its interval. Totals are keyed by span, family
 * and key (qps_agg_record_totals says which); span ALL_SPAN holds the
 * families of all time. A record's hour is its hour in the span (0..24),
 * which a reader in any zone whose hours start where the span's do turns
 * into its own hour and date. Records without a time, or whose time has
 * no calendar day, are in no span (the second kind is in all time): a
 * reader scans them.
 *
 * The remote parties (IPs, HELOs, senders, recipient domains) are no
 * totals: nearly every one of a day is new, so their rows would be about
 * as many as the records and cost the import four times its time; a
 * reader takes them from the records of whole days (read.c). Prune
 * deletes records, not totals (so counters never go down).
 *
 * License: MIT (see LICENSE).
 */
#include "store_private.h"

#include <stdio.h>
#include <stdlib.h>

#define FLUSH_AT 65536 /* entries gathered before they are written */

/* A family ("disposition", "tld", ...): named once per table, so an
 * entry is found by its number, not by comparing and hashing the name
 * each time (an import adds about a million entries per 100 MB). */
#define MAX_FAMILIES 64
#define LITERAL_SLOTS 256
#define NO_SLOT SIZE_MAX

typedef struct {
    char *name;
    uint64_t hash;
    size_t last; /* slot of its last entry: a family's next key is often the same */
} total_family;

typedef struct {
    char *key; /* its bytes, NUL-terminated; NULL: a free slot */
    uint32_t len;
    uint8_t flags; /* QPS_TOTAL_MIN/MAX, QPS_TOTAL_ALL */
    uint8_t family;
    int64_t span;
    uint64_t hash;
    int64_t n, first;
} total_entry;

typedef struct {
    int64_t start, end, first, last;
} span_seen;

struct store_totals {
    total_entry *slots;
    size_t cap, used;
    total_family families[MAX_FAMILIES];
    size_t nfamilies;
    struct {
        const char *ptr;
        uint8_t family;
    } by_literal[LITERAL_SLOTS]; /* the families by their literals' addresses */
    size_t nliterals;
    store_conn_times *conn_times; /* the "ms" family, packed (conn_times.c) */
    span_seen *spans; /* the spans this transaction touched */
    size_t nspans, spans_cap;
    bool cur_valid; /* spans[cur]: the last one used */
    size_t cur;
    qps_tzcache tz;
};

static store_totals *totals_of(qps_store *s)
{
    if (s->totals)
        return s->totals;
    store_totals *t = calloc(1, sizeof *t);
    if (t && !(t->conn_times = store_conn_times_new())) {
        free(t);
        t = NULL;
    }
    if (t)
        t->tz = (qps_tzcache)QPS_TZCACHE_INIT;
    return s->totals = t;
}

/* The table's hash, eight bytes a step (an import hashes some ten keys a
 * record, where a byte a step costs more than the probe). */
static inline uint64_t mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    return h ^ (h >> 32);
}

static inline uint64_t hash_bytes(uint64_t h, const char *p, size_t len)
{
    uint64_t w;
    for (; len >= 8; p += 8, len -= 8) {
        memcpy(&w, p, 8);
        h = mix(h, w);
    }
    w = 0;
    for (size_t i = 0; i < len; i++)
        w |= (uint64_t)(unsigned char)p[i] << (8 * i);
    return mix(h, w);
}

/* The number of family `what` (a literal: qps_agg_record_totals), named
 * when new; -1: out of memory, or more families than agg.c has. */
static int family_of(store_totals *t, const char *what)
{
    size_t j = (size_t)(((uintptr_t)what * 0x9e3779b97f4a7c15ULL) >> 57) & (LITERAL_SLOTS - 1);
    while (t->by_literal[j].ptr && t->by_literal[j].ptr != what)
        j = (j + 1) & (LITERAL_SLOTS - 1);
    if (t->by_literal[j].ptr)
        return t->by_literal[j].family;
    if (t->nliterals * 2 >= LITERAL_SLOTS)
        return -1;
    size_t i = 0;
    while (i < t->nfamilies && strcmp(t->families[i].name, what) != 0)
        i++;
    if (i == t->nfamilies) {
        char *name = i < MAX_FAMILIES ? strdup(what) : NULL;
        if (!name)
            return -1;
        t->families[i] = (total_family){name, hash_bytes(0x9e3779b97f4a7c15ULL, name, strlen(name)), NO_SLOT};
        t->nfamilies++;
    }
    t->by_literal[j].ptr = what;
    t->by_literal[j].family = (uint8_t)i;
    t->nliterals++;
    return (int)i;
}

static void forget_last_slots(store_totals *t)
{
    for (size_t i = 0; i < t->nfamilies; i++)
        t->families[i].last = NO_SLOT;
}

static uint64_t entry_hash(const total_family *f, int64_t span, unsigned flags, qps_str key)
{
    uint64_t h = mix(f->hash ^ key.len, (uint64_t)span ^ ((uint64_t)flags << 56));
    return hash_bytes(h, key.ptr, key.len);
}

/* Whether e is the entry (span, flags, family, key). */
static inline bool entry_is(const total_entry *e, int64_t span, unsigned flags, int family, qps_str key)
{
    return e->key && e->span == span && e->family == family && e->flags == flags && e->len == key.len &&
           (key.len == 0 || memcmp(e->key, key.ptr, key.len) == 0);
}

static bool grow(store_totals *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    total_entry *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].key)
            continue;
        size_t j = t->slots[i].hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    forget_last_slots(t);
    return true;
}

static void add_to(total_entry *e, unsigned flags, int64_t n, int64_t first)
{
    if (flags & QPS_TOTAL_MIN)
        e->n = n < e->n ? n : e->n;
    else if (flags & QPS_TOTAL_MAX)
        e->n = n > e->n ? n : e->n;
    else
        e->n += n;
    if (first < e->first)
        e->first = first;
}

/* Adds n to the entry (span, flags, family, key), made when new. flags
 * keep QPS_TOTAL_MIN/MAX (how n adds up) and, in a day's entry,
 * QPS_TOTAL_ALL (store_totals_flush adds the day's sum to all time: one
 * entry a record instead of two). */
static qps_status add_entry(qps_store *s, store_totals *t, int64_t span, unsigned flags, int family, qps_str key,
                            int64_t n, int64_t first)
{
    if (family < 0 || key.len > UINT32_MAX)
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory writing the store (totals)");
    total_family *f = &t->families[family];
    if (f->last != NO_SLOT && entry_is(&t->slots[f->last], span, flags, family, key)) {
        add_to(&t->slots[f->last], flags, n, first);
        return QPS_OK;
    }
    if ((t->used + 1) * 2 > t->cap && !grow(t))
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory writing the store");
    uint64_t hash = entry_hash(f, span, flags, key);
    size_t j = hash & (t->cap - 1);
    while (t->slots[j].key && !(t->slots[j].hash == hash && entry_is(&t->slots[j], span, flags, family, key)))
        j = (j + 1) & (t->cap - 1);
    total_entry *e = &t->slots[j];
    f->last = j;
    if (e->key) {
        add_to(e, flags, n, first);
        return QPS_OK;
    }
    char *owned = malloc(key.len + 1);
    if (!owned)
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory writing the store");
    if (key.len)
        memcpy(owned, key.ptr, key.len);
    owned[key.len] = '\0';
    *e = (total_entry){owned, (uint32_t)key.len, (uint8_t)flags, (uint8_t)family, span, hash, n, first};
    t->used++;
    return QPS_OK;
}

typedef struct {
    qps_store *s;
    store_totals *t;
    int64_t span; /* ALL_SPAN when the record has none */
    int64_t first;
    qps_status st;
} record_ctx;

/* A decimal key of the "ms" family (qps_u64_decimal's). */
static uint64_t decimal_key(qps_str key)
{
    uint64_t v = 0;
    for (size_t i = 0; i < key.len; i++)
        v = v * 10 + (uint64_t)(key.ptr[i] - '0');
    return v;
}

/* The connection times go to their packed rows. */
static int gather_conn_time(record_ctx *c, unsigned flags, qps_str key, int64_t n)
{
    uint64_t ms = decimal_key(key);
    bool day = (flags & QPS_TOTAL_DAY) && c->span != ALL_SPAN;
    if ((day && !store_conn_times_add(c->t->conn_times, c->span, ms, n)) ||
        ((flags & QPS_TOTAL_ALL) && !store_conn_times_add(c->t->conn_times, ALL_SPAN, ms, n)))
        c->st = qps_store_set_error(c->s, QPS_ENOMEM, "out of memory writing the store");
    return c->st != QPS_OK;
}

static int gather(void *ctx, unsigned flags, const char *what, qps_str key, int64_t n)
{
    record_ctx *c = ctx;
    if (what[0] == 'm' && what[1] == 's' && !what[2])
        return gather_conn_time(c, flags, key, n);
    unsigned how = flags & (QPS_TOTAL_MIN | QPS_TOTAL_MAX);
    int family = family_of(c->t, what);
    if ((flags & QPS_TOTAL_DAY) && c->span != ALL_SPAN)
        c->st = add_entry(c->s, c->t, c->span, how | (flags & QPS_TOTAL_ALL), family, key, n, c->first);
    else if (flags & QPS_TOTAL_ALL)
        c->st = add_entry(c->s, c->t, ALL_SPAN, how, family, key, n, c->first);
    return c->st != QPS_OK;
}

/* Local midnight of the civil date c (its hour, minute, second ignored). */
static qps_status midnight(qps_tzcache *tz, qps_civil c, int64_t *t)
{
    c.hour = c.minute = c.second = 0;
    return qps_unix_from_civil(tz, &c, 0, t);
}

static qps_status remember_span(qps_store *s, store_totals *t, int64_t start, int64_t end)
{
    if (t->nspans == t->spans_cap) {
        size_t cap = t->spans_cap ? t->spans_cap * 2 : 16;
        span_seen *n = realloc(t->spans, cap * sizeof *n);
        if (!n)
            return qps_store_set_error(s, QPS_ENOMEM, "out of memory writing the store");
        t->spans = n;
        t->spans_cap = cap;
    }
    t->spans[t->nspans] = (span_seen){start, end, INT64_MAX, INT64_MIN};
    t->cur = t->nspans++;
    t->cur_valid = true;
    return QPS_OK;
}

/* The span holding time u into t->spans[t->cur], made when there is none;
 * *none when u has no calendar day. */
static qps_status find_span(qps_store *s, store_totals *t, int64_t u, bool *none)
{
    *none = false;
    if (t->cur_valid && u >= t->spans[t->cur].start && u < t->spans[t->cur].end)
        return QPS_OK;
    for (size_t i = 0; i < t->nspans; i++)
        if (u >= t->spans[i].start && u < t->spans[i].end) {
            t->cur = i;
            t->cur_valid = true;
            return QPS_OK;
        }
    sqlite3_stmt *prev = qps_store_stmt(s, ST_SPAN_AT), *next = qps_store_stmt(s, ST_SPAN_NEXT),
                 *add = qps_store_stmt(s, ST_SPAN_ADD);
    if (!prev || !next || !add)
        return QPS_EFORMAT;
    sqlite3_bind_int64(prev, 1, u);
    int rc = sqlite3_step(prev);
    int64_t pstart = rc == SQLITE_ROW ? sqlite3_column_int64(prev, 0) : 0;
    int64_t pend = rc == SQLITE_ROW ? sqlite3_column_int64(prev, 1) : INT64_MIN;
    sqlite3_reset(prev);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    if (rc == SQLITE_ROW && u < pend)
        return remember_span(s, t, pstart, pend);
    /* a new day: this writer's local one, within its neighbours */
    qps_civil c, d;
    int64_t start, end;
    if (qps_civil_from_unix(&t->tz, u, 0, &c) != QPS_OK || midnight(&t->tz, c, &start) != QPS_OK ||
        qps_civil_from_unix(NULL, (qps_days_from_civil(c.year, c.month, c.day) + 1) * 86400, 1, &d) != QPS_OK ||
        midnight(&t->tz, d, &end) != QPS_OK || start > u || end <= u || end - start > 25 * 3600) {
        *none = true;
        return QPS_OK;
    }
    if (rc == SQLITE_ROW && pend > start)
        start = pend;
    sqlite3_bind_int64(next, 1, u);
    rc = sqlite3_step(next);
    if (rc == SQLITE_ROW && sqlite3_column_type(next, 0) != SQLITE_NULL && sqlite3_column_int64(next, 0) < end)
        end = sqlite3_column_int64(next, 0);
    sqlite3_reset(next);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    char day[16];
    snprintf(day, sizeof day, "%04d-%02d-%02d", c.year, c.month, c.day);
    sqlite3_bind_int64(add, 1, start);
    sqlite3_bind_int64(add, 2, end);
    sqlite3_bind_text(add, 3, day, -1, SQLITE_TRANSIENT);
    if (qps_step_done(add) != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot write the store");
    return remember_span(s, t, start, end);
}

qps_status store_totals_record(qps_store *s, const qps_record *r, int64_t key, int64_t sign)
{
    if (!r->has_time)
        return QPS_OK; /* read from the records, always */
    store_totals *t = totals_of(s);
    if (!t)
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory writing the store");
    bool none;
    qps_status st = find_span(s, t, r->unix_sec, &none);
    if (st != QPS_OK)
        return st;
    record_ctx c = {s, t, ALL_SPAN, key, QPS_OK};
    int hour = -1;
    if (!none) {
        span_seen *sp = &t->spans[t->cur];
        c.span = sp->start;
        hour = (int)((r->unix_sec - sp->start) / 3600);
        if (r->unix_sec < sp->first)
            sp->first = r->unix_sec;
        if (r->unix_sec > sp->last)
            sp->last = r->unix_sec;
    }
    st = qps_agg_record_totals(r, hour, sign, gather, &c);
    if (st == QPS_ESTOPPED)
        st = c.st;
    if (st == QPS_OK && t->used + store_conn_times_count(t->conn_times) >= FLUSH_AT)
        st = store_totals_flush(s);
    return st;
}

qps_status store_totals_service(qps_store *s, int64_t unix_sec, int64_t key, qps_str service)
{
    store_totals *t = totals_of(s);
    if (!t)
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory writing the store");
    bool none;
    qps_status st = find_span(s, t, unix_sec, &none);
    if (st != QPS_OK)
        return st;
    record_ctx c = {s, t, none ? ALL_SPAN : t->spans[t->cur].start, key, QPS_OK};
    st = qps_agg_service_moved(qps_slice("", 0), service, gather, &c);
    return st == QPS_ESTOPPED ? c.st : st;
}

static void clear(store_totals *t)
{
    store_conn_times_clear(t->conn_times);
    for (size_t i = 0; i < t->cap; i++) {
        free(t->slots[i].key);
        t->slots[i].key = NULL;
    }
    t->used = 0;
    forget_last_slots(t);
}

/* The table's order: span, family, key (bytes), so the upserts walk its
 * B-tree forward instead of jumping about. */
typedef struct {
    const total_entry *e;
    const char *what;
} ordered_entry;

static int entry_order(const void *pa, const void *pb)
{
    const ordered_entry *a = pa, *b = pb;
    if (a->e->span != b->e->span)
        return a->e->span < b->e->span ? -1 : 1;
    int c = a->what == b->what ? 0 : strcmp(a->what, b->what);
    if (c)
        return c;
    uint32_t la = a->e->len, lb = b->e->len;
    c = memcmp(a->e->key, b->e->key, la < lb ? la : lb);
    return c ? c : la < lb ? -1 : la > lb;
}

/* Adds the days' entries of the families kept for all time too to all
 * time's. */
static qps_status add_days_to_all_time(qps_store *s, store_totals *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++)
        n += t->slots[i].key && (t->slots[i].flags & QPS_TOTAL_ALL);
    if (!n)
        return QPS_OK;
    /* the keys' bytes stay where they are when the table grows */
    total_entry *days = malloc(n * sizeof *days);
    if (!days)
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory writing the store");
    n = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key && (t->slots[i].flags & QPS_TOTAL_ALL))
            days[n++] = t->slots[i];
    qps_status st = QPS_OK;
    for (size_t i = 0; i < n && st == QPS_OK; i++)
        st = add_entry(s, t, ALL_SPAN, days[i].flags & (QPS_TOTAL_MIN | QPS_TOTAL_MAX), days[i].family,
                       qps_slice(days[i].key, days[i].len), days[i].n, days[i].first);
    free(days);
    return st;
}

qps_status store_totals_flush(qps_store *s)
{
    store_totals *t = s->totals;
    if (!t)
        return QPS_OK;
    qps_status st = add_days_to_all_time(s, t);
    if (st == QPS_OK)
        st = store_conn_times_flush(s, t->conn_times);
    if (st == QPS_OK && t->used) {
        sqlite3_stmt *up = qps_store_stmt(s, ST_TOTAL_ADD);
        if (!up)
            return QPS_EFORMAT;
        ordered_entry *order = malloc(t->used * sizeof *order);
        if (!order)
            return qps_store_set_error(s, QPS_ENOMEM, "out of memory writing the store");
        size_t n = 0;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].key)
                order[n++] = (ordered_entry){&t->slots[i], t->families[t->slots[i].family].name};
        qsort(order, n, sizeof *order, entry_order);
        for (size_t i = 0; i < n && st == QPS_OK; i++) {
            const total_entry *e = order[i].e;
            sqlite3_bind_int64(up, 1, e->span);
            sqlite3_bind_text(up, 2, order[i].what, -1, SQLITE_STATIC);
            sqlite3_bind_text(up, 3, e->key, (int)e->len, SQLITE_STATIC);
            sqlite3_bind_int64(up, 4, e->n);
            sqlite3_bind_int64(up, 5, e->first);
            sqlite3_bind_int(up, 6, e->flags & (QPS_TOTAL_MIN | QPS_TOTAL_MAX));
            if (qps_step_done(up) != SQLITE_DONE)
                st = qps_store_fail(s, QPS_EIO, "cannot write the store");
        }
        free(order);
        sqlite3_clear_bindings(up);
        clear(t);
    }
    sqlite3_stmt *widen = st == QPS_OK && t->nspans ? qps_store_stmt(s, ST_SPAN_WIDEN) : NULL;
    if (st == QPS_OK && t->nspans && !widen)
        st = QPS_EFORMAT;
    for (size_t i = 0; i < t->nspans && st == QPS_OK; i++) {
        span_seen *sp = &t->spans[i];
        if (sp->first > sp->last)
            continue;
        sqlite3_bind_int64(widen, 1, sp->start);
        sqlite3_bind_int64(widen, 2, sp->first);
        sqlite3_bind_int64(widen, 3, sp->last);
        if (qps_step_done(widen) != SQLITE_DONE)
            st = qps_store_fail(s, QPS_EIO, "cannot write the store");
        sp->first = INT64_MAX;
        sp->last = INT64_MIN;
    }
    return st;
}

void store_totals_end(qps_store *s)
{
    store_totals *t = s->totals;
    if (!t)
        return;
    clear(t);
    /* another writer may add spans before this one's next transaction */
    t->nspans = 0;
    t->cur_valid = false;
}

void store_totals_free(qps_store *s)
{
    if (!s->totals)
        return;
    clear(s->totals);
    for (size_t i = 0; i < s->totals->nfamilies; i++)
        free(s->totals->families[i].name);
    store_conn_times_free(s->totals->conn_times);
    free(s->totals->slots);
    free(s->totals->spans);
    free(s->totals);
    s->totals = NULL;
}

/* ---- the records of a row, as read.c gives them ---- */

qps_status store_totals_terse(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns, int queue_ok,
                              int64_t key)
{
    if (ns == UNTIMED_NSEC)
        return QPS_OK;
    qps_record rec = *r;
    rec.kind = QPS_KIND_TERSE;
    rec.host = host;
    rec.has_time = 1;
    rec.unix_sec = t;
    rec.nsec = ns;
    qps_status st = store_totals_record(s, &rec, key, 1);
    if (st == QPS_OK && queue_ok)
        st = store_totals_reply(s, t, key);
    return st;
}

qps_status store_totals_reply(qps_store *s, int64_t t, int64_t key)
{
    qps_record reply;
    memset(&reply, 0, sizeof reply);
    reply.kind = QPS_KIND_REPLY;
    reply.reply_code = 250;
    reply.message = qps_slice("250 Queued", 10);
    reply.has_time = 1;
    reply.unix_sec = t;
    return store_totals_record(s, &reply, key, 1);
}

static qps_kind kind_named(const char *name)
{
    static const qps_kind kinds[] = {QPS_KIND_ACCEPT, QPS_KIND_TOO_MANY, QPS_KIND_HOSTS_ALLOW, QPS_KIND_CONN_TIME};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(name, qps_kind_name(kinds[i])) == 0)
            return kinds[i];
    return strcmp(name, "queued") == 0 ? QPS_KIND_REPLY : QPS_KIND_OTHER;
}

/* The records of a connections row (kind, times, numbers), sign 1 or -1. */
static qps_status fact_totals(qps_store *s, const char *kind, int64_t t, bool timed, unsigned running, unsigned max,
                              uint64_t millis, const int64_t *end_time, int64_t key, int64_t sign)
{
    qps_record r;
    memset(&r, 0, sizeof r);
    r.kind = kind_named(kind);
    if (r.kind == QPS_KIND_OTHER)
        return QPS_OK;
    if (r.kind == QPS_KIND_REPLY) {
        r.reply_code = 250;
        r.message = qps_slice("250 Queued", 10);
    }
    r.has_time = timed;
    r.unix_sec = t;
    r.running = running;
    r.max = max;
    r.millis = millis;
    qps_status st = timed ? store_totals_record(s, &r, key, sign) : QPS_OK;
    if (st != QPS_OK || r.kind != QPS_KIND_ACCEPT || !end_time)
        return st;
    memset(&r, 0, sizeof r);
    r.kind = QPS_KIND_CONN_TIME;
    r.has_time = 1;
    r.unix_sec = *end_time;
    r.millis = millis;
    return store_totals_record(s, &r, key, sign);
}

qps_status store_totals_fact(qps_store *s, const fact_row *f, int64_t key)
{
    return fact_totals(s, f->kind, f->time, f->nsec != UNTIMED_NSEC, f->running, f->max,
                       f->has_millis ? f->millis : 0, f->end_time, key, 1);
}

qps_status store_totals_conn_row(qps_store *s, int64_t id, int64_t sign)
{
    sqlite3_stmt *q = qps_store_stmt(s, ST_CONN_ROW);
    if (!q)
        return QPS_EFORMAT;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    qps_status st = QPS_OK;
    if (rc == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(q, 0);
        int64_t end = sqlite3_column_int64(q, 6);
        st = fact_totals(s, kind ? kind : "", sqlite3_column_int64(q, 1), sqlite3_column_int(q, 2) >= 0,
                         (unsigned)sqlite3_column_int(q, 3), (unsigned)sqlite3_column_int(q, 4),
                         (uint64_t)sqlite3_column_int64(q, 5), sqlite3_column_type(q, 6) == SQLITE_NULL ? NULL : &end,
                         id, sign);
    } else if (rc != SQLITE_DONE) {
        st = qps_store_fail(s, QPS_EIO, "cannot read the store");
    }
    sqlite3_reset(q);
    return st;
}

/* ---- a store of schema 3: its totals from its records ---- */

typedef struct {
    qps_store *s;
    qps_status st;
} rebuild_ctx;

static int rebuild_one(void *ctx, const qps_record *rec)
{
    rebuild_ctx *c = ctx;
    c->st = store_totals_record(c->s, rec, qps_time_key(rec->unix_sec, rec->nsec), 1);
    return c->st != QPS_OK;
}

qps_status store_totals_rebuild(qps_store *s)
{
    rebuild_ctx c = {s, QPS_OK};
    qps_status st = qps_store_each(s, INT64_MIN, INT64_MAX, rebuild_one, &c);
    if (st == QPS_ESTOPPED)
        st = c.st;
    if (st == QPS_OK)
        st = store_totals_flush(s);
    store_totals_end(s);
    return st;
}
