/*
 * qps_table.c - a bounded string -> count table (uthash + Stream-Summary).
 *
 * Remote IPs, HELO names and senders are chosen by the remote side, so a
 * table of them must not grow with the input. Below its capacity the table
 * is exact. When full, a new key takes over an entry with the smallest
 * count and inherits that count as its error bound (Space-Saving, Metwally
 * et al. 2005): every key whose true count exceeds total/capacity is
 * guaranteed to be present.
 *
 * Entries hang in buckets of equal count kept in ascending order, so an
 * increment moves an entry to the neighbouring bucket and the smallest
 * entry is always at hand: both are O(1). On spam-heavy logs, where most
 * IPs and HELOs appear once, a heap instead costs a sift per new key.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <stdlib.h>

/* uthash must report an allocation failure instead of exiting: every
 * HASH_ADD below has the table t in scope and checks t->oom afterwards. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (t->oom = true)
#include <uthash.h>

typedef struct bucket bucket;
typedef struct entry entry;

struct entry {
    UT_hash_handle hh;
    bucket *bucket;
    entry *prev, *next; /* siblings in the bucket */
    uint64_t error;
    size_t len, cap;    /* key length, bytes allocated */
    char *key;
};

struct bucket {
    uint64_t count;
    bucket *prev, *next; /* ascending counts */
    entry *entries;
};

struct qps_table {
    entry *map;      /* uthash head */
    bucket *lowest;  /* the bucket with the smallest count */
    size_t size, capacity;
    bool overflowed;
    bool oom;        /* the last HASH_ADD failed */
};

qps_table *qps_table_new(size_t capacity)
{
    if (capacity == 0)
        return NULL;
    qps_table *t = calloc(1, sizeof *t);
    if (t)
        t->capacity = capacity;
    return t;
}

void qps_table_free(qps_table *t)
{
    if (!t)
        return;
    HASH_CLEAR(hh, t->map);
    for (bucket *b = t->lowest, *nb; b; b = nb) {
        nb = b->next;
        for (entry *e = b->entries, *ne; e; e = ne) {
            ne = e->next;
            free(e->key);
            free(e);
        }
        free(b);
    }
    free(t);
}

static void unlink_entry(qps_table *t, entry *e)
{
    bucket *b = e->bucket;
    if (e->prev)
        e->prev->next = e->next;
    else
        b->entries = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
    e->bucket = NULL;
    if (!b->entries) {
        if (b->prev)
            b->prev->next = b->next;
        else
            t->lowest = b->next;
        if (b->next)
            b->next->prev = b->prev;
        free(b);
    }
}

/* The bucket of `count`, made and linked in order if there is none yet;
 * the search starts at `from` (whose count is at most `count`) or at the
 * lowest bucket. NULL when out of memory. */
static bucket *bucket_for(qps_table *t, bucket *from, uint64_t count)
{
    bucket *before = NULL, *b = from ? from : t->lowest;
    if (b)
        before = b->prev;
    while (b && b->count < count) {
        before = b;
        b = b->next;
    }
    if (b && b->count == count)
        return b;
    bucket *nb = calloc(1, sizeof *nb);
    if (!nb)
        return NULL;
    nb->count = count;
    nb->prev = before;
    nb->next = b;
    if (before)
        before->next = nb;
    else
        t->lowest = nb;
    if (b)
        b->prev = nb;
    return nb;
}

static void push_entry(bucket *b, entry *e)
{
    e->bucket = b;
    e->prev = NULL;
    e->next = b->entries;
    if (b->entries)
        b->entries->prev = e;
    b->entries = e;
}

static bool set_key(entry *e, const char *key, size_t len)
{
    if (e->cap < len + 1) {
        char *k = realloc(e->key, len + 1);
        if (!k)
            return false;
        e->key = k;
        e->cap = len + 1;
    }
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->len = len;
    return true;
}

/* Moves e to count + n; on failure e keeps its place and count. */
static qps_status raise(qps_table *t, entry *e, uint64_t n)
{
    bucket *b = e->bucket;
    uint64_t count = b->count + n;
    bool alone = b->entries == e && !e->next;
    if (alone && (!b->next || b->next->count > count)) {
        b->count = count; /* nothing in between: relabel the bucket */
        return QPS_OK;
    }
    bucket *target = bucket_for(t, alone ? b->next : b, count);
    if (!target)
        return QPS_ENOMEM;
    unlink_entry(t, e);
    push_entry(target, e);
    return QPS_OK;
}

qps_status qps_table_add(qps_table *t, const char *key, size_t len, uint64_t n)
{
    entry *e;
    HASH_FIND(hh, t->map, key, len, e);
    if (e)
        return raise(t, e, n);
    if (t->size < t->capacity) {
        e = calloc(1, sizeof *e);
        if (!e || !set_key(e, key, len)) {
            free(e);
            return QPS_ENOMEM;
        }
        bucket *target = bucket_for(t, NULL, n);
        t->oom = false;
        if (target)
            HASH_ADD_KEYPTR(hh, t->map, e->key, e->len, e);
        if (!target || t->oom) {
            if (target && !target->entries) {
                /* drop the empty bucket made for it */
                entry probe = {.bucket = target};
                target->entries = &probe;
                unlink_entry(t, &probe);
            }
            free(e->key);
            free(e);
            return QPS_ENOMEM;
        }
        push_entry(target, e);
        t->size++;
        return QPS_OK;
    }
    /* Full: an entry of the smallest count is recycled for the new key. */
    e = t->lowest->entries;
    uint64_t floor = t->lowest->count;
    HASH_DEL(t->map, e);
    t->oom = !set_key(e, key, len);
    if (!t->oom)
        HASH_ADD_KEYPTR(hh, t->map, e->key, e->len, e);
    t->overflowed = true;
    if (t->oom) {
        /* the evicted entry leaves the table rather than linger unindexed */
        unlink_entry(t, e);
        free(e->key);
        free(e);
        t->size--;
        return QPS_ENOMEM;
    }
    e->error = floor;
    return raise(t, e, n);
}

qps_status qps_table_merge(qps_table *dst, const qps_table *src)
{
    for (const bucket *b = src->lowest; b; b = b->next) {
        for (const entry *e = b->entries; e; e = e->next) {
            qps_status st = qps_table_add(dst, e->key, e->len, b->count);
            if (st != QPS_OK)
                return st;
            entry *d;
            HASH_FIND(hh, dst->map, e->key, e->len, d);
            if (d)
                d->error += e->error;
        }
    }
    if (src->overflowed)
        dst->overflowed = true;
    return QPS_OK;
}

size_t qps_table_size(const qps_table *t)
{
    return t->size;
}

bool qps_table_overflowed(const qps_table *t)
{
    return t->overflowed;
}

void qps_table_entries(const qps_table *t, qps_table_entry *out)
{
    size_t i = 0;
    for (const bucket *b = t->lowest; b; b = b->next) {
        for (const entry *e = b->entries; e; e = e->next, i++) {
            out[i].key = e->key;
            out[i].len = e->len;
            out[i].count = b->count;
            out[i].error = e->error;
        }
    }
}
