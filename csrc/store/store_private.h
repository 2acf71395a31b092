/*
 * store_private.h - what the store's files share: its handle, its
 * statements, the rows on their way in, and the time keys that are its
 * ids. Who calls whom (no file calls back into one that calls it):
 * open.c opens and migrates (schema.c); tx.c groups writes (batch.c);
 * write.c pairs and adds records (tx.c, batch.c); read.c and prune.c
 * read and thin out (tx.c, batch.c); import.c (the import engine) reads
 * logs through the core's reader and splitter into write.c, and keeps
 * the files' offsets through files.c.
 *
 * License: MIT (see README).
 */
#ifndef QPS_STORE_PRIVATE_H
#define QPS_STORE_PRIVATE_H

#include "qps_private.h"
#include "schema.h"

#include <sqlite3.h>

/* Two copies of a record are the same if they are this close in time: the
 * plugin's clock reading and multilog's label differ by milliseconds, a
 * few seconds on a stalled disk. A live record looks for its logged copy
 * among all the rows of this window (imported rows carry no index but
 * their time): 30 s keep that to 0.4 ms on a server of 200 messages/s. */
#define DEDUP_WINDOW 30
/* The part of a record's hash kept in its dedup column (as in schema 1). */
#define DEDUP_MASK ((1ULL << 36) - 1)

/* A row's id: its time as seconds << 30 | nanoseconds, moved up past a
 * taken id (a second holds 2^30 ids and uses 10^9). The seconds are
 * clamped, so a forged label far in the future still gets an id. */
#define NSEC_BITS 30
#define KEY_SEC_MAX ((INT64_C(1) << 32) - 1)

/* The nsec of a record without a time (a log without timestamps); it is
 * stored as -1 at time 0 and counts as untimed, as in a log report. Its
 * id is SQLite's next (NO_KEY): it has no time to be keyed by. */
#define UNTIMED_NSEC UINT32_MAX
#define NO_KEY (-1)

/* An accept and its connection time become one row when the connection
 * lasted at most this long; the row's id is the end's, so reports look
 * this far past a range for accepts inside it. */
#define FOLD_SPAN 3600
/* A write of records older than this (seconds before the clock), of
 * records without a time, or a prune, changes meta "old_writes": caches of
 * the older records (serve's /metrics) know they must be rebuilt. */
#define OLD_WRITE_AGE 3600
/* Connections open at once whose accept waits for its connection time. */
#define PENDING_MAX 512
/* Queued records waiting for the "250 Queued" reply on the next line of
 * their process, and the most bytes of fields such a record may hold. */
#define HELD_MAX 8
#define HELD_BYTES 2048
/* Imported rows go in by this many per INSERT: the statement's cursor
 * stays at the table's end, where the next row goes. */
#define MULTI_ROWS 32
#define MAX_COLS TX_NCOLS

static inline int64_t qps_time_key(int64_t t, uint32_t nsec)
{
    if (t < 0)
        t = 0;
    if (t > KEY_SEC_MAX)
        t = KEY_SEC_MAX;
    return (t << NSEC_BITS) | (nsec < 1000000000u ? nsec : 999999999u);
}

/* the first id of second t (saturating) */
static inline int64_t qps_second_key(int64_t t)
{
    return qps_time_key(t, 0);
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
    ST_FIND_LOGGED_CT,
    ST_TWIN_TX,
    ST_TWIN_CONN_BIT,
    ST_TWIN_CONN_LOGGED,
    ST_FIND_LOGGED_QUEUED,
    ST_MARK_QUEUED,
    ST_FILE_EXACT,
    ST_FILE_SHORTER,
    ST_FILE_LEGACY,
    ST_FILE_OFFSET,
    ST_FILE_NAME,
    ST_FILE_INSERT,
    ST_FILE_UPDATE,
    ST_SPAN_LAST,
    ST_MARK_GET,
    ST_MARK_SET,
    ST_MARK_SCAN_TX,
    ST_MARK_SCAN_CONN,
    ST_JOURNAL_GET,
    ST_JOURNAL_SET,
    ST_SPAN_AT,
    ST_SPAN_NEXT,
    ST_SPAN_ADD,
    ST_SPAN_WIDEN,
    ST_TOTAL_ADD,
    ST_CONN_ROW,
    ST_CONN_TIMES_GET,
    ST_CONN_TIMES_PUT,
    ST_CONN_TIMES_DELETE,
    ST_CONN_TIMES_SPAN,
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

/* The first and last time of the timed lines an import passed (stored
 * or not) in the current transaction (span.c). */
typedef struct {
    bool valid;
    int64_t first, last;
} log_span;

/* A value of a row waiting in a row_batch; text is in the batch's arena. */
typedef struct {
    enum { CELL_NULL, CELL_INT, CELL_REAL, CELL_TEXT } type;
    int64_t i;
    double d;
    size_t off, len;
} cell;

/* Rows of one table on their way in: MULTI_ROWS of them at once. A row's
 * cells are at their columns' positions (schema.h); its id (column 0) is
 * its key. */
typedef struct {
    int single, multi, last_key; /* statements */
    int ncols;                   /* columns an INSERT sets, the id included */
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
    char service[256]; /* rec.service points here */
    char bytes[HELD_BYTES];
} held_record;

struct qps_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT_];
    live_gap gap[2];    /* transactions, connections */
    char error[512];
    char *prefix;       /* logterse prefix, NULL for the default */
    char *server;       /* the store's server (meta "server"), NULL if unnamed */
    bool created;       /* this opening created the schema */
    int schema;         /* the store's schema version (a reader's may be older) */
    bool readonly;
    bool in_tx;
    bool tx_failed;     /* a write in this transaction failed: it cannot commit */
    bool live_wal;      /* this handle has written a live record (write.c: its short WAL) */
    bool wal_checkpointed; /* its last commit checkpointed the WAL (write.c) */
    /* the highest id of imported rows (imported.c): as stored, and as
     * this transaction brings them; valid within one write transaction */
    bool imported_valid;
    int64_t imported_saved, imported_new;
    int busy_ms;        /* how long a lock held by another process is waited for */
    int64_t busy_since; /* when the current wait began (ns, monotonic) */
    uint32_t busy_rng;  /* spreads the waiters' retries */
    pending_accept *pending;
    size_t npending;
    held_record *held;
    size_t nheld;
    row_batch *rows[2]; /* transactions, connections */
    log_span span;      /* times of the lines imported in this transaction */
    int64_t wall;       /* the clock when the transaction began */
    bool old_write;     /* it writes or removes records older than OLD_WRITE_AGE */
    struct store_totals *totals; /* what this transaction's records add up to (totals.c) */
};

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

/* Sets the store's error to "what: SQLite's message"; returns st, or for
 * QPS_EIO what SQLite's error says (QPS_EBUSY, QPS_EREADONLY, QPS_ENOMEM). */
qps_status qps_store_fail(qps_store *s, qps_status st, const char *what);
int qps_store_exec(qps_store *s, const char *sql);
/* Statement i (ST_*), prepared on first use; NULL with the store's error
 * set when it cannot be (a write statement of a read-only store; not a
 * qpstat store; out of memory). Owned by the store. */
sqlite3_stmt *qps_store_stmt(qps_store *s, int i);
/* Writes the rows an import keeps back (held records, waiting accepts,
 * gathered rows): before the commit and before any read. */
qps_status qps_store_flush_pending(qps_store *s);
/* Forgets them (a rollback). */
void qps_store_discard_pending(qps_store *s);

/* ---- span.c: the logs' times, beyond the rows ---- */

/* Notes an imported line's time in the transaction's span. */
static inline void store_span_note(qps_store *s, int64_t t)
{
    if (!s->span.valid || t < s->span.first)
        s->span.first = t;
    if (!s->span.valid || t > s->span.last)
        s->span.last = t;
    s->span.valid = true;
}
/* Adds the transaction's span to what the store keeps of the file `file`
 * (its key in the files table) and of all logs; call it with the file's
 * progress, inside the transaction. */
qps_status store_span_commit(qps_store *s, int64_t file);

/* write.c: empties the WAL of a live writer whose last commit checkpointed
 * it, as the handle closes (a first opener would otherwise read it back). */
void store_live_wal_close(qps_store *s);

/* imported.c: the highest id (time key) of any imported timed row, so
 * that a live record whose window lies above it skips the search for a
 * logged twin. note: an imported row with this key is written (NO_KEY:
 * none); until: the mark, -1 when nothing was imported; save: stores what
 * this transaction raised (before its commit); reset: at the start and
 * end of a write transaction. */
void qps_store_note_imported(qps_store *s, int64_t key);
qps_status qps_store_imported_until(qps_store *s, int64_t *until);
qps_status qps_store_save_imported(qps_store *s);
void qps_store_imported_reset(qps_store *s);

/* ---- links.c: which file the store is ---- */

/* QPS_EIO (the store's error set) when the store's path or its -wal,
 * -shm or -journal is a symbolic link owned by another user than root or
 * us; *nofollow: the path is no link now (SQLite is to refuse one put
 * there meanwhile). */
qps_status store_check_links(qps_store *s, const char *path, bool *nofollow);
/* Whether the store's -wal file exists and is not empty. */
bool store_has_wal(const char *path);

/* ---- files.c: which log file is which ---- */

/* A file's identity is its first min(size, QPS_HEAD_MAX) bytes. */
#define QPS_HEAD_MAX 4096

typedef struct {
    size_t len;                      /* bytes of the head */
    uint64_t hash[QPS_HEAD_MAX + 1]; /* hash[i]: FNV-1a of the first i bytes */
    uint64_t first_line;             /* of the first line, when the head has it */
    bool has_first_line;
} qps_file_head;

void qps_file_head_set(qps_file_head *head, const char *bytes, size_t len);
/* The row of the file with that head (0: unknown), how far it was
 * imported and the head length the row has. Any transaction state. */
qps_status qps_files_find(qps_store *s, const qps_file_head *head, uint64_t inode, int64_t *row, int64_t *offset,
                          size_t *row_head);
qps_status qps_files_offset(qps_store *s, int64_t row, int64_t *offset);
/* Whether the file of row was last imported under `name`. */
bool qps_files_named(qps_store *s, int64_t row, const char *name);
/* The time of the last timed line imported of the file of row (its span),
 * for a parser resuming after it; false when there is none. */
bool qps_files_last_time(qps_store *s, int64_t row, int64_t *t);
/* Records progress on the file of *row (a new row when 0, *row set):
 * offset is the byte after the last complete line imported; the lines
 * are added to the file's counters, the transaction's span to the file's.
 * Inside the transaction of the records it covers. */
qps_status qps_files_progress(qps_store *s, int64_t *row, const qps_file_head *head, uint64_t inode,
                              const char *name, int64_t offset, uint64_t lines_read, uint64_t lines_invalid);

/* ---- facts.c: what pruned records counted, by day (daily_facts) ---- */

typedef struct store_facts store_facts;
/* Creates the table when the store lacks it; NULL when out of memory, a
 * failure in store_facts_status. */
store_facts *store_facts_new(qps_store *s);
/* Gathers a record's facts under its local day; non-zero after a failure. */
int store_facts_add(store_facts *f, const qps_record *rec);
/* Adds what was gathered to the table (inside the prune's transaction). */
qps_status store_facts_flush(store_facts *f);
qps_status store_facts_status(const store_facts *f);
void store_facts_free(store_facts *f);

/* ---- totals.c: what the records count, kept as they are written ---- */

/* The span of the totals of all time (no day starts there). */
#define ALL_SPAN INT64_MIN
typedef struct store_totals store_totals;
/* Adds a record's totals (sign 1), or takes them back (-1: a connection
 * fact whose values change), under its day's span (made when the store
 * has none yet) and of all time; key: its time key (the order keys came
 * in). Inside the write transaction of its row. */
qps_status store_totals_record(qps_store *s, const qps_record *r, int64_t key, int64_t sign);
/* The records of a transactions row (with its queue's reply when
 * queue_ok), of a connections row, of a queue's reply. */
qps_status store_totals_terse(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns, int queue_ok,
                              int64_t key);
qps_status store_totals_fact(qps_store *s, const fact_row *f, int64_t key);
qps_status store_totals_reply(qps_store *s, int64_t t, int64_t key);
/* A timed transaction stored without a service (at unix_sec, time key
 * key) that now has one: its totals move from no service to it. */
qps_status store_totals_service(qps_store *s, int64_t unix_sec, int64_t key, qps_str service);
/* The records of the connections row id as it is now (sign 1 or -1). */
qps_status store_totals_conn_row(qps_store *s, int64_t id, int64_t sign);
/* Writes what was gathered (before the commit and before any read). */
qps_status store_totals_flush(qps_store *s);
/* Forgets what was gathered and the spans seen (a commit or rollback). */
void store_totals_end(qps_store *s);
void store_totals_free(qps_store *s);
/* A migrated store's totals from every record it holds. */
qps_status store_totals_rebuild(qps_store *s);
/* The aggregate of a selection without filters from the totals and the
 * records no whole span covers (read.c calls it). */
qps_status store_totals_aggregate(qps_store *s, qps_agg *agg);

/* ---- conn_times.c: connection times as packed histograms ---- */

typedef struct store_conn_times store_conn_times;
store_conn_times *store_conn_times_new(void);
void store_conn_times_free(store_conn_times *ct);
/* Adds n connections of ms milliseconds to the span's (ALL_SPAN: all
 * time's); false when out of memory. */
bool store_conn_times_add(store_conn_times *ct, int64_t span, uint64_t ms, int64_t n);
/* How many (span, millisecond) counts are gathered. */
size_t store_conn_times_count(const store_conn_times *ct);
/* Adds what was gathered to the rows (in the write transaction), forgets it. */
qps_status store_conn_times_flush(qps_store *s, store_conn_times *ct);
/* Forgets what was gathered (a rollback). */
void store_conn_times_clear(store_conn_times *ct);
/* The span's connection times into agg (nothing in a store of schema 5,
 * whose totals hold them). */
qps_status store_conn_times_read(qps_store *s, int64_t span, qps_agg *agg);
/* A store of schema 4 or 5: its connection-time totals into conn_times. */
qps_status store_conn_times_migrate(qps_store *s);

/* ---- batch.c: rows into their tables ---- */

/* A transactions row; queue_ok: 0, or 1 when the queue's "250 Queued"
 * reply shares it. Imports inside a transaction gather rows. */
qps_status store_insert_terse(qps_store *s, const qps_record *r, qps_str host, int64_t t, uint32_t ns, int source,
                              int queue_ok);
qps_status store_insert_fact(qps_store *s, const fact_row *f);
/* The row of an accept that waited for its connection time in vain. */
fact_row store_accept_row(const pending_accept *a);
/* Writes a held record (with the queue's reply when queue_ok) and drops it
 * from the held ones (the last takes its slot). */
qps_status store_write_held(qps_store *s, held_record *h, int queue_ok);

/* pid + the record's fields: the same for the plugin's copy and the log's */
static inline uint64_t store_terse_dedup(const qps_record *r)
{
    const char *start = r->field[QPS_TF_IP].ptr;
    const qps_str last = r->nfields == 9 ? r->field[QPS_TF_SPAM] : r->field[QPS_TF_TEXT];
    size_t len = (size_t)(last.ptr + last.len - start);
    return qps_hash_bytes(start, len) ^ ((uint64_t)r->pid * 0x9e3779b97f4a7c15ULL);
}

/* a + b, held at the ends of int64: log labels decode to any time */
static inline int64_t qps_sat_add(int64_t a, int64_t b)
{
    int64_t sum;
    if (!__builtin_add_overflow(a, b, &sum))
        return sum;
    return b > 0 ? INT64_MAX : INT64_MIN;
}

static inline int qps_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

#endif
