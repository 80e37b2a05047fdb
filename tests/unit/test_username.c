/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * username.c: store keys from network-supplied names, the UTF-8 validator
 * and the log escaper.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "username.h"

#define KEYSZ (USERNAME_MAX + 1)

static enum mailotp_rc to_key(const char *user, char *key)
{
        char err[128];

        memset(key, 'X', KEYSZ);
        return username_to_key(user, key, KEYSZ, err, sizeof(err));
}

static void assert_refused(const char *user)
{
        char key[KEYSZ];
        char err[128] = "";

        memset(key, 'X', sizeof(key));
        ck_assert_msg(username_to_key(user, key, sizeof(key), err, sizeof(err)) ==
                          MAILOTP_ERR_INVALID,
                      "accepted a bad name");
        ck_assert_msg(err[0] != '\0', "no reason given");
        ck_assert_int_eq(key[0], '\0'); /* never a half-made key */
}

/* ---- accepted names ----------------------------------------------------- */

START_TEST(key_plain)
{
        char key[KEYSZ];

        ck_assert_int_eq(to_key("alice", key), MAILOTP_OK);
        ck_assert_str_eq(key, "alice");
        ck_assert_int_eq(to_key("bob@example.org", key), MAILOTP_OK);
        ck_assert_str_eq(key, "bob@example.org");
        ck_assert_int_eq(to_key("a.b+c_d-e=f~g", key), MAILOTP_OK);
        ck_assert_str_eq(key, "a.b+c_d-e=f~g");
}
END_TEST

START_TEST(key_lowercase_folding)
{
        char key[KEYSZ];

        ck_assert_int_eq(to_key("Alice@Example.COM", key), MAILOTP_OK);
        ck_assert_str_eq(key, "alice@example.com");
        ck_assert_int_eq(to_key("ABCDEFGHIJKLMNOPQRSTUVWXYZ", key), MAILOTP_OK);
        ck_assert_str_eq(key, "abcdefghijklmnopqrstuvwxyz");
        /* neighbours of 'A'..'Z' are untouched */
        ck_assert_int_eq(to_key("@[`{", key), MAILOTP_OK);
        ck_assert_str_eq(key, "@[`{");
}
END_TEST

START_TEST(key_case_variants_share_a_key)
{
        char a[KEYSZ], b[KEYSZ];

        ck_assert_int_eq(to_key("ALICE@example.com", a), MAILOTP_OK);
        ck_assert_int_eq(to_key("alice@EXAMPLE.com", b), MAILOTP_OK);
        ck_assert_str_eq(a, b);
}
END_TEST

START_TEST(key_utf8_kept)
{
        char key[KEYSZ];

        /* "Jürgen" and "ÄÖ" (no Unicode folding): bytes are kept */
        ck_assert_int_eq(to_key("J\xc3\xbcrgen", key), MAILOTP_OK);
        ck_assert_str_eq(key, "j\xc3\xbcrgen");
        ck_assert_int_eq(to_key("\xc3\x84\xc3\x96", key), MAILOTP_OK);
        ck_assert_str_eq(key, "\xc3\x84\xc3\x96");
        /* 3- and 4-byte sequences: "€" and U+1F600 */
        ck_assert_int_eq(to_key("x\xe2\x82\xac\xf0\x9f\x98\x80", key), MAILOTP_OK);
        ck_assert_str_eq(key, "x\xe2\x82\xac\xf0\x9f\x98\x80");
}
END_TEST

START_TEST(key_dot_inside_ok)
{
        char key[KEYSZ];

        ck_assert_int_eq(to_key("a..b", key), MAILOTP_OK);
        ck_assert_str_eq(key, "a..b");
        ck_assert_int_eq(to_key("alice.", key), MAILOTP_OK);
        ck_assert_str_eq(key, "alice.");
}
END_TEST

START_TEST(key_length_limit)
{
        char name[300];
        char key[KEYSZ];

        memset(name, 'a', sizeof(name));
        name[255] = '\0';
        ck_assert_int_eq(to_key(name, key), MAILOTP_OK);
        ck_assert_uint_eq(strlen(key), 255);
        name[255] = 'a';
        name[256] = '\0';
        assert_refused(name);
        name[299] = '\0';
        assert_refused(name);
}
END_TEST

START_TEST(key_buffer_too_small)
{
        char key[KEYSZ];
        char err[64] = "";

        memset(key, 'X', sizeof(key));
        ck_assert_int_eq(username_to_key("alice", key, USERNAME_MAX, err, sizeof(err)),
                         MAILOTP_ERR_INVALID);
        ck_assert_int_eq(key[0], '\0');
        ck_assert_int_eq(username_to_key("alice", NULL, KEYSZ, err, sizeof(err)),
                         MAILOTP_ERR_INVALID);
}
END_TEST

/* ---- refused names ------------------------------------------------------ */

static const char *const bad_names[] = {
    "",
    ".",
    "..",
    ".hidden",
    "../etc/x",
    "a/b",
    "/abs",
    "a\\b",
    "a b",
    " alice",
    "alice ",
    "a\tb",
    "a\x01"
    "b",
    "a\nb",
    "a\rb",
    "a\x7f"
    "b",
    "\x1f",
    "\x80", /* lone continuation byte */
    "a\xbf"
    "b",                /* lone continuation byte */
    "\xc0\x80",         /* overlong NUL */
    "\xc1\xbf",         /* overlong '\x7f' */
    "\xe0\x80\xaf",     /* overlong '/' */
    "\xf0\x80\x80\xaf", /* overlong '/' */
    "\xed\xa0\x80",     /* surrogate U+D800 */
    "\xed\xbf\xbf",     /* surrogate U+DFFF */
    "\xf5\x80\x80\x80", /* lead byte F5 */
    "\xf4\x90\x80\x80", /* U+110000 */
    "\xff",
    "\xfe",
    "abc\xc3",         /* truncated 2-byte sequence */
    "abc\xe2\x82",     /* truncated 3-byte sequence */
    "abc\xf0\x9f\x98", /* truncated 4-byte sequence */
    "\xc3(",           /* bad continuation */
};

START_TEST(key_refused)
{
        assert_refused(bad_names[_i]);
}
END_TEST

START_TEST(key_refused_null)
{
        char key[KEYSZ];
        char err[64] = "";

        ck_assert_int_eq(username_to_key(NULL, key, sizeof(key), err, sizeof(err)),
                         MAILOTP_ERR_INVALID);
        ck_assert_str_ne(err, "");
}
END_TEST

START_TEST(key_reason_never_repeats_name)
{
        char key[KEYSZ];
        char err[256] = "";

        ck_assert_int_eq(username_to_key("evil\x01name", key, sizeof(key), err, sizeof(err)),
                         MAILOTP_ERR_INVALID);
        ck_assert_ptr_null(strstr(err, "evil"));
        ck_assert_int_eq(username_to_key(".secretname", key, sizeof(key), err, sizeof(err)),
                         MAILOTP_ERR_INVALID);
        ck_assert_ptr_null(strstr(err, "secretname"));
}
END_TEST

START_TEST(key_err_may_be_null)
{
        char key[KEYSZ];

        ck_assert_int_eq(username_to_key("a/b", key, sizeof(key), NULL, 0), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(username_to_key("ok", key, sizeof(key), NULL, 0), MAILOTP_OK);
}
END_TEST

/* ---- text_utf8_valid ------------------------------------------------------ */

struct utf8_case {
        const char *s;
        size_t len;
        int valid;
};

#define U(str, v)                                                                                  \
        {                                                                                          \
                str, sizeof(str) - 1, v                                                            \
        }

static const struct utf8_case utf8_cases[] = {
    U("", 1),
    U("plain ascii", 1),
    U("\x7f", 1),
    U("\xc2\x80", 1),         /* U+0080, smallest 2-byte */
    U("\xdf\xbf", 1),         /* U+07FF */
    U("\xe0\xa0\x80", 1),     /* U+0800, smallest 3-byte */
    U("\xed\x9f\xbf", 1),     /* U+D7FF, just below the surrogates */
    U("\xee\x80\x80", 1),     /* U+E000, just above them */
    U("\xef\xbf\xbf", 1),     /* U+FFFF */
    U("\xf0\x90\x80\x80", 1), /* U+10000, smallest 4-byte */
    U("\xf4\x8f\xbf\xbf", 1), /* U+10FFFF, the largest */
    U("a\0b", 1),             /* NUL is valid UTF-8 (username_to_key stops at it) */
    U("\x80", 0),
    U("\xbf", 0),
    U("\xc0\x80", 0),
    U("\xc1\xbf", 0),
    U("\xe0\x9f\xbf", 0),     /* overlong 3-byte */
    U("\xf0\x8f\xbf\xbf", 0), /* overlong 4-byte */
    U("\xed\xa0\x80", 0),
    U("\xed\xbf\xbf", 0),
    U("\xf4\x90\x80\x80", 0),
    U("\xf5\x80\x80\x80", 0),
    U("\xf8\x88\x80\x80\x80", 0),
    U("\xfe", 0),
    U("\xff", 0),
    U("\xc2", 0),
    U("\xe2\x82", 0),
    U("\xf0\x9f\x98", 0),
    U("\xc2\x41", 0),
    U("\xe2\x28\xa1", 0),
    U("\xe2\x82\x28", 0),
    U("ok\xc3\xa4ok\x80", 0),
};

START_TEST(utf8_table)
{
        const struct utf8_case *c = &utf8_cases[_i];

        ck_assert_msg(text_utf8_valid((const unsigned char *)c->s, c->len) == c->valid,
                      "case %d: expected %d", _i, c->valid);
}
END_TEST

START_TEST(utf8_len_bounds_reading)
{
        /* a valid sequence cut by len is invalid; len 0 is valid */
        const unsigned char euro[] = {0xe2, 0x82, 0xac};

        ck_assert_int_eq(text_utf8_valid(euro, 3), 1);
        ck_assert_int_eq(text_utf8_valid(euro, 2), 0);
        ck_assert_int_eq(text_utf8_valid(euro, 1), 0);
        ck_assert_int_eq(text_utf8_valid(euro, 0), 1);
}
END_TEST

/* ---- text_log_escape ------------------------------------------------------ */

START_TEST(escape_plain)
{
        char out[64];

        text_log_escape("alice@example.com", out, sizeof(out));
        ck_assert_str_eq(out, "alice@example.com");
}
END_TEST

START_TEST(escape_quotes_backslash)
{
        char out[64];

        text_log_escape("a\"b\\c", out, sizeof(out));
        ck_assert_str_eq(out, "a\\x22b\\x5cc");
}
END_TEST

START_TEST(escape_control_and_high_bytes)
{
        char out[64];

        text_log_escape("a\nb\tc\x01\x7f d\xc3\xa4", out, sizeof(out));
        ck_assert_str_eq(out, "a\\x0ab\\x09c\\x01\\x7f\\x20d\\xc3\\xa4");
}
END_TEST

START_TEST(escape_null_input)
{
        char out[16];

        text_log_escape(NULL, out, sizeof(out));
        ck_assert_str_eq(out, "(none)");
}
END_TEST

START_TEST(escape_empty_input)
{
        char out[4] = "xyz";

        text_log_escape("", out, sizeof(out));
        ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(escape_truncation_ends_with_dots)
{
        char out[16];

        text_log_escape("abcdefghijklmnopqrstuvwxyz", out, sizeof(out));
        ck_assert_uint_lt(strlen(out), sizeof(out));
        ck_assert_uint_ge(strlen(out), 3);
        ck_assert_str_eq(out + strlen(out) - 3, "...");
        ck_assert_int_eq(strncmp(out, "abcdefgh", 8), 0);
}
END_TEST

START_TEST(escape_truncation_never_splits_an_escape)
{
        char out[12];

        /* "\x01" escapes are 4 bytes; a cut must not leave "\x0" */
        text_log_escape("\x01\x01\x01\x01\x01\x01", out, sizeof(out));
        ck_assert_str_eq(out, "\\x01\\x01...");
}
END_TEST

START_TEST(escape_tiny_buffers_terminate)
{
        /* outsz 1..8 with room after it: always NUL-terminated, never past outsz */
        static const char *const inputs[] = {"", "a", "abc", "abcdefghijk", "\x01\x02\x03", NULL};

        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
                char out[32];

                memset(out, 'Z', sizeof(out));
                text_log_escape(inputs[i], out, (size_t)_i);
                ck_assert_msg(memchr(out, '\0', (size_t)_i) != NULL,
                              "input %zu outsz %d: not terminated", i, _i);
                for (size_t j = (size_t)_i; j < sizeof(out); j++)
                        ck_assert_msg(out[j] == 'Z', "input %zu outsz %d: wrote byte %zu", i, _i,
                                      j);
        }
}
END_TEST

START_TEST(escape_zero_size_writes_nothing)
{
        char out[4] = "xyz";

        text_log_escape("abc", out, 0);
        ck_assert_str_eq(out, "xyz");
        text_log_escape("abc", NULL, 10); /* must not crash */
}
END_TEST

START_TEST(escape_fits_exactly_with_room_for_dots)
{
        char out[8];

        /* 4 bytes + room for "..." + NUL: kept whole */
        text_log_escape("abcd", out, sizeof(out));
        ck_assert_str_eq(out, "abcd");
}
END_TEST

/*
 * A result that fits is never cut (this was a bug: room for "..." was kept
 * before every byte, so "abcdefg" in 8 bytes came out as "abcd...").
 */
START_TEST(escape_short_input_not_truncated)
{
        char out[8];
        char out4[4];

        text_log_escape("abcde", out, sizeof(out));
        ck_assert_str_eq(out, "abcde");
        text_log_escape("abcdefg", out, sizeof(out));
        ck_assert_str_eq(out, "abcdefg");
        text_log_escape("abc", out4, sizeof(out4));
        ck_assert_str_eq(out4, "abc");
        text_log_escape("\x01", out, 5); /* a 4-byte escape in exactly 5 bytes */
        ck_assert_str_eq(out, "\\x01");
        text_log_escape_text("a b c d", out, sizeof(out));
        ck_assert_str_eq(out, "a b c d");
}
END_TEST

/* ---- text_log_escape_text ----------------------------------------------------- */

START_TEST(escape_text_keeps_spaces)
{
        char out[64];

        text_log_escape_text("wrong code from 192.0.2.1", out, sizeof(out));
        ck_assert_str_eq(out, "wrong code from 192.0.2.1");
        text_log_escape_text(" lead and trail ", out, sizeof(out));
        ck_assert_str_eq(out, " lead and trail ");
        /* everything else as text_log_escape */
        text_log_escape_text("a\tb\nc\"d\\e\x7f\xc3\xa4", out, sizeof(out));
        ck_assert_str_eq(out, "a\\x09b\\x0ac\\x22d\\x5ce\\x7f\\xc3\\xa4");
        text_log_escape_text(NULL, out, sizeof(out));
        ck_assert_str_eq(out, "(none)");
        text_log_escape_text("", out, sizeof(out));
        ck_assert_str_eq(out, "");
        /* and text_log_escape does escape the space */
        text_log_escape("a b", out, sizeof(out));
        ck_assert_str_eq(out, "a\\x20b");
}
END_TEST

START_TEST(escape_every_byte)
{
        char in[2] = {0, 0}, out[8], want[8];

        for (unsigned c = 1; c < 256; c++) {
                int plain = c >= 0x21 && c < 0x7f && c != '"' && c != '\\';

                in[0] = (char)c;
                if (plain)
                        snprintf(want, sizeof(want), "%c", (char)c);
                else
                        snprintf(want, sizeof(want), "\\x%02x", c);
                text_log_escape(in, out, sizeof(out));
                ck_assert_msg(strcmp(out, want) == 0, "byte 0x%02x: \"%s\"", c, out);
                if (c == ' ')
                        snprintf(want, sizeof(want), " ");
                text_log_escape_text(in, out, sizeof(out));
                ck_assert_msg(strcmp(out, want) == 0, "text byte 0x%02x: \"%s\"", c, out);
        }
}
END_TEST

/* ---- every buffer size, both functions ------------------------------------------- */

/*
 * The test's own escaper: writes the full escaping of in (NULL as "(none)")
 * and the end offset of each byte's escape in ends[].  Returns the number of
 * units.
 */
static size_t ref_escape(const char *in, int keep_space, char *out, size_t outsz, size_t *ends)
{
        size_t o = 0, n = 0;

        if (in == NULL)
                in = "(none)";
        for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
                int w;

                if ((*p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ||
                    (keep_space && *p == ' '))
                        w = snprintf(out + o, outsz - o, "%c", (char)*p);
                else
                        w = snprintf(out + o, outsz - o, "\\x%02x", *p);
                ck_assert(w > 0 && (size_t)w < outsz - o);
                o += (size_t)w;
                ends[n++] = o;
        }
        out[o] = '\0';
        return n;
}

static const char *const size_inputs[] = {
    "abcdefg",   "abc",
    "a b c",     "\x01\x02\x03",
    "tab\there", "M\xc3\xbcller Mail",
    "q\"b\\s",   "",
    NULL,        "abcdefghijklmnopqrstuvwxyz",
};

static void check_sizes(void (*fn)(const char *, char *, size_t), int keep_space, size_t idx)
{
        const char *in = size_inputs[idx];
        char full[256], out[48];
        size_t ends[64], nunits, flen;

        nunits = ref_escape(in, keep_space, full, sizeof(full), ends);
        flen = strlen(full);
        for (size_t outsz = 1; outsz <= 20; outsz++) {
                size_t rlen, plen, j;

                memset(out, 'Z', sizeof(out));
                fn(in, out, outsz);
                ck_assert_msg(memchr(out, '\0', outsz) != NULL, "input %zu size %zu: no NUL", idx,
                              outsz);
                for (j = outsz; j < sizeof(out) && out[j] == 'Z'; j++)
                        ;
                ck_assert_msg(j == sizeof(out), "input %zu size %zu: wrote byte %zu", idx, outsz,
                              j);
                rlen = strlen(out);
                if (flen < outsz) {
                        /* it fits: all of it, nothing added */
                        ck_assert_msg(strcmp(out, full) == 0,
                                      "input %zu size %zu: \"%s\" not \"%s\"", idx, outsz, out,
                                      full);
                        continue;
                }
                /* it does not fit: as much as fits, ending in as much of "..." as fits */
                if (outsz < 4) {
                        ck_assert_msg(rlen == outsz - 1 && strspn(out, ".") == rlen,
                                      "input %zu size %zu: \"%s\"", idx, outsz, out);
                        continue;
                }
                ck_assert_msg(rlen >= 3 && strcmp(out + rlen - 3, "...") == 0,
                              "input %zu size %zu: \"%s\" does not end in ...", idx, outsz, out);
                ck_assert_uint_le(rlen, outsz - 1);
                plen = rlen - 3;
                ck_assert_msg(strncmp(out, full, plen) == 0,
                              "input %zu size %zu: \"%s\" is not a prefix of \"%s\"", idx, outsz,
                              out, full);
                /* never half an escape, and nothing that would have fitted left out */
                j = 0;
                while (j < nunits && ends[j] <= plen)
                        j++;
                ck_assert_msg(plen == 0 || (j > 0 && ends[j - 1] == plen),
                              "input %zu size %zu: \"%s\" cuts an escape", idx, outsz, out);
                ck_assert_msg(j < nunits && ends[j] > outsz - 4,
                              "input %zu size %zu: \"%s\" stops early", idx, outsz, out);
        }
}

START_TEST(escape_every_size)
{
        check_sizes(text_log_escape, 0, (size_t)_i);
}
END_TEST

START_TEST(escape_text_every_size)
{
        check_sizes(text_log_escape_text, 1, (size_t)_i);
}
END_TEST

START_TEST(escape_text_zero_size_and_null_out)
{
        char out[4] = "xyz";

        text_log_escape_text("abc", out, 0);
        ck_assert_str_eq(out, "xyz");
        text_log_escape_text("abc", NULL, 10); /* must not crash */
}
END_TEST

static Suite *username_suite(void)
{
        Suite *s = suite_create("username");
        TCase *tc;

        tc = tcase_create("key");
        tcase_add_test(tc, key_plain);
        tcase_add_test(tc, key_lowercase_folding);
        tcase_add_test(tc, key_case_variants_share_a_key);
        tcase_add_test(tc, key_utf8_kept);
        tcase_add_test(tc, key_dot_inside_ok);
        tcase_add_test(tc, key_length_limit);
        tcase_add_test(tc, key_buffer_too_small);
        tcase_add_loop_test(tc, key_refused, 0, (int)(sizeof(bad_names) / sizeof(bad_names[0])));
        tcase_add_test(tc, key_refused_null);
        tcase_add_test(tc, key_reason_never_repeats_name);
        tcase_add_test(tc, key_err_may_be_null);
        suite_add_tcase(s, tc);

        tc = tcase_create("utf8");
        tcase_add_loop_test(tc, utf8_table, 0, (int)(sizeof(utf8_cases) / sizeof(utf8_cases[0])));
        tcase_add_test(tc, utf8_len_bounds_reading);
        suite_add_tcase(s, tc);

        tc = tcase_create("log_escape");
        tcase_add_test(tc, escape_plain);
        tcase_add_test(tc, escape_quotes_backslash);
        tcase_add_test(tc, escape_control_and_high_bytes);
        tcase_add_test(tc, escape_null_input);
        tcase_add_test(tc, escape_empty_input);
        tcase_add_test(tc, escape_truncation_ends_with_dots);
        tcase_add_test(tc, escape_truncation_never_splits_an_escape);
        tcase_add_loop_test(tc, escape_tiny_buffers_terminate, 1, 9);
        tcase_add_test(tc, escape_zero_size_writes_nothing);
        tcase_add_test(tc, escape_fits_exactly_with_room_for_dots);
        tcase_add_test(tc, escape_short_input_not_truncated);
        tcase_add_test(tc, escape_text_keeps_spaces);
        tcase_add_test(tc, escape_every_byte);
        tcase_add_loop_test(tc, escape_every_size, 0,
                            (int)(sizeof(size_inputs) / sizeof(size_inputs[0])));
        tcase_add_loop_test(tc, escape_text_every_size, 0,
                            (int)(sizeof(size_inputs) / sizeof(size_inputs[0])));
        tcase_add_test(tc, escape_text_zero_size_and_null_out);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(username_suite());
}
