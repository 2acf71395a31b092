/*
 * check_time.c - unit tests of qps_time.c: TAI64N labels and civil time.
 */
#include "qpstat.h"

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

START_TEST(decode_daemontools_rule)
{
    int64_t t;
    uint32_t ns;
    /* formats.md: @4000000037c219bf2ef02e94 is 1999-08-24 04:04:05.787492500 UTC */
    ck_assert_int_eq(qps_tai64n_decode("4000000037c219bf2ef02e94", &t, &ns), QPS_OK);
    ck_assert_int_eq(t, 935467445);
    ck_assert_uint_eq(ns, 787492500);
    qps_civil c;
    ck_assert_int_eq(qps_civil_from_unix(NULL, t, 1, &c), QPS_OK);
    ck_assert_int_eq(c.year, 1999);
    ck_assert_int_eq(c.month, 8);
    ck_assert_int_eq(c.day, 24);
    ck_assert_int_eq(c.hour, 4);
    ck_assert_int_eq(c.minute, 4);
    ck_assert_int_eq(c.second, 5);
}
END_TEST

START_TEST(decode_rejects_bad_digits)
{
    int64_t t;
    uint32_t ns;
    ck_assert_int_eq(qps_tai64n_decode("4000000037C219bf2ef02e94", &t, &ns), QPS_EFORMAT);
    ck_assert_int_eq(qps_tai64n_decode("4000000037c219bf2ef02e9g", &t, &ns), QPS_EFORMAT);
    ck_assert_int_eq(qps_tai64n_decode("40000000 7c219bf2ef02e94", &t, &ns), QPS_EFORMAT);
}
END_TEST

START_TEST(encode_round_trip)
{
    char label[26];
    qps_tai64n_encode(1764099448, 500, label);
    ck_assert_str_eq(label, "@4000000069260582000001f4");
    int64_t t;
    uint32_t ns;
    ck_assert_int_eq(qps_tai64n_decode(label + 1, &t, &ns), QPS_OK);
    ck_assert_int_eq(t, 1764099448);
    ck_assert_uint_eq(ns, 500);
}
END_TEST

START_TEST(local_time_matches_libc)
{
    static const char *zones[] = {"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"};
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        set_tz(zones[z]);
        qps_tzcache cache = QPS_TZCACHE_INIT;
        /* a year in 7-hour steps plus odd seconds crosses every DST change */
        for (int64_t t = 1735689600; t < 1767225600; t += 7 * 3600 + 13) {
            qps_civil c;
            time_t tt = (time_t)t;
            struct tm tm;
            localtime_r(&tt, &tm);
            ck_assert_int_eq(qps_civil_from_unix(&cache, t, 0, &c), QPS_OK);
            ck_assert_int_eq(c.year, tm.tm_year + 1900);
            ck_assert_int_eq(c.month, tm.tm_mon + 1);
            ck_assert_int_eq(c.day, tm.tm_mday);
            ck_assert_int_eq(c.hour, tm.tm_hour);
            ck_assert_int_eq(c.minute, tm.tm_min);
            ck_assert_int_eq(c.second, tm.tm_sec);
            int64_t back;
            ck_assert_int_eq(qps_unix_from_civil(&cache, &c, 0, &back), QPS_OK);
            /* a repeated hour maps back to its earlier instant */
            ck_assert(back == t || back == t - 3600 || back == t - 1800);
        }
    }
    set_tz("UTC");
}
END_TEST

START_TEST(dst_gap_and_repeat)
{
    set_tz("Europe/Berlin");
    /* 2026-03-29 02:30 does not exist in Berlin: moved forward to 03:30 CEST */
    qps_civil gap = {.year = 2026, .month = 3, .day = 29, .hour = 2, .minute = 30};
    int64_t t;
    ck_assert_int_eq(qps_unix_from_civil(NULL, &gap, 0, &t), QPS_OK);
    ck_assert_int_eq(t, 1774747800); /* 01:30 UTC */
    /* 2026-10-25 02:30 happens twice: the earlier, CEST, is 00:30 UTC */
    qps_civil twice = {.year = 2026, .month = 10, .day = 25, .hour = 2, .minute = 30};
    ck_assert_int_eq(qps_unix_from_civil(NULL, &twice, 0, &t), QPS_OK);
    ck_assert_int_eq(t, 1792888200);
    set_tz("UTC");
}
END_TEST

/* Every instant a local time names: two in the repeated hour, none in the gap. */
START_TEST(local_instants)
{
    int64_t a, b;
    int n;
    set_tz("Europe/Berlin");
    qps_civil twice = {.year = 2026, .month = 10, .day = 25, .hour = 2, .minute = 30};
    ck_assert_int_eq(qps_local_instants(NULL, &twice, &a, &b, &n), QPS_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(a, 1792888200);        /* 00:30 UTC, CEST */
    ck_assert_int_eq(b, 1792888200 + 3600); /* 01:30 UTC, CET */
    qps_civil gap = {.year = 2026, .month = 3, .day = 29, .hour = 2, .minute = 30};
    ck_assert_int_eq(qps_local_instants(NULL, &gap, &a, &b, &n), QPS_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(a, 1774747800);
    ck_assert_int_eq(b, a);
    qps_civil plain = {.year = 2026, .month = 10, .day = 25, .hour = 3, .minute = 30};
    ck_assert_int_eq(qps_local_instants(NULL, &plain, &a, &b, &n), QPS_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(a, 1792888200 + 2 * 3600);
    set_tz("America/New_York"); /* 2026-11-01 01:30 is 05:30Z (EDT) and 06:30Z (EST) */
    qps_civil ny = {.year = 2026, .month = 11, .day = 1, .hour = 1, .minute = 30};
    ck_assert_int_eq(qps_local_instants(NULL, &ny, &a, &b, &n), QPS_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(a, 1793511000);
    ck_assert_int_eq(b, 1793511000 + 3600);
    set_tz("UTC");
}
END_TEST

/* The cache's answers are the uncached ones: a year of local times, a few
 * per hour (so most come from the cache), in zones whose offsets change by
 * an hour, by half an hour, or are not whole hours. */
START_TEST(local_instants_cached)
{
    static const char *zones[] = {"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                                  "Asia/Kathmandu", "America/St_Johns"};
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        set_tz(zones[z]);
        qps_tzcache cache = QPS_TZCACHE_INIT;
        int hits = 0;
        for (int64_t wall = 1735689600; wall < 1767225600; wall += 1103) {
            qps_civil c;
            ck_assert_int_eq(qps_civil_from_unix(NULL, wall, 1, &c), QPS_OK); /* the wall's fields */
            int64_t a, b, ca, cb;
            int n, cn;
            bool cached = wall >= cache.wall_start && wall < cache.wall_end;
            ck_assert_int_eq(qps_local_instants(&cache, &c, &ca, &cb, &cn), QPS_OK);
            ck_assert_int_eq(qps_local_instants(NULL, &c, &a, &b, &n), QPS_OK);
            ck_assert_int_eq(cn, n);
            ck_assert_int_eq(ca, a);
            ck_assert_int_eq(cb, b);
            hits += cached;
        }
        ck_assert_int_gt(hits, 15000); /* of 28592, three or four an hour: the cache is used */
    }
    set_tz("UTC");
}
END_TEST

START_TEST(out_of_range)
{
    qps_civil c;
    ck_assert_int_eq(qps_civil_from_unix(NULL, INT64_MAX, 0, &c), QPS_ERANGE);
    ck_assert_int_eq(qps_civil_from_unix(NULL, INT64_MIN, 1, &c), QPS_ERANGE);
    qps_civil bad = {.year = 2026, .month = 13, .day = 1};
    int64_t t;
    ck_assert_int_eq(qps_unix_from_civil(NULL, &bad, 1, &t), QPS_EFORMAT);
}
END_TEST

START_TEST(days_from_civil_known_values)
{
    ck_assert_int_eq(qps_days_from_civil(1970, 1, 1), 0);
    ck_assert_int_eq(qps_days_from_civil(2000, 3, 1), 11017);
    ck_assert_int_eq(qps_days_from_civil(1969, 12, 31), -1);
}
END_TEST

static Suite *time_suite(void)
{
    Suite *s = suite_create("time");
    TCase *core = tcase_create("core");
    tcase_add_test(core, decode_daemontools_rule);
    tcase_add_test(core, encode_round_trip);
    tcase_add_test(core, days_from_civil_known_values);
    tcase_add_test(core, local_time_matches_libc);
    tcase_add_test(core, dst_gap_and_repeat);
    tcase_add_test(core, local_instants);
    tcase_add_test(core, local_instants_cached);
    tcase_set_timeout(core, 60);
    suite_add_tcase(s, core);
    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, decode_rejects_bad_digits);
    tcase_add_test(errors, out_of_range);
    suite_add_tcase(s, errors);
    return s;
}

int main(void)
{
    set_tz("UTC");
    SRunner *sr = srunner_create(time_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
