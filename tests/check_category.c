/*
 * check_category.c - unit tests of core/category.c and the category table:
 * the built-in map is etc/categories, the file format's errors, the lookup
 * rules (exact, longest pattern, queued/spam, naughty), and the aggregator's
 * category table (adds up, lists unknown plugins, merges, filters).
 */
#include "qpstat.h"
#include "qps_private.h" /* the category signature a pruned day keeps */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static const char *data_dir(void)
{
    return getenv("QPS_TEST_DATA") ? getenv("QPS_TEST_DATA") : "t/data";
}

static qps_str S(const char *s)
{
    qps_str r = {s, strlen(s)};
    return r;
}

static const char *of_plugin(const qps_categories *map, const char *plugin)
{
    return qps_category_of_plugin(map, S(plugin));
}

START_TEST(builtin_is_the_shipped_file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/../../etc/categories", data_dir());
    qps_categories *builtin = qps_categories_new(), *file = qps_categories_new();
    char err[256] = "";
    ck_assert_int_eq(qps_categories_load(file, path, err, sizeof err), QPS_OK);
    ck_assert_uint_gt(qps_categories_rules(builtin), 40);
    ck_assert_uint_eq(qps_categories_rules(file), qps_categories_rules(builtin));
    for (size_t i = 0; i < qps_categories_rules(builtin); i++) {
        qps_str pa, pb;
        int xa, xb;
        const char *ca, *cb;
        ck_assert_int_eq(qps_categories_rule(builtin, i, &pa, &xa, &ca), QPS_OK);
        ck_assert_int_eq(qps_categories_rule(file, i, &pb, &xb, &cb), QPS_OK);
        ck_assert_uint_eq(pa.len, pb.len);
        ck_assert(memcmp(pa.ptr, pb.ptr, pa.len) == 0);
        ck_assert_int_eq(xa, xb);
        ck_assert_str_eq(ca, cb);
    }
    ck_assert_uint_eq(qps_categories_count(file), qps_categories_count(builtin));
    /* mailstats' column order */
    const char *cols[] = {"DMARC-Rej.", "Virus", "RBL/DNS", "Execut.", "Geoip.", "Non.Conf.",
                          "Rej.Load",   "Karma", "Del.Spam", "Qued.Spam?", "Ham"};
    ck_assert_uint_eq(qps_categories_count(builtin), sizeof cols / sizeof cols[0]);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        ck_assert_str_eq(qps_categories_name(builtin, i), cols[i]);
    ck_assert_ptr_null(qps_categories_name(builtin, 99));
    qps_categories_free(builtin);
    qps_categories_free(file);
}
END_TEST

/* Every disposition of the fixtures and of formats.md's plugin list has a
 * category: none of them is Unknown with the built-in map. */
START_TEST(builtin_covers_the_known_plugins)
{
    static const char *plugins[] = {
        "queued", "badmailfrom", "hosts_allow", "helo", "naughty", "spamassassin", "rcpt_ok", "badrcptto",
        "noop_counter", "loop", "earlytalker", "count_unrecognized_commands", "dnsbl", "rhsbl", "uribl",
        "check_earlytalker", "check_badmailfrom_patterns", "check_goodrcptto", "check_spamhelo", "check_relay",
        "check_basicheaders", "check_badcountries", "karma", "dmarc", "tls", "auth::auth_cvm_unix_local",
        "queue::qmail_2dqueue", "virus::clamav", "virus::clamdscan", "pattern_filter", "loadcheck",
        "greylisting", "random_error", "resolvable_fromhost", "require_resolvable_fromhost",
        "sender_permitted_from", "fcrdns", "dkim", "bogus_bounce", "headers", "rcpt_regexp", "badmailfromto",
        "relay", "check_smtp_forward",
    };
    qps_categories *map = qps_categories_new();
    for (size_t i = 0; i < sizeof plugins / sizeof plugins[0]; i++)
        ck_assert_msg(of_plugin(map, plugins[i]) != NULL, "%s has no category", plugins[i]);
    ck_assert_str_eq(of_plugin(map, "dnsbl"), "RBL/DNS");
    ck_assert_str_eq(of_plugin(map, "virus::clamdscan"), "Virus");
    ck_assert_str_eq(of_plugin(map, "spamassassin"), "Del.Spam");
    ck_assert_str_eq(of_plugin(map, "queued"), "Ham");
    ck_assert_ptr_null(of_plugin(map, "my_own_plugin"));
    ck_assert_ptr_null(of_plugin(map, ""));
    qps_categories_free(map);
}
END_TEST

static qps_status parse(qps_categories *map, const char *text, char *err)
{
    err[0] = '\0';
    return qps_categories_parse(map, text, strlen(text), err, 256);
}

START_TEST(file_format_errors)
{
    qps_categories *map = qps_categories_new();
    char err[256];
    size_t before = qps_categories_rules(map);
    ck_assert_int_eq(parse(map, "dnsbl RBL\nrhsbl\n", err), QPS_EFORMAT);
    ck_assert_str_eq(err, "line 2: 'rhsbl' has no category (PLUGIN CATEGORY)");
    ck_assert_uint_eq(qps_categories_rules(map), before); /* unchanged on failure */
    ck_assert_int_eq(parse(map, "dnsbl A\n# c\n\ndnsbl B\n", err), QPS_EFORMAT);
    ck_assert_str_eq(err, "line 4: 'dnsbl' is already mapped on line 1");
    ck_assert_int_eq(parse(map, "a*b X\n", err), QPS_EFORMAT);
    ck_assert(strstr(err, "line 1: '*' may only end") != NULL);
    ck_assert_int_eq(parse(map, "x Unknown\n", err), QPS_EFORMAT);
    ck_assert_int_eq(parse(map, "x \x1b[2J\n", err), QPS_EFORMAT);
    ck_assert_str_eq(err, "line 1: a control character");
    ck_assert_int_eq(parse(map, "x 12345678901234567890123456789012345678901234567890123456789012345\n", err),
                     QPS_EFORMAT);
    ck_assert_int_eq(qps_categories_parse(map, "a X\0b Y\n", 8, err, sizeof err), QPS_EFORMAT);
    ck_assert_str_eq(err, "line 1: a NUL byte");
    ck_assert_uint_eq(qps_categories_rules(map), before);
    /* a valid one replaces the rules; spaces inside a category, CRLF lines */
    ck_assert_int_eq(parse(map, "  # mine\r\nvirus::* Bad stuff \r\nvirus::clam* Clam\n\tdnsbl\tDNS lists\n", err),
                     QPS_OK);
    ck_assert_uint_eq(qps_categories_rules(map), 3);
    ck_assert_uint_eq(qps_categories_count(map), 3);
    ck_assert_str_eq(of_plugin(map, "virus::other"), "Bad stuff");
    ck_assert_str_eq(of_plugin(map, "virus::clamdscan"), "Clam"); /* the longer pattern */
    ck_assert_str_eq(of_plugin(map, "dnsbl"), "DNS lists");
    ck_assert_ptr_null(of_plugin(map, "virus:"));
    ck_assert_ptr_null(of_plugin(map, "queued"));
    /* an exact name beats any pattern */
    ck_assert_int_eq(parse(map, "check_* A\ncheck_relay B\n", err), QPS_OK);
    ck_assert_str_eq(of_plugin(map, "check_relay"), "B");
    ck_assert_str_eq(of_plugin(map, "check_relayx"), "A");
    ck_assert_int_eq(parse(map, "", err), QPS_OK);
    ck_assert_uint_eq(qps_categories_count(map), 0);
    ck_assert_int_eq(qps_categories_load(map, "/nonexistent/categories", err, sizeof err), QPS_EIO);
    ck_assert_str_eq(err, "No such file or directory");
    ck_assert_int_eq(qps_categories_load(map, "/", err, sizeof err), QPS_EIO);
    qps_categories_free(map);
}
END_TEST

static const char *of_line(qps_parser *p, const qps_categories *map, const char *line)
{
    qps_record rec;
    ck_assert_int_eq(qps_parser_parse(p, line, strlen(line), &rec), QPS_KIND_TERSE);
    const char *cat = qps_category_of(map, &rec);
    /* what a pruned record keeps of it gives the same category under the map */
    char sig[512];
    size_t n = qps_category_signature(&rec, sig, sizeof sig);
    if (n) {
        ck_assert_uint_eq(n, strlen(sig));
        ck_assert_str_eq(qps_category_of_signature(map, qps_slice(sig, n)), cat);
        qps_str d = qps_category_signature_disposition(qps_slice(sig, n));
        ck_assert_uint_eq(d.len, rec.field[QPS_TF_DISPOSITION].len);
        ck_assert_int_eq(memcmp(d.ptr, rec.field[QPS_TF_DISPOSITION].ptr, d.len), 0);
    } else {
        const char *plain = qps_category_of_plugin(map, rec.field[QPS_TF_DISPOSITION]);
        ck_assert_str_eq(plain ? plain : QPS_CATEGORY_UNKNOWN, cat);
    }
    return cat;
}

#define REC(disp, text, spam)                                                                                      \
    "@400000006b07390e20f6398c 8911 (deny) logging::logterse: ` 192.0.2.1\tUnknown\thelo.example\t<a@b.example>\t" \
    "<c@d.example>\t" disp "\t901\t" text "\t" spam

START_TEST(record_rules)
{
    qps_categories *map = qps_categories_new();
    qps_parser *p = qps_parser_new(NULL);
    ck_assert_str_eq(of_line(p, map, REC("queued", "<m@x>", "No, score=1.0 required=5.0")), "Ham");
    ck_assert_str_eq(of_line(p, map, REC("queued", "<m@x>", "Yes, score=9.0 required=5.0")), "Qued.Spam?");
    ck_assert_str_eq(of_line(p, map, REC("queued", "<m@x>", "")), "Ham");
    ck_assert_str_eq(of_line(p, map, REC("naughty", "(karma) very bad karma: -7", "msg denied before queued")),
                     "Karma");
    ck_assert_str_eq(of_line(p, map, REC("naughty", "Blocked, see http://dnsbl.example/", "msg denied")), "RBL/DNS");
    ck_assert_str_eq(of_line(p, map, REC("naughty", "karma says no", "msg denied")), "Karma");
    ck_assert_str_eq(of_line(p, map, REC("naughty", "(nosuch) something", "msg denied")), "Non.Conf.");
    ck_assert_str_eq(of_line(p, map, REC("my_plugin", "no", "msg denied")), QPS_CATEGORY_UNKNOWN);
    /* without a queued/spam rule, spam that was queued is queued's */
    char err[256];
    ck_assert_int_eq(parse(map, "queued Accepted\n", err), QPS_OK);
    ck_assert_str_eq(of_line(p, map, REC("queued", "<m@x>", "Yes, score=9.0 required=5.0")), "Accepted");
    ck_assert_int_eq(parse(map, "naughty N\nkarma K\nmy_filter F\n", err), QPS_OK);
    ck_assert_str_eq(of_line(p, map, REC("naughty", "(my_filter) no", "msg denied")), "F");
    ck_assert_str_eq(of_line(p, map, REC("naughty", "(dnsbl) karma too", "msg denied")), "K");
    ck_assert_str_eq(of_line(p, map, REC("naughty", "(nosuch) no", "msg denied")), "N");
    qps_record other;
    qps_parser_parse(p, "123 dispatching HELO x", 22, &other);
    ck_assert_ptr_null(qps_category_of(map, &other));
    qps_parser_free(p);
    qps_categories_free(map);
}
END_TEST

static uint64_t row_count(const qps_agg *agg, qps_dim dim, const char *key)
{
    qps_row *rows;
    size_t n;
    ck_assert_int_eq(qps_agg_rows(agg, dim, &rows, &n), QPS_OK);
    uint64_t found = 0;
    for (size_t i = 0; i < n; i++)
        if (rows[i].key[0].len == strlen(key) && memcmp(rows[i].key[0].ptr, key, rows[i].key[0].len) == 0)
            found = rows[i].count;
    qps_free(rows);
    return found;
}

static void feed(qps_agg *agg, const char *text)
{
    ck_assert_int_eq(qps_agg_feed(agg, text, strlen(text)), QPS_OK);
    ck_assert_int_eq(qps_agg_finish(agg), QPS_OK);
}

START_TEST(aggregator_table)
{
    size_t len;
    char path[1024];
    snprintf(path, sizeof path, "%s/edge-cases.log", data_dir());
    char *log = read_file(path, &len);
    static const char mine[] = REC("my_plugin", "no", "msg denied") "\n" REC("my_plugin", "no", "x") "\n" REC(
        "other\x1b", "no", "x") "\n";
    qps_agg_opts o = {0};
    o.dims = QPS_DIM_BIT(QPS_DIM_CATEGORY); /* the disposition table comes with it */
    qps_agg *agg = qps_agg_new(&o);
    ck_assert_ptr_nonnull(qps_agg_categories(agg));
    ck_assert_int_eq(qps_agg_feed(agg, log, len), QPS_OK);
    feed(agg, mine);
    qps_row *rows;
    size_t n;
    ck_assert_int_eq(qps_agg_rows(agg, QPS_DIM_CATEGORY, &rows, &n), QPS_OK);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += rows[i].count;
    qps_free(rows);
    qps_counts c;
    qps_agg_counts(agg, &c);
    ck_assert_uint_eq(sum, c.transactions);
    ck_assert_uint_eq(qps_agg_total(agg, QPS_DIM_CATEGORY), c.transactions);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_CATEGORY, "RBL/DNS"), 5);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_CATEGORY, QPS_CATEGORY_UNKNOWN), 3);
    ck_assert_uint_eq(row_count(agg, QPS_DIM_DISPOSITION, "my_plugin"), 2);
    ck_assert_int_eq(qps_agg_unknown_plugins(agg, &rows, &n), QPS_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(rows[0].count, 2);
    ck_assert(rows[0].key[0].len == 9 && memcmp(rows[0].key[0].ptr, "my_plugin", 9) == 0);
    ck_assert(rows[1].key[0].len == 6 && memcmp(rows[1].key[0].ptr, "other\x1b", 6) == 0);
    qps_free(rows);

    /* merged halves equal one pass, unknown plugins included */
    qps_agg *a = qps_agg_new(NULL), *b = qps_agg_new(NULL);
    ck_assert_int_eq(qps_agg_feed(a, log, len), QPS_OK);
    ck_assert_int_eq(qps_agg_finish(a), QPS_OK);
    feed(b, mine);
    ck_assert_int_eq(qps_agg_merge(a, b), QPS_OK);
    ck_assert_uint_eq(row_count(a, QPS_DIM_CATEGORY, "RBL/DNS"), 5);
    ck_assert_uint_eq(row_count(a, QPS_DIM_CATEGORY, QPS_CATEGORY_UNKNOWN), 3);
    ck_assert_int_eq(qps_agg_unknown_plugins(a, &rows, &n), QPS_OK);
    ck_assert_uint_eq(n, 2);
    qps_free(rows);

    /* where category=RBL/DNS: its five transactions and nothing else */
    qps_where w;
    ck_assert_int_eq(qps_where_parse("category=RBL/DNS", &w), QPS_OK);
    qps_agg_opts fo = {0};
    fo.where = &w;
    fo.nwhere = 1;
    qps_agg *f = qps_agg_new(&fo);
    ck_assert_int_eq(qps_agg_feed(f, log, len), QPS_OK);
    feed(f, mine);
    qps_agg_counts(f, &c);
    ck_assert_uint_eq(c.transactions, 5);
    ck_assert_uint_eq(row_count(f, QPS_DIM_DISPOSITION, "dnsbl") + row_count(f, QPS_DIM_DISPOSITION, "rhsbl") +
                          row_count(f, QPS_DIM_DISPOSITION, "naughty"),
                      5);

    /* a map of the caller's: borrowed, not copied */
    qps_categories *map = qps_categories_new();
    char err[256];
    ck_assert_int_eq(parse(map, "dnsbl Lists\nrhsbl Lists\n", err), QPS_OK);
    qps_agg_opts mo = {0};
    mo.categories = map;
    qps_agg *m = qps_agg_new(&mo);
    ck_assert_ptr_eq(qps_agg_categories(m), map);
    ck_assert_int_eq(qps_agg_feed(m, log, len), QPS_OK);
    ck_assert_int_eq(qps_agg_finish(m), QPS_OK);
    ck_assert_uint_eq(row_count(m, QPS_DIM_CATEGORY, "Lists"), 5); /* naughty naming dnsbl too */
    ck_assert_uint_eq(row_count(m, QPS_DIM_CATEGORY, QPS_CATEGORY_UNKNOWN), 11);

    /* "all" is the seed's tables: category is asked for by name */
    qps_dim dims[QPS_DIM_COUNT_];
    size_t nd = 0;
    ck_assert_int_eq(qps_dims_parse("all", dims, QPS_DIM_COUNT_, &nd), QPS_OK);
    for (size_t i = 0; i < nd; i++)
        ck_assert_int_ne(dims[i], QPS_DIM_CATEGORY);
    nd = 0;
    ck_assert_int_eq(qps_dims_parse("category,disposition", dims, QPS_DIM_COUNT_, &nd), QPS_OK);
    ck_assert_uint_eq(nd, 2);
    ck_assert_int_eq(dims[0], QPS_DIM_CATEGORY);
    ck_assert_str_eq(qps_dim_name(QPS_DIM_CATEGORY), "category");

    qps_agg_free(m);
    qps_categories_free(map);
    qps_agg_free(f);
    qps_agg_free(a);
    qps_agg_free(b);
    qps_agg_free(agg);
    free(log);
}
END_TEST

static Suite *category_suite(void)
{
    Suite *s = suite_create("category");
    TCase *t = tcase_create("core");
    tcase_add_test(t, builtin_is_the_shipped_file);
    tcase_add_test(t, builtin_covers_the_known_plugins);
    tcase_add_test(t, file_format_errors);
    tcase_add_test(t, record_rules);
    tcase_add_test(t, aggregator_table);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    SRunner *sr = srunner_create(category_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
