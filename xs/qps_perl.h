/*
 * qps_perl.h - glue between the qpstat core and Perl data: the handles the
 * Perl objects point to, and the functions that copy core results into
 * plain Perl hashes and arrays. Included by xs/Qpstat.xs only.
 *
 * License: MIT (see README).
 */
#ifndef QPS_PERL_H
#define QPS_PERL_H

#include <sys/types.h>

#include "qpstat.h"

/* What a Qpstat::Agg object points to. date_label is its time range's
 * (qps_range.label), the mail report's default date: kept here, not in a
 * Perl field hash, whose thread clone crashed on the CLONE_SKIP'd object. */
typedef struct {
    qps_agg *agg;
    char date_label[64];
} qps_perl_agg;

/* What a Qpstat::Store object points to. store is NULL after close. pid is
 * the process that opened it: a forked child must not use (or close) a
 * SQLite handle of its parent. server is owned (NULL when not given).
 * in_tx mirrors the store's own flag (begin/commit/rollback through Perl). */
typedef struct {
    qps_store *store;
    qps_parser *parser;
    pid_t pid;
    char *server;
    int in_tx;    /* between begin and commit/rollback */
} qps_perl_store;

/* Short names of the parser's enums, for Perl ("multilog", "0.93", "fail"). */
const char *qps_perl_framing_name(qps_framing f);
const char *qps_perl_dialect_name(qps_dialect d);
const char *qps_perl_verdict_name(qps_verdict v);
const char *qps_perl_bad_name(qps_bad_reason b);

/* A parsed line as a new hash (see Qpstat::parse_line in lib/Qpstat.pm). */
HV *qps_perl_record_hv(pTHX_ const qps_record *r);

/* The aggregator's counters, connection and spam statistics as new hashes. */
HV *qps_perl_counts_hv(pTHX_ const qps_counts *c);
HV *qps_perl_conn_hv(pTHX_ const qps_conn_stats *c);
HV *qps_perl_spam_hv(pTHX_ const qps_spam_stats *s);

/* The rows of a keyed dimension as a new array of hashes; the rows are
 * copied, so the array does not depend on agg afterwards. */
AV *qps_perl_rows_av(pTHX_ const qps_agg *agg, qps_dim dim, const qps_row *rows, size_t n);

/* The store's totals as a new hash. */
HV *qps_perl_store_info_hv(pTHX_ const qps_store_info *info);

#endif
