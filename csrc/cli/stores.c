/*
 * stores.c - several stores read as one: `report --db A --db B` and `list`
 * over the stores of several mail servers (each record counted under its
 * server, qps_store_server), every store opened read-only in turn.
 *
 * License: MIT (see LICENSE).
 */
#include "cli.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

bool cli_stores_add(cli_stores *dbs, const char *path)
{
    if (!cli_file_argument("--db", path, false))
        return false;
    if (dbs->n == CLI_STORES_MAX) {
        cli_usage("at most %d --db stores", CLI_STORES_MAX);
        return false;
    }
    /* the same store named twice would count every record twice */
    struct stat st;
    if (stat(path, &st) == 0)
        for (size_t i = 0; i < dbs->n; i++) {
            struct stat other;
            if (stat(dbs->path[i], &other) == 0 && other.st_dev == st.st_dev && other.st_ino == st.st_ino) {
                cli_usage("--db %s and --db %s are the same store: name it once", dbs->path[i], path);
                return false;
            }
        }
    dbs->path[dbs->n++] = path;
    return true;
}

bool cli_stores_source(cli_stores *dbs, int npaths)
{
    if (!dbs->n) {
        const char *env = cli_db_source(NULL, npaths);
        if (env)
            dbs->path[dbs->n++] = env;
    }
    return dbs->n > 0;
}

int cli_stores_each(const cli_stores *dbs, int64_t since, int64_t until, qps_record_fn fn, void *ctx, bool *stopped)
{
    int errors = 0;
    for (size_t i = 0; i < dbs->n && !*stopped; i++) {
        qps_store *store = cli_store_open(dbs->path[i], false);
        if (!store) {
            errors++;
            continue;
        }
        qps_status st = qps_store_each(store, since, until, fn, ctx);
        if (st != QPS_OK && !*stopped) {
            cli_error("%s: %s", dbs->path[i], qps_store_error(store));
            errors++;
        }
        qps_store_close(store);
    }
    return errors;
}

int cli_stores_aggregate(const cli_stores *dbs, qps_agg *agg)
{
    for (size_t i = 0; i < dbs->n; i++) {
        qps_store *store = cli_store_open(dbs->path[i], false);
        if (!store)
            return -1;
        qps_status st = qps_store_aggregate(store, agg);
        if (st != QPS_OK)
            cli_error("%s: %s", dbs->path[i], st == QPS_ENOMEM ? qps_strerror(st) : qps_store_error(store));
        qps_store_close(store);
        if (st != QPS_OK)
            return -1;
    }
    return 0;
}
