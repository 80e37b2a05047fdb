/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The three primitives every secret passes through, in one place to audit.
 */
#ifndef MAILOTP_SECURE_H
#define MAILOTP_SECURE_H

#include <stddef.h>

/* Overwrite n bytes at p with zeros in a way the compiler may not elide.
 * NULL-safe. */
void secure_memzero(void *p, size_t n);

/* Zero n bytes at p, then free(p).  NULL-safe. */
void secure_freezero(void *p, size_t n);

/* Zero a NUL-terminated string in full (strlen + 1 bytes), then free it.
 * NULL-safe. */
void secure_strfree(char *s);

/* Compare n bytes in time that depends only on n.  Returns 1 when equal,
 * 0 otherwise. */
int secure_ct_equal(const void *a, const void *b, size_t n);

/*
 * Index of the first of n entries (the k-th at table + k * stride) whose
 * len bytes equal needle, or -1.  Every entry is compared in constant time
 * and there is no early exit, so the time does not tell where (or whether)
 * it matched.
 */
long secure_ct_find(const void *table, size_t n, size_t stride, const void *needle, size_t len);

#endif
