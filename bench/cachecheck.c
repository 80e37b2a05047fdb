/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cachecheck: what a login of pam_mailotp costs with the user's files in the
 * page cache and without them, next to one mailbox, in one run (interleaved
 * batches, medians).  Explains the "flat from 1 to 100,000 mailboxes" target
 * on a machine that keeps little page cache.
 *
 *   cachecheck WORK MODULE ROUNDS BATCH [OTHER_MODULE]
 *
 * Three kinds of batch, BATCH logins each, in a new order every round:
 *   one     a private store of one mailbox (WORK/cachecheck/n1, prepared anew),
 *           logging in again and again at virtual 30-second steps (this
 *           process exports time(), as pamworker does);
 *   warm    BATCH other mailboxes of the 100,000-mailbox store
 *           (WORK/n100000), each once, their three files (users, locks,
 *           last) read just before the batch: in the page cache;
 *   cold    the same with those files dropped from the page cache just before
 *           the batch (posix_fadvise DONTNEED after sync): read from disk;
 *   apppw   BATCH logins with the application passwords bench/run added to
 *           64 mailboxes of the 100,000-mailbox store (WORK/n100000/apppw.txt),
 *           in turn, as a phone or an ActiveSync client logs in (left out
 *           when that file is missing).
 * With OTHER_MODULE (another build of pam_mailotp.so, an older release say)
 * the three kinds run for both modules, all six batches in a new order every
 * round, and a second table gives the ratio of the two modules per kind,
 * round by round: an old and a new module compared side by side.
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

#define KINDS     4
#define MAX_APPPW 64U
#define MODS      2 /* MODULE, and OTHER_MODULE when given */
#define SLOTS     (KINDS * MODS)
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

/* One login of user with the hidden answer g_answer; wall time in ms, or < 0 when refused. */
static double login_as(const char *confdir, const char *service, const char *user)
{
        struct pam_conv c = {conv, NULL};
        pam_handle_t *h = NULL;
        double t0;
        int rc;

        t0 = now_ms();
        if (pam_start_confdir(service, user, &c, confdir, &h) != PAM_SUCCESS)
                return -1;
        (void)pam_set_item(h, PAM_RHOST, "192.0.2.10");
        rc = pam_authenticate(h, 0);
        (void)pam_end(h, rc);
        return rc == PAM_SUCCESS ? now_ms() - t0 : -1;
}

/* One login with password + the code of mailbox idx at time t. */
static double login(const char *confdir, const char *service, uint32_t idx, int64_t t)
{
        char user[BENCH_USER_MAX], code[7];

        bench_user_name(idx, user);
        if (bench_code(idx, t, code) != 0)
                return -1;
        (void)snprintf(g_answer, sizeof(g_answer), "%s%s", BENCH_PASSWORD, code);
        return login_as(confdir, service, user);
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
        char priv[BENCH_PATH_MAX], confdir[MODS][2 * BENCH_PATH_MAX], conf[BENCH_PATH_MAX];
        char big[BENCH_PATH_MAX], cmd[2 * BENCH_PATH_MAX];
        static double lat[SLOTS][MAX_ROUND * MAX_BATCH], rnd[SLOTS][MAX_ROUND];
        static const char *const kind_name[KINDS] = {"one mailbox", "100,000: files warm",
                                                     "100,000: files cold",
                                                     "100,000: application password"};
        static struct bench_apppw app[MAX_APPPW];
        /* One PAM directory per module, with the same service names: what the modules store
         * (the service of an application password's last use) is the same for both. */
        static const char svc_one[] = "one", svc_big[] = "big";
        const char *module[MODS];
        size_t nlat[SLOTS] = {0};
        uint64_t rqs[SLOTS] = {0};
        unsigned rounds, batch, r, i, m, nmod, nslot, nkind, napp, nextapp = 0, refused = 0;
        int rqfd = rq_counter_open();
        /* upper half; another 30-second step, another start (a mailbox may log in once a step) */
        uint32_t next = 50000 + (uint32_t)((uint64_t)time(NULL) / 30 * 7919 % 16000);
        char mark[BENCH_PATH_MAX + 32];
        int64_t vt;
        int k;

        if ((argc != 5 && argc != 6) || (rounds = (unsigned)atoi(argv[3])) == 0 ||
            rounds > MAX_ROUND || (batch = (unsigned)atoi(argv[4])) == 0 || batch > MAX_BATCH) {
                fprintf(stderr,
                        "usage: cachecheck WORK MODULE ROUNDS(1-%u) BATCH(1-%u) [OTHER_MODULE]\n",
                        MAX_ROUND, MAX_BATCH);
                return 2;
        }
        nmod = argc == 6 ? 2U : 1U;
        module[0] = argv[2];
        module[1] = argc == 6 ? argv[5] : NULL;
        if (strlen(argv[1]) > BENCH_PATH_MAX / 2 || strlen(argv[2]) > BENCH_PATH_MAX / 2 ||
            (argc == 6 && strlen(argv[5]) > BENCH_PATH_MAX / 2)) {
                fprintf(stderr, "cachecheck: paths too long\n");
                return 2;
        }
        (void)snprintf(mark, sizeof(mark), "%s/n100000/apppw.txt", argv[1]);
        napp = bench_load_apppw(mark, app, MAX_APPPW);
        nkind = napp > 0 ? KINDS : KINDS - 1;
        nslot = nmod * nkind;
        /*
         * A second run within the same 30-second step goes on after the
         * mailboxes the first one used (WORK/cachecheck.next: step and next
         * mailbox): the same mailbox twice in a step would be a replay.
         */
        (void)snprintf(mark, sizeof(mark), "%s/cachecheck.next", argv[1]);
        {
                FILE *f = fopen(mark, "re");
                unsigned long long step = 0, at = 0;

                if (f != NULL) {
                        if (fscanf(f, "%llu %llu", &step, &at) == 2 &&
                            step == (unsigned long long)time(NULL) / 30 && at >= 50000 &&
                            at < 100000)
                                next = (uint32_t)at;
                        (void)fclose(f);
                }
        }
        (void)snprintf(priv, sizeof(priv), "%s/cachecheck", argv[1]);
        (void)snprintf(big, sizeof(big), "%s/n100000/store", argv[1]);
        (void)snprintf(conf, sizeof(conf), "%s/mailotp.conf", argv[1]);
        (void)snprintf(confdir[0], sizeof(confdir[0]), "%s/pam.d", priv);
        (void)snprintf(confdir[1], sizeof(confdir[1]), "%s/pam.d-b", priv);
        (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", priv);
        if (system(cmd) != 0 || mkdir(priv, 0700) != 0 || mkdir(confdir[0], 0700) != 0 ||
            mkdir(confdir[1], 0700) != 0 || prep_users(priv, 1, (int64_t)time(NULL)) != 0) {
                fprintf(stderr, "cachecheck: cannot prepare %s\n", priv);
                return 2;
        }
        (void)snprintf(cmd, sizeof(cmd), "%s/n1/store", priv);
        for (m = 0; m < nmod; m++) {
                if (write_service(confdir[m], svc_one, module[m], cmd, conf) != 0 ||
                    write_service(confdir[m], svc_big, module[m], big, conf) != 0) {
                        fprintf(stderr, "cachecheck: cannot write the PAM services\n");
                        return 2;
                }
        }
        vt = (int64_t)time(NULL) + 3600; /* the private mailbox: virtual steps from here */
        if (next + rounds * batch * 2 * nmod > 100000) {
                fprintf(stderr, "cachecheck: ROUNDS * BATCH * 2 (per module) is more than the "
                                "upper half\n");
                return 2;
        }
        {
                FILE *f = fopen(mark, "we");

                if (f != NULL) {
                        fprintf(f, "%llu %u\n", (unsigned long long)time(NULL) / 30,
                                next + rounds * batch * 2 * nmod);
                        (void)fclose(f);
                }
        }
        for (r = 0; r < rounds; r++) {
                int order[SLOTS];

                for (k = 0; k < (int)nslot; k++) /* slot = module * KINDS + kind */
                        order[k] = k / (int)nkind * KINDS + k % (int)nkind;
                for (k = (int)nslot - 1; k > 0; k--) { /* a new order every round */
                        int j = (int)((unsigned)rand() % (unsigned)(k + 1)), t = order[k];

                        order[k] = order[j];
                        order[j] = t;
                }
                for (k = 0; k < (int)nslot; k++) {
                        int slot = order[k], kind = slot % KINDS;
                        unsigned mod = (unsigned)slot / KINDS;
                        double *v = &lat[slot][nlat[slot]];
                        uint32_t first = next;
                        unsigned got = 0;

                        if (kind == 1 || kind == 2) {
                                sync();
                                for (i = 0; i < batch; i++)
                                        touch_user(big, first + i, kind == 2);
                                next += batch;
                        }
                        rqs[slot] -= rq_count(rqfd);
                        for (i = 0; i < batch; i++) {
                                double ms;

                                if (kind == 0) {
                                        vt += BENCH_PERIOD;
                                        vclock_set(vt);
                                        ms = login(confdir[mod], svc_one, 0, vt);
                                } else if (kind == 3) {
                                        const struct bench_apppw *a = &app[nextapp++ % napp];

                                        vclock_set(0);
                                        (void)snprintf(g_answer, sizeof(g_answer), "%s", a->token);
                                        ms = login_as(confdir[mod], svc_big, a->user);
                                } else {
                                        vclock_set(0);
                                        ms = login(confdir[mod], svc_big, first + i,
                                                   (int64_t)time(NULL));
                                }
                                if (ms < 0) {
                                        refused++;
                                        continue;
                                }
                                v[got++] = ms;
                        }
                        rqs[slot] += rq_count(rqfd);
                        rnd[slot][r] = median(v, got);
                        nlat[slot] += got;
                }
        }
        printf("| login of pam_mailotp (simple stack, accepted) | p50 ms, median of %u rounds | "
               "rounds' p50 range | ratio to one mailbox | block requests per login |\n"
               "|---|--:|--:|--:|--:|\n",
               rounds);
        for (m = 0; m < nmod; m++) {
                for (k = 0; k < (int)nkind; k++) {
                        unsigned slot = m * KINDS + (unsigned)k, base = m * KINDS;
                        double copy[MAX_ROUND], ratio[MAX_ROUND], lo = 1e9, hi = 0;
                        char rq[32] = "n/a", label[BENCH_PATH_MAX + 64];

                        memcpy(copy, rnd[slot], rounds * sizeof(double));
                        for (r = 0; r < rounds; r++) {
                                ratio[r] = rnd[slot][r] / rnd[base][r];
                                lo = rnd[slot][r] < lo ? rnd[slot][r] : lo;
                                hi = rnd[slot][r] > hi ? rnd[slot][r] : hi;
                        }
                        if (rqfd >= 0 && nlat[slot] > 0)
                                (void)snprintf(rq, sizeof(rq), "%.2f",
                                               (double)rqs[slot] / (double)nlat[slot]);
                        if (nmod > 1)
                                (void)snprintf(label, sizeof(label), "%s (`%s`)", kind_name[k],
                                               module[m]);
                        else
                                (void)snprintf(label, sizeof(label), "%s", kind_name[k]);
                        printf("| %s | %.3f | %.3f-%.3f | %.2f | %s |\n", label,
                               median(copy, rounds), lo, hi, median(ratio, rounds), rq);
                }
        }
        if (nmod > 1) {
                printf("\n| kind | p50 of OTHER_MODULE / p50 of MODULE, median of the rounds' "
                       "ratios (quartiles) |\n|---|--:|\n");
                for (k = 0; k < (int)nkind; k++) {
                        double ratio[MAX_ROUND];

                        for (r = 0; r < rounds; r++)
                                ratio[r] = rnd[KINDS + (unsigned)k][r] / rnd[k][r];
                        qsort(ratio, rounds, sizeof(double), cmp_double);
                        printf("| %s | %.3f (%.3f-%.3f) |\n", kind_name[k], median(ratio, rounds),
                               ratio[rounds / 4], ratio[(3 * rounds) / 4]);
                }
        }
        printf("\n%u rounds x %u logins per kind%s; refused valid logins: %u\n", rounds, batch,
               nmod > 1 ? " and module" : "", refused);
        return refused == 0 ? 0 : 1;
}
