/*
 * check_table.c - unit tests of qps_table.c, the bounded key table.
 * White-box: it includes qps_private.h.
 */
#include "qps_private.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t count_of(qps_table *t, const char *key, uint64_t *error)
{
    size_t n = qps_table_size(t);
    qps_table_entry *e = malloc((n ? n : 1) * sizeof *e);
    qps_table_entries(t, e);
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].len == strlen(key) && memcmp(e[i].key, key, e[i].len) == 0) {
            c = e[i].count;
            if (error)
                *error = e[i].error;
        }
    free(e);
    return c;
}

START_TEST(exact_below_capacity)
{
    qps_table *t = qps_table_new(1000);
    char key[32];
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof key, "key-%d", i);
            ck_assert_int_eq(qps_table_add(t, key, strlen(key), (uint64_t)(i % 7 + 1)), QPS_OK);
        }
    ck_assert_uint_eq(qps_table_size(t), 1000);
    ck_assert(!qps_table_overflowed(t));
    for (int i = 0; i < 1000; i += 37) {
        snprintf(key, sizeof key, "key-%d", i);
        ck_assert_uint_eq(count_of(t, key, NULL), 3 * (uint64_t)(i % 7 + 1));
    }
    qps_table_free(t);
}
END_TEST

START_TEST(keys_are_bytes)
{
    qps_table *t = qps_table_new(10);
    ck_assert_int_eq(qps_table_add(t, "a\0b", 3, 1), QPS_OK);
    ck_assert_int_eq(qps_table_add(t, "a\0c", 3, 1), QPS_OK);
    ck_assert_int_eq(qps_table_add(t, "", 0, 2), QPS_OK);
    char long_key[300];
    memset(long_key, 'x', sizeof long_key);
    ck_assert_int_eq(qps_table_add(t, long_key, sizeof long_key, 5), QPS_OK);
    ck_assert_uint_eq(qps_table_size(t), 4);
    ck_assert_uint_eq(count_of(t, "", NULL), 2);
    qps_table_free(t);
}
END_TEST

/* The hash and the compare read keys in whole words: keys of every length
 * up to 48 that differ in one byte anywhere are different keys, the same
 * bytes at another address are the same key (and hash alike), and nothing
 * is read outside a key (ASan, tests/sanitize.sh: each key is its own
 * allocation of exactly its length). */
START_TEST(every_byte_of_every_length_counts)
{
    for (size_t len = 1; len <= 48; len++) {
        qps_table *t = qps_table_new(200);
        for (size_t i = 0; i < len; i++) {
            char *k = malloc(len);
            memset(k, 'a', len);
            k[i] = 'b';
            ck_assert_int_eq(qps_table_add(t, k, len, 1), QPS_OK);
            char *again = malloc(len);
            memcpy(again, k, len);
            ck_assert_uint_eq(qps_table_hash(again, len), qps_table_hash(k, len));
            ck_assert_int_eq(qps_table_add(t, again, len, 1), QPS_OK);
            free(again);
            free(k);
        }
        char *plain = malloc(len);
        memset(plain, 'a', len);
        ck_assert_int_eq(qps_table_add(t, plain, len, 5), QPS_OK);
        free(plain);
        ck_assert_uint_eq(qps_table_size(t), len + 1);
        qps_table_entry *e = malloc((len + 1) * sizeof *e);
        qps_table_entries(t, e);
        for (size_t i = 0; i <= len; i++)
            ck_assert_uint_eq(e[i].count, memchr(e[i].key, 'b', len) ? 2 : 5);
        free(e);
        qps_table_free(t);
    }
}
END_TEST

START_TEST(space_saving_guarantees)
{
    /* heavy keys survive any amount of one-off keys; their count is an
     * upper bound within the recorded error */
    qps_table *t = qps_table_new(50);
    char key[64];
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "%s-%d", i % 3 ? "noise" : "x", i % 3 ? i : 0);
        if (i % 3 == 0)
            snprintf(key, sizeof key, "heavy-%d", (i / 3) % 5);
        ck_assert_int_eq(qps_table_add(t, key, strlen(key), 1), QPS_OK);
    }
    ck_assert(qps_table_overflowed(t));
    ck_assert_uint_eq(qps_table_size(t), 50);
    for (int h = 0; h < 5; h++) {
        snprintf(key, sizeof key, "heavy-%d", h);
        uint64_t err = 0, c = count_of(t, key, &err);
        ck_assert_uint_ge(c, 6666);
        ck_assert_uint_le(c - err, 6667);
    }
    qps_table_free(t);
}
END_TEST

START_TEST(long_keys_evicting_short_ones)
{
    qps_table *t = qps_table_new(4);
    char key[200];
    for (int i = 0; i < 1000; i++) {
        int len = snprintf(key, sizeof key, "%0*d", i % 2 ? 150 : 5, i);
        ck_assert_int_eq(qps_table_add(t, key, (size_t)len, 1), QPS_OK);
    }
    ck_assert_uint_eq(qps_table_size(t), 4);
    qps_table_free(t);
}
END_TEST

START_TEST(merge_adds_counts)
{
    qps_table *a = qps_table_new(100), *b = qps_table_new(100);
    qps_table_add(a, "x", 1, 3);
    qps_table_add(b, "x", 1, 4);
    qps_table_add(b, "y", 1, 1);
    ck_assert_int_eq(qps_table_merge(a, b), QPS_OK);
    ck_assert_uint_eq(count_of(a, "x", NULL), 7);
    ck_assert_uint_eq(count_of(a, "y", NULL), 1);
    qps_table_free(a);
    qps_table_free(b);
    ck_assert_ptr_null(qps_table_new(0));
    qps_table_free(NULL);
}
END_TEST

static Suite *table_suite(void)
{
    Suite *s = suite_create("table");
    TCase *core = tcase_create("core");
    tcase_add_test(core, exact_below_capacity);
    tcase_add_test(core, keys_are_bytes);
    tcase_add_test(core, merge_adds_counts);
    tcase_add_test(core, every_byte_of_every_length_counts);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, space_saving_guarantees);
    tcase_add_test(limits, long_keys_evicting_short_ones);
    tcase_set_timeout(limits, 60);
    suite_add_tcase(s, limits);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(table_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
