/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Human-typable random strings from one alphabet of 24 lower-case letters
 * (no 'l', no 'o': they read as 1 and 0), in dash-separated groups:
 *   application passwords  abcd-efgh-ijkm-npqr-stuv   (20 letters, 91.7 bits)
 *   recovery codes         abcde-fghij                (10 letters, 45.8 bits)
 * Neither can ever be read as a TOTP code: they contain no digit.
 */
#ifndef MAILOTP_WORDS_H
#define MAILOTP_WORDS_H

#include <stddef.h>

#include "mailotp_rc.h"

#define WORDS_ALPHABET     "abcdefghijkmnpqrstuvwxyz"
#define WORDS_ALPHABET_LEN 24U

/*
 * Write `groups` groups of `group_len` random letters joined by '-' into out
 * (outsz >= groups * (group_len + 1)).  Uses the OS random source with
 * rejection sampling (no modulo bias).  MAILOTP_OK, _ERR_CRYPTO, _ERR_INVALID.
 */
enum mailotp_rc words_generate(unsigned groups, unsigned group_len, char *out, size_t outsz);

/*
 * Normalise a typed string: drop '-' and ' ', fold ASCII upper case, and
 * require exactly `letters` letters of the alphabet.  Writes them (plus NUL)
 * to out (outsz >= letters + 1).  Returns 0, or -1 when the string is not of
 * that shape (out is then zeroed).
 */
int words_normalise(const char *in, size_t len, unsigned letters, char *out, size_t outsz);

#endif
