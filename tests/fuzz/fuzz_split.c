/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: everything that takes a submitted string apart. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apppw.h"
#include "password_split.h"
#include "recovery.h"
#include "words.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *in = (const char *)data;
        char code[PWSPLIT_MAX_DIGITS + 1], rcode[RECOVERY_LETTERS + 1], letters[APPPW_LETTERS + 1];
        size_t plen = 0;
        unsigned digits;

        for (digits = PWSPLIT_MIN_DIGITS; digits <= PWSPLIT_MAX_DIGITS; digits++) {
                if (pwsplit_split(in, size, digits, &plen, code, sizeof(code)) == MAILOTP_OK) {
                        /* The contract: a non-empty password and exactly `digits` ASCII digits. */
                        if (plen == 0 || plen + digits != size || strlen(code) != digits ||
                            !pwsplit_is_code(code, digits) || memcmp(in + plen, code, digits) != 0)
                                abort();
                } else if (code[0] != '\0') {
                        abort(); /* code must be zeroed on failure */
                }
        }
        if (recovery_split(in, size, &plen, rcode, sizeof(rcode)) == 0) {
                if (plen == 0 || plen + RECOVERY_TYPED != size || strlen(rcode) != RECOVERY_LETTERS)
                        abort();
                /* A recovery code never contains a digit, so it is never a TOTP code. */
                if (pwsplit_split(in, size, 6, &plen, code, sizeof(code)) == MAILOTP_OK)
                        abort();
        }
        if (words_normalise(in, size, APPPW_LETTERS, letters, sizeof(letters)) == 0 &&
            strlen(letters) != APPPW_LETTERS)
                abort();
        return 0;
}
