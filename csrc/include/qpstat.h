/*
 * qpstat.h - the one public header of the qpstat core library.
 *
 * The core parses qpsmtpd log lines (every framing and prefix dialect listed
 * in the README) and aggregates mail statistics in one streaming pass.
 *
 * Rules that hold for every function here:
 *  - The core never prints, never exits and keeps no global mutable state:
 *    every fallible call returns a qps_status, qps_strerror() names it.
 *  - Every qps_X_new() has a qps_X_free() that accepts NULL.
 *  - A qps_str is a borrowed slice (pointer + length, NOT NUL-terminated).
 *    Slices in a qps_record point into the caller's line buffer and live as
 *    long as that buffer. Slices returned by an aggregator live until that
 *    aggregator is next modified or freed.
 *  - Memory returned as a plain pointer (not a qps_str) is owned by the
 *    caller and released with qps_free().
 *  - Log lines are bytes: nothing here decodes or validates an encoding.
 *
 * License: MIT (see README).
 */
#ifndef QPSTAT_H
#define QPSTAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QPS_VERSION_MAJOR 0
#define QPS_VERSION_MINOR 1
#define QPS_VERSION_PATCH 0
#define QPS_VERSION_STRING "0.1.0"

/** The library's version string; compare with QPS_VERSION_STRING to detect
 *  a header/library mismatch. Static storage. */
const char *qps_version(void);

typedef enum {
    QPS_OK = 0,
    QPS_ENOMEM,  /* an allocation failed; the object is unchanged */
    QPS_EINVAL,  /* an argument is out of range or NULL where not allowed */
    QPS_EFORMAT, /* input text is not in the expected format */
    QPS_ERANGE,  /* a value is outside what can be represented */
    QPS_EIO,     /* a write callback or a file or SQLite operation failed */
    /* the store's own (its message in qps_store_error()) */
    QPS_EREADONLY, /* a write to a store opened read-only, or whose file
                      cannot be written */
    QPS_ESTATE,    /* begin inside a transaction, commit or rollback outside
                      one, an import inside one */
    QPS_ESTOPPED,  /* a walk (qps_store_each) stopped by its callback */
    QPS_EBUSY,     /* another process holds the store's lock (past busy_ms) */
    /* reading logs (qps_reader) */
    QPS_EREAD,   /* reading input failed; qps_reader_errno() says why */
    QPS_ETRUNCATED, /* compressed input ends inside a member: the data
                       before the cut was delivered */
    QPS_ECORRUPT /* compressed input is damaged (bad data or check value):
                    the data before the damage was delivered */
} qps_status;

/** A static English description of a status code. */
const char *qps_strerror(qps_status status);

/** Releases memory that a qps_ function returned as a plain pointer. */
void qps_free(void *ptr);

/** A borrowed byte slice; not NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} qps_str;

/* ------------------------------------------------------------------ */
/* Time: TAI64N labels (daemontools rules) and local time              */
/* ------------------------------------------------------------------ */

/** Offset daemontools adds to a unix second to get a TAI64 label: 2^62 + 10. */
#define QPS_TAI64_UNIX_OFFSET 4611686018427387914ULL

/** Decodes the 24 lowercase hex digits of a TAI64N label (without the '@').
 *  Exactly 24 characters of [0-9a-f] are required.
 *  *unix_sec = seconds - 2^62 - 10 (as daemontools' tai64nlocal computes),
 *  *nsec = the last 8 hex digits. Returns QPS_EFORMAT on a bad digit. */
qps_status qps_tai64n_decode(const char *hex24, int64_t *unix_sec, uint32_t *nsec);

/** The times a mail log can hold: [QPS_TIME_MIN, QPS_TIME_MAX), that is
 *  1990-01-01T00:00:00Z up to 2200-01-01T00:00:00Z. qpsmtpd did not exist
 *  before 1990 and a log dated after 2200 is a damaged or hostile label
 *  (@000...0 decodes to year -146 billion, @fff...f to 2^63 s): the parser
 *  takes a multilog label outside this range as QPS_BAD_LABEL and a textual
 *  stamp outside it as QPS_BAD_TIME, so no report, store or summary ever
 *  sees such a time. `qpstat tai64n` (a tai64nlocal replacement) still
 *  converts every label tai64nlocal can. */
#define QPS_TIME_MIN 631152000LL
#define QPS_TIME_MAX 7258118400LL

/** 1 when unix_sec lies in [QPS_TIME_MIN, QPS_TIME_MAX), else 0. */
int qps_time_plausible(int64_t unix_sec);

/** Writes the 25-character label '@' + 24 hex digits for a unix time into
 *  out (which must hold 26 bytes; it is NUL-terminated). */
void qps_tai64n_encode(int64_t unix_sec, uint32_t nsec, char out[26]);

/** A broken-down civil time. */
typedef struct {
    int year, month, day;     /* month 1..12, day 1..31 */
    int hour, minute, second; /* 0..23, 0..59, 0..60 */
    int weekday;              /* 0 = Sunday */
    long utc_offset;          /* seconds east of UTC */
} qps_civil;

/** A caller-owned cache that makes repeated local-time conversions cheap
 *  (a few localtime_r() calls per hour of log instead of per line, in each
 *  direction: unix to civil, and a local time to its instants). Zero it
 *  (or use QPS_TZCACHE_INIT) before first use; it honours TZ as it was when
 *  the cache was filled, so reset it after changing TZ. */
typedef struct {
    int64_t start, end; /* [start, end): unix seconds with a constant offset */
    long offset;        /* seconds east of UTC in that window */
    /* [wall_start, wall_end): local wall-clock times (counted as seconds
     * since 1970-01-01 00:00 on the wall) that name one instant each,
     * wall - wall_offset */
    int64_t wall_start, wall_end;
    long wall_offset;
} qps_tzcache;
#define QPS_TZCACHE_INIT {0, 0, 0, 0, 0, 0}

/** Converts unix seconds to local civil time (utc = 0) or UTC (utc = 1).
 *  cache may be NULL. Returns QPS_ERANGE if the time cannot be represented. */
qps_status qps_civil_from_unix(qps_tzcache *cache, int64_t unix_sec, int utc, qps_civil *out);

/** Converts a local civil time (utc = 0) or a UTC one (utc = 1) to unix
 *  seconds. For a local time that occurs twice (DST fall-back) the earlier
 *  instant is returned; one that does not exist is moved forward. */
qps_status qps_unix_from_civil(qps_tzcache *cache, const qps_civil *civil, int utc, int64_t *unix_sec);

/** Every instant a local civil time names: *count is 1 for most, 2 for a
 *  time in the hour that repeats when DST ends (*first < *second, usually an
 *  hour apart), 0 for one skipped when DST starts (*first = *second = the
 *  time moved forward by the jump). The parser picks between two by the
 *  order of the lines (see qps_parser_parse). */
qps_status qps_local_instants(qps_tzcache *cache, const qps_civil *civil, int64_t *first, int64_t *second,
                              int *count);

/** Days since 1970-01-01 of a proleptic Gregorian date (negative before). */
int64_t qps_days_from_civil(int year, int month, int day);

/* ------------------------------------------------------------------ */
/* Line parser                                                         */
/* ------------------------------------------------------------------ */

/** What a log line is. */
typedef enum {
    QPS_KIND_INVALID = 0, /* not a qpsmtpd line: junk, NUL bytes, bad label, truncated record */
    QPS_KIND_OTHER,       /* a qpsmtpd line of no statistical kind below */
    QPS_KIND_TERSE,       /* a logterse record (8 or 9 fields) */
    QPS_KIND_CONTINUATION, /* a framed line without pid (continued text, perl warning) */
    QPS_KIND_ACCEPT,      /* "Accepted connection n/M from ip / host" */
    QPS_KIND_TOO_MANY,    /* "Too many connections: n >= M.  Waiting one second." */
    QPS_KIND_HOSTS_ALLOW, /* a hosts_allow denial, old or new wording */
    QPS_KIND_CONN_TIME,   /* a connection_time line, old or new wording */
    QPS_KIND_RESULT,      /* a plugin pass/fail/skip/error/info result line */
    QPS_KIND_DISPATCH,    /* "dispatching COMMAND args" */
    QPS_KIND_REPLY,       /* an SMTP reply line "NNN text" / "NNN-text" */
    QPS_KIND_CLEANUP,     /* "cleaning up after PID" */
    QPS_KIND_COUNT_       /* number of kinds */
} qps_kind;

/** Name of a kind ("terse", "accept", ...); static storage. */
const char *qps_kind_name(qps_kind kind);

/** How the line was framed. */
typedef enum {
    QPS_FRAME_NONE = 0,    /* bare "pid text" (qpsmtpd stderr without multilog) */
    QPS_FRAME_MULTILOG,    /* "@<24 hex> pid text" */
    QPS_FRAME_TAI64NLOCAL, /* "YYYY-MM-DD HH:MM:SS.nnnnnnnnn pid text" */
    QPS_FRAME_LOGFILE,     /* qpsmtpd logging/file: "Www Mmm DD HH:MM:SS YYYY host[pid]: msg" */
    QPS_FRAME_SYSLOG       /* "Mmm dd HH:MM:SS host ident[pid]: msg" or RFC 3339 time */
} qps_framing;

/** The qpsmtpd prefix dialect of a plugin line. */
typedef enum {
    QPS_DIALECT_NONE = 0, /* a core line, or a frame without plugin names */
    QPS_DIALECT_04X,      /* "plugin plugin: msg" */
    QPS_DIALECT_08X,      /* "plugin plugin (hook): msg" */
    QPS_DIALECT_093       /* "(hook) plugin: msg" (0.93 and later) */
} qps_dialect;

/** The keyword that starts a plugin's result message. */
typedef enum {
    QPS_VERDICT_NONE = 0,
    QPS_VERDICT_PASS,
    QPS_VERDICT_FAIL,
    QPS_VERDICT_SKIP,
    QPS_VERDICT_ERROR,
    QPS_VERDICT_INFO
} qps_verdict;

/** Field numbers of a logterse record (0-based after the backquote). */
enum {
    QPS_TF_IP = 0,
    QPS_TF_RHOST,
    QPS_TF_HELO,
    QPS_TF_SENDER,
    QPS_TF_RCPTS,
    QPS_TF_DISPOSITION,
    QPS_TF_CODE,
    QPS_TF_TEXT, /* may contain TABs: it spans them */
    QPS_TF_SPAM, /* empty slice with ptr NULL in 8-field records */
    QPS_TF_COUNT_
};

/** Why a line is QPS_KIND_INVALID. */
typedef enum {
    QPS_BAD_NONE = 0,
    QPS_BAD_EMPTY,     /* empty line */
    QPS_BAD_NUL,       /* contains a NUL byte */
    QPS_BAD_TOO_LONG,  /* longer than QPS_LINE_MAX */
    QPS_BAD_LABEL,     /* starts with '@' but the TAI64N label is malformed or
                          decodes outside [QPS_TIME_MIN, QPS_TIME_MAX) */
    QPS_BAD_TIME,      /* a textual timestamp that is malformed or out of range */
    QPS_BAD_NO_PID,    /* unframed text that does not start with a pid */
    QPS_BAD_TRUNCATED  /* a logterse record with fewer than 8 fields */
} qps_bad_reason;

/** Longest line the parser accepts; longer ones are QPS_BAD_TOO_LONG. */
#define QPS_LINE_MAX 65536

/** One parsed line. Plain data: every qps_str borrows from the line. */
typedef struct {
    qps_kind kind;
    qps_bad_reason bad;   /* set when kind == QPS_KIND_INVALID */
    qps_framing framing;
    qps_dialect dialect;
    int has_time;         /* 1 when the frame carried a time */
    int64_t unix_sec;     /* the line's time (valid when has_time) */
    uint32_t nsec;
    qps_str stamp;        /* the time as written (label or text) */
    qps_str host;         /* host name from a logfile/syslog frame */
    qps_str service;      /* the systemd unit a syslog frame names as its
                             ident ("uqpsmtpd.service[pid]:", the form of
                             `journalctl -o with-unit` and of the journal
                             source's lines), without ".service"; else empty */
    uint32_t pid;         /* qpsmtpd process id, 0 if none */
    qps_str hook;         /* plugin hook, e.g. "deny", empty if none */
    qps_str plugin;       /* escaped plugin name, e.g. "logging::logterse" */
    qps_str message;      /* the text after the prefix */
    qps_verdict verdict;  /* QPS_KIND_RESULT (and hosts_allow "fail") */
    /* ACCEPT: running/max; TOO_MANY: running/max; HOSTS_ALLOW: running/max
     * (0/0 for a hosts_allow file-match denial) */
    unsigned running, max;
    qps_str remote_ip;    /* ACCEPT, HOSTS_ALLOW, old-style CONN_TIME */
    qps_str remote_host;  /* ACCEPT */
    uint64_t millis;      /* CONN_TIME: the connection time in milliseconds */
    int reply_code;       /* REPLY: 200..599 */
    uint32_t child_pid;   /* CLEANUP */
    /* QPS_KIND_TERSE (last: other kinds leave it unset, see below) */
    int nfields;          /* 8 or 9 */
    qps_str field[QPS_TF_COUNT_];
} qps_record;
/* Only a QPS_KIND_TERSE record has meaningful nfields and field[]; in other
 * records their content is unspecified. */

/** Parser options; pass NULL for defaults. */
typedef struct {
    const char *terse_prefix; /* logterse prefix, default "`" */
    int64_t now;              /* reference unix time for syslog lines without
                                 a year; 0 = the current time */
} qps_parser_opts;

typedef struct qps_parser qps_parser;

/** Creates a parser (it holds the options and a local-time cache).
 *  Returns NULL when out of memory. */
qps_parser *qps_parser_new(const qps_parser_opts *opts);
void qps_parser_free(qps_parser *parser);

/** Parses one line (without its trailing newline; need not be
 *  NUL-terminated) into rec, which is overwritten. Never fails: a line that
 *  is not understood is QPS_KIND_INVALID with rec->bad set, or
 *  QPS_KIND_OTHER. Returns rec->kind. */
qps_kind qps_parser_parse(qps_parser *parser, const char *line, size_t len, qps_record *rec);

/** Local-time stamps (tai64nlocal text, logging/file, classic syslog) in
 *  the hour that repeats when DST ends name two instants. The parser keeps
 *  the instant of the last timed line and takes the second occurrence when
 *  the wall clock has gone back by about the shift (lines are in time
 *  order; up to 5 minutes of disorder is tolerated), the first otherwise.
 *  A caller that starts a parser in the middle of a log (a thread's block,
 *  a resumed import) tells it the instant of the line before with this. */
void qps_parser_set_last_time(qps_parser *parser, int64_t unix_sec);

/** Spam information from the 9th logterse field. */
typedef struct {
    int present;      /* 1 when a "Yes,"/"No," SpamAssassin summary was found */
    int is_spam;
    double score;     /* from "score=" or "hits=" */
    double required;  /* from "required=", 0 if absent */
    int has_required;
} qps_spam;

/** Parses a spam field such as "Yes, score=13.1 required=5.0" or
 *  "No, hits=-2.6 required=5.0_". Returns QPS_EFORMAT (and present = 0)
 *  for anything else, e.g. "msg denied before queued". */
qps_status qps_spam_parse(qps_str field, qps_spam *out);

/* ------------------------------------------------------------------ */
/* Reading logs: the line splitter, the reader, the log set            */
/* ------------------------------------------------------------------ */
/*
 * Every door reads logs through these three, so a file means the same to
 * `qpstat report`, `tail`, `grep`, the summary and the Perl modules.
 *
 * Example: count the lines of logs named on the command line (directories
 * expanded), as `qpstat report` counts them (compiled and run by
 * t/360-reading.t):
 *
 *      int main(int argc, char **argv)
 *      {
 *          qps_logset *set = qps_logset_new();
 *          qps_reader *r = qps_reader_new();
 *          qps_lines *lines = qps_lines_new();
 *          if (!set || !r || !lines)
 *              return 2;
 *          for (int i = 1; i < argc; i++)
 *              if (qps_logset_add(set, argv[i]) != QPS_OK)
 *                  return 2;
 *          for (size_t i = 0; i < qps_logset_note_count(set); i++)
 *              fprintf(stderr, "note: %s\n", qps_logset_note(set, i)->path); // a FIFO skipped...
 *          unsigned long long n = 0, too_long = 0;
 *          int failed = 0;
 *          for (size_t i = 0; i < qps_logset_count(set); i++) {
 *              const qps_log_entry *e = qps_logset_entry(set, i);
 *              qps_status st = qps_reader_open_entry(r, e);
 *              const char *chunk;
 *              size_t len;
 *              qps_str line;
 *              while (st == QPS_OK && (st = qps_reader_read(r, &chunk, &len)) == QPS_OK && len) {
 *                  qps_lines_feed(lines, chunk, len);
 *                  while (qps_lines_next(lines, &line)) // borrowed from chunk
 *                      n++, too_long += line.len > QPS_LINE_MAX;
 *              }
 *              if (qps_lines_end(lines, &line)) // a last line without newline
 *                  n++, too_long += line.len > QPS_LINE_MAX;
 *              if (st != QPS_OK) { // after every intact line was taken
 *                  fprintf(stderr, "cannot read %s: %s\n", e->path, qps_reader_error(r));
 *                  failed = 1;
 *              }
 *              qps_reader_close(r);
 *          }
 *          printf("%llu lines, %llu too long\n", n, too_long);
 *          qps_lines_free(lines);
 *          qps_reader_free(r);
 *          qps_logset_free(set);
 *          return failed;
 *      }
 */

/* -- the line splitter -- */

/** Splits a byte stream cut into chunks anywhere into lines (without the
 *  newline). A line inside a chunk is handed out where it lies (no copy);
 *  only a line cut by a chunk's end is copied. A line longer than
 *  QPS_LINE_MAX is ONE line, handed out as its first QPS_LINE_MAX + 1
 *  bytes (so qps_parser_parse() counts it QPS_BAD_TOO_LONG); the rest of
 *  it is skipped unread and never held: memory stays bounded on any input. */
typedef struct qps_lines qps_lines;

/** A splitter (it holds QPS_LINE_MAX + 1 bytes for a cut line). NULL when
 *  out of memory. */
qps_lines *qps_lines_new(void);
void qps_lines_free(qps_lines *lines);

/** Gives the splitter the next chunk, which must stay valid and unchanged
 *  until qps_lines_next() returns 0. QPS_EINVAL if the previous chunk was
 *  not used up. */
qps_status qps_lines_feed(qps_lines *lines, const char *chunk, size_t len);

/** Takes the next complete line into *line (borrowed: from the chunk, or
 *  from the splitter for a cut line; valid until the next call on lines).
 *  Returns 1, or 0 when the chunk is used up (a partial last line is kept
 *  for the next chunk). line->len > QPS_LINE_MAX means the line was
 *  longer than that. */
int qps_lines_next(qps_lines *lines, qps_str *line);

/** Ends the stream: returns 1 with a last line that had no newline, else 0.
 *  The splitter is then ready for a new stream (qps_lines_offset() stays). */
int qps_lines_end(qps_lines *lines, qps_str *line);

/** Receives one line; returns 0 to go on. */
typedef int (*qps_line_fn)(void *ctx, const char *line, size_t len);

/** Feeds a chunk and calls fn for each complete line in it. Returns 0, or
 *  the first non-zero value fn returned (the rest of the chunk is then
 *  dropped: the caller is stopping). */
int qps_lines_split(qps_lines *lines, const char *chunk, size_t len, qps_line_fn fn, void *ctx);

/** qps_lines_end() through fn: 0, or what fn returned. */
int qps_lines_finish(qps_lines *lines, qps_line_fn fn, void *ctx);

/** Bytes of the complete lines (newline included) taken since
 *  qps_lines_new(): where the next line starts in the stream. */
uint64_t qps_lines_offset(const qps_lines *lines);

/* -- the log set -- */

/** The files that paths stand for, in time order, each file once:
 *  a multilog directory gives its @<label>.s/.u files in label order, then
 *  current; a logrotate directory gives x.log.N[.gz] oldest first, then
 *  x.log; other names (files, FIFOs, devices: read as streams) and "-"
 *  (stdin) are kept as given. A file named twice (the same device and
 *  inode, by any name) is kept the first time only. FIFOs, devices and
 *  sockets found in a directory are skipped with a note, never opened. */
typedef struct qps_logset qps_logset;

/** Which systemd journal entries a source reads (libsystemd's sd-journal):
 *  the entries of `units` (NULL: qpsmtpd.service, uqpsmtpd.service and
 *  sqpsmtpd.service; a name without a '.' gets ".service") in the journal
 *  files `files`, else in the directory `dir` (and its machine-id
 *  subdirectories), else in the system's journal. With `after`, a cursor
 *  (qps_reader_journal_cursor()), only the entries after it. */
typedef struct {
    const char *const *files;
    size_t nfiles;
    const char *dir;
    const char *const *units;
    size_t nunits;
    const char *after;
} qps_journal_spec;

typedef struct {
    const char *path; /* owned by the set; for a journal, its description
                         ("the journal", "journal directory D", "journal
                         file F") for messages */
    int from_dir;     /* found in a directory: open it QPS_READ_REGULAR */
    int is_stdin;     /* "-" */
    int have_id;      /* dev and inode are known (the file existed) */
    uint64_t dev, inode;
    const qps_journal_spec *journal; /* a journal source (owned by the set),
                                        NULL for a file */
} qps_log_entry;

/** What the set noticed (the door prints them). */
typedef enum {
    QPS_NOTE_SKIPPED,   /* a FIFO, device or socket in a directory, not read */
    QPS_NOTE_EMPTY_DIR, /* a directory with no log file in it */
    QPS_NOTE_DIR_ERROR  /* a directory that cannot be read (errno in err): an error */
} qps_note_kind;

typedef struct {
    qps_note_kind kind;
    const char *path; /* owned by the set */
    int err;
} qps_log_note;

qps_logset *qps_logset_new(void);
void qps_logset_free(qps_logset *set);

/** Adds what path stands for. QPS_ENOMEM when memory runs out; anything
 *  else (a directory that cannot be read) is a note, not a failure. */
qps_status qps_logset_add(qps_logset *set, const char *path);

/** Adds a journal source: spec and what it points to are copied. One
 *  entry, read by qps_reader_open_entry() as lines of the form
 *  "2026-11-25T08:40:40.123456Z HOST UNIT[_PID]: MESSAGE" (UTC, the
 *  entry's realtime timestamp; _HOSTNAME; _SYSTEMD_UNIT; the message as
 *  qpsmtpd wrote it to stderr, "PID text", or for a syslog or native entry
 *  "_PID text"), which the parser reads as a syslog frame naming the
 *  service. Every entry is walked and those of other units skipped (an
 *  index damaged in one place would end a matched walk there quietly).
 *  QPS_ENOMEM, or QPS_EINVAL for a spec without units where units is not
 *  NULL. */
qps_status qps_logset_add_journal(qps_logset *set, const qps_journal_spec *spec);

/** 1 when the library was built with libsystemd (journal sources can be
 *  read), else 0: opening one fails with "built without journal support". */
int qps_journal_supported(void);

/** Whether the journal of spec holds at least one entry of its units:
 *  *found is 1 or 0. QPS_EREAD when the journal cannot be opened (or the
 *  library has no journal support); *found is then 0. */
qps_status qps_journal_probe(const qps_journal_spec *spec, int *found);

size_t qps_logset_count(const qps_logset *set);
/** The i-th file to read (i < qps_logset_count()); owned by the set. */
const qps_log_entry *qps_logset_entry(const qps_logset *set, size_t i);

size_t qps_logset_note_count(const qps_logset *set);
const qps_log_note *qps_logset_note(const qps_logset *set, size_t i);

/* -- the reader -- */

/** Reads one file or stream in large chunks. Gzip is recognised by its
 *  content, not its name; members follow each other, and plain text after
 *  the last member is read as plain text. Errors come after every intact
 *  byte before them was delivered: QPS_EREAD (errno in qps_reader_errno()),
 *  QPS_ETRUNCATED (a .gz cut short), QPS_ECORRUPT (bad data or CRC). */
typedef struct qps_reader qps_reader;

/** A reader (from its first read it holds a 1 MiB buffer, and zlib's state
 *  once needed). NULL when out of memory. One reader reads any number of
 *  files in turn. */
qps_reader *qps_reader_new(void);
/** Closes what is open and frees the reader. */
void qps_reader_free(qps_reader *reader);

enum {
    /* Only a regular file (or a directory, which fails with EISDIR): a
     * FIFO, device or socket is refused (QPS_EREAD, errno ENODEV) without
     * being read or waited for. For files found by qps_logset in a
     * directory: nothing qpstat opens on its own initiative can block it. */
    QPS_READ_REGULAR = 1
};

/** Opens path for reading as the reader does, for a caller that reads the
 *  descriptor itself (following a growing file): a FIFO is never waited
 *  for unless it is to be read (no QPS_READ_REGULAR); a directory, or with
 *  QPS_READ_REGULAR anything but a regular file, is QPS_EREAD with errno
 *  EISDIR / ENODEV. On QPS_EREAD errno says why. *fd is the caller's. */
qps_status qps_open_log(const char *path, int flags, int *fd);

/** Opens path (a file, FIFO, device...; a directory gives QPS_EREAD with
 *  EISDIR). Any file open before is closed first. */
qps_status qps_reader_open(qps_reader *reader, const char *path, int flags);

/** Reads fd from its current position; the reader closes it at
 *  qps_reader_close() only when own is 1 (pass 0 for fd 0). */
qps_status qps_reader_adopt(qps_reader *reader, int fd, int own);

/** Opens a qps_logset entry as the set means it: "-" is fd 0, a file found
 *  in a directory is QPS_READ_REGULAR, a name given is read as it is. */
qps_status qps_reader_open_entry(qps_reader *reader, const qps_log_entry *entry);

/** The next chunk of (inflated) data: *chunk borrows the reader's buffer
 *  until the next call. QPS_OK with *len == 0 is the end of the input.
 *  After an error, later calls return the same error. */
qps_status qps_reader_read(qps_reader *reader, const char **chunk, size_t *len);

/** What is open. */
typedef struct {
    int fd;          /* -1 when nothing is open */
    int regular;     /* 1 for a regular file */
    int gzip;        /* 1 once gzip was recognised (for a regular file, at
                        open; for a stream, at the first read) */
    int64_t size;    /* a regular file's size, else -1 */
    uint64_t dev, inode;
} qps_reader_info;

void qps_reader_get_info(const qps_reader *reader, qps_reader_info *out);

/** The errno of the last QPS_EREAD, 0 otherwise. */
int qps_reader_errno(const qps_reader *reader);

/** Why the last call failed, in words ("Is a directory", "unexpected end
 *  of gzip data", "gzip data check failed (bad CRC)"). Reader-owned. */
const char *qps_reader_error(const qps_reader *reader);

/** A journal source (qps_logset_add_journal) open in reader: the cursor
 *  of the last entry handed out (a chunk always ends after a whole entry),
 *  or NULL before the first or for a file. Reader-owned, valid until the
 *  next read or close. */
const char *qps_reader_journal_cursor(const qps_reader *reader);

/** A journal source at its end (qps_reader_read() gave len 0): waits up
 *  to usec microseconds (sd_journal_wait: no polling) for entries to be
 *  appended, or journal files to be added; qps_reader_read() then
 *  continues. Returns QPS_OK (whether or not something came), QPS_EINVAL
 *  for a file, QPS_EREAD when waiting failed. */
qps_status qps_reader_journal_wait(qps_reader *reader, uint64_t usec);

/** What a journal source noticed while read, for the door to print as a
 *  warning once it ended ("no entries of unit foo.service in the journal",
 *  a cursor to resume after that is no longer in the journal); NULL when
 *  nothing. Reader-owned, valid until the next open or close. */
const char *qps_reader_note(const qps_reader *reader);

/** 1 when the journal source's `after` cursor was not found (its entry was
 *  removed, vacuumed or rotated away): the reading began at the oldest
 *  entry left, and entries between may be lost. 0 otherwise. */
int qps_reader_journal_gap(const qps_reader *reader);

/** Closes the input (QPS_EREAD if close() fails); the reader can open the
 *  next one. */
qps_status qps_reader_close(qps_reader *reader);

/* ------------------------------------------------------------------ */
/* Aggregator                                                          */
/* ------------------------------------------------------------------ */

/** Dimensions a report can be broken down by. */
typedef enum {
    QPS_DIM_DISPOSITION = 0, /* logterse disposition (plugin or "queued") */
    QPS_DIM_DNSBL,           /* DNSBL service of dnsbl denials */
    QPS_DIM_TLD,             /* sender TLD */
    QPS_DIM_DISPOSITION_TLD, /* disposition x sender TLD (two keys) */
    QPS_DIM_HOUR,            /* hour of day 00..23, local time */
    QPS_DIM_DAY,             /* YYYY-MM-DD, local time */
    QPS_DIM_SENDER,          /* envelope sender (top N) */
    QPS_DIM_RECIPIENT,       /* recipient domain */
    QPS_DIM_IP,              /* remote IP (top N) */
    QPS_DIM_HELO,            /* HELO/EHLO name (top N) */
    QPS_DIM_SCORE,           /* SpamAssassin score histogram, 1-point buckets */
    QPS_DIM_SPAM,            /* SpamAssassin verdict: spam, ham, none */
    QPS_DIM_CONNECTIONS,     /* connection facts (metrics, not keys) */
    QPS_DIM_CONNECTION_TIME, /* connection_time statistics (metrics) */
    QPS_DIM_SERVER,          /* the mail server: the line's host (logging/file,
                                syslog) or, from a store, the store's server */
    QPS_DIM_CODE,            /* the logterse return code (901, 550, ...) */
    QPS_DIM_CATEGORY,        /* mailstats' category of the disposition (see
                                qps_categories); not in "all" */
    QPS_DIM_HOUR_CATEGORY,   /* hour x category (two keys: "07", "RBL/DNS"),
                                mailstats' by-hour table; not in "all" */
    QPS_DIM_HOUR_DISPOSITION, /* hour x disposition, the dashboard's time
                                chart for a day; not in "all" */
    QPS_DIM_DAY_DISPOSITION, /* day x disposition, the same for longer */
    QPS_DIM_SERVICE,         /* the systemd unit of the record (qps_record.service):
                                port 25 (qpsmtpd), 587 (uqpsmtpd), 465 (sqpsmtpd) */
    QPS_DIM_COUNT_
} qps_dim;

/** The dimension's name as used by the CLI ("disposition", "disposition,tld",
 *  "connection-time", ...); static storage. */
const char *qps_dim_name(qps_dim dim);

/** Looks a dimension up by name; QPS_EINVAL if unknown. */
qps_status qps_dim_from_name(const char *name, size_t len, qps_dim *dim);

/** The two-key table whose name starts the NUL-terminated text p and is
 *  followed by its end or a comma ("disposition,tld,hour" gives
 *  QPS_DIM_DISPOSITION_TLD), or -1: how a --by list tells a pair from two
 *  tables. */
int qps_dim_pair_at(const char *p);

/** Parses a list of tables as the CLI's --by takes it ("disposition,dnsbl",
 *  where "disposition,tld", "hour,category", "hour,disposition" and
 *  "day,disposition" are one table each; "all" for every table in report
 *  order but server (which a report of several stores adds), code and the
 *  category, two-key and service tables after it) and appends the dimensions not yet in dims[0..*n) at dims[*n],
 *  dims holding cap. QPS_EINVAL for an unknown name or a full array. */
qps_status qps_dims_parse(const char *text, qps_dim *dims, size_t cap, size_t *n);

/** Appends the tables of a report that names none (those of "all", and
 *  server when it reads several stores) not yet in dims[0..*n); a report
 *  filtered by --where leaves out connections and connection-time, which
 *  are not made of transactions. QPS_EINVAL for a full array. */
qps_status qps_dims_default(qps_dim *dims, size_t cap, size_t *n, int filtered, int several_servers);

/** Aggregator options; pass NULL for defaults. */
typedef struct {
    qps_parser_opts parser;
    size_t table_capacity; /* distinct keys kept per dimension (0 = 20000);
                              beyond that counts become estimates (Space-Saving) */
    int64_t since;         /* keep records with time >= since (if has_since) */
    int64_t until;         /* ... and time < until (if has_until) */
    int has_since, has_until;
    int keep_untimed;      /* with since/until, records without a time are
                              still counted (as with no selection) */
    int utc;               /* hour/day buckets in UTC instead of local time */
    unsigned dims;         /* dimensions to fill, as bits QPS_DIM_BIT(dim);
                              0 = all. A report of one table skips the work
                              (and the key tables) of the others; a table
                              may fill those it shows figures of (day: hour,
                              score: spam, disposition,tld: disposition) */
    const struct qps_where *where; /* transactions must match all of these */
    size_t nwhere;                 /* (copied by qps_agg_new) */
    const struct qps_categories *categories; /* the category map (borrowed:
                              it must outlive the aggregator and every
                              aggregator merged into it); NULL = the
                              built-in map (qps_categories_new) */
} qps_agg_opts;

/** The bit of a dimension in qps_agg_opts.dims. */
#define QPS_DIM_BIT(dim) (1u << (dim))

/** The key of the return code's filter (its table, "code"). */
#define QPS_WHERE_CODE QPS_DIM_CODE
/** The search filter ("grep=TEXT"): TEXT occurs in one of the record's
 *  fields (IP, host, HELO, sender, recipients, disposition, code, deny text,
 *  spam field), compared as `qpstat grep` compares by default: a fixed
 *  string, ASCII letters in any case. */
#define QPS_WHERE_GREP QPS_DIM_COUNT_

/** A filter of transactions: the record's key in table `dim` (a qps_dim
 *  other than disposition,tld, connections and connection-time; or
 *  QPS_WHERE_CODE) is exactly `value`, as that table prints it (hour "07",
 *  day "2026-11-25", score "-1" or ">=30", spam "spam"/"ham"/"none", tld
 *  "<>" for the null sender and "" for none); for recipient, one of the
 *  record's recipient domains is. */
typedef struct qps_where {
    int dim;
    const char *value; /* NUL-terminated */
} qps_where;

/** Parses "KEY=VALUE" (KEY a table name, "code" or "grep"; the value may be empty
 *  and may hold '='). out->value points into text. QPS_EINVAL for an
 *  unknown key or a table that cannot filter. */
qps_status qps_where_parse(const char *text, qps_where *out);

typedef struct qps_agg qps_agg;

/* ------------------------------------------------------------------ */
/* Categories: which mailstats column a transaction counts in          */
/* ------------------------------------------------------------------ */
/*
 * A category map sends each disposition (the denying plugin, or queued) to a
 * category: the columns of Brian Read's mailstats (DMARC-Rej., Virus,
 * RBL/DNS, Execut., Geoip., Non.Conf., Rej.Load, Karma, Del.Spam,
 * Qued.Spam?, Ham). Admins edit it as a file, /etc/qpstat/categories
 * (etc/categories in the source holds the built-in rules and documents the
 * format):
 *
 *     # comment
 *     PLUGIN   CATEGORY        (CATEGORY: the rest of the line, <= 64 bytes)
 *     virus::* Virus           (a trailing * matches every name it starts)
 *
 * An exact name wins over a pattern, the longest pattern over shorter ones.
 * "queued" is accepted mail, "queued/spam" accepted mail SpamAssassin called
 * spam (falls back to "queued" when not listed). A naughty denial counts as
 * the plugin that caused it: the one its text starts with, "(karma) ...",
 * else dnsbl or karma when its text names them, else naughty. A disposition
 * no rule matches is in category QPS_CATEGORY_UNKNOWN, and the aggregator
 * keeps the names of such plugins (qps_agg_unknown_plugins) so that reports
 * list them: nothing is silently dropped.
 *
 * A map is immutable once made (qps_categories_parse replaces it whole), so
 * any number of aggregators and threads may read one at a time.
 */
typedef struct qps_categories qps_categories;

/** The category of dispositions no rule of the map matches. */
#define QPS_CATEGORY_UNKNOWN "Unknown"

/** A map holding the built-in rules (those of etc/categories). NULL when
 *  out of memory. Free it with qps_categories_free. */
qps_categories *qps_categories_new(void);
void qps_categories_free(qps_categories *map);

/** Replaces the map's rules with those of text (the file format above; len
 *  bytes, need not be NUL-terminated). On failure the map is unchanged,
 *  and err (when not NULL) gets "line N: why": QPS_EFORMAT for a line
 *  without category, a category longer than 64 bytes or named "Unknown",
 *  a '*' other than at the end, a plugin listed twice, a control byte;
 *  QPS_ENOMEM. An empty text is a valid map (every plugin Unknown). */
qps_status qps_categories_parse(qps_categories *map, const char *text, size_t len, char *err, size_t errlen);

/** Reads a map file (a regular file of at most 1 MiB; a FIFO is refused
 *  without waiting) and parses it as qps_categories_parse does. QPS_EIO
 *  (err: strerror) when it cannot be read. */
qps_status qps_categories_load(qps_categories *map, const char *path, char *err, size_t errlen);

/** The categories, in column order (the order they first appear in the
 *  rules; Unknown is not one of them). Names are owned by the map and live
 *  until it is parsed again or freed. */
size_t qps_categories_count(const qps_categories *map);
const char *qps_categories_name(const qps_categories *map, size_t i);

/** The rules in file order: rule i's plugin name (without the '*' of a
 *  pattern; borrowed from the map), whether it is a pattern, its category.
 *  QPS_EINVAL past the end. */
size_t qps_categories_rules(const qps_categories *map);
qps_status qps_categories_rule(const qps_categories *map, size_t i, qps_str *pattern, int *prefix,
                               const char **category);

/** The category a plugin name maps to, NULL when no rule matches. */
const char *qps_category_of_plugin(const qps_categories *map, qps_str plugin);

/** The category of a logterse record under the rules above (queued/spam,
 *  naughty), QPS_CATEGORY_UNKNOWN when no rule matches; NULL for another
 *  kind of record. Owned by the map (or static). */
const char *qps_category_of(const qps_categories *map, const qps_record *rec);

/** Creates an aggregator (NULL when out of memory); opts is copied.
 *
 *  Example: a log on stdin in, its disposition table out as CSV, equal to
 *  `qpstat report --format csv --by disposition` (compiled and run by
 *  t/211-header-examples.t):
 *
 *      static int to_stdout(void *ctx, const char *buf, size_t len)
 *      {
 *          (void)ctx;
 *          return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
 *      }
 *
 *      int main(void)
 *      {
 *          qps_agg *agg = qps_agg_new(NULL);
 *          char chunk[65536];
 *          size_t n;
 *          qps_status st = agg ? QPS_OK : QPS_ENOMEM;
 *          while (st == QPS_OK && (n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
 *              st = qps_agg_feed(agg, chunk, n); // lines cut anywhere
 *          if (st == QPS_OK)
 *              st = qps_agg_finish(agg); // a last line without newline
 *          qps_counts c;
 *          if (st == QPS_OK) {
 *              qps_agg_counts(agg, &c);
 *              fprintf(stderr, "%llu transactions in %llu lines\n", (unsigned long long)c.transactions,
 *                      (unsigned long long)c.lines_read);
 *              qps_dim dims[] = {QPS_DIM_DISPOSITION};
 *              qps_render_opts ro = {.format = QPS_FORMAT_CSV, .dims = dims, .ndims = 1};
 *              st = qps_render(agg, &ro, to_stdout, NULL);
 *          }
 *          qps_agg_free(agg);
 *          return st == QPS_OK ? 0 : 1;
 *      }
 */
qps_agg *qps_agg_new(const qps_agg_opts *opts);
void qps_agg_free(qps_agg *agg);

/** Whether agg's selection (its time range and where filters) takes the
 *  logterse record rec: what `qpstat list` prints are exactly the records
 *  a report counts. 0 for other kinds. */
int qps_agg_selects(qps_agg *agg, const qps_record *rec);

/** Adds one parsed record (counts the line as read). */
qps_status qps_agg_add(qps_agg *agg, const qps_record *rec);

/** Parses one line (without newline) and adds it. Returns QPS_OK even for an
 *  invalid line (it is counted); QPS_ENOMEM only when memory runs out. */
qps_status qps_agg_add_line(qps_agg *agg, const char *line, size_t len);

/** The same, and *kind (not NULL) is what the line was: QPS_KIND_INVALID
 *  for a line counted invalid. For a door that reports per line. */
qps_status qps_agg_add_line_kind(qps_agg *agg, const char *line, size_t len, qps_kind *kind);

/** Feeds a chunk of a byte stream; complete lines are added, a partial last
 *  line is kept for the next call. Lines longer than QPS_LINE_MAX are counted
 *  invalid without being buffered. */
qps_status qps_agg_feed(qps_agg *agg, const char *chunk, size_t len);

/** Adds the partial line kept by qps_agg_feed (a file that does not end in a
 *  newline). Call it at the end of each stream. */
qps_status qps_agg_finish(qps_agg *agg);

/** Reads everything reader gives (see qps_reader_read) into agg, then ends
 *  the stream (qps_agg_finish). Returns QPS_OK; the reader's error
 *  (QPS_EREAD, QPS_ETRUNCATED, QPS_ECORRUPT) after every line before it
 *  was added; or QPS_ENOMEM. The reader stays open. */
qps_status qps_agg_read(qps_agg *agg, qps_reader *reader);

/** Adds every count of src into dst. Options of dst are kept. */
qps_status qps_agg_merge(qps_agg *dst, const qps_agg *src);

/** Parts: one log read by several threads with the numbers of one pass.
 *  A part parses and counts a piece of the log like an aggregator, but has
 *  no key tables: the logterse records and connection times it sees wait
 *  in it (copied, about the size of those lines) for qps_agg_absorb(),
 *  which adds them to the owner's tables in their order. Absorbing the
 *  parts of consecutive pieces in log order therefore gives the owner
 *  exactly what feeding it the whole log would, approximate (Space-Saving)
 *  tables and floating-point sums included, whatever the number of threads,
 *  while the key tables exist once. A piece should start and end on a line
 *  boundary; only the last piece of a file calls qps_agg_finish().
 *
 *  qps_agg_new_part() makes a part with the options of owner (an
 *  aggregator, or another part made from it), NULL when out of memory;
 *  free it with qps_agg_free(). Making a part only reads owner, so
 *  threads may make parts from one shared part while the owner absorbs;
 *  otherwise one thread at a time per object. */
qps_agg *qps_agg_new_part(const qps_agg *owner);

/** Gives a part the context of a line before its piece without counting
 *  it: the time a local stamp in the hour that repeats when DST ends is
 *  resolved against (see qps_parser_set_last_time). Prime with the lines
 *  just before the piece, in order. */
void qps_agg_prime(qps_agg *part, const char *line, size_t len);

/** Adds everything part counted into owner (see qps_agg_new_part) and
 *  empties the part's waiting records; part stays usable for the next
 *  piece only after qps_agg_renew_part (its counters are not reset).
 *  QPS_EINVAL if owner is a part or part is not one. */
qps_status qps_agg_absorb(qps_agg *owner, qps_agg *part);

/** An absorbed part made new for the next piece: what qps_agg_new_part
 *  would return for part's owner, with part's buffers (the waiting records'
 *  and the line splitter's), so a thread that reads piece after piece does
 *  not allocate and free them for each. part is freed; on NULL (out of
 *  memory) it is kept, and the caller still frees it. */
qps_agg *qps_agg_renew_part(qps_agg *part);

/** Line and record counters. */
typedef struct {
    uint64_t lines_read;    /* every line seen */
    uint64_t lines_parsed;  /* lines that are not invalid */
    uint64_t lines_invalid; /* lines of kind QPS_KIND_INVALID */
    uint64_t by_kind[QPS_KIND_COUNT_];
    uint64_t by_bad[QPS_BAD_TRUNCATED + 1];
    uint64_t out_of_range;  /* timed lines outside since/until */
    uint64_t untimed;       /* lines without time, skipped because a range was set */
    uint64_t transactions;  /* logterse records inside the selection */
    int64_t first, last;    /* unix time of their earliest and latest timed
                               record (a pruned day's totals have none);
                               0 when none was timed */
} qps_counts;

void qps_agg_counts(const qps_agg *agg, qps_counts *out);

/** Connection facts. */
typedef struct {
    uint64_t accepted;     /* "Accepted connection" lines */
    unsigned peak;         /* highest concurrency seen: n + 1 of n/M */
    unsigned limit;        /* M of n/M (the configured maximum) */
    uint64_t too_many;     /* "Too many connections" waits */
    uint64_t hosts_allow;  /* hosts_allow denials (log lines) */
    uint64_t queue_accepted; /* messages the queue plugin accepted ("250 Queued") */
    uint64_t timed;        /* connection_time lines */
    double mean_s, p50_s, p90_s, p99_s, max_s; /* connection time, seconds */
} qps_conn_stats;

void qps_agg_conn_stats(const qps_agg *agg, qps_conn_stats *out);

/** The map an aggregator counts categories with (its own built-in one when
 *  qps_agg_opts.categories was NULL); owned as described there. */
const qps_categories *qps_agg_categories(const qps_agg *agg);

/** Spam verdict statistics of the selected transactions. */
typedef struct {
    uint64_t spam, ham, none;
    double spam_mean, ham_mean; /* mean scores */
    /* mailstats' averages: transactions with a score, queued (accepted)
     * and denied (rejected), and their mean scores */
    uint64_t accepted_scored, rejected_scored;
    double accepted_mean, rejected_mean;
} qps_spam_stats;

void qps_agg_spam_stats(const qps_agg *agg, qps_spam_stats *out);

/** One row of a keyed dimension. */
typedef struct {
    qps_str key[2];  /* key[1]: the TLD of QPS_DIM_DISPOSITION_TLD, the
                        category of QPS_DIM_HOUR_CATEGORY, the disposition
                        of QPS_DIM_HOUR_DISPOSITION and _DAY_DISPOSITION */
    uint64_t count;
    uint64_t error;  /* upper bound of the overcount (0 = exact) */
} qps_row;

/** Returns the rows of a keyed dimension in report order (by count, largest
 *  first, ties by key; hour, day and score by key; spam as spam, ham, none) in *rows (caller frees
 *  with qps_free; key slices borrow from agg) and their number in *n.
 *  QPS_EINVAL for the metric dimensions (connections, connection-time). */
qps_status qps_agg_rows(const qps_agg *agg, qps_dim dim, qps_row **rows, size_t *n);

/** As qps_agg_rows, but only the first min(top, *n) rows are in report
 *  order (the rest follow in no order): a report that prints 20 rows of a
 *  large table need not sort it all. top 0 orders every row. */
qps_status qps_agg_rows_top(const qps_agg *agg, qps_dim dim, size_t top, qps_row **rows, size_t *n);

/** The total the percentages of a dimension refer to: transactions for
 *  most dimensions, dnsbl denials for QPS_DIM_DNSBL, recipients for
 *  QPS_DIM_RECIPIENT. */
uint64_t qps_agg_total(const qps_agg *agg, qps_dim dim);

/** 1 if any table of the dimension overflowed its capacity (counts are then
 *  estimates with the error bound in qps_row.error). */
int qps_agg_approximate(const qps_agg *agg, qps_dim dim);

/** The dispositions counted as QPS_CATEGORY_UNKNOWN, by count (rows as
 *  qps_agg_rows gives them: key[0] the disposition; caller frees *rows
 *  with qps_free). Filled with the category table. */
qps_status qps_agg_unknown_plugins(const qps_agg *agg, qps_row **rows, size_t *n);

/** The recipient domains of the queued (accepted) transactions, by count,
 *  as qps_agg_rows(QPS_DIM_RECIPIENT) gives those of all of them (the
 *  difference is what was denied). Filled with the recipient table. */
qps_status qps_agg_recipient_accepted(const qps_agg *agg, qps_row **rows, size_t *n);

/* ------------------------------------------------------------------ */
/* Time ranges: today, yesterday, the last N days, since/until         */
/* ------------------------------------------------------------------ */

/* The one reading of the time options of every door: the CLI's --today,
 * --yesterday, --days N, --since and --until (report, list, grep,
 * dnsbl-test; received's --days), serve's API parameters and the Perl
 * options of Qpstat::Agg->new and Qpstat::Store. The same text gets the
 * same range, limit and message everywhere.
 *
 *     qps_range r;
 *     qps_range_init(&r, "--");
 *     if (qps_range_days(&r, "7") != QPS_OK || qps_range_finish(&r, now, 0) != QPS_OK)
 *         complain(r.error);           // "--days takes a whole number ..."
 *     qps_range_select(&r, &agg_opts); // since = now - 7 * 86400
 *
 * Rules: today and yesterday are local calendar days; days N is the last
 * N * 24 hours (no upper end); at most one of the three. since and until
 * are explicit bounds that replace the corresponding bound of the relative
 * option, whatever the order they come in. A range whose start is not
 * before its end selects nothing and is refused. */

/** The most days --days (days =>, ?days=) takes: about 273 years. */
#define QPS_RANGE_MAX_DAYS 100000

typedef struct {
    /* The result, valid after qps_range_finish returned QPS_OK: keep
     * records with since <= time < until (each bound only if has_). */
    int64_t since, until;
    int has_since, has_until;
    /* The selected dates for the mail's Subject ("2026-11-25",
     * "2026-11-25|2026-11-24", "the last 7 days", "2026-11-01 to
     * 2026-11-20", "" when nothing is selected). */
    char label[64];
    /* Why the last call returned QPS_EINVAL, naming options as the door
     * does ("--days takes a whole number from 1 to 100000, not '0'"). */
    char error[256];
    /* The options given so far: range.c's, read them through the result. */
    const char *opt_prefix_;
    int relative_;           /* today, yesterday and days given */
    int back_first_, back_last_; /* local days back (today 0 0, yesterday 1 1) */
    long days_;              /* days N, 0 for a calendar range */
    int set_since_, set_until_;
    int64_t since_, until_;
} qps_range;

/** Empties r. option_prefix ("--" in the CLI, "" for Perl and the API,
 *  borrowed: it must outlive r) goes before option names in r->error. */
void qps_range_init(qps_range *r, const char *option_prefix);

/** today / yesterday: QPS_EINVAL (r->error: "give only one of --today,
 *  --yesterday and --days") when another of the three was given. */
qps_status qps_range_today(qps_range *r);
qps_status qps_range_yesterday(qps_range *r);

/** days N: text is a whole number from 1 to QPS_RANGE_MAX_DAYS (digits
 *  only: no sign, blank or fraction); QPS_EINVAL otherwise or when today
 *  or yesterday was given. */
qps_status qps_range_days(qps_range *r, const char *text);

/** since / until as text, read by qps_parse_when (an until of a date alone
 *  is the end of that day); QPS_EINVAL ("--since: not a date or time:
 *  '...'") when it is not one. */
qps_status qps_range_since(qps_range *r, const char *text);
qps_status qps_range_until(qps_range *r, const char *text);

/** since / until as unix seconds (Perl's since => and until =>). */
void qps_range_since_unix(qps_range *r, int64_t t);
void qps_range_until_unix(qps_range *r, int64_t t);

/** Computes the range against now (unix seconds; local days in TZ). With
 *  mail_default and no option given, the range is yesterday and today, as
 *  the daily mail report covers. QPS_EINVAL ("--since must come before
 *  --until: the range is empty") when the start is not before the end. */
qps_status qps_range_finish(qps_range *r, int64_t now, int mail_default);

/** Puts a finished range into an aggregator's selection. */
void qps_range_select(const qps_range *r, qps_agg_opts *opts);

/** Whether a record's time is selected by a finished range: always when
 *  nothing is selected; never for an untimed record (has_time 0) when a
 *  bound is set. */
int qps_range_keeps(const qps_range *r, int has_time, int64_t t);

/** 1 for a multilog old log (@LABEL.s or .u, the label the time it was
 *  closed) closed before a finished range starts: every line in it is
 *  older, so it need not be read. 0 for any other name. */
int qps_range_skips_log(const qps_range *r, const char *path);

/** Reads "YYYY-MM-DD" or "YYYY-MM-DD( |T)HH:MM[:SS][Z|+hh:mm|-hh:mm]",
 *  local time unless a zone is given. A day beyond the month's
 *  end is refused, not the next month. With is_until, a date alone means
 *  the end of that day (the next midnight). QPS_EINVAL when text is not
 *  such a time. */
qps_status qps_parse_when(const char *text, int is_until, int64_t *out);

/** Writes the local date "YYYY-MM-DD" of unix seconds into out. */
void qps_format_date(int64_t t, char out[11]);

/* ------------------------------------------------------------------ */
/* Rendering                                                           */
/* ------------------------------------------------------------------ */

typedef enum {
    QPS_FORMAT_TEXT = 0, /* aligned tables for people */
    QPS_FORMAT_CSV,      /* RFC 4180, one table */
    QPS_FORMAT_JSON,     /* rows, totals, line counters */
    QPS_FORMAT_MAIL      /* the daily mail: a complete message for sendmail -t */
} qps_format;

/** Output sink: write len bytes, return 0 on success. */
typedef int (*qps_write_fn)(void *ctx, const char *buf, size_t len);

typedef struct {
    qps_format format;
    const qps_dim *dims;   /* dimensions to print, in order */
    size_t ndims;
    size_t top;            /* rows per dimension, 0 = all */
    size_t remote_top;     /* rows for sender, recipient, ip and helo when
                              top is 0; 0 = all */
    const char *mail_date; /* the date text of the mail's Subject */
    /* QPS_FORMAT_MAIL only (dims, top are not used): */
    const char *mail_from; /* From: (NULL = "qpstat") */
    const char *mail_to;   /* To: (NULL = "admin") */
    int64_t mail_time;     /* Date: (unix time), and the end of a period
                              that has not ended yet (transactions per hour);
                              0 = the aggregator's parser.now, else the clock */
    int mail_html;         /* 1: multipart/alternative, the text and an HTML
                              part (tables and CSS bars, no script, no SVG) */
} qps_render_opts;

/** Renders a report of agg. Attacker-controlled keys are escaped for the
 *  format. CSV takes exactly one dimension (QPS_EINVAL otherwise). Returns
 *  QPS_EIO when the sink fails.
 *
 *  QPS_FORMAT_MAIL is one message (LF line ends, as sendmail -t reads it):
 *  From, To, Date, Subject "Email Disposition on <mail_date>",
 *  MIME-Version, and a quoted-printable UTF-8 text part (with mail_html,
 *  multipart/alternative with an HTML part after it) holding mailstats'
 *  figures: the period, connections, transactions per hour, average spam
 *  scores (accepted, rejected, ham), transactions by hour and category
 *  (QPS_DIM_HOUR_CATEGORY, one column per category of the map, Unknown when
 *  it has any, and the unknown plugins named), the top 20 recipient
 *  domains (total, denied, accepted), DNSBL services, and last the seed's
 *  disposition x TLD table as the text report prints it. The aggregator
 *  must have filled disposition,tld, hour,category, recipient, dnsbl,
 *  spam and connections (dims 0 fills every table). QPS_EINVAL when From,
 *  To or mail_date hold anything but printable ASCII (a header injection). */
qps_status qps_render(const qps_agg *agg, const qps_render_opts *opts, qps_write_fn write, void *ctx);

/** The transactions behind a count: the newest logterse records (by
 *  time), at most `limit` (0 = as many as 32 MiB hold), older ones dropped. */
typedef struct qps_list qps_list;

qps_list *qps_list_new(size_t limit);
void qps_list_free(qps_list *list);

/** Keeps a copy of rec (logterse records only; others are ignored): the
 *  newest by time are kept, in whatever order records are added (several
 *  stores one after the other). */
qps_status qps_list_add(qps_list *list, const qps_record *rec);

/** Records added, and records kept (shown). */
uint64_t qps_list_matched(const qps_list *list);
size_t qps_list_shown(const qps_list *list);

/** Renders the kept records newest first: one line each (text: columns
 *  time, server, ip, helo, sender, recipients, disposition, code, text,
 *  score; csv: the same with a header; json: {"matched", "shown",
 *  "transactions": [...]}), each field escaped for the format; times in
 *  local time unless utc. QPS_EINVAL for another format. */
qps_status qps_list_render(const qps_list *list, qps_format format, int utc, qps_write_fn write, void *ctx);

/** Options of qps_render_metrics; zeroed fields take the defaults. */
typedef struct {
    size_t max_labels;        /* label values per labelled metric (dispositions,
                                 DNSBL zones, codes): the first that came (in
                                 the time order of the logs or the store); the
                                 rest is summed as "other". 0 = 50 */
    int openmetrics;          /* 1: OpenMetrics 1.0 text (ends in "# EOF"),
                                 0: Prometheus text format 0.0.4 */
    int has_recent_peak;      /* 1: print recent_peak as qpsmtpd_connections_peak */
    unsigned recent_peak;     /* highest concurrency of a recent window */
    int has_last_record;      /* 1: print last_record as a gauge */
    int64_t last_record;      /* unix time of the store's newest record */
    int has_lines_invalid;    /* 1: lines_invalid instead of agg's counter */
    uint64_t lines_invalid;
    int has_import_lag;       /* 1: print the two import gauges */
    int64_t import_lag_seconds;   /* now - qps_import_lag.oldest, 0 if none */
    uint64_t import_behind_bytes; /* qps_import_lag.behind_bytes */
} qps_metrics_opts;

/** Renders agg as Prometheus metrics (HELP and TYPE for every family):
 *  transactions by disposition and by return code, DNSBL denials by zone,
 *  connection counters, the spam score and connection time histograms,
 *  the gauges of opts. Labels are bounded (see max_labels: the labelled
 *  keys are those that came first, so as the aggregate grows no labelled
 *  series disappears and none, "other" included, goes down) and never hold
 *  remote input other than dispositions, DNSBL zones and codes. agg needs
 *  the tables disposition, dnsbl, code, score, spam, connections and
 *  connection-time. QPS_EIO when the sink fails. */
qps_status qps_render_metrics(const qps_agg *agg, const qps_metrics_opts *opts, qps_write_fn write, void *ctx);

/* ------------------------------------------------------------------ */
/* Output buffers and escaping                                         */
/* ------------------------------------------------------------------ */

/** A growable byte buffer. Zero it ({0}) before first use; release it with
 *  qps_buf_release. data is NUL-terminated whenever it is not NULL (the NUL
 *  is not counted in len), so it can be printed with "%s" when the content
 *  holds no NUL. A failed allocation is sticky: failed is set, later
 *  appends are ignored, so a caller checks once at the end. The caller may
 *  take data over (then free it with qps_free and zero the buffer). */
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} qps_buf;

void qps_buf_append(qps_buf *buf, const char *bytes, size_t len);
void qps_buf_putc(qps_buf *buf, char c);
void qps_buf_printf(qps_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Frees the content and zeroes the buffer (failed included). */
void qps_buf_release(qps_buf *buf);

/* One escaping policy per output kind. HELO names, senders, deny texts,
 * mail headers and DNS answers come from remote clients: what they hold
 * must not act on the reader (a terminal's escape sequences, a
 * spreadsheet's formulas, reordered text, a broken JSON or HTML document).
 * Each function appends the escaped form of s (len bytes, any content) to
 * buf. */

/** Terminal text. A byte that is not part of valid UTF-8 (a raw C1 byte
 *  0x80-0x9f included), a C0 control (TAB, CR and LF included), DEL, and
 *  each byte of a UTF-8 C1 control (U+0080-U+009F) is written as \xNN
 *  (two lowercase hex digits); the bidirectional controls U+061C, U+200E,
 *  U+200F, U+202A-U+202E, U+2066-U+2069 and the separators U+2028, U+2029
 *  as \u{NNNN}; a backslash as two, so that a literal "\x1b" in the input
 *  reads "\\x1b" and cannot pass for an escaped ESC. Other valid UTF-8
 *  passes unchanged. */
void qps_escape_text(qps_buf *buf, const char *s, size_t len);

/** Columns qps_escape_text's output of s takes (one per code point). */
size_t qps_text_width(const char *s, size_t len);

/** Like qps_escape_text, but stops before the escaped text would exceed
 *  max_width columns (an escape is never cut). Returns the columns
 *  written. For fixed-width columns. */
size_t qps_escape_text_cut(qps_buf *buf, const char *s, size_t len, size_t max_width);

/** One CSV field (RFC 4180). The text is escaped as qps_escape_text does
 *  (so no CR, LF or control byte reaches the file), then quoted when it
 *  holds a comma or a quote or starts or ends with a space. A field whose
 *  first character other than space, TAB, CR or LF is = + - or @ is
 *  prefixed with a ' (formula neutralisation: a spreadsheet would run
 *  "=1+2" or "@SUM(...)"). Numbers the program formats itself (counts,
 *  percentages, score buckets such as -3) are not attacker text and are
 *  written without this function. */
void qps_escape_csv(qps_buf *buf, const char *s, size_t len);

/** The body of a JSON string (without the quotes), always valid JSON and
 *  valid UTF-8: " and \ escaped, \n \r \t, other C0 controls, DEL, the
 *  C1 controls U+0080-U+009F, the bidirectional controls listed above and
 *  U+2028/U+2029 as \u00NN / \uNNNN. A byte that is not valid UTF-8 is
 *  written as \u00NN of that byte (its Latin-1 reading, so an old 8-bit
 *  HELO stays legible and distinct), not as U+FFFD. */
void qps_escape_json(qps_buf *buf, const char *s, size_t len);

/** A JSON number with `decimals` digits after the point, or null when value
 *  is not finite (a 400-digit spam score overflows a double to inf; JSON
 *  has no inf or nan). */
void qps_json_number(qps_buf *buf, double value, int decimals);

/** HTML text or a quoted attribute value: escaped as qps_escape_text does
 *  (controls, invalid UTF-8 and bidirectional controls made visible), then
 *  & < > " ' written as &amp; &lt; &gt; &quot; &#39;. */
void qps_escape_html(qps_buf *buf, const char *s, size_t len);

/** JSON text (as qps_render writes it) made safe as the content of an HTML
 *  <script type="application/json"> element: < > & become \u003c \u003e
 *  \u0026, which in valid JSON only strings hold, so JSON.parse reads the
 *  same data and no field can close the element ("</script>", "<!--"). */
void qps_escape_script_json(qps_buf *buf, const char *json, size_t len);

/** A Prometheus label value (the inside of label="..."), text exposition
 *  format and OpenMetrics: escaped as qps_escape_text does (so the value
 *  holds no control byte, invalid UTF-8 or bidirectional control, and two
 *  different values stay two series; a newline is \x0a), then the
 *  format's own escapes: backslash as \\, " as \". */
void qps_escape_label(qps_buf *buf, const char *s, size_t len);

/* ------------------------------------------------------------------ */
/* Connection joiner: qplogtail's per-connection view (tail, grep)     */
/* ------------------------------------------------------------------ */

/* qpsmtpd writes one line per event; the joiner ties them to their
 * connection by pid and writes one output line per event, TAB-separated:
 *   [STAMP\t]PID\tIP\tn/M                                   accepted
 *   [STAMP\t]PID\tIP\tDISPOSITION\tSPAM\tSENDER\tRCPTS\tTEXT  logterse record
 *   [STAMP\t]PID\tIP\tN.NNN sec.                            connection_time
 *   [STAMP\t]PID\t-\tToo many connections: n >= M           the parent waits
 *   [STAMP\t]PID\tIP\thosts_allow\tDETAILS                  hosts_allow denial
 * Every field is terminal text escaped by qps_escape_text (a TAB inside a
 * field is \x09, so the columns hold); IP is "-" while unknown. */

typedef enum {
    QPS_STAMP_NONE = 0, /* no time column */
    QPS_STAMP_RAW,      /* the time as the log wrote it (a TAI64N label, ...) */
    QPS_STAMP_LOCAL     /* local time as tai64nlocal writes it */
} qps_stamp_mode;

typedef enum {
    QPS_JOIN_ALL = 0,    /* every event, as it comes (tail) */
    QPS_JOIN_LINES,      /* the events whose own line matches */
    QPS_JOIN_CONNECTIONS /* every event of a connection any of whose lines
                            matches, written when it ends (grep) */
} qps_join_mode;

/** Whether a line matches: gets the raw line without its time stamp
 *  (a hex label would match almost any short pattern); returns non-zero
 *  for a match. */
typedef int (*qps_match_fn)(void *ctx, const char *text, size_t len);

/* The joiner gives each output line to a qps_line_fn (above): without its
 * newline, the data borrowed for the call; a non-zero return makes the
 * joiner return QPS_EIO. */

typedef struct {
    qps_stamp_mode stamp;
    qps_join_mode mode;
    qps_match_fn match;   /* NULL: every line matches */
    void *match_ctx;
    qps_line_fn emit;     /* required */
    void *emit_ctx;
    int has_since, has_until; /* when set, only timed lines with */
    int64_t since, until;     /* since <= time < until count */
    const char *terse_prefix; /* NULL: "`" */
    int64_t now;          /* as in qps_parser_opts */
    size_t max_conns;     /* open connections kept; 0 = 65536 */
    size_t max_memory;    /* bytes the open connections may take, their
                             bookkeeping and held output counted as
                             allocated; 0 = 40 MiB */
} qps_join_opts;

typedef struct qps_join qps_join;

/** Creates a joiner (opts is copied; its callbacks and prefix must outlive
 *  the joiner). NULL when out of memory or opts->emit is NULL. */
qps_join *qps_join_new(const qps_join_opts *opts);
void qps_join_free(qps_join *join);

/** Takes one log line (without its newline). Over max_conns or max_memory
 *  the oldest open connection is ended early: its held output is written
 *  (if it matched) and a later line of it starts a new connection without
 *  the IP. QPS_ENOMEM when memory runs out, QPS_EIO when emit failed (then
 *  every later call returns QPS_EIO too). */
qps_status qps_join_line(qps_join *join, const char *line, size_t len);

/** Ends every open connection (writing what matched); call at the end. */
qps_status qps_join_finish(qps_join *join);

/** How many connections the budget ended early so far. */
uint64_t qps_join_ended_early(const qps_join *join);

/* ------------------------------------------------------------------ */
/* Store: transactions and connection facts in one SQLite file         */
/* ------------------------------------------------------------------ */

/** Schema version this library writes; a store with a newer one is
 *  refused (QPS_EFORMAT) rather than damaged. */
#define QPS_STORE_SCHEMA 6

typedef struct qps_store qps_store;

enum {
    QPS_STORE_READONLY = 1, /* open for reports only */
    QPS_STORE_CREATE = 2    /* create the file (mode 0640) if missing */
};

/** Opens (and with QPS_STORE_CREATE creates or migrates) a store. On
 *  failure returns NULL, sets *status (QPS_EIO for a file or SQLite problem,
 *  QPS_EREADONLY for a file opened to write that cannot be written,
 *  QPS_EBUSY when it stays locked, QPS_EFORMAT for a file that is not a
 *  qpstat store or has a newer schema, QPS_ENOMEM) and, when err is not
 *  NULL, writes a message to err. Waits up to busy_ms milliseconds for a
 *  lock held by another process (every later call waits as long).
 *  A symbolic link as the store, or as its -wal, -shm or -journal, is
 *  followed only when root or the calling user owns it (QPS_EIO
 *  otherwise): in a directory another user can write, that user cannot
 *  make the store be some other file. Read-only, a store whose -shm this
 *  user cannot create (a read-only file system; a directory it cannot
 *  write, once `sqlite3 FILE VACUUM` removed -wal and -shm) is read as the
 *  file is, when it has no -wal to miss.
 *
 *  Example: import logs (resuming where the last run stopped) and report
 *  from the store, to_stdout as in qps_agg_new's example (compiled and run
 *  by t/211-header-examples.t):
 *
 *      int main(int argc, char **argv) // STORE LOG...
 *      {
 *          char err[256];
 *          qps_status st;
 *          qps_store *store = qps_store_open(argv[1], QPS_STORE_CREATE, 5000, &st, err, sizeof err);
 *          if (!store) {
 *              fprintf(stderr, "%s: %s\n", argv[1], err);
 *              return 1;
 *          }
 *          uint64_t added = 0;
 *          for (int i = 2; i < argc && st == QPS_OK; i++)
 *              st = qps_store_import_file(store, argv[i], NULL, &added);
 *          qps_agg *agg = st == QPS_OK ? qps_agg_new(NULL) : NULL;
 *          if (agg)
 *              st = qps_store_aggregate(store, agg);
 *          if (st == QPS_OK) {
 *              qps_dim dims[] = {QPS_DIM_DISPOSITION};
 *              qps_render_opts ro = {.format = QPS_FORMAT_CSV, .dims = dims, .ndims = 1};
 *              fprintf(stderr, "%llu new records\n", (unsigned long long)added);
 *              st = qps_render(agg, &ro, to_stdout, NULL);
 *          } else {
 *              fprintf(stderr, "%s\n", qps_store_error(store));
 *          }
 *          qps_agg_free(agg);
 *          qps_store_close(store);
 *          return st == QPS_OK ? 0 : 1;
 *      }
 */
qps_store *qps_store_open(const char *path, int flags, int busy_ms, qps_status *status, char *err, size_t errlen);
void qps_store_close(qps_store *store);

/** Sets the logterse prefix the store parses its lines with (imports and
 *  reports), for a plugin configured with another prefix; NULL restores
 *  the default "`". The string is copied. */
qps_status qps_store_set_prefix(qps_store *store, const char *prefix);

/** The store's logterse prefix, NULL for the default. Owned by the store. */
const char *qps_store_prefix(const qps_store *store);

/** The name of the mail server whose records the store holds (those whose
 *  lines name none): kept in the store (table meta, key "server") and set
 *  when the store is created, to the machine's name (uname -n), so a store
 *  copied to another host keeps its server's name and a report over
 *  several stores tells them apart (the server table, where server=).
 *  NULL for a store an earlier qpstat made. Owned by the
 *  store, valid until the next qps_store_set_server or qps_store_close. */
const char *qps_store_server(const qps_store *store);

/** Names the store's server (a store created elsewhere, or under another
 *  name). QPS_EINVAL for NULL or "", QPS_EREADONLY on a read-only store. */
qps_status qps_store_set_server(qps_store *store, const char *name);

/** 1 when this qps_store_open created the store (a new or empty file), so
 *  that a door given a server's name (import --server) names the store. */
int qps_store_created(const qps_store *store);

/** The message of the store's last failure; static or store-owned. */
const char *qps_store_error(const qps_store *store);

/** Groups writes: everything between begin and commit is stored at once or
 *  not at all (a crash in between loses nothing that was committed).
 *  QPS_ESTATE for a begin inside a transaction or a commit or rollback
 *  outside one, QPS_EREADONLY for a begin on a read-only store, QPS_EBUSY
 *  when another process holds the lock past busy_ms. A failed commit rolls
 *  back. */
qps_status qps_store_begin(qps_store *store);
qps_status qps_store_commit(qps_store *store);
qps_status qps_store_rollback(qps_store *store);

/** Where a record came from. */
enum { QPS_SOURCE_IMPORT = 1, QPS_SOURCE_PLUGIN = 2 };

/** Stores a parsed line if it is a logterse record or a connection fact
 *  (accept, too many, hosts_allow, connection_time, and the "250 Queued"
 *  reply of a message the queue plugin accepted); other kinds are
 *  ignored. Outside qps_store_begin/commit it is a transaction of its own.
 *  A record without a time gets the given time (unix_sec, nsec); server
 *  names the mail server when the line does not. A record already stored
 *  from the other source (same pid and fields within 30 seconds) is not
 *  stored again. *added (may be NULL) is 1 when the record was taken.
 *  Inside begin/commit an imported accept may wait for its connection's
 *  time, to be stored with it in one row at the latest at the commit. */
qps_status qps_store_add(qps_store *store, const qps_record *rec, const char *server, int64_t unix_sec,
                         uint32_t nsec, int source, int *added);
/*  (QPS_EREADONLY on a store opened read-only; QPS_EBUSY, QPS_EIO as for a
 *  commit; a failure inside begin/commit dooms that transaction.) */

/** How a log is imported. All fields may be 0/NULL. */
typedef struct {
    const char *server; /* names the mail server when a line does not */
    /* Receives every byte read (inflated), in order, whether stored or not
     * and even when storing fails: the processor's copy to multilog. With
     * a tee the input is read to its end, never skipped by seeking. */
    void (*tee)(void *ctx, const char *bytes, size_t len);
    void *tee_ctx;
} qps_import_opts;

/** What an import did (committed work only). */
typedef struct {
    uint64_t added;   /* new records stored */
    uint64_t lines;   /* lines read and stored past what the store had */
    uint64_t invalid; /* of them, invalid */
    int64_t skipped;  /* bytes the store had already (earlier runs, another
                         importer running at the same time) */
    int64_t offset;   /* how far the store has the file now */
    int journal_gap;  /* a journal: entries after the stored position were
                         removed before they were imported */
    char note[320];   /* a journal: what its reader noticed (the gap, a unit
                         without entries, damage), else empty */
} qps_import_result;

/** The import engine: stores the lines of a log file (plain or gzip, by
 *  content, read by qps_reader and split by qps_lines, as a report reads
 *  them) that the store does not have yet, in batches each committed with
 *  the file's offset. A file is known by its first 4 KiB (or all of it
 *  when shorter), whatever its name or inode, so multilog's rename of
 *  current to @label.s, or the processor's copy of it, is the same file.
 *  Importers of one file at the same time never store a line twice: each
 *  batch reads the offset inside its write transaction. A resumed import
 *  gives its parser the time of the last line stored of the file
 *  (qps_parser_set_last_time). A last line without its newline is left
 *  for the next run, except in a .gz (which does not grow). Only a regular
 *  file is read (anything else is QPS_EIO, never waited for). On failure
 *  (a read error, a directory, a truncated or damaged .gz: QPS_EIO; a
 *  store opened read-only: QPS_EREADONLY; a store error) the lines before
 *  it stay committed and the message is in qps_store_error(). result may
 *  be NULL, opts too. */
qps_status qps_store_import_path(qps_store *store, const char *path, const qps_import_opts *opts,
                                 qps_import_result *result);

/** The same from an open descriptor, read from its current position to its
 *  end (a file or a stream; the caller keeps and closes fd). name is what
 *  the store and messages call it. store may be NULL: the input then only
 *  goes to the tee (the processor without a store). */
qps_status qps_store_import_fd(qps_store *store, int fd, const char *name, const qps_import_opts *opts,
                               qps_import_result *result);

/** qps_store_import_path() with only a server name; *added (may be NULL) is
 *  increased by the number of new records. */
qps_status qps_store_import_file(qps_store *store, const char *path, const char *server, uint64_t *added);

/** The name multilog's processor imports its fd 0 under
 *  (qps_store_import_fd): a file it read is marked as its own. */
#define QPS_PROCESSOR_NAME "processor"

/** What the store has of a log file. */
typedef struct {
    int64_t imported; /* bytes the store has (0 for a file it does not know) */
    int64_t length;   /* what an import would take: the bytes of the complete
                         lines; all of a .gz, inflated */
    int processor;    /* 1 when the processor (QPS_PROCESSOR_NAME) read the
                         file last: multilog's processor feeds the store */
} qps_file_status;

/** Fills *out for the log file path. QPS_EIO when the file cannot be read,
 *  is not a regular file or is a damaged .gz. */
qps_status qps_store_file_check(qps_store *store, const char *path, qps_file_status *out);

/** How much of a log file the store has: *imported (0 for a file it does
 *  not know) against *length, what an import would take (the bytes of the
 *  file's complete lines; all of a .gz, inflated). QPS_EIO when the file
 *  cannot be read, is not a regular file or is a damaged .gz. */
qps_status qps_store_file_status(qps_store *store, const char *path, int64_t *imported, int64_t *length);

/** The import engine on a journal source (qps_logset_add_journal): stores
 *  the entries of spec's units after the position the store has for those
 *  units (the cursor of the last entry stored, kept in the store and
 *  committed with the records of every batch: a kill at any point resumes
 *  after the last committed entry; importers at once never store an entry
 *  twice: each batch reads the position inside its write transaction and
 *  goes on after another importer's). spec->after is ignored (the store's
 *  position is used). A journal whose entries after the position were
 *  vacuumed before they were imported sets result->journal_gap (and
 *  result->note); records of another journal file with later entries
 *  follow on. QPS_EIO when the journal cannot be read (qps_store_error()
 *  says why, after what came before was stored). */
qps_status qps_store_import_journal(qps_store *store, const qps_journal_spec *spec, const qps_import_opts *opts,
                                    qps_import_result *result);

/** How far the store is behind a journal source: *pending lines of the
 *  units' entries after its position (all of them for a journal never
 *  imported), *gap 1 when entries after the position were removed before
 *  they were imported; note (may be NULL) receives the reader's note. */
qps_status qps_store_journal_status(qps_store *store, const qps_journal_spec *spec, uint64_t *pending, int *gap,
                                    char *note, size_t notelen);

/** FNV-1a 64 of bytes. */
uint64_t qps_hash_bytes(const char *bytes, size_t len);

/** Feeds every stored record inside agg's time selection to agg, then adds
 *  the imported files' line counters in place of the records' lines, so a
 *  report from the store equals the report from the same logs. Called on
 *  several stores with one agg, it reports them as one (each record
 *  counted under its server: see qps_store_server). */
qps_status qps_store_aggregate(qps_store *store, qps_agg *agg);

/** Receives one stored record; return 0 to go on. */
typedef int (*qps_record_fn)(void *ctx, const qps_record *rec);

/** Calls fn for every stored record with since <= time < until: logterse
 *  records in time order, then connection facts (an accept and its
 *  connection time come together, at the connection's end). Each record
 *  is rebuilt from its row with the fields the parser gives (kind, time,
 *  pid; a record's fields; a fact's ip, running, max, millis; "250 Queued"
 *  for a queued message). QPS_ESTOPPED if fn stopped the walk. */
qps_status qps_store_each(qps_store *store, int64_t since, int64_t until, qps_record_fn fn, void *ctx);

/** Deletes records older than `before` (unix time), keeping their daily
 *  totals by disposition and sender TLD for later reports. QPS_EREADONLY
 *  on a store opened read-only. */
qps_status qps_store_prune(qps_store *store, int64_t before, uint64_t *removed);

/** Totals of the store, for `qpstat check` and the summary. */
typedef struct {
    uint64_t transactions, connection_facts, files, daily_rows;
    uint64_t daily_transactions; /* transactions of pruned days (their totals) */
    int64_t first, last; /* time range of the stored records, 0 if none */
} qps_store_info;

/** The times of the imported logs, kept per file as they were imported
 *  (every timed line, record or not; pruning keeps them). */
typedef struct {
    uint64_t files;                  /* files with timed lines; 0: the rest is 0 */
    int64_t first, last;             /* the first and last timed line of them all */
    int64_t recent_first, recent_last; /* of the newest file (its last line is the latest) */
} qps_log_span;

qps_status qps_store_log_span(qps_store *store, qps_log_span *out);

/** How far the store is behind the logs it imported from. */
typedef struct {
    uint64_t files;        /* the logs it knows by name that are still there */
    uint64_t behind_bytes; /* their bytes past what was imported (complete
                              lines waiting; 0 when the store caught up) */
    int64_t oldest;        /* the time of the oldest line not imported yet
                              (for a log without times: when the store last
                              took lines from it); 0 when none waits */
    uint64_t lines_invalid; /* invalid lines of every imported file */
} qps_import_lag;

/** Compares each log the store imported (its newest entry per name) with
 *  the file on disk now: the lines past the imported offset, or all of a
 *  new file under the name (multilog's current after a rotation). Reads a
 *  file's first line and the line at its offset only, opens nothing that
 *  is not a regular file, never blocks. A store only the plugin writes
 *  knows no log: all zero. */
qps_status qps_store_import_lag(qps_store *store, qps_import_lag *out);

/** Receives a disposition and the time of its first stored record. */
typedef int (*qps_first_seen_fn)(void *ctx, qps_str disposition, int64_t first);

/** Calls fn for every disposition of the store's transactions (timed ones,
 *  and the pruned days' totals: a day counts from its local midnight) with
 *  the time it was first seen. QPS_ESTOPPED if fn stopped. */
qps_status qps_store_first_seen(qps_store *store, qps_first_seen_fn fn, void *ctx);

/** The time of the newest timed transaction (0 if none), at once (no
 *  count of rows as in qps_store_stat). */
qps_status qps_store_last_record(qps_store *store, int64_t *last);

/** A number that changes whenever a write adds records older than an hour
 *  (an import of old logs), records without a time, or prunes: a cache of
 *  the store's older records (serve's /metrics keeps one) stays valid as
 *  long as it holds. 0 for a store never so written. */
qps_status qps_store_old_writes(qps_store *store, int64_t *n);

/** Fills *out. QPS_EIO (the message in qps_store_error()) when SQLite
 *  cannot read the store; *out is then zeroed or partly filled. */
qps_status qps_store_stat(qps_store *store, qps_store_info *out);

#ifdef __cplusplus
}
#endif
#endif /* QPSTAT_H */
