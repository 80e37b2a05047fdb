/* SPDX-License-Identifier: GPL-2.0-or-later */
/* config.c: defaults, then the configuration file, then module arguments. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"

static char dir[512], conf[600];
static char err[512];
static struct mailotp_opts o;

static void setup(void)
{
        tu_mkdtemp(dir, sizeof(dir));
        tu_join(conf, sizeof(conf), dir, "mailotp.conf");
        opts_init(&o);
        /* never read the host's /etc/mailotp/mailotp.conf */
        memcpy(o.conf, conf, strlen(conf) + 1);
        err[0] = '\0';
}

static void teardown(void)
{
        tu_rm_rf(dir);
}

static void write_conf(const char *text, mode_t mode)
{
        tu_write_file(conf, text, strlen(text), mode);
}

static enum mailotp_rc load(int argc, const char **argv)
{
        return config_load(&o, argc, argv, geteuid(), err, sizeof(err));
}

START_TEST(missing_default_file_means_defaults)
{
        const char *argv[] = {"window=2"};

        ck_assert_msg(load(1, argv) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(o.window, 2);
        ck_assert_uint_eq(o.digits, 6);
        ck_assert(!o.conf_explicit);
}
END_TEST

START_TEST(missing_explicit_file_is_error)
{
        char a[700];
        const char *argv[1];

        snprintf(a, sizeof(a), "conf=%s/nope.conf", dir);
        argv[0] = a;
        ck_assert_int_eq(load(1, argv), MAILOTP_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(err, "nope.conf"));
}
END_TEST

START_TEST(file_then_argv)
{
        const char *argv[] = {"window=3", "enforce=no"};

        write_conf("window = 2\ndigits = 8\nenforce = yes\nissuer = Example\n", 0600);
        ck_assert_msg(load(2, argv) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(o.window, 3); /* argument wins */
        ck_assert_uint_eq(o.digits, 8); /* file value kept */
        ck_assert(!o.enforce);
        ck_assert_str_eq(o.issuer, "Example");
}
END_TEST

START_TEST(explicit_conf_argument)
{
        char other[700], a[720];
        const char *argv[2];

        tu_join(other, sizeof(other), dir, "imap.conf");
        tu_write_file(other, "digits = 7\n", 11, 0644);
        write_conf("digits = 8\n", 0600);
        snprintf(a, sizeof(a), "conf=%s", other);
        argv[0] = "debug";
        argv[1] = a;
        ck_assert_msg(load(2, argv) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(o.digits, 7);
        ck_assert(o.debug);
        ck_assert(o.conf_explicit);
        ck_assert_str_eq(o.conf, other);
}
END_TEST

START_TEST(unsafe_file_modes)
{
        write_conf("window = 2\n", 0644); /* world-readable is fine for the config */
        ck_assert_int_eq(load(0, NULL), MAILOTP_OK);
        opts_init(&o);
        memcpy(o.conf, conf, strlen(conf) + 1);
        ck_assert_int_eq(chmod(conf, 0664), 0);
        ck_assert_int_eq(load(0, NULL), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_ptr_nonnull(strstr(err, "mailotp.conf"));
        ck_assert_int_eq(chmod(conf, 0646), 0);
        ck_assert_int_eq(load(0, NULL), MAILOTP_ERR_UNSAFE_FILE);
}
END_TEST

START_TEST(wrong_owner)
{
        write_conf("window = 2\n", 0600);
        ck_assert_int_eq(config_load(&o, 0, NULL, geteuid() + 1, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
}
END_TEST

START_TEST(symlinked_file)
{
        char real[700];

        tu_join(real, sizeof(real), dir, "real.conf");
        tu_write_file(real, "window = 2\n", 11, 0600);
        ck_assert_int_eq(symlink(real, conf), 0);
        ck_assert_int_eq(load(0, NULL), MAILOTP_ERR_UNSAFE_FILE);
}
END_TEST

START_TEST(too_large_file)
{
        char *big = malloc(CONFIG_MAX_SIZE + 2);

        ck_assert_ptr_nonnull(big);
        memset(big, '\n', CONFIG_MAX_SIZE + 1);
        tu_write_file(conf, big, CONFIG_MAX_SIZE + 1, 0600);
        ck_assert_int_eq(load(0, NULL), MAILOTP_ERR_UNSAFE_FILE);
        tu_write_file(conf, big, CONFIG_MAX_SIZE, 0600);
        ck_assert_int_eq(load(0, NULL), MAILOTP_OK);
        free(big);
}
END_TEST

START_TEST(bad_line_names_file_and_line)
{
        write_conf("window = 2\n\nwindow = 3\n", 0600);
        ck_assert_int_eq(load(0, NULL), MAILOTP_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(err, "mailotp.conf"));
        ck_assert_ptr_nonnull(strstr(err, "line 3"));
        ck_assert_ptr_nonnull(strstr(err, "window"));
}
END_TEST

START_TEST(bad_argument)
{
        const char *argv[] = {"frobnicate"};

        write_conf("window = 2\n", 0600);
        ck_assert_int_eq(load(1, argv), MAILOTP_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(err, "frobnicate"));
}
END_TEST

START_TEST(cross_check_after_all_sources)
{
        const char *argv[] = {"lockout_max=100"};
        const char *fix[] = {"lockout_max=300"};

        write_conf("lockout_delay = 300\n", 0600);
        ck_assert_int_eq(load(1, argv), MAILOTP_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(err, "lockout_max"));
        opts_init(&o);
        memcpy(o.conf, conf, strlen(conf) + 1);
        ck_assert_int_eq(load(1, fix), MAILOTP_OK);
        ck_assert_uint_eq(o.lockout_delay, 300);
        ck_assert_uint_eq(o.lockout_max, 300);
}
END_TEST

START_TEST(relative_conf_argument)
{
        const char *argv[] = {"conf=mailotp.conf"};

        ck_assert_int_eq(load(1, argv), MAILOTP_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(err, "conf"));
}
END_TEST

START_TEST(nul_in_file)
{
        tu_write_file(conf, "window = 2\n\0", 12, 0600);
        ck_assert_int_eq(load(0, NULL), MAILOTP_ERR_FORMAT);
}
END_TEST

START_TEST(file_without_final_newline)
{
        /* the configuration file has no end line, and its last line needs no newline */
        write_conf("window = 2\ndigits = 8", 0600);
        ck_assert_msg(load(0, NULL) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(o.window, 2);
        ck_assert_uint_eq(o.digits, 8);
}
END_TEST

START_TEST(empty_file_means_defaults)
{
        write_conf("", 0600);
        ck_assert_msg(load(0, NULL) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(o.window, 1);
}
END_TEST

static Suite *config_suite(void)
{
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("load");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, missing_default_file_means_defaults);
        tcase_add_test(tc, missing_explicit_file_is_error);
        tcase_add_test(tc, file_then_argv);
        tcase_add_test(tc, explicit_conf_argument);
        tcase_add_test(tc, unsafe_file_modes);
        tcase_add_test(tc, wrong_owner);
        tcase_add_test(tc, symlinked_file);
        tcase_add_test(tc, too_large_file);
        tcase_add_test(tc, bad_line_names_file_and_line);
        tcase_add_test(tc, bad_argument);
        tcase_add_test(tc, cross_check_after_all_sources);
        tcase_add_test(tc, relative_conf_argument);
        tcase_add_test(tc, nul_in_file);
        tcase_add_test(tc, file_without_final_newline);
        tcase_add_test(tc, empty_file_means_defaults);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(config_suite());
}
