/* SPDX-License-Identifier: GPL-2.0-or-later */
/* secure.c and mailotp_rc.c: the primitives every secret and every error goes through. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mailotp_rc.h"
#include "secure.h"
#include "testutil.h"

START_TEST(ct_equal_basic)
{
        ck_assert_int_eq(secure_ct_equal("123456", "123456", 6), 1);
        ck_assert_int_eq(secure_ct_equal("123456", "123457", 6), 0);
        ck_assert_int_eq(secure_ct_equal("023456", "123456", 6), 0);
        ck_assert_int_eq(secure_ct_equal("abc", "xyz", 0), 1);
        ck_assert_int_eq(secure_ct_equal("12345x", "12345y", 5), 1); /* only n bytes */
}
END_TEST

START_TEST(ct_equal_every_position_and_bit)
{
        unsigned char a[32], b[32];

        for (size_t i = 0; i < sizeof(a); i++)
                a[i] = (unsigned char)(i * 7 + 1);
        for (size_t i = 0; i < sizeof(a); i++) {
                for (unsigned bit = 0; bit < 8; bit++) {
                        memcpy(b, a, sizeof(a));
                        b[i] ^= (unsigned char)(1U << bit);
                        ck_assert_msg(secure_ct_equal(a, b, sizeof(a)) == 0,
                                      "difference at byte %zu bit %u missed", i, bit);
                }
        }
        ck_assert_int_eq(secure_ct_equal(a, a, sizeof(a)), 1);
}
END_TEST

START_TEST(ct_equal_high_bytes)
{
        const unsigned char x[] = {0xff, 0x80, 0x00};
        const unsigned char y[] = {0xff, 0x80, 0x00};
        const unsigned char z[] = {0x7f, 0x80, 0x00};

        ck_assert_int_eq(secure_ct_equal(x, y, 3), 1);
        ck_assert_int_eq(secure_ct_equal(x, z, 3), 0);
}
END_TEST

START_TEST(memzero_and_null)
{
        char buf[16];

        memset(buf, 'x', sizeof(buf));
        secure_memzero(buf, 8);
        for (size_t i = 0; i < 8; i++)
                ck_assert_int_eq(buf[i], 0);
        ck_assert_int_eq(buf[8], 'x');
        secure_memzero(NULL, 10);
        secure_memzero(buf, 0);
        ck_assert_int_eq(buf[8], 'x');
        secure_freezero(NULL, 10);
        secure_strfree(NULL);
}
END_TEST

START_TEST(freezero_and_strfree)
{
        char *p = malloc(32);
        char *s = strdup("secret");

        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_nonnull(s);
        memset(p, 'x', 32);
        secure_freezero(p, 32);
        secure_strfree(s); /* valgrind / ASan job: no leak, no overrun */
}
END_TEST

START_TEST(strerror_every_code)
{
        static const struct {
                enum mailotp_rc rc;
                const char *text;
        } t[] = {
            {MAILOTP_OK, "ok"},
            {MAILOTP_ERR_NOMEM, "out-of-memory"},
            {MAILOTP_ERR_INVALID, "invalid-argument"},
            {MAILOTP_ERR_FORMAT, "corrupt-data"},
            {MAILOTP_ERR_UNSAFE_FILE, "unsafe-file"},
            {MAILOTP_ERR_NOT_FOUND, "not-enrolled"},
            {MAILOTP_ERR_NO_CODE, "no-code"},
            {MAILOTP_ERR_MISMATCH, "wrong-code"},
            {MAILOTP_ERR_REPLAY, "replayed-code"},
            {MAILOTP_ERR_LOCKED, "locked-out"},
            {MAILOTP_ERR_LOCK_TIMEOUT, "lock-timeout"},
            {MAILOTP_ERR_IO, "io-error"},
            {MAILOTP_ERR_CRYPTO, "crypto-error"},
            {MAILOTP_ERR_STATE, "wrong-state"},
            {MAILOTP_ERR_EXPIRED, "app-password-expired"},
            {MAILOTP_ERR_NOT_ALLOWED, "app-password-not-allowed"},
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
                ck_assert_str_eq(mailotp_strerror(t[i].rc), t[i].text);
        ck_assert_str_eq(mailotp_strerror((enum mailotp_rc)999), "internal-error");
        ck_assert_str_eq(mailotp_strerror((enum mailotp_rc) - 1), "internal-error");
}
END_TEST

START_TEST(seterr_formats_and_truncates)
{
        char err[8];

        mailotp_seterr(err, sizeof(err), "line %u: %s", 12U, "bad");
        ck_assert_str_eq(err, "line 12");
        mailotp_seterr(err, sizeof(err), "%s", "ok");
        ck_assert_str_eq(err, "ok");
        mailotp_seterr(NULL, 10, "%s", "x");
        memset(err, 'z', sizeof(err));
        mailotp_seterr(err, 0, "%s", "x");
        ck_assert_int_eq(err[0], 'z');
        mailotp_seterr(err, 1, "%s", "x");
        ck_assert_int_eq(err[0], '\0');
}
END_TEST

static Suite *secure_suite(void)
{
        Suite *s = suite_create("secure");
        TCase *tc = tcase_create("secure");

        tcase_add_test(tc, ct_equal_basic);
        tcase_add_test(tc, ct_equal_every_position_and_bit);
        tcase_add_test(tc, ct_equal_high_bytes);
        tcase_add_test(tc, memzero_and_null);
        tcase_add_test(tc, freezero_and_strfree);
        suite_add_tcase(s, tc);

        tc = tcase_create("rc");
        tcase_add_test(tc, strerror_every_code);
        tcase_add_test(tc, seterr_formats_and_truncates);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(secure_suite());
}
