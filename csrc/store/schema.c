/*
 * schema.c - the column lists of the store's tables (schema.h) and the SQL
 * made from them.
 *
 * License: MIT (see README).
 */
#include "schema.h"

#define NCOLS(a) ((int)(sizeof a / sizeof a[0]))

static const store_column tx_cols[TX_NCOLS] = {
    [TX_ID] = {"id", "INTEGER PRIMARY KEY"},
    [TX_TIME] = {"time", "INTEGER NOT NULL"},
    [TX_NSEC] = {"nsec", "INTEGER NOT NULL"},
    [TX_SERVER] = {"server", "TEXT"},
    [TX_SERVICE] = {"service", "TEXT", 5},
    [TX_PID] = {"pid", "INTEGER"},
    [TX_IP] = {"ip", "TEXT"},
    [TX_RHOST] = {"rhost", "TEXT"},
    [TX_HELO] = {"helo", "TEXT"},
    [TX_SENDER] = {"sender", "TEXT"},
    [TX_RECIPIENTS] = {"recipients", "TEXT"},
    [TX_DISPOSITION] = {"disposition", "TEXT NOT NULL"},
    [TX_CODE] = {"code", "TEXT"},
    [TX_TEXT] = {"text", "TEXT"},
    [TX_SPAM] = {"spam", "TEXT"},
    [TX_SPAM_VERDICT] = {"spam_verdict", "INTEGER"},
    [TX_SCORE] = {"score", "REAL"},
    [TX_REQUIRED] = {"required", "REAL"},
    [TX_QUEUE_OK] = {"queue_ok", "INTEGER"},
    [TX_SOURCE] = {"source", "INTEGER NOT NULL"},
    [TX_DEDUP] = {"dedup", "INTEGER"},
    [TX_TWIN] = {"twin", "INTEGER NOT NULL DEFAULT 0"},
};

static const store_column conn_cols[CN_NCOLS] = {
    [CN_ID] = {"id", "INTEGER PRIMARY KEY"},
    [CN_TIME] = {"time", "INTEGER NOT NULL"},
    [CN_NSEC] = {"nsec", "INTEGER NOT NULL"},
    [CN_SERVER] = {"server", "TEXT"},
    [CN_PID] = {"pid", "INTEGER"},
    [CN_KIND] = {"kind", "TEXT NOT NULL"},
    [CN_IP] = {"ip", "TEXT"},
    [CN_RUNNING] = {"running", "INTEGER"},
    [CN_MAX] = {"max", "INTEGER"},
    [CN_MILLIS] = {"millis", "INTEGER"},
    [CN_END_TIME] = {"end_time", "INTEGER"},
    [CN_END_NSEC] = {"end_nsec", "INTEGER"},
    [CN_SOURCE] = {"source", "INTEGER NOT NULL"},
    [CN_DEDUP] = {"dedup", "INTEGER"},
    [CN_TWIN] = {"twin", "INTEGER NOT NULL DEFAULT 0"},
};

static const store_column file_cols[FL_NCOLS] = {
    [FL_ID] = {"id", "INTEGER PRIMARY KEY"},
    [FL_HEAD_LEN] = {"head_len", "INTEGER NOT NULL"},
    [FL_HEAD_HASH] = {"head_hash", "INTEGER NOT NULL"},
    [FL_FIRST_LINE] = {"first_line", "INTEGER"},
    [FL_INODE] = {"inode", "INTEGER"},
    [FL_NAME] = {"name", "TEXT"},
    [FL_OFFSET] = {"offset", "INTEGER NOT NULL"},
    [FL_LINES_READ] = {"lines_read", "INTEGER NOT NULL DEFAULT 0"},
    [FL_LINES_INVALID] = {"lines_invalid", "INTEGER NOT NULL DEFAULT 0"},
    [FL_UPDATED] = {"updated", "INTEGER"},
};

static const store_column daily_cols[DY_NCOLS] = {
    [DY_DAY] = {"day", "TEXT NOT NULL"},
    [DY_DISPOSITION] = {"disposition", "TEXT NOT NULL"},
    [DY_TLD] = {"tld", "TEXT NOT NULL"},
    [DY_COUNT] = {"count", "INTEGER NOT NULL"},
};

static const store_column daily_fact_cols[DF_NCOLS] = {
    [DF_DAY] = {"day", "TEXT NOT NULL"},
    [DF_WHAT] = {"what", "TEXT NOT NULL"},
    [DF_KEY] = {"key", "TEXT NOT NULL"},
    [DF_COUNT] = {"count", "INTEGER NOT NULL"},
};

static const store_column span_cols[SP_NCOLS] = {
    [SP_START] = {"start", "INTEGER PRIMARY KEY"},
    [SP_END] = {"end", "INTEGER NOT NULL"},
    [SP_DAY] = {"day", "TEXT NOT NULL"},
    [SP_FIRST] = {"first", "INTEGER"},
    [SP_LAST] = {"last", "INTEGER"},
};

static const store_column total_cols[TT_NCOLS] = {
    [TT_SPAN] = {"span", "INTEGER NOT NULL"},
    [TT_WHAT] = {"what", "TEXT NOT NULL"},
    [TT_KEY] = {"key", "TEXT NOT NULL"},
    [TT_COUNT] = {"count", "INTEGER NOT NULL"},
    [TT_FIRST] = {"first", "INTEGER NOT NULL"},
};

static const store_column conn_time_cols[CT_NCOLS] = {
    [CT_SPAN] = {"span", "INTEGER NOT NULL"},
    [CT_BUCKET] = {"bucket", "INTEGER NOT NULL"},
    [CT_COUNTS] = {"counts", "BLOB NOT NULL"},
};

static const store_column meta_cols[MT_NCOLS] = {
    [MT_KEY] = {"key", "TEXT PRIMARY KEY"},
    [MT_VALUE] = {"value", "TEXT NOT NULL"},
};

const store_table store_tables[TB_COUNT_] = {
    /* twin is never inserted: a row is born unpaired */
    [TB_TRANSACTIONS] = {"transactions", tx_cols, NCOLS(tx_cols), TX_TWIN, NULL,
                         /* the few live rows (twin search); the untimed ones */
                         "CREATE INDEX transactions_live ON transactions(time) WHERE source = 2;"
                         "CREATE INDEX transactions_untimed ON transactions(nsec) WHERE nsec < 0;"},
    [TB_CONNECTIONS] = {"connections", conn_cols, NCOLS(conn_cols), CN_TWIN, NULL,
                        "CREATE INDEX connections_live ON connections(time) WHERE source = 2;"
                        "CREATE INDEX connections_untimed ON connections(nsec) WHERE nsec < 0;"},
    [TB_FILES] = {"files", file_cols, NCOLS(file_cols), FL_NCOLS, NULL,
                  "CREATE INDEX files_head ON files(head_len, head_hash);"},
    [TB_DAILY] = {"daily", daily_cols, NCOLS(daily_cols), DY_NCOLS, "PRIMARY KEY (day, disposition, tld)", NULL},
    [TB_META] = {"meta", meta_cols, NCOLS(meta_cols), MT_NCOLS, NULL, NULL},
    [TB_DAILY_FACTS] = {"daily_facts", daily_fact_cols, NCOLS(daily_fact_cols), DF_NCOLS, "PRIMARY KEY (day, what, key)",
                        NULL},
    [TB_SPANS] = {"spans", span_cols, NCOLS(span_cols), SP_NCOLS, NULL, NULL},
    [TB_TOTALS] = {"totals", total_cols, NCOLS(total_cols), TT_NCOLS, "PRIMARY KEY (span, what, key)", NULL, true},
    [TB_CONN_TIMES] = {"conn_times", conn_time_cols, NCOLS(conn_time_cols), CT_NCOLS, "PRIMARY KEY (span, bucket)",
                       NULL, true},
};

static void column_list(const store_table *t, int n, qps_buf *out)
{
    for (int c = 0; c < n; c++)
        qps_buf_printf(out, "%s%s", c ? ", " : "", t->cols[c].name);
}

static void create_sql_named(const store_table *t, const char *name, const char *if_missing, int version,
                             qps_buf *out)
{
    qps_buf_printf(out, "CREATE TABLE %s%s (", if_missing, name);
    /* the columns a version added after those before it, where ALTER
     * TABLE ADD COLUMN puts them in a migrated store: fresh and migrated
     * stores have one layout */
    bool first = true;
    for (int v = 0; v <= version; v++)
        for (int c = 0; c < t->ncols; c++) {
            if (t->cols[c].since != v)
                continue;
            qps_buf_printf(out, "%s%s %s", first ? "" : ", ", t->cols[c].name, t->cols[c].type);
            first = false;
        }
    if (t->constraint)
        qps_buf_printf(out, ", %s", t->constraint);
    qps_buf_printf(out, ")%s;%s", t->without_rowid ? " WITHOUT ROWID" : "", t->indexes ? t->indexes : "");
}

static void create_sql(const store_table *t, const char *if_missing, int version, qps_buf *out)
{
    create_sql_named(t, t->name, if_missing, version, out);
}

void store_create_copy_sql(const store_table *t, const char *name, bool rows, qps_buf *out)
{
    /* an empty one where a store may have it already */
    create_sql_named(t, name, rows ? "" : "IF NOT EXISTS ", QPS_STORE_SCHEMA, out);
    if (rows)
        qps_buf_printf(out, "INSERT INTO %s SELECT * FROM %s;", name, t->name);
}

void store_create_sql(const store_table *t, qps_buf *out)
{
    create_sql(t, "", QPS_STORE_SCHEMA, out);
}

void store_create_sql_at(const store_table *t, int version, qps_buf *out)
{
    create_sql(t, "", version, out);
}

void store_create_missing_sql(const store_table *t, qps_buf *out)
{
    create_sql(t, "IF NOT EXISTS ", QPS_STORE_SCHEMA, out);
}

void store_insert_sql(const store_table *t, int rows, qps_buf *out)
{
    qps_buf_printf(out, "INSERT INTO %s (", t->name);
    column_list(t, t->ninsert, out);
    qps_buf_printf(out, ") VALUES ");
    for (int r = 0; r < rows; r++) {
        qps_buf_printf(out, "%s(", r ? "," : "");
        for (int c = 0; c < t->ninsert; c++)
            qps_buf_printf(out, "%s?", c ? "," : "");
        qps_buf_printf(out, ")");
    }
}

void store_select_sql(const store_table *t, int version, qps_buf *out)
{
    qps_buf_printf(out, "SELECT ");
    for (int c = 0; c < t->ncols; c++)
        qps_buf_printf(out, "%s%s", c ? ", " : "", t->cols[c].since > version ? "NULL" : t->cols[c].name);
    qps_buf_printf(out, " FROM %s ", t->name);
}
