/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Result codes shared by every core function.  The PAM glue maps them to PAM
 * results in exactly one switch (pam_mailotp.c); the CLI maps them to exit
 * codes in exactly one switch (cli/mailotp.c).
 */
#ifndef MAILOTP_RC_H
#define MAILOTP_RC_H

#include <stddef.h>

enum mailotp_rc {
        MAILOTP_OK = 0,
        MAILOTP_ERR_NOMEM,        /* allocation failed */
        MAILOTP_ERR_INVALID,      /* bad argument, option or username */
        MAILOTP_ERR_FORMAT,       /* stored or configured data does not parse */
        MAILOTP_ERR_UNSAFE_FILE,  /* wrong owner, mode, type, link count or size */
        MAILOTP_ERR_NOT_FOUND,    /* no record at all: the only "no 2FA" answer */
        MAILOTP_ERR_NO_CODE,      /* submitted string does not end in a code */
        MAILOTP_ERR_MISMATCH,     /* code is wrong */
        MAILOTP_ERR_REPLAY,       /* code is right but its time step was used */
        MAILOTP_ERR_LOCKED,       /* too many wrong codes: back-off in force */
        MAILOTP_ERR_LOCK_TIMEOUT, /* per-user lock not obtained in time */
        MAILOTP_ERR_IO,           /* read, write, fsync or rename failed */
        MAILOTP_ERR_CRYPTO,       /* liboath, libcrypto (or its loading), random source */
        MAILOTP_ERR_STATE,        /* operation not allowed in the record's state */
        MAILOTP_ERR_EXPIRED,      /* application password past its expiry */
        MAILOTP_ERR_NOT_ALLOWED,  /* application password not allowed for this service */
};

/* Short, stable, log-friendly text for a result code ("wrong-code", ...).
 * Never NULL; an unknown value gives "internal-error". */
const char *mailotp_strerror(enum mailotp_rc rc);

/* Write a formatted reason into a caller buffer (err may be NULL or errlen 0).
 * Truncates silently; always NUL-terminates when errlen > 0. */
void mailotp_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
