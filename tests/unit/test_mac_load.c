/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mac.c's lazy libcrypto: a copy of src/mac.c built with the library chosen
 * here at run time (mac_load_soname.h) meets a library that is missing, one
 * that lacks a function, one whose HMAC fails, and the real one.  Every
 * failure is MAILOTP_ERR_CRYPTO with a zeroed output, the reason in err, and
 * nothing left mapped; the real library is mapped only once a hash is asked
 * for.  The callers (app passwords, recovery codes, reuse grace) pass the
 * reason on.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apppw.h"
#include "auth.h"
#include "mac.h"
#include "mac_load_soname.h"
#include "recovery.h"
#include "testutil.h"

const char *mac_test_soname;

static const unsigned char key[MAC_KEY_LEN] = {1, 2, 3};

/* 1 when a mapping of this process has `name` in its path. */
static int mapped(const char *name)
{
        FILE *f = fopen("/proc/self/maps", "re");
        char line[4096];
        int found = 0;

        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f) != NULL) {
                if (strstr(line, name) != NULL)
                        found = 1;
        }
        fclose(f);
        return found;
}

/* mac_compute_err fails with ERR_CRYPTO, a zeroed output and a reason containing `want`. */
static void assert_fails(const char *want)
{
        struct mac_part p[1] = {{"abc", 3}};
        unsigned char out[MAC_LEN], zero[MAC_LEN];
        char err[256];

        memset(zero, 0, sizeof(zero));
        memset(out, 0xA5, sizeof(out));
        memset(err, 0, sizeof(err));
        ck_assert_int_eq(mac_compute_err(key, p, 1, out, err, sizeof(err)), MAILOTP_ERR_CRYPTO);
        ck_assert_mem_eq(out, zero, MAC_LEN);
        ck_assert_msg(strstr(err, want) != NULL, "reason \"%s\" lacks \"%s\"", err, want);
        /* Without an err buffer: the same result. */
        memset(out, 0xA5, sizeof(out));
        ck_assert_int_eq(mac_compute(key, p, 1, out), MAILOTP_ERR_CRYPTO);
        ck_assert_mem_eq(out, zero, MAC_LEN);
}

START_TEST(missing_library)
{
        unsigned char out[MAC_LEN], rnd[MAC_KEY_LEN];
        char err[256];

        mac_test_soname = "libmailotp-test-absent.so.0";
        assert_fails("cannot load libmailotp-test-absent.so.0: ");
        assert_fails("cannot open shared object file");
        /* The callers pass the reason on. */
        err[0] = '\0';
        ck_assert_int_eq(apppw_hash(key, "alice", "abcdefghijkmnpqrstuv", out, err, sizeof(err)),
                         MAILOTP_ERR_CRYPTO);
        ck_assert_ptr_nonnull(strstr(err, "cannot load libmailotp-test-absent.so.0"));
        err[0] = '\0';
        ck_assert_int_eq(recovery_hash(key, "alice", "abcdefghij", out, err, sizeof(err)),
                         MAILOTP_ERR_CRYPTO);
        ck_assert_ptr_nonnull(strstr(err, "cannot load libmailotp-test-absent.so.0"));
        err[0] = '\0';
        ck_assert_int_eq(
            auth_grace_fingerprint(key, "alice", "imap", "h", "pw123456", 8, out, err, sizeof(err)),
            MAILOTP_ERR_CRYPTO);
        ck_assert_ptr_nonnull(strstr(err, "cannot load libmailotp-test-absent.so.0"));
        /* The random source never needs libcrypto. */
        ck_assert_int_eq(mac_random(rnd, sizeof(rnd)), MAILOTP_OK);
}
END_TEST

START_TEST(library_lacking_a_function)
{
        mac_test_soname = MAILOTP_STUB_INCOMPLETE;
        /* the reason must fit a log line even under a long build path */
        assert_fails(" lacks the function OSSL_PARAM_construct_end");
        ck_assert_msg(!mapped("stub_crypto_incomplete"), "the library stays mapped");
}
END_TEST

START_TEST(library_whose_hmac_fails)
{
        mac_test_soname = MAILOTP_STUB_FAILING;
        assert_fails("failed at EVP_MAC_fetch");
        ck_assert_msg(!mapped("stub_crypto_failing"), "the library stays mapped");
}
END_TEST

START_TEST(real_library_loaded_on_demand)
{
        struct mac_part p[2] = {{"apppw", 5}, {"alice", 5}};
        struct tu_part tp[2] = {{"apppw", 5}, {"alice", 5}};
        unsigned char got[MAC_LEN], want[MAC_LEN];
        char err[256] = "";

        mac_test_soname = MAILOTP_REAL_SONAME;
        /* This test runs last: nothing before it (nor the link) mapped libcrypto. */
        ck_assert_msg(!mapped("/libcrypto.so"), "libcrypto mapped before any keyed hash");
        ck_assert_int_eq(mac_compute_err(key, p, 2, got, err, sizeof(err)), MAILOTP_OK);
        ck_assert_str_eq(err, "");
        ck_assert_msg(mapped("/libcrypto.so"), "libcrypto not mapped after a keyed hash");
        tu_mac_oracle(key, tp, 2, want);
        ck_assert_mem_eq(got, want, MAC_LEN);
        /* Again, on the library already loaded. */
        memset(got, 0, sizeof(got));
        ck_assert_int_eq(mac_compute(key, p, 2, got), MAILOTP_OK);
        ck_assert_mem_eq(got, want, MAC_LEN);
}
END_TEST

static Suite *mac_load_suite(void)
{
        Suite *s = suite_create("mac_load");
        TCase *tc = tcase_create("load");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, missing_library);
        tcase_add_test(tc, library_lacking_a_function);
        tcase_add_test(tc, library_whose_hmac_fails);
        tcase_add_test(tc, real_library_loaded_on_demand);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(mac_load_suite());
}
