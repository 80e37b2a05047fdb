/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared helpers for the unit tests: a per-run temporary directory that is
 * always removed (even when a forked test dies), small file helpers, and the
 * independent TOTP oracle (oathtool, never the code under test).
 */
#ifndef MAILOTP_TESTUTIL_H
#define MAILOTP_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Create the run's base directory under /tmp, run every test of `s` (CK_ENV
 * honours CK_FORK, CK_VERBOSITY, CK_RUN_CASE ...), remove the base directory
 * and return the exit status for main().
 */
int tu_main(Suite *s);

/* The run's base directory (valid inside tests). */
const char *tu_base(void);

/* Make a fresh private directory under the base directory (fails the test on error). */
void tu_mkdtemp(char *out, size_t outsz);

/* Remove a tree without following symbolic links.  NULL and "" are ignored. */
void tu_rm_rf(const char *path);

/* out = a + "/" + b (fails the test when it does not fit). */
void tu_join(char *out, size_t outsz, const char *a, const char *b);

/* Create or truncate `path` with exactly `mode` and write data[0..len). */
void tu_write_file(const char *path, const char *data, size_t len, mode_t mode);

/* Whole file as a new NUL-terminated buffer (free()); NULL when missing. */
char *tu_read_file(const char *path, size_t *len);

/* Entries of `dir` whose names start with '.', other than "." and "..". */
unsigned tu_count_dot_entries(const char *dir);

/* 1 when `path` exists (lstat). */
int tu_exists(const char *path);

/*
 * A two-slot file image (slots.h, SLOTS_FILE_SIZE bytes into out): slot 0
 * holds a[0..alen) followed by b[0..blen) under sequence number seq, slot 1
 * is all zeros.  For a user file (userfile.h), a is the record's text and b
 * the state's.  Fails the test when the payload does not fit a slot.
 */
void tu_slot_image(uint64_t seq, const char *a, size_t alen, const char *b, size_t blen,
                   unsigned char *out);

/* tu_slot_image() of record and state (NULL: none) written to `path` with mode 0600. */
void tu_write_user_file(const char *path, uint64_t seq, const char *record, const char *state);

/*
 * The current payload of the two-slot file `path` (as slots_pick() chooses
 * it) as a new NUL-terminated buffer (free()).  Fails the test when the file
 * is missing or has no valid slot.
 */
char *tu_read_slot_payload(const char *path, size_t *len);

/* The same for the current slot's extension (slots.h); NULL (and *len 0) when it has none. */
char *tu_read_slot_ext(const char *path, size_t *len);

/*
 * The independent oracle: the code `oathtool --totp -b -N @T -d DIGITS B32`
 * prints, NUL-terminated in out.  Fails the test when oathtool is missing or
 * says something unexpected.
 */
void tu_oathtool_totp(const char *b32, int64_t t, unsigned digits, char *out, size_t outsz);

/* Lower-case hex of n bytes into out (2n + 1 bytes); the tests' own, not mac_hex(). */
void tu_hex(const unsigned char *in, size_t n, char *out);

/*
 * The independent HMAC oracle: HMAC-SHA-256(key, data[0..len)) as
 * `openssl dgst -sha256 -mac HMAC -macopt hexkey:KEY` prints it for a file
 * holding exactly those bytes.  Fails the test when openssl is missing or
 * says something unexpected.
 */
void tu_openssl_hmac(const unsigned char *key, size_t keylen, const void *data, size_t len,
                     unsigned char out[32]);

/* One input part of the keyed hashes (see mac.h). */
struct tu_part {
        const void *data;
        size_t len;
};

/*
 * The oracle for mac_compute(): builds, in the test, the byte string
 * "8-byte big-endian length || bytes" for each part and hands it to
 * tu_openssl_hmac() with the 32-byte key.
 */
void tu_mac_oracle(const unsigned char key[32], const struct tu_part *parts, size_t nparts,
                   unsigned char out[32]);

/* A C string as a part. */
struct tu_part tu_str(const char *s);

#endif
