/*
 * cli_conn.c - pieces shared by tail, grep, dnsbl-test and received:
 * growable strings that escape attacker-controlled bytes, a line splitter
 * for streamed chunks, the report's time options, and the joiner that turns
 * qpsmtpd lines into qplogtail's per-connection layout.
 *
 * Why a joiner: qpsmtpd writes one line per event, and only some carry the
 * remote IP ("Accepted connection", logterse records, the <= 0.84
 * connection_time wording). The pid ties the others (0.93+ connection_time)
 * to their connection. The map pid -> connection is bounded: at most
 * MAX_CONNS open connections and MAX_HELD bytes of held output; beyond that
 * the oldest connection is ended early, so no input can exhaust memory.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* uthash reports a failed allocation instead of exiting: every HASH_ADD
 * below has the joiner j in scope and checks j->oom afterwards. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (j->oom = true)
#include <uthash.h>

#define MAX_CONNS 65536
#define MAX_HELD (64u << 20)
#define IP_MAX 64

/* ------------------------------------------------------------------ */
/* growable strings                                                    */
/* ------------------------------------------------------------------ */

static bool sbuf_reserve(cli_sbuf *b, size_t n)
{
    if (b->oom)
        return false;
    if (b->cap - b->len > n)
        return true;
    size_t cap = b->cap ? b->cap : 128;
    while (cap - b->len <= n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->ptr, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->ptr = p;
    b->cap = cap;
    return true;
}

void cli_sbuf_add(cli_sbuf *b, const char *s, size_t n)
{
    if (!sbuf_reserve(b, n))
        return;
    memcpy(b->ptr + b->len, s, n);
    b->len += n;
    b->ptr[b->len] = '\0';
}

void cli_sbuf_add_escaped(cli_sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* worst case: every byte becomes four */
    if (n > SIZE_MAX / 4 || !sbuf_reserve(b, n * 4))
        return;
    char *o = b->ptr + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    b->len = (size_t)(o - b->ptr);
    b->ptr[b->len] = '\0';
}

void cli_sbuf_free(cli_sbuf *b)
{
    free(b->ptr);
    memset(b, 0, sizeof *b);
}

static void sbuf_addz(cli_sbuf *b, const char *s)
{
    cli_sbuf_add(b, s, strlen(s));
}

static void sbuf_add_str(cli_sbuf *b, qps_str s)
{
    cli_sbuf_add_escaped(b, s.ptr, s.len);
}

bool cli_range_keeps(const cli_range *r, bool has_time, int64_t t)
{
    if (!r || (!r->has_since && !r->has_until))
        return true;
    if (!has_time)
        return false;
    return (!r->has_since || t >= r->since) && (!r->has_until || t < r->until);
}

bool cli_file_before(const char *path, int64_t since)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strlen(base) != 27 || base[0] != '@' || base[25] != '.' || (base[26] != 's' && base[26] != 'u'))
        return false;
    int64_t t;
    uint32_t ns;
    if (qps_tai64n_decode(base + 1, &t, &ns) != QPS_OK)
        return false;
    return t < since;
}

/* ------------------------------------------------------------------ */
/* the joiner                                                          */
/* ------------------------------------------------------------------ */

typedef struct conn {
    uint32_t pid;
    bool matched;
    char ip[IP_MAX]; /* escaped; "" until known */
    cli_sbuf held;   /* CLI_JOIN_CONNECTIONS: "STAMP\x01REST\n" per event */
    UT_hash_handle hh;
} conn;

struct cli_join {
    cli_join_opts o;
    qps_parser *parser;
    conn *conns; /* uthash keeps insertion order: the head is the oldest */
    size_t nconns, held;
    uint32_t last_pid;
    /* the parent logs a hosts_allow line with the IP, then a logterse
     * record with empty fields: the record gets the IP from the line */
    uint32_t allow_pid;
    char allow_ip[IP_MAX];
    qps_tzcache tz;
    cli_sbuf stamp, rest, out;
    bool oom;
};

cli_join *cli_join_new(const cli_join_opts *opts)
{
    cli_join *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->o = *opts;
    qps_parser_opts po = {opts->terse_prefix, opts->now};
    j->parser = qps_parser_new(&po);
    if (!j->parser) {
        free(j);
        return NULL;
    }
    return j;
}

static void set_ip(char dst[IP_MAX], qps_str ip)
{
    /* an IP field never needs trimming in a sane log, but spaces would
     * shift the columns of the output */
    while (ip.len && ip.ptr[0] == ' ')
        ip.ptr++, ip.len--;
    while (ip.len && ip.ptr[ip.len - 1] == ' ')
        ip.len--;
    cli_sbuf b = {0};
    cli_sbuf_add_escaped(&b, ip.ptr, ip.len);
    size_t n = b.len < IP_MAX - 1 ? b.len : IP_MAX - 1;
    if (b.ptr)
        memcpy(dst, b.ptr, n);
    dst[n] = '\0';
    cli_sbuf_free(&b);
}

/* Writes "[STAMP\t]PID\tIP\tREST" to the sink. */
static int emit(cli_join *j, const char *stamp, size_t stamp_len, uint32_t pid, const char *ip, const char *rest,
                size_t rest_len)
{
    char num[16];
    cli_sbuf *o = &j->out;
    o->len = 0;
    if (j->o.stamp != CLI_STAMP_NONE) {
        cli_sbuf_add(o, stamp, stamp_len);
        cli_sbuf_add(o, "\t", 1);
    }
    snprintf(num, sizeof num, "%" PRIu32 "\t", pid);
    sbuf_addz(o, num);
    sbuf_addz(o, ip[0] ? ip : "-");
    cli_sbuf_add(o, "\t", 1);
    cli_sbuf_add(o, rest, rest_len);
    if (o->oom) {
        cli_error("out of memory");
        return -1;
    }
    return j->o.emit(j->o.emit_ctx, o->ptr, o->len);
}

static void format_stamp(cli_join *j, const qps_record *r)
{
    cli_sbuf *s = &j->stamp;
    s->len = 0;
    if (j->o.stamp == CLI_STAMP_LOCAL && r->has_time) {
        qps_civil c;
        if (qps_civil_from_unix(&j->tz, r->unix_sec, 0, &c) == QPS_OK) {
            char t[48];
            /* tai64nlocal's layout, so existing habits (cut, sort) carry over */
            snprintf(t, sizeof t, "%04d-%02d-%02d %02d:%02d:%02d.%09" PRIu32, c.year, c.month, c.day, c.hour,
                     c.minute, c.second, r->nsec);
            sbuf_addz(s, t);
            return;
        }
    }
    if (r->stamp.len)
        sbuf_add_str(s, r->stamp);
    else
        cli_sbuf_add(s, "-", 1);
}

/* Ends a connection: in CONNECTIONS mode its held events are written if any
 * of its lines matched. */
static int end_conn(cli_join *j, conn *c)
{
    int rc = 0;
    if (j->o.mode == CLI_JOIN_CONNECTIONS && c->matched && c->held.len) {
        const char *p = c->held.ptr, *end = p + c->held.len;
        while (p < end && rc == 0) {
            const char *sep = memchr(p, '\x01', (size_t)(end - p));
            const char *nl = sep ? memchr(sep, '\n', (size_t)(end - sep)) : NULL;
            if (!nl)
                break;
            rc = emit(j, p, (size_t)(sep - p), c->pid, c->ip, sep + 1, (size_t)(nl - sep - 1));
            p = nl + 1;
        }
    }
    j->held -= c->held.len;
    HASH_DEL(j->conns, c);
    j->nconns--;
    cli_sbuf_free(&c->held);
    free(c);
    return rc;
}

static conn *find_conn(cli_join *j, uint32_t pid)
{
    conn *c;
    HASH_FIND(hh, j->conns, &pid, sizeof pid, c);
    return c;
}

static int new_conn(cli_join *j, uint32_t pid, conn **out)
{
    *out = NULL;
    if (j->nconns >= MAX_CONNS && end_conn(j, j->conns) != 0)
        return -1;
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        cli_error("out of memory");
        return -1;
    }
    c->pid = pid;
    HASH_ADD(hh, j->conns, pid, sizeof c->pid, c);
    if (j->oom) {
        free(c);
        cli_error("out of memory");
        return -1;
    }
    j->nconns++;
    *out = c;
    return 0;
}

static int get_conn(cli_join *j, uint32_t pid, conn **out)
{
    *out = find_conn(j, pid);
    return *out ? 0 : new_conn(j, pid, out);
}

/* One event of a connection: 0, 1 when c was ended (memory budget), -1. */
static int conn_event(cli_join *j, conn *c, const qps_record *r, bool matched)
{
    if (j->rest.oom) {
        cli_error("out of memory");
        return -1;
    }
    switch (j->o.mode) {
    case CLI_JOIN_ALL:
        format_stamp(j, r);
        return emit(j, j->stamp.ptr, j->stamp.len, c->pid, c->ip, j->rest.ptr, j->rest.len);
    case CLI_JOIN_LINES:
        if (!matched)
            return 0;
        format_stamp(j, r);
        return emit(j, j->stamp.ptr, j->stamp.len, c->pid, c->ip, j->rest.ptr, j->rest.len);
    case CLI_JOIN_CONNECTIONS:
        break;
    }
    c->matched |= matched;
    format_stamp(j, r);
    size_t before = c->held.len;
    cli_sbuf_add(&c->held, j->stamp.ptr, j->stamp.len);
    cli_sbuf_add(&c->held, "\x01", 1);
    cli_sbuf_add(&c->held, j->rest.ptr, j->rest.len);
    cli_sbuf_add(&c->held, "\n", 1);
    if (c->held.oom) {
        cli_error("out of memory");
        return -1;
    }
    j->held += c->held.len - before;
    /* over the budget: end the oldest other connections early, then this
     * one (1 tells the caller that c is gone) */
    while (j->held > MAX_HELD && j->conns) {
        conn *victim = j->conns == c ? c->hh.next : j->conns;
        if (!victim) {
            return end_conn(j, c) != 0 ? -1 : 1;
        }
        if (end_conn(j, victim) != 0)
            return -1;
    }
    return 0;
}

/* An event of the parent process: a line of its own. */
static int lone_event(cli_join *j, const qps_record *r, uint32_t pid, const char *ip, bool matched)
{
    if (j->rest.oom) {
        cli_error("out of memory");
        return -1;
    }
    if (j->o.mode != CLI_JOIN_ALL && !matched)
        return 0;
    format_stamp(j, r);
    return emit(j, j->stamp.ptr, j->stamp.len, pid, ip, j->rest.ptr, j->rest.len);
}

static bool is_blank(qps_str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] != ' ')
            return false;
    return true;
}

int cli_join_line(void *ctx, const char *line, size_t len)
{
    cli_join *j = ctx;
    qps_record r;
    qps_kind kind = qps_parser_parse(j->parser, line, len, &r);
    if (kind == QPS_KIND_INVALID || !cli_range_keeps(j->o.range, r.has_time, r.unix_sec))
        return 0;
    uint32_t pid = r.pid;
    if (kind == QPS_KIND_CONTINUATION)
        pid = j->last_pid; /* the rest of the previous line (a CR in a deny text) */
    else if (pid)
        j->last_pid = pid;

    bool matched = true;
    if (j->o.match) {
        /* the pattern sees the line without its time stamp: a hex label
         * would match almost any short pattern */
        const char *text = line;
        size_t tlen = len;
        if (r.stamp.len && r.stamp.ptr >= line && r.stamp.ptr + r.stamp.len <= line + len) {
            text = r.stamp.ptr + r.stamp.len;
            tlen = len - (size_t)(text - line);
            if (tlen && *text == ' ')
                text++, tlen--;
        }
        matched = j->o.match(j->o.match_ctx, text, tlen);
    }

    cli_sbuf *rest = &j->rest;
    rest->len = 0;
    char num[64];
    conn *c;
    switch (kind) {
    case QPS_KIND_ACCEPT:
        if (!pid)
            return 0;
        if ((c = find_conn(j, pid)) && end_conn(j, c) != 0) /* a reused pid */
            return -1;
        if (new_conn(j, pid, &c) != 0)
            return -1;
        set_ip(c->ip, r.remote_ip);
        snprintf(num, sizeof num, "%u/%u", r.running, r.max);
        sbuf_addz(rest, num);
        return conn_event(j, c, &r, matched) < 0 ? -1 : 0;

    case QPS_KIND_CLEANUP:
        if ((c = find_conn(j, r.child_pid)))
            return end_conn(j, c);
        return 0;

    case QPS_KIND_TOO_MANY:
        snprintf(num, sizeof num, "Too many connections: %u >= %u", r.running, r.max);
        sbuf_addz(rest, num);
        return lone_event(j, &r, pid, "", matched);

    case QPS_KIND_HOSTS_ALLOW: {
        char ip[IP_MAX];
        set_ip(ip, r.remote_ip);
        j->allow_pid = pid;
        memcpy(j->allow_ip, ip, IP_MAX);
        sbuf_addz(rest, "hosts_allow\t");
        if (r.max) {
            /* the same text for the old and the new wording */
            snprintf(num, sizeof num, "too many connections: %u > %u", r.running, r.max);
            sbuf_addz(rest, num);
        } else {
            sbuf_add_str(rest, r.message);
        }
        return lone_event(j, &r, pid, ip, matched);
    }

    case QPS_KIND_TERSE: {
        const qps_str *f = r.field;
        sbuf_add_str(rest, f[QPS_TF_DISPOSITION]);
        cli_sbuf_add(rest, "\t", 1);
        sbuf_add_str(rest, f[QPS_TF_SPAM]);
        cli_sbuf_add(rest, "\t", 1);
        sbuf_add_str(rest, f[QPS_TF_SENDER]);
        cli_sbuf_add(rest, "\t", 1);
        sbuf_add_str(rest, f[QPS_TF_RCPTS]);
        cli_sbuf_add(rest, "\t", 1);
        sbuf_add_str(rest, f[QPS_TF_TEXT]);
        if (is_blank(f[QPS_TF_IP]) || !pid) {
            /* the forkserver parent (hosts_allow runs before the fork) */
            const char *ip = "";
            if (pid && pid == j->allow_pid) {
                ip = j->allow_ip;
                j->allow_pid = 0;
            }
            return lone_event(j, &r, pid, ip, matched);
        }
        if (get_conn(j, pid, &c) != 0)
            return -1;
        if (!c->ip[0])
            set_ip(c->ip, f[QPS_TF_IP]);
        return conn_event(j, c, &r, matched) < 0 ? -1 : 0;
    }

    case QPS_KIND_CONN_TIME:
        if (!pid)
            return 0;
        if (get_conn(j, pid, &c) != 0)
            return -1;
        if (!c->ip[0] && r.remote_ip.len)
            set_ip(c->ip, r.remote_ip);
        snprintf(num, sizeof num, "%" PRIu64 ".%03u sec.", r.millis / 1000, (unsigned)(r.millis % 1000));
        sbuf_addz(rest, num);
        switch (conn_event(j, c, &r, matched)) {
        case 0:
            /* post-connection is the last hook of a connection */
            return end_conn(j, c);
        case 1:
            return 0; /* already ended */
        default:
            return -1;
        }

    default:
        /* other lines count for the match of their connection */
        if (j->o.mode != CLI_JOIN_CONNECTIONS || !pid || !matched)
            return 0;
        if ((c = find_conn(j, pid))) {
            c->matched = true;
            return 0;
        }
        if (kind == QPS_KIND_CONTINUATION)
            return 0;
        /* a connection whose start was not seen (tcpserver logs none) */
        if (new_conn(j, pid, &c) != 0)
            return -1;
        c->matched = true;
        return 0;
    }
}

int cli_join_finish(cli_join *j)
{
    int rc = 0;
    while (j->conns)
        if (end_conn(j, j->conns) != 0)
            rc = -1;
    return rc;
}

void cli_join_free(cli_join *j)
{
    if (!j)
        return;
    conn *c, *tmp;
    HASH_ITER(hh, j->conns, c, tmp) {
        HASH_DEL(j->conns, c);
        cli_sbuf_free(&c->held);
        free(c);
    }
    qps_parser_free(j->parser);
    cli_sbuf_free(&j->stamp);
    cli_sbuf_free(&j->rest);
    cli_sbuf_free(&j->out);
    free(j);
}
