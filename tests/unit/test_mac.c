/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mac.c: the keyed hash behind application passwords, recovery codes and the
 * reuse-grace fingerprint, checked against `openssl dgst -mac HMAC` over the
 * length-prefixed byte string built here, and the hex helpers.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mac.h"
#include "testutil.h"

static unsigned char key[MAC_KEY_LEN];

static void setup(void)
{
        for (unsigned i = 0; i < MAC_KEY_LEN; i++)
                key[i] = (unsigned char)i;
}

/* mac_compute over the parts must equal the oracle over the same parts. */
static void assert_matches_oracle(const struct tu_part *p, size_t n)
{
        struct mac_part mp[8];
        unsigned char got[MAC_LEN], want[MAC_LEN];
        char gh[2 * MAC_LEN + 1], wh[2 * MAC_LEN + 1];

        ck_assert_uint_le(n, 8);
        for (size_t i = 0; i < n; i++) {
                mp[i].data = p[i].data;
                mp[i].len = p[i].len;
        }
        memset(got, 0xAA, sizeof(got));
        ck_assert_int_eq(mac_compute(key, mp, n, got), MAILOTP_OK);
        tu_mac_oracle(key, p, n, want);
        tu_hex(got, MAC_LEN, gh);
        tu_hex(want, MAC_LEN, wh);
        ck_assert_msg(memcmp(got, want, MAC_LEN) == 0, "mac_compute %s, openssl %s", gh, wh);
}

static void mac_of(const char *a, const char *b, unsigned char out[MAC_LEN])
{
        struct mac_part p[2];

        p[0].data = a;
        p[0].len = strlen(a);
        p[1].data = b;
        p[1].len = b == NULL ? 0 : strlen(b);
        ck_assert_int_eq(mac_compute(key, p, b == NULL ? 1 : 2, out), MAILOTP_OK);
}

/* ---- the oracle itself ---------------------------------------------------------- */

START_TEST(oracle_rfc4231_case2)
{
        /* RFC 4231 test case 2: key "Jefe" */
        static const char data[] = "what do ya want for nothing?";
        static const unsigned char jefe[] = "Jefe";
        unsigned char out[32];
        char hex[65];

        tu_openssl_hmac(jefe, 4, data, sizeof(data) - 1, out);
        tu_hex(out, 32, hex);
        ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
END_TEST

START_TEST(oracle_rfc4231_case1_padded_key)
{
        /* RFC 4231 test case 1 (20 x 0x0b, "Hi There"); a key shorter than the block is
         * zero-padded, so the same key padded to 32 bytes gives the same HMAC */
        unsigned char k[32], out[32];
        char hex[65];

        memset(k, 0, sizeof(k));
        memset(k, 0x0b, 20);
        tu_openssl_hmac(k, 32, "Hi There", 8, out);
        tu_hex(out, 32, hex);
        ck_assert_str_eq(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}
END_TEST

/* ---- mac_compute against the oracle ---------------------------------------------- */

START_TEST(compute_one_part)
{
        struct tu_part p[1] = {tu_str("abc")};

        assert_matches_oracle(p, 1);
}
END_TEST

START_TEST(compute_empty_part_and_no_parts)
{
        struct tu_part p[2] = {tu_str(""), tu_str("x")};

        assert_matches_oracle(p, 1);
        assert_matches_oracle(p, 2);
        assert_matches_oracle(p, 0);
}
END_TEST

START_TEST(compute_apppw_like)
{
        struct tu_part p[3] = {tu_str("apppw"), tu_str("alice@example.com"),
                               tu_str("abcdefghijkmnpqrstuv")};

        assert_matches_oracle(p, 3);
}
END_TEST

START_TEST(compute_five_parts)
{
        struct tu_part p[5] = {tu_str("grace"), tu_str("bob"), tu_str("imap"), tu_str("192.0.2.7"),
                               tu_str("hunter2123456")};

        assert_matches_oracle(p, 5);
}
END_TEST

START_TEST(compute_binary_and_long_parts)
{
        /* 300 bytes (a two-byte length) with NUL and high bytes; 70000 bytes (three) */
        unsigned char *a = malloc(300), *b = malloc(70000);
        struct tu_part p[2];

        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        for (size_t i = 0; i < 300; i++)
                a[i] = (unsigned char)(i * 131U);
        for (size_t i = 0; i < 70000; i++)
                b[i] = (unsigned char)(i ^ (i >> 8));
        p[0].data = a;
        p[0].len = 300;
        p[1].data = b;
        p[1].len = 70000;
        assert_matches_oracle(p, 2);
        assert_matches_oracle(p + 1, 1);
        free(a);
        free(b);
}
END_TEST

START_TEST(compute_other_key)
{
        struct tu_part p[2] = {tu_str("recovery"), tu_str("carol")};

        for (unsigned i = 0; i < MAC_KEY_LEN; i++)
                key[i] = (unsigned char)(0xFF - 3 * i);
        assert_matches_oracle(p, 2);
}
END_TEST

START_TEST(compute_is_not_plain_concatenation)
{
        /* the length prefixes are really there: HMAC of the bare bytes differs */
        struct mac_part p[1] = {{"abc", 3}};
        unsigned char got[MAC_LEN], bare[MAC_LEN];

        ck_assert_int_eq(mac_compute(key, p, 1, got), MAILOTP_OK);
        tu_openssl_hmac(key, MAC_KEY_LEN, "abc", 3, bare);
        ck_assert(memcmp(got, bare, MAC_LEN) != 0);
}
END_TEST

/* ---- part boundaries and keys matter -------------------------------------------- */

START_TEST(boundaries_matter)
{
        unsigned char x[MAC_LEN], y[MAC_LEN];

        mac_of("ab", "c", x);
        mac_of("a", "bc", y);
        ck_assert(memcmp(x, y, MAC_LEN) != 0);
        mac_of("abc", "", x);
        mac_of("", "abc", y);
        ck_assert(memcmp(x, y, MAC_LEN) != 0);
        mac_of("abc", NULL, x); /* one part */
        mac_of("abc", "", y);   /* two parts, the second empty */
        ck_assert(memcmp(x, y, MAC_LEN) != 0);
        mac_of("ab", "c", x);
        mac_of("ab", "c", y);
        ck_assert_mem_eq(x, y, MAC_LEN); /* deterministic */
}
END_TEST

START_TEST(key_matters)
{
        unsigned char x[MAC_LEN], y[MAC_LEN];

        mac_of("apppw", "alice", x);
        key[31] ^= 1;
        mac_of("apppw", "alice", y);
        ck_assert(memcmp(x, y, MAC_LEN) != 0);
}
END_TEST

/* ---- mac_random ------------------------------------------------------------------- */

START_TEST(random_fills_and_differs)
{
        unsigned char a[MAC_KEY_LEN], b[MAC_KEY_LEN], zero[MAC_KEY_LEN];

        memset(a, 0, sizeof(a));
        memset(b, 0, sizeof(b));
        memset(zero, 0, sizeof(zero));
        ck_assert_int_eq(mac_random(a, sizeof(a)), MAILOTP_OK);
        ck_assert_int_eq(mac_random(b, sizeof(b)), MAILOTP_OK);
        ck_assert(memcmp(a, zero, sizeof(a)) != 0);
        ck_assert(memcmp(a, b, sizeof(a)) != 0);
        ck_assert_int_eq(mac_random(a, 0), MAILOTP_OK);
}
END_TEST

START_TEST(random_large)
{
        /* more than one getrandom() chunk may be needed; every byte value shows up */
        enum { N = 1 << 16 };
        unsigned char *buf = calloc(1, N);
        unsigned seen[256] = {0};

        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(mac_random(buf, N), MAILOTP_OK);
        for (size_t i = 0; i < N; i++)
                seen[buf[i]] = 1;
        for (unsigned v = 0; v < 256; v++)
                ck_assert_msg(seen[v], "byte value %u never drawn in 65536 bytes", v);
        free(buf);
}
END_TEST

/* ---- mac_hex / mac_unhex ------------------------------------------------------------ */

START_TEST(hex_known)
{
        static const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
        char out[2 * sizeof(in) + 1];

        memset(out, 'Z', sizeof(out));
        mac_hex(in, sizeof(in), out);
        ck_assert_str_eq(out, "00017f80abcdefff");
        mac_hex(in, 0, out);
        ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(hex_round_trip)
{
        unsigned char in[MAC_LEN], back[MAC_LEN];
        char hex[MAC_HEX_LEN + 1], mine[MAC_HEX_LEN + 1];

        for (int round = 0; round < 64; round++) {
                ck_assert_int_eq(mac_random(in, sizeof(in)), MAILOTP_OK);
                mac_hex(in, MAC_LEN, hex);
                ck_assert_uint_eq(strlen(hex), MAC_HEX_LEN);
                tu_hex(in, MAC_LEN, mine);
                ck_assert_str_eq(hex, mine);
                memset(back, 0, sizeof(back));
                ck_assert_int_eq(mac_unhex(hex, strlen(hex), back, MAC_LEN), 0);
                ck_assert_mem_eq(back, in, MAC_LEN);
        }
}
END_TEST

START_TEST(unhex_every_byte_value)
{
        unsigned char in[256], back[256];
        char hex[513];

        for (unsigned i = 0; i < 256; i++)
                in[i] = (unsigned char)i;
        tu_hex(in, 256, hex);
        ck_assert_int_eq(mac_unhex(hex, 512, back, 256), 0);
        ck_assert_mem_eq(back, in, 256);
}
END_TEST

START_TEST(unhex_refuses)
{
        unsigned char out[4];

        ck_assert_int_eq(mac_unhex("0001abff", 8, out, 4), 0);
        ck_assert_int_eq(out[3], 0xff);
        ck_assert_int_eq(mac_unhex("0001ABFF", 8, out, 4), -1); /* upper case */
        ck_assert_int_eq(mac_unhex("0001aBff", 8, out, 4), -1);
        ck_assert_int_eq(mac_unhex("0001abf", 7, out, 4), -1);     /* odd length */
        ck_assert_int_eq(mac_unhex("0001abff0", 9, out, 4), -1);   /* odd, too long */
        ck_assert_int_eq(mac_unhex("0001ab", 6, out, 4), -1);      /* short */
        ck_assert_int_eq(mac_unhex("0001abff00", 10, out, 4), -1); /* long */
        ck_assert_int_eq(mac_unhex("0001abgf", 8, out, 4), -1);    /* 'g' */
        ck_assert_int_eq(mac_unhex("0001ab f", 8, out, 4), -1);    /* space */
        ck_assert_int_eq(mac_unhex("0x01abff", 8, out, 4), -1);    /* 'x' */
        ck_assert_int_eq(mac_unhex("-001abff", 8, out, 4), -1);
        ck_assert_int_eq(mac_unhex("0001ab\xff"
                                   "f",
                                   8, out, 4),
                         -1);
        ck_assert_int_eq(mac_unhex("0001ab\0f", 8, out, 4), -1);
        ck_assert_int_eq(mac_unhex(NULL, 8, out, 4), -1);
}
END_TEST

START_TEST(unhex_every_bad_char)
{
        char hex[3] = "00";
        unsigned char out[1];

        for (unsigned c = 0; c < 256; c++) {
                int good = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');

                hex[1] = (char)c;
                ck_assert_msg(mac_unhex(hex, 2, out, 1) == (good ? 0 : -1), "byte 0x%02x", c);
                hex[1] = '0';
                hex[0] = (char)c;
                ck_assert_msg(mac_unhex(hex, 2, out, 1) == (good ? 0 : -1), "byte 0x%02x", c);
                hex[0] = '0';
        }
}
END_TEST

START_TEST(constants)
{
        ck_assert_uint_eq(MAC_LEN, 32);
        ck_assert_uint_eq(MAC_KEY_LEN, 32);
        ck_assert_uint_eq(MAC_HEX_LEN, 64);
}
END_TEST

static Suite *mac_suite(void)
{
        Suite *s = suite_create("mac");
        TCase *tc;

        tc = tcase_create("oracle");
        tcase_add_test(tc, oracle_rfc4231_case2);
        tcase_add_test(tc, oracle_rfc4231_case1_padded_key);
        suite_add_tcase(s, tc);

        tc = tcase_create("compute");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, compute_one_part);
        tcase_add_test(tc, compute_empty_part_and_no_parts);
        tcase_add_test(tc, compute_apppw_like);
        tcase_add_test(tc, compute_five_parts);
        tcase_add_test(tc, compute_binary_and_long_parts);
        tcase_add_test(tc, compute_other_key);
        tcase_add_test(tc, compute_is_not_plain_concatenation);
        tcase_add_test(tc, boundaries_matter);
        tcase_add_test(tc, key_matters);
        suite_add_tcase(s, tc);

        tc = tcase_create("random");
        tcase_add_test(tc, random_fills_and_differs);
        tcase_add_test(tc, random_large);
        suite_add_tcase(s, tc);

        tc = tcase_create("hex");
        tcase_add_test(tc, hex_known);
        tcase_add_test(tc, hex_round_trip);
        tcase_add_test(tc, unhex_every_byte_value);
        tcase_add_test(tc, unhex_refuses);
        tcase_add_test(tc, unhex_every_bad_char);
        tcase_add_test(tc, constants);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(mac_suite());
}
