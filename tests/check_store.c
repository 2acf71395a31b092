/*
 * check_store.c - unit tests of qps_store.c and qps_import.c: schema,
 * records, live/logged twins, folded rows, ids of equal times, file
 * offsets, pruning, refusing bad files.
 */
#include "qpstat.h"

#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/qps-check-store-XXXXXX";
static char path[256];

static void setup(void)
{
    setenv("TZ", "UTC", 1);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/q.db", dir);
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    strcpy(dir, "/tmp/qps-check-store-XXXXXX");
}

static qps_store *open_rw(void)
{
    qps_status st;
    char err[256];
    qps_store *s = qps_store_open(path, QPS_STORE_CREATE, 1000, &st, err, sizeof err);
    ck_assert_msg(s != NULL, "open: %s", err);
    return s;
}

static const char *terse_line =
    "@400000006b07390d1f43b72c 8909 (deny) logging::logterse: ` 127.0.0.1\tUnknown\tclient.example\t"
    "<a@b.example>\t<c@d.example>\tspamassassin\t901\tspam score exceeded threshold\tYes, score=9.0 required=5.0";

/* Parses a line and stores it from `source` (server NULL: none named, t 0:
 * no time given). */
static qps_status store_line(qps_store *s, const char *line, const char *server, int source, int64_t t, int *added)
{
    qps_parser *p = qps_parser_new(NULL);
    qps_record rec;
    int64_t label_time;
    uint32_t label_ns;
    if (line[0] == '@' && strlen(line) > 26 && line[25] == ' ' &&
        qps_tai64n_decode(line + 1, &label_time, &label_ns) == QPS_OK && !qps_time_plausible(label_time)) {
        /* The parser refuses such a label (issue 9 case 8), but the store
         * must still cope with records at any time from its other callers
         * (qps_store_add takes any record): built as the parser once did. */
        qps_parser_parse(p, line + 26, strlen(line + 26), &rec);
        rec.framing = QPS_FRAME_MULTILOG;
        rec.has_time = 1;
        rec.unix_sec = label_time;
        rec.nsec = label_ns;
        rec.stamp = (qps_str){line, 25};
    } else {
        qps_parser_parse(p, line, strlen(line), &rec);
    }
    qps_status st = qps_store_add(s, &rec, server, t, 0, source, added);
    qps_parser_free(p);
    return st;
}

static int add_line(qps_store *s, const char *line, int source, int64_t t)
{
    int added = -1;
    ck_assert_int_eq(store_line(s, line, "mx", source, t, &added), QPS_OK);
    return added;
}

/* A log file "current" in the test's directory, open for writing. */
static FILE *new_log(char *log, size_t cap)
{
    snprintf(log, cap, "%s/current", dir);
    FILE *f = fopen(log, "w");
    ck_assert_ptr_nonnull(f);
    return f;
}

static uint64_t transactions(qps_store *s)
{
    qps_store_info info;
    ck_assert_int_eq(qps_store_stat(s, &info), QPS_OK);
    return info.transactions;
}

START_TEST(create_add_and_report)
{
    qps_store *s = open_rw();
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    ck_assert_int_eq(add_line(s, terse_line, QPS_SOURCE_IMPORT, 0), 1);
    ck_assert_int_eq(add_line(s, "@400000006b07390d1f43b72c 8909 dispatching QUIT", QPS_SOURCE_IMPORT, 0), 0);
    ck_assert_int_eq(add_line(s, "@400000006b07390100d4650c 8873 Accepted connection 0/3 from 127.0.0.1 / Unknown",
                              QPS_SOURCE_IMPORT, 0),
                     1);
    ck_assert_int_eq(qps_store_commit(s), QPS_OK);
    ck_assert_uint_eq(transactions(s), 1);
    qps_agg *agg = qps_agg_new(NULL);
    ck_assert_int_eq(qps_store_aggregate(s, agg), QPS_OK);
    qps_counts c;
    qps_agg_counts(agg, &c);
    ck_assert_uint_eq(c.transactions, 1);
    qps_conn_stats cs;
    qps_agg_conn_stats(agg, &cs);
    ck_assert_uint_eq(cs.accepted, 1);
    qps_agg_free(agg);
    qps_store_close(s);
}
END_TEST

START_TEST(live_and_logged_copies_are_twins)
{
    qps_store *s = open_rw();
    /* the plugin's copy: no label, the time comes with it */
    const char *live = "8909 (deny) logging::logterse: ` 127.0.0.1\tUnknown\tclient.example\t<a@b.example>\t"
                       "<c@d.example>\tspamassassin\t901\tspam score exceeded threshold\tYes, score=9.0 required=5.0";
    int64_t t = 0x6b07390dLL - 10;
    ck_assert_int_eq(add_line(s, live, QPS_SOURCE_PLUGIN, t), 1);
    ck_assert_int_eq(add_line(s, live, QPS_SOURCE_PLUGIN, t), 1); /* a second refusal, same text */
    ck_assert_int_eq(add_line(s, terse_line, QPS_SOURCE_IMPORT, 0), 0); /* pairs with the first */
    ck_assert_int_eq(add_line(s, terse_line, QPS_SOURCE_IMPORT, 0), 0); /* and the second */
    ck_assert_int_eq(add_line(s, terse_line, QPS_SOURCE_IMPORT, 0), 1); /* a third is new */
    ck_assert_uint_eq(transactions(s), 3);
    /* too far apart in time: not a twin */
    ck_assert_int_eq(add_line(s, live, QPS_SOURCE_PLUGIN, t + 3600), 1);
    ck_assert_uint_eq(transactions(s), 4);
    qps_store_close(s);
}
END_TEST

/* A file is known by its bytes: renamed (multilog's current to @x.s) or
 * copied to a new inode it resumes where it was left; a rolled-back
 * import leaves the offset alone. */
START_TEST(file_offsets)
{
    char log[300], copy[300];
    FILE *f = new_log(log, sizeof log);
    fprintf(f, "%s\n", terse_line);
    fclose(f);
    qps_store *s = open_rw();
    int64_t imported = -1, length = -1;
    ck_assert_int_eq(qps_store_file_status(s, log, &imported, &length), QPS_OK);
    ck_assert_int_eq(imported, 0);
    ck_assert_int_eq(length, (int64_t)strlen(terse_line) + 1);
    uint64_t added = 0;
    ck_assert_int_eq(qps_store_import_file(s, log, NULL, &added), QPS_OK);
    ck_assert_uint_eq(added, 1);
    snprintf(copy, sizeof copy, "%s/@400000006b07390d1f43b72c.s", dir);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && rm '%s'", log, copy, log);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(qps_store_file_status(s, copy, &imported, &length), QPS_OK);
    ck_assert_int_eq(imported, length);
    ck_assert_int_eq(qps_store_import_file(s, copy, NULL, &added), QPS_OK);
    ck_assert_uint_eq(added, 1);
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    ck_assert_int_eq(qps_store_rollback(s), QPS_OK);
    ck_assert_int_eq(qps_store_file_status(s, copy, &imported, &length), QPS_OK);
    ck_assert_int_eq(imported, length);
    ck_assert_uint_eq(transactions(s), 1);
    qps_store_close(s);
}
END_TEST

START_TEST(import_resumes)
{
    char log[300];
    FILE *f = new_log(log, sizeof log);
    fprintf(f, "%s\n", terse_line);
    fprintf(f, "@400000006b07390d1f43b72d 8910 (deny) logging::logterse: ` 1.2.3.4\th\th\t\t\thelo\t903\tx\tmsg"); /* no newline yet */
    fclose(f);
    qps_store *s = open_rw();
    uint64_t added = 0;
    ck_assert_int_eq(qps_store_import_file(s, log, NULL, &added), QPS_OK);
    ck_assert_uint_eq(added, 1);
    f = fopen(log, "a");
    fprintf(f, " denied before queued\n");
    fclose(f);
    added = 0;
    ck_assert_int_eq(qps_store_import_file(s, log, NULL, &added), QPS_OK);
    ck_assert_uint_eq(added, 1);
    ck_assert_int_eq(qps_store_import_file(s, log, NULL, &added), QPS_OK);
    ck_assert_uint_eq(added, 1);
    ck_assert_uint_eq(transactions(s), 2);
    snprintf(log, sizeof log, "%s/missing", dir);
    ck_assert_int_eq(qps_store_import_file(s, log, NULL, NULL), QPS_EIO);
    ck_assert_ptr_nonnull(strstr(qps_store_error(s), "cannot open"));
    qps_store_close(s);
}
END_TEST

START_TEST(prune_keeps_daily_totals)
{
    qps_store *s = open_rw();
    ck_assert_int_eq(add_line(s, terse_line, QPS_SOURCE_IMPORT, 0), 1);
    uint64_t removed = 0;
    ck_assert_int_eq(qps_store_prune(s, 0x6b07390dLL, &removed), QPS_OK);
    ck_assert_uint_eq(removed, 1);
    ck_assert_uint_eq(transactions(s), 0);
    qps_agg *agg = qps_agg_new(NULL);
    ck_assert_int_eq(qps_store_aggregate(s, agg), QPS_OK);
    qps_counts c;
    qps_agg_counts(agg, &c);
    ck_assert_uint_eq(c.transactions, 1);
    qps_row *rows;
    size_t n;
    ck_assert_int_eq(qps_agg_rows(agg, QPS_DIM_TLD, &rows, &n), QPS_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(memcmp(rows[0].key[0].ptr, "example", 7), 0);
    qps_free(rows);
    qps_agg_free(agg);
    qps_store_close(s);
}
END_TEST

START_TEST(refuses_bad_files)
{
    qps_status st;
    char err[256];
    FILE *f = fopen(path, "w");
    fputs("definitely not sqlite, just some text that is long enough to be a header........", f);
    fclose(f);
    ck_assert_ptr_null(qps_store_open(path, QPS_STORE_CREATE, 0, &st, err, sizeof err));
    ck_assert_int_eq(st, QPS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "not a qpstat store"));
    unlink(path);
    qps_store *s = open_rw();
    qps_store_close(s);
    /* a newer schema */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'PRAGMA user_version = 77' 2>/dev/null", path);
    if (system(cmd) == 0) {
        ck_assert_ptr_null(qps_store_open(path, QPS_STORE_CREATE, 0, &st, err, sizeof err));
        ck_assert_int_eq(st, QPS_EFORMAT);
        ck_assert_ptr_nonnull(strstr(err, "newer"));
    }
    /* read-only opening of a missing file */
    snprintf(cmd, sizeof cmd, "%s/none.db", dir);
    ck_assert_ptr_null(qps_store_open(cmd, QPS_STORE_READONLY, 0, &st, err, sizeof err));
    ck_assert_int_eq(st, QPS_EIO);
}
END_TEST

/* A multilog line at unix time t + ns. */
static const char *at(int64_t t, uint32_t ns, const char *text)
{
    static char line[1024];
    snprintf(line, sizeof line, "@%016llx%08x %s", (unsigned long long)t + (1ULL << 62) + 10, ns, text);
    return line;
}

/* One number from the store's file, through SQLite itself. */
static long long sql_number(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    long long v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* The store's report for [since, until): records, accepts, timed
 * connections, queue acceptances. */
static void report(qps_store *s, int64_t since, int64_t until, uint64_t want[4])
{
    qps_agg_opts o = {0};
    o.since = since;
    o.until = until;
    o.has_since = o.has_until = 1;
    qps_agg *agg = qps_agg_new(&o);
    ck_assert_int_eq(qps_store_aggregate(s, agg), QPS_OK);
    qps_counts c;
    qps_conn_stats cs;
    qps_agg_counts(agg, &c);
    qps_agg_conn_stats(agg, &cs);
    uint64_t got[4] = {c.transactions, cs.accepted, cs.timed, cs.queue_accepted};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(got[i] == want[i], "[%lld, %lld) figure %d: %llu, not %llu", (long long)since,
                      (long long)until, i, (unsigned long long)got[i], (unsigned long long)want[i]);
    qps_agg_free(agg);
}

#define T0 1764000000LL

/* One import batch: an accept and its connection time share a row, a
 * queued record and the reply of the same second too; every fact still
 * counts at its own time. */
START_TEST(a_connection_in_few_rows)
{
    qps_store *s = open_rw();
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    ck_assert_int_eq(add_line(s, at(T0, 100, "100 Accepted connection 0/40 from 192.0.2.1 / mx.example"),
                              QPS_SOURCE_IMPORT, 0), 1);
    ck_assert_int_eq(add_line(s, at(T0 + 1, 200, "100 (queue) logging::logterse: ` 192.0.2.1\tmx.example\tmx.example\t"
                                                 "<a@b.example>\t<c@d.example>\tqueued\t\t<id@b.example>\tNo, score=1.0 required=5.0"),
                              QPS_SOURCE_IMPORT, 0), 1);
    ck_assert_int_eq(add_line(s, at(T0 + 1, 900, "100 250 Queued! 1764000001 qp 5 <id@b.example>"),
                              QPS_SOURCE_IMPORT, 0), 1);
    /* a reply a second later than its record keeps a row of its own */
    ck_assert_int_eq(add_line(s, at(T0 + 2, 999999000, "100 (queue) logging::logterse: ` 192.0.2.1\tmx.example\t"
                                                       "mx.example\t<a@b.example>\t<c@d.example>\tqueued\t\t<id2@b>\t"
                                                       "No, score=1.0 required=5.0"),
                              QPS_SOURCE_IMPORT, 0), 1);
    ck_assert_int_eq(add_line(s, at(T0 + 3, 1000, "100 250 Queued! 1764000003 qp 6 <id2@b>"), QPS_SOURCE_IMPORT, 0),
                     1);
    ck_assert_int_eq(add_line(s, at(T0 + 4, 0, "100 (post-connection) connection_time: 4.100 s."), QPS_SOURCE_IMPORT, 0),
                     1);
    ck_assert_int_eq(qps_store_commit(s), QPS_OK);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM connections"), 2);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM connections WHERE kind = 'accept' AND millis = 4100 "
                                "AND end_time = 1764000004"), 1);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM transactions WHERE queue_ok = 1"), 1);
    qps_store_info info;
    ck_assert_int_eq(qps_store_stat(s, &info), QPS_OK);
    ck_assert_uint_eq(info.transactions, 2);
    ck_assert_uint_eq(info.connection_facts, 4);
    report(s, T0, T0 + 5, (uint64_t[]){2, 1, 1, 2});
    report(s, T0 + 1, T0 + 5, (uint64_t[]){2, 0, 1, 2});  /* the accept is before */
    report(s, T0, T0 + 2, (uint64_t[]){1, 1, 0, 1});      /* the connection ends after */
    report(s, T0 + 3, T0 + 4, (uint64_t[]){0, 0, 0, 1});  /* only the late reply */
    qps_store_close(s);
}
END_TEST

/* The plugin's copies of facts stored in folded rows pair with them. */
START_TEST(plugin_twins_of_folded_rows)
{
    qps_store *s = open_rw();
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    add_line(s, at(T0, 0, "300 Accepted connection 0/40 from 192.0.2.3 / mx.example"), QPS_SOURCE_IMPORT, 0);
    add_line(s, at(T0 + 1, 0, "300 (queue) logging::logterse: ` 192.0.2.3\tmx\tmx\t<a@b.example>\t<c@d.example>\t"
                              "queued\t\t<id@b>\tNo, score=1.0 required=5.0"),
             QPS_SOURCE_IMPORT, 0);
    add_line(s, at(T0 + 1, 5000, "300 250 Queued! 1764000001 qp 7 <id@b>"), QPS_SOURCE_IMPORT, 0);
    add_line(s, at(T0 + 2, 0, "300 (post-connection) connection_time: 2.000 s."), QPS_SOURCE_IMPORT, 0);
    ck_assert_int_eq(qps_store_commit(s), QPS_OK);
    /* the plugin was late to write: its copies find the log's */
    ck_assert_int_eq(add_line(s, "300 (queue) logging::logterse: ` 192.0.2.3\tmx\tmx\t<a@b.example>\t<c@d.example>\t"
                                 "queued\t\t<id@b>\tNo, score=1.0 required=5.0",
                              QPS_SOURCE_PLUGIN, T0 + 1), 0);
    ck_assert_int_eq(add_line(s, "300 250 Queued! (by queue/maildir)", QPS_SOURCE_PLUGIN, T0 + 1), 0);
    ck_assert_int_eq(add_line(s, "300 (post-connection) connection_time: 2.001 s.", QPS_SOURCE_PLUGIN, T0 + 2), 0);
    /* a second queue acceptance has no twin left */
    ck_assert_int_eq(add_line(s, "300 250 Queued! (by queue/maildir)", QPS_SOURCE_PLUGIN, T0 + 1), 1);
    report(s, T0, T0 + 10, (uint64_t[]){1, 1, 1, 2});
    qps_store_close(s);
}
END_TEST

/* Rows of one instant all get ids, in the order they came, whether they
 * go in one by one or 32 at a time. */
START_TEST(rows_of_one_instant)
{
    char log[300];
    FILE *f = new_log(log, sizeof log);
    for (int i = 0; i < 70; i++)
        fprintf(f, "%s\n", at(T0, 500, "7 (deny) logging::logterse: ` 192.0.2.9\tx\tx\t<a@b.example>\t\tdnsbl\t901\t"
                                      "Blocked\tmsg denied before queued"));
    fclose(f);
    qps_store *s = open_rw();
    /* the plugin gives whole seconds: many rows share an id's second */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(add_line(s, "8 (deny) logging::logterse: ` 192.0.2.8\tx\tx\t<a@b.example>\t\thelo\t903\t"
                                     "bad\tmsg denied before queued",
                                  QPS_SOURCE_PLUGIN, T0), 1);
    ck_assert_int_eq(qps_store_import_file(s, log, NULL, NULL), QPS_OK);
    ck_assert_uint_eq(transactions(s), 75);
    ck_assert_int_eq(sql_number("SELECT count(DISTINCT id) FROM transactions WHERE id >> 30 = 1764000000"), 75);
    report(s, T0, T0 + 1, (uint64_t[]){75, 0, 0, 0});
    report(s, T0 + 1, T0 + 2, (uint64_t[]){0, 0, 0, 0});
    qps_store_close(s);
}
END_TEST

/* Forged labels far in the past or future are stored and found. */
START_TEST(times_far_away)
{
    qps_store *s = open_rw();
    const char *rec = "9 (deny) logging::logterse: ` 192.0.2.7\tx\tx\t\t\thelo\t903\tbad\tmsg denied before queued";
    ck_assert_int_eq(add_line(s, at(0, 0, rec), QPS_SOURCE_IMPORT, 0), 1);
    ck_assert_int_eq(add_line(s, at((1LL << 40) + 1, 0, rec), QPS_SOURCE_IMPORT, 0), 1);
    ck_assert_int_eq(add_line(s, at(1LL << 40, 0, rec), QPS_SOURCE_IMPORT, 0), 1);
    qps_store_info info;
    ck_assert_int_eq(qps_store_stat(s, &info), QPS_OK);
    ck_assert_int_eq(info.first, 0);
    ck_assert_int_eq(info.last, (1LL << 40) + 1); /* not the last id's */
    /* an accept and a "connection time" 2^63 s apart are not one connection */
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    add_line(s, at(-(1LL << 62), 0, "6 Accepted connection 0/40 from 192.0.2.6 / x"), QPS_SOURCE_IMPORT, 0);
    add_line(s, at(1LL << 62, 0, "6 (post-connection) connection_time: 1.000 s."), QPS_SOURCE_IMPORT, 0);
    ck_assert_int_eq(qps_store_commit(s), QPS_OK);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM connections WHERE end_time IS NOT NULL"), 0);
    report(s, 0, 1, (uint64_t[]){1, 0, 0, 0});
    report(s, 1LL << 40, (1LL << 40) + 1, (uint64_t[]){1, 0, 0, 0});
    report(s, 1, INT64_MAX, (uint64_t[]){2, 0, 1, 0}); /* and the "connection time" at 2^62 */
    qps_store_close(s);
}
END_TEST

/* A reused pid's earlier accept keeps its own address. */
START_TEST(reused_pid_keeps_each_accept)
{
    qps_store *s = open_rw();
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    add_line(s, at(T0, 0, "101 Accepted connection 0/40 from 192.168.100.200 / a"), QPS_SOURCE_IMPORT, 0);
    add_line(s, at(T0 + 1, 0, "102 Accepted connection 1/40 from 10.9.9.9 / b"), QPS_SOURCE_IMPORT, 0);
    add_line(s, at(T0 + 2, 0, "101 Accepted connection 1/40 from 172.16.0.1 / c"), QPS_SOURCE_IMPORT, 0);
    ck_assert_int_eq(qps_store_commit(s), QPS_OK);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM connections WHERE ip = '192.168.100.200' AND pid = 101"), 1);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM connections WHERE ip = '10.9.9.9' AND pid = 102"), 1);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM connections WHERE ip = '172.16.0.1' AND pid = 101"), 1);
    qps_store_close(s);
}
END_TEST

/* Twins still pair after a line with a forged, far-away label, and when
 * the plugin writes inside an import's transaction. */
START_TEST(pairing_survives_odd_order)
{
    qps_store *s = open_rw();
    const char *live = "8909 (deny) logging::logterse: ` 192.0.2.1\tx\tx\t<a@b.example>\t\thelo\t903\tno\tmsg denied "
                       "before queued";
    char logged[1024];
    ck_assert_int_eq(add_line(s, live, QPS_SOURCE_PLUGIN, 1000), 1);
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    ck_assert_int_eq(add_line(s, at(INT64_MIN + 6, 0, "1 (deny) logging::logterse: ` 1.2.3.4\tx\tx\t\t\thelo\t903\tx\t"
                                                    "msg denied before queued"),
                              QPS_SOURCE_IMPORT, 0), 1);
    snprintf(logged, sizeof logged, "%s", at(1000, 300, live));
    ck_assert_int_eq(add_line(s, logged, QPS_SOURCE_IMPORT, 0), 0);
    ck_assert_int_eq(qps_store_commit(s), QPS_OK);
    ck_assert_uint_eq(transactions(s), 2);

    /* import X, the plugin's Y, then Y's log line, in one transaction */
    const char *y = "77 (deny) logging::logterse: ` 192.0.2.77\tx\tx\t<y@b.example>\t\thelo\t903\tno\tmsg denied "
                    "before queued";
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    ck_assert_int_eq(add_line(s, at(5000, 0, "76 (deny) logging::logterse: ` 192.0.2.76\tx\tx\t<x@b.example>\t\thelo\t"
                                             "903\tno\tmsg denied before queued"),
                              QPS_SOURCE_IMPORT, 0), 1);
    ck_assert_int_eq(add_line(s, y, QPS_SOURCE_PLUGIN, 5000), 1);
    snprintf(logged, sizeof logged, "%s", at(5001, 0, y));
    ck_assert_int_eq(add_line(s, logged, QPS_SOURCE_IMPORT, 0), 0);
    ck_assert_int_eq(qps_store_commit(s), QPS_OK);
    ck_assert_uint_eq(transactions(s), 4);
    qps_store_close(s);
}
END_TEST

/* A write that fails inside a transaction dooms it: rows reported as
 * added and then lost must not be followed by a commit that succeeds. */
START_TEST(failed_write_dooms_transaction)
{
    qps_store *s = open_rw();
    qps_store_close(s);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "CREATE TRIGGER boom BEFORE INSERT ON transactions WHEN NEW.pid = 999 "
                                      "BEGIN SELECT RAISE(ABORT, 'boom'); END;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    s = open_rw();
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    char text[256];
    qps_status st = QPS_OK;
    for (int pid = 1; pid <= 40 && st == QPS_OK; pid++) {
        snprintf(text, sizeof text, "%d (deny) logging::logterse: ` 192.0.2.1\tx\tx\t\t\thelo\t903\tno\tmsg denied "
                                    "before queued", pid == 32 ? 999 : pid);
        st = store_line(s, at(T0 + pid, 0, text), NULL, QPS_SOURCE_IMPORT, 0, NULL);
    }
    ck_assert_int_eq(st, QPS_EIO); /* at the 32nd: the rows go in 32 at a time */
    ck_assert_int_ne(qps_store_commit(s), QPS_OK);
    ck_assert_ptr_nonnull(strstr(qps_store_error(s), "rolled back"));
    ck_assert_uint_eq(transactions(s), 0);
    /* the next transaction is a fresh one */
    ck_assert_int_eq(add_line(s, terse_line, QPS_SOURCE_IMPORT, 0), 1);
    ck_assert_uint_eq(transactions(s), 1);
    qps_store_close(s);
}
END_TEST

/* Pruning keeps the connection time of a connection that ends after the
 * cut, although its accept (in the same row) goes: the accept lives on in
 * its day's totals (daily_facts: no counter of /metrics goes down), which
 * a selection covers when it covers the day's start. */
START_TEST(prune_keeps_later_connection_time)
{
    qps_store *s = open_rw();
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    add_line(s, at(T0, 0, "5 Accepted connection 0/40 from 192.0.2.5 / x"), QPS_SOURCE_IMPORT, 0);
    add_line(s, at(T0 + 10, 0, "5 (post-connection) connection_time: 10.000 s."), QPS_SOURCE_IMPORT, 0);
    ck_assert_int_eq(qps_store_commit(s), QPS_OK);
    uint64_t removed;
    ck_assert_int_eq(qps_store_prune(s, T0 + 5, &removed), QPS_OK);
    report(s, T0 + 5, T0 + 100, (uint64_t[]){0, 0, 1, 0});
    report(s, 0, T0 + 100, (uint64_t[]){0, 1, 1, 0});
    qps_store_close(s);
}
END_TEST

/* A record whose fields are all empty is stored, as the log report counts it. */
START_TEST(empty_fields_are_stored)
{
    qps_store *s = open_rw();
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    /* no server name either: the row has no text at all */
    ck_assert_int_eq(store_line(s, at(T0, 0, "1 (deny) logging::logterse: ` \t\t\t\t\t\t\t"), NULL,
                                QPS_SOURCE_IMPORT, 0, NULL),
                     QPS_OK);
    ck_assert_int_eq(qps_store_commit(s), QPS_OK);
    ck_assert_uint_eq(transactions(s), 1);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM transactions WHERE disposition = '' AND ip = ''"), 1);
    qps_store_close(s);
}
END_TEST

static void add_trigger(const char *sql)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* An import that fails at its very end (the file's offset) leaves the
 * store unlocked, and a prune that fails inside a transaction dooms it. */
START_TEST(failures_leave_the_store_usable)
{
    qps_store *s = open_rw();
    qps_store_close(s);
    add_trigger("CREATE TRIGGER boom BEFORE INSERT ON files BEGIN SELECT RAISE(ABORT, 'boom'); END;");
    char log[300];
    FILE *f = new_log(log, sizeof log);
    fprintf(f, "%s\n", terse_line);
    fclose(f);
    s = open_rw();
    uint64_t added = 0;
    ck_assert_int_ne(qps_store_import_file(s, log, NULL, &added), QPS_OK);
    ck_assert_uint_eq(added, 0);
    ck_assert_int_eq(qps_store_begin(s), QPS_OK); /* not still in the failed import's transaction */
    ck_assert_int_eq(qps_store_rollback(s), QPS_OK);
    ck_assert_uint_eq(transactions(s), 0);
    qps_store_close(s);

    add_trigger("DROP TRIGGER boom; CREATE TRIGGER nodel BEFORE DELETE ON transactions "
                "BEGIN SELECT RAISE(ABORT, 'no'); END;");
    s = open_rw();
    ck_assert_int_eq(add_line(s, terse_line, QPS_SOURCE_IMPORT, 0), 1);
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    uint64_t removed;
    ck_assert_int_ne(qps_store_prune(s, 0x6b07390dLL + 1, &removed), QPS_OK);
    ck_assert_int_ne(qps_store_commit(s), QPS_OK); /* daily totals without their deletes: no */
    ck_assert_int_eq(sql_number("SELECT count(*) FROM daily"), 0);
    ck_assert_uint_eq(transactions(s), 1);
    qps_store_close(s);
}
END_TEST

/* Nanoseconds beyond a second in a label are clamped, never mistaken for
 * "no time". */
START_TEST(odd_nanoseconds)
{
    qps_store *s = open_rw();
    const char *rec = "9 (deny) logging::logterse: ` 192.0.2.7\tx\tx\t\t\thelo\t903\tbad\tmsg denied before queued";
    ck_assert_int_eq(add_line(s, at(T0, 0xffffffffu, rec), QPS_SOURCE_IMPORT, 0), 1);
    ck_assert_int_eq(add_line(s, at(T0, 0xc0000000u, rec), QPS_SOURCE_IMPORT, 0), 1);
    report(s, T0, T0 + 1, (uint64_t[]){2, 0, 0, 0});
    qps_store_close(s);
}
END_TEST

/* Lines without a time (a log without timestamps) stay untimed: they
 * join or fold with no timed line, whatever its time, and do not move the
 * store's first time. */
START_TEST(untimed_lines)
{
    qps_store *s = open_rw();
    const char *bare[] = {
        "40 Accepted connection 0/40 from 192.0.2.40 / x",
        "41 (queue) logging::logterse: ` 192.0.2.41\tx\tx\t<a@b.example>\t<c@d.example>\tqueued\t\t<id>\t"
        "No, score=1.0 required=5.0",
        "41 250 Queued! 1 qp 2 <id>",
        "40 (post-connection) connection_time: 1.000 s.",
    };
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    /* timed at 0 (a forged label), then the untimed lines of the same pids */
    add_line(s, at(0, 0, "40 Accepted connection 0/40 from 192.0.2.40 / x"), QPS_SOURCE_IMPORT, 0);
    add_line(s, at(0, 0, bare[1]), QPS_SOURCE_IMPORT, 0);
    for (int i = 2; i < 4; i++)
        ck_assert_int_eq(store_line(s, bare[i], NULL, QPS_SOURCE_IMPORT, 0, NULL), QPS_OK);
    for (int n = 0; n < 40; n++)
        for (int i = 0; i < 2; i++)
            ck_assert_int_eq(store_line(s, bare[i], NULL, QPS_SOURCE_IMPORT, 0, NULL), QPS_OK);
    add_line(s, at(T0, 0, bare[1]), QPS_SOURCE_IMPORT, 0);
    ck_assert_int_eq(qps_store_commit(s), QPS_OK);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM transactions WHERE queue_ok IS NOT NULL"), 0);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM connections WHERE end_time IS NOT NULL"), 0);
    ck_assert_int_eq(sql_number("SELECT count(*) FROM transactions WHERE nsec < 0"), 40);
    qps_store_info info;
    ck_assert_int_eq(qps_store_stat(s, &info), QPS_OK);
    ck_assert_uint_eq(info.transactions, 42);
    ck_assert_int_eq(info.first, 0);
    ck_assert_int_eq(info.last, T0);
    /* a selection leaves the untimed ones out (counted as untimed) */
    report(s, 0, 1, (uint64_t[]){1, 1, 0, 0});
    report(s, T0, T0 + 1, (uint64_t[]){1, 0, 0, 0});
    qps_agg *agg = qps_agg_new(NULL);
    ck_assert_int_eq(qps_store_aggregate(s, agg), QPS_OK);
    qps_counts c;
    qps_conn_stats cs;
    qps_agg_counts(agg, &c);
    qps_agg_conn_stats(agg, &cs);
    ck_assert_uint_eq(c.transactions, 42);
    ck_assert_uint_eq(cs.accepted, 41);
    ck_assert_uint_eq(cs.timed, 1);
    ck_assert_uint_eq(cs.queue_accepted, 1);
    qps_agg_free(agg);
    qps_store_close(s);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, create_add_and_report);
    tcase_add_test(core, live_and_logged_copies_are_twins);
    tcase_add_test(core, file_offsets);
    tcase_add_test(core, import_resumes);
    tcase_add_test(core, prune_keeps_daily_totals);
    tcase_add_test(core, a_connection_in_few_rows);
    tcase_add_test(core, plugin_twins_of_folded_rows);
    tcase_add_test(core, rows_of_one_instant);
    tcase_add_test(core, times_far_away);
    tcase_add_test(core, reused_pid_keeps_each_accept);
    tcase_add_test(core, pairing_survives_odd_order);
    tcase_add_test(core, prune_keeps_later_connection_time);
    tcase_add_test(core, empty_fields_are_stored);
    tcase_add_test(core, odd_nanoseconds);
    tcase_add_test(core, untimed_lines);
    suite_add_tcase(s, core);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, refuses_bad_files);
    tcase_add_test(errors, failed_write_dooms_transaction);
    tcase_add_test(errors, failures_leave_the_store_usable);
    suite_add_tcase(s, errors);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
