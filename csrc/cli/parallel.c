/*
 * cli_parallel.c - one large log file read by several threads, with the
 * numbers and the memory of one pass.
 *
 * The file is cut into blocks of BLOCK bytes (moved to line boundaries).
 * Worker threads take blocks in order and parse each into its own part
 * (qps_agg_new_part): the line and kind counts, and copies of the few
 * lines whose keys go into tables (logterse records, connection times).
 * The parts are absorbed into the one aggregator in block order
 * (qps_agg_absorb), by whichever worker finds the next one due finished,
 * so the key tables exist once, whatever the number of threads, and are
 * filled in the order of the log: every count, approximate (Space-Saving)
 * tables included, equals that of --jobs 1. A thread that only absorbed
 * (as before) made three threads share two cores, which left a fifth of
 * them idle. At most two parts per thread exist at a time.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK (1 << 20)
#define CHUNK (256 << 10)        /* a worker's read buffer: most of its memory */
#define PARALLEL_MIN (4LL << 20) /* below, one thread is as fast */
#define PRIME 4096               /* bytes before a block that give its first lines their context */
/* One thread at a time fills the key tables, so more workers than this
 * only wait for it, each holding a buffer and two parts (about 0.8 MB):
 * the cap keeps --jobs 64 within the 64 MB of issue 10. */
#define MAX_THREADS 16

typedef struct {
    int64_t block; /* the block this slot holds or will hold, -1 when free */
    int64_t turn;  /* the next block it may take: a slot serves its blocks in order */
    bool done;
    int error;     /* errno, or -1 when out of memory */
    qps_agg *part;
} slot;

typedef struct {
    int fd;
    off_t size;
    int64_t nblocks;
    const qps_agg *model; /* a part whose options every part copies */
    qps_agg *owner;       /* the one aggregator, absorbing the parts in block order */
    pthread_mutex_t mu;
    pthread_cond_t freed;
    int64_t next;         /* the next block a worker takes */
    int64_t absorbed;     /* blocks absorbed into owner: the next one due */
    bool absorbing;       /* a worker is absorbing (without the lock) */
    bool stop;
    int error;            /* the first errno, or -1 when out of memory */
    qps_agg **spare;      /* absorbed parts, renewed for later blocks */
    int nspare, spare_cap;
    slot *slots;
    int nslots;
} job;

/* The offset of the first line that starts at or after `at`. */
static off_t align(int fd, off_t at, off_t size)
{
    if (at <= 0)
        return 0;
    if (at >= size)
        return size;
    char buf[4096];
    off_t pos = at - 1; /* a line starts at `at` if the byte before is '\n' */
    while (pos < size) {
        ssize_t n = pread(fd, buf, sizeof buf, pos);
        if (n <= 0)
            return size;
        char *nl = memchr(buf, '\n', (size_t)n);
        if (nl)
            return pos + (nl - buf) + 1;
        pos += n;
    }
    return size;
}

/* The lines just before `start` tell the part the instant of the last
 * timed line (a local stamp in the hour DST repeats depends on it). */
static void prime(const job *j, qps_agg *part, off_t start)
{
    char buf[PRIME];
    off_t from = start > PRIME ? start - PRIME : 0;
    ssize_t n = pread(j->fd, buf, (size_t)(start - from), from);
    if (n <= 0 || buf[n - 1] != '\n')
        return;
    const char *p = buf, *end = buf + n;
    if (from > 0) { /* the first bytes may be the tail of a line */
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl + 1;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        qps_agg_prime(part, p, (size_t)(nl - p));
        p = nl + 1;
    }
}

/* Block i into a new part (*out), made from used (an absorbed part whose
 * buffers it keeps; freed) or, when there is none, from the model. */
static int run_block(const job *j, int64_t i, char *buf, qps_agg *used, qps_agg **out)
{
    off_t start = align(j->fd, (off_t)i * BLOCK, j->size);
    off_t end = i == j->nblocks - 1 ? j->size : align(j->fd, (off_t)(i + 1) * BLOCK, j->size);
    qps_agg *part = *out = used ? qps_agg_renew_part(used) : qps_agg_new_part(j->model);
    if (!part) {
        qps_agg_free(used);
        return -1;
    }
    if (start >= end)
        return 0; /* inside a line that began in an earlier block */
    if (start > 0)
        prime(j, part, start);
    for (off_t pos = start; pos < end;) {
        size_t want = (size_t)(end - pos < CHUNK ? end - pos : CHUNK);
        ssize_t n = pread(j->fd, buf, want, pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        if (qps_agg_feed(part, buf, (size_t)n) != QPS_OK)
            return -1;
        pos += n;
    }
    /* the block that reaches the end holds a last line without newline */
    if (end == j->size && qps_agg_finish(part) != QPS_OK)
        return -1;
    return 0;
}

/* Absorbs the finished parts that are next in block order, one thread at
 * a time (the one that finds the next part done), with the lock held on
 * entry and exit. Called by a worker after each block: no thread only
 * waits for parts, so two workers keep two cores busy. */
static void absorb_ready(job *j)
{
    while (!j->absorbing && !j->stop && j->absorbed < j->nblocks) {
        slot *s = &j->slots[j->absorbed % j->nslots];
        if (!(s->block == j->absorbed && s->done))
            return;
        qps_agg *part = s->part;
        int error = s->error;
        s->part = NULL;
        s->block = -1;
        s->turn = j->absorbed + j->nslots;
        s->done = false;
        j->absorbing = true;
        pthread_cond_broadcast(&j->freed);
        pthread_mutex_unlock(&j->mu);

        qps_status st = error ? QPS_OK : qps_agg_absorb(j->owner, part);

        pthread_mutex_lock(&j->mu);
        if (part && !error && st == QPS_OK && j->nspare < j->spare_cap)
            j->spare[j->nspare++] = part; /* its buffers serve a later block */
        else
            qps_agg_free(part);
        j->absorbing = false;
        j->absorbed++;
        if (error || st != QPS_OK) {
            j->error = error ? error : -1;
            j->stop = true;
        }
        pthread_cond_broadcast(&j->freed);
    }
}

static void *worker(void *arg)
{
    job *j = arg;
    char *buf = malloc(CHUNK);
    pthread_mutex_lock(&j->mu);
    for (;;) {
        if (j->stop || j->next >= j->nblocks)
            break;
        int64_t i = j->next++;
        slot *s = &j->slots[i % j->nslots];
        while ((s->block != -1 || s->turn != i) && !j->stop)
            pthread_cond_wait(&j->freed, &j->mu);
        if (j->stop)
            break;
        s->block = i;
        s->done = false;
        qps_agg *used = j->nspare ? j->spare[--j->nspare] : NULL;
        pthread_mutex_unlock(&j->mu);

        qps_agg *part = NULL;
        int error = -1;
        if (buf)
            error = run_block(j, i, buf, used, &part);
        else
            qps_agg_free(used);

        pthread_mutex_lock(&j->mu);
        s->part = part;
        s->error = error;
        s->done = true;
        absorb_ready(j);
    }
    /* the last parts may wait for a thread that is leaving: drain them */
    absorb_ready(j);
    pthread_mutex_unlock(&j->mu);
    free(buf);
    return NULL;
}

int cli_parallel_aggregate(const char *path, int fd, int64_t size, qps_agg *agg, const qps_agg_opts *opts, int jobs)
{
    (void)opts; /* the parts take agg's own */
    if (jobs < 2 || strcmp(path, "-") == 0 || size < PARALLEL_MIN)
        return 0;
    job j = {.fd = fd, .size = (off_t)size, .nblocks = (size + BLOCK - 1) / BLOCK, .owner = agg};
    if (jobs > MAX_THREADS)
        jobs = MAX_THREADS;
    if (jobs > j.nblocks)
        jobs = (int)j.nblocks;
    qps_agg *model = qps_agg_new_part(agg);
    j.nslots = 2 * jobs;
    j.slots = calloc((size_t)j.nslots, sizeof *j.slots);
    j.spare_cap = jobs;
    j.spare = calloc((size_t)j.spare_cap, sizeof *j.spare);
    if (!model || !j.slots || !j.spare) {
        qps_agg_free(model);
        free(j.slots);
        free(j.spare);
        cli_error("out of memory");
        return -1;
    }
    j.model = model;
    for (int k = 0; k < j.nslots; k++) {
        j.slots[k].block = -1;
        j.slots[k].turn = k;
    }
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.freed, NULL);
    pthread_t threads[MAX_THREADS];
    int started = 0;
    while (started < jobs && pthread_create(&threads[started], NULL, worker, &j) == 0)
        started++;
    for (int k = 0; k < started; k++)
        pthread_join(threads[k], NULL);

    int rc = started ? 1 : 0; /* no thread to be had: the sequential reader */
    if (started && (j.error || j.absorbed < j.nblocks)) {
        if (j.error > 0)
            cli_error("cannot read %s: %s", path, strerror(j.error));
        else
            cli_error("out of memory reading %s", path);
        rc = -1;
    }
    for (int k = 0; k < j.nslots; k++)
        qps_agg_free(j.slots[k].part);
    for (int k = 0; k < j.nspare; k++)
        qps_agg_free(j.spare[k]);
    free(j.spare);
    pthread_cond_destroy(&j.freed);
    pthread_mutex_destroy(&j.mu);
    free(j.slots);
    qps_agg_free(model);
    return rc; /* fd is the reader's */
}
