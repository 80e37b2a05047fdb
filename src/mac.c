/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "mac.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <sys/random.h>

#include "secure.h"

enum mailotp_rc mac_compute(const unsigned char key[MAC_KEY_LEN], const struct mac_part *parts,
                            size_t nparts, unsigned char out[MAC_LEN])
{
        EVP_MAC *mac = NULL;
        EVP_MAC_CTX *ctx = NULL;
        enum mailotp_rc rc = MAILOTP_ERR_CRYPTO;
        OSSL_PARAM params[2];
        char digest[] = "SHA256";
        size_t i, outlen = 0;

        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (mac == NULL)
                goto out;
        ctx = EVP_MAC_CTX_new(mac);
        if (ctx == NULL)
                goto out;
        params[0] = OSSL_PARAM_construct_utf8_string("digest", digest, 0);
        params[1] = OSSL_PARAM_construct_end();
        if (EVP_MAC_init(ctx, key, MAC_KEY_LEN, params) != 1)
                goto out;
        for (i = 0; i < nparts; i++) {
                unsigned char lenbuf[8];
                uint64_t l = parts[i].len;
                int b;

                for (b = 7; b >= 0; b--) {
                        lenbuf[b] = (unsigned char)(l & 0xFFU);
                        l >>= 8;
                }
                if (EVP_MAC_update(ctx, lenbuf, sizeof(lenbuf)) != 1 ||
                    (parts[i].len > 0 && EVP_MAC_update(ctx, parts[i].data, parts[i].len) != 1))
                        goto out;
        }
        if (EVP_MAC_final(ctx, out, &outlen, MAC_LEN) != 1 || outlen != MAC_LEN)
                goto out;
        rc = MAILOTP_OK;
out:
        if (rc != MAILOTP_OK)
                secure_memzero(out, MAC_LEN);
        EVP_MAC_CTX_free(ctx); /* clears the key schedule */
        EVP_MAC_free(mac);
        return rc;
}

enum mailotp_rc mac_random(void *buf, size_t n)
{
        unsigned char *p = buf;
        size_t got = 0;

        while (got < n) {
                ssize_t r = getrandom(p + got, n - got, 0);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0) {
                        secure_memzero(buf, n);
                        return MAILOTP_ERR_CRYPTO;
                }
                got += (size_t)r;
        }
        return MAILOTP_OK;
}

void mac_hex(const unsigned char *in, size_t n, char *out)
{
        static const char hex[] = "0123456789abcdef";
        size_t i;

        for (i = 0; i < n; i++) {
                out[2 * i] = hex[in[i] >> 4];
                out[2 * i + 1] = hex[in[i] & 15U];
        }
        out[2 * n] = '\0';
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

int mac_unhex(const char *in, size_t len, unsigned char *out, size_t n)
{
        size_t i;

        if (in == NULL || len != 2 * n)
                return -1;
        for (i = 0; i < n; i++) {
                int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);

                if (hi < 0 || lo < 0)
                        return -1;
                out[i] = (unsigned char)(hi << 4 | lo);
        }
        return 0;
}
