/*
 * buf.c - a growable byte buffer (qps_buf in qpstat.h) for building output
 * in the core and the CLI. An allocation failure is sticky, so callers
 * check once at the end. One byte more than asked is always reserved, so
 * the content stays NUL-terminated for callers that print it with "%s".
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static bool reserve(qps_buf *buf, size_t extra)
{
    if (buf->failed)
        return false;
    if (extra > SIZE_MAX - 1) {
        buf->failed = true;
        return false;
    }
    extra++; /* the terminating NUL */
    if (extra <= buf->cap - buf->len)
        return true;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap - buf->len < extra) {
        if (cap > SIZE_MAX / 2) {
            buf->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *data = realloc(buf->data, cap);
    if (!data) {
        buf->failed = true;
        return false;
    }
    buf->data = data;
    buf->cap = cap;
    return true;
}

void qps_buf_append(qps_buf *buf, const char *bytes, size_t len)
{
    if (len && reserve(buf, len)) {
        memcpy(buf->data + buf->len, bytes, len);
        buf->len += len;
        buf->data[buf->len] = '\0';
    }
}

void qps_buf_putc(qps_buf *buf, char c)
{
    if (reserve(buf, 1)) {
        buf->data[buf->len++] = c;
        buf->data[buf->len] = '\0';
    }
}

void qps_buf_printf(qps_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(buf, (size_t)n)) {
        buf->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
}

void qps_buf_release(qps_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
    buf->failed = false;
}
