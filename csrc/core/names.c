/*
 * qps_names.c - version, status texts and the names of kinds and dimensions.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <stdlib.h>

const char *qps_version(void)
{
    return QPS_VERSION_STRING;
}

const char *qps_strerror(qps_status status)
{
    switch (status) {
    case QPS_OK: return "success";
    case QPS_ENOMEM: return "out of memory";
    case QPS_EINVAL: return "invalid argument";
    case QPS_EFORMAT: return "malformed input";
    case QPS_ERANGE: return "value out of range";
    case QPS_EIO: return "input/output error";
    case QPS_EREADONLY: return "the store is read-only";
    case QPS_ESTATE: return "not allowed in this transaction state";
    case QPS_ESTOPPED: return "stopped by the callback";
    case QPS_EBUSY: return "the store is locked by another process";
    case QPS_EREAD: return "read error";
    case QPS_ETRUNCATED: return "compressed data cut short";
    case QPS_ECORRUPT: return "compressed data damaged";
    }
    return "unknown status";
}

void qps_free(void *ptr)
{
    free(ptr);
}

const char *qps_kind_name(qps_kind kind)
{
    static const char *const names[QPS_KIND_COUNT_] = {
        "invalid", "other", "terse", "continuation", "accept", "too_many",
        "hosts_allow", "connection_time", "result", "dispatch", "reply", "cleanup",
    };
    return kind < QPS_KIND_COUNT_ ? names[kind] : "unknown";
}

static const char *const dim_names[QPS_DIM_COUNT_] = {
    "disposition", "dnsbl", "tld", "disposition,tld", "hour", "day", "sender",
    "recipient", "ip", "helo", "score", "spam", "connections", "connection-time", "server", "code",
    "category", "hour,category", "hour,disposition", "day,disposition", "service",
};

/* The two-key table named at p ("disposition,tld" and the like, followed by
 * the end or a comma), or -1. */
static int pair_at(const char *p)
{
    for (int d = 0; d < QPS_DIM_COUNT_; d++) {
        size_t n = strlen(dim_names[d]);
        if (strchr(dim_names[d], ',') && strncmp(p, dim_names[d], n) == 0 && (p[n] == '\0' || p[n] == ','))
            return d;
    }
    return -1;
}

int qps_dim_pair_at(const char *p)
{
    return pair_at(p);
}

const char *qps_dim_name(qps_dim dim)
{
    return dim < QPS_DIM_COUNT_ ? dim_names[dim] : "unknown";
}

qps_status qps_dim_from_name(const char *name, size_t len, qps_dim *dim)
{
    for (int d = 0; d < QPS_DIM_COUNT_; d++) {
        if (strlen(dim_names[d]) == len && memcmp(dim_names[d], name, len) == 0) {
            *dim = (qps_dim)d;
            return QPS_OK;
        }
    }
    return QPS_EINVAL;
}

/* "disposition,tld" is one table; any other comma separates tables. */
qps_status qps_dims_parse(const char *text, qps_dim *dims, size_t cap, size_t *n)
{
    if (!text || !dims || !n || *n > cap)
        return QPS_EINVAL;
    if (strcmp(text, "all") == 0) {
        /* the seed's tables; category and the later ones are asked for by name */
        for (int d = 0; d < QPS_DIM_CATEGORY; d++) {
            if (d == QPS_DIM_SERVER || d == QPS_DIM_CODE)
                continue; /* the report's tables (server: of several stores; code: for metrics) */
            bool have = false;
            for (size_t i = 0; i < *n; i++)
                have |= dims[i] == (qps_dim)d;
            if (!have && *n < cap)
                dims[(*n)++] = (qps_dim)d;
        }
        return QPS_OK;
    }
    const char *p = text;
    do {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        qps_dim d;
        int pair = pair_at(p);
        if (pair >= 0) {
            d = (qps_dim)pair;
            len = strlen(dim_names[pair]);
        } else if (qps_dim_from_name(p, len, &d) != QPS_OK) {
            return QPS_EINVAL;
        }
        bool have = false;
        for (size_t i = 0; i < *n; i++)
            have |= dims[i] == d;
        if (!have) {
            if (*n == cap)
                return QPS_EINVAL;
            dims[(*n)++] = d;
        }
        p += len;
        if (*p == ',' && p[1])
            p++;
        else if (*p)
            return QPS_EINVAL;
    } while (*p);
    return QPS_OK;
}

qps_status qps_dims_default(qps_dim *dims, size_t cap, size_t *n, int filtered, int several_servers)
{
    qps_dim all[QPS_DIM_COUNT_ + 1];
    size_t nall = 0;
    if (!dims || !n || *n > cap)
        return QPS_EINVAL;
    qps_dims_parse("all", all, QPS_DIM_COUNT_, &nall);
    if (several_servers)
        all[nall++] = QPS_DIM_SERVER; /* which server counted what */
    for (size_t i = 0; i < nall; i++) {
        if (filtered && (all[i] == QPS_DIM_CONNECTIONS || all[i] == QPS_DIM_CONNECTION_TIME))
            continue;
        bool have = false;
        for (size_t k = 0; k < *n; k++)
            have |= dims[k] == all[i];
        if (have)
            continue;
        if (*n == cap)
            return QPS_EINVAL;
        dims[(*n)++] = all[i];
    }
    return QPS_OK;
}

qps_status qps_where_parse(const char *text, qps_where *out)
{
    const char *eqs = text ? strchr(text, '=') : NULL;
    if (!eqs || !out)
        return QPS_EINVAL;
    size_t len = (size_t)(eqs - text);
    qps_dim d;
    if (len == 4 && memcmp(text, "code", 4) == 0) {
        out->dim = QPS_WHERE_CODE;
    } else if (len == 4 && memcmp(text, "grep", 4) == 0) {
        out->dim = QPS_WHERE_GREP;
    } else if (qps_dim_from_name(text, len, &d) != QPS_OK || strchr(qps_dim_name(d), ',') ||
               d == QPS_DIM_CONNECTIONS || d == QPS_DIM_CONNECTION_TIME) {
        return QPS_EINVAL;
    } else {
        out->dim = (int)d;
    }
    out->value = eqs + 1;
    return QPS_OK;
}
