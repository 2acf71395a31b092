/*
 * facts.c - what pruned records counted beyond their daily totals
 * (table daily_facts): prune gathers each record's facts
 * (qps_agg_record_facts) by day in memory and adds them to the table, so
 * the counters /metrics serves never go down when --keep prunes; reports
 * add them back for the days they cover.
 *
 * License: MIT (see LICENSE).
 */
#include "store_private.h"

#include <stdio.h>
#include <stdlib.h>

#define FLUSH_AT 65536 /* entries gathered before they are written */

typedef struct {
    char *key; /* "day\0what\0key" */
    size_t len;
    int64_t n;
} fact_entry;

struct store_facts {
    qps_store *s;
    fact_entry *slots;
    size_t cap, used;
    qps_tzcache tz;
    qps_status st;
};

static uint64_t hash(const char *p, size_t n)
{
    return qps_hash_bytes(p, n);
}

static bool grow(store_facts *f)
{
    size_t cap = f->cap ? f->cap * 2 : 1024;
    fact_entry *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < f->cap; i++) {
        if (!f->slots[i].key)
            continue;
        size_t j = hash(f->slots[i].key, f->slots[i].len) & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = f->slots[i];
    }
    free(f->slots);
    f->slots = slots;
    f->cap = cap;
    return true;
}

store_facts *store_facts_new(qps_store *s)
{
    store_facts *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->s = s;
    f->tz = (qps_tzcache)QPS_TZCACHE_INIT;
    qps_buf sql = {0};
    store_create_missing_sql(&store_tables[TB_DAILY_FACTS], &sql);
    if (sql.failed || qps_store_exec(s, sql.data) != SQLITE_OK)
        f->st = sql.failed ? QPS_ENOMEM : qps_store_fail(s, QPS_EIO, "cannot prune the store");
    qps_buf_release(&sql);
    return f;
}

static void clear(store_facts *f)
{
    for (size_t i = 0; i < f->cap; i++) {
        free(f->slots[i].key);
        f->slots[i].key = NULL;
    }
    f->used = 0;
}

qps_status store_facts_flush(store_facts *f)
{
    if (f->st != QPS_OK || !f->used)
        return f->st;
    sqlite3_stmt *up;
    if (sqlite3_prepare_v2(f->s->db, "INSERT INTO daily_facts VALUES (?,?,?,?) ON CONFLICT(day, what, key) "
                                     "DO UPDATE SET count = count + excluded.count",
                           -1, &up, NULL) != SQLITE_OK)
        return f->st = qps_store_fail(f->s, QPS_EIO, "cannot prune the store");
    for (size_t i = 0; i < f->cap && f->st == QPS_OK; i++) {
        const fact_entry *e = &f->slots[i];
        if (!e->key)
            continue;
        const char *what = e->key + strlen(e->key) + 1;
        const char *key = what + strlen(what) + 1;
        sqlite3_bind_text(up, 1, e->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(up, 2, what, -1, SQLITE_STATIC);
        sqlite3_bind_text(up, 3, key, (int)(e->len - (size_t)(key - e->key)), SQLITE_STATIC);
        sqlite3_bind_int64(up, 4, e->n);
        if (qps_step_done(up) != SQLITE_DONE)
            f->st = qps_store_fail(f->s, QPS_EIO, "cannot prune the store");
    }
    sqlite3_finalize(up);
    clear(f);
    return f->st;
}

typedef struct {
    store_facts *f;
    const char *day;
} fact_ctx;

static int gather(void *ctx, const char *what, qps_str key, int64_t n)
{
    fact_ctx *c = ctx;
    store_facts *f = c->f;
    size_t dl = strlen(c->day), wl = strlen(what);
    size_t len = dl + 1 + wl + 1 + key.len;
    if (key.len > 1024 || memchr(key.ptr ? key.ptr : "", '\0', key.len))
        return 0; /* a zone or code no DNSBL or server writes (the table keys are text) */
    if ((f->used + 1) * 2 > f->cap && !grow(f)) {
        f->st = qps_store_set_error(f->s, QPS_ENOMEM, "out of memory pruning the store");
        return 1;
    }
    char buf[1100];
    memcpy(buf, c->day, dl + 1);
    memcpy(buf + dl + 1, what, wl + 1);
    if (key.len)
        memcpy(buf + dl + 1 + wl + 1, key.ptr, key.len);
    size_t j = hash(buf, len) & (f->cap - 1);
    while (f->slots[j].key && (f->slots[j].len != len || memcmp(f->slots[j].key, buf, len) != 0))
        j = (j + 1) & (f->cap - 1);
    fact_entry *e = &f->slots[j];
    if (!e->key) {
        if (!(e->key = malloc(len + 1))) {
            f->st = qps_store_set_error(f->s, QPS_ENOMEM, "out of memory pruning the store");
            return 1;
        }
        memcpy(e->key, buf, len);
        e->key[len] = '\0';
        e->len = len;
        e->n = 0;
        f->used++;
    }
    e->n += n;
    return 0;
}

int store_facts_add(store_facts *f, const qps_record *rec)
{
    qps_civil c;
    char day[16];
    /* untimed records and times without a calendar day are not pruned */
    if (f->st != QPS_OK || !rec->has_time || qps_civil_from_unix(&f->tz, rec->unix_sec, 0, &c) != QPS_OK)
        return f->st != QPS_OK;
    snprintf(day, sizeof day, "%04d-%02d-%02d", c.year, c.month, c.day);
    fact_ctx ctx = {f, day};
    qps_agg_record_facts(rec, gather, &ctx);
    if (f->st == QPS_OK && f->used >= FLUSH_AT)
        store_facts_flush(f);
    return f->st != QPS_OK;
}

qps_status store_facts_status(const store_facts *f)
{
    return f->st;
}

void store_facts_free(store_facts *f)
{
    if (!f)
        return;
    clear(f);
    free(f->slots);
    free(f);
}
