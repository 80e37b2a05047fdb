/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Recovery codes: ten single-use codes "abcde-fghij" typed in place of the
 * TOTP code (password followed by the code).  They contain no digit, so the
 * split never mistakes one for a TOTP code or the other way round.  Only
 * keyed hashes are stored; a used code is removed durably before the login
 * succeeds.
 *
 * File format:
 *     version = 1
 *     created = UNIX-TIME
 *     code = HEX-HASH        (one line per unused code)
 */
#ifndef MAILOTP_RECOVERY_H
#define MAILOTP_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "mac.h"
#include "mailotp_rc.h"

#define RECOVERY_COUNT   10U
#define RECOVERY_LETTERS 10U
#define RECOVERY_TYPED   11U /* 5 letters, '-', 5 letters */

struct recovery_list {
        int64_t created;
        size_t n;
        unsigned char hash[RECOVERY_COUNT][MAC_LEN];
};

/*
 * If `input` (len bytes) ends in a recovery code (5 letters, '-', 5 letters
 * of the words alphabet, either case) with at least one byte before it, set
 * *pass_len and write the 10 normalised letters to code (codesz >= 11) and
 * return 0; else -1.
 */
int recovery_split(const char *input, size_t len, size_t *pass_len, char *code, size_t codesz);

/* The keyed hash of a normalised code (RECOVERY_LETTERS letters) for `store_key`.
 * MAILOTP_OK, or MAILOTP_ERR_CRYPTO with the reason in err (see mac.h). */
enum mailotp_rc recovery_hash(const unsigned char server_key[MAC_KEY_LEN], const char *store_key,
                              const char *letters, unsigned char out[MAC_LEN], char *err,
                              size_t errlen);

/* Index of the matching unused code (all compared in constant time), or -1. */
int recovery_find(const struct recovery_list *l, const unsigned char hash[MAC_LEN]);

/* Remove entry i (order kept). */
void recovery_remove(struct recovery_list *l, size_t i);

enum mailotp_rc recovery_parse(const char *buf, size_t len, struct recovery_list *l, char *err,
                               size_t errlen);
enum mailotp_rc recovery_format(const struct recovery_list *l, char *buf, size_t bufsz,
                                size_t *outlen);

#endif
