/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Last logins: the newest outcomes per user, for "mailotp last" and the
 * User Panel's "Last Logins" page.  Best effort by design: a failed write of
 * this log never fails a login (the replay state is the durable one).
 *
 * File format (oldest first):
 *     version = 1
 *     login = TIME RESULT METHOD SERVICE RHOST REASON
 * RESULT is success or failure; METHOD is code, app-password:NAME,
 * recovery-code or - ; SERVICE, RHOST and REASON are log-escaped, "-" when
 * unknown.
 */
#ifndef MAILOTP_LASTLOG_H
#define MAILOTP_LASTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "mailotp_rc.h"

#define LASTLOG_MAX       200U /* the most a user's log may keep */
#define LASTLOG_DEFAULT   20U
#define LASTLOG_FIELD_MAX 64U
#define LASTLOG_FILE_MAX  65536U

struct lastlog_event {
        int64_t time;
        char result[16];
        char method[LASTLOG_FIELD_MAX + 1];
        char service[LASTLOG_FIELD_MAX + 1];
        char rhost[LASTLOG_FIELD_MAX + 1];
        char reason[LASTLOG_FIELD_MAX + 1];
};

struct lastlog {
        size_t n;
        struct lastlog_event ev[LASTLOG_MAX];
};

/*
 * Fill an event, escaping every text field for the file (no spaces, no
 * control bytes, bounded length); NULL or empty fields become "-".
 */
void lastlog_event_set(struct lastlog_event *ev, int64_t time, int success, const char *method,
                       const char *service, const char *rhost, const char *reason);

/* Append ev, dropping the oldest entries so at most `keep` remain (1..LASTLOG_MAX). */
void lastlog_push(struct lastlog *l, const struct lastlog_event *ev, size_t keep);

enum mailotp_rc lastlog_parse(const char *buf, size_t len, struct lastlog *l, char *err,
                              size_t errlen);
enum mailotp_rc lastlog_format(const struct lastlog *l, char *buf, size_t bufsz, size_t *outlen);

#endif
