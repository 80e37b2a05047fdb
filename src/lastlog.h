/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Last logins: the newest outcomes per user, for "mailotp last" and the
 * User Panel's "Last Logins" page.  Best effort by design: a failed write of
 * this log never fails a login (the replay state is the durable one).
 *
 * File format (oldest first), appended to at every login:
 *     version = 2
 *     keep = N
 *     login = TIME RESULT METHOD SERVICE RHOST REASON
 *     ...
 * The newest N entries count; the writer appends a line per login and
 * rewrites the file with just the newest N once it holds lastlog_rewrite_at(N)
 * lines (N + max(N, LASTLOG_SLACK_MIN)): a rewrite costs a new file, a rename
 * and, on a file system mounted with `discard`, a synchronous discard of the
 * old file's blocks, so it is done at most once every 64 logins.  A line is counted only when it
 * ends in a newline and parses: a line cut short by a crash, or damaged, is skipped.  Version 1
 * files (0.1.0: the same lines, then "end", no keep line) are still read.
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
#define LASTLOG_SLACK_MIN 64U /* lines appended at least between two rewrites */
#define LASTLOG_FIELD_MAX 64U
#define LASTLOG_FILE_MAX  65536U
/* "login = " + 12-digit time + result + 4 fields + separators + newline, rounded up */
#define LASTLOG_LINE_MAX 320U

struct lastlog_event {
        int64_t time;
        char result[16];
        char method[LASTLOG_FIELD_MAX + 1];
        char service[LASTLOG_FIELD_MAX + 1];
        char rhost[LASTLOG_FIELD_MAX + 1];
        char reason[LASTLOG_FIELD_MAX + 1];
};

struct lastlog {
        unsigned version; /* of the file read: 1 or 2; 0 for a new log */
        size_t keep;      /* how many the file keeps (version 2), else 0 */
        size_t lines;     /* valid entries in the file, before trimming to keep */
        size_t skipped;   /* lines that were cut short or did not parse */
        size_t n;
        struct lastlog_event ev[LASTLOG_MAX];
};

/*
 * Fill an event, escaping every text field for the file (no spaces, no
 * control bytes, bounded length); NULL or empty fields become "-".
 */
void lastlog_event_set(struct lastlog_event *ev, int64_t time, int success, const char *method,
                       const char *service, const char *rhost, const char *reason);

/*
 * Append ev, dropping the oldest entries so at most `keep` remain
 * (1..LASTLOG_MAX), and make `keep` the log's own.
 */
void lastlog_push(struct lastlog *l, const struct lastlog_event *ev, size_t keep);

/*
 * Read a log (version 1 or 2) into l: the newest entries, at most its keep
 * (LASTLOG_MAX for version 1).  MAILOTP_ERR_FORMAT only when there is no
 * valid header, or for a version 1 file that is cut short or has a bad line.
 */
enum mailotp_rc lastlog_parse(const char *buf, size_t len, struct lastlog *l, char *err,
                              size_t errlen);

/* The whole file (version 2) for l, its keep being l->keep (LASTLOG_MAX when 0). */
enum mailotp_rc lastlog_format(const struct lastlog *l, char *buf, size_t bufsz, size_t *outlen);

/* One entry's line, newline included. */
enum mailotp_rc lastlog_format_line(const struct lastlog_event *ev, char *buf, size_t bufsz,
                                    size_t *outlen);

/*
 * Whether adding an entry of linelen bytes to the file just read into l
 * (filelen bytes) must rewrite it rather than append a line: it is not
 * version 2, keeps another number than `keep`, has skipped lines, holds
 * lastlog_rewrite_at(keep) entries already, or would grow beyond
 * LASTLOG_FILE_MAX.
 */
int lastlog_needs_rewrite(const struct lastlog *l, size_t keep, size_t filelen, size_t linelen);

/* How many lines a log that keeps `keep` may hold before it is rewritten. */
size_t lastlog_rewrite_at(size_t keep);

/*
 * The writer's fast path: whether a line of linelen bytes may simply be
 * appended to the log buf (len bytes, as read) without parsing its entries.
 * Only when its header is exactly what lastlog_format writes for `keep`,
 * its last line is complete, it has fewer than lastlog_rewrite_at(keep)
 * lines after the header, and the line keeps it within LASTLOG_FILE_MAX.  Otherwise the
 * writer parses the log and asks lastlog_needs_rewrite.  A damaged line in
 * the middle is not looked for here: readers skip it, and the next rewrite
 * drops it.
 */
int lastlog_can_append(const char *buf, size_t len, size_t keep, size_t linelen);

#endif
