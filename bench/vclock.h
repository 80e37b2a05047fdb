/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The benchmark's virtual clock: pamworker and cachecheck link vclock.c and
 * export its time() (-rdynamic), so the modules they load, which read the
 * clock only through time(), run at the virtual time of the login being
 * measured.  With replay protection one mailbox can log in once per 30-second
 * step; a virtual step per login lets it log in as often as a measurement
 * needs, never with a used code.
 */
#ifndef MAILOTP_BENCH_VCLOCK_H
#define MAILOTP_BENCH_VCLOCK_H

#include <stdint.h>

/* Set the time time() returns; 0 goes back to the real clock. */
void vclock_set(int64_t t);

#endif
