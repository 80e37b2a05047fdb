/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * options.c: defaults, every option good / bad / unknown through both
 * sources (module arguments and the configuration file), and the
 * cross-field check.
 */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "options.h"
#include "testutil.h"

static struct mailotp_opts o;
static char err[256];

static void setup(void)
{
        opts_init(&o);
        memset(err, 0, sizeof(err));
}

/* Apply one module argument to fresh defaults. */
static enum mailotp_rc arg1(const char *a)
{
        const char *argv[1];

        argv[0] = a;
        opts_init(&o);
        err[0] = '\0';
        return opts_apply_argv(&o, 1, argv, err, sizeof(err));
}

/* Apply a configuration file text to fresh defaults. */
static enum mailotp_rc file(const char *text)
{
        opts_init(&o);
        err[0] = '\0';
        return opts_apply_file(&o, text, strlen(text), err, sizeof(err));
}

static void assert_err_has(const char *needle)
{
        ck_assert_msg(strstr(err, needle) != NULL, "error \"%s\" does not mention \"%s\"", err,
                      needle);
}

/* ---- defaults ------------------------------------------------------------- */

START_TEST(defaults)
{
        memset(&o, 0xA5, sizeof(o));
        opts_init(&o);
        ck_assert_str_eq(o.dir, "/var/lib/mailotp");
        ck_assert_str_eq(o.conf, "/etc/mailotp/mailotp.conf");
        ck_assert(!o.conf_explicit);
        ck_assert_str_eq(o.issuer, "");
        ck_assert_int_eq(o.mode, MAILOTP_MODE_SIMPLE);
        ck_assert_uint_eq(o.window, 1);
        ck_assert_uint_eq(o.digits, 6);
        ck_assert_uint_eq(o.lockout_after, 5);
        ck_assert_uint_eq(o.lockout_delay, 60);
        ck_assert_uint_eq(o.lockout_max, 14400);
        ck_assert_uint_eq(o.lock_timeout, 5);
        ck_assert(!o.enforce);
        ck_assert(!o.debug);
        ck_assert_uint_eq(o.reuse_grace, 0);
        ck_assert_uint_eq(o.last_logins, 20);
        ck_assert_str_eq(o.no_app_passwords, "");
        ck_assert(!o.prompt);
        ck_assert_str_eq(o.prompt_text, "Verification code: ");
        ck_assert_int_eq(opts_check(&o, err, sizeof(err)), MAILOTP_OK);
}
END_TEST

START_TEST(empty_sources_keep_defaults)
{
        ck_assert_int_eq(opts_apply_argv(&o, 0, NULL, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(opts_apply_file(&o, "", 0, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(opts_apply_file(&o, "# only a comment\n\n", 18, err, sizeof(err)),
                         MAILOTP_OK);
        ck_assert_uint_eq(o.window, 1);
        ck_assert_str_eq(o.dir, "/var/lib/mailotp");
}
END_TEST

START_TEST(null_argv_entries_skipped)
{
        const char *argv[] = {NULL, "window=3", NULL};

        ck_assert_int_eq(opts_apply_argv(&o, 3, argv, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(o.window, 3);
}
END_TEST

/* ---- numeric options: both bounds good, one past each bad ------------------ */

struct num_case {
        const char *name;
        unsigned lo, hi;
        size_t off; /* field offset */
};

#define NUM(n, lo, hi)                                                                             \
        {                                                                                          \
#n, lo, hi, offsetof(struct mailotp_opts, n)                                       \
        }

static const struct num_case nums[] = {
    NUM(window, 0, 10),           NUM(digits, 6, 8),           NUM(lockout_after, 0, 100),
    NUM(lockout_delay, 1, 86400), NUM(lockout_max, 1, 604800), NUM(lock_timeout, 1, 120),
    NUM(reuse_grace, 0, 3600),    NUM(last_logins, 1, 200),
};

#define NNUM ((int)(sizeof(nums) / sizeof(nums[0])))

static unsigned field(const struct num_case *c)
{
        unsigned v;

        memcpy(&v, (const char *)&o + c->off, sizeof(v));
        return v;
}

START_TEST(num_bounds_argv)
{
        const struct num_case *c = &nums[_i];
        char a[64];

        snprintf(a, sizeof(a), "%s=%u", c->name, c->lo);
        ck_assert_msg(arg1(a) == MAILOTP_OK, "%s: %s", a, err);
        ck_assert_uint_eq(field(c), c->lo);
        snprintf(a, sizeof(a), "%s=%u", c->name, c->hi);
        ck_assert_msg(arg1(a) == MAILOTP_OK, "%s: %s", a, err);
        ck_assert_uint_eq(field(c), c->hi);
}
END_TEST

START_TEST(num_bounds_file)
{
        const struct num_case *c = &nums[_i];
        char t[64];

        snprintf(t, sizeof(t), "%s = %u\n", c->name, c->lo);
        ck_assert_msg(file(t) == MAILOTP_OK, "%s: %s", t, err);
        ck_assert_uint_eq(field(c), c->lo);
        snprintf(t, sizeof(t), "%s = %u\n", c->name, c->hi);
        ck_assert_msg(file(t) == MAILOTP_OK, "%s: %s", t, err);
        ck_assert_uint_eq(field(c), c->hi);
}
END_TEST

START_TEST(num_out_of_range_argv)
{
        const struct num_case *c = &nums[_i];
        char a[64];

        snprintf(a, sizeof(a), "%s=%u", c->name, c->hi + 1);
        ck_assert_int_eq(arg1(a), MAILOTP_ERR_INVALID);
        assert_err_has(c->name);
        if (c->lo > 0) {
                snprintf(a, sizeof(a), "%s=%u", c->name, c->lo - 1);
                ck_assert_int_eq(arg1(a), MAILOTP_ERR_INVALID);
                assert_err_has(c->name);
        }
}
END_TEST

START_TEST(num_out_of_range_file)
{
        const struct num_case *c = &nums[_i];
        char t[64];

        snprintf(t, sizeof(t), "\n%s = %u\n", c->name, c->hi + 1);
        ck_assert_int_eq(file(t), MAILOTP_ERR_INVALID);
        assert_err_has(c->name);
        assert_err_has("line 2");
}
END_TEST

START_TEST(num_malformed)
{
        const struct num_case *c = &nums[_i];
        static const char *const junk[] = {"",    "-1", "+1",  "1x",
                                           "0x1", " ",  "1.5", "99999999999999999999999"};
        char a[64];

        for (size_t j = 0; j < sizeof(junk) / sizeof(junk[0]); j++) {
                snprintf(a, sizeof(a), "%s=%s", c->name, junk[j]);
                ck_assert_msg(arg1(a) == MAILOTP_ERR_INVALID, "accepted %s", a);
                assert_err_has(c->name);
        }
        /* bare numeric option */
        ck_assert_int_eq(arg1(c->name), MAILOTP_ERR_INVALID);
        assert_err_has(c->name);
}
END_TEST

/* ---- booleans ------------------------------------------------------------- */

START_TEST(bool_options)
{
        ck_assert_int_eq(arg1("enforce"), MAILOTP_OK);
        ck_assert(o.enforce);
        ck_assert_int_eq(arg1("enforce=no"), MAILOTP_OK);
        ck_assert(!o.enforce);
        ck_assert_int_eq(arg1("enforce=yes"), MAILOTP_OK);
        ck_assert(o.enforce);
        ck_assert_int_eq(arg1("debug"), MAILOTP_OK);
        ck_assert(o.debug);
        ck_assert_int_eq(arg1("debug=off"), MAILOTP_OK);
        ck_assert(!o.debug);
        ck_assert_int_eq(file("enforce = true\ndebug = 1\n"), MAILOTP_OK);
        ck_assert(o.enforce);
        ck_assert(o.debug);
        ck_assert_int_eq(file("enforce\n"), MAILOTP_OK);
        ck_assert(o.enforce);
        ck_assert_int_eq(file("enforce = false\ndebug = 0\n"), MAILOTP_OK);
        ck_assert(!o.enforce);
        ck_assert(!o.debug);
}
END_TEST

START_TEST(bool_bad_values)
{
        ck_assert_int_eq(arg1("enforce=maybe"), MAILOTP_ERR_INVALID);
        assert_err_has("enforce");
        ck_assert_int_eq(arg1("debug=2"), MAILOTP_ERR_INVALID);
        assert_err_has("debug");
        ck_assert_int_eq(arg1("enforce="), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(file("debug = YES\n"), MAILOTP_ERR_INVALID);
        assert_err_has("line 1");
        assert_err_has("debug");
}
END_TEST

/* ---- paths ---------------------------------------------------------------- */

START_TEST(dir_good)
{
        ck_assert_int_eq(arg1("dir=/srv/mailotp"), MAILOTP_OK);
        ck_assert_str_eq(o.dir, "/srv/mailotp");
        ck_assert_int_eq(file("dir = /var/lib/otp-store\n"), MAILOTP_OK);
        ck_assert_str_eq(o.dir, "/var/lib/otp-store");
        /* ".." only as a whole component is refused */
        ck_assert_int_eq(arg1("dir=/srv/..otp/a..b/c.."), MAILOTP_OK);
        ck_assert_str_eq(o.dir, "/srv/..otp/a..b/c..");
        ck_assert_int_eq(arg1("dir=/"), MAILOTP_OK);
        ck_assert_str_eq(o.dir, "/");
}
END_TEST

START_TEST(dir_relative_refused)
{
        ck_assert_int_eq(arg1("dir=var/lib/mailotp"), MAILOTP_ERR_INVALID);
        assert_err_has("dir");
        ck_assert_int_eq(arg1("dir=./x"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(arg1("dir=~/x"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(arg1("dir="), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(arg1("dir"), MAILOTP_ERR_INVALID);
        assert_err_has("dir");
        ck_assert_int_eq(file("dir = relative\n"), MAILOTP_ERR_INVALID);
        assert_err_has("line 1");
        ck_assert_str_eq(o.dir, "/var/lib/mailotp"); /* unchanged */
}
END_TEST

START_TEST(dir_dotdot_refused)
{
        static const char *const bad[] = {"dir=/var/lib/../etc", "dir=/..",   "dir=/a/..",
                                          "dir=/a/../",          "dir=/../x", "dir=//.."};

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_msg(arg1(bad[i]) == MAILOTP_ERR_INVALID, "accepted %s", bad[i]);
                assert_err_has("..");
                ck_assert_str_eq(o.dir, "/var/lib/mailotp");
        }
        ck_assert_int_eq(file("# x\ndir = /srv/../etc\n"), MAILOTP_ERR_INVALID);
        assert_err_has("line 2");
}
END_TEST

START_TEST(dir_space_or_control_refused)
{
        ck_assert_int_eq(arg1("dir=/srv/mail otp"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(arg1("dir=/srv/\x01x"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(arg1("dir=/srv/\x7fx"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(file("dir = /srv/mail otp\n"), MAILOTP_ERR_INVALID);
}
END_TEST

START_TEST(dir_too_long)
{
        char a[MAILOTP_PATH_MAX + 16];

        /* "dir=" + '/' + 1022 x 'a' = a path of 1023 bytes: fits */
        memcpy(a, "dir=/", 5);
        memset(a + 5, 'a', MAILOTP_PATH_MAX - 2);
        a[5 + MAILOTP_PATH_MAX - 2] = '\0';
        ck_assert_int_eq(arg1(a), MAILOTP_OK);
        ck_assert_uint_eq(strlen(o.dir), MAILOTP_PATH_MAX - 1);
        /* 1024 bytes: too long */
        a[5 + MAILOTP_PATH_MAX - 2] = 'a';
        a[5 + MAILOTP_PATH_MAX - 1] = '\0';
        ck_assert_int_eq(arg1(a), MAILOTP_ERR_INVALID);
        assert_err_has("dir");
}
END_TEST

START_TEST(conf_argv_only)
{
        ck_assert_int_eq(arg1("conf=/etc/mailotp/imap.conf"), MAILOTP_OK);
        ck_assert_str_eq(o.conf, "/etc/mailotp/imap.conf");
        ck_assert(o.conf_explicit);
        ck_assert_int_eq(file("conf = /etc/other.conf\n"), MAILOTP_ERR_INVALID);
        assert_err_has("conf");
        assert_err_has("line 1");
        ck_assert(!o.conf_explicit);
}
END_TEST

START_TEST(conf_bad_paths)
{
        ck_assert_int_eq(arg1("conf=mailotp.conf"), MAILOTP_ERR_INVALID);
        assert_err_has("conf");
        ck_assert_int_eq(arg1("conf=/etc/../tmp/x.conf"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(arg1("conf"), MAILOTP_ERR_INVALID);
        ck_assert(!o.conf_explicit);
}
END_TEST

START_TEST(find_conf)
{
        const char *argv[] = {"window=3", "conf=/etc/mailotp/smtp.conf", "debug"};
        const char *twice[] = {"conf=/a.conf", "conf=/b.conf"};
        const char *rel[] = {"conf=a.conf"};

        ck_assert_int_eq(opts_find_conf(&o, 3, argv, err, sizeof(err)), MAILOTP_OK);
        ck_assert_str_eq(o.conf, "/etc/mailotp/smtp.conf");
        ck_assert(o.conf_explicit);
        ck_assert_uint_eq(o.window, 1); /* nothing else applied */
        ck_assert(!o.debug);
        opts_init(&o);
        ck_assert_int_eq(opts_find_conf(&o, 2, twice, err, sizeof(err)), MAILOTP_ERR_INVALID);
        assert_err_has("twice");
        opts_init(&o);
        ck_assert_int_eq(opts_find_conf(&o, 1, rel, err, sizeof(err)), MAILOTP_ERR_INVALID);
        ck_assert(!o.conf_explicit);
        opts_init(&o);
        ck_assert_int_eq(opts_find_conf(&o, 1, argv, err, sizeof(err)), MAILOTP_OK);
        ck_assert(!o.conf_explicit);
        ck_assert_str_eq(o.conf, MAILOTP_DEFAULT_CONF);
}
END_TEST

/* ---- issuer (file only) ----------------------------------------------------- */

START_TEST(issuer_file_only)
{
        ck_assert_int_eq(file("issuer = Example Mail\n"), MAILOTP_OK);
        ck_assert_str_eq(o.issuer, "Example Mail");
        ck_assert_int_eq(arg1("issuer=Example"), MAILOTP_ERR_INVALID);
        assert_err_has("issuer");
        ck_assert_str_eq(o.issuer, "");
}
END_TEST

START_TEST(issuer_bad)
{
        char t[128];

        ck_assert_int_eq(file("issuer = a:b\n"), MAILOTP_ERR_INVALID);
        assert_err_has("issuer");
        ck_assert_int_eq(file("issuer =\n"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(file("issuer\n"), MAILOTP_ERR_INVALID);
        /* 63 bytes fit, 64 do not */
        memcpy(t, "issuer = ", 9);
        memset(t + 9, 'x', 63);
        memcpy(t + 9 + 63, "\n", 2);
        ck_assert_int_eq(file(t), MAILOTP_OK);
        ck_assert_uint_eq(strlen(o.issuer), 63);
        memset(t + 9, 'x', 64);
        memcpy(t + 9 + 64, "\n", 2);
        ck_assert_int_eq(file(t), MAILOTP_ERR_INVALID);
        assert_err_has("issuer");
}
END_TEST

/* ---- mode words and PAM's own options ---------------------------------------- */

START_TEST(mode_words)
{
        const char *both[] = {"split", "verify"};
        const char *both2[] = {"verify", "split"};

        ck_assert_int_eq(arg1("split"), MAILOTP_OK);
        ck_assert_int_eq(o.mode, MAILOTP_MODE_SPLIT);
        ck_assert_int_eq(arg1("verify"), MAILOTP_OK);
        ck_assert_int_eq(o.mode, MAILOTP_MODE_VERIFY);
        opts_init(&o);
        ck_assert_int_eq(opts_apply_argv(&o, 2, both, err, sizeof(err)), MAILOTP_ERR_INVALID);
        assert_err_has("split");
        assert_err_has("verify");
        opts_init(&o);
        ck_assert_int_eq(opts_apply_argv(&o, 2, both2, err, sizeof(err)), MAILOTP_ERR_INVALID);
}
END_TEST

START_TEST(mode_words_take_no_value)
{
        ck_assert_int_eq(arg1("split=1"), MAILOTP_ERR_INVALID);
        assert_err_has("split");
        ck_assert_int_eq(o.mode, MAILOTP_MODE_SIMPLE);
        ck_assert_int_eq(arg1("verify=yes"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(arg1("split="), MAILOTP_ERR_INVALID);
}
END_TEST

START_TEST(mode_words_not_in_file)
{
        ck_assert_int_eq(file("split\n"), MAILOTP_ERR_INVALID);
        assert_err_has("split");
        ck_assert_int_eq(file("verify\n"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(o.mode, MAILOTP_MODE_SIMPLE);
}
END_TEST

START_TEST(pam_own_options)
{
        const char *argv[] = {"use_first_pass", "try_first_pass", "authtok_type=OTP",
                              "use_first_pass"};

        ck_assert_int_eq(opts_apply_argv(&o, 4, argv, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(o.mode, MAILOTP_MODE_SIMPLE);
        ck_assert_int_eq(arg1("authtok_type"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(arg1("use_first_pass=1"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(file("use_first_pass\n"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(file("authtok_type = OTP\n"), MAILOTP_ERR_INVALID);
}
END_TEST

/* ---- unknown names and duplicates -------------------------------------------- */

START_TEST(unknown_argv)
{
        static const char *const bad[] = {"frobnicate", "frobnicate=1",  "Window=1",
                                          "WINDOW=1",   "window_size=1", "=1",
                                          "",           " window=1",     "dir "};

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_msg(arg1(bad[i]) == MAILOTP_ERR_INVALID, "accepted \"%s\"", bad[i]);
                ck_assert_str_ne(err, "");
        }
        ck_assert_int_eq(arg1("frobnicate=1"), MAILOTP_ERR_INVALID);
        assert_err_has("frobnicate");
}
END_TEST

START_TEST(unknown_file)
{
        ck_assert_int_eq(file("window = 2\nfrobnicate = 1\n"), MAILOTP_ERR_INVALID);
        assert_err_has("line 2");
        assert_err_has("frobnicate");
}
END_TEST

START_TEST(duplicate_argv)
{
        const char *argv[] = {"window=2", "digits=8", "window=3"};
        const char *dbg[] = {"debug", "debug=no"};

        ck_assert_int_eq(opts_apply_argv(&o, 3, argv, err, sizeof(err)), MAILOTP_ERR_INVALID);
        assert_err_has("window");
        assert_err_has("twice");
        opts_init(&o);
        ck_assert_int_eq(opts_apply_argv(&o, 2, dbg, err, sizeof(err)), MAILOTP_ERR_INVALID);
        assert_err_has("debug");
}
END_TEST

START_TEST(duplicate_file)
{
        ck_assert_int_eq(file("# c\nwindow = 2\n\nwindow = 2\n"), MAILOTP_ERR_INVALID);
        assert_err_has("line 4");
        assert_err_has("window");
        ck_assert_int_eq(file("dir = /a\ndir = /b\n"), MAILOTP_ERR_INVALID);
        assert_err_has("line 2");
}
END_TEST

START_TEST(same_key_in_both_sources_ok)
{
        const char *argv[] = {"window=3", "dir=/srv/b"};
        static const char text[] = "window = 2\ndir = /srv/a\n";

        ck_assert_int_eq(opts_apply_file(&o, text, sizeof(text) - 1, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(o.window, 2);
        ck_assert_str_eq(o.dir, "/srv/a");
        ck_assert_int_eq(opts_apply_argv(&o, 2, argv, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(o.window, 3); /* arguments override the file */
        ck_assert_str_eq(o.dir, "/srv/b");
}
END_TEST

START_TEST(file_syntax_error_names_line)
{
        ck_assert_int_eq(file("window = 2\n\n# ok\nthis is not valid\n"), MAILOTP_ERR_INVALID);
        assert_err_has("line 4");
        ck_assert_int_eq(file("window = 2\r\ndigits = 8\r\nBad = 1\r\n"), MAILOTP_ERR_INVALID);
        assert_err_has("line 3");
        ck_assert_int_eq(opts_apply_file(&o, "a\0b", 3, err, sizeof(err)), MAILOTP_ERR_INVALID);
        assert_err_has("line 1");
}
END_TEST

START_TEST(full_file)
{
        static const char text[] = "# /etc/mailotp/mailotp.conf\n"
                                   "dir = /srv/mailotp\n"
                                   "issuer = Example Mail\n"
                                   "window = 2\n"
                                   "digits = 8\n"
                                   "lockout_after = 3\n"
                                   "lockout_delay = 30\n"
                                   "lockout_max = 3600\n"
                                   "lock_timeout = 10\n"
                                   "enforce = yes\n"
                                   "debug = no\n";

        ck_assert_msg(file(text) == MAILOTP_OK, "%s", err);
        ck_assert_str_eq(o.dir, "/srv/mailotp");
        ck_assert_str_eq(o.issuer, "Example Mail");
        ck_assert_uint_eq(o.window, 2);
        ck_assert_uint_eq(o.digits, 8);
        ck_assert_uint_eq(o.lockout_after, 3);
        ck_assert_uint_eq(o.lockout_delay, 30);
        ck_assert_uint_eq(o.lockout_max, 3600);
        ck_assert_uint_eq(o.lock_timeout, 10);
        ck_assert(o.enforce);
        ck_assert(!o.debug);
        ck_assert_int_eq(opts_check(&o, err, sizeof(err)), MAILOTP_OK);
}
END_TEST

START_TEST(full_argv)
{
        const char *argv[] = {"verify",          "dir=/srv/m",      "conf=/etc/m.conf",
                              "window=0",        "digits=7",        "lockout_after=10",
                              "lockout_delay=5", "lockout_max=600", "lock_timeout=2",
                              "enforce",         "debug",           "use_first_pass"};

        ck_assert_msg(opts_apply_argv(&o, 12, argv, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert_int_eq(o.mode, MAILOTP_MODE_VERIFY);
        ck_assert_str_eq(o.dir, "/srv/m");
        ck_assert_str_eq(o.conf, "/etc/m.conf");
        ck_assert_uint_eq(o.window, 0);
        ck_assert_uint_eq(o.digits, 7);
        ck_assert_uint_eq(o.lockout_after, 10);
        ck_assert_uint_eq(o.lockout_delay, 5);
        ck_assert_uint_eq(o.lockout_max, 600);
        ck_assert_uint_eq(o.lock_timeout, 2);
        ck_assert(o.enforce);
        ck_assert(o.debug);
}
END_TEST

/* ---- opts_check --------------------------------------------------------------- */

START_TEST(check_lockout_max_below_delay)
{
        o.lockout_delay = 600;
        o.lockout_max = 599;
        ck_assert_int_eq(opts_check(&o, err, sizeof(err)), MAILOTP_ERR_INVALID);
        assert_err_has("lockout_max");
        assert_err_has("lockout_delay");
        o.lockout_max = 600;
        ck_assert_int_eq(opts_check(&o, err, sizeof(err)), MAILOTP_OK);
}
END_TEST

START_TEST(error_buffer_small_or_null)
{
        const char *argv[] = {"frobnicate"};
        char tiny[4] = "zzz";

        ck_assert_int_eq(opts_apply_argv(&o, 1, argv, NULL, 0), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(opts_apply_argv(&o, 1, argv, tiny, sizeof(tiny)), MAILOTP_ERR_INVALID);
        ck_assert_uint_lt(strlen(tiny), sizeof(tiny));
}
END_TEST

/* ---- self-service options ----------------------------------------------------------- */

START_TEST(no_app_passwords_normalised)
{
        ck_assert_msg(arg1("no_app_passwords=IMAP,Smtp") == MAILOTP_OK, "%s", err);
        ck_assert_str_eq(o.no_app_passwords, "imap,smtp");
        ck_assert_msg(file("no_app_passwords = sieve\n") == MAILOTP_OK, "%s", err);
        ck_assert_str_eq(o.no_app_passwords, "sieve");
}
END_TEST

START_TEST(no_app_passwords_refused)
{
        static const char *const bad[] = {"no_app_passwords=",          "no_app_passwords",
                                          "no_app_passwords=*",         "no_app_passwords=imap,",
                                          "no_app_passwords=imap,imap", "no_app_passwords=im ap",
                                          "no_app_passwords=imap,,smtp"};

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_msg(arg1(bad[i]) == MAILOTP_ERR_INVALID, "accepted %s", bad[i]);
                assert_err_has("no_app_passwords");
        }
}
END_TEST

START_TEST(prompt_options)
{
        char a[MAILOTP_PROMPT_MAX + 32];

        ck_assert_int_eq(arg1("prompt"), MAILOTP_OK);
        ck_assert(o.prompt);
        ck_assert_int_eq(file("prompt = no\nprompt_text = Code from your app: \n"), MAILOTP_OK);
        ck_assert(!o.prompt);
        ck_assert_str_eq(o.prompt_text, "Code from your app:"); /* trimmed like every value */
        ck_assert_int_eq(arg1("prompt_text=OTP:"), MAILOTP_OK);
        ck_assert_str_eq(o.prompt_text, "OTP:");
        ck_assert_int_eq(arg1("prompt_text="), MAILOTP_ERR_INVALID);
        assert_err_has("prompt_text");
        ck_assert_int_eq(arg1("prompt_text=a\tb"), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(arg1("prompt_text=a\x7f"), MAILOTP_ERR_INVALID);
        ck_assert_str_eq(o.prompt_text, MAILOTP_DEFAULT_PROMPT);
        /* 127 bytes fit, 128 do not */
        memcpy(a, "prompt_text=", 12);
        memset(a + 12, 'p', MAILOTP_PROMPT_MAX - 1);
        a[12 + MAILOTP_PROMPT_MAX - 1] = '\0';
        ck_assert_int_eq(arg1(a), MAILOTP_OK);
        ck_assert_uint_eq(strlen(o.prompt_text), MAILOTP_PROMPT_MAX - 1);
        a[12 + MAILOTP_PROMPT_MAX - 1] = 'p';
        a[12 + MAILOTP_PROMPT_MAX] = '\0';
        ck_assert_int_eq(arg1(a), MAILOTP_ERR_INVALID);
}
END_TEST

/* ---- the configuration file has no end line ------------------------------------------ */

START_TEST(file_without_final_newline)
{
        ck_assert_msg(file("window = 2\ndigits = 8") == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(o.window, 2);
        ck_assert_uint_eq(o.digits, 8);
        ck_assert_msg(file("enforce") == MAILOTP_OK, "%s", err);
        ck_assert(o.enforce);
        ck_assert_msg(file("# comment only") == MAILOTP_OK, "%s", err);
}
END_TEST

START_TEST(file_end_line_is_not_special)
{
        /* "end" is not an option: the configuration is never stripped like a stored file */
        ck_assert_int_eq(file("window = 2\nend\n"), MAILOTP_ERR_INVALID);
        assert_err_has("line 2");
        assert_err_has("end");
}
END_TEST

static Suite *options_suite(void)
{
        Suite *s = suite_create("options");
        TCase *tc;

        tc = tcase_create("defaults");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, defaults);
        tcase_add_test(tc, empty_sources_keep_defaults);
        tcase_add_test(tc, null_argv_entries_skipped);
        suite_add_tcase(s, tc);

        tc = tcase_create("values");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_loop_test(tc, num_bounds_argv, 0, NNUM);
        tcase_add_loop_test(tc, num_bounds_file, 0, NNUM);
        tcase_add_loop_test(tc, num_out_of_range_argv, 0, NNUM);
        tcase_add_loop_test(tc, num_out_of_range_file, 0, NNUM);
        tcase_add_loop_test(tc, num_malformed, 0, NNUM);
        tcase_add_test(tc, bool_options);
        tcase_add_test(tc, bool_bad_values);
        tcase_add_test(tc, dir_good);
        tcase_add_test(tc, dir_relative_refused);
        tcase_add_test(tc, dir_dotdot_refused);
        tcase_add_test(tc, dir_space_or_control_refused);
        tcase_add_test(tc, dir_too_long);
        tcase_add_test(tc, conf_argv_only);
        tcase_add_test(tc, conf_bad_paths);
        tcase_add_test(tc, find_conf);
        tcase_add_test(tc, issuer_file_only);
        tcase_add_test(tc, issuer_bad);
        tcase_add_test(tc, no_app_passwords_normalised);
        tcase_add_test(tc, no_app_passwords_refused);
        tcase_add_test(tc, prompt_options);
        tcase_add_test(tc, file_without_final_newline);
        tcase_add_test(tc, file_end_line_is_not_special);
        suite_add_tcase(s, tc);

        tc = tcase_create("words");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, mode_words);
        tcase_add_test(tc, mode_words_take_no_value);
        tcase_add_test(tc, mode_words_not_in_file);
        tcase_add_test(tc, pam_own_options);
        tcase_add_test(tc, unknown_argv);
        tcase_add_test(tc, unknown_file);
        tcase_add_test(tc, duplicate_argv);
        tcase_add_test(tc, duplicate_file);
        tcase_add_test(tc, same_key_in_both_sources_ok);
        tcase_add_test(tc, file_syntax_error_names_line);
        tcase_add_test(tc, full_file);
        tcase_add_test(tc, full_argv);
        tcase_add_test(tc, check_lockout_max_below_delay);
        tcase_add_test(tc, error_buffer_small_or_null);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(options_suite());
}
