/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The user file (file backend, 0.3.0): one two-slot file (slots.h) per user,
 * DIR/users/KEY, whose payload is the record's text followed by the state's
 * text (record.h), so a login reads one file and writes one slot:
 *
 *     # pam_mailotp user record: do not edit, use mailotp(1)
 *     version = 1
 *     ...
 *     end
 *     # pam_mailotp user state: do not edit      (absent while enrollment is pending)
 *     version = 1
 *     ...
 *     end
 *
 * The record ends at its first "end" line; what follows is the state, or
 * nothing.  Stores of 0.2.0 (DIR/records/KEY and DIR/state/KEY) are read as
 * before and moved into users/KEY by the first write under the user's lock;
 * records/KEY is then replaced by USERFILE_MOVED, a record of an unknown
 * version, so a 0.2.0 module still loaded in a long-running process (the
 * module is linked -z nodelete) refuses such a user instead of reading "no
 * 2FA".  Pure functions: the I/O is in fileio.c and store_file.c.
 */
#ifndef MAILOTP_USERFILE_H
#define MAILOTP_USERFILE_H

#include <stddef.h>

#include "mailotp_rc.h"

/* What records/KEY holds once its user has moved to users/KEY. */
#define USERFILE_MOVED                                                                             \
        "# pam_mailotp: this user's record moved to users/ (pam_mailotp 0.3.0 or later)\n"         \
        "version = 2\n"                                                                            \
        "end\n"

/*
 * Split a payload into its record part p[0..*reclen), which ends with the
 * first "end" line, and its state part p[*reclen..len) (possibly empty).
 * Returns 0, or -1 when there is no "end" line or a NUL byte.
 */
int userfile_split(const char *p, size_t len, size_t *reclen);

/*
 * out[0..*outlen) = record text then state text (slen may be 0).  The record
 * text must end with an "end" line and not be empty.  Returns MAILOTP_OK or
 * MAILOTP_ERR_INVALID (does not fit outmax, or a malformed record part).
 */
enum mailotp_rc userfile_join(const char *rec, size_t rlen, const char *st, size_t slen, char *out,
                              size_t outmax, size_t *outlen);

/* 1 when buf[0..len) is exactly USERFILE_MOVED. */
int userfile_is_moved(const char *buf, size_t len);

#endif
