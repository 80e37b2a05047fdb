/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "mailotp_rc.h"

#include <stdarg.h>
#include <stdio.h>

const char *mailotp_strerror(enum mailotp_rc rc)
{
        switch (rc) {
        case MAILOTP_OK:
                return "ok";
        case MAILOTP_ERR_NOMEM:
                return "out-of-memory";
        case MAILOTP_ERR_INVALID:
                return "invalid-argument";
        case MAILOTP_ERR_FORMAT:
                return "corrupt-data";
        case MAILOTP_ERR_UNSAFE_FILE:
                return "unsafe-file";
        case MAILOTP_ERR_NOT_FOUND:
                return "not-enrolled";
        case MAILOTP_ERR_NO_CODE:
                return "no-code";
        case MAILOTP_ERR_MISMATCH:
                return "wrong-code";
        case MAILOTP_ERR_REPLAY:
                return "replayed-code";
        case MAILOTP_ERR_LOCKED:
                return "locked-out";
        case MAILOTP_ERR_LOCK_TIMEOUT:
                return "lock-timeout";
        case MAILOTP_ERR_IO:
                return "io-error";
        case MAILOTP_ERR_CRYPTO:
                return "crypto-error";
        case MAILOTP_ERR_STATE:
                return "wrong-state";
        case MAILOTP_ERR_EXPIRED:
                return "app-password-expired";
        case MAILOTP_ERR_NOT_ALLOWED:
                return "app-password-not-allowed";
        }
        return "internal-error";
}

void mailotp_seterr(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        if (err == NULL || errlen == 0)
                return;
        va_start(ap, fmt);
        (void)vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}
