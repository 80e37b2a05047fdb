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

static size_t clamp_keep(size_t keep)
{
        if (keep == 0)
                return 1;
        return keep > LASTLOG_MAX ? LASTLOG_MAX : keep;
}

void lastlog_push(struct lastlog *l, const struct lastlog_event *ev, size_t keep)
{
        size_t j;

        keep = clamp_keep(keep);
        l->keep = keep;
        while (l->n > keep) {
                memmove(&l->ev[0], &l->ev[1], (l->n - 1) * sizeof(l->ev[0]));
                l->n--;
        }
        /* After every entry of the same time or older: in file order, this is the end. */
        for (j = l->n; j > 0 && l->ev[j - 1].time > ev->time; j--)
                ;
        if (l->n == keep) {
                if (j == 0)
                        return; /* older than the newest `keep` */
                memmove(&l->ev[0], &l->ev[1], (l->n - 1) * sizeof(l->ev[0]));
                l->n--;
                j--;
        }
        memmove(&l->ev[j + 1], &l->ev[j], (l->n - j) * sizeof(l->ev[0]));
        l->ev[j] = *ev;
        l->n++;
}

/* The value of one "login = ..." entry into ev: 0, or -1 when it is malformed. */
static int parse_login(const char *v, size_t vlen, struct lastlog_event *ev)
{
        const char *p, *end, *f[6];
        size_t fl[6], i;
        uint64_t num;

        if (v == NULL) /* "login" without a value */
                return -1;
        p = v;
        end = v + vlen;
        memset(ev, 0, sizeof(*ev));
        for (i = 0; i < 6; i++) {
                f[i] = kv_field(&p, end, &fl[i]);
                if (f[i] == NULL)
                        return -1;
        }
        if (kv_field(&p, end, &fl[0]) != NULL)
                return -1;
        if (kv_parse_u64(f[0], fl[0], 0, TIME_MAX_ACCEPTED, &num) != MAILOTP_OK)
                return -1;
        ev->time = (int64_t)num;
        if (kv_field_copy(ev->result, sizeof(ev->result), f[1], fl[1]) != 0 ||
            (strcmp(ev->result, "success") != 0 && strcmp(ev->result, "failure") != 0) ||
            kv_field_copy(ev->method, sizeof(ev->method), f[2], fl[2]) != 0 ||
            kv_field_copy(ev->service, sizeof(ev->service), f[3], fl[3]) != 0 ||
            kv_field_copy(ev->rhost, sizeof(ev->rhost), f[4], fl[4]) != 0 ||
            kv_field_copy(ev->reason, sizeof(ev->reason), f[5], fl[5]) != 0)
                return -1;
        return 0;
}

/* Version 1 (0.1.0): "end" line required, every line must parse. */
static enum mailotp_rc parse_v1(const char *buf, size_t len, struct lastlog *l, char *err,
                                size_t errlen)
{
        struct kv_iter it;
        const char *k, *v;
        size_t klen, vlen;
        int rc, have_version = 0;
        uint64_t num;

        if (!kv_strip_end(buf, len, &len)) {
                mailotp_seterr(err, errlen, "file is empty or cut short (no \"end\" line)");
                return MAILOTP_ERR_FORMAT;
        }
        kv_iter_init(&it, buf, len);
        while ((rc = kv_next(&it, &k, &klen, &v, &vlen)) == 1) {
                struct lastlog_event ev;

                if (!have_version) {
                        if (!kv_key_is(k, klen, "version") ||
                            kv_parse_u64(v, vlen, 1, 1, &num) != MAILOTP_OK)
                                goto bad;
                        have_version = 1;
                        continue;
                }
                if (!kv_key_is(k, klen, "login") || l->lines >= LASTLOG_MAX ||
                    parse_login(v, vlen, &ev) != 0)
                        goto bad;
                lastlog_push(l, &ev, LASTLOG_MAX); /* in time order, as version 2 */
                l->lines++;
        }
        if (rc < 0 || !have_version)
                goto bad;
        l->keep = 0;
        l->version = 1;
        return MAILOTP_OK;
bad:
        mailotp_seterr(err, errlen, "last-logins file: bad line %u", it.line);
        memset(l, 0, sizeof(*l));
        return MAILOTP_ERR_FORMAT;
}

/* The next line of [*pos, len): 1 with its bounds (newline excluded), 0 at the end. */
static int next_line(const char *buf, size_t len, size_t *pos, const char **line, size_t *llen,
                     int *complete)
{
        const char *nl;

        if (*pos >= len)
                return 0;
        *line = buf + *pos;
        nl = memchr(*line, '\n', len - *pos);
        *complete = nl != NULL;
        *llen = nl != NULL ? (size_t)(nl - *line) : len - *pos;
        *pos += *llen + (nl != NULL ? 1U : 0U);
        return 1;
}

/* The one entry of a single line: 1 with key/value, 0 for a blank or comment line, -1 bad. */
static int line_entry(const char *line, size_t llen, const char **k, size_t *klen, const char **v,
                      size_t *vlen)
{
        struct kv_iter it;
        int rc;

        kv_iter_init(&it, line, llen);
        rc = kv_next(&it, k, klen, v, vlen);
        if (rc == 1) {
                const char *k2, *v2;
                size_t kl2, vl2;

                if (kv_next(&it, &k2, &kl2, &v2, &vl2) != 0)
                        return -1;
        }
        return rc;
}

enum mailotp_rc lastlog_parse(const char *buf, size_t len, struct lastlog *l, char *err,
                              size_t errlen)
{
        const char *line, *k, *v;
        size_t pos = 0, llen, klen, vlen;
        uint64_t num = 0;
        int complete, step = 0; /* 0: version next, 1: keep next, 2: entries */

        memset(l, 0, sizeof(*l));
        while (next_line(buf, len, &pos, &line, &llen, &complete)) {
                struct lastlog_event ev;
                int rc = line_entry(line, llen, &k, &klen, &v, &vlen);

                if (step < 2) {
                        if (rc == 0 && complete)
                                continue;
                        if (rc != 1 || !complete)
                                break;
                        if (step == 0 && kv_key_is(k, klen, "version") &&
                            kv_parse_u64(v, vlen, 1, 2, &num) == MAILOTP_OK) {
                                if (num == 1)
                                        return parse_v1(buf, len, l, err, errlen);
                                step = 1;
                                continue;
                        }
                        if (step == 1 && kv_key_is(k, klen, "keep") &&
                            kv_parse_u64(v, vlen, 1, LASTLOG_MAX, &num) == MAILOTP_OK) {
                                l->keep = (size_t)num;
                                step = 2;
                                continue;
                        }
                        break;
                }
                if (rc == 0 && complete)
                        continue;
                if (rc != 1 || !complete || !kv_key_is(k, klen, "login") ||
                    parse_login(v, vlen, &ev) != 0) {
                        l->skipped++;
                        continue;
                }
                lastlog_push(l, &ev, l->keep);
                l->lines++;
        }
        if (step < 2) {
                mailotp_seterr(err, errlen, "last-logins file: no valid header");
                memset(l, 0, sizeof(*l));
                return MAILOTP_ERR_FORMAT;
        }
        l->version = 2;
        return MAILOTP_OK;
}

enum mailotp_rc lastlog_format_line(const struct lastlog_event *ev, char *buf, size_t bufsz,
                                    size_t *outlen)
{
        int n = snprintf(buf, bufsz, "login = %lld %s %s %s %s %s\n", (long long)ev->time,
                         ev->result, ev->method, ev->service, ev->rhost, ev->reason);

        if (n < 0 || (size_t)n >= bufsz)
                return MAILOTP_ERR_INVALID;
        *outlen = (size_t)n;
        return MAILOTP_OK;
}

#define LASTLOG_HEADER "# pam_mailotp last logins\nversion = 2\nkeep = %zu\n"

enum mailotp_rc lastlog_format(const struct lastlog *l, char *buf, size_t bufsz, size_t *outlen)
{
        size_t off, i, keep = l->keep == 0 ? LASTLOG_MAX : clamp_keep(l->keep);
        size_t first = l->n > keep ? l->n - keep : 0;
        int n;

        n = snprintf(buf, bufsz, LASTLOG_HEADER, keep);
        if (n < 0 || (size_t)n >= bufsz)
                return MAILOTP_ERR_INVALID;
        off = (size_t)n;
        for (i = first; i < l->n; i++) {
                size_t ll = 0;

                if (lastlog_format_line(&l->ev[i], buf + off, bufsz - off, &ll) != MAILOTP_OK)
                        return MAILOTP_ERR_INVALID;
                off += ll;
        }
        *outlen = off;
        return MAILOTP_OK;
}

size_t lastlog_rewrite_at(size_t keep)
{
        keep = clamp_keep(keep);
        return keep + (keep > LASTLOG_SLACK_MIN ? keep : LASTLOG_SLACK_MIN);
}

int lastlog_needs_rewrite(const struct lastlog *l, size_t keep, size_t filelen, size_t nlines,
                          size_t addlen)
{
        keep = clamp_keep(keep);
        return l->version != 2 || l->keep != keep || l->skipped > 0 ||
               l->lines + nlines > lastlog_rewrite_at(keep) ||
               filelen + addlen + 1 > LASTLOG_FILE_MAX;
}

/*
 * The number of lines after the header when buf is exactly a log that
 * lastlog_format wrote for `keep` (header, then complete lines), counting at
 * most up to `stop`; -1 when it is not.
 */
static long exact_lines(const char *buf, size_t len, size_t keep, size_t stop)
{
        char head[80];
        const char *p, *end;
        size_t lines = 0;
        int n;

        n = snprintf(head, sizeof(head), LASTLOG_HEADER, clamp_keep(keep));
        if (buf == NULL || n < 0 || (size_t)n >= sizeof(head) || len < (size_t)n ||
            memcmp(buf, head, (size_t)n) != 0 || buf[len - 1] != '\n')
                return -1;
        p = buf + n;
        end = buf + len;
        while (lines < stop && p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
                p++;
                lines++;
        }
        return (long)lines;
}

int lastlog_can_append(const char *buf, size_t len, size_t keep, size_t nlines, size_t addlen)
{
        size_t limit = lastlog_rewrite_at(keep);
        long lines;

        if (nlines > limit || len + addlen + 1 > LASTLOG_FILE_MAX)
                return 0;
        lines = exact_lines(buf, len, keep, limit - nlines + 1);
        return lines >= 0 && (size_t)lines + nlines <= limit;
}

int lastlog_pending_add(const char *cur, size_t curlen, size_t keep, const char *line,
                        size_t linelen, char *out, size_t outmax, size_t *outlen)
{
        long lines = 0;
        int n;

        if (curlen == 0) {
                n = snprintf(out, outmax, LASTLOG_HEADER, clamp_keep(keep));
                if (n < 0 || (size_t)n >= outmax || outmax - (size_t)n < linelen)
                        return 0;
                curlen = (size_t)n;
        } else {
                size_t most =
                    clamp_keep(keep) < LASTLOG_PENDING_MAX ? clamp_keep(keep) : LASTLOG_PENDING_MAX;

                lines = exact_lines(cur, curlen, keep, most);
                if (lines < 0 || (size_t)lines >= most || curlen > outmax ||
                    outmax - curlen < linelen)
                        return 0;
                memmove(out, cur, curlen);
        }
        memcpy(out + curlen, line, linelen);
        *outlen = curlen + linelen;
        return 1;
}

/* Stable: entries of equal time keep their order. */
static void sort_by_time(struct lastlog *l)
{
        size_t i, j;

        for (i = 1; i < l->n; i++) {
                struct lastlog_event ev = l->ev[i];

                for (j = i; j > 0 && l->ev[j - 1].time > ev.time; j--)
                        l->ev[j] = l->ev[j - 1];
                l->ev[j] = ev;
        }
}

void lastlog_merge(struct lastlog *l, const struct lastlog *pending)
{
        size_t keep =
            clamp_keep(pending->keep != 0 ? pending->keep : (l->keep != 0 ? l->keep : LASTLOG_MAX));
        unsigned char is_pending[LASTLOG_MAX] = {0};
        size_t i, j;

        sort_by_time(l);
        if (l->n > keep) {
                memmove(&l->ev[0], &l->ev[l->n - keep], keep * sizeof(l->ev[0]));
                l->n = keep;
        }
        /* Each pending entry into its place by time, the oldest out when keep are there. */
        for (i = 0; i < pending->n; i++) {
                const struct lastlog_event *ev = &pending->ev[i];

                for (j = l->n; j > 0; j--) {
                        const struct lastlog_event *o = &l->ev[j - 1];

                        if (o->time < ev->time || (o->time == ev->time && is_pending[j - 1]))
                                break;
                }
                if (l->n == keep) {
                        if (j == 0)
                                continue; /* older than the newest `keep` */
                        memmove(&l->ev[0], &l->ev[1], (l->n - 1) * sizeof(l->ev[0]));
                        memmove(&is_pending[0], &is_pending[1], l->n - 1);
                        l->n--;
                        j--;
                }
                memmove(&l->ev[j + 1], &l->ev[j], (l->n - j) * sizeof(l->ev[0]));
                memmove(&is_pending[j + 1], &is_pending[j], l->n - j);
                l->ev[j] = *ev;
                is_pending[j] = 1;
                l->n++;
        }
        l->keep = keep;
        l->lines += pending->lines;
}
