/*
 * qps_table.c - a bounded string -> count table (uthash + a min-heap).
 *
 * Remote IPs, HELO names and senders are chosen by the remote side, so a
 * table of them must not grow with the input. Below its capacity the table
 * is exact. When full, a new key takes over the entry with the smallest
 * count and inherits that count as its error bound (Space-Saving): every
 * key whose true count exceeds total/capacity is guaranteed to be present.
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

typedef struct entry {
    UT_hash_handle hh;
    uint64_t count;
    uint64_t error;
    size_t heap_index;
    size_t cap;    /* bytes allocated for key */
    size_t len;
    char *key;
} entry;

struct qps_table {
    entry *map;      /* uthash head */
    entry **heap;    /* min-heap on count, capacity entries */
    size_t size, capacity;
    size_t heap_cap; /* allocated heap slots */
    bool overflowed;
    bool oom;        /* the last HASH_ADD failed */
};

qps_table *qps_table_new(size_t capacity)
{
    if (capacity == 0)
        return NULL;
    qps_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->capacity = capacity;
    return t;
}

void qps_table_free(qps_table *t)
{
    if (!t)
        return;
    entry *e, *tmp;
    HASH_ITER(hh, t->map, e, tmp) {
        HASH_DEL(t->map, e);
        free(e->key);
        free(e);
    }
    free(t->heap);
    free(t);
}

static void heap_swap(qps_table *t, size_t a, size_t b)
{
    entry *tmp = t->heap[a];
    t->heap[a] = t->heap[b];
    t->heap[b] = tmp;
    t->heap[a]->heap_index = a;
    t->heap[b]->heap_index = b;
}

static void sift_down(qps_table *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->size && t->heap[l]->count < t->heap[m]->count)
            m = l;
        if (r < t->size && t->heap[r]->count < t->heap[m]->count)
            m = r;
        if (m == i)
            return;
        heap_swap(t, i, m);
        i = m;
    }
}

static void sift_up(qps_table *t, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (t->heap[p]->count <= t->heap[i]->count)
            return;
        heap_swap(t, i, p);
        i = p;
    }
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

static bool grow_heap(qps_table *t)
{
    if (t->size < t->heap_cap)
        return true;
    size_t cap = t->heap_cap ? t->heap_cap * 2 : 16;
    if (cap > t->capacity)
        cap = t->capacity;
    entry **heap = realloc(t->heap, cap * sizeof *heap);
    if (!heap)
        return false;
    t->heap = heap;
    t->heap_cap = cap;
    return true;
}

qps_status qps_table_add(qps_table *t, const char *key, size_t len, uint64_t n)
{
    entry *e;
    HASH_FIND(hh, t->map, key, len, e);
    if (e) {
        e->count += n;
        sift_down(t, e->heap_index);
        return QPS_OK;
    }
    if (t->size < t->capacity) {
        if (!grow_heap(t))
            return QPS_ENOMEM;
        e = calloc(1, sizeof *e);
        if (!e || !set_key(e, key, len)) {
            free(e);
            return QPS_ENOMEM;
        }
        t->oom = false;
        HASH_ADD_KEYPTR(hh, t->map, e->key, e->len, e);
        if (t->oom) {
            free(e->key);
            free(e);
            return QPS_ENOMEM;
        }
        e->count = n;
        e->heap_index = t->size;
        t->heap[t->size++] = e;
        sift_up(t, e->heap_index);
        return QPS_OK;
    }
    /* Full: the lightest entry is recycled for the new key. */
    e = t->heap[0];
    HASH_DEL(t->map, e);
    t->oom = false;
    if (set_key(e, key, len))
        HASH_ADD_KEYPTR(hh, t->map, e->key, e->len, e);
    else
        t->oom = true;
    if (t->oom) {
        /* the evicted entry leaves the table rather than linger unindexed */
        t->heap[0] = t->heap[--t->size];
        t->heap[0]->heap_index = 0;
        sift_down(t, 0);
        free(e->key);
        free(e);
        t->overflowed = true;
        return QPS_ENOMEM;
    }
    e->error = e->count;
    e->count += n;
    sift_down(t, 0);
    t->overflowed = true;
    return QPS_OK;
}

qps_status qps_table_merge(qps_table *dst, const qps_table *src)
{
    for (size_t i = 0; i < src->size; i++) {
        const entry *e = src->heap[i];
        qps_status st = qps_table_add(dst, e->key, e->len, e->count);
        if (st != QPS_OK)
            return st;
        entry *d;
        HASH_FIND(hh, dst->map, e->key, e->len, d);
        if (d)
            d->error += e->error;
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
    for (size_t i = 0; i < t->size; i++) {
        const entry *e = t->heap[i];
        out[i].key = e->key;
        out[i].len = e->len;
        out[i].count = e->count;
        out[i].error = e->error;
    }
}
