/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The test drivers' shared helper (pamauth, hostile_conv, storm_worker). */
#ifndef MAILOTP_PAM_NAMES_H
#define MAILOTP_PAM_NAMES_H

/*
 * The symbolic name of a PAM result ("PAM_SUCCESS", ...), so scripts need
 * not parse pam_strerror() text; "PAM_OTHER" for a code not listed.
 */
const char *pam_result_name(int rc);

#endif
