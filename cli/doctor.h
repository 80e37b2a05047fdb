/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef MAILOTP_DOCTOR_H
#define MAILOTP_DOCTOR_H

#include <stdbool.h>

#include "options.h"

struct doctor_args {
        const char *pamdir;   /* default /etc/pam.d */
        const char *doveconf; /* file with `doveconf -n` output; NULL: run doveconf if present */
        const char *const *services;
        int nservices; /* 0: every service in pamdir that mentions pam_mailotp */
        bool json;
};

/*
 * mailotp doctor: read the PAM services, Dovecot's configuration, the store
 * directory and the clock, and report concrete problems with the fix for
 * each.  Returns the exit status: 0 nothing wrong (notes and warnings may be
 * printed), 1 something unsafe or broken, 2 usage.
 */
int doctor_run(const struct mailotp_opts *o, const struct doctor_args *a);

#endif
