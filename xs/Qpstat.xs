/*
 * Qpstat.xs - the Perl binding of the qpstat core (csrc/qpstat.h).
 *
 * Thin on purpose: options are checked in lib/Qpstat*.pm, which calls the
 * underscore functions here with plain values; the data shapes are built
 * in xs/qps_perl.c. Every core failure becomes one croak naming the Perl
 * method ("Qpstat::Store::commit: cannot commit to the store: ...").
 *
 * Memory ownership
 * ----------------
 *  - Perl owns nothing of the core's and the core owns nothing of Perl's:
 *    every string crossing this file is copied. Lines are taken as bytes
 *    (as SvPVbyte takes them, on a copy: a string with characters above 255
 *    croaks, nothing is ever decoded) and only borrowed for the duration of
 *    one call; results are new SVs made with newSVpvn (byte strings, never
 *    UTF-8 flagged).
 *  - A Qpstat::Agg or Qpstat::Store object is a blessed scalar holding a
 *    pointer to a qps_perl_agg / qps_perl_store (xs/qps_perl.h), allocated
 *    here with Newxz and freed by DESTROY together with the core objects
 *    it holds. No other C pointer reaches Perl. The .pm files set
 *    CLONE_SKIP so that an ithreads clone never gets a second copy of the
 *    pointer (which would be freed twice).
 *  - Results are plain data, copied out of the aggregator at the time of
 *    the call (rows, counts): they stay valid whatever happens to the
 *    object afterwards.
 *  - A store remembers the process that opened it. After fork the child
 *    must open its own handle: using the parent's croaks, and DESTROY in
 *    the child frees only the Perl-side wrapper and leaves the SQLite
 *    connection alone, because closing a connection inherited across fork
 *    can disturb the parent's locks (SQLite's documented rule).
 *  - Output of qps_render is appended to a new mortal SV by a write
 *    callback; a croak in between leaves nothing behind.
 *  - Core memory handed out as a plain pointer (qps_agg_rows) is copied
 *    into Perl data and released with qps_free before anything can croak.
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <string.h>
#include <unistd.h>

#include "qpstat.h"
#include "qps_perl.h"

typedef qps_perl_agg *Qpstat__Agg;
typedef qps_perl_store *Qpstat__Store;

/* The bytes of a line argument, without one trailing newline. Get-magic
 * (a tied scalar, a substr() argument) runs once. */
static const char *line_bytes(pTHX_ SV *sv, STRLEN *len, const char *method)
{
    SvGETMAGIC(sv);
    if (!SvOK(sv))
        croak("%s: the line is undef", method);
    if (SvROK(sv) && !SvAMAGIC(sv))
        croak("%s: the line must be a string, not a reference", method);
    const char *p = SvPV_nomg(sv, *len);
    if (SvUTF8(sv)) {
        /* downgrade a copy: the caller's scalar is left as it was */
        SV *copy = newSVpvn_flags(p, *len, SVf_UTF8 | SVs_TEMP);
        if (!sv_utf8_downgrade(copy, TRUE))
            croak("%s: the line has characters above 255: pass bytes, not decoded text", method);
        p = SvPV_nomg(copy, *len);
    }
    if (*len && p[*len - 1] == '\n')
        --*len;
    return p;
}

/* An optional string argument: NULL for undef. */
static const char *opt_str(pTHX_ SV *sv)
{
    return sv && SvOK(sv) ? SvPVbyte_nolen(sv) : NULL;
}

static void croak_status(pTHX_ const char *method, qps_status st)
{
    croak("%s: %s", method, qps_strerror(st));
}

/* The .pm passes valid numbers; this only keeps a direct call of an
 * underscore function from reaching the core with a bad enum. */
static qps_dim dim_arg(pTHX_ IV dim, const char *method)
{
    if (dim < 0 || dim >= QPS_DIM_COUNT_)
        croak("%s: no dimension %ld", method, (long)dim);
    return (qps_dim)dim;
}

static qps_store *live_store(pTHX_ qps_perl_store *w, const char *method)
{
    if (w->pid != getpid())
        croak("%s: the store was opened by process %ld: open it again in this process", method, (long)w->pid);
    if (!w->store)
        croak("%s: the store is closed", method);
    return w->store;
}

/* The store says what went wrong (a read-only store, a transaction state,
 * a lock, SQLite's message) in its error. */
static void croak_store(pTHX_ qps_perl_store *w, const char *method, qps_status st)
{
    if (st == QPS_ENOMEM)
        croak_status(aTHX_ method, st);
    croak("%s: %s", method, qps_store_error(w->store));
}

static int append_sv(void *ctx, const char *buf, size_t len)
{
    dTHX;
    sv_catpvn((SV *)ctx, buf, len);
    return 0;
}

static SV *blessed(pTHX_ const char *class, void *ptr)
{
    SV *obj = newSV(0);
    sv_setref_pv(obj, class, ptr);
    return obj;
}

static void store_free(qps_perl_store *w, int close_db)
{
    if (close_db)
        qps_store_close(w->store);
    qps_parser_free(w->parser);
    Safefree(w->server);
    Safefree(w);
}

MODULE = Qpstat    PACKAGE = Qpstat

PROTOTYPES: DISABLE

const char *
library_version()
    CODE:
        RETVAL = qps_version();
    OUTPUT:
        RETVAL

SV *
_parse_line(SV *line, SV *prefix, IV now)
    PREINIT:
        STRLEN len;
        const char *p;
        qps_parser_opts po;
        qps_parser *parser;
        qps_record rec;
    CODE:
        p = line_bytes(aTHX_ line, &len, "Qpstat::parse_line");
        po.terse_prefix = opt_str(aTHX_ prefix);
        po.now = (int64_t)now;
        parser = qps_parser_new(&po);
        if (!parser)
            croak_status(aTHX_ "Qpstat::parse_line", QPS_ENOMEM);
        qps_parser_parse(parser, p, len, &rec);
        /* rec borrows from the line, not from the parser */
        qps_parser_free(parser);
        RETVAL = rec.kind == QPS_KIND_INVALID ? &PL_sv_undef
                                              : newRV_noinc((SV *)qps_perl_record_hv(aTHX_ &rec));
    OUTPUT:
        RETVAL

void
_dim_names()
    PPCODE:
        for (int d = 0; d < QPS_DIM_COUNT_; d++)
            mXPUSHp(qps_dim_name((qps_dim)d), strlen(qps_dim_name((qps_dim)d)));

void
_time_range_xs(int today, int yesterday, SV *days, SV *since, SV *until, IV now, int mail_default)
    PREINIT:
        qps_range r;
        qps_status st = QPS_OK;
    PPCODE:
        /* (undef, since, until, label) of the core's range (each bound
         * undef when open), or (message) for the Perl side to croak with:
         * the CLI's limits and words, options named as Perl names them */
        qps_range_init(&r, "");
        if (today)
            st = qps_range_today(&r);
        if (st == QPS_OK && yesterday)
            st = qps_range_yesterday(&r);
        if (st == QPS_OK && SvOK(days))
            st = qps_range_days(&r, SvPV_nolen(days));
        if (SvOK(since))
            qps_range_since_unix(&r, (int64_t)SvIV(since));
        if (SvOK(until))
            qps_range_until_unix(&r, (int64_t)SvIV(until));
        if (st == QPS_OK)
            st = qps_range_finish(&r, (int64_t)now, mail_default);
        if (st != QPS_OK) {
            mXPUSHp(r.error, strlen(r.error));
        } else {
            XPUSHs(&PL_sv_undef);
            mXPUSHs(r.has_since ? newSViv((IV)r.since) : newSV(0));
            mXPUSHs(r.has_until ? newSViv((IV)r.until) : newSV(0));
            mXPUSHp(r.label, strlen(r.label));
        }

void
_log_set_xs(...)
    PREINIT:
        qps_logset *set;
        qps_status st = QPS_OK;
        AV *entries, *notes;
        STRLEN len;
        const char *path;
    PPCODE:
        /* ([path, from_dir, is_stdin]...) and ([kind, path, why]...) of the
         * core's qps_logset; the Perl side warns and croaks */
        if (!(set = qps_logset_new()))
            croak_status(aTHX_ "Qpstat::log_files", QPS_ENOMEM);
        for (I32 i = 0; st == QPS_OK && i < items; i++) {
            path = SvPVbyte(ST(i), len);
            if (strlen(path) != len) {
                qps_logset_free(set);
                croak("Qpstat::log_files: a path with a NUL byte");
            }
            st = qps_logset_add(set, path);
        }
        if (st != QPS_OK) {
            qps_logset_free(set);
            croak_status(aTHX_ "Qpstat::log_files", st);
        }
        entries = newAV();
        notes = newAV();
        for (size_t i = 0; i < qps_logset_count(set); i++) {
            const qps_log_entry *e = qps_logset_entry(set, i);
            AV *one = newAV();
            av_push(one, newSVpv(e->path, 0));
            av_push(one, newSViv(e->from_dir));
            av_push(one, newSViv(e->is_stdin));
            av_push(entries, newRV_noinc((SV *)one));
        }
        for (size_t i = 0; i < qps_logset_note_count(set); i++) {
            const qps_log_note *n = qps_logset_note(set, i);
            AV *one = newAV();
            av_push(one, newSVpv(n->kind == QPS_NOTE_SKIPPED ? "skipped" : n->kind == QPS_NOTE_EMPTY_DIR ? "empty" : "error", 0));
            av_push(one, newSVpv(n->path, 0));
            av_push(one, newSVpv(n->err ? strerror(n->err) : "", 0));
            av_push(notes, newRV_noinc((SV *)one));
        }
        qps_logset_free(set);
        mXPUSHs(newRV_noinc((SV *)entries));
        mXPUSHs(newRV_noinc((SV *)notes));


MODULE = Qpstat    PACKAGE = Qpstat::Agg

SV *
_new(const char *class, SV *since, SV *until, int utc, SV *prefix, UV capacity, IV now, AV *where, const char *date_label)
    PREINIT:
        qps_agg_opts o;
        qps_perl_agg *w;
        qps_where wh[16];
        SSize_t i, nw;
    CODE:
        memset(&o, 0, sizeof o);
        nw = av_len(where) + 1;
        if (nw > 16)
            croak("Qpstat::Agg::new: at most 16 where filters");
        for (i = 0; i < nw; i++) {
            SV **e = av_fetch(where, i, 0);
            /* qps_agg_new copies the values: the SVs' buffers suffice */
            if (!e || !SvOK(*e) || qps_where_parse(SvPV_nolen(*e), &wh[i]) != QPS_OK)
                croak("Qpstat::Agg::new: where takes KEY=VALUE, KEY a table (disposition, dnsbl, tld, sender, "
                      "recipient, ip, helo, hour, day, score, spam, server) or code, not '%s'",
                      e && SvOK(*e) ? SvPV_nolen(*e) : "undef");
        }
        o.where = wh;
        o.nwhere = (size_t)nw;
        o.parser.terse_prefix = opt_str(aTHX_ prefix);
        o.parser.now = (int64_t)now;
        o.table_capacity = (size_t)capacity;
        if ((o.has_since = SvOK(since)))
            o.since = (int64_t)SvIV(since);
        if ((o.has_until = SvOK(until)))
            o.until = (int64_t)SvIV(until);
        o.utc = utc;
        Newxz(w, 1, qps_perl_agg);
        my_strlcpy(w->date_label, date_label, sizeof w->date_label);
        w->agg = qps_agg_new(&o);
        if (!w->agg) {
            Safefree(w);
            croak_status(aTHX_ "Qpstat::Agg::new", QPS_ENOMEM);
        }
        RETVAL = blessed(aTHX_ class, w);
    OUTPUT:
        RETVAL

void
DESTROY(Qpstat::Agg self)
    CODE:
        qps_agg_free(self->agg);
        Safefree(self);

bool
add_line(Qpstat::Agg self, SV *line)
    PREINIT:
        STRLEN len;
        const char *p;
        qps_kind kind;
        qps_status st;
    CODE:
        p = line_bytes(aTHX_ line, &len, "Qpstat::Agg::add_line");
        if ((st = qps_agg_add_line_kind(self->agg, p, len, &kind)) != QPS_OK)
            croak_status(aTHX_ "Qpstat::Agg::add_line", st);
        RETVAL = kind != QPS_KIND_INVALID;
    OUTPUT:
        RETVAL

UV
add_lines(Qpstat::Agg self, ...)
    PREINIT:
        STRLEN len;
        const char *p;
        qps_kind kind;
        qps_status st;
    CODE:
        RETVAL = 0;
        for (I32 i = 1; i < items; i++) {
            p = line_bytes(aTHX_ ST(i), &len, "Qpstat::Agg::add_lines");
            if ((st = qps_agg_add_line_kind(self->agg, p, len, &kind)) != QPS_OK)
                croak_status(aTHX_ "Qpstat::Agg::add_lines", st);
            RETVAL += kind != QPS_KIND_INVALID;
        }
    OUTPUT:
        RETVAL

void
feed(Qpstat::Agg self, SV *chunk)
    PREINIT:
        STRLEN len;
        const char *p;
        qps_status st;
    CODE:
        SvGETMAGIC(chunk);
        if (!SvOK(chunk))
            croak("Qpstat::Agg::feed: the chunk is undef");
        p = SvPVbyte_nomg(chunk, len);
        if ((st = qps_agg_feed(self->agg, p, len)) != QPS_OK)
            croak_status(aTHX_ "Qpstat::Agg::feed", st);

SV *
_add_log(Qpstat::Agg self, const char *path, int from_dir, int is_stdin)
    PREINIT:
        qps_reader *r;
        qps_log_entry e;
        qps_status st;
    CODE:
        /* the core's reader and qps_agg_read: undef, or why the log could
         * not be read to its end (what came before the error is counted) */
        if (!(r = qps_reader_new()))
            croak_status(aTHX_ "Qpstat::Agg::add_file", QPS_ENOMEM);
        memset(&e, 0, sizeof e);
        e.path = path;
        e.from_dir = from_dir;
        e.is_stdin = is_stdin;
        st = qps_reader_open_entry(r, &e);
        if (st == QPS_OK)
            st = qps_agg_read(self->agg, r);
        if (st == QPS_OK)
            st = qps_reader_close(r);
        if (st == QPS_ENOMEM) {
            qps_reader_free(r);
            croak_status(aTHX_ "Qpstat::Agg::add_file", st);
        }
        RETVAL = st == QPS_OK ? &PL_sv_undef
                              : newSVpvf("cannot read %s: %s", is_stdin ? "standard input" : path, qps_reader_error(r));
        qps_reader_free(r);
    OUTPUT:
        RETVAL

void
finish(Qpstat::Agg self)
    PREINIT:
        qps_status st;
    CODE:
        if ((st = qps_agg_finish(self->agg)) != QPS_OK)
            croak_status(aTHX_ "Qpstat::Agg::finish", st);

void
merge(Qpstat::Agg self, Qpstat::Agg other)
    PREINIT:
        qps_status st;
    CODE:
        if (self == other)
            croak("Qpstat::Agg::merge: cannot merge an aggregator into itself");
        if ((st = qps_agg_merge(self->agg, other->agg)) != QPS_OK)
            croak_status(aTHX_ "Qpstat::Agg::merge", st);

SV *
counts(Qpstat::Agg self)
    PREINIT:
        qps_counts c;
    CODE:
        qps_agg_counts(self->agg, &c);
        RETVAL = newRV_noinc((SV *)qps_perl_counts_hv(aTHX_ &c));
    OUTPUT:
        RETVAL

SV *
conn_stats(Qpstat::Agg self)
    PREINIT:
        qps_conn_stats c;
    CODE:
        qps_agg_conn_stats(self->agg, &c);
        RETVAL = newRV_noinc((SV *)qps_perl_conn_hv(aTHX_ &c));
    OUTPUT:
        RETVAL

SV *
spam_stats(Qpstat::Agg self)
    PREINIT:
        qps_spam_stats s;
    CODE:
        qps_agg_spam_stats(self->agg, &s);
        RETVAL = newRV_noinc((SV *)qps_perl_spam_hv(aTHX_ &s));
    OUTPUT:
        RETVAL

SV *
_rows(Qpstat::Agg self, int dim)
    PREINIT:
        qps_row *rows;
        size_t n;
        qps_status st;
        AV *av;
    CODE:
        if ((st = qps_agg_rows(self->agg, dim_arg(aTHX_ dim, "Qpstat::Agg::rows"), &rows, &n)) != QPS_OK)
            croak_status(aTHX_ "Qpstat::Agg::rows", st);
        av = qps_perl_rows_av(aTHX_ self->agg, (qps_dim)dim, rows, n);
        qps_free(rows);
        RETVAL = newRV_noinc((SV *)av);
    OUTPUT:
        RETVAL

UV
_total(Qpstat::Agg self, int dim)
    CODE:
        RETVAL = (UV)qps_agg_total(self->agg, dim_arg(aTHX_ dim, "Qpstat::Agg::total"));
    OUTPUT:
        RETVAL

bool
_approximate(Qpstat::Agg self, int dim)
    CODE:
        RETVAL = qps_agg_approximate(self->agg, dim_arg(aTHX_ dim, "Qpstat::Agg::approximate")) != 0;
    OUTPUT:
        RETVAL

SV *
_render(Qpstat::Agg self, int format, AV *dims, UV top, UV remote_top, SV *mail_date, IV mail_time, SV *mail_from, SV *mail_to, int mail_html)
    PREINIT:
        qps_dim d[QPS_DIM_COUNT_];
        qps_render_opts ro;
        qps_status st;
        SV *out;
        SSize_t n, i;
    CODE:
        n = av_len(dims) + 1;
        if (n > QPS_DIM_COUNT_)
            n = QPS_DIM_COUNT_;
        for (i = 0; i < n; i++) {
            SV **e = av_fetch(dims, i, 0);
            d[i] = dim_arg(aTHX_ e ? SvIV(*e) : -1, "Qpstat::Agg::report");
        }
        if (format < QPS_FORMAT_TEXT || format > QPS_FORMAT_MAIL)
            croak("Qpstat::Agg::report: no format %d", format);
        memset(&ro, 0, sizeof ro);
        ro.format = (qps_format)format;
        ro.dims = d;
        ro.ndims = (size_t)n;
        ro.top = (size_t)top;
        ro.remote_top = (size_t)remote_top;
        ro.mail_date = SvOK(mail_date) ? opt_str(aTHX_ mail_date) : self->date_label;
        ro.mail_time = (int64_t)mail_time;
        ro.mail_from = opt_str(aTHX_ mail_from);
        ro.mail_to = opt_str(aTHX_ mail_to);
        ro.mail_html = mail_html;
        out = sv_2mortal(newSVpvs(""));
        if ((st = qps_render(self->agg, &ro, append_sv, out)) != QPS_OK)
            croak_status(aTHX_ "Qpstat::Agg::report", st);
        RETVAL = SvREFCNT_inc_simple_NN(out);
    OUTPUT:
        RETVAL


MODULE = Qpstat    PACKAGE = Qpstat::Store

SV *
_open(const char *class, const char *path, int flags, int busy_ms, SV *prefix, SV *server, SV *name)
    PREINIT:
        qps_status st;
        char err[512];
        qps_parser_opts po;
        qps_perl_store *w;
        const char *srv;
    CODE:
        Newxz(w, 1, qps_perl_store);
        w->pid = getpid();
        po.terse_prefix = opt_str(aTHX_ prefix);
        po.now = 0;
        if ((srv = opt_str(aTHX_ server)))
            w->server = savepv(srv);
        if (!(w->parser = qps_parser_new(&po))) {
            store_free(w, 0);
            croak_status(aTHX_ "Qpstat::Store::open", QPS_ENOMEM);
        }
        err[0] = '\0';
        if (!(w->store = qps_store_open(path, flags, busy_ms, &st, err, sizeof err))) {
            store_free(w, 0);
            croak("Qpstat::Store::open: %s: %s", path, err[0] ? err : qps_strerror(st));
        }
        /* imports and reports must read the lines with the same prefix */
        if (po.terse_prefix && (st = qps_store_set_prefix(w->store, po.terse_prefix)) != QPS_OK) {
            store_free(w, 0);
            croak_status(aTHX_ "Qpstat::Store::open", st);
        }
        /* a store created for a named server is named after it (as import --server) */
        if ((srv = opt_str(aTHX_ name)) && qps_store_created(w->store) &&
            (st = qps_store_set_server(w->store, srv)) != QPS_OK) {
            char msg[600];
            snprintf(msg, sizeof msg, "Qpstat::Store::open: %s: %s", path, qps_store_error(w->store));
            store_free(w, 1);
            croak("%s", msg);
        }
        RETVAL = blessed(aTHX_ class, w);
    OUTPUT:
        RETVAL

void
DESTROY(Qpstat::Store self)
    CODE:
        /* in a forked child: leave the parent's SQLite handle alone */
        store_free(self, self->pid == getpid());

void
close(Qpstat::Store self)
    CODE:
        if (self->pid == getpid()) {
            qps_store_close(self->store);
            self->store = NULL;
            self->in_tx = 0;
        }

bool
_record_line(Qpstat::Store self, SV *line, IV sec, UV nsec, SV *server, int source)
    PREINIT:
        STRLEN len;
        const char *p;
        qps_record rec;
        qps_status st;
        int added = 0;
        qps_store *s;
        const char *srv;
    CODE:
        s = live_store(aTHX_ self, "Qpstat::Store::record_line");
        p = line_bytes(aTHX_ line, &len, "Qpstat::Store::record_line");
        srv = opt_str(aTHX_ server);
        qps_parser_parse(self->parser, p, len, &rec);
        /* outside begin/commit, qps_store_add is its own transaction */
        st = qps_store_add(s, &rec, srv ? srv : self->server, (int64_t)sec, (uint32_t)nsec, source,
                           &added);
        if (st != QPS_OK)
            croak_store(aTHX_ self, "Qpstat::Store::record_line", st);
        RETVAL = added != 0;
    OUTPUT:
        RETVAL

void
begin(Qpstat::Store self)
    PREINIT:
        qps_status st;
    CODE:
        st = qps_store_begin(live_store(aTHX_ self, "Qpstat::Store::begin"));
        if (st == QPS_OK)
            self->in_tx = 1;
        if (st != QPS_OK)
            croak_store(aTHX_ self, "Qpstat::Store::begin", st);

void
commit(Qpstat::Store self)
    PREINIT:
        qps_status st;
    CODE:
        st = qps_store_commit(live_store(aTHX_ self, "Qpstat::Store::commit"));
        self->in_tx = 0; /* a failed commit rolls back */
        if (st != QPS_OK)
            croak_store(aTHX_ self, "Qpstat::Store::commit", st);

void
rollback(Qpstat::Store self)
    PREINIT:
        qps_status st;
    CODE:
        st = qps_store_rollback(live_store(aTHX_ self, "Qpstat::Store::rollback"));
        self->in_tx = 0;
        if (st == QPS_ESTATE)
            croak("Qpstat::Store::rollback: no transaction is open");
        if (st != QPS_OK)
            croak_store(aTHX_ self, "Qpstat::Store::rollback", st);

UV
_import_file(Qpstat::Store self, const char *path, SV *server)
    PREINIT:
        qps_status st;
        uint64_t added = 0;
        qps_store *s;
        const char *srv;
    CODE:
        s = live_store(aTHX_ self, "Qpstat::Store::import_logs");
        srv = opt_str(aTHX_ server);
        st = qps_store_import_file(s, path, srv ? srv : self->server, &added);
        if (st == QPS_EREADONLY || st == QPS_ESTATE)
            croak("Qpstat::Store::import_logs: %s: %s", path, qps_store_error(s));
        if (st != QPS_OK)
            croak_store(aTHX_ self, "Qpstat::Store::import_logs", st);
        RETVAL = (UV)added;
    OUTPUT:
        RETVAL

SV *
server(Qpstat::Store self)
    PREINIT:
        const char *name;
    CODE:
        name = qps_store_server(live_store(aTHX_ self, "Qpstat::Store::server"));
        RETVAL = name ? newSVpv(name, 0) : &PL_sv_undef;
    OUTPUT:
        RETVAL

void
set_server(Qpstat::Store self, const char *name)
    PREINIT:
        qps_status st;
    CODE:
        st = qps_store_set_server(live_store(aTHX_ self, "Qpstat::Store::set_server"), name);
        if (st == QPS_EINVAL)
            croak("Qpstat::Store::set_server: the name must not be empty");
        if (st != QPS_OK)
            croak_store(aTHX_ self, "Qpstat::Store::set_server", st);

void
_aggregate(Qpstat::Store self, Qpstat::Agg agg)
    PREINIT:
        qps_status st;
    CODE:
        st = qps_store_aggregate(live_store(aTHX_ self, "Qpstat::Store::aggregate"), agg->agg);
        if (st != QPS_OK)
            croak_store(aTHX_ self, "Qpstat::Store::aggregate", st);

UV
_prune(Qpstat::Store self, IV before)
    PREINIT:
        qps_status st;
        uint64_t removed = 0;
    CODE:
        st = qps_store_prune(live_store(aTHX_ self, "Qpstat::Store::prune"), (int64_t)before, &removed);
        if (st != QPS_OK)
            croak_store(aTHX_ self, "Qpstat::Store::prune", st);
        RETVAL = (UV)removed;
    OUTPUT:
        RETVAL

SV *
info(Qpstat::Store self)
    PREINIT:
        qps_store_info i;
        qps_status st;
    CODE:
        st = qps_store_stat(live_store(aTHX_ self, "Qpstat::Store::info"), &i);
        if (st != QPS_OK)
            croak_store(aTHX_ self, "Qpstat::Store::info", st);
        RETVAL = newRV_noinc((SV *)qps_perl_store_info_hv(aTHX_ &i));
    OUTPUT:
        RETVAL
