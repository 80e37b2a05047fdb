/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * recovery.c: spotting a recovery code at the end of the password field,
 * the keyed hash, lookup and removal, and the strict list format.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apppw.h"
#include "kv.h"
#include "record.h"
#include "recovery.h"
#include "testutil.h"

static char err[256];

static int split(const char *in, size_t *pass_len, char *code)
{
        memset(code, 'X', RECOVERY_LETTERS + 1);
        *pass_len = 9999;
        return recovery_split(in, strlen(in), pass_len, code, RECOVERY_LETTERS + 1);
}

static void fill_list(struct recovery_list *l, size_t n)
{
        memset(l, 0, sizeof(*l));
        l->created = 1700000000;
        for (size_t i = 0; i < n; i++)
                for (unsigned j = 0; j < MAC_LEN; j++)
                        l->hash[i][j] = (unsigned char)(i * 29U + j * 3U + 5U);
        l->n = n;
}

static void assert_wiped(const struct recovery_list *l)
{
        const unsigned char *p = (const unsigned char *)l;
        size_t i = 0;

        while (i < sizeof(*l) && p[i] == 0)
                i++;
        ck_assert_msg(i == sizeof(*l), "list not wiped at byte %zu", i);
}

static enum mailotp_rc parse_str(const char *s, struct recovery_list *l)
{
        err[0] = '\0';
        return recovery_parse(s, strlen(s), l, err, sizeof(err));
}

/* ---- recovery_split ---------------------------------------------------------------- */

START_TEST(split_typical)
{
        size_t pl;
        char code[16];

        ck_assert_int_eq(split("pwabcde-fghij", &pl, code), 0);
        ck_assert_uint_eq(pl, 2);
        ck_assert_str_eq(code, "abcdefghij");
        ck_assert_int_eq(split("correct horse battery staplewxyzk-mnpqr", &pl, code), 0);
        ck_assert_uint_eq(pl, 28);
        ck_assert_str_eq(code, "wxyzkmnpqr");
}
END_TEST

START_TEST(split_upper_case)
{
        size_t pl;
        char code[16];

        ck_assert_int_eq(split("pwABCDE-FGHIJ", &pl, code), 0);
        ck_assert_uint_eq(pl, 2);
        ck_assert_str_eq(code, "abcdefghij");
        ck_assert_int_eq(split("pwAbCdE-fGhIj", &pl, code), 0);
        ck_assert_str_eq(code, "abcdefghij");
}
END_TEST

START_TEST(split_one_byte_password)
{
        size_t pl;
        char code[16];

        ck_assert_int_eq(split("xabcde-fghij", &pl, code), 0);
        ck_assert_uint_eq(pl, 1);
        /* the password may itself end in dashes or letters: only the last 11 bytes count */
        ck_assert_int_eq(split("my-pw-abcde-fghij", &pl, code), 0);
        ck_assert_uint_eq(pl, 6);
        ck_assert_int_eq(split("123456abcde-fghij", &pl, code), 0);
        ck_assert_uint_eq(pl, 6);
}
END_TEST

START_TEST(split_no_prefix)
{
        size_t pl;
        char code[16];

        ck_assert_int_eq(split("abcde-fghij", &pl, code), -1);
        ck_assert_int_eq(split("bcde-fghij", &pl, code), -1);
        ck_assert_int_eq(split("", &pl, code), -1);
}
END_TEST

START_TEST(split_digits_refused)
{
        static const char *const bad[] = {"pwabcd1-fghij", "pw12345-67890", "pwabcde-fghi0",
                                          "pw123456", "pwabcdefgh123456"};
        size_t pl;
        char code[16];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(split(bad[i], &pl, code) == -1, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(split_dash_position)
{
        static const char *const bad[] = {
            "pwabcdefghij",  /* no dash */
            "pwabcdef-ghij", /* dash after 6 */
            "pwabcd-efghij", /* dash after 4 */
            "pwab-de-fghij", /* two dashes */
            "pwabcde-fg-ij", /* dash inside the second group */
            "pwabcde--fghi", /* double dash */
            "pwabcde fghij", /* space instead of dash */
            "pwabcde_fghij", "pw-abcdefghij",
        };
        size_t pl;
        char code[16];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(split(bad[i], &pl, code) == -1, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(split_letters_outside_alphabet)
{
        static const char *const bad[] = {"pwablde-fghij",  "pwabcde-fghoj",       "pwabcdL-fghij",
                                          "pwabcde-Ofghi",  "pwabcde-fgh\xc3\xa4", "pwabcde-fghi ",
                                          "pwabcde-fghij\n"};
        size_t pl;
        char code[16];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(split(bad[i], &pl, code) == -1, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(split_counted_and_buffers)
{
        static const char in[] = "pwabcde-fghijXYZ";
        size_t pl = 0;
        char code[16];

        /* the length decides, not the NUL */
        ck_assert_int_eq(recovery_split(in, 13, &pl, code, sizeof(code)), 0);
        ck_assert_uint_eq(pl, 2);
        ck_assert_str_eq(code, "abcdefghij");
        ck_assert_int_eq(recovery_split(in, 14, &pl, code, sizeof(code)), -1);
        ck_assert_int_eq(recovery_split(in, 13, &pl, code, RECOVERY_LETTERS), -1);
        ck_assert_int_eq(recovery_split(in, 13, &pl, code, RECOVERY_LETTERS + 1), 0);
        ck_assert_int_eq(recovery_split(NULL, 13, &pl, code, sizeof(code)), -1);
}
END_TEST

START_TEST(split_never_reads_a_totp_code)
{
        /* neither reading can take the other's input: every TOTP-shaped tail is refused */
        static const char *const totp[] = {"hunter2123456", "pw12345678", "abcdefghij-123456"};
        size_t pl;
        char code[16];

        for (size_t i = 0; i < sizeof(totp) / sizeof(totp[0]); i++)
                ck_assert_int_eq(split(totp[i], &pl, code), -1);
}
END_TEST

/* ---- recovery_hash ------------------------------------------------------------------- */

START_TEST(hash_properties)
{
        unsigned char key[MAC_KEY_LEN], a[MAC_LEN], b[MAC_LEN], w[MAC_LEN];
        struct tu_part p[3] = {tu_str("recovery"), tu_str("alice"), tu_str("abcdefghij")};

        memset(key, 0x42, sizeof(key));
        ck_assert_int_eq(recovery_hash(key, "alice", "abcdefghij", a, NULL, 0), MAILOTP_OK);
        ck_assert_int_eq(recovery_hash(key, "alice", "abcdefghij", b, NULL, 0), MAILOTP_OK);
        ck_assert_mem_eq(a, b, MAC_LEN);
        /* a keyed hash over length-prefixed parts, domain-separated from app passwords */
        tu_mac_oracle(key, p, 3, w);
        ck_assert_mem_eq(a, w, MAC_LEN);
        ck_assert_int_eq(recovery_hash(key, "bob", "abcdefghij", b, NULL, 0), MAILOTP_OK);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
        ck_assert_int_eq(recovery_hash(key, "alice", "abcdefghik", b, NULL, 0), MAILOTP_OK);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
        /* the same letters as an application password hash differently */
        ck_assert_int_eq(apppw_hash(key, "alice", "abcdefghij", b, NULL, 0), MAILOTP_OK);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
        key[5] ^= 1;
        ck_assert_int_eq(recovery_hash(key, "alice", "abcdefghij", b, NULL, 0), MAILOTP_OK);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
}
END_TEST

/* ---- recovery_find / recovery_remove ---------------------------------------------- */

START_TEST(find_each)
{
        struct recovery_list l;
        unsigned char h[MAC_LEN];

        fill_list(&l, RECOVERY_COUNT);
        for (size_t i = 0; i < RECOVERY_COUNT; i++) {
                memcpy(h, l.hash[i], MAC_LEN);
                ck_assert_int_eq(recovery_find(&l, h), (int)i);
        }
        h[0] ^= 0x80;
        ck_assert_int_eq(recovery_find(&l, h), -1);
        memcpy(h, l.hash[7], MAC_LEN);
        l.n = 7;
        ck_assert_int_eq(recovery_find(&l, h), -1); /* beyond n */
        l.n = 0;
        ck_assert_int_eq(recovery_find(&l, h), -1);
}
END_TEST

START_TEST(remove_keeps_order)
{
        struct recovery_list l, orig;
        unsigned char h[MAC_LEN];

        fill_list(&l, 5);
        orig = l;
        recovery_remove(&l, 2);
        ck_assert_uint_eq(l.n, 4);
        ck_assert_mem_eq(l.hash[0], orig.hash[0], MAC_LEN);
        ck_assert_mem_eq(l.hash[1], orig.hash[1], MAC_LEN);
        ck_assert_mem_eq(l.hash[2], orig.hash[3], MAC_LEN);
        ck_assert_mem_eq(l.hash[3], orig.hash[4], MAC_LEN);
        memcpy(h, orig.hash[2], MAC_LEN);
        ck_assert_int_eq(recovery_find(&l, h), -1); /* gone */
        ck_assert_int_eq(l.created, orig.created);
        /* first and last */
        recovery_remove(&l, 0);
        ck_assert_uint_eq(l.n, 3);
        ck_assert_mem_eq(l.hash[0], orig.hash[1], MAC_LEN);
        recovery_remove(&l, 2);
        ck_assert_uint_eq(l.n, 2);
        ck_assert_mem_eq(l.hash[1], orig.hash[3], MAC_LEN);
        memcpy(h, orig.hash[4], MAC_LEN);
        ck_assert_int_eq(recovery_find(&l, h), -1);
}
END_TEST

START_TEST(remove_out_of_range)
{
        struct recovery_list l, orig;

        fill_list(&l, 3);
        orig = l;
        recovery_remove(&l, 3);
        recovery_remove(&l, 100);
        ck_assert_uint_eq(l.n, 3);
        ck_assert_mem_eq(&l, &orig, sizeof(l));
        fill_list(&l, 0);
        recovery_remove(&l, 0);
        ck_assert_uint_eq(l.n, 0);
}
END_TEST

START_TEST(remove_all)
{
        struct recovery_list l;

        fill_list(&l, RECOVERY_COUNT);
        while (l.n > 0)
                recovery_remove(&l, l.n / 2);
        for (size_t i = 0; i < RECOVERY_COUNT; i++)
                for (unsigned j = 0; j < MAC_LEN; j++)
                        ck_assert_msg(l.hash[i][j] == 0, "removed hash %zu not zeroed", i);
}
END_TEST

/* ---- format / parse ------------------------------------------------------------------- */

START_TEST(format_exact_text)
{
        struct recovery_list l;
        char buf[RECORD_MAX_SIZE], hex0[65], hex1[65], want[512];
        size_t len = 0;

        fill_list(&l, 2);
        ck_assert_int_eq(recovery_format(&l, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_uint_eq(len, strlen(buf));
        tu_hex(l.hash[0], MAC_LEN, hex0);
        tu_hex(l.hash[1], MAC_LEN, hex1);
        snprintf(want, sizeof(want),
                 "# pam_mailotp recovery codes (hashes): use mailotp(1)\n"
                 "version = 1\ncreated = 1700000000\ncode = %s\ncode = %s\nend\n",
                 hex0, hex1);
        ck_assert_str_eq(buf, want);
}
END_TEST

static void round_trip(size_t n)
{
        struct recovery_list l, back;
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;

        fill_list(&l, n);
        l.created = 253402300799;
        ck_assert_int_eq(recovery_format(&l, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_str_eq(buf + len - 5, "\nend\n");
        memset(&back, 0xA5, sizeof(back));
        ck_assert_msg(recovery_parse(buf, len, &back, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert_int_eq(back.created, l.created);
        ck_assert_uint_eq(back.n, n);
        for (size_t i = 0; i < n; i++)
                ck_assert_mem_eq(back.hash[i], l.hash[i], MAC_LEN);
        /* every strict prefix is refused (a file cut after some codes must not lose them) */
        for (size_t cut = 0; cut < len; cut++) {
                ck_assert_msg(recovery_parse(buf, cut, &back, err, sizeof(err)) ==
                                  MAILOTP_ERR_FORMAT,
                              "prefix %zu/%zu accepted", cut, len);
                assert_wiped(&back);
        }
}

START_TEST(round_trip_sizes)
{
        round_trip((size_t)_i);
}
END_TEST

START_TEST(format_small_buffer)
{
        struct recovery_list l;
        char buf[RECORD_MAX_SIZE];
        size_t full = 0, len = 0;

        fill_list(&l, 3);
        ck_assert_int_eq(recovery_format(&l, buf, sizeof(buf), &full), MAILOTP_OK);
        for (size_t sz = 0; sz <= full; sz++)
                ck_assert_msg(recovery_format(&l, buf, sz, &len) == MAILOTP_ERR_INVALID,
                              "fit in %zu", sz);
        ck_assert_int_eq(recovery_format(&l, buf, full + 1, &len), MAILOTP_OK);
}
END_TEST

#define HEX64       "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define HEX64_UPPER "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"

START_TEST(parse_good)
{
        struct recovery_list l;

        ck_assert_msg(parse_str("version = 1\ncreated = 5\ncode = " HEX64 "\nend\n", &l) ==
                          MAILOTP_OK,
                      "%s", err);
        ck_assert_uint_eq(l.n, 1);
        ck_assert_int_eq(l.created, 5);
        ck_assert_int_eq(l.hash[0][1], 0x11);
        /* no codes left is a valid file; "created" may follow the codes */
        ck_assert_int_eq(parse_str("version = 1\ncreated = 5\nend\n", &l), MAILOTP_OK);
        ck_assert_uint_eq(l.n, 0);
        ck_assert_int_eq(parse_str("# c\nversion = 1\ncode = " HEX64 "\ncreated = 5\nend\n", &l),
                         MAILOTP_OK);
        ck_assert_uint_eq(l.n, 1);
}
END_TEST

START_TEST(parse_refused)
{
        static const char *const bad[] = {
            "",
            "created = 5\n",
            "created = 5\nversion = 1\n",
            "version = 2\ncreated = 5\n",
            "version = 1\n", /* created missing */
            "version = 1\ncreated = 5\ncreated = 6\n",
            "version = 1\ncreated = x\n",
            "version = 1\ncreated = 253402300800\n",
            "version = 1\ncreated = 5\ncode = 00112233\n",
            "version = 1\ncreated = 5\ncode = " HEX64 "0\n",
            "version = 1\ncreated = 5\ncode = " HEX64_UPPER "\n",
            "version = 1\ncreated = 5\ncode\n",
            "version = 1\ncreated = 5\ncode =\n",
            "version = 1\ncreated = 5\ncolour = blue\n",
            "version = 1\nversion = 1\ncreated = 5\n",
            "version = 1\ncreated = 5\nend\n",
        };
        struct recovery_list l;
        char buf[512];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(buf, sizeof(buf), "%send\n", bad[i]);
                memset(&l, 0xA5, sizeof(l));
                ck_assert_msg(parse_str(buf, &l) == MAILOTP_ERR_FORMAT, "accepted case %zu", i);
                ck_assert_str_ne(err, "");
                assert_wiped(&l);
        }
}
END_TEST

START_TEST(parse_too_many)
{
        char buf[2048];
        size_t off;
        struct recovery_list l;

        off = (size_t)snprintf(buf, sizeof(buf), "version = 1\ncreated = 5\n");
        for (unsigned i = 0; i < RECOVERY_COUNT; i++)
                off += (size_t)snprintf(buf + off, sizeof(buf) - off, "code = " HEX64 "\n");
        memcpy(buf + off, "end\n", 5);
        ck_assert_int_eq(parse_str(buf, &l), MAILOTP_OK);
        ck_assert_uint_eq(l.n, RECOVERY_COUNT);
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "code = " HEX64 "\n");
        memcpy(buf + off, "end\n", 5);
        ck_assert_int_eq(parse_str(buf, &l), MAILOTP_ERR_FORMAT);
        assert_wiped(&l);
}
END_TEST

START_TEST(parse_end_line_rules)
{
        static const char body[] = "version = 1\ncreated = 5\ncode = " HEX64 "\n";
        struct recovery_list l;
        char buf[512];

        snprintf(buf, sizeof(buf), "%send\n", body);
        ck_assert_int_eq(parse_str(buf, &l), MAILOTP_OK);
        ck_assert_int_eq(parse_str(body, &l), MAILOTP_ERR_FORMAT); /* missing */
        ck_assert_ptr_nonnull(strstr(err, "cut short"));
        assert_wiped(&l);
        snprintf(buf, sizeof(buf), "%send", body); /* no newline */
        ck_assert_int_eq(parse_str(buf, &l), MAILOTP_ERR_FORMAT);
        snprintf(buf, sizeof(buf), "version = 1\ncreated = 5\nend\ncode = " HEX64 "\n");
        ck_assert_int_eq(parse_str(buf, &l), MAILOTP_ERR_FORMAT); /* not last */
        snprintf(buf, sizeof(buf), "version = 1\ncreated = 5\nend\ncode = " HEX64 "\nend\n");
        ck_assert_int_eq(parse_str(buf, &l), MAILOTP_ERR_FORMAT);
        snprintf(buf, sizeof(buf), "%send\ncode = " HEX64 "\n", body); /* content after */
        ck_assert_int_eq(parse_str(buf, &l), MAILOTP_ERR_FORMAT);
        snprintf(buf, sizeof(buf), "%send\n\n", body);
        ck_assert_int_eq(parse_str(buf, &l), MAILOTP_ERR_FORMAT);
        assert_wiped(&l);
}
END_TEST

static Suite *recovery_suite(void)
{
        Suite *s = suite_create("recovery");
        TCase *tc;

        tc = tcase_create("split");
        tcase_add_test(tc, split_typical);
        tcase_add_test(tc, split_upper_case);
        tcase_add_test(tc, split_one_byte_password);
        tcase_add_test(tc, split_no_prefix);
        tcase_add_test(tc, split_digits_refused);
        tcase_add_test(tc, split_dash_position);
        tcase_add_test(tc, split_letters_outside_alphabet);
        tcase_add_test(tc, split_counted_and_buffers);
        tcase_add_test(tc, split_never_reads_a_totp_code);
        suite_add_tcase(s, tc);

        tc = tcase_create("list");
        tcase_add_test(tc, hash_properties);
        tcase_add_test(tc, find_each);
        tcase_add_test(tc, remove_keeps_order);
        tcase_add_test(tc, remove_out_of_range);
        tcase_add_test(tc, remove_all);
        suite_add_tcase(s, tc);

        tc = tcase_create("format");
        tcase_add_test(tc, format_exact_text);
        tcase_add_loop_test(tc, round_trip_sizes, 0, (int)RECOVERY_COUNT + 1);
        tcase_add_test(tc, format_small_buffer);
        tcase_add_test(tc, parse_good);
        tcase_add_test(tc, parse_refused);
        tcase_add_test(tc, parse_too_many);
        tcase_add_test(tc, parse_end_line_rules);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(recovery_suite());
}
