/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pam_names.h"

#include <security/pam_appl.h>

#include <stddef.h>

const char *pam_result_name(int rc)
{
        static const struct {
                int rc;
                const char *name;
        } names[] = {
            {PAM_SUCCESS, "PAM_SUCCESS"},
            {PAM_AUTH_ERR, "PAM_AUTH_ERR"},
            {PAM_AUTHINFO_UNAVAIL, "PAM_AUTHINFO_UNAVAIL"},
            {PAM_MAXTRIES, "PAM_MAXTRIES"},
            {PAM_USER_UNKNOWN, "PAM_USER_UNKNOWN"},
            {PAM_SERVICE_ERR, "PAM_SERVICE_ERR"},
            {PAM_BUF_ERR, "PAM_BUF_ERR"},
            {PAM_SYSTEM_ERR, "PAM_SYSTEM_ERR"},
            {PAM_CONV_ERR, "PAM_CONV_ERR"},
            {PAM_CRED_INSUFFICIENT, "PAM_CRED_INSUFFICIENT"},
            {PAM_ABORT, "PAM_ABORT"},
            {PAM_PERM_DENIED, "PAM_PERM_DENIED"},
            {PAM_IGNORE, "PAM_IGNORE"},
            {PAM_AUTHTOK_ERR, "PAM_AUTHTOK_ERR"},
            {PAM_AUTHTOK_RECOVERY_ERR, "PAM_AUTHTOK_RECOVERY_ERR"},
        };
        size_t i;

        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (names[i].rc == rc)
                        return names[i].name;
        }
        return "PAM_OTHER";
}
