/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * record.c: the strict record and state formats.  A truncated or tampered
 * file must never be read as something else.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "kv.h"
#include "record.h"
#include "testutil.h"

#define SECRET "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

/* The content lines; a stored file is the content followed by the line "end". */
#define ENABLED_BODY                                                                               \
        "version = 1\n"                                                                            \
        "status = enabled\n"                                                                       \
        "secret = " SECRET "\n"                                                                    \
        "digits = 6\n"                                                                             \
        "period = 30\n"                                                                            \
        "created = 1700000000\n"                                                                   \
        "enabled = 1700000100\n"
#define PENDING_BODY                                                                               \
        "version = 1\n"                                                                            \
        "status = pending\n"                                                                       \
        "secret = " SECRET "\n"                                                                    \
        "digits = 8\n"                                                                             \
        "period = 30\n"                                                                            \
        "created = 1700000000\n"

static const char enabled_text[] = ENABLED_BODY "end\n";
static const char pending_text[] = PENDING_BODY "end\n";

static char err[256];

static enum mailotp_rc parse(const char *text, struct otp_record *r)
{
        err[0] = '\0';
        return record_parse(text, strlen(text), r, err, sizeof(err));
}

static enum mailotp_rc sparse(const char *text, struct otp_state *s)
{
        err[0] = '\0';
        return state_parse(text, strlen(text), s, err, sizeof(err));
}

static void assert_wiped(const struct otp_record *r)
{
        static const struct otp_record zero;

        ck_assert_msg(memcmp(r, &zero, sizeof(zero)) == 0, "record not wiped on failure");
}

static void fill_record(struct otp_record *r, enum otp_status st)
{
        memset(r, 0, sizeof(*r));
        r->status = st;
        memcpy(r->secret, SECRET, sizeof(SECRET));
        r->digits = 6;
        r->period = 30;
        r->created = 1700000000;
        r->enabled = st == OTP_STATUS_ENABLED ? 1700000100 : 0;
}

static int record_equal(const struct otp_record *a, const struct otp_record *b)
{
        return a->status == b->status && strcmp(a->secret, b->secret) == 0 &&
               a->digits == b->digits && a->period == b->period && a->created == b->created &&
               a->enabled == b->enabled;
}

static int state_equal(const struct otp_state *a, const struct otp_state *b)
{
        return a->has_last_step == b->has_last_step && a->last_step == b->last_step &&
               a->failures == b->failures && a->locked_until == b->locked_until &&
               a->last_failure == b->last_failure && a->last_success == b->last_success &&
               a->grace_until == b->grace_until && memcmp(a->grace, b->grace, MAC_LEN) == 0;
}

/* Replace the first occurrence of `from` in the enabled record by `to`. */
static void edited(char *out, size_t outsz, const char *base, const char *from, const char *to)
{
        const char *p = strstr(base, from);
        int n;

        ck_assert_ptr_nonnull(p);
        n = snprintf(out, outsz, "%.*s%s%s", (int)(p - base), base, to, p + strlen(from));
        ck_assert(n > 0 && (size_t)n < outsz);
}

/* out = body + "end\n" */
static void with_end(char *out, size_t outsz, const char *body)
{
        int n = snprintf(out, outsz, "%s%s", body, KV_END_LINE);

        ck_assert(n > 0 && (size_t)n < outsz);
}

static void assert_edit_refused(const char *from, const char *to)
{
        char buf[512];
        struct otp_record r;

        edited(buf, sizeof(buf), enabled_text, from, to);
        ck_assert_msg(parse(buf, &r) == MAILOTP_ERR_FORMAT, "accepted:\n%s", buf);
        ck_assert_str_ne(err, "");
        assert_wiped(&r);
}

/* ---- record_parse: good ---------------------------------------------------- */

START_TEST(parse_enabled)
{
        struct otp_record r;

        ck_assert_msg(parse(enabled_text, &r) == MAILOTP_OK, "%s", err);
        ck_assert_int_eq(r.status, OTP_STATUS_ENABLED);
        ck_assert_str_eq(r.secret, SECRET);
        ck_assert_uint_eq(r.digits, 6);
        ck_assert_uint_eq(r.period, 30);
        ck_assert_int_eq(r.created, 1700000000);
        ck_assert_int_eq(r.enabled, 1700000100);
}
END_TEST

START_TEST(parse_pending)
{
        struct otp_record r;

        ck_assert_msg(parse(pending_text, &r) == MAILOTP_OK, "%s", err);
        ck_assert_int_eq(r.status, OTP_STATUS_PENDING);
        ck_assert_uint_eq(r.digits, 8);
        ck_assert_int_eq(r.enabled, 0);
}
END_TEST

START_TEST(parse_comments_crlf_any_order)
{
        struct otp_record r;
        static const char text[] = "# pam_mailotp user record\r\n"
                                   "version=1\r\n"
                                   "\r\n"
                                   "created = 5\r\n"
                                   "  digits\t=\t7\r\n"
                                   "secret = " SECRET "\r\n"
                                   "enabled = 6\r\n"
                                   "period = 30\r\n"
                                   "status = enabled\r\n"
                                   "end\n";

        ck_assert_msg(parse(text, &r) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(r.digits, 7);
        ck_assert_int_eq(r.created, 5);
        ck_assert_int_eq(r.enabled, 6);
}
END_TEST

START_TEST(parse_secret_lengths)
{
        char buf[512];
        struct otp_record r;
        char s104[105];

        edited(buf, sizeof(buf), enabled_text, SECRET, "GEZDGNBVGY3TQOJQ"); /* 16: shortest */
        ck_assert_int_eq(parse(buf, &r), MAILOTP_OK);
        ck_assert_str_eq(r.secret, "GEZDGNBVGY3TQOJQ");
        memset(s104, 'A', 104);
        s104[104] = '\0';
        edited(buf, sizeof(buf), enabled_text, SECRET, s104); /* 104: longest */
        ck_assert_int_eq(parse(buf, &r), MAILOTP_OK);
        ck_assert_uint_eq(strlen(r.secret), 104);
        edited(buf, sizeof(buf), enabled_text, SECRET, "IFBEGRCFIZDUQSI="); /* padding */
        ck_assert_int_eq(parse(buf, &r), MAILOTP_OK);
}
END_TEST

START_TEST(parse_time_bounds)
{
        char buf[512];
        struct otp_record r;

        edited(buf, sizeof(buf), enabled_text, "created = 1700000000", "created = 0");
        ck_assert_int_eq(parse(buf, &r), MAILOTP_OK);
        ck_assert_int_eq(r.created, 0);
        edited(buf, sizeof(buf), enabled_text, "created = 1700000000", "created = 253402300799");
        ck_assert_int_eq(parse(buf, &r), MAILOTP_OK);
        ck_assert_int_eq(r.created, 253402300799);
}
END_TEST

/* ---- record_parse: refused ---------------------------------------------------- */

static const char *const enabled_lines[] = {
    "version = 1\n", "status = enabled\n",     "secret = " SECRET "\n",  "digits = 6\n",
    "period = 30\n", "created = 1700000000\n", "enabled = 1700000100\n",
};

START_TEST(missing_each_key)
{
        char buf[512];
        struct otp_record r;

        buf[0] = '\0';
        for (int i = 0; i < 7; i++) {
                if (i != _i)
                        strcat(buf, enabled_lines[i]);
        }
        strcat(buf, KV_END_LINE);
        ck_assert_msg(parse(buf, &r) == MAILOTP_ERR_FORMAT, "accepted without line %d", _i);
        assert_wiped(&r);
}
END_TEST

START_TEST(unknown_key)
{
        char buf[512];
        struct otp_record r;

        with_end(buf, sizeof(buf), ENABLED_BODY "issuer = x\n");
        ck_assert_int_eq(parse(buf, &r), MAILOTP_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(err, "line 8"));
        assert_edit_refused("digits = 6\n", "digits = 6\ncolour = blue\n");
        assert_edit_refused("digits = 6\n", "digits = 6\nbare\n");
}
END_TEST

START_TEST(repeated_key)
{
        char buf[512];
        struct otp_record r;

        for (int i = 0; i < 7; i++) {
                snprintf(buf, sizeof(buf), "%s%send\n", ENABLED_BODY, enabled_lines[i]);
                ck_assert_msg(parse(buf, &r) == MAILOTP_ERR_FORMAT, "repeat of line %d", i);
                assert_wiped(&r);
        }
        assert_edit_refused("digits = 6\n", "digits = 6\ndigits = 6\n");
}
END_TEST

START_TEST(version_not_first)
{
        struct otp_record r;
        static const char text[] = "status = enabled\n"
                                   "version = 1\n"
                                   "secret = " SECRET "\n"
                                   "digits = 6\nperiod = 30\ncreated = 1\nenabled = 2\nend\n";

        ck_assert_int_eq(parse(text, &r), MAILOTP_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(err, "version"));
        assert_wiped(&r);
}
END_TEST

START_TEST(bad_versions)
{
        assert_edit_refused("version = 1", "version = 2");
        assert_edit_refused("version = 1", "version = 0");
        assert_edit_refused("version = 1", "version = 01x");
        assert_edit_refused("version = 1", "version");
        assert_edit_refused("version = 1", "version =");
}
END_TEST

START_TEST(bad_status)
{
        assert_edit_refused("status = enabled", "status = disabled");
        assert_edit_refused("status = enabled", "status = Enabled");
        assert_edit_refused("status = enabled", "status = enabled2");
        assert_edit_refused("status = enabled", "status");
        assert_edit_refused("status = enabled", "status =");
}
END_TEST

START_TEST(bad_secret)
{
        char s105[106];

        assert_edit_refused(SECRET, "gezdgnbvgy3tqojqgezdgnbvgy3tqojq"); /* lower case */
        assert_edit_refused(SECRET, "GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ"); /* '1' */
        assert_edit_refused(SECRET, "GEZDGNBVGY3TQOJ8GEZDGNBVGY3TQOJQ"); /* '8' */
        assert_edit_refused(SECRET, "GEZDGNBVGY3TQOJQ GEZDGNBVGY3TQOJQ");
        assert_edit_refused(SECRET, "GEZDGNBVGY3TQOJ"); /* 15 chars */
        assert_edit_refused("secret = " SECRET, "secret =");
        assert_edit_refused("secret = " SECRET, "secret");
        memset(s105, 'A', 105);
        s105[105] = '\0';
        assert_edit_refused(SECRET, s105);
}
END_TEST

START_TEST(bad_digits)
{
        assert_edit_refused("digits = 6", "digits = 5");
        assert_edit_refused("digits = 6", "digits = 9");
        assert_edit_refused("digits = 6", "digits = -6");
        assert_edit_refused("digits = 6", "digits = six");
        assert_edit_refused("digits = 6", "digits");
}
END_TEST

START_TEST(bad_period)
{
        assert_edit_refused("period = 30", "period = 60");
        assert_edit_refused("period = 30", "period = 29");
        assert_edit_refused("period = 30", "period = 0");
        assert_edit_refused("period = 30", "period = 030x");
}
END_TEST

START_TEST(bad_times)
{
        assert_edit_refused("created = 1700000000", "created = -1");
        assert_edit_refused("created = 1700000000", "created = 253402300800");
        assert_edit_refused("created = 1700000000", "created = 18446744073709551616");
        assert_edit_refused("enabled = 1700000100", "enabled = soon");
        assert_edit_refused("enabled = 1700000100", "enabled");
}
END_TEST

START_TEST(enabled_key_must_match_status)
{
        char buf[512];
        struct otp_record r;

        /* pending with an enabled time */
        with_end(buf, sizeof(buf), PENDING_BODY "enabled = 1700000100\n");
        ck_assert_int_eq(parse(buf, &r), MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
        /* enabled without one */
        edited(buf, sizeof(buf), enabled_text, "enabled = 1700000100\n", "");
        ck_assert_int_eq(parse(buf, &r), MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
}
END_TEST

START_TEST(garbage)
{
        static const char *const junk[] = {
            "",
            "\n\n\n",
            "# only a comment\n",
            "hello world\n",
            "version = 1\n",
            "<?xml version=\"1.0\"?>\n",
            "{\"version\": 1}\n",
            "version: 1\nstatus: enabled\n",
        };
        struct otp_record r;
        char buf[256];

        for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
                ck_assert_msg(parse(junk[i], &r) == MAILOTP_ERR_FORMAT, "accepted junk %zu", i);
                assert_wiped(&r);
                /* and with a proper end line: refused for its content */
                with_end(buf, sizeof(buf), junk[i]);
                ck_assert_msg(parse(buf, &r) == MAILOTP_ERR_FORMAT, "accepted junk %zu + end", i);
                ck_assert_ptr_null(strstr(err, "cut short"));
                assert_wiped(&r);
        }
}
END_TEST

START_TEST(binary_garbage)
{
        char buf[256];
        struct otp_record r;

        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (char)(i * 37 + 11);
        ck_assert_int_eq(record_parse(buf, sizeof(buf), &r, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
        /* with a proper end line it is still garbage */
        memcpy(buf + sizeof(buf) - 5, "\nend\n", 5);
        ck_assert_int_eq(record_parse(buf, sizeof(buf), &r, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        ck_assert_ptr_null(strstr(err, "cut short"));
        assert_wiped(&r);
}
END_TEST

START_TEST(nul_byte_inside)
{
        char buf[512];
        struct otp_record r;
        size_t n = strlen(enabled_text);

        memcpy(buf, enabled_text, n);
        buf[20] = '\0';
        ck_assert_int_eq(record_parse(buf, n, &r, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
}
END_TEST

START_TEST(failure_wipes_previous_content)
{
        struct otp_record r;

        fill_record(&r, OTP_STATUS_ENABLED);
        ck_assert_int_eq(parse("version = 2\nend\n", &r), MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
        fill_record(&r, OTP_STATUS_ENABLED);
        ck_assert_int_eq(parse(ENABLED_BODY, &r), MAILOTP_ERR_FORMAT); /* no end line */
        assert_wiped(&r);
}
END_TEST

/*
 * Truncation at every byte offset: the result must be FORMAT or exactly the
 * full record.  With the "end" line no strict prefix is a complete file, so
 * every cut must be FORMAT (this was the truncation bug: "created =
 * 1700000000" cut to "created = 17" used to parse).
 */
START_TEST(truncation_every_offset)
{
        const char *text = _i == 0 ? enabled_text : pending_text;
        size_t n = strlen(text);
        struct otp_record full, r;

        ck_assert_int_eq(record_parse(text, n, &full, err, sizeof(err)), MAILOTP_OK);
        for (size_t len = 0; len < n; len++) {
                enum mailotp_rc rc = record_parse(text, len, &r, err, sizeof(err));

                ck_assert_msg(rc == MAILOTP_ERR_FORMAT ||
                                  (rc == MAILOTP_OK && record_equal(&r, &full)),
                              "%s record cut at %zu/%zu parsed as OK with different content "
                              "(created %lld, enabled %lld)",
                              _i == 0 ? "enabled" : "pending", len, n, (long long)r.created,
                              (long long)r.enabled);
                ck_assert_msg(rc == MAILOTP_ERR_FORMAT, "strict prefix of %zu/%zu accepted", len,
                              n);
                assert_wiped(&r);
        }
}
END_TEST

/* A file cut at a line boundary (a whole line lost, or the end line) is refused. */
START_TEST(truncation_at_line_boundaries)
{
        const char *text = _i == 0 ? enabled_text : pending_text;
        struct otp_record r;

        for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++) {
                size_t len = (size_t)(p + 1 - text);

                if (len == strlen(text))
                        break;
                ck_assert_msg(record_parse(text, len, &r, err, sizeof(err)) == MAILOTP_ERR_FORMAT,
                              "cut after line ending at %zu accepted", len);
                ck_assert_ptr_nonnull(strstr(err, "cut short"));
        }
}
END_TEST

/* ---- the end line ------------------------------------------------------------- */

START_TEST(end_missing)
{
        struct otp_record r;

        fill_record(&r, OTP_STATUS_ENABLED);
        ck_assert_int_eq(parse(ENABLED_BODY, &r), MAILOTP_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(err, "end"));
        assert_wiped(&r);
        ck_assert_int_eq(parse(PENDING_BODY, &r), MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
}
END_TEST

START_TEST(end_not_last)
{
        struct otp_record r;

        /* "end" in the middle, nothing at the end */
        ck_assert_int_eq(parse("version = 1\nstatus = enabled\nend\nsecret = " SECRET
                               "\ndigits = 6\nperiod = 30\ncreated = 1700000000\n"
                               "enabled = 1700000100\n",
                               &r),
                         MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
        /* "end" in the middle and at the end: the inner one is an unknown bare key */
        ck_assert_int_eq(parse("version = 1\nstatus = enabled\nend\nsecret = " SECRET
                               "\ndigits = 6\nperiod = 30\ncreated = 1700000000\n"
                               "enabled = 1700000100\nend\n",
                               &r),
                         MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
        /* twice at the end */
        ck_assert_int_eq(parse(ENABLED_BODY "end\nend\n", &r), MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
}
END_TEST

START_TEST(end_without_newline)
{
        struct otp_record r;

        ck_assert_int_eq(parse(ENABLED_BODY "end", &r), MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
        ck_assert_int_eq(parse(ENABLED_BODY "end\r\n", &r), MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
        ck_assert_int_eq(parse(ENABLED_BODY "end ", &r), MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
}
END_TEST

START_TEST(end_content_after)
{
        static const char *const tails[] = {"\n", "# comment\n", "x", "enabled = 1\n", " ", "\t\n"};
        struct otp_record r;
        char buf[512];

        for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
                snprintf(buf, sizeof(buf), "%s%s", enabled_text, tails[i]);
                ck_assert_msg(parse(buf, &r) == MAILOTP_ERR_FORMAT, "tail %zu accepted", i);
                assert_wiped(&r);
        }
}
END_TEST

START_TEST(end_line_alone)
{
        struct otp_record r;

        ck_assert_int_eq(parse("end\n", &r), MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
        ck_assert_int_eq(parse("# comment\nend\n", &r), MAILOTP_ERR_FORMAT);
        assert_wiped(&r);
}
END_TEST

/* ---- record_format ------------------------------------------------------------ */

START_TEST(format_exact_text)
{
        struct otp_record r;
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;

        fill_record(&r, OTP_STATUS_ENABLED);
        ck_assert_int_eq(record_format(&r, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_uint_eq(len, strlen(buf));
        ck_assert_str_eq(buf, "# pam_mailotp user record: do not edit, use mailotp(1)\n"
                              "version = 1\nstatus = enabled\nsecret = " SECRET "\n"
                              "digits = 6\nperiod = 30\ncreated = 1700000000\n"
                              "enabled = 1700000100\nend\n");
}
END_TEST

START_TEST(format_round_trip)
{
        struct otp_record r, back;
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;

        fill_record(&r, _i == 0 ? OTP_STATUS_ENABLED : OTP_STATUS_PENDING);
        r.digits = 7;
        ck_assert_int_eq(record_format(&r, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_msg(record_parse(buf, len, &back, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert(record_equal(&r, &back));
        if (_i == 1)
                ck_assert_ptr_null(strstr(buf, "enabled ="));
        /* the writer ends every record with the end line */
        ck_assert_uint_ge(len, 5);
        ck_assert_str_eq(buf + len - 5, "\nend\n");
}
END_TEST

START_TEST(format_round_trip_long_secret)
{
        struct otp_record r, back;
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;

        fill_record(&r, OTP_STATUS_ENABLED);
        memset(r.secret, 'Z', TOTP_SECRET_B32_MAX);
        r.secret[TOTP_SECRET_B32_MAX] = '\0';
        r.created = 253402300799;
        r.enabled = 253402300799;
        ck_assert_int_eq(record_format(&r, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_int_eq(record_parse(buf, len, &back, err, sizeof(err)), MAILOTP_OK);
        ck_assert(record_equal(&r, &back));
}
END_TEST

START_TEST(format_refuses_inconsistent)
{
        struct otp_record r;
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;

        fill_record(&r, OTP_STATUS_ENABLED);
        r.status = (enum otp_status)0;
        ck_assert_int_eq(record_format(&r, buf, sizeof(buf), &len), MAILOTP_ERR_INVALID);
        fill_record(&r, OTP_STATUS_ENABLED);
        r.status = (enum otp_status)3;
        ck_assert_int_eq(record_format(&r, buf, sizeof(buf), &len), MAILOTP_ERR_INVALID);
        fill_record(&r, OTP_STATUS_ENABLED);
        r.secret[0] = '\0';
        ck_assert_int_eq(record_format(&r, buf, sizeof(buf), &len), MAILOTP_ERR_INVALID);
        fill_record(&r, OTP_STATUS_ENABLED);
        r.digits = 5;
        ck_assert_int_eq(record_format(&r, buf, sizeof(buf), &len), MAILOTP_ERR_INVALID);
        r.digits = 9;
        ck_assert_int_eq(record_format(&r, buf, sizeof(buf), &len), MAILOTP_ERR_INVALID);
        fill_record(&r, OTP_STATUS_ENABLED);
        r.period = 60;
        ck_assert_int_eq(record_format(&r, buf, sizeof(buf), &len), MAILOTP_ERR_INVALID);
        fill_record(&r, OTP_STATUS_ENABLED);
        r.created = -1;
        ck_assert_int_eq(record_format(&r, buf, sizeof(buf), &len), MAILOTP_ERR_INVALID);
        fill_record(&r, OTP_STATUS_ENABLED);
        r.enabled = -1;
        ck_assert_int_eq(record_format(&r, buf, sizeof(buf), &len), MAILOTP_ERR_INVALID);
}
END_TEST

START_TEST(format_small_buffer_zeroed)
{
        struct otp_record r;
        char buf[RECORD_MAX_SIZE];
        size_t len = 0, full = 0;

        fill_record(&r, OTP_STATUS_ENABLED);
        ck_assert_int_eq(record_format(&r, buf, sizeof(buf), &full), MAILOTP_OK);
        /* one byte short of the text + NUL, and a cut inside the secret */
        for (size_t sz = full; sz > 0; sz -= (sz > 100 ? 37 : 1)) {
                memset(buf, 'X', sizeof(buf));
                ck_assert_msg(record_format(&r, buf, sz, &len) == MAILOTP_ERR_INVALID,
                              "fit in %zu bytes", sz);
                for (size_t i = 0; i < sz; i++)
                        ck_assert_msg(buf[i] == '\0', "size %zu: byte %zu not zeroed", sz, i);
                ck_assert_int_eq(buf[sz], 'X');
        }
        ck_assert_int_eq(record_format(&r, buf, full + 1, &len), MAILOTP_OK);
        ck_assert_uint_eq(len, full);
}
END_TEST

START_TEST(status_names)
{
        ck_assert_str_eq(record_status_name(OTP_STATUS_PENDING), "pending");
        ck_assert_str_eq(record_status_name(OTP_STATUS_ENABLED), "enabled");
}
END_TEST

START_TEST(wipe_zeroes)
{
        struct otp_record r;

        fill_record(&r, OTP_STATUS_ENABLED);
        record_wipe(&r);
        assert_wiped(&r);
}
END_TEST

/* ---- state ---------------------------------------------------------------------- */

static void fill_state(struct otp_state *s, int with_last)
{
        state_init(s);
        s->has_last_step = with_last;
        s->last_step = with_last ? 56666666 : 0;
        s->failures = 4;
        s->locked_until = 1700000900;
        s->last_failure = 1700000840;
        s->last_success = 1699999999;
}

START_TEST(state_init_is_empty)
{
        struct otp_state s;

        memset(&s, 0xA5, sizeof(s));
        state_init(&s);
        ck_assert_int_eq(s.has_last_step, 0);
        ck_assert_uint_eq(s.last_step, 0);
        ck_assert_uint_eq(s.failures, 0);
        ck_assert_int_eq(s.locked_until, 0);
        ck_assert_int_eq(s.last_failure, 0);
        ck_assert_int_eq(s.last_success, 0);
}
END_TEST

START_TEST(state_round_trip)
{
        struct otp_state s, back;
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;

        fill_state(&s, _i);
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_uint_eq(len, strlen(buf));
        ck_assert_msg(state_parse(buf, len, &back, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert(state_equal(&s, &back));
        if (_i == 0)
                ck_assert_ptr_null(strstr(buf, "last_step"));
        else
                ck_assert_ptr_nonnull(strstr(buf, "last_step = 56666666\n"));
}
END_TEST

START_TEST(state_round_trip_step_zero)
{
        struct otp_state s, back;
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;

        state_init(&s);
        s.has_last_step = 1; /* step 0 used: different from "no step used" */
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_int_eq(state_parse(buf, len, &back, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(back.has_last_step, 1);
        ck_assert_uint_eq(back.last_step, 0);
}
END_TEST

START_TEST(state_exact_text)
{
        struct otp_state s;
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;

        fill_state(&s, 1);
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_str_eq(buf, "# pam_mailotp user state: do not edit\nversion = 1\n"
                              "last_step = 56666666\nfailures = 4\nlocked_until = 1700000900\n"
                              "last_failure = 1700000840\nlast_success = 1699999999\nend\n");
}
END_TEST

START_TEST(state_minimal)
{
        struct otp_state s;

        ck_assert_int_eq(sparse("version = 1\nfailures = 0\nlocked_until = 0\nend\n", &s),
                         MAILOTP_OK);
        ck_assert_int_eq(s.has_last_step, 0);
        ck_assert_uint_eq(s.failures, 0);
}
END_TEST

START_TEST(state_refused)
{
        static const char *const bad[] = {
            "",
            "version = 1\n",
            "version = 1\nfailures = 0\n",     /* locked_until missing */
            "version = 1\nlocked_until = 0\n", /* failures missing */
            "failures = 0\nversion = 1\nlocked_until = 0\n",
            "version = 2\nfailures = 0\nlocked_until = 0\n",
            "version = 1\nfailures = 0\nlocked_until = 0\nfailures = 0\n",
            "version = 1\nfailures = 0\nlocked_until = 0\nversion = 1\n",
            "version = 1\nfailures = 0\nlocked_until = 0\ncolour = 1\n",
            "version = 1\nfailures = 1000001\nlocked_until = 0\n",
            "version = 1\nfailures = -1\nlocked_until = 0\n",
            "version = 1\nfailures = 0\nlocked_until = 253402300800\n",
            "version = 1\nlast_step = 253402300800\nfailures = 0\nlocked_until = 0\n",
            "version = 1\nlast_step\nfailures = 0\nlocked_until = 0\n",
            "version = 1\nlast_step = x\nfailures = 0\nlocked_until = 0\n",
            "version = 1\nfailures = 0\nlocked_until = 0\nlast_success = 1.5\n",
            "Version = 1\nfailures = 0\nlocked_until = 0\n",
        };
        struct otp_state s;
        char buf[512];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memset(&s, 0xA5, sizeof(s));
                /* each with its end line: refused for what it says */
                with_end(buf, sizeof(buf), bad[i]);
                ck_assert_msg(sparse(buf, &s) == MAILOTP_ERR_FORMAT, "accepted state %zu", i);
                ck_assert_str_ne(err, "");
                ck_assert_ptr_null(strstr(err, "cut short"));
                ck_assert_int_eq(s.has_last_step, 0); /* reset on failure */
                ck_assert_uint_eq(s.failures, 0);
                ck_assert_int_eq(s.locked_until, 0);
        }
}
END_TEST

START_TEST(state_failures_max)
{
        struct otp_state s;

        ck_assert_int_eq(sparse("version = 1\nfailures = 1000000\nlocked_until = 0\nend\n", &s),
                         MAILOTP_OK);
        ck_assert_uint_eq(s.failures, 1000000);
}
END_TEST

START_TEST(state_format_small_buffer)
{
        struct otp_state s;
        char buf[RECORD_MAX_SIZE];
        size_t len = 0, full = 0;

        fill_state(&s, 1);
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf), &full), MAILOTP_OK);
        for (size_t sz = 0; sz <= full; sz++)
                ck_assert_msg(state_format(&s, buf, sz, &len) == MAILOTP_ERR_INVALID,
                              "fit in %zu bytes", sz);
        ck_assert_int_eq(state_format(&s, buf, full + 1, &len), MAILOTP_OK);
}
END_TEST

/*
 * A state cut at any offset is FORMAT (or, never with the end line, the full
 * state).  Before the end line a cut inside "locked_until = 1700000900" read
 * as locked_until = 17 and lifted a lockout; a cut at a line boundary lost
 * last_failure / last_success or the grace lines.
 */
START_TEST(state_truncation_every_offset)
{
        struct otp_state s, full, r;
        char buf[RECORD_MAX_SIZE];
        size_t n = 0;

        fill_state(&s, _i & 1);
        if (_i & 2) {
                s.grace_until = 1700000960;
                memset(s.grace, 0x5c, sizeof(s.grace));
        }
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf), &n), MAILOTP_OK);
        ck_assert_int_eq(state_parse(buf, n, &full, err, sizeof(err)), MAILOTP_OK);
        ck_assert(state_equal(&s, &full));
        for (size_t len = 0; len < n; len++) {
                enum mailotp_rc rc = state_parse(buf, len, &r, err, sizeof(err));

                ck_assert_msg(rc == MAILOTP_ERR_FORMAT ||
                                  (rc == MAILOTP_OK && state_equal(&r, &full)),
                              "state cut at %zu/%zu parsed as OK with different content "
                              "(locked_until %lld, last_failure %lld, last_success %lld)",
                              len, n, (long long)r.locked_until, (long long)r.last_failure,
                              (long long)r.last_success);
                ck_assert_msg(rc == MAILOTP_ERR_FORMAT, "strict prefix of %zu/%zu accepted", len,
                              n);
                ck_assert_int_eq(r.has_last_step, 0); /* reset on failure */
                ck_assert_int_eq(r.locked_until, 0);
                ck_assert_int_eq(r.grace_until, 0);
        }
}
END_TEST

START_TEST(state_end_line_rules)
{
        static const char body[] = "version = 1\nlast_step = 5\nfailures = 2\n"
                                   "locked_until = 1700000900\n";
        struct otp_state s;
        char buf[512];

        snprintf(buf, sizeof(buf), "%send\n", body);
        ck_assert_msg(sparse(buf, &s) == MAILOTP_OK, "%s", err);
        ck_assert_int_eq(s.locked_until, 1700000900);
        /* missing */
        ck_assert_int_eq(sparse(body, &s), MAILOTP_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(err, "cut short"));
        ck_assert_int_eq(s.locked_until, 0);
        /* without newline */
        snprintf(buf, sizeof(buf), "%send", body);
        ck_assert_int_eq(sparse(buf, &s), MAILOTP_ERR_FORMAT);
        /* not last */
        ck_assert_int_eq(sparse("version = 1\nend\nfailures = 2\nlocked_until = 0\n", &s),
                         MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(sparse("version = 1\nend\nfailures = 2\nlocked_until = 0\nend\n", &s),
                         MAILOTP_ERR_FORMAT);
        /* content after it */
        snprintf(buf, sizeof(buf), "%send\nlast_success = 1\n", body);
        ck_assert_int_eq(sparse(buf, &s), MAILOTP_ERR_FORMAT);
        snprintf(buf, sizeof(buf), "%send\n\n", body);
        ck_assert_int_eq(sparse(buf, &s), MAILOTP_ERR_FORMAT);
        snprintf(buf, sizeof(buf), "%send\nend\n", body);
        ck_assert_int_eq(sparse(buf, &s), MAILOTP_ERR_FORMAT);
        /* alone */
        ck_assert_int_eq(sparse("end\n", &s), MAILOTP_ERR_FORMAT);
}
END_TEST

/* ---- reuse-grace fields of the state ------------------------------------------- */

START_TEST(state_grace_round_trip)
{
        struct otp_state s, back;
        char buf[RECORD_MAX_SIZE], hex[2 * MAC_LEN + 1], line[160];
        size_t len = 0;

        fill_state(&s, 1);
        s.grace_until = 1700000960;
        for (unsigned i = 0; i < MAC_LEN; i++)
                s.grace[i] = (unsigned char)(0xF0 ^ (i * 7));
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf), &len), MAILOTP_OK);
        tu_hex(s.grace, MAC_LEN, hex);
        snprintf(line, sizeof(line), "grace_until = 1700000960\ngrace = %s\nend\n", hex);
        ck_assert_msg(strstr(buf, line) != NULL, "no grace lines in:\n%s", buf);
        ck_assert_msg(state_parse(buf, len, &back, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert(state_equal(&s, &back));
        ck_assert_int_eq(back.grace_until, 1700000960);
        ck_assert_mem_eq(back.grace, s.grace, MAC_LEN);
}
END_TEST

START_TEST(state_no_grace_written_when_off)
{
        struct otp_state s, back;
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;
        static const unsigned char zero[MAC_LEN];

        fill_state(&s, 1);
        ck_assert_int_eq(state_format(&s, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_ptr_null(strstr(buf, "grace"));
        ck_assert_int_eq(state_parse(buf, len, &back, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(back.grace_until, 0);
        ck_assert_mem_eq(back.grace, zero, MAC_LEN);
}
END_TEST

#define GHEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

START_TEST(state_grace_refused)
{
        char buf[512];
        struct otp_state s;
        static const char *const bad[] = {
            "grace_until = 5\n",                                     /* without grace */
            "grace = " GHEX "\n",                                    /* without grace_until */
            "grace_until = 5\ngrace = " GHEX "\ngrace = " GHEX "\n", /* repeated */
            "grace_until = 5\ngrace_until = 5\ngrace = " GHEX "\n",
            "grace_until = 5\ngrace = 00\n",                  /* short */
            "grace_until = 5\ngrace = " GHEX "00\n",          /* long */
            "grace_until = 5\ngrace\n",                       /* bare */
            "grace_until = x\ngrace = " GHEX "\n",            /* bad time */
            "grace_until = 253402300800\ngrace = " GHEX "\n", /* beyond 9999 */
            ("grace_until = 5\ngrace = 00112233445566778899AABBCCDDEEFF00112233445566778899aabbc"
             "cddeeff\n"), /* upper case */
        };

        /* the good form first, so the refusals below are about their lines */
        snprintf(buf, sizeof(buf),
                 "version = 1\nfailures = 0\nlocked_until = 0\ngrace_until = 5\ngrace = %s\nend\n",
                 GHEX);
        ck_assert_msg(sparse(buf, &s) == MAILOTP_OK, "%s", err);
        ck_assert_int_eq(s.grace_until, 5);
        ck_assert_int_eq(s.grace[1], 0x11);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(buf, sizeof(buf), "version = 1\nfailures = 0\nlocked_until = 0\n%send\n",
                         bad[i]);
                ck_assert_msg(sparse(buf, &s) == MAILOTP_ERR_FORMAT, "accepted grace case %zu", i);
                ck_assert_int_eq(s.grace_until, 0);
        }
}
END_TEST

static Suite *record_suite(void)
{
        Suite *s = suite_create("record");
        TCase *tc;

        tc = tcase_create("record_parse");
        tcase_add_test(tc, parse_enabled);
        tcase_add_test(tc, parse_pending);
        tcase_add_test(tc, parse_comments_crlf_any_order);
        tcase_add_test(tc, parse_secret_lengths);
        tcase_add_test(tc, parse_time_bounds);
        tcase_add_loop_test(tc, missing_each_key, 0, 7);
        tcase_add_test(tc, unknown_key);
        tcase_add_test(tc, repeated_key);
        tcase_add_test(tc, version_not_first);
        tcase_add_test(tc, bad_versions);
        tcase_add_test(tc, bad_status);
        tcase_add_test(tc, bad_secret);
        tcase_add_test(tc, bad_digits);
        tcase_add_test(tc, bad_period);
        tcase_add_test(tc, bad_times);
        tcase_add_test(tc, enabled_key_must_match_status);
        tcase_add_test(tc, garbage);
        tcase_add_test(tc, binary_garbage);
        tcase_add_test(tc, nul_byte_inside);
        tcase_add_test(tc, failure_wipes_previous_content);
        tcase_add_loop_test(tc, truncation_every_offset, 0, 2);
        tcase_add_loop_test(tc, truncation_at_line_boundaries, 0, 2);
        suite_add_tcase(s, tc);

        tc = tcase_create("end_line");
        tcase_add_test(tc, end_missing);
        tcase_add_test(tc, end_not_last);
        tcase_add_test(tc, end_without_newline);
        tcase_add_test(tc, end_content_after);
        tcase_add_test(tc, end_line_alone);
        suite_add_tcase(s, tc);

        tc = tcase_create("record_format");
        tcase_add_test(tc, format_exact_text);
        tcase_add_loop_test(tc, format_round_trip, 0, 2);
        tcase_add_test(tc, format_round_trip_long_secret);
        tcase_add_test(tc, format_refuses_inconsistent);
        tcase_add_test(tc, format_small_buffer_zeroed);
        tcase_add_test(tc, status_names);
        tcase_add_test(tc, wipe_zeroes);
        suite_add_tcase(s, tc);

        tc = tcase_create("state");
        tcase_add_test(tc, state_init_is_empty);
        tcase_add_loop_test(tc, state_round_trip, 0, 2);
        tcase_add_test(tc, state_round_trip_step_zero);
        tcase_add_test(tc, state_exact_text);
        tcase_add_test(tc, state_minimal);
        tcase_add_test(tc, state_refused);
        tcase_add_test(tc, state_failures_max);
        tcase_add_test(tc, state_format_small_buffer);
        tcase_add_loop_test(tc, state_truncation_every_offset, 0, 4);
        tcase_add_test(tc, state_end_line_rules);
        tcase_add_test(tc, state_grace_round_trip);
        tcase_add_test(tc, state_no_grace_written_when_off);
        tcase_add_test(tc, state_grace_refused);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(record_suite());
}
