/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The code check shared by the module (login) and the CLI (confirm,
 * disable): lockout, TOTP, replay rule and the durable state update, all
 * under the user's lock.  Time is a parameter.
 */
#ifndef MAILOTP_AUTH_H
#define MAILOTP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "mailotp_rc.h"
#include "options.h"
#include "lastlog.h"
#include "mac.h"
#include "record.h"
#include "recovery.h"
#include "store.h"

struct auth_policy {
        unsigned window;        /* steps either side of now */
        unsigned lockout_after; /* free wrong codes */
        unsigned lockout_delay; /* first back-off, seconds */
        unsigned lockout_max;   /* longest back-off, seconds */
        unsigned lock_timeout_ms;
        unsigned reuse_grace; /* seconds; 0: off */
};

/* What the user typed in place of a TOTP code, and what it came with. */
enum auth_kind { AUTH_TOTP = 0, AUTH_RECOVERY };

struct auth_code {
        enum auth_kind kind;
        char code[RECOVERY_LETTERS + 1]; /* TOTP digits, or the 10 recovery letters */
        int has_grace;                   /* grace holds the reuse-grace fingerprint */
        unsigned char grace[MAC_LEN];
        /*
         * A login's last-logins entries (note_keep > 0): note_ok for a
         * success, note_fail for a counted wrong code, written with the
         * state by store_state_save_noted().  0: the caller notes nothing.
         */
        size_t note_keep;
        struct lastlog_event note_ok, note_fail;
};

struct auth_outcome {
        unsigned failures;    /* wrong codes since the last success, after this attempt */
        int64_t locked_until; /* 0 when not locked */
        uint64_t step;        /* accepted step on success */
        int reused;           /* success through reuse_grace (a replay within the grace) */
        size_t recovery_left; /* recovery codes left after a recovery-code success */
        int noted;            /* the outcome's last-logins entry was written with the state */
        char note_warn[192];  /* why the log's part of that write failed; empty when it did not */
};

/* Take the policy fields out of the options. */
void auth_policy_from_opts(struct auth_policy *p, const struct mailotp_opts *o);

/*
 * Pure lockout arithmetic: after `failures` wrong codes (counted since the
 * last success), when does the back-off end?  0 when no back-off applies.
 * failures <= lockout_after: none; then lockout_delay * 2^(failures -
 * lockout_after - 1) seconds from `now`, capped at lockout_max.
 */
int64_t auth_lockout_until(unsigned failures, int64_t now, const struct auth_policy *p);

/*
 * Check `code` for the enabled record `rec` of `key`.  Takes the user's lock,
 * loads the state, refuses without checking while locked out
 * (MAILOTP_ERR_LOCKED), verifies with the replay rule, and stores the new state
 * durably before returning.  Results:
 *   MAILOTP_OK                 accepted; state (step, failures = 0) is stored
 *   MAILOTP_ERR_MISMATCH       wrong code; failure counted and stored
 *   MAILOTP_ERR_IO             wrong code whose count could not be stored (fail closed)
 *   MAILOTP_ERR_REPLAY         code of a used step; not counted
 *   MAILOTP_ERR_LOCKED         back-off in force; code not checked
 *   MAILOTP_ERR_IO, _LOCK_TIMEOUT, _UNSAFE_FILE, _FORMAT, _STATE (no state
 *   file for an enabled record), _CRYPTO: fail closed, reason in err.
 * `out` is filled in every case where the state was read.
 */
enum mailotp_rc auth_verify_code(struct store *st, const char *key, const struct otp_record *rec,
                                 const char *code, int64_t now, const struct auth_policy *p,
                                 struct auth_outcome *out, char *err, size_t errlen);

/*
 * The general check under the user's lock: a TOTP code (with the optional
 * reuse grace: a replay whose fingerprint equals the one stored by the last
 * success, within policy reuse_grace seconds, succeeds with out->reused = 1
 * and changes nothing) or a recovery code (consumed durably before success;
 * a wrong one counts like a wrong TOTP code).  Results as auth_verify_code().
 */
enum mailotp_rc auth_check_locked(struct store *st, const char *key, const struct otp_record *rec,
                                  const struct auth_code *c, int64_t now,
                                  const struct auth_policy *p, struct auth_outcome *out, char *err,
                                  size_t errlen);

/* auth_check_locked() wrapped in the user's lock. */
enum mailotp_rc auth_check(struct store *st, const char *key, const struct otp_record *rec,
                           const struct auth_code *c, int64_t now, const struct auth_policy *p,
                           struct auth_outcome *out, char *err, size_t errlen);

/*
 * The reuse-grace fingerprint of a submitted string:
 * HMAC(server key, "grace", store key, service, rhost, string).
 * MAILOTP_OK, or MAILOTP_ERR_CRYPTO with the reason in err (see mac.h).
 */
enum mailotp_rc auth_grace_fingerprint(const unsigned char server_key[MAC_KEY_LEN], const char *key,
                                       const char *service, const char *rhost,
                                       const char *submitted, size_t len,
                                       unsigned char out[MAC_LEN], char *err, size_t errlen);

/*
 * Application password check, under the user's lock so a revocation takes
 * effect at once: `letters` is the normalised typed password.  Returns
 * MAILOTP_OK (name of the matching entry in name_out, its last use recorded,
 * best effort), MAILOTP_ERR_NOT_FOUND (the user has no application passwords
 * or the store no server key), MAILOTP_ERR_MISMATCH, MAILOTP_ERR_EXPIRED,
 * MAILOTP_ERR_NOT_ALLOWED, or a store error (on MAILOTP_OK a non-empty err
 * means the last use could not be recorded).  One keyed hash per call,
 * whatever the number of passwords.
 */
enum mailotp_rc auth_app_password(struct store *st, const char *key, const char *letters,
                                  const char *service, const char *rhost, int64_t now,
                                  unsigned lock_timeout_ms, char *name_out, size_t namesz,
                                  char *err, size_t errlen);

/* As auth_verify_code(), for a caller that already holds the user's lock. */
enum mailotp_rc auth_verify_code_locked(struct store *st, const char *key,
                                        const struct otp_record *rec, const char *code, int64_t now,
                                        const struct auth_policy *p, struct auth_outcome *out,
                                        char *err, size_t errlen);

#endif
