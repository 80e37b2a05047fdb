/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the benchmark driver (pambench) and its PAM worker (pamworker) share:
 * one job in a memfd mapped by both.  The driver writes the job (which PAM
 * service, and for each worker the list of logins to try, with the string
 * the conversation answers and the time the modules are to see), execs the
 * workers, opens the start gate, and reads back each worker's latencies, PAM
 * results and peak RSS.  The worker links libpam only, so a module's own
 * libraries (liboath, libcrypto) are loaded by the module as in a mail
 * server, not pre-loaded by the harness.
 */
#ifndef MAILOTP_BENCH_H
#define MAILOTP_BENCH_H

#include <stdatomic.h>
#include <stdint.h>

#define BENCH_MAX_PROCS    8U
#define BENCH_MAX_ATTEMPTS 4096U /* per worker and round */
#define BENCH_MAX_RACES    8U    /* logins all workers try at once, per round */
#define BENCH_USER_MAX     24U
#define BENCH_TOKEN_MAX    40U
#define BENCH_PATH_MAX     512U
#define BENCH_LIBS_MAX     1024U

/* Enrolled mailboxes are "mb" + 6 digits; mailboxes without 2FA are "nx" + 6 digits. */
#define BENCH_USER_PREFIX "mb"
#define BENCH_NX_PREFIX   "nx"

/* What one login is, and so what its right answer is. */
enum bench_kind {
        BK_VALID = 0, /* fresh valid code: must succeed */
        BK_REPLAY,    /* the previous valid string again, same step: must fail */
        BK_RACE,      /* every worker sends the same fresh code at once: exactly one may succeed */
        BK_WRONG,     /* wrong code: must fail */
        BK_NO2FA,     /* mailbox without 2FA: passes through to pam_permit, must succeed */
        BK_APPPW,     /* application password: must succeed */
        BK_FLOOR,     /* pam_permit alone: must succeed */
        BK_COUNT
};

enum bench_mode {
        JOB_PAM = 0, /* pam_start_confdir + pam_authenticate + pam_end per attempt */
        JOB_DLOPEN,  /* dlopen + dlclose of one module per attempt (what pam_start/pam_end pay) */
};

struct bench_attempt {
        int64_t vtime; /* what time() returns during this login; 0 = the real clock */
        char user[BENCH_USER_MAX];
        char token[BENCH_TOKEN_MAX]; /* the answer to every hidden prompt */
        uint8_t kind;                /* enum bench_kind */
};

struct bench_result {
        unsigned done;             /* attempts made (main phase + races) */
        unsigned main_done;        /* attempts made in the timed main phase */
        double elapsed_s;          /* wall time of the main phase */
        long maxrss_kb;            /* peak RSS since exec (VmHWM) at the end */
        double cpu_s;              /* user + system CPU time of the whole process */
        int status;                /* 0 ok, else the worker's setup error */
        char libs[BENCH_LIBS_MAX]; /* JOB_DLOPEN: objects the module brought in */
        int64_t lat_ns[BENCH_MAX_ATTEMPTS];
        int8_t rc[BENCH_MAX_ATTEMPTS]; /* pam_authenticate's result */
};

struct bench_job {
        int mode; /* enum bench_mode */
        unsigned procs;
        double duration_s;     /* main phase stops after this ... */
        unsigned min_attempts; /* ... but not before this many attempts */
        char confdir[BENCH_PATH_MAX];
        char service[64];
        char module[BENCH_PATH_MAX];         /* JOB_DLOPEN */
        unsigned nattempts[BENCH_MAX_PROCS]; /* list length, races included */
        unsigned nrace;                      /* the last nrace attempts of each list */
        atomic_uint ready;
        atomic_uint go;
        atomic_uint race_arrived[BENCH_MAX_RACES];
        struct bench_attempt att[BENCH_MAX_PROCS][BENCH_MAX_ATTEMPTS];
        struct bench_result res[BENCH_MAX_PROCS];
};

#endif
