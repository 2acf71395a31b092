/*
 * schema.h - the store's tables, one column list each. The CREATE TABLE,
 * the INSERT column lists and the positions rows are read at all come from
 * these lists: a column is named in one place, and code says TX_NSEC where
 * it used to say 1 or 12.
 *
 * The lists describe the current schema (QPS_STORE_SCHEMA). A migration
 * from an older version renames the old tables, creates these and copies
 * the rows over by name; when a new version changes a list, the previous
 * version's CREATE text is frozen into its migration. A column a version
 * added to a table (ALTER TABLE ADD COLUMN, cheap on any size) names that
 * version: an older migration creates the table without it, and a reader
 * of a store of the version before reads it as NULL.
 *
 * License: MIT (see README).
 */
#ifndef QPS_STORE_SCHEMA_H
#define QPS_STORE_SCHEMA_H

#include "qps_private.h"

/* transactions: one logterse record per row (the order of the table) */
enum {
    TX_ID, /* the record's time key (store_private.h), SQLite's next if untimed */
    TX_TIME,
    TX_NSEC, /* -1: a line without a time */
    TX_SERVER,
    TX_SERVICE, /* the systemd unit (qps_record.service), NULL for none (schema 5) */
    TX_PID,
    TX_IP, /* TX_IP + QPS_TF_x is the record's field x */
    TX_RHOST,
    TX_HELO,
    TX_SENDER,
    TX_RECIPIENTS,
    TX_DISPOSITION,
    TX_CODE,
    TX_TEXT,
    TX_SPAM,
    TX_SPAM_VERDICT,
    TX_SCORE,
    TX_REQUIRED,
    TX_QUEUE_OK, /* 1: the queue's "250 Queued" reply shares the row */
    TX_SOURCE,   /* QPS_SOURCE_IMPORT or QPS_SOURCE_PLUGIN */
    TX_DEDUP,    /* live rows only: a hash of pid and fields */
    TX_TWIN,     /* 1 once the copy from the other source was seen */
    TX_NCOLS
};

/* connections: one fact per row, or an accept with its connection time */
enum {
    CN_ID, /* the fact's time key; a folded accept's is its end's */
    CN_TIME,
    CN_NSEC,
    CN_SERVER,
    CN_PID,
    CN_KIND, /* qps_kind_name() of the fact, "queued" for a queue's OK */
    CN_IP,
    CN_RUNNING,
    CN_MAX,
    CN_MILLIS,
    CN_END_TIME, /* a folded accept: its connection time's time */
    CN_END_NSEC,
    CN_SOURCE,
    CN_DEDUP,
    CN_TWIN,
    CN_NCOLS
};

/* files: how far each log file was imported; a file is known by its
 * first head_len bytes (files.c), a row of schema 2 (head_len 0) by the
 * hash of its first line until its next import */
enum {
    FL_ID,
    FL_HEAD_LEN,
    FL_HEAD_HASH,
    FL_FIRST_LINE,
    FL_INODE,
    FL_NAME,
    FL_OFFSET,
    FL_LINES_READ,
    FL_LINES_INVALID,
    FL_UPDATED,
    FL_NCOLS
};

/* daily: the totals of pruned days */
enum { DY_DAY, DY_DISPOSITION, DY_TLD, DY_COUNT, DY_NCOLS };

/* daily_facts: the rest of what pruned days counted (qps_agg_record_facts:
 * codes, DNSBL zones, spam verdicts and scores, connection facts); a store
 * of schema 2 made before it gets it at its first prune */
enum { DF_DAY, DF_WHAT, DF_KEY, DF_COUNT, DF_NCOLS };

/* spans: the days the totals are kept by (totals.c), [start, end) in unix
 * seconds, the local date of their writer, and the first and last time of
 * their records */
enum { SP_START, SP_END, SP_DAY, SP_FIRST, SP_LAST, SP_NCOLS };

/* totals: what the records of a span counted (qps_agg_record_totals'
 * families), span ALL_SPAN: of all time; first: the time key of the
 * first record that counted it (the order keys came in) */
enum { TT_SPAN, TT_WHAT, TT_KEY, TT_COUNT, TT_FIRST, TT_NCOLS };

/* conn_times: the connection times of a span (ALL_SPAN: of all time),
 * the counts of 1,024 milliseconds a row, packed (conn_times.c); schema 6 */
enum { CT_SPAN, CT_BUCKET, CT_COUNTS, CT_NCOLS };

/* meta: key/value facts about the store (its schema version) */
enum { MT_KEY, MT_VALUE, MT_NCOLS };

typedef struct {
    const char *name;
    const char *type; /* SQL type and constraints */
    int since;        /* the schema version that added it (0: from the start) */
} store_column;

typedef struct {
    const char *name;
    const store_column *cols;
    int ncols;
    int ninsert;            /* an INSERT sets the first ninsert columns */
    const char *constraint; /* a table constraint after the columns, or NULL */
    const char *indexes;    /* its CREATE INDEX statements, or NULL */
    bool without_rowid;     /* the primary key is the table */
} store_table;

enum { TB_TRANSACTIONS, TB_CONNECTIONS, TB_FILES, TB_DAILY, TB_META, TB_DAILY_FACTS, TB_SPANS, TB_TOTALS, TB_CONN_TIMES, TB_COUNT_ };

extern const store_table store_tables[TB_COUNT_];

/* Appends "CREATE TABLE t (...);" and t's CREATE INDEX statements. */
void store_create_sql(const store_table *t, qps_buf *out);
/* The same as schema `version` had it (without the columns added later). */
void store_create_sql_at(const store_table *t, int version, qps_buf *out);
/* A table `name` of t's columns (no indexes) holding t's rows; if not
 * rows, an empty one unless the store has it. */
void store_create_copy_sql(const store_table *t, const char *name, bool rows, qps_buf *out);
/* The same with IF NOT EXISTS (a table that came within a schema version). */
void store_create_missing_sql(const store_table *t, qps_buf *out);
/* Appends "INSERT INTO t (c0, ...) VALUES (?,...)" with `rows` tuples of
 * the first ninsert columns. */
void store_insert_sql(const store_table *t, int rows, qps_buf *out);
/* Appends "SELECT c0, c1, ... FROM t ": every column, at its position;
 * of a store of schema `version`, the columns added later as NULL. */
void store_select_sql(const store_table *t, int version, qps_buf *out);
/* The oldest schema a read-only handle reads as it is (columns added
 * since are NULL); an older one needs a writer's migration first. */
#define STORE_READABLE_SCHEMA 4

#endif
