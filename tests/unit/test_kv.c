/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kv.c: the line parser behind the configuration, record and state files. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kv.h"
#include "testutil.h"

struct entry {
        char key[32];
        char val[64];
        int bare;
};

/*
 * Parse buf[0..len) into at most max entries.  Returns the number of entries,
 * or -(line) on a syntax error.
 */
static int parse_all(const char *buf, size_t len, struct entry *e, int max)
{
        struct kv_iter it;
        const char *k, *v;
        size_t klen, vlen;
        int n = 0, r;

        kv_iter_init(&it, buf, len);
        while ((r = kv_next(&it, &k, &klen, &v, &vlen)) == 1) {
                ck_assert_int_lt(n, max);
                ck_assert_uint_lt(klen, sizeof(e[n].key));
                memcpy(e[n].key, k, klen);
                e[n].key[klen] = '\0';
                e[n].bare = v == NULL;
                if (v == NULL) {
                        ck_assert_uint_eq(vlen, 0);
                        e[n].val[0] = '\0';
                } else {
                        ck_assert_uint_lt(vlen, sizeof(e[n].val));
                        memcpy(e[n].val, v, vlen);
                        e[n].val[vlen] = '\0';
                }
                n++;
        }
        if (r < 0)
                return -(int)it.line;
        ck_assert_int_eq(r, 0);
        /* the end is sticky */
        ck_assert_int_eq(kv_next(&it, &k, &klen, &v, &vlen), 0);
        return n;
}

static int parse_str(const char *s, struct entry *e, int max)
{
        return parse_all(s, strlen(s), e, max);
}

START_TEST(simple_pairs)
{
        struct entry e[4];

        ck_assert_int_eq(parse_str("a = 1\nb=two\n", e, 4), 2);
        ck_assert_str_eq(e[0].key, "a");
        ck_assert_str_eq(e[0].val, "1");
        ck_assert_int_eq(e[0].bare, 0);
        ck_assert_str_eq(e[1].key, "b");
        ck_assert_str_eq(e[1].val, "two");
}
END_TEST

START_TEST(no_final_newline)
{
        struct entry e[2];

        ck_assert_int_eq(parse_str("key = value", e, 2), 1);
        ck_assert_str_eq(e[0].val, "value");
}
END_TEST

START_TEST(empty_input)
{
        struct entry e[1];
        struct kv_iter it;
        const char *k, *v;
        size_t kl, vl;

        ck_assert_int_eq(parse_str("", e, 1), 0);
        kv_iter_init(&it, NULL, 10); /* NULL buffer is an empty buffer */
        ck_assert_int_eq(kv_next(&it, &k, &kl, &v, &vl), 0);
}
END_TEST

START_TEST(comments_and_blank_lines)
{
        struct entry e[4];

        ck_assert_int_eq(parse_str("# comment\n\n   \n\t\n  # indented comment\n"
                                   "#key = not a key\nreal = 1\n# trailing",
                                   e, 4),
                         1);
        ck_assert_str_eq(e[0].key, "real");
}
END_TEST

START_TEST(crlf_lines)
{
        struct entry e[4];

        ck_assert_int_eq(parse_str("a = 1\r\nb = 2\r\nbare\r\n", e, 4), 3);
        ck_assert_str_eq(e[0].val, "1");
        ck_assert_str_eq(e[1].val, "2");
        ck_assert_str_eq(e[2].key, "bare");
        ck_assert_int_eq(e[2].bare, 1);
}
END_TEST

START_TEST(cr_not_before_newline_is_error)
{
        struct entry e[4];

        ck_assert_int_eq(parse_str("a = 1\rb = 2\n", e, 4), -1);
        ck_assert_int_eq(parse_str("a = 1\r\r\n", e, 4), -1);
}
END_TEST

START_TEST(bare_keys)
{
        struct entry e[4];

        ck_assert_int_eq(parse_str("debug\n  enforce  \n", e, 4), 2);
        ck_assert_str_eq(e[0].key, "debug");
        ck_assert_int_eq(e[0].bare, 1);
        ck_assert_str_eq(e[1].key, "enforce");
        ck_assert_int_eq(e[1].bare, 1);
}
END_TEST

START_TEST(empty_value_is_not_bare)
{
        struct entry e[2];

        ck_assert_int_eq(parse_str("key =\n", e, 2), 1);
        ck_assert_int_eq(e[0].bare, 0);
        ck_assert_str_eq(e[0].val, "");
        ck_assert_int_eq(parse_str("key=   \t", e, 2), 1);
        ck_assert_int_eq(e[0].bare, 0);
        ck_assert_str_eq(e[0].val, "");
}
END_TEST

START_TEST(spaces_and_tabs_trimmed)
{
        struct entry e[2];

        ck_assert_int_eq(parse_str(" \t key \t = \t some value \t \n", e, 2), 1);
        ck_assert_str_eq(e[0].key, "key");
        ck_assert_str_eq(e[0].val, "some value");
}
END_TEST

START_TEST(equals_inside_value)
{
        struct entry e[2];

        ck_assert_int_eq(parse_str("k = a=b = c\n", e, 2), 1);
        ck_assert_str_eq(e[0].val, "a=b = c");
        ck_assert_int_eq(parse_str("k==\n", e, 2), 1);
        ck_assert_str_eq(e[0].val, "=");
}
END_TEST

START_TEST(key_charset)
{
        struct entry e[2];

        ck_assert_int_eq(parse_str("lock_timeout_2 = 1\n", e, 2), 1);
        ck_assert_str_eq(e[0].key, "lock_timeout_2");
        ck_assert_int_eq(parse_str("Key = 1\n", e, 2), -1); /* upper case */
        ck_assert_int_eq(parse_str("kEy = 1\n", e, 2), -1);
        ck_assert_int_eq(parse_str("my-key = 1\n", e, 2), -1); /* '-' */
        ck_assert_int_eq(parse_str("my.key = 1\n", e, 2), -1);
        ck_assert_int_eq(parse_str("k\xc3\xa4y = 1\n", e, 2), -1);
}
END_TEST

START_TEST(missing_key)
{
        struct entry e[2];

        ck_assert_int_eq(parse_str("=value\n", e, 2), -1);
        ck_assert_int_eq(parse_str("  = value\n", e, 2), -1);
}
END_TEST

START_TEST(key_then_junk)
{
        struct entry e[2];

        ck_assert_int_eq(parse_str("key value\n", e, 2), -1);
        ck_assert_int_eq(parse_str("key : value\n", e, 2), -1);
}
END_TEST

START_TEST(nul_byte_is_error)
{
        static const char buf[] = "a = 1\nb = x\0y\nc = 3\n";
        struct entry e[4];

        /* explicit length: the NUL is inside the buffer */
        ck_assert_int_eq(parse_all(buf, sizeof(buf) - 1, e, 4), -2);
        ck_assert_int_eq(parse_all("\0", 1, e, 4), -1);
        /* a NUL inside a comment is still an error */
        ck_assert_int_eq(parse_all("# x\0\n", 5, e, 4), -1);
}
END_TEST

START_TEST(control_bytes_are_errors)
{
        struct entry e[2];
        char line[16];

        for (unsigned c = 1; c < 0x20; c++) {
                if (c == '\t' || c == '\n')
                        continue;
                snprintf(line, sizeof(line), "k = a%cb\n", (char)c);
                if (c == '\r')
                        continue; /* "\r" mid-line covered separately */
                ck_assert_msg(parse_str(line, e, 2) == -1, "control byte 0x%02x accepted", c);
        }
        ck_assert_int_eq(parse_str("k = a\x7f"
                                   "b\n",
                                   e, 2),
                         -1);
}
END_TEST

START_TEST(high_bytes_in_value_ok)
{
        struct entry e[2];

        ck_assert_int_eq(parse_str("issuer = M\xc3\xbcller Mail\n", e, 2), 1);
        ck_assert_str_eq(e[0].val, "M\xc3\xbcller Mail");
}
END_TEST

START_TEST(line_numbers)
{
        struct entry e[8];
        struct kv_iter it;
        const char *k, *v;
        size_t kl, vl;
        static const char buf[] = "# c\n\na = 1\r\n\nb = 2\n";

        ck_assert_int_eq(parse_str("a = 1\nb = 2\n\n# x\nBAD\nc = 3\n", e, 8), -5);
        ck_assert_int_eq(parse_str("\n\n\n=x", e, 8), -4);
        kv_iter_init(&it, buf, sizeof(buf) - 1);
        ck_assert_int_eq(kv_next(&it, &k, &kl, &v, &vl), 1);
        ck_assert_uint_eq(it.line, 3);
        ck_assert_int_eq(kv_next(&it, &k, &kl, &v, &vl), 1);
        ck_assert_uint_eq(it.line, 5);
        ck_assert_int_eq(kv_next(&it, &k, &kl, &v, &vl), 0);
}
END_TEST

START_TEST(key_is)
{
        ck_assert_int_eq(kv_key_is("window", 6, "window"), 1);
        ck_assert_int_eq(kv_key_is("windows", 6, "window"), 1); /* counted: first 6 bytes */
        ck_assert_int_eq(kv_key_is("window", 5, "window"), 0);
        ck_assert_int_eq(kv_key_is("windox", 6, "window"), 0);
        ck_assert_int_eq(kv_key_is("", 0, ""), 1);
        ck_assert_int_eq(kv_key_is("a", 1, ""), 0);
}
END_TEST

/* ---- kv_parse_u64 ---------------------------------------------------------- */

static enum mailotp_rc u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
        return kv_parse_u64(s, strlen(s), min, max, out);
}

START_TEST(u64_good)
{
        uint64_t v = 0;

        ck_assert_int_eq(u64("0", 0, 10, &v), MAILOTP_OK);
        ck_assert_uint_eq(v, 0);
        ck_assert_int_eq(u64("10", 0, 10, &v), MAILOTP_OK);
        ck_assert_uint_eq(v, 10);
        ck_assert_int_eq(u64("007", 0, 10, &v), MAILOTP_OK);
        ck_assert_uint_eq(v, 7);
        ck_assert_int_eq(u64("18446744073709551615", 0, UINT64_MAX, &v), MAILOTP_OK);
        ck_assert_uint_eq(v, UINT64_MAX);
        ck_assert_int_eq(u64("1700000000", 0, UINT64_MAX, &v), MAILOTP_OK);
        ck_assert_uint_eq(v, 1700000000);
}
END_TEST

START_TEST(u64_min_max)
{
        uint64_t v = 42;

        ck_assert_int_eq(u64("5", 6, 8, &v), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(u64("9", 6, 8, &v), MAILOTP_ERR_FORMAT);
        ck_assert_uint_eq(v, 42); /* untouched on failure */
        ck_assert_int_eq(u64("6", 6, 8, &v), MAILOTP_OK);
        ck_assert_uint_eq(v, 6);
        ck_assert_int_eq(u64("8", 6, 8, &v), MAILOTP_OK);
        ck_assert_uint_eq(v, 8);
}
END_TEST

START_TEST(u64_overflow)
{
        uint64_t v = 42;

        ck_assert_int_eq(u64("18446744073709551616", 0, UINT64_MAX, &v), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(u64("18446744073709551620", 0, UINT64_MAX, &v), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(u64("99999999999999999999", 0, UINT64_MAX, &v), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(u64("184467440737095516150", 0, UINT64_MAX, &v), MAILOTP_ERR_FORMAT);
        ck_assert_uint_eq(v, 42);
}
END_TEST

START_TEST(u64_signs_spaces_hex)
{
        static const char *const bad[] = {"-1",  "+1",  " 1",    "1 ",    "1\t", "0x10",     "0X10",
                                          "1e3", "1.0", "1,000", "1_000", "a",   "\xd9\xa1", "--0"};
        uint64_t v = 42;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(u64(bad[i], 0, UINT64_MAX, &v) == MAILOTP_ERR_FORMAT,
                              "accepted \"%s\"", bad[i]);
        ck_assert_uint_eq(v, 42);
}
END_TEST

START_TEST(u64_empty_and_null)
{
        uint64_t v = 42;

        ck_assert_int_eq(u64("", 0, 10, &v), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(kv_parse_u64(NULL, 0, 0, 10, &v), MAILOTP_ERR_FORMAT);
        ck_assert_uint_eq(v, 42);
}
END_TEST

START_TEST(u64_counted_length)
{
        uint64_t v = 0;

        ck_assert_int_eq(kv_parse_u64("123abc", 3, 0, 1000, &v), MAILOTP_OK);
        ck_assert_uint_eq(v, 123);
        ck_assert_int_eq(kv_parse_u64("123abc", 4, 0, 1000, &v), MAILOTP_ERR_FORMAT);
}
END_TEST

/* ---- kv_parse_bool -------------------------------------------------------- */

START_TEST(bool_values)
{
        static const char *const yes[] = {"yes", "true", "on", "1"};
        static const char *const no[] = {"no", "false", "off", "0"};
        int b;

        for (size_t i = 0; i < 4; i++) {
                b = -1;
                ck_assert_int_eq(kv_parse_bool(yes[i], strlen(yes[i]), &b), MAILOTP_OK);
                ck_assert_int_eq(b, 1);
                b = -1;
                ck_assert_int_eq(kv_parse_bool(no[i], strlen(no[i]), &b), MAILOTP_OK);
                ck_assert_int_eq(b, 0);
        }
}
END_TEST

START_TEST(bool_bare_is_yes)
{
        int b = -1;

        ck_assert_int_eq(kv_parse_bool(NULL, 0, &b), MAILOTP_OK);
        ck_assert_int_eq(b, 1);
}
END_TEST

START_TEST(bool_bad)
{
        static const char *const bad[] = {"",     "YES",   "Yes",  "y",  "n",     "2",
                                          "yes ", "truee", "nope", "-1", "enable"};
        int b = -1;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(kv_parse_bool(bad[i], strlen(bad[i]), &b) == MAILOTP_ERR_FORMAT,
                              "accepted \"%s\"", bad[i]);
        ck_assert_int_eq(b, -1);
        /* counted: "yes" inside "yesterday" with vlen 3 is yes, with full length not */
        ck_assert_int_eq(kv_parse_bool("yesterday", 9, &b), MAILOTP_ERR_FORMAT);
}
END_TEST

/* ---- kv_strip_end: the "end" line of stored files ------------------------------- */

static int strip(const char *s, size_t *content_len)
{
        *content_len = 99999;
        return kv_strip_end(s, strlen(s), content_len);
}

START_TEST(end_line_macro)
{
        ck_assert_str_eq(KV_END_LINE, "end\n");
}
END_TEST

START_TEST(strip_end_good)
{
        size_t n;

        ck_assert_int_eq(strip("a = 1\nb = 2\nend\n", &n), 1);
        ck_assert_uint_eq(n, 12); /* "a = 1\nb = 2\n" */
        ck_assert_int_eq(strip("end\n", &n), 1);
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(strip("\nend\n", &n), 1);
        ck_assert_uint_eq(n, 1);
        /* a CRLF content line before it is fine: the byte before "end" is '\n' */
        ck_assert_int_eq(strip("a = 1\r\nend\n", &n), 1);
        ck_assert_uint_eq(n, 7);
}
END_TEST

START_TEST(strip_end_refused)
{
        static const char *const bad[] = {
            "",                    /* empty */
            "a = 1\n",             /* missing */
            "a = 1\nend",          /* no final newline */
            "a = 1\nend\n\n",      /* a blank line after it */
            "a = 1\nend\n# c\n",   /* a comment after it */
            "a = 1\nend\nb = 2\n", /* not last */
            "a = 1\nend \n",       /* trailing space */
            "a = 1\n end\n",       /* leading space: not the whole line */
            "a = 1\nsend\n",       /* a key that ends in "end" */
            "a = 1end\n",          /* glued to the previous line */
            "a = 1\nEND\n",        /* case */
            "a = 1\nend\r\n",      /* CRLF end line */
            "a = 1\nend = 1\n",    /* a key/value line */
            "nd\n",
            "d\n",
            "\n",
        };
        size_t n;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(strip(bad[i], &n) == 0, "accepted case %zu", i);
        n = 7;
        ck_assert_int_eq(kv_strip_end(NULL, 0, &n), 0);
        ck_assert_int_eq(kv_strip_end(NULL, 4, &n), 0);
}
END_TEST

START_TEST(strip_end_counted_length)
{
        static const char buf[] = "a = 1\nend\nb = 2\nend\n";
        size_t n = 0;

        /* the length decides, not the NUL: the first 10 bytes end in "end\n" */
        ck_assert_int_eq(kv_strip_end(buf, 10, &n), 1);
        ck_assert_uint_eq(n, 6);
        ck_assert_int_eq(kv_strip_end(buf, 9, &n), 0);
        ck_assert_int_eq(kv_strip_end(buf, 11, &n), 0);
        ck_assert_int_eq(kv_strip_end(buf, sizeof(buf) - 1, &n), 1);
        ck_assert_uint_eq(n, sizeof(buf) - 1 - 4);
}
END_TEST

START_TEST(strip_end_every_prefix)
{
        static const char buf[] = "version = 1\nx = 2\nend\n";
        size_t n, len = sizeof(buf) - 1;

        /* every strict prefix of a stored file lacks its end line */
        for (size_t cut = 0; cut < len; cut++)
                ck_assert_msg(kv_strip_end(buf, cut, &n) == 0, "prefix of %zu accepted", cut);
        ck_assert_int_eq(kv_strip_end(buf, len, &n), 1);
        ck_assert_uint_eq(n, len - 4);
}
END_TEST

static Suite *kv_suite(void)
{
        Suite *s = suite_create("kv");
        TCase *tc;

        tc = tcase_create("lines");
        tcase_add_test(tc, simple_pairs);
        tcase_add_test(tc, no_final_newline);
        tcase_add_test(tc, empty_input);
        tcase_add_test(tc, comments_and_blank_lines);
        tcase_add_test(tc, crlf_lines);
        tcase_add_test(tc, cr_not_before_newline_is_error);
        tcase_add_test(tc, bare_keys);
        tcase_add_test(tc, empty_value_is_not_bare);
        tcase_add_test(tc, spaces_and_tabs_trimmed);
        tcase_add_test(tc, equals_inside_value);
        tcase_add_test(tc, key_charset);
        tcase_add_test(tc, missing_key);
        tcase_add_test(tc, key_then_junk);
        tcase_add_test(tc, nul_byte_is_error);
        tcase_add_test(tc, control_bytes_are_errors);
        tcase_add_test(tc, high_bytes_in_value_ok);
        tcase_add_test(tc, line_numbers);
        tcase_add_test(tc, key_is);
        suite_add_tcase(s, tc);

        tc = tcase_create("numbers");
        tcase_add_test(tc, u64_good);
        tcase_add_test(tc, u64_min_max);
        tcase_add_test(tc, u64_overflow);
        tcase_add_test(tc, u64_signs_spaces_hex);
        tcase_add_test(tc, u64_empty_and_null);
        tcase_add_test(tc, u64_counted_length);
        tcase_add_test(tc, bool_values);
        tcase_add_test(tc, bool_bare_is_yes);
        tcase_add_test(tc, bool_bad);
        suite_add_tcase(s, tc);

        tc = tcase_create("end_line");
        tcase_add_test(tc, end_line_macro);
        tcase_add_test(tc, strip_end_good);
        tcase_add_test(tc, strip_end_refused);
        tcase_add_test(tc, strip_end_counted_length);
        tcase_add_test(tc, strip_end_every_prefix);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(kv_suite());
}
