/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "recovery.h"

#include <stdio.h>
#include <string.h>

#include "kv.h"
#include "secure.h"
#include "words.h"

#define TIME_MAX_ACCEPTED 253402300799ULL

int recovery_split(const char *input, size_t len, size_t *pass_len, char *code, size_t codesz)
{
        const char *tail;
        size_t i;

        if (input == NULL || len <= RECOVERY_TYPED || codesz < RECOVERY_LETTERS + 1U)
                return -1;
        tail = input + len - RECOVERY_TYPED;
        if (tail[5] != '-')
                return -1;
        for (i = 0; i < RECOVERY_TYPED; i++) {
                if (i != 5 && tail[i] == '-')
                        return -1;
        }
        if (words_normalise(tail, RECOVERY_TYPED, RECOVERY_LETTERS, code, codesz) != 0)
                return -1;
        *pass_len = len - RECOVERY_TYPED;
        return 0;
}

enum mailotp_rc recovery_hash(const unsigned char server_key[MAC_KEY_LEN], const char *store_key,
                              const char *letters, unsigned char out[MAC_LEN], char *err,
                              size_t errlen)
{
        struct mac_part parts[3] = {
            {"recovery", 8},
            {store_key, strlen(store_key)},
            {letters, strlen(letters)},
        };

        return mac_compute_err(server_key, parts, 3, out, err, errlen);
}

int recovery_find(const struct recovery_list *l, const unsigned char hash[MAC_LEN])
{
        return (int)secure_ct_find(l->hash, l->n, MAC_LEN, hash, MAC_LEN);
}

void recovery_remove(struct recovery_list *l, size_t i)
{
        if (i >= l->n)
                return;
        memmove(l->hash[i], l->hash[i + 1], (l->n - i - 1) * MAC_LEN);
        l->n--;
        secure_memzero(l->hash[l->n], MAC_LEN);
}

enum mailotp_rc recovery_parse(const char *buf, size_t len, struct recovery_list *l, char *err,
                               size_t errlen)
{
        struct kv_iter it;
        const char *k, *v;
        size_t klen, vlen;
        int rc, line = 0, have_created = 0;
        uint64_t num;

        memset(l, 0, sizeof(*l));
        if (!kv_strip_end(buf, len, &len)) {
                mailotp_seterr(err, errlen, "file is empty or cut short (no \"end\" line)");
                return MAILOTP_ERR_FORMAT;
        }
        kv_iter_init(&it, buf, len);
        while ((rc = kv_next(&it, &k, &klen, &v, &vlen)) == 1) {
                line++;
                if (line == 1) {
                        if (!kv_key_is(k, klen, "version") ||
                            kv_parse_u64(v, vlen, 1, 1, &num) != MAILOTP_OK)
                                goto bad;
                } else if (kv_key_is(k, klen, "created") && !have_created) {
                        if (kv_parse_u64(v, vlen, 0, TIME_MAX_ACCEPTED, &num) != MAILOTP_OK)
                                goto bad;
                        l->created = (int64_t)num;
                        have_created = 1;
                } else if (kv_key_is(k, klen, "code") && l->n < RECOVERY_COUNT) {
                        if (mac_unhex(v, vlen, l->hash[l->n], MAC_LEN) != 0)
                                goto bad;
                        l->n++;
                } else {
                        goto bad;
                }
        }
        if (rc < 0 || line == 0 || !have_created)
                goto bad;
        return MAILOTP_OK;
bad:
        mailotp_seterr(err, errlen, "recovery code file: bad line %u", it.line);
        secure_memzero(l, sizeof(*l));
        return MAILOTP_ERR_FORMAT;
}

enum mailotp_rc recovery_format(const struct recovery_list *l, char *buf, size_t bufsz,
                                size_t *outlen)
{
        size_t off, i;
        int n;

        n = snprintf(buf, bufsz,
                     "# pam_mailotp recovery codes (hashes): use mailotp(1)\n"
                     "version = 1\ncreated = %lld\n",
                     (long long)l->created);
        if (n < 0 || (size_t)n >= bufsz)
                return MAILOTP_ERR_INVALID;
        off = (size_t)n;
        for (i = 0; i < l->n; i++) {
                char hex[MAC_HEX_LEN + 1];

                mac_hex(l->hash[i], MAC_LEN, hex);
                n = snprintf(buf + off, bufsz - off, "code = %s\n", hex);
                if (n < 0 || (size_t)n >= bufsz - off)
                        return MAILOTP_ERR_INVALID;
                off += (size_t)n;
        }
        if (bufsz - off < sizeof(KV_END_LINE))
                return MAILOTP_ERR_INVALID;
        memcpy(buf + off, KV_END_LINE, sizeof(KV_END_LINE));
        off += sizeof(KV_END_LINE) - 1;
        *outlen = off;
        return MAILOTP_OK;
}
