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
#include "record.h"
#include "store.h"

struct auth_policy {
        unsigned window;        /* steps either side of now */
        unsigned lockout_after; /* free wrong codes */
        unsigned lockout_delay; /* first back-off, seconds */
        unsigned lockout_max;   /* longest back-off, seconds */
        unsigned lock_timeout_ms;
};

struct auth_outcome {
        unsigned failures;    /* wrong codes since the last success, after this attempt */
        int64_t locked_until; /* 0 when not locked */
        uint64_t step;        /* accepted step on success */
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
 *   MAILOTP_ERR_MISMATCH       wrong code; failure counted (best effort)
 *   MAILOTP_ERR_REPLAY         code of a used step; not counted
 *   MAILOTP_ERR_LOCKED         back-off in force; code not checked
 *   MAILOTP_ERR_IO, _LOCK_TIMEOUT, _UNSAFE_FILE, _FORMAT, _STATE (no state
 *   file for an enabled record), _CRYPTO: fail closed, reason in err.
 * `out` is filled in every case where the state was read.
 */
enum mailotp_rc auth_verify_code(struct store *st, const char *key, const struct otp_record *rec,
                                 const char *code, int64_t now, const struct auth_policy *p,
                                 struct auth_outcome *out, char *err, size_t errlen);

/* As auth_verify_code(), for a caller that already holds the user's lock. */
enum mailotp_rc auth_verify_code_locked(struct store *st, const char *key,
                                        const struct otp_record *rec, const char *code, int64_t now,
                                        const struct auth_policy *p, struct auth_outcome *out,
                                        char *err, size_t errlen);

#endif
