/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "password_split.h"

#include "secure.h"

static int is_ascii_digit(char c)
{
        return c >= '0' && c <= '9';
}

enum mailotp_rc pwsplit_split(const char *input, size_t len, unsigned digits, size_t *pass_len,
                              char *code, size_t codesz)
{
        size_t i;

        if (code == NULL || codesz == 0 || pass_len == NULL)
                return MAILOTP_ERR_INVALID;
        secure_memzero(code, codesz);
        if (digits < PWSPLIT_MIN_DIGITS || digits > PWSPLIT_MAX_DIGITS || codesz < digits + 1U)
                return MAILOTP_ERR_INVALID;
        /* Nothing may be empty: the password must have at least one byte. */
        if (input == NULL || len <= digits)
                return MAILOTP_ERR_NO_CODE;
        for (i = len - digits; i < len; i++) {
                if (!is_ascii_digit(input[i]))
                        return MAILOTP_ERR_NO_CODE;
        }
        for (i = 0; i < digits; i++)
                code[i] = input[len - digits + i];
        code[digits] = '\0';
        *pass_len = len - digits;
        return MAILOTP_OK;
}

int pwsplit_is_code(const char *s, unsigned digits)
{
        unsigned i;

        if (s == NULL || digits < PWSPLIT_MIN_DIGITS || digits > PWSPLIT_MAX_DIGITS)
                return 0;
        for (i = 0; i < digits; i++) {
                if (!is_ascii_digit(s[i]))
                        return 0;
        }
        return s[digits] == '\0';
}
