/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * password_split.c: the one reading of "password" + "code" typed into one
 * field, and pwsplit_is_code.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "password_split.h"
#include "testutil.h"

#define CODESZ 16

/* Split a C string; the code buffer starts full of 'X' so zeroing is visible. */
static enum mailotp_rc split(const char *in, unsigned digits, size_t *pass_len, char *code)
{
        memset(code, 'X', CODESZ);
        *pass_len = 12345;
        return pwsplit_split(in, strlen(in), digits, pass_len, code, CODESZ);
}

static void assert_zeroed(const char *code, size_t n)
{
        for (size_t i = 0; i < n; i++)
                ck_assert_msg(code[i] == '\0', "code byte %zu not zeroed", i);
}

START_TEST(split_typical)
{
        size_t pl;
        char code[CODESZ];

        ck_assert_int_eq(split("T9D3K!px189145", 6, &pl, code), MAILOTP_OK);
        ck_assert_uint_eq(pl, 8);
        ck_assert_str_eq(code, "189145");
}
END_TEST

START_TEST(split_empty)
{
        size_t pl;
        char code[CODESZ];

        ck_assert_int_eq(split("", 6, &pl, code), MAILOTP_ERR_NO_CODE);
        assert_zeroed(code, CODESZ);
        ck_assert_uint_eq(pl, 12345); /* untouched */
}
END_TEST

START_TEST(split_only_digits)
{
        size_t pl;
        char code[CODESZ];

        /* the password must not be empty */
        ck_assert_int_eq(split("123456", 6, &pl, code), MAILOTP_ERR_NO_CODE);
        assert_zeroed(code, CODESZ);
}
END_TEST

START_TEST(split_seven_digits)
{
        size_t pl;
        char code[CODESZ];

        ck_assert_int_eq(split("1234567", 6, &pl, code), MAILOTP_OK);
        ck_assert_uint_eq(pl, 1);
        ck_assert_str_eq(code, "234567");
}
END_TEST

START_TEST(split_five_digits)
{
        size_t pl;
        char code[CODESZ];

        ck_assert_int_eq(split("secret12345", 6, &pl, code), MAILOTP_ERR_NO_CODE);
        assert_zeroed(code, CODESZ);
        ck_assert_int_eq(split("12345", 6, &pl, code), MAILOTP_ERR_NO_CODE);
}
END_TEST

START_TEST(split_password_plus_seven_digits)
{
        size_t pl;
        char code[CODESZ];

        /* only the last 6 are the code; the 7th digit belongs to the password */
        ck_assert_int_eq(split("hunter21234567", 6, &pl, code), MAILOTP_OK);
        ck_assert_uint_eq(pl, 8);
        ck_assert_str_eq(code, "234567");
}
END_TEST

START_TEST(split_password_with_digits_inside)
{
        size_t pl;
        char code[CODESZ];

        ck_assert_int_eq(split("a1b2c3d4e5f6000000", 6, &pl, code), MAILOTP_OK);
        ck_assert_uint_eq(pl, 12);
        ck_assert_str_eq(code, "000000");
}
END_TEST

START_TEST(split_one_byte_password)
{
        size_t pl;
        char code[CODESZ];

        ck_assert_int_eq(split("x999999", 6, &pl, code), MAILOTP_OK);
        ck_assert_uint_eq(pl, 1);
        ck_assert_str_eq(code, "999999");
}
END_TEST

START_TEST(split_trailing_space)
{
        size_t pl;
        char code[CODESZ];

        ck_assert_int_eq(split("password123456 ", 6, &pl, code), MAILOTP_ERR_NO_CODE);
        assert_zeroed(code, CODESZ);
}
END_TEST

START_TEST(split_trailing_newline)
{
        size_t pl;
        char code[CODESZ];

        ck_assert_int_eq(split("password123456\n", 6, &pl, code), MAILOTP_ERR_NO_CODE);
        ck_assert_int_eq(split("password123456\r\n", 6, &pl, code), MAILOTP_ERR_NO_CODE);
        assert_zeroed(code, CODESZ);
}
END_TEST

START_TEST(split_space_inside_code)
{
        size_t pl;
        char code[CODESZ];

        ck_assert_int_eq(split("password123 456", 6, &pl, code), MAILOTP_ERR_NO_CODE);
        ck_assert_int_eq(split("password 123456", 6, &pl, code), MAILOTP_OK);
        ck_assert_uint_eq(pl, 9); /* the space is part of the password */
}
END_TEST

START_TEST(split_arabic_indic_digit)
{
        size_t pl;
        char code[CODESZ];

        /* U+0661 ARABIC-INDIC DIGIT ONE (D9 A1) as the last "digit" */
        ck_assert_int_eq(split("password12345\xd9\xa1", 6, &pl, code), MAILOTP_ERR_NO_CODE);
        assert_zeroed(code, CODESZ);
        ck_assert_int_eq(split("pw\xd9\xa1\xd9\xa1\xd9\xa1\xd9\xa1\xd9\xa1\xd9\xa1", 6, &pl, code),
                         MAILOTP_ERR_NO_CODE);
}
END_TEST

START_TEST(split_fullwidth_digit)
{
        size_t pl;
        char code[CODESZ];

        /* U+FF11 FULLWIDTH DIGIT ONE (EF BC 91) */
        ck_assert_int_eq(split("password12345\xef\xbc\x91", 6, &pl, code), MAILOTP_ERR_NO_CODE);
        ck_assert_int_eq(split("password\xef\xbc\x91"
                               "23456",
                               6, &pl, code),
                         MAILOTP_ERR_NO_CODE);
        assert_zeroed(code, CODESZ);
}
END_TEST

START_TEST(split_non_ascii_password_ok)
{
        size_t pl;
        char code[CODESZ];

        /* "pässwörd" + code: the UTF-8 password is kept whole */
        ck_assert_int_eq(split("p\xc3\xa4ssw\xc3\xb6rd654321", 6, &pl, code), MAILOTP_OK);
        ck_assert_uint_eq(pl, 10);
        ck_assert_str_eq(code, "654321");
}
END_TEST

START_TEST(split_eight_digits)
{
        size_t pl;
        char code[CODESZ];

        ck_assert_int_eq(split("pw12345678", 8, &pl, code), MAILOTP_OK);
        ck_assert_uint_eq(pl, 2);
        ck_assert_str_eq(code, "12345678");
        ck_assert_int_eq(split("pw1234567", 8, &pl, code), MAILOTP_ERR_NO_CODE);
        ck_assert_int_eq(split("12345678", 8, &pl, code), MAILOTP_ERR_NO_CODE);
}
END_TEST

START_TEST(split_seven_digit_setting)
{
        size_t pl;
        char code[CODESZ];

        ck_assert_int_eq(split("pw1234567", 7, &pl, code), MAILOTP_OK);
        ck_assert_uint_eq(pl, 2);
        ck_assert_str_eq(code, "1234567");
}
END_TEST

START_TEST(split_bad_digits)
{
        size_t pl;
        char code[CODESZ];

        ck_assert_int_eq(split("password12345", 5, &pl, code), MAILOTP_ERR_INVALID);
        assert_zeroed(code, CODESZ);
        ck_assert_int_eq(split("password123456789", 9, &pl, code), MAILOTP_ERR_INVALID);
        assert_zeroed(code, CODESZ);
        ck_assert_int_eq(split("password", 0, &pl, code), MAILOTP_ERR_INVALID);
}
END_TEST

START_TEST(split_small_code_buffer)
{
        size_t pl = 0;
        char code[8];

        memset(code, 'X', sizeof(code));
        ck_assert_int_eq(pwsplit_split("pw123456", 8, 6, &pl, code, 6), MAILOTP_ERR_INVALID);
        assert_zeroed(code, 6);
        ck_assert_int_eq(code[6], 'X'); /* nothing written past codesz */
        ck_assert_int_eq(pwsplit_split("pw123456", 8, 6, &pl, code, 7), MAILOTP_OK);
        ck_assert_str_eq(code, "123456");
        ck_assert_int_eq(pwsplit_split("pw12345678", 10, 8, &pl, code, 8), MAILOTP_ERR_INVALID);
}
END_TEST

START_TEST(split_null_args)
{
        size_t pl = 0;
        char code[CODESZ];

        ck_assert_int_eq(pwsplit_split("pw123456", 8, 6, NULL, code, sizeof(code)),
                         MAILOTP_ERR_INVALID);
        ck_assert_int_eq(pwsplit_split("pw123456", 8, 6, &pl, NULL, 7), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(pwsplit_split("pw123456", 8, 6, &pl, code, 0), MAILOTP_ERR_INVALID);
        memset(code, 'X', sizeof(code));
        ck_assert_int_eq(pwsplit_split(NULL, 8, 6, &pl, code, sizeof(code)), MAILOTP_ERR_NO_CODE);
        assert_zeroed(code, sizeof(code));
}
END_TEST

START_TEST(split_uses_len_not_nul)
{
        size_t pl = 0;
        char code[CODESZ];

        /* not NUL-terminated: only len bytes count */
        static const char buf[] = {'p', 'w', '1', '2', '3', '4', '5', '6', '7', '8'};

        ck_assert_int_eq(pwsplit_split(buf, 8, 6, &pl, code, sizeof(code)), MAILOTP_OK);
        ck_assert_uint_eq(pl, 2);
        ck_assert_str_eq(code, "123456");
        /* an embedded NUL inside the password is the caller's business, not a digit */
        ck_assert_int_eq(pwsplit_split("p\0w123456", 9, 6, &pl, code, sizeof(code)), MAILOTP_OK);
        ck_assert_uint_eq(pl, 3);
        ck_assert_int_eq(pwsplit_split("pw12345\0", 8, 6, &pl, code, sizeof(code)),
                         MAILOTP_ERR_NO_CODE);
}
END_TEST

START_TEST(split_very_long_input)
{
        const size_t n = 64 * 1024;
        char *buf = malloc(n);
        size_t pl = 0;
        char code[CODESZ];

        ck_assert_ptr_nonnull(buf);
        memset(buf, 'a', n);
        memcpy(buf + n - 6, "314159", 6);
        ck_assert_int_eq(pwsplit_split(buf, n, 6, &pl, code, sizeof(code)), MAILOTP_OK);
        ck_assert_uint_eq(pl, n - 6);
        ck_assert_str_eq(code, "314159");
        buf[n - 1] = 'z';
        ck_assert_int_eq(pwsplit_split(buf, n, 6, &pl, code, sizeof(code)), MAILOTP_ERR_NO_CODE);
        free(buf);
}
END_TEST

START_TEST(split_every_non_digit_last_byte)
{
        char in[] = "password123456";
        size_t pl;
        char code[CODESZ];

        /* every byte value other than '0'..'9' in the last position refuses */
        for (unsigned c = 0; c < 256; c++) {
                enum mailotp_rc rc;

                in[13] = (char)c;
                rc = pwsplit_split(in, 14, 6, &pl, code, sizeof(code));
                if (c >= '0' && c <= '9')
                        ck_assert_msg(rc == MAILOTP_OK, "byte 0x%02x refused", c);
                else
                        ck_assert_msg(rc == MAILOTP_ERR_NO_CODE, "byte 0x%02x accepted", c);
        }
}
END_TEST

/* ---- pwsplit_is_code ------------------------------------------------------ */

START_TEST(is_code_cases)
{
        ck_assert_int_eq(pwsplit_is_code("123456", 6), 1);
        ck_assert_int_eq(pwsplit_is_code("000000", 6), 1);
        ck_assert_int_eq(pwsplit_is_code("1234567", 7), 1);
        ck_assert_int_eq(pwsplit_is_code("12345678", 8), 1);
        ck_assert_int_eq(pwsplit_is_code("1234567", 6), 0); /* too long */
        ck_assert_int_eq(pwsplit_is_code("12345", 6), 0);   /* too short */
        ck_assert_int_eq(pwsplit_is_code("", 6), 0);
        ck_assert_int_eq(pwsplit_is_code("12345a", 6), 0);
        ck_assert_int_eq(pwsplit_is_code(" 12345", 6), 0);
        ck_assert_int_eq(pwsplit_is_code("123456\n", 6), 0);
        ck_assert_int_eq(pwsplit_is_code("12345\xd9\xa1", 6), 0);
        ck_assert_int_eq(pwsplit_is_code(NULL, 6), 0);
        ck_assert_int_eq(pwsplit_is_code("12345", 5), 0);     /* digits out of range */
        ck_assert_int_eq(pwsplit_is_code("123456789", 9), 0); /* digits out of range */
}
END_TEST

static Suite *split_suite(void)
{
        Suite *s = suite_create("password_split");
        TCase *tc = tcase_create("split");

        tcase_add_test(tc, split_typical);
        tcase_add_test(tc, split_empty);
        tcase_add_test(tc, split_only_digits);
        tcase_add_test(tc, split_seven_digits);
        tcase_add_test(tc, split_five_digits);
        tcase_add_test(tc, split_password_plus_seven_digits);
        tcase_add_test(tc, split_password_with_digits_inside);
        tcase_add_test(tc, split_one_byte_password);
        tcase_add_test(tc, split_trailing_space);
        tcase_add_test(tc, split_trailing_newline);
        tcase_add_test(tc, split_space_inside_code);
        tcase_add_test(tc, split_arabic_indic_digit);
        tcase_add_test(tc, split_fullwidth_digit);
        tcase_add_test(tc, split_non_ascii_password_ok);
        tcase_add_test(tc, split_eight_digits);
        tcase_add_test(tc, split_seven_digit_setting);
        tcase_add_test(tc, split_bad_digits);
        tcase_add_test(tc, split_small_code_buffer);
        tcase_add_test(tc, split_null_args);
        tcase_add_test(tc, split_uses_len_not_nul);
        tcase_add_test(tc, split_very_long_input);
        tcase_add_test(tc, split_every_non_digit_last_byte);
        suite_add_tcase(s, tc);

        tc = tcase_create("is_code");
        tcase_add_test(tc, is_code_cases);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(split_suite());
}
