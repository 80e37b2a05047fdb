/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "secure.h"

#include <stdlib.h>
#include <string.h>

void secure_memzero(void *p, size_t n)
{
        if (p != NULL && n > 0)
                explicit_bzero(p, n);
}

void secure_freezero(void *p, size_t n)
{
        if (p == NULL)
                return;
        secure_memzero(p, n);
        free(p);
}

void secure_strfree(char *s)
{
        if (s == NULL)
                return;
        secure_freezero(s, strlen(s) + 1);
}

int secure_ct_equal(const void *a, const void *b, size_t n)
{
        const volatile unsigned char *x = a;
        const volatile unsigned char *y = b;
        unsigned char acc = 0;
        size_t i;

        for (i = 0; i < n; i++)
                acc |= (unsigned char)(x[i] ^ y[i]);
        /* 1 when acc == 0, computed without a data-dependent branch. */
        return (int)(1U & ((unsigned)(acc - 1U) >> 8));
}

long secure_ct_find(const void *table, size_t n, size_t stride, const void *needle, size_t len)
{
        const unsigned char *t = table;
        long found = -1;
        size_t i;

        for (i = 0; i < n; i++) {
                /* mask = all ones on a match; select without a data-dependent branch */
                long mask = -(long)secure_ct_equal(t + i * stride, needle, len);

                found = (found & ~mask) | ((long)i & mask);
        }
        return found;
}
