/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * userfile.c: the user file's payload (record text, then state text) split at
 * the record's first "end" line and joined again, and the note that replaces
 * a moved 0.2.0 record.  Pure functions: no files here (see test_store.c).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "slots.h"
#include "testutil.h"
#include "userfile.h"

#define REC   "# pam_mailotp user record: do not edit, use mailotp(1)\nversion = 1\nend\n"
#define STATE "# pam_mailotp user state: do not edit\nversion = 1\nfailures = 0\nend\n"

/* userfile_split of a C string (or of its first len bytes). */
static int split_n(const char *p, size_t len, size_t *reclen)
{
        *reclen = 12345; /* must be reset whatever the answer */
        return userfile_split(p, len, reclen);
}

static int split(const char *p, size_t *reclen)
{
        return split_n(p, strlen(p), reclen);
}

/* ---- userfile_split ------------------------------------------------------------------ */

START_TEST(split_record_then_state)
{
        static const char both[] = REC STATE;
        size_t reclen;

        ck_assert_int_eq(split(both, &reclen), 0);
        ck_assert_uint_eq(reclen, strlen(REC));
        ck_assert_int_eq(split(REC, &reclen), 0); /* pending: no state part */
        ck_assert_uint_eq(reclen, strlen(REC));
        /* the first end line ends the record, whatever follows */
        ck_assert_int_eq(split("a = 1\nend\nend\nend\n", &reclen), 0);
        ck_assert_uint_eq(reclen, 10);
        ck_assert_int_eq(split("a = 1\nend\ngarbage without a newline", &reclen), 0);
        ck_assert_uint_eq(reclen, 10);
}
END_TEST

START_TEST(split_end_line_at_start)
{
        size_t reclen;

        ck_assert_int_eq(split("end\n", &reclen), 0);
        ck_assert_uint_eq(reclen, 4);
        ck_assert_int_eq(split("end\n" STATE, &reclen), 0);
        ck_assert_uint_eq(reclen, 4);
        /* an empty line before it is a line of its own */
        ck_assert_int_eq(split("\nend\n", &reclen), 0);
        ck_assert_uint_eq(reclen, 5);
}
END_TEST

START_TEST(split_end_not_a_line)
{
        static const char *const bad[] = {
            "xend\n",               /* "end" not at the start of its line */
            "a = 1\n end\n",        /* nor after a space (the kv parser would trim it) */
            "a = 1\n\tend\n",       /* nor after a tab */
            "a = 1\nend \n",        /* trailing space */
            "a = 1\nendx\n",        /* a longer word */
            "a = 1\nend\r\n",       /* CR LF: not the line writers write */
            "a = 1\nEND\n",         /* case matters */
            "a = 1\nen\nd\n",       /* split over two lines */
            "a = 1\nend",           /* "\nend" without its final newline */
            "end",                  /* the same, alone */
            "a = 1 end\n",          /* inside a line */
            "version = 1\nsend\n",  /* a word ending in end */
            "version = 1\nended\n", /* a word starting with end */
            "\n\n\n",
        };
        size_t reclen;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_msg(split(bad[i], &reclen) == -1, "case %zu split", i);
                ck_assert_uint_eq(reclen, 0);
        }
}
END_TEST

START_TEST(split_empty_and_null)
{
        size_t reclen;

        ck_assert_int_eq(split_n("", 0, &reclen), -1);
        ck_assert_uint_eq(reclen, 0);
        ck_assert_int_eq(split_n(NULL, 0, &reclen), -1);
        ck_assert_uint_eq(reclen, 0);
        ck_assert_int_eq(split_n(NULL, 4, &reclen), -1);
        /* only the first len bytes count */
        ck_assert_int_eq(split_n("end\n", 3, &reclen), -1);
        ck_assert_int_eq(split_n("a = 1\nend\n", 9, &reclen), -1);
        ck_assert_int_eq(split_n("a = 1\nend\n", 10, &reclen), 0);
        ck_assert_uint_eq(reclen, 10);
}
END_TEST

/* A NUL byte anywhere in the payload, record part or state part, refuses it all. */
START_TEST(split_nul_anywhere)
{
        static const char both[] = REC STATE;
        char buf[sizeof(both)];
        const size_t len = sizeof(both) - 1;
        size_t reclen;

        for (size_t i = 0; i < len; i++) {
                memcpy(buf, both, sizeof(both));
                buf[i] = '\0';
                ck_assert_msg(split_n(buf, len, &reclen) == -1, "NUL at %zu of %zu accepted", i,
                              len);
                ck_assert_uint_eq(reclen, 0);
        }
        /* a NUL just past len is not part of the payload */
        ck_assert_int_eq(split_n(both, len, &reclen), 0);
        ck_assert_uint_eq(reclen, strlen(REC));
}
END_TEST

/* ---- userfile_join ------------------------------------------------------------------- */

#define GUARD 0xA5

/*
 * Join into buf as a buffer of outmax bytes followed by 64 guard bytes
 * (bufsz must hold both): nothing past outmax is touched.
 */
static enum mailotp_rc join_into_n(const char *rec, size_t rlen, const char *st, size_t slen,
                                   size_t outmax, unsigned char *buf, size_t bufsz, size_t *outlen)
{
        enum mailotp_rc rc;

        ck_assert_uint_le(outmax + 64, bufsz);
        memset(buf, GUARD, outmax + 64);
        *outlen = 999;
        rc = userfile_join(rec, rlen, st, slen, (char *)buf, outmax, outlen);
        for (size_t i = outmax; i < outmax + 64; i++)
                ck_assert_msg(buf[i] == GUARD, "byte %zu past outmax %zu written", i, outmax);
        if (rc != MAILOTP_OK) {
                ck_assert_uint_eq(*outlen, 0);
                for (size_t i = 0; i < outmax; i++)
                        ck_assert_msg(buf[i] == GUARD, "failed join wrote byte %zu", i);
        }
        return rc;
}

#define join_into(rec, rlen, st, slen, outmax, buf, outlen)                                        \
        join_into_n(rec, rlen, st, slen, outmax, buf, sizeof(buf), outlen)

START_TEST(join_record_and_state)
{
        unsigned char buf[512];
        size_t outlen, reclen;

        ck_assert_int_eq(join_into(REC, strlen(REC), STATE, strlen(STATE), 400, buf, &outlen),
                         MAILOTP_OK);
        ck_assert_uint_eq(outlen, strlen(REC STATE));
        ck_assert_mem_eq(buf, REC STATE, outlen);
        /* and it splits back where it was joined */
        ck_assert_int_eq(split_n((const char *)buf, outlen, &reclen), 0);
        ck_assert_uint_eq(reclen, strlen(REC));
        /* no state: the record alone, st may be NULL */
        ck_assert_int_eq(join_into(REC, strlen(REC), NULL, 0, 400, buf, &outlen), MAILOTP_OK);
        ck_assert_uint_eq(outlen, strlen(REC));
        ck_assert_mem_eq(buf, REC, outlen);
        ck_assert_int_eq(join_into(REC, strlen(REC), "", 0, 400, buf, &outlen), MAILOTP_OK);
        ck_assert_uint_eq(outlen, strlen(REC));
        /* the smallest record part */
        ck_assert_int_eq(join_into("end\n", 4, "x", 1, 5, buf, &outlen), MAILOTP_OK);
        ck_assert_uint_eq(outlen, 5);
        ck_assert_mem_eq(buf, "end\nx", 5);
}
END_TEST

START_TEST(join_overflow_boundaries)
{
        static unsigned char buf[SLOTS_PAYLOAD_MAX + 64];
        char *st = malloc(SLOTS_PAYLOAD_MAX);
        const size_t rlen = strlen(REC), slen = strlen(STATE), total = rlen + slen;
        size_t outlen;

        ck_assert_ptr_nonnull(st);
        /* record + state: exactly outmax fits, one byte less does not */
        ck_assert_int_eq(join_into(REC, rlen, STATE, slen, total, buf, &outlen), MAILOTP_OK);
        ck_assert_uint_eq(outlen, total);
        ck_assert_int_eq(join_into(REC, rlen, STATE, slen, total - 1, buf, &outlen),
                         MAILOTP_ERR_INVALID);
        /* the record alone: the same at rlen */
        ck_assert_int_eq(join_into(REC, rlen, NULL, 0, rlen, buf, &outlen), MAILOTP_OK);
        ck_assert_uint_eq(outlen, rlen);
        ck_assert_int_eq(join_into(REC, rlen, NULL, 0, rlen - 1, buf, &outlen),
                         MAILOTP_ERR_INVALID);
        /* the record bigger than outmax with a state (no wrap-around in outmax - rlen) */
        ck_assert_int_eq(join_into(REC, rlen, STATE, slen, rlen - 1, buf, &outlen),
                         MAILOTP_ERR_INVALID);
        ck_assert_int_eq(join_into(REC, rlen, "x", 1, rlen, buf, &outlen), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(join_into(REC, rlen, "x", 1, 0, buf, &outlen), MAILOTP_ERR_INVALID);
        /* at the slot's payload size, as the store joins */
        memset(st, 'x', SLOTS_PAYLOAD_MAX);
        ck_assert_int_eq(
            join_into(REC, rlen, st, SLOTS_PAYLOAD_MAX - rlen, SLOTS_PAYLOAD_MAX, buf, &outlen),
            MAILOTP_OK);
        ck_assert_uint_eq(outlen, SLOTS_PAYLOAD_MAX);
        ck_assert_int_eq(
            join_into(REC, rlen, st, SLOTS_PAYLOAD_MAX - rlen + 1, SLOTS_PAYLOAD_MAX, buf, &outlen),
            MAILOTP_ERR_INVALID);
        free(st);
}
END_TEST

START_TEST(join_record_part_must_end_with_end)
{
        static const char *const bad[] = {
            "version = 1\n",         /* no end line */
            "version = 1\nend",      /* end without its newline */
            "version = 1\nend\nx\n", /* more after the first end line: that is state */
            "end\nend\n",            /* the same with a second end line */
            "version = 1\n end\n",   /* not an end line */
            "version = 1\nendx\n",   /* not an end line */
            "version = 1\nend\r\n",  /* not an end line */
        };
        unsigned char buf[256];
        size_t outlen;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(join_into(bad[i], strlen(bad[i]), STATE, strlen(STATE), 190, buf,
                                        &outlen) == MAILOTP_ERR_INVALID,
                              "record part %zu accepted", i);
        /* an empty record part, even with a state */
        ck_assert_int_eq(join_into("", 0, STATE, strlen(STATE), 190, buf, &outlen),
                         MAILOTP_ERR_INVALID);
        ck_assert_int_eq(join_into("", 0, NULL, 0, 190, buf, &outlen), MAILOTP_ERR_INVALID);
}
END_TEST

START_TEST(join_nul_bytes_refused)
{
        static const char rec_nul[] = "version = 1\n\0\nend\n";
        static const char st_nul[] = "failures = 0\0\nend\n";
        unsigned char buf[256];
        size_t outlen;

        ck_assert_int_eq(join_into(rec_nul, sizeof(rec_nul) - 1, NULL, 0, 190, buf, &outlen),
                         MAILOTP_ERR_INVALID);
        ck_assert_int_eq(join_into(REC, strlen(REC), st_nul, sizeof(st_nul) - 1, 190, buf, &outlen),
                         MAILOTP_ERR_INVALID);
        /* a NUL as the state's first or last byte */
        ck_assert_int_eq(join_into(REC, strlen(REC), "\0x", 2, 190, buf, &outlen),
                         MAILOTP_ERR_INVALID);
        ck_assert_int_eq(join_into(REC, strlen(REC), "x\0", 2, 190, buf, &outlen),
                         MAILOTP_ERR_INVALID);
        /* a state of length 0 is not looked at */
        ck_assert_int_eq(join_into(REC, strlen(REC), "\0", 0, 190, buf, &outlen), MAILOTP_OK);
}
END_TEST

/* The state part is not checked for an end line: the state parser refuses a cut one. */
START_TEST(join_state_taken_as_is)
{
        unsigned char buf[256];
        size_t outlen, reclen;

        ck_assert_int_eq(join_into(REC, strlen(REC), "failures = 1\n", 13, 190, buf, &outlen),
                         MAILOTP_OK);
        ck_assert_uint_eq(outlen, strlen(REC) + 13);
        ck_assert_int_eq(split_n((const char *)buf, outlen, &reclen), 0);
        ck_assert_uint_eq(reclen, strlen(REC));
}
END_TEST

/* ---- userfile_is_moved ------------------------------------------------------------------ */

/* What records/KEY holds once its user moved, spelt out here independently of userfile.h. */
static const char moved_text[] =
    "# pam_mailotp: this user's record moved to users/ (pam_mailotp 0.3.0 or later)\n"
    "version = 2\n"
    "end\n";

START_TEST(moved_note)
{
        char buf[sizeof(moved_text) + 1];
        const size_t len = sizeof(moved_text) - 1;
        struct otp_record r;
        char err[128];
        size_t reclen;

        ck_assert_uint_eq(sizeof(USERFILE_MOVED), sizeof(moved_text));
        ck_assert_str_eq(USERFILE_MOVED, moved_text);
        ck_assert_int_eq(userfile_is_moved(moved_text, len), 1);
        ck_assert_int_eq(userfile_is_moved(moved_text, len - 1), 0);
        ck_assert_int_eq(userfile_is_moved(moved_text, 0), 0);
        memcpy(buf, moved_text, sizeof(moved_text));
        buf[len] = '\n';
        ck_assert_int_eq(userfile_is_moved(buf, len + 1), 0);
        for (size_t i = 0; i < len; i += 7) {
                memcpy(buf, moved_text, sizeof(moved_text));
                buf[i] ^= 0x01;
                ck_assert_msg(userfile_is_moved(buf, len) == 0, "byte %zu changed", i);
        }
        /* a 0.2.0 reader refuses it (a record of an unknown version), never "no record" */
        ck_assert_int_eq(record_parse(moved_text, len, &r, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        /* it has the shape of a record part */
        ck_assert_int_eq(split_n(moved_text, len, &reclen), 0);
        ck_assert_uint_eq(reclen, len);
}
END_TEST

static Suite *userfile_suite(void)
{
        Suite *s = suite_create("userfile");
        TCase *tc;

        tc = tcase_create("split");
        tcase_add_test(tc, split_record_then_state);
        tcase_add_test(tc, split_end_line_at_start);
        tcase_add_test(tc, split_end_not_a_line);
        tcase_add_test(tc, split_empty_and_null);
        tcase_add_test(tc, split_nul_anywhere);
        suite_add_tcase(s, tc);

        tc = tcase_create("join");
        tcase_add_test(tc, join_record_and_state);
        tcase_add_test(tc, join_overflow_boundaries);
        tcase_add_test(tc, join_record_part_must_end_with_end);
        tcase_add_test(tc, join_nul_bytes_refused);
        tcase_add_test(tc, join_state_taken_as_is);
        suite_add_tcase(s, tc);

        tc = tcase_create("moved");
        tcase_add_test(tc, moved_note);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(userfile_suite());
}
