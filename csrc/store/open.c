/*
 * open.c - the SQLite store: transactions, connection facts, import
 * bookkeeping and daily totals in one file that the sqlite3 shell can read.
 * This file opens it, creates or migrates its schema (schema.c) and
 * prepares its statements; tx.c groups writes into transactions, write.c
 * and batch.c add records, read.c reads them back, prune.c thins them out.
 *
 * Every row keeps the fields the aggregator reads, so a report from the
 * store runs the very same aggregator as a report from the logs.
 *
 * License: MIT (see README).
 */
#include "store_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* How a statement's SQL is made: written out, or from a table's column
 * list (schema.h), so its columns are at their positions. */
typedef enum { SQL_TEXT, SQL_INSERT, SQL_INSERT_MULTI, SQL_SELECT } sql_form;

typedef struct {
    sql_form form;
    int table;        /* SQL_INSERT*, SQL_SELECT */
    const char *text; /* SQL_TEXT: the statement; SQL_SELECT: what follows the columns */
    bool writes;      /* a read-only store does not prepare it */
} statement;

static const statement statements[ST_COUNT_] = {
    [ST_ADD_TX] = {SQL_INSERT, TB_TRANSACTIONS, NULL, true},
    [ST_ADD_CONN] = {SQL_INSERT, TB_CONNECTIONS, NULL, true},
    [ST_ADD_TX_MULTI] = {SQL_INSERT_MULTI, TB_TRANSACTIONS, NULL, true},
    [ST_ADD_CONN_MULTI] = {SQL_INSERT_MULTI, TB_CONNECTIONS, NULL, true},
    [ST_LAST_TX_KEY] = {SQL_TEXT, 0, "SELECT max(id) FROM transactions WHERE id BETWEEN ? AND ?", true},
    [ST_LAST_CONN_KEY] = {SQL_TEXT, 0, "SELECT max(id) FROM connections WHERE id BETWEEN ? AND ?", true},
    [ST_LIVE_TX] = {SQL_TEXT, 0, "SELECT min(time) FROM transactions WHERE source = 2 AND time >= ?", true},
    [ST_LIVE_CONN] = {SQL_TEXT, 0, "SELECT min(time) FROM connections WHERE source = 2 AND time >= ?", true},
    /* an imported copy looks among the few live rows (a partial index) */
    [ST_FIND_LIVE_TX] = {SQL_TEXT, 0,
                         "SELECT id, time, service IS NULL FROM transactions WHERE source = 2 AND time BETWEEN ?2 AND ?3 "
                         "AND dedup = ?1 AND twin = 0 LIMIT 1",
                         true},
    [ST_FIND_LIVE_CONN] = {SQL_TEXT, 0,
                           "SELECT id FROM connections WHERE source = 2 AND time BETWEEN ?2 AND ?3 "
                           "AND dedup = ?1 AND twin = 0 LIMIT 1",
                           true},
    /* a live copy looks among the rows of its minutes (ids are times) */
    [ST_FIND_LOGGED_TX] = {SQL_SELECT, TB_TRANSACTIONS,
                           "WHERE id BETWEEN ?1 AND ?2 AND pid = ?3 AND source != 2 AND twin = 0 ORDER BY id", true},
    [ST_FIND_LOGGED_CONN] = {SQL_TEXT, 0,
                             "SELECT id FROM connections WHERE id BETWEEN ?1 AND ?2 AND pid = ?3 AND kind = ?4 "
                             "AND source != 2 AND twin & 1 = 0 LIMIT 1",
                             true},
    /* a connection time alone, or folded into its accept */
    [ST_FIND_LOGGED_CT] = {SQL_TEXT, 0,
                           "SELECT id FROM connections WHERE id BETWEEN ?1 AND ?2 AND pid = ?3 "
                           "AND (kind = 'connection_time' OR (kind = 'accept' AND millis IS NOT NULL)) "
                           "AND source != 2 AND twin & 2 = 0 LIMIT 1",
                           true},
    /* the log's copy names the unit the plugin's does not know */
    [ST_TWIN_TX] = {SQL_TEXT, 0, "UPDATE transactions SET twin = 1, service = coalesce(service, ?2) WHERE id = ?1",
                    true},
    [ST_FIND_LOGGED_QUEUED] = {SQL_TEXT, 0,
                               "SELECT id FROM transactions WHERE id BETWEEN ?1 AND ?2 AND pid = ?3 "
                               "AND queue_ok = 1 AND source != 2 LIMIT 1",
                               true},
    [ST_MARK_QUEUED] = {SQL_TEXT, 0, "UPDATE transactions SET queue_ok = 2 WHERE id = ?", true},
    [ST_TWIN_CONN_BIT] = {SQL_TEXT, 0, "UPDATE connections SET twin = twin | ?2 WHERE id = ?1", true},
    /* the log's copy came second: its values replace the plugin's */
    [ST_TWIN_CONN_LOGGED] = {SQL_TEXT, 0,
                             "UPDATE connections SET twin = 1, running = ?2, max = ?3, "
                             "millis = coalesce(?4, millis), ip = coalesce(?5, ip) WHERE id = ?1",
                             true},
    /* files.c: which file is which, how far it was imported */
    [ST_FILE_EXACT] = {SQL_TEXT, 0, "SELECT id, offset, inode FROM files WHERE head_len = ?1 AND head_hash = ?2", false},
    /* rows written while the file was shorter: few, the longest first */
    [ST_FILE_SHORTER] = {SQL_TEXT, 0,
                         "SELECT id, offset, inode, head_len, head_hash FROM files "
                         "WHERE head_len BETWEEN 1 AND ?1 - 1 ORDER BY head_len DESC",
                         false},
    [ST_FILE_LEGACY] = {SQL_TEXT, 0, "SELECT id, offset, inode FROM files WHERE head_len = 0 AND first_line = ?1",
                        false},
    [ST_FILE_OFFSET] = {SQL_TEXT, 0, "SELECT offset FROM files WHERE id = ?1", false},
    [ST_FILE_NAME] = {SQL_TEXT, 0, "SELECT name FROM files WHERE id = ?1", false},
    [ST_FILE_INSERT] = {SQL_TEXT, 0,
                        "INSERT INTO files (head_len, head_hash, inode, name, offset, lines_read, lines_invalid, updated) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, strftime('%s','now'))",
                        true},
    /* a head only grows, an offset only moves on (another importer may be
     * ahead); the CASEs all see the row's old head_len */
    [ST_FILE_UPDATE] = {SQL_TEXT, 0,
                        "UPDATE files SET head_hash = CASE WHEN ?1 > head_len THEN ?2 ELSE head_hash END, "
                        "head_len = max(head_len, ?1), inode = ?3, name = ?4, offset = max(offset, ?5), "
                        "lines_read = lines_read + ?6, lines_invalid = lines_invalid + ?7, "
                        "updated = strftime('%s','now') WHERE id = ?8",
                        true},
    [ST_SPAN_LAST] = {SQL_TEXT, 0,
                      "SELECT CAST(substr(value, instr(value, ' ') + 1) AS INTEGER) FROM meta WHERE key = ?1", false},
    [ST_MARK_GET] = {SQL_TEXT, 0, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'imported_until'", true},
    [ST_MARK_SET] = {SQL_TEXT, 0,
                     "INSERT INTO meta (key, value) VALUES ('imported_until', ?1) "
                     "ON CONFLICT(key) DO UPDATE SET value = ?1",
                     true},
    [ST_MARK_SCAN_TX] = {SQL_TEXT, 0,
                         "SELECT id FROM transactions WHERE source != 2 AND nsec >= 0 ORDER BY id DESC LIMIT 1", true},
    [ST_MARK_SCAN_CONN] = {SQL_TEXT, 0,
                           "SELECT id FROM connections WHERE source != 2 AND nsec >= 0 ORDER BY id DESC LIMIT 1",
                           true},
    /* a journal's position: the cursor of the last entry stored (journal.c) */
    [ST_JOURNAL_GET] = {SQL_TEXT, 0, "SELECT value FROM meta WHERE key = ?1", false},
    [ST_JOURNAL_SET] = {SQL_TEXT, 0,
                        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
                        true},
    /* totals.c */
    [ST_SPAN_AT] = {SQL_TEXT, 0, "SELECT start, end FROM spans WHERE start <= ?1 ORDER BY start DESC LIMIT 1", true},
    [ST_SPAN_NEXT] = {SQL_TEXT, 0, "SELECT min(start) FROM spans WHERE start > ?1", true},
    [ST_SPAN_ADD] = {SQL_TEXT, 0, "INSERT INTO spans (start, end, day) VALUES (?1, ?2, ?3)", true},
    [ST_SPAN_WIDEN] = {SQL_TEXT, 0,
                       "UPDATE spans SET first = min(coalesce(first, ?2), ?2), last = max(coalesce(last, ?3), ?3) "
                       "WHERE start = ?1",
                       true},
    [ST_TOTAL_ADD] = {SQL_TEXT, 0,
                      "INSERT INTO totals (span, what, key, count, first) VALUES (?1, ?2, ?3, ?4, ?5) "
                      "ON CONFLICT(span, what, key) DO UPDATE SET count = CASE ?6 "
                      "WHEN 4 THEN min(count, excluded.count) WHEN 8 THEN max(count, excluded.count) "
                      "ELSE count + excluded.count END, first = min(first, excluded.first)",
                      true},
    [ST_CONN_ROW] = {SQL_TEXT, 0,
                     "SELECT kind, time, nsec, running, max, millis, end_time FROM connections WHERE id = ?1", true},
    /* conn_times.c */
    [ST_CONN_TIMES_GET] = {SQL_TEXT, 0, "SELECT counts FROM conn_times WHERE span = ?1 AND bucket = ?2", true},
    [ST_CONN_TIMES_PUT] = {SQL_TEXT, 0,
                           "INSERT INTO conn_times (span, bucket, counts) VALUES (?1, ?2, ?3) "
                           "ON CONFLICT(span, bucket) DO UPDATE SET counts = excluded.counts",
                           true},
    [ST_CONN_TIMES_DELETE] = {SQL_TEXT, 0, "DELETE FROM conn_times WHERE span = ?1 AND bucket = ?2", true},
    [ST_CONN_TIMES_SPAN] = {SQL_TEXT, 0, "SELECT bucket, counts FROM conn_times WHERE span = ?1", false},
};

static void statement_sql(const statement *st, int version, qps_buf *out)
{
    switch (st->form) {
    case SQL_INSERT:
        store_insert_sql(&store_tables[st->table], 1, out);
        break;
    case SQL_INSERT_MULTI:
        store_insert_sql(&store_tables[st->table], MULTI_ROWS, out);
        break;
    case SQL_SELECT:
        store_select_sql(&store_tables[st->table], version, out);
        qps_buf_printf(out, "%s", st->text);
        break;
    default:
        qps_buf_printf(out, "%s", st->text);
    }
}

/* From version 1 (earlier qpstat releases; meta, files and daily are as
 * they were) to 2: ids are time keys (the tables are their own time index),
 * no raw lines, dedup without its time bucket and only on live records,
 * transactions that may carry their queue's reply, connection rows that
 * may carry their connection time. Rows keep their order; ids that two
 * rows would share (same nanosecond) go up by one, as new rows' do. The
 * new tables are created from the column lists between `before` and
 * `after`. */
static const char v1_to_v2_before[] =
    "ALTER TABLE transactions RENAME TO transactions_v1;"
    "ALTER TABLE connections RENAME TO connections_v1;"
    /* (stores of early builds lack some of these) */
    "DROP INDEX IF EXISTS transactions_time; DROP INDEX IF EXISTS transactions_dedup;"
    "DROP INDEX IF EXISTS transactions_live; DROP INDEX IF EXISTS connections_time;"
    "DROP INDEX IF EXISTS connections_dedup; DROP INDEX IF EXISTS connections_live;";
static const char v1_to_v2_after[] =
    /* id_i = max(id_{i-1} + 1, key_i) over the rows in time order */
    "INSERT INTO transactions (id, time, nsec, server, pid, ip, rhost, helo, sender, recipients, disposition,"
    " code, text, spam, spam_verdict, score, required, source, dedup, twin)"
    " SELECT rn + max(k - rn) OVER (ORDER BY rn ROWS UNBOUNDED PRECEDING), time, nsec, server, pid, ip, rhost,"
    "  helo, sender, recipients, disposition, code, text, spam, spam_verdict, score, required, source,"
    "  CASE WHEN source = 2 THEN dedup & 68719476735 END, twin"
    " FROM (SELECT *, (min(max(time, 0), 4294967295) << 30) | min(max(nsec, 0), 999999999) AS k,"
    "       row_number() OVER (ORDER BY time, nsec, id) AS rn FROM transactions_v1);"
    "INSERT INTO connections (id, time, nsec, server, pid, kind, ip, running, max, millis, source, dedup, twin)"
    " SELECT rn + max(k - rn) OVER (ORDER BY rn ROWS UNBOUNDED PRECEDING), time, nsec, server, pid, kind, ip,"
    "  running, max, millis, source, dedup & 68719476735, twin"
    " FROM (SELECT *, (min(max(time, 0), 4294967295) << 30) | min(max(nsec, 0), 999999999) AS k,"
    "       row_number() OVER (ORDER BY time, nsec, id) AS rn FROM connections_v1);"
    "DROP TABLE transactions_v1; DROP TABLE connections_v1;";

/* From version 2 to 3: files known by their first bytes (files.c), not by
 * the hash of their first line; a row of version 2 keeps that hash (as
 * first_line, and as its id, which the spans in meta are keyed by) to be
 * found by it once. */
static const char v2_to_v3_before[] = "ALTER TABLE files RENAME TO files_v2;";
static const char v2_to_v3_after[] =
    "INSERT INTO files (id, head_len, head_hash, first_line, inode, name, offset, lines_read, lines_invalid, updated)"
    " SELECT head_hash, 0, 0, head_hash, inode, name, offset, lines_read, lines_invalid, updated FROM files_v2;"
    "DROP TABLE files_v2;";

/* From version 4 to 5: a transaction names its systemd unit (journal
 * lines, syslog idents "qpsmtpd.service[pid]"), so report --db --by service
 * counts what report over the journal counts. Rows of before have none:
 * each span's transactions (its "hk" totals, all time's "ck") count under
 * the empty service, as a record without one does. */
static const char v4_to_v5[] =
    "ALTER TABLE transactions ADD COLUMN service TEXT;"
    "INSERT INTO totals (span, what, key, count, first)"
    " SELECT span, 'service', '', sum(count), min(first) FROM totals WHERE what IN ('hk', 'ck') GROUP BY span;";

/* The SQL that brings a store of schema `version` to QPS_STORE_SCHEMA. */
static void migration_sql(int version, qps_buf *out)
{
    if (version == 0) {
        for (int t = 0; t < TB_COUNT_; t++)
            store_create_sql(&store_tables[t], out);
        /* (empty: a new store has no days pruned without totals) */
        store_create_copy_sql(&store_tables[TB_DAILY], "daily_v3", false, out);
        store_create_copy_sql(&store_tables[TB_DAILY_FACTS], "daily_facts_v3", false, out);
        return;
    }
    if (version == 1) {
        qps_buf_printf(out, "%s", v1_to_v2_before);
        store_create_sql_at(&store_tables[TB_TRANSACTIONS], 3, out);
        store_create_sql_at(&store_tables[TB_CONNECTIONS], 3, out);
        qps_buf_printf(out, "%s", v1_to_v2_after);
    }
    if (version <= 2) {
        qps_buf_printf(out, "%s", v2_to_v3_before);
        store_create_sql_at(&store_tables[TB_FILES], 3, out);
        qps_buf_printf(out, "%s", v2_to_v3_after);
    }
    /* (came within version 3: stores of 3 lacking it get it at their first prune) */
    store_create_missing_sql(&store_tables[TB_DAILY_FACTS], out);
    if (version <= 3) {
        /* version 4: totals kept as records are written; migrate() fills
         * them. The days pruned before have none: their daily totals as
         * they are now are read by reports without filters (read.c), while
         * later prunes add to daily only what the totals hold already */
        store_create_sql(&store_tables[TB_SPANS], out);
        store_create_sql(&store_tables[TB_TOTALS], out);
    }
    /* (a store of 4 made before the copies were kept pruned nothing
     * without totals: its copies are empty) */
    store_create_copy_sql(&store_tables[TB_DAILY], "daily_v3", version <= 3, out);
    store_create_copy_sql(&store_tables[TB_DAILY_FACTS], "daily_facts_v3", version <= 3, out);
    if (version <= 4)
        qps_buf_printf(out, "%s", v4_to_v5);
    /* version 6: connection times as packed rows (conn_times.c), which
     * migrate() fills from the totals */
    store_create_sql(&store_tables[TB_CONN_TIMES], out);
}

/* The totals of a migrated store, from its records. */
static qps_status fill_totals(qps_store *s, int version)
{
    return version == 0 ? QPS_OK : store_totals_rebuild(s);
}

qps_status qps_store_fail(qps_store *s, qps_status st, const char *what)
{
    snprintf(s->error, sizeof s->error, "%s: %s", what, s->db ? sqlite3_errmsg(s->db) : "no database");
    if (st == QPS_EIO && s->db) {
        /* what SQLite knows went wrong */
        switch (sqlite3_errcode(s->db) & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return QPS_EBUSY;
        case SQLITE_READONLY: return QPS_EREADONLY;
        case SQLITE_NOMEM: return QPS_ENOMEM;
        }
    }
    return st;
}

qps_status qps_store_set_error(qps_store *s, qps_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof s->error, fmt, ap);
    va_end(ap);
    return st;
}

uint64_t qps_hash_bytes(const char *bytes, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)bytes[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int qps_store_exec(qps_store *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

static int user_version(qps_store *s, int *version)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Brings the schema to QPS_STORE_SCHEMA inside one write transaction. */
static qps_status migrate(qps_store *s, bool readonly)
{
    /* the version and the tables in one statement, one snapshot: another
     * process creating the schema meanwhile must not make a new store look
     * like someone else's database */
    int version = 0, tables = 0;
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT (SELECT user_version FROM pragma_user_version), "
                                "(SELECT count(*) FROM sqlite_master)",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            version = sqlite3_column_int(q, 0);
            tables = sqlite3_column_int(q, 1);
            rc = SQLITE_OK;
        }
        sqlite3_finalize(q);
    }
    if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
        return qps_store_fail(s, QPS_EFORMAT, "not a qpstat store");
    if (rc != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    if (version > QPS_STORE_SCHEMA) {
        snprintf(s->error, sizeof s->error, "the store has schema version %d, newer than this qpstat (%d)",
                 version, QPS_STORE_SCHEMA);
        return QPS_EFORMAT;
    }
    /* a non-empty database without our version is someone else's */
    if (version == 0 && tables > 0) {
        snprintf(s->error, sizeof s->error, "not a qpstat store (an SQLite database of something else)");
        return QPS_EFORMAT;
    }
    s->schema = version ? version : QPS_STORE_SCHEMA;
    if (version == QPS_STORE_SCHEMA)
        return QPS_OK;
    /* a reader takes a store of the versions it reads as they are (the
     * writers, not a report, migrate) */
    if (readonly && version >= STORE_READABLE_SCHEMA)
        return QPS_OK;
    if (readonly) {
        snprintf(s->error, sizeof s->error, "the store is empty or has an old schema: import into it first");
        return QPS_EFORMAT;
    }
    /* a new file: pages of 16 KiB take an import's rows with less work
     * per row (it must be set before the first table is created) */
    if (version == 0)
        qps_store_exec(s, "PRAGMA page_size = 16384");
    if (qps_store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot lock the store");
    /* another process may have migrated it meanwhile */
    if (user_version(s, &version) != SQLITE_OK) {
        qps_store_exec(s, "ROLLBACK");
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    }
    s->schema = QPS_STORE_SCHEMA; /* this writer's, or another's meanwhile */
    if (version < QPS_STORE_SCHEMA) {
        s->created = version == 0;
        qps_buf sql = {0};
        migration_sql(version, &sql);
        qps_status st = sql.failed ? QPS_ENOMEM : QPS_OK;
        if (st == QPS_OK && qps_store_exec(s, sql.data) != SQLITE_OK)
            st = qps_store_fail(s, QPS_EIO, "cannot create the schema");
        qps_buf_release(&sql);
        if (st == QPS_OK && version < 4)
            st = fill_totals(s, version);
        else if (st == QPS_OK && version < 6)
            st = store_conn_times_migrate(s);
        if (st != QPS_OK) {
            qps_store_exec(s, "ROLLBACK");
            return st;
        }
    }
    /* a new or migrated store is named after this machine, whose logs and
     * plugin fill it (in the schema's transaction: a write after it, in
     * WAL mode, would leave a -wal file of root's when root creates it) */
    struct utsname u;
    char sql[512];
    if (uname(&u) == 0 && u.nodename[0] && !strchr(u.nodename, '\'')) {
        snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO meta VALUES ('server', '%.*s')", 255, u.nodename);
        if (qps_store_exec(s, sql) != SQLITE_OK) {
            qps_status st = qps_store_fail(s, QPS_EIO, "cannot create the schema");
            qps_store_exec(s, "ROLLBACK");
            return st;
        }
    }
    snprintf(sql, sizeof sql,
             "PRAGMA user_version = %d; INSERT OR REPLACE INTO meta VALUES ('schema_version', '%d')",
             QPS_STORE_SCHEMA, QPS_STORE_SCHEMA);
    if (qps_store_exec(s, sql) != SQLITE_OK || qps_store_exec(s, "COMMIT") != SQLITE_OK) {
        qps_status st = qps_store_fail(s, QPS_EIO, "cannot create the schema");
        qps_store_exec(s, "ROLLBACK");
        return st;
    }
    return QPS_OK;
}

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* SQLite's own busy handler sleeps up to 100 ms between tries: with forty
 * qpsmtpd children taking turns, a waiter that slept through the short
 * gaps between the others' transactions could wait past busy_ms while the
 * store was free most of the time. Tries come every 0.25 to 2 ms at
 * first, then every 2 to 4 ms (spread so that waiters do not march in
 * step), and busy_ms is wall time, not the sum of the planned sleeps. */
static int busy_wait(void *arg, int tries)
{
    qps_store *s = arg;
    int64_t now = monotonic_ns();
    if (tries == 0)
        s->busy_since = now;
    int64_t left = (int64_t)s->busy_ms * 1000000 - (now - s->busy_since);
    if (left <= 0)
        return 0;
    s->busy_rng = s->busy_rng * 1103515245u + 12345u;
    int64_t ns = tries < 4 ? (INT64_C(250000) << tries) : INT64_C(2000000) + (s->busy_rng >> 8) % 2000000;
    if (ns > left)
        ns = left;
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&ts, NULL);
    return 1;
}

/* The store's server name from meta (NULL when it has none: a store of
 * an earlier qpstat). */
static qps_status load_server(qps_store *s)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'server'", -1, &q, NULL) != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    int rc = sqlite3_step(q);
    const char *v = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
    if (v && *v && !(s->server = strdup(v))) {
        sqlite3_finalize(q);
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory");
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    return QPS_OK;
}

/* Opens the database and readies it; for a read-only opening, `immutable`
 * tells SQLite that nobody can write it (a store on a read-only file system
 * has no -shm file to coordinate readers through). `nofollow`: the path
 * must not be a symbolic link (links.c). */
static qps_status attach(qps_store *s, const char *path, bool readonly, bool immutable, bool nofollow, int busy_ms)
{
    int oflags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | (nofollow ? SQLITE_OPEN_NOFOLLOW : 0);
    char *uri = NULL;
    if (immutable) {
        /* file: URI with the path's reserved characters escaped */
        size_t n = strlen(path);
        uri = malloc(3 * n + 32);
        if (!uri)
            return QPS_ENOMEM;
        char *u = uri + sprintf(uri, "file:");
        for (const char *c = path; *c; c++)
            u += (*c == '%' || *c == '?' || *c == '#') ? sprintf(u, "%%%02X", (unsigned char)*c)
                                                       : sprintf(u, "%c", *c);
        strcpy(u, "?immutable=1");
        oflags |= SQLITE_OPEN_URI;
    }
    int rc = sqlite3_open_v2(uri ? uri : path, &s->db, oflags | SQLITE_OPEN_NOMUTEX, NULL);
    free(uri);
    if (rc != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot open the store");
    s->busy_ms = busy_ms > 0 ? busy_ms : 0;
    s->busy_rng = (uint32_t)getpid() ^ (uint32_t)(uintptr_t)s;
    sqlite3_busy_handler(s->db, busy_wait, s);
    sqlite3_extended_result_codes(s->db, 1);
    if (!readonly && sqlite3_db_readonly(s->db, "main") == 1) {
        snprintf(s->error, sizeof s->error, "cannot write the store: it is read-only");
        return QPS_EREADONLY;
    }
    qps_status st = migrate(s, readonly);
    /* before WAL mode: a read in it would leave -wal and -shm files behind
     * (owned by root, when root creates the store for qpsmtpd) */
    if (st == QPS_OK)
        st = load_server(s);
    if (st == QPS_OK && !readonly) {
        /* WAL: readers (reports) never block the writers (qpsmtpd) */
        sqlite3_stmt *jm;
        if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &jm, NULL) == SQLITE_OK) {
            sqlite3_step(jm);
            sqlite3_finalize(jm);
        }
        qps_store_exec(s, "PRAGMA synchronous=NORMAL");
        qps_store_exec(s, "PRAGMA cache_size=-32768"); /* 32 MiB: index pages of a busy import */
        /* the statement journals of a large batch's multi-row INSERTs
         * (pages the batch made dirty before) stay in memory: as temporary
         * files they doubled the import's writes */
        qps_store_exec(s, "PRAGMA temp_store=MEMORY");
        /* a qpsmtpd child closes the store when its connection ends; a
         * checkpoint (and fsync) at every close would cost each connection
         * milliseconds. Writers checkpoint as the WAL grows instead. */
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    }
    s->readonly = readonly;
    return st;
}

/* Statements are prepared on first use: a qpsmtpd child opens the store
 * for a few records, and preparing every statement (the multi-row INSERTs
 * of an import above all) was most of its opening. */
sqlite3_stmt *qps_store_stmt(qps_store *s, int i)
{
    if (s->stmt[i])
        return s->stmt[i];
    if (s->readonly && statements[i].writes) {
        qps_store_set_error(s, QPS_EREADONLY, "the store was opened read-only");
        return NULL;
    }
    qps_buf sql = {0};
    statement_sql(&statements[i], s->schema, &sql);
    if (sql.failed)
        qps_store_set_error(s, QPS_ENOMEM, "out of memory");
    else if (sqlite3_prepare_v3(s->db, sql.data, (int)sql.len, SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL) !=
             SQLITE_OK) {
        qps_store_fail(s, QPS_EFORMAT, "not a qpstat store");
        s->stmt[i] = NULL;
    }
    qps_buf_release(&sql);
    return s->stmt[i];
}

static void detach(qps_store *s)
{
    for (int i = 0; i < ST_COUNT_; i++) {
        sqlite3_finalize(s->stmt[i]);
        s->stmt[i] = NULL;
    }
    sqlite3_close(s->db);
    s->db = NULL;
}

qps_store *qps_store_open(const char *path, int flags, int busy_ms, qps_status *status, char *err, size_t errlen)
{
    qps_status dummy;
    if (!status)
        status = &dummy;
    /* SQLite's open of a FIFO waits for a writer forever, and a device is
     * no store: refused before SQLite opens anything */
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
        *status = QPS_EFORMAT;
        if (err)
            snprintf(err, errlen, "not a regular file (a FIFO, device or socket): not a store");
        return NULL;
    }
    qps_store *s = calloc(1, sizeof *s);
    if (!s || !(s->pending = malloc(PENDING_MAX * sizeof *s->pending)) ||
        !(s->held = malloc(HELD_MAX * sizeof *s->held)) || !(s->rows[0] = calloc(1, sizeof *s->rows[0])) ||
        !(s->rows[1] = calloc(1, sizeof *s->rows[1]))) {
        if (s) {
            free(s->pending);
            free(s->held);
            free(s->rows[0]);
        }
        free(s);
        *status = QPS_ENOMEM;
        if (err)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *s->rows[0] = (row_batch){.single = ST_ADD_TX, .multi = ST_ADD_TX_MULTI, .last_key = ST_LAST_TX_KEY,
                              .ncols = store_tables[TB_TRANSACTIONS].ninsert};
    *s->rows[1] = (row_batch){.single = ST_ADD_CONN, .multi = ST_ADD_CONN_MULTI, .last_key = ST_LAST_CONN_KEY,
                              .ncols = store_tables[TB_CONNECTIONS].ninsert};
    bool readonly = flags & QPS_STORE_READONLY;
    bool nofollow = false;
    qps_status st = store_check_links(s, path, &nofollow);
    if (st == QPS_OK && !readonly && (flags & QPS_STORE_CREATE)) {
        /* create it ourselves, for the mode: SQLite would use 0644 */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd >= 0) {
            /* root creating the store (an import from cron) gives it to the
             * owner of its directory, the qpsmtpd user whose plugin writes
             * it; SQLite gives its -wal and -shm files the same owner */
            char dir[4096];
            const char *slash = strrchr(path, '/');
            size_t n = slash ? (size_t)(slash - path) : 0;
            struct stat st;
            if (n < sizeof dir) {
                if (!slash)
                    strcpy(dir, ".");
                else if (n == 0)
                    strcpy(dir, "/");
                else {
                    memcpy(dir, path, n);
                    dir[n] = '\0';
                }
                if (geteuid() == 0 && stat(dir, &st) == 0 && st.st_uid != 0 && fchown(fd, st.st_uid, st.st_gid) != 0)
                    qps_store_set_error(s, QPS_OK, "cannot give the store to the owner of %s", dir);
            }
            close(fd);
        }
    }
    if (st == QPS_OK)
        st = attach(s, path, readonly, false, nofollow, busy_ms);
    int code = st != QPS_OK && s->db ? sqlite3_errcode(s->db) & 0xff : SQLITE_OK;
    if (readonly && (code == SQLITE_CANTOPEN || code == SQLITE_READONLY)) {
        /* A WAL store whose -shm this user cannot make: on a read-only
         * file system, or in a directory it cannot write once the -wal and
         * -shm are gone (sqlite3 FILE VACUUM removes them). Without a -wal
         * the file holds every commit: it is read as it is (immutable). */
        if (code == SQLITE_CANTOPEN || !store_has_wal(path)) {
            detach(s);
            st = attach(s, path, true, true, nofollow, busy_ms);
        } else {
            qps_store_set_error(s, st, "cannot read the store: its -shm file is missing and this user cannot "
                                       "create it beside the store (the next write, the plugin's or an "
                                       "import's, makes it again)");
        }
    }
    if (st != QPS_OK) {
        if (err)
            snprintf(err, errlen, "%s", s->error);
        *status = st;
        qps_store_close(s);
        return NULL;
    }
    *status = QPS_OK;
    return s;
}

void qps_store_close(qps_store *s)
{
    if (!s)
        return;
    if (s->in_tx)
        qps_store_exec(s, "ROLLBACK");
    store_live_wal_close(s);
    detach(s);
    store_totals_free(s);
    free(s->pending);
    free(s->held);
    for (int t = 0; t < 2; t++) {
        qps_buf_release(&s->rows[t]->text);
        free(s->rows[t]);
    }
    free(s->prefix);
    free(s->server);
    free(s);
}

qps_status qps_store_set_prefix(qps_store *s, const char *prefix)
{
    free(s->prefix);
    s->prefix = prefix ? strdup(prefix) : NULL;
    return prefix && !s->prefix ? QPS_ENOMEM : QPS_OK;
}

const char *qps_store_prefix(const qps_store *s)
{
    return s->prefix;
}

const char *qps_store_server(const qps_store *s)
{
    return s ? s->server : NULL;
}

int qps_store_created(const qps_store *s)
{
    return s && s->created;
}

qps_status qps_store_set_server(qps_store *s, const char *name)
{
    if (!s || !name || !*name)
        return QPS_EINVAL;
    if (s->readonly)
        return qps_store_set_error(s, QPS_EREADONLY, "the store was opened read-only");
    char *copy = strdup(name);
    if (!copy)
        return qps_store_set_error(s, QPS_ENOMEM, "out of memory");
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(s->db, "INSERT INTO meta (key, value) VALUES ('server', ?1) "
                                       "ON CONFLICT(key) DO UPDATE SET value = ?1", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(q);
        sqlite3_finalize(q);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
        free(copy);
        return qps_store_fail(s, QPS_EIO, "cannot name the store's server");
    }
    free(s->server);
    s->server = copy;
    return QPS_OK;
}

const char *qps_store_error(const qps_store *s)
{
    return s && s->error[0] ? s->error : "no error";
}
