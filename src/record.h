/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The per-user data and its text format (pure: no I/O).
 *
 * record (rarely written: enrollment, confirmation, disable):
 *     version = 1
 *     status = pending | enabled
 *     secret = BASE32
 *     digits = 6
 *     period = 30
 *     created = UNIX-TIME
 *     enabled = UNIX-TIME        (enabled records only)
 *
 * state (rewritten by every login that reaches the code check):
 *     version = 1
 *     last_step = N              (newest accepted TOTP step; absent: none)
 *     failures = N               (wrong codes since the last success)
 *     locked_until = UNIX-TIME   (0: not locked)
 *     last_failure = UNIX-TIME
 *     last_success = UNIX-TIME
 *     grace_until = UNIX-TIME    (reuse_grace: until when the fingerprint may log in again)
 *     grace = HEX                (keyed hash of user, service, rhost and submitted string)
 *
 * Parsing is strict: unknown keys, repeated keys, missing required keys and
 * out-of-range numbers are MAILOTP_ERR_FORMAT, so a truncated or tampered
 * file is never read as "something else".
 */
#ifndef MAILOTP_RECORD_H
#define MAILOTP_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "mac.h"
#include "mailotp_rc.h"
#include "totp.h"

#define RECORD_VERSION  1U
#define RECORD_MAX_SIZE 4096U /* bytes; larger files are refused unread */

enum otp_status {
        OTP_STATUS_PENDING = 1, /* enrolled, waiting for the challenge code */
        OTP_STATUS_ENABLED = 2, /* 2FA in force */
};

struct otp_record {
        enum otp_status status;
        char secret[TOTP_SECRET_B32_MAX + 1]; /* base32; zero with record_wipe() */
        unsigned digits;
        unsigned period;
        int64_t created;
        int64_t enabled; /* 0 while pending */
};

struct otp_state {
        int has_last_step;
        uint64_t last_step;
        unsigned failures;
        int64_t locked_until;
        int64_t last_failure;
        int64_t last_success;
        int64_t grace_until;          /* 0: no reuse grace in force */
        unsigned char grace[MAC_LEN]; /* fingerprint of the last successful string */
};

/* Zero the whole record, secret included. */
void record_wipe(struct otp_record *r);

/*
 * Parse a record.  On failure *r is wiped and err says which line or key.
 * Returns MAILOTP_OK or MAILOTP_ERR_FORMAT.
 */
enum mailotp_rc record_parse(const char *buf, size_t len, struct otp_record *r, char *err,
                             size_t errlen);

/*
 * Serialise a record into buf (bufsz bytes).  *outlen gets the length without
 * the terminating NUL.  Returns MAILOTP_ERR_INVALID for an inconsistent record
 * or a small buffer.  The caller zeroes buf (it holds the secret).
 */
enum mailotp_rc record_format(const struct otp_record *r, char *buf, size_t bufsz, size_t *outlen);

/* A state with no step used, no failures. */
void state_init(struct otp_state *s);

enum mailotp_rc state_parse(const char *buf, size_t len, struct otp_state *s, char *err,
                            size_t errlen);
enum mailotp_rc state_format(const struct otp_state *s, char *buf, size_t bufsz, size_t *outlen);

/* "pending" / "enabled" */
const char *record_status_name(enum otp_status st);

#endif
