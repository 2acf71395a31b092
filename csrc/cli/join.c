/*
 * join.c - the core's connection joiner (qps_join) as a cli_line_fn for
 * tail and grep: its status becomes a message on stderr.
 *
 * License: MIT (see README).
 */
#include "cli.h"

/* ------------------------------------------------------------------ */
/* feeding the joiner                                                  */
/* ------------------------------------------------------------------ */

static int join_status(qps_status st)
{
    /* QPS_EIO: the sink failed and has said why */
    if (st == QPS_ENOMEM)
        cli_error("out of memory");
    else if (st != QPS_OK && st != QPS_EIO)
        cli_error("%s", qps_strerror(st));
    return st == QPS_OK ? 0 : -1;
}

int cli_join_line(void *join, const char *line, size_t len)
{
    return join_status(qps_join_line(join, line, len));
}

int cli_join_finish(qps_join *join)
{
    return join_status(qps_join_finish(join));
}
