/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <fcntl.h>
#include <string.h>

#include "fileio.h"
#include "secure.h"

enum mailotp_rc config_load(struct mailotp_opts *o, int argc, const char **argv, uid_t owner,
                            char *err, size_t errlen)
{
        char why[200];
        char *buf = NULL;
        size_t len = 0;
        enum mailotp_rc rc;

        rc = opts_find_conf(o, argc, argv, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        why[0] = '\0';
        rc = fio_read(AT_FDCWD, o->conf, owner, 022, CONFIG_MAX_SIZE, &buf, &len, why, sizeof(why));
        if (rc == MAILOTP_ERR_NOT_FOUND && !o->conf_explicit) {
                /* no file: defaults and arguments only */
        } else if (rc == MAILOTP_ERR_NOT_FOUND) {
                mailotp_seterr(err, errlen, "%s: no such file", o->conf);
                return MAILOTP_ERR_INVALID;
        } else if (rc != MAILOTP_OK) {
                mailotp_seterr(err, errlen, "%s: %s", o->conf, why);
                return rc;
        } else {
                rc = opts_apply_file(o, buf, len, why, sizeof(why));
                secure_freezero(buf, len + 1);
                if (rc != MAILOTP_OK) {
                        mailotp_seterr(err, errlen, "%s: %s", o->conf, why);
                        return rc;
                }
        }
        rc = opts_apply_argv(o, argc, argv, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        return opts_check(o, err, errlen);
}
