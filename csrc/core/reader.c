/*
 * reader.c - the one reader of log files and streams: plain or gzip (by
 * content), in large chunks, every intact byte delivered before an error.
 *
 * zlib's inflate is driven directly rather than through gzread(): gzread
 * returns -1 with its buffer's data undelivered when a trailer's CRC is
 * bad, and hides where a member ends, so plain text after it was lost.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK (1 << 20)
#define IN_CHUNK (256 << 10)

typedef enum {
    MODE_DETECT, /* a stream whose first bytes are not read yet */
    MODE_PLAIN,
    MODE_GZIP,
    MODE_TAIL,   /* plain text left in the input buffer after a gzip member */
    MODE_JOURNAL, /* a journal source (journal.c makes the lines) */
    MODE_DONE
} mode;

struct qps_reader {
    int fd;
    bool own;
    mode mode;
    qps_reader_info info;
    qps_status failed; /* sticky: an error is returned until close */
    int err;
    char msg[128];
    char *out;         /* the chunks handed out */
    unsigned char *in; /* compressed input (gzip) */
    size_t in_len;     /* bytes in `in` not yet consumed, from in_pos */
    size_t in_pos;
    bool in_eof;
    z_stream z;
    bool z_ready;
    bool in_member;    /* inflate is inside a member (its end not seen) */
    qps_journal *journal;
};

qps_reader *qps_reader_new(void)
{
    qps_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fd = -1;
    r->info.fd = -1;
    r->mode = MODE_DONE;
    return r;
}

static qps_status fail(qps_reader *r, qps_status st, int err, const char *msg)
{
    r->failed = st;
    r->err = st == QPS_EREAD ? err : 0;
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : strerror(err));
    return st;
}

qps_status qps_reader_close(qps_reader *r)
{
    if (!r)
        return QPS_EINVAL;
    qps_status st = QPS_OK;
    if (r->fd >= 0 && r->own && close(r->fd) != 0 && errno != EINTR)
        st = fail(r, QPS_EREAD, errno, NULL);
    r->fd = -1;
    r->own = false;
    r->mode = MODE_DONE;
    memset(&r->info, 0, sizeof r->info);
    r->info.fd = -1;
    r->info.size = -1;
    r->in_len = r->in_pos = 0;
    r->in_eof = false;
    r->in_member = false;
    qps_journal_close(r->journal);
    r->journal = NULL;
    if (st == QPS_OK)
        r->failed = QPS_OK, r->err = 0, r->msg[0] = '\0';
    return st;
}

void qps_reader_free(qps_reader *r)
{
    if (!r)
        return;
    qps_reader_close(r);
    if (r->z_ready)
        inflateEnd(&r->z);
    free(r->in);
    free(r->out);
    free(r);
}

static bool is_gzip_magic(const unsigned char *p)
{
    return p[0] == 0x1f && p[1] == 0x8b;
}

/* Takes fd; decides plain/gzip for a regular file now, for a stream at the
 * first read (reading ahead would block on a FIFO). */
static qps_status start(qps_reader *r, int fd, bool own, int flags)
{
    qps_reader_close(r);
    r->fd = fd;
    r->own = own;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return fail(r, QPS_EREAD, errno, NULL);
    if (S_ISDIR(st.st_mode))
        return fail(r, QPS_EREAD, EISDIR, NULL);
    r->info.fd = fd;
    r->info.regular = S_ISREG(st.st_mode);
    r->info.size = r->info.regular ? (int64_t)st.st_size : -1;
    r->info.dev = (uint64_t)st.st_dev;
    r->info.inode = (uint64_t)st.st_ino;
    if (!r->info.regular && (flags & QPS_READ_REGULAR))
        return fail(r, QPS_EREAD, ENODEV, "not a regular file (a FIFO, device or socket): not read");
    if (r->info.regular) {
#ifdef POSIX_FADV_SEQUENTIAL
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
        unsigned char magic[2];
        off_t at = lseek(fd, 0, SEEK_CUR);
        r->mode = at >= 0 && pread(fd, magic, 2, at) == 2 && is_gzip_magic(magic) ? MODE_GZIP : MODE_PLAIN;
        r->info.gzip = r->mode == MODE_GZIP;
    } else {
        r->mode = MODE_DETECT;
    }
    return QPS_OK;
}

qps_status qps_open_log(const char *path, int flags, int *fd_out)
{
    if (!path || !fd_out)
        return QPS_EINVAL;
    *fd_out = -1;
    bool regular_only = flags & QPS_READ_REGULAR;
    /* Opening a FIFO for reading waits for a writer: what only a regular
     * file may be is opened O_NONBLOCK and looked at (fstat) first. A name
     * the user gave may be a FIFO to wait for, as cat(1) would. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (regular_only ? O_NONBLOCK : 0));
    if (fd < 0) {
        struct stat st;
        if (errno == ENXIO && regular_only && stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            errno = ENODEV; /* a socket: not a regular file */
        return QPS_EREAD;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return QPS_EREAD;
    }
    if (S_ISDIR(st.st_mode) || (!S_ISREG(st.st_mode) && regular_only)) {
        close(fd);
        errno = S_ISDIR(st.st_mode) ? EISDIR : ENODEV;
        return QPS_EREAD;
    }
    if (regular_only) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    *fd_out = fd;
    return QPS_OK;
}

qps_status qps_reader_open(qps_reader *r, const char *path, int flags)
{
    if (!r || !path)
        return QPS_EINVAL;
    qps_reader_close(r);
    int fd;
    if (qps_open_log(path, flags, &fd) != QPS_OK)
        return fail(r, QPS_EREAD, errno,
                    errno == ENODEV ? "not a regular file (a FIFO, device or socket): not read" : NULL);
    return start(r, fd, true, flags);
}

qps_status qps_reader_adopt(qps_reader *r, int fd, int own)
{
    if (!r || fd < 0)
        return QPS_EINVAL;
    return start(r, fd, own != 0, 0);
}

qps_status qps_reader_open_entry(qps_reader *r, const qps_log_entry *e)
{
    if (!r || !e)
        return QPS_EINVAL;
    if (e->journal) {
        qps_reader_close(r);
        char err[sizeof r->msg];
        qps_status st = qps_journal_open(e->journal, &r->journal, err, sizeof err);
        if (st != QPS_OK)
            return fail(r, st, errno, err);
        r->mode = MODE_JOURNAL;
        return QPS_OK;
    }
    if (e->is_stdin)
        return qps_reader_adopt(r, STDIN_FILENO, 0);
    return qps_reader_open(r, e->path, e->from_dir ? QPS_READ_REGULAR : 0);
}

void qps_reader_get_info(const qps_reader *r, qps_reader_info *out)
{
    *out = r->info;
}

int qps_reader_errno(const qps_reader *r)
{
    return r->err;
}

const char *qps_reader_error(const qps_reader *r)
{
    return r->msg[0] ? r->msg : qps_strerror(r->failed);
}

/* read(2) without EINTR; -1 sets the reader's error. */
static ssize_t read_some(qps_reader *r, void *buf, size_t want)
{
    for (;;) {
        ssize_t n = read(r->fd, buf, want);
        if (n >= 0)
            return n;
        if (errno != EINTR) {
            fail(r, QPS_EREAD, errno, NULL);
            return -1;
        }
    }
}

/* Tops the input buffer up (moving the unconsumed rest to its front) until
 * it holds at least `need` bytes or the input ends. */
static qps_status fill_input(qps_reader *r, size_t need)
{
    if (!r->in && !(r->in = malloc(IN_CHUNK)))
        return fail(r, QPS_ENOMEM, 0, "out of memory");
    if (r->in_pos && r->in_len)
        memmove(r->in, r->in + r->in_pos, r->in_len);
    r->in_pos = 0;
    while (r->in_len < need && !r->in_eof) {
        ssize_t n = read_some(r, r->in + r->in_len, IN_CHUNK - r->in_len);
        if (n < 0)
            return r->failed;
        if (n == 0)
            r->in_eof = true;
        r->in_len += (size_t)n;
    }
    return QPS_OK;
}

static qps_status start_member(qps_reader *r)
{
    if (!r->z_ready) {
        memset(&r->z, 0, sizeof r->z);
        if (inflateInit2(&r->z, 15 + 16) != Z_OK)
            return fail(r, QPS_ENOMEM, 0, "out of memory");
        r->z_ready = true;
    } else if (inflateReset(&r->z) != Z_OK) {
        return fail(r, QPS_ECORRUPT, 0, "gzip: cannot restart");
    }
    r->in_member = true;
    return QPS_OK;
}

/* After a member's end: another member, the end, or plain text. */
static qps_status after_member(qps_reader *r)
{
    qps_status st = fill_input(r, 2);
    if (st != QPS_OK)
        return st;
    if (r->in_len == 0)
        r->mode = MODE_DONE;
    else if (r->in_len >= 2 && is_gzip_magic(r->in + r->in_pos))
        return start_member(r);
    else
        r->mode = MODE_TAIL;
    return QPS_OK;
}

static qps_status read_gzip(qps_reader *r, size_t *len)
{
    *len = 0;
    while (*len == 0 && r->mode == MODE_GZIP) {
        qps_status st;
        if (!r->in_member && (st = start_member(r)) != QPS_OK)
            return st;
        if (r->in_len == 0) {
            if (!r->in_eof && (st = fill_input(r, 1)) != QPS_OK)
                return st;
            if (r->in_len == 0)
                return fail(r, QPS_ETRUNCATED, 0, "unexpected end of gzip data (the file is cut short)");
        }
        r->z.next_in = r->in + r->in_pos;
        r->z.avail_in = (uInt)r->in_len;
        r->z.next_out = (Bytef *)r->out;
        r->z.avail_out = CHUNK;
        int zr = inflate(&r->z, Z_NO_FLUSH);
        size_t used = r->in_len - r->z.avail_in;
        r->in_pos += used;
        r->in_len -= used;
        *len = CHUNK - r->z.avail_out;
        if (zr == Z_STREAM_END) {
            r->in_member = false;
            if ((st = after_member(r)) != QPS_OK && *len == 0)
                return st;
        } else if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT) {
            const char *m = r->z.msg ? r->z.msg : "invalid data";
            char text[96];
            snprintf(text, sizeof text, "damaged gzip data (%s)",
                     strstr(m, "check") ? "bad CRC or length in the trailer" : m);
            fail(r, QPS_ECORRUPT, 0, text);
            if (*len == 0)
                return r->failed;
            r->mode = MODE_DONE; /* the error comes at the next read */
        } else if (zr == Z_MEM_ERROR) {
            return fail(r, QPS_ENOMEM, 0, "out of memory");
        }
        /* Z_OK, Z_BUF_ERROR: more input is needed */
    }
    return QPS_OK;
}

qps_status qps_reader_read(qps_reader *r, const char **chunk, size_t *len)
{
    if (!r || !chunk || !len)
        return QPS_EINVAL;
    *len = 0;
    if (r->failed)
        return r->failed; /* after the data before it was delivered */
    /* made at the first read: a file read by parts in threads needs none */
    if (!r->out && !(r->out = malloc(CHUNK)))
        return fail(r, QPS_ENOMEM, 0, "out of memory");
    *chunk = r->out;
    if (r->mode == MODE_DETECT) {
        qps_status st = fill_input(r, 2);
        if (st != QPS_OK)
            return st;
        if (r->in_len >= 2 && is_gzip_magic(r->in))
            r->mode = MODE_GZIP, r->info.gzip = 1;
        else
            r->mode = MODE_TAIL; /* what was read ahead, then plain */
    }
    switch (r->mode) {
    case MODE_JOURNAL: {
        char err[sizeof r->msg];
        qps_status st = qps_journal_fill(r->journal, r->out, CHUNK, len, err, sizeof err);
        /* at the end the source stays open: qps_reader_journal_wait() */
        return st == QPS_OK ? QPS_OK : fail(r, st, errno, err);
    }
    case MODE_GZIP:
        return read_gzip(r, len);
    case MODE_TAIL:
        if (r->in_len) {
            memcpy(r->out, r->in + r->in_pos, r->in_len);
            *len = r->in_len;
            r->in_pos = r->in_len = 0;
            return QPS_OK;
        }
        r->mode = r->in_eof ? MODE_DONE : MODE_PLAIN;
        if (r->mode == MODE_DONE)
            return QPS_OK;
        /* fall through */
    case MODE_PLAIN: {
        ssize_t n = read_some(r, r->out, CHUNK);
        if (n < 0) {
            r->mode = MODE_DONE;
            return r->failed;
        }
        if (n == 0)
            r->mode = MODE_DONE;
        *len = (size_t)n;
        return QPS_OK;
    }
    case MODE_DETECT:
    case MODE_DONE:
        break;
    }
    return r->failed;
}

const char *qps_reader_journal_cursor(const qps_reader *r)
{
    return r && r->journal ? qps_journal_cursor(r->journal) : NULL;
}

qps_status qps_reader_journal_wait(qps_reader *r, uint64_t usec)
{
    if (!r || !r->journal)
        return QPS_EINVAL;
    char err[sizeof r->msg];
    qps_status st = qps_journal_wait(r->journal, usec, err, sizeof err);
    return st == QPS_OK ? QPS_OK : fail(r, st, errno, err);
}

const char *qps_reader_note(const qps_reader *r)
{
    return r && r->journal ? qps_journal_note(r->journal) : NULL;
}

int qps_reader_journal_gap(const qps_reader *r)
{
    return r && r->journal ? qps_journal_gap(r->journal) : 0;
}
