/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internal interfaces of pambench (the benchmark driver); not installed. */
#ifndef MAILOTP_PAMBENCH_H
#define MAILOTP_PAMBENCH_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

#define BENCH_SECRET_LEN 20U /* bytes: what `mailotp enroll` makes (160 bits) */
#define BENCH_PERIOD     30
#define RAW_SPREAD_FILES 1000U       /* files the spread slot-write floor writes in turn */
#define BENCH_PASSWORD   "Mb-pass-7" /* the mailbox password typed before the code */

/* The secret of mailbox `idx`: deterministic, so every store and the driver agree. */
void bench_secret(uint32_t idx, unsigned char out[BENCH_SECRET_LEN]);

/* "mb000042" for idx 42 (out holds BENCH_USER_MAX bytes). */
void bench_user_name(uint32_t idx, char *out);

/* RFC 4648 base32 of the 20-byte secret: 32 characters + NUL. */
void bench_base32(const unsigned char in[BENCH_SECRET_LEN], char out[33]);

/* The 6-digit TOTP code of mailbox idx at unix time t, from liboath. 0 or -1. */
int bench_code(uint32_t idx, int64_t t, char out[7]);

/* A 6-digit code that matches none of the steps t-30, t, t+30 of mailbox idx. */
int bench_wrong_code(uint32_t idx, int64_t t, char out[7]);

/*
 * Prepare WORK/nN: our store with N enrolled and confirmed mailboxes (user
 * files and lock files written in the store's documented format), pam_oath's
 * usersfile, and google-authenticator's per-user files.  `now` is the
 * enrollment time.  0 on success, -1 with a message on stderr.
 */
int prep_users(const char *work, unsigned n, int64_t now);

/* An application password bench/run added with the CLI (WORK/nN/apppw.txt). */
struct bench_apppw {
        char user[BENCH_USER_MAX];
        char token[BENCH_TOKEN_MAX];
};

/* Up to max "user password" lines of `path` into a; how many (0 when it cannot be read). */
unsigned bench_load_apppw(const char *path, struct bench_apppw *a, unsigned max);

/* Raw floors, each run in a child process and reported like a worker (res). */
enum raw_floor {
        RAW_TOTP = 0,       /* oath_totp_validate2 over a +-1 window, no match (3 HMACs) */
        RAW_READ,           /* open + fstat + read + close of a 195-byte file */
        RAW_REWRITE,        /* temp + write + fsync + close + rename + directory fsync */
        RAW_REWRITE_NOSYNC, /* the same without either fsync (0.1.0's last-logins write) */
        RAW_REWRITE_FILE,   /* temp + fsync + rename, no directory fsync (google-authenticator) */
        RAW_PWRITE_DSYNC,   /* one 4 KiB slot overwritten in place + fdatasync (our state write) */
        RAW_APPEND,         /* open O_APPEND + one line + close (our last-logins entry) */
        RAW_PWRITE_SPREAD,  /* RAW_PWRITE_DSYNC to one of RAW_SPREAD_FILES files in turn */
        RAW_COUNT
};

/* Run one raw floor for duration_s (at least min_attempts) into res.  0 or -1. */
int raw_run(enum raw_floor which, const char *work, double duration_s, unsigned min_attempts,
            struct bench_result *res);

#endif
