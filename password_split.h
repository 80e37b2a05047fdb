/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Splitting "password" + "code" as typed into one password field.
 *
 * Pure functions: no allocation, no I/O, no PAM.  The rule is deliberately
 * single-valued: exactly the last `digits` bytes must be ASCII '0'..'9' and at
 * least one byte must precede them.  No other reading (8 digits, spaces,
 * non-ASCII digits) is ever tried, so a submitted string has one meaning.
 */
#ifndef MAILOTP_PASSWORD_SPLIT_H
#define MAILOTP_PASSWORD_SPLIT_H

#include <stddef.h>

#include "mailotp_rc.h"

#define PWSPLIT_MIN_DIGITS 6
#define PWSPLIT_MAX_DIGITS 8

/*
 * Split `input` (len bytes, need not be NUL-terminated) into password and code.
 * On MAILOTP_OK: *pass_len is the length of the password prefix (>= 1) and
 * `code` (codesz >= digits + 1) holds the digits, NUL-terminated.
 * Returns MAILOTP_ERR_NO_CODE when the string does not end in `digits` ASCII
 * digits or nothing precedes them, MAILOTP_ERR_INVALID for a digits value
 * outside [PWSPLIT_MIN_DIGITS, PWSPLIT_MAX_DIGITS] or a too small buffer.
 * On any failure `code` is zeroed (when codesz > 0).
 */
enum mailotp_rc pwsplit_split(const char *input, size_t len, unsigned digits, size_t *pass_len,
                              char *code, size_t codesz);

/*
 * 1 when `s` is exactly `digits` ASCII digits (and nothing else), else 0.
 */
int pwsplit_is_code(const char *s, unsigned digits);

#endif
