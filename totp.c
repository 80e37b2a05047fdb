/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "totp.h"

#include <errno.h>
#include <liboath/oath.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "password_split.h"
#include "secure.h"

uint64_t totp_step(int64_t now, unsigned period)
{
        if (now < 0 || period == 0)
                return 0;
        return (uint64_t)now / period;
}

enum mailotp_rc totp_verify(const unsigned char *key, size_t keylen, const char *code,
                            unsigned digits, int64_t now, unsigned period, unsigned window,
                            int has_last, uint64_t last_step, uint64_t *matched_step)
{
        char candidate[PWSPLIT_MAX_DIGITS + 1];
        uint64_t center, first, step, best = 0;
        int fresh = 0, stale = 0, failed = 0;

        if (key == NULL || keylen == 0 || matched_step == NULL || period == 0 ||
            window > TOTP_MAX_WINDOW || !pwsplit_is_code(code, digits))
                return MAILOTP_ERR_INVALID;

        /*
         * liboath's contract asks for oath_init() before use.  It keeps no
         * state of ours (for liboath's built-in crypto it is a no-op), so a
         * balanced init/done per call is safe in threaded auth workers.
         */
        if (oath_init() != OATH_OK)
                return MAILOTP_ERR_CRYPTO;
        center = totp_step(now, period);
        first = center >= window ? center - window : 0;
        /*
         * Why not oath_totp_validate4_callback(): it stops at the first
         * matching window position, so a code that (by a 1e-6 chance) also
         * matches an already used step could hide a fresh match, and replay
         * detection would need a second pass.  Computing every step with
         * liboath's HOTP core and comparing each in constant time gives one
         * pass, no early exit, and the exact replay rule of RFC 6238 5.2.
         */
        for (step = first; step <= center + window; step++) {
                int rc, eq;

                rc = oath_hotp_generate((const char *)key, keylen, step, digits, false,
                                        OATH_HOTP_DYNAMIC_TRUNCATION, candidate);
                if (rc != OATH_OK) {
                        failed = 1;
                        continue;
                }
                eq = secure_ct_equal(candidate, code, digits);
                if (eq && (!has_last || step > last_step)) {
                        fresh = 1;
                        best = step; /* ascending loop: the newest match wins */
                } else if (eq) {
                        stale = 1;
                }
        }
        secure_memzero(candidate, sizeof(candidate));
        (void)oath_done();
        if (failed)
                return MAILOTP_ERR_CRYPTO;
        if (fresh) {
                *matched_step = best;
                return MAILOTP_OK;
        }
        return stale ? MAILOTP_ERR_REPLAY : MAILOTP_ERR_MISMATCH;
}

enum mailotp_rc totp_secret_decode(const char *b32, unsigned char **key, size_t *keylen)
{
        char *out = NULL;
        size_t outlen = 0;
        int rc;

        if (b32 == NULL || key == NULL || keylen == NULL)
                return MAILOTP_ERR_INVALID;
        *key = NULL;
        *keylen = 0;
        rc = oath_base32_decode(b32, strlen(b32), &out, &outlen);
        if (rc == OATH_MALLOC_ERROR)
                return MAILOTP_ERR_NOMEM;
        if (rc != OATH_OK)
                return MAILOTP_ERR_FORMAT;
        if (outlen < TOTP_SECRET_MIN || outlen > TOTP_SECRET_MAX) {
                secure_freezero(out, outlen);
                return MAILOTP_ERR_FORMAT;
        }
        *key = (unsigned char *)out;
        *keylen = outlen;
        return MAILOTP_OK;
}

enum mailotp_rc totp_secret_generate(char *out, size_t outsz)
{
        unsigned char raw[TOTP_SECRET_BYTES];
        char *b32 = NULL;
        size_t b32len = 0, got = 0;
        enum mailotp_rc ret = MAILOTP_ERR_CRYPTO;

        if (out == NULL || outsz == 0)
                return MAILOTP_ERR_INVALID;
        out[0] = '\0';
        while (got < sizeof(raw)) {
                ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        goto out;
                got += (size_t)n;
        }
        if (oath_base32_encode((const char *)raw, sizeof(raw), &b32, &b32len) != OATH_OK)
                goto out;
        /* 20 bytes encode to exactly 32 characters: no '=' padding to strip. */
        while (b32len > 0 && b32[b32len - 1] == '=')
                b32len--;
        if (b32len + 1 > outsz) {
                ret = MAILOTP_ERR_INVALID;
                goto out;
        }
        memcpy(out, b32, b32len);
        out[b32len] = '\0';
        ret = MAILOTP_OK;
out:
        secure_memzero(raw, sizeof(raw));
        if (b32 != NULL)
                secure_freezero(b32, strlen(b32));
        return ret;
}
