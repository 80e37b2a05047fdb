/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "kv.h"

#include <string.h>

void kv_iter_init(struct kv_iter *it, const char *buf, size_t len)
{
        it->buf = buf;
        it->len = buf == NULL ? 0 : len;
        it->pos = 0;
        it->line = 0;
}

static int is_space(char c)
{
        return c == ' ' || c == '\t';
}

static int is_key_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

int kv_next(struct kv_iter *it, const char **key, size_t *klen, const char **val, size_t *vlen)
{
        while (it->pos < it->len) {
                const char *line = it->buf + it->pos;
                size_t rest = it->len - it->pos;
                const char *nl = memchr(line, '\n', rest);
                size_t n = nl != NULL ? (size_t)(nl - line) : rest;
                size_t b = 0, e, i, k;

                it->pos += n + (nl != NULL ? 1 : 0);
                it->line++;
                if (n > 0 && line[n - 1] == '\r')
                        n--;
                for (i = 0; i < n; i++) {
                        unsigned char c = (unsigned char)line[i];

                        if ((c < 0x20 && c != '\t') || c == 0x7F)
                                return -1;
                }
                while (b < n && is_space(line[b]))
                        b++;
                e = n;
                while (e > b && is_space(line[e - 1]))
                        e--;
                if (b == e || line[b] == '#')
                        continue;
                for (k = b; k < e && is_key_char(line[k]); k++)
                        ;
                if (k == b)
                        return -1;
                *key = line + b;
                *klen = k - b;
                while (k < e && is_space(line[k]))
                        k++;
                if (k == e) {
                        *val = NULL;
                        *vlen = 0;
                        return 1;
                }
                if (line[k] != '=')
                        return -1;
                k++;
                while (k < e && is_space(line[k]))
                        k++;
                *val = line + k;
                *vlen = e - k;
                return 1;
        }
        return 0;
}

int kv_strip_end(const char *buf, size_t len, size_t *content_len)
{
        if (buf == NULL || len < 4 || memcmp(buf + len - 4, "end\n", 4) != 0)
                return 0;
        if (len > 4 && buf[len - 5] != '\n')
                return 0;
        *content_len = len - 4;
        return 1;
}

const char *kv_field(const char **p, const char *end, size_t *flen)
{
        const char *s = *p, *e;

        while (s < end && *s == ' ')
                s++;
        if (s >= end)
                return NULL;
        for (e = s; e < end && *e != ' '; e++)
                ;
        *flen = (size_t)(e - s);
        *p = e;
        return s;
}

int kv_field_copy(char *dst, size_t dstsz, const char *f, size_t flen)
{
        if (flen == 0 || flen >= dstsz)
                return -1;
        memcpy(dst, f, flen);
        dst[flen] = '\0';
        return 0;
}

int kv_key_is(const char *k, size_t klen, const char *name)
{
        return strlen(name) == klen && memcmp(k, name, klen) == 0;
}

enum mailotp_rc kv_parse_u64(const char *v, size_t vlen, uint64_t min, uint64_t max, uint64_t *out)
{
        uint64_t acc = 0;
        size_t i;

        if (v == NULL || vlen == 0 || vlen > 20)
                return MAILOTP_ERR_FORMAT;
        for (i = 0; i < vlen; i++) {
                unsigned d;

                if (v[i] < '0' || v[i] > '9')
                        return MAILOTP_ERR_FORMAT;
                d = (unsigned)(v[i] - '0');
                if (acc > (UINT64_MAX - d) / 10)
                        return MAILOTP_ERR_FORMAT;
                acc = acc * 10 + d;
        }
        if (acc < min || acc > max)
                return MAILOTP_ERR_FORMAT;
        *out = acc;
        return MAILOTP_OK;
}

enum mailotp_rc kv_parse_bool(const char *v, size_t vlen, int *out)
{
        static const char *const yes[] = {"yes", "true", "on", "1"};
        static const char *const no[] = {"no", "false", "off", "0"};
        size_t i;

        if (v == NULL) {
                *out = 1;
                return MAILOTP_OK;
        }
        for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
                if (kv_key_is(v, vlen, yes[i])) {
                        *out = 1;
                        return MAILOTP_OK;
                }
                if (kv_key_is(v, vlen, no[i])) {
                        *out = 0;
                        return MAILOTP_OK;
                }
        }
        return MAILOTP_ERR_FORMAT;
}
