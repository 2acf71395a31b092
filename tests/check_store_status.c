/*
 * check_store_status.c - the store says what went wrong: its own status
 * codes (read-only, transaction state, a stopped walk, a lock), SQL errors
 * from qps_store_stat; a fresh store and a migrated one have the same
 * tables; qps_agg_add_line_kind tells a valid line from an invalid one.
 * Run from the source tree (it reads t/data/store-v1.db).
 */
#include "qpstat.h"

#include <check.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/qps-check-status-XXXXXX";
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
    strcpy(dir, "/tmp/qps-check-status-XXXXXX");
}

static qps_store *open_store(const char *file, int flags, int busy_ms)
{
    qps_status st;
    char err[256];
    qps_store *s = qps_store_open(file, flags, busy_ms, &st, err, sizeof err);
    ck_assert_msg(s != NULL, "open %s: %s", file, err);
    return s;
}

static const char *terse_line =
    "@400000006b07390d1f43b72c 8909 (deny) logging::logterse: ` 127.0.0.1\tUnknown\tclient.example\t"
    "<a@b.example>\t<c@d.example>\tspamassassin\t901\tspam score exceeded threshold\tYes, score=9.0 required=5.0";

static qps_status add(qps_store *s, const char *line)
{
    qps_parser *p = qps_parser_new(NULL);
    qps_record rec;
    qps_parser_parse(p, line, strlen(line), &rec);
    qps_status st = qps_store_add(s, &rec, "mx", 0, 0, QPS_SOURCE_IMPORT, NULL);
    qps_parser_free(p);
    return st;
}

static bool error_has(const qps_store *s, const char *what)
{
    return strstr(qps_store_error(s), what) != NULL;
}

START_TEST(transaction_state)
{
    qps_store *s = open_store(path, QPS_STORE_CREATE, 1000);
    ck_assert_int_eq(qps_store_commit(s), QPS_ESTATE);
    ck_assert_msg(error_has(s, "no transaction is open"), "%s", qps_store_error(s));
    ck_assert_int_eq(qps_store_rollback(s), QPS_ESTATE);
    ck_assert_int_eq(qps_store_begin(s), QPS_OK);
    ck_assert_int_eq(qps_store_begin(s), QPS_ESTATE);
    ck_assert_msg(error_has(s, "already open"), "%s", qps_store_error(s));
    /* an import needs a transaction of its own */
    char log[300];
    snprintf(log, sizeof log, "%s/current", dir);
    FILE *f = fopen(log, "w");
    fprintf(f, "%s\n", terse_line);
    fclose(f);
    ck_assert_int_eq(qps_store_import_file(s, log, NULL, NULL), QPS_ESTATE);
    /* the open transaction is unharmed */
    ck_assert_int_eq(add(s, terse_line), QPS_OK);
    ck_assert_int_eq(qps_store_commit(s), QPS_OK);
    qps_store_info info;
    ck_assert_int_eq(qps_store_stat(s, &info), QPS_OK);
    ck_assert_uint_eq(info.transactions, 1);
    qps_store_close(s);
}
END_TEST

START_TEST(read_only)
{
    qps_store_close(open_store(path, QPS_STORE_CREATE, 1000));
    qps_store *s = open_store(path, QPS_STORE_READONLY, 1000);
    ck_assert_int_eq(add(s, terse_line), QPS_EREADONLY);
    ck_assert_msg(error_has(s, "read-only"), "%s", qps_store_error(s));
    uint64_t removed = 7;
    ck_assert_int_eq(qps_store_prune(s, 2000000000, &removed), QPS_EREADONLY);
    ck_assert_uint_eq(removed, 0);
    ck_assert_int_eq(qps_store_begin(s), QPS_EREADONLY);
    char log[300];
    snprintf(log, sizeof log, "%s/current", dir);
    FILE *f = fopen(log, "w");
    fprintf(f, "%s\n", terse_line);
    fclose(f);
    ck_assert_int_eq(qps_store_import_file(s, log, NULL, NULL), QPS_EREADONLY);
    ck_assert_msg(error_has(s, "read-only"), "%s", qps_store_error(s));
    /* reading still works */
    qps_store_info info;
    ck_assert_int_eq(qps_store_stat(s, &info), QPS_OK);
    qps_store_close(s);
}
END_TEST

static int stop_at_first(void *ctx, const qps_record *rec)
{
    (void)rec;
    ++*(int *)ctx;
    return 1;
}

START_TEST(stopped_walk)
{
    qps_store *s = open_store(path, QPS_STORE_CREATE, 1000);
    ck_assert_int_eq(add(s, terse_line), QPS_OK);
    ck_assert_int_eq(add(s, terse_line), QPS_OK);
    int calls = 0;
    ck_assert_int_eq(qps_store_each(s, INT64_MIN, INT64_MAX, stop_at_first, &calls), QPS_ESTOPPED);
    ck_assert_int_eq(calls, 1);
    qps_store_close(s);
}
END_TEST

START_TEST(locked)
{
    qps_store *a = open_store(path, QPS_STORE_CREATE, 1000);
    qps_store *b = open_store(path, QPS_STORE_CREATE, 0);
    ck_assert_int_eq(qps_store_begin(a), QPS_OK);
    ck_assert_int_eq(qps_store_begin(b), QPS_EBUSY);
    ck_assert_int_eq(add(b, terse_line), QPS_EBUSY);
    ck_assert_int_eq(qps_store_commit(a), QPS_OK);
    ck_assert_int_eq(add(b, terse_line), QPS_OK);
    qps_store_close(a);
    qps_store_close(b);
}
END_TEST

static void exec_sql(const char *file, const char *sql)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(file, &db), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

START_TEST(stat_reports_sql_errors)
{
    qps_store *s = open_store(path, QPS_STORE_CREATE, 1000);
    ck_assert_int_eq(add(s, terse_line), QPS_OK);
    qps_store_close(s);
    exec_sql(path, "DROP TABLE daily");
    s = open_store(path, QPS_STORE_READONLY, 1000);
    qps_store_info info;
    ck_assert_int_eq(qps_store_stat(s, &info), QPS_EIO);
    ck_assert_msg(error_has(s, "daily"), "%s", qps_store_error(s));
    qps_store_close(s);
}
END_TEST

/* "name type notnull default pk|..." of every column of every table */
static void schema_of(const char *file, char *out, size_t cap)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT m.name, p.name, p.type, p.\"notnull\", coalesce(p.dflt_value, ''), p.pk "
                                        "FROM sqlite_master m, pragma_table_info(m.name) p "
                                        "WHERE m.type = 'table' ORDER BY m.name, p.cid",
                                        -1, &q, NULL),
                     SQLITE_OK);
    size_t n = 0;
    out[0] = '\0';
    while (sqlite3_step(q) == SQLITE_ROW && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "%s.%s %s %d %s %d|", sqlite3_column_text(q, 0),
                              sqlite3_column_text(q, 1), sqlite3_column_text(q, 2), sqlite3_column_int(q, 3),
                              sqlite3_column_text(q, 4), sqlite3_column_int(q, 5));
    sqlite3_finalize(q);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name", -1,
                                        &q, NULL),
                     SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "index %s|", sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
}

START_TEST(fresh_and_migrated_schemas_agree)
{
    qps_store_close(open_store(path, QPS_STORE_CREATE, 1000));
    char v1[300], cmd[700];
    snprintf(v1, sizeof v1, "%s/v1.db", dir);
    snprintf(cmd, sizeof cmd, "cp t/data/store-v1.db '%s'", v1);
    ck_assert_int_eq(system(cmd), 0);
    qps_store_close(open_store(v1, 0, 1000));
    static char fresh[8192], migrated[8192];
    schema_of(path, fresh, sizeof fresh);
    schema_of(v1, migrated, sizeof migrated);
    ck_assert_str_eq(fresh, migrated);
    ck_assert_ptr_nonnull(strstr(fresh, "transactions.queue_ok INTEGER"));
    ck_assert_ptr_nonnull(strstr(fresh, "connections.end_nsec INTEGER"));
    ck_assert_ptr_nonnull(strstr(fresh, "index transactions_live|"));
}
END_TEST

START_TEST(status_names)
{
    const qps_status codes[] = {QPS_EREADONLY, QPS_ESTATE, QPS_ESTOPPED, QPS_EBUSY};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        ck_assert_str_ne(qps_strerror(codes[i]), "unknown status");
}
END_TEST

START_TEST(add_line_kind)
{
    qps_agg *agg = qps_agg_new(NULL);
    qps_kind kind = QPS_KIND_COUNT_;
    ck_assert_int_eq(qps_agg_add_line_kind(agg, terse_line, strlen(terse_line), &kind), QPS_OK);
    ck_assert_int_eq(kind, QPS_KIND_TERSE);
    ck_assert_int_eq(qps_agg_add_line_kind(agg, "@zzzz junk", 10, &kind), QPS_OK);
    ck_assert_int_eq(kind, QPS_KIND_INVALID);
    ck_assert_int_eq(qps_agg_add_line_kind(agg, "", 0, &kind), QPS_OK);
    ck_assert_int_eq(kind, QPS_KIND_INVALID);
    qps_counts c;
    qps_agg_counts(agg, &c);
    ck_assert_uint_eq(c.lines_read, 3);
    ck_assert_uint_eq(c.lines_invalid, 2);
    ck_assert_uint_eq(c.transactions, 1);
    qps_agg_free(agg);
}
END_TEST

static Suite *status_suite(void)
{
    Suite *s = suite_create("store status");
    TCase *tc = tcase_create("status");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, transaction_state);
    tcase_add_test(tc, read_only);
    tcase_add_test(tc, stopped_walk);
    tcase_add_test(tc, locked);
    tcase_add_test(tc, stat_reports_sql_errors);
    tcase_add_test(tc, fresh_and_migrated_schemas_agree);
    tcase_add_test(tc, status_names);
    tcase_add_test(tc, add_line_kind);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(status_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
