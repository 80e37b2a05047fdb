/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pamworker: one benchmark worker process (started by pambench, not by hand).
 *
 *   pamworker MEMFD INDEX
 *
 * Maps the job (bench.h), waits at the start gate, then for each attempt of
 * its list runs pam_start_confdir + pam_authenticate + pam_end the way a
 * Dovecot auth worker does (hidden prompt -> the submitted string, visible
 * prompt -> the username), timing each login with CLOCK_MONOTONIC.  Links
 * libpam only.  Two symbols are exported for the modules to bind to:
 *
 *   time()        returns the attempt's virtual time when it has one, so a
 *                 mailbox can log in once per (virtual) 30 s step as often as
 *                 the benchmark needs, with no replay; every module under test
 *                 reads the clock through time(), nothing else changes;
 *   getpwnam_r()  answers for the benchmark's mailboxes (pam_oath looks every
 *                 user up in the password database; virtual mailboxes are in
 *                 none) without any I/O, and asks the real one for other names.
 */
#include <security/pam_appl.h>

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "vclock.h"

typedef int (*getpwnam_r_fn)(const char *, struct passwd *, char *, size_t, struct passwd **);

/* Exported: the benchmark's mailboxes exist for pam_oath without an NSS round trip. */
int getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t buflen,
               struct passwd **result)
{
        static getpwnam_r_fn real;
        size_t len = strlen(name);

        if ((strncmp(name, BENCH_USER_PREFIX, 2) == 0 || strncmp(name, BENCH_NX_PREFIX, 2) == 0) &&
            len < BENCH_USER_MAX) {
                static const char home[] = "/nonexistent";

                if (buflen < len + 1 + sizeof(home) + 2) {
                        *result = NULL;
                        return ERANGE;
                }
                memcpy(buf, name, len + 1);
                memcpy(buf + len + 1, home, sizeof(home));
                buf[len + 1 + sizeof(home)] = 'x';
                buf[len + 2 + sizeof(home)] = '\0';
                pwd->pw_name = buf;
                pwd->pw_dir = buf + len + 1;
                pwd->pw_passwd = buf + len + 1 + sizeof(home);
                pwd->pw_shell = buf + len + 1 + sizeof(home) - 1; /* "" */
                pwd->pw_gecos = pwd->pw_shell;
                pwd->pw_uid = 0;
                pwd->pw_gid = 0;
                *result = pwd;
                return 0;
        }
        if (real == NULL) {
                real = (getpwnam_r_fn)dlsym(RTLD_NEXT, "getpwnam_r");
                if (real == NULL) {
                        *result = NULL;
                        return ENOENT;
                }
        }
        return real(name, pwd, buf, buflen, result);
}

static int64_t now_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Dovecot's PAM conversation: hidden prompts get the password string, visible ones the user. */
static int converse(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
        const struct bench_attempt *a = data;
        struct pam_response *r;
        int i;

        if (n <= 0 || n > PAM_MAX_NUM_MSG)
                return PAM_CONV_ERR;
        r = calloc((size_t)n, sizeof(*r));
        if (r == NULL)
                return PAM_BUF_ERR;
        for (i = 0; i < n; i++) {
                const char *ans;

                if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF)
                        ans = a->token;
                else if (msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
                        ans = a->user;
                else
                        continue; /* info and error texts need no answer */
                r[i].resp = strdup(ans);
                if (r[i].resp == NULL) {
                        while (i-- > 0)
                                free(r[i].resp);
                        free(r);
                        return PAM_BUF_ERR;
                }
        }
        *resp = r;
        return PAM_SUCCESS;
}

/* One login, as a mail server does it; returns pam_authenticate's result. */
static int one_login(const struct bench_job *job, const struct bench_attempt *a)
{
        struct pam_conv conv = {converse, (void *)(uintptr_t)a};
        pam_handle_t *pamh = NULL;
        int rc;

        vclock_set(a->vtime);
        rc = pam_start_confdir(job->service, a->user, &conv, job->confdir, &pamh);
        if (rc != PAM_SUCCESS)
                return rc;
        (void)pam_set_item(pamh, PAM_RHOST, "192.0.2.7");
        rc = pam_authenticate(pamh, PAM_SILENT);
        (void)pam_end(pamh, rc);
        vclock_set(0);
        return rc;
}

static void nap(void)
{
        struct timespec ts = {0, 50000}; /* 50 us: waiting workers leave the CPUs to the others */

        (void)nanosleep(&ts, NULL);
}

/* Wait until every worker has reached race slot r (or give up after 10 s). */
static void race_barrier(struct bench_job *job, unsigned r)
{
        int64_t deadline = now_ns() + 10 * (int64_t)1000000000;

        atomic_fetch_add(&job->race_arrived[r], 1U);
        while (atomic_load(&job->race_arrived[r]) < job->procs && now_ns() < deadline)
                nap();
}

static void run_pam(struct bench_job *job, unsigned w)
{
        struct bench_result *res = &job->res[w];
        unsigned n = job->nattempts[w], nmain = n - job->nrace, i;
        int64_t start = now_ns(), limit = (int64_t)(job->duration_s * 1e9);

        for (i = 0; i < nmain; i++) {
                int64_t t0;

                if (i >= job->min_attempts && now_ns() - start >= limit)
                        break;
                t0 = now_ns();
                res->rc[i] = (int8_t)one_login(job, &job->att[w][i]);
                res->lat_ns[i] = now_ns() - t0;
        }
        res->main_done = i;
        res->elapsed_s = (double)(now_ns() - start) / 1e9;
        /* Races: the same fresh code from every worker at the same moment. */
        for (i = 0; i < job->nrace; i++) {
                unsigned k = res->main_done + i;
                int64_t t0;

                race_barrier(job, i);
                t0 = now_ns();
                res->rc[k] = (int8_t)one_login(job, &job->att[w][nmain + i]);
                res->lat_ns[k] = now_ns() - t0;
        }
        res->done = res->main_done + job->nrace;
}

struct lib_list {
        char names[64][128];
        unsigned n;
};

static int collect_lib(struct dl_phdr_info *info, size_t size, void *data)
{
        struct lib_list *l = data;

        (void)size;
        if (l->n < 64 && info->dlpi_name != NULL && info->dlpi_name[0] != '\0')
                (void)snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", info->dlpi_name);
        return 0;
}

static int lib_known(const struct lib_list *l, const char *name)
{
        unsigned i;

        for (i = 0; i < l->n; i++) {
                if (strcmp(l->names[i], name) == 0)
                        return 1;
        }
        return 0;
}

/* What pam_start + pam_end pay for one module: dlopen(RTLD_NOW) + dlclose, as libpam does. */
static void run_dlopen(struct bench_job *job, unsigned w)
{
        struct bench_result *res = &job->res[w];
        static struct lib_list before, with;
        unsigned i, nmain = job->nattempts[w];
        int64_t start = now_ns(), limit = (int64_t)(job->duration_s * 1e9);
        size_t off = 0;

        (void)dl_iterate_phdr(collect_lib, &before);
        for (i = 0; i < nmain; i++) {
                int64_t t0;
                void *h;

                if (i >= job->min_attempts && now_ns() - start >= limit)
                        break;
                t0 = now_ns();
                h = dlopen(job->module, RTLD_NOW);
                if (h == NULL) {
                        res->status = 1;
                        (void)snprintf(res->libs, sizeof(res->libs), "dlopen: %s", dlerror());
                        break;
                }
                if (i == 0)
                        (void)dl_iterate_phdr(collect_lib, &with);
                (void)dlclose(h);
                res->lat_ns[i] = now_ns() - t0;
                res->rc[i] = PAM_SUCCESS;
        }
        res->main_done = i;
        res->done = i;
        res->elapsed_s = (double)(now_ns() - start) / 1e9;
        if (res->status != 0)
                return;
        for (i = 0; i < with.n; i++) {
                const char *base = strrchr(with.names[i], '/');
                int k;

                if (lib_known(&before, with.names[i]))
                        continue;
                base = base != NULL ? base + 1 : with.names[i];
                k = snprintf(res->libs + off, sizeof(res->libs) - off, "%s%s", off > 0 ? " " : "",
                             base);
                if (k < 0 || (size_t)k >= sizeof(res->libs) - off)
                        break;
                off += (size_t)k;
        }
}

/*
 * Peak RSS of this program since exec: VmHWM.  (ru_maxrss would also count
 * the driver's pages, which the kernel carries over from fork into exec.)
 */
static long peak_rss_kb(void)
{
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        long kb = -1;

        if (f == NULL)
                return -1;
        while (fgets(line, sizeof(line), f) != NULL) {
                if (strncmp(line, "VmHWM:", 6) == 0) {
                        kb = strtol(line + 6, NULL, 10);
                        break;
                }
        }
        fclose(f);
        return kb;
}

int main(int argc, char **argv)
{
        struct bench_job *job;
        struct rusage ru;
        unsigned long w;
        char *end;
        int fd;

        if (argc != 3) {
                fprintf(stderr, "usage: pamworker MEMFD INDEX (started by pambench)\n");
                return 2;
        }
        fd = (int)strtol(argv[1], &end, 10);
        if (*end != '\0' || fd < 0)
                return 2;
        w = strtoul(argv[2], &end, 10);
        if (*end != '\0' || w >= BENCH_MAX_PROCS)
                return 2;
        job = mmap(NULL, sizeof(*job), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (job == MAP_FAILED) {
                perror("pamworker: mmap");
                return 2;
        }
        (void)close(fd);
        atomic_fetch_add(&job->ready, 1U);
        while (atomic_load(&job->go) == 0)
                nap();
        if (job->mode == JOB_DLOPEN)
                run_dlopen(job, (unsigned)w);
        else
                run_pam(job, (unsigned)w);
        if (getrusage(RUSAGE_SELF, &ru) == 0) {
                job->res[w].maxrss_kb = peak_rss_kb();
                job->res[w].cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                                    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        }
        return 0;
}
