/*
 * html.c - "qpstat report --format html": the dashboard as one file.
 *
 * The page is the dashboard's own (web/index.html, dashboard.css,
 * dashboard.js and Chart.js, embedded in the binary for `qpstat serve`),
 * with the stylesheet and both scripts inlined and the report's JSON, from
 * the core's renderer, in a <script type="application/json"> element the
 * script draws from instead of asking /api/report. So the file opens from
 * disk with no network, and it shows what the dashboard shows.
 *
 * License: MIT (see LICENSE).
 */
#include "cli.h"

#include "assets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The dashboard's tables, as web/dashboard.js asks /api/report for them. */
static const qps_dim page_dims[] = {
    QPS_DIM_DISPOSITION, QPS_DIM_DNSBL, QPS_DIM_DISPOSITION_TLD, QPS_DIM_HOUR,   QPS_DIM_DAY,
    QPS_DIM_SCORE,       QPS_DIM_SPAM,  QPS_DIM_IP,              QPS_DIM_HELO,   QPS_DIM_SENDER,
    QPS_DIM_RECIPIENT,   QPS_DIM_CONNECTIONS, QPS_DIM_CONNECTION_TIME, QPS_DIM_HOUR_DISPOSITION,
    QPS_DIM_DAY_DISPOSITION,
};

unsigned cli_html_dims(bool where)
{
    unsigned bits = 0;
    for (size_t i = 0; i < sizeof page_dims / sizeof page_dims[0]; i++)
        if (!where || (page_dims[i] != QPS_DIM_CONNECTIONS && page_dims[i] != QPS_DIM_CONNECTION_TIME))
            bits |= QPS_DIM_BIT(page_dims[i]);
    return bits;
}

static int buf_sink(void *ctx, const char *bytes, size_t len)
{
    qps_buf_append(ctx, bytes, len);
    return 0;
}

static bool holds_ci(const unsigned char *data, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp((const char *)data + i, needle, n) == 0)
            return true;
    return false;
}

/* An asset to inline, checked to hold nothing that would end its element. */
static const cli_asset *inline_asset(const char *path, const char *closing)
{
    const cli_asset *a = cli_asset_find(path);
    if (!a) {
        cli_error("the page's %s is not built into this binary", path);
        return NULL;
    }
    if (holds_ci(a->data, a->len, closing)) {
        cli_error("%s holds '%s': it cannot be inlined", path, closing);
        return NULL;
    }
    return a;
}

typedef struct {
    const char *marker;
    qps_buf with;
} replacement;

int cli_report_html(const qps_agg *agg, const qps_render_opts *ro, const char *label, bool hours, bool where)
{
    const cli_asset *page = cli_asset_find("/index.html");
    const cli_asset *css = inline_asset("/static/dashboard.css", "</style");
    const cli_asset *chart = inline_asset("/static/chart.js", "</script");
    const cli_asset *js = inline_asset("/static/dashboard.js", "</script");
    if (!page || !css || !chart || !js) {
        if (!page)
            cli_error("the dashboard page is not built into this binary");
        return -1;
    }
    qps_dim dims[QPS_DIM_COUNT_];
    size_t ndims = 0;
    for (size_t i = 0; i < sizeof page_dims / sizeof page_dims[0]; i++)
        if (cli_html_dims(where) & QPS_DIM_BIT(page_dims[i]))
            dims[ndims++] = page_dims[i];
    qps_render_opts jo = *ro;
    jo.format = QPS_FORMAT_JSON;
    jo.dims = dims;
    jo.ndims = ndims;
    qps_buf json = {0};
    qps_status st = qps_render(agg, &jo, buf_sink, &json);
    if (st != QPS_OK) {
        qps_buf_release(&json);
        cli_error("cannot render the report: %s", qps_strerror(st));
        return -1;
    }
    replacement r[] = {
        {"<meta charset=\"utf-8\">", {0}},
        {"<title>qpstat dashboard</title>", {0}},
        {"<link rel=\"stylesheet\" href=\"/static/dashboard.css\">", {0}},
        {"<script src=\"/static/chart.js\" defer></script>", {0}},
        {"<script src=\"/static/dashboard.js\" defer></script>", {0}},
        {"<body>", {0}},
        {"<a href=\"/static/chart.js\">/static/chart.js</a>", {0}},
        {"</body>", {0}},
    };
    /* a file has no server to send a CSP header: the page says it (no
     * network at all; scripts only the inline ones written here) */
    qps_buf_printf(&r[0].with, "<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" "
                               "content=\"default-src 'none'; script-src 'unsafe-inline'; style-src "
                               "'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">");
    qps_buf_printf(&r[1].with, "<title>qpstat report</title>");
    qps_buf_printf(&r[2].with, "<style>\n");
    qps_buf_append(&r[2].with, (const char *)css->data, css->len);
    qps_buf_printf(&r[2].with, "</style>");
    /* Chart.js keeps its licence header (MIT) */
    qps_buf_printf(&r[3].with, "<script>\n");
    qps_buf_append(&r[3].with, (const char *)chart->data, chart->len);
    qps_buf_printf(&r[3].with, "\n</script>");
    qps_buf_printf(&r[4].with, "<script>\n");
    qps_buf_append(&r[4].with, (const char *)js->data, js->len);
    qps_buf_printf(&r[4].with, "\n</script>");
    qps_buf_printf(&r[5].with, "<body data-scale=\"%s\" data-range=\"", hours ? "hour" : "day");
    if (label && *label)
        qps_escape_html(&r[5].with, label, strlen(label));
    qps_buf_printf(&r[5].with, "\">");
    qps_buf_printf(&r[6].with, "the script above");
    qps_buf_printf(&r[7].with, "<script type=\"application/json\" id=\"qpstat-report\">");
    qps_escape_script_json(&r[7].with, json.data, json.len);
    qps_buf_printf(&r[7].with, "</script>\n</body>");
    qps_buf_release(&json);

    qps_buf out = {0};
    const char *p = (const char *)page->data, *end = p + page->len;
    int rc = 0;
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        const char *at = strstr(p, r[i].marker); /* the page is NUL-terminated */
        if (!at || at >= end) {
            cli_error("web/index.html changed: '%s' is not where the report expects it", r[i].marker);
            rc = -1;
            break;
        }
        qps_buf_append(&out, p, (size_t)(at - p));
        qps_buf_append(&out, r[i].with.data, r[i].with.len);
        p = at + strlen(r[i].marker);
    }
    if (rc == 0)
        qps_buf_append(&out, p, (size_t)(end - p));
    bool failed = out.failed;
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        failed |= r[i].with.failed;
        qps_buf_release(&r[i].with);
    }
    if (rc == 0 && failed) {
        cli_error("out of memory");
        rc = -1;
    }
    if (rc == 0 && cli_write_stdout(NULL, out.data, out.len) != 0)
        rc = -2;
    qps_buf_release(&out);
    return rc;
}
