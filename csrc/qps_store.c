/*
 * qps_store.c - the SQLite store: transactions, connection facts, import
 * bookkeeping and daily totals in one file that the sqlite3 shell can read.
 *
 * Every record keeps the raw line it came from, so a report from the store
 * runs the very same aggregator as a report from the logs. A record written
 * live by the qpsmtpd plugin and the same record imported later from the
 * log carry the same dedup hash (pid + logterse fields), which is how an
 * import never counts a transaction twice.
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

/* The dedup column is a twin key: a 128-second time bucket above 36 bits of
 * the record's hash. Keys then grow with time, so the index takes new rows
 * at its end (a plain hash index costs a random page per insert), and a
 * twin is looked up in the record's bucket and its two neighbours. */
#define TWIN_BUCKET_SHIFT 7
#define TWIN_HASH_BITS 36

static int64_t twin_key(int64_t t, uint64_t hash, int bucket_delta)
{
    int64_t bucket = (t >> TWIN_BUCKET_SHIFT) + bucket_delta;
    return (int64_t)(((uint64_t)bucket << TWIN_HASH_BITS) | (hash & ((1ULL << TWIN_HASH_BITS) - 1)));
}

enum {
    ST_ADD_TX,
    ST_ADD_CONN,
    ST_FIND_TX,
    ST_FIND_CONN,
    ST_FILE_GET,
    ST_FILE_SET,
    ST_TWIN_TX,
    ST_TWIN_CONN,
    ST_LIVE_TX,
    ST_LIVE_CONN,
    ST_COUNT_
};

struct qps_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT_];
    char error[512];
    qps_parser *parser;
    char *prefix;       /* logterse prefix, NULL for the default */
    bool in_tx;
};

static const char *const statements[ST_COUNT_] = {
    [ST_ADD_TX] = "INSERT INTO transactions (time, nsec, server, pid, ip, rhost, helo, sender, recipients, "
                  "disposition, code, text, spam, spam_verdict, score, required, source, dedup, line) "
                  "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_ADD_CONN] = "INSERT INTO connections (time, nsec, server, pid, kind, ip, running, max, millis, source, "
                    "dedup, line) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_FIND_TX] = "SELECT id FROM transactions WHERE dedup IN (?1, ?2, ?3) AND time BETWEEN ?4 AND ?5 "
                   "AND source != ?6 AND twin = 0 LIMIT 1",
    [ST_FIND_CONN] = "SELECT id FROM connections WHERE dedup IN (?1, ?2, ?3) AND time BETWEEN ?4 AND ?5 "
                     "AND source != ?6 AND twin = 0 LIMIT 1",
    [ST_TWIN_TX] = "UPDATE transactions SET twin = 1 WHERE id = ?",
    [ST_LIVE_TX] = "SELECT 1 FROM transactions WHERE source = 2 AND time BETWEEN ? AND ? LIMIT 1",
    [ST_LIVE_CONN] = "SELECT 1 FROM connections WHERE source = 2 AND time BETWEEN ? AND ? LIMIT 1",
    [ST_TWIN_CONN] = "UPDATE connections SET twin = 1 WHERE id = ?",
    [ST_FILE_GET] = "SELECT offset FROM files WHERE head_hash = ?",
    [ST_FILE_SET] = "INSERT INTO files (head_hash, inode, name, offset, lines_read, lines_invalid, updated) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, strftime('%s','now')) "
                    "ON CONFLICT(head_hash) DO UPDATE SET inode = ?2, name = ?3, offset = ?4, "
                    "lines_read = lines_read + ?5, lines_invalid = lines_invalid + ?6, "
                    "updated = strftime('%s','now')",
};

/* Version 1. Later versions append their steps to migrations[]. */
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

static const char *const migrations[] = {schema_v1};
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
        if (readonly && (i == ST_ADD_TX || i == ST_ADD_CONN || i == ST_FILE_SET || i == ST_TWIN_TX ||
                         i == ST_TWIN_CONN || i == ST_LIVE_TX || i == ST_LIVE_CONN))
            continue;
        if (sqlite3_prepare_v3(s->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL) !=
            SQLITE_OK)
            st = fail(s, QPS_EFORMAT, "not a qpstat store");
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
    if (!s || !(s->parser = qps_parser_new(NULL))) {
        free(s);
        *status = QPS_ENOMEM;
        if (err)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
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
    qps_parser_free(s->parser);
    free(s->prefix);
    free(s);
}

qps_status qps_store_set_prefix(qps_store *s, const char *prefix)
{
    qps_parser_opts opts = {prefix, 0};
    qps_parser *p = qps_parser_new(&opts);
    if (!p)
        return QPS_ENOMEM;
    qps_parser_free(s->parser);
    s->parser = p;
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
    return QPS_OK;
}

qps_status qps_store_commit(qps_store *s)
{
    if (!s->in_tx)
        return QPS_EINVAL;
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
    return QPS_OK;
}

static void bind_str(sqlite3_stmt *st, int i, qps_str v)
{
    if (v.ptr)
        sqlite3_bind_text(st, i, v.ptr, (int)v.len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

/* A record is the twin of one stored from the other source (the plugin's
 * copy and the log's) with the same hash, close in time, not yet paired.
 * Identical records from one source are all kept: a client refused twice
 * for the same recipient in one connection logs two equal lines. A twin
 * found is marked paired, so two live copies match two logged ones. */
static qps_status pair_twin(qps_store *s, int find, int mark, uint64_t dedup, int64_t t, int source,
                            bool *found)
{
    *found = false;
    if (source == QPS_SOURCE_IMPORT) {
        /* most stores have no live records near t: one probe of the small
         * index of live rows spares the full lookup */
        sqlite3_stmt *live = s->stmt[find == ST_FIND_TX ? ST_LIVE_TX : ST_LIVE_CONN];
        sqlite3_bind_int64(live, 1, t - DEDUP_WINDOW);
        sqlite3_bind_int64(live, 2, t + DEDUP_WINDOW);
        int rc = sqlite3_step(live);
        sqlite3_reset(live);
        if (rc == SQLITE_DONE)
            return QPS_OK;
        if (rc != SQLITE_ROW)
            return fail(s, QPS_EIO, "cannot read the store");
    }
    sqlite3_stmt *st = s->stmt[find];
    for (int d = -1; d <= 1; d++)
        sqlite3_bind_int64(st, 2 + d, twin_key(t, dedup, d));
    sqlite3_bind_int64(st, 4, t - DEDUP_WINDOW);
    sqlite3_bind_int64(st, 5, t + DEDUP_WINDOW);
    sqlite3_bind_int(st, 6, source);
    int rc = sqlite3_step(st);
    sqlite3_int64 id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(s, QPS_EIO, "cannot read the store");
    *found = rc == SQLITE_ROW;
    if (*found) {
        sqlite3_bind_int64(s->stmt[mark], 1, id);
        if (step_done(s->stmt[mark]) != SQLITE_DONE)
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

static qps_status add_record(qps_store *s, const qps_record *r, const char *line, size_t len, const char *server,
                             int64_t unix_sec, uint32_t nsec, int source, int *added);

qps_status qps_store_add(qps_store *s, const qps_record *r, const char *line, size_t len, const char *server,
                         int64_t unix_sec, uint32_t nsec, int source, int *added)
{
    if (added)
        *added = 0;
    if (!s->stmt[ST_ADD_TX])
        return QPS_EINVAL; /* opened read-only */
    if (s->in_tx)
        return add_record(s, r, line, len, server, unix_sec, nsec, source, added);
    /* the twin lookup and the insert must be one transaction: an import
     * committing in between would otherwise store both copies */
    qps_status st = qps_store_begin(s);
    if (st != QPS_OK)
        return st;
    st = add_record(s, r, line, len, server, unix_sec, nsec, source, added);
    if (st != QPS_OK) {
        qps_store_rollback(s);
        if (added)
            *added = 0;
        return st;
    }
    return qps_store_commit(s);
}

static qps_status add_record(qps_store *s, const qps_record *r, const char *line, size_t len, const char *server,
                             int64_t unix_sec, uint32_t nsec, int source, int *added)
{
    int64_t t = r->has_time ? r->unix_sec : unix_sec;
    uint32_t ns = r->has_time ? r->nsec : nsec;
    qps_str host = r->host.len ? r->host : qps_slice(server, server ? strlen(server) : 0);
    bool found;
    qps_status st;
    if (r->kind == QPS_KIND_TERSE) {
        uint64_t dedup = terse_dedup(r);
        if ((st = pair_twin(s, ST_FIND_TX, ST_TWIN_TX, dedup, t, source, &found)) != QPS_OK || found)
            return st;
        sqlite3_stmt *q = s->stmt[ST_ADD_TX];
        sqlite3_bind_int64(q, 1, t);
        sqlite3_bind_int(q, 2, (int)ns);
        bind_str(q, 3, host.len ? host : qps_slice(NULL, 0));
        sqlite3_bind_int64(q, 4, r->pid);
        for (int f = 0; f <= QPS_TF_TEXT; f++)
            bind_str(q, 5 + f, r->field[f]);
        bind_str(q, 13, r->nfields == 9 ? r->field[QPS_TF_SPAM] : qps_slice(NULL, 0));
        qps_spam spam;
        if (r->nfields == 9 && qps_spam_parse(r->field[QPS_TF_SPAM], &spam) == QPS_OK) {
            sqlite3_bind_int(q, 14, spam.is_spam);
            sqlite3_bind_double(q, 15, spam.score);
            if (spam.has_required)
                sqlite3_bind_double(q, 16, spam.required);
            else
                sqlite3_bind_null(q, 16);
        } else {
            sqlite3_bind_null(q, 14);
            sqlite3_bind_null(q, 15);
            sqlite3_bind_null(q, 16);
        }
        sqlite3_bind_int(q, 17, source);
        sqlite3_bind_int64(q, 18, twin_key(t, dedup, 0));
        sqlite3_bind_blob(q, 19, line, (int)len, SQLITE_TRANSIENT);
        if (step_done(q) != SQLITE_DONE)
            return fail(s, QPS_EIO, "cannot write the store");
    } else if (r->kind == QPS_KIND_ACCEPT || r->kind == QPS_KIND_TOO_MANY || r->kind == QPS_KIND_HOSTS_ALLOW ||
               r->kind == QPS_KIND_CONN_TIME || qps_reply_is_queued(r)) {
        /* a connection time and a queue acceptance are paired by process
         * alone: the plugin's own measurement and connection_time's log line
         * differ by a few ms, its note of the queue's OK and qpsmtpd's reply
         * differ in wording */
        bool by_pid = r->kind == QPS_KIND_CONN_TIME || r->kind == QPS_KIND_REPLY;
        uint64_t dedup = (by_pid ? 0 : qps_hash_bytes(r->message.ptr, r->message.len)) ^
                         ((uint64_t)r->pid * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)r->kind;
        /* the plugin never records accepts or waits (they are logged by the
         * server core), so only the other facts can have twins */
        bool may_twin = r->kind == QPS_KIND_HOSTS_ALLOW || r->kind == QPS_KIND_CONN_TIME || r->kind == QPS_KIND_REPLY;
        if (may_twin && ((st = pair_twin(s, ST_FIND_CONN, ST_TWIN_CONN, dedup, t, source, &found)) != QPS_OK || found))
            return st;
        sqlite3_stmt *q = s->stmt[ST_ADD_CONN];
        sqlite3_bind_int64(q, 1, t);
        sqlite3_bind_int(q, 2, (int)ns);
        bind_str(q, 3, host.len ? host : qps_slice(NULL, 0));
        sqlite3_bind_int64(q, 4, r->pid);
        sqlite3_bind_text(q, 5, r->kind == QPS_KIND_REPLY ? "queued" : qps_kind_name(r->kind), -1, SQLITE_STATIC);
        bind_str(q, 6, r->remote_ip.len ? r->remote_ip : qps_slice(NULL, 0));
        sqlite3_bind_int(q, 7, (int)r->running);
        sqlite3_bind_int(q, 8, (int)r->max);
        if (r->kind == QPS_KIND_CONN_TIME)
            sqlite3_bind_int64(q, 9, (sqlite3_int64)r->millis);
        else
            sqlite3_bind_null(q, 9);
        sqlite3_bind_int(q, 10, source);
        /* facts without a possible twin stay out of the dedup index */
        if (may_twin)
            sqlite3_bind_int64(q, 11, twin_key(t, dedup, 0));
        else
            sqlite3_bind_null(q, 11);
        sqlite3_bind_blob(q, 12, line, (int)len, SQLITE_TRANSIENT);
        if (step_done(q) != SQLITE_DONE)
            return fail(s, QPS_EIO, "cannot write the store");
    } else {
        return QPS_OK;
    }
    if (added)
        *added = 1;
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

/* Runs a query whose first three columns are a stored line and its time. */
static qps_status each_line(qps_store *s, const char *sql, int64_t since, int64_t until, qps_record_fn fn,
                            void *ctx)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return fail(s, QPS_EIO, "cannot read the store");
    sqlite3_bind_int64(q, 1, since);
    sqlite3_bind_int64(q, 2, until);
    qps_status st = QPS_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *line = sqlite3_column_blob(q, 0);
        int len = sqlite3_column_bytes(q, 0);
        qps_record rec;
        qps_parser_parse(s->parser, line ? line : "", (size_t)len, &rec);
        if (!rec.has_time) {
            /* a plugin record carries its time in the row */
            rec.has_time = 1;
            rec.unix_sec = sqlite3_column_int64(q, 1);
            rec.nsec = (uint32_t)sqlite3_column_int(q, 2);
        }
        if (fn(ctx, &rec) != 0) {
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
    qps_status st = each_line(s, "SELECT line, time, nsec FROM transactions WHERE time >= ?1 AND time < ?2 "
                                 "ORDER BY time, nsec, id", since, until, fn, ctx);
    if (st == QPS_OK)
        st = each_line(s, "SELECT line, time, nsec FROM connections WHERE time >= ?1 AND time < ?2 "
                          "ORDER BY time, nsec, id", since, until, fn, ctx);
    return st;
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
    qps_status st;
    if (own_tx && (st = qps_store_begin(s)) != QPS_OK)
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
    out->transactions = (uint64_t)scalar(s, "SELECT count(*) FROM transactions");
    out->connection_facts = (uint64_t)scalar(s, "SELECT count(*) FROM connections");
    out->files = (uint64_t)scalar(s, "SELECT count(*) FROM files");
    out->daily_rows = (uint64_t)scalar(s, "SELECT count(*) FROM daily");
    out->first = scalar(s, "SELECT coalesce(min(time),0) FROM transactions");
    out->last = scalar(s, "SELECT coalesce(max(time),0) FROM transactions");
    return QPS_OK;
}
