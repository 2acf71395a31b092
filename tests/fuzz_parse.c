/*
 * fuzz_parse.c - libFuzzer target: any bytes through the parser, the
 * aggregator's stream interface and every renderer.
 */
#include "qpstat.h"

#include <stdlib.h>

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
