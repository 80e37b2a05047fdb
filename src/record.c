/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "record.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kv.h"
#include "password_split.h"
#include "secure.h"

/* Largest time value we accept in a file: year 9999. */
#define TIME_MAX_ACCEPTED 253402300799ULL

void record_wipe(struct otp_record *r)
{
        secure_memzero(r, sizeof(*r));
}

void state_init(struct otp_state *s)
{
        memset(s, 0, sizeof(*s));
}

const char *record_status_name(enum otp_status st)
{
        return st == OTP_STATUS_ENABLED ? "enabled" : "pending";
}

static int is_b32_char(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7');
}

/* One bit per key, to catch repeated and missing keys. */
enum {
        R_VERSION = 1,
        R_STATUS = 2,
        R_SECRET = 4,
        R_DIGITS = 8,
        R_PERIOD = 16,
        R_CREATED = 32,
        R_ENABLED = 64
};

enum mailotp_rc record_parse(const char *buf, size_t len, struct otp_record *r, char *err,
                             size_t errlen)
{
        struct kv_iter it;
        const char *k, *v;
        size_t klen, vlen;
        unsigned seen = 0;
        uint64_t num = 0;
        int rc;

        record_wipe(r);
        if (!kv_strip_end(buf, len, &len)) {
                mailotp_seterr(err, errlen, "file is empty or cut short (no \"end\" line)");
                return MAILOTP_ERR_FORMAT;
        }
        kv_iter_init(&it, buf, len);
        while ((rc = kv_next(&it, &k, &klen, &v, &vlen)) == 1) {
                unsigned bit;
                enum mailotp_rc prc = MAILOTP_OK;

                if (kv_key_is(k, klen, "version"))
                        bit = R_VERSION;
                else if (kv_key_is(k, klen, "status"))
                        bit = R_STATUS;
                else if (kv_key_is(k, klen, "secret"))
                        bit = R_SECRET;
                else if (kv_key_is(k, klen, "digits"))
                        bit = R_DIGITS;
                else if (kv_key_is(k, klen, "period"))
                        bit = R_PERIOD;
                else if (kv_key_is(k, klen, "created"))
                        bit = R_CREATED;
                else if (kv_key_is(k, klen, "enabled"))
                        bit = R_ENABLED;
                else {
                        mailotp_seterr(err, errlen, "line %u: unknown key", it.line);
                        goto bad;
                }
                if (seen & bit) {
                        mailotp_seterr(err, errlen, "line %u: repeated key", it.line);
                        goto bad;
                }
                if (bit == R_VERSION && seen != 0) {
                        mailotp_seterr(err, errlen, "line %u: version must come first", it.line);
                        goto bad;
                }
                if (bit != R_VERSION && (seen & R_VERSION) == 0) {
                        mailotp_seterr(err, errlen, "line %u: version must come first", it.line);
                        goto bad;
                }
                seen |= bit;
                switch (bit) {
                case R_VERSION:
                        prc = kv_parse_u64(v, vlen, RECORD_VERSION, RECORD_VERSION, &num);
                        if (prc != MAILOTP_OK) {
                                mailotp_seterr(err, errlen, "line %u: unsupported version",
                                               it.line);
                                goto bad;
                        }
                        break;
                case R_STATUS:
                        if (v != NULL && kv_key_is(v, vlen, "pending"))
                                r->status = OTP_STATUS_PENDING;
                        else if (v != NULL && kv_key_is(v, vlen, "enabled"))
                                r->status = OTP_STATUS_ENABLED;
                        else
                                prc = MAILOTP_ERR_FORMAT;
                        break;
                case R_SECRET: {
                        size_t i;

                        if (v == NULL || vlen < 16 || vlen > TOTP_SECRET_B32_MAX) {
                                prc = MAILOTP_ERR_FORMAT;
                                break;
                        }
                        for (i = 0; i < vlen; i++) {
                                if (!is_b32_char(v[i]) && v[i] != '=')
                                        prc = MAILOTP_ERR_FORMAT;
                        }
                        if (prc == MAILOTP_OK) {
                                memcpy(r->secret, v, vlen);
                                r->secret[vlen] = '\0';
                        }
                        break;
                }
                case R_DIGITS:
                        prc = kv_parse_u64(v, vlen, PWSPLIT_MIN_DIGITS, PWSPLIT_MAX_DIGITS, &num);
                        r->digits = (unsigned)num;
                        break;
                case R_PERIOD:
                        prc = kv_parse_u64(v, vlen, TOTP_PERIOD, TOTP_PERIOD, &num);
                        r->period = (unsigned)num;
                        break;
                case R_CREATED:
                        prc = kv_parse_u64(v, vlen, 0, TIME_MAX_ACCEPTED, &num);
                        r->created = (int64_t)num;
                        break;
                case R_ENABLED:
                        prc = kv_parse_u64(v, vlen, 0, TIME_MAX_ACCEPTED, &num);
                        r->enabled = (int64_t)num;
                        break;
                }
                if (prc != MAILOTP_OK) {
                        mailotp_seterr(err, errlen, "line %u: bad value", it.line);
                        goto bad;
                }
        }
        if (rc < 0) {
                mailotp_seterr(err, errlen, "line %u: syntax error", it.line);
                goto bad;
        }
        if ((seen & (R_VERSION | R_STATUS | R_SECRET | R_DIGITS | R_PERIOD | R_CREATED)) !=
            (R_VERSION | R_STATUS | R_SECRET | R_DIGITS | R_PERIOD | R_CREATED)) {
                mailotp_seterr(err, errlen, "a required key is missing (truncated file?)");
                goto bad;
        }
        if ((r->status == OTP_STATUS_ENABLED) != ((seen & R_ENABLED) != 0)) {
                mailotp_seterr(err, errlen, "enabled time does not match the status");
                goto bad;
        }
        return MAILOTP_OK;
bad:
        record_wipe(r);
        return MAILOTP_ERR_FORMAT;
}

/* snprintf into buf at *off; 0 on success, -1 when it does not fit. */
static int append(char *buf, size_t bufsz, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int append(char *buf, size_t bufsz, size_t *off, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (*off >= bufsz)
                return -1;
        va_start(ap, fmt);
        n = vsnprintf(buf + *off, bufsz - *off, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= bufsz - *off)
                return -1;
        *off += (size_t)n;
        return 0;
}

enum mailotp_rc record_format(const struct otp_record *r, char *buf, size_t bufsz, size_t *outlen)
{
        size_t off = 0;

        if (r->status != OTP_STATUS_PENDING && r->status != OTP_STATUS_ENABLED)
                return MAILOTP_ERR_INVALID;
        if (r->secret[0] == '\0' || r->digits < PWSPLIT_MIN_DIGITS ||
            r->digits > PWSPLIT_MAX_DIGITS || r->period != TOTP_PERIOD || r->created < 0 ||
            r->enabled < 0)
                return MAILOTP_ERR_INVALID;
        if (append(buf, bufsz, &off,
                   "# pam_mailotp user record: do not edit, use mailotp(1)\n"
                   "version = %u\nstatus = %s\nsecret = %s\ndigits = %u\nperiod = %u\n"
                   "created = %lld\n",
                   RECORD_VERSION, record_status_name(r->status), r->secret, r->digits, r->period,
                   (long long)r->created) != 0)
                goto small;
        if (r->status == OTP_STATUS_ENABLED &&
            append(buf, bufsz, &off, "enabled = %lld\n", (long long)r->enabled) != 0)
                goto small;
        if (append(buf, bufsz, &off, "%s", KV_END_LINE) != 0)
                goto small;
        *outlen = off;
        return MAILOTP_OK;
small:
        secure_memzero(buf, bufsz);
        return MAILOTP_ERR_INVALID;
}

enum {
        S_VERSION = 1,
        S_LAST = 2,
        S_FAILURES = 4,
        S_LOCKED = 8,
        S_LFAIL = 16,
        S_LSUCC = 32,
        S_GUNTIL = 64,
        S_GRACE = 128
};

enum mailotp_rc state_parse(const char *buf, size_t len, struct otp_state *s, char *err,
                            size_t errlen)
{
        struct kv_iter it;
        const char *k, *v;
        size_t klen, vlen;
        unsigned seen = 0;
        uint64_t num = 0;
        int rc;

        state_init(s);
        if (!kv_strip_end(buf, len, &len)) {
                mailotp_seterr(err, errlen, "file is empty or cut short (no \"end\" line)");
                return MAILOTP_ERR_FORMAT;
        }
        kv_iter_init(&it, buf, len);
        while ((rc = kv_next(&it, &k, &klen, &v, &vlen)) == 1) {
                unsigned bit;
                uint64_t max = TIME_MAX_ACCEPTED;

                if (kv_key_is(k, klen, "version"))
                        bit = S_VERSION;
                else if (kv_key_is(k, klen, "last_step"))
                        bit = S_LAST;
                else if (kv_key_is(k, klen, "failures"))
                        bit = S_FAILURES;
                else if (kv_key_is(k, klen, "locked_until"))
                        bit = S_LOCKED;
                else if (kv_key_is(k, klen, "last_failure"))
                        bit = S_LFAIL;
                else if (kv_key_is(k, klen, "last_success"))
                        bit = S_LSUCC;
                else if (kv_key_is(k, klen, "grace_until"))
                        bit = S_GUNTIL;
                else if (kv_key_is(k, klen, "grace"))
                        bit = S_GRACE;
                else {
                        mailotp_seterr(err, errlen, "line %u: unknown key", it.line);
                        goto bad;
                }
                if ((seen & bit) || ((bit == S_VERSION) != (seen == 0))) {
                        mailotp_seterr(err, errlen, "line %u: repeated key or version not first",
                                       it.line);
                        goto bad;
                }
                seen |= bit;
                if (bit == S_GRACE) {
                        if (mac_unhex(v, vlen, s->grace, MAC_LEN) != 0) {
                                mailotp_seterr(err, errlen, "line %u: bad value", it.line);
                                goto bad;
                        }
                        continue;
                }
                if (bit == S_VERSION)
                        max = RECORD_VERSION;
                else if (bit == S_FAILURES)
                        max = 1000000;
                if (kv_parse_u64(v, vlen, bit == S_VERSION ? RECORD_VERSION : 0, max, &num) !=
                    MAILOTP_OK) {
                        mailotp_seterr(err, errlen, "line %u: bad value", it.line);
                        goto bad;
                }
                switch (bit) {
                case S_LAST:
                        s->has_last_step = 1;
                        s->last_step = num;
                        break;
                case S_FAILURES:
                        s->failures = (unsigned)num;
                        break;
                case S_LOCKED:
                        s->locked_until = (int64_t)num;
                        break;
                case S_LFAIL:
                        s->last_failure = (int64_t)num;
                        break;
                case S_LSUCC:
                        s->last_success = (int64_t)num;
                        break;
                case S_GUNTIL:
                        s->grace_until = (int64_t)num;
                        break;
                default:
                        break;
                }
        }
        if (rc < 0) {
                mailotp_seterr(err, errlen, "line %u: syntax error", it.line);
                goto bad;
        }
        /* The writer stores the pair only while a grace is in force. */
        if (((seen & S_GUNTIL) != 0) != ((seen & S_GRACE) != 0) ||
            ((seen & S_GUNTIL) != 0 && s->grace_until == 0)) {
                mailotp_seterr(err, errlen, "grace and grace_until go together");
                goto bad;
        }
        if ((seen & (S_VERSION | S_FAILURES | S_LOCKED)) != (S_VERSION | S_FAILURES | S_LOCKED)) {
                mailotp_seterr(err, errlen, "a required key is missing (truncated file?)");
                goto bad;
        }
        return MAILOTP_OK;
bad:
        state_init(s);
        return MAILOTP_ERR_FORMAT;
}

enum mailotp_rc state_format(const struct otp_state *s, char *buf, size_t bufsz, size_t *outlen)
{
        size_t off = 0;

        if (append(buf, bufsz, &off, "# pam_mailotp user state: do not edit\nversion = %u\n",
                   RECORD_VERSION) != 0)
                return MAILOTP_ERR_INVALID;
        if (s->has_last_step &&
            append(buf, bufsz, &off, "last_step = %llu\n", (unsigned long long)s->last_step) != 0)
                return MAILOTP_ERR_INVALID;
        if (append(buf, bufsz, &off,
                   "failures = %u\nlocked_until = %lld\nlast_failure = %lld\n"
                   "last_success = %lld\n",
                   s->failures, (long long)s->locked_until, (long long)s->last_failure,
                   (long long)s->last_success) != 0)
                return MAILOTP_ERR_INVALID;
        if (s->grace_until > 0) {
                char hex[MAC_HEX_LEN + 1];

                mac_hex(s->grace, MAC_LEN, hex);
                if (append(buf, bufsz, &off, "grace_until = %lld\ngrace = %s\n",
                           (long long)s->grace_until, hex) != 0)
                        return MAILOTP_ERR_INVALID;
        }
        if (append(buf, bufsz, &off, "%s", KV_END_LINE) != 0)
                return MAILOTP_ERR_INVALID;
        *outlen = off;
        return MAILOTP_OK;
}
