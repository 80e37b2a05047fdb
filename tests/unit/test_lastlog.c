/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lastlog.c: last-logins events, the bounded log and its strict file format. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "lastlog.h"
#include "testutil.h"

static char err[256];

static int event_equal(const struct lastlog_event *a, const struct lastlog_event *b)
{
        return a->time == b->time && strcmp(a->result, b->result) == 0 &&
               strcmp(a->method, b->method) == 0 && strcmp(a->service, b->service) == 0 &&
               strcmp(a->rhost, b->rhost) == 0 && strcmp(a->reason, b->reason) == 0;
}

static void assert_wiped(const struct lastlog *l)
{
        const unsigned char *p = (const unsigned char *)l;
        size_t i = 0;

        while (i < sizeof(*l) && p[i] == 0)
                i++;
        ck_assert_msg(i == sizeof(*l), "log not wiped at byte %zu", i);
}

/* A field as stored: non-empty, no space, no control byte, bounded. */
static void assert_field_ok(const char *f)
{
        size_t n = strlen(f);

        ck_assert_uint_ge(n, 1);
        ck_assert_uint_le(n, LASTLOG_FIELD_MAX);
        for (size_t i = 0; i < n; i++)
                ck_assert_msg((unsigned char)f[i] > 0x20 && (unsigned char)f[i] < 0x7f,
                              "byte 0x%02x in field \"%s\"", (unsigned char)f[i], f);
}

static struct lastlog *new_log(void)
{
        struct lastlog *l = calloc(1, sizeof(*l));

        ck_assert_ptr_nonnull(l);
        return l;
}

static void numbered(struct lastlog_event *ev, unsigned i)
{
        char reason[32];

        snprintf(reason, sizeof(reason), "n%u", i);
        lastlog_event_set(ev, 1700000000 + (int64_t)i, (int)(i & 1), "code", "imap", "192.0.2.1",
                          reason);
}

/* ---- lastlog_event_set --------------------------------------------------------------- */

START_TEST(event_plain)
{
        struct lastlog_event ev;

        memset(&ev, 0xA5, sizeof(ev));
        lastlog_event_set(&ev, 1700000000, 1, "code", "imap", "192.0.2.1", "ok");
        ck_assert_int_eq(ev.time, 1700000000);
        ck_assert_str_eq(ev.result, "success");
        ck_assert_str_eq(ev.method, "code");
        ck_assert_str_eq(ev.service, "imap");
        ck_assert_str_eq(ev.rhost, "192.0.2.1");
        ck_assert_str_eq(ev.reason, "ok");
        lastlog_event_set(&ev, 5, 0, "app-password:phone", "smtp", "2001:db8::1", "wrong-code");
        ck_assert_str_eq(ev.result, "failure");
        ck_assert_str_eq(ev.method, "app-password:phone");
        ck_assert_str_eq(ev.rhost, "2001:db8::1");
        ck_assert_str_eq(ev.reason, "wrong-code");
}
END_TEST

START_TEST(event_null_and_empty_are_dash)
{
        struct lastlog_event ev;

        lastlog_event_set(&ev, 1, 1, NULL, NULL, NULL, NULL);
        ck_assert_str_eq(ev.method, "-");
        ck_assert_str_eq(ev.service, "-");
        ck_assert_str_eq(ev.rhost, "-");
        ck_assert_str_eq(ev.reason, "-");
        lastlog_event_set(&ev, 1, 0, "", "", "", "");
        ck_assert_str_eq(ev.method, "-");
        ck_assert_str_eq(ev.service, "-");
        ck_assert_str_eq(ev.rhost, "-");
        ck_assert_str_eq(ev.reason, "-");
}
END_TEST

START_TEST(event_spaces_and_controls_escaped)
{
        struct lastlog_event ev;

        lastlog_event_set(&ev, 1, 0, "code", "imap login", "host\nname", "wrong code\t!");
        ck_assert_str_eq(ev.service, "imap\\x20login");
        ck_assert_str_eq(ev.rhost, "host\\x0aname");
        ck_assert_str_eq(ev.reason, "wrong\\x20code\\x09!");
        lastlog_event_set(&ev, 1, 0, "a\"b\\c", "\x7f", "\xc3\xa4", "\x01");
        ck_assert_str_eq(ev.method, "a\\x22b\\x5cc");
        ck_assert_str_eq(ev.service, "\\x7f");
        ck_assert_str_eq(ev.rhost, "\\xc3\\xa4");
        ck_assert_str_eq(ev.reason, "\\x01");
        assert_field_ok(ev.method);
}
END_TEST

START_TEST(event_long_fields_bounded)
{
        struct lastlog_event ev;
        char longs[300], spaces[100];

        memset(longs, 'h', sizeof(longs) - 1);
        longs[sizeof(longs) - 1] = '\0';
        memset(spaces, ' ', sizeof(spaces) - 1);
        spaces[sizeof(spaces) - 1] = '\0';
        lastlog_event_set(&ev, 1, 1, longs, longs, spaces, longs);
        assert_field_ok(ev.method);
        assert_field_ok(ev.service);
        assert_field_ok(ev.rhost);
        assert_field_ok(ev.reason);
        ck_assert_uint_eq(strlen(ev.service), LASTLOG_FIELD_MAX);
        ck_assert_str_eq(ev.service + LASTLOG_FIELD_MAX - 3, "...");
        ck_assert_str_eq(ev.rhost + strlen(ev.rhost) - 3, "...");
        ck_assert_int_eq(strncmp(ev.rhost, "\\x20\\x20", 8), 0);
        /* exactly LASTLOG_FIELD_MAX bytes fit whole */
        longs[LASTLOG_FIELD_MAX] = '\0';
        lastlog_event_set(&ev, 1, 1, "code", longs, "-", "-");
        ck_assert_str_eq(ev.service, longs);
}
END_TEST

START_TEST(event_any_input_survives_the_file)
{
        /* whatever event_set is given, the formatted log parses back to the same events */
        struct lastlog *l = new_log(), *back = new_log();
        char *buf = malloc(LASTLOG_FILE_MAX);
        char f[4][80];
        size_t len = 0;
        unsigned seed = 12345;

        ck_assert_ptr_nonnull(buf);
        for (unsigned i = 0; i < 100; i++) {
                struct lastlog_event ev;

                for (int k = 0; k < 4; k++) {
                        size_t n = (size_t)(i * 7 + (unsigned)k * 13) % 79;

                        for (size_t j = 0; j < n; j++) {
                                seed = seed * 1103515245U + 12345U;
                                f[k][j] = (char)(1 + (seed >> 16) % 255);
                        }
                        f[k][n] = '\0';
                }
                lastlog_event_set(&ev, (int64_t)i * 1000, (int)(i % 2), f[0], f[1], f[2], f[3]);
                assert_field_ok(ev.method);
                assert_field_ok(ev.service);
                assert_field_ok(ev.rhost);
                assert_field_ok(ev.reason);
                lastlog_push(l, &ev, LASTLOG_MAX);
        }
        ck_assert_int_eq(lastlog_format(l, buf, LASTLOG_FILE_MAX, &len), MAILOTP_OK);
        ck_assert_msg(lastlog_parse(buf, len, back, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(back->n, l->n);
        for (size_t i = 0; i < l->n; i++)
                ck_assert_msg(event_equal(&back->ev[i], &l->ev[i]), "event %zu differs", i);
        free(buf);
        free(l);
        free(back);
}
END_TEST

/* ---- lastlog_push ------------------------------------------------------------------------ */

START_TEST(push_keeps_newest)
{
        struct lastlog *l = new_log();
        struct lastlog_event ev;

        for (unsigned i = 0; i < 25; i++) {
                numbered(&ev, i);
                lastlog_push(l, &ev, 20);
                ck_assert_uint_eq(l->n, (i + 1 < 20 ? i + 1 : 20));
        }
        /* oldest first: events 5..24 */
        for (unsigned i = 0; i < 20; i++) {
                numbered(&ev, i + 5);
                ck_assert_msg(event_equal(&l->ev[i], &ev), "slot %u is not event %u", i, i + 5);
        }
        free(l);
}
END_TEST

START_TEST(push_keep_one)
{
        struct lastlog *l = new_log();
        struct lastlog_event ev;

        for (unsigned i = 0; i < 5; i++) {
                numbered(&ev, i);
                lastlog_push(l, &ev, 1);
                ck_assert_uint_eq(l->n, 1);
                ck_assert(event_equal(&l->ev[0], &ev));
        }
        free(l);
}
END_TEST

START_TEST(push_smaller_keep_drops_oldest)
{
        struct lastlog *l = new_log();
        struct lastlog_event ev;

        for (unsigned i = 0; i < 20; i++) {
                numbered(&ev, i);
                lastlog_push(l, &ev, 20);
        }
        numbered(&ev, 20);
        lastlog_push(l, &ev, 5);
        ck_assert_uint_eq(l->n, 5);
        for (unsigned i = 0; i < 5; i++) {
                numbered(&ev, 16 + i);
                ck_assert(event_equal(&l->ev[i], &ev));
        }
        free(l);
}
END_TEST

START_TEST(push_max)
{
        struct lastlog *l = new_log();
        struct lastlog_event ev;

        for (unsigned i = 0; i < LASTLOG_MAX + 50; i++) {
                numbered(&ev, i);
                lastlog_push(l, &ev, LASTLOG_MAX);
        }
        ck_assert_uint_eq(l->n, LASTLOG_MAX);
        numbered(&ev, 50);
        ck_assert(event_equal(&l->ev[0], &ev));
        numbered(&ev, LASTLOG_MAX + 49);
        ck_assert(event_equal(&l->ev[LASTLOG_MAX - 1], &ev));
        free(l);
}
END_TEST

/* ---- format / parse ------------------------------------------------------------------------ */

START_TEST(format_exact_text)
{
        struct lastlog *l = new_log();
        struct lastlog_event ev;
        char buf[1024];
        size_t len = 0;

        lastlog_event_set(&ev, 1700000000, 1, "code", "imap", "192.0.2.1", NULL);
        lastlog_push(l, &ev, 20);
        lastlog_event_set(&ev, 1700000100, 0, "app-password:phone", "smtp", NULL, "expired");
        lastlog_push(l, &ev, 20);
        ck_assert_int_eq(lastlog_format(l, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_uint_eq(len, strlen(buf));
        ck_assert_str_eq(buf, "# pam_mailotp last logins\nversion = 2\nkeep = 20\n"
                              "login = 1700000000 success code imap 192.0.2.1 -\n"
                              "login = 1700000100 failure app-password:phone smtp - expired\n");
        l->n = 0;
        ck_assert_int_eq(lastlog_format(l, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_str_eq(buf, "# pam_mailotp last logins\nversion = 2\nkeep = 20\n");
        /* one line, as appended */
        ck_assert_int_eq(lastlog_format_line(&ev, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_str_eq(buf, "login = 1700000100 failure app-password:phone smtp - expired\n");
        ck_assert_uint_eq(len, strlen(buf));
        ck_assert_int_eq(lastlog_format_line(&ev, buf, len, &len), MAILOTP_ERR_INVALID);
        free(l);
}
END_TEST

START_TEST(format_small_buffer)
{
        struct lastlog *l = new_log();
        struct lastlog_event ev;
        char buf[1024];
        size_t full = 0, len = 0;

        for (unsigned i = 0; i < 3; i++) {
                numbered(&ev, i);
                lastlog_push(l, &ev, 20);
        }
        ck_assert_int_eq(lastlog_format(l, buf, sizeof(buf), &full), MAILOTP_OK);
        for (size_t sz = 0; sz <= full; sz++)
                ck_assert_msg(lastlog_format(l, buf, sz, &len) == MAILOTP_ERR_INVALID, "fit in %zu",
                              sz);
        ck_assert_int_eq(lastlog_format(l, buf, full + 1, &len), MAILOTP_OK);
        free(l);
}
END_TEST

static void round_trip(struct lastlog *l)
{
        struct lastlog *back = new_log();
        char *buf = malloc(LASTLOG_FILE_MAX);
        size_t len = 0, header, lines = 0;

        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(lastlog_format(l, buf, LASTLOG_FILE_MAX, &len), MAILOTP_OK);
        ck_assert_uint_le(len, LASTLOG_FILE_MAX);
        ck_assert_msg(lastlog_parse(buf, len, back, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(back->n, l->n);
        ck_assert_uint_eq(back->lines, l->n);
        ck_assert_uint_eq(back->skipped, 0);
        ck_assert_uint_eq(back->version, 2);
        for (size_t i = 0; i < l->n; i++)
                ck_assert_msg(event_equal(&back->ev[i], &l->ev[i]), "event %zu differs", i);
        /*
         * A prefix (a file cut by a crash) is refused while the header is
         * incomplete, then reads as the entries whose lines are whole, the cut
         * line skipped: never a wrong entry.
         */
        header = (size_t)(strstr(buf, "keep = ") - buf);
        header += (size_t)(strchr(buf + header, '\n') - (buf + header)) + 1;
        for (size_t cut = 0; cut < len; cut += (len > 2000 ? 89 : 1)) {
                enum mailotp_rc rc = lastlog_parse(buf, cut, back, err, sizeof(err));

                if (cut < header) {
                        ck_assert_msg(rc == MAILOTP_ERR_FORMAT, "prefix %zu/%zu accepted", cut,
                                      len);
                        ck_assert_uint_eq(back->n, 0);
                        continue;
                }
                ck_assert_msg(rc == MAILOTP_OK, "prefix %zu/%zu: %s", cut, len, err);
                lines = 0;
                for (size_t i = header; i < cut; i++)
                        lines += buf[i] == '\n';
                ck_assert_uint_eq(back->n, lines);
                ck_assert_uint_eq(back->skipped, cut > header && buf[cut - 1] != '\n' ? 1 : 0);
                for (size_t i = 0; i < back->n; i++)
                        ck_assert(event_equal(&back->ev[i], &l->ev[i]));
        }
        free(buf);
        free(back);
}

START_TEST(round_trip_zero_one)
{
        struct lastlog *l = new_log();
        struct lastlog_event ev;

        round_trip(l);
        lastlog_event_set(&ev, 253402300799, 0, "recovery-code", "dovecot", "::1", "locked");
        lastlog_push(l, &ev, 1);
        round_trip(l);
        free(l);
}
END_TEST

START_TEST(round_trip_max)
{
        struct lastlog *l = new_log();
        struct lastlog_event ev;
        char f[LASTLOG_FIELD_MAX + 1];

        memset(f, 'f', LASTLOG_FIELD_MAX);
        f[LASTLOG_FIELD_MAX] = '\0';
        for (unsigned i = 0; i < LASTLOG_MAX; i++) {
                f[0] = (char)('a' + i % 26);
                lastlog_event_set(&ev, 253402300799 - (int64_t)i, (int)(i & 1), f, f, f, f);
                ck_assert_uint_eq(strlen(ev.reason), LASTLOG_FIELD_MAX);
                lastlog_push(l, &ev, LASTLOG_MAX);
        }
        ck_assert_uint_eq(l->n, LASTLOG_MAX);
        round_trip(l);
        free(l);
}
END_TEST

#define GOOD_LOGIN "login = 1700000000 success code imap 192.0.2.1 -\n"

START_TEST(parse_good)
{
        struct lastlog *l = new_log();
        static const char text[] =
            "# c\n\nversion = 1\n" GOOD_LOGIN "login = 5   failure  -  -  -  wrong-code\nend\n";

        ck_assert_msg(lastlog_parse(text, sizeof(text) - 1, l, err, sizeof(err)) == MAILOTP_OK,
                      "%s", err);
        /* in time order (0.3.2), whatever the order of the lines */
        ck_assert_uint_eq(l->n, 2);
        ck_assert_int_eq(l->ev[1].time, 1700000000);
        ck_assert_str_eq(l->ev[1].rhost, "192.0.2.1");
        ck_assert_int_eq(l->ev[0].time, 5);
        ck_assert_str_eq(l->ev[0].result, "failure");
        ck_assert_str_eq(l->ev[0].reason, "wrong-code");
        free(l);
}
END_TEST

START_TEST(parse_refused)
{
        static const char *const bad[] = {
            "",         /* no version */
            GOOD_LOGIN, /* version not first */
            "version = 2\n",
            "version = 1\nversion = 1\n",
            "version = 1\nlogin = 1 ok code imap h -\n", /* result */
            "version = 1\nlogin = 1 Success code imap h -\n",
            "version = 1\nlogin = 1 success code imap h\n",     /* 5 fields */
            "version = 1\nlogin = 1 success code imap h - x\n", /* 7 fields */
            "version = 1\nlogin = x success code imap h -\n",   /* time */
            "version = 1\nlogin = -1 success code imap h -\n",
            "version = 1\nlogin = 253402300800 success code imap h -\n",
            "version = 1\nlogin\n",
            "version = 1\nlogin =\n",
            "version = 1\nlogon = 1 success code imap h -\n",
            "version = 1\nlogin = 1 success code imap h "
            "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr\n", /* 65 */
            "version = 1\nend\n" GOOD_LOGIN, /* end not last */
        };
        struct lastlog *l = new_log();
        char buf[512];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int n = snprintf(buf, sizeof(buf), "%send\n", bad[i]);

                ck_assert(n > 0 && (size_t)n < sizeof(buf));
                memset(l, 0xA5, sizeof(*l));
                ck_assert_msg(lastlog_parse(buf, (size_t)n, l, err, sizeof(err)) ==
                                  MAILOTP_ERR_FORMAT,
                              "accepted case %zu", i);
                ck_assert_str_ne(err, "");
                assert_wiped(l);
        }
        free(l);
}
END_TEST

START_TEST(parse_too_many)
{
        char *buf = malloc(LASTLOG_FILE_MAX);
        struct lastlog *l = new_log();
        size_t off;

        ck_assert_ptr_nonnull(buf);
        off = (size_t)snprintf(buf, LASTLOG_FILE_MAX, "version = 1\n");
        for (unsigned i = 0; i < LASTLOG_MAX; i++)
                off += (size_t)snprintf(buf + off, LASTLOG_FILE_MAX - off, GOOD_LOGIN);
        memcpy(buf + off, "end\n", 5);
        ck_assert_int_eq(lastlog_parse(buf, off + 4, l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->n, LASTLOG_MAX);
        off += (size_t)snprintf(buf + off, LASTLOG_FILE_MAX - off, GOOD_LOGIN);
        memcpy(buf + off, "end\n", 5);
        ck_assert_int_eq(lastlog_parse(buf, off + 4, l, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        assert_wiped(l);
        free(buf);
        free(l);
}
END_TEST

START_TEST(parse_end_line_rules)
{
        static const char body[] = "version = 1\n" GOOD_LOGIN;
        struct lastlog *l = new_log();
        char buf[512];
        int n;

        n = snprintf(buf, sizeof(buf), "%send\n", body);
        ck_assert_int_eq(lastlog_parse(buf, (size_t)n, l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->n, 1);
        /* missing */
        ck_assert_int_eq(lastlog_parse(body, strlen(body), l, err, sizeof(err)),
                         MAILOTP_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(err, "cut short"));
        assert_wiped(l);
        /* without newline */
        n = snprintf(buf, sizeof(buf), "%send", body);
        ck_assert_int_eq(lastlog_parse(buf, (size_t)n, l, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        /* not last */
        n = snprintf(buf, sizeof(buf), "version = 1\nend\n" GOOD_LOGIN);
        ck_assert_int_eq(lastlog_parse(buf, (size_t)n, l, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        /* content after */
        n = snprintf(buf, sizeof(buf), "%send\n" GOOD_LOGIN, body);
        ck_assert_int_eq(lastlog_parse(buf, (size_t)n, l, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        n = snprintf(buf, sizeof(buf), "%send\n\n", body);
        ck_assert_int_eq(lastlog_parse(buf, (size_t)n, l, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        assert_wiped(l);
        free(l);
}
END_TEST

/* ---- version 2: appended lines ------------------------------------------------------------ */

#define V2_HEAD "# pam_mailotp last logins\nversion = 2\nkeep = 3\n"

START_TEST(v2_keeps_newest_of_keep)
{
        struct lastlog *l = new_log();
        static const char text[] = V2_HEAD "login = 1 success code imap h -\n"
                                           "login = 2 success code imap h -\n"
                                           "login = 3 success code imap h -\n"
                                           "login = 4 success code imap h -\n"
                                           "login = 5 failure code imap h wrong-code\n";

        ck_assert_int_eq(lastlog_parse(text, sizeof(text) - 1, l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->version, 2);
        ck_assert_uint_eq(l->keep, 3);
        ck_assert_uint_eq(l->lines, 5);
        ck_assert_uint_eq(l->skipped, 0);
        ck_assert_uint_eq(l->n, 3);
        ck_assert_int_eq(l->ev[0].time, 3);
        ck_assert_int_eq(l->ev[2].time, 5);
        ck_assert_str_eq(l->ev[2].reason, "wrong-code");
        free(l);
}
END_TEST

START_TEST(v2_bad_lines_skipped_not_fatal)
{
        struct lastlog *l = new_log();
        static const char text[] = V2_HEAD "login = 1 success code imap h -\n"
                                           "login = 2 ok code imap h -\n"
                                           "logon = 3 success code imap h -\n"
                                           "login = 4 success code imap h -\n"
                                           "\x7f\x01\n"
                                           "login = 5 success code imap h - extra\n"
                                           "\n# a comment\n"
                                           "login = 6 success code imap h -\n"
                                           "login = 7 success co";

        ck_assert_int_eq(lastlog_parse(text, sizeof(text) - 1, l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->lines, 3);
        ck_assert_uint_eq(l->skipped, 5);
        ck_assert_uint_eq(l->n, 3);
        ck_assert_int_eq(l->ev[0].time, 1);
        ck_assert_int_eq(l->ev[1].time, 4);
        ck_assert_int_eq(l->ev[2].time, 6);
        free(l);
}
END_TEST

/* A power cut can leave the appended tail as zero bytes: skipped, the rest kept. */
START_TEST(v2_zero_filled_tail_skipped)
{
        struct lastlog *l = new_log();
        static const char text[] = V2_HEAD "login = 1 success code imap h -\n"
                                           "login = 2 success code imap h -\n"
                                           "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                                           "\0\0\0\n\0\0\0";

        ck_assert_int_eq(lastlog_parse(text, sizeof(text) - 1, l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->n, 2);
        ck_assert_uint_eq(l->skipped, 2);
        ck_assert_int_eq(l->ev[1].time, 2);
        free(l);
}
END_TEST

START_TEST(v2_header_refused)
{
        static const char *const bad[] = {
            "version = 2\n",              /* no keep */
            "version = 2\nkeep = 0\n",    /* keep out of range */
            "version = 2\nkeep = 201\n",  /* above LASTLOG_MAX */
            "version = 2\nkeep = x\n",    /* not a number */
            "keep = 3\nversion = 2\n",    /* order */
            "version = 3\nkeep = 3\n",    /* unknown version */
            "version = 2\nkeep = 3",      /* header line cut */
            ("version = 2\n" GOOD_LOGIN), /* entry before keep */
            "version = 2\nversion = 2\nkeep = 3\n",
        };
        struct lastlog *l = new_log();

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memset(l, 0xA5, sizeof(*l));
                ck_assert_msg(lastlog_parse(bad[i], strlen(bad[i]), l, err, sizeof(err)) ==
                                  MAILOTP_ERR_FORMAT,
                              "accepted header case %zu", i);
                assert_wiped(l);
        }
        free(l);
}
END_TEST

START_TEST(v2_needs_rewrite_rules)
{
        struct lastlog *l = new_log();
        static const char text[] = V2_HEAD "login = 1 success code imap h -\n";
        size_t len = sizeof(text) - 1;

        ck_assert_int_eq(lastlog_parse(text, len, l, err, sizeof(err)), MAILOTP_OK);
        ck_assert(!lastlog_needs_rewrite(l, 3, len, 1, 40));
        ck_assert(lastlog_needs_rewrite(l, 4, len, 1, 40));                   /* keep changed */
        ck_assert(lastlog_needs_rewrite(l, 3, LASTLOG_FILE_MAX - 40, 1, 40)); /* too big */
        l->lines = lastlog_rewrite_at(3) - 1;
        ck_assert(!lastlog_needs_rewrite(l, 3, len, 1, 40));
        l->lines = lastlog_rewrite_at(3);
        ck_assert(lastlog_needs_rewrite(l, 3, len, 1, 40));
        l->lines = 1;
        l->skipped = 1;
        ck_assert(lastlog_needs_rewrite(l, 3, len, 1, 40));
        l->skipped = 0;
        l->version = 1;
        ck_assert(lastlog_needs_rewrite(l, 3, len, 1, 40));
        free(l);
}
END_TEST

/* A log exactly as lastlog_format writes it for keep 3, with n entry lines. */
static size_t v2_text(char *buf, size_t bufsz, unsigned n)
{
        size_t off = (size_t)snprintf(buf, bufsz, "%s", V2_HEAD);
        unsigned i;

        for (i = 0; i < n; i++)
                off += (size_t)snprintf(buf + off, bufsz - off,
                                        "login = %u success code imap h -\n", i + 1);
        return off;
}

START_TEST(v2_rewrite_at_rules)
{
        /* keep + max(keep, LASTLOG_SLACK_MIN): at most one rewrite every 64 logins. */
        ck_assert_uint_eq(LASTLOG_SLACK_MIN, 64);
        ck_assert_uint_eq(lastlog_rewrite_at(0), 1 + 64); /* clamped to 1 */
        ck_assert_uint_eq(lastlog_rewrite_at(1), 1 + 64);
        ck_assert_uint_eq(lastlog_rewrite_at(3), 3 + 64);
        ck_assert_uint_eq(lastlog_rewrite_at(LASTLOG_DEFAULT), LASTLOG_DEFAULT + 64);
        ck_assert_uint_eq(lastlog_rewrite_at(64), 128);
        ck_assert_uint_eq(lastlog_rewrite_at(65), 130);
        ck_assert_uint_eq(lastlog_rewrite_at(LASTLOG_MAX), 2 * LASTLOG_MAX);
        ck_assert_uint_eq(lastlog_rewrite_at(LASTLOG_MAX + 1), 2 * LASTLOG_MAX);
}
END_TEST

START_TEST(v2_can_append_rules)
{
        static char text[8192];
        const unsigned at = (unsigned)lastlog_rewrite_at(3);
        size_t len;
        unsigned n;

        /* Appended while fewer than lastlog_rewrite_at(keep) lines follow the header. */
        for (n = 0; n <= at + 1; n++) {
                len = v2_text(text, sizeof(text), n);
                ck_assert_msg(lastlog_can_append(text, len, 3, 1, 40) == (n < at), "n=%u", n);
        }
        len = v2_text(text, sizeof(text), 5);
        /* Whatever the lines hold: a damaged line counts as a line, not parsed here. */
        ck_assert(lastlog_can_append(text, len, 3, 1, 40));
        ck_assert(!lastlog_can_append(text, len, 4, 1, 40));               /* another keep */
        ck_assert(!lastlog_can_append(text, len - 1, 3, 1, 40));           /* last line cut short */
        ck_assert(!lastlog_can_append(text, len, 3, 1, LASTLOG_FILE_MAX)); /* would grow too big */
        ck_assert(lastlog_can_append(text, len, 3, 1, LASTLOG_FILE_MAX - len - 1));
        ck_assert(!lastlog_can_append(text, len, 3, 1, LASTLOG_FILE_MAX - len));
        ck_assert(!lastlog_can_append(text, 10, 3, 1, 40)); /* header cut short */
        ck_assert(!lastlog_can_append(NULL, 0, 3, 1, 40));
        ck_assert(!lastlog_can_append("", 0, 3, 1, 40));
        text[2] = 'P'; /* not the header lastlog_format writes */
        ck_assert(!lastlog_can_append(text, len, 3, 1, 40));
        /* Version 1 files and other spellings of the header take the parsing path. */
        ck_assert(!lastlog_can_append("version = 1\nend\n", 16, 3, 1, 40));
        ck_assert(!lastlog_can_append("version = 2\nkeep = 3\n", 22, 3, 1, 40));
        /* keep is clamped as lastlog_push clamps it. */
        len = (size_t)snprintf(text, sizeof(text),
                               "# pam_mailotp last logins\nversion = 2\nkeep = %u\n", LASTLOG_MAX);
        ck_assert(lastlog_can_append(text, len, LASTLOG_MAX + 5, 1, 40));
        len = (size_t)snprintf(text, sizeof(text),
                               "# pam_mailotp last logins\nversion = 2\nkeep = 1\n");
        ck_assert(lastlog_can_append(text, len, 0, 1, 40));
}
END_TEST

/* What the fast path appends to is what the parser reads, one more entry each time. */
START_TEST(v2_can_append_agrees_with_parse)
{
        struct lastlog *l = new_log();
        static char text[8192];
        unsigned n;

        for (n = 0; n <= lastlog_rewrite_at(3) + 1; n++) {
                size_t len = v2_text(text, sizeof(text), n);

                ck_assert_int_eq(lastlog_parse(text, len, l, err, sizeof(err)), MAILOTP_OK);
                ck_assert_int_eq(lastlog_can_append(text, len, 3, 1, 40),
                                 !lastlog_needs_rewrite(l, 3, len, 1, 40));
        }
        free(l);
}
END_TEST

/* A log exactly as lastlog_format writes it for `keep`, with n entry lines (times 1..n). */
static size_t v2_text_keep(char *buf, size_t bufsz, size_t keep, unsigned n)
{
        size_t off = (size_t)snprintf(buf, bufsz,
                                      "# pam_mailotp last logins\nversion = 2\nkeep = %zu\n", keep);

        for (unsigned i = 0; i < n; i++)
                off += (size_t)snprintf(buf + off, bufsz - off,
                                        "login = %u success code imap h -\n", i + 1);
        ck_assert_uint_lt(off, bufsz);
        return off;
}

/* A batch of nlines lines: appended iff the log then holds at most lastlog_rewrite_at(keep). */
START_TEST(v2_batch_append_rules)
{
        static char text[32768];
        static const size_t keeps[] = {3, LASTLOG_DEFAULT, LASTLOG_MAX};
        static const size_t batches[] = {1, 2, 5, LASTLOG_PENDING_MAX, 67, 68, 401};

        for (size_t k = 0; k < sizeof(keeps) / sizeof(keeps[0]); k++) {
                const size_t at = lastlog_rewrite_at(keeps[k]);

                for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
                        for (unsigned n = 0; n <= at + 1; n++) {
                                size_t len = v2_text_keep(text, sizeof(text), keeps[k], n);

                                ck_assert_msg(
                                    lastlog_can_append(text, len, keeps[k], batches[b],
                                                       batches[b] * 40) == (n + batches[b] <= at),
                                    "keep %zu, %u lines, %zu more", keeps[k], n, batches[b]);
                        }
                }
        }
        /* the size limit counts the whole batch */
        {
                size_t len = v2_text_keep(text, sizeof(text), 3, 2);

                ck_assert(lastlog_can_append(text, len, 3, 5, LASTLOG_FILE_MAX - len - 1));
                ck_assert(!lastlog_can_append(text, len, 3, 5, LASTLOG_FILE_MAX - len));
        }
}
END_TEST

/* The fast path and the parsing path agree for batches, as for single lines. */
START_TEST(v2_batch_can_append_agrees_with_needs_rewrite)
{
        struct lastlog *l = new_log();
        static char text[32768];
        static const size_t keeps[] = {3, LASTLOG_MAX};
        static const size_t batches[] = {1, 3, LASTLOG_PENDING_MAX, 64, 65, 66, 67, 68};

        for (size_t k = 0; k < sizeof(keeps) / sizeof(keeps[0]); k++) {
                for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
                        for (unsigned n = 0; n <= lastlog_rewrite_at(keeps[k]) + 1; n++) {
                                size_t len = v2_text_keep(text, sizeof(text), keeps[k], n);
                                size_t add = batches[b] * 40;

                                ck_assert_int_eq(lastlog_parse(text, len, l, err, sizeof(err)),
                                                 MAILOTP_OK);
                                ck_assert_msg(
                                    lastlog_can_append(text, len, keeps[k], batches[b], add) ==
                                        !lastlog_needs_rewrite(l, keeps[k], len, batches[b], add),
                                    "keep %zu, %u lines, %zu more", keeps[k], n, batches[b]);
                        }
                }
        }
        /* the rule itself, on a parsed log */
        l->version = 2;
        l->keep = 3;
        l->skipped = 0;
        l->lines = lastlog_rewrite_at(3) - 5;
        ck_assert(!lastlog_needs_rewrite(l, 3, 100, 5, 200));
        ck_assert(lastlog_needs_rewrite(l, 3, 100, 6, 240));
        ck_assert(lastlog_needs_rewrite(l, 3, LASTLOG_FILE_MAX - 200, 5, 200)); /* too big */
        free(l);
}
END_TEST

/* ---- pending entries (0.3.2) --------------------------------------------------------------- */

#define PENDING_LINE     "login = 1700000000 success code imap 192.0.2.1 -\n"
#define PENDING_LINE_LEN (sizeof(PENDING_LINE) - 1)

static size_t header_for(size_t keep, char *buf, size_t bufsz)
{
        int n = snprintf(buf, bufsz, "# pam_mailotp last logins\nversion = 2\nkeep = %zu\n", keep);

        ck_assert(n > 0 && (size_t)n < bufsz);
        return (size_t)n;
}

START_TEST(pending_add_first_entry)
{
        struct lastlog *l = new_log();
        char out[512], head[128];
        size_t outlen = 0, hlen = header_for(20, head, sizeof(head));

        ck_assert_int_eq(lastlog_pending_add(NULL, 0, 20, PENDING_LINE, PENDING_LINE_LEN, out,
                                             sizeof(out), &outlen),
                         1);
        ck_assert_uint_eq(outlen, hlen + PENDING_LINE_LEN);
        ck_assert_mem_eq(out, head, hlen);
        ck_assert_mem_eq(out + hlen, PENDING_LINE, PENDING_LINE_LEN);
        ck_assert_int_eq(lastlog_parse(out, outlen, l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->version, 2);
        ck_assert_uint_eq(l->keep, 20);
        ck_assert_uint_eq(l->n, 1);
        ck_assert_uint_eq(l->lines, 1);
        ck_assert_uint_eq(l->skipped, 0);
        ck_assert_int_eq(l->ev[0].time, 1700000000);
        ck_assert_str_eq(l->ev[0].rhost, "192.0.2.1");
        /* a non-NULL empty cur is the same, and keep is clamped as everywhere */
        ck_assert_int_eq(lastlog_pending_add("x", 0, 20, PENDING_LINE, PENDING_LINE_LEN, out,
                                             sizeof(out), &outlen),
                         1);
        ck_assert_uint_eq(outlen, hlen + PENDING_LINE_LEN);
        ck_assert_int_eq(lastlog_pending_add(NULL, 0, 0, PENDING_LINE, PENDING_LINE_LEN, out,
                                             sizeof(out), &outlen),
                         1);
        hlen = header_for(1, head, sizeof(head));
        ck_assert_uint_eq(outlen, hlen + PENDING_LINE_LEN);
        ck_assert_mem_eq(out, head, hlen);
        ck_assert_int_eq(lastlog_pending_add(NULL, 0, LASTLOG_MAX + 7, PENDING_LINE,
                                             PENDING_LINE_LEN, out, sizeof(out), &outlen),
                         1);
        ck_assert_int_eq(lastlog_parse(out, outlen, l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->keep, LASTLOG_MAX);
        free(l);
}
END_TEST

/*
 * Added one by one (in place, or into another buffer) until min(keep,
 * LASTLOG_PENDING_MAX) entries: then refused, cur left as it was.
 */
static void fill_pending(size_t keep, size_t expect_most, int in_place)
{
        struct lastlog *l = new_log();
        static char cur[16384], out[16384], before[16384];
        char line[LASTLOG_LINE_MAX], head[128];
        size_t curlen = 0, outlen = 0, n;
        struct lastlog_event ev;

        for (n = 0; n < expect_most + 3; n++) {
                size_t llen = 0;
                int r;

                numbered(&ev, (unsigned)n);
                ck_assert_int_eq(lastlog_format_line(&ev, line, sizeof(line), &llen), MAILOTP_OK);
                memcpy(before, cur, curlen);
                r = lastlog_pending_add(cur, curlen, keep, line, llen, in_place ? cur : out,
                                        sizeof(cur), &outlen);
                if (n >= expect_most) {
                        ck_assert_msg(r == 0, "keep %zu: entry %zu added", keep, n + 1);
                        ck_assert_mem_eq(cur, before, curlen);
                        continue;
                }
                ck_assert_msg(r == 1, "keep %zu: entry %zu refused", keep, n + 1);
                ck_assert_uint_eq(outlen,
                                  (n == 0 ? header_for(keep, head, sizeof(head)) : curlen) + llen);
                if (!in_place)
                        memcpy(cur, out, outlen);
                ck_assert_mem_eq(cur + outlen - llen, line, llen);
                curlen = outlen;
                ck_assert_int_eq(lastlog_parse(cur, curlen, l, err, sizeof(err)), MAILOTP_OK);
                ck_assert_uint_eq(l->lines, n + 1);
                ck_assert_uint_eq(l->skipped, 0);
                ck_assert_uint_eq(l->keep, keep);
                ck_assert_uint_eq(l->n, n + 1);
                for (size_t i = 0; i <= n; i++) {
                        numbered(&ev, (unsigned)i);
                        ck_assert(event_equal(&l->ev[i], &ev));
                }
        }
        free(l);
}

START_TEST(pending_add_until_full)
{
        fill_pending(1, 1, 0);
        fill_pending(3, 3, 1); /* keep 3: at most 3 */
        fill_pending(LASTLOG_DEFAULT, LASTLOG_DEFAULT, 0);
        fill_pending(LASTLOG_PENDING_MAX, LASTLOG_PENDING_MAX, 1);
        fill_pending(LASTLOG_PENDING_MAX + 1, LASTLOG_PENDING_MAX, 0);
        fill_pending(LASTLOG_MAX, LASTLOG_PENDING_MAX, 1); /* keep 200: at most 32 */
}
END_TEST

START_TEST(pending_add_refuses_other_text)
{
        static char cur[4096], out[4096];
        size_t curlen = v2_text_keep(cur, sizeof(cur), 20, 3), outlen = 0;
        char bad[4096], head[128];
        const size_t hlen = header_for(20, head, sizeof(head));

        /* the control: as written for keep 20 it is taken */
        ck_assert_int_eq(lastlog_pending_add(cur, curlen, 20, PENDING_LINE, PENDING_LINE_LEN, out,
                                             sizeof(out), &outlen),
                         1);
        ck_assert_uint_eq(outlen, curlen + PENDING_LINE_LEN);
        /* written for another keep */
        ck_assert_int_eq(lastlog_pending_add(cur, curlen, 21, PENDING_LINE, PENDING_LINE_LEN, out,
                                             sizeof(out), &outlen),
                         0);
        ck_assert_int_eq(lastlog_pending_add(cur, curlen, 3, PENDING_LINE, PENDING_LINE_LEN, out,
                                             sizeof(out), &outlen),
                         0);
        /* cut short: in the last line, in the header, a lone byte */
        for (size_t cut = 1; cut < curlen; cut++) {
                if (cur[cut - 1] == '\n' && cut >= hlen) /* whole lines: still that format */
                        continue;
                ck_assert_msg(lastlog_pending_add(cur, cut, 20, PENDING_LINE, PENDING_LINE_LEN, out,
                                                  sizeof(out), &outlen) == 0,
                              "cut at %zu taken", cut);
        }
        /* a damaged header, another spelling of it, version 1 */
        memcpy(bad, cur, curlen);
        bad[2] = 'P';
        ck_assert_int_eq(lastlog_pending_add(bad, curlen, 20, PENDING_LINE, PENDING_LINE_LEN, out,
                                             sizeof(out), &outlen),
                         0);
        ck_assert_int_eq(lastlog_pending_add("version = 2\nkeep = 20\n", 22, 20, PENDING_LINE,
                                             PENDING_LINE_LEN, out, sizeof(out), &outlen),
                         0);
        ck_assert_int_eq(lastlog_pending_add("version = 1\nend\n", 16, 20, PENDING_LINE,
                                             PENDING_LINE_LEN, out, sizeof(out), &outlen),
                         0);
        /* more entries than the rule allows (written by someone else): refused, not grown */
        curlen = v2_text_keep(cur, sizeof(cur), 3, 4);
        ck_assert_int_eq(lastlog_pending_add(cur, curlen, 3, PENDING_LINE, PENDING_LINE_LEN, out,
                                             sizeof(out), &outlen),
                         0);
}
END_TEST

/* Exactly outmax bytes are enough; one fewer is not, and nothing is written past outmax. */
START_TEST(pending_add_outmax)
{
        char cur[512], out[1024], head[128];
        size_t hlen = header_for(20, head, sizeof(head)), curlen, outlen = 0;

        for (size_t outmax = 0; outmax <= hlen + PENDING_LINE_LEN; outmax++) {
                memset(out, '#', sizeof(out));
                ck_assert_int_eq(lastlog_pending_add(NULL, 0, 20, PENDING_LINE, PENDING_LINE_LEN,
                                                     out, outmax, &outlen),
                                 outmax == hlen + PENDING_LINE_LEN);
                for (size_t i = outmax; i < sizeof(out); i++)
                        ck_assert_msg(out[i] == '#', "outmax %zu: byte %zu written", outmax, i);
        }
        curlen = v2_text_keep(cur, sizeof(cur), 20, 2);
        for (size_t outmax = 0; outmax <= curlen + PENDING_LINE_LEN; outmax++) {
                memset(out, '#', sizeof(out));
                ck_assert_int_eq(lastlog_pending_add(cur, curlen, 20, PENDING_LINE,
                                                     PENDING_LINE_LEN, out, outmax, &outlen),
                                 outmax == curlen + PENDING_LINE_LEN);
                for (size_t i = outmax; i < sizeof(out); i++)
                        ck_assert_msg(out[i] == '#', "outmax %zu: byte %zu written", outmax, i);
        }
        ck_assert_mem_eq(out, cur, curlen);
        ck_assert_mem_eq(out + curlen, PENDING_LINE, PENDING_LINE_LEN);
}
END_TEST

/* ---- lastlog_merge ------------------------------------------------------------------------- */

/* An event identified by its time and a tag in the reason field. */
static void tagged(struct lastlog_event *ev, int64_t t, const char *tag)
{
        lastlog_event_set(ev, t, 1, "code", "imap", "192.0.2.1", tag);
}

static void add_tagged(struct lastlog *l, int64_t t, const char *tag)
{
        ck_assert_uint_lt(l->n, LASTLOG_MAX);
        tagged(&l->ev[l->n++], t, tag);
        l->lines++;
}

/* l holds exactly the entries "T:tag" (oldest first), as a space-separated list. */
static void assert_entries(const struct lastlog *l, const char *want)
{
        char got[4096];
        size_t off = 0;

        got[0] = '\0';
        for (size_t i = 0; i < l->n && off < sizeof(got); i++)
                off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%lld:%s", i > 0 ? " " : "",
                                        (long long)l->ev[i].time, l->ev[i].reason);
        ck_assert_str_eq(got, want);
}

START_TEST(merge_by_time)
{
        struct lastlog *l = new_log(), *p = new_log();

        l->version = 2;
        l->keep = 20;
        add_tagged(l, 10, "f1");
        add_tagged(l, 30, "f2");
        add_tagged(l, 50, "f3");
        p->keep = 20;
        add_tagged(p, 20, "p1");
        add_tagged(p, 40, "p2");
        add_tagged(p, 60, "p3");
        lastlog_merge(l, p);
        assert_entries(l, "10:f1 20:p1 30:f2 40:p2 50:f3 60:p3");
        ck_assert_uint_eq(l->keep, 20);
        ck_assert_uint_eq(l->lines, 6);
        ck_assert_uint_eq(l->version, 2);
        /* all pending newer, all pending older */
        memset(l, 0, sizeof(*l));
        add_tagged(l, 1, "f1");
        add_tagged(l, 2, "f2");
        lastlog_merge(l, p);
        assert_entries(l, "1:f1 2:f2 20:p1 40:p2 60:p3");
        memset(l, 0, sizeof(*l));
        add_tagged(l, 100, "f1");
        lastlog_merge(l, p);
        assert_entries(l, "20:p1 40:p2 60:p3 100:f1");
        free(l);
        free(p);
}
END_TEST

START_TEST(merge_pending_first_within_a_second)
{
        struct lastlog *l = new_log(), *p = new_log();

        add_tagged(l, 10, "f1");
        add_tagged(l, 20, "f2");
        add_tagged(l, 20, "f3");
        add_tagged(l, 30, "f4");
        p->keep = 20;
        add_tagged(p, 20, "p1");
        add_tagged(p, 20, "p2");
        add_tagged(p, 30, "p3");
        lastlog_merge(l, p);
        assert_entries(l, "10:f1 20:p1 20:p2 20:f2 20:f3 30:p3 30:f4");
        free(l);
        free(p);
}
END_TEST

START_TEST(merge_keep)
{
        struct lastlog *l = new_log(), *p = new_log();
        char tag[16];

        /* the newest keep of both; the pending log's keep wins over the file's */
        l->keep = 20;
        for (int i = 0; i < 10; i++) {
                (void)snprintf(tag, sizeof(tag), "f%d", i);
                add_tagged(l, 100 + i, tag);
        }
        p->keep = 4;
        add_tagged(p, 105, "p1");
        add_tagged(p, 120, "p2");
        lastlog_merge(l, p);
        assert_entries(l, "107:f7 108:f8 109:f9 120:p2");
        ck_assert_uint_eq(l->keep, 4);
        ck_assert_uint_eq(l->lines, 12);
        /* no keep in the pending log: the file's */
        memset(p, 0, sizeof(*p));
        add_tagged(p, 200, "p3");
        l->keep = 2;
        lastlog_merge(l, p);
        assert_entries(l, "120:p2 200:p3");
        ck_assert_uint_eq(l->keep, 2);
        /* in neither: LASTLOG_MAX */
        memset(l, 0, sizeof(*l));
        for (int i = 0; i < 150; i++)
                add_tagged(l, i, "f");
        memset(p, 0, sizeof(*p));
        for (int i = 0; i < 30; i++)
                add_tagged(p, 1000 + i, "p");
        lastlog_merge(l, p);
        ck_assert_uint_eq(l->n, 180);
        ck_assert_uint_eq(l->keep, LASTLOG_MAX);
        ck_assert_int_eq(l->ev[0].time, 0);
        ck_assert_int_eq(l->ev[179].time, 1029);
        free(l);
        free(p);
}
END_TEST

START_TEST(merge_empty_sides)
{
        struct lastlog *l = new_log(), *p = new_log();

        /* no log file (as the store passes it: all zero) */
        p->version = 2;
        p->keep = 20;
        add_tagged(p, 5, "p1");
        add_tagged(p, 7, "p2");
        lastlog_merge(l, p);
        assert_entries(l, "5:p1 7:p2");
        ck_assert_uint_eq(l->keep, 20);
        ck_assert_uint_eq(l->lines, 2);
        /* no pending entries: the log as it was */
        memset(l, 0, sizeof(*l));
        l->version = 2;
        l->keep = 3;
        add_tagged(l, 1, "f1");
        add_tagged(l, 2, "f2");
        add_tagged(l, 3, "f3");
        l->skipped = 4;
        memset(p, 0, sizeof(*p));
        lastlog_merge(l, p);
        assert_entries(l, "1:f1 2:f2 3:f3");
        ck_assert_uint_eq(l->keep, 3);
        ck_assert_uint_eq(l->lines, 3);
        ck_assert_uint_eq(l->skipped, 4);
        ck_assert_uint_eq(l->version, 2);
        /* neither */
        memset(l, 0, sizeof(*l));
        lastlog_merge(l, p);
        ck_assert_uint_eq(l->n, 0);
        free(l);
        free(p);
}
END_TEST

/* A log whose lines are out of time order (a clock set back) is sorted, stably. */
START_TEST(merge_sorts_the_log_stably)
{
        struct lastlog *l = new_log(), *p = new_log();

        add_tagged(l, 30, "a");
        add_tagged(l, 10, "b");
        add_tagged(l, 30, "c");
        add_tagged(l, 10, "d");
        add_tagged(l, 20, "e");
        add_tagged(p, 10, "p1");
        add_tagged(p, 25, "p2");
        lastlog_merge(l, p);
        assert_entries(l, "10:p1 10:b 10:d 20:e 25:p2 30:a 30:c");
        free(l);
        free(p);
}
END_TEST

/*
 * More than LASTLOG_MAX together: the newest LASTLOG_MAX of both, whichever
 * side they come from.
 */
START_TEST(merge_more_than_max)
{
        struct lastlog *l = new_log(), *p = new_log();

        /* pending newer than the whole log: the log's oldest go */
        l->keep = LASTLOG_MAX;
        for (unsigned i = 0; i < LASTLOG_MAX; i++)
                add_tagged(l, 1000 + i, "f");
        p->keep = LASTLOG_MAX;
        for (unsigned i = 0; i < 10; i++)
                add_tagged(p, 5000 + i, "p");
        lastlog_merge(l, p);
        ck_assert_uint_eq(l->n, LASTLOG_MAX);
        ck_assert_int_eq(l->ev[0].time, 1010);
        ck_assert_int_eq(l->ev[LASTLOG_MAX - 11].time, 1199);
        ck_assert_int_eq(l->ev[LASTLOG_MAX - 10].time, 5000);
        ck_assert_int_eq(l->ev[LASTLOG_MAX - 1].time, 5009);
        /*
         * pending entries older than every entry of the log (written
         * straight to it since): they are the oldest, so they go, and the
         * log stays whole
         */
        memset(l, 0, sizeof(*l));
        l->keep = LASTLOG_MAX;
        for (unsigned i = 0; i < LASTLOG_MAX; i++)
                add_tagged(l, 1000 + i, "f");
        memset(p, 0, sizeof(*p));
        p->keep = LASTLOG_MAX;
        for (unsigned i = 0; i < 10; i++)
                add_tagged(p, 500 + i, "p");
        lastlog_merge(l, p);
        ck_assert_uint_eq(l->n, LASTLOG_MAX);
        for (unsigned i = 0; i < LASTLOG_MAX; i++)
                ck_assert_msg(l->ev[i].time == 1000 + (int64_t)i, "entry %u: %lld", i,
                              (long long)l->ev[i].time);
        /* interleaved: the newest 200 of 210 */
        memset(l, 0, sizeof(*l));
        l->keep = LASTLOG_MAX;
        for (unsigned i = 0; i < LASTLOG_MAX; i++)
                add_tagged(l, 2 * (int64_t)i, "f"); /* 0, 2, ..., 398 */
        memset(p, 0, sizeof(*p));
        p->keep = LASTLOG_MAX;
        for (unsigned i = 0; i < 10; i++)
                add_tagged(p, 2 * (int64_t)i + 1, "p"); /* 1, 3, ..., 19 */
        lastlog_merge(l, p);
        ck_assert_uint_eq(l->n, LASTLOG_MAX);
        /* 210 in all, times 0..19 and the even ones 20..398: the 10 oldest (0..9) go */
        ck_assert_int_eq(l->ev[0].time, 10);
        ck_assert_int_eq(l->ev[LASTLOG_MAX - 1].time, 398);
        for (unsigned i = 1; i < LASTLOG_MAX; i++)
                ck_assert_int_lt(l->ev[i - 1].time, l->ev[i].time);
        free(l);
        free(p);
}
END_TEST

static Suite *lastlog_suite(void)
{
        Suite *s = suite_create("lastlog");
        TCase *tc;

        tc = tcase_create("event");
        tcase_add_test(tc, event_plain);
        tcase_add_test(tc, event_null_and_empty_are_dash);
        tcase_add_test(tc, event_spaces_and_controls_escaped);
        tcase_add_test(tc, event_long_fields_bounded);
        tcase_add_test(tc, event_any_input_survives_the_file);
        suite_add_tcase(s, tc);

        tc = tcase_create("push");
        tcase_add_test(tc, push_keeps_newest);
        tcase_add_test(tc, push_keep_one);
        tcase_add_test(tc, push_smaller_keep_drops_oldest);
        tcase_add_test(tc, push_max);
        suite_add_tcase(s, tc);

        tc = tcase_create("format");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, format_exact_text);
        tcase_add_test(tc, format_small_buffer);
        tcase_add_test(tc, round_trip_zero_one);
        tcase_add_test(tc, round_trip_max);
        tcase_add_test(tc, parse_good);
        tcase_add_test(tc, parse_refused);
        tcase_add_test(tc, parse_too_many);
        tcase_add_test(tc, parse_end_line_rules);
        tcase_add_test(tc, v2_keeps_newest_of_keep);
        tcase_add_test(tc, v2_bad_lines_skipped_not_fatal);
        tcase_add_test(tc, v2_header_refused);
        tcase_add_test(tc, v2_zero_filled_tail_skipped);
        tcase_add_test(tc, v2_needs_rewrite_rules);
        tcase_add_test(tc, v2_rewrite_at_rules);
        tcase_add_test(tc, v2_can_append_rules);
        tcase_add_test(tc, v2_can_append_agrees_with_parse);
        tcase_add_test(tc, v2_batch_append_rules);
        tcase_add_test(tc, v2_batch_can_append_agrees_with_needs_rewrite);
        suite_add_tcase(s, tc);

        tc = tcase_create("pending");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, pending_add_first_entry);
        tcase_add_test(tc, pending_add_until_full);
        tcase_add_test(tc, pending_add_refuses_other_text);
        tcase_add_test(tc, pending_add_outmax);
        tcase_add_test(tc, merge_by_time);
        tcase_add_test(tc, merge_pending_first_within_a_second);
        tcase_add_test(tc, merge_keep);
        tcase_add_test(tc, merge_empty_sides);
        tcase_add_test(tc, merge_sorts_the_log_stably);
        tcase_add_test(tc, merge_more_than_max);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(lastlog_suite());
}
