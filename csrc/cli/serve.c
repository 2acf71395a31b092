/*
 * serve.c - "qpstat serve": the dashboard, its JSON API and Prometheus
 * metrics over HTTP, read from the store (never written).
 *
 * HTTP is libmicrohttpd's; this file only routes. Every page and script is
 * compiled into the binary (assets.h), so no request can reach the file
 * system. Listening beyond loopback needs basic authentication.
 *
 * License: MIT (see LICENSE).
 */
#include "assets.h"
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: qpstat serve [--db FILE] [--listen ADDR:PORT] [--auth FILE] [--threads N]\n"
    "Serves the dashboard (/), the JSON API (/api/report, /api/list) and Prometheus\n"
    "metrics (/metrics) from the store, read-only.\n"
    "\n"
    "  -d, --db FILE      the store (default $QPSTAT_DB or /var/lib/qpstat/qpstat.db)\n"
    "  --listen ADDR:PORT address to listen on (default 127.0.0.1:9180; [::1]:PORT for IPv6)\n"
    "  --auth FILE        require HTTP basic authentication: FILE holds one line user:password;\n"
    "                     needed to listen on any address other than loopback\n"
    "  --threads N        requests served at once (default 4)\n"
    "  --max-labels N     label values per metric before \"other\" (default 50; the first\n"
    "                     that came keep theirs)\n"
    "  --categories FILE  the plugin -> category map (default /etc/qpstat/categories\n"
    "                     when it exists, else the built-in one)\n"
    "  -h, --help         this help\n";

/* Security headers of every response: scripts only from this server, no
 * inline script, no framing, no sniffing. */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                          "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

typedef struct {
    const char *db;
    char user[256], password[256];
    bool auth;
    size_t max_labels;
    const qps_categories *categories; /* for by=category and where=category=... */
} server;

typedef struct {
    qps_buf body;
    unsigned status;
    const char *type;
} reply;

static int buf_sink(void *ctx, const char *bytes, size_t len)
{
    qps_buf_append(ctx, bytes, len);
    return ((qps_buf *)ctx)->failed ? -1 : 0;
}

static void json_error(reply *r, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void json_error(reply *r, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qps_buf_release(&r->body);
    qps_buf_append(&r->body, "{\"error\":\"", 10);
    qps_escape_json(&r->body, msg, strlen(msg));
    qps_buf_printf(&r->body, "\",\"status\":%u}\n", status);
    r->status = status;
    r->type = "application/json";
}

/* ---- /api/report ---- */

typedef struct {
    qps_dim dims[QPS_DIM_COUNT_];
    size_t ndims;
    cli_where where;
    long top, limit;
    bool list;          /* /api/list: limit instead of by and top */
    bool utc;
    qps_range range; /* the core's messages name its parameters: "days takes ..." */
    char bad[300];
} report_query;

/* One query parameter; a problem is kept for a 400 (the first one). */
static enum MHD_Result report_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    report_query *q = cls;
    if (q->bad[0])
        return MHD_YES;
    const char *v = value ? value : "";
    if (strcmp(key, "where") == 0) {
        const char *why = cli_where_add(&q->where, v);
        if (why)
            snprintf(q->bad, sizeof q->bad, "where: %s (not '%.100s')", why, v);
    } else if (q->list && strcmp(key, "limit") == 0) {
        if (!cli_whole_number(v, 0, 100000, &q->limit))
            snprintf(q->bad, sizeof q->bad, "limit takes a whole number from 0 to 100000, not '%.200s'", v);
    } else if (!q->list && strcmp(key, "by") == 0) {
        if (qps_dims_parse(v, q->dims, QPS_DIM_COUNT_, &q->ndims) != QPS_OK)
            snprintf(q->bad, sizeof q->bad, "by: unknown table in '%.200s'", v);
    } else if (!q->list && strcmp(key, "top") == 0) {
        if (!cli_whole_number(v, 0, 1000000000L, &q->top))
            snprintf(q->bad, sizeof q->bad, "top takes a whole number, not '%.200s'", v);
    } else if (strcmp(key, "utc") == 0) {
        q->utc = strcmp(v, "0") != 0;
    } else if (strcmp(key, "today") == 0 || strcmp(key, "yesterday") == 0 || strcmp(key, "days") == 0 ||
               strcmp(key, "since") == 0 || strcmp(key, "until") == 0) {
        qps_status st = key[0] == 't'   ? qps_range_today(&q->range)
                        : key[0] == 'y' ? qps_range_yesterday(&q->range)
                        : key[0] == 'd' ? qps_range_days(&q->range, v)
                        : key[0] == 's' ? qps_range_since(&q->range, v)
                                        : qps_range_until(&q->range, v);
        if (st != QPS_OK)
            snprintf(q->bad, sizeof q->bad, "%s", q->range.error);
    } else {
        snprintf(q->bad, sizeof q->bad, "unknown parameter '%.100s'", key);
    }
    return MHD_YES;
}

/* The query of /api/report or /api/list; false (and a 400) when it is bad. */
static bool parse_query(struct MHD_Connection *c, report_query *q, reply *r)
{
    qps_range_init(&q->range, "");
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, report_arg, q);
    if (!q->bad[0] && qps_range_finish(&q->range, cli_now(), 0) != QPS_OK)
        snprintf(q->bad, sizeof q->bad, "%s", q->range.error);
    for (size_t i = 0; !q->bad[0] && q->where.n && i < q->ndims; i++)
        if (q->dims[i] == QPS_DIM_CONNECTIONS || q->dims[i] == QPS_DIM_CONNECTION_TIME)
            snprintf(q->bad, sizeof q->bad, "where selects transactions: the %s table is not made of them",
                     qps_dim_name(q->dims[i]));
    if (q->bad[0]) {
        json_error(r, MHD_HTTP_BAD_REQUEST, "%s", q->bad);
        return false;
    }
    return true;
}

/* The aggregator options of a query: its filters, range and clock. */
static qps_agg_opts query_agg_opts(const server *s, const report_query *q)
{
    qps_agg_opts opts = {0};
    opts.where = q->where.w;
    opts.nwhere = q->where.n;
    opts.categories = s->categories;
    qps_range_select(&q->range, &opts);
    opts.utc = q->utc;
    return opts;
}

static void api_report(const server *s, struct MHD_Connection *c, reply *r)
{
    report_query q = {.top = -1};
    if (!parse_query(c, &q, r))
        return;
    if (q.ndims == 0)
        qps_dims_default(q.dims, QPS_DIM_COUNT_, &q.ndims, q.where.n > 0, 0);
    qps_agg_opts opts = query_agg_opts(s, &q);
    for (size_t i = 0; i < q.ndims; i++)
        opts.dims |= QPS_DIM_BIT(q.dims[i]);
    qps_agg *agg = qps_agg_new(&opts);
    qps_status st;
    char err[512];
    qps_store *store = agg ? qps_store_open(s->db, QPS_STORE_READONLY, 2000, &st, err, sizeof err) : NULL;
    if (!agg) {
        json_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    } else if (!store) {
        json_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s: %s", s->db, err);
    } else if ((st = qps_store_aggregate(store, agg)) != QPS_OK) {
        json_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", qps_store_error(store));
    } else {
        /* as the CLI: without top, the tables keyed by remote input show 20 rows */
        qps_render_opts ro = {QPS_FORMAT_JSON, q.dims, q.ndims, q.top >= 0 ? (size_t)q.top : 0,
                              q.top >= 0 ? 0 : 20, NULL};
        if (qps_render(agg, &ro, buf_sink, &r->body) != QPS_OK)
            json_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        else {
            r->status = MHD_HTTP_OK;
            r->type = "application/json";
        }
    }
    qps_store_close(store);
    qps_agg_free(agg);
}

/* ---- /api/list ---- */

typedef struct {
    qps_agg *selection;
    qps_list *list;
    bool oom;
} lister;

static int list_record(void *ctx, const qps_record *rec)
{
    lister *l = ctx;
    if (qps_agg_selects(l->selection, rec) && qps_list_add(l->list, rec) != QPS_OK)
        l->oom = true;
    return l->oom;
}

static void api_list(const server *s, struct MHD_Connection *c, reply *r)
{
    report_query q = {.top = -1, .limit = 100, .list = true};
    if (!parse_query(c, &q, r))
        return;
    qps_agg_opts opts = query_agg_opts(s, &q);
    opts.dims = QPS_DIM_BIT(QPS_DIM_SPAM);
    lister l = {qps_agg_new(&opts), qps_list_new((size_t)q.limit), false};
    qps_status st;
    char err[512];
    qps_store *store = l.selection && l.list ? qps_store_open(s->db, QPS_STORE_READONLY, 2000, &st, err, sizeof err)
                                             : NULL;
    if (!l.selection || !l.list) {
        json_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    } else if (!store) {
        json_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s: %s", s->db, err);
    } else if (qps_store_each(store, q.range.has_since ? q.range.since : INT64_MIN,
                              q.range.has_until ? q.range.until : INT64_MAX, list_record, &l) != QPS_OK) {
        json_error(r, l.oom ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_SERVICE_UNAVAILABLE, "%s",
                   l.oom ? "out of memory" : qps_store_error(store));
    } else if (qps_list_render(l.list, QPS_FORMAT_JSON, q.utc, buf_sink, &r->body) != QPS_OK) {
        json_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    } else {
        r->status = MHD_HTTP_OK;
        r->type = "application/json";
    }
    qps_store_close(store);
    qps_list_free(l.list);
    qps_agg_free(l.selection);
}

/* ---- /metrics ---- */

/* When /metrics was last asked for: the peak gauge covers the time since
 * (the scrape interval), within [1 s, 1 h]; a minute at the first scrape. */
static pthread_mutex_t scrape_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_scrape;

static int64_t scrape_window(int64_t now)
{
    pthread_mutex_lock(&scrape_lock);
    int64_t window = last_scrape ? now - last_scrape : 60;
    last_scrape = now;
    pthread_mutex_unlock(&scrape_lock);
    return window < 1 ? 1 : window > 3600 ? 3600 : window;
}

/* The tables /metrics reads. */
#define METRICS_DIMS                                                                                                \
    (QPS_DIM_BIT(QPS_DIM_DISPOSITION) | QPS_DIM_BIT(QPS_DIM_DNSBL) | QPS_DIM_BIT(QPS_DIM_CODE) |                   \
     QPS_DIM_BIT(QPS_DIM_SCORE) | QPS_DIM_BIT(QPS_DIM_SPAM) | QPS_DIM_BIT(QPS_DIM_CONNECTIONS) |                   \
     QPS_DIM_BIT(QPS_DIM_CONNECTION_TIME) | QPS_DIM_BIT(QPS_DIM_CATEGORY))

/* Everything the store holds, into *out (a new aggregator): the store's
 * totals of all time (kept as records are written) and its untimed
 * records, so a store of a year costs what a day does. Returns the
 * store's failure (its message in qps_store_error), or QPS_ENOMEM. */
static qps_status metrics_aggregate(qps_store *store, const qps_categories *cats, qps_agg **out)
{
    qps_agg_opts o = {0};
    o.dims = METRICS_DIMS;
    o.categories = cats;
    if (!(*out = qps_agg_new(&o)))
        return QPS_ENOMEM;
    qps_status st = qps_store_aggregate(store, *out);
    if (st != QPS_OK) {
        qps_agg_free(*out);
        *out = NULL;
    }
    return st;
}

static void metrics(const server *s, struct MHD_Connection *c, reply *r)
{
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    bool om = accept && strstr(accept, "application/openmetrics-text");
    int64_t now = cli_now();
    qps_agg_opts recent = {0};
    /* the peak since the last scrape: a gauge of what is happening now */
    recent.dims = QPS_DIM_BIT(QPS_DIM_CONNECTIONS);
    recent.since = now - scrape_window(now);
    recent.has_since = 1;
    qps_agg *agg = NULL, *recent_agg = qps_agg_new(&recent);
    qps_status st = QPS_OK;
    char err[512];
    qps_store *store = recent_agg ? qps_store_open(s->db, QPS_STORE_READONLY, 2000, &st, err, sizeof err) : NULL;
    int64_t last = 0;
    qps_import_lag lag = {0};
    if (store)
        st = metrics_aggregate(store, s->categories, &agg);
    if (!recent_agg || st == QPS_ENOMEM) {
        json_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    } else if (!store) {
        json_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s: %s", s->db, err);
    } else if (st != QPS_OK || qps_store_aggregate(store, recent_agg) != QPS_OK ||
               qps_store_last_record(store, &last) != QPS_OK || qps_store_import_lag(store, &lag) != QPS_OK) {
        json_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", qps_store_error(store));
    } else {
        qps_conn_stats cs;
        qps_agg_conn_stats(recent_agg, &cs);
        qps_metrics_opts mo = {s->max_labels, om, 1, cs.peak, last != 0, last};
        mo.has_lines_invalid = 1;
        mo.lines_invalid = lag.lines_invalid;
        mo.has_import_lag = 1;
        mo.import_lag_seconds = lag.oldest && now > lag.oldest ? now - lag.oldest : 0;
        mo.import_behind_bytes = lag.behind_bytes;
        if (qps_render_metrics(agg, &mo, buf_sink, &r->body) != QPS_OK) {
            json_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        } else {
            r->status = MHD_HTTP_OK;
            r->type = om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                         : "text/plain; version=0.0.4; charset=utf-8";
        }
    }
    qps_store_close(store);
    qps_agg_free(agg);
    qps_agg_free(recent_agg);
}

/* ---- requests ---- */

static bool authorised(const server *s, struct MHD_Connection *c)
{
    if (!s->auth)
        return true;
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(c, &pass);
    bool ok = user && pass && strcmp(user, s->user) == 0 && strcmp(pass, s->password) == 0;
    MHD_free(user);
    MHD_free(pass);
    return ok;
}

/* The query, as it was decoded: one parameter after the other. */
static enum MHD_Result log_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    qps_buf *line = cls;
    qps_buf_putc(line, line->len && memchr(line->data, '?', line->len) ? '&' : '?');
    qps_escape_text(line, key, strlen(key));
    if (value) {
        qps_buf_putc(line, '=');
        qps_escape_text(line, value, strlen(value));
    }
    return MHD_YES;
}

/* One line per request on stderr, in the common log format; the request
 * line comes from the client and is escaped as terminal text. */
static void access_log(struct MHD_Connection *c, const char *method, const char *url, const char *version,
                       unsigned status, size_t bytes)
{
    char host[INET6_ADDRSTRLEN] = "-";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof host);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof host);
    }
    char when[64];
    time_t t = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", localtime_r(&t, &tm));
    qps_buf line = {0};
    qps_buf_printf(&line, "%s - - [%s] \"", host, when);
    qps_escape_text(&line, method, strlen(method));
    qps_buf_putc(&line, ' ');
    qps_escape_text(&line, url, strlen(url));
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, log_arg, &line);
    qps_buf_putc(&line, ' ');
    qps_escape_text(&line, version, strlen(version));
    qps_buf_printf(&line, "\" %u %zu\n", status, bytes);
    if (!line.failed)
        fwrite(line.data, 1, line.len, stderr);
    qps_buf_release(&line);
}

static enum MHD_Result respond(struct MHD_Connection *c, const char *method, const char *url, const char *version,
                               unsigned status, const char *type, const void *data, size_t len,
                               enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, mode);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ok;
    if (status == MHD_HTTP_UNAUTHORIZED)
        ok = MHD_queue_basic_auth_fail_response(c, "qpstat", resp);
    else
        ok = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    access_log(c, method, url, version, status, len);
    return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)upload;
    const server *s = cls;
    static int seen;
    if (!*state) {
        *state = &seen; /* the headers: answer once the request is complete */
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* a body is read and ignored: no route takes one */
        return MHD_YES;
    }
    reply r = {{0}, 0, NULL};
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        json_error(&r, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD are served");
    } else if (!authorised(s, c)) {
        json_error(&r, MHD_HTTP_UNAUTHORIZED, "authentication required");
    } else if (strcmp(url, "/api/report") == 0) {
        api_report(s, c, &r);
    } else if (strcmp(url, "/api/list") == 0) {
        api_list(s, c, &r);
    } else if (strcmp(url, "/metrics") == 0) {
        metrics(s, c, &r);
    } else {
        const cli_asset *a = cli_asset_find(strcmp(url, "/") == 0 ? "/index.html" : url);
        if (a)
            return respond(c, method, url, version, MHD_HTTP_OK, a->content_type, a->data, a->len,
                           MHD_RESPMEM_PERSISTENT);
        json_error(&r, MHD_HTTP_NOT_FOUND, "no such page");
    }
    if (r.body.failed) {
        qps_buf_release(&r.body);
        return MHD_NO;
    }
    /* the buffer goes to libmicrohttpd, which frees it */
    size_t len = r.body.len;
    char *data = r.body.data ? r.body.data : calloc(1, 1);
    return respond(c, method, url, version, r.status, r.type, data, len, MHD_RESPMEM_MUST_FREE);
}

/* ---- set-up ---- */

static bool parse_listen(const char *text, struct sockaddr_storage *ss, bool *loopback)
{
    char host[256];
    const char *colon = strrchr(text, ':');
    long port;
    if (!colon || (size_t)(colon - text) >= sizeof host || !cli_whole_number(colon + 1, 0, 65535, &port))
        return false;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    memset(ss, 0, sizeof *ss);
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return false;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
        return true;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return false;
    *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    return true;
}

static bool read_auth(const char *path, server *s)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("cannot read %s: %s", path, strerror(errno));
        return false;
    }
    char line[600];
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[ok ? strcspn(line, "\r\n") : 0] = '\0';
    char *colon = strchr(line, ':');
    if (!ok || !colon || colon == line || !colon[1] || (size_t)(colon - line) >= sizeof s->user ||
        strlen(colon + 1) >= sizeof s->password) {
        cli_error("%s must hold one line user:password", path);
        return false;
    }
    *colon = '\0';
    strcpy(s->user, line);
    strcpy(s->password, colon + 1);
    s->auth = true;
    return true;
}

int cli_serve(int argc, char **argv)
{
    enum { OPT_LISTEN = 300, OPT_AUTH, OPT_THREADS, OPT_LABELS };
    static const struct option options[] = {
        {"listen", required_argument, NULL, OPT_LISTEN}, {"auth", required_argument, NULL, OPT_AUTH},
        {"threads", required_argument, NULL, OPT_THREADS}, {"max-labels", required_argument, NULL, OPT_LABELS},
        CLI_STORE_OPTION, CLI_CATEGORIES_OPTION, CLI_HELP_OPTION,
        {NULL, 0, NULL, 0},
    };
    server s = {cli_default_db(), "", "", false, 0, NULL};
    const char *listen = "127.0.0.1:9180", *auth = NULL, *categories = NULL;
    long threads = 4, labels = 50;
    cli_shared shared = {.usage = usage_text, .db = &s.db, .categories = &categories};
    int c, exit_status;
    optind = 1;
    while ((c = cli_getopt(argc, argv, "", options, &shared, &exit_status)) != -1) {
        switch (c) {
        case OPT_LISTEN: listen = optarg; break;
        case OPT_AUTH: auth = optarg; break;
        case OPT_THREADS:
            if (!cli_number("--threads", optarg, 1, 64, &threads))
                return EXIT_USAGE;
            break;
        case OPT_LABELS:
            if (!cli_number("--max-labels", optarg, 1, 100000, &labels))
                return EXIT_USAGE;
            break;
        default: return cli_usage_hint();
        }
    }
    if (exit_status >= 0)
        return exit_status;
    if (optind < argc)
        return cli_usage("reads the store (--db), not log files: drop '%s'", argv[optind]);
    s.max_labels = (size_t)labels;
    struct sockaddr_storage addr;
    bool loopback = false;
    if (!parse_listen(listen, &addr, &loopback))
        return cli_usage("--listen takes ADDR:PORT (127.0.0.1:9180, [::1]:9180), not '%s'", listen);
    if (auth && !read_auth(auth, &s))
        return EXIT_USAGE;
    if (!loopback && !s.auth)
        return cli_usage("%s is not a loopback address: give --auth FILE (user:password) to serve it", listen);
    qps_categories *map = cli_categories(categories);
    if (!map)
        return EXIT_RUNTIME;
    s.categories = map;
    /* SIGTERM and SIGINT are waited for below, in this thread only */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, &s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)64,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
    if (!d) {
        cli_error("cannot listen on %s: %s", listen, strerror(errno));
        qps_categories_free(map);
        return EXIT_RUNTIME;
    }
    fprintf(stderr, "qpstat serve: listening on http://%s/ (store %s)\n", listen, s.db);
    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    MHD_stop_daemon(d);
    qps_categories_free(map);
    fprintf(stderr, "qpstat serve: stopped (signal %d)\n", sig);
    return EXIT_OK;
}
