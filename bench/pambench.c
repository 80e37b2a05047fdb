/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pambench: the benchmark driver (bench/run calls it; see docs/BENCHMARKS.md).
 *
 *   pambench prepare WORK N...     stores for N mailboxes: ours, pam_oath, google-authenticator
 *   pambench code IDX [UNIXTIME]   mailbox IDX's name, base32 secret and current code
 *   pambench run --work WORK --worker PATH --module PATH --moddir DIR --out DIR
 *                [--ns N,N...] [--quick] [--rounds R] [--duration S] [--machine FILE]
 *                [--command TEXT]
 *
 * `run` measures every configuration once per round, in a new shuffled
 * order each round, for R rounds, so that the slow phases of a shared
 * machine hit all configurations alike.  p50/p99 are taken over the logins
 * of all rounds, rates and CPU per login are medians of the rounds, and the
 * targets' ratios come with the quartiles of the same ratio taken round by
 * round.  PAM configurations run in fresh pamworker processes (one per
 * concurrent process), whose peak RSS is the module's.
 *
 * Benchmarks print measurements; they never fail on a slow day.  The exit
 * status is 0 unless something crashed or could not be set up.
 */
#include "pambench.h"

#include <errno.h>
#include <fcntl.h>
#include <liboath/oath.h>
#include <math.h>
#include <security/_pam_types.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS  32U
#define MAX_CONFIGS 64U
#define MAX_NS      4U
#define NRACE       4U /* race slots per round when procs > 1 */
/* Every 8th valid login is sent again at once: a replay, which must be refused. */
#define REPLAY_EVERY 8U
#define MAX_APPPW    256U

enum cfg_kind { CK_PAM = 0, CK_DLOPEN, CK_RAW };

enum module_id { MOD_OURS_SIMPLE = 0, MOD_OURS_HARDENED, MOD_GA, MOD_OATH, MOD_PERMIT, MOD_COUNT };

enum scenario { SC_SUCCESS = 0, SC_WRONG, SC_NO2FA, SC_APPPW, SC_FLOOR };

static const char *const module_label[MOD_COUNT] = {"pam_mailotp simple", "pam_mailotp hardened",
                                                    "pam_google_authenticator", "pam_oath",
                                                    "pam_permit (floor)"};
static const char *const module_short[MOD_COUNT] = {"ours-simple", "ours-hardened", "ga", "oath",
                                                    "permit"};
static const char *const scenario_label[] = {"success", "wrong code", "no 2FA", "app password",
                                             "floor"};
static const char *const raw_label[RAW_COUNT] = {
    "TOTP check, +-1 window (liboath)",
    "read a small file (open+fstat+read+close)",
    "durable atomic rewrite (temp+fsync+rename+dir fsync)",
    "atomic rewrite without fsync (0.1.0's last-logins write)",
    "atomic rewrite, file fsync only (google-authenticator's write)",
    "4 KiB slot overwritten in place + fdatasync (our state write)",
    "append one line, no fsync (our last-logins entry)",
    "4 KiB slot in place + fdatasync, another of 1,000 files each time (our counter write at "
    "scale)"};

struct config {
        int kind;     /* enum cfg_kind */
        int module;   /* enum module_id (CK_PAM, CK_DLOPEN) */
        int scenario; /* enum scenario (CK_PAM) */
        int raw;      /* enum raw_floor (CK_RAW) */
        unsigned n;   /* mailboxes in the store */
        unsigned procs;
        int real_clock;
        char service[64];
        unsigned cap; /* attempts planned per worker and round (adaptive) */
        unsigned nr;  /* rounds measured */
        double p50[MAX_ROUNDS], p99[MAX_ROUNDS], rate[MAX_ROUNDS], cpu_ms[MAX_ROUNDS];
        double first_ms[MAX_ROUNDS]; /* CK_DLOPEN: the first load in a fresh process */
        long rss_kb;
        unsigned long samples, valid, valid_refused, replays, replays_accepted, races, race_multi,
            race_none, wrong, wrong_accepted;
        unsigned long rc_hist[32];
        char libs[BENCH_LIBS_MAX];
        int broken;        /* a worker crashed or could not start */
        unsigned plan_nw;  /* mailboxes per worker in the current plan (0: no virtual steps) */
        int64_t plan_base; /* virtual step of each worker's first valid login */
};

static struct {
        const char *work, *worker, *module, *moddir, *out, *machine, *command;
        unsigned rounds;
        double duration;
        int quick;
        unsigned ns[MAX_NS], nns, nbig;
        struct config cfg[MAX_CONFIGS];
        unsigned ncfg;
        struct bench_apppw app[MAX_APPPW];
        unsigned napp;
        int64_t cursor; /* next virtual step: only ever grows, so no (user, step) repeats */
        uint32_t wrong_next, nx_next, real_next, app_next;
        uint32_t real_first; /* real_next when this run started */
        uint64_t rng;
        struct bench_job *job;
        int job_fd;
        int crashed;
        double load[MAX_ROUNDS]; /* 1-minute load average after each round */
        unsigned nload;
} g;

static uint64_t rng_next(void)
{
        g.rng ^= g.rng << 13;
        g.rng ^= g.rng >> 7;
        g.rng ^= g.rng << 17;
        return g.rng;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        fputs("pambench: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(2);
}

/*
 * Mailboxes the virtual clock rotates over: the lower half of a store; the
 * upper half only ever sees real-clock logins (the check of the virtual
 * clock), so that the two never meet, in this run or the next.
 */
static unsigned virt_users(unsigned n)
{
        return n >= 1000 ? n / 2 : n;
}

/* ------------------------------------------------------------------------------------------ */
/* Statistics                                                                                  */

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return (x > y) - (x < y);
}

static int cmp_dbl(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static int64_t pct(const int64_t *v, size_t n, double p)
{
        size_t k;

        if (n == 0)
                return 0;
        k = (size_t)ceil(p / 100.0 * (double)n);
        if (k < 1)
                k = 1;
        return v[k - 1];
}

static double median(const double *v, size_t n)
{
        double tmp[MAX_ROUNDS];

        if (n == 0)
                return NAN;
        memcpy(tmp, v, n * sizeof(*v));
        qsort(tmp, n, sizeof(*tmp), cmp_dbl);
        return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2.0;
}

/* ------------------------------------------------------------------------------------------ */
/* Configurations                                                                              */

static struct config *add_cfg(int kind, int module, int scenario, unsigned n, unsigned procs)
{
        struct config *c;

        if (g.ncfg >= MAX_CONFIGS)
                die("too many configurations");
        c = &g.cfg[g.ncfg++];
        memset(c, 0, sizeof(*c));
        c->kind = kind;
        c->module = module;
        c->scenario = scenario;
        c->n = n;
        c->procs = procs;
        c->cap = 16;
        if (kind == CK_PAM) {
                if (module == MOD_PERMIT)
                        (void)snprintf(c->service, sizeof(c->service), "permit");
                else
                        (void)snprintf(c->service, sizeof(c->service), "%s-n%u",
                                       module_short[module], n);
        }
        return c;
}

static void build_configs(void)
{
        static const int success_mods[] = {MOD_OURS_SIMPLE, MOD_OURS_HARDENED, MOD_GA, MOD_OATH};
        static const int ours[] = {MOD_OURS_SIMPLE, MOD_OURS_HARDENED};
        static const unsigned procs[] = {2, 8};
        unsigned i, k, p;

        /* Success latency against the number of mailboxes, one process. */
        for (i = 0; i < g.nns; i++) {
                for (k = 0; k < 4; k++)
                        (void)add_cfg(CK_PAM, success_mods[k], SC_SUCCESS, g.ns[i], 1);
        }
        (void)add_cfg(CK_PAM, MOD_PERMIT, SC_FLOOR, 0, 1);
        /* Our other outcomes, biggest store. */
        for (k = 0; k < 2; k++) {
                (void)add_cfg(CK_PAM, ours[k], SC_WRONG, g.nbig, 1);
                (void)add_cfg(CK_PAM, ours[k], SC_NO2FA, g.nbig, 1);
                if (g.napp > 0)
                        (void)add_cfg(CK_PAM, ours[k], SC_APPPW, g.nbig, 1);
        }
        /* Concurrency, biggest store. */
        for (p = 0; p < 2; p++) {
                for (k = 0; k < 4; k++)
                        (void)add_cfg(CK_PAM, success_mods[k], SC_SUCCESS, g.nbig, procs[p]);
                (void)add_cfg(CK_PAM, MOD_PERMIT, SC_FLOOR, 0, procs[p]);
        }
        /* The virtual clock checked against the real one. */
        if (g.nbig >= 1000) {
                add_cfg(CK_PAM, MOD_OURS_SIMPLE, SC_SUCCESS, g.nbig, 1)->real_clock = 1;
                add_cfg(CK_PAM, MOD_GA, SC_SUCCESS, g.nbig, 1)->real_clock = 1;
        }
        /* Floors. */
        for (k = 0; k < RAW_COUNT; k++)
                add_cfg(CK_RAW, MOD_PERMIT, SC_FLOOR, 0, 1)->raw = (int)k;
        for (k = 0; k < MOD_COUNT; k++) {
                if (k != MOD_OURS_HARDENED)
                        (void)add_cfg(CK_DLOPEN, (int)k, SC_FLOOR, 0, 1);
        }
}

static struct config *find_cfg(int kind, int module, int scenario, unsigned n, unsigned procs,
                               int real_clock)
{
        unsigned i;

        for (i = 0; i < g.ncfg; i++) {
                struct config *c = &g.cfg[i];

                if (c->kind == kind && c->module == module && c->scenario == scenario &&
                    c->n == n && c->procs == procs && c->real_clock == real_clock)
                        return c;
        }
        return NULL;
}

static struct config *find_raw(int raw)
{
        unsigned i;

        for (i = 0; i < g.ncfg; i++) {
                if (g.cfg[i].kind == CK_RAW && g.cfg[i].raw == raw)
                        return &g.cfg[i];
        }
        return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* PAM services                                                                                */

static void write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");

        if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
                die("cannot write %s: %s", path, strerror(errno));
}

static void write_services(void)
{
        char dir[BENCH_PATH_MAX], path[BENCH_PATH_MAX + 80], text[8 * BENCH_PATH_MAX];
        unsigned i;

        (void)snprintf(dir, sizeof(dir), "%s/pam.d", g.work);
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                die("cannot create %s: %s", dir, strerror(errno));
        (void)snprintf(path, sizeof(path), "%s/other", dir);
        write_text(path, "auth required pam_deny.so\n");
        (void)snprintf(path, sizeof(path), "%s/permit", dir);
        write_text(path, "auth required pam_permit.so\n");
        for (i = 0; i < g.nns; i++) {
                unsigned n = g.ns[i];
                char args[2 * BENCH_PATH_MAX + 16];

                (void)snprintf(args, sizeof(args), "dir=%s/n%u/store conf=%s/mailotp.conf", g.work,
                               n, g.work);
                (void)snprintf(path, sizeof(path), "%s/ours-simple-n%u", dir, n);
                (void)snprintf(text, sizeof(text),
                               "auth [success=done ignore=ignore default=die] %s %s\n"
                               "auth required pam_permit.so\n",
                               g.module, args);
                write_text(path, text);
                (void)snprintf(path, sizeof(path), "%s/ours-hardened-n%u", dir, n);
                (void)snprintf(text, sizeof(text),
                               "auth [success=done ignore=ignore default=die] %s split %s\n"
                               "auth requisite pam_permit.so\n"
                               "auth required %s verify %s\n",
                               g.module, args, g.module, args);
                write_text(path, text);
                (void)snprintf(path, sizeof(path), "%s/oath-n%u", dir, n);
                (void)snprintf(text, sizeof(text),
                               "auth requisite pam_oath.so usersfile=%s/n%u/oath.users window=1 "
                               "digits=6\nauth required pam_permit.so\n",
                               g.work, n);
                write_text(path, text);
                (void)snprintf(path, sizeof(path), "%s/ga-n%u", dir, n);
                (void)snprintf(
                    text, sizeof(text),
                    "auth requisite pam_google_authenticator.so secret=%s/n%u/ga/${USER} "
                    "user=root forward_pass\nauth required pam_permit.so\n",
                    g.work, n);
                write_text(path, text);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Planning one round of one configuration                                                     */

static void set_attempt(struct bench_attempt *a, int kind, const char *user, int64_t vtime,
                        const char *token)
{
        a->kind = (uint8_t)kind;
        a->vtime = vtime;
        (void)snprintf(a->user, sizeof(a->user), "%s", user);
        (void)snprintf(a->token, sizeof(a->token), "%s", token);
}

/* The string a mailbox owner types: password + code (pam_oath's "-" entries take the code
 * alone). */
static void success_token(const struct config *c, const char *code, char *tok, size_t toksz)
{
        if (c->module == MOD_OATH)
                (void)snprintf(tok, toksz, "%s", code);
        else
                (void)snprintf(tok, toksz, "%s%s", BENCH_PASSWORD, code);
}

static void fill_valid(const struct config *c, struct bench_attempt *a, uint32_t idx, int64_t step,
                       int real_clock)
{
        char user[BENCH_USER_MAX], code[7], tok[BENCH_TOKEN_MAX];
        int64_t t = real_clock ? (int64_t)time(NULL) : step * BENCH_PERIOD + BENCH_PERIOD / 2;

        bench_user_name(idx, user);
        if (bench_code(idx, t, code) != 0)
                die("oath_totp_generate failed");
        success_token(c, code, tok, sizeof(tok));
        set_attempt(a, BK_VALID, user, real_clock ? 0 : t, tok);
}

/*
 * Success logins.  Worker w owns the mailboxes (start + w + P*i) mod U,
 * i < U/P, and its j-th valid login uses mailbox i = j mod (U/P) at step
 * base + j div (U/P): no (mailbox, step) ever repeats and no two workers
 * share a mailbox, so every valid login must succeed.  The races (P > 1)
 * come after the timed phase and give every worker the same fresh code of a
 * mailbox outside all partitions, at steps below base.
 */
static void plan_success(struct config *c, struct bench_job *job)
{
        unsigned p = c->procs, w, u = virt_users(c->n), r;
        unsigned nrace = p > 1 && u >= p + NRACE ? NRACE : 0, nw = (u - nrace) / p, cap = c->cap;
        uint32_t start = (uint32_t)(rng_next() % u);

        if (cap > BENCH_MAX_ATTEMPTS - nrace)
                cap = BENCH_MAX_ATTEMPTS - nrace;
        c->plan_nw = c->real_clock ? 0 : nw;
        c->plan_base = g.cursor + (int64_t)nrace;
        for (w = 0; w < p; w++) {
                unsigned k = 0, j = 0;

                while (k < cap) {
                        struct bench_attempt *a = &job->att[w][k];
                        uint32_t idx;

                        if (c->real_clock) {
                                /* Each mailbox once per run: a second login in the same
                                 * 30-second step would be a replay. */
                                if (g.real_next - g.real_first >= c->n - u)
                                        break;
                                idx = u + (g.real_next++ % (c->n - u));
                                fill_valid(c, a, idx, 0, 1);
                        } else {
                                idx = (start + w + p * (j % nw)) % u;
                                fill_valid(c, a, idx, c->plan_base + j / nw, 0);
                        }
                        k++;
                        if (j % REPLAY_EVERY == REPLAY_EVERY - 1 && k < cap) {
                                job->att[w][k] = *a;
                                job->att[w][k].kind = BK_REPLAY;
                                k++;
                        }
                        j++;
                }
                job->nattempts[w] = k;
        }
        for (r = 0; r < nrace; r++) {
                struct bench_attempt a;

                fill_valid(c, &a, (start + p * nw + r) % u, g.cursor + r, 0);
                a.kind = BK_RACE;
                for (w = 0; w < p; w++)
                        job->att[w][job->nattempts[w]++] = a;
        }
        job->nrace = nrace;
}

/* After a round: move the virtual clock past every step that was used (all planned ones if a
 * worker failed). */
static void advance_cursor(struct config *c, int failed)
{
        unsigned w, i, most = 0;

        if (c->plan_nw == 0)
                return;
        for (w = 0; w < c->procs; w++) {
                unsigned valid = 0, n = failed ? g.job->nattempts[w] : g.job->res[w].main_done;

                for (i = 0; i < n; i++)
                        valid += g.job->att[w][i].kind == BK_VALID;
                if (valid > most)
                        most = valid;
        }
        g.cursor = c->plan_base + (int64_t)(most / c->plan_nw) + 1;
        c->plan_nw = 0;
}

static void plan_other(struct config *c, struct bench_job *job)
{
        unsigned p = c->procs, w, k, u = virt_users(c->n), cap = c->cap;
        char user[BENCH_USER_MAX], code[7], tok[BENCH_TOKEN_MAX];

        for (w = 0; w < p; w++) {
                for (k = 0; k < cap; k++) {
                        struct bench_attempt *a = &job->att[w][k];
                        uint32_t idx;

                        switch (c->scenario) {
                        case SC_WRONG:
                                /* Users are spread so that none gets near the lockout. */
                                idx = (g.wrong_next + w + p * k) % u;
                                bench_user_name(idx, user);
                                if (bench_wrong_code(idx, g.cursor * BENCH_PERIOD + 15, code) != 0)
                                        die("oath_totp_generate failed");
                                (void)snprintf(tok, sizeof(tok), "%s%s", BENCH_PASSWORD, code);
                                set_attempt(a, BK_WRONG, user, g.cursor * BENCH_PERIOD + 15, tok);
                                break;
                        case SC_NO2FA:
                                (void)snprintf(user, sizeof(user), BENCH_NX_PREFIX "%06u",
                                               (unsigned)((g.nx_next + w + p * k) % 1000000U));
                                set_attempt(a, BK_NO2FA, user, 0, BENCH_PASSWORD "123456");
                                break;
                        case SC_APPPW:
                                idx = (g.app_next + w + p * k) % g.napp;
                                set_attempt(a, BK_APPPW, g.app[idx].user, 0, g.app[idx].token);
                                break;
                        default:
                                set_attempt(a, BK_FLOOR, BENCH_USER_PREFIX "000000", 0, "x");
                                break;
                        }
                }
                job->nattempts[w] = cap;
        }
        g.wrong_next += p * cap;
        g.nx_next += p * cap;
        g.app_next += p * cap;
        job->nrace = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Running                                                                                     */

static void reset_job(const struct config *c, double duration, unsigned min_attempts)
{
        struct bench_job *job = g.job;

        memset(job, 0, sizeof(*job));
        job->mode = c->kind == CK_DLOPEN ? JOB_DLOPEN : JOB_PAM;
        job->procs = c->procs;
        job->duration_s = duration;
        job->min_attempts = min_attempts;
        (void)snprintf(job->confdir, sizeof(job->confdir), "%s/pam.d", g.work);
        (void)snprintf(job->service, sizeof(job->service), "%s", c->service);
        if (c->kind == CK_DLOPEN) {
                if (c->module == MOD_OURS_SIMPLE)
                        (void)snprintf(job->module, sizeof(job->module), "%s", g.module);
                else
                        (void)snprintf(job->module, sizeof(job->module), "%s/%s", g.moddir,
                                       c->module == MOD_GA     ? "pam_google_authenticator.so"
                                       : c->module == MOD_OATH ? "pam_oath.so"
                                                               : "pam_permit.so");
        }
}

/* Start the workers, open the gate together, wait for all.  0, or -1 when one failed. */
static int run_workers(const struct config *c)
{
        pid_t pids[BENCH_MAX_PROCS];
        unsigned w;
        int bad = 0;
        time_t deadline;

        for (w = 0; w < c->procs; w++) {
                pids[w] = fork();
                if (pids[w] < 0)
                        die("fork: %s", strerror(errno));
                if (pids[w] == 0) {
                        char fdstr[16], wstr[16];

                        (void)snprintf(fdstr, sizeof(fdstr), "%d", g.job_fd);
                        (void)snprintf(wstr, sizeof(wstr), "%u", w);
                        execl(g.worker, "pamworker", fdstr, wstr, (char *)NULL);
                        fprintf(stderr, "pambench: exec %s: %s\n", g.worker, strerror(errno));
                        _exit(127);
                }
        }
        deadline = time(NULL) + 30;
        while (atomic_load(&g.job->ready) < c->procs && time(NULL) < deadline) {
                struct timespec ts = {0, 200000};

                (void)nanosleep(&ts, NULL);
        }
        atomic_store(&g.job->go, 1U);
        for (w = 0; w < c->procs; w++) {
                int st = 0;

                while (waitpid(pids[w], &st, 0) < 0 && errno == EINTR)
                        ;
                if (WIFSIGNALED(st)) {
                        fprintf(stderr, "pambench: %s: worker %u killed by signal %d\n", c->service,
                                w, WTERMSIG(st));
                        g.crashed = 1;
                        bad = 1;
                } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || g.job->res[w].status != 0) {
                        fprintf(stderr, "pambench: %s: worker %u failed (exit %d) %s\n", c->service,
                                w, WIFEXITED(st) ? WEXITSTATUS(st) : -1, g.job->res[w].libs);
                        g.crashed = 1;
                        bad = 1;
                }
        }
        return bad ? -1 : 0;
}

static int run_raw(const struct config *c, double duration, unsigned min_attempts)
{
        pid_t pid = fork();
        int st = 0;

        if (pid < 0)
                die("fork: %s", strerror(errno));
        if (pid == 0)
                _exit(raw_run((enum raw_floor)c->raw, g.work, duration, min_attempts,
                              &g.job->res[0]) == 0
                          ? 0
                          : 1);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "pambench: raw floor %s failed\n", raw_label[c->raw]);
                g.crashed = 1;
                return -1;
        }
        return 0;
}

static int is_primary(int kind)
{
        return kind != BK_REPLAY && kind != BK_RACE;
}

static int expect_success(int kind)
{
        return kind == BK_VALID || kind == BK_NO2FA || kind == BK_APPPW || kind == BK_FLOOR;
}

static void note_refusal(struct config *c, int rc)
{
        c->valid_refused++;
        c->rc_hist[rc >= 0 && rc < 32 ? rc : 31]++;
}

/* Fold one round's results into the configuration (record = 0: warm-up, counts only). */
static void collect(struct config *c, int record)
{
        struct bench_job *job = g.job;
        static int64_t lat[BENCH_MAX_PROCS * BENCH_MAX_ATTEMPTS];
        size_t nlat = 0;
        double rate = 0, cpu = 0;
        unsigned w, r, i, attempts = 0;

        for (w = 0; w < c->procs; w++) {
                const struct bench_result *res = &job->res[w];
                double replay_s = 0;
                unsigned primary = 0;

                for (i = 0; i < res->main_done; i++) {
                        int kind = c->kind == CK_PAM ? job->att[w][i].kind : BK_FLOOR;
                        int rc = res->rc[i];

                        if (is_primary(kind)) {
                                lat[nlat++] = res->lat_ns[i];
                                primary++;
                        } else {
                                replay_s += (double)res->lat_ns[i] / 1e9;
                        }
                        if (c->kind != CK_PAM)
                                continue;
                        if (expect_success(kind)) {
                                c->valid++;
                                if (rc != PAM_SUCCESS)
                                        note_refusal(c, rc);
                        } else if (kind == BK_REPLAY) {
                                c->replays++;
                                c->replays_accepted += rc == PAM_SUCCESS;
                        } else if (kind == BK_WRONG) {
                                c->wrong++;
                                c->wrong_accepted += rc == PAM_SUCCESS;
                                c->rc_hist[rc >= 0 && rc < 32 ? rc : 31]++;
                        }
                }
                if (res->elapsed_s - replay_s > 0)
                        rate += primary / (res->elapsed_s - replay_s);
                cpu += res->cpu_s;
                attempts += res->done;
                if (res->maxrss_kb > c->rss_kb && c->kind == CK_PAM)
                        c->rss_kb = res->maxrss_kb;
                if (c->kind == CK_DLOPEN && res->libs[0] != '\0')
                        (void)snprintf(c->libs, sizeof(c->libs), "%s", res->libs);
        }
        /* Races: exactly one of the workers may get in with the same fresh code. */
        for (r = 0; r < job->nrace; r++) {
                unsigned ok = 0, ran = 0;
                int last_rc = PAM_SUCCESS;

                for (w = 0; w < c->procs; w++) {
                        const struct bench_result *res = &job->res[w];

                        if (res->done > res->main_done + r) {
                                ran++;
                                last_rc = res->rc[res->main_done + r];
                                ok += last_rc == PAM_SUCCESS;
                        }
                }
                if (ran == 0)
                        continue;
                c->races++;
                c->valid++;
                c->replays += ran - 1;
                if (ok == 0) {
                        c->race_none++;
                        note_refusal(c, last_rc);
                }
                if (ok > 1) {
                        c->race_multi++;
                        c->replays_accepted += ok - 1;
                }
        }
        if (!record || nlat == 0)
                return;
        c->cpu_ms[c->nr] = attempts > 0 ? cpu * 1e3 / attempts : NAN;
        c->first_ms[c->nr] = (double)job->res[0].lat_ns[0] / 1e6;
        qsort(lat, nlat, sizeof(*lat), cmp_i64);
        c->p50[c->nr] = (double)pct(lat, nlat, 50) / 1e6;
        c->p99[c->nr] = (double)pct(lat, nlat, 99) / 1e6;
        c->rate[c->nr] = rate;
        c->samples += nlat;
        c->nr++;
}

/* Next round's list length: enough for the duration with room to spare. */
static void adapt_cap(struct config *c, double duration)
{
        unsigned w, most = 0;
        double per_s = 0;

        for (w = 0; w < c->procs; w++) {
                const struct bench_result *res = &g.job->res[w];

                if (res->main_done > most)
                        most = res->main_done;
                if (res->elapsed_s > 0 && res->main_done / res->elapsed_s > per_s)
                        per_s = res->main_done / res->elapsed_s;
        }
        per_s = per_s * duration * 1.6 + 16;
        if (per_s > (double)(BENCH_MAX_ATTEMPTS - NRACE))
                per_s = (double)(BENCH_MAX_ATTEMPTS - NRACE);
        c->cap = (unsigned)per_s;
        if (c->cap < 2 * most && most == c->cap)
                c->cap = 2 * most; /* ran out of list: give more next time */
        if (c->cap > BENCH_MAX_ATTEMPTS - NRACE)
                c->cap = BENCH_MAX_ATTEMPTS - NRACE;
}

static void run_config(struct config *c, double duration, unsigned min_attempts, int record)
{
        int rc;

        if (c->broken)
                return;
        reset_job(c, duration, min_attempts);
        if (c->kind == CK_PAM) {
                if (c->scenario == SC_SUCCESS)
                        plan_success(c, g.job);
                else
                        plan_other(c, g.job);
        } else {
                unsigned w;

                for (w = 0; w < c->procs; w++)
                        g.job->nattempts[w] = c->cap;
        }
        rc = c->kind == CK_RAW ? run_raw(c, duration, min_attempts) : run_workers(c);
        advance_cursor(c, rc != 0);
        if (rc != 0) {
                c->broken = 1;
                return;
        }
        collect(c, record);
        adapt_cap(c, g.duration); /* sized for the measured rounds, warm-up included */
}

static void shuffle(unsigned *v, unsigned n)
{
        unsigned i;

        for (i = n; i > 1; i--) {
                unsigned j = (unsigned)(rng_next() % i), t = v[i - 1];

                v[i - 1] = v[j];
                v[j] = t;
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Report                                                                                      */

/* The median over the rounds of a configuration's per-round p50. */
static double p50_of(const struct config *c)
{
        return c != NULL ? median(c->p50, c->nr) : NAN;
}

/*
 * a's p50 over (b's + c's), c optional, taken round by round (both sides
 * measured in the same round): the median of those ratios, and their
 * quartiles, which show how far the machine's noise moves them.
 */
struct ratio {
        double value, q1, q3;
};

static struct ratio ratio_of(const struct config *a, const struct config *b, const struct config *c)
{
        struct ratio out = {NAN, NAN, NAN};
        double v[MAX_ROUNDS];
        unsigned r, n = 0;

        if (a == NULL || b == NULL)
                return out;
        for (r = 0; r < a->nr && r < b->nr && (c == NULL || r < c->nr); r++)
                v[n++] = a->p50[r] / (b->p50[r] + (c != NULL ? c->p50[r] : 0));
        if (n > 0) {
                out.value = median(v, n);
                qsort(v, n, sizeof(*v), cmp_dbl);
                out.q1 = v[(n - 1) / 4];
                out.q3 = v[(3 * (n - 1) + 3) / 4];
        }
        return out;
}

static void fmt_ratio(char *out, size_t outsz, const char *what, struct ratio r, int times)
{
        if (times)
                (void)snprintf(out, outsz, "%s %.1fx (%.1f-%.1f)", what, r.value, r.q1, r.q3);
        else
                (void)snprintf(out, outsz, "%s %.2f (%.2f-%.2f)", what, r.value, r.q1, r.q3);
}

static const char *pam_rc_name(int rc)
{
        switch (rc) {
        case PAM_AUTH_ERR:
                return "AUTH_ERR";
        case PAM_AUTHINFO_UNAVAIL:
                return "AUTHINFO_UNAVAIL";
        case PAM_MAXTRIES:
                return "MAXTRIES";
        case PAM_USER_UNKNOWN:
                return "USER_UNKNOWN";
        case PAM_SERVICE_ERR:
                return "SERVICE_ERR";
        case PAM_SYSTEM_ERR:
                return "SYSTEM_ERR";
        case PAM_PERM_DENIED:
                return "PERM_DENIED";
        case PAM_CONV_ERR:
                return "CONV_ERR";
        default:
                return "other";
        }
}

static void refusal_text(const struct config *c, char *out, size_t outsz)
{
        size_t off = 0;
        int k;

        out[0] = '\0';
        for (k = 0; k < 32; k++) {
                int n;

                if (c->rc_hist[k] == 0)
                        continue;
                n = snprintf(out + off, outsz - off, "%s%s %lu", off ? ", " : " (", pam_rc_name(k),
                             c->rc_hist[k]);
                if (n < 0 || (size_t)n >= outsz - off)
                        return;
                off += (size_t)n;
        }
        if (off > 0 && off + 2 < outsz)
                memcpy(out + off, ")", 2);
}

static void fmt_ms(char *out, size_t outsz, double ms)
{
        if (isnan(ms))
                (void)snprintf(out, outsz, "-");
        else if (ms < 10)
                (void)snprintf(out, outsz, "%.3f", ms);
        else
                (void)snprintf(out, outsz, "%.1f", ms);
}

static void print_pam_row(FILE *f, const struct config *c)
{
        char p50[32], p99[32], cpu[32], refused[256], mailboxes[16], valid[320], replays[64];

        fmt_ms(p50, sizeof(p50), median(c->p50, c->nr));
        fmt_ms(p99, sizeof(p99), median(c->p99, c->nr));
        fmt_ms(cpu, sizeof(cpu), median(c->cpu_ms, c->nr));
        refusal_text(c, refused, sizeof(refused));
        if (c->module == MOD_PERMIT)
                (void)snprintf(mailboxes, sizeof(mailboxes), "-");
        else
                (void)snprintf(mailboxes, sizeof(mailboxes), "%u", c->n);
        if (c->scenario == SC_WRONG) {
                (void)snprintf(valid, sizeof(valid), "- (wrong codes accepted: %lu / %lu%s)",
                               c->wrong_accepted, c->wrong, refused);
                (void)snprintf(replays, sizeof(replays), "-");
        } else {
                (void)snprintf(valid, sizeof(valid), "%lu / %lu%s", c->valid_refused, c->valid,
                               refused);
                if (c->replays > 0)
                        (void)snprintf(replays, sizeof(replays), "%lu / %lu", c->replays_accepted,
                                       c->replays);
                else
                        (void)snprintf(replays, sizeof(replays), "-");
        }
        fprintf(f, "| %s | %s%s | %s | %u | %s | %s | %.0f | %s | %.1f | %s | %s |\n",
                module_label[c->module], scenario_label[c->scenario],
                c->real_clock ? " (real clock)" : "", mailboxes, c->procs, p50, p99,
                median(c->rate, c->nr), cpu, (double)c->rss_kb / 1024.0, valid, replays);
}

static void print_pam_table(FILE *f)
{
        unsigned i;

        fprintf(f, "| configuration | login | mailboxes | procs | p50 ms | p99 ms | auths/s | "
                   "CPU ms/login | peak RSS MiB | valid refused / sent | "
                   "replays accepted / sent |\n");
        fprintf(f, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        for (i = 0; i < g.ncfg; i++) {
                if (g.cfg[i].kind == CK_PAM)
                        print_pam_row(f, &g.cfg[i]);
        }
}

static const char *module_file(int module)
{
        return module == MOD_OURS_SIMPLE ? "pam_mailotp.so"
               : module == MOD_GA        ? "pam_google_authenticator.so"
               : module == MOD_OATH      ? "pam_oath.so"
                                         : "pam_permit.so";
}

static void print_floor_table(FILE *f)
{
        unsigned i;

        fprintf(f, "| floor | p50 ms | p99 ms | per second | CPU ms/op | first load ms | "
                   "objects loaded |\n|---|--:|--:|--:|--:|--:|---|\n");
        for (i = 0; i < g.ncfg; i++) {
                const struct config *c = &g.cfg[i];
                char p50[32], p99[32], cpu[32], first[32], name[128];

                if (c->kind == CK_PAM)
                        continue;
                fmt_ms(p50, sizeof(p50), median(c->p50, c->nr));
                fmt_ms(p99, sizeof(p99), median(c->p99, c->nr));
                fmt_ms(cpu, sizeof(cpu), median(c->cpu_ms, c->nr));
                if (c->kind == CK_RAW) {
                        (void)snprintf(name, sizeof(name), "%s", raw_label[c->raw]);
                        (void)snprintf(first, sizeof(first), "-");
                } else {
                        (void)snprintf(name, sizeof(name),
                                       "dlopen+dlclose %s (what pam_start + "
                                       "pam_end pay)",
                                       module_file(c->module));
                        fmt_ms(first, sizeof(first), median(c->first_ms, c->nr));
                }
                fprintf(f, "| %s | %s | %s | %.0f | %s | %s | %s |\n", name, p50, p99,
                        median(c->rate, c->nr), cpu, first, c->kind == CK_DLOPEN ? c->libs : "");
        }
}

static void verdict(FILE *f, const char *target, int met, const char *measured)
{
        fprintf(f, "| %s | %s | **%s** |\n", target, measured, met ? "met" : "missed");
}

/* The words of `libs` not in `base` (both space-separated), minus the module itself. */
static void lib_extra(const char *libs, const char *base, const char *self, char *out, size_t outsz)
{
        char tmp[BENCH_LIBS_MAX], *save = NULL, *w;
        size_t off = 0;

        out[0] = '\0';
        (void)snprintf(tmp, sizeof(tmp), "%s", libs);
        for (w = strtok_r(tmp, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
                const char *p = base;
                size_t wl = strlen(w);
                int found = 0;
                int n;

                if (strcmp(w, self) == 0)
                        continue;
                while ((p = strstr(p, w)) != NULL) {
                        if ((p == base || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\0')) {
                                found = 1;
                                break;
                        }
                        p += wl;
                }
                if (found)
                        continue;
                n = snprintf(out + off, outsz - off, "%s%s", off ? " " : "", w);
                if (n < 0 || (size_t)n >= outsz - off)
                        break;
                off += (size_t)n;
        }
}

static void print_targets(FILE *f)
{
        unsigned nb = g.nbig, n1 = g.ns[0];
        const struct config *s1 = find_cfg(CK_PAM, MOD_OURS_SIMPLE, SC_SUCCESS, n1, 1, 0);
        const struct config *sb = find_cfg(CK_PAM, MOD_OURS_SIMPLE, SC_SUCCESS, nb, 1, 0);
        const struct config *h1 = find_cfg(CK_PAM, MOD_OURS_HARDENED, SC_SUCCESS, n1, 1, 0);
        const struct config *hb = find_cfg(CK_PAM, MOD_OURS_HARDENED, SC_SUCCESS, nb, 1, 0);
        const struct config *ga = find_cfg(CK_PAM, MOD_GA, SC_SUCCESS, nb, 1, 0);
        const struct config *oath = find_cfg(CK_PAM, MOD_OATH, SC_SUCCESS, nb, 1, 0);
        const struct config *floor = find_cfg(CK_PAM, MOD_PERMIT, SC_FLOOR, 0, 1, 0);
        const struct config *rw = find_raw(RAW_REWRITE);
        const struct config *cw = find_raw(RAW_PWRITE_DSYNC);
        const struct config *sw = find_raw(RAW_PWRITE_SPREAD);
        const struct config *ws = find_cfg(CK_PAM, MOD_OURS_SIMPLE, SC_WRONG, nb, 1, 0);
        const struct config *wh = find_cfg(CK_PAM, MOD_OURS_HARDENED, SC_WRONG, nb, 1, 0);
        const struct config *c8s = find_cfg(CK_PAM, MOD_OURS_SIMPLE, SC_SUCCESS, nb, 8, 0);
        const struct config *c8h = find_cfg(CK_PAM, MOD_OURS_HARDENED, SC_SUCCESS, nb, 8, 0);
        const struct config *dl_ours = find_cfg(CK_DLOPEN, MOD_OURS_SIMPLE, SC_FLOOR, 0, 1, 0);
        const struct config *dl_oath = find_cfg(CK_DLOPEN, MOD_OATH, SC_FLOOR, 0, 1, 0);
        char m[1024], a[256], b[256], extra[BENCH_LIBS_MAX];
        struct ratio x, y;

        fprintf(f, "| target | measured: median of the per-round ratios of p50s (quartiles) | "
                   "verdict |\n|---|---|---|\n");
        x = ratio_of(sb, s1, NULL);
        y = ratio_of(hb, h1, NULL);
        fmt_ratio(a, sizeof(a), "simple", x, 0);
        fmt_ratio(b, sizeof(b), "hardened", y, 0);
        (void)snprintf(m, sizeof(m), "p50 at %u / p50 at %u: %s; %s", nb, n1, a, b);
        verdict(f, "success p50 flat: at 100,000 mailboxes within 10% of 1 mailbox",
                x.value <= 1.10 && y.value <= 1.10, m);
        x = ratio_of(sb, ga, NULL);
        y = ratio_of(hb, ga, NULL);
        fmt_ratio(a, sizeof(a), "simple", x, 0);
        fmt_ratio(b, sizeof(b), "hardened", y, 0);
        (void)snprintf(m, sizeof(m), "ours / google-authenticator at %u: %s; %s", nb, a, b);
        verdict(f, "success p50 no slower than google-authenticator (replay protection on)",
                x.value <= 1.0 && y.value <= 1.0, m);
        x = ratio_of(oath, sb, NULL);
        y = ratio_of(oath, hb, NULL);
        fmt_ratio(a, sizeof(a), "simple", x, 1);
        fmt_ratio(b, sizeof(b), "hardened", y, 1);
        (void)snprintf(m, sizeof(m), "pam_oath / ours at %u: %s; %s", nb, a, b);
        verdict(f, "success p50 at least 50x faster than pam_oath at 100,000 mailboxes",
                x.value >= 50 && y.value >= 50, m);
        x = ratio_of(sb, floor, rw);
        y = ratio_of(hb, floor, rw);
        fmt_ratio(a, sizeof(a), "simple", x, 0);
        fmt_ratio(b, sizeof(b), "hardened", y, 0);
        (void)snprintf(m, sizeof(m), "success / (PAM floor + durable rewrite) at %u: %s; %s", nb, a,
                       b);
        verdict(f, "success p50 within 1.3x of (PAM floor + durable rewrite floor)",
                x.value <= 1.3 && y.value <= 1.3, m);
        /*
         * Our failure counter write is the in-place slot write (src/fileio.c),
         * at 100,000 mailboxes to a file last written a while ago: the spread
         * floor.  The same-file floor is shown next to it.
         */
        x = ratio_of(ws, floor, sw);
        y = ratio_of(wh, floor, sw);
        fmt_ratio(a, sizeof(a), "simple", x, 0);
        fmt_ratio(b, sizeof(b), "hardened", y, 0);
        {
                struct ratio xs = ratio_of(ws, floor, cw), ys = ratio_of(wh, floor, cw);

                (void)snprintf(
                    m, sizeof(m),
                    "wrong code / (PAM floor + our counter write: slot write + fdatasync "
                    "to another file each time) at %u: %s; %s (against the slot write "
                    "to one file again and again: %.2f and %.2f)",
                    nb, a, b, xs.value, ys.value);
        }
        verdict(f, "rejection p50 within 1.5x of (PAM floor + failure counter write)",
                x.value <= 1.5 && y.value <= 1.5, m);
        if (c8s != NULL && c8h != NULL) {
                (void)snprintf(m, sizeof(m),
                               "8 processes: valid refused %lu / %lu (simple), %lu / %lu "
                               "(hardened); replays accepted %lu / %lu, %lu / %lu",
                               c8s->valid_refused, c8s->valid, c8h->valid_refused, c8h->valid,
                               c8s->replays_accepted, c8s->replays, c8h->replays_accepted,
                               c8h->replays);
                verdict(f, "100% of valid logins accepted and 0 replays accepted at 8 processes",
                        c8s->valid_refused == 0 && c8h->valid_refused == 0 &&
                            c8s->replays_accepted == 0 && c8h->replays_accepted == 0 &&
                            c8s->valid > 0 && c8h->valid > 0,
                        m);
        }
        if (dl_ours != NULL && dl_oath != NULL) {
                const struct config *ds = find_cfg(CK_PAM, MOD_OURS_SIMPLE, SC_SUCCESS, nb, 1, 0);
                const struct config *dg = find_cfg(CK_PAM, MOD_GA, SC_SUCCESS, nb, 1, 0);

                lib_extra(dl_ours->libs, dl_oath->libs, "pam_mailotp.so", extra, sizeof(extra));
                (void)snprintf(m, sizeof(m),
                               "loaded beyond pam_oath's: %s; dlopen+dlclose %.3f ms (first load "
                               "%.3f ms) vs pam_oath %.3f ms (%.3f ms); peak RSS %.1f MiB vs "
                               "google-authenticator %.1f MiB",
                               extra[0] ? extra : "nothing", p50_of(dl_ours),
                               median(dl_ours->first_ms, dl_ours->nr), p50_of(dl_oath),
                               median(dl_oath->first_ms, dl_oath->nr),
                               ds != NULL ? (double)ds->rss_kb / 1024.0 : NAN,
                               dg != NULL ? (double)dg->rss_kb / 1024.0 : NAN);
                verdict(f, "links nothing the login path does not use", extra[0] == '\0', m);
        }
}

static FILE *open_out(const char *name)
{
        char path[BENCH_PATH_MAX + 64];
        FILE *f;

        (void)snprintf(path, sizeof(path), "%s/%s", g.out, name);
        f = fopen(path, "we");
        if (f == NULL)
                die("cannot write %s: %s", path, strerror(errno));
        return f;
}

static const char *cfg_kind_name(const struct config *c)
{
        return c->kind == CK_PAM ? "pam" : c->kind == CK_RAW ? "raw" : "dlopen";
}

static const char *cfg_what(const struct config *c)
{
        return c->kind == CK_RAW ? raw_label[c->raw] : module_short[c->module];
}

static void write_outputs(void)
{
        FILE *f;
        unsigned i, r;

        f = open_out("summary.csv");
        fprintf(f, "kind,module,scenario,mailboxes,procs,real_clock,rounds,samples,p50_ms,p99_ms,"
                   "auths_per_s,cpu_ms_per_login,peak_rss_kb,valid,valid_refused,replays,"
                   "replays_accepted,races,races_none,races_multi,wrong,wrong_accepted,libs\n");
        for (i = 0; i < g.ncfg; i++) {
                const struct config *c = &g.cfg[i];

                fprintf(f,
                        "%s,\"%s\",%s,%u,%u,%d,%u,%lu,%.4f,%.4f,%.1f,%.4f,%ld,%lu,%lu,%lu,%lu,%lu,"
                        "%lu,%lu,%lu,%lu,\"%s\"\n",
                        cfg_kind_name(c), cfg_what(c), scenario_label[c->scenario], c->n, c->procs,
                        c->real_clock, c->nr, c->samples, median(c->p50, c->nr),
                        median(c->p99, c->nr), median(c->rate, c->nr), median(c->cpu_ms, c->nr),
                        c->rss_kb, c->valid, c->valid_refused, c->replays, c->replays_accepted,
                        c->races, c->race_none, c->race_multi, c->wrong, c->wrong_accepted,
                        c->libs);
        }
        fclose(f);

        f = open_out("rounds.csv");
        fprintf(f, "kind,module,scenario,mailboxes,procs,real_clock,round,p50_ms,p99_ms,"
                   "auths_per_s,cpu_ms_per_login\n");
        for (i = 0; i < g.ncfg; i++) {
                const struct config *c = &g.cfg[i];

                for (r = 0; r < c->nr; r++)
                        fprintf(f, "%s,\"%s\",%s,%u,%u,%d,%u,%.4f,%.4f,%.1f,%.4f\n",
                                cfg_kind_name(c), cfg_what(c), scenario_label[c->scenario], c->n,
                                c->procs, c->real_clock, r + 1, c->p50[r], c->p99[r], c->rate[r],
                                c->cpu_ms[r]);
        }
        fclose(f);

        /* gnuplot data: mailboxes, then success p50 (ms) of each module, one process. */
        f = open_out("latency-vs-users.dat");
        fprintf(f, "# mailboxes ours_simple ours_hardened google_authenticator pam_oath "
                   "pam_permit_floor (success p50, ms)\n");
        for (i = 0; i < g.nns; i++) {
                unsigned n = g.ns[i];

                fprintf(f, "%u %.4f %.4f %.4f %.4f %.4f\n", n,
                        p50_of(find_cfg(CK_PAM, MOD_OURS_SIMPLE, SC_SUCCESS, n, 1, 0)),
                        p50_of(find_cfg(CK_PAM, MOD_OURS_HARDENED, SC_SUCCESS, n, 1, 0)),
                        p50_of(find_cfg(CK_PAM, MOD_GA, SC_SUCCESS, n, 1, 0)),
                        p50_of(find_cfg(CK_PAM, MOD_OATH, SC_SUCCESS, n, 1, 0)),
                        p50_of(find_cfg(CK_PAM, MOD_PERMIT, SC_FLOOR, 0, 1, 0)));
        }
        fclose(f);

        f = open_out("results.md");
        fprintf(f, "<!-- generated by bench/run -->\n");
        if (g.command != NULL)
                fprintf(f, "Command: `%s`  \n", g.command);
        fprintf(f,
                "Rounds: %u, every configuration once per round in a new shuffled order, %.1f s "
                "each; every value is the median over the rounds (p50 = median of the rounds' "
                "p50s).  \n",
                g.rounds, g.duration);
        if (g.nload > 0) {
                double lo = g.load[0], hi = g.load[0];

                for (i = 1; i < g.nload; i++) {
                        lo = g.load[i] < lo ? g.load[i] : lo;
                        hi = g.load[i] > hi ? g.load[i] : hi;
                }
                fprintf(f,
                        "Load average (1 min) after each round: median %.1f, range %.1f-%.1f "
                        "(other work on the machine included).  \n",
                        median(g.load, g.nload), lo, hi);
        }
        if (g.machine != NULL) {
                FILE *mf = fopen(g.machine, "re");
                char line[512];

                if (mf != NULL) {
                        while (fgets(line, sizeof(line), mf) != NULL)
                                fputs(line, f);
                        fclose(mf);
                }
        }
        fprintf(f, "\n#### Targets\n\n");
        print_targets(f);
        fprintf(f, "\n#### Logins (pam_start_confdir + pam_authenticate + pam_end)\n\n");
        print_pam_table(f);
        fprintf(f, "\n#### Floors\n\n");
        print_floor_table(f);
        fclose(f);
}

static void note_load(void)
{
        FILE *f = fopen("/proc/loadavg", "re");
        double l;

        if (f == NULL)
                return;
        if (fscanf(f, "%lf", &l) == 1 && g.nload < MAX_ROUNDS)
                g.load[g.nload++] = l;
        fclose(f);
}

/* ------------------------------------------------------------------------------------------ */
/* Commands                                                                                    */

static void load_apppw(void)
{
        char path[BENCH_PATH_MAX + 32];

        (void)snprintf(path, sizeof(path), "%s/n%u/apppw.txt", g.work, g.nbig);
        g.napp = bench_load_apppw(path, g.app, MAX_APPPW);
        if (g.napp == 0)
                fprintf(stderr, "pambench: no %s: app password logins not measured\n", path);
}

/* The stores to measure: --ns N,N,... (each must be prepared), else every prepared one. */
static void find_stores(const char *list)
{
        static const unsigned candidates[] = {1, 1000, 10000, 100000};
        unsigned i;

        if (list != NULL) {
                char tmp[128], *save = NULL, *w;

                (void)snprintf(tmp, sizeof(tmp), "%s", list);
                for (w = strtok_r(tmp, ", ", &save); w != NULL && g.nns < MAX_NS;
                     w = strtok_r(NULL, ", ", &save))
                        g.ns[g.nns++] = (unsigned)strtoul(w, NULL, 10);
        } else {
                for (i = 0; i < 4; i++)
                        g.ns[g.nns++] = candidates[i];
        }
        for (i = 0; i < g.nns; i++) {
                char path[BENCH_PATH_MAX + 32];
                struct stat st;

                (void)snprintf(path, sizeof(path), "%s/n%u/store", g.work, g.ns[i]);
                if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
                        if (list != NULL)
                                die("%s is not prepared (run pambench prepare)", path);
                        memmove(&g.ns[i], &g.ns[i + 1], (g.nns - i - 1) * sizeof(g.ns[0]));
                        g.nns--;
                        i--;
                }
        }
        if (g.nns == 0)
                die("no prepared stores in %s (run pambench prepare)", g.work);
        g.nbig = g.ns[g.nns - 1];
}

/*
 * The stores are kept between runs (removing 400,000 files takes minutes on
 * a disk mounted with discard), so where the last run left the virtual clock
 * and the rotations is kept with them: steps only ever grow, and every
 * (mailbox, step) stays unused until now.
 */
static void load_runstate(void)
{
        char path[BENCH_PATH_MAX + 32];
        long long cursor = 0;
        unsigned wn = 0, nx = 0, rn = 0, an = 0;
        FILE *f;

        g.cursor = (int64_t)time(NULL) / BENCH_PERIOD + 10;
        (void)snprintf(path, sizeof(path), "%s/runstate", g.work);
        f = fopen(path, "re");
        if (f == NULL)
                return;
        if (fscanf(f, "%lld %u %u %u %u", &cursor, &wn, &nx, &rn, &an) == 5) {
                /*
                 * A run that was stopped mid-round used steps it never saved; a round uses
                 * at most MAX_CONFIGS x BENCH_MAX_ATTEMPTS of them, so skip that many.
                 */
                cursor += (long long)MAX_CONFIGS * BENCH_MAX_ATTEMPTS;
                if (cursor > g.cursor)
                        g.cursor = cursor;
                g.wrong_next = wn + MAX_CONFIGS * BENCH_MAX_ATTEMPTS;
                g.nx_next = nx;
                g.real_next = rn + MAX_CONFIGS * BENCH_MAX_ATTEMPTS;
                g.app_next = an;
        }
        fclose(f);
}

static void save_runstate(void)
{
        char path[BENCH_PATH_MAX + 32], tmp[BENCH_PATH_MAX + 40];
        FILE *f;

        (void)snprintf(path, sizeof(path), "%s/runstate", g.work);
        (void)snprintf(tmp, sizeof(tmp), "%s/runstate.tmp", g.work);
        f = fopen(tmp, "we");
        if (f == NULL)
                die("cannot write %s: %s", tmp, strerror(errno));
        fprintf(f, "%lld %u %u %u %u\n", (long long)g.cursor, g.wrong_next, g.nx_next, g.real_next,
                g.app_next);
        if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 || rename(tmp, path) != 0)
                die("cannot write %s: %s", path, strerror(errno));
}

static int cmd_run(int argc, char **argv)
{
        unsigned order[MAX_CONFIGS], i, r;
        const char *ns = NULL;
        int a;

        g.rounds = 0;
        g.duration = 0;
        for (a = 2; a < argc; a++) {
                const char *opt = argv[a], *val = a + 1 < argc ? argv[a + 1] : NULL;

                if (strcmp(opt, "--quick") == 0) {
                        g.quick = 1;
                        continue;
                }
                if (val == NULL)
                        die("%s needs a value", opt);
                a++;
                if (strcmp(opt, "--work") == 0)
                        g.work = val;
                else if (strcmp(opt, "--worker") == 0)
                        g.worker = val;
                else if (strcmp(opt, "--module") == 0)
                        g.module = val;
                else if (strcmp(opt, "--moddir") == 0)
                        g.moddir = val;
                else if (strcmp(opt, "--out") == 0)
                        g.out = val;
                else if (strcmp(opt, "--machine") == 0)
                        g.machine = val;
                else if (strcmp(opt, "--command") == 0)
                        g.command = val;
                else if (strcmp(opt, "--rounds") == 0)
                        g.rounds = (unsigned)strtoul(val, NULL, 10);
                else if (strcmp(opt, "--duration") == 0)
                        g.duration = strtod(val, NULL);
                else if (strcmp(opt, "--ns") == 0)
                        ns = val;
                else
                        die("unknown option %s", opt);
        }
        if (g.work == NULL || g.worker == NULL || g.module == NULL || g.moddir == NULL ||
            g.out == NULL)
                die("run needs --work, --worker, --module, --moddir and --out");
        if (g.rounds == 0)
                g.rounds = g.quick ? 3 : 9;
        if (g.rounds > MAX_ROUNDS)
                g.rounds = MAX_ROUNDS;
        if (!(g.duration > 0))
                g.duration = g.quick ? 0.25 : 1.0;
        if (oath_init() != OATH_OK)
                die("oath_init failed");
        g.rng = 0x243F6A8885A308D3ULL;
        find_stores(ns);
        load_runstate();
        g.real_first = g.real_next;
        load_apppw();
        write_services();
        build_configs();

        g.job_fd = memfd_create("pambench-job", 0); /* inherited by the workers on purpose */
        if (g.job_fd < 0 || ftruncate(g.job_fd, (off_t)sizeof(struct bench_job)) != 0)
                die("memfd: %s", strerror(errno));
        g.job =
            mmap(NULL, sizeof(struct bench_job), PROT_READ | PROT_WRITE, MAP_SHARED, g.job_fd, 0);
        if (g.job == MAP_FAILED)
                die("mmap: %s", strerror(errno));

        fprintf(stderr, "pambench: %u configurations x %u rounds x %.2f s (stores:", g.ncfg,
                g.rounds, g.duration);
        for (i = 0; i < g.nns; i++)
                fprintf(stderr, " %u", g.ns[i]);
        fprintf(stderr, ")\n");
        /* Warm-up: every configuration once, short; checks that each one works at all. */
        for (i = 0; i < g.ncfg; i++) {
                struct config *c = &g.cfg[i];

                run_config(c, 0.05, 2, 0);
                if (c->kind == CK_PAM && c->valid > 0 && c->valid_refused == c->valid)
                        fprintf(stderr,
                                "pambench: WARNING: %s (%s%s, %u procs): every valid login "
                                "was refused in the warm-up\n",
                                c->service, scenario_label[c->scenario],
                                c->real_clock ? ", real clock" : "", c->procs);
                c->valid = c->valid_refused = c->replays = c->replays_accepted = 0;
                c->races = c->race_none = c->race_multi = c->wrong = c->wrong_accepted = 0;
                c->rss_kb = 0;
                memset(c->rc_hist, 0, sizeof(c->rc_hist));
        }
        save_runstate();
        for (i = 0; i < g.ncfg; i++)
                order[i] = i;
        for (r = 0; r < g.rounds; r++) {
                time_t t0 = time(NULL);

                shuffle(order, g.ncfg);
                for (i = 0; i < g.ncfg; i++)
                        run_config(&g.cfg[order[i]], g.duration, 3, 1);
                save_runstate();
                note_load();
                fprintf(stderr, "pambench: round %u/%u done in %lld s\n", r + 1, g.rounds,
                        (long long)(time(NULL) - t0));
        }
        write_outputs();
        oath_done();
        return g.crashed ? 1 : 0;
}

static int cmd_prepare(int argc, char **argv)
{
        char path[BENCH_PATH_MAX + 32];
        /* Enrolled and confirmed two minutes ago, so that no code of the current step is a replay.
         */
        int64_t now = (int64_t)time(NULL) - 120;
        int a;

        if (argc < 4)
                die("usage: pambench prepare WORK N...");
        if (oath_init() != OATH_OK)
                die("oath_init failed");
        (void)snprintf(path, sizeof(path), "%s/mailotp.conf", argv[2]);
        {
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);

                if (fd < 0 || fchmod(fd, 0600) != 0 || close(fd) != 0)
                        die("cannot create %s: %s", path, strerror(errno));
        }
        (void)snprintf(path, sizeof(path), "%s/raw", argv[2]);
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
                die("cannot create %s: %s", path, strerror(errno));
        (void)snprintf(path, sizeof(path), "%s/raw/small", argv[2]);
        write_text(path, "# pam_mailotp user record: do not edit, use mailotp(1)\nversion = 1\n"
                         "status = enabled\nsecret = SOKHLZMNJJE5FJ47WN66QLKHMSGBGUGD\ndigits = 6\n"
                         "period = 30\ncreated = 1795999604\nenabled = 1795999605\nend\n");
        for (a = 3; a < argc; a++) {
                unsigned long n = strtoul(argv[a], NULL, 10);
                time_t t0 = time(NULL);

                if (n == 0 || n > 1000000)
                        die("bad number of mailboxes %s", argv[a]);
                if (prep_users(argv[2], (unsigned)n, now) != 0)
                        return 2;
                fprintf(stderr, "pambench: prepared %lu mailboxes in %lld s\n", n,
                        (long long)(time(NULL) - t0));
        }
        oath_done();
        return 0;
}

static int cmd_code(int argc, char **argv)
{
        unsigned char secret[BENCH_SECRET_LEN];
        char user[BENCH_USER_MAX], b32[33], code[7];
        uint32_t idx;
        int64_t t;

        if (argc < 3)
                die("usage: pambench code IDX [UNIXTIME]");
        idx = (uint32_t)strtoul(argv[2], NULL, 10);
        t = argc > 3 ? (int64_t)strtoll(argv[3], NULL, 10) : (int64_t)time(NULL);
        if (oath_init() != OATH_OK || bench_code(idx, t, code) != 0)
                die("oath_totp_generate failed");
        bench_secret(idx, secret);
        bench_base32(secret, b32);
        bench_user_name(idx, user);
        printf("%s %s %s\n", user, b32, code);
        oath_done();
        return 0;
}

int main(int argc, char **argv)
{
        if (argc >= 2 && strcmp(argv[1], "prepare") == 0)
                return cmd_prepare(argc, argv);
        if (argc >= 2 && strcmp(argv[1], "run") == 0)
                return cmd_run(argc, argv);
        if (argc >= 2 && strcmp(argv[1], "code") == 0)
                return cmd_code(argc, argv);
        fprintf(stderr, "usage: pambench prepare WORK N... | code IDX [TIME] | run --work WORK "
                        "--worker PATH --module PATH --moddir DIR --out DIR [--quick] ...\n");
        return 2;
}
