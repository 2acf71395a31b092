/*
 * assets.h - the dashboard's files, embedded into the binary at build time
 * (web/ and Debian's Chart.js; generated into assets.c by
 * scripts/embed-assets.pl), so serving a page never touches the file system.
 *
 * License: MIT (see LICENSE).
 */
#ifndef QPSTAT_CLI_ASSETS_H
#define QPSTAT_CLI_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path;         /* URL path, e.g. "/static/chart.js" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} cli_asset;

/* The asset served at path (exact match), or NULL. */
const cli_asset *cli_asset_find(const char *path);

#endif
