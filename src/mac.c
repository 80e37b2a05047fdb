/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libcrypto is not linked: mac_compute_err() dlopen()s it for the length of
 * one call and resolves exactly the functions it uses.  A TOTP login never
 * computes a keyed hash, so it never maps OpenSSL.  Nothing outlives a call
 * (auth workers may be threaded): the handle lives in a local struct.  Once
 * loaded, libcrypto stays in memory (it is linked -z nodelete and pins
 * itself), so every later dlopen() is a reference count and dlclose() undoes
 * only that.
 */
#include "mac.h"

#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/params.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "secure.h"

#ifndef MAILOTP_LIBCRYPTO_SONAME
#error "the build defines MAILOTP_LIBCRYPTO_SONAME (the SONAME of libcrypto, e.g. libcrypto.so.3)"
#endif
#if OPENSSL_VERSION_MAJOR < 3
#error "EVP_MAC needs the OpenSSL 3 headers"
#endif

/*
 * A function of libcrypto as a pointer member of the same name, typed from
 * the header's prototype: a mismatch is a compile error.  __typeof__ does
 * not evaluate its operand, so no reference to the symbol reaches the object.
 */
#define CRYPTO_FN(name) __typeof__(&name) name

/* libcrypto for one call: the handle and what mac_compute_err calls. */
struct crypto {
        void *handle;
        CRYPTO_FN(EVP_MAC_fetch);
        CRYPTO_FN(EVP_MAC_CTX_new);
        CRYPTO_FN(EVP_MAC_init);
        CRYPTO_FN(EVP_MAC_update);
        CRYPTO_FN(EVP_MAC_final);
        CRYPTO_FN(EVP_MAC_CTX_free);
        CRYPTO_FN(EVP_MAC_free);
        CRYPTO_FN(OSSL_PARAM_construct_utf8_string);
        CRYPTO_FN(OSSL_PARAM_construct_end);
};

static void *crypto_sym(void *handle, const char *name, char *err, size_t errlen)
{
        void *p;

        (void)dlerror();
        p = dlsym(handle, name);
        if (p == NULL) {
                /* dlerror() would repeat the library's path: say just what is missing. */
                (void)dlerror();
                mailotp_seterr(err, errlen, "%s lacks the function %s", MAILOTP_LIBCRYPTO_SONAME,
                               name);
        }
        return p;
}

/* Resolve c->name; true when found.  On failure err names the symbol. */
#define CRYPTO_LOAD(c, name)                                                                       \
        (((c)->name = (__typeof__(&name))crypto_sym((c)->handle, #name, err, errlen)) != NULL)

/* Load libcrypto and resolve every function; on failure nothing stays open. */
static enum mailotp_rc crypto_open(struct crypto *c, char *err, size_t errlen)
{
        const char *why;

        memset(c, 0, sizeof(*c));
        c->handle = dlopen(MAILOTP_LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (c->handle == NULL) {
                why = dlerror();
                mailotp_seterr(err, errlen, "cannot load %s: %s", MAILOTP_LIBCRYPTO_SONAME,
                               why != NULL ? why : "unknown dlopen error");
                return MAILOTP_ERR_CRYPTO;
        }
        if (CRYPTO_LOAD(c, EVP_MAC_fetch) && CRYPTO_LOAD(c, EVP_MAC_CTX_new) &&
            CRYPTO_LOAD(c, EVP_MAC_init) && CRYPTO_LOAD(c, EVP_MAC_update) &&
            CRYPTO_LOAD(c, EVP_MAC_final) && CRYPTO_LOAD(c, EVP_MAC_CTX_free) &&
            CRYPTO_LOAD(c, EVP_MAC_free) && CRYPTO_LOAD(c, OSSL_PARAM_construct_utf8_string) &&
            CRYPTO_LOAD(c, OSSL_PARAM_construct_end))
                return MAILOTP_OK;
        (void)dlclose(c->handle);
        memset(c, 0, sizeof(*c));
        return MAILOTP_ERR_CRYPTO;
}

enum mailotp_rc mac_compute_err(const unsigned char key[MAC_KEY_LEN], const struct mac_part *parts,
                                size_t nparts, unsigned char out[MAC_LEN], char *err, size_t errlen)
{
        struct crypto c;
        EVP_MAC *mac = NULL;
        EVP_MAC_CTX *ctx = NULL;
        enum mailotp_rc rc = MAILOTP_ERR_CRYPTO;
        OSSL_PARAM params[2];
        char digest[] = "SHA256";
        const char *step;
        size_t i, outlen = 0;

        if (crypto_open(&c, err, errlen) != MAILOTP_OK)
                goto out;
        step = "EVP_MAC_fetch";
        mac = c.EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (mac == NULL)
                goto fail;
        step = "EVP_MAC_CTX_new";
        ctx = c.EVP_MAC_CTX_new(mac);
        if (ctx == NULL)
                goto fail;
        params[0] = c.OSSL_PARAM_construct_utf8_string("digest", digest, 0);
        params[1] = c.OSSL_PARAM_construct_end();
        step = "EVP_MAC_init";
        if (c.EVP_MAC_init(ctx, key, MAC_KEY_LEN, params) != 1)
                goto fail;
        step = "EVP_MAC_update";
        for (i = 0; i < nparts; i++) {
                unsigned char lenbuf[8];
                uint64_t l = parts[i].len;
                int b;

                for (b = 7; b >= 0; b--) {
                        lenbuf[b] = (unsigned char)(l & 0xFFU);
                        l >>= 8;
                }
                if (c.EVP_MAC_update(ctx, lenbuf, sizeof(lenbuf)) != 1 ||
                    (parts[i].len > 0 && c.EVP_MAC_update(ctx, parts[i].data, parts[i].len) != 1))
                        goto fail;
        }
        step = "EVP_MAC_final";
        if (c.EVP_MAC_final(ctx, out, &outlen, MAC_LEN) != 1 || outlen != MAC_LEN)
                goto fail;
        rc = MAILOTP_OK;
        goto out;
fail:
        mailotp_seterr(err, errlen, "HMAC-SHA-256 with %s failed at %s", MAILOTP_LIBCRYPTO_SONAME,
                       step);
out:
        if (rc != MAILOTP_OK)
                secure_memzero(out, MAC_LEN);
        if (c.handle != NULL) {
                c.EVP_MAC_CTX_free(ctx); /* clears the key schedule */
                c.EVP_MAC_free(mac);
                (void)dlclose(c.handle);
        }
        return rc;
}

enum mailotp_rc mac_compute(const unsigned char key[MAC_KEY_LEN], const struct mac_part *parts,
                            size_t nparts, unsigned char out[MAC_LEN])
{
        return mac_compute_err(key, parts, nparts, out, NULL, 0);
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
