/*
 * cli_dnsbl.c - "qpstat dnsbl-test ZONE": the seed's "Display messages that
 * would have been blocked via DNSBL". For every logterse record not denied
 * by dnsbl, the sending IP is looked up in ZONE now, and the transaction is
 * printed with the A and TXT answers when the zone lists it.
 *
 * The seed ran two dig processes per line, one after the other, and kept
 * lines matching "127.0" anywhere (an address or an IP containing it
 * counted as listed). Here lookups go through c-ares: in parallel (a cap on
 * queries in flight), cached per IP, with a timeout and a retry count, IPv6
 * senders in nibble form, and "listed" decided on the A records alone.
 * Output stays in log order: records wait in a queue until their lookup
 * is answered. A server that never answers ends the run with a message
 * and exit status 1 after a bounded time.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* uthash reports a failed allocation: every HASH_ADD has d in scope */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (d->oom = true)
#include <uthash.h>

#define QUEUE_MAX 100000     /* records waiting for their lookup */
#define CACHE_SWEEP 200000   /* finished cache entries kept before a sweep */
#define GIVE_UP_AFTER 3      /* failed lookups with no answer at all so far */
#define REPORT_FAILURES 5    /* failed lookups named on stderr */

static const char usage_text[] =
    "usage: qpstat dnsbl-test ZONE [options] [PATH...]\n"
    "Looks up the sending IP of every logged transaction that dnsbl did not deny in the\n"
    "DNS blocklist ZONE (e.g. zen.spamhaus.org) and prints the transactions it lists now:\n"
    "  DATE TIME  DISPOSITION  IP  SCORE  From: SENDER  To: RCPTS  A: ANSWERS  TXT: TEXT\n"
    "PATH: as for qpstat report (default /var/log/qpsmtpd and /var/log/sqpsmtpd).\n"
    "\n"
    "  --days N          transactions of the last N*24 hours (default 1)\n"
    "  --today, --yesterday, --since TIME, --until TIME   as for qpstat report\n"
    "  --all             print unlisted transactions too (A: empty) and failed lookups\n"
    "  --resolver IP:PORT  DNS server to ask (default: /etc/resolv.conf); [IPv6]:PORT\n"
    "                    (--server, its old name, is refused: it names a mail server in import)\n"
    "  --timeout SECS    per try (default 2)\n"
    "  --tries N         tries per lookup (default 2)\n"
    "  --parallel N      lookups in flight at once (default 32)\n"
    "  --prefix STR      logterse prefix (default `)\n"
    "  -h, --help        this help\n"
    "Listed means an A record in 127.0.0.0/16, as the seed's grep 127\\.0 meant.\n";

typedef enum { LK_A, LK_TXT, LK_DONE } lk_state;

typedef struct lookup {
    char *name;      /* the query name, e.g. 4.3.2.1.zone: the cache key */
    struct dnsbl *d;
    lk_state state;
    bool listed, failed;
    const char *error; /* static, from ares_strerror */
    char *a, *txt;     /* escaped answers */
    size_t refs;       /* queued records using it */
    UT_hash_handle hh;
} lookup;

typedef struct item {
    char *text; /* "DATE TIME\tDISP\tIP\tSCORE\tFrom: ...\tTo: ..." */
    lookup *lk;
    struct item *next;
} item;

typedef struct dnsbl {
    const char *zone;
    bool all;
    int parallel;
    ares_channel channel;
    qps_parser *parser;
    const qps_range *range;
    qps_tzcache tz;
    lookup *cache;
    size_t ncache, inflight;
    item *head, *tail;
    size_t queued;
    uint64_t answered, failed, failures_shown;
    bool giving_up, oom, write_failed;
} dnsbl;

/* ------------------------------------------------------------------ */
/* answers                                                             */
/* ------------------------------------------------------------------ */

static bool is_answer(int status)
{
    /* the server replied, whatever it said */
    return status == ARES_SUCCESS || status == ARES_ENODATA || status == ARES_ENOTFOUND ||
           status == ARES_ESERVFAIL || status == ARES_EREFUSED || status == ARES_EFORMERR ||
           status == ARES_ENOTIMP || status == ARES_EBADRESP;
}

static void lookup_failed(lookup *lk, int status)
{
    dnsbl *d = lk->d;
    lk->failed = true;
    lk->error = ares_strerror(status);
    lk->state = LK_DONE;
    if (status == ARES_ECANCELLED || status == ARES_EDESTRUCTION)
        return;
    d->failed++;
    if (d->failures_shown < REPORT_FAILURES) {
        d->failures_shown++;
        cli_error("lookup of %s failed: %s", lk->name, lk->error);
    }
    if (d->answered == 0 && d->failed >= GIVE_UP_AFTER)
        d->giving_up = true;
}

static char *sbuf_take(qps_buf *b)
{
    if (b->failed) {
        qps_buf_release(b);
        return NULL;
    }
    if (!b->data)
        return strdup("");
    return b->data;
}

static void on_txt(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    lookup *lk = arg;
    dnsbl *d = lk->d;
    d->inflight--;
    if (is_answer(status))
        d->answered++;
    if (status != ARES_SUCCESS && status != ARES_ENODATA && status != ARES_ENOTFOUND) {
        lookup_failed(lk, status);
        return;
    }
    qps_buf b = {0};
    struct ares_txt_ext *txt = NULL;
    if (status == ARES_SUCCESS && ares_parse_txt_reply_ext(abuf, alen, &txt) == ARES_SUCCESS) {
        /* the strings of one record join up; records are separated */
        bool first = true;
        for (struct ares_txt_ext *t = txt; t; t = t->next) {
            if (t->record_start && !first)
                qps_buf_append(&b, " | ", 3);
            first = false;
            qps_escape_text(&b, (const char *)t->txt, t->length);
        }
        ares_free_data(txt);
    }
    lk->txt = sbuf_take(&b);
    if (!lk->txt)
        d->oom = true;
    lk->state = LK_DONE;
}

static void on_a(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    lookup *lk = arg;
    dnsbl *d = lk->d;
    d->inflight--;
    if (is_answer(status))
        d->answered++;
    struct ares_addrttl addrs[32];
    int naddrs = 32;
    if (status == ARES_SUCCESS) {
        int prc = ares_parse_a_reply(abuf, alen, NULL, addrs, &naddrs);
        if (prc == ARES_ENODATA)
            naddrs = 0;
        else if (prc != ARES_SUCCESS)
            status = prc;
    } else if (status == ARES_ENODATA || status == ARES_ENOTFOUND) {
        naddrs = 0; /* not listed */
        status = ARES_SUCCESS;
    }
    if (status != ARES_SUCCESS) {
        lookup_failed(lk, status);
        return;
    }
    qps_buf b = {0};
    for (int i = 0; i < naddrs; i++) {
        char text[INET_ADDRSTRLEN];
        uint32_t v = ntohl(addrs[i].ipaddr.s_addr);
        if ((v >> 16) == 0x7f00)
            lk->listed = true;
        inet_ntop(AF_INET, &addrs[i].ipaddr, text, sizeof text);
        if (i)
            qps_buf_append(&b, ",", 1);
        qps_buf_append(&b, text, strlen(text));
    }
    lk->a = sbuf_take(&b);
    if (!lk->a) {
        d->oom = true;
        lk->state = LK_DONE;
        return;
    }
    if (naddrs == 0) {
        lk->state = LK_DONE;
        return;
    }
    /* the TXT record says why; only asked for when there is a listing */
    lk->state = LK_TXT;
    d->inflight++;
    ares_query(d->channel, lk->name, 1 /* C_IN */, 16 /* T_TXT */, on_txt, lk);
}

/* ------------------------------------------------------------------ */
/* the event loop                                                      */
/* ------------------------------------------------------------------ */

/* Processes c-ares events; waits for one (or a timeout) when block. */
static void pump(dnsbl *d, bool block)
{
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    struct pollfd pfd[ARES_GETSOCK_MAXNUM];
    /* the bits are tested unsigned: ARES_GETSOCK_WRITABLE shifts 1 into
     * the sign bit of an int for the last socket */
    unsigned bits = (unsigned)ares_getsock(d->channel, socks, ARES_GETSOCK_MAXNUM);
    nfds_t n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
        short ev = 0;
        if ((bits >> i) & 1u)
            ev |= POLLIN;
        if ((bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u)
            ev |= POLLOUT;
        if (ev) {
            pfd[n].fd = socks[i];
            pfd[n].events = ev;
            pfd[n].revents = 0;
            n++;
        }
    }
    int wait_ms = 0;
    if (block) {
        struct timeval max = {1, 0}, tv;
        struct timeval *t = ares_timeout(d->channel, &max, &tv);
        wait_ms = (int)(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
    }
    int ready = poll(pfd, n, wait_ms);
    if (ready <= 0) {
        /* a timeout (or EINTR): let c-ares retry or fail expired queries */
        ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        return;
    }
    for (nfds_t i = 0; i < n; i++) {
        short re = pfd[i].revents;
        if (!re)
            continue;
        ares_process_fd(d->channel, re & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD,
                        re & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
    }
}

static void print_item(dnsbl *d, const item *it)
{
    const lookup *lk = it->lk;
    if (d->write_failed || (!d->all && (lk->failed || !lk->listed)))
        return;
    if (lk->failed)
        printf("%s\tA: error: %s\tTXT: \n", it->text, lk->error);
    else
        printf("%s\tA: %s\tTXT: %s\n", it->text, lk->a ? lk->a : "", lk->txt ? lk->txt : "");
    if (ferror(stdout)) {
        cli_error("cannot write the output: %s", strerror(errno));
        d->write_failed = true;
    }
}

/* Drops finished cache entries no queued record uses, when there are many. */
static void cache_sweep(dnsbl *d)
{
    if (d->ncache < CACHE_SWEEP)
        return;
    lookup *lk, *tmp;
    HASH_ITER(hh, d->cache, lk, tmp) {
        if (lk->state == LK_DONE && lk->refs == 0) {
            HASH_DEL(d->cache, lk);
            free(lk->name);
            free(lk->a);
            free(lk->txt);
            free(lk);
            d->ncache--;
        }
    }
}

/* Prints the queued records whose lookups are done, in log order. */
static void release(dnsbl *d)
{
    while (d->head && d->head->lk->state == LK_DONE) {
        item *it = d->head;
        print_item(d, it);
        d->head = it->next;
        if (!d->head)
            d->tail = NULL;
        d->queued--;
        it->lk->refs--;
        free(it->text);
        free(it);
    }
    cache_sweep(d);
}

/* ------------------------------------------------------------------ */
/* records                                                             */
/* ------------------------------------------------------------------ */

/* The DNSBL query name of an IP: reversed octets, or for IPv6 the 32
 * reversed nibbles; an IPv4-mapped IPv6 address is asked as IPv4.
 * Returns false when ip is not an address. */
static bool query_name(const char *ip, const char *zone, char *out, size_t size)
{
    unsigned char a[16];
    int len;
    if (inet_pton(AF_INET, ip, a) == 1) {
        len = snprintf(out, size, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], zone);
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            len = snprintf(out, size, "%u.%u.%u.%u.%s", a[15], a[14], a[13], a[12], zone);
        } else {
            static const char hex[] = "0123456789abcdef";
            char *o = out;
            for (int i = 15; i >= 0; i--) {
                *o++ = hex[a[i] & 15];
                *o++ = '.';
                *o++ = hex[a[i] >> 4];
                *o++ = '.';
            }
            len = (int)(o - out) + snprintf(o, size - (size_t)(o - out), "%s", zone);
        }
    } else {
        return false;
    }
    return len > 0 && (size_t)len < size;
}

/* "a<b>c" without the angle brackets, as the seed's gensub("[<>]", "") */
static void add_unbracketed(qps_buf *b, qps_str s)
{
    size_t start = 0;
    for (size_t i = 0; i <= s.len; i++) {
        if (i == s.len || s.ptr[i] == '<' || s.ptr[i] == '>') {
            qps_escape_text(b, s.ptr + start, i - start);
            start = i + 1;
        }
    }
}

/* The number after score= or hits= in the spam field ("" if none). */
static qps_str spam_score(qps_str spam)
{
    static const char *const keys[] = {"score=", "hits="};
    for (int k = 0; k < 2; k++) {
        size_t kl = strlen(keys[k]);
        const char *p = spam.len >= kl ? memmem(spam.ptr, spam.len, keys[k], kl) : NULL;
        if (p) {
            const char *v = p + kl, *end = spam.ptr + spam.len, *q = v;
            while (q < end && (*q == '-' || *q == '+' || *q == '.' || (*q >= '0' && *q <= '9')))
                q++;
            return (qps_str){v, (size_t)(q - v)};
        }
    }
    return (qps_str){"", 0};
}

static int add_record(dnsbl *d, const qps_record *r)
{
    const qps_str *f = r->field;
    qps_str disp = f[QPS_TF_DISPOSITION];
    if (disp.len == 5 && memcmp(disp.ptr, "dnsbl", 5) == 0)
        return 0; /* denied by a DNSBL already */
    char ip[INET6_ADDRSTRLEN + 8];
    qps_str s = f[QPS_TF_IP];
    while (s.len && *s.ptr == ' ')
        s.ptr++, s.len--;
    while (s.len && s.ptr[s.len - 1] == ' ')
        s.len--;
    if (s.len == 0 || s.len >= sizeof ip)
        return 0; /* the parent's hosts_allow records carry no IP */
    memcpy(ip, s.ptr, s.len);
    ip[s.len] = '\0';
    char name[512];
    if (!query_name(ip, d->zone, name, sizeof name))
        return 0;

    qps_buf b = {0};
    qps_civil c;
    char when[32] = "-";
    if (r->has_time && qps_civil_from_unix(&d->tz, r->unix_sec, 0, &c) == QPS_OK)
        snprintf(when, sizeof when, "%04d-%02d-%02d %02d:%02d:%02d", c.year, c.month, c.day, c.hour, c.minute,
                 c.second);
    qps_buf_append(&b, when, strlen(when));
    qps_buf_append(&b, "\t", 1);
    qps_escape_text(&b, disp.ptr, disp.len);
    qps_buf_append(&b, "\t", 1);
    qps_escape_text(&b, ip, strlen(ip));
    qps_buf_append(&b, "\t", 1);
    qps_str score = spam_score(f[QPS_TF_SPAM]);
    qps_escape_text(&b, score.ptr, score.len);
    qps_buf_append(&b, "\tFrom: ", 7);
    add_unbracketed(&b, f[QPS_TF_SENDER]);
    qps_buf_append(&b, "\tTo: ", 5);
    add_unbracketed(&b, f[QPS_TF_RCPTS]);
    item *it = calloc(1, sizeof *it);
    if (b.failed || !b.data || !it) {
        qps_buf_release(&b);
        free(it);
        cli_error("out of memory");
        return -1;
    }
    it->text = b.data;

    lookup *lk;
    HASH_FIND_STR(d->cache, name, lk);
    if (!lk) {
        /* a new IP: wait for room among the queries in flight */
        while (d->inflight >= (size_t)d->parallel && !d->giving_up) {
            pump(d, true);
            release(d);
        }
        lk = calloc(1, sizeof *lk);
        if (lk)
            lk->name = strdup(name);
        if (!lk || !lk->name) {
            free(lk);
            free(it->text);
            free(it);
            cli_error("out of memory");
            return -1;
        }
        lk->d = d;
        HASH_ADD_KEYPTR(hh, d->cache, lk->name, strlen(lk->name), lk);
        if (d->oom) {
            free(lk->name);
            free(lk);
            free(it->text);
            free(it);
            cli_error("out of memory");
            return -1;
        }
        d->ncache++;
        if (d->giving_up) {
            lk->state = LK_DONE;
            lk->failed = true;
            lk->error = ares_strerror(ARES_ECANCELLED);
        } else {
            lk->state = LK_A;
            d->inflight++;
            ares_query(d->channel, name, 1 /* C_IN */, 1 /* T_A */, on_a, lk);
        }
    }
    lk->refs++;
    it->lk = lk;
    if (d->tail)
        d->tail->next = it;
    else
        d->head = it;
    d->tail = it;
    d->queued++;
    pump(d, false);
    release(d);
    while (d->queued >= QUEUE_MAX && !d->giving_up) {
        pump(d, true);
        release(d);
    }
    return d->oom ? -1 : 0;
}

static int on_line(void *ctx, const char *line, size_t len)
{
    dnsbl *d = ctx;
    qps_record r;
    if (qps_parser_parse(d->parser, line, len, &r) != QPS_KIND_TERSE ||
        !qps_range_keeps(d->range, r.has_time, r.unix_sec))
        return 0;
    if (add_record(d, &r) != 0)
        return -1;
    /* a dead server: stop reading, the rest would fail the same way */
    return d->giving_up || d->write_failed ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* the command                                                         */
/* ------------------------------------------------------------------ */

static bool valid_zone(const char *z)
{
    size_t n = strlen(z);
    if (n == 0 || n > 200 || z[0] == '.' || strstr(z, ".."))
        return false;
    for (const char *p = z; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '.' || *p == '_'))
            return false;
    return true;
}

int cli_dnsbl_test(int argc, char **argv)
{
    enum { OPT_ALL = 256, OPT_SERVER, OPT_RESOLVER, OPT_TIMEOUT, OPT_TRIES, OPT_PARALLEL };
    static const struct option options[] = {
        {"all", no_argument, NULL, OPT_ALL},
        {"resolver", required_argument, NULL, OPT_RESOLVER},
        {"server", required_argument, NULL, OPT_SERVER}, /* the old name, refused */
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"tries", required_argument, NULL, OPT_TRIES},
        {"parallel", required_argument, NULL, OPT_PARALLEL},
        CLI_TIME_OPTIONS, CLI_PREFIX_OPTION, CLI_HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    dnsbl d = {0};
    d.parallel = 32;
    const char *server = NULL, *prefix = NULL;
    long tries = 2, v;
    int timeout_ms = 2000;
    int64_t now = cli_now();
    qps_range range;
    cli_range_init(&range);
    cli_shared shared = {.usage = usage_text, .range = &range, .now = now, .prefix = &prefix};
    int c, rc, exit_status;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "", options, &shared, &exit_status)) != -1) {
        switch (c) {
        case OPT_ALL: d.all = true; break;
        case OPT_RESOLVER: server = optarg; break;
        case OPT_SERVER:
            return cli_usage("--server is now --resolver (the DNS server to ask): --server names a mail server "
                             "in qpstat import");
        case OPT_TIMEOUT: {
            char *end;
            errno = 0;
            double s = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(s >= 0.01 && s <= 600)) {
                return cli_usage("--timeout takes seconds from 0.01 to 600, not '%s'", optarg);
            }
            timeout_ms = (int)lround(s * 1000);
            break;
        }
        case OPT_TRIES:
            if (!cli_number("--tries", optarg, 1, 10, &tries))
                return EXIT_USAGE;
            break;
        case OPT_PARALLEL:
            if (!cli_number("--parallel", optarg, 1, 256, &v))
                return EXIT_USAGE;
            d.parallel = (int)v;
            break;
        default: return cli_usage_hint();
        }
    }
    if (exit_status >= 0)
        return exit_status;
    if (optind >= argc)
        return cli_usage("no ZONE given");
    char zone[256];
    snprintf(zone, sizeof zone, "%s", argv[optind++]);
    size_t zl = strlen(zone);
    if (zl && zone[zl - 1] == '.')
        zone[zl - 1] = '\0';
    if (!valid_zone(zone)) {
        return cli_usage("'%s' is not a DNS zone name", argv[optind - 1]);
    }
    d.zone = zone;
    if (!range.has_since && !range.has_until) {
        /* the seed's default: one day */
        qps_range_days(&range, "1");
        qps_range_finish(&range, now, 0);
    }
    d.range = &range;

    int st = ares_library_init(ARES_LIB_INIT_ALL);
    if (st != ARES_SUCCESS) {
        cli_error("cannot start the resolver: %s", ares_strerror(st));
        return EXIT_RUNTIME;
    }
    struct ares_options ao;
    memset(&ao, 0, sizeof ao);
    ao.timeout = timeout_ms;
    ao.tries = (int)tries;
    st = ares_init_options(&d.channel, &ao, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (st != ARES_SUCCESS) {
        cli_error("cannot start the resolver: %s", ares_strerror(st));
        ares_library_cleanup();
        return EXIT_RUNTIME;
    }
    if (server && (st = ares_set_servers_ports_csv(d.channel, server)) != ARES_SUCCESS) {
        cli_usage("--resolver takes IP:PORT or [IPv6]:PORT, not '%s' (%s)", server, ares_strerror(st));
        ares_destroy(d.channel);
        ares_library_cleanup();
        return EXIT_USAGE;
    }
    qps_parser_opts po = {prefix, now};
    d.parser = qps_parser_new(&po);
    qps_lines *lines = qps_lines_new();
    qps_logset *logs = NULL;
    int errors = 0;
    rc = EXIT_OK;
    if (!d.parser || !lines) {
        cli_error("out of memory");
        rc = EXIT_RUNTIME;
    } else if (!(logs = cli_logs_expand(argv + optind, argc - optind, &errors))) {
        rc = EXIT_RUNTIME;
    } else {
        for (size_t i = 0; i < qps_logset_count(logs) && !d.giving_up && !d.oom && !d.write_failed; i++) {
            const qps_log_entry *e = qps_logset_entry(logs, i);
            if (qps_range_skips_log(&range, e->path))
                continue;
            if (cli_read_lines(e, lines, on_line, &d) != 0 && !d.giving_up)
                errors++;
        }
        /* the answers still outstanding */
        while (d.inflight && !d.giving_up) {
            pump(&d, true);
            release(&d);
        }
        if (d.giving_up) {
            ares_cancel(d.channel); /* the callbacks mark the rest failed */
            cli_error("the DNS server%s%s does not answer (%" PRIu64
                      " lookups failed, none answered); giving up",
                      server ? " " : "", server ? server : "", d.failed);
        }
        release(&d);
        if (d.failed && !d.giving_up)
            cli_error("%" PRIu64 " lookup%s failed (--all prints them)", d.failed,
                      d.failed == 1 ? "" : "s");
        if (fflush(stdout) != 0 && !d.write_failed) {
            cli_error("cannot write the output: %s", strerror(errno));
            d.write_failed = true;
        }
        if (errors || d.failed || d.giving_up || d.oom || d.write_failed)
            rc = EXIT_RUNTIME;
    }
    /* queries still pending (after an error) end here, while their
     * lookups still exist */
    ares_destroy(d.channel);
    ares_library_cleanup();
    while (d.head) {
        item *it = d.head;
        d.head = it->next;
        free(it->text);
        free(it);
    }
    lookup *lk, *tmp;
    HASH_ITER(hh, d.cache, lk, tmp) {
        HASH_DEL(d.cache, lk);
        free(lk->name);
        free(lk->a);
        free(lk->txt);
        free(lk);
    }
    qps_logset_free(logs);
    qps_lines_free(lines);
    qps_parser_free(d.parser);
    return rc;
}
