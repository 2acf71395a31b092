/*
 * qps_perl.c - copies core results (records, counters, rows) into plain
 * Perl hashes and arrays for xs/Qpstat.xs. Every string is copied as bytes
 * (newSVpvn, never UTF-8 flagged); nothing here keeps a pointer into the
 * core or into Perl data. No logic lives here: only data shapes.
 *
 * License: MIT (see README).
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include "qps_perl.h"

const char *qps_perl_framing_name(qps_framing f)
{
    static const char *const names[] = {"none", "multilog", "tai64nlocal", "logfile", "syslog"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "unknown";
}

const char *qps_perl_dialect_name(qps_dialect d)
{
    static const char *const names[] = {"none", "0.4x", "0.8x", "0.93"};
    return (unsigned)d < sizeof names / sizeof names[0] ? names[d] : "unknown";
}

const char *qps_perl_verdict_name(qps_verdict v)
{
    static const char *const names[] = {"none", "pass", "fail", "skip", "error", "info"};
    return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "unknown";
}

/* the names of the CLI's JSON "invalid" object */
const char *qps_perl_bad_name(qps_bad_reason b)
{
    static const char *const names[] = {"none", "empty", "nul", "too_long", "label", "time", "no_pid", "truncated"};
    return (unsigned)b < sizeof names / sizeof names[0] ? names[b] : "unknown";
}

static void put_str(pTHX_ HV *hv, const char *key, qps_str s)
{
    (void)hv_store(hv, key, (I32)strlen(key), newSVpvn(s.ptr ? s.ptr : "", s.len), 0);
}

static void put_cstr(pTHX_ HV *hv, const char *key, const char *s)
{
    (void)hv_store(hv, key, (I32)strlen(key), newSVpv(s, 0), 0);
}

static void put_uv(pTHX_ HV *hv, const char *key, UV v)
{
    (void)hv_store(hv, key, (I32)strlen(key), newSVuv(v), 0);
}

static void put_iv(pTHX_ HV *hv, const char *key, IV v)
{
    (void)hv_store(hv, key, (I32)strlen(key), newSViv(v), 0);
}

static void put_nv(pTHX_ HV *hv, const char *key, NV v)
{
    (void)hv_store(hv, key, (I32)strlen(key), newSVnv(v), 0);
}

static const char *const terse_keys[QPS_TF_COUNT_] = {
    "ip", "rhost", "helo", "sender", "recipients", "disposition", "code", "text", "spam",
};

HV *qps_perl_record_hv(pTHX_ const qps_record *r)
{
    HV *hv = newHV();
    put_cstr(aTHX_ hv, "kind", qps_kind_name(r->kind));
    put_cstr(aTHX_ hv, "framing", qps_perl_framing_name(r->framing));
    put_cstr(aTHX_ hv, "dialect", qps_perl_dialect_name(r->dialect));
    if (r->has_time) {
        put_iv(aTHX_ hv, "time", (IV)r->unix_sec);
        put_uv(aTHX_ hv, "nsec", (UV)r->nsec);
        put_str(aTHX_ hv, "stamp", r->stamp);
    }
    if (r->host.len)
        put_str(aTHX_ hv, "host", r->host);
    if (r->pid)
        put_uv(aTHX_ hv, "pid", (UV)r->pid);
    if (r->hook.len)
        put_str(aTHX_ hv, "hook", r->hook);
    if (r->plugin.len)
        put_str(aTHX_ hv, "plugin", r->plugin);
    put_str(aTHX_ hv, "message", r->message);
    if (r->verdict != QPS_VERDICT_NONE)
        put_cstr(aTHX_ hv, "verdict", qps_perl_verdict_name(r->verdict));
    switch (r->kind) {
    case QPS_KIND_TERSE:
        put_iv(aTHX_ hv, "nfields", r->nfields);
        for (int f = 0; f < QPS_TF_COUNT_; f++)
            if (f < QPS_TF_SPAM || r->nfields == 9)
                put_str(aTHX_ hv, terse_keys[f], r->field[f]);
        break;
    case QPS_KIND_ACCEPT:
        put_str(aTHX_ hv, "remote_host", r->remote_host);
        /* fall through */
    case QPS_KIND_TOO_MANY:
    case QPS_KIND_HOSTS_ALLOW:
        put_uv(aTHX_ hv, "running", r->running);
        put_uv(aTHX_ hv, "max", r->max);
        if (r->remote_ip.len)
            put_str(aTHX_ hv, "remote_ip", r->remote_ip);
        break;
    case QPS_KIND_CONN_TIME:
        put_uv(aTHX_ hv, "millis", (UV)r->millis);
        if (r->remote_ip.len)
            put_str(aTHX_ hv, "remote_ip", r->remote_ip);
        break;
    case QPS_KIND_REPLY:
        put_iv(aTHX_ hv, "reply_code", r->reply_code);
        break;
    case QPS_KIND_CLEANUP:
        put_uv(aTHX_ hv, "child_pid", (UV)r->child_pid);
        break;
    default:
        break;
    }
    return hv;
}

HV *qps_perl_counts_hv(pTHX_ const qps_counts *c)
{
    HV *hv = newHV(), *kinds = newHV(), *bad = newHV();
    put_uv(aTHX_ hv, "lines_read", (UV)c->lines_read);
    put_uv(aTHX_ hv, "lines_parsed", (UV)c->lines_parsed);
    put_uv(aTHX_ hv, "lines_invalid", (UV)c->lines_invalid);
    put_uv(aTHX_ hv, "out_of_range", (UV)c->out_of_range);
    put_uv(aTHX_ hv, "untimed", (UV)c->untimed);
    put_uv(aTHX_ hv, "transactions", (UV)c->transactions);
    put_iv(aTHX_ hv, "first", (IV)c->first);
    put_iv(aTHX_ hv, "last", (IV)c->last);
    for (int k = 0; k < QPS_KIND_COUNT_; k++)
        put_uv(aTHX_ kinds, qps_kind_name((qps_kind)k), (UV)c->by_kind[k]);
    for (int b = QPS_BAD_EMPTY; b <= QPS_BAD_TRUNCATED; b++)
        put_uv(aTHX_ bad, qps_perl_bad_name((qps_bad_reason)b), (UV)c->by_bad[b]);
    (void)hv_stores(hv, "kinds", newRV_noinc((SV *)kinds));
    (void)hv_stores(hv, "invalid", newRV_noinc((SV *)bad));
    return hv;
}

HV *qps_perl_conn_hv(pTHX_ const qps_conn_stats *c)
{
    HV *hv = newHV();
    put_uv(aTHX_ hv, "accepted", (UV)c->accepted);
    put_uv(aTHX_ hv, "peak", (UV)c->peak);
    put_uv(aTHX_ hv, "limit", (UV)c->limit);
    put_uv(aTHX_ hv, "too_many", (UV)c->too_many);
    put_uv(aTHX_ hv, "hosts_allow", (UV)c->hosts_allow);
    put_uv(aTHX_ hv, "queue_accepted", (UV)c->queue_accepted);
    put_uv(aTHX_ hv, "timed", (UV)c->timed);
    put_nv(aTHX_ hv, "mean", c->mean_s);
    put_nv(aTHX_ hv, "p50", c->p50_s);
    put_nv(aTHX_ hv, "p90", c->p90_s);
    put_nv(aTHX_ hv, "p99", c->p99_s);
    put_nv(aTHX_ hv, "max", c->max_s);
    return hv;
}

HV *qps_perl_spam_hv(pTHX_ const qps_spam_stats *s)
{
    HV *hv = newHV();
    put_uv(aTHX_ hv, "spam", (UV)s->spam);
    put_uv(aTHX_ hv, "ham", (UV)s->ham);
    put_uv(aTHX_ hv, "none", (UV)s->none);
    put_nv(aTHX_ hv, "spam_mean", s->spam_mean);
    put_nv(aTHX_ hv, "ham_mean", s->ham_mean);
    return hv;
}

AV *qps_perl_rows_av(pTHX_ const qps_agg *agg, qps_dim dim, const qps_row *rows, size_t n)
{
    AV *av = newAV();
    uint64_t total = qps_agg_total(agg, dim);
    const char *name = qps_dim_name(dim);
    bool pair = dim == QPS_DIM_DISPOSITION_TLD;
    if (n)
        av_extend(av, (SSize_t)n - 1);
    for (size_t i = 0; i < n; i++) {
        HV *hv = newHV();
        if (pair) {
            put_str(aTHX_ hv, "disposition", rows[i].key[0]);
            put_str(aTHX_ hv, "tld", rows[i].key[1]);
        } else {
            put_str(aTHX_ hv, "key", rows[i].key[0]);
            put_str(aTHX_ hv, name, rows[i].key[0]);
        }
        put_uv(aTHX_ hv, "count", (UV)rows[i].count);
        put_uv(aTHX_ hv, "error", (UV)rows[i].error);
        /* the renderers' formula, unrounded */
        put_nv(aTHX_ hv, "percent", total ? (NV)rows[i].count * 100.0 / (NV)total : 0.0);
        av_push(av, newRV_noinc((SV *)hv));
    }
    return av;
}

HV *qps_perl_store_info_hv(pTHX_ const qps_store_info *info)
{
    HV *hv = newHV();
    put_uv(aTHX_ hv, "transactions", (UV)info->transactions);
    put_uv(aTHX_ hv, "connection_facts", (UV)info->connection_facts);
    put_uv(aTHX_ hv, "files", (UV)info->files);
    put_uv(aTHX_ hv, "daily_rows", (UV)info->daily_rows);
    put_iv(aTHX_ hv, "first", (IV)info->first);
    put_iv(aTHX_ hv, "last", (IV)info->last);
    return hv;
}
