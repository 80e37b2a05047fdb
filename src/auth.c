/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "auth.h"

#include <string.h>

#include "secure.h"
#include "totp.h"

void auth_policy_from_opts(struct auth_policy *p, const struct mailotp_opts *o)
{
        p->window = o->window;
        p->lockout_after = o->lockout_after;
        p->lockout_delay = o->lockout_delay;
        p->lockout_max = o->lockout_max;
        p->lock_timeout_ms = o->lock_timeout * 1000U;
}

int64_t auth_lockout_until(unsigned failures, int64_t now, const struct auth_policy *p)
{
        uint64_t delay = p->lockout_delay;
        unsigned doublings;

        if (failures <= p->lockout_after)
                return 0;
        doublings = failures - p->lockout_after - 1;
        while (doublings-- > 0 && delay < p->lockout_max)
                delay *= 2;
        if (delay > p->lockout_max)
                delay = p->lockout_max;
        return now + (int64_t)delay;
}

enum mailotp_rc auth_verify_code_locked(struct store *st, const char *key,
                                        const struct otp_record *rec, const char *code, int64_t now,
                                        const struct auth_policy *p, struct auth_outcome *out,
                                        char *err, size_t errlen)
{
        struct otp_state s;
        unsigned char *secret = NULL;
        size_t secret_len = 0;
        uint64_t step = 0;
        enum mailotp_rc rc, vrc;

        memset(out, 0, sizeof(*out));
        rc = store_state_load(st, key, &s, err, errlen);
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                /* An enabled record always has a state (confirm writes it first). */
                mailotp_seterr(err, errlen,
                               "state missing for an enabled user "
                               "(restore it or run: mailotp unlock USER)");
                return MAILOTP_ERR_STATE;
        }
        if (rc != MAILOTP_OK)
                return rc;
        out->failures = s.failures;
        out->locked_until = s.locked_until;
        if (s.locked_until > now)
                return MAILOTP_ERR_LOCKED;

        rc = totp_secret_decode(rec->secret, &secret, &secret_len);
        if (rc != MAILOTP_OK) {
                mailotp_seterr(err, errlen, "secret in record does not decode");
                return rc;
        }
        vrc = totp_verify(secret, secret_len, code, rec->digits, now, rec->period, p->window,
                          s.has_last_step, s.last_step, &step);
        secure_freezero(secret, secret_len);

        switch (vrc) {
        case MAILOTP_OK:
                s.has_last_step = 1;
                s.last_step = step;
                s.failures = 0;
                s.locked_until = 0;
                s.last_success = now;
                /* The step must be stored before we say yes, or the code could be replayed. */
                rc = store_state_save(st, key, &s, err, errlen);
                if (rc != MAILOTP_OK)
                        return rc;
                out->failures = 0;
                out->locked_until = 0;
                out->step = step;
                return MAILOTP_OK;
        case MAILOTP_ERR_MISMATCH:
                if (s.failures < 1000000U)
                        s.failures++;
                s.last_failure = now;
                s.locked_until = auth_lockout_until(s.failures, now, p);
                out->failures = s.failures;
                out->locked_until = s.locked_until;
                /*
                 * Best effort: the answer is "no" whether or not the count is
                 * stored; a failed write leaves its reason in err for the log.
                 */
                (void)store_state_save(st, key, &s, err, errlen);
                return MAILOTP_ERR_MISMATCH;
        default:
                return vrc;
        }
}

enum mailotp_rc auth_verify_code(struct store *st, const char *key, const struct otp_record *rec,
                                 const char *code, int64_t now, const struct auth_policy *p,
                                 struct auth_outcome *out, char *err, size_t errlen)
{
        struct store_lock *lk = NULL;
        enum mailotp_rc rc;

        memset(out, 0, sizeof(*out));
        rc = store_lock(st, key, p->lock_timeout_ms, &lk, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = auth_verify_code_locked(st, key, rec, code, now, p, out, err, errlen);
        store_unlock(st, lk);
        return rc;
}
