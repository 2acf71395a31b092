/*
 * check_logset.c - unit tests of log-set discovery (core/logset.c): the
 * multilog and logrotate orders, a file named twice read once, special
 * files in a directory skipped with a note, names given kept as given.
 */
#include "qpstat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[] = "/tmp/check_logset.XXXXXX";

static const char *at(const char *name)
{
    static char buf[8][300];
    static int i;
    char *p = buf[i++ % 8];
    snprintf(p, 300, "%s/%s", dir, name);
    return p;
}

static void touch(const char *name)
{
    FILE *f = fopen(at(name), "w");
    ck_assert_ptr_nonnull(f);
    fputs("x\n", f);
    fclose(f);
}

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    strcpy(dir, "/tmp/check_logset.XXXXXX");
}

/* The entries' names after the directory, joined by spaces. */
static const char *names(const qps_logset *set)
{
    static char out[2048];
    out[0] = '\0';
    size_t dl = strlen(dir);
    for (size_t i = 0; i < qps_logset_count(set); i++) {
        const char *p = qps_logset_entry(set, i)->path;
        if (strncmp(p, dir, dl) == 0 && p[dl] == '/')
            p += dl + 1;
        if (i)
            strcat(out, " ");
        strcat(out, p);
    }
    return out;
}

START_TEST(multilog_order)
{
    touch("current");
    touch("@400000006b0739a000000000.s");
    touch("@400000006b07398700000000.u");
    touch("@400000006b07399000000000.s");
    touch("state");
    touch("lock");
    touch("@40000000notalabel.s");
    qps_logset *set = qps_logset_new();
    ck_assert_int_eq(qps_logset_add(set, dir), QPS_OK);
    ck_assert_str_eq(names(set), "@400000006b07398700000000.u @400000006b07399000000000.s "
                                 "@400000006b0739a000000000.s current");
    for (size_t i = 0; i < qps_logset_count(set); i++)
        ck_assert_int_eq(qps_logset_entry(set, i)->from_dir, 1);
    ck_assert_uint_eq(qps_logset_note_count(set), 0);
    qps_logset_free(set);
}
END_TEST

START_TEST(logrotate_order)
{
    touch("qpsmtpd.log");
    touch("qpsmtpd.log.1");
    touch("qpsmtpd.log.2.gz");
    touch("qpsmtpd.log.10.gz");
    touch("qpsmtpd.log.0");   /* not a rotation */
    touch("qpsmtpd.log.x");
    touch(".log");
    qps_logset *set = qps_logset_new();
    ck_assert_int_eq(qps_logset_add(set, dir), QPS_OK);
    ck_assert_str_eq(names(set), "qpsmtpd.log.10.gz qpsmtpd.log.2.gz qpsmtpd.log.1 qpsmtpd.log");
    qps_logset_free(set);
}
END_TEST

/* The same file by two names (the directory twice, a file in it, a
 * hard link) is read once; "-" once. */
START_TEST(same_file_once)
{
    touch("current");
    touch("@400000006b07398700000000.s");
    ck_assert_int_eq(link(at("current"), at("other.txt")), 0);
    qps_logset *set = qps_logset_new();
    ck_assert_int_eq(qps_logset_add(set, dir), QPS_OK);
    ck_assert_int_eq(qps_logset_add(set, dir), QPS_OK);
    ck_assert_int_eq(qps_logset_add(set, at("current")), QPS_OK);
    ck_assert_int_eq(qps_logset_add(set, at("other.txt")), QPS_OK);
    ck_assert_int_eq(qps_logset_add(set, "-"), QPS_OK);
    ck_assert_int_eq(qps_logset_add(set, "-"), QPS_OK);
    ck_assert_uint_eq(qps_logset_count(set), 3);
    ck_assert_str_eq(names(set), "@400000006b07398700000000.s current -");
    ck_assert_int_eq(qps_logset_entry(set, 2)->is_stdin, 1);
    ck_assert_int_eq(qps_logset_entry(set, 2)->from_dir, 0);
    ck_assert_int_eq(qps_logset_entry(set, 2)->have_id, 0);
    /* each file's identity, as stat(2) gives it */
    struct stat st;
    ck_assert_int_eq(stat(at("current"), &st), 0);
    ck_assert_int_eq(qps_logset_entry(set, 1)->have_id, 1);
    ck_assert_uint_eq(qps_logset_entry(set, 1)->inode, (uint64_t)st.st_ino);
    ck_assert_uint_eq(qps_logset_entry(set, 1)->dev, (uint64_t)st.st_dev);
    qps_logset_free(set);
}
END_TEST

/* A FIFO, a device and a socket behind log names in a directory are
 * skipped (one note each); a directory named current stays, to fail at
 * the read; named directly, a FIFO is kept (a stream). */
START_TEST(special_files_skipped_in_directories)
{
    touch("@400000006b07398700000000.s");
    ck_assert_int_eq(mkfifo(at("current"), 0644), 0);
    ck_assert_int_eq(symlink("/dev/zero", at("x.log")), 0);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", at("y.log.1"));
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(mkdir(at("z.log"), 0755), 0);
    qps_logset *set = qps_logset_new();
    ck_assert_int_eq(qps_logset_add(set, dir), QPS_OK);
    ck_assert_str_eq(names(set), "@400000006b07398700000000.s z.log");
    ck_assert_uint_eq(qps_logset_note_count(set), 3);
    int seen = 0;
    for (size_t i = 0; i < 3; i++) {
        const qps_log_note *n = qps_logset_note(set, i);
        ck_assert_int_eq(n->kind, QPS_NOTE_SKIPPED);
        seen |= strcmp(n->path, at("current")) == 0 ? 1 : strcmp(n->path, at("x.log")) == 0 ? 2
                : strcmp(n->path, at("y.log.1")) == 0 ? 4 : 0;
    }
    ck_assert_int_eq(seen, 7);
    ck_assert_int_eq(qps_logset_add(set, at("current")), QPS_OK);
    ck_assert_uint_eq(qps_logset_count(set), 3);
    ck_assert_int_eq(qps_logset_entry(set, 2)->from_dir, 0);
    qps_logset_free(set);
    close(s);
}
END_TEST

START_TEST(notes_for_directories)
{
    ck_assert_int_eq(mkdir(at("empty"), 0755), 0);
    touch("empty/state");
    qps_logset *set = qps_logset_new();
    ck_assert_int_eq(qps_logset_add(set, at("empty")), QPS_OK);
    ck_assert_int_eq(qps_logset_add(set, at("missing")), QPS_OK);
    ck_assert_uint_eq(qps_logset_count(set), 1); /* the reader says it is missing */
    ck_assert_uint_eq(qps_logset_note_count(set), 1);
    ck_assert_int_eq(qps_logset_note(set, 0)->kind, QPS_NOTE_EMPTY_DIR);
    ck_assert_ptr_null(qps_logset_note(set, 1));
    ck_assert_ptr_null(qps_logset_entry(set, 1));
    qps_logset_free(set);
    qps_logset_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("logset");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, multilog_order);
    tcase_add_test(tc, logrotate_order);
    tcase_add_test(tc, same_file_once);
    tcase_add_test(tc, special_files_skipped_in_directories);
    tcase_add_test(tc, notes_for_directories);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
