/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stand-in for libcrypto, for test_mac_load only: the functions src/mac.c
 * resolves, with OpenSSL's prototypes, none of them working.
 *   STUB_INCOMPLETE  OSSL_PARAM_construct_end is missing (dlsym fails late)
 *   otherwise        all present; EVP_MAC_fetch finds no HMAC (returns NULL)
 */
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

#define STUB_EXPORT __attribute__((visibility("default")))

STUB_EXPORT EVP_MAC *EVP_MAC_fetch(OSSL_LIB_CTX *libctx, const char *algorithm,
                                   const char *properties)
{
        (void)libctx;
        (void)algorithm;
        (void)properties;
        return NULL;
}

STUB_EXPORT EVP_MAC_CTX *EVP_MAC_CTX_new(EVP_MAC *mac)
{
        (void)mac;
        return NULL;
}

STUB_EXPORT int EVP_MAC_init(EVP_MAC_CTX *ctx, const unsigned char *key, size_t keylen,
                             const OSSL_PARAM params[])
{
        (void)ctx;
        (void)key;
        (void)keylen;
        (void)params;
        return 0;
}

STUB_EXPORT int EVP_MAC_update(EVP_MAC_CTX *ctx, const unsigned char *data, size_t datalen)
{
        (void)ctx;
        (void)data;
        (void)datalen;
        return 0;
}

STUB_EXPORT int EVP_MAC_final(EVP_MAC_CTX *ctx, unsigned char *out, size_t *outl, size_t outsize)
{
        (void)ctx;
        (void)out;
        (void)outl;
        (void)outsize;
        return 0;
}

/* Called with NULL by the cleanup after the failed fetch: must accept it. */
STUB_EXPORT void EVP_MAC_CTX_free(EVP_MAC_CTX *ctx)
{
        (void)ctx;
}

STUB_EXPORT void EVP_MAC_free(EVP_MAC *mac)
{
        (void)mac;
}

STUB_EXPORT OSSL_PARAM OSSL_PARAM_construct_utf8_string(const char *key, char *buf, size_t bsize)
{
        OSSL_PARAM p;

        (void)key;
        (void)buf;
        (void)bsize;
        memset(&p, 0, sizeof(p));
        return p;
}

#ifndef STUB_INCOMPLETE
STUB_EXPORT OSSL_PARAM OSSL_PARAM_construct_end(void)
{
        OSSL_PARAM p;

        memset(&p, 0, sizeof(p));
        return p;
}
#endif
