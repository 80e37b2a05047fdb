/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Keyed hashing (HMAC-SHA-256, OpenSSL libcrypto) for what must be
 * recognised but never stored: application passwords, recovery codes and the
 * reuse-grace fingerprint of a submitted string.  The key is the store's
 * server key (32 random bytes, see store.h); without it the stored hashes
 * are useless to anyone who copies the per-user files.
 *
 * Every input part is length-prefixed, so ("ab","c") and ("a","bc") differ.
 *
 * libcrypto is loaded lazily: mac_compute() dlopen()s it (by the SONAME found
 * at build time, MAILOTP_LIBCRYPTO_SONAME) for the length of the call, so a
 * process that only checks TOTP codes never maps it.  When it cannot be
 * loaded, the call fails with MAILOTP_ERR_CRYPTO like any other crypto
 * failure.  mac_random(), mac_hex() and mac_unhex() never need it.
 */
#ifndef MAILOTP_MAC_H
#define MAILOTP_MAC_H

#include <stddef.h>

#include "mailotp_rc.h"

#define MAC_LEN     32U /* HMAC-SHA-256 output */
#define MAC_KEY_LEN 32U /* server key */
#define MAC_HEX_LEN (2U * MAC_LEN)

struct mac_part {
        const void *data;
        size_t len;
};

/*
 * out = HMAC-SHA-256(key, for each part: 8-byte big-endian length || bytes).
 * Returns MAILOTP_OK or MAILOTP_ERR_CRYPTO.  No secret copies are left behind
 * except in out.
 */
enum mailotp_rc mac_compute(const unsigned char key[MAC_KEY_LEN], const struct mac_part *parts,
                            size_t nparts, unsigned char out[MAC_LEN]);

/* mac_compute() that also writes the reason of a failure into err (may be
 * NULL): libcrypto not loadable (the dlerror() text), a missing function, or
 * the OpenSSL call that failed. */
enum mailotp_rc mac_compute_err(const unsigned char key[MAC_KEY_LEN], const struct mac_part *parts,
                                size_t nparts, unsigned char out[MAC_LEN], char *err,
                                size_t errlen);

/* Fill buf with n bytes from the OS random source.  MAILOTP_OK or _ERR_CRYPTO. */
enum mailotp_rc mac_random(void *buf, size_t n);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void mac_hex(const unsigned char *in, size_t n, char *out);

/* Parse exactly 2n lower-case hex digits (len == 2n) into out.  0 or -1. */
int mac_unhex(const char *in, size_t len, unsigned char *out, size_t n);

#endif
