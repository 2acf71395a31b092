/*
 * qps_store.c - the SQLite store: transactions, connection facts, import
 * bookkeeping and daily totals in one file that the sqlite3 shell can read.
 *
 * Every row keeps the fields the aggregator reads, so a report from the
 * store runs the very same aggregator as a report from the logs. A record
 * written live by the qpsmtpd plugin and the same record imported later
 * from the log carry the same dedup hash (pid + logterse fields), which is
 * how an import never counts a transaction twice.
 *
 * What makes an import fast (schema 2): a row's id is its time key, so the
 * table itself is the time index and an import appends at its end; no
 * other index is touched by an imported row; an accepted connection and
 * its connection time are folded into one row when both are imported in
 * the same batch.
 *
 * License: MIT (see README).
 */
#include "qps_private.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Two copies of a record are the same if they are this close in time: the
 * plugin's clock reading and multilog's label differ by milliseconds. */
#define DEDUP_WINDOW 120
/* The part of a record's hash kept in its dedup column (as in schema 1). */
#define DEDUP_MASK ((1ULL << 36) - 1)

/* A row's id: its time as seconds << 30 | nanoseconds, moved up past a
 * taken id (a second holds 2^30 ids and uses 10^9). The seconds are
 * clamped, so a forged label far in the future still gets an id. */
#define NSEC_BITS 30
#define KEY_SEC_MAX ((INT64_C(1) << 32) - 1)

/* An accept and its connection time become one row when the connection
 * lasted at most this long; the row's id is the end's, so reports look
 * this far past a range for accepts inside it. */
#define FOLD_SPAN 3600
/* Connections open at once whose accept waits for its connection time. */
#define PENDING_MAX 512
/* Queued records waiting for the "250 Queued" reply on the next line of
 * their process, and the most bytes of fields such a record may hold. */
#define HELD_MAX 8
#define HELD_BYTES 2048
/* Imported rows go in by this many per INSERT: the statement's cursor
 * stays at the table's end, where the next row goes. */
#define MULTI_ROWS 32
#define MAX_COLS 20

static int64_t time_key(int64_t t, uint32_t nsec)
{
    if (t < 0)
        t = 0;
    if (t > KEY_SEC_MAX)
        t = KEY_SEC_MAX;
    return (t << NSEC_BITS) | (nsec < 1000000000u ? nsec : 999999999u);
}

/* the first id of second t (saturating) */
static int64_t second_key(int64_t t)
{
    return time_key(t, 0);
}

enum {
    ST_ADD_TX,
    ST_ADD_CONN,
    ST_ADD_TX_MULTI,
    ST_ADD_CONN_MULTI,
    ST_LAST_TX_KEY,
    ST_LAST_CONN_KEY,
    ST_LIVE_TX,
    ST_LIVE_CONN,
    ST_FIND_LIVE_TX,
    ST_FIND_LIVE_CONN,
    ST_FIND_LOGGED_TX,
    ST_FIND_LOGGED_CONN,
    ST_TWIN_TX,
    ST_TWIN_CONN,
    ST_FIND_LOGGED_QUEUED,
    ST_MARK_QUEUED,
    ST_FILE_GET,
    ST_FILE_SET,
    ST_COUNT_
};

/* An imported accept waiting for its connection time (same batch). */
typedef struct {
    uint32_t pid;
    int64_t time;
    uint32_t nsec;
    unsigned running, max;
    size_t ip_len, host_len;
    char ip[64];
    char host[256];
} pending_accept;

/* Times t whose window [t - DEDUP_WINDOW, t + DEDUP_WINDOW] holds no live
 * row: lo <= t <= hi. Valid within one write transaction, where nobody
 * else can add live rows. */
typedef struct {
    bool valid;
    int64_t lo, hi;
} live_gap;

/* A value of a row waiting in a row_batch; text is in the batch's arena. */
typedef struct {
    enum { CELL_NULL, CELL_INT, CELL_REAL, CELL_TEXT } type;
    int64_t i;
    double d;
    size_t off, len;
} cell;

/* Rows of one table on their way in: MULTI_ROWS of them at once. */
typedef struct {
    int single, multi, last_key; /* statements */
    int ncols;                   /* values after the id */
    size_t nrows;
    int64_t key[MULTI_ROWS];
    cell cells[MULTI_ROWS][MAX_COLS];
    qps_buf text;
} row_batch;

/* An imported queued record, held to be stored with its queue's reply. */
typedef struct {
    qps_record rec;     /* its fields point into bytes */
    int64_t time;
    uint32_t nsec;
    size_t host_len;
    char host[256];
    char bytes[HELD_BYTES];
} held_record;

struct qps_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT_];
    live_gap gap[2];    /* transactions, connections */
    char error[512];
    char *prefix;       /* logterse prefix, NULL for the default */
    bool in_tx;
    pending_accept *pending;
    size_t npending;
    held_record *held;
    size_t nheld;
    row_batch *rows[2]; /* transactions, connections */
};

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
    "DROP INDEX transactions_time; DROP INDEX transactions_dedup; DROP INDEX transactions_live;"
    "DROP INDEX connections_time; DROP INDEX connections_dedup; DROP INDEX connections_live;"
    "CREATE TABLE transactions ("
    " id INTEGER PRIMARY KEY, time INTEGER NOT NULL, nsec INTEGER NOT NULL, server TEXT, pid INTEGER,"
    " ip TEXT, rhost TEXT, helo TEXT, sender TEXT, recipients TEXT, disposition TEXT NOT NULL,"
    " code TEXT, text TEXT, spam TEXT, spam_verdict INTEGER, score REAL, required REAL, queue_ok INTEGER,"
    " source INTEGER NOT NULL, dedup INTEGER, twin INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX transactions_live ON transactions(time) WHERE source = 2;"
    "CREATE TABLE connections ("
    " id INTEGER PRIMARY KEY, time INTEGER NOT NULL, nsec INTEGER NOT NULL, server TEXT, pid INTEGER,"
    " kind TEXT NOT NULL, ip TEXT, running INTEGER, max INTEGER, millis INTEGER,"
    " end_time INTEGER, end_nsec INTEGER,"
    " source INTEGER NOT NULL, dedup INTEGER, twin INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX connections_live ON connections(time) WHERE source = 2;"
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

static qps_status fail(qps_store *s, qps_status st, const char *what)
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

static int exec(qps_store *s, const char *sql)
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
        return fail(s, QPS_EFORMAT, "not a qpstat store");
    if (rc != SQLITE_OK)
        return fail(s, QPS_EIO, "cannot read the store");
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
            return fail(s, QPS_EFORMAT, "not a qpstat store");
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
        exec(s, "PRAGMA page_size = 16384");
    if (exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return fail(s, QPS_EIO, "cannot lock the store");
    /* another process may have migrated it meanwhile */
    if (user_version(s, &version) != SQLITE_OK) {
        exec(s, "ROLLBACK");
        return fail(s, QPS_EIO, "cannot read the store");
    }
    for (int v = version; v < NMIGRATIONS; v++) {
        if (exec(s, migrations[v]) != SQLITE_OK) {
            qps_status st = fail(s, QPS_EIO, "cannot create the schema");
            exec(s, "ROLLBACK");
            return st;
        }
    }
    char sql[128];
    snprintf(sql, sizeof sql,
             "PRAGMA user_version = %d; INSERT OR REPLACE INTO meta VALUES ('schema_version', '%d')",
             QPS_STORE_SCHEMA, QPS_STORE_SCHEMA);
    if (exec(s, sql) != SQLITE_OK || exec(s, "COMMIT") != SQLITE_OK) {
        qps_status st = fail(s, QPS_EIO, "cannot create the schema");
        exec(s, "ROLLBACK");
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
        return fail(s, QPS_EIO, "cannot open the store");
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
        exec(s, "PRAGMA synchronous=NORMAL");
        exec(s, "PRAGMA cache_size=-32768"); /* 32 MiB: index pages of a busy import */
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
            st = fail(s, QPS_EFORMAT, "not a qpstat store");
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
        exec(s, "ROLLBACK");
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
    if (exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return fail(s, QPS_EIO, "cannot lock the store");
    s->in_tx = true;
    s->gap[0].valid = s->gap[1].valid = false; /* others may have written since */
    return QPS_OK;
}

static qps_status flush_pending(qps_store *s);

qps_status qps_store_commit(qps_store *s)
{
    if (!s->in_tx)
        return QPS_EINVAL;
    qps_status pst = flush_pending(s);
    if (pst != QPS_OK) {
        exec(s, "ROLLBACK");
        s->in_tx = false;
        return pst;
    }
    if (exec(s, "COMMIT") != SQLITE_OK) {
        qps_status st = fail(s, QPS_EIO, "cannot commit to the store");
        exec(s, "ROLLBACK");
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
    exec(s, "ROLLBACK");
    s->in_tx = false;
    s->npending = s->nheld = 0;
    for (int t = 0; t < 2; t++) {
        s->rows[t]->nrows = 0;
        s->rows[t]->text.len = 0;
    }
    return QPS_OK;
}

/* Binds without copying: every bound slice outlives the step. */
static void bind_str(sqlite3_stmt *st, int i, qps_str v)
{
    if (v.ptr)
        sqlite3_bind_text(st, i, v.ptr, (int)v.len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

/* Runs an insert whose first parameter is the row's id, the time key
 * `key`; a key taken already (two rows in one nanosecond, or many from a
 * plugin that gives whole seconds) moves past the last id of its second. */
static qps_status insert_at(qps_store *s, int insert, int last_key, int64_t key)
{
    sqlite3_stmt *q = s->stmt[insert];
    sqlite3_bind_int64(q, 1, key);
    int rc = step_done(q);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        sqlite3_stmt *m = s->stmt[last_key];
        sqlite3_bind_int64(m, 1, key);
        sqlite3_bind_int64(m, 2, key | ((INT64_C(1) << NSEC_BITS) - 1));
        rc = sqlite3_step(m);
        int64_t last = rc == SQLITE_ROW ? sqlite3_column_int64(m, 0) : key;
        sqlite3_reset(m);
        if (rc != SQLITE_ROW)
            return fail(s, QPS_EIO, "cannot read the store");
        sqlite3_bind_int64(q, 1, last + 1);
        rc = step_done(q);
    }
    return rc == SQLITE_DONE ? QPS_OK : fail(s, QPS_EIO, "cannot write the store");
}

/* Are there live rows within DEDUP_WINDOW of t? Most stores have none
 * near an imported line: the next live row's time (from the small index
 * of live rows) answers for t and for the times after it, which an import
 * brings in order. */
static qps_status live_rows_near(qps_store *s, bool tx, int64_t t, bool *near)
{
    live_gap *gap = &s->gap[tx ? 0 : 1];
    *near = false;
    if (s->in_tx && gap->valid && t >= gap->lo && t <= gap->hi)
        return QPS_OK;
    sqlite3_stmt *live = s->stmt[tx ? ST_LIVE_TX : ST_LIVE_CONN];
    sqlite3_bind_int64(live, 1, t - DEDUP_WINDOW);
    int rc = sqlite3_step(live);
    bool none = rc == SQLITE_ROW && sqlite3_column_type(live, 0) == SQLITE_NULL;
    int64_t next = rc == SQLITE_ROW ? sqlite3_column_int64(live, 0) : 0;
    sqlite3_reset(live);
    if (rc != SQLITE_ROW)
        return fail(s, QPS_EIO, "cannot read the store");
    if (none || next > t + DEDUP_WINDOW)
        *gap = (live_gap){s->in_tx, t, none ? INT64_MAX : next - DEDUP_WINDOW - 1};
    else
        *near = true;
    return QPS_OK;
}

/* Runs a lookup whose first column is the id of a twin; marks it paired. */
static qps_status mark_found(qps_store *s, bool tx, sqlite3_stmt *find, bool *found)
{
    int rc = sqlite3_step(find);
    sqlite3_int64 id = rc == SQLITE_ROW ? sqlite3_column_int64(find, 0) : 0;
    sqlite3_reset(find);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(s, QPS_EIO, "cannot read the store");
    *found = rc == SQLITE_ROW;
    if (*found) {
        sqlite3_stmt *mark = s->stmt[tx ? ST_TWIN_TX : ST_TWIN_CONN];
        sqlite3_bind_int64(mark, 1, id);
        if (step_done(mark) != SQLITE_DONE)
            return fail(s, QPS_EIO, "cannot write the store");
    }
    return QPS_OK;
}

/* pid + the record's fields: the same for the plugin's copy and the log's */
static uint64_t terse_dedup(const qps_record *r)
{
    const char *start = r->field[QPS_TF_IP].ptr;
    const qps_str last = r->nfields == 9 ? r->field[QPS_TF_SPAM] : r->field[QPS_TF_TEXT];
    size_t len = (size_t)(last.ptr + last.len - start);
    return qps_hash_bytes(start, len) ^ ((uint64_t)r->pid * 0x9e3779b97f4a7c15ULL);
}

static bool same_text(sqlite3_stmt *q, int col, qps_str v)
{
    const char *c = (const char *)sqlite3_column_text(q, col);
    size_t n = c ? (size_t)sqlite3_column_bytes(q, col) : 0;
    return n == v.len && (n == 0 || memcmp(c, v.ptr, n) == 0);
}

/* A row of ST_FIND_LOGGED_TX with the record's fields. */
static bool same_fields(sqlite3_stmt *q, const qps_record *r)
{
    for (int f = 0; f <= QPS_TF_TEXT; f++)
        if (!same_text(q, 1 + f, r->field[f]))
            return false;
    bool has_spam = sqlite3_column_type(q, 1 + QPS_TF_SPAM) != SQLITE_NULL;
    return has_spam == (r->nfields == 9) && (!has_spam || same_text(q, 1 + QPS_TF_SPAM, r->field[QPS_TF_SPAM]));
}

/* A record is the twin of one stored from the other source (the plugin's
 * copy and the log's) with the same pid and fields, close in time, not yet
 * paired. Identical records from one source are all kept: a client refused
 * twice for the same recipient in one connection logs two equal lines. A
 * twin found is marked paired, so two live copies match two logged ones.
 * Only live rows carry a hash of the fields; an imported row is found by
 * its pid and time, and its fields compared. */
static qps_status pair_terse(qps_store *s, const qps_record *r, int64_t t, int source, bool *found)
{
    *found = false;
    qps_status st;
    if (source == QPS_SOURCE_IMPORT) {
        bool near;
        if ((st = live_rows_near(s, true, t, &near)) != QPS_OK || !near)
            return st;
        sqlite3_stmt *find = s->stmt[ST_FIND_LIVE_TX];
        sqlite3_bind_int64(find, 1, (sqlite3_int64)(terse_dedup(r) & DEDUP_MASK));
        sqlite3_bind_int64(find, 2, t - DEDUP_WINDOW);
        sqlite3_bind_int64(find, 3, t + DEDUP_WINDOW);
        return mark_found(s, true, find, found);
    }
    sqlite3_stmt *q = s->stmt[ST_FIND_LOGGED_TX];
    sqlite3_bind_int64(q, 1, second_key(t - DEDUP_WINDOW));
    sqlite3_bind_int64(q, 2, second_key(t + DEDUP_WINDOW + 1));
    sqlite3_bind_int64(q, 3, r->pid);
    int rc;
    sqlite3_int64 id = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        if (same_fields(q, r)) {
            id = sqlite3_column_int64(q, 0);
            break;
        }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(s, QPS_EIO, "cannot read the store");
    if (!id)
        return QPS_OK;
    *found = true;
    sqlite3_stmt *mark = s->stmt[ST_TWIN_TX];
    sqlite3_bind_int64(mark, 1, id);
    return step_done(mark) == SQLITE_DONE ? QPS_OK : fail(s, QPS_EIO, "cannot write the store");
}

/* The same for a connection fact, by its dedup hash. */
static qps_status pair_fact(qps_store *s, uint64_t dedup, int64_t t, int source, bool *found)
{
    *found = false;
    sqlite3_stmt *find;
    if (source == QPS_SOURCE_IMPORT) {
        bool near;
        qps_status st = live_rows_near(s, false, t, &near);
        if (st != QPS_OK || !near)
            return st;
        find = s->stmt[ST_FIND_LIVE_CONN];
        sqlite3_bind_int64(find, 2, t - DEDUP_WINDOW);
        sqlite3_bind_int64(find, 3, t + DEDUP_WINDOW);
    } else {
        find = s->stmt[ST_FIND_LOGGED_CONN];
        sqlite3_bind_int64(find, 2, second_key(t - DEDUP_WINDOW));
        sqlite3_bind_int64(find, 3, second_key(t + DEDUP_WINDOW + 1));
    }
    sqlite3_bind_int64(find, 1, (sqlite3_int64)(dedup & DEDUP_MASK));
    return mark_found(s, false, find, found);
}

static qps_status add_record(qps_store *s, const qps_record *r, const char *server, int64_t unix_sec,
                             uint32_t nsec, int source, int *added);

qps_status qps_store_add(qps_store *s, const qps_record *r, const char *server, int64_t unix_sec, uint32_t nsec,
                         int source, int *added)
{
    if (added)
        *added = 0;
    if (!s->stmt[ST_ADD_TX])
        return QPS_EINVAL; /* opened read-only */
    if (s->in_tx)
        return add_record(s, r, server, unix_sec, nsec, source, added);
    /* the twin lookup and the insert must be one transaction: an import
     * committing in between would otherwise store both copies */
    qps_status st = qps_store_begin(s);
    if (st != QPS_OK)
        return st;
    st = add_record(s, r, server, unix_sec, nsec, source, added);
    if (st != QPS_OK) {
        qps_store_rollback(s);
        if (added)
            *added = 0;
        return st;
    }
    return qps_store_commit(s);
}

/* ---- rows on their way in ---- */

static cell *next_cell(row_batch *b, int col)
{
    return &b->cells[b->nrows][col];
}

static void cell_null(row_batch *b, int col)
{
    next_cell(b, col)->type = CELL_NULL;
}

static void cell_int(row_batch *b, int col, int64_t v)
{
    cell *c = next_cell(b, col);
    c->type = CELL_INT;
    c->i = v;
}

static void cell_real(row_batch *b, int col, double v)
{
    cell *c = next_cell(b, col);
    c->type = CELL_REAL;
    c->d = v;
}

/* a slice without pointer is NULL, an empty one '' */
static void cell_text(row_batch *b, int col, qps_str v)
{
    cell *c = next_cell(b, col);
    if (!v.ptr) {
        c->type = CELL_NULL;
        return;
    }
    c->type = CELL_TEXT;
    c->off = b->text.len;
    c->len = v.len;
    qps_buf_append(&b->text, v.ptr, v.len);
}

static void bind_cells(sqlite3_stmt *q, int first, const row_batch *b, size_t row)
{
    for (int col = 0; col < b->ncols; col++) {
        const cell *c = &b->cells[row][col];
        int i = first + col;
        switch (c->type) {
        case CELL_INT:
            sqlite3_bind_int64(q, i, c->i);
            break;
        case CELL_REAL:
            sqlite3_bind_double(q, i, c->d);
            break;
        case CELL_TEXT:
            sqlite3_bind_text(q, i, b->text.data + c->off, (int)c->len, SQLITE_STATIC);
            break;
        default:
            sqlite3_bind_null(q, i);
        }
    }
}

/* Inserts the rows waiting in b: all in one statement when there are
 * MULTI_ROWS of them and none of their ids is taken, else one by one. */
static qps_status flush_rows(qps_store *s, row_batch *b)
{
    qps_status st = QPS_OK;
    if (b->text.failed)
        st = qps_store_set_error(s, QPS_ENOMEM, "out of memory writing the store");
    bool one_by_one = st == QPS_OK && b->nrows < MULTI_ROWS;
    if (st == QPS_OK && !one_by_one) {
        sqlite3_stmt *m = s->stmt[b->multi];
        for (size_t r = 0; r < b->nrows; r++) {
            int first = (int)r * (b->ncols + 1) + 1;
            sqlite3_bind_int64(m, first, b->key[r]);
            bind_cells(m, first + 1, b, r);
        }
        int rc = step_done(m);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            one_by_one = true;
        else if (rc != SQLITE_DONE)
            st = fail(s, QPS_EIO, "cannot write the store");
    }
    for (size_t r = 0; one_by_one && r < b->nrows && st == QPS_OK; r++) {
        bind_cells(s->stmt[b->single], 2, b, r);
        st = insert_at(s, b->single, b->last_key, b->key[r]);
    }
    b->nrows = 0;
    b->text.len = 0;
    b->text.failed = 0;
    return st;
}

/* Ends the row begun with the cells set: imports (inside a transaction)
 * gather MULTI_ROWS rows, anything else goes in at once. */
static qps_status end_row(qps_store *s, row_batch *b, int64_t key, bool gather)
{
    b->key[b->nrows++] = key;
    return gather && b->nrows < MULTI_ROWS ? QPS_OK : flush_rows(s, b);
}

/* queue_ok: 0, or 1 when the queue's "250 Queued" reply comes with it */
static qps_status insert_terse(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns, int source,
                               int queue_ok)
{
    row_batch *b = s->rows[0];
    cell_int(b, 0, t);
    cell_int(b, 1, ns);
    cell_text(b, 2, host);
    cell_int(b, 3, r->pid);
    for (int f = 0; f <= QPS_TF_TEXT; f++)
        cell_text(b, 4 + f, r->field[f]);
    cell_text(b, 12, r->nfields == 9 ? r->field[QPS_TF_SPAM] : qps_slice(NULL, 0));
    qps_spam spam;
    if (r->nfields == 9 && qps_spam_parse(r->field[QPS_TF_SPAM], &spam) == QPS_OK) {
        cell_int(b, 13, spam.is_spam);
        cell_real(b, 14, spam.score);
        if (spam.has_required)
            cell_real(b, 15, spam.required);
        else
            cell_null(b, 15);
    } else {
        cell_null(b, 13);
        cell_null(b, 14);
        cell_null(b, 15);
    }
    cell_int(b, 16, source);
    if (source == QPS_SOURCE_IMPORT)
        cell_null(b, 17);
    else
        cell_int(b, 17, (int64_t)(terse_dedup(r) & DEDUP_MASK));
    if (queue_ok)
        cell_int(b, 18, queue_ok);
    else
        cell_null(b, 18);
    return end_row(s, b, time_key(t, ns), s->in_tx && source == QPS_SOURCE_IMPORT);
}

static qps_status write_held(qps_store *s, held_record *h, int queue_ok)
{
    qps_status st = insert_terse(s, &h->rec, qps_slice(h->host_len ? h->host : NULL, h->host_len), h->time,
                                 h->nsec, QPS_SOURCE_IMPORT, queue_ok);
    /* the last one takes its place, its fields pointing into their new home */
    held_record *last = &s->held[--s->nheld];
    if (h != last) {
        *h = *last;
        for (int f = 0; f < QPS_TF_COUNT_; f++)
            if (last->rec.field[f].ptr)
                h->rec.field[f].ptr = h->bytes + (last->rec.field[f].ptr - last->bytes);
    }
    return st;
}

static held_record *find_held(qps_store *s, uint32_t pid)
{
    for (size_t i = 0; i < s->nheld; i++)
        if (s->held[i].rec.pid == pid)
            return &s->held[i];
    return NULL;
}

/* Keeps an imported queued record until the next line of its process
 * (the queue's reply, which then shares its row) or the commit; false
 * when it cannot wait. */
static bool hold_record(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns)
{
    const char *base = r->field[QPS_TF_IP].ptr;
    const qps_str last = r->nfields == 9 ? r->field[QPS_TF_SPAM] : r->field[QPS_TF_TEXT];
    size_t span = (size_t)(last.ptr + last.len - base);
    if (!base || span > HELD_BYTES || host.len >= sizeof s->held->host || s->nheld == HELD_MAX)
        return false;
    held_record *h = &s->held[s->nheld++];
    memcpy(h->bytes, base, span);
    memset(&h->rec, 0, sizeof h->rec);
    h->rec.kind = QPS_KIND_TERSE;
    h->rec.pid = r->pid;
    h->rec.nfields = r->nfields;
    for (int f = 0; f < QPS_TF_COUNT_; f++)
        h->rec.field[f] = r->field[f].ptr ? qps_slice(h->bytes + (r->field[f].ptr - base), r->field[f].len)
                                          : qps_slice(NULL, 0);
    h->time = t;
    h->nsec = ns;
    h->host_len = host.len;
    memcpy(h->host, host.ptr ? host.ptr : "", host.len);
    return true;
}

/* Stores the records held back; before a write from another source, a
 * read, or the commit. */
static qps_status write_all_held(qps_store *s)
{
    qps_status st = QPS_OK;
    while (s->nheld && st == QPS_OK)
        st = write_held(s, &s->held[s->nheld - 1], 0);
    s->nheld = 0;
    return st;
}

static qps_status add_terse(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns, int source,
                            bool *stored)
{
    bool found;
    qps_status st = pair_terse(s, r, t, source, &found);
    if (st != QPS_OK || found)
        return st;
    *stored = true;
    if (s->in_tx && source == QPS_SOURCE_IMPORT && qps_str_eq(r->field[QPS_TF_DISPOSITION], "queued")) {
        if (s->nheld == HELD_MAX && (st = write_held(s, &s->held[0], 0)) != QPS_OK)
            return st;
        if (hold_record(s, r, host, t, ns))
            return QPS_OK;
    }
    return insert_terse(s, r, host, t, ns, source, 0);
}

/* One row of the connections table. A folded accept (end != NULL) carries
 * its connection's time and takes the id of its end. */
typedef struct {
    const char *kind;
    int64_t time;
    uint32_t nsec;
    qps_str host, ip;
    uint32_t pid;
    unsigned running, max;
    bool has_millis, has_dedup;
    uint64_t millis, dedup;
    const int64_t *end_time;
    uint32_t end_nsec;
    int source;
} fact_row;

static qps_status insert_fact(qps_store *s, const fact_row *f)
{
    row_batch *b = s->rows[1];
    cell_int(b, 0, f->time);
    cell_int(b, 1, f->nsec);
    cell_text(b, 2, f->host);
    cell_int(b, 3, f->pid);
    cell_text(b, 4, qps_slice(f->kind, strlen(f->kind)));
    cell_text(b, 5, f->ip);
    cell_int(b, 6, f->running);
    cell_int(b, 7, f->max);
    if (f->has_millis)
        cell_int(b, 8, (int64_t)f->millis);
    else
        cell_null(b, 8);
    if (f->end_time) {
        cell_int(b, 9, *f->end_time);
        cell_int(b, 10, f->end_nsec);
    } else {
        cell_null(b, 9);
        cell_null(b, 10);
    }
    cell_int(b, 11, f->source);
    /* facts that cannot have a twin carry no dedup */
    if (f->has_dedup)
        cell_int(b, 12, (int64_t)(f->dedup & DEDUP_MASK));
    else
        cell_null(b, 12);
    int64_t key = f->end_time ? time_key(*f->end_time, f->end_nsec) : time_key(f->time, f->nsec);
    return end_row(s, b, key, s->in_tx && f->source == QPS_SOURCE_IMPORT);
}

static fact_row accept_row(const pending_accept *a)
{
    fact_row f = {"accept", a->time, a->nsec, qps_slice(a->host_len ? a->host : NULL, a->host_len),
                  qps_slice(a->ip_len ? a->ip : NULL, a->ip_len), a->pid, a->running, a->max,
                  false, false, 0, 0, NULL, 0, QPS_SOURCE_IMPORT};
    return f;
}

/* Writes the rows still waiting: held records, accepts whose connections
 * go on past the batch, and the rows gathered for a multi-row INSERT. */
static qps_status flush_pending(qps_store *s)
{
    qps_status st = write_all_held(s);
    for (size_t i = 0; i < s->npending && st == QPS_OK; i++) {
        fact_row f = accept_row(&s->pending[i]);
        st = insert_fact(s, &f);
    }
    s->npending = 0;
    for (int t = 0; t < 2; t++) {
        qps_status rst = flush_rows(s, s->rows[t]);
        if (st == QPS_OK)
            st = rst;
    }
    return st;
}

static pending_accept *find_pending(qps_store *s, uint32_t pid)
{
    for (size_t i = 0; i < s->npending; i++)
        if (s->pending[i].pid == pid)
            return &s->pending[i];
    return NULL;
}

static void drop_pending(qps_store *s, pending_accept *a)
{
    *a = s->pending[--s->npending];
}

/* Keeps an imported accept until its connection time (or the commit);
 * false when it cannot wait and must be written now. */
static bool hold_accept(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns)
{
    if (s->npending == PENDING_MAX || r->remote_ip.len >= sizeof s->pending->ip ||
        host.len >= sizeof s->pending->host)
        return false;
    pending_accept *a = &s->pending[s->npending++];
    a->pid = r->pid;
    a->time = t;
    a->nsec = ns;
    a->running = r->running;
    a->max = r->max;
    a->ip_len = r->remote_ip.len;
    memcpy(a->ip, r->remote_ip.ptr ? r->remote_ip.ptr : "", r->remote_ip.len);
    a->host_len = host.len;
    memcpy(a->host, host.ptr ? host.ptr : "", host.len);
    return true;
}

static qps_status add_fact(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns, int source,
                           bool *stored)
{
    /* a connection time and a queue acceptance are paired by process
     * alone: the plugin's own measurement and connection_time's log line
     * differ by a few ms, its note of the queue's OK and qpsmtpd's reply
     * differ in wording */
    bool by_pid = r->kind == QPS_KIND_CONN_TIME || r->kind == QPS_KIND_REPLY;
    /* the plugin never records accepts or waits (they are logged by the
     * server core), so only the other facts can have twins */
    bool may_twin = r->kind == QPS_KIND_HOSTS_ALLOW || r->kind == QPS_KIND_CONN_TIME || r->kind == QPS_KIND_REPLY;
    uint64_t dedup = !may_twin ? 0
                               : (by_pid ? 0 : qps_hash_bytes(r->message.ptr, r->message.len)) ^
                                     ((uint64_t)r->pid * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)r->kind;
    bool folding = s->in_tx && source == QPS_SOURCE_IMPORT;
    qps_status st;
    bool found;
    held_record *h = folding ? find_held(s, r->pid) : NULL;
    if (may_twin && ((st = pair_fact(s, dedup, t, source, &found)) != QPS_OK || found)) {
        if (h && st == QPS_OK)
            st = write_held(s, h, 0);
        return st;
    }
    if (h) {
        /* the queue's reply shares its record's row if it has the same
         * second: no range of whole seconds can part them */
        bool joins = r->kind == QPS_KIND_REPLY && h->time == t;
        if ((st = write_held(s, h, joins)) != QPS_OK || joins) {
            *stored = st == QPS_OK;
            return st;
        }
    }
    if (r->kind == QPS_KIND_REPLY && source != QPS_SOURCE_IMPORT) {
        /* the plugin's note of the queue's OK: is the log's reply already
         * stored with its record? */
        sqlite3_stmt *q = s->stmt[ST_FIND_LOGGED_QUEUED];
        sqlite3_bind_int64(q, 1, second_key(t - DEDUP_WINDOW));
        sqlite3_bind_int64(q, 2, second_key(t + DEDUP_WINDOW + 1));
        sqlite3_bind_int64(q, 3, r->pid);
        int rc = sqlite3_step(q);
        sqlite3_int64 id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
        sqlite3_reset(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return fail(s, QPS_EIO, "cannot read the store");
        if (rc == SQLITE_ROW) {
            sqlite3_bind_int64(s->stmt[ST_MARK_QUEUED], 1, id);
            return step_done(s->stmt[ST_MARK_QUEUED]) == SQLITE_DONE ? QPS_OK
                                                                     : fail(s, QPS_EIO, "cannot write the store");
        }
    }
    pending_accept *a = folding ? find_pending(s, r->pid) : NULL;
    if (r->kind == QPS_KIND_ACCEPT) {
        if (a) {
            /* the pid was reused: the earlier connection ended unseen */
            fact_row f = accept_row(a);
            drop_pending(s, a);
            if ((st = insert_fact(s, &f)) != QPS_OK)
                return st;
        }
        if (folding && hold_accept(s, r, host, t, ns)) {
            *stored = true;
            return QPS_OK;
        }
    }
    fact_row f = {r->kind == QPS_KIND_REPLY ? "queued" : qps_kind_name(r->kind), t, ns, host,
                  r->remote_ip.len ? r->remote_ip : qps_slice(NULL, 0), r->pid, r->running, r->max,
                  r->kind == QPS_KIND_CONN_TIME, may_twin, r->millis, dedup, NULL, 0, source};
    if (r->kind == QPS_KIND_CONN_TIME && a && t >= a->time && t - a->time <= FOLD_SPAN) {
        /* one row for the connection: the accept with its time */
        fact_row folded = accept_row(a);
        folded.has_millis = true;
        folded.millis = r->millis;
        folded.has_dedup = true;
        folded.dedup = dedup;
        folded.end_time = &t;
        folded.end_nsec = ns;
        st = insert_fact(s, &folded);
        drop_pending(s, a);
    } else {
        st = insert_fact(s, &f);
    }
    if (st == QPS_OK)
        *stored = true;
    return st;
}

static qps_status add_record(qps_store *s, const qps_record *r, const char *server, int64_t unix_sec,
                             uint32_t nsec, int source, int *added)
{
    int64_t t = r->has_time ? r->unix_sec : unix_sec;
    uint32_t ns = r->has_time ? r->nsec : nsec;
    qps_str host = r->host.len ? r->host : qps_slice(server, server ? strlen(server) : 0);
    if (!host.len)
        host = qps_slice(NULL, 0);
    bool stored = false;
    qps_status st = QPS_OK;
    if (source != QPS_SOURCE_IMPORT && s->in_tx && (st = flush_pending(s)) != QPS_OK)
        return st; /* its twin may be waiting */
    if (r->kind == QPS_KIND_TERSE) {
        held_record *h = s->nheld ? find_held(s, r->pid) : NULL;
        if (h && (st = write_held(s, h, 0)) != QPS_OK)
            return st;
        st = add_terse(s, r, host, t, ns, source, &stored);
    }
    else if (r->kind == QPS_KIND_ACCEPT || r->kind == QPS_KIND_TOO_MANY || r->kind == QPS_KIND_HOSTS_ALLOW ||
             r->kind == QPS_KIND_CONN_TIME || qps_reply_is_queued(r))
        st = add_fact(s, r, host, t, ns, source, &stored);
    if (added && stored)
        *added = 1;
    return st;
}

qps_status qps_store_file_offset(qps_store *s, const qps_file_id *id, int64_t *offset)
{
    sqlite3_stmt *q = s->stmt[ST_FILE_GET];
    sqlite3_bind_int64(q, 1, (sqlite3_int64)id->head_hash);
    int rc = sqlite3_step(q);
    *offset = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(s, QPS_EIO, "cannot read the store");
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
    if (step_done(q) != SQLITE_DONE)
        return fail(s, QPS_EIO, "cannot write the store");
    return QPS_OK;
}

static qps_str column_str(sqlite3_stmt *q, int col)
{
    const char *v = (const char *)sqlite3_column_text(q, col);
    return v ? qps_slice(v, (size_t)sqlite3_column_bytes(q, col)) : qps_slice("", 0);
}

static bool in_window(int64_t t, int64_t since, int64_t until)
{
    return t >= since && t < until;
}

/* A stored transaction as the parser would have given it. */
static void terse_from_row(sqlite3_stmt *q, qps_record *r)
{
    memset(r, 0, sizeof *r);
    r->kind = QPS_KIND_TERSE;
    r->has_time = 1;
    r->unix_sec = sqlite3_column_int64(q, 0);
    r->nsec = (uint32_t)sqlite3_column_int(q, 1);
    r->pid = (uint32_t)sqlite3_column_int64(q, 2);
    for (int f = 0; f <= QPS_TF_TEXT; f++)
        r->field[f] = column_str(q, 3 + f);
    bool has_spam = sqlite3_column_type(q, 3 + QPS_TF_SPAM) != SQLITE_NULL;
    r->field[QPS_TF_SPAM] = has_spam ? column_str(q, 3 + QPS_TF_SPAM) : qps_slice(NULL, 0);
    r->nfields = has_spam ? 9 : 8;
}

static qps_status each_transaction(qps_store *s, int64_t since, int64_t until, qps_record_fn fn, void *ctx)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT time, nsec, pid, ip, rhost, helo, sender, recipients, disposition, code, text, "
                           "spam, queue_ok FROM transactions WHERE id >= ?1 AND id < ?2 AND time >= ?3 "
                           "AND time < ?4 ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK)
        return fail(s, QPS_EIO, "cannot read the store");
    sqlite3_bind_int64(q, 1, second_key(since));
    sqlite3_bind_int64(q, 2, until > KEY_SEC_MAX ? INT64_MAX : second_key(until));
    sqlite3_bind_int64(q, 3, since);
    sqlite3_bind_int64(q, 4, until);
    qps_status st = QPS_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        qps_record rec;
        terse_from_row(q, &rec);
        if (fn(ctx, &rec) != 0) {
            st = QPS_EINVAL;
            break;
        }
        if (sqlite3_column_type(q, 12) == SQLITE_NULL)
            continue;
        /* the queue's reply that shares the record's row */
        qps_record reply;
        memset(&reply, 0, sizeof reply);
        reply.kind = QPS_KIND_REPLY;
        reply.has_time = 1;
        reply.unix_sec = rec.unix_sec;
        reply.nsec = rec.nsec;
        reply.pid = rec.pid;
        reply.reply_code = 250;
        reply.message = qps_slice("250 Queued", 10);
        if (fn(ctx, &reply) != 0) {
            st = QPS_EINVAL;
            break;
        }
    }
    if (st == QPS_OK && rc != SQLITE_DONE)
        st = fail(s, QPS_EIO, "cannot read the store");
    sqlite3_finalize(q);
    return st;
}

static qps_kind fact_kind(const char *name)
{
    static const qps_kind kinds[] = {QPS_KIND_ACCEPT, QPS_KIND_TOO_MANY, QPS_KIND_HOSTS_ALLOW, QPS_KIND_CONN_TIME};
    if (!name)
        return QPS_KIND_OTHER;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(name, qps_kind_name(kinds[i])) == 0)
            return kinds[i];
    return strcmp(name, "queued") == 0 ? QPS_KIND_REPLY : QPS_KIND_OTHER;
}

/* The records of a connections row: one fact, or an accept and its
 * connection time; each is given if its own time is in the window. */
static int facts_from_row(sqlite3_stmt *q, int64_t since, int64_t until, qps_record_fn fn, void *ctx)
{
    qps_record r;
    memset(&r, 0, sizeof r);
    r.kind = fact_kind((const char *)sqlite3_column_text(q, 3));
    r.has_time = 1;
    r.unix_sec = sqlite3_column_int64(q, 0);
    r.nsec = (uint32_t)sqlite3_column_int(q, 1);
    r.pid = (uint32_t)sqlite3_column_int64(q, 2);
    r.remote_ip = column_str(q, 4);
    r.running = (unsigned)sqlite3_column_int(q, 5);
    r.max = (unsigned)sqlite3_column_int(q, 6);
    r.millis = (uint64_t)sqlite3_column_int64(q, 7);
    if (r.kind == QPS_KIND_REPLY) {
        r.reply_code = 250;
        r.message = qps_slice("250 Queued", 10);
    }
    if (r.kind != QPS_KIND_OTHER && in_window(r.unix_sec, since, until) && fn(ctx, &r) != 0)
        return 1;
    if (r.kind != QPS_KIND_ACCEPT || sqlite3_column_type(q, 8) == SQLITE_NULL)
        return 0;
    /* the folded connection time */
    r.kind = QPS_KIND_CONN_TIME;
    r.unix_sec = sqlite3_column_int64(q, 8);
    r.nsec = (uint32_t)sqlite3_column_int(q, 9);
    r.running = r.max = 0;
    return in_window(r.unix_sec, since, until) && fn(ctx, &r) != 0;
}

static qps_status each_fact(qps_store *s, int64_t since, int64_t until, qps_record_fn fn, void *ctx)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT time, nsec, pid, kind, ip, running, max, millis, end_time, end_nsec "
                           "FROM connections WHERE id >= ?1 AND id < ?2 ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK)
        return fail(s, QPS_EIO, "cannot read the store");
    /* a folded accept has the id of its end, up to FOLD_SPAN later */
    sqlite3_bind_int64(q, 1, second_key(since));
    sqlite3_bind_int64(q, 2, until > KEY_SEC_MAX - FOLD_SPAN ? INT64_MAX : second_key(until + FOLD_SPAN));
    qps_status st = QPS_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (facts_from_row(q, since, until, fn, ctx) != 0) {
            st = QPS_EINVAL;
            break;
        }
    }
    if (st == QPS_OK && rc != SQLITE_DONE)
        st = fail(s, QPS_EIO, "cannot read the store");
    sqlite3_finalize(q);
    return st;
}

qps_status qps_store_each(qps_store *s, int64_t since, int64_t until, qps_record_fn fn, void *ctx)
{
    qps_status st = s->in_tx ? flush_pending(s) : QPS_OK;
    if (st != QPS_OK)
        return st;
    st = each_transaction(s, since, until, fn, ctx);
    return st == QPS_OK ? each_fact(s, since, until, fn, ctx) : st;
}

typedef struct {
    qps_agg *agg;
    qps_status status;
} agg_feed;

static int add_to_agg(void *ctx, const qps_record *rec)
{
    agg_feed *f = ctx;
    f->status = qps_agg_add(f->agg, rec);
    return f->status != QPS_OK;
}

qps_status qps_store_aggregate(qps_store *s, qps_agg *agg)
{
    qps_agg_opts_view v;
    qps_agg_selection(agg, &v);
    agg_feed feed = {agg, QPS_OK};
    qps_status st = qps_store_each(s, v.has_since ? v.since : INT64_MIN, v.has_until ? v.until : INT64_MAX,
                                   add_to_agg, &feed);
    if (st == QPS_EINVAL)
        return feed.status;
    if (st != QPS_OK)
        return st;
    /* pruned days: their totals by disposition and TLD */
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "SELECT day, disposition, tld, count FROM daily", -1, &q, NULL) != SQLITE_OK)
        return fail(s, QPS_EIO, "cannot read the store");
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *day = (const char *)sqlite3_column_text(q, 0);
        qps_civil c = {0};
        int64_t start;
        if (!day || sscanf(day, "%d-%d-%d", &c.year, &c.month, &c.day) != 3 ||
            qps_unix_from_civil(NULL, &c, v.utc, &start) != QPS_OK)
            continue;
        /* a day is in the selection when its start is */
        if ((v.has_since && start < v.since) || (v.has_until && start >= v.until))
            continue;
        const char *disp = (const char *)sqlite3_column_text(q, 1);
        const char *tld = (const char *)sqlite3_column_text(q, 2);
        st = qps_agg_add_summary(agg, day, qps_slice(disp ? disp : "", disp ? strlen(disp) : 0),
                                 qps_slice(tld ? tld : "", tld ? strlen(tld) : 0),
                                 (uint64_t)sqlite3_column_int64(q, 3));
        if (st != QPS_OK)
            break;
    }
    sqlite3_finalize(q);
    if (st != QPS_OK)
        return st;
    /* the line counters are those of the imported files */
    if (sqlite3_prepare_v2(s->db, "SELECT coalesce(sum(lines_read),0), coalesce(sum(lines_invalid),0) FROM files",
                           -1, &q, NULL) != SQLITE_OK)
        return fail(s, QPS_EIO, "cannot read the store");
    if (sqlite3_step(q) == SQLITE_ROW) {
        uint64_t read = (uint64_t)sqlite3_column_int64(q, 0), bad = (uint64_t)sqlite3_column_int64(q, 1);
        qps_counts c;
        qps_agg_counts(agg, &c);
        if (read >= c.lines_read)
            qps_agg_set_line_counts(agg, read, read - bad, bad);
    }
    sqlite3_finalize(q);
    return QPS_OK;
}

qps_status qps_store_prune(qps_store *s, int64_t before, uint64_t *removed)
{
    *removed = 0;
    if (!s->stmt[ST_ADD_TX])
        return QPS_EINVAL;
    bool own_tx = !s->in_tx;
    qps_status st = own_tx ? qps_store_begin(s) : flush_pending(s);
    if (st != QPS_OK)
        return st;
    sqlite3_stmt *sel = NULL, *up = NULL;
    st = QPS_OK;
    if (sqlite3_prepare_v2(s->db, "SELECT time, disposition, sender FROM transactions WHERE time < ?", -1, &sel,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO daily VALUES (?,?,?,1) ON CONFLICT(day, disposition, tld) "
                                  "DO UPDATE SET count = count + 1", -1, &up, NULL) != SQLITE_OK)
        st = fail(s, QPS_EIO, "cannot prune the store");
    qps_tzcache tz = QPS_TZCACHE_INIT;
    if (st == QPS_OK)
        sqlite3_bind_int64(sel, 1, before);
    while (st == QPS_OK && sqlite3_step(sel) == SQLITE_ROW) {
        qps_civil c;
        char day[16], tld[256];
        if (qps_civil_from_unix(&tz, sqlite3_column_int64(sel, 0), 0, &c) != QPS_OK)
            continue;
        snprintf(day, sizeof day, "%04d-%02d-%02d", c.year, c.month, c.day);
        const char *sender = (const char *)sqlite3_column_text(sel, 2);
        size_t tl = qps_sender_tld(qps_slice(sender ? sender : "", sender ? strlen(sender) : 0), tld, sizeof tld);
        sqlite3_bind_text(up, 1, day, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(up, 2, (const char *)sqlite3_column_text(sel, 1), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(up, 3, tld, (int)tl, SQLITE_TRANSIENT);
        if (step_done(up) != SQLITE_DONE)
            st = fail(s, QPS_EIO, "cannot prune the store");
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(up);
    char sql[160];
    if (st == QPS_OK) {
        snprintf(sql, sizeof sql, "DELETE FROM transactions WHERE time < %lld", (long long)before);
        if (exec(s, sql) != SQLITE_OK)
            st = fail(s, QPS_EIO, "cannot prune the store");
        else
            *removed = (uint64_t)sqlite3_changes(s->db);
    }
    if (st == QPS_OK) {
        snprintf(sql, sizeof sql, "DELETE FROM connections WHERE time < %lld", (long long)before);
        if (exec(s, sql) != SQLITE_OK)
            st = fail(s, QPS_EIO, "cannot prune the store");
    }
    if (own_tx)
        return st == QPS_OK ? qps_store_commit(s) : (qps_store_rollback(s), st);
    return st;
}

static int64_t scalar(qps_store *s, const char *sql)
{
    sqlite3_stmt *q;
    int64_t v = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            v = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    return v;
}

qps_status qps_store_stat(qps_store *s, qps_store_info *out)
{
    if (s->in_tx && flush_pending(s) != QPS_OK)
        return QPS_EIO;
    out->transactions = (uint64_t)scalar(s, "SELECT count(*) FROM transactions");
    /* a folded accept row holds two facts, a queued record with its reply too */
    out->connection_facts = (uint64_t)scalar(s, "SELECT (SELECT count(*) + count(end_time) FROM connections) + "
                                                "(SELECT count(queue_ok) FROM transactions)");
    out->files = (uint64_t)scalar(s, "SELECT count(*) FROM files");
    out->daily_rows = (uint64_t)scalar(s, "SELECT count(*) FROM daily");
    /* ids are in time order: the first and last rows are at hand */
    out->first = scalar(s, "SELECT coalesce((SELECT time FROM transactions ORDER BY id LIMIT 1), 0)");
    out->last = scalar(s, "SELECT coalesce((SELECT time FROM transactions ORDER BY id DESC LIMIT 1), 0)");
    return QPS_OK;
}
