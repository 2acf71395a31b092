/*
 * genlog.c - deterministic generator of realistic qpsmtpd forkserver logs.
 *
 * Simulates a qpsmtpd-forkserver (parent + one child per connection) with
 * the logging/logterse plugin, and writes the log as multilog (TAI64N),
 * tai64nlocal text, logging/file or journald/syslog lines, in one of three
 * prefix dialects (qpsmtpd 0.93+, 0.80-0.84, 0.4x).  Concurrent connections
 * interleave by time.  Same arguments give byte-identical output: it uses
 * its own PRNG (xoshiro256**), no rand(), no clock, no locale, no libm.
 *
 * Build: cc -O2 -Wall -Wextra -std=c99 -o bench/genlog bench/genlog.c
 * Usage: see usage() below or bench/README.md.
 *
 * Part of qpstat's benchmark tooling; same license as qpstat.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <errno.h>

/* ------------------------------------------------------------------ */
/* configuration                                                       */

enum { D093, D08X, D04X };
enum { F_MULTILOG, F_TAI64NLOCAL, F_LOGFILE, F_SYSLOG };

static int g_dialect = D093;
static int g_framing = F_MULTILOG;
static uint64_t g_size = 0;          /* stop after this many bytes (0: off) */
static uint64_t g_conns = 0;         /* stop after this many connections    */
static uint64_t g_seed = 1;
static int64_t g_start = 1764000000; /* unix seconds of the first line      */
static double g_rate = 0.5;          /* mean connections per second         */
static int64_t g_tzoff = 0;          /* local time = UTC + this (seconds)   */
static int g_unique = 0;             /* every connection a new IP, HELO, sender */
static uint64_t g_unique_n = 0;

#define MAXCONN 40       /* forkserver -c (SME uses 30-40)               */
#define MAXFROMIP 5      /* forkserver -m, enforced by hosts_allow        */
#define ME "mail.example.com"
#define SYSHOST "mail"   /* hostname() in logging/file and syslog frames  */

/* ------------------------------------------------------------------ */
/* PRNG: splitmix64 seeding xoshiro256**                               */

static uint64_t rs[4];

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rnd64(void)
{
    uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;
    rs[2] ^= rs[0];
    rs[3] ^= rs[1];
    rs[1] ^= rs[2];
    rs[0] ^= rs[3];
    rs[2] ^= t;
    rs[3] = rotl(rs[3], 45);
    return r;
}

/* uniform in [0, n) */
static uint32_t rnd(uint32_t n)
{
    return (uint32_t)(((rnd64() >> 32) * (uint64_t)n) >> 32);
}

/* uniform in [lo, hi] */
static int64_t rr(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd64() % (uint64_t)(hi - lo + 1));
}

/* true with probability p/1000000 */
static int pm(uint32_t p) { return rnd(1000000) < p; }

/* uniform in (0, 1] */
static double rndf(void) { return (double)((rnd64() >> 11) + 1) * (1.0 / 9007199254740992.0); }

/* natural log without libm: x = m * 2^e, ln m by the atanh series */
static double my_ln(double x)
{
    uint64_t b;
    double m, s, s2;
    int e;
    memcpy(&b, &x, 8);
    e = (int)((b >> 52) & 0x7ff) - 1023;
    b = (b & 0xfffffffffffffULL) | 0x3ff0000000000000ULL;
    memcpy(&m, &b, 8);
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e++;
    }
    s = (m - 1) / (m + 1);
    s2 = s * s;
    return e * 0.6931471805599453 +
           s * (2 + s2 * (2.0 / 3 + s2 * (2.0 / 5 + s2 * (2.0 / 7 + s2 * (2.0 / 9 + s2 * (2.0 / 11 + s2 * 2.0 / 13))))));
}

/* exponential with the given mean (microseconds) */
static int64_t rexp(double mean_us)
{
    double v = -my_ln(rndf()) * mean_us;
    if (v > 1e12)
        v = 1e12;
    return (int64_t)v;
}

/* pick an index from a weight table */
static int pickw(const int *w, int n)
{
    int i, tot = 0, r;
    for (i = 0; i < n; i++)
        tot += w[i];
    r = (int)rnd((uint32_t)tot);
    for (i = 0; i < n; i++) {
        if (r < w[i])
            return i;
        r -= w[i];
    }
    return n - 1;
}

#define NEL(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define PICK(a) ((a)[rnd((uint32_t)NEL(a))])

/* ------------------------------------------------------------------ */
/* small string buffer                                                 */

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static void die(const char *m)
{
    fprintf(stderr, "genlog: %s\n", m);
    exit(2);
}

static void sb_grow(sbuf *s, size_t need)
{
    size_t nc;
    if (s->len + need <= s->cap)
        return;
    nc = s->cap ? s->cap * 2 : 4096;
    while (nc < s->len + need)
        nc *= 2;
    s->p = realloc(s->p, nc);
    if (!s->p)
        die("out of memory");
    s->cap = nc;
}

static void sb_put(sbuf *s, const char *x, size_t n)
{
    sb_grow(s, n);
    memcpy(s->p + s->len, x, n);
    s->len += n;
}

static void sb_puts(sbuf *s, const char *x) { sb_put(s, x, strlen(x)); }

static void sb_putc(sbuf *s, char c)
{
    sb_grow(s, 1);
    s->p[s->len++] = c;
}

static void sb_u(sbuf *s, uint64_t v)
{
    char t[24];
    int i = 24;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sb_put(s, t + i, (size_t)(24 - i));
}

/* fixed point with d decimals: v = value * 10^d, may be negative */
static void sb_fix(sbuf *s, int64_t v, int d)
{
    int64_t p = 1;
    int i;
    char t[8];
    if (v < 0) {
        sb_putc(s, '-');
        v = -v;
    }
    for (i = 0; i < d; i++)
        p *= 10;
    sb_u(s, (uint64_t)(v / p));
    sb_putc(s, '.');
    v %= p;
    for (i = d - 1; i >= 0; i--) {
        t[i] = (char)('0' + v % 10);
        v /= 10;
    }
    sb_put(s, t, (size_t)d);
}

static void sb_hex(sbuf *s, uint64_t v, int digits)
{
    static const char hx[] = "0123456789abcdef";
    char t[16];
    int i;
    for (i = digits - 1; i >= 0; i--) {
        t[i] = hx[v & 15];
        v >>= 4;
    }
    sb_put(s, t, (size_t)digits);
}

/* ------------------------------------------------------------------ */
/* sessions: a connection (or a parent-only event) rendered in advance */

#define LF_CONT 1 /* continuation line: no pid (and no frame in logfile) */
#define LF_REAP 2 /* parent's "cleaning up after": the child is gone     */
#define LF_LT 4   /* logterse record (statistics only)                   */

typedef struct {
    int64_t t;      /* microseconds since the epoch */
    uint32_t off;   /* body offset in the session's text */
    uint32_t len;   /* body length */
    int32_t pid;    /* pid of the writer (for the logfile frame) */
    uint32_t flags; /* LF_* */
} line_t;

typedef struct sess {
    line_t *ln;          /* lines, in time order */
    size_t nln, capln;   /* used / allocated lines */
    size_t cur;          /* next line to write */
    sbuf txt;            /* line bodies */
    int is_child;        /* a forked child that counts against MAXCONN */
    int pid;             /* the child's pid */
    char ip[48];         /* the child's remote IP (hosts_allow per-IP limit) */
    struct sess *next;   /* free list */
} sess_t;

static sess_t *g_free;

static sess_t *sess_new(void)
{
    sess_t *s = g_free;
    if (s)
        g_free = s->next;
    else if (!(s = calloc(1, sizeof *s)))
        die("out of memory");
    s->nln = s->cur = 0;
    s->txt.len = 0;
    s->is_child = 0;
    s->pid = 0;
    s->ip[0] = 0;
    return s;
}

static void sess_free(sess_t *s)
{
    s->next = g_free;
    g_free = s;
}

/* builder state: current session, its clock, the pid writing */
static sess_t *S;
static int64_t T;
static sbuf *B;

static void adv(int64_t lo, int64_t hi) { T += rr(lo, hi); }

static void line_open(int pid, uint32_t flags)
{
    line_t *l;
    if (S->nln == S->capln) {
        S->capln = S->capln ? S->capln * 2 : 64;
        S->ln = realloc(S->ln, S->capln * sizeof *S->ln);
        if (!S->ln)
            die("out of memory");
    }
    l = &S->ln[S->nln];
    l->t = T;
    l->pid = pid;
    l->flags = flags;
    l->off = (uint32_t)B->len;
    if (g_framing != F_LOGFILE && !(flags & LF_CONT)) {
        sb_u(B, (uint64_t)pid);
        sb_putc(B, ' ');
    }
}

static void line_close(void)
{
    line_t *l = &S->ln[S->nln++];
    l->len = (uint32_t)(B->len - l->off);
}

/* core (non-plugin) line */
static void C0(int pid) { line_open(pid, 0); }

/* plugin line: the dialect's prefix (logging/file drops it) */
static void P0(int pid, const char *hook, const char *plugin)
{
    line_open(pid, 0);
    if (g_framing == F_LOGFILE)
        return;
    switch (g_dialect) {
    case D093:
        sb_putc(B, '(');
        sb_puts(B, hook);
        sb_puts(B, ") ");
        sb_puts(B, plugin);
        sb_puts(B, ": ");
        break;
    case D08X:
        sb_puts(B, plugin);
        sb_puts(B, " plugin (");
        sb_puts(B, hook);
        sb_puts(B, "): ");
        break;
    default:
        sb_puts(B, plugin);
        sb_puts(B, " plugin: ");
    }
}

#define A(x) sb_puts(B, (x))
#define AU(x) sb_u(B, (uint64_t)(x))
#define END() line_close()

/* ------------------------------------------------------------------ */
/* plugin names per dialect                                            */

enum {
    PL_EARLYTALKER, PL_HELO, PL_BADMAILFROM, PL_BADRCPTTO, PL_RCPT_OK,
    PL_RESOLV, PL_RHSBL, PL_DNSBL, PL_NAUGHTY, PL_SA, PL_LOGTERSE, PL_CTIME,
    PL_HOSTS_ALLOW, PL_TLS, PL_LOOP, PL_UNREC, PL_QMQ, PL_BMFPAT, PL_GOODRCPT,
    NPL
};

static const char *const plname093[NPL] = {
    "earlytalker", "helo", "badmailfrom", "badrcptto", "rcpt_ok",
    "resolvable_fromhost", "rhsbl", "dnsbl", "naughty", "spamassassin",
    "logging::logterse", "connection_time", "hosts_allow", "tls", "loop",
    "count_unrecognized_commands", "queue::qmail_2dqueue",
    "check_badmailfrom_patterns", "check_goodrcptto"};

/* SME 7/8 era (qpsmtpd 0.4x/0.8x) used the old check_* plugin names */
static const char *const plnameold[NPL] = {
    "check_earlytalker", "check_spamhelo", "check_badmailfrom",
    "check_badrcptto", "rcpt_ok", "require_resolvable_fromhost", "rhsbl",
    "dnsbl", "naughty", "spamassassin", "logging::logterse", "connection_time",
    "hosts_allow", "tls", "check_loop", "count_unrecognized_commands",
    "queue::qmail_2dqueue", "check_badmailfrom_patterns", "check_goodrcptto"};

static const char *pl(int id)
{
    return g_dialect == D093 ? plname093[id] : plnameold[id];
}

/* ------------------------------------------------------------------ */
/* vocabulary                                                          */

static const char *const words[] = {
    "acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark",
    "wayne", "wonka", "tyrell", "cyberdyne", "soylent", "monarch", "oscorp",
    "massive", "blue", "green", "red", "sun", "moon", "star", "cloud", "data",
    "net", "web", "mail", "shop", "bank", "travel", "health", "news", "media",
    "tech", "soft", "smart", "prime", "alpha", "omega", "delta", "nova",
    "city", "home", "best", "super", "mega", "ultra", "quick", "easy", "top",
    "first", "global", "euro", "asia", "nord", "sud", "east", "west", "river",
    "lake", "hill", "stone", "wood", "iron", "gold"};

static const char *const firstn[] = {
    "john", "mary", "peter", "anna", "paul", "susan", "mike", "lisa", "david",
    "karen", "tom", "julia", "mark", "emma", "chris", "robert", "linda",
    "james", "sarah", "kevin", "laura", "daniel", "nina", "frank", "olga",
    "hans", "yuki", "pierre", "marco", "ingrid"};

static const char *const localuser[] = {
    "admin", "info", "sales", "support", "john", "mary", "peter", "anna",
    "billing", "office", "jobs", "paul", "susan", "mike", "lisa", "david",
    "karen", "tom", "julia", "mark", "webmaster", "accounts", "hr", "news",
    "robert", "linda", "james", "emma", "chris", "orders"};

static const char *const localdom[] = {"example.com", "example.net", "example.org"};

static const char *const freemail[] = {
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "gmx.de",
    "web.de", "aol.com", "yahoo.co.jp", "btinternet.co.uk", "orange.fr",
    "libero.it", "mail.ru", "qq.com", "icloud.com", "t-online.de"};

static const char *const tld_ham[] = {
    "com", "net", "org", "de", "co.uk", "fr", "it", "nl", "co.jp", "jp",
    "com.au", "ca", "edu", "info", "ch", "com.br", "es", "se", "at", "be",
    "us", "io"};
static const int tld_ham_w[] = {
    400, 90, 70, 60, 45, 25, 18, 18, 15, 10, 15, 15, 15, 15, 10, 12, 12, 8,
    8, 8, 8, 8};

static const char *const tld_spam[] = {
    "com", "top", "xyz", "win", "info", "ru", "cn", "biz", "click", "club",
    "online", "site", "download", "bid", "date", "racing", "loan", "net",
    "work", "pw", "in", "za"};
static const int tld_spam_w[] = {
    250, 150, 110, 50, 70, 50, 40, 30, 25, 25, 25, 25, 20, 20, 18, 15, 15,
    40, 15, 12, 10, 5};

/* append a domain; spam domains use spammy TLDs */
static void a_domain(int spam)
{
    if (!spam && pm(300000)) {
        A(PICK(freemail));
        return;
    }
    if (spam && pm(150000)) {
        A(PICK(words));
        AU(rnd(1000));
    } else {
        A(PICK(words));
        if (pm(500000))
            A(PICK(words));
    }
    sb_putc(B, '.');
    if (spam)
        A(tld_spam[pickw(tld_spam_w, NEL(tld_spam_w))]);
    else
        A(tld_ham[pickw(tld_ham_w, NEL(tld_ham_w))]);
}

/* ------------------------------------------------------------------ */
/* per-connection identity                                             */

typedef struct {
    char ip[48];
    char host[96];    /* TCPREMOTEHOST as in "Accepted connection" */
    char rhost[96];   /* sanitized remote_host (logterse, Connection from) */
    char helo[128];
    char sender[160]; /* "<u@d>" or "<>" */
    char sdom[96];    /* sender domain */
    int spam;         /* spammy client */
    int v6;
} ident_t;

static void sprint_str(char *dst, size_t cap, sbuf *tmp)
{
    size_t n = tmp->len < cap - 1 ? tmp->len : cap - 1;
    memcpy(dst, tmp->p, n);
    dst[n] = 0;
}

static sbuf g_tmp;

/* generate an IP (v4 mostly) into id->ip */
static void gen_ip(ident_t *id, int spam)
{
    static const int o1_ham[] = {209, 74, 66, 40, 52, 17, 64, 212, 213, 217, 80, 82, 193, 194, 195, 62, 85, 87, 88, 91};
    static const int o1_spam[] = {185, 45, 91, 103, 177, 190, 200, 186, 41, 36, 113, 117, 5, 31, 37, 46, 78, 94, 109, 176, 179, 181, 187, 189, 201};
    sbuf *save = B;
    B = &g_tmp;
    B->len = 0;
    id->v6 = pm(30000);
    if (id->v6) {
        static const char *const p6[] = {"2a01:4f8:", "2607:f8b0:", "2a00:1450:", "2001:41d0:", "2a02:c207:", "2001:470:", "2604:a880:"};
        A(PICK(p6));
        sb_hex(B, rnd(0xfff) + 1, 3);
        sb_putc(B, ':');
        sb_hex(B, rnd(0xffff), 4);
        A("::");
        sb_hex(B, rnd(0xfff) + 1, 3);
    } else {
        AU(spam ? PICK(o1_spam) : PICK(o1_ham));
        sb_putc(B, '.');
        AU(rnd(256));
        sb_putc(B, '.');
        AU(rnd(256));
        sb_putc(B, '.');
        AU(rnd(254) + 1);
    }
    sprint_str(id->ip, sizeof id->ip, B);
    B = save;
}

/* host, helo, sender for a connection whose ip is already set */
static void gen_ident(ident_t *id, int spam)
{
    sbuf *save = B;
    const char *p;
    char *q;
    B = &g_tmp;
    id->spam = spam;

    /* PTR name */
    B->len = 0;
    if (pm(spam ? 450000 : 200000)) {
        A("Unknown");
    } else if (spam && !id->v6) {
        static const char *const dyn[] = {".dynamic.", ".static.", ".dsl.", ".pool.", ".cable.", ".ip.", ".adsl."};
        for (p = id->ip; *p; p++)
            sb_putc(B, *p == '.' ? '-' : *p);
        A(PICK(dyn));
        A(PICK(words));
        A(pm(500000) ? "telecom." : "net.");
        A(PICK(tld_spam));
    } else {
        static const char *const pre[] = {"mail", "mx", "smtp", "out", "mta", "relay", "mail-out", "mx1", "mx2", "smtp2"};
        /* rarely a '_', which tcpenv strips from remote_host */
        A(pm(1000) ? "mail_out" : PICK(pre));
        if (pm(300000)) {
            sb_putc(B, '-');
            AU(rnd(100));
        }
        sb_putc(B, '.');
        a_domain(spam);
    }
    sprint_str(id->host, sizeof id->host, B);
    /* remote_host keeps only [A-Za-z0-9.\-\[\]] */
    for (p = id->host, q = id->rhost; *p && q < id->rhost + sizeof id->rhost - 1; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '-' || *p == '[' || *p == ']')
            *q++ = *p;
    *q = 0;

    /* HELO */
    B->len = 0;
    {
        uint32_t r = rnd(100);
        if (r < 55 && strcmp(id->host, "Unknown") != 0)
            A(id->rhost);
        else if (r < 70) {
            sb_putc(B, '[');
            A(id->ip);
            sb_putc(B, ']');
        } else if (r < 92) {
            A(PICK(words));
            AU(rnd(100));
            sb_putc(B, '.');
            a_domain(spam);
        } else {
            static const char *const odd[] = {"localhost", "User", "ylmf-pc", "WIN-7F3K2", "mail", "smtp.gmail.com", "example.com"};
            A(PICK(odd));
        }
    }
    sprint_str(id->helo, sizeof id->helo, B);

    /* sender */
    B->len = 0;
    if (pm(spam ? 30000 : 60000)) {
        A("<>");
        id->sdom[0] = 0;
    } else {
        size_t at;
        sb_putc(B, '<');
        {
            uint32_t r = rnd(100);
            if (spam && r < 40) {
                int i, n = 4 + (int)rnd(8);
                for (i = 0; i < n; i++)
                    sb_putc(B, (char)('a' + rnd(26)));
                if (pm(500000))
                    AU(rnd(10000));
            } else if (r < 55) {
                A(PICK(firstn));
                if (pm(400000)) {
                    sb_putc(B, '.');
                    A(PICK(words));
                }
            } else if (r < 75) {
                static const char *const role[] = {"info", "noreply", "newsletter", "no-reply", "sales", "news", "support", "billing", "marketing", "notifications"};
                A(PICK(role));
            } else {
                A("bounce-");
                AU(rnd(1000000));
                sb_putc(B, '-');
                sb_hex(B, rnd64(), 8);
            }
        }
        sb_putc(B, '@');
        at = B->len;
        a_domain(spam);
        if (pm(5000)) { /* occasional upper case domain */
            size_t i;
            for (i = at; i < B->len; i++)
                if (B->p[i] >= 'a' && B->p[i] <= 'z')
                    B->p[i] = (char)(B->p[i] - 32);
        }
        {
            size_t n = B->len - at < sizeof id->sdom - 1 ? B->len - at : sizeof id->sdom - 1;
            memcpy(id->sdom, B->p + at, n);
            id->sdom[n] = 0;
        }
        sb_putc(B, '>');
    }
    sprint_str(id->sender, sizeof id->sender, B);
    B = save;
}

/* ------------------------------------------------------------------ */
/* logterse record                                                     */

static int g_parent;    /* parent pid */
static int g_pid;       /* pid of the current child */
static int g_nchildren; /* children alive */

/* dialect-specific spam field for a given score (tenths) */
static void a_spamfield(int64_t score10, int spam)
{
    A(spam ? "Yes, " : "No, ");
    A(g_dialect == D093 ? "score=" : "hits=");
    sb_fix(B, score10, 1);
    A(" required=5.0");
    if (g_dialect != D093)
        sb_putc(B, '_');
}

/* write the record; text may contain TAB or CRLF (kept verbatim) */
static void LT(int pid, const char *hook, const ident_t *id, int helo_ok,
               int sender_ok, const char *rcpts, const char *disp,
               const char *code, const char *text, const char *spamfield)
{
    const char *nl;
    P0(pid, hook, pl(PL_LOGTERSE));
    S->ln[S->nln].flags |= LF_LT;
    A(g_framing == F_LOGFILE ? "`" : "` ");
    if (id) {
        A(id->ip);
        sb_putc(B, '\t');
        A(id->rhost);
        sb_putc(B, '\t');
        if (helo_ok)
            A(id->helo);
        sb_putc(B, '\t');
        if (sender_ok)
            A(id->sender);
        sb_putc(B, '\t');
    } else {
        A("\t\t\t\t");
    }
    A(rcpts);
    sb_putc(B, '\t');
    A(disp);
    sb_putc(B, '\t');
    A(code);
    sb_putc(B, '\t');
    /* an embedded LF starts a continuation line without pid */
    while ((nl = strchr(text, '\n')) != NULL) {
        sb_put(B, text, (size_t)(nl - text));
        END();
        line_open(pid, LF_CONT);
        text = nl + 1;
    }
    A(text);
    if (spamfield) {
        sb_putc(B, '\t');
        A(spamfield);
    }
    END();
}

#define DBQ "msg denied before queued"

/* ------------------------------------------------------------------ */
/* SMTP conversation pieces                                            */

typedef struct {
    ident_t id;
    int64_t t0;        /* accept time */
    sbuf rcpts;        /* accepted recipients "<a>,<b>" */
    int helo_ok;       /* helo_host set */
    int sender_ok;     /* sender set */
    int ehlo;          /* EHLO (vs HELO) */
    int slow;          /* slow client (flood) */
} conn_t;

static conn_t K;
static char g_text[2048]; /* scratch for deny texts */

static void client_delay(void)
{
    if (K.slow)
        adv(2000000, 15000000);
    else
        adv(3000, pm(100000) ? 900000 : 120000);
}

static void srv(void) { adv(40, 900); }

static void reply(const char *txt)
{
    srv();
    C0(g_pid);
    A(txt);
    END();
}

/* accepted recipients as a C string */
static const char *rcpts(void)
{
    sb_grow(&K.rcpts, 1);
    K.rcpts.p[K.rcpts.len] = 0;
    return K.rcpts.p;
}

static void a_sess_time(void)
{
    int64_t us = T - K.t0;
    int64_t ms = (us + 500) / 1000;
    sb_fix(B, ms, 3);
}

static void conn_end(int mode)
{
    /* mode 0: server disconnect, 1: QUIT, 2: client drop, 3: timeout */
    if (mode == 1) {
        client_delay();
        C0(g_pid), A("dispatching QUIT"), END();
        reply("221 " ME " closing connection. Have a wonderful day.");
    }
    if (mode == 3) {
        adv(60000000, 300000000);
        C0(g_pid), A("Connection Timed Out"), END();
    } else {
        if (mode != 2) {
            srv();
            C0(g_pid), A("click, disconnecting"), END();
        } else {
            adv(1000, 3000000);
        }
        srv();
        srv();
        P0(g_pid, "post-connection", pl(PL_CTIME));
        if (g_dialect == D093) {
            a_sess_time();
            A(" s.");
        } else {
            A("Connection time from ");
            A(K.id.ip);
            A(": ");
            a_sess_time();
            A(" sec.");
        }
        END();
    }
    adv(5000, 900000);
    C0(g_parent), A("cleaning up after "), AU(g_pid), END();
    S->ln[S->nln - 1].flags |= LF_REAP;
}

/* deny reply after a record */
static void deny_reply(const char *code3, const char *text)
{
    srv();
    C0(g_pid);
    A(code3);
    sb_putc(B, ' ');
    A(text);
    END();
}

/* rare TAB inside a deny text (about 1 in 5000 records) */
static const char *maybe_tab(const char *text)
{
    char *sp;
    if (!pm(200) || text != g_text)
        return text;
    sp = strchr(g_text, ' ');
    if (sp)
        *sp = '\t';
    return text;
}

static void tcopy(const char *a, const char *b, const char *c)
{
    snprintf(g_text, sizeof g_text, "%s%s%s", a, b ? b : "", c ? c : "");
}

/* a DNSBL TXT / zone message for the current IP */
static void dnsbl_text(char *dst, size_t cap, const char **zone)
{
    uint32_t r = rnd(100);
    const char *ip = K.id.ip;
    if (r < 35) {
        *zone = "zen.spamhaus.org";
        snprintf(dst, cap, "http://www.spamhaus.org/query/bl?ip=%s", ip);
    } else if (r < 50) {
        *zone = "zen.spamhaus.org";
        snprintf(dst, cap, "https://www.spamhaus.org/query/ip/%s", ip);
    } else if (r < 72) {
        *zone = "bl.spamcop.net";
        snprintf(dst, cap, "Blocked - see https://www.spamcop.net/bl.shtml?%s", ip);
    } else if (r < 80) {
        *zone = "b.barracudacentral.org";
        snprintf(dst, cap, "Client host [%s] blocked using b.barracudacentral.org; http://www.barracudanetworks.com/reputation/?pr=1&ip=%s", ip, ip);
    } else if (r < 86) {
        *zone = "psbl.surriel.com";
        snprintf(dst, cap, "Listed in PSBL, see http://psbl.org/listing?ip=%s", ip);
    } else if (r < 94) {
        *zone = "zen.spamhaus.org";
        snprintf(dst, cap, "Blocked - listed in zen.spamhaus.org");
    } else {
        *zone = "dnsbl.sorbs.net";
        snprintf(dst, cap, "Blocked by dnsbl.sorbs.net");
    }
}

static void greet(void)
{
    srv();
    C0(g_pid);
    A("220 " ME " ESMTP qpsmtpd ");
    A(g_dialect == D093 ? "0.94" : g_dialect == D08X ? "0.84" : "0.40");
    A(" ready; send us your mail, but not your spam.");
    END();
}

static void ehlo_replies(void)
{
    srv();
    C0(g_pid);
    if (K.ehlo) {
        A("250-" ME " Hi "), A(K.id.rhost), A(" ["), A(K.id.ip), A("]"), END();
        C0(g_pid), A("250-PIPELINING"), END();
        C0(g_pid), A("250-8BITMIME"), END();
        C0(g_pid), A("250 STARTTLS"), END();
    } else {
        A("250 " ME " Hi "), A(K.id.rhost), A(" ["), A(K.id.ip), A("]; I am so happy to meet you."), END();
    }
}

/* append a local recipient address */
static void a_local_rcpt(void)
{
    sb_putc(B, '<');
    A(PICK(localuser));
    sb_putc(B, '@');
    A(localdom[rnd(10) < 7 ? 0 : 1 + rnd(2)]);
    sb_putc(B, '>');
}

/* ------------------------------------------------------------------ */
/* connection kinds                                                    */

enum {
    K_QUEUED, K_DNSBL, K_RHSBL, K_NAUGHTY, K_SA, K_EARLY, K_HELO, K_BMF,
    K_BADRCPT, K_RCPTOK, K_RESOLV, K_TLS, K_LOOP, K_UNREC, K_NONE_QUIT,
    K_NONE_DROP, K_NONE_TIMEOUT, K_NONE_RSET, NK
};

/* per-mille weights for ordinary arrivals */
static const int kind_w[NK] = {
    /* QUEUED */ 380, /* DNSBL */ 150, /* RHSBL */ 45, /* NAUGHTY */ 45,
    /* SA */ 40, /* EARLY */ 20, /* HELO */ 25, /* BMF */ 18,
    /* BADRCPT */ 14, /* RCPTOK */ 22, /* RESOLV */ 50, /* TLS */ 18,
    /* LOOP */ 3, /* UNREC */ 10, /* NONE_QUIT */ 45, /* NONE_DROP */ 25,
    /* NONE_TIMEOUT */ 5, /* NONE_RSET */ 10};

/* spam bots (bursts, floods) */
static const int kind_w_bot[NK] = {
    /* QUEUED */ 40, /* DNSBL */ 330, /* RHSBL */ 60, /* NAUGHTY */ 90,
    /* SA */ 30, /* EARLY */ 60, /* HELO */ 60, /* BMF */ 20,
    /* BADRCPT */ 10, /* RCPTOK */ 40, /* RESOLV */ 60, /* TLS */ 20,
    /* LOOP */ 0, /* UNREC */ 30, /* NONE_QUIT */ 20, /* NONE_DROP */ 30,
    /* NONE_TIMEOUT */ 5, /* NONE_RSET */ 5};

/* the connect phase: Accepted ... 220; returns 0 if the connection ended */
static int phase_connect(int kind, int dnsbl_at_connect)
{
    C0(g_pid), A("Accepted connection "), AU(g_nchildren - 1), sb_putc(B, '/'), AU(MAXCONN);
    A(" from "), A(K.id.ip), A(" / "), A(K.id.host), END();
    adv(30, 400);
    C0(g_pid), A("Connection from "), A(K.id.rhost), A(" ["), A(K.id.ip), A("]"), END();
    if (kind == K_DNSBL && dnsbl_at_connect) {
        const char *zone;
        adv(2000, 300000);
        dnsbl_text(g_text, sizeof g_text, &zone);
        if (g_dialect == D093) {
            P0(g_pid, "connect", pl(PL_DNSBL)), A("karma -1 (-1)"), END();
            P0(g_pid, "connect", pl(PL_DNSBL)), A("fail, "), A(zone), END();
        }
        srv();
        LT(g_pid, "deny", &K.id, 0, 0, "", pl(PL_DNSBL), "901", maybe_tab(g_text), DBQ);
        deny_reply("550", g_text);
        conn_end(0);
        return 0;
    }
    if (g_dialect == D093) {
        adv(2000, 200000);
        P0(g_pid, "connect", pl(PL_DNSBL)), A("pass"), END();
    }
    if (kind == K_EARLY) {
        adv(100000, 1000000);
        if (g_dialect == D093) {
            P0(g_pid, "connect", pl(PL_EARLYTALKER)), A("karma -1 (-1)"), END();
            P0(g_pid, "connect", pl(PL_EARLYTALKER)), A("fail, remote started talking before we said hello"), END();
        } else {
            P0(g_pid, "connect", pl(PL_EARLYTALKER)), A("remote host started talking before we said hello ["), A(K.id.ip), A("]"), END();
        }
        srv();
        tcopy("Connecting host started transmitting before SMTP greeting", NULL, NULL);
        LT(g_pid, "deny", &K.id, 0, 0, "", pl(PL_EARLYTALKER), "901", maybe_tab(g_text), DBQ);
        deny_reply("550", g_text);
        conn_end(0);
        return 0;
    }
    adv(1000000, 1004000); /* earlytalker wait 1 */
    P0(g_pid, "connect", pl(PL_EARLYTALKER));
    A(g_dialect == D093 ? "pass, not spontaneous" : "remote host said nothing spontaneous, proceeding");
    END();
    greet();
    return 1;
}

/* junk from HTTP probes and broken clients; returns 0 if disconnected */
static int phase_unrec(void)
{
    static const char *const junk[] = {"GET / HTTP/1.1", ("Host: " ME), "User-Agent: Mozilla/5.0", "Accept: */*", "XXXX", "AUTH"};
    static const char *const lc[] = {"get", "host:", "user-agent:", "accept:", "xxxx", "auth"};
    int i, n = 4;
    for (i = 0; i < n; i++) {
        client_delay();
        C0(g_pid), A("dispatching "), A(junk[i]), END();
        srv();
        if (i < n - 1) {
            P0(g_pid, "unrecognized_command", pl(PL_UNREC));
            if (g_dialect == D093)
                sb_putc(B, '\''), A(lc[i]), A("', ("), AU(i + 1), sb_putc(B, ')');
            else
                A("Unrecognized command '"), A(lc[i]), sb_putc(B, '\'');
            END();
            reply("500 Unrecognized command");
        } else {
            if (g_dialect == D093) {
                P0(g_pid, "unrecognized_command", pl(PL_UNREC));
                A("fail, '"), A(lc[i]), A("' ("), AU(i + 1), sb_putc(B, ')'), END();
            }
            snprintf(g_text, sizeof g_text, "Closing connection, %d unrecognized commands. Perhaps you should read RFC 2821?", n);
            LT(g_pid, "deny", &K.id, K.helo_ok, 0, "", pl(PL_UNREC), "903", maybe_tab(g_text), DBQ);
            deny_reply("521", g_text);
            conn_end(0);
            return 0;
        }
    }
    return 1;
}

static int phase_ehlo(int kind)
{
    client_delay();
    K.ehlo = pm(850000);
    if (kind == K_HELO) {
        uint32_t r = rnd(100);
        const char *code = "903";
        if (g_dialect == D093) {
            if (r < 40) {
                /* plain IP as helo */
                if (!K.id.v6)
                    strcpy(K.id.helo, K.id.ip);
                C0(g_pid), A(K.ehlo ? "dispatching EHLO " : "dispatching HELO "), A(K.id.helo), END();
                srv();
                P0(g_pid, K.ehlo ? "ehlo" : "helo", pl(PL_HELO)), A("fail, plain IP"), END();
                tcopy("Plain IP is invalid HELO hostname (RFC 2821)", NULL, NULL);
            } else if (r < 80) {
                C0(g_pid), A(K.ehlo ? "dispatching EHLO " : "dispatching HELO "), A(K.id.helo), END();
                srv();
                P0(g_pid, K.ehlo ? "ehlo" : "helo", pl(PL_HELO)), A("fail, in badhelo"), END();
                tcopy("I do not believe you are ", K.id.helo, ".");
            } else {
                C0(g_pid), A(K.ehlo ? "dispatching EHLO " : "dispatching HELO "), A(K.id.helo), END();
                adv(1000, 300000);
                P0(g_pid, K.ehlo ? "ehlo" : "helo", pl(PL_HELO)), A("fail, no forward DNS"), END();
                tcopy("HELO hostname did not resolve", NULL, NULL);
            }
        } else {
            code = "901";
            C0(g_pid), A(K.ehlo ? "dispatching EHLO " : "dispatching HELO "), A(K.id.helo), END();
            srv();
            tcopy("Sorry, I don't believe that you are ", K.id.helo, ".");
        }
        srv();
        LT(g_pid, "deny", &K.id, 0, 0, "", pl(PL_HELO), code, maybe_tab(g_text), DBQ);
        deny_reply("550", g_text);
        conn_end(code[2] == '3' ? 0 : (pm(500000) ? 1 : 2));
        return 0;
    }
    C0(g_pid), A(K.ehlo ? "dispatching EHLO " : "dispatching HELO "), A(K.id.helo), END();
    if (g_dialect == D093) {
        adv(200, 200000);
        P0(g_pid, K.ehlo ? "ehlo" : "helo", pl(PL_HELO)), A("pass"), END();
    }
    ehlo_replies();
    K.helo_ok = 1;
    return 1;
}

static int phase_tls(void)
{
    client_delay();
    C0(g_pid), A("dispatching STARTTLS"), END();
    reply("220 Go ahead with TLS");
    adv(5000, 3000000);
    if (pm(600000)) {
        if (g_dialect == D093)
            P0(g_pid, "unrecognized_command", pl(PL_TLS)), A("fail, unable to establish SSL"), END();
        tcopy("Cannot establish SSL session", NULL, NULL);
        LT(g_pid, "deny", &K.id, 1, 0, "", pl(PL_TLS), "903", maybe_tab(g_text), DBQ);
        conn_end(0);
    } else {
        tcopy("TLS Negotiation Failed", NULL, NULL);
        LT(g_pid, "deny", &K.id, 1, 0, "", pl(PL_TLS), "901", maybe_tab(g_text), DBQ);
        deny_reply("550", g_text);
        conn_end(2);
    }
    return 0;
}

/* MAIL FROM; returns 0 if the connection ended, 2 if denied but continuing */
static int phase_mail(int kind)
{
    int null = K.id.sender[1] == '>';
    client_delay();
    C0(g_pid), A("dispatching MAIL FROM:"), A(K.id.sender);
    if (K.ehlo && pm(300000))
        A(" SIZE="), AU(rr(900, 3000000));
    END();
    srv();
    if (kind == K_BMF && !null) {
        static const char *const why[] = {"Your envelope sender is in my badmailfrom list", "Your envelope sender is in my badmailfrom list", "Go away, spammer", "sorry, your envelope sender is in my badmailfrom list"};
        if (g_dialect == D093) {
            P0(g_pid, "mail", pl(PL_BADMAILFROM)), A("karma -1 (-1)"), END();
            P0(g_pid, "mail", pl(PL_BADMAILFROM)), A("fail"), END();
        }
        tcopy(PICK(why), NULL, NULL);
        srv();
        LT(g_pid, "deny", &K.id, 1, 0, "", pl(PL_BADMAILFROM), "901", maybe_tab(g_text), DBQ);
        C0(g_pid), A("deny mail from "), A(K.id.sender), A(" ("), A(g_text), A(")"), END();
        deny_reply("550", g_text);
        conn_end(pm(700000) ? 1 : 2);
        return 0;
    }
    if (g_dialect == D093) {
        P0(g_pid, "mail", pl(PL_BADMAILFROM)), A("pass"), END();
        adv(500, 150000);
    }
    if (kind == K_RESOLV && !null) {
        int soft = pm(200000);
        if (g_dialect == D093) {
            P0(g_pid, "mail", pl(PL_RESOLV)), A("karma -1 (-1)"), END();
            P0(g_pid, "mail", pl(PL_RESOLV)), A(soft ? "fail, missing result" : "fail, NXDOMAIN"), END();
            tcopy(soft ? "Temporary address resolution failure (#4.4.3)" : "FQDN required in the envelope sender (#5.1.8)", NULL, NULL);
        } else if (soft) {
            tcopy("Could not resolve ", K.id.sdom, " (#4.4.3)");
        } else {
            tcopy("FQDN required in the envelope sender (#5.1.8)", NULL, NULL);
        }
        srv();
        LT(g_pid, "deny", &K.id, 1, 0, "", pl(PL_RESOLV), soft ? "902" : "901", maybe_tab(g_text), DBQ);
        C0(g_pid), A(soft ? "denysoft mail from " : "deny mail from "), A(K.id.sender), A(" ("), A(g_text), A(")"), END();
        deny_reply(soft ? "450" : "550", g_text);
        conn_end(pm(600000) ? 1 : 2);
        return 0;
    }
    if (g_dialect == D093) {
        P0(g_pid, "mail", pl(PL_RESOLV));
        if (null)
            A("pass, null sender");
        else
            A("pass, found MX for "), A(K.id.sdom);
        END();
        adv(500, 150000);
    }
    if (kind == K_RHSBL && !null && (g_dialect == D093 && pm(500000))) {
        /* 0.94 rhsbl denies at MAIL FROM: sender not recorded */
        static const char *const lists[] = {"dbl.spamhaus.org", "multi.surbl.org", "rhsbl.sorbs.net", "multi.uribl.com"};
        const char *z = PICK(lists);
        P0(g_pid, "mail", pl(PL_RHSBL)), A("fail, is listed in "), A(z), END();
        snprintf(g_text, sizeof g_text, "Mail from %s rejected because it is listed in %s", K.id.sdom, z);
        srv();
        LT(g_pid, "deny", &K.id, 1, 0, "", pl(PL_RHSBL), "901", maybe_tab(g_text), DBQ);
        C0(g_pid), A("deny mail from "), A(K.id.sender), A(" ("), A(g_text), A(")"), END();
        deny_reply("550", g_text);
        conn_end(pm(600000) ? 1 : 2);
        return 0;
    }
    if (g_dialect == D093) {
        P0(g_pid, "mail", pl(PL_RHSBL)), A(null ? "pass, null sender" : "pass"), END();
        if (kind == K_NAUGHTY && pm(400000)) {
            P0(g_pid, "mail", pl(PL_BADMAILFROM)), A("fail, NAUGHTY"), END();
        }
    }
    srv();
    C0(g_pid), A("250 "), A(K.id.sender), A(", sender OK - how exciting to get mail from you!"), END();
    K.sender_ok = 1;
    return 1;
}

/* one RCPT TO; deny is the kind of denial to apply to this recipient */
static int phase_rcpt(int deny)
{
    char addr[160];
    sbuf *save = B;
    client_delay();
    /* recipient address */
    B = &g_tmp;
    B->len = 0;
    if (deny == K_RCPTOK) {
        sb_putc(B, '<');
        A(PICK(firstn));
        sb_putc(B, '@');
        a_domain(0);
        sb_putc(B, '>');
    } else {
        a_local_rcpt();
    }
    sprint_str(addr, sizeof addr, B);
    B = save;

    C0(g_pid), A("dispatching RCPT TO:"), A(addr), END();
    srv();
    if (deny == K_DNSBL || deny == K_NAUGHTY || (deny == K_RHSBL)) {
        const char *disp, *code = "901";
        char tmp[1024];
        const char *zone = "";
        if (deny == K_DNSBL) {
            dnsbl_text(g_text, sizeof g_text, &zone);
            disp = pl(PL_DNSBL);
            if (g_dialect != D093 && pm(300000))
                code = "903";
            if (g_dialect == D093)
                P0(g_pid, "rcpt", pl(PL_DNSBL)), A("fail, "), A(zone), END();
        } else if (deny == K_RHSBL) {
            static const char *const lists[] = {"dbl.spamhaus.org", "multi.surbl.org", "rhsbl.sorbs.net", "multi.uribl.com"};
            disp = pl(PL_RHSBL);
            if (pm(150000))
                tcopy("Not supporting null originator (DSN)", NULL, NULL);
            else
                snprintf(g_text, sizeof g_text, "Mail from %s rejected because it is listed in %s", K.id.sdom, PICK(lists));
            if (g_dialect == D093)
                P0(g_pid, "rcpt", pl(PL_RHSBL)), A("fail, "), A(g_text), END();
        } else if (g_dialect == D093) {
            uint32_t r = rnd(1000);
            disp = pl(PL_NAUGHTY);
            /* r >= 995: two deferred rejections joined by CRLF (rare) */
            code = "903";
            if (r < 300) {
                dnsbl_text(tmp, sizeof tmp, &zone);
                snprintf(g_text, sizeof g_text, "(dnsbl) %s", tmp);
            } else if (r < 500) {
                snprintf(g_text, sizeof g_text, "(karma) very bad karma: -%d", 2 + (int)rnd(8));
            } else if (r < 650) {
                tcopy("Your envelope sender is in my badmailfrom list", NULL, NULL);
            } else if (r < 800) {
                dnsbl_text(g_text, sizeof g_text, &zone);
            } else if (r < 900) {
                tcopy("(helo) I do not believe you are ", K.id.helo, ".");
            } else if (r < 995) {
                tcopy("Mail from ", K.id.sdom, " rejected because it is listed in dbl.spamhaus.org");
            } else {
                /* two deferred rejections joined by CRLF */
                dnsbl_text(tmp, sizeof tmp, &zone);
                snprintf(g_text, sizeof g_text, "(dnsbl) %s\r\n(karma) very bad karma: -%d", tmp, 3 + (int)rnd(5));
            }
            P0(g_pid, "rcpt", pl(PL_NAUGHTY)), A("disconnecting"), END();
        } else {
            /* SME 7/8 had no naughty: pattern / goodrcptto checks instead */
            if (pm(500000)) {
                disp = pl(PL_BMFPAT);
                tcopy("Sorry, your envelope sender is in my badmailfrom patterns list", NULL, NULL);
            } else {
                disp = pl(PL_GOODRCPT);
                snprintf(g_text, sizeof g_text, "invalid recipient %s", addr);
            }
        }
        srv();
        LT(g_pid, "deny", &K.id, 1, 1, rcpts(), disp, code, maybe_tab(g_text), DBQ);
        deny_reply("550", strchr(g_text, '\n') ? "Your envelope sender is in my badmailfrom list" : g_text);
        if (code[2] == '1' && pm(250000)) {
            /* a plain DENY keeps the session: the bot tries more recipients */
            int n = 1 + (int)rnd(3);
            while (n--) {
                client_delay();
                B = &g_tmp;
                B->len = 0;
                a_local_rcpt();
                sprint_str(addr, sizeof addr, B);
                B = save;
                C0(g_pid), A("dispatching RCPT TO:"), A(addr), END();
                srv();
                if (disp == pl(PL_GOODRCPT))
                    snprintf(g_text, sizeof g_text, "invalid recipient %s", addr);
                if (g_dialect == D093 && deny == K_DNSBL)
                    P0(g_pid, "rcpt", pl(PL_DNSBL)), A("fail, "), A(zone), END();
                LT(g_pid, "deny", &K.id, 1, 1, rcpts(), disp, code, g_text, DBQ);
                deny_reply("550", g_text);
            }
        }
        conn_end(code[2] == '3' ? 0 : (pm(600000) ? 1 : 2));
        return 0;
    }
    if (deny == K_BADRCPT) {
        if (g_dialect == D093) {
            P0(g_pid, "rcpt", pl(PL_BADRCPTTO)), A("fail: rcpt match"), END();
            P0(g_pid, "rcpt", pl(PL_BADRCPTTO)), A("karma -2 (-2)"), END();
        }
        snprintf(g_text, sizeof g_text, g_dialect == D093 ? "mail to %.*s not accepted here (#5.1.1)" : "mail to %.*s not accepted here",
                 (int)strlen(addr) - 2, addr + 1);
        srv();
        LT(g_pid, "deny", &K.id, 1, 1, rcpts(), pl(PL_BADRCPTTO), "901", maybe_tab(g_text), DBQ);
        deny_reply("550", g_text);
        return 2;
    }
    if (g_dialect == D093)
        P0(g_pid, "rcpt", pl(PL_BADRCPTTO)), A("pass"), END();
    if (deny == K_RCPTOK) {
        const char *d = strchr(addr, '@') + 1;
        if (g_dialect == D093)
            P0(g_pid, "rcpt", pl(PL_RCPT_OK)), A("fail: "), sb_put(B, d, strlen(d) - 1), A(" not in morercpthosts"), END();
        tcopy("Relaying denied (#5.7.1)", NULL, NULL);
        LT(g_pid, "deny", &K.id, 1, 1, rcpts(), pl(PL_RCPT_OK), "901", maybe_tab(g_text), DBQ);
        deny_reply("550", g_text);
        return 2;
    }
    if (g_dialect == D093) {
        const char *d = strchr(addr, '@') + 1;
        P0(g_pid, "rcpt", pl(PL_RCPT_OK)), A("pass: "), sb_put(B, d, strlen(d) - 1), A(" in rcpthosts"), END();
    }
    srv();
    C0(g_pid), A("250 "), A(addr), A(", recipient ok"), END();
    if (K.rcpts.len)
        sb_putc(&K.rcpts, ',');
    sb_puts(&K.rcpts, addr);
    return 1;
}

static void a_msgid(void)
{
    uint32_t r = rnd(100);
    sb_putc(B, '<');
    if (r < 30) {
        static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        int i;
        A("CA");
        for (i = 0; i < 28; i++)
            sb_putc(B, b62[rnd(62)]);
        A("@mail.gmail.com");
    } else if (r < 55) {
        sb_hex(B, rnd64(), 16);
        sb_putc(B, '.');
        sb_hex(B, rnd64(), 8);
        sb_putc(B, '@');
        A(K.id.sdom[0] ? K.id.sdom : "localhost");
    } else if (r < 75) {
        AU(T / 1000000);
        sb_putc(B, '.');
        AU(rnd(100000));
        A(".qmail@");
        A(K.id.rhost);
    } else if (r < 90) {
        AU(rr(100000, 999999));
        sb_putc(B, '.');
        AU(rr(1000, 99999));
        A(".JavaMail.");
        A(PICK(words));
        sb_putc(B, '@');
        A(K.id.rhost);
    } else {
        sb_hex(B, rnd64(), 8);
        sb_putc(B, '-');
        sb_hex(B, rnd(65536), 4);
        sb_putc(B, '-');
        sb_hex(B, rnd(65536), 4);
        A("@");
        A(K.id.sdom[0] ? K.id.sdom : "example.invalid");
    }
    sb_putc(B, '>');
}

/* DATA through queue; returns 0 if the connection ended */
static int phase_data(int kind)
{
    int64_t score;
    char sf[96], mid[256];
    sbuf *save;
    client_delay();
    C0(g_pid), A("dispatching DATA"), END();
    reply("354 go ahead");
    if (K.slow)
        adv(5000000, 30000000);
    else
        adv(20000, pm(50000) ? 8000000 : 1500000);
    C0(g_pid), A("spooling message to disk"), END();
    if (kind == K_LOOP) {
        adv(1000, 20000);
        tcopy(g_dialect == D093 ? "Too many hops (#5.4.6)" : "Too many hops.  This message is looping.", NULL, NULL);
        LT(g_pid, "deny", &K.id, 1, 1, rcpts(), pl(PL_LOOP), "901", maybe_tab(g_text), DBQ);
        deny_reply("552", g_text);
        return 1;
    }
    adv(200000, pm(100000) ? 6000000 : 2500000); /* spamd */
    /* scores in tenths */
    if (kind == K_SA)
        score = rr(120, 450);
    else if (K.id.spam || pm(80000))
        score = pm(500000) ? rr(50, 119) : rr(-20, 49);
    else
        score = pm(800000) ? rr(-50, 20) : rr(21, 49);
    save = B;
    B = &g_tmp;
    B->len = 0;
    a_spamfield(score, score >= 50);
    sprint_str(sf, sizeof sf, B);
    B = save;
    if (g_dialect == D093) {
        if (pm(300000)) {
            P0(g_pid, "data_post", pl(PL_SA)), A(score >= 50 ? "karma -1 (-1)" : "karma 1 (1)"), END();
        }
        P0(g_pid, "data_post", pl(PL_SA));
        if (kind == K_SA) {
            A("fail, Spam, "), sb_fix(B, score, 1), A(", > 12, learn=spam");
        } else {
            A("pass, "), A(score >= 50 ? "Spam, " : "Ham, "), sb_fix(B, score, 1), A(" < 12");
            if (score < 0 && pm(300000))
                A(", learn=ham");
        }
        END();
    }
    srv();
    if (kind == K_SA) {
        tcopy("spam score exceeded threshold", g_dialect == D08X ? " (#5.6.1)" : NULL, NULL);
        LT(g_pid, "deny", &K.id, 1, 1, rcpts(), pl(PL_SA), "901", maybe_tab(g_text), sf);
        deny_reply("552", g_text);
        return 1;
    }
    /* queued */
    save = B;
    B = &g_tmp;
    B->len = 0;
    if (pm(3000))
        A("<>");
    else
        a_msgid();
    sprint_str(mid, sizeof mid, B);
    B = save;
    LT(g_pid, "queue", &K.id, 1, 1, rcpts(), "queued", "", mid, pm(1500) ? "" : sf);
    adv(300, 3000);
    /* written by the forked qmail-queue helper: another pid */
    P0(g_pid + 1, "queue", pl(PL_QMQ));
    A("(for "), AU(g_pid);
    if (g_dialect == D093)
        A(") Queuing to /var/qmail/bin/qmail-queue");
    else
        A(" ) Queuing qp "), AU(g_pid + 1), A(" to /var/qmail/bin/qmail-queue");
    END();
    adv(2000, 60000);
    if (pm(8000)) {
        static const char *const ec[] = {"74", "81", "53", "71"};
        tcopy("Unable to queue message (", PICK(ec), ")");
        LT(g_pid, "deny", &K.id, 1, 1, rcpts(), pl(PL_QMQ), "902", g_text, DBQ);
        deny_reply("451", g_text);
    } else {
        srv();
        C0(g_pid), A("250 Queued! "), AU(T / 1000000), A(" qp "), AU(g_pid + 1), sb_putc(B, ' '), A(mid), END();
    }
    return 1;
}

/* a whole connection */
static void gen_connection(int kind)
{
    int nrcpt, ndeny, i, r;
    K.t0 = T;
    K.rcpts.len = 0;
    K.helo_ok = K.sender_ok = 0;

    if (!phase_connect(kind, kind == K_DNSBL && (g_dialect == D093 ? pm(300000) : pm(100000))))
        return;
    if (kind == K_UNREC && !phase_unrec())
        return;
    if (kind == K_NONE_TIMEOUT) {
        if (pm(500000))
            phase_ehlo(kind);
        conn_end(3);
        return;
    }
    if (!phase_ehlo(kind))
        return;
    if (kind == K_TLS) {
        phase_tls();
        return;
    }
    if (kind == K_NONE_QUIT || (kind == K_NONE_DROP && pm(500000))) {
        conn_end(kind == K_NONE_QUIT ? 1 : 2);
        return;
    }
    for (;;) { /* transactions */
        K.sender_ok = 0;
        K.rcpts.len = 0;
        r = phase_mail(kind);
        if (r == 0)
            return;
        if (kind == K_NONE_DROP) {
            conn_end(2);
            return;
        }
        if (kind == K_NONE_RSET) {
            client_delay();
            C0(g_pid), A("dispatching RSET"), END();
            reply("250 OK");
            conn_end(1);
            return;
        }
        nrcpt = pm(850000) ? 1 : pm(700000) ? 2 : 2 + (int)rnd(6);
        ndeny = 0;
        if (kind == K_BADRCPT || kind == K_RCPTOK) {
            /* dictionary attack / relay probe (all refused) or one bad address */
            ndeny = pm(550000) ? 1 + (int)rnd(5) : 1;
            if (ndeny > 1 || pm(400000))
                nrcpt = ndeny;
            else if (nrcpt < 2)
                nrcpt = 2;
        }
        for (i = 0; i < nrcpt; i++) {
            int deny = 0;
            if (i == 0 && (kind == K_DNSBL || kind == K_NAUGHTY || kind == K_RHSBL))
                deny = kind;
            else if (kind == K_BADRCPT && i >= nrcpt - ndeny)
                deny = K_BADRCPT;
            else if (kind == K_RCPTOK && i < ndeny)
                deny = K_RCPTOK;
            else if (kind == K_QUEUED && pm(15000))
                deny = K_BADRCPT;
            else if (kind == K_QUEUED && pm(20000))
                deny = K_RCPTOK;
            r = phase_rcpt(deny);
            if (r == 0)
                return;
        }
        if (K.rcpts.len == 0) {
            /* nothing accepted: the client gives up */
            conn_end(pm(700000) ? 1 : 2);
            return;
        }
        if (kind == K_BADRCPT || kind == K_RCPTOK)
            kind = K_QUEUED;
        if (!phase_data(kind))
            return;
        if (kind == K_QUEUED && pm(40000)) {
            kind = pm(800000) ? K_QUEUED : K_SA;
            continue; /* another transaction on the same connection */
        }
        break;
    }
    conn_end(pm(900000) ? 1 : 2);
}

/* ------------------------------------------------------------------ */
/* output                                                              */

#define OBUF (16u << 20)
static char *g_out;
static size_t g_olen;
static uint64_t g_written;
static FILE *g_fp;
static uint64_t g_nlines, g_nlt;

static void oflush(void)
{
    if (g_olen && fwrite(g_out, 1, g_olen, g_fp) != g_olen) {
        fprintf(stderr, "genlog: write error: %s\n", strerror(errno));
        exit(1);
    }
    g_olen = 0;
}

static const char *const wday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* civil date from days since 1970-01-01 (H. Hinnant) */
static void civil(int64_t z, int *y, int *m, int *d)
{
    int64_t era, yoe, doy, mp, yy;
    uint64_t doe;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (uint64_t)(z - era * 146097);
    yoe = (int64_t)((doe - doe / 1460 + doe / 36524 - doe / 146096) / 365);
    yy = yoe + era * 400;
    doy = (int64_t)doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

static char g_fr[128];     /* cached per-second part of the frame */
static size_t g_frlen;
static int64_t g_frsec = INT64_MIN;

static void d2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

static void frame_sec(int64_t sec)
{
    static const char hx[] = "0123456789abcdef";
    int64_t loc = sec + g_tzoff, days, sod;
    int y, m, d, i;
    char *p = g_fr;
    g_frsec = sec;
    days = loc >= 0 ? loc / 86400 : -((-loc + 86399) / 86400);
    sod = loc - days * 86400;
    civil(days, &y, &m, &d);
    switch (g_framing) {
    case F_MULTILOG: {
        uint64_t s = 4611686018427387914ULL + (uint64_t)sec;
        *p++ = '@';
        for (i = 15; i >= 0; i--)
            p[i] = hx[s & 15], s >>= 4;
        p += 16;
        break;
    }
    case F_TAI64NLOCAL:
        p += sprintf(p, "%04d-", y);
        d2(p, m), p[2] = '-', p += 3;
        d2(p, d), p[2] = ' ', p += 3;
        d2(p, (int)(sod / 3600)), p[2] = ':', p += 3;
        d2(p, (int)(sod / 60 % 60)), p[2] = ':', p += 3;
        d2(p, (int)(sod % 60)), p[2] = '.', p += 3;
        break;
    case F_LOGFILE:
        memcpy(p, wday[((days % 7) + 11) % 7], 3), p[3] = ' ', p += 4;
        memcpy(p, mon[m - 1], 3), p[3] = ' ', p += 4;
        d2(p, d), p[2] = ' ', p += 3;
        d2(p, (int)(sod / 3600)), p[2] = ':', p += 3;
        d2(p, (int)(sod / 60 % 60)), p[2] = ':', p += 3;
        d2(p, (int)(sod % 60)), p[2] = ' ', p += 3;
        p += sprintf(p, "%04d " SYSHOST "[", y);
        break;
    default: /* syslog */
        memcpy(p, mon[m - 1], 3), p[3] = ' ', p += 4;
        if (d < 10)
            *p++ = ' ', *p++ = (char)('0' + d);
        else
            d2(p, d), p += 2;
        *p++ = ' ';
        d2(p, (int)(sod / 3600)), p[2] = ':', p += 3;
        d2(p, (int)(sod / 60 % 60)), p[2] = ':', p += 3;
        d2(p, (int)(sod % 60)), p[2] = ' ', p += 3;
        p += sprintf(p, SYSHOST " qpsmtpd-forkserver[%d]: ", g_parent);
        break;
    }
    g_frlen = (size_t)(p - g_fr);
}

static void emit(const sess_t *s, const line_t *l)
{
    static const char hx[] = "0123456789abcdef";
    int64_t sec = l->t / 1000000;
    uint32_t us = (uint32_t)(l->t % 1000000);
    char *p;
    int i;
    if (g_olen + l->len + 256 > OBUF)
        oflush();
    if (l->len + 256 > OBUF)
        die("line too long");
    p = g_out + g_olen;
    if (!(g_framing == F_LOGFILE && (l->flags & LF_CONT))) {
        if (sec != g_frsec)
            frame_sec(sec);
        memcpy(p, g_fr, g_frlen);
        p += g_frlen;
        switch (g_framing) {
        case F_MULTILOG: {
            uint32_t ns = us * 1000 + 500;
            for (i = 7; i >= 0; i--)
                p[i] = hx[ns & 15], ns >>= 4;
            p[8] = ' ';
            p += 9;
            break;
        }
        case F_TAI64NLOCAL: {
            uint32_t ns = us * 1000 + 500;
            for (i = 8; i >= 0; i--)
                p[i] = (char)('0' + ns % 10), ns /= 10;
            p[9] = ' ';
            p += 10;
            break;
        }
        case F_LOGFILE: {
            char t[12];
            uint32_t v = (uint32_t)l->pid;
            int n = 12;
            do
                t[--n] = (char)('0' + v % 10), v /= 10;
            while (v);
            memcpy(p, t + n, (size_t)(12 - n));
            p += 12 - n;
            *p++ = ']';
            *p++ = ':';
            *p++ = ' ';
            break;
        }
        default:
            break;
        }
    }
    memcpy(p, s->txt.p + l->off, l->len);
    p += l->len;
    *p++ = '\n';
    g_written += (uint64_t)(p - (g_out + g_olen));
    g_olen = (size_t)(p - g_out);
    g_nlines++;
    if (l->flags & LF_LT)
        g_nlt++;
}

/* ------------------------------------------------------------------ */
/* event loop: a heap of sessions ordered by their next line's time   */

static sess_t **g_heap;
static size_t g_nheap, g_capheap;

static int64_t key(const sess_t *s) { return s->ln[s->cur].t; }

static void heap_down(size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        sess_t *t;
        if (l < g_nheap && key(g_heap[l]) < key(g_heap[m]))
            m = l;
        if (l + 1 < g_nheap && key(g_heap[l + 1]) < key(g_heap[m]))
            m = l + 1;
        if (m == i)
            return;
        t = g_heap[i], g_heap[i] = g_heap[m], g_heap[m] = t;
        i = m;
    }
}

static void heap_push(sess_t *s)
{
    size_t i;
    if (s->nln == 0) {
        sess_free(s);
        return;
    }
    if (g_nheap == g_capheap) {
        g_capheap = g_capheap ? g_capheap * 2 : 64;
        g_heap = realloc(g_heap, g_capheap * sizeof *g_heap);
        if (!g_heap)
            die("out of memory");
    }
    i = g_nheap++;
    g_heap[i] = s;
    while (i && key(g_heap[(i - 1) / 2]) > key(g_heap[i])) {
        sess_t *t = g_heap[i];
        g_heap[i] = g_heap[(i - 1) / 2];
        g_heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* begin building a session at time t */
static void build(sess_t *s, int64_t t)
{
    S = s;
    B = &s->txt;
    T = t;
}

/* hourly load profile (mean 1.0): more mail in office hours */
static const double hour_w[24] = {
    0.55, 0.50, 0.48, 0.47, 0.50, 0.60, 0.80, 1.05, 1.35, 1.50, 1.50, 1.45,
    1.30, 1.40, 1.45, 1.40, 1.30, 1.15, 1.00, 0.90, 0.85, 0.80, 0.70, 0.60};

static int g_nextpid;

static int next_pid(void)
{
    size_t i;
    int again;
    do {
        g_nextpid += 1 + (pm(200000) ? (int)rnd(6) : 0);
        if (g_nextpid > 32760)
            g_nextpid = 300 + (int)rnd(50);
        again = g_nextpid == g_parent || g_nextpid + 1 == g_parent;
        for (i = 0; i < g_nheap && !again; i++) /* no pid reuse while alive */
            if (g_heap[i]->is_child && (g_heap[i]->pid == g_nextpid || g_heap[i]->pid + 1 == g_nextpid))
                again = 1;
    } while (again);
    return g_nextpid;
}

static void usage(FILE *f)
{
    fputs("usage: genlog [--dialect 093|08x|04x] [--framing multilog|tai64nlocal|logfile|syslog]\n"
          "              [--size BYTES[K|M|G] | --connections N] [--seed N] [--start UNIXTIME]\n"
          "              [--rate CONN_PER_SEC] [--tz-offset SECONDS] [--unique-keys] [--output FILE] [--stats]\n"
          "Writes a deterministic, realistic qpsmtpd forkserver log to stdout (or FILE).\n"
          "Defaults: --dialect 093 --framing multilog --seed 1 --start 1764000000 --rate 0.5\n"
          "          and --connections 1000 when neither --size nor --connections is given.\n",
          f);
}

static uint64_t parse_u(const char *s, const char *opt, int suffix)
{
    char *e;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &e, 10);
    if (errno || e == s)
        goto bad;
    if (suffix && *e) {
        switch (*e) {
        case 'k': case 'K': v <<= 10; break;
        case 'm': case 'M': v <<= 20; break;
        case 'g': case 'G': v <<= 30; break;
        default: goto bad;
        }
        e++;
    }
    if (*e)
        goto bad;
    return v;
bad:
    fprintf(stderr, "genlog: bad value for %s: %s\n", opt, s);
    exit(2);
}

int main(int argc, char **argv)
{
    int i, stats = 0;
    const char *outfile = NULL;
    uint64_t sd, nconn = 0;
    int64_t now, next_arrival;
    int burst_left = 0, burst_kind = 0, burst_flood = 0;
    char burst_ip[48];
    int64_t burst_gap_lo = 0, burst_gap_hi = 0;
    ident_t *id = &K.id;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() do { if (!v) { fprintf(stderr, "genlog: %s needs a value\n", a); return 2; } i++; } while (0)
        if (!strcmp(a, "--dialect")) {
            NEEDV();
            if (!strcmp(v, "093")) g_dialect = D093;
            else if (!strcmp(v, "08x")) g_dialect = D08X;
            else if (!strcmp(v, "04x")) g_dialect = D04X;
            else { fprintf(stderr, "genlog: unknown dialect %s\n", v); return 2; }
        } else if (!strcmp(a, "--framing")) {
            NEEDV();
            if (!strcmp(v, "multilog")) g_framing = F_MULTILOG;
            else if (!strcmp(v, "tai64nlocal")) g_framing = F_TAI64NLOCAL;
            else if (!strcmp(v, "logfile")) g_framing = F_LOGFILE;
            else if (!strcmp(v, "syslog")) g_framing = F_SYSLOG;
            else { fprintf(stderr, "genlog: unknown framing %s\n", v); return 2; }
        } else if (!strcmp(a, "--size")) {
            NEEDV();
            g_size = parse_u(v, a, 1);
        } else if (!strcmp(a, "--connections")) {
            NEEDV();
            g_conns = parse_u(v, a, 0);
        } else if (!strcmp(a, "--seed")) {
            NEEDV();
            g_seed = parse_u(v, a, 0);
        } else if (!strcmp(a, "--start")) {
            NEEDV();
            g_start = (int64_t)parse_u(v, a, 0);
        } else if (!strcmp(a, "--rate")) {
            char *e;
            NEEDV();
            g_rate = strtod(v, &e);
            if (*e || !(g_rate > 0.0001 && g_rate < 100000)) {
                fprintf(stderr, "genlog: bad value for --rate: %s\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--tz-offset")) {
            char *e;
            NEEDV();
            g_tzoff = strtoll(v, &e, 10);
            if (*e || e == v || g_tzoff < -86400 || g_tzoff > 86400) {
                fprintf(stderr, "genlog: bad value for --tz-offset: %s\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--output") || !strcmp(a, "-o")) {
            NEEDV();
            outfile = v;
        } else if (!strcmp(a, "--unique-keys")) {
            g_unique = 1;
        } else if (!strcmp(a, "--stats")) {
            stats = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "genlog: unknown argument %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!g_size && !g_conns)
        g_conns = 1000;

    sd = g_seed;
    for (i = 0; i < 4; i++)
        rs[i] = splitmix(&sd);

    g_fp = outfile ? fopen(outfile, "wb") : stdout;
    if (!g_fp) {
        fprintf(stderr, "genlog: %s: %s\n", outfile, strerror(errno));
        return 1;
    }
    g_out = malloc(OBUF);
    if (!g_out)
        die("out of memory");

    g_parent = 1500 + (int)rnd(3000);
    g_nextpid = g_parent + 20 + (int)rnd(100);
    now = g_start * 1000000 + rr(0, 999999);

    /* startup lines of the parent */
    {
        sess_t *s = sess_new();
        build(s, now);
        C0(g_parent), A("Listening on 0.0.0.0:25"), END();
        adv(50, 500);
        C0(g_parent), A("Running as user qpsmtpd, group qpsmtpd"), END();
        heap_push(s);
    }
    next_arrival = now + rexp(1e6 / g_rate);

    for (;;) {
        int stop = (g_size && g_written >= g_size) || (g_conns && nconn >= g_conns);
        /* write lines that come before the next arrival */
        while (g_nheap && (stop || key(g_heap[0]) < next_arrival)) {
            sess_t *s = g_heap[0];
            int64_t lim = stop ? INT64_MAX : next_arrival;
            if (g_nheap > 1 && key(g_heap[1]) < lim)
                lim = key(g_heap[1]);
            if (g_nheap > 2 && key(g_heap[2]) < lim)
                lim = key(g_heap[2]);
            do {
                const line_t *l = &s->ln[s->cur++];
                emit(s, l);
                if (l->flags & LF_REAP)
                    g_nchildren--;
            } while (s->cur < s->nln && s->ln[s->cur].t <= lim);
            if (s->cur == s->nln) {
                g_heap[0] = g_heap[--g_nheap];
                sess_free(s);
            }
            if (g_nheap)
                heap_down(0);
            if (g_size && !stop && g_written >= g_size)
                break;
        }
        if (stop || (g_size && g_written >= g_size)) {
            if (!g_nheap)
                break;
            continue;
        }

        /* an arrival at next_arrival */
        now = next_arrival;
        {
            int kind, spam;
            sess_t *s;
            int64_t hour = (now / 1000000 / 3600) % 24; /* UTC: --tz-offset only changes rendering */
            double mean = 1e6 / (g_rate * 0.8 * hour_w[hour < 0 ? hour + 24 : hour]);

            if (g_nchildren >= MAXCONN) {
                s = sess_new();
                build(s, now);
                C0(g_parent), A("Too many connections: "), AU(g_nchildren), A(" >= "), AU(MAXCONN), A(".  Waiting one second."), END();
                heap_push(s);
                next_arrival = now + 1000000 + rr(100, 90000);
                continue;
            }

            /* who connects */
            if (burst_left > 0) {
                burst_left--;
                spam = 1;
                if (burst_flood) {
                    gen_ip(id, 1);
                    kind = pickw(kind_w_bot, NK);
                } else {
                    strcpy(id->ip, burst_ip);
                    id->v6 = strchr(burst_ip, ':') != NULL;
                    kind = pm(750000) ? burst_kind : pickw(kind_w_bot, NK);
                }
                next_arrival = now + rr(burst_gap_lo, burst_gap_hi);
            } else {
                kind = pickw(kind_w, NK);
                spam = kind != K_QUEUED && kind != K_NONE_QUIT && kind != K_BADRCPT && kind != K_RCPTOK ? pm(800000) : pm(100000);
                gen_ip(id, spam);
                next_arrival = now + rexp(mean);
                if (pm(2000)) { /* a flood of bots that fills the slots */
                    burst_left = 45 + (int)rnd(30);
                    burst_flood = 1;
                    burst_gap_lo = 20000, burst_gap_hi = 150000;
                } else if (pm(15000)) { /* one bot, several connections */
                    burst_left = 3 + (int)rnd(20);
                    burst_flood = 0;
                    burst_kind = pickw(kind_w_bot, NK);
                    strcpy(burst_ip, id->ip);
                    burst_gap_lo = 100000, burst_gap_hi = 1500000;
                }
            }
            nconn++;
            if (g_unique) { /* the worst case for the key tables: every key new */
                uint64_t n = ++g_unique_n;
                snprintf(id->ip, sizeof id->ip, "%u.%u.%u.%u", (unsigned)(11 + (n >> 24) % 200),
                         (unsigned)(n >> 16 & 255), (unsigned)(n >> 8 & 255), (unsigned)(n & 255));
                id->v6 = 0;
            }

            /* hosts_allow in the parent: per-IP limit or a blocked address */
            {
                int nsame = 0, blocked = pm(4000);
                size_t j;
                for (j = 0; j < g_nheap; j++)
                    if (g_heap[j]->is_child && !strcmp(g_heap[j]->ip, id->ip))
                        nsame++;
                if (nsame >= MAXFROMIP || blocked) {
                    s = sess_new();
                    build(s, now);
                    if (!blocked) {
                        if (g_dialect == D093) {
                            P0(g_parent, "pre-connection", pl(PL_HOSTS_ALLOW));
                            A("fail: too many connections from "), A(id->ip), A(" ("), AU(nsame + 1), A(" > "), AU(MAXFROMIP), A(")"), END();
                            snprintf(g_text, sizeof g_text, "too many connections from %s, try again later", id->ip);
                        } else {
                            P0(g_parent, "pre-connection", pl(PL_HOSTS_ALLOW));
                            A("Too many connections from "), A(id->ip), A(": "), AU(nsame + 1), A(" > "), AU(MAXFROMIP), A("Denying connection."), END();
                            snprintf(g_text, sizeof g_text, "Sorry, too many connections from %s, try again later", id->ip);
                        }
                    } else {
                        if (g_dialect == D093)
                            P0(g_parent, "pre-connection", pl(PL_HOSTS_ALLOW)), A("fail, Sorry, you are blocked"), END();
                        tcopy("Sorry, you are blocked", NULL, NULL);
                    }
                    adv(20, 300);
                    LT(g_parent, "deny", NULL, 0, 0, "", pl(PL_HOSTS_ALLOW), blocked ? "901" : "902", g_text, DBQ);
                    heap_push(s);
                    continue;
                }
            }

            /* fork a child */
            g_pid = next_pid();
            gen_ident(id, spam);
            if (g_unique) {
                snprintf(id->helo, sizeof id->helo, "h%llu.example.net", (unsigned long long)g_unique_n);
                if (id->sender[1] != '>') {
                    snprintf(id->sdom, sizeof id->sdom, "d%llu.example.org", (unsigned long long)g_unique_n);
                    snprintf(id->sender, sizeof id->sender, "<s%llu@%s>", (unsigned long long)g_unique_n, id->sdom);
                }
            }
            K.slow = burst_flood && burst_left > 0 && pm(700000);
            s = sess_new();
            s->is_child = 1;
            build(s, now);
            g_nchildren++;
            gen_connection(kind);
            s->pid = g_pid;
            strcpy(s->ip, id->ip);
            heap_push(s);
        }
    }
    oflush();
    if (fflush(g_fp) != 0 || ferror(g_fp)) {
        fprintf(stderr, "genlog: write error: %s\n", strerror(errno));
        return 1;
    }
    if (g_fp != stdout && fclose(g_fp) != 0) {
        fprintf(stderr, "genlog: %s: %s\n", outfile, strerror(errno));
        return 1;
    }
    if (stats)
        fprintf(stderr, "genlog: %llu bytes, %llu lines, %llu logterse (%.2f%%), %llu connections\n",
                (unsigned long long)g_written, (unsigned long long)g_nlines, (unsigned long long)g_nlt,
                g_nlines ? 100.0 * (double)g_nlt / (double)g_nlines : 0.0, (unsigned long long)nconn);
    return 0;
}
