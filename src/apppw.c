/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "apppw.h"

#include <stdio.h>
#include <string.h>

#include "kv.h"
#include "secure.h"

#define TIME_MAX_ACCEPTED 253402300799ULL

static int name_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
}

int apppw_name_valid(const char *name)
{
        size_t i, n;

        if (name == NULL)
                return 0;
        n = strnlen(name, APPPW_NAME_MAX + 1);
        if (n == 0 || n > APPPW_NAME_MAX || name[0] == '-')
                return 0;
        for (i = 0; i < n; i++) {
                if (!name_char(name[i]))
                        return 0;
        }
        return 1;
}

int apppw_services_parse(const char *in, char *out, size_t outsz, char *err, size_t errlen)
{
        size_t i = 0, o = 0, start;

        if (in == NULL || outsz == 0)
                return -1;
        if (strcmp(in, "*") == 0) {
                if (outsz < 2)
                        return -1;
                memcpy(out, "*", 2);
                return 0;
        }
        for (;;) {
                size_t k, nlen;

                start = i;
                while (in[i] != '\0' && in[i] != ',') {
                        char c = in[i];

                        if (c >= 'A' && c <= 'Z')
                                c = (char)(c - 'A' + 'a');
                        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                              c == '_' || c == '-')) {
                                mailotp_seterr(err, errlen, "service names are [a-z0-9._-]");
                                return -1;
                        }
                        i++;
                }
                nlen = i - start;
                if (nlen == 0 || nlen > APPPW_SERVICE_MAX) {
                        mailotp_seterr(err, errlen, "empty or overlong service name");
                        return -1;
                }
                /* The list after adding this name: o, a comma unless first, the name. */
                if (o + (o > 0 ? 1U : 0U) + nlen > APPPW_SERVICES_MAX ||
                    o + (o > 0 ? 1U : 0U) + nlen + 1 > outsz) {
                        mailotp_seterr(err, errlen, "service list too long");
                        return -1;
                }
                /* Reject a repeated name: compare against what is already in out. */
                for (k = 0; k < o;) {
                        size_t e = k;

                        while (e < o && out[e] != ',')
                                e++;
                        if (e - k == nlen && strncasecmp(out + k, in + start, nlen) == 0) {
                                mailotp_seterr(err, errlen, "service listed twice");
                                return -1;
                        }
                        k = e + 1;
                }
                if (o > 0)
                        out[o++] = ',';
                for (k = 0; k < nlen; k++) {
                        char c = in[start + k];

                        out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
                }
                out[o] = '\0';
                if (in[i] == '\0')
                        return 0;
                i++; /* skip ',' */
        }
}

int apppw_service_allowed(const struct apppw_entry *e, const char *service)
{
        size_t k = 0, slen;
        const char *s = e->services;

        if (strcmp(s, "*") == 0)
                return 1;
        if (service == NULL)
                return 0;
        slen = strlen(service);
        while (s[k] != '\0') {
                size_t end = k;

                while (s[end] != '\0' && s[end] != ',')
                        end++;
                if (end - k == slen && strncasecmp(s + k, service, slen) == 0)
                        return 1;
                k = s[end] == ',' ? end + 1 : end;
        }
        return 0;
}

int apppw_last_use_current(const struct apppw_entry *e, int64_t now, const char *service,
                           const char *rhost)
{
        return e->last_used > 0 && now >= e->last_used &&
               now - e->last_used < APPPW_LAST_USE_EVERY && strcmp(e->last_service, service) == 0 &&
               strcmp(e->last_rhost, rhost) == 0;
}

enum mailotp_rc apppw_hash(const unsigned char server_key[MAC_KEY_LEN], const char *store_key,
                           const char *letters, unsigned char out[MAC_LEN], char *err,
                           size_t errlen)
{
        struct mac_part parts[3] = {
            {"apppw", 5},
            {store_key, strlen(store_key)},
            {letters, strlen(letters)},
        };

        return mac_compute_err(server_key, parts, 3, out, err, errlen);
}

int apppw_find(const struct apppw_list *l, const unsigned char hash[MAC_LEN])
{
        if (l->n == 0)
                return -1;
        return (int)secure_ct_find(l->e[0].hash, l->n, sizeof(l->e[0]), hash, MAC_LEN);
}

int apppw_find_name(const struct apppw_list *l, const char *name)
{
        size_t i;

        for (i = 0; i < l->n; i++) {
                if (strcmp(l->e[i].name, name) == 0)
                        return (int)i;
        }
        return -1;
}

static int parse_entry(const char *v, size_t vlen, struct apppw_entry *e)
{
        const char *p = v, *end = v + vlen, *f[8];
        size_t fl[8], i;
        uint64_t num;
        char svc[APPPW_SERVICES_MAX + 1];

        for (i = 0; i < 8; i++) {
                f[i] = kv_field(&p, end, &fl[i]);
                if (f[i] == NULL)
                        return -1;
        }
        if (kv_field(&p, end, &fl[0]) != NULL)
                return -1;
        memset(e, 0, sizeof(*e));
        if (kv_field_copy(e->name, sizeof(e->name), f[0], fl[0]) != 0 || !apppw_name_valid(e->name))
                return -1;
        if (mac_unhex(f[1], fl[1], e->hash, MAC_LEN) != 0)
                return -1;
        if (kv_parse_u64(f[2], fl[2], 0, TIME_MAX_ACCEPTED, &num) != MAILOTP_OK)
                return -1;
        e->created = (int64_t)num;
        if (kv_parse_u64(f[3], fl[3], 0, TIME_MAX_ACCEPTED, &num) != MAILOTP_OK)
                return -1;
        e->expires = (int64_t)num;
        if (kv_field_copy(svc, sizeof(svc), f[4], fl[4]) != 0 ||
            apppw_services_parse(svc, e->services, sizeof(e->services), NULL, 0) != 0 ||
            strcmp(svc, e->services) != 0)
                return -1;
        if (kv_parse_u64(f[5], fl[5], 0, TIME_MAX_ACCEPTED, &num) != MAILOTP_OK)
                return -1;
        e->last_used = (int64_t)num;
        if (kv_field_copy(e->last_service, sizeof(e->last_service), f[6], fl[6]) != 0 ||
            kv_field_copy(e->last_rhost, sizeof(e->last_rhost), f[7], fl[7]) != 0)
                return -1;
        return 0;
}

enum mailotp_rc apppw_parse(const char *buf, size_t len, struct apppw_list *l, char *err,
                            size_t errlen)
{
        struct kv_iter it;
        const char *k, *v;
        size_t klen, vlen;
        int rc, have_version = 0;
        uint64_t num;

        memset(l, 0, sizeof(*l));
        if (!kv_strip_end(buf, len, &len)) {
                mailotp_seterr(err, errlen, "file is empty or cut short (no \"end\" line)");
                return MAILOTP_ERR_FORMAT;
        }
        kv_iter_init(&it, buf, len);
        while ((rc = kv_next(&it, &k, &klen, &v, &vlen)) == 1) {
                if (!have_version) {
                        if (!kv_key_is(k, klen, "version") ||
                            kv_parse_u64(v, vlen, 1, 1, &num) != MAILOTP_OK) {
                                mailotp_seterr(err, errlen, "line %u: expected version = 1",
                                               it.line);
                                goto bad;
                        }
                        have_version = 1;
                        continue;
                }
                if (!kv_key_is(k, klen, "app") || v == NULL) {
                        mailotp_seterr(err, errlen, "line %u: unknown key", it.line);
                        goto bad;
                }
                if (l->n >= APPPW_MAX) {
                        mailotp_seterr(err, errlen, "more than %u entries", APPPW_MAX);
                        goto bad;
                }
                if (parse_entry(v, vlen, &l->e[l->n]) != 0) {
                        mailotp_seterr(err, errlen, "line %u: bad entry", it.line);
                        goto bad;
                }
                if (apppw_find_name(l, l->e[l->n].name) >= 0) {
                        mailotp_seterr(err, errlen, "line %u: repeated name", it.line);
                        goto bad;
                }
                l->n++;
        }
        if (rc < 0 || !have_version) {
                mailotp_seterr(err, errlen, rc < 0 ? "line %u: syntax error" : "empty file",
                               it.line);
                goto bad;
        }
        return MAILOTP_OK;
bad:
        secure_memzero(l, sizeof(*l));
        return MAILOTP_ERR_FORMAT;
}

enum mailotp_rc apppw_format(const struct apppw_list *l, char *buf, size_t bufsz, size_t *outlen)
{
        size_t off = 0, i;
        int n;

        n = snprintf(buf, bufsz,
                     "# pam_mailotp application passwords: use mailotp(1)\nversion = 1\n");
        if (n < 0 || (size_t)n >= bufsz)
                return MAILOTP_ERR_INVALID;
        off = (size_t)n;
        for (i = 0; i < l->n; i++) {
                const struct apppw_entry *e = &l->e[i];
                char hex[MAC_HEX_LEN + 1];

                mac_hex(e->hash, MAC_LEN, hex);
                n = snprintf(buf + off, bufsz - off, "app = %s %s %lld %lld %s %lld %s %s\n",
                             e->name, hex, (long long)e->created, (long long)e->expires,
                             e->services, (long long)e->last_used,
                             e->last_service[0] ? e->last_service : "-",
                             e->last_rhost[0] ? e->last_rhost : "-");
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
