/*
 * fuzz_parse.c - libFuzzer target: any bytes through the parser, the
 * aggregator's stream interface and every renderer; and every line of
 * the input read by one parser, whose caches of the line before (stamp,
 * label, origin) are warm, as a fresh parser reads it alone.
 */
#include "qpstat.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    setenv("TZ", "UTC", 1); /* no repeated hour: a line's instant is its own */
    return 0;
}

static int same_str(qps_str a, qps_str b)
{
    return a.len == b.len && (a.len == 0 || a.ptr == b.ptr);
}

/* abort() on a line the warm parser reads otherwise than a fresh one */
static void lines_read_alone(const char *data, size_t size)
{
    qps_parser_opts po = {NULL, 1764100000};
    qps_parser *warm = qps_parser_new(&po);
    for (const char *s = data, *end = data + size; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = (size_t)((nl ? nl : end) - s);
        qps_parser *fresh = qps_parser_new(&po);
        qps_record a, b;
        qps_kind ka = qps_parser_parse(warm, s, len, &a);
        qps_kind kb = qps_parser_parse(fresh, s, len, &b);
        qps_parser_free(fresh);
        if (ka != kb || a.bad != b.bad || a.pid != b.pid || a.has_time != b.has_time ||
            a.unix_sec != b.unix_sec || a.nsec != b.nsec || !same_str(a.host, b.host) ||
            !same_str(a.message, b.message) || !same_str(a.plugin, b.plugin) || !same_str(a.hook, b.hook) ||
            !same_str(a.service, b.service))
            abort();
        s = nl ? nl + 1 : end;
    }
    qps_parser_free(warm);
}

static int discard(void *ctx, const char *buf, size_t len)
{
    (void)ctx, (void)buf, (void)len;
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    qps_parser *p = qps_parser_new(NULL);
    qps_record rec;
    qps_parser_parse(p, (const char *)data, size, &rec);
    qps_parser_free(p);
    lines_read_alone((const char *)data, size);

    qps_agg_opts opts = {0};
    opts.table_capacity = 8; /* reach the eviction path quickly */
    qps_agg *agg = qps_agg_new(&opts);
    size_t half = size / 2;
    qps_agg_feed(agg, (const char *)data, half);
    qps_agg_feed(agg, (const char *)data + half, size - half);
    qps_agg_finish(agg);
    qps_dim dims[QPS_DIM_COUNT_];
    for (int d = 0; d < QPS_DIM_COUNT_; d++)
        dims[d] = (qps_dim)d;
    for (int f = QPS_FORMAT_TEXT; f <= QPS_FORMAT_MAIL; f++) {
        qps_render_opts ro = {(qps_format)f, dims, f == QPS_FORMAT_CSV ? 1 : QPS_DIM_COUNT_, 3, 2, "d"};
        qps_render(agg, &ro, discard, NULL);
    }
    qps_agg_free(agg);
    return 0;
}
