/*
 * journal.c - the systemd journal as a log source: sd-journal entries of
 * the qpsmtpd units turned into the lines every door already reads.
 *
 * An entry becomes "2026-11-25T08:40:40.123456Z HOST UNIT[_PID]: MESSAGE":
 * an RFC 3339 syslog frame (UTC, so the DST hour is exact) whose ident is
 * the unit, the form of `journalctl -o with-unit`. The parser reads the
 * time, the host and the service from it and the message as qpsmtpd wrote
 * it, so the journal needs no second parser, splitter or read loop. The
 * message keeps qpsmtpd's own pid ("3672 ..." on stderr, which journald
 * stores under the forkserver's _PID); a message without one (a syslog
 * datagram of logging/syslog) gets _PID, the sender's, put before it.
 *
 * Chunks end after a whole entry, so the cursor of a chunk's last entry is
 * where a reader of that chunk stands (import commits it as the source's
 * position with the chunk's records).
 *
 * Built only with libsystemd (QPS_HAVE_JOURNAL, set by Makefile.PL when
 * pkg-config finds it); without it every open fails with a message.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const default_units[] = {"qpsmtpd.service", "uqpsmtpd.service", "sqpsmtpd.service"};
#define NDEFAULT (sizeof default_units / sizeof default_units[0])

/* ---- the spec, copied into one block the log set owns ---- */

static size_t spec_bytes(const qps_journal_spec *s)
{
    size_t n = sizeof *s + (s->nfiles + s->nunits) * sizeof(char *);
    for (size_t i = 0; i < s->nfiles; i++)
        n += strlen(s->files[i]) + 1;
    for (size_t i = 0; i < s->nunits; i++)
        n += strlen(s->units[i]) + 1;
    n += s->dir ? strlen(s->dir) + 1 : 0;
    n += s->after ? strlen(s->after) + 1 : 0;
    return n;
}

static const char *put(char **at, const char *text)
{
    size_t len = strlen(text) + 1;
    memcpy(*at, text, len);
    const char *copy = *at;
    *at += len;
    return copy;
}

qps_journal_spec *qps_journal_spec_copy(const qps_journal_spec *s)
{
    qps_journal_spec *c = malloc(spec_bytes(s));
    if (!c)
        return NULL;
    const char **files = (const char **)(c + 1), **units = files + s->nfiles;
    char *text = (char *)(units + s->nunits);
    for (size_t i = 0; i < s->nfiles; i++)
        files[i] = put(&text, s->files[i]);
    for (size_t i = 0; i < s->nunits; i++)
        units[i] = put(&text, s->units[i]);
    c->files = s->nfiles ? files : NULL;
    c->nfiles = s->nfiles;
    c->units = s->nunits ? units : NULL;
    c->nunits = s->nunits;
    c->dir = s->dir ? put(&text, s->dir) : NULL;
    c->after = s->after ? put(&text, s->after) : NULL;
    return c;
}

void qps_journal_describe(const qps_journal_spec *s, qps_buf *out)
{
    if (s->nfiles) {
        qps_buf_printf(out, "journal file%s ", s->nfiles > 1 ? "s" : "");
        for (size_t i = 0; i < s->nfiles; i++)
            qps_buf_printf(out, "%s%s", i ? ", " : "", s->files[i]);
    } else if (s->dir) {
        qps_buf_printf(out, "journal directory %s", s->dir);
    } else {
        qps_buf_printf(out, "the journal");
    }
}

#ifndef QPS_HAVE_JOURNAL

struct qps_journal {
    int unused;
};

int qps_journal_supported(void)
{
    return 0;
}

static const char no_support[] = "built without journal support (libsystemd-dev was not found when qpstat was built)";

qps_status qps_journal_open(const qps_journal_spec *spec, qps_journal **out, char *err, size_t errlen)
{
    (void)spec;
    *out = NULL;
    snprintf(err, errlen, "%s", no_support);
    errno = ENOSYS;
    return QPS_EREAD;
}

qps_status qps_journal_fill(qps_journal *j, char *buf, size_t cap, size_t *len, char *err, size_t errlen)
{
    (void)j, (void)buf, (void)cap;
    *len = 0;
    snprintf(err, errlen, "%s", no_support);
    return QPS_EREAD;
}

qps_status qps_journal_wait(qps_journal *j, uint64_t usec, char *err, size_t errlen)
{
    (void)j, (void)usec;
    snprintf(err, errlen, "%s", no_support);
    return QPS_EREAD;
}

const char *qps_journal_cursor(const qps_journal *j)
{
    (void)j;
    return NULL;
}

const char *qps_journal_note(qps_journal *j)
{
    (void)j;
    return NULL;
}

int qps_journal_gap(const qps_journal *j)
{
    (void)j;
    return 0;
}

void qps_journal_close(qps_journal *j)
{
    (void)j;
}

qps_status qps_journal_probe(const qps_journal_spec *spec, int *found)
{
    (void)spec;
    *found = 0;
    errno = ENOSYS;
    return QPS_EREAD;
}

#else

#include <systemd/sd-journal.h>

#define MAX_UNITS 64
#define TIE_MAX 32 /* entries of one realtime the position remembers */

/* An entry as its boot and monotonic time name it (cheap to read, unlike
 * a cursor). */
typedef struct {
    sd_id128_t boot;
    uint64_t mono;
} entry_id;

struct qps_journal {
    sd_journal *j;
    qps_journal_spec *spec; /* to open the journal again (check_end) */
    uint64_t opened_tail_usec; /* the time of the journal's last entry when the
                                  reading began (0: none) */
    qps_status failed;      /* an error to return once the chunk before it is used */
    char failure[256];
    char *cursor;         /* of the last entry handed out (sd's malloc) */
    bool pending;         /* the current entry is not handed out yet */
    bool gap;
    size_t nunits;
    char *unit[MAX_UNITS];
    uint64_t seen[MAX_UNITS]; /* entries per unit (notes) */
    bool units_given;
    uint64_t entries;     /* of the units, handed out */
    uint64_t examined;    /* every entry passed */
    bool stale;           /* cursor is not the read pointer's entry yet */
    bool noted;
    bool end_checked;     /* the first end was compared with the journal's tail */
    bool resumed;         /* the reading began after a cursor (last_usec is its time) */
    uint64_t last_usec;   /* realtime of the last entry handed out */
    char note[512];
    /* The entries consumed at realtime tie_usec (the last one's). A resume
     * seeks the last cursor, but sd-journal puts the read pointer of the
     * other files at that realtime: their entries of the same time read
     * before it come again (two units logging in one microsecond), and
     * are skipped by these. */
    uint64_t tie_usec;
    size_t ntie;
    entry_id tie[TIE_MAX];
    char *position;       /* cursor, then the ties (qps_journal_cursor) */
    int64_t stamp_sec;    /* the second stamp[] is formatted for */
    char stamp[32];       /* "YYYY-MM-DDTHH:MM:SS" */
};

int qps_journal_supported(void)
{
    return 1;
}

static qps_status failure(int r, const char *what, char *err, size_t errlen)
{
    if (what)
        snprintf(err, errlen, "%s: %s", what, strerror(r < 0 ? -r : r));
    else
        snprintf(err, errlen, "%s", strerror(r < 0 ? -r : r));
    errno = r < 0 ? -r : r;
    return QPS_EREAD;
}

void qps_journal_close(qps_journal *q)
{
    if (!q)
        return;
    if (q->j)
        sd_journal_close(q->j);
    free(q->cursor);
    free(q->position);
    free(q->spec);
    for (size_t i = 0; i < q->nunits; i++)
        free(q->unit[i]);
    free(q);
}

/* "uqpsmtpd" -> "uqpsmtpd.service" (systemctl's rule for a bare name). */
static char *unit_name(const char *u)
{
    bool bare = strchr(u, '.') == NULL;
    size_t n = strlen(u);
    char *name = malloc(n + (bare ? 8 : 0) + 1);
    if (name) {
        memcpy(name, u, n);
        memcpy(name + n, bare ? ".service" : "", bare ? 9 : 1);
    }
    return name;
}

/* A handle on the journal of spec (files, directory or the system's). */
static int open_handle(const qps_journal_spec *spec, sd_journal **j)
{
    if (spec->nfiles) {
        const char *files[65];
        if (spec->nfiles > 64)
            return -E2BIG;
        for (size_t i = 0; i < spec->nfiles; i++)
            files[i] = spec->files[i];
        files[spec->nfiles] = NULL;
        return sd_journal_open_files(j, files, 0);
    }
    if (spec->dir)
        return sd_journal_open_directory(j, spec->dir, 0);
    return sd_journal_open(j, SD_JOURNAL_LOCAL_ONLY);
}

static qps_status open_journal(const qps_journal_spec *spec, qps_journal *q, char *err, size_t errlen)
{
    int r = open_handle(spec, &q->j);
    if (r < 0) {
        q->j = NULL;
        return failure(r, r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ENODATA
                              ? "not a journal file, or a damaged or truncated one"
                          : r == -E2BIG ? "more than 64 journal files"
                                        : NULL,
                       err, errlen);
    }
    if (!(q->spec = qps_journal_spec_copy(spec))) {
        snprintf(err, errlen, "out of memory");
        return QPS_ENOMEM;
    }
    /* What a writer appends later is no damage (check_end); an entry's own
     * time says when it was written only where journald stamped it, not in
     * a journal systemd-journal-remote fills with old entries. */
    if (sd_journal_seek_tail(q->j) >= 0 && sd_journal_previous(q->j) > 0)
        sd_journal_get_realtime_usec(q->j, &q->opened_tail_usec);
    sd_journal_seek_head(q->j);
    /* A directory without journal files opens fine and is empty: say so
     * instead of reporting nothing. */
    uint64_t bytes = 0;
    if (sd_journal_get_usage(q->j, &bytes) >= 0 && bytes == 0) {
        snprintf(err, errlen, "%s", spec->nfiles ? "no journal data in it (empty, or not a journal file)"
                                    : spec->dir  ? "no journal files in it"
                                                 : "no journal files readable (/var/log/journal, /run/log/journal; "
                                                   "reading the system journal needs root or the systemd-journal group)");
        errno = ENOENT;
        return QPS_EREAD;
    }
    /* a message longer than a line can be is cut a little past the limit:
     * it is still one too_long line, and no more of it is held */
    sd_journal_set_data_threshold(q->j, QPS_LINE_MAX + 64);
    size_t n = spec->units ? spec->nunits : NDEFAULT;
    if (n > MAX_UNITS) {
        snprintf(err, errlen, "more than %d units", MAX_UNITS);
        errno = E2BIG;
        return QPS_EREAD;
    }
    q->units_given = spec->units != NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(q->unit[i] = unit_name(spec->units ? spec->units[i] : default_units[i]))) {
            snprintf(err, errlen, "out of memory");
            return QPS_ENOMEM;
        }
        q->nunits = i + 1;
        if (!*q->unit[i] || strchr(q->unit[i], '=') || strlen(q->unit[i]) > 255) {
            snprintf(err, errlen, "bad unit name '%s'", q->unit[i]);
            errno = EINVAL;
            return QPS_EREAD;
        }
    }
    return QPS_OK;
}

/* Where a resumed read starts: after the entry of the cursor, or at the
 * oldest entry left when that one is gone (a gap). */
/* A field of a cursor ("s=SEQNUM_ID;i=SEQNUM;b=...;t=REALTIME;..."):
 * its text, or an empty slice. */
static qps_str cursor_field(const char *cursor, char name)
{
    for (const char *p = cursor; p && *p; p = strchr(p, ';'), p = p ? p + 1 : NULL)
        if (p[0] == name && p[1] == '=') {
            const char *end = strchr(p, ';');
            return qps_slice(p + 2, end ? (size_t)(end - p - 2) : strlen(p + 2));
        }
    return qps_slice("", 0);
}

static uint64_t cursor_hex(const char *cursor, char name)
{
    qps_str f = cursor_field(cursor, name);
    uint64_t v = 0;
    for (size_t i = 0; i < f.len && i < 16; i++) {
        char c = f.ptr[i];
        v = v * 16 + (uint64_t)(c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0');
    }
    return v;
}

/* Where a resumed read starts: after the entry of the cursor. When that
 * entry is gone, the one the seek lands on is still to be read; in the
 * same journal (the same seqnum id: journald's files of one machine, its
 * rotations included) a seqnum further on than the next one means entries
 * between were removed (vacuumed) before they were read: a gap. Another
 * seqnum id is another journal (a file with later entries). */
static void parse_ties(qps_journal *q, const char *p);
static qps_status seek_cursor_after(qps_journal *q, const char *cursor, char *err, size_t errlen);

static qps_status seek_after(qps_journal *q, const char *position, char *err, size_t errlen)
{
    /* the cursor, and after a newline the ties (qps_journal_cursor) */
    const char *nl = strchr(position, '\n');
    char *cursor = nl ? strndup(position, (size_t)(nl - position)) : strdup(position);
    if (!cursor) {
        snprintf(err, errlen, "out of memory");
        return QPS_ENOMEM;
    }
    qps_status st = seek_cursor_after(q, cursor, err, errlen);
    free(cursor);
    q->tie_usec = q->last_usec;
    if (st == QPS_OK && nl)
        parse_ties(q, nl + 1);
    return st;
}

static qps_status seek_cursor_after(qps_journal *q, const char *cursor, char *err, size_t errlen)
{
    int r = sd_journal_seek_cursor(q->j, cursor);
    if (r < 0)
        return failure(r, "bad cursor", err, errlen);
    if (!(q->cursor = strdup(cursor))) {
        snprintf(err, errlen, "out of memory");
        return QPS_ENOMEM;
    }
    q->resumed = true;
    q->last_usec = cursor_hex(cursor, 't');
    r = sd_journal_next(q->j);
    if (r < 0)
        return failure(r, "reading the journal", err, errlen);
    if (r == 0 || sd_journal_test_cursor(q->j, cursor) > 0)
        return QPS_OK; /* nothing after it yet, or on it: the next entry is the first new one */
    q->pending = true;
    char *here = NULL;
    if (sd_journal_get_cursor(q->j, &here) < 0)
        return QPS_OK;
    qps_str id = cursor_field(cursor, 's'), here_id = cursor_field(here, 's');
    bool same = id.len && id.len == here_id.len && memcmp(id.ptr, here_id.ptr, id.len) == 0;
    uint64_t was = cursor_hex(cursor, 'i'), now = cursor_hex(here, 'i');
    free(here);
    if (same && now > was + 1) {
        q->gap = true;
        snprintf(q->note, sizeof q->note,
                 "%llu entries after the last one imported are no longer in the journal (removed by vacuuming or "
                 "rotation before they were read): what they held is lost",
                 (unsigned long long)(now - was - 1));
    }
    return QPS_OK;
}

qps_status qps_journal_open(const qps_journal_spec *spec, qps_journal **out, char *err, size_t errlen)
{
    *out = NULL;
    qps_journal *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return QPS_ENOMEM;
    }
    q->stamp_sec = INT64_MIN;
    qps_status st = open_journal(spec, q, err, errlen);
    if (st == QPS_OK && spec->after)
        st = seek_after(q, spec->after, err, errlen);
    if (st != QPS_OK) {
        int e = errno;
        qps_journal_close(q);
        errno = e;
        return st;
    }
    *out = q;
    return QPS_OK;
}

/* The fields of an entry the line is made of. */
typedef struct {
    qps_str unit, host, pid, transport, message;
} entry_fields;

static bool take(const void *data, size_t len, const char *name, size_t n, qps_str *out)
{
    if (len <= n || memcmp(data, name, n) != 0)
        return false;
    *out = qps_slice((const char *)data + n, len - n);
    return true;
}
#define TAKE(d, l, name, out) take((d), (l), name "=", sizeof name, (out))

/* One pass over the entry's fields (sd_journal_get_data() per field
 * searches them all each time). The slices stay valid until the read
 * pointer moves. */
static void read_fields(sd_journal *j, entry_fields *f)
{
    const void *data;
    size_t len;
    memset(f, 0, sizeof *f);
    sd_journal_restart_data(j);
    while (sd_journal_enumerate_available_data(j, &data, &len) > 0) {
        switch (((const char *)data)[0]) {
        case '_':
            if (!TAKE(data, len, "_SYSTEMD_UNIT", &f->unit) && !TAKE(data, len, "_HOSTNAME", &f->host) &&
                !TAKE(data, len, "_PID", &f->pid))
                TAKE(data, len, "_TRANSPORT", &f->transport);
            break;
        case 'M': TAKE(data, len, "MESSAGE", &f->message); break;
        default: break;
        }
    }
}

/* A token of the frame (host, unit): no blank, '[' or ':' may break the
 * syslog frame; such bytes (never in real host or unit names) become '_'. */
static void put_token(qps_buf *b, qps_str s)
{
    if (!s.len) {
        qps_buf_putc(b, '-');
        return;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        qps_buf_putc(b, c <= ' ' || c == '[' || c == ']' || c == ':' || c == 0x7f ? '_' : (char)c);
    }
}

/* Which of the units the entry's is (counted for the notes); -1: none. */
static int unit_index(qps_journal *q, qps_str unit)
{
    for (size_t i = 0; i < q->nunits; i++)
        if (strlen(q->unit[i]) == unit.len && memcmp(q->unit[i], unit.ptr, unit.len) == 0)
            return (int)i;
    return -1;
}

/* One entry of the units as lines into b (a message holding newlines gives
 * one framed line for each of its lines, as it would in a text log). */
static void format_entry(qps_journal *q, const entry_fields *f, uint64_t usec, qps_buf *b)
{
    int64_t sec = (int64_t)(usec / 1000000);
    if (sec != q->stamp_sec) {
        qps_civil c;
        if (qps_civil_from_unix(NULL, sec, 1, &c) == QPS_OK)
            snprintf(q->stamp, sizeof q->stamp, "%04d-%02d-%02dT%02d:%02d:%02d", c.year % 10000, c.month % 100,
                     c.day % 100, c.hour % 100, c.minute % 100, c.second % 100);
        else
            snprintf(q->stamp, sizeof q->stamp, "1970-01-01T00:00:00");
        q->stamp_sec = sec;
    }
    qps_str pid = f->pid.len <= 10 ? f->pid : qps_slice("", 0);
    /* qpsmtpd's stderr (journald's "stdout" transport) starts with its
     * pid, or is the continuation of the line before (a deny text with a
     * newline), as in a multilog file; a syslog datagram (logging/syslog)
     * or native entry never has it, whatever digits it starts with
     * ("250 Queued"): _PID, the sender's, is put before it */
    bool own_pid = f->transport.len == 0 || qps_str_eq(f->transport, "stdout");
    const char *p = f->message.ptr, *end = f->message.ptr + f->message.len;
    do {
        const char *nl = qps_find_byte(p, end, '\n');
        qps_str line = qps_slice(p, (size_t)((nl ? nl : end) - p));
        qps_buf_printf(b, "%s.%06uZ ", q->stamp, (unsigned)(usec % 1000000));
        put_token(b, f->host);
        qps_buf_putc(b, ' ');
        put_token(b, f->unit);
        qps_buf_putc(b, '[');
        qps_buf_append(b, pid.ptr, pid.len);
        qps_buf_append(b, "]: ", 3);
        if (pid.len && !own_pid) {
            qps_buf_append(b, pid.ptr, pid.len);
            qps_buf_putc(b, ' ');
        }
        qps_buf_append(b, line.ptr, line.len);
        qps_buf_putc(b, '\n');
        p = nl ? nl + 1 : end;
    } while (p < end);
}

/* "BOOT:MONO," for each tie (32 and 16 hex digits), as make_position
 * writes them; anything else ends the list. */
static void parse_ties(qps_journal *q, const char *p)
{
    q->ntie = 0;
    while (q->ntie < TIE_MAX && strlen(p) >= 32 + 1 + 16 && p[32] == ':') {
        char boot[33], *end;
        memcpy(boot, p, 32);
        boot[32] = '\0';
        entry_id id;
        if (sd_id128_from_string(boot, &id.boot) < 0)
            break;
        id.mono = strtoull(p + 33, &end, 16);
        if (end != p + 33 + 16)
            break;
        q->tie[q->ntie++] = id;
        p = *end == ',' ? end + 1 : end;
    }
}

/* The position qps_journal_cursor gives: the cursor, and when other
 * entries share its realtime, a newline and those consumed. */
static void make_position(qps_journal *q)
{
    free(q->position);
    q->position = NULL;
    if (!q->cursor || q->ntie < 2)
        return;
    qps_buf b = {0};
    qps_buf_printf(&b, "%s\n", q->cursor);
    for (size_t i = 0; i < q->ntie; i++) {
        char boot[SD_ID128_STRING_MAX];
        qps_buf_printf(&b, "%s:%016llx,", sd_id128_to_string(q->tie[i].boot, boot),
                       (unsigned long long)q->tie[i].mono);
    }
    if (!b.failed)
        q->position = strdup(b.data);
    qps_buf_release(&b);
}

/* The entry the read pointer is on was consumed (handed out, or passed). */
static void consumed(qps_journal *q, uint64_t usec)
{
    if (usec != q->tie_usec) {
        q->tie_usec = usec;
        q->ntie = 0;
    }
    entry_id id;
    bool known = false;
    if (q->ntie < TIE_MAX && sd_journal_get_monotonic_usec(q->j, &id.mono, &id.boot) >= 0) {
        for (size_t i = 0; i < q->ntie && !known; i++)
            known = q->tie[i].mono == id.mono && sd_id128_equal(q->tie[i].boot, id.boot);
        if (!known)
            q->tie[q->ntie++] = id;
    }
    q->last_usec = usec;
    q->stale = true;
}

/* Whether the entry the read pointer is on (at realtime usec) was read
 * before the position it was resumed from. */
static bool read_before(qps_journal *q, uint64_t usec)
{
    if (!q->ntie || usec != q->tie_usec)
        return false;
    entry_id id;
    if (sd_journal_get_monotonic_usec(q->j, &id.mono, &id.boot) < 0)
        return false;
    for (size_t i = 0; i < q->ntie; i++)
        if (q->tie[i].mono == id.mono && sd_id128_equal(q->tie[i].boot, id.boot))
            return true;
    return false;
}

/* The cursor of the entry the read pointer is on: the last one consumed
 * (one per chunk: making a cursor costs as much as reading the entry). */
static void sync_cursor(qps_journal *q)
{
    char *c = NULL;
    if (!q->stale)
        return;
    int r = sd_journal_get_cursor(q->j, &c);
    if (r < 0 && q->examined) {
        /* a damaged entry ended the walk and took the read pointer with
         * it: the last entry read is found again by its time */
        uint64_t t = 0;
        if (sd_journal_seek_realtime_usec(q->j, q->last_usec) >= 0 && sd_journal_next(q->j) > 0 &&
            sd_journal_get_realtime_usec(q->j, &t) >= 0 && t == q->last_usec)
            r = sd_journal_get_cursor(q->j, &c);
    }
    if (r >= 0) {
        free(q->cursor);
        q->cursor = c;
        make_position(q);
    }
    q->stale = false;
}

/* sd_journal_next() ends quietly at a damaged entry. The first time the
 * reading ends, the journal's last entry (found from its tail) must be the
 * last one read; if not, the reading resumes after the damage (the first
 * entry later than the last one read), or fails saying so. Returns 1 to
 * read on (the read pointer on an entry not consumed yet), 0 at the true
 * end (the read pointer back on the last entry consumed), -1 after an
 * error in err. */
static int check_end(qps_journal *q, char *err, size_t errlen)
{
    q->end_checked = true;
    sync_cursor(q);
    /* A walk that met a damaged object leaves its handle unusable: the
     * tail is looked up with a fresh one, which goes on reading if the
     * journal has more. */
    sd_journal *fresh = NULL;
    uint64_t tail = 0;
    if (open_handle(q->spec, &fresh) < 0 || sd_journal_seek_tail(fresh) < 0 || sd_journal_previous(fresh) <= 0 ||
        sd_journal_get_realtime_usec(fresh, &tail) < 0 || ((q->examined || q->resumed) && tail <= q->last_usec) ||
        (q->cursor && sd_journal_test_cursor(fresh, q->cursor) > 0)) {
        if (fresh)
            sd_journal_close(fresh);
        return 0; /* the true end */
    }
    sd_journal_set_data_threshold(fresh, QPS_LINE_MAX + 64);
    bool from = q->examined || q->resumed;
    int r = from ? sd_journal_seek_realtime_usec(fresh, q->last_usec + 1) : sd_journal_seek_head(fresh);
    uint64_t t = 0;
    while (r >= 0 && (r = sd_journal_next(fresh)) > 0) {
        t = 0;
        sd_journal_get_realtime_usec(fresh, &t);
        if (!from || t > q->last_usec)
            break;
    }
    if (r <= 0) {
        sd_journal_close(fresh);
        snprintf(err, errlen, "the journal is damaged: the entries after the first %llu cannot be read "
                 "(journalctl --verify)", (unsigned long long)q->examined);
        errno = EBADMSG;
        return -1;
    }
    sd_journal_close(q->j);
    q->j = fresh;
    /* entries appended since the reading began are no sign of damage */
    if (t <= q->opened_tail_usec)
        snprintf(q->note, sizeof q->note, "the journal is damaged: entries %s may be skipped (journalctl --verify)",
                 q->examined ? "after the last one read" : "at its start");
    return 1;
}

qps_status qps_journal_fill(qps_journal *q, char *buf, size_t cap, size_t *len, char *err, size_t errlen)
{
    qps_buf b = {0};
    qps_status st = QPS_OK;
    *len = 0;
    if (q->failed) {
        /* after the entries before it were handed out */
        snprintf(err, errlen, "%s", q->failure);
        errno = EBADMSG;
        return q->failed;
    }
    /* An entry is at most a few lines of QPS_LINE_MAX: stop well before
     * the chunk is full so the entry in hand always fits. */
    while (*len + 4 * (QPS_LINE_MAX + 256) < cap) {
        if (!q->pending) {
            int r = sd_journal_next(q->j);
            if (r == 0 && !q->end_checked) {
                int more = check_end(q, err, errlen);
                if (more < 0) {
                    st = QPS_ECORRUPT;
                    break;
                }
                if (more == 0) {
                    /* back on the last entry read: following goes on from it */
                    if (q->cursor && sd_journal_seek_cursor(q->j, q->cursor) >= 0)
                        sd_journal_next(q->j);
                    break;
                }
                r = 1; /* on the entry after the damage */
            }
            if (r == 0)
                break;
            if (r < 0) {
                /* a damaged file ends here; what came before was handed out */
                st = failure(r, "reading the journal (a damaged or truncated file?)", err, errlen);
                break;
            }
        }
        q->pending = false;
        entry_fields f;
        read_fields(q->j, &f);
        uint64_t usec = 0;
        sd_journal_get_realtime_usec(q->j, &usec);
        int u = unit_index(q, f.unit);
        if (u < 0 || read_before(q, usec)) {
            q->examined++;
            consumed(q, usec);
            continue; /* another unit's entry, or one of the last position's */
        }
        b.len = 0;
        format_entry(q, &f, usec, &b);
        if (b.failed) {
            snprintf(err, errlen, "out of memory");
            st = QPS_ENOMEM;
            break;
        }
        size_t take = b.len;
        if (take > cap - *len) {
            if (*len) {
                q->pending = true; /* the next chunk starts with it */
                break;
            }
            /* thousands of lines in one message: its lines that fit */
            while (take > cap || (take && b.data[take - 1] != '\n'))
                take--;
        }
        memcpy(buf + *len, b.data, take);
        *len += take;
        q->seen[u]++;
        q->entries++;
        q->examined++;
        consumed(q, usec);
    }
    qps_buf_release(&b);
    if (!q->pending)
        sync_cursor(q);
    if (st != QPS_OK && *len) {
        q->failed = st;
        snprintf(q->failure, sizeof q->failure, "%s", err);
        return QPS_OK;
    }
    return st;
}

qps_status qps_journal_wait(qps_journal *q, uint64_t usec, char *err, size_t errlen)
{
    int r = sd_journal_wait(q->j, usec);
    return r < 0 ? failure(r, "waiting on the journal", err, errlen) : QPS_OK;
}

const char *qps_journal_cursor(const qps_journal *q)
{
    return q->position ? q->position : q->cursor;
}

int qps_journal_gap(const qps_journal *q)
{
    return q->gap;
}

const char *qps_journal_note(qps_journal *q)
{
    if (q->note[0] || q->noted)
        return q->note[0] ? q->note : NULL;
    q->noted = true;
    /* A unit named on purpose without entries is worth a word; of the
     * three defaults, only all of them missing is. A resumed reading
     * (import) has seen their entries before. */
    if (q->resumed)
        return NULL;
    qps_buf b = {0};
    size_t missing = 0;
    for (size_t i = 0; i < q->nunits; i++)
        if (!q->seen[i] && (q->units_given || q->entries == 0))
            qps_buf_printf(&b, "%s%s", missing++ ? ", " : "", q->unit[i]);
    if (missing && !b.failed)
        snprintf(q->note, sizeof q->note, "no entries of %s%.*s in the journal", missing > 1 ? "the units " : "unit ",
                 (int)b.len, b.data);
    qps_buf_release(&b);
    return q->note[0] ? q->note : NULL;
}

qps_status qps_journal_probe(const qps_journal_spec *spec, int *found)
{
    char err[256];
    qps_journal *q;
    *found = 0;
    qps_status st = qps_journal_open(spec, &q, err, sizeof err);
    if (st != QPS_OK)
        return st;
    /* the units' entries by their index (the reading itself walks every
     * entry: an index damaged in one place ends it there quietly) */
    int r = 0;
    for (size_t i = 0; r >= 0 && i < q->nunits; i++) {
        char match[300];
        snprintf(match, sizeof match, "_SYSTEMD_UNIT=%s", q->unit[i]);
        r = sd_journal_add_match(q->j, match, 0);
    }
    *found = r >= 0 && sd_journal_next(q->j) > 0;
    qps_journal_close(q);
    return QPS_OK;
}

#endif
