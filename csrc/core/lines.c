/*
 * lines.c - the one line splitter: chunks in, lines out, one rule for a
 * line longer than QPS_LINE_MAX (one line, its head handed out, the rest
 * skipped unread), so every door counts the same lines.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <stdlib.h>

/* QPS_LINE_MAX + 1 bytes of an over-long line make the parser call it
 * too long; that many is all that is ever held. */
#define HEAD (QPS_LINE_MAX + 1)

qps_lines *qps_lines_new(void)
{
    qps_lines *l = calloc(1, sizeof *l);
    if (l && !(l->carry = malloc(HEAD))) {
        free(l);
        return NULL;
    }
    return l;
}

void qps_lines_free(qps_lines *l)
{
    if (!l)
        return;
    free(l->carry);
    free(l);
}

qps_status qps_lines_feed(qps_lines *l, const char *chunk, size_t len)
{
    if (!l || (!chunk && len) || l->p < l->end)
        return QPS_EINVAL;
    l->p = chunk;
    l->end = chunk + len;
    return QPS_OK;
}

/* Counts n bytes consumed of the current line; a newline ends it. */
static inline void advance(qps_lines *l, size_t n, bool newline)
{
    if (newline) {
        l->offset += l->partial + n + 1;
        l->partial = 0;
    } else {
        l->partial += n;
    }
}

int qps_lines_next_slow(qps_lines *l, qps_str *line)
{
    while (l->p < l->end) {
        const char *nl = qps_find_newline(l->p, l->end);
        const char *stop = nl ? nl : l->end;
        size_t n = (size_t)(stop - l->p);
        const char *next = nl ? nl + 1 : l->end;
        const char *at = l->p;
        l->p = next;
        advance(l, n, nl != NULL);
        if (l->skipping) {
            /* the tail of a line already handed out as too long */
            l->skipping = nl == NULL;
            continue;
        }
        if (l->carry_len == 0 && nl && n <= QPS_LINE_MAX) {
            line->ptr = at;
            line->len = n;
            return 1;
        }
        if (l->carry_len + n > QPS_LINE_MAX) {
            /* too long: hand out its head, skip the rest */
            const char *head = at;
            if (l->carry_len) {
                memcpy(l->carry + l->carry_len, at, HEAD - l->carry_len);
                head = l->carry;
            }
            l->carry_len = 0;
            l->skipping = nl == NULL;
            line->ptr = head;
            line->len = HEAD;
            return 1;
        }
        memcpy(l->carry + l->carry_len, at, n);
        l->carry_len += n;
        if (nl) {
            line->ptr = l->carry;
            line->len = l->carry_len;
            l->carry_len = 0;
            return 1;
        }
    }
    return 0;
}

int qps_lines_next(qps_lines *l, qps_str *line)
{
    return qps_lines_take(l, line);
}

int qps_lines_end(qps_lines *l, qps_str *line)
{
    size_t n = l->carry_len;
    l->p = l->end = NULL;
    l->carry_len = 0;
    l->skipping = false;
    l->partial = 0; /* a last line without newline is not a complete one */
    if (!n)
        return 0;
    line->ptr = l->carry;
    line->len = n;
    return 1;
}

int qps_lines_split(qps_lines *l, const char *chunk, size_t len, qps_line_fn fn, void *ctx)
{
    if (qps_lines_feed(l, chunk, len) != QPS_OK)
        return -1;
    int rc = qps_lines_each(l, fn, ctx);
    if (rc)
        l->p = l->end; /* the caller stops: the chunk's rest is dropped */
    return rc;
}

int qps_lines_finish(qps_lines *l, qps_line_fn fn, void *ctx)
{
    qps_str line;
    return qps_lines_end(l, &line) ? fn(ctx, line.ptr, line.len) : 0;
}

void qps_lines_reset(qps_lines *l)
{
    qps_str rest;
    qps_lines_end(l, &rest);
    l->offset = 0;
}

uint64_t qps_lines_offset(const qps_lines *l)
{
    return l->offset;
}
