/*
 * conn.c - the connection joiner (qps_join in qpstat.h): turns qpsmtpd
 * lines into qplogtail's per-connection layout for tail and grep.
 *
 * Why a joiner: qpsmtpd writes one line per event, and only some carry the
 * remote IP ("Accepted connection", logterse records, the <= 0.84
 * connection_time wording). The pid ties the others (0.93+ connection_time)
 * to their connection.
 *
 * Why a budget: a log can hold connections that never end (a crash, a cut
 * log, an attacker opening thousands), and in CONNECTIONS mode each one
 * holds its output until it ends. The map pid -> connection is bounded by
 * a number of connections and by a number of bytes that counts what the
 * connections really occupy (each record, its hash handle and its held
 * output's allocated capacity, not only the bytes used): over either, the
 * oldest connection is ended early (its output written if it matched), so
 * no input can push the memory past the budget.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* uthash reports a failed allocation instead of exiting: every HASH_ADD
 * below has the joiner j in scope and checks j->oom afterwards. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (j->oom = true)
#include <uthash.h>

#define DEFAULT_MAX_CONNS 65536
#define DEFAULT_MAX_MEMORY (40u << 20)
#define IP_MAX 64
/* what malloc adds to each block (glibc: a size word, 16-byte rounding) */
#define MALLOC_OVERHEAD 16

typedef struct conn {
    uint32_t pid;
    bool matched;
    char ip[IP_MAX]; /* escaped; "" until known */
    qps_buf held;    /* QPS_JOIN_CONNECTIONS: "STAMP\x01REST\n" per event */
    UT_hash_handle hh;
} conn;

/* The memory one connection takes. */
static size_t conn_cost(const conn *c)
{
    return sizeof *c + MALLOC_OVERHEAD + (c->held.cap ? c->held.cap + MALLOC_OVERHEAD : 0);
}

struct qps_join {
    qps_join_opts o;
    qps_parser *parser;
    conn *conns; /* uthash keeps insertion order: the head is the oldest */
    size_t nconns, memory;
    uint32_t last_pid;
    /* the parent logs a hosts_allow line with the IP, then a logterse
     * record with empty fields: the record gets the IP from the line */
    uint32_t allow_pid;
    char allow_ip[IP_MAX];
    qps_tzcache tz;
    qps_buf stamp, rest, out;
    bool oom;       /* uthash could not grow */
    bool emit_failed;
    uint64_t ended_early;
};

qps_join *qps_join_new(const qps_join_opts *opts)
{
    if (!opts || !opts->emit)
        return NULL;
    qps_join *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->o = *opts;
    if (!j->o.max_conns)
        j->o.max_conns = DEFAULT_MAX_CONNS;
    if (!j->o.max_memory)
        j->o.max_memory = DEFAULT_MAX_MEMORY;
    qps_parser_opts po = {opts->terse_prefix, opts->now};
    j->parser = qps_parser_new(&po);
    if (!j->parser) {
        free(j);
        return NULL;
    }
    return j;
}

uint64_t qps_join_ended_early(const qps_join *j)
{
    return j->ended_early;
}

static void set_ip(char dst[IP_MAX], qps_str ip)
{
    /* an IP field never needs trimming in a sane log, but spaces would
     * shift the columns of the output */
    while (ip.len && ip.ptr[0] == ' ')
        ip.ptr++, ip.len--;
    while (ip.len && ip.ptr[ip.len - 1] == ' ')
        ip.len--;
    qps_buf b = {0};
    qps_escape_text_cut(&b, ip.ptr, ip.len, IP_MAX - 1);
    size_t n = b.len < IP_MAX - 1 ? b.len : IP_MAX - 1;
    if (b.data)
        memcpy(dst, b.data, n);
    dst[n] = '\0';
    qps_buf_release(&b);
}

/* Writes "[STAMP\t]PID\tIP\tREST" to the sink. */
static qps_status emit(qps_join *j, const char *stamp, size_t stamp_len, uint32_t pid, const char *ip,
                       const char *rest, size_t rest_len)
{
    qps_buf *o = &j->out;
    o->len = 0;
    if (j->o.stamp != QPS_STAMP_NONE) {
        qps_buf_append(o, stamp, stamp_len);
        qps_buf_putc(o, '\t');
    }
    qps_buf_printf(o, "%" PRIu32 "\t%s\t", pid, ip[0] ? ip : "-");
    qps_buf_append(o, rest, rest_len);
    if (o->failed)
        return QPS_ENOMEM;
    if (j->o.emit(j->o.emit_ctx, o->data, o->len) != 0) {
        j->emit_failed = true;
        return QPS_EIO;
    }
    return QPS_OK;
}

static void format_stamp(qps_join *j, const qps_record *r)
{
    qps_buf *s = &j->stamp;
    s->len = 0;
    if (j->o.stamp == QPS_STAMP_LOCAL && r->has_time) {
        qps_civil c;
        if (qps_civil_from_unix(&j->tz, r->unix_sec, 0, &c) == QPS_OK) {
            /* tai64nlocal's layout, so existing habits (cut, sort) carry over */
            qps_buf_printf(s, "%04d-%02d-%02d %02d:%02d:%02d.%09" PRIu32, c.year, c.month, c.day, c.hour, c.minute,
                           c.second, r->nsec);
            return;
        }
    }
    if (r->stamp.len)
        qps_escape_text(s, r->stamp.ptr, r->stamp.len);
    else
        qps_buf_putc(s, '-');
}

/* Ends a connection: in CONNECTIONS mode its held events are written if any
 * of its lines matched. */
static qps_status end_conn(qps_join *j, conn *c)
{
    qps_status st = QPS_OK;
    if (j->o.mode == QPS_JOIN_CONNECTIONS && c->matched && c->held.len) {
        const char *p = c->held.data, *end = p + c->held.len;
        while (p < end && st == QPS_OK) {
            const char *sep = memchr(p, '\x01', (size_t)(end - p));
            const char *nl = sep ? memchr(sep, '\n', (size_t)(end - sep)) : NULL;
            if (!nl)
                break;
            st = emit(j, p, (size_t)(sep - p), c->pid, c->ip, sep + 1, (size_t)(nl - sep - 1));
            p = nl + 1;
        }
    }
    j->memory -= conn_cost(c);
    HASH_DEL(j->conns, c);
    j->nconns--;
    qps_buf_release(&c->held);
    free(c);
    return st;
}

/* Ends the oldest connection other than keep (NULL: any) early, for the
 * budget. *gone is set when keep itself had to go. */
static qps_status end_oldest(qps_join *j, conn *keep, bool *gone)
{
    conn *victim = j->conns == keep ? keep->hh.next : j->conns;
    if (!victim) {
        victim = keep;
        *gone = true;
    }
    j->ended_early++;
    return end_conn(j, victim);
}

static conn *find_conn(qps_join *j, uint32_t pid)
{
    conn *c;
    HASH_FIND(hh, j->conns, &pid, sizeof pid, c);
    return c;
}

static qps_status new_conn(qps_join *j, uint32_t pid, conn **out)
{
    *out = NULL;
    bool gone = false;
    while (j->conns && (j->nconns >= j->o.max_conns || j->memory + sizeof(conn) > j->o.max_memory)) {
        qps_status st = end_oldest(j, NULL, &gone);
        if (st != QPS_OK)
            return st;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return QPS_ENOMEM;
    c->pid = pid;
    HASH_ADD(hh, j->conns, pid, sizeof c->pid, c);
    if (j->oom) {
        free(c);
        return QPS_ENOMEM;
    }
    j->nconns++;
    j->memory += conn_cost(c);
    *out = c;
    return QPS_OK;
}

static qps_status get_conn(qps_join *j, uint32_t pid, conn **out)
{
    *out = find_conn(j, pid);
    return *out ? QPS_OK : new_conn(j, pid, out);
}

/* One event of a connection. *gone is set when c was ended (budget). */
static qps_status conn_event(qps_join *j, conn *c, const qps_record *r, bool matched, bool *gone)
{
    *gone = false;
    if (j->rest.failed)
        return QPS_ENOMEM;
    switch (j->o.mode) {
    case QPS_JOIN_ALL:
        format_stamp(j, r);
        return emit(j, j->stamp.data, j->stamp.len, c->pid, c->ip, j->rest.data, j->rest.len);
    case QPS_JOIN_LINES:
        if (!matched)
            return QPS_OK;
        format_stamp(j, r);
        return emit(j, j->stamp.data, j->stamp.len, c->pid, c->ip, j->rest.data, j->rest.len);
    case QPS_JOIN_CONNECTIONS:
        break;
    }
    c->matched |= matched;
    format_stamp(j, r);
    size_t before = conn_cost(c);
    qps_buf_append(&c->held, j->stamp.data, j->stamp.len);
    qps_buf_putc(&c->held, '\x01');
    qps_buf_append(&c->held, j->rest.data, j->rest.len);
    qps_buf_putc(&c->held, '\n');
    if (c->held.failed || j->stamp.failed)
        return QPS_ENOMEM;
    j->memory += conn_cost(c) - before;
    /* over the budget: end the oldest other connections early, then this
     * one */
    while (j->memory > j->o.max_memory && j->conns && !*gone) {
        qps_status st = end_oldest(j, c, gone);
        if (st != QPS_OK)
            return st;
    }
    return QPS_OK;
}

/* An event of the parent process: a line of its own. */
static qps_status lone_event(qps_join *j, const qps_record *r, uint32_t pid, const char *ip, bool matched)
{
    if (j->rest.failed)
        return QPS_ENOMEM;
    if (j->o.mode != QPS_JOIN_ALL && !matched)
        return QPS_OK;
    format_stamp(j, r);
    return emit(j, j->stamp.data, j->stamp.len, pid, ip, j->rest.data, j->rest.len);
}

static bool is_blank(qps_str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] != ' ')
            return false;
    return true;
}

static bool in_range(const qps_join *j, const qps_record *r)
{
    if (!j->o.has_since && !j->o.has_until)
        return true;
    if (!r->has_time)
        return false;
    return (!j->o.has_since || r->unix_sec >= j->o.since) && (!j->o.has_until || r->unix_sec < j->o.until);
}

static void add_field(qps_buf *b, qps_str s, bool tab)
{
    qps_escape_text(b, s.ptr, s.len);
    if (tab)
        qps_buf_putc(b, '\t');
}

qps_status qps_join_line(qps_join *j, const char *line, size_t len)
{
    if (j->emit_failed)
        return QPS_EIO;
    qps_record r;
    qps_kind kind = qps_parser_parse(j->parser, line, len, &r);
    if (kind == QPS_KIND_INVALID || !in_range(j, &r))
        return QPS_OK;
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
        matched = j->o.match(j->o.match_ctx, text, tlen) != 0;
    }

    qps_buf *rest = &j->rest;
    rest->len = 0;
    conn *c;
    qps_status st;
    bool gone;
    switch (kind) {
    case QPS_KIND_ACCEPT:
        if (!pid)
            return QPS_OK;
        if ((c = find_conn(j, pid)) && (st = end_conn(j, c)) != QPS_OK) /* a reused pid */
            return st;
        if ((st = new_conn(j, pid, &c)) != QPS_OK)
            return st;
        set_ip(c->ip, r.remote_ip);
        qps_buf_printf(rest, "%u/%u", r.running, r.max);
        return conn_event(j, c, &r, matched, &gone);

    case QPS_KIND_CLEANUP:
        if ((c = find_conn(j, r.child_pid)))
            return end_conn(j, c);
        return QPS_OK;

    case QPS_KIND_TOO_MANY:
        qps_buf_printf(rest, "Too many connections: %u >= %u", r.running, r.max);
        return lone_event(j, &r, pid, "", matched);

    case QPS_KIND_HOSTS_ALLOW: {
        char ip[IP_MAX];
        set_ip(ip, r.remote_ip);
        j->allow_pid = pid;
        memcpy(j->allow_ip, ip, IP_MAX);
        qps_buf_append(rest, "hosts_allow\t", 12);
        if (r.max) /* the same text for the old and the new wording */
            qps_buf_printf(rest, "too many connections: %u > %u", r.running, r.max);
        else
            add_field(rest, r.message, false);
        return lone_event(j, &r, pid, ip, matched);
    }

    case QPS_KIND_TERSE: {
        const qps_str *f = r.field;
        add_field(rest, f[QPS_TF_DISPOSITION], true);
        add_field(rest, f[QPS_TF_SPAM], true);
        add_field(rest, f[QPS_TF_SENDER], true);
        add_field(rest, f[QPS_TF_RCPTS], true);
        add_field(rest, f[QPS_TF_TEXT], false); /* its TABs as \x09: the columns stay */
        if (is_blank(f[QPS_TF_IP]) || !pid) {
            /* the forkserver parent (hosts_allow runs before the fork) */
            const char *ip = "";
            if (pid && pid == j->allow_pid) {
                ip = j->allow_ip;
                j->allow_pid = 0;
            }
            return lone_event(j, &r, pid, ip, matched);
        }
        if ((st = get_conn(j, pid, &c)) != QPS_OK)
            return st;
        if (!c->ip[0])
            set_ip(c->ip, f[QPS_TF_IP]);
        return conn_event(j, c, &r, matched, &gone);
    }

    case QPS_KIND_CONN_TIME:
        if (!pid)
            return QPS_OK;
        if ((st = get_conn(j, pid, &c)) != QPS_OK)
            return st;
        if (!c->ip[0] && r.remote_ip.len)
            set_ip(c->ip, r.remote_ip);
        qps_buf_printf(rest, "%" PRIu64 ".%03u sec.", r.millis / 1000, (unsigned)(r.millis % 1000));
        if ((st = conn_event(j, c, &r, matched, &gone)) != QPS_OK || gone)
            return st;
        /* post-connection is the last hook of a connection */
        return end_conn(j, c);

    default:
        /* other lines count for the match of their connection */
        if (j->o.mode != QPS_JOIN_CONNECTIONS || !pid || !matched)
            return QPS_OK;
        if ((c = find_conn(j, pid))) {
            c->matched = true;
            return QPS_OK;
        }
        if (kind == QPS_KIND_CONTINUATION)
            return QPS_OK;
        /* a connection whose start was not seen (tcpserver logs none) */
        if ((st = new_conn(j, pid, &c)) != QPS_OK)
            return st;
        c->matched = true;
        return QPS_OK;
    }
}

qps_status qps_join_finish(qps_join *j)
{
    qps_status st = QPS_OK;
    while (j->conns) {
        qps_status s = end_conn(j, j->conns);
        if (st == QPS_OK)
            st = s;
    }
    return st;
}

void qps_join_free(qps_join *j)
{
    if (!j)
        return;
    conn *c, *tmp;
    HASH_ITER(hh, j->conns, c, tmp) {
        HASH_DEL(j->conns, c);
        qps_buf_release(&c->held);
        free(c);
    }
    qps_parser_free(j->parser);
    qps_buf_release(&j->stamp);
    qps_buf_release(&j->rest);
    qps_buf_release(&j->out);
    free(j);
}
