/*
 * check_range.c - unit tests of range.c: the time options of every door
 * (today, yesterday, days N, since/until), their limits and messages, the
 * mail's date label, local days across DST, and the when-text parser.
 */
#include "qpstat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 2026-11-25 21:00:00 UTC, the fixtures' "now" */
#define NOW 1795640400LL
#define MIDNIGHT_UTC 1795564800LL /* 2026-11-25 00:00:00 UTC */

static void set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

START_TEST(days_limits_and_messages)
{
    static const char *const good[] = {"1", "7", "100000", "0001"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        qps_range r;
        qps_range_init(&r, "--");
        ck_assert_int_eq(qps_range_days(&r, good[i]), QPS_OK);
        ck_assert_int_eq(qps_range_finish(&r, NOW, 0), QPS_OK);
        ck_assert_int_eq(r.since, NOW - atol(good[i]) * 86400LL);
        ck_assert(r.has_since && !r.has_until);
    }
    static const char *const bad[] = {"0", "100001", "200000", "-1", "+1", " 1", "1 ", "1x", "", "1.5",
                                      "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qps_range r;
        qps_range_init(&r, "--");
        ck_assert_int_eq(qps_range_days(&r, bad[i]), QPS_EINVAL);
        char want[256];
        snprintf(want, sizeof want, "--days takes a whole number from 1 to 100000, not '%s'", bad[i]);
        ck_assert_str_eq(r.error, want);
    }
    /* the API and Perl name it without dashes */
    qps_range r;
    qps_range_init(&r, "");
    ck_assert_int_eq(qps_range_days(&r, "200000"), QPS_EINVAL);
    ck_assert_str_eq(r.error, "days takes a whole number from 1 to 100000, not '200000'");
    /* a huge text is cut in the message, never overflows it */
    char huge[5000];
    memset(huge, '9', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    ck_assert_int_eq(qps_range_days(&r, huge), QPS_EINVAL);
    ck_assert_uint_lt(strlen(r.error), sizeof r.error);
}
END_TEST

START_TEST(days_label)
{
    qps_range r;
    qps_range_init(&r, "--");
    qps_range_days(&r, "7");
    ck_assert_int_eq(qps_range_finish(&r, NOW, 1), QPS_OK); /* a given option beats the mail's default */
    ck_assert_str_eq(r.label, "the last 7 days");
    ck_assert_int_eq(r.since, NOW - 7 * 86400);
}
END_TEST

START_TEST(calendar_days_utc)
{
    set_tz("UTC");
    qps_range r;
    qps_range_init(&r, "--");
    ck_assert_int_eq(qps_range_today(&r), QPS_OK);
    ck_assert_int_eq(qps_range_finish(&r, NOW, 0), QPS_OK);
    ck_assert_int_eq(r.since, MIDNIGHT_UTC);
    ck_assert_int_eq(r.until, MIDNIGHT_UTC + 86400);
    ck_assert_str_eq(r.label, "2026-11-25");

    qps_range_init(&r, "--");
    qps_range_yesterday(&r);
    qps_range_finish(&r, NOW, 0);
    ck_assert_int_eq(r.since, MIDNIGHT_UTC - 86400);
    ck_assert_int_eq(r.until, MIDNIGHT_UTC);
    ck_assert_str_eq(r.label, "2026-11-24");

    /* the mail report without options: yesterday and today, the seed's label */
    qps_range_init(&r, "--");
    qps_range_finish(&r, NOW, 1);
    ck_assert_int_eq(r.since, MIDNIGHT_UTC - 86400);
    ck_assert_int_eq(r.until, MIDNIGHT_UTC + 86400);
    ck_assert_str_eq(r.label, "2026-11-25|2026-11-24");

    /* without the mail: nothing selected */
    qps_range_init(&r, "--");
    qps_range_finish(&r, NOW, 0);
    ck_assert(!r.has_since && !r.has_until);
    ck_assert_str_eq(r.label, "");
}
END_TEST

START_TEST(calendar_days_across_dst)
{
    /* 2026-10-25 in Berlin has 25 hours: CEST (+2) until 03:00, then CET */
    set_tz("Europe/Berlin");
    int64_t noon = qps_days_from_civil(2026, 10, 25) * 86400 + 12 * 3600;
    qps_range r;
    qps_range_init(&r, "--");
    qps_range_today(&r);
    ck_assert_int_eq(qps_range_finish(&r, noon, 0), QPS_OK);
    ck_assert_int_eq(r.since, qps_days_from_civil(2026, 10, 25) * 86400 - 2 * 3600);
    ck_assert_int_eq(r.until - r.since, 25 * 3600);
    ck_assert_str_eq(r.label, "2026-10-25");
    /* and the day after has 24 again */
    qps_range_init(&r, "--");
    qps_range_yesterday(&r);
    qps_range_finish(&r, noon + 86400, 0);
    ck_assert_int_eq(r.until - r.since, 25 * 3600);
    qps_range_init(&r, "--");
    qps_range_today(&r);
    qps_range_finish(&r, noon + 86400, 0);
    ck_assert_int_eq(r.until - r.since, 24 * 3600);
    set_tz("UTC");
}
END_TEST

START_TEST(one_relative_option)
{
    qps_range r;
    qps_range_init(&r, "--");
    ck_assert_int_eq(qps_range_today(&r), QPS_OK);
    ck_assert_int_eq(qps_range_days(&r, "2"), QPS_EINVAL);
    ck_assert_str_eq(r.error, "give only one of --today, --yesterday and --days");
    qps_range_init(&r, "");
    qps_range_days(&r, "2");
    ck_assert_int_eq(qps_range_yesterday(&r), QPS_EINVAL);
    ck_assert_str_eq(r.error, "give only one of today, yesterday and days");
    ck_assert_int_eq(qps_range_today(&r), QPS_EINVAL);
}
END_TEST

START_TEST(since_until_bounds)
{
    set_tz("UTC");
    qps_range r;
    qps_range_init(&r, "--");
    ck_assert_int_eq(qps_range_since(&r, "2026-11-01"), QPS_OK);
    ck_assert_int_eq(qps_range_until(&r, "2026-11-20"), QPS_OK);
    ck_assert_int_eq(qps_range_finish(&r, NOW, 1), QPS_OK);
    ck_assert_int_eq(r.since, qps_days_from_civil(2026, 11, 1) * 86400);
    ck_assert_int_eq(r.until, qps_days_from_civil(2026, 11, 21) * 86400); /* a date alone: its end */
    ck_assert_str_eq(r.label, "2026-11-01 to 2026-11-20");

    qps_range_init(&r, "--");
    ck_assert_int_eq(qps_range_since(&r, "yesterday"), QPS_EINVAL);
    ck_assert_str_eq(r.error, "--since: not a date or time: 'yesterday'");
    ck_assert_int_eq(qps_range_until(&r, "2026-02-30"), QPS_EINVAL);
    ck_assert_str_eq(r.error, "--until: not a date or time: '2026-02-30'");

    /* reversed or equal: empty, refused */
    qps_range_init(&r, "--");
    qps_range_since(&r, "2026-11-20");
    qps_range_until(&r, "2026-11-10");
    ck_assert_int_eq(qps_range_finish(&r, NOW, 0), QPS_EINVAL);
    ck_assert_str_eq(r.error, "--since must come before --until: the range is empty");
    qps_range_init(&r, "");
    qps_range_since_unix(&r, 100);
    qps_range_until_unix(&r, 100);
    ck_assert_int_eq(qps_range_finish(&r, NOW, 0), QPS_EINVAL);
    ck_assert_str_eq(r.error, "since must come before until: the range is empty");
    /* an open end is empty in the label */
    qps_range_init(&r, "");
    qps_range_since_unix(&r, MIDNIGHT_UTC);
    ck_assert_int_eq(qps_range_finish(&r, NOW, 1), QPS_OK);
    ck_assert(r.has_since && !r.has_until);
    ck_assert_str_eq(r.label, "2026-11-25 to ");
}
END_TEST

START_TEST(explicit_bounds_beat_relative_in_any_order)
{
    set_tz("UTC");
    qps_range a, b;
    qps_range_init(&a, "--");
    qps_range_today(&a);
    qps_range_since(&a, "2026-11-25 12:00Z");
    qps_range_init(&b, "--");
    qps_range_since(&b, "2026-11-25 12:00Z");
    qps_range_today(&b);
    ck_assert_int_eq(qps_range_finish(&a, NOW, 0), QPS_OK);
    ck_assert_int_eq(qps_range_finish(&b, NOW, 0), QPS_OK);
    ck_assert_int_eq(a.since, MIDNIGHT_UTC + 12 * 3600);
    ck_assert_int_eq(a.until, MIDNIGHT_UTC + 86400); /* today's end stays */
    ck_assert_int_eq(b.since, a.since);
    ck_assert_int_eq(b.until, a.until);
    ck_assert_str_eq(a.label, b.label);
    /* an until before the relative start empties it */
    qps_range_init(&a, "--");
    qps_range_days(&a, "1");
    qps_range_until(&a, "2026-11-01");
    ck_assert_int_eq(qps_range_finish(&a, NOW, 0), QPS_EINVAL);
}
END_TEST

START_TEST(when_texts)
{
    set_tz("UTC");
    int64_t t;
    ck_assert_int_eq(qps_parse_when("2026-11-25 19:38Z", 0, &t), QPS_OK);
    ck_assert_int_eq(t, 1795635480);
    ck_assert_int_eq(qps_parse_when("2026-11-25T21:38+02:00", 0, &t), QPS_OK);
    ck_assert_int_eq(t, 1795635480);
    ck_assert_int_eq(qps_parse_when("2026-11-25 19:38:30", 0, &t), QPS_OK);
    ck_assert_int_eq(t, 1795635510);
    ck_assert_int_eq(qps_parse_when("2026-11-25", 1, &t), QPS_OK);
    ck_assert_int_eq(t, MIDNIGHT_UTC + 86400);
    ck_assert_int_eq(qps_parse_when("2026-12-31", 1, &t), QPS_OK); /* into the next year */
    ck_assert_int_eq(t, qps_days_from_civil(2027, 1, 1) * 86400);
    set_tz("Europe/Berlin");
    ck_assert_int_eq(qps_parse_when("2026-11-25 20:38", 0, &t), QPS_OK); /* local: CET */
    ck_assert_int_eq(t, 1795635480);
    set_tz("UTC");
    static const char *const bad[] = {"", "2026", "2026-11-25 ", "2026-11-25 7:00", "2026-11-25 25:00",
                                      "2026-11-25 12:60", "2026-11-25 12:00:61", "2026-11-25 12:00+25:00",
                                      "2026-11-25+01:00", "2026-11-25Z", "2026-13-01", "2026-02-29",
                                      "2026-11-25 12:00 extra", "x026-11-25"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(qps_parse_when(bad[i], 0, &t) == QPS_EINVAL, "'%s' taken", bad[i]);
    ck_assert_int_eq(qps_parse_when("2028-02-29", 0, &t), QPS_OK); /* a leap year */
}
END_TEST

START_TEST(keeps_and_skips)
{
    qps_range r;
    qps_range_init(&r, "--");
    qps_range_finish(&r, NOW, 0);
    ck_assert(qps_range_keeps(&r, 0, 0)); /* nothing selected: everything, untimed too */
    qps_range_since_unix(&r, 1000);
    qps_range_until_unix(&r, 2000);
    qps_range_finish(&r, NOW, 0);
    ck_assert(!qps_range_keeps(&r, 0, 1500));
    ck_assert(qps_range_keeps(&r, 1, 1000));
    ck_assert(!qps_range_keeps(&r, 1, 2000));
    ck_assert(!qps_range_keeps(&r, 1, 999));

    char label[26], path[64];
    qps_tai64n_encode(999, 0, label);
    snprintf(path, sizeof path, "/var/log/qpsmtpd/%s.s", label);
    ck_assert(qps_range_skips_log(&r, path));
    snprintf(path, sizeof path, "%s.u", label);
    ck_assert(qps_range_skips_log(&r, path));
    snprintf(path, sizeof path, "%s.x", label);
    ck_assert(!qps_range_skips_log(&r, path));
    ck_assert(!qps_range_skips_log(&r, "/var/log/qpsmtpd/current"));
    qps_tai64n_encode(1000, 0, label); /* closed at the start: may hold its first second */
    snprintf(path, sizeof path, "%s.s", label);
    ck_assert(!qps_range_skips_log(&r, path));
    qps_range_init(&r, "--");
    qps_range_finish(&r, NOW, 0);
    qps_tai64n_encode(999, 0, label);
    snprintf(path, sizeof path, "%s.s", label);
    ck_assert(!qps_range_skips_log(&r, path)); /* no start: every file is read */
}
END_TEST

static Suite *range_suite(void)
{
    Suite *s = suite_create("range");
    TCase *t = tcase_create("range");
    tcase_add_test(t, days_limits_and_messages);
    tcase_add_test(t, days_label);
    tcase_add_test(t, calendar_days_utc);
    tcase_add_test(t, calendar_days_across_dst);
    tcase_add_test(t, one_relative_option);
    tcase_add_test(t, since_until_bounds);
    tcase_add_test(t, explicit_bounds_beat_relative_in_any_order);
    tcase_add_test(t, when_texts);
    tcase_add_test(t, keeps_and_skips);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    set_tz("UTC");
    SRunner *r = srunner_create(range_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
