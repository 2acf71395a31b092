/*
 * qps_private.h - declarations shared by the core's .c files only.
 * The CLI, the XS and the tests include qpstat.h; a white-box test that
 * needs these says so in its file comment.
 *
 * License: MIT (see README).
 */
#ifndef QPS_PRIVATE_H
#define QPS_PRIVATE_H

#include "qpstat.h"

#include <stdbool.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- counter table: bounded string -> count map (qps_table.c) ---- */

/* Keys are byte strings; with more distinct keys than its capacity the
 * table keeps the heaviest ones (Space-Saving, Metwally et al. 2005) and
 * each count carries an upper bound of its overcount. */
typedef struct qps_table qps_table;

typedef struct {
    const char *key;
    size_t len;
    uint64_t count;
    uint64_t error;
    uint32_t seq; /* the order keys came in (until the table overflowed) */
} qps_table_entry;

qps_table *qps_table_new(size_t capacity);
void qps_table_free(qps_table *table);
/* Adds n to key's count; QPS_ENOMEM leaves the table unchanged. */
qps_status qps_table_add(qps_table *table, const char *key, size_t len, uint64_t n);
/* The hash qps_table_add computes; qps_table_prefetch starts loading what
 * adding a key of that hash will touch (the index is large and its slots
 * are cache misses), so that several tables' misses overlap, and
 * qps_table_add_hashed adds with a hash computed before. */
uint32_t qps_table_hash(const char *key, size_t len);
void qps_table_prefetch(const qps_table *table, uint32_t hash);
qps_status qps_table_add_hashed(qps_table *table, const char *key, size_t len, uint32_t hash, uint64_t n);
qps_status qps_table_merge(qps_table *dst, const qps_table *src);
size_t qps_table_size(const qps_table *table);
bool qps_table_overflowed(const qps_table *table);
/* Fills entries (room for qps_table_size()) in no particular order. */
void qps_table_entries(const qps_table *table, qps_table_entry *entries);

/* ---- renderers shared by render.c and mail.c ---- */

/* The seed's disposition x TLD table as the text report prints it. */
qps_status qps_render_seed_matrix(qps_buf *out, const qps_agg *agg);
/* mailstats' table: an hour a row, a category a column, TOTALS, PERCENT. */
qps_status qps_render_hour_matrix(qps_buf *out, const qps_agg *agg);
/* The complete daily mail (see QPS_FORMAT_MAIL in qpstat.h). */
qps_status qps_render_mail(qps_buf *out, const qps_agg *agg, const qps_render_opts *opts);
/* qpsmtpd lines but not one logterse record, in or out of the time
 * selection: a qpsmtpd that never loaded logterse (stock Debian). Zeros
 * would read as "no mail": the text report and the mail say why, with
 * qps_no_terse_note (lines ending in a newline). */
bool qps_no_terse(const qps_counts *c);
extern const char qps_no_terse_note[];

/* ---- the systemd journal as a source (journal.c) ---- */

typedef struct qps_journal qps_journal;
/* A copy of spec in one malloc'ed block (free() it). NULL: out of memory. */
qps_journal_spec *qps_journal_spec_copy(const qps_journal_spec *spec);
/* "the journal", "journal directory D", "journal file F" */
void qps_journal_describe(const qps_journal_spec *spec, qps_buf *out);
/* Opens the entries of spec (seeking after spec->after). On failure err
 * says why and errno is set; QPS_EREAD or QPS_ENOMEM. */
qps_status qps_journal_open(const qps_journal_spec *spec, qps_journal **out, char *err, size_t errlen);
/* Fills buf with the lines of the next whole entries; *len 0 at the end.
 * An error comes after the entries before it were handed out. */
qps_status qps_journal_fill(qps_journal *j, char *buf, size_t cap, size_t *len, char *err, size_t errlen);
qps_status qps_journal_wait(qps_journal *j, uint64_t usec, char *err, size_t errlen);
const char *qps_journal_cursor(const qps_journal *j);
const char *qps_journal_note(qps_journal *j);
int qps_journal_gap(const qps_journal *j);
void qps_journal_close(qps_journal *j);

/* ---- time internals (qps_time.c) ---- */

/* Eight lowercase hex digits -> 32 bits, eight bytes at a time; *ok is
 * cleared when a byte is not in [0-9a-f]. Inline: every line of a
 * multilog file passes through here, and the call was a twentieth of a
 * report. */
static inline uint32_t qps_hex8(const char *p, int *ok)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL, low7 = 0x7f7f7f7f7f7f7f7fULL;
    uint64_t x;
    memcpy(&x, p, 8);
    /* per byte: 0x80 when the byte is strictly between m and n (bytes with
     * the top bit set never are); "Bit Twiddling Hacks", hasbetween */
#define BETWEEN(x, m, n) ((ones * (127 + (n)) - ((x) & low7)) & ~(x) & (((x) & low7) + ones * (127 - (m))) & high)
    uint64_t valid = BETWEEN(x, 0x2f, 0x3a) | BETWEEN(x, 0x60, 0x67);
#undef BETWEEN
    if (valid != high)
        *ok = 0;
    /* '0'-'9' -> 0-9, 'a'-'f' -> 10-15 */
    uint64_t v = (x & (ones * 0x0f)) + 9 * ((x >> 6) & ones);
    /* the first character is the most significant nibble */
    v = ((v & 0x000f000f000f000fULL) << 4) | ((v & 0x0f000f000f000f00ULL) >> 8);
    v = ((v & 0x000000ff000000ffULL) << 8) | ((v & 0x00ff000000ff0000ULL) >> 16);
    return (uint32_t)(((v & 0xffff) << 16) | ((v >> 32) & 0xffff));
}

/* ---- parser entry for callers that checked a whole buffer for NUL ---- */

qps_kind qps_parse_checked(qps_parser *p, const char *line, size_t len, qps_record *r, bool may_hold_nul);

/* The parser's logterse prefix (NUL-terminated, owned by the parser). */
const char *qps_parser_prefix(const qps_parser *p);

/* ---- aggregator internals the store uses (qps_agg.c) ---- */

typedef struct {
    int64_t since, until;
    bool has_since, has_until;
    int utc;
    int64_t now; /* the parser's reference time, 0 = the clock */
} qps_agg_opts_view;

void qps_agg_selection(const qps_agg *agg, qps_agg_opts_view *out);

/* Sender TLD as the tld dimension counts it; returns its length. */
size_t qps_sender_tld(qps_str sender, char *out, size_t cap);

/* The part of a transaction its category rests on beyond its disposition
 * (qps_category_of), as text a store can keep once the record is pruned,
 * whatever map reads it later: into out (cap bytes, NUL-terminated), its
 * length; 0 when the disposition alone decides. */
size_t qps_category_signature(const qps_record *rec, char *out, size_t cap);
/* The disposition a signature belongs to (a slice of sig, or of a literal). */
qps_str qps_category_signature_disposition(qps_str sig);
/* The category map's answer for a transaction of that signature: what
 * qps_category_of gave for its record. NULL without a map. */
const char *qps_category_of_signature(const qps_categories *map, qps_str sig);

/* ---- the totals a store keeps as it is written (store/totals.c) ----
 * A store adds up what each record counts, by family and key, per day
 * (QPS_TOTAL_DAY: the span of a day, with the record's hour in it) and
 * over all time (QPS_TOTAL_ALL: the families that need no hour and have
 * few keys), so a report of whole days reads totals instead of records.
 * The core says what a record counts and how a total adds to an
 * aggregate: one rule for both ends. */
#define QPS_TOTAL_DAY 1u
#define QPS_TOTAL_ALL 2u
#define QPS_TOTAL_MIN 4u /* n is a time: keep the least, not the sum */
#define QPS_TOTAL_MAX 8u /* the greatest */
typedef int (*qps_total_fn)(void *ctx, unsigned flags, const char *what, qps_str key, int64_t n);
/* fn for each total the record adds (sign 1), or takes back (sign -1, a
 * connection fact whose values the log's copy replaces; not a
 * transaction); hour: the record's hour in its day span (0..24), -1
 * without one (no hourly family then). fn returns non-zero to stop
 * (QPS_ESTOPPED). what, the family, is a string literal: one family, one
 * string for the life of the process (the store knows families by it). */
qps_status qps_agg_record_totals(const qps_record *rec, int hour, int64_t sign, qps_total_fn fn, void *ctx);
/* fn for a stored transaction whose service changed from was to now (the
 * journal's copy of a plugin record names its unit): its totals move. */
qps_status qps_agg_service_moved(qps_str was, qps_str now, qps_total_fn fn, void *ctx);
/* The reader's hour labels ("07") and dates ("2026-12-03") of the hours
 * 0..24 of a day span. */
typedef struct {
    char hour[25][3];
    char date[25][11];
} qps_total_hours;
/* Adds a total (what, key, count) to agg as the records it sums would
 * have been added; hours: the span's, NULL for totals of all time. Adds
 * nothing when agg filters transactions (a filter reads records). */
qps_status qps_agg_add_total(qps_agg *agg, const char *what, qps_str key, int64_t count,
                             const qps_total_hours *hours);
/* Adds a logterse record's remote parties alone (the IP, HELO, sender
 * and recipient domain tables, which are not totals) to agg, for a day
 * whose other tables come from its totals. Adds nothing when agg filters
 * transactions (a filter reads records). */
qps_status qps_agg_add_remote_keys(qps_agg *agg, const qps_record *rec);
/* The dimensions agg fills (QPS_DIM_BIT), and how many filters it has. */
unsigned qps_agg_dims(const qps_agg *agg);
size_t qps_agg_nwhere(const qps_agg *agg);

/* Adds pre-summed counts (a pruned day) to the disposition, tld,
 * disposition,tld, day and server dimensions and to the transactions
 * total (a pruned day counts under its store's server). */
qps_status qps_agg_add_summary(qps_agg *agg, const char *day, qps_str disposition, qps_str tld, qps_str server,
                               uint64_t count);

/* What a record counts under beyond its disposition, TLD and day (which
 * the daily totals keep), for the store to keep when it prunes the record:
 * fn(ctx, what, key, n) for each, what one of "code", "service" (the unit,
 * empty for none), "dnsbl" (the zone),
 * "verdict" ("spam"/"ham"), "score" (the score table's key),
 * "score_milli" (the score in thousandths, key the verdict), "queued",
 * "category" (key a qps_category_signature: the day's totals by
 * disposition count these under their signature's category),
 * "accepted", "too_many", "hosts_allow", "conn_ms" (the connection time,
 * two significant digits, truncated: a time never crosses a histogram
 * bound upwards), "conn_ms_sum" (the exact time, n in ms); fn returns non-zero to stop (QPS_ESTOPPED). */
typedef int (*qps_fact_fn)(void *ctx, const char *what, qps_str key, int64_t n);
qps_status qps_agg_record_facts(const qps_record *rec, qps_fact_fn fn, void *ctx);

/* Adds n of such a fact (a pruned day's) to agg, after the day's
 * qps_agg_add_summary rows; nothing when agg filters transactions (a
 * pruned day keeps no joint facts to match a filter against). */
qps_status qps_agg_add_fact(qps_agg *agg, const char *what, qps_str key, int64_t n);

/* The keys of a keyed dimension in the order they first came (the time
 * order of a log, of a store: qps_store_aggregate gives pruned days
 * first), in a new array (free() it) of slices borrowed from agg. */
qps_status qps_agg_keys_seen(const qps_agg *agg, qps_dim dim, qps_str **keys, size_t *n);

/* How many connection times are at most ms (to the second beyond a
 * minute): the buckets of a histogram. */
uint64_t qps_agg_conn_time_le(const qps_agg *agg, uint64_t ms);

/* Replaces the line counters (read, parsed, invalid): a report from the
 * store counts the imported files' lines. */
void qps_agg_set_line_counts(qps_agg *agg, uint64_t read, uint64_t parsed, uint64_t invalid);

/* ---- store internals (csrc/store/open.c) ---- */

/* Sets the store's error message; returns st. */
qps_status qps_store_set_error(qps_store *store, qps_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A "250 Queued..." reply: the queue plugin accepted a message (logterse
 * writes "queued" before the queue plugin runs, so only this tells). */
static inline bool qps_reply_is_queued(const qps_record *r)
{
    return r->kind == QPS_KIND_REPLY && r->reply_code == 250 && r->message.len >= 10 &&
           memcmp(r->message.ptr, "250 Queued", 10) == 0;
}

/* ---- small helpers ---- */

/* The next byte c in [p, end), or NULL. Inlined because lines and fields
 * are short: a memchr call per line (or per field) cost a sixth of a
 * report in call overhead. */
static inline const char *qps_find_byte(const char *p, const char *end, char c)
{
#ifdef __SSE2__
    /* x86: little-endian, so the lowest set bit is the first byte */
    const __m128i v = _mm_set1_epi8(c);
    const char *start = p;
    while (end - p >= 16) {
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p), v));
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
    if (p == end)
        return NULL;
    /* The tail (a field's end is mostly under 16 bytes away): the last 16
     * bytes of the span in one load when it has that many, without the
     * ones before p; else two words. A byte loop here was a thirtieth of
     * a report. */
    if (end - start >= 16) {
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(end - 16)), v));
        mask >>= 16 - (end - p);
        return mask ? p + __builtin_ctz(mask) : NULL;
    }
    if (end - p >= 8) {
        const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL, pat = ones * (unsigned char)c;
        uint64_t x, y;
        memcpy(&x, p, 8);
        x ^= pat; /* a zero byte where c is; the lowest flag below is exact */
        y = (x - ones) & ~x & high;
        if (y)
            return p + __builtin_ctzll(y) / 8;
        memcpy(&x, end - 8, 8);
        x ^= pat;
        y = (x - ones) & ~x & high;
        return y ? end - 8 + __builtin_ctzll(y) / 8 : NULL;
    }
    for (; p < end; p++)
        if (*p == c)
            return p;
    return NULL;
#else
    return p < end ? memchr(p, c, (size_t)(end - p)) : NULL;
#endif
}

static inline const char *qps_find_newline(const char *p, const char *end)
{
    return qps_find_byte(p, end, '\n');
}

static inline bool qps_str_eq(qps_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static inline bool qps_has_prefix(const char *s, size_t len, const char *lit, size_t n)
{
    return len >= n && memcmp(s, lit, n) == 0;
}
#define QPS_HAS_PREFIX(s, len, lit) qps_has_prefix((s), (len), lit, sizeof(lit) - 1)

static inline qps_str qps_slice(const char *p, size_t len)
{
    qps_str s = {p, len};
    return s;
}

/* v in decimal at out (no NUL), its length: the totals' keys are
 * formatted millions of times an import, where snprintf costs more than
 * the rest of the key. out holds 20 bytes. */
static inline size_t qps_u64_decimal(uint64_t v, char *out)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* ---- line splitter (lines.c) ---- */

/* The splitter's state is here, not in qpstat.h, so that the aggregator
 * can take a line inline (qps_lines_take): a function call per line is a
 * measurable part of a report. */
struct qps_lines {
    const char *p, *end; /* the unread part of the chunk being split */
    char *carry;         /* a line cut by a chunk's end: QPS_LINE_MAX + 1 bytes */
    size_t carry_len;
    bool skipping;       /* inside a too-long line already delivered */
    uint64_t offset;     /* bytes of the complete lines taken so far */
    uint64_t partial;    /* bytes taken of the line not yet complete */
};

/* The slow path of qps_lines_next: a carried or over-long line, or the
 * end of the chunk. */
int qps_lines_next_slow(qps_lines *l, qps_str *line);

/* The splitter as qps_lines_new made it, its buffer kept. */
void qps_lines_reset(qps_lines *l);

static inline int qps_lines_take(qps_lines *l, qps_str *line)
{
    if (l->carry_len == 0 && !l->skipping && l->p < l->end) {
        const char *nl = qps_find_newline(l->p, l->end);
        if (nl && nl - l->p <= QPS_LINE_MAX) {
            line->ptr = l->p;
            line->len = (size_t)(nl - l->p);
            l->offset += line->len + 1;
            l->p = nl + 1;
            return 1;
        }
    }
    return qps_lines_next_slow(l, line);
}

/* Every line of the chunk fed last to fn, as qps_lines_take gives them,
 * with the common case (a whole line inside the chunk) in a loop on
 * locals: the aggregator's per-line cost. Returns 0 or fn's value. */
static inline int qps_lines_each(qps_lines *l, int (*fn)(void *, const char *, size_t), void *ctx)
{
    for (;;) {
        if (l->carry_len == 0 && !l->skipping) {
            const char *p = l->p, *end = l->end, *nl;
            uint64_t offset = l->offset;
            int rc = 0;
            while (p < end && (nl = qps_find_newline(p, end)) != NULL && nl - p <= QPS_LINE_MAX) {
                const char *at = p;
                offset += (uint64_t)(nl - p) + 1;
                p = nl + 1;
                if ((rc = fn(ctx, at, (size_t)(nl - at))) != 0)
                    break;
            }
            l->p = p;
            l->offset = offset;
            if (rc)
                return rc;
        }
        qps_str line;
        if (!qps_lines_next_slow(l, &line))
            return 0;
        int rc = fn(ctx, line.ptr, line.len);
        if (rc)
            return rc;
    }
}

#endif /* QPS_PRIVATE_H */
