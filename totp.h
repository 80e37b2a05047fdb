/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TOTP (RFC 6238, HMAC-SHA-1) through liboath.
 *
 * Time is always a parameter, never read here, so every edge is testable at a
 * fixed `now`.  Replay protection (RFC 6238 section 5.2) lives in exactly one
 * function, totp_verify(): a code is accepted only for a time step strictly
 * greater than the last step accepted for that user.
 */
#ifndef MAILOTP_TOTP_H
#define MAILOTP_TOTP_H

#include <stddef.h>
#include <stdint.h>

#include "mailotp_rc.h"

#define TOTP_PERIOD         30U  /* seconds per step; the only value apps agree on */
#define TOTP_SECRET_BYTES   20U  /* 160-bit secrets, as RFC 4226 recommends */
#define TOTP_SECRET_MIN     10U  /* shortest decoded secret accepted from a record */
#define TOTP_SECRET_MAX     64U  /* longest decoded secret accepted from a record */
#define TOTP_SECRET_B32_MAX 104U /* base32 of TOTP_SECRET_MAX bytes, padded */
#define TOTP_MAX_WINDOW     10U

/* The time step containing `now` (seconds since the epoch); 0 before it. */
uint64_t totp_step(int64_t now, unsigned period);

/*
 * Verify `code` (exactly `digits` ASCII digits) against the secret `key`
 * (keylen raw bytes) for the steps step(now)-window .. step(now)+window.
 * Every step in the window is computed and compared in constant time; there
 * is no early exit on a match.
 *
 * Returns MAILOTP_OK and sets *matched_step to the newest matching step that
 * is greater than `last_step`; MAILOTP_ERR_REPLAY when the code matches only
 * steps <= last_step; MAILOTP_ERR_MISMATCH when it matches none;
 * MAILOTP_ERR_INVALID for bad parameters; MAILOTP_ERR_CRYPTO when liboath
 * fails.  `has_last` = 0 means no step was ever accepted.
 * The computed codes are zeroed before returning.
 */
enum mailotp_rc totp_verify(const unsigned char *key, size_t keylen, const char *code,
                            unsigned digits, int64_t now, unsigned period, unsigned window,
                            int has_last, uint64_t last_step, uint64_t *matched_step);

/*
 * Decode a base32 secret (RFC 4648 alphabet, case-insensitive, optional '='
 * padding, spaces ignored as liboath does) into a newly allocated buffer.
 * The decoded length must be within [TOTP_SECRET_MIN, TOTP_SECRET_MAX].
 * On MAILOTP_OK the caller owns *key and must secure_freezero(*key, *keylen).
 * Returns MAILOTP_ERR_FORMAT for bad base32 or length, MAILOTP_ERR_NOMEM.
 */
enum mailotp_rc totp_secret_decode(const char *b32, unsigned char **key, size_t *keylen);

/*
 * Make a new TOTP_SECRET_BYTES secret from the OS random source (getrandom)
 * and write it base32-encoded without padding into out (outsz bytes incl.
 * NUL).  Returns MAILOTP_ERR_CRYPTO when the random source fails,
 * MAILOTP_ERR_INVALID when out is too small.  Intermediate copies are zeroed.
 */
enum mailotp_rc totp_secret_generate(char *out, size_t outsz);

#endif
