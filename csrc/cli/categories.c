/*
 * categories.c - which category map a command counts with: --categories
 * FILE, else the admin's /etc/qpstat/categories, else the built-in rules.
 *
 * License: MIT (see README).
 */
#include "cli.h"

#include <errno.h>
#include <unistd.h>

const char cli_categories_default_path[] = "/etc/qpstat/categories";

qps_categories *cli_categories(const char *given)
{
    qps_categories *map = qps_categories_new();
    if (!map) {
        cli_error("out of memory");
        return NULL;
    }
    const char *path = given;
    /* the admin's file when there is one; its absence is no error */
    if (!path && access(cli_categories_default_path, F_OK) == 0)
        path = cli_categories_default_path;
    char err[256];
    if (path && qps_categories_load(map, path, err, sizeof err) != QPS_OK) {
        cli_error("%s: %s", path, err);
        qps_categories_free(map);
        return NULL;
    }
    return map;
}

bool cli_uses_categories(const qps_dim *dims, size_t ndims, const cli_where *where)
{
    for (size_t i = 0; i < ndims; i++)
        if (dims[i] == QPS_DIM_CATEGORY)
            return true;
    for (size_t i = 0; where && i < where->n; i++)
        if (where->w[i].dim == QPS_DIM_CATEGORY)
            return true;
    return false;
}
