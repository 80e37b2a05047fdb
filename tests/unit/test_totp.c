/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * totp.c: RFC 6238 Appendix B vectors, window edges, the replay rule,
 * parameter checks, secret decoding/generation, and oathtool as an
 * independent oracle.  Expected codes are hard-coded from the RFC or come
 * from oathtool; the code under test never produces its own expectations.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secure.h"
#include "testutil.h"
#include "totp.h"

/* RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890". */
static const unsigned char rfc_key[] = "12345678901234567890";
#define RFC_KEYLEN  20U
#define RFC_KEY_B32 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

struct rfc_vector {
        int64_t t;
        uint64_t step;
        const char *code8;
};

static const struct rfc_vector rfc[] = {
    {59, 1, "94287082"},
    {1111111109, 37037036, "07081804"},
    {1111111111, 37037037, "14050471"},
    {1234567890, 41152263, "89005924"},
    {2000000000, 66666666, "69279037"},
    {20000000000, 666666666, "65353130"},
};

#define NVEC (sizeof(rfc) / sizeof(rfc[0]))

static enum mailotp_rc verify(const char *code, unsigned digits, int64_t now, unsigned window,
                              int has_last, uint64_t last, uint64_t *matched)
{
        return totp_verify(rfc_key, RFC_KEYLEN, code, digits, now, TOTP_PERIOD, window, has_last,
                           last, matched);
}

/* ---- totp_step ---------------------------------------------------------- */

START_TEST(step_basic)
{
        ck_assert_uint_eq(totp_step(0, 30), 0);
        ck_assert_uint_eq(totp_step(29, 30), 0);
        ck_assert_uint_eq(totp_step(30, 30), 1);
        ck_assert_uint_eq(totp_step(59, 30), 1);
        ck_assert_uint_eq(totp_step(20000000000, 30), 666666666);
}
END_TEST

START_TEST(step_negative_and_zero_period)
{
        ck_assert_uint_eq(totp_step(-1, 30), 0);
        ck_assert_uint_eq(totp_step(INT64_MIN, 30), 0);
        ck_assert_uint_eq(totp_step(1000, 0), 0);
}
END_TEST

/* ---- RFC 6238 Appendix B ------------------------------------------------ */

START_TEST(rfc_vector_8_digits)
{
        uint64_t m = 0;

        ck_assert_int_eq(verify(rfc[_i].code8, 8, rfc[_i].t, 0, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, rfc[_i].step);
}
END_TEST

START_TEST(rfc_vector_6_digits)
{
        uint64_t m = 0;
        const char *code6 = rfc[_i].code8 + 2; /* HOTP truncation: the last 6 digits */

        ck_assert_int_eq(verify(code6, 6, rfc[_i].t, 0, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, rfc[_i].step);
}
END_TEST

START_TEST(rfc_vector_7_digits)
{
        uint64_t m = 0;

        ck_assert_int_eq(verify(rfc[_i].code8 + 1, 7, rfc[_i].t, 0, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, rfc[_i].step);
}
END_TEST

START_TEST(rfc_vector_wrong_digit_count_mismatch)
{
        uint64_t m = 77;

        /* The 8-digit code's first 6 digits are not the 6-digit code. */
        char code6[7];

        memcpy(code6, rfc[_i].code8, 6);
        code6[6] = '\0';
        if (strcmp(code6, rfc[_i].code8 + 2) == 0)
                return; /* (never the case for these vectors) */
        ck_assert_int_eq(verify(code6, 6, rfc[_i].t, 0, 0, 0, &m), MAILOTP_ERR_MISMATCH);
        ck_assert_uint_eq(m, 77);
}
END_TEST

START_TEST(rfc_other_step_codes_mismatch)
{
        uint64_t m = 0;

        /* Every other vector's code is wrong at this vector's time (window 0). */
        for (size_t j = 0; j < NVEC; j++) {
                if (j == (size_t)_i)
                        continue;
                ck_assert_int_eq(verify(rfc[j].code8, 8, rfc[_i].t, 0, 0, 0, &m),
                                 MAILOTP_ERR_MISMATCH);
        }
}
END_TEST

START_TEST(rfc_start_of_step)
{
        uint64_t m = 0;

        /* 1111111109 and 1111111111 straddle the boundary at 1111111110. */
        ck_assert_int_eq(verify("14050471", 8, 1111111110, 0, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 37037037);
        ck_assert_int_eq(verify("07081804", 8, 1111111110, 0, 0, 0, &m), MAILOTP_ERR_MISMATCH);
        ck_assert_int_eq(verify("07081804", 8, 1111111110 - 1, 0, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 37037036);
}
END_TEST

/* ---- window edges -------------------------------------------------------- */

START_TEST(window_previous_step_accepted_with_1)
{
        uint64_t m = 0;

        /* code of step 1 (T=59), checked during step 2 */
        ck_assert_int_eq(verify("94287082", 8, 89, 1, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 1);
}
END_TEST

START_TEST(window_next_step_accepted_with_1)
{
        uint64_t m = 0;

        /* code of step 1, checked during step 0 */
        ck_assert_int_eq(verify("94287082", 8, 29, 1, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 1);
        /* code of step 37037037 checked during 37037036 */
        ck_assert_int_eq(verify("14050471", 8, 1111111109, 1, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 37037037);
}
END_TEST

START_TEST(window_neighbours_refused_with_0)
{
        uint64_t m = 0;

        ck_assert_int_eq(verify("94287082", 8, 89, 0, 0, 0, &m), MAILOTP_ERR_MISMATCH);
        ck_assert_int_eq(verify("94287082", 8, 29, 0, 0, 0, &m), MAILOTP_ERR_MISMATCH);
        ck_assert_int_eq(verify("14050471", 8, 1111111109, 0, 0, 0, &m), MAILOTP_ERR_MISMATCH);
        ck_assert_int_eq(verify("07081804", 8, 1111111111, 0, 0, 0, &m), MAILOTP_ERR_MISMATCH);
}
END_TEST

START_TEST(window_two_steps_away_refused_with_1)
{
        uint64_t m = 0;
        const int64_t t = 1111111109; /* step 37037036 */

        ck_assert_int_eq(verify("07081804", 8, t + 60, 1, 0, 0, &m), MAILOTP_ERR_MISMATCH);
        ck_assert_int_eq(verify("07081804", 8, t - 60, 1, 0, 0, &m), MAILOTP_ERR_MISMATCH);
        ck_assert_int_eq(verify("94287082", 8, 119, 1, 0, 0, &m), MAILOTP_ERR_MISMATCH);
        /* ... but a window of 2 reaches them */
        ck_assert_int_eq(verify("07081804", 8, t + 60, 2, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 37037036);
        ck_assert_int_eq(verify("07081804", 8, t - 60, 2, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 37037036);
}
END_TEST

START_TEST(window_max_reaches_ten_steps)
{
        uint64_t m = 0;
        const int64_t t = 1111111109;

        ck_assert_int_eq(verify("07081804", 8, t + 300, TOTP_MAX_WINDOW, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 37037036);
        ck_assert_int_eq(verify("07081804", 8, t + 330, TOTP_MAX_WINDOW, 0, 0, &m),
                         MAILOTP_ERR_MISMATCH);
}
END_TEST

START_TEST(window_near_epoch_does_not_wrap)
{
        uint64_t m = 0;

        /* step 0 - window must clamp at 0, not wrap to huge steps */
        ck_assert_int_eq(verify("94287082", 8, 0, TOTP_MAX_WINDOW, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 1);
}
END_TEST

/* ---- replay rule (RFC 6238 5.2) ----------------------------------------- */

START_TEST(replay_same_step_refused)
{
        uint64_t m = 99;

        ck_assert_int_eq(verify("07081804", 8, 1111111109, 1, 1, 37037036, &m), MAILOTP_ERR_REPLAY);
        ck_assert_uint_eq(m, 99); /* untouched on failure */
}
END_TEST

START_TEST(replay_older_step_refused)
{
        uint64_t m = 99;

        /* last = S+1: codes of S+1 and S are both used up */
        ck_assert_int_eq(verify("07081804", 8, 1111111111, 1, 1, 37037037, &m), MAILOTP_ERR_REPLAY);
        ck_assert_int_eq(verify("14050471", 8, 1111111111, 1, 1, 37037037, &m), MAILOTP_ERR_REPLAY);
        ck_assert_uint_eq(m, 99);
}
END_TEST

START_TEST(replay_next_step_accepted)
{
        uint64_t m = 0;

        ck_assert_int_eq(verify("14050471", 8, 1111111109, 1, 1, 37037036, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 37037037);
}
END_TEST

START_TEST(replay_has_last_zero_ignores_last_step)
{
        uint64_t m = 0;

        ck_assert_int_eq(verify("07081804", 8, 1111111109, 1, 0, UINT64_MAX, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 37037036);
}
END_TEST

START_TEST(replay_last_step_zero_is_a_real_step)
{
        uint64_t m = 0;

        /* has_last = 1, last_step = 0: step 1 is still fresh */
        ck_assert_int_eq(verify("94287082", 8, 59, 0, 1, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 1);
        ck_assert_int_eq(verify("94287082", 8, 59, 0, 1, 1, &m), MAILOTP_ERR_REPLAY);
}
END_TEST

START_TEST(replay_wrong_code_is_mismatch_not_replay)
{
        uint64_t m = 0;

        ck_assert_int_eq(verify("00000000", 8, 1111111109, 1, 1, 37037036, &m),
                         MAILOTP_ERR_MISMATCH);
}
END_TEST

/*
 * Codes that collide inside one window.  With the RFC key and 6 digits,
 * HOTP(153567) == HOTP(153569) == "468457" and HOTP(910737) == HOTP(910738)
 * == "911617" (found with `oathtool --hotp -w 3000000 3132...3930` and
 * re-checked here against oathtool in collision_oracle_check).
 */
START_TEST(collision_oracle_check)
{
        char c1[16], c2[16];

        tu_oathtool_totp(RFC_KEY_B32, 153567LL * 30, 6, c1, sizeof(c1));
        tu_oathtool_totp(RFC_KEY_B32, 153569LL * 30, 6, c2, sizeof(c2));
        ck_assert_str_eq(c1, "468457");
        ck_assert_str_eq(c2, "468457");
        tu_oathtool_totp(RFC_KEY_B32, 910737LL * 30, 6, c1, sizeof(c1));
        tu_oathtool_totp(RFC_KEY_B32, 910738LL * 30, 6, c2, sizeof(c2));
        ck_assert_str_eq(c1, "911617");
        ck_assert_str_eq(c2, "911617");
}
END_TEST

START_TEST(matched_step_is_newest_match)
{
        uint64_t m = 0;
        const int64_t now = 153568LL * 30 + 7;

        ck_assert_int_eq(verify("468457", 6, now, 1, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 153569);
        ck_assert_int_eq(verify("911617", 6, 910737LL * 30, 1, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 910738);
        ck_assert_int_eq(verify("911617", 6, 910737LL * 30, 0, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 910737);
}
END_TEST

START_TEST(matched_step_fresh_beats_stale)
{
        uint64_t m = 0;
        const int64_t now = 153568LL * 30 + 7;

        /* older match used, newer one fresh: accepted at the newer step */
        ck_assert_int_eq(verify("468457", 6, now, 1, 1, 153567, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 153569);
        ck_assert_int_eq(verify("468457", 6, now, 1, 1, 153568, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, 153569);
        /* both used */
        ck_assert_int_eq(verify("468457", 6, now, 1, 1, 153569, &m), MAILOTP_ERR_REPLAY);
}
END_TEST

/* ---- bad parameters ----------------------------------------------------- */

START_TEST(invalid_digits)
{
        uint64_t m = 0;

        ck_assert_int_eq(verify("42870", 5, 59, 0, 0, 0, &m), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(verify("942870820", 9, 59, 0, 0, 0, &m), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(verify("", 0, 59, 0, 0, 0, &m), MAILOTP_ERR_INVALID);
}
END_TEST

START_TEST(invalid_code_text)
{
        uint64_t m = 0;

        ck_assert_int_eq(verify("28708a", 6, 59, 0, 0, 0, &m), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(verify(" 287082", 6, 59, 0, 0, 0, &m), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(verify("287082 ", 6, 59, 0, 0, 0, &m), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(verify("28708", 6, 59, 0, 0, 0, &m), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(verify("94287082", 6, 59, 0, 0, 0, &m), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(verify("-287082", 6, 59, 0, 0, 0, &m), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(verify(NULL, 6, 59, 0, 0, 0, &m), MAILOTP_ERR_INVALID);
}
END_TEST

START_TEST(invalid_window)
{
        uint64_t m = 0;

        ck_assert_int_eq(verify("94287082", 8, 59, TOTP_MAX_WINDOW + 1, 0, 0, &m),
                         MAILOTP_ERR_INVALID);
        ck_assert_int_eq(verify("94287082", 8, 59, 1000000, 0, 0, &m), MAILOTP_ERR_INVALID);
}
END_TEST

START_TEST(invalid_key_period_out)
{
        uint64_t m = 0;

        ck_assert_int_eq(totp_verify(NULL, 20, "94287082", 8, 59, 30, 0, 0, 0, &m),
                         MAILOTP_ERR_INVALID);
        ck_assert_int_eq(totp_verify(rfc_key, 0, "94287082", 8, 59, 30, 0, 0, 0, &m),
                         MAILOTP_ERR_INVALID);
        ck_assert_int_eq(totp_verify(rfc_key, 20, "94287082", 8, 59, 0, 0, 0, 0, &m),
                         MAILOTP_ERR_INVALID);
        ck_assert_int_eq(totp_verify(rfc_key, 20, "94287082", 8, 59, 30, 0, 0, 0, NULL),
                         MAILOTP_ERR_INVALID);
}
END_TEST

/* ---- totp_secret_decode --------------------------------------------------- */

START_TEST(decode_rfc_key)
{
        unsigned char *k = NULL;
        size_t n = 0;

        ck_assert_int_eq(totp_secret_decode(RFC_KEY_B32, &k, &n), MAILOTP_OK);
        ck_assert_uint_eq(n, 20);
        ck_assert_mem_eq(k, rfc_key, 20);
        secure_freezero(k, n);
}
END_TEST

START_TEST(decode_lowercase)
{
        unsigned char *k = NULL;
        size_t n = 0;

        ck_assert_int_eq(totp_secret_decode("gezdgnbvgy3tqojqgezdgnbvgy3tqojq", &k, &n),
                         MAILOTP_OK);
        ck_assert_uint_eq(n, 20);
        ck_assert_mem_eq(k, rfc_key, 20);
        secure_freezero(k, n);
}
END_TEST

START_TEST(decode_bounds)
{
        unsigned char *k = NULL;
        size_t n = 0;

        /* 10 bytes "ABCDEFGHIJ": the shortest accepted */
        ck_assert_int_eq(totp_secret_decode("IFBEGRCFIZDUQSKK", &k, &n), MAILOTP_OK);
        ck_assert_uint_eq(n, 10);
        ck_assert_mem_eq(k, "ABCDEFGHIJ", 10);
        secure_freezero(k, n);
        /* 64 bytes: the longest accepted */
        ck_assert_int_eq(totp_secret_decode("IFBEGRCFIZDUQSKKJNGE2TSPKBIVEU2UKVLFOWCZLJNVYXK6L5Q"
                                            "GCYTDMRSWMZ3INFVGW3DNNZXXA4LSON2HK5TXPB4XU634PV7H7"
                                            "AA=",
                                            &k, &n),
                         MAILOTP_OK);
        ck_assert_uint_eq(n, 64);
        ck_assert_uint_eq(k[0], 'A');
        ck_assert_uint_eq(k[63], 65 + 63);
        secure_freezero(k, n);
}
END_TEST

START_TEST(decode_too_short)
{
        unsigned char sentinel = 0;
        unsigned char *k = &sentinel; /* must be reset to NULL */
        size_t n = 5;

        ck_assert_int_eq(totp_secret_decode("IFBEGRCFIZDUQSI=", &k, &n), MAILOTP_ERR_FORMAT);
        ck_assert_ptr_null(k);
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(totp_secret_decode("GEZDGNBV", &k, &n), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(totp_secret_decode("", &k, &n), MAILOTP_ERR_FORMAT);
        ck_assert_ptr_null(k);
}
END_TEST

START_TEST(decode_too_long)
{
        unsigned char *k = NULL;
        size_t n = 0;

        /* 65 bytes */
        ck_assert_int_eq(totp_secret_decode("IFBEGRCFIZDUQSKKJNGE2TSPKBIVEU2UKVLFOWCZLJNVYXK6L5Q"
                                            "GCYTDMRSWMZ3INFVGW3DNNZXXA4LSON2HK5TXPB4XU634PV7H7"
                                            "AEB",
                                            &k, &n),
                         MAILOTP_ERR_FORMAT);
        ck_assert_ptr_null(k);
        ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(decode_invalid_chars)
{
        static const char *const bad[] = {
            "GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ",        /* '1' */
            "GEZDGNBVGY3TQOJ0GEZDGNBVGY3TQOJQ",        /* '0' */
            "GEZDGNBVGY3TQOJ8GEZDGNBVGY3TQOJQ",        /* '8' */
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ!",        /* '!' */
            "GEZDGNBVGY3TQOJQ-GEZDGNBVGY3TQOJQ",       /* '-' */
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ\xc3\x84", /* non-ASCII */
        };
        unsigned char *k = NULL;
        size_t n = 0;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_msg(totp_secret_decode(bad[i], &k, &n) == MAILOTP_ERR_FORMAT,
                              "accepted \"%s\"", bad[i]);
                ck_assert_ptr_null(k);
        }
}
END_TEST

START_TEST(decode_null_args)
{
        unsigned char *k = NULL;
        size_t n = 0;

        ck_assert_int_eq(totp_secret_decode(NULL, &k, &n), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(totp_secret_decode(RFC_KEY_B32, NULL, &n), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(totp_secret_decode(RFC_KEY_B32, &k, NULL), MAILOTP_ERR_INVALID);
}
END_TEST

/* ---- totp_secret_generate ------------------------------------------------ */

START_TEST(generate_shape)
{
        char s[TOTP_SECRET_B32_MAX + 1];

        memset(s, 'x', sizeof(s));
        ck_assert_int_eq(totp_secret_generate(s, sizeof(s)), MAILOTP_OK);
        ck_assert_uint_eq(strlen(s), 32);
        ck_assert_uint_eq(strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 32);
}
END_TEST

START_TEST(generate_differs)
{
        char a[40], b[40];

        ck_assert_int_eq(totp_secret_generate(a, sizeof(a)), MAILOTP_OK);
        ck_assert_int_eq(totp_secret_generate(b, sizeof(b)), MAILOTP_OK);
        ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(generate_decodes_to_20_bytes)
{
        char s[40];
        unsigned char *k = NULL;
        size_t n = 0;

        ck_assert_int_eq(totp_secret_generate(s, sizeof(s)), MAILOTP_OK);
        ck_assert_int_eq(totp_secret_decode(s, &k, &n), MAILOTP_OK);
        ck_assert_uint_eq(n, TOTP_SECRET_BYTES);
        secure_freezero(k, n);
}
END_TEST

START_TEST(generate_exact_and_small_buffer)
{
        char s[33];

        ck_assert_int_eq(totp_secret_generate(s, 33), MAILOTP_OK);
        ck_assert_uint_eq(strlen(s), 32);
        memset(s, 'x', sizeof(s));
        ck_assert_int_eq(totp_secret_generate(s, 32), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(s[0], '\0');
        ck_assert_int_eq(totp_secret_generate(NULL, 40), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(totp_secret_generate(s, 0), MAILOTP_ERR_INVALID);
}
END_TEST

/* ---- oathtool as an independent oracle ------------------------------------ */

static const int64_t oracle_times[] = {1700000000, 1700000029, 59, 4102444800};

START_TEST(oracle_generated_secret_6)
{
        char s[40], code[16];
        unsigned char *k = NULL;
        size_t n = 0;
        uint64_t m = 0;
        const int64_t t = oracle_times[_i];

        ck_assert_int_eq(totp_secret_generate(s, sizeof(s)), MAILOTP_OK);
        tu_oathtool_totp(s, t, 6, code, sizeof(code));
        ck_assert_int_eq(totp_secret_decode(s, &k, &n), MAILOTP_OK);
        ck_assert_int_eq(totp_verify(k, n, code, 6, t, TOTP_PERIOD, 0, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, (uint64_t)t / 30);
        /* and the oracle's code is a replay once its step is used */
        ck_assert_int_eq(totp_verify(k, n, code, 6, t, TOTP_PERIOD, 1, 1, m, &m),
                         MAILOTP_ERR_REPLAY);
        secure_freezero(k, n);
}
END_TEST

START_TEST(oracle_generated_secret_8)
{
        char s[40], code[16];
        unsigned char *k = NULL;
        size_t n = 0;
        uint64_t m = 0;
        const int64_t t = oracle_times[_i];

        ck_assert_int_eq(totp_secret_generate(s, sizeof(s)), MAILOTP_OK);
        tu_oathtool_totp(s, t, 8, code, sizeof(code));
        ck_assert_int_eq(totp_secret_decode(s, &k, &n), MAILOTP_OK);
        ck_assert_int_eq(totp_verify(k, n, code, 8, t, TOTP_PERIOD, 0, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, (uint64_t)t / 30);
        secure_freezero(k, n);
}
END_TEST

START_TEST(oracle_next_step_within_window)
{
        char s[40], code[16];
        unsigned char *k = NULL;
        size_t n = 0;
        uint64_t m = 0;
        const int64_t t = 1700000000;

        ck_assert_int_eq(totp_secret_generate(s, sizeof(s)), MAILOTP_OK);
        tu_oathtool_totp(s, t + 30, 6, code, sizeof(code));
        ck_assert_int_eq(totp_secret_decode(s, &k, &n), MAILOTP_OK);
        ck_assert_int_eq(totp_verify(k, n, code, 6, t, TOTP_PERIOD, 1, 0, 0, &m), MAILOTP_OK);
        ck_assert_uint_eq(m, (uint64_t)(t + 30) / 30);
        secure_freezero(k, n);
}
END_TEST

START_TEST(oracle_rfc_key_matches_rfc)
{
        char code[16];

        /* sanity of the oracle itself against the RFC table */
        tu_oathtool_totp(RFC_KEY_B32, rfc[_i].t, 8, code, sizeof(code));
        ck_assert_str_eq(code, rfc[_i].code8);
}
END_TEST

static Suite *totp_suite(void)
{
        Suite *s = suite_create("totp");
        TCase *tc;

        tc = tcase_create("step");
        tcase_add_test(tc, step_basic);
        tcase_add_test(tc, step_negative_and_zero_period);
        suite_add_tcase(s, tc);

        tc = tcase_create("rfc6238");
        tcase_add_loop_test(tc, rfc_vector_8_digits, 0, (int)NVEC);
        tcase_add_loop_test(tc, rfc_vector_6_digits, 0, (int)NVEC);
        tcase_add_loop_test(tc, rfc_vector_7_digits, 0, (int)NVEC);
        tcase_add_loop_test(tc, rfc_vector_wrong_digit_count_mismatch, 0, (int)NVEC);
        tcase_add_loop_test(tc, rfc_other_step_codes_mismatch, 0, (int)NVEC);
        tcase_add_test(tc, rfc_start_of_step);
        suite_add_tcase(s, tc);

        tc = tcase_create("window");
        tcase_add_test(tc, window_previous_step_accepted_with_1);
        tcase_add_test(tc, window_next_step_accepted_with_1);
        tcase_add_test(tc, window_neighbours_refused_with_0);
        tcase_add_test(tc, window_two_steps_away_refused_with_1);
        tcase_add_test(tc, window_max_reaches_ten_steps);
        tcase_add_test(tc, window_near_epoch_does_not_wrap);
        suite_add_tcase(s, tc);

        tc = tcase_create("replay");
        tcase_add_test(tc, replay_same_step_refused);
        tcase_add_test(tc, replay_older_step_refused);
        tcase_add_test(tc, replay_next_step_accepted);
        tcase_add_test(tc, replay_has_last_zero_ignores_last_step);
        tcase_add_test(tc, replay_last_step_zero_is_a_real_step);
        tcase_add_test(tc, replay_wrong_code_is_mismatch_not_replay);
        tcase_add_test(tc, collision_oracle_check);
        tcase_add_test(tc, matched_step_is_newest_match);
        tcase_add_test(tc, matched_step_fresh_beats_stale);
        suite_add_tcase(s, tc);

        tc = tcase_create("params");
        tcase_add_test(tc, invalid_digits);
        tcase_add_test(tc, invalid_code_text);
        tcase_add_test(tc, invalid_window);
        tcase_add_test(tc, invalid_key_period_out);
        suite_add_tcase(s, tc);

        tc = tcase_create("secret");
        tcase_add_test(tc, decode_rfc_key);
        tcase_add_test(tc, decode_lowercase);
        tcase_add_test(tc, decode_bounds);
        tcase_add_test(tc, decode_too_short);
        tcase_add_test(tc, decode_too_long);
        tcase_add_test(tc, decode_invalid_chars);
        tcase_add_test(tc, decode_null_args);
        tcase_add_test(tc, generate_shape);
        tcase_add_test(tc, generate_differs);
        tcase_add_test(tc, generate_decodes_to_20_bytes);
        tcase_add_test(tc, generate_exact_and_small_buffer);
        suite_add_tcase(s, tc);

        tc = tcase_create("oracle");
        tcase_set_timeout(tc, 30);
        tcase_add_loop_test(tc, oracle_generated_secret_6, 0,
                            (int)(sizeof(oracle_times) / sizeof(oracle_times[0])));
        tcase_add_loop_test(tc, oracle_generated_secret_8, 0,
                            (int)(sizeof(oracle_times) / sizeof(oracle_times[0])));
        tcase_add_test(tc, oracle_next_step_within_window);
        tcase_add_loop_test(tc, oracle_rfc_key_matches_rfc, 0, (int)NVEC);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(totp_suite());
}
