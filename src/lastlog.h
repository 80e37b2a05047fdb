/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Last logins: the newest outcomes per user, for "mailotp last" and the
 * User Panel's "Last Logins" page.  Best effort by design: a failed write of
 * this log never fails a login (the replay state is the durable one).
 *
 * File format (oldest first, appended to):
 *     version = 2
 *     keep = N
 *     login = TIME RESULT METHOD SERVICE RHOST REASON
 *     ...
 * The newest N entries by time count; the writer appends a line per login
 * (or a batch of pending entries, see lastlog_pending_add) and
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
 * Add ev in time order, after the entries of the same time (at the end when
 * entries come in time order), keeping the newest `keep` (1..LASTLOG_MAX):
 * the oldest goes, or ev itself when it is older than all of them.  Makes
 * `keep` the log's own.  By time, not by place in the file: a batch of
 * pending entries reaches the log after entries that are newer than it.
 */
void lastlog_push(struct lastlog *l, const struct lastlog_event *ev, size_t keep);

/*
 * Read a log (version 1 or 2) into l: the newest entries by time (lastlog_push), at most its keep
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
 * Whether adding nlines entries of addlen bytes in all to the file just read
 * into l (filelen bytes) must rewrite it rather than append them: it is not
 * version 2, keeps another number than `keep`, has skipped lines, would hold
 * more than lastlog_rewrite_at(keep) entries, or would grow beyond
 * LASTLOG_FILE_MAX.
 */
int lastlog_needs_rewrite(const struct lastlog *l, size_t keep, size_t filelen, size_t nlines,
                          size_t addlen);

/* How many lines a log that keeps `keep` may hold before it is rewritten. */
size_t lastlog_rewrite_at(size_t keep);

/*
 * The writer's fast path: whether nlines lines of addlen bytes in all may
 * simply be appended to the log buf (len bytes, as read) without parsing its
 * entries.  Only when its header is exactly what lastlog_format writes for
 * `keep`, its last line is complete, it holds at most
 * lastlog_rewrite_at(keep) lines after the append, and stays within
 * LASTLOG_FILE_MAX.  Otherwise the writer parses the log and asks
 * lastlog_needs_rewrite.  A damaged line in the middle is not looked for
 * here: readers skip it, and the next rewrite drops it.
 */
int lastlog_can_append(const char *buf, size_t len, size_t keep, size_t nlines, size_t addlen);

/*
 * Pending entries (0.3.2): the file backend keeps a login's entry with the
 * state write that login makes anyway (in the extension of the user file's
 * slot, slots.h), as a small log in the file format above, and moves them
 * to the log file in one append of up to LASTLOG_PENDING_MAX lines (never
 * more than the log keeps), so most logins do not touch the log file.
 *
 * lastlog_pending_add: out[0..*outlen) = cur[0..curlen) (a pending log for
 * `keep`; curlen 0: none yet) with line[0..linelen) added, within outmax
 * bytes (out may be cur).  Returns 1, or 0 when cur must be moved to the log
 * first: it holds `keep` or LASTLOG_PENDING_MAX lines (the fewer), the
 * line does not fit, or it does not start with the header written for
 * `keep` and end with a complete line (another keep, cut short).  Lines in
 * between are not parsed here (the extension has its own checksum): a
 * damaged one counts as a line and is skipped by readers.
 */
#define LASTLOG_PENDING_MAX 32U

int lastlog_pending_add(const char *cur, size_t curlen, size_t keep, const char *line,
                        size_t linelen, char *out, size_t outmax, size_t *outlen);

/*
 * What readers show: the log l and the pending entries, in time order (an
 * entry written straight to the log, by an outcome that writes no state, can
 * be newer than pending ones, which reach the log later), the newest `keep`
 * of them (the pending log's keep, else l's).  Within one second the pending
 * entries come first: the usual such second is a login with a code
 * (pending) and the connections that reuse it (written straight).
 */
void lastlog_merge(struct lastlog *l, const struct lastlog *pending);

#endif
