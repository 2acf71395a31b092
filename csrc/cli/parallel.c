/*
 * cli_parallel.c - one large log file read by several threads.
 *
 * Each thread takes a part of the file that starts and ends on a line
 * boundary and aggregates it alone; the parts' aggregates are merged, so
 * the result equals a sequential pass (a record's continuation line that
 * starts a part is the one exception: it counts as "other").
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PART_MIN (32LL << 20) /* smaller files are not worth a thread */
#define CHUNK (1 << 20)

typedef struct {
    int fd;
    off_t start, end; /* [start, end) after alignment */
    qps_agg *agg;
    int error;        /* errno, or -1 for an aggregation failure */
} part;

/* The offset of the first line that starts at or after `at`. */
static off_t align(int fd, off_t at, off_t size)
{
    if (at == 0)
        return 0;
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

static void *run_part(void *arg)
{
    part *p = arg;
    char *buf = malloc(CHUNK);
    if (!buf) {
        p->error = ENOMEM;
        return NULL;
    }
    for (off_t pos = p->start; pos < p->end;) {
        size_t want = (size_t)(p->end - pos < CHUNK ? p->end - pos : CHUNK);
        ssize_t n = pread(p->fd, buf, want, pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            p->error = n < 0 ? errno : EIO;
            break;
        }
        if (qps_agg_feed(p->agg, buf, (size_t)n) != QPS_OK) {
            p->error = -1;
            break;
        }
        pos += n;
    }
    if (!p->error && qps_agg_finish(p->agg) != QPS_OK)
        p->error = -1;
    free(buf);
    return NULL;
}

int cli_parallel_aggregate(const char *path, int fd, int64_t size, qps_agg *agg, const qps_agg_opts *opts, int jobs)
{
    if (jobs < 2 || strcmp(path, "-") == 0 || size < 2 * PART_MIN)
        return 0;
    struct stat st = {0};
    st.st_size = (off_t)size;
    if (st.st_size / jobs < PART_MIN)
        jobs = (int)(st.st_size / PART_MIN);
    part parts[16];
    pthread_t threads[16];
    if (jobs > 16)
        jobs = 16;
    int started = 0, rc = 1;
    off_t prev = 0;
    for (int i = 0; i < jobs; i++) {
        part *p = &parts[i];
        p->fd = fd;
        p->start = prev;
        p->end = i == jobs - 1 ? st.st_size : align(fd, st.st_size / jobs * (i + 1), st.st_size);
        prev = p->end;
        p->error = 0;
        p->agg = qps_agg_new(opts);
        if (!p->agg) {
            cli_error("out of memory");
            rc = -1;
            break;
        }
        started++;
    }
    int launched = 0;
    for (int i = 0; rc == 1 && i < started; i++) {
        if (pthread_create(&threads[i], NULL, run_part, &parts[i]) != 0) {
            run_part(&parts[i]); /* no thread to be had: do it here */
            continue;
        }
        launched |= 1 << i;
    }
    for (int i = 0; i < started; i++) {
        if (launched & (1 << i))
            pthread_join(threads[i], NULL);
        if (rc == 1 && parts[i].error) {
            cli_error("cannot read %s: %s", path,
                      parts[i].error > 0 ? strerror(parts[i].error) : "out of memory");
            rc = -1;
        }
        if (rc == 1 && qps_agg_merge(agg, parts[i].agg) != QPS_OK) {
            cli_error("out of memory merging %s", path);
            rc = -1;
        }
        qps_agg_free(parts[i].agg);
    }
    return rc; /* fd is the reader's */
}
