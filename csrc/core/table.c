/*
 * qps_table.c - a bounded string -> count table (open addressing +
 * Stream-Summary).
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
 * entry is always at hand: both are O(1). On spam-heavy logs most IPs and
 * HELOs appear once, so nearly every key is new and evicts another: the
 * index is linear probing over slots that hold the hash beside the entry
 * number, so a probe rarely touches an entry it does not want (a chained
 * hash table such as uthash walked its chains through cache misses and
 * was a quarter of a report's time), and deletion shifts the cluster back
 * instead of leaving tombstones that eviction would pile up.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <stdlib.h>

#define NONE UINT32_MAX
#define INLINE_KEY 40 /* IPs, most HELOs and senders fit without a malloc */

typedef struct bucket bucket;

typedef struct {
    bucket *bucket;
    uint32_t prev, next; /* siblings in the bucket (entry numbers) */
    uint32_t hash;
    uint32_t len;
    uint64_t error;
    char *key;           /* inline or heap */
    size_t cap;          /* bytes at key when on the heap, 0 when inline */
    char inline_key[INLINE_KEY];
} entry;

struct bucket {
    uint64_t count;
    bucket *prev, *next; /* ascending counts */
    uint32_t first;      /* first entry, NONE when empty */
};

struct qps_table {
    uint64_t *slots;     /* hash << 32 | (entry number + 1); 0 = empty */
    size_t mask;         /* number of slots - 1 */
    entry *entries;
    size_t size, capacity, allocated;
    bucket *lowest;      /* the bucket with the smallest count */
    bool overflowed;
};

uint32_t qps_table_hash(const char *key, size_t len)
{
    /* multiply-xorshift over 8-byte words: keys are short, and the table
     * is keyed by remote input, so every byte is mixed in */
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
    const char *start = key;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, key, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
        key += 8;
        len -= 8;
    }
    /* the last len bytes as a little-endian word, read with whole loads:
     * a byte loop into a word stalls on store forwarding */
    uint64_t w = 0;
    if (len && key - start >= 8) {
        memcpy(&w, key + len - 8, 8);
        w >>= 8 * (8 - len);
    } else if (len >= 4) {
        uint32_t a, b;
        memcpy(&a, key, 4);
        memcpy(&b, key + len - 4, 4);
        w = a | (uint64_t)b << (8 * (len - 4));
    } else if (len) {
        w = (uint64_t)(unsigned char)key[0] | (uint64_t)(unsigned char)key[len / 2] << (8 * (len / 2)) |
            (uint64_t)(unsigned char)key[len - 1] << (8 * (len - 1));
    }
    h = (h ^ w) * 0x94d049bb133111ebULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return (uint32_t)h;
}

qps_table *qps_table_new(size_t capacity)
{
    if (capacity == 0 || capacity >= NONE / 2)
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
    for (size_t i = 0; i < t->size; i++)
        if (t->entries[i].cap)
            free(t->entries[i].key);
    for (bucket *b = t->lowest, *nb; b; b = nb) {
        nb = b->next;
        free(b);
    }
    free(t->entries);
    free(t->slots);
    free(t);
}

/* ---- the index ---- */

/* Keys are short: whole-word compares inline instead of a memcmp call
 * (a twentieth of a report went into the call). */
static bool same_key(const char *a, const char *b, size_t len)
{
    uint64_t x, y;
    while (len >= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return false;
        a += 8;
        b += 8;
        len -= 8;
    }
    if (len >= 4) {
        uint32_t p, q, r, t;
        memcpy(&p, a, 4);
        memcpy(&q, b, 4);
        memcpy(&r, a + len - 4, 4);
        memcpy(&t, b + len - 4, 4);
        return p == q && r == t;
    }
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static size_t find_slot(const qps_table *t, const char *key, size_t len, uint32_t hash, bool *found)
{
    size_t i = hash & t->mask;
    for (;;) {
        uint64_t s = t->slots[i];
        if (!s) {
            *found = false;
            return i;
        }
        if ((uint32_t)(s >> 32) == hash) {
            const entry *e = &t->entries[(uint32_t)s - 1];
            if (e->len == len && same_key(e->key, key, len)) {
                *found = true;
                return i;
            }
        }
        i = (i + 1) & t->mask;
    }
}

/* Removes the slot holding entry n, shifting later members of its cluster
 * back into the gap. */
static void remove_slot(qps_table *t, uint32_t n)
{
    size_t i = t->entries[n].hash & t->mask;
    while ((uint32_t)t->slots[i] != n + 1)
        i = (i + 1) & t->mask;
    for (size_t j = (i + 1) & t->mask; t->slots[j]; j = (j + 1) & t->mask) {
        size_t home = (size_t)(t->slots[j] >> 32) & t->mask;
        /* move j into the gap at i unless its home lies in (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = 0;
}

/* Keeps the slots at most half full. */
static bool grow_index(qps_table *t)
{
    size_t slots = t->mask + 1;
    if (t->slots && (t->size + 1) * 2 <= slots)
        return true;
    size_t want = t->slots ? slots * 2 : 64;
    uint64_t *fresh = calloc(want, sizeof *fresh);
    if (!fresh)
        return false;
    size_t mask = want - 1;
    for (size_t i = 0; t->slots && i < slots; i++) {
        uint64_t s = t->slots[i];
        if (!s)
            continue;
        size_t k = (size_t)(s >> 32) & mask;
        while (fresh[k])
            k = (k + 1) & mask;
        fresh[k] = s;
    }
    free(t->slots);
    t->slots = fresh;
    t->mask = mask;
    return true;
}

/* ---- the buckets ---- */

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
    nb->first = NONE;
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

static void drop_if_empty(qps_table *t, bucket *b)
{
    if (b->first != NONE)
        return;
    if (b->prev)
        b->prev->next = b->next;
    else
        t->lowest = b->next;
    if (b->next)
        b->next->prev = b->prev;
    free(b);
}

static void unlink_entry(qps_table *t, uint32_t n)
{
    entry *e = &t->entries[n];
    bucket *b = e->bucket;
    if (e->prev != NONE)
        t->entries[e->prev].next = e->next;
    else
        b->first = e->next;
    if (e->next != NONE)
        t->entries[e->next].prev = e->prev;
    e->prev = e->next = NONE;
    e->bucket = NULL;
    drop_if_empty(t, b);
}

static void push_entry(qps_table *t, bucket *b, uint32_t n)
{
    entry *e = &t->entries[n];
    e->bucket = b;
    e->prev = NONE;
    e->next = b->first;
    if (b->first != NONE)
        t->entries[b->first].prev = n;
    b->first = n;
}

static bool set_key(entry *e, const char *key, size_t len)
{
    if (len < INLINE_KEY) {
        if (e->cap)
            free(e->key);
        e->cap = 0;
        e->key = e->inline_key;
    } else if (e->cap < len + 1) {
        char *k = malloc(len + 1);
        if (!k)
            return false;
        if (e->cap)
            free(e->key);
        e->key = k;
        e->cap = len + 1;
    }
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->len = (uint32_t)len;
    return true;
}

/* Moves entry n to count + add; on failure it keeps its place and count. */
static qps_status raise(qps_table *t, uint32_t n, uint64_t add)
{
    entry *e = &t->entries[n];
    bucket *b = e->bucket;
    uint64_t count = b->count + add;
    bool alone = b->first == n && e->next == NONE;
    if (alone && (!b->next || b->next->count > count)) {
        b->count = count; /* nothing in between: relabel the bucket */
        return QPS_OK;
    }
    bucket *target = bucket_for(t, alone ? b->next : b, count);
    if (!target)
        return QPS_ENOMEM;
    unlink_entry(t, n);
    push_entry(t, target, n);
    return QPS_OK;
}

static bool grow_entries(qps_table *t)
{
    if (t->size < t->allocated)
        return true;
    size_t want = t->allocated ? t->allocated * 2 : 16;
    if (want > t->capacity)
        want = t->capacity;
    entry *grown = realloc(t->entries, want * sizeof *grown);
    if (!grown)
        return false;
    /* inline keys moved with their entries */
    for (size_t i = 0; i < t->size; i++)
        if (!grown[i].cap)
            grown[i].key = grown[i].inline_key;
    t->entries = grown;
    t->allocated = want;
    return true;
}

void qps_table_prefetch(const qps_table *t, uint32_t hash)
{
    if (!t->slots)
        return;
    __builtin_prefetch(&t->slots[hash & t->mask]);
    /* a new key in a full table evicts the lowest bucket's first entry,
     * whose slot is then removed */
    if (t->size == t->capacity && t->lowest)
        __builtin_prefetch(&t->slots[t->entries[t->lowest->first].hash & t->mask], 1);
}

qps_status qps_table_add(qps_table *t, const char *key, size_t len, uint64_t n)
{
    if (len >= NONE)
        return QPS_EINVAL;
    return qps_table_add_hashed(t, key, len, qps_table_hash(key, len), n);
}

qps_status qps_table_add_hashed(qps_table *t, const char *key, size_t len, uint32_t hash, uint64_t n)
{
    if (len >= NONE)
        return QPS_EINVAL;
    bool found = false;
    size_t slot = t->slots ? find_slot(t, key, len, hash, &found) : 0;
    if (found)
        return raise(t, (uint32_t)t->slots[slot] - 1, n);
    if (t->size < t->capacity) {
        if (!grow_index(t) || !grow_entries(t))
            return QPS_ENOMEM;
        bucket *target = bucket_for(t, NULL, n);
        if (!target)
            return QPS_ENOMEM;
        uint32_t num = (uint32_t)t->size;
        entry *e = &t->entries[num];
        memset(e, 0, sizeof *e);
        if (!set_key(e, key, len)) {
            drop_if_empty(t, target);
            return QPS_ENOMEM;
        }
        e->hash = hash;
        e->error = 0;
        push_entry(t, target, num);
        t->size++;
        slot = find_slot(t, key, len, hash, &found); /* the index may have grown */
        t->slots[slot] = ((uint64_t)hash << 32) | (num + 1);
        return QPS_OK;
    }
    /* Full: an entry of the smallest count is recycled for the new key. */
    uint32_t num = t->lowest->first;
    entry *e = &t->entries[num];
    if (len >= INLINE_KEY && e->cap < len + 1) {
        /* allocate before anything changes, so a failure changes nothing */
        char *k = malloc(len + 1);
        if (!k)
            return QPS_ENOMEM;
        if (e->cap)
            free(e->key);
        e->key = k;
        e->cap = len + 1;
    }
    uint64_t floor = t->lowest->count;
    remove_slot(t, num);
    set_key(e, key, len); /* cannot fail now */
    e->hash = hash;
    e->error = floor;
    slot = find_slot(t, key, len, hash, &found);
    t->slots[slot] = ((uint64_t)hash << 32) | (num + 1);
    t->overflowed = true;
    return raise(t, num, n);
}

qps_status qps_table_merge(qps_table *dst, const qps_table *src)
{
    /* in src's entry order: keys new to dst come in the order they came
     * to src (the order /metrics gives labels in) */
    for (uint32_t n = 0; n < src->size; n++) {
        const entry *e = &src->entries[n];
        qps_status st = qps_table_add(dst, e->key, e->len, e->bucket->count);
        if (st != QPS_OK)
            return st;
        bool found;
        size_t slot = find_slot(dst, e->key, e->len, e->hash, &found);
        if (found)
            dst->entries[(uint32_t)dst->slots[slot] - 1].error += e->error;
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
    /* in entry order, not along the buckets' lists: the lists jump about
     * the entries (a cache miss each), the array is read in order; a
     * report's end waited 6 ms for the walk of its large tables */
    for (size_t i = 0; i < t->size; i++) {
        const entry *e = &t->entries[i];
        out[i].key = e->key;
        out[i].len = e->len;
        out[i].count = e->bucket->count;
        out[i].error = e->error;
        out[i].seq = (uint32_t)i;
    }
}
