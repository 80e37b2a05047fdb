/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: app-password, recovery-code and last-logins list parsers (round trips). */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct recovery_list rl, rl2;
        char err[128];
        size_t len = 0;

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
                /* The newest entries, rewritten as the appender does, read back the same. */
                if (lastlog_format(&ll, buf, sizeof(buf), &len) != MAILOTP_OK ||
                    lastlog_parse(buf, len, &ll2, err, sizeof(err)) != MAILOTP_OK ||
                    ll2.n != ll.n || ll2.skipped != 0 || ll2.version != 2 ||
                    ll2.keep != (ll.keep != 0 ? ll.keep : LASTLOG_MAX) ||
                    memcmp(ll.ev, ll2.ev, ll.n * sizeof(ll.ev[0])) != 0)
                        abort();
                /* The writer's fast path: a line appended to what it accepts reads back last. */
                if (ll.version == 2 && size + sizeof(line) < sizeof(buf) &&
                    lastlog_can_append((const char *)data, size, ll.keep, sizeof(line) - 1)) {
                        if (ll.lines + ll.skipped >= lastlog_rewrite_at(ll.keep) ||
                            data[size - 1] != '\n')
                                abort();
                        memcpy(buf, data, size);
                        memcpy(buf + size, line, sizeof(line) - 1);
                        if (lastlog_parse(buf, size + sizeof(line) - 1, &ll2, err, sizeof(err)) !=
                                MAILOTP_OK ||
                            ll2.lines != ll.lines + 1 || ll2.skipped != ll.skipped ||
                            ll2.n != (ll.n < ll.keep ? ll.n + 1 : ll.keep) ||
                            ll2.ev[ll2.n - 1].time != 1700000000)
                                abort();
                }
        }
        return 0;
}
