/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cachecheck: what a login of pam_mailotp costs with the user's files in the
 * page cache and without them, next to one mailbox, in one run (interleaved
 * batches, medians).  Explains the "flat from 1 to 100,000 mailboxes" target
 * on a machine that keeps little page cache.
 *
 *   cachecheck WORK MODULE ROUNDS BATCH
 *
 * Three kinds of batch, BATCH logins each, in a new order every round:
 *   one     a private store of one mailbox (WORK/cachecheck/n1, prepared anew),
 *           logging in again and again at virtual 30-second steps (this
 *           process exports time(), as pamworker does);
 *   warm    BATCH other mailboxes of the 100,000-mailbox store
 *           (WORK/n100000), each once, their three files (users, locks,
 *           last) read just before the batch: in the page cache;
 *   cold    the same with those files dropped from the page cache just before
 *           the batch (posix_fadvise DONTNEED after sync): read from disk.
 * The 100,000-mailbox logins use the real clock and the upper half of the
 * store (as pambench's "real clock" configuration), each mailbox once per
 * run, so the stores stay usable for pambench.  The virtual clock is
 * vclock.c's, as in pamworker.
 *
 * Each kind also reports the block requests its logins issue themselves
 * (the kernel's block:block_rq_issue tracepoint, counted for this process
 * with perf_event_open, as `perf stat -e block:block_rq_issue` does): reads
 * of files not in the page cache and the writes of fdatasync, not the
 * writeback the kernel does later on its own.  "n/a" where tracefs or
 * perf events are not available.
 */
#include <security/pam_appl.h>

#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "pambench.h"
#include "vclock.h"

#define KINDS     3
#define MAX_BATCH 1000U
#define MAX_ROUND 50U

static char g_answer[64]; /* what the conversation answers to a hidden prompt */

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
        struct pam_response *r = calloc((size_t)n, sizeof(*r));
        int i;

        (void)data;
        if (r == NULL)
                return PAM_BUF_ERR;
        for (i = 0; i < n; i++)
                r[i].resp = strdup(msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ? g_answer : "x");
        *resp = r;
        return PAM_SUCCESS;
}

static double now_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
        qsort(v, n, sizeof(*v), cmp_double);
        return n == 0 ? 0 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

/* A counter of the block requests this process issues, or -1. */
static int rq_counter_open(void)
{
        static const char *const ids[] = {
            "/sys/kernel/tracing/events/block/block_rq_issue/id",
            "/sys/kernel/debug/tracing/events/block/block_rq_issue/id"};
        struct perf_event_attr a;
        unsigned long long id = 0;
        size_t i;
        long fd;

        for (i = 0; i < sizeof(ids) / sizeof(ids[0]) && id == 0; i++) {
                FILE *f = fopen(ids[i], "re");

                if (f == NULL)
                        continue;
                if (fscanf(f, "%llu", &id) != 1)
                        id = 0;
                (void)fclose(f);
        }
        if (id == 0)
                return -1;
        memset(&a, 0, sizeof(a));
        a.type = PERF_TYPE_TRACEPOINT;
        a.size = sizeof(a);
        a.config = id;
        a.sample_period = 0;
        fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
        return fd < 0 ? -1 : (int)fd;
}

static uint64_t rq_count(int fd)
{
        uint64_t v = 0;

        if (fd < 0 || read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
                return 0;
        return v;
}

/* Read (warm) or drop from the page cache (cold) the files of mailbox idx. */
static void touch_user(const char *store, uint32_t idx, int cold)
{
        static const char *const sub[] = {"users", "locks", "last"};
        char path[2 * BENCH_PATH_MAX], user[BENCH_USER_MAX], buf[16384];
        size_t i;

        bench_user_name(idx, user);
        for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
                int fd;

                (void)snprintf(path, sizeof(path), "%s/%s/%s", store, sub[i], user);
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        continue;
                if (cold)
                        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
                else
                        while (read(fd, buf, sizeof(buf)) > 0) {
                        }
                (void)close(fd);
        }
}

/* One login; its wall time in ms, or a negative value when it was refused. */
static double login(const char *confdir, const char *service, uint32_t idx, int64_t t)
{
        struct pam_conv c = {conv, NULL};
        char user[BENCH_USER_MAX], code[7];
        pam_handle_t *h = NULL;
        double t0;
        int rc;

        bench_user_name(idx, user);
        if (bench_code(idx, t, code) != 0)
                return -1;
        (void)snprintf(g_answer, sizeof(g_answer), "%s%s", BENCH_PASSWORD, code);
        t0 = now_ms();
        if (pam_start_confdir(service, user, &c, confdir, &h) != PAM_SUCCESS)
                return -1;
        (void)pam_set_item(h, PAM_RHOST, "192.0.2.10");
        rc = pam_authenticate(h, 0);
        (void)pam_end(h, rc);
        return rc == PAM_SUCCESS ? now_ms() - t0 : -1;
}

static int write_service(const char *confdir, const char *name, const char *module,
                         const char *store, const char *conf)
{
        char path[3 * BENCH_PATH_MAX];
        FILE *f;

        (void)snprintf(path, sizeof(path), "%s/%s", confdir, name);
        f = fopen(path, "we");
        if (f == NULL)
                return -1;
        fprintf(f,
                "auth [success=done ignore=ignore default=die] %s dir=%s conf=%s\n"
                "auth required pam_permit.so\n",
                module, store, conf);
        return fclose(f);
}

int main(int argc, char **argv)
{
        char priv[BENCH_PATH_MAX], confdir[2 * BENCH_PATH_MAX], conf[BENCH_PATH_MAX];
        char big[BENCH_PATH_MAX], cmd[2 * BENCH_PATH_MAX];
        static double lat[KINDS][MAX_ROUND * MAX_BATCH], rnd[KINDS][MAX_ROUND];
        static const char *const kind_name[KINDS] = {"one mailbox", "100,000: files warm",
                                                     "100,000: files cold"};
        size_t nlat[KINDS] = {0, 0, 0};
        uint64_t rqs[KINDS] = {0, 0, 0};
        unsigned rounds, batch, r, i, refused = 0;
        int rqfd = rq_counter_open();
        /* upper half; another 30-second step, another start (a mailbox may log in once a step) */
        uint32_t next = 50000 + (uint32_t)((uint64_t)time(NULL) / 30 * 7919 % 16000);
        int64_t vt;
        int k;

        if (argc != 5 || (rounds = (unsigned)atoi(argv[3])) == 0 || rounds > MAX_ROUND ||
            (batch = (unsigned)atoi(argv[4])) == 0 || batch > MAX_BATCH) {
                fprintf(stderr, "usage: cachecheck WORK MODULE ROUNDS(1-%u) BATCH(1-%u)\n",
                        MAX_ROUND, MAX_BATCH);
                return 2;
        }
        if (strlen(argv[1]) > BENCH_PATH_MAX / 2 || strlen(argv[2]) > BENCH_PATH_MAX / 2) {
                fprintf(stderr, "cachecheck: paths too long\n");
                return 2;
        }
        (void)snprintf(priv, sizeof(priv), "%s/cachecheck", argv[1]);
        (void)snprintf(big, sizeof(big), "%s/n100000/store", argv[1]);
        (void)snprintf(conf, sizeof(conf), "%s/mailotp.conf", argv[1]);
        (void)snprintf(confdir, sizeof(confdir), "%s/pam.d", priv);
        (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", priv);
        if (system(cmd) != 0 || mkdir(priv, 0700) != 0 || mkdir(confdir, 0700) != 0 ||
            prep_users(priv, 1, (int64_t)time(NULL)) != 0) {
                fprintf(stderr, "cachecheck: cannot prepare %s\n", priv);
                return 2;
        }
        (void)snprintf(cmd, sizeof(cmd), "%s/n1/store", priv);
        if (write_service(confdir, "one", argv[2], cmd, conf) != 0 ||
            write_service(confdir, "big", argv[2], big, conf) != 0) {
                fprintf(stderr, "cachecheck: cannot write the PAM services\n");
                return 2;
        }
        vt = (int64_t)time(NULL) + 3600;          /* the private mailbox: virtual steps from here */
        if (next + rounds * batch * 2 > 100000) { /* at most 34,000 from 66,000 on */
                fprintf(stderr, "cachecheck: ROUNDS * BATCH * 2 is more than the upper half\n");
                return 2;
        }
        for (r = 0; r < rounds; r++) {
                int order[KINDS] = {0, 1, 2};

                for (k = KINDS - 1; k > 0; k--) { /* a new order every round */
                        int j = (int)((unsigned)rand() % (unsigned)(k + 1)), t = order[k];

                        order[k] = order[j];
                        order[j] = t;
                }
                for (k = 0; k < KINDS; k++) {
                        int kind = order[k];
                        double *v = &lat[kind][nlat[kind]];
                        uint32_t first = next;
                        unsigned got = 0;

                        if (kind != 0) {
                                sync();
                                for (i = 0; i < batch; i++)
                                        touch_user(big, first + i, kind == 2);
                                next += batch;
                        }
                        rqs[kind] -= rq_count(rqfd);
                        for (i = 0; i < batch; i++) {
                                double ms;

                                if (kind == 0) {
                                        vt += BENCH_PERIOD;
                                        vclock_set(vt);
                                        ms = login(confdir, "one", 0, vt);
                                } else {
                                        vclock_set(0);
                                        ms = login(confdir, "big", first + i, (int64_t)time(NULL));
                                }
                                if (ms < 0) {
                                        refused++;
                                        continue;
                                }
                                v[got++] = ms;
                        }
                        rqs[kind] += rq_count(rqfd);
                        rnd[kind][r] = median(v, got);
                        nlat[kind] += got;
                }
        }
        printf("| login of pam_mailotp (simple stack, success) | p50 ms, median of %u rounds | "
               "rounds' p50 range | ratio to one mailbox | block requests per login |\n"
               "|---|--:|--:|--:|--:|\n",
               rounds);
        {
                double base[MAX_ROUND], p[KINDS];

                for (k = 0; k < KINDS; k++) {
                        double copy[MAX_ROUND];

                        memcpy(copy, rnd[k], rounds * sizeof(double));
                        p[k] = median(copy, rounds);
                }
                for (r = 0; r < rounds; r++)
                        base[r] = rnd[0][r];
                for (k = 0; k < KINDS; k++) {
                        double ratio[MAX_ROUND], lo = 1e9, hi = 0;

                        for (r = 0; r < rounds; r++) {
                                ratio[r] = rnd[k][r] / base[r];
                                lo = rnd[k][r] < lo ? rnd[k][r] : lo;
                                hi = rnd[k][r] > hi ? rnd[k][r] : hi;
                        }
                        char rq[32] = "n/a";

                        if (rqfd >= 0 && nlat[k] > 0)
                                (void)snprintf(rq, sizeof(rq), "%.2f",
                                               (double)rqs[k] / (double)nlat[k]);
                        printf("| %s | %.3f | %.3f-%.3f | %.2f | %s |\n", kind_name[k], p[k], lo,
                               hi, median(ratio, rounds), rq);
                }
        }
        printf("\n%u rounds x %u logins per kind; refused valid logins: %u\n", rounds, batch,
               refused);
        return refused == 0 ? 0 : 1;
}
