/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apppw.h"
#include "secure.h"
#include "totp.h"
#include "username.h"

void auth_policy_from_opts(struct auth_policy *p, const struct mailotp_opts *o)
{
        p->window = o->window;
        p->lockout_after = o->lockout_after;
        p->lockout_delay = o->lockout_delay;
        p->lockout_max = o->lockout_max;
        p->lock_timeout_ms = o->lock_timeout * 1000U;
        p->reuse_grace = o->reuse_grace;
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

/* Store the state, with the login's entry for this outcome when c asks for it. */
static enum mailotp_rc save_state(struct store *st, const char *key, const struct otp_state *s,
                                  const struct auth_code *c, int ok, struct auth_outcome *out,
                                  char *err, size_t errlen)
{
        enum mailotp_rc rc;

        if (c->note_keep == 0)
                return store_state_save(st, key, s, err, errlen);
        rc = store_state_save_noted(st, key, s, ok ? &c->note_ok : &c->note_fail, c->note_keep,
                                    out->note_warn, sizeof(out->note_warn), err, errlen);
        out->noted = rc == MAILOTP_OK;
        return rc;
}

/* Count a wrong code (TOTP or recovery) and store it, best effort. */
static enum mailotp_rc count_failure(struct store *st, const char *key, struct otp_state *s,
                                     const struct auth_code *c, int64_t now,
                                     const struct auth_policy *p, struct auth_outcome *out,
                                     char *err, size_t errlen)
{
        if (s->failures < 1000000U)
                s->failures++;
        s->last_failure = now;
        s->locked_until = auth_lockout_until(s->failures, now, p);
        /*
         * A count that cannot be stored is an error, not a plain "wrong
         * code": otherwise, while the disk is full, guesses would go
         * uncounted and a right guess (whose step cannot be stored either)
         * would stand out by its different answer.  The outcome keeps the
         * stored count then, so the log does not claim one that is not.
         */
        if (save_state(st, key, s, c, 0, out, err, errlen) != MAILOTP_OK)
                return MAILOTP_ERR_IO;
        out->failures = s->failures;
        out->locked_until = s->locked_until;
        return MAILOTP_ERR_MISMATCH;
}

/* A recovery code in place of the TOTP code: consumed durably, then success. */
static enum mailotp_rc check_recovery(struct store *st, const char *key, struct otp_state *s,
                                      const struct auth_code *c, int64_t now,
                                      const struct auth_policy *p, struct auth_outcome *out,
                                      char *err, size_t errlen)
{
        const char *letters = c->code;
        unsigned char skey[MAC_KEY_LEN], hash[MAC_LEN];
        struct recovery_list rl;
        enum mailotp_rc rc;
        int idx;

        rc = store_recovery_load(st, key, &rl, err, errlen);
        if (rc == MAILOTP_ERR_NOT_FOUND)
                return count_failure(st, key, s, c, now, p, out, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = store_server_key(st, 0, skey, err, errlen);
        if (rc == MAILOTP_OK)
                rc = recovery_hash(skey, key, letters, hash, err, errlen);
        secure_memzero(skey, sizeof(skey));
        if (rc != MAILOTP_OK)
                return rc;
        idx = recovery_find(&rl, hash);
        if (idx < 0)
                return count_failure(st, key, s, c, now, p, out, err, errlen);
        recovery_remove(&rl, (size_t)idx);
        /* Single use: the code must be gone for good before we say yes. */
        rc = store_recovery_save(st, key, &rl, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        s->failures = 0;
        s->locked_until = 0;
        s->last_success = now;
        rc = save_state(st, key, s, c, 1, out, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        out->failures = 0;
        out->locked_until = 0;
        out->recovery_left = rl.n;
        return MAILOTP_OK;
}

enum mailotp_rc auth_check_locked(struct store *st, const char *key, const struct otp_record *rec,
                                  const struct auth_code *c, int64_t now,
                                  const struct auth_policy *p, struct auth_outcome *out, char *err,
                                  size_t errlen)
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
        if (c->kind == AUTH_RECOVERY)
                return check_recovery(st, key, &s, c, now, p, out, err, errlen);

        rc = totp_secret_decode(rec->secret, &secret, &secret_len);
        if (rc != MAILOTP_OK) {
                mailotp_seterr(err, errlen, "secret in record does not decode");
                return rc;
        }
        vrc = totp_verify(secret, secret_len, c->code, rec->digits, now, rec->period, p->window,
                          s.has_last_step, s.last_step, &step);
        secure_freezero(secret, secret_len);

        switch (vrc) {
        case MAILOTP_OK:
                s.has_last_step = 1;
                s.last_step = step;
                s.failures = 0;
                s.locked_until = 0;
                s.last_success = now;
                if (p->reuse_grace > 0 && c->has_grace) {
                        s.grace_until = now + (int64_t)p->reuse_grace;
                        memcpy(s.grace, c->grace, MAC_LEN);
                } else {
                        s.grace_until = 0;
                        secure_memzero(s.grace, MAC_LEN);
                }
                /* The step must be stored before we say yes, or the code could be replayed. */
                rc = save_state(st, key, &s, c, 1, out, err, errlen);
                if (rc != MAILOTP_OK)
                        return rc;
                out->failures = 0;
                out->locked_until = 0;
                out->step = step;
                return MAILOTP_OK;
        case MAILOTP_ERR_REPLAY:
                /* RFC 6238 5.2 relaxed on purpose (reuse_grace): same string, same host, soon. */
                if (p->reuse_grace > 0 && c->has_grace && s.grace_until >= now &&
                    s.grace_until - now <= (int64_t)p->reuse_grace &&
                    secure_ct_equal(s.grace, c->grace, MAC_LEN)) {
                        out->reused = 1;
                        return MAILOTP_OK;
                }
                return MAILOTP_ERR_REPLAY;
        case MAILOTP_ERR_MISMATCH:
                return count_failure(st, key, &s, c, now, p, out, err, errlen);
        default:
                return vrc;
        }
}

enum mailotp_rc auth_check(struct store *st, const char *key, const struct otp_record *rec,
                           const struct auth_code *c, int64_t now, const struct auth_policy *p,
                           struct auth_outcome *out, char *err, size_t errlen)
{
        struct store_lock *lk = NULL;
        enum mailotp_rc rc;

        memset(out, 0, sizeof(*out));
        rc = store_lock(st, key, p->lock_timeout_ms, &lk, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = auth_check_locked(st, key, rec, c, now, p, out, err, errlen);
        store_unlock(st, lk);
        return rc;
}

/* A TOTP-only auth_code for the classic entry points. */
static void totp_code(struct auth_code *c, const char *code)
{
        memset(c, 0, sizeof(*c));
        c->kind = AUTH_TOTP;
        (void)snprintf(c->code, sizeof(c->code), "%s", code);
}

enum mailotp_rc auth_verify_code_locked(struct store *st, const char *key,
                                        const struct otp_record *rec, const char *code, int64_t now,
                                        const struct auth_policy *p, struct auth_outcome *out,
                                        char *err, size_t errlen)
{
        struct auth_code c;
        enum mailotp_rc rc;

        totp_code(&c, code);
        rc = auth_check_locked(st, key, rec, &c, now, p, out, err, errlen);
        secure_memzero(&c, sizeof(c));
        return rc;
}

enum mailotp_rc auth_grace_fingerprint(const unsigned char server_key[MAC_KEY_LEN], const char *key,
                                       const char *service, const char *rhost,
                                       const char *submitted, size_t len,
                                       unsigned char out[MAC_LEN], char *err, size_t errlen)
{
        struct mac_part parts[5] = {
            {"grace", 5},
            {key, strlen(key)},
            {service != NULL ? service : "", service != NULL ? strlen(service) : 0},
            {rhost != NULL ? rhost : "", rhost != NULL ? strlen(rhost) : 0},
            {submitted, len},
        };

        return mac_compute_err(server_key, parts, 5, out, err, errlen);
}

enum mailotp_rc auth_app_password(struct store *st, const char *key, const char *letters,
                                  const char *service, const char *rhost, int64_t now,
                                  unsigned lock_timeout_ms, char *name_out, size_t namesz,
                                  char *err, size_t errlen)
{
        unsigned char skey[MAC_KEY_LEN], hash[MAC_LEN];
        char svc[APPPW_SERVICE_MAX + 1], rh[APPPW_RHOST_MAX + 1]; /* as stored */
        struct apppw_list *l = NULL;
        struct apppw_entry *e;
        struct store_lock *lk = NULL;
        enum mailotp_rc rc;
        int idx;

        if (namesz > 0)
                name_out[0] = '\0';
        l = malloc(sizeof(*l));
        if (l == NULL) {
                mailotp_seterr(err, errlen, "out of memory");
                return MAILOTP_ERR_NOMEM;
        }
        /*
         * Look before locking: a user without application passwords must not
         * get a lock file (or cost a keyed hash) for every such attempt.
         */
        rc = store_apppw_load(st, key, l, err, errlen);
        if (rc != MAILOTP_OK)
                goto out;
        rc = store_server_key(st, 0, skey, err, errlen);
        if (rc == MAILOTP_OK)
                rc = apppw_hash(skey, key, letters, hash, err, errlen);
        secure_memzero(skey, sizeof(skey));
        if (rc != MAILOTP_OK)
                goto out;
        /* Decide on a fresh copy under the lock, so a revocation takes effect at once. */
        rc = store_lock(st, key, lock_timeout_ms, &lk, err, errlen);
        if (rc == MAILOTP_OK)
                rc = store_apppw_load(st, key, l, err, errlen);
        if (rc != MAILOTP_OK)
                goto out;
        idx = apppw_find(l, hash);
        if (idx < 0) {
                rc = MAILOTP_ERR_MISMATCH;
                goto out;
        }
        e = &l->e[idx];
        (void)snprintf(name_out, namesz, "%s", e->name);
        if (e->expires != 0 && e->expires <= now) {
                rc = MAILOTP_ERR_EXPIRED;
                goto out;
        }
        if (!apppw_service_allowed(e, service)) {
                rc = MAILOTP_ERR_NOT_ALLOWED;
                goto out;
        }
        /*
         * Last use is information, not security: a failed write does not
         * fail the login; its reason stays in err for a warning.  It is a
         * durable rewrite of the file, so a device that logs in again and
         * again from the same place stores it once a minute
         * (APPPW_LAST_USE_EVERY); the last-logins log has every login.
         */
        if (err != NULL && errlen > 0)
                err[0] = '\0';
        text_log_escape(service != NULL ? service : "-", svc, sizeof(svc));
        text_log_escape(rhost != NULL ? rhost : "-", rh, sizeof(rh));
        if (!apppw_last_use_current(e, now, svc, rh)) {
                e->last_used = now;
                memcpy(e->last_service, svc, sizeof(svc));
                memcpy(e->last_rhost, rh, sizeof(rh));
                (void)store_apppw_save(st, key, l, err, errlen);
        }
        rc = MAILOTP_OK;
out:
        store_unlock(st, lk);
        secure_freezero(l, sizeof(*l));
        return rc;
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
