/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "lastlog.h"

#include <stdio.h>
#include <string.h>

#include "kv.h"
#include "username.h"

#define TIME_MAX_ACCEPTED 253402300799ULL

static void set_field(char *dst, size_t dstsz, const char *src)
{
        if (src == NULL || src[0] == '\0') {
                (void)snprintf(dst, dstsz, "-");
                return;
        }
        text_log_escape(src, dst, dstsz);
}

void lastlog_event_set(struct lastlog_event *ev, int64_t time, int success, const char *method,
                       const char *service, const char *rhost, const char *reason)
{
        memset(ev, 0, sizeof(*ev));
        ev->time = time;
        (void)snprintf(ev->result, sizeof(ev->result), "%s", success ? "success" : "failure");
        set_field(ev->method, sizeof(ev->method), method);
        set_field(ev->service, sizeof(ev->service), service);
        set_field(ev->rhost, sizeof(ev->rhost), rhost);
        set_field(ev->reason, sizeof(ev->reason), reason);
}

void lastlog_push(struct lastlog *l, const struct lastlog_event *ev, size_t keep)
{
        if (keep == 0)
                keep = 1;
        if (keep > LASTLOG_MAX)
                keep = LASTLOG_MAX;
        while (l->n >= keep) {
                memmove(&l->ev[0], &l->ev[1], (l->n - 1) * sizeof(l->ev[0]));
                l->n--;
        }
        l->ev[l->n++] = *ev;
}

enum mailotp_rc lastlog_parse(const char *buf, size_t len, struct lastlog *l, char *err,
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
                struct lastlog_event *ev;
                const char *p, *end, *f[6];
                size_t fl[6], i;

                if (!have_version) {
                        if (!kv_key_is(k, klen, "version") ||
                            kv_parse_u64(v, vlen, 1, 1, &num) != MAILOTP_OK)
                                goto bad;
                        have_version = 1;
                        continue;
                }
                if (!kv_key_is(k, klen, "login") || v == NULL || l->n >= LASTLOG_MAX)
                        goto bad;
                p = v;
                end = v + vlen;
                for (i = 0; i < 6; i++) {
                        f[i] = kv_field(&p, end, &fl[i]);
                        if (f[i] == NULL)
                                goto bad;
                }
                if (kv_field(&p, end, &fl[0]) != NULL)
                        goto bad;
                ev = &l->ev[l->n];
                if (kv_parse_u64(f[0], fl[0], 0, TIME_MAX_ACCEPTED, &num) != MAILOTP_OK)
                        goto bad;
                ev->time = (int64_t)num;
                if (kv_field_copy(ev->result, sizeof(ev->result), f[1], fl[1]) != 0 ||
                    (strcmp(ev->result, "success") != 0 && strcmp(ev->result, "failure") != 0) ||
                    kv_field_copy(ev->method, sizeof(ev->method), f[2], fl[2]) != 0 ||
                    kv_field_copy(ev->service, sizeof(ev->service), f[3], fl[3]) != 0 ||
                    kv_field_copy(ev->rhost, sizeof(ev->rhost), f[4], fl[4]) != 0 ||
                    kv_field_copy(ev->reason, sizeof(ev->reason), f[5], fl[5]) != 0)
                        goto bad;
                l->n++;
        }
        if (rc < 0 || !have_version)
                goto bad;
        return MAILOTP_OK;
bad:
        mailotp_seterr(err, errlen, "last-logins file: bad line %u", it.line);
        memset(l, 0, sizeof(*l));
        return MAILOTP_ERR_FORMAT;
}

enum mailotp_rc lastlog_format(const struct lastlog *l, char *buf, size_t bufsz, size_t *outlen)
{
        size_t off, i;
        int n;

        n = snprintf(buf, bufsz, "# pam_mailotp last logins\nversion = 1\n");
        if (n < 0 || (size_t)n >= bufsz)
                return MAILOTP_ERR_INVALID;
        off = (size_t)n;
        for (i = 0; i < l->n; i++) {
                const struct lastlog_event *ev = &l->ev[i];

                n = snprintf(buf + off, bufsz - off, "login = %lld %s %s %s %s %s\n",
                             (long long)ev->time, ev->result, ev->method, ev->service, ev->rhost,
                             ev->reason);
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
