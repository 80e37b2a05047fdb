/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: app-password, recovery-code and last-logins list parsers
 * (round trips), the last-logins writer's fast path and its pending entries.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apppw.h"
#include "lastlog.h"
#include "recovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct apppw_list al, al2;
static struct lastlog ll, ll2;
static char buf[LASTLOG_FILE_MAX > APPPW_FILE_MAX ? LASTLOG_FILE_MAX : APPPW_FILE_MAX];
static const char line[] = "login = 1700000000 success code imap 192.0.2.1 -\n";
static char inplace[LASTLOG_FILE_MAX];

/*
 * lastlog_pending_add with the input as the pending entries: whatever it
 * takes reads back with the line as its newest entry, one valid entry more
 * than the input had, under the header for keep; in place it does the same.
 */
/*
 * after = before with the fixed line's entry added (time 1700000000, success,
 * from 192.0.2.1): in time order, the newest `keep` kept by time, so the line
 * is there unless it is older than all of them; it is the newest unless a
 * newer entry was there before.
 */
static int holds_line_in_time_order(const struct lastlog *before, const struct lastlog *after)
{
        int64_t newest = INT64_MIN;
        size_t i, found = 0;

        for (i = 0; i < before->n; i++)
                if (before->ev[i].time > newest)
                        newest = before->ev[i].time;
        for (i = 0; i < after->n; i++) {
                if (i > 0 && after->ev[i - 1].time > after->ev[i].time)
                        return 0;
                if (after->ev[i].time == 1700000000 &&
                    strcmp(after->ev[i].result, "success") == 0 &&
                    strcmp(after->ev[i].rhost, "192.0.2.1") == 0)
                        found++;
        }
        if (newest <= 1700000000)
                return found >= 1 && after->ev[after->n - 1].time == 1700000000 &&
                       strcmp(after->ev[after->n - 1].rhost, "192.0.2.1") == 0;
        return after->n == 0 || after->ev[0].time > 1700000000 || found >= 1;
}

static void check_pending_add(const uint8_t *data, size_t size, size_t keep)
{
        const size_t ll_keep = keep == 0 ? 1 : (keep > LASTLOG_MAX ? LASTLOG_MAX : keep);
        const size_t most = ll_keep < LASTLOG_PENDING_MAX ? ll_keep : LASTLOG_PENDING_MAX;
        char err[128];
        size_t len = 0, len2 = 0;

        if (lastlog_pending_add((const char *)data, size, keep, line, sizeof(line) - 1, buf,
                                sizeof(buf), &len) != 1)
                return;
        if ((size > 0 && len != size + sizeof(line) - 1) ||
            (size > 0 && memcmp(buf, data, size) != 0) ||
            memcmp(buf + len - (sizeof(line) - 1), line, sizeof(line) - 1) != 0)
                abort();
        if (lastlog_parse(buf, len, &ll2, err, sizeof(err)) != MAILOTP_OK || ll2.version != 2 ||
            ll2.keep != ll_keep || ll2.n == 0)
                abort();
        if (size == 0) {
                if (ll2.lines != 1 || ll2.n != 1 || ll2.skipped != 0)
                        abort();
        } else {
                /* what it took is a log for keep, with fewer than `most` entries */
                if (lastlog_parse((const char *)data, size, &ll, err, sizeof(err)) != MAILOTP_OK ||
                    ll.version != 2 || ll.keep != ll_keep || ll.lines >= most ||
                    ll2.lines != ll.lines + 1 || ll2.skipped != ll.skipped ||
                    !holds_line_in_time_order(&ll, &ll2))
                        abort();
        }
        /* in place: the same bytes */
        if (size + sizeof(line) <= sizeof(inplace)) {
                memcpy(inplace, data, size);
                if (lastlog_pending_add(inplace, size, keep, line, sizeof(line) - 1, inplace,
                                        sizeof(inplace), &len2) != 1 ||
                    len2 != len || memcmp(inplace, buf, len) != 0)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct recovery_list rl, rl2;
        char err[128];
        size_t len = 0, own_keep = 5;

        if (apppw_parse((const char *)data, size, &al, err, sizeof(err)) == MAILOTP_OK) {
                if (apppw_format(&al, buf, sizeof(buf), &len) != MAILOTP_OK ||
                    apppw_parse(buf, len, &al2, err, sizeof(err)) != MAILOTP_OK ||
                    memcmp(&al, &al2, sizeof(al)) != 0)
                        abort();
        }
        if (recovery_parse((const char *)data, size, &rl, err, sizeof(err)) == MAILOTP_OK) {
                if (recovery_format(&rl, buf, sizeof(buf), &len) != MAILOTP_OK ||
                    recovery_parse(buf, len, &rl2, err, sizeof(err)) != MAILOTP_OK ||
                    memcmp(&rl, &rl2, sizeof(rl)) != 0)
                        abort();
        }
        if (lastlog_parse((const char *)data, size, &ll, err, sizeof(err)) == MAILOTP_OK) {
                if (ll.version == 2)
                        own_keep = ll.keep;
                /* The newest entries, rewritten as the appender does, read back the same. */
                if (lastlog_format(&ll, buf, sizeof(buf), &len) != MAILOTP_OK ||
                    lastlog_parse(buf, len, &ll2, err, sizeof(err)) != MAILOTP_OK ||
                    ll2.n != ll.n || ll2.skipped != 0 || ll2.version != 2 ||
                    ll2.keep != (ll.keep != 0 ? ll.keep : LASTLOG_MAX) ||
                    memcmp(ll.ev, ll2.ev, ll.n * sizeof(ll.ev[0])) != 0)
                        abort();
                /* The writer's fast path: a line appended to what it accepts reads back last. */
                if (ll.version == 2 && size + sizeof(line) < sizeof(buf) &&
                    lastlog_can_append((const char *)data, size, ll.keep, 1, sizeof(line) - 1)) {
                        if (ll.lines + ll.skipped >= lastlog_rewrite_at(ll.keep) ||
                            data[size - 1] != '\n')
                                abort();
                        memcpy(buf, data, size);
                        memcpy(buf + size, line, sizeof(line) - 1);
                        if (lastlog_parse(buf, size + sizeof(line) - 1, &ll2, err, sizeof(err)) !=
                                MAILOTP_OK ||
                            ll2.lines != ll.lines + 1 || ll2.skipped != ll.skipped ||
                            ll2.n != (ll.n < ll.keep ? ll.n + 1 : ll.keep) ||
                            !holds_line_in_time_order(&ll, &ll2))
                                abort();
                }
        }
        /* The input as a user's pending entries (0.3.2), for a few keeps. */
        {
                static const size_t keeps[] = {0, 1, 3, 20, 32, 33, LASTLOG_MAX, LASTLOG_MAX + 1};

                check_pending_add(data, size, own_keep); /* its own keep, when it has one */
                for (size_t i = 0; i < sizeof(keeps) / sizeof(keeps[0]); i++)
                        check_pending_add(data, size, keeps[i]);
        }
        return 0;
}
