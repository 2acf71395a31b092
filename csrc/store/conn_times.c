/*
 * conn_times.c - the connection times of each span (and of all time) as
 * packed histograms (table conn_times, schema 6).
 *
 * A connection time is counted to the millisecond (the aggregator's
 * percentiles are exact there), so a busy day has some 8,000 distinct
 * ones and all time 30,000 or more. As one totals row each, every import
 * batch rewrote thousands of rows: half the cost of the totals. Here a
 * row holds the counts of 1,024 consecutive milliseconds (its bucket),
 * so a batch rewrites some sixty rows a day, and the plugin's one record
 * one row of the day and one of all time.
 *
 * A row's counts: for each millisecond with a count other than zero, in
 * ascending order, its distance from the previous one (the first: from
 * the bucket's start; the next: minus one) as an unsigned varint, then
 * its count zigzag-encoded (a record taken back counts -1). A row that
 * does not decode is a damaged store, said so, never read past its end.
 *
 * License: MIT (see LICENSE).
 */
#include "store_private.h"

#include <stdlib.h>

#define BUCKET_BITS 10
#define BUCKET_SIZE (1u << BUCKET_BITS)
#define BUCKET_MAX (UINT64_MAX >> BUCKET_BITS)
#define VARINT_MAX 10 /* bytes of a 64-bit varint */

typedef struct {
    int64_t span;
    uint64_t ms;
    int64_t n;
    bool used;
} ct_entry;

/* The first 64 buckets (65.5 s, nearly every connection) of a few spans
 * are counted in place: a batch touches one or two days and all time, and
 * a hash table of their milliseconds cost the import more in cache misses
 * than the rows it saves. */
#define DENSE_SPANS 4
#define DENSE_BUCKETS 64
#define DENSE_MS ((uint64_t)DENSE_BUCKETS << BUCKET_BITS)

typedef struct {
    int64_t span;
    bool used;
    uint64_t touched; /* bit b: bucket b has counts */
    int64_t *counts;  /* DENSE_MS of them, allocated once */
} dense_span;

struct store_conn_times {
    dense_span dense[DENSE_SPANS];
    ct_entry *slots; /* the rest: longer connections, other spans */
    size_t cap, used;
    /* one bucket's counts, decoded and merged */
    int64_t counts[BUCKET_SIZE];
    uint8_t packed[BUCKET_SIZE * 2 * VARINT_MAX];
};

store_conn_times *store_conn_times_new(void)
{
    return calloc(1, sizeof(store_conn_times));
}

void store_conn_times_free(store_conn_times *ct)
{
    if (!ct)
        return;
    for (int d = 0; d < DENSE_SPANS; d++)
        free(ct->dense[d].counts);
    free(ct->slots);
    free(ct);
}

static void dense_clear(dense_span *d)
{
    for (uint64_t m = d->touched; m; m &= m - 1)
        memset(d->counts + ((size_t)__builtin_ctzll(m) << BUCKET_BITS), 0, BUCKET_SIZE * sizeof *d->counts);
    d->touched = 0;
    d->used = false;
}

void store_conn_times_clear(store_conn_times *ct)
{
    if (!ct)
        return;
    for (int d = 0; d < DENSE_SPANS; d++)
        dense_clear(&ct->dense[d]);
    if (ct->used) {
        memset(ct->slots, 0, ct->cap * sizeof *ct->slots);
        ct->used = 0;
    }
}

/* The dense counts of span, taken when there is room; NULL: none. */
static dense_span *dense_of(store_conn_times *ct, int64_t span)
{
    dense_span *free_one = NULL;
    for (int i = 0; i < DENSE_SPANS; i++) {
        dense_span *d = &ct->dense[i];
        if (d->used && d->span == span)
            return d;
        if (!d->used && !free_one)
            free_one = d;
    }
    if (!free_one)
        return NULL;
    if (!free_one->counts && !(free_one->counts = calloc(DENSE_MS, sizeof *free_one->counts)))
        return NULL;
    free_one->span = span;
    free_one->used = true;
    return free_one;
}

static size_t slot_of(const store_conn_times *ct, int64_t span, uint64_t ms)
{
    uint64_t h = ((uint64_t)span ^ (ms * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
    return (size_t)(h ^ (h >> 32)) & (ct->cap - 1);
}

static bool grow(store_conn_times *ct)
{
    size_t cap = ct->cap ? ct->cap * 2 : 1024;
    ct_entry *old = ct->slots, *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    size_t old_cap = ct->cap;
    ct->slots = slots;
    ct->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].used)
            continue;
        size_t j = slot_of(ct, old[i].span, old[i].ms);
        while (slots[j].used)
            j = (j + 1) & (cap - 1);
        slots[j] = old[i];
    }
    free(old);
    return true;
}

size_t store_conn_times_count(const store_conn_times *ct)
{
    return ct->used;
}

bool store_conn_times_add(store_conn_times *ct, int64_t span, uint64_t ms, int64_t n)
{
    dense_span *d = ms < DENSE_MS ? dense_of(ct, span) : NULL;
    if (d) {
        d->counts[ms] += n;
        d->touched |= 1ULL << (ms >> BUCKET_BITS);
        return true;
    }
    if ((ct->used + 1) * 2 > ct->cap && !grow(ct))
        return false;
    size_t j = slot_of(ct, span, ms);
    while (ct->slots[j].used && (ct->slots[j].span != span || ct->slots[j].ms != ms))
        j = (j + 1) & (ct->cap - 1);
    ct_entry *e = &ct->slots[j];
    if (!e->used) {
        *e = (ct_entry){span, ms, 0, true};
        ct->used++;
    }
    e->n += n;
    return true;
}

/* ---- the packed form ---- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* false at a varint that runs past end or over 64 bits */
static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

static uint64_t zigzag(int64_t n)
{
    return ((uint64_t)n << 1) ^ (uint64_t)(n >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Decodes a row's counts into counts[BUCKET_SIZE] (added to what is
 * there); false when they do not decode. */
static bool unpack(const uint8_t *p, size_t len, int64_t *counts)
{
    if (len && !p)
        return false;
    const uint8_t *end = p + len;
    uint64_t at = 0;
    for (bool first = true; p < end; first = false) {
        uint64_t gap, zz;
        if (!get_varint(&p, end, &gap) || !get_varint(&p, end, &zz))
            return false;
        if (gap >= BUCKET_SIZE || (at += gap + !first) >= BUCKET_SIZE)
            return false;
        counts[at] += unzigzag(zz);
    }
    return true;
}

/* A column of counts: a blob, as pack() wrote it (a text or a number put
 * there by hand would decode as counts nobody wrote). */
static bool unpack_column(sqlite3_stmt *q, int col, int64_t *counts)
{
    if (sqlite3_column_type(q, col) != SQLITE_BLOB)
        return false;
    const uint8_t *p = sqlite3_column_blob(q, col);
    return unpack(p, (size_t)sqlite3_column_bytes(q, col), counts);
}

static size_t pack(const int64_t *counts, uint8_t *out)
{
    size_t len = 0;
    int64_t prev = -1;
    for (int64_t i = 0; i < (int64_t)BUCKET_SIZE; i++) {
        if (!counts[i])
            continue;
        len += put_varint(out + len, (uint64_t)(prev < 0 ? i : i - prev - 1));
        len += put_varint(out + len, zigzag(counts[i]));
        prev = i;
    }
    return len;
}

static qps_status damaged(qps_store *s, int64_t span, uint64_t bucket)
{
    return qps_store_set_error(s, QPS_EFORMAT,
                               "the store's connection times are damaged (conn_times row span %lld, bucket %llu)",
                               (long long)span, (unsigned long long)bucket);
}

/* ---- writing ---- */

static int entry_order(const void *pa, const void *pb)
{
    const ct_entry *a = pa, *b = pb;
    if (a->span != b->span)
        return a->span < b->span ? -1 : 1;
    return a->ms < b->ms ? -1 : a->ms > b->ms;
}

/* The row (span, bucket) into ct->counts; *had: it exists. */
static qps_status load_bucket(qps_store *s, store_conn_times *ct, int64_t span, uint64_t bucket, bool *had)
{
    sqlite3_stmt *get = qps_store_stmt(s, ST_CONN_TIMES_GET);
    if (!get)
        return QPS_EFORMAT;
    memset(ct->counts, 0, sizeof ct->counts);
    sqlite3_bind_int64(get, 1, span);
    sqlite3_bind_int64(get, 2, (int64_t)bucket);
    int rc = sqlite3_step(get);
    bool ok = true;
    *had = rc == SQLITE_ROW;
    if (*had)
        ok = unpack_column(get, 0, ct->counts);
    sqlite3_reset(get);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    return ok ? QPS_OK : damaged(s, span, bucket);
}

/* ct->counts as the row (span, bucket): written, or deleted when empty. */
static qps_status save_bucket(qps_store *s, store_conn_times *ct, int64_t span, uint64_t bucket, bool had)
{
    size_t len = pack(ct->counts, ct->packed);
    if (!len && !had)
        return QPS_OK;
    sqlite3_stmt *put = qps_store_stmt(s, len ? ST_CONN_TIMES_PUT : ST_CONN_TIMES_DELETE);
    if (!put)
        return QPS_EFORMAT;
    sqlite3_bind_int64(put, 1, span);
    sqlite3_bind_int64(put, 2, (int64_t)bucket);
    if (len)
        sqlite3_bind_blob(put, 3, ct->packed, (int)len, SQLITE_STATIC);
    int rc = qps_step_done(put);
    sqlite3_clear_bindings(put);
    return rc == SQLITE_DONE ? QPS_OK : qps_store_fail(s, QPS_EIO, "cannot write the store");
}

/* Adds entries [0, n) (one span, one bucket) to their row. */
static qps_status write_entries(qps_store *s, store_conn_times *ct, const ct_entry *e, size_t n)
{
    bool had;
    uint64_t bucket = e->ms >> BUCKET_BITS;
    qps_status st = load_bucket(s, ct, e->span, bucket, &had);
    if (st != QPS_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        ct->counts[e[i].ms & (BUCKET_SIZE - 1)] += e[i].n;
    return save_bucket(s, ct, e->span, bucket, had);
}

/* Adds a dense span's counts to its rows. */
static qps_status write_dense(qps_store *s, store_conn_times *ct, dense_span *d)
{
    qps_status st = QPS_OK;
    for (uint64_t m = d->touched; m && st == QPS_OK; m &= m - 1) {
        uint64_t bucket = (uint64_t)__builtin_ctzll(m);
        const int64_t *add = d->counts + (bucket << BUCKET_BITS);
        bool had;
        st = load_bucket(s, ct, d->span, bucket, &had);
        for (size_t i = 0; i < BUCKET_SIZE && st == QPS_OK; i++)
            ct->counts[i] += add[i];
        if (st == QPS_OK)
            st = save_bucket(s, ct, d->span, bucket, had);
    }
    return st;
}

qps_status store_conn_times_flush(qps_store *s, store_conn_times *ct)
{
    if (!ct)
        return QPS_OK;
    qps_status st = QPS_OK;
    for (int i = 0; i < DENSE_SPANS && st == QPS_OK; i++)
        if (ct->dense[i].used)
            st = write_dense(s, ct, &ct->dense[i]);
    /* in the table's order, a bucket's entries together */
    size_t n = 0;
    for (size_t i = 0; i < ct->cap && ct->used; i++)
        if (ct->slots[i].used && ct->slots[i].n)
            ct->slots[n++] = ct->slots[i];
    if (n)
        qsort(ct->slots, n, sizeof *ct->slots, entry_order);
    for (size_t i = 0, j; i < n && st == QPS_OK; i = j) {
        for (j = i + 1; j < n && ct->slots[j].span == ct->slots[i].span &&
                        ct->slots[j].ms >> BUCKET_BITS == ct->slots[i].ms >> BUCKET_BITS;
             j++)
            ;
        st = write_entries(s, ct, &ct->slots[i], j - i);
    }
    /* the slots were compacted in place: the table starts again */
    store_conn_times_clear(ct);
    return st;
}

/* ---- reading ---- */

qps_status store_conn_times_read(qps_store *s, int64_t span, qps_agg *agg)
{
    if (s->schema < 6)
        return QPS_OK; /* a store of before keeps them as totals ("ms") */
    sqlite3_stmt *q = qps_store_stmt(s, ST_CONN_TIMES_SPAN);
    if (!q)
        return QPS_EFORMAT;
    int64_t *counts = malloc(BUCKET_SIZE * sizeof *counts);
    if (!counts)
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory reading the store");
    sqlite3_bind_int64(q, 1, span);
    qps_status st = QPS_OK;
    int rc;
    while (st == QPS_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        uint64_t bucket = (uint64_t)sqlite3_column_int64(q, 0);
        memset(counts, 0, BUCKET_SIZE * sizeof *counts);
        if (bucket > BUCKET_MAX || !unpack_column(q, 1, counts)) {
            st = damaged(s, span, bucket);
            break;
        }
        for (unsigned i = 0; i < BUCKET_SIZE && st == QPS_OK; i++) {
            if (!counts[i])
                continue;
            char key[20];
            size_t len = qps_u64_decimal(bucket << BUCKET_BITS | i, key);
            st = qps_agg_add_total(agg, "ms", qps_slice(key, len), counts[i], NULL);
        }
    }
    if (st == QPS_OK && rc != SQLITE_DONE)
        st = qps_store_fail(s, QPS_EIO, "cannot read the store");
    sqlite3_reset(q);
    free(counts);
    return st;
}

/* ---- a store of schema 4 or 5: its "ms" totals into rows ---- */

qps_status store_conn_times_migrate(qps_store *s)
{
    store_conn_times *ct = store_conn_times_new();
    sqlite3_stmt *q = NULL;
    if (!ct)
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory migrating the store");
    qps_status st = QPS_OK;
    if (sqlite3_prepare_v2(s->db, "SELECT span, CAST(key AS INTEGER), count FROM totals WHERE what = 'ms'", -1, &q,
                           NULL) != SQLITE_OK)
        st = qps_store_fail(s, QPS_EIO, "cannot migrate the store");
    int rc = SQLITE_DONE;
    while (st == QPS_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
        if (!store_conn_times_add(ct, sqlite3_column_int64(q, 0), (uint64_t)sqlite3_column_int64(q, 1),
                                  sqlite3_column_int64(q, 2)))
            st = qps_store_set_error(s, QPS_ENOMEM, "out of memory migrating the store");
    if (st == QPS_OK && rc != SQLITE_DONE)
        st = qps_store_fail(s, QPS_EIO, "cannot migrate the store");
    sqlite3_finalize(q);
    if (st == QPS_OK)
        st = store_conn_times_flush(s, ct);
    if (st == QPS_OK && qps_store_exec(s, "DELETE FROM totals WHERE what = 'ms'") != SQLITE_OK)
        st = qps_store_fail(s, QPS_EIO, "cannot migrate the store");
    store_conn_times_free(ct);
    return st;
}
