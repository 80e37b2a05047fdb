/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "words.h"

#include <string.h>

#include "mac.h"
#include "secure.h"

static int in_alphabet(char c)
{
        return c != '\0' && strchr(WORDS_ALPHABET, c) != NULL;
}

enum mailotp_rc words_generate(unsigned groups, unsigned group_len, char *out, size_t outsz)
{
        unsigned char rnd[64];
        size_t o = 0, r = sizeof(rnd);
        unsigned g, k;

        if (groups == 0 || group_len == 0 || outsz < (size_t)groups * (group_len + 1U))
                return MAILOTP_ERR_INVALID;
        for (g = 0; g < groups; g++) {
                if (g > 0)
                        out[o++] = '-';
                for (k = 0; k < group_len;) {
                        unsigned char b;

                        if (r == sizeof(rnd)) {
                                if (mac_random(rnd, sizeof(rnd)) != MAILOTP_OK) {
                                        secure_memzero(out, outsz);
                                        return MAILOTP_ERR_CRYPTO;
                                }
                                r = 0;
                        }
                        b = rnd[r++];
                        /* 240 = 10 * 24: values above it would bias the draw. */
                        if (b >= 240)
                                continue;
                        out[o++] = WORDS_ALPHABET[b % WORDS_ALPHABET_LEN];
                        k++;
                }
        }
        out[o] = '\0';
        secure_memzero(rnd, sizeof(rnd));
        return MAILOTP_OK;
}

int words_normalise(const char *in, size_t len, unsigned letters, char *out, size_t outsz)
{
        size_t i, o = 0;

        if (out == NULL || outsz < letters + 1U)
                return -1;
        for (i = 0; i < len; i++) {
                char c = in[i];

                if (c == '-' || c == ' ')
                        continue;
                if (c >= 'A' && c <= 'Z')
                        c = (char)(c - 'A' + 'a');
                if (!in_alphabet(c) || o >= letters)
                        goto bad;
                out[o++] = c;
        }
        if (o != letters)
                goto bad;
        out[o] = '\0';
        return 0;
bad:
        secure_memzero(out, outsz);
        return -1;
}
