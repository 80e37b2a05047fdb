/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * words.c: human-typable random strings (application passwords, recovery
 * codes) and their normalisation.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "words.h"

/* The alphabet, written out here rather than taken from the header. */
static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz";

static int letter_index(char c)
{
        const char *p = c != '\0' ? strchr(alphabet, c) : NULL;

        return p == NULL ? -1 : (int)(p - alphabet);
}

/* Shape check: groups of group_len alphabet letters joined by single dashes. */
static void assert_shape(const char *s, unsigned groups, unsigned group_len)
{
        size_t want = (size_t)groups * group_len + groups - 1;

        ck_assert_msg(strlen(s) == want, "\"%s\": length %zu, want %zu", s, strlen(s), want);
        for (size_t i = 0; i < want; i++) {
                if ((i + 1) % (group_len + 1) == 0)
                        ck_assert_msg(s[i] == '-', "\"%s\": no dash at %zu", s, i);
                else
                        ck_assert_msg(letter_index(s[i]) >= 0, "\"%s\": byte %zu not in alphabet",
                                      s, i);
        }
}

/* ---- the alphabet ------------------------------------------------------------ */

START_TEST(alphabet_constants)
{
        ck_assert_str_eq(WORDS_ALPHABET, alphabet);
        ck_assert_uint_eq(WORDS_ALPHABET_LEN, 24);
        ck_assert_uint_eq(strlen(WORDS_ALPHABET), WORDS_ALPHABET_LEN);
        /* no look-alikes of 1 and 0, no digits */
        ck_assert_ptr_null(strchr(WORDS_ALPHABET, 'l'));
        ck_assert_ptr_null(strchr(WORDS_ALPHABET, 'o'));
        ck_assert_uint_eq(strcspn(WORDS_ALPHABET, "0123456789"), WORDS_ALPHABET_LEN);
}
END_TEST

/* ---- words_generate ---------------------------------------------------------- */

START_TEST(generate_app_password_shape)
{
        char out[32];

        memset(out, 'Z', sizeof(out));
        ck_assert_int_eq(words_generate(5, 4, out, sizeof(out)), MAILOTP_OK);
        assert_shape(out, 5, 4);
        ck_assert_uint_eq(strlen(out), 24);
}
END_TEST

START_TEST(generate_recovery_shape)
{
        char out[16];

        ck_assert_int_eq(words_generate(2, 5, out, sizeof(out)), MAILOTP_OK);
        assert_shape(out, 2, 5);
        ck_assert_int_eq(out[5], '-');
}
END_TEST

START_TEST(generate_various_shapes)
{
        static const unsigned shapes[][2] = {{1, 1}, {1, 10}, {10, 1}, {3, 7}, {8, 8}};
        char out[128];

        for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
                ck_assert_int_eq(words_generate(shapes[i][0], shapes[i][1], out, sizeof(out)),
                                 MAILOTP_OK);
                assert_shape(out, shapes[i][0], shapes[i][1]);
        }
}
END_TEST

START_TEST(generate_exact_buffer_and_one_short)
{
        char out[32];

        /* groups * (group_len + 1) bytes is exactly the text plus its NUL */
        memset(out, 'Z', sizeof(out));
        ck_assert_int_eq(words_generate(5, 4, out, 25), MAILOTP_OK);
        ck_assert_int_eq(out[24], '\0');
        ck_assert_int_eq(out[25], 'Z');
        memset(out, 'Z', sizeof(out));
        ck_assert_int_eq(words_generate(5, 4, out, 24), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(out[24], 'Z'); /* nothing written past the given size */
        ck_assert_int_eq(words_generate(2, 5, out, 11), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(words_generate(2, 5, out, 12), MAILOTP_OK);
        assert_shape(out, 2, 5);
}
END_TEST

START_TEST(generate_bad_sizes)
{
        char out[64];

        ck_assert_int_eq(words_generate(0, 4, out, sizeof(out)), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(words_generate(5, 0, out, sizeof(out)), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(words_generate(0, 0, out, sizeof(out)), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(words_generate(1, 1, out, 0), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(words_generate(1, 1, out, 1), MAILOTP_ERR_INVALID);
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
        return strcmp((const char *)a, (const char *)b);
}

START_TEST(generate_distinct)
{
        /* 2000 recovery codes (45.8 bits each): a repeat has probability ~3e-8 */
        enum { N = 2000 };
        char(*codes)[12] = calloc(N, sizeof(*codes));

        ck_assert_ptr_nonnull(codes);
        for (size_t i = 0; i < N; i++)
                ck_assert_int_eq(words_generate(2, 5, codes[i], sizeof(codes[i])), MAILOTP_OK);
        qsort(codes, N, sizeof(codes[0]), cmp_str);
        for (size_t i = 1; i < N; i++)
                ck_assert_msg(strcmp(codes[i - 1], codes[i]) != 0, "repeated code %s", codes[i]);
        free(codes);
}
END_TEST

/*
 * Letter frequencies over 24000 letters: chi-square with 23 degrees of
 * freedom.  P(chi2 > 90) < 1e-9 for a uniform source, so this never flakes;
 * a stuck or badly skewed generator lands far above.
 */
START_TEST(generate_rough_uniformity)
{
        unsigned long counts[24] = {0};
        unsigned long total = 0;
        double chi2 = 0.0, expected;
        char out[32];

        for (int i = 0; i < 1000; i++) {
                ck_assert_int_eq(words_generate(4, 6, out, sizeof(out)), MAILOTP_OK);
                for (const char *p = out; *p != '\0'; p++) {
                        int k;

                        if (*p == '-')
                                continue;
                        k = letter_index(*p);
                        ck_assert_int_ge(k, 0);
                        counts[k]++;
                        total++;
                }
        }
        ck_assert_uint_eq(total, 24000);
        expected = (double)total / 24.0;
        for (int k = 0; k < 24; k++) {
                double d = (double)counts[k] - expected;

                chi2 += d * d / expected;
        }
        ck_assert_msg(chi2 < 90.0, "chi-square %.1f over 23 degrees of freedom (p < 1e-9)", chi2);
}
END_TEST

/*
 * No modulo bias: a byte taken modulo 24 would give the first 16 letters
 * 11/256 each and the other 8 letters 10/256, so the first 16 would take
 * 68.75 % instead of 66.67 %.  Over 480000 letters the standard deviation of
 * that share is 0.068 %: the bias is 30 deviations, the bound 6.5 (p < 1e-10).
 */
START_TEST(generate_no_modulo_bias)
{
        unsigned long low = 0, total = 0;
        double share, sd;
        char out[32];

        for (int i = 0; i < 20000; i++) {
                ck_assert_int_eq(words_generate(4, 6, out, sizeof(out)), MAILOTP_OK);
                for (const char *p = out; *p != '\0'; p++) {
                        if (*p == '-')
                                continue;
                        if (letter_index(*p) < 16)
                                low++;
                        total++;
                }
        }
        share = (double)low / (double)total;
        sd = 0.4714 / 693.0; /* sqrt(2/3 * 1/3) / sqrt(480000) */
        ck_assert_msg(share > 2.0 / 3.0 - 6.5 * sd && share < 2.0 / 3.0 + 6.5 * sd,
                      "first 16 letters took %.4f of %lu letters (want 0.6667)", share, total);
}
END_TEST

/* Every letter appears in every position of a group over enough draws. */
START_TEST(generate_every_letter_every_position)
{
        unsigned seen[5] = {0};
        char out[16];

        for (int i = 0; i < 2000; i++) {
                ck_assert_int_eq(words_generate(1, 5, out, sizeof(out)), MAILOTP_OK);
                for (int pos = 0; pos < 5; pos++) {
                        int k = letter_index(out[pos]);

                        ck_assert_int_ge(k, 0);
                        seen[pos] |= 1U << k;
                }
        }
        /* P(a letter missing from one position in 2000 draws) = 24 * (23/24)^2000 ~ 1e-35 */
        for (int pos = 0; pos < 5; pos++)
                ck_assert_msg(seen[pos] == 0xFFFFFFU, "position %d saw mask %06x", pos, seen[pos]);
}
END_TEST

/* ---- words_normalise ------------------------------------------------------------ */

static int norm(const char *in, unsigned letters, char *out, size_t outsz)
{
        return words_normalise(in, strlen(in), letters, out, outsz);
}

static void assert_zeroed(const char *out, size_t n)
{
        size_t i = 0;

        while (i < n && out[i] == '\0')
                i++;
        ck_assert_msg(i == n, "byte %zu not zeroed", i);
}

START_TEST(normalise_plain)
{
        char out[32];

        ck_assert_int_eq(norm("abcdefghij", 10, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "abcdefghij");
        ck_assert_int_eq(norm("abcde-fghij", 10, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "abcdefghij");
        ck_assert_int_eq(norm("abcd-efgh-ijkm-npqr-stuv", 20, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "abcdefghijkmnpqrstuv");
}
END_TEST

START_TEST(normalise_dashes_and_spaces_dropped)
{
        char out[32];

        ck_assert_int_eq(norm("abcd efgh ijkm npqr stuv", 20, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "abcdefghijkmnpqrstuv");
        ck_assert_int_eq(norm(" -ab--cde - fghij- ", 10, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "abcdefghij");
        ck_assert_int_eq(norm("a-b-c-d-e-f-g-h-i-j", 10, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "abcdefghij");
}
END_TEST

START_TEST(normalise_upper_case_folded)
{
        char out[32];

        ck_assert_int_eq(norm("ABCDE-FGHIJ", 10, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "abcdefghij");
        ck_assert_int_eq(norm("AbCdE-fGhIj", 10, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "abcdefghij");
        ck_assert_int_eq(norm("WXYZW-XYZWX", 10, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "wxyzwxyzwx");
}
END_TEST

START_TEST(normalise_wrong_length)
{
        char out[32];

        memset(out, 'X', sizeof(out));
        ck_assert_int_eq(norm("abcde-fghi", 10, out, sizeof(out)), -1); /* 9 */
        assert_zeroed(out, sizeof(out));
        memset(out, 'X', sizeof(out));
        ck_assert_int_eq(norm("abcde-fghijk", 10, out, sizeof(out)), -1); /* 11 */
        assert_zeroed(out, sizeof(out));
        memset(out, 'X', sizeof(out));
        ck_assert_int_eq(norm("", 10, out, sizeof(out)), -1);
        assert_zeroed(out, sizeof(out));
        memset(out, 'X', sizeof(out));
        ck_assert_int_eq(norm("- - -", 10, out, sizeof(out)), -1);
        assert_zeroed(out, sizeof(out));
        /* the 20-letter form is not a 10-letter one */
        ck_assert_int_eq(norm("abcd-efgh-ijkm-npqr-stuv", 10, out, sizeof(out)), -1);
        ck_assert_int_eq(norm("abcde-fghij", 20, out, sizeof(out)), -1);
}
END_TEST

START_TEST(normalise_outside_alphabet)
{
        static const char *const bad[] = {
            "abcde-fghil", /* l */
            "abcde-fghio", /* o */
            "abcdL-fghij", /* L folds to l */
            "abcdO-fghij", /* O folds to o */
            "abcde-fgh1j",  "0bcde-fghij",  "12345-67890",       "abcde_fghij", "abcde.fghij",
            "abcde\tfghij", "abcde\nfghij", "abcde-fgh\xc3\xa4", "abcde+fghij", "abcde-fghi!",
        };
        char out[32];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memset(out, 'X', sizeof(out));
                ck_assert_msg(norm(bad[i], 10, out, sizeof(out)) == -1, "accepted \"%s\"", bad[i]);
                assert_zeroed(out, sizeof(out));
        }
}
END_TEST

START_TEST(normalise_every_byte)
{
        /* one byte in the middle of a good code: accepted exactly for alphabet letters,
         * their upper case, '-' and ' ' (dropped, so then the code is one short) */
        char in[12], out[16];

        for (unsigned c = 1; c < 256; c++) {
                int want_ok, rc;
                char lc = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);

                memcpy(in, "abcdefghij", 11);
                in[4] = (char)c;
                want_ok = letter_index(lc) >= 0;
                rc = words_normalise(in, 10, 10, out, sizeof(out));
                ck_assert_msg(rc == (want_ok ? 0 : -1), "byte 0x%02x: rc %d", c, rc);
                if (want_ok)
                        ck_assert_int_eq(out[4], lc);
        }
}
END_TEST

START_TEST(normalise_counted_length)
{
        char out[16];

        /* only len bytes are read: a NUL inside is a bad byte, a longer string is cut */
        ck_assert_int_eq(words_normalise("abcdefghijkmn", 10, 10, out, sizeof(out)), 0);
        ck_assert_str_eq(out, "abcdefghij");
        ck_assert_int_eq(words_normalise("abcde\0fghij", 11, 10, out, sizeof(out)), -1);
}
END_TEST

START_TEST(normalise_buffer_sizes)
{
        char out[16];

        ck_assert_int_eq(norm("abcde-fghij", 10, out, 11), 0);
        ck_assert_str_eq(out, "abcdefghij");
        ck_assert_int_eq(norm("abcde-fghij", 10, out, 10), -1);
        ck_assert_int_eq(norm("abcde-fghij", 10, NULL, 11), -1);
}
END_TEST

START_TEST(normalise_round_trip_generated)
{
        char gen[32], out[32], upper[32];

        for (int i = 0; i < 200; i++) {
                ck_assert_int_eq(words_generate(5, 4, gen, sizeof(gen)), MAILOTP_OK);
                ck_assert_int_eq(norm(gen, 20, out, sizeof(out)), 0);
                for (size_t j = 0, o = 0; gen[j] != '\0'; j++) {
                        if (gen[j] != '-')
                                ck_assert_int_eq(out[o++], gen[j]);
                }
                for (size_t j = 0; j <= strlen(gen); j++)
                        upper[j] = (char)((gen[j] >= 'a' && gen[j] <= 'z') ? gen[j] - 32 : gen[j]);
                ck_assert_int_eq(norm(upper, 20, gen, sizeof(gen)), 0);
                ck_assert_str_eq(gen, out);
        }
}
END_TEST

static Suite *words_suite(void)
{
        Suite *s = suite_create("words");
        TCase *tc;

        tc = tcase_create("generate");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, alphabet_constants);
        tcase_add_test(tc, generate_app_password_shape);
        tcase_add_test(tc, generate_recovery_shape);
        tcase_add_test(tc, generate_various_shapes);
        tcase_add_test(tc, generate_exact_buffer_and_one_short);
        tcase_add_test(tc, generate_bad_sizes);
        tcase_add_test(tc, generate_distinct);
        tcase_add_test(tc, generate_rough_uniformity);
        tcase_add_test(tc, generate_no_modulo_bias);
        tcase_add_test(tc, generate_every_letter_every_position);
        suite_add_tcase(s, tc);

        tc = tcase_create("normalise");
        tcase_add_test(tc, normalise_plain);
        tcase_add_test(tc, normalise_dashes_and_spaces_dropped);
        tcase_add_test(tc, normalise_upper_case_folded);
        tcase_add_test(tc, normalise_wrong_length);
        tcase_add_test(tc, normalise_outside_alphabet);
        tcase_add_test(tc, normalise_every_byte);
        tcase_add_test(tc, normalise_counted_length);
        tcase_add_test(tc, normalise_buffer_sizes);
        tcase_add_test(tc, normalise_round_trip_generated);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(words_suite());
}
