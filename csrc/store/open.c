/*
 * qps_store.c - the SQLite store: transactions, connection facts, import
 * bookkeeping and daily totals in one file that the sqlite3 shell can read.
 * This file opens it, creates or migrates its schema, and groups writes
 * into transactions; qps_store_write.c adds records, qps_store_read.c
 * reads them back.
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
#include <unistd.h>

static const char *const statements[ST_COUNT_] = {
    [ST_ADD_TX] = "INSERT INTO transactions (id, time, nsec, server, pid, ip, rhost, helo, sender, recipients, "
                  "disposition, code, text, spam, spam_verdict, score, required, source, dedup, queue_ok) "
                  "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_ADD_CONN] = "INSERT INTO connections (id, time, nsec, server, pid, kind, ip, running, max, millis, "
                    "end_time, end_nsec, source, dedup) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_LAST_TX_KEY] = "SELECT max(id) FROM transactions WHERE id BETWEEN ? AND ?",
    [ST_LAST_CONN_KEY] = "SELECT max(id) FROM connections WHERE id BETWEEN ? AND ?",
    [ST_LIVE_TX] = "SELECT min(time) FROM transactions WHERE source = 2 AND time >= ?",
    [ST_LIVE_CONN] = "SELECT min(time) FROM connections WHERE source = 2 AND time >= ?",
    /* an imported copy looks among the few live rows (a partial index) */
    [ST_FIND_LIVE_TX] = "SELECT id FROM transactions WHERE source = 2 AND time BETWEEN ?2 AND ?3 "
                        "AND dedup = ?1 AND twin = 0 LIMIT 1",
    [ST_FIND_LIVE_CONN] = "SELECT id FROM connections WHERE source = 2 AND time BETWEEN ?2 AND ?3 "
                          "AND dedup = ?1 AND twin = 0 LIMIT 1",
    /* a live copy looks among the rows of its minutes (ids are times) */
    [ST_FIND_LOGGED_TX] = "SELECT id, ip, rhost, helo, sender, recipients, disposition, code, text, spam "
                          "FROM transactions WHERE id BETWEEN ?1 AND ?2 AND pid = ?3 AND source != 2 "
                          "AND twin = 0 ORDER BY id",
    [ST_FIND_LOGGED_CONN] = "SELECT id FROM connections WHERE id BETWEEN ?2 AND ?3 AND dedup = ?1 "
                            "AND source != 2 AND twin = 0 LIMIT 1",
    [ST_TWIN_TX] = "UPDATE transactions SET twin = 1 WHERE id = ?",
    [ST_FIND_LOGGED_QUEUED] = "SELECT id FROM transactions WHERE id BETWEEN ?1 AND ?2 AND pid = ?3 "
                              "AND queue_ok = 1 AND source != 2 LIMIT 1",
    [ST_MARK_QUEUED] = "UPDATE transactions SET queue_ok = 2 WHERE id = ?",
    [ST_TWIN_CONN] = "UPDATE connections SET twin = 1 WHERE id = ?",
    [ST_FILE_GET] = "SELECT offset FROM files WHERE head_hash = ?",
    [ST_FILE_SET] = "INSERT INTO files (head_hash, inode, name, offset, lines_read, lines_invalid, updated) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, strftime('%s','now')) "
                    "ON CONFLICT(head_hash) DO UPDATE SET inode = ?2, name = ?3, offset = ?4, "
                    "lines_read = lines_read + ?5, lines_invalid = lines_invalid + ?6, "
                    "updated = strftime('%s','now')",
};

/* The single-row INSERT `sql` for MULTI_ROWS rows. */
static char *multi_row_sql(const char *sql)
{
    const char *values = strstr(sql, "VALUES ");
    const char *tuple = values ? values + 7 : NULL;
    if (!tuple)
        return NULL;
    size_t head = (size_t)(tuple - sql), len = strlen(tuple);
    char *out = malloc(head + MULTI_ROWS * (len + 1) + 1);
    if (!out)
        return NULL;
    char *o = out;
    memcpy(o, sql, head);
    o += head;
    for (int r = 0; r < MULTI_ROWS; r++) {
        if (r)
            *o++ = ',';
        memcpy(o, tuple, len);
        o += len;
    }
    *o = '\0';
    return out;
}

/* Statements a read-only store does not prepare. */
static bool writes(int i)
{
    return i == ST_ADD_TX || i == ST_ADD_CONN || i == ST_ADD_TX_MULTI || i == ST_ADD_CONN_MULTI || i == ST_FILE_SET || i == ST_TWIN_TX || i == ST_TWIN_CONN ||
           i == ST_LIVE_TX || i == ST_LIVE_CONN || i == ST_LAST_TX_KEY || i == ST_LAST_CONN_KEY ||
           i == ST_FIND_LIVE_TX || i == ST_FIND_LIVE_CONN || i == ST_FIND_LOGGED_TX || i == ST_FIND_LOGGED_CONN ||
           i == ST_FIND_LOGGED_QUEUED || i == ST_MARK_QUEUED;
}

/* Version 1, as earlier qpstat releases created it. */
static const char schema_v1[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE transactions ("
    " id INTEGER PRIMARY KEY, time INTEGER NOT NULL, nsec INTEGER NOT NULL, server TEXT, pid INTEGER,"
    " ip TEXT, rhost TEXT, helo TEXT, sender TEXT, recipients TEXT, disposition TEXT NOT NULL,"
    " code TEXT, text TEXT, spam TEXT, spam_verdict INTEGER, score REAL, required REAL,"
    " source INTEGER NOT NULL, dedup INTEGER NOT NULL, twin INTEGER NOT NULL DEFAULT 0,"
    " line BLOB NOT NULL);"
    "CREATE INDEX transactions_time ON transactions(time);"
    "CREATE INDEX transactions_dedup ON transactions(dedup);"
    "CREATE INDEX transactions_live ON transactions(time) WHERE source = 2;"
    "CREATE TABLE connections ("
    " id INTEGER PRIMARY KEY, time INTEGER NOT NULL, nsec INTEGER NOT NULL, server TEXT, pid INTEGER,"
    " kind TEXT NOT NULL, ip TEXT, running INTEGER, max INTEGER, millis INTEGER,"
    " source INTEGER NOT NULL, dedup INTEGER, twin INTEGER NOT NULL DEFAULT 0,"
    " line BLOB NOT NULL);"
    "CREATE INDEX connections_time ON connections(time);"
    "CREATE INDEX connections_dedup ON connections(dedup) WHERE dedup IS NOT NULL;"
    "CREATE INDEX connections_live ON connections(time) WHERE source = 2;"
    "CREATE TABLE files ("
    " head_hash INTEGER PRIMARY KEY, inode INTEGER, name TEXT, offset INTEGER NOT NULL,"
    " lines_read INTEGER NOT NULL DEFAULT 0, lines_invalid INTEGER NOT NULL DEFAULT 0, updated INTEGER);"
    "CREATE TABLE daily ("
    " day TEXT NOT NULL, disposition TEXT NOT NULL, tld TEXT NOT NULL, count INTEGER NOT NULL,"
    " PRIMARY KEY (day, disposition, tld));";

/* Version 2: ids are time keys (the tables are their own time index), no
 * raw lines, dedup without its time bucket and only on live records,
 * transactions that may carry their queue's reply, connection rows that
 * may carry their connection time. Rows keep their order; ids that two
 * rows would share (same nanosecond) go up by one, as new rows' do. */
static const char schema_v2[] =
    "ALTER TABLE transactions RENAME TO transactions_v1;"
    "ALTER TABLE connections RENAME TO connections_v1;"
    /* (stores of early builds lack some of these) */
    "DROP INDEX IF EXISTS transactions_time; DROP INDEX IF EXISTS transactions_dedup;"
    "DROP INDEX IF EXISTS transactions_live; DROP INDEX IF EXISTS connections_time;"
    "DROP INDEX IF EXISTS connections_dedup; DROP INDEX IF EXISTS connections_live;"
    "CREATE TABLE transactions ("
    " id INTEGER PRIMARY KEY, time INTEGER NOT NULL, nsec INTEGER NOT NULL, server TEXT, pid INTEGER,"
    " ip TEXT, rhost TEXT, helo TEXT, sender TEXT, recipients TEXT, disposition TEXT NOT NULL,"
    " code TEXT, text TEXT, spam TEXT, spam_verdict INTEGER, score REAL, required REAL, queue_ok INTEGER,"
    " source INTEGER NOT NULL, dedup INTEGER, twin INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX transactions_live ON transactions(time) WHERE source = 2;"
    "CREATE INDEX transactions_untimed ON transactions(nsec) WHERE nsec < 0;"
    "CREATE TABLE connections ("
    " id INTEGER PRIMARY KEY, time INTEGER NOT NULL, nsec INTEGER NOT NULL, server TEXT, pid INTEGER,"
    " kind TEXT NOT NULL, ip TEXT, running INTEGER, max INTEGER, millis INTEGER,"
    " end_time INTEGER, end_nsec INTEGER,"
    " source INTEGER NOT NULL, dedup INTEGER, twin INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX connections_live ON connections(time) WHERE source = 2;"
    "CREATE INDEX connections_untimed ON connections(nsec) WHERE nsec < 0;"
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

static const char *const migrations[] = {schema_v1, schema_v2};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

qps_status qps_store_fail(qps_store *s, qps_status st, const char *what)
{
    snprintf(s->error, sizeof s->error, "%s: %s", what, s->db ? sqlite3_errmsg(s->db) : "no database");
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
    int version = 0;
    int rc = user_version(s, &version);
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
        return qps_store_fail(s, QPS_EFORMAT, "not a qpstat store");
    if (rc != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    if (version > QPS_STORE_SCHEMA) {
        snprintf(s->error, sizeof s->error, "the store has schema version %d, newer than this qpstat (%d)",
                 version, QPS_STORE_SCHEMA);
        return QPS_EFORMAT;
    }
    if (version == 0) {
        /* a non-empty database without our version is someone else's */
        sqlite3_stmt *st;
        int tables = 0;
        if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) != SQLITE_OK)
            return qps_store_fail(s, QPS_EFORMAT, "not a qpstat store");
        if (sqlite3_step(st) == SQLITE_ROW)
            tables = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (tables > 0) {
            snprintf(s->error, sizeof s->error, "not a qpstat store (an SQLite database of something else)");
            return QPS_EFORMAT;
        }
    }
    if (version == QPS_STORE_SCHEMA)
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
    for (int v = version; v < NMIGRATIONS; v++) {
        if (qps_store_exec(s, migrations[v]) != SQLITE_OK) {
            qps_status st = qps_store_fail(s, QPS_EIO, "cannot create the schema");
            qps_store_exec(s, "ROLLBACK");
            return st;
        }
    }
    char sql[128];
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

/* Opens the database and readies it; for a read-only opening, `immutable`
 * tells SQLite that nobody can write it (a store on a read-only file system
 * has no -shm file to coordinate readers through). */
static qps_status attach(qps_store *s, const char *path, bool readonly, bool immutable, int busy_ms)
{
    int oflags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
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
    sqlite3_busy_timeout(s->db, busy_ms > 0 ? busy_ms : 0);
    sqlite3_extended_result_codes(s->db, 1);
    if (!readonly && sqlite3_db_readonly(s->db, "main") == 1) {
        snprintf(s->error, sizeof s->error, "cannot write the store: it is read-only");
        return QPS_EIO;
    }
    qps_status st = migrate(s, readonly);
    if (st == QPS_OK && !readonly) {
        /* WAL: readers (reports) never block the writers (qpsmtpd) */
        sqlite3_stmt *jm;
        if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &jm, NULL) == SQLITE_OK) {
            sqlite3_step(jm);
            sqlite3_finalize(jm);
        }
        qps_store_exec(s, "PRAGMA synchronous=NORMAL");
        qps_store_exec(s, "PRAGMA cache_size=-32768"); /* 32 MiB: index pages of a busy import */
        /* a qpsmtpd child closes the store when its connection ends; a
         * checkpoint (and fsync) at every close would cost each connection
         * milliseconds. Writers checkpoint as the WAL grows instead. */
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    }
    for (int i = 0; st == QPS_OK && i < ST_COUNT_; i++) {
        if (readonly && writes(i))
            continue;
        char *multi = NULL;
        if (i == ST_ADD_TX_MULTI || i == ST_ADD_CONN_MULTI) {
            multi = multi_row_sql(statements[i == ST_ADD_TX_MULTI ? ST_ADD_TX : ST_ADD_CONN]);
            if (!multi) {
                st = QPS_ENOMEM;
                break;
            }
        }
        if (sqlite3_prepare_v3(s->db, multi ? multi : statements[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK)
            st = qps_store_fail(s, QPS_EFORMAT, "not a qpstat store");
        free(multi);
    }
    return st;
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
                              .ncols = 19};
    *s->rows[1] = (row_batch){.single = ST_ADD_CONN, .multi = ST_ADD_CONN_MULTI, .last_key = ST_LAST_CONN_KEY,
                              .ncols = 13};
    bool readonly = flags & QPS_STORE_READONLY;
    if (!readonly && (flags & QPS_STORE_CREATE)) {
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
    qps_status st = attach(s, path, readonly, false, busy_ms);
    if (st == QPS_EIO && readonly && s->db && (sqlite3_errcode(s->db) & 0xff) == SQLITE_CANTOPEN) {
        /* a WAL store on a read-only file system: read it as immutable */
        detach(s);
        st = attach(s, path, true, true, busy_ms);
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
    detach(s);
    free(s->pending);
    free(s->held);
    for (int t = 0; t < 2; t++) {
        qps_buf_release(&s->rows[t]->text);
        free(s->rows[t]);
    }
    free(s->prefix);
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

const char *qps_store_error(const qps_store *s)
{
    return s && s->error[0] ? s->error : "no error";
}

qps_status qps_store_begin(qps_store *s)
{
    if (s->in_tx)
        return QPS_EINVAL;
    if (qps_store_exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return qps_store_fail(s, QPS_EIO, "cannot lock the store");
    s->in_tx = true;
    s->tx_failed = false;
    s->gap[0].valid = s->gap[1].valid = false; /* others may have written since */
    return QPS_OK;
}

qps_status qps_store_commit(qps_store *s)
{
    if (!s->in_tx)
        return QPS_EINVAL;
    bool doomed = s->tx_failed;
    qps_status pst = doomed ? QPS_EIO : qps_store_flush_pending(s);
    if (pst != QPS_OK) {
        if (doomed) {
            char why[sizeof s->error];
            snprintf(why, sizeof why, "%s", s->error);
            qps_store_set_error(s, QPS_EIO, "an earlier write failed (%.400s): the transaction is rolled back", why);
        }
        qps_store_rollback(s);
        return pst;
    }
    if (qps_store_exec(s, "COMMIT") != SQLITE_OK) {
        qps_status st = qps_store_fail(s, QPS_EIO, "cannot commit to the store");
        qps_store_exec(s, "ROLLBACK");
        s->in_tx = false;
        return st;
    }
    s->in_tx = false;
    return QPS_OK;
}

qps_status qps_store_rollback(qps_store *s)
{
    if (!s->in_tx)
        return QPS_EINVAL;
    qps_store_exec(s, "ROLLBACK");
    s->in_tx = false;
    qps_store_discard_pending(s);
    return QPS_OK;
}

qps_status qps_store_file_offset(qps_store *s, const qps_file_id *id, int64_t *offset)
{
    sqlite3_stmt *q = s->stmt[ST_FILE_GET];
    sqlite3_bind_int64(q, 1, (sqlite3_int64)id->head_hash);
    int rc = sqlite3_step(q);
    *offset = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot read the store");
    return QPS_OK;
}

qps_status qps_store_file_progress(qps_store *s, const qps_file_id *id, const char *name, int64_t offset,
                                   uint64_t lines_read, uint64_t lines_invalid)
{
    sqlite3_stmt *q = s->stmt[ST_FILE_SET];
    if (!q)
        return QPS_EINVAL;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)id->head_hash);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)id->inode);
    sqlite3_bind_text(q, 3, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, offset);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)lines_read);
    sqlite3_bind_int64(q, 6, (sqlite3_int64)lines_invalid);
    if (qps_step_done(q) != SQLITE_DONE)
        return qps_store_fail(s, QPS_EIO, "cannot write the store");
    return QPS_OK;
}
